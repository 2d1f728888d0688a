/* ea_cache: the shared-memory response cache and its change listener.
 *
 * GET responses of the read API are kept in one shared-memory region
 * (lib/ea_shmcache.c).  PostgreSQL triggers NOTIFY ecoatlas_data on every
 * committed change of the core tables; one child per database (elected
 * through the region, taking over within a second if it dies) LISTENs and
 * bumps that database's generation, which invalidates every entry at once.
 * While no listener is healthy, the cache is bypassed: a stale page is never
 * served because a notification could have been missed. */
#include "mod_ecoatlas.h"
#include "http_core.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "ea_shmcache.h"
#include "ea_logno.h"

#include <poll.h>
#include <unistd.h>

APLOG_USE_MODULE(ecoatlas);

/* Credentials (ea_auth.c) are cached in the same region under a second
 * generation per database, bumped by NOTIFY ecoatlas_auth (migration 0004):
 * database i uses generation i for responses and AUTH_DB(i) for credentials. */
#define EA_CACHE_MAX_DBS (EA_SHMCACHE_DBS / 2)
#define AUTH_DB(db) ((db) + EA_CACHE_MAX_DBS)
#define EA_AUTH_MAX_AGE_MS (60 * 1000)
#define EA_CACHE_MAX_AGE_MS (60 * 1000)
/* Keyset maps cost a scan of the set: kept longer (a change still drops them). */
#define EA_AUX_MAX_AGE_MS (10 * 60 * 1000)

static ea_shmcache *cache;                       /* NULL: no cache */
static const char *db_conninfo[EA_SHMCACHE_DBS]; /* distinct DBDParams */
static int ndbs;

static uint64_t now_ms(void)
{
    return (uint64_t)(apr_time_now() / 1000);
}

/* ---- finding each server's DBDParams in the parsed configuration ------ */

static int db_index_for(apr_pool_t *p, const char *args)
{
    const char *word = ap_getword_conf(p, &args);
    word = ap_resolve_env(p, word);
    for (int i = 0; i < ndbs; i++)
        if (strcmp(db_conninfo[i], word) == 0)
            return i;
    if (ndbs == EA_CACHE_MAX_DBS)
        return -1;
    db_conninfo[ndbs] = word;
    return ndbs++;
}

/* The last DBDParams in this scope, not descending into <VirtualHost>. */
static const ap_directive_t *find_dbdparams(const ap_directive_t *d, const ap_directive_t *found)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0)
            continue;
        if (strcasecmp(d->directive, "DBDParams") == 0)
            found = d;
        else if (d->first_child)
            found = find_dbdparams(d->first_child, found);
    }
    return found;
}

static const ap_directive_t *find_vhost(const ap_directive_t *d, const server_rec *s)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            if (d->line_num == (int)s->defn_line_number && s->defn_name
                && strcmp(d->filename, s->defn_name) == 0)
                return d;
            continue;
        }
        if (d->first_child) {
            const ap_directive_t *v = find_vhost(d->first_child, s);
            if (v)
                return v;
        }
    }
    return NULL;
}

static void map_servers(apr_pool_t *p, server_rec *main_s)
{
    const ap_directive_t *main_params = find_dbdparams(ap_conftree, NULL);
    ndbs = 0;
    for (server_rec *s = main_s; s; s = s->next) {
        ea_srv_conf *sc = ap_get_module_config(s->module_config, &ecoatlas_module);
        const ap_directive_t *params = main_params;
        if (s != main_s) {
            const ap_directive_t *vh = find_vhost(ap_conftree, s);
            if (vh && vh->first_child)
                params = find_dbdparams(vh->first_child, main_params);
        }
        sc->cache_db = params ? db_index_for(p, params->args) : -1;
    }
}

int ea_cache_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_srv_conf *sc = ap_get_module_config(s->module_config, &ecoatlas_module);
    apr_size_t size = sc->cache_size == EA_UNSET ? EA_DEFAULT_CACHE_SIZE : (apr_size_t)sc->cache_size;
    apr_size_t entry_max = sc->cache_max_entry == EA_UNSET ? EA_DEFAULT_CACHE_MAX_ENTRY
                                                           : (apr_size_t)sc->cache_max_entry;
    apr_shm_t *shm;
    uint8_t key[16];

    cache = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG || size == 0)
        return OK;
    map_servers(pconf, s);
    if (ndbs == 0)
        return OK;
    apr_status_t rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     EA_LOGNO(00006) "could not create %" APR_SIZE_T_FMT " bytes of shared memory for "
                     "the response cache (EcoAtlasCacheSize): caching is off", size);
        return OK;
    }
    apr_generate_random_bytes(key, sizeof(key));
    cache = ea_shmcache_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), entry_max, key);
    if (!cache)
        return OK;
    for (unsigned i = 0; i < ea_shmcache_nclasses(cache); i++) {
        size_t cap;
        unsigned n;
        ea_shmcache_class(cache, i, &cap, &n);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, EA_LOGNO(00007) "response cache: %u slots of %" APR_SIZE_T_FMT
                     " bytes", n, (apr_size_t)cap);
    }
    if (ea_shmcache_storable_max(cache) < entry_max)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     EA_LOGNO(00008) "response cache: EcoAtlasCacheSize %" APR_SIZE_T_FMT " leaves no room for "
                     "entries above %" APR_SIZE_T_FMT " bytes (EcoAtlasCacheMaxEntry %"
                     APR_SIZE_T_FMT ")", size, (apr_size_t)ea_shmcache_storable_max(cache), entry_max);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, EA_LOGNO(00009) "response cache: %u slots for %d database(s)",
                 ea_shmcache_nslots(cache), ndbs);
    return OK;
}

/* ---- the listener thread of each child ---------------------------------- */

typedef struct listener {
    server_rec *s;
    volatile int stop;
    PGconn *conn[EA_SHMCACHE_DBS];
    apr_thread_t *thread;
} listener;

static PGconn *connect_listen(listener *L, int db)
{
    PGconn *c = PQconnectdb(db_conninfo[db]);
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, "LISTEN ecoatlas_data; LISTEN ecoatlas_auth");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok && PQsetnonblocking(c, 1) == 0) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s,
                         EA_LOGNO(00010) "response cache: listening for changes of database %d", db);
            return c;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, L->s,
                 EA_LOGNO(00011) "response cache: no change listener for database %d yet: %s", db,
                 PQerrorMessage(c));
    PQfinish(c);
    return NULL;
}

static void drop(listener *L, int db, pid_t pid)
{
    ea_shmcache_resign(cache, db, (int32_t)pid);
    if (L->conn[db]) {
        PQfinish(L->conn[db]);
        L->conn[db] = NULL;
    }
}

static void *APR_THREAD_FUNC listener_main(apr_thread_t *t, void *data)
{
    listener *L = data;
    pid_t pid = getpid();

    while (!L->stop) {
        struct pollfd fds[EA_SHMCACHE_DBS];
        int which[EA_SHMCACHE_DBS], n = 0;
        for (int db = 0; db < ndbs; db++) {
            if (!ea_shmcache_lead(cache, db, (int32_t)pid, now_ms())) {
                if (L->conn[db])
                    drop(L, db, pid);
                continue;
            }
            if (!L->conn[db] && (L->conn[db] = connect_listen(L, db)) != NULL) {
                /* Changes before LISTEN went unheard: forget everything. */
                ea_shmcache_bump(cache, db);
                ea_shmcache_bump(cache, AUTH_DB(db));
                ea_count(L->s, EA_C_CACHE_INVAL_LISTEN);
            }
            if (L->conn[db]) {
                ea_shmcache_heartbeat(cache, db, (int32_t)pid, now_ms());
                fds[n].fd = PQsocket(L->conn[db]);
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                which[n++] = db;
            }
        }
        if (n == 0) {
            apr_sleep(apr_time_from_msec(250));
            continue;
        }
        poll(fds, (nfds_t)n, 200);
        for (int i = 0; i < n; i++) {
            int db = which[i];
            PGconn *c = L->conn[db];
            if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s,
                             EA_LOGNO(00012) "response cache: change listener of database %d lost; "
                             "bypassing the cache until it is back", db);
                ea_count(L->s, EA_C_CACHE_LISTENER_LOST);
                drop(L, db, pid);
                continue;
            }
            int changed = 0, auth_changed = 0;
            PGnotify *nf;
            while ((nf = PQnotifies(c)) != NULL) {
                if (strcmp(nf->relname, "ecoatlas_auth") == 0)
                    auth_changed = 1;
                else
                    changed = 1;
                PQfreemem(nf);
            }
            if (changed) {
                ea_shmcache_bump(cache, db);
                ea_count(L->s, EA_C_CACHE_INVAL_NOTIFY);
            }
            if (auth_changed)
                ea_shmcache_bump(cache, AUTH_DB(db));
            ea_shmcache_heartbeat(cache, db, (int32_t)pid, now_ms());
        }
    }
    for (int db = 0; db < ndbs; db++)
        drop(L, db, pid);
    return NULL;   /* not apr_thread_exit(): ASan flags its longjmp-free exit path */
}

static apr_status_t stop_listener(void *data)
{
    listener *L = data;
    apr_status_t rv;
    L->stop = 1;
    apr_thread_join(&rv, L->thread);
    return APR_SUCCESS;
}

void ea_cache_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!cache)
        return;
    listener *L = apr_pcalloc(pchild, sizeof(*L));
    L->s = s;
    if (apr_thread_create(&L->thread, NULL, listener_main, L, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, EA_LOGNO(00013) "response cache: cannot start the listener thread");
        return;
    }
    apr_pool_pre_cleanup_register(pchild, L, stop_listener);
}

/* ---- the request side ------------------------------------------------------ */

static void *pool_alloc(void *pool, size_t len)
{
    return apr_palloc(pool, len);
}

/* Only routes marked cacheable come here (ea_dispatch). */
int ea_cache_lookup(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (!cache || sc->cache_db < 0 || rq->conf->cache == 0)
        return 0;
    uint64_t now = now_ms();
    if (!ea_shmcache_healthy(cache, sc->cache_db, now)) {
        ea_count(r->server, EA_C_CACHE_BYPASS);
        return 0;
    }
    const char *host = apr_table_get(r->headers_in, "Host");
    const char *key = apr_psprintf(r->pool, "%s://%s%s\n%d", rq->scheme,
                                   host ? host : "", r->unparsed_uri, rq->indent);
    uint64_t gen = ea_shmcache_generation(cache, sc->cache_db);
    char *body;
    size_t len;
    if (ea_shmcache_get_alloc(cache, sc->cache_db, gen, key, strlen(key), now, EA_CACHE_MAX_AGE_MS,
                              pool_alloc, r->pool, &body, &len)) {
        apr_table_setn(r->headers_out, "X-EcoAtlas-Cache", "hit");
        ea_count(r->server, EA_C_CACHE_HIT);
        ea_send_raw_json(rq, HTTP_OK, body, len);
        return 1;
    }
    apr_table_setn(r->headers_out, "X-EcoAtlas-Cache", "miss");
    ea_count(r->server, EA_C_CACHE_MISS);
    rq->cache_key = key;
    rq->cache_gen = gen;
    return 0;
}

/* The one place responses are stored: ea_dispatch, after a cacheable
 * route's handler answered 200 to a lookup that missed. */
void ea_cache_store(ea_req *rq, const char *body, size_t len)
{
    ea_srv_conf *sc = ap_get_module_config(rq->r->server->module_config, &ecoatlas_module);
    if (!cache || !rq->cache_key)
        return;
    int stored = ea_shmcache_put(cache, sc->cache_db, rq->cache_gen, rq->cache_key,
                                 strlen(rq->cache_key), body, len, now_ms());
    if (stored)
        ea_count(rq->r->server, EA_C_CACHE_STORE);
    if (stored == 2)
        ea_count(rq->r->server, EA_C_CACHE_EVICTION);
}

/* ---- auxiliary entries (keyset maps, ea_handle_resources.c) ------------------ */

int ea_cache_aux_get(ea_req *rq, const char *key, char **val, size_t *len, uint64_t *gen)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (!cache || sc->cache_db < 0 || rq->conf->cache == 0)
        return -1;
    uint64_t now = now_ms();
    if (!ea_shmcache_healthy(cache, sc->cache_db, now))
        return -1;
    *gen = ea_shmcache_generation(cache, sc->cache_db);
    return ea_shmcache_get_alloc(cache, sc->cache_db, *gen, key, strlen(key), now, EA_AUX_MAX_AGE_MS,
                                 pool_alloc, r->pool, val, len);
}

void ea_cache_aux_put(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len)
{
    ea_srv_conf *sc = ap_get_module_config(rq->r->server->module_config, &ecoatlas_module);
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put(cache, sc->cache_db, gen, key, strlen(key), val, len, now_ms());
}

size_t ea_cache_key_max(void)
{
    return EA_SHMCACHE_KEY_MAX;
}

void ea_cache_invalidate(request_rec *r)
{
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (cache && sc->cache_db >= 0) {
        ea_shmcache_bump(cache, sc->cache_db);
        ea_count(r->server, EA_C_CACHE_INVAL_WRITE);
    }
}

/* ---- credentials (ea_auth.c) ----------------------------------------------- */

int ea_cache_auth_get(request_rec *r, const char *key, char *out, size_t outsz, size_t *len,
                      uint64_t *gen)
{
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    *gen = 0;
    if (!cache || sc->cache_db < 0)
        return -1;
    uint64_t now = now_ms();
    if (!ea_shmcache_healthy(cache, sc->cache_db, now))
        return -1;   /* a revocation could have been missed: ask the database */
    *gen = ea_shmcache_generation(cache, AUTH_DB(sc->cache_db));
    return ea_shmcache_get(cache, AUTH_DB(sc->cache_db), *gen, key, strlen(key), now,
                           EA_AUTH_MAX_AGE_MS, out, outsz, len);
}

void ea_cache_auth_put(request_rec *r, const char *key, uint64_t gen, const char *val, size_t len)
{
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put(cache, AUTH_DB(sc->cache_db), gen, key, strlen(key), val, len, now_ms());
}

void ea_cache_auth_invalidate(request_rec *r)
{
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (cache && sc->cache_db >= 0)
        ea_shmcache_bump(cache, AUTH_DB(sc->cache_db));
}

void ea_cache_auth_put_now(request_rec *r, const char *key, const char *val, size_t len)
{
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put(cache, AUTH_DB(sc->cache_db), ea_shmcache_generation(cache, AUTH_DB(sc->cache_db)),
                        key, strlen(key), val, len, now_ms());
}

/* ---- metrics (ea_metrics.c) ------------------------------------------------------- */

int ea_cache_listeners(int *up, int max, unsigned *slots)
{
    uint64_t now = now_ms();
    *slots = cache ? ea_shmcache_nslots(cache) : 0;
    if (!cache)
        return 0;
    for (int db = 0; db < ndbs && db < max; db++)
        up[db] = ea_shmcache_healthy(cache, db, now);
    return ndbs < max ? ndbs : max;
}
