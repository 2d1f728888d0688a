/* ea_limits: DRF's throttling, done right across processes (docs/decisions.md D7).
 * One shared-memory table (lib/ea_throttle.c) for every child and thread:
 * authenticated requests count per user (EcoAtlasRateLimitUser), anonymous
 * ones per client address as mod_remoteip leaves it in r->useragent_ip,
 * IPv6 grouped by /64 (EcoAtlasRateLimitAnon).  The table lives in the
 * parent's process pool, so `apachectl graceful` keeps the counts.
 *
 * EcoAtlasThrottleBackend redis://... counts in Redis instead, shared by
 * several nodes (lib/ea_rlredis.c: the same algorithm in one Lua script, run through
 * lib/ea_redis.c).
 * Each child keeps a few connections (one per thread at a time) with 50 ms
 * connect and command timeouts.  A pooled connection that fails is
 * replaced by a fresh one once (Redis restarted since it was opened); a
 * fresh connection that fails makes the node count locally (or answer 503:
 * EcoAtlasThrottleBackendFailure closed) and retry Redis after a back-off
 * of 100 ms doubling to 5 s.  The back-off, the outage and the recovery are
 * shared by all children of the node (shared memory): the first child that
 * reaches Redis again ends the back-off for all, and each transition is
 * logged once.
 *
 * The login endpoints call ea_limits_login: two keys, the client address
 * and the (normalised, hashed) username, both must admit. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_limits.h"
#include "ea_mod_metrics.h"
#include "http_core.h"
#include "http_main.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "ea_edge.h"
#include "ea_rlredis.h"
#include "ea_siphash.h"
#include "ea_throttle.h"
#include "ea_logno.h"

#include <ctype.h>
#include <time.h>

APLOG_USE_MODULE(ecoatlas);

#define SHM_KEY "ecoatlas:throttle"
#define THROTTLE_SLOTS EA_THROTTLE_SLOTS_DEFAULT

#define STATE_KEY "ecoatlas:throttle-backends"
#define MAX_BACKENDS 16            /* distinct Redis URLs in one configuration */
#define REDIS_TIMEOUT_MS 50        /* connect and command timeouts */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define POOL_MAX 64                /* idle connections a child keeps per backend */

/* EcoAtlasThrottleBackend: url NULL means local (the shared-memory table). */
typedef struct ea_rl_backend {
    const char *url;
    ea_redis_url u;
    int idx;                       /* slot in the shared outage flags and per-child state */
} ea_rl_backend;

/* Shared by all children of the node, per backend. */
typedef struct {
    uint32_t down;                 /* 1 while the backend is known to be down */
    uint32_t backoff_ms;           /* current back-off, 0 when up */
    uint64_t retry_at;             /* no attempt before (monotonic ms) */
} shared_state;

/* Per child, per backend. */
typedef struct {
    apr_thread_mutex_t *mu;
    ea_rlredis *idle[POOL_MAX];
    int nidle;
    const ea_rl_backend *b;
} backend_state;

/* The rate limits' part of the module state (ea_state(s)->limits). */
typedef struct ea_limits_state {
    ea_throttle *table;            /* the local table; NULL: none */
    shared_state *outage;          /* per backend, shared by the node's children */
    uint8_t redis_secret[16];      /* the Redis key names are hashed with it (EcoAtlasSecretKey) */
    backend_state bstate[MAX_BACKENDS];   /* per child */
} ea_limits_state;

static ea_limits_state *limits_of(const server_rec *s)
{
    return ea_state(s)->limits;
}

const char *ea_limits_set_rate(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    ea_rate *rate = cmd->info == (void *)0 ? &c->rate_anon
                  : cmd->info == (void *)1 ? &c->rate_user : &c->rate_login;
    long count, period;
    const char *err;
    if (strcasecmp(arg, "off") == 0 || strcasecmp(arg, "none") == 0) {
        rate->set = 1;
        rate->count = 0;
        return NULL;
    }
    if (ea_rate_parse(arg, &count, &period, &err) != 0 || count > EA_THROTTLE_LIMIT_MAX)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (%s)",
                            cmd->directive->directive, arg,
                            count > EA_THROTTLE_LIMIT_MAX ? "N must not exceed 1048575" : err);
    rate->set = 1;
    rate->count = (unsigned)count;
    rate->period_ms = (uint64_t)period * 1000;
    return NULL;
}

const char *ea_limits_set_entries(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long v = strtol(arg, &end, 10);
    if (err)
        return err;
    if (*end || end == arg || v < 16 || v > 10000000)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected 16 to 10000000)",
                            cmd->directive->directive, arg);
    c->throttle_entries = (int)v;
    return NULL;
}

const char *ea_limits_set_backend(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    const char *err;
    if (strcasecmp(arg, "local") == 0) {
        c->throttle_backend = apr_pcalloc(cmd->pool, sizeof(ea_rl_backend));   /* url NULL: local */
        return NULL;
    }
    ea_rl_backend *b = apr_pcalloc(cmd->pool, sizeof(*b));
    /* docs/directives.md EcoAtlasThrottleBackend: no user or password in the URL */
    if (ea_redis_url_parse(arg, &b->u, &err) != 0 || (err = ea_redis_url_no_credentials(&b->u)) != NULL)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (%s)",
                            cmd->directive->directive, arg, err);
    b->url = apr_pstrdup(cmd->pool, arg);
    b->idx = -1;
    c->throttle_backend = b;
    return NULL;
}

const char *ea_limits_set_failure(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    if (strcasecmp(arg, "open") == 0)
        c->throttle_failure = 0;
    else if (strcasecmp(arg, "closed") == 0)
        c->throttle_failure = 1;
    else
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected open or closed)",
                            cmd->directive->directive, arg);
    return NULL;
}

/* A clock every child shares that never steps back (NTP cannot freeze a
 * window); it also runs on across graceful restarts. */
static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int table_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_srv_conf *sc = ea_sconf(s);
    /* 1.25 entries per client keeps live evictions (which would forget a
     * client's count) away at full load. */
    unsigned clients = (unsigned)ea_srv_get(sc, throttle_entries);
    unsigned entries = EA_THROTTLE_ENTRIES_FOR(clients);
    apr_pool_t *keep = s->process->pool;
    apr_shm_t *shm = NULL;
    void *old = NULL;
    ea_limits_state *ls = limits_of(s);
    ea_throttle *table = NULL;

    ls->table = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    apr_pool_userdata_get(&old, SHM_KEY, keep);
    if (old) {   /* a graceful restart: keep the counts if the shape is the same */
        shm = old;
        table = ea_throttle_attach(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm));
        if (table && ea_throttle_entries(table) >= entries
            && ea_throttle_entries(table) < entries + EA_THROTTLE_GROUP
            && ea_throttle_slots(table) == THROTTLE_SLOTS) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, EA_LOGNO(00039) "rate limits: counts kept over the restart");
            ls->table = table;
            return OK;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, EA_LOGNO(00040) "rate limits: table resized, counts start over "
                     "(attach %s, entries %u, wanted %u)", table ? "ok" : "failed",
                     table ? ea_throttle_entries(table) : 0, entries);
        apr_shm_destroy(shm);
        apr_pool_userdata_set(NULL, SHM_KEY, NULL, keep);
        table = NULL;
    }
    size_t size = ea_throttle_size(entries, THROTTLE_SLOTS);
    uint8_t key[16];
    apr_status_t rv = size ? apr_shm_create(&shm, size, NULL, keep) : APR_EINVAL;
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     EA_LOGNO(00041) "cannot create %" APR_SIZE_T_FMT " bytes of shared memory for the rate "
                     "limits (EcoAtlasThrottleEntries %u)", size, clients);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_generate_random_bytes(key, sizeof(key));
    ls->table = ea_throttle_init(apr_shm_baseaddr_get(shm), size, entries, THROTTLE_SLOTS, key);
    apr_pool_userdata_set(shm, SHM_KEY, NULL, keep);
    return OK;
}

/* Number the distinct Redis backends; the outage flags live in a small
 * region of shared memory kept over restarts like the table. */
static int backends_post_config(server_rec *s)
{
    ea_srv_conf *msc = ea_sconf(s);
    const ea_rl_backend *seen[MAX_BACKENDS];
    int n = 0;
    apr_pool_t *keep = s->process->pool;
    apr_shm_t *shm = NULL;
    void *old = NULL;
    ea_limits_state *ls = limits_of(s);

    ea_rlredis_secret(ls->redis_secret, msc->secret_key);
    for (server_rec *v = s; v; v = v->next) {
        ea_srv_conf *sc = ea_sconf(v);
        ea_rl_backend *b = sc->throttle_backend;
        int k;
        if (!b || !b->url)
            continue;
        for (k = 0; k < n; k++)
            if (strcmp(seen[k]->url, b->url) == 0)
                break;
        if (k == n) {
            if (n == MAX_BACKENDS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, v, EA_LOGNO(00042) "more than %d distinct "
                             "EcoAtlasThrottleBackend URLs", MAX_BACKENDS);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            seen[n++] = b;
        }
        b->idx = k;
    }
    apr_pool_userdata_get(&old, STATE_KEY, keep);
    if (old) {
        shm = old;
    } else {
        apr_status_t rv = apr_shm_create(&shm, MAX_BACKENDS * sizeof(shared_state), NULL, keep);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, EA_LOGNO(00043) "cannot create shared memory for the "
                         "throttle backends' state");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_pool_userdata_set(shm, STATE_KEY, NULL, keep);
    }
    ls->outage = apr_shm_baseaddr_get(shm);
    memset(ls->outage, 0, MAX_BACKENDS * sizeof(shared_state));
    return OK;
}

int ea_limits_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_state(s)->limits = apr_pcalloc(pconf, sizeof(ea_limits_state));
    int rc = table_post_config(pconf, s);
    if (rc == OK && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        rc = backends_post_config(s);
    return rc;
}

static apr_status_t close_connections(void *data)
{
    backend_state *bstate = data;
    for (int k = 0; k < MAX_BACKENDS; k++) {
        while (bstate[k].nidle > 0)
            ea_rlredis_free(bstate[k].idle[--bstate[k].nidle]);
    }
    return APR_SUCCESS;
}

void ea_limits_child_init(apr_pool_t *pchild, server_rec *s)
{
    backend_state *bstate = limits_of(s)->bstate;
    memset(bstate, 0, MAX_BACKENDS * sizeof(*bstate));
    for (server_rec *v = s; v; v = v->next) {
        ea_srv_conf *sc = ea_sconf(v);
        ea_rl_backend *b = sc->throttle_backend;
        if (!b || !b->url || b->idx < 0 || bstate[b->idx].mu)
            continue;
        bstate[b->idx].b = b;
        if (apr_thread_mutex_create(&bstate[b->idx].mu, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
            bstate[b->idx].mu = NULL;   /* counts locally then */
    }
    apr_pool_cleanup_register(pchild, bstate, close_connections, apr_pool_cleanup_null);
}

static void backend_failed(server_rec *s, backend_state *st, const char *why, int closed)
{
    shared_state *sh = &limits_of(s)->outage[st->b->idx];
    uint32_t expect = 0, backoff = __atomic_load_n(&sh->backoff_ms, __ATOMIC_RELAXED), next;
    ea_count(s, EA_C_RL_REDIS_ERROR);
    /* several children may fail at once: one doubling per round, not per child */
    next = backoff ? backoff * 2 : BACKOFF_MIN_MS;
    if (next > BACKOFF_MAX_MS)
        next = BACKOFF_MAX_MS;
    if (__atomic_compare_exchange_n(&sh->backoff_ms, &backoff, next, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        __atomic_store_n(&sh->retry_at, monotonic_ms() + next, __ATOMIC_RELEASE);
    /* once per outage, for all children together */
    if (__atomic_compare_exchange_n(&sh->down, &expect, 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, EA_LOGNO(00044) "rate limits: Redis backend %s unreachable "
                     "(%s); %s until it answers again", st->b->url, why,
                     closed ? "hosts with EcoAtlasThrottleBackendFailure closed answer 503, "
                     "the others count locally" : "counting in this node's local table");
}

static void backend_ok(server_rec *s, backend_state *st)
{
    shared_state *sh = &limits_of(s)->outage[st->b->idx];
    uint32_t expect = 1;
    if (__atomic_load_n(&sh->backoff_ms, __ATOMIC_RELAXED)) {
        __atomic_store_n(&sh->backoff_ms, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&sh->retry_at, 0, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&sh->down, __ATOMIC_RELAXED)
        && __atomic_compare_exchange_n(&sh->down, &expect, 0, 0, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED))
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, EA_LOGNO(00045) "rate limits: Redis backend %s answers "
                     "again; limits shared again", st->b->url);
}

/* Count in Redis: 0 decided (*v), -1 unavailable (backing off, or failed now). */
static int redis_admit(request_rec *r, const ea_rl_backend *b, int closed, const char *key,
                       unsigned count, uint64_t period, ea_throttle_verdict *v)
{
    ea_limits_state *ls = limits_of(r->server);
    backend_state *st = b->idx >= 0 ? &ls->bstate[b->idx] : NULL;
    ea_rlredis *c = NULL;
    char rkey[EA_RLREDIS_KEY_SIZE], err[256];
    int pooled;

    if (!st || !st->mu || !ls->outage)
        return -1;
    if (__atomic_load_n(&ls->outage[b->idx].retry_at, __ATOMIC_ACQUIRE) > monotonic_ms())
        return -1;   /* the node is backing off */
    ea_rlredis_key(rkey, ls->redis_secret, key, strlen(key));
    apr_thread_mutex_lock(st->mu);
    if (st->nidle > 0)
        c = st->idle[--st->nidle];
    apr_thread_mutex_unlock(st->mu);
    pooled = c != NULL;
    for (;;) {
        if (!c) {
            c = ea_rlredis_connect(&b->u, REDIS_TIMEOUT_MS, err, sizeof(err));
            if (!c) {
                backend_failed(r->server, st, err, closed);
                return -1;
            }
        }
        int rc = ea_rlredis_admit(c, rkey, count, period, THROTTLE_SLOTS, v, err, sizeof(err));
        if (rc == 0)
            break;
        ea_rlredis_free(c);
        c = NULL;
        if (!pooled || rc != -2) {   /* a timeout may have counted: no second try */
            backend_failed(r->server, st, err, closed);
            return -1;
        }
        /* an idle connection may predate a Redis restart: once more on a
         * fresh one; the other idle ones are as old, drop them too */
        pooled = 0;
        apr_thread_mutex_lock(st->mu);
        while (st->nidle > 0)
            ea_rlredis_free(st->idle[--st->nidle]);
        apr_thread_mutex_unlock(st->mu);
    }
    apr_thread_mutex_lock(st->mu);
    if (st->nidle < POOL_MAX) {
        st->idle[st->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(st->mu);
    ea_rlredis_free(c);
    backend_ok(r->server, st);
    return 0;
}

#define ADMIT_DECIDED 0       /* *v holds the verdict */
#define ADMIT_SKIP 1          /* no verdict: admit without headers (fail open) */
#define ADMIT_UNAVAILABLE 2   /* the backend is down and this host fails closed */

static int admit(request_rec *r, const char *key, ea_rate rate, ea_throttle_verdict *v)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    const ea_rl_backend *b = sc->throttle_backend;
    int closed = ea_srv_get(sc, throttle_failure) == 1;
    if (b && b->url) {
        if (redis_admit(r, b, closed, key, rate.count, rate.period_ms, v) == 0)
            return ADMIT_DECIDED;
        ea_count(r->server, closed ? EA_C_RL_FAIL_CLOSED : EA_C_RL_FAIL_OPEN);
        if (closed)
            return ADMIT_UNAVAILABLE;
    }
    ea_throttle *table = limits_of(r->server)->table;
    if (!table)
        return ADMIT_SKIP;
    if (ea_throttle_admit(table, key, strlen(key), rate.count, rate.period_ms, monotonic_ms(), v)
        != EA_THROTTLE_OK) {   /* fail open: never refuse a client for our own contention */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, EA_LOGNO(00046) "rate limit table busy; request admitted");
        return ADMIT_SKIP;
    }
    return ADMIT_DECIDED;
}

static void set_headers(request_rec *r, ea_rate rate, const ea_throttle_verdict *v)
{
    apr_table_setn(r->err_headers_out, "RateLimit-Limit", apr_psprintf(r->pool, "%u", rate.count));
    apr_table_setn(r->err_headers_out, "RateLimit-Remaining", apr_psprintf(r->pool, "%u", v->remaining));
    apr_table_setn(r->err_headers_out, "RateLimit-Reset", apr_psprintf(r->pool, "%u", v->reset_s));
}

int ea_limits_send_throttled(ea_req *rq, unsigned retry_after_s)
{
    request_rec *r = rq->r;
    apr_table_setn(r->err_headers_out, "Retry-After", apr_psprintf(r->pool, "%u", retry_after_s));
    ea_send_detail(rq, HTTP_TOO_MANY_REQUESTS,
                   apr_psprintf(r->pool, "Request was throttled. Expected available in %u second%s.",
                                retry_after_s, retry_after_s == 1 ? "" : "s"));
    return -1;
}

static int send_throttled(ea_req *rq, const ea_throttle_verdict *v)
{
    return ea_limits_send_throttled(rq, v->retry_after_s);
}

static int send_backend_down(ea_req *rq)
{
    apr_table_setn(rq->r->err_headers_out, "Retry-After", "5");
    ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                   "The rate-limit service is unavailable. Try again in a few seconds.");
    return -1;
}

static void log_throttled(request_rec *r, const char *key, const char *who, ea_rate rate,
                          const ea_throttle_verdict *v)
{
    if (ea_log_once(r->server, key, v->at_ms / rate.period_ms))   /* once per window */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, EA_LOGNO(00047) "throttled %s (%u per %" APR_UINT64_T_FMT " s)",
                      who, rate.count, rate.period_ms / 1000);
}

int ea_limits_check(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    char client[EA_CLIENT_KEY_SIZE];
    const char *key;
    ea_rate rate;
    ea_throttle_verdict v;

    if (r->main)
        return 0;
    if (r->user) {
        rate = ea_srv_rate(sc, rate_user);
        key = r->user;
    } else {
        rate = ea_srv_rate(sc, rate_anon);
        if (ea_client_key(client, sizeof(client), r->useragent_ip) != 0)
            return 0;
        key = client;
    }
    if (rate.count == 0)
        return 0;
    /* The rate is part of the key, as DRF's scope is: a host with other
     * limits keeps its own count. */
    key = apr_psprintf(r->pool, "%c%u/%" APR_UINT64_T_FMT ":%s", r->user ? 'u' : 'a',
                       rate.count, rate.period_ms, key);
    switch (admit(r, key, rate, &v)) {
    case ADMIT_SKIP:
        return 0;
    case ADMIT_UNAVAILABLE:
        return send_backend_down(rq);
    }
    set_headers(r, rate, &v);
    ea_count(r->server, r->user ? (v.admitted ? EA_C_RL_USER_OK : EA_C_RL_USER_NO)
                                : (v.admitted ? EA_C_RL_ANON_OK : EA_C_RL_ANON_NO));
    if (v.admitted)
        return 0;
    log_throttled(r, key, r->user ? "a user" : "a client address", rate, &v);
    return send_throttled(rq, &v);
}

/* A username as the login limit counts it: surrounding blanks dropped,
 * ASCII case folded (so "Admin" and "admin " share one allowance), then
 * hashed, so that the key (and Redis) never holds the name itself. */
static const char *username_key(apr_pool_t *p, const char *username)
{
    static const uint8_t k[16] = "ecoatlas-login-u";
    const char *s = username ? username : "";
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *norm = apr_pstrmemdup(p, s, n);
    for (char *c = norm; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT, ea_siphash24(k, norm, n));
}

int ea_limits_login(ea_req *rq, const char *username)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_rate rate = ea_srv_rate(sc, rate_login);
    char client[EA_CLIENT_KEY_SIZE];
    ea_throttle_verdict vc, vu;

    if (rate.count == 0)
        return 0;
    if (ea_client_key(client, sizeof(client), r->useragent_ip) != 0)
        client[0] = '\0';
    const char *prefix = apr_psprintf(r->pool, "l%u/%" APR_UINT64_T_FMT, rate.count, rate.period_ms);
    const char *kc = apr_pstrcat(r->pool, prefix, "c:", client, NULL);
    const char *ku = apr_pstrcat(r->pool, prefix, "u:", username_key(r->pool, username), NULL);

    /* the client first: a client over its limit does not use up the
     * allowance of the names it tries */
    int rc = admit(r, kc, rate, &vc);
    if (rc == ADMIT_UNAVAILABLE)
        return send_backend_down(rq);
    if (rc == ADMIT_DECIDED && !vc.admitted) {
        ea_count(r->server, EA_C_RL_LOGIN_NO);
        set_headers(r, rate, &vc);
        log_throttled(r, kc, "login attempts from a client address", rate, &vc);
        return send_throttled(rq, &vc);
    }
    int ru = admit(r, ku, rate, &vu);
    if (ru == ADMIT_UNAVAILABLE)
        return send_backend_down(rq);
    if (ru == ADMIT_DECIDED && !vu.admitted) {
        ea_count(r->server, EA_C_RL_LOGIN_NO);
        set_headers(r, rate, &vu);
        log_throttled(r, ku, "login attempts for a username", rate, &vu);
        return send_throttled(rq, &vu);
    }
    ea_count(r->server, EA_C_RL_LOGIN_OK);
    /* both admitted: the headers of the tighter one */
    if (rc == ADMIT_DECIDED && (ru != ADMIT_DECIDED || vc.remaining <= vu.remaining))
        set_headers(r, rate, &vc);
    else if (ru == ADMIT_DECIDED)
        set_headers(r, rate, &vu);
    return 0;
}

/* Failed credentials (an unknown, expired or inactive user's token) count
 * against EcoAtlasRateLimitLogin per client address, like login attempts:
 * guessing keys is guessing passwords.  0: within the limit (answer 401);
 * otherwise the 429 was sent and *retry_s says for how long the client
 * stays refused. */
int ea_limits_auth_failure(ea_req *rq, unsigned *retry_s)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);
    ea_rate rate = ea_srv_rate(sc, rate_login);
    char client[EA_CLIENT_KEY_SIZE];
    ea_throttle_verdict v;

    *retry_s = 0;
    if (rate.count == 0)
        return 0;
    if (ea_client_key(client, sizeof(client), r->useragent_ip) != 0)
        client[0] = '\0';
    const char *k = apr_psprintf(r->pool, "f%u/%" APR_UINT64_T_FMT "c:%s", rate.count, rate.period_ms, client);
    int rc = admit(r, k, rate, &v);
    if (rc == ADMIT_DECIDED)
        ea_count(r->server, v.admitted ? EA_C_RL_CRED_OK : EA_C_RL_CRED_NO);
    if (rc != ADMIT_DECIDED || v.admitted)
        return 0;   /* a backend outage never turns a 401 into something else */
    set_headers(r, rate, &v);
    log_throttled(r, k, "failed credentials from a client address", rate, &v);
    *retry_s = v.retry_after_s;
    return send_throttled(rq, &v);
}
