/* ea_mod_metrics: what an operator scrapes (docs/operations.md, §25).
 *
 * The counters live in one shared-memory region (lib/ea_metrics.c) created
 * in the parent's process pool, as the rate-limit table is (ea_limits.c),
 * so `apachectl graceful` keeps them when the layout is unchanged.  Call
 * sites elsewhere add to them with one line (ea_count, ea_count_task); the
 * requests and their latency are recorded here, in log_transaction, once
 * the response is sent.
 *
 * Two ways out:
 *   SetHandler ecoatlas-metrics   Prometheus text format, with the queue
 *                                 figures and the workers' own counters read
 *                                 from Redis at scrape time;
 *   mod_status                    a mod_ecoatlas section in server-status
 *                                 (HTML and ?auto) when ExtendedStatus is On.
 * EcoAtlasMetrics Off stops the counting for a virtual host. */
#include "ea_mod_conf.h"
#include "ea_logno.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_metrics.h"
#include "http_core.h"
#include "http_main.h"
#include "apr_optional.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "mod_status.h"
#include "ea_queue.h"
#include "ea_shmcache.h"
#include "ea_task_run.h"

APLOG_USE_MODULE(ecoatlas);

#define SHM_KEY "ecoatlas:metrics"
#define SCRAPE_REDIS_TIMEOUT_MS 250
#define WORKER_LIVE_S 15           /* a worker beats every 5 s (ecoatlas-worker.c) */

/* The metrics' part of the module state (ea_state(s)->metrics_st; the
 * region itself is ea_state(s)->metrics).  Route names: index 0 and 1 are
 * reserved (no route, the redirect); each distinct name of the route table
 * gets the next index. */
#define MAX_ROUTES 64
typedef struct ea_metrics_state {
    const char *route_names[EA_METRICS_ROUTES];
    int nroute_names;
    int route_idx[MAX_ROUTES];          /* by ea_req's route_index */
    int nroutes;
    const char *task_names[EA_METRICS_TASKS];
    int ntask_names;
} ea_metrics_state;

static void map_routes(ea_metrics_state *ms, const ea_route *(*route_at)(int i))
{
    ms->nroutes = 0;
    ms->nroute_names = 2;
    ms->route_names[EA_METRICS_ROUTE_NONE] = "unmatched";
    ms->route_names[EA_METRICS_ROUTE_REDIRECT] = "redirect";
    for (int i = 0; route_at(i) && ms->nroutes < MAX_ROUTES; i++) {
        const ea_route *rt = route_at(i);
        int k;
        for (k = 2; k < ms->nroute_names; k++)
            if (strcmp(ms->route_names[k], rt->name) == 0)
                break;
        if (k == ms->nroute_names) {
            if (ms->nroute_names == EA_METRICS_ROUTES)
                k = EA_METRICS_ROUTE_NONE;   /* no room: counted as unmatched */
            else
                ms->route_names[ms->nroute_names++] = rt->name;
        }
        ms->route_idx[ms->nroutes++] = k;   /* route i of the table */
    }
    ms->ntask_names = 0;
    for (int i = 0; i < ea_task_count() && i < EA_METRICS_TASKS; i++)
        ms->task_names[ms->ntask_names++] = ea_task_name_at(i);
}

static int route_index(const ea_metrics_state *ms, const ea_req *rq)
{
    if (!rq->route)
        return rq->redirect ? EA_METRICS_ROUTE_REDIRECT : EA_METRICS_ROUTE_NONE;
    int i = rq->route_index;
    return i >= 0 && i < ms->nroutes ? ms->route_idx[i] : EA_METRICS_ROUTE_NONE;
}

/* The region when this server counts (EcoAtlasMetrics), else NULL. */
static ea_metrics *counting(const server_rec *s)
{
    const ea_srv_conf *sc = ea_sconf(s);
    return ea_srv_get(sc, metrics) != 0 ? sc->st->metrics : NULL;
}

void ea_count(server_rec *s, ea_metric_counter c)
{
    ea_metrics *shm = counting(s);
    if (shm)
        ea_metrics_add(shm, c, 1);
}

void ea_count_task(server_rec *s, ea_metric_task t, const char *task, uint64_t n)
{
    ea_metrics *shm = counting(s);
    if (shm)
        ea_metrics_task(shm, t, ea_task_index(task), n);
}

void ea_count_wait(server_rec *s, apr_time_t waited)
{
    ea_metrics *shm = counting(s);
    if (shm)
        ea_metrics_observe(shm, EA_H_DB_WAIT, waited > 0 ? (uint64_t)waited : 0);
}

/* ---- the region ------------------------------------------------------------------------ */

/* apr_shm's base is not cache-line aligned: the region starts at the next line. */
static void *aligned_base(apr_shm_t *m)
{
    uintptr_t a = (uintptr_t)apr_shm_baseaddr_get(m);
    return (void *)((a + 63) & ~(uintptr_t)63);
}

/* The response cache's change listeners (the cache's region, read here):
 * their number and, in sc, each one's health, leading child and starts,
 * and the cache's slots. */
static int cache_listeners(server_rec *s, ea_metrics_scrape *sc)
{
    ea_module_state *st = ea_state(s);
    ea_shmcache *cache = st->cache;
    uint64_t now = ea_shmcache_now_ms();
    sc->cache_slots = cache ? ea_shmcache_nslots(cache) : 0;
    if (!cache)
        return 0;
    int ndbs = st->cache_ndbs < EA_METRICS_DBS ? st->cache_ndbs : EA_METRICS_DBS;
    for (int db = 0; db < ndbs; db++) {
        sc->listener_up[db] = ea_shmcache_healthy(cache, db, now);
        sc->listener_pid[db] = ea_shmcache_leader(cache, db, &sc->listener_starts[db]);
    }
    return ndbs;
}

int ea_metrics_post_config(apr_pool_t *pconf, server_rec *s, const ea_route *(*route_at)(int i))
{
    apr_pool_t *keep = s->process->pool;
    apr_size_t size = ea_metrics_size() + 64;
    apr_shm_t *m = NULL;
    void *old = NULL;
    ea_module_state *st = ea_state(s);
    ea_metrics_state *ms = st->metrics_st = apr_pcalloc(pconf, sizeof(*ms));
    ea_metrics *shm;

    st->metrics = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    map_routes(ms, route_at);
    uint64_t layout = ea_metrics_layout(ms->route_names, ms->nroute_names, ms->task_names, ms->ntask_names);
    apr_pool_userdata_get(&old, SHM_KEY, keep);
    if (old) {   /* a graceful restart: the same layout keeps its counts */
        m = old;
        shm = apr_shm_size_get(m) >= size
              ? ea_metrics_attach(aligned_base(m), ea_metrics_size(), layout) : NULL;
        if (shm) {
            st->metrics = shm;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, EA_LOGNO(00048) "metrics: counts kept over the restart");
            return OK;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, EA_LOGNO(00049) "metrics: layout changed, counts start over");
        apr_shm_destroy(m);
        apr_pool_userdata_set(NULL, SHM_KEY, NULL, keep);
    }
    apr_status_t rv = apr_shm_create(&m, size, NULL, keep);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, EA_LOGNO(00050) "metrics: cannot create %" APR_SIZE_T_FMT
                     " bytes of shared memory; no metrics", size);
        return OK;
    }
    st->metrics = ea_metrics_init(aligned_base(m), ea_metrics_size(), layout);
    apr_pool_userdata_set(m, SHM_KEY, NULL, keep);
    return OK;
}

/* ---- requests: counted once the response is sent ------------------------------------- */

static ea_metric_export export_kind(const ea_route *rt)
{
    return rt && rt->is_export ? rt->export_kind : EA_X_COUNT;
}

static int log_request(request_rec *r)
{
    ea_req *rq = ea_req_get(r);
    ea_metrics *shm = rq ? counting(r->server) : NULL;
    if (!shm)
        return DECLINED;
    const request_rec *last = r;
    while (last->next)
        last = last->next;
    apr_time_t t = apr_time_now() - r->request_time;
    uint64_t us = t > 0 ? (uint64_t)t : 0;
    ea_metrics_request(shm, route_index(ea_state(r->server)->metrics_st, rq), last->status, us);
    ea_metric_export x = export_kind(rq->route);
    if (x != EA_X_COUNT && last->status == HTTP_OK && !r->header_only)
        ea_metrics_export(shm, x, rq->export_rows > 0 ? (uint64_t)rq->export_rows : 0,
                          last->bytes_sent > 0 ? (uint64_t)last->bytes_sent : 0, us);
    return DECLINED;
}

/* ---- the scrape ---------------------------------------------------------------------- */

static void scrape_broker(request_rec *r, ea_metrics_scrape *sc)
{
    ea_srv_conf *c = ea_sconf(r->server);
    ea_taskq_opts o;
    const char *err;
    sc->broker = -1;
    if (!c->broker_url)
        return;
    memset(&o, 0, sizeof o);
    o.broker_url = c->broker_url;
    o.backend_url = c->result_backend;
    o.timeout_ms = SCRAPE_REDIS_TIMEOUT_MS;
    ea_taskq *q = ea_taskq_create(r->pool, &o, &err);
    if (!q)
        return;
    apr_pool_cleanup_register(r->pool, q, ea_taskq_close_cleanup, apr_pool_cleanup_null);
    const char **fields = NULL;
    long long *values = NULL;
    int n = 0;
    if (ea_taskq_stats(q, sc->queue) != 0 || ea_taskq_live_workers(q, WORKER_LIVE_S, &sc->workers) != 0
        || ea_taskq_stats_get(q, r->pool, &fields, &values, &n) != 0) {
        sc->broker = 0;
        if (ea_log_once(r->server, "metrics-broker", 0))
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, EA_LOGNO(00051) "metrics: task broker not answering: %s",
                          ea_taskq_error(q));
        return;
    }
    sc->broker = 1;
    sc->nworker = n;
    sc->worker_field = fields;
    sc->worker_value = values;
}

int ea_metrics_handler(request_rec *r)
{
    ea_metrics_scrape sc;
    ea_buf b;
    ea_module_state *st = ea_state(r->server);
    const ea_metrics_state *ms = st->metrics_st;
    ea_metrics *shm = st->metrics;

    if (r->method_number != M_GET) {
        r->allowed = (AP_METHOD_BIT << M_GET);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!shm)
        return HTTP_NOT_FOUND;
    memset(&sc, 0, sizeof sc);
    sc.routes = ms->route_names;
    sc.nroutes = ms->nroute_names;
    sc.tasks = ms->task_names;
    sc.ntasks = ms->ntask_names;
    sc.ndbs = cache_listeners(r->server, &sc);
    scrape_broker(r, &sc);
    ea_buf_init(&b, r->pool, 64 * 1024);
    ea_metrics_write(shm, &sc, &b);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)b.len);
    if (!r->header_only)
        ap_rwrite(b.data, (int)b.len, r);
    return OK;
}

/* ---- mod_status ------------------------------------------------------------------------ */

static int status_section(request_rec *r, int flags)
{
    ea_metrics *shm = ea_state(r->server)->metrics;
    if (!shm || !(flags & AP_STATUS_EXTENDED))
        return OK;
    ea_metrics_scrape sc;
    memset(&sc, 0, sizeof(sc));
    int ndbs = cache_listeners(r->server, &sc), nup = 0;
    for (int i = 0; i < ndbs; i++)
        nup += sc.listener_up[i] != 0;
    struct { const char *key, *label; uint64_t v; } f[] = {
        { "EcoAtlasRequests", "API requests", ea_metrics_requests(shm, -1, 0) },
        { "EcoAtlasRequests4xx", "4xx answers", ea_metrics_requests(shm, -1, 4) },
        { "EcoAtlasRequests5xx", "5xx answers", ea_metrics_requests(shm, -1, 5) },
        { "EcoAtlasCacheHits", "response cache hits", ea_metrics_counter(shm, EA_C_CACHE_HIT) },
        { "EcoAtlasCacheMisses", "response cache misses", ea_metrics_counter(shm, EA_C_CACHE_MISS) },
        { "EcoAtlasCacheListenersUp", "cache change listeners up", (uint64_t)nup },
        { "EcoAtlasCacheListeners", "cache change listeners", (uint64_t)ndbs },
        { "EcoAtlasRateLimited", "requests refused by rate limits",
          ea_metrics_counter(shm, EA_C_RL_ANON_NO) + ea_metrics_counter(shm, EA_C_RL_USER_NO)
          + ea_metrics_counter(shm, EA_C_RL_LOGIN_NO) + ea_metrics_counter(shm, EA_C_RL_CRED_NO) },
        { "EcoAtlasLoginFailures", "refused logins", ea_metrics_counter(shm, EA_C_AUTH_F_BAD_CREDENTIALS) },
        { "EcoAtlasDBStatements", "database statements", ea_metrics_counter(shm, EA_C_DB_STATEMENT) },
        { "EcoAtlasDBErrors", "database errors and timeouts",
          ea_metrics_counter(shm, EA_C_DB_ERROR) + ea_metrics_counter(shm, EA_C_DB_TIMEOUT)
          + ea_metrics_counter(shm, EA_C_DB_UNAVAILABLE) },
        { "EcoAtlasTaskBrokerErrors", "task broker errors", ea_metrics_counter(shm, EA_C_TASK_BROKER_ERROR) },
    };
    if (flags & AP_STATUS_SHORT) {
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            ap_rprintf(r, "%s: %" APR_UINT64_T_FMT "\n", f[i].key, (apr_uint64_t)f[i].v);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_ecoatlas</h2>\n<dl>\n", r);
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        ap_rprintf(r, "<dt>%s: %" APR_UINT64_T_FMT "</dt>\n", f[i].label, (apr_uint64_t)f[i].v);
    ap_rputs("</dl>\n", r);
    return OK;
}

void ea_metrics_register(apr_pool_t *p)
{
    APR_OPTIONAL_HOOK(ap, status_hook, status_section, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(log_request, NULL, NULL, APR_HOOK_MIDDLE);
}
