/* ea_cache: the shared-memory response cache and its change listener.
 *
 * GET responses of the read API are kept in one shared-memory region
 * (lib/ea_shmcache.c).  PostgreSQL triggers NOTIFY ecoatlas_data on every
 * committed change of the core tables; one child per database (elected
 * through the region, taking over within a second if it dies) LISTENs and
 * bumps that database's generation, which invalidates every entry at once.
 * While no listener is healthy, the cache is bypassed: a stale page is never
 * served because a notification could have been missed.
 *
 * The listener's connection is one of mod_dbd's (ap_dbd_open, given back
 * with ap_dbd_close when the child stops leading or the connection is lost),
 * so it has DBDParams and mod_dbd's reconnects; the leading child holds it
 * for as long as it leads (docs/operations.md, the response cache). */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_metrics.h"
#include "http_core.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_optional.h"
#include "apr_dbd.h"
#include "mod_dbd.h"
#include "ea_shmcache.h"
#include "ea_logno.h"

#include <poll.h>
#include <unistd.h>

APLOG_USE_MODULE(ecoatlas);

/* Credentials (ea_mod_auth.c) are cached in the same region under a second
 * generation per database, bumped by NOTIFY ecoatlas_auth (migration 0004):
 * database i uses generation i for responses and AUTH_DB(i) for credentials. */
#define EA_CACHE_MAX_DBS (EA_SHMCACHE_DBS / 2)
#define AUTH_DB(db) ((db) + EA_CACHE_MAX_DBS)
#define EA_AUTH_MAX_AGE_MS (60 * 1000)
#define EA_CACHE_MAX_AGE_MS (60 * 1000)
/* Keyset maps cost a scan of the set: kept longer (a change still drops them). */
#define EA_AUX_MAX_AGE_MS (10 * 60 * 1000)
/* ... and spared by eviction: in a class that pages of the same size go
 * through in well under a second, a map read by every deep page would
 * otherwise lose to pages just stored, and its set be scanned again by
 * every request that finds it gone (docs/directives.md, EcoAtlasCacheSize). */
#define EA_AUX_KEEP_MS (60 * 1000)

/* A failed connection is tried again after 250 ms, doubling to 2 s. */
#define LISTEN_RETRY_MIN_MS 250
#define LISTEN_RETRY_MAX_MS 2000

/* The cache's part of the module state (ea_state(s)->cache_st). */
typedef struct ea_cache_state {
    const char *db_params[EA_SHMCACHE_DBS];     /* distinct DBDParams */
    server_rec *db_server[EA_SHMCACHE_DBS];     /* a server using each: for ap_dbd_open */
    int ndbs;
    APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
    APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;
} ea_cache_state;

static uint64_t now_ms(void)
{
    return ea_shmcache_now_ms();
}

/* ---- which servers share a database ------------------------------------- */

/* DBDParams is mod_dbd's; mod_ecoatlas notes it too (ea_db_note_pool), so
 * that the servers with the same parameters, which mod_dbd gives one pool,
 * share one database index of the cache. */
static void map_servers(ea_cache_state *cs, server_rec *main_s)
{
    cs->ndbs = 0;
    for (server_rec *s = main_s; s; s = s->next) {
        ea_srv_conf *sc = ea_sconf(s);
        int i = -1;
        if (sc->dbd_params) {
            for (i = 0; i < cs->ndbs; i++)
                if (strcmp(cs->db_params[i], sc->dbd_params) == 0)
                    break;
            if (i == cs->ndbs) {
                if (cs->ndbs == EA_CACHE_MAX_DBS) {
                    i = -1;
                } else {
                    cs->db_params[i] = sc->dbd_params;
                    cs->db_server[i] = s;
                    cs->ndbs++;
                }
            }
        }
        sc->cache_db = i;
    }
}

int ea_cache_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_srv_conf *sc = ea_sconf(s);
    apr_size_t size = (apr_size_t)ea_srv_get(sc, cache_size);
    apr_size_t entry_max = (apr_size_t)ea_srv_get(sc, cache_max_entry);
    ea_module_state *st = sc->st;
    apr_shm_t *shm;
    uint8_t key[16];

    st->cache = NULL;
    st->cache_ndbs = 0;
    st->cache_st = apr_pcalloc(pconf, sizeof(*st->cache_st));
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG || size == 0)
        return OK;
    map_servers(st->cache_st, s);
    st->cache_ndbs = st->cache_st->ndbs;
    st->cache_st->dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    st->cache_st->dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (st->cache_st->ndbs == 0 || !st->cache_st->dbd_open || !st->cache_st->dbd_close)
        return OK;
    apr_status_t rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     EA_LOGNO(00006) "could not create %" APR_SIZE_T_FMT " bytes of shared memory for "
                     "the response cache (EcoAtlasCacheSize): caching is off", size);
        return OK;
    }
    apr_generate_random_bytes(key, sizeof(key));
    ea_shmcache *cache = st->cache = ea_shmcache_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm),
                                                      entry_max, key);
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
                 ea_shmcache_nslots(cache), st->cache_st->ndbs);
    return OK;
}

/* ---- the listener thread of each child ---------------------------------- */

typedef struct listener {
    server_rec *s;
    ea_shmcache *cache;
    const ea_cache_state *cs;
    apr_pool_t *pool[EA_SHMCACHE_DBS];   /* the thread's own, one per database */
    volatile int stop;
    ap_dbd_t *dbd[EA_SHMCACHE_DBS];      /* mod_dbd's connection, while leading */
    PGconn *conn[EA_SHMCACHE_DBS];       /* its libpq handle, LISTENing */
    void *held[EA_SHMCACHE_DBS];         /* its pool's count of held connections (ea_db_pool_hold) */
    apr_time_t retry_at[EA_SHMCACHE_DBS];
    int retry_ms[EA_SHMCACHE_DBS];
    apr_thread_t *thread;
} listener;

/* Give the connection back to mod_dbd's pool as a request expects it:
 * blocking, listening to nothing.  A broken one goes back as it is: mod_dbd
 * checks a connection when it hands it out and re-establishes it then. */
static void give_back(listener *L, int db)
{
    PGconn *c = L->conn[db];
    if (c) {
        PQsetnonblocking(c, 0);
        if (PQstatus(c) == CONNECTION_OK) {
            PGresult *r = PQexec(c, EA_SQL_UNLISTEN);
            PQclear(r);
            while (PQnotifies(c) != NULL)
                ;
        }
    }
    if (L->dbd[db])
        L->cs->dbd_close(L->cs->db_server[db], L->dbd[db]);
    ea_db_pool_unhold(L->held[db]);
    L->held[db] = NULL;
    L->dbd[db] = NULL;
    L->conn[db] = NULL;
    apr_pool_clear(L->pool[db]);
}

static PGconn *connect_listen(listener *L, int db)
{
    apr_time_t now = apr_time_now();
    if (now < L->retry_at[db])
        return NULL;
    ap_dbd_t *dbd = L->cs->dbd_open(L->pool[db], L->cs->db_server[db]);
    if (dbd && strcmp(apr_dbd_name(dbd->driver), "pgsql") == 0) {
        PGconn *c = apr_dbd_native_handle(dbd->driver, dbd->handle);
        L->dbd[db] = dbd;
        L->conn[db] = c;
        L->held[db] = ea_db_pool_hold(L->cs->db_server[db]);   /* one fewer for requests */
        PGresult *r = PQexec(c, EA_SQL_LISTEN);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok && PQsetnonblocking(c, 1) == 0) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, L->s,
                         EA_LOGNO(00010) "response cache: listening for changes of database %d", db);
            L->retry_ms[db] = 0;
            return c;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, L->s,
                     EA_LOGNO(00011) "response cache: no change listener for database %d yet: %s", db,
                     PQerrorMessage(c));
        give_back(L, db);
    } else if (dbd) {
        L->cs->dbd_close(L->cs->db_server[db], dbd);   /* not pgsql: ea_db.c says so */
        apr_pool_clear(L->pool[db]);
    }
    L->retry_ms[db] = L->retry_ms[db] ? L->retry_ms[db] * 2 : LISTEN_RETRY_MIN_MS;
    if (L->retry_ms[db] > LISTEN_RETRY_MAX_MS)
        L->retry_ms[db] = LISTEN_RETRY_MAX_MS;
    L->retry_at[db] = now + apr_time_from_msec(L->retry_ms[db]);
    return NULL;
}

static void drop(listener *L, int db, pid_t pid)
{
    ea_shmcache_resign(L->cache, db, (int32_t)pid);
    if (L->conn[db])
        give_back(L, db);
}

static void *APR_THREAD_FUNC listener_main(apr_thread_t *t, void *data)
{
    listener *L = data;
    ea_shmcache *cache = L->cache;
    const int ndbs = L->cs->ndbs;
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
                ea_shmcache_listening(cache, db, (int32_t)pid, now_ms());
            }
            if (L->conn[db]) {
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
            /* The heartbeat vouches for what had arrived when we read: a
             * thread held up since its last turn says so only after it has
             * acted on what came meanwhile. */
            uint64_t read_at = now_ms();
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
            ea_shmcache_heartbeat(cache, db, (int32_t)pid, read_at);
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
    ea_module_state *st = ea_state(s);
    if (!st->cache)
        return;
    listener *L = apr_pcalloc(pchild, sizeof(*L));
    L->s = s;
    L->cache = st->cache;
    L->cs = st->cache_st;
    for (int db = 0; db < L->cs->ndbs; db++)
        if (apr_pool_create(&L->pool[db], pchild) != APR_SUCCESS)
            return;
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

/* Only routes marked cacheable come here (ea_dispatch, which sends a hit). */
int ea_cache_lookup(ea_req *rq, const char **body_out, size_t *len_out)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (!cache || sc->cache_db < 0 || ea_dir_get(rq->conf, cache) == 0)
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
        *body_out = body;
        *len_out = len;
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
    ea_srv_conf *sc = ea_sconf(rq->r->server);
    ea_shmcache *cache = sc->st->cache;
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
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (!cache || sc->cache_db < 0 || ea_dir_get(rq->conf, cache) == 0)
        return -1;
    uint64_t now = now_ms();
    if (!ea_shmcache_healthy(cache, sc->cache_db, now))
        return -1;
    *gen = ea_shmcache_generation(cache, sc->cache_db);
    return ea_shmcache_get_alloc(cache, sc->cache_db, *gen, key, strlen(key), now, EA_AUX_MAX_AGE_MS,
                                 pool_alloc, r->pool, val, len);
}

/* Every auxiliary entry is stored here: maps kept, the rest plain. */
static void aux_store(ea_req *rq, const char *key, size_t klen, uint64_t gen, const char *val, size_t len,
                      uint32_t keep_ms)
{
    ea_srv_conf *sc = ea_sconf(rq->r->server);
    ea_shmcache *cache = sc->st->cache;
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put_kept(cache, sc->cache_db, gen, key, klen, val, len, now_ms(), keep_ms);
}

void ea_cache_aux_put(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len)
{
    aux_store(rq, key, strlen(key), gen, val, len, EA_AUX_KEEP_MS);
}

void ea_cache_aux_memo(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len)
{
    aux_store(rq, key, strlen(key), gen, val, len, 0);
}

/* A claim is an entry of its own, the key with "claim" in front: "1" while
 * held, "0" once released.  NULL when the key leaves no room for it. */
static char *claim_key(ea_req *rq, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    if (klen + 5 > EA_SHMCACHE_KEY_MAX)
        return NULL;
    char *ck = apr_palloc(rq->r->pool, klen + 6);
    memcpy(ck, "claim", 5);
    memcpy(ck + 5, key, klen + 1);
    *len = klen + 5;
    return ck;
}

int ea_cache_aux_claim(ea_req *rq, const char *key, uint64_t gen, uint64_t ms)
{
    ea_srv_conf *sc = ea_sconf(rq->r->server);
    ea_shmcache *cache = sc->st->cache;
    size_t klen, len;
    char *ck, held;
    if (!cache || sc->cache_db < 0 || !(ck = claim_key(rq, key, &klen)))
        return 1;   /* nothing to claim with: every request makes it, as without a cache */
    uint64_t now = now_ms();
    if (ea_shmcache_get(cache, sc->cache_db, gen, ck, klen, now, ms, &held, 1, &len) == 1 && held == '1')
        return 0;
    aux_store(rq, ck, klen, gen, "1", 1, 0);
    return 1;
}

void ea_cache_aux_release(ea_req *rq, const char *key, uint64_t gen)
{
    size_t klen;
    char *ck = claim_key(rq, key, &klen);
    if (ck)
        aux_store(rq, ck, klen, gen, "0", 1, 0);
}

size_t ea_cache_key_max(void)
{
    return EA_SHMCACHE_KEY_MAX;
}

void ea_cache_invalidate(request_rec *r)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (cache && sc->cache_db >= 0) {
        ea_shmcache_bump(cache, sc->cache_db);
        ea_count(r->server, EA_C_CACHE_INVAL_WRITE);
    }
}

/* ---- credentials (ea_mod_auth.c) ----------------------------------------------- */

int ea_cache_auth_get(request_rec *r, const char *key, char *out, size_t outsz, size_t *len,
                      uint64_t *gen)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
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
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put(cache, AUTH_DB(sc->cache_db), gen, key, strlen(key), val, len, now_ms());
}

void ea_cache_auth_invalidate(request_rec *r)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (cache && sc->cache_db >= 0)
        ea_shmcache_bump(cache, AUTH_DB(sc->cache_db));
}

void ea_cache_auth_put_now(request_rec *r, const char *key, const char *val, size_t len)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_shmcache *cache = sc->st->cache;
    if (cache && sc->cache_db >= 0)
        ea_shmcache_put(cache, AUTH_DB(sc->cache_db), ea_shmcache_generation(cache, AUTH_DB(sc->cache_db)),
                        key, strlen(key), val, len, now_ms());
}
