/* ea_limits: DRF's throttling, done right across processes (decision D7).
 * One shared-memory table (lib/ea_throttle.c) for every child and thread:
 * authenticated requests count per user (EcoAtlasRateLimitUser), anonymous
 * ones per client address as mod_remoteip leaves it in r->useragent_ip,
 * IPv6 grouped by /64 (EcoAtlasRateLimitAnon).  The table lives in the
 * parent's process pool, so `apachectl graceful` keeps the counts. */
#include "mod_ecoatlas.h"
#include "http_core.h"
#include "http_main.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "ea_edge.h"
#include "ea_throttle.h"

#include <time.h>

APLOG_USE_MODULE(ecoatlas);

#define SHM_KEY "ecoatlas:throttle"
#define THROTTLE_SLOTS EA_THROTTLE_SLOTS_DEFAULT

static ea_throttle *table;

const char *ea_limits_set_rate(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ap_get_module_config(cmd->server->module_config, &ecoatlas_module);
    ea_rate *rate = cmd->info == (void *)0 ? &c->rate_anon : &c->rate_user;
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
    ea_srv_conf *c = ap_get_module_config(cmd->server->module_config, &ecoatlas_module);
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

/* A clock every child shares that never steps back (NTP cannot freeze a
 * window); it also runs on across graceful restarts. */
static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static ea_rate effective(const ea_rate *r, unsigned dflt_count, uint64_t dflt_period)
{
    ea_rate e = *r;
    if (!e.set) {
        e.count = dflt_count;
        e.period_ms = dflt_period;
    }
    return e;
}

int ea_limits_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_srv_conf *sc = ap_get_module_config(s->module_config, &ecoatlas_module);
    /* 1.25 entries per client keeps live evictions (which would forget a
     * client's count) away at full load. */
    unsigned clients = sc->throttle_entries == EA_UNSET ? 100000 : (unsigned)sc->throttle_entries;
    unsigned entries = EA_THROTTLE_ENTRIES_FOR(clients);
    apr_pool_t *keep = s->process->pool;
    apr_shm_t *shm = NULL;
    void *old = NULL;

    table = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    apr_pool_userdata_get(&old, SHM_KEY, keep);
    if (old) {   /* a graceful restart: keep the counts if the shape is the same */
        shm = old;
        table = ea_throttle_attach(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm));
        if (table && ea_throttle_entries(table) >= entries
            && ea_throttle_entries(table) < entries + EA_THROTTLE_GROUP
            && ea_throttle_slots(table) == THROTTLE_SLOTS) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "rate limits: counts kept over the restart");
            return OK;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "rate limits: table resized, counts start over "
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
                     "cannot create %" APR_SIZE_T_FMT " bytes of shared memory for the rate "
                     "limits (EcoAtlasThrottleEntries %u)", size, clients);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_generate_random_bytes(key, sizeof(key));
    table = ea_throttle_init(apr_shm_baseaddr_get(shm), size, entries, THROTTLE_SLOTS, key);
    apr_pool_userdata_set(shm, SHM_KEY, NULL, keep);
    return OK;
}

int ea_limits_check(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ap_get_module_config(r->server->module_config, &ecoatlas_module);
    char client[EA_CLIENT_KEY_SIZE];
    const char *key;
    ea_rate rate;
    ea_throttle_verdict v;

    if (!table || r->main)
        return 0;
    if (r->user) {
        rate = effective(&sc->rate_user, 5000, 86400000);
        key = r->user;
    } else {
        rate = effective(&sc->rate_anon, 1000, 86400000);
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
    int rc = ea_throttle_admit(table, key, strlen(key), rate.count, rate.period_ms,
                               monotonic_ms(), &v);
    if (rc != EA_THROTTLE_OK) {   /* fail open: never refuse a client for our own contention */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "rate limit table busy; request admitted");
        return 0;
    }
    apr_table_setn(r->err_headers_out, "RateLimit-Limit", apr_psprintf(r->pool, "%u", rate.count));
    apr_table_setn(r->err_headers_out, "RateLimit-Remaining", apr_psprintf(r->pool, "%u", v.remaining));
    apr_table_setn(r->err_headers_out, "RateLimit-Reset", apr_psprintf(r->pool, "%u", v.reset_s));
    if (v.admitted)
        return 0;
    if (ea_log_once(key, v.at_ms / rate.period_ms))   /* once per window */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "throttled %s (%u per %" APR_UINT64_T_FMT " s)",
                      r->user ? "a user" : "a client address", rate.count, rate.period_ms / 1000);
    apr_table_setn(r->err_headers_out, "Retry-After", apr_psprintf(r->pool, "%u", v.retry_after_s));
    ea_send_detail(rq, HTTP_TOO_MANY_REQUESTS,
                   apr_psprintf(r->pool, "Request was throttled. Expected available in %u second%s.",
                                v.retry_after_s, v.retry_after_s == 1 ? "" : "s"));
    return -1;
}
