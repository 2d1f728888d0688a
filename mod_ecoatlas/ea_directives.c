/* ea_directives: the EcoAtlas* directive table, per-directory create/merge. */
#include "ea_mod_conf.h"
#include "ea_settings.h"
#include "ea_mod_cache.h"
#include "ea_mod_limits.h"
#include "ea_mod_auth.h"
#include "ea_mod_edge.h"
#include "ea_mod_body.h"
#include "ea_mod_tasks.h"
#include "ea_mod_db.h"
#include "apr_strings.h"
#include "ea_params.h"
#include <errno.h>

APLOG_USE_MODULE(ecoatlas);

/* The defaults of every directive (docs/directives.md); a field not named
 * here defaults to 0 or NULL.  Read through ea_srv_get/ea_dir_get. */
const ea_srv_conf ea_srv_defaults = {
    .cache_size = 64 * 1024 * 1024,             /* EcoAtlasCacheSize 64M */
    /* The largest page: EcoAtlasMaxPageSize 200 sites of Django-shaped rows
     * with long notes, indented, stays below this. */
    .cache_max_entry = 1024 * 1024,             /* EcoAtlasCacheMaxEntry 1M */
    .query_timeout_ms = 30000,                  /* EcoAtlasQueryTimeout 30 */
    .max_exports = EA_UNSET,                    /* EcoAtlasMaxExports: half of the pool's spare connections (ea_db.c) */
    .cors_allow_all = 0,
    .cors_credentials = 0,
    .rate_anon = { 1, 1000, 86400000 },         /* EcoAtlasRateLimitAnon 1000/day */
    .rate_user = { 1, 5000, 86400000 },         /* EcoAtlasRateLimitUser 5000/day */
    .throttle_entries = 100000,                 /* EcoAtlasThrottleEntries */
    .ssl_redirect = 0,
    .hsts_seconds = 0,
    .hsts_subdomains = 0,
    .hsts_preload = 0,
    .cache_db = -1,
    .token_name = "EcoPowerAtlas API",          /* EcoAtlasTokenName */
    .session_cookie_secure = 0,
    .csrf_cookie_secure = 0,
    .rate_login = { 1, 10, 60000 },             /* EcoAtlasRateLimitLogin 10/min */
    .throttle_failure = 0,                      /* EcoAtlasThrottleBackendFailure open */
    .task_eager = 0,
    .task_time_limit = EA_TASK_TIME_LIMIT_DEFAULT, /* EcoAtlasTaskTimeLimit (lib/ea_settings.h) */
    .metrics = 1,                               /* EcoAtlasMetrics On */
    .ssl_engine = 0,
};

const ea_dir_conf ea_dir_defaults = {
    .base = "/api",
    .page_size = 50,                            /* EcoAtlasPageSize */
    .max_page_size = 200,                       /* EcoAtlasMaxPageSize */
    .search_timeout_ms = 900,                   /* EcoAtlasSearchTimeout 0.9 */
    .debug = 0,
    .cache = 1,                                 /* EcoAtlasCache On */
    .max_body = 1024 * 1024,                    /* EcoAtlasMaxBodySize 1M */
};

/* The module's state lives in the configuration pool: every server of one
 * configuration shares it, a restart (a new configuration) starts anew. */
#define EA_STATE_KEY "ecoatlas:state"
static ea_module_state *state_for(apr_pool_t *p)
{
    void *v = NULL;
    apr_pool_userdata_get(&v, EA_STATE_KEY, p);
    if (!v) {
        ea_module_state *st = apr_pcalloc(p, sizeof(*st));
        st->pool = p;
        apr_pool_userdata_setn(st, EA_STATE_KEY, NULL, p);
        v = st;
    }
    return v;
}

void *ea_create_dir_conf(apr_pool_t *p, char *dir)
{
    ea_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    c->base = NULL;
    if (dir && dir[0] == '/') {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        c->base = (n == 1) ? "" : apr_pstrmemdup(p, dir, n);
    }
    c->page_size = EA_UNSET;
    c->max_page_size = EA_UNSET;
    c->search_timeout_ms = EA_UNSET;
    c->debug = EA_UNSET;
    c->cache = EA_UNSET;
    c->max_body = EA_UNSET;
    return c;
}

#define MERGE(f) c->f = (add->f != EA_UNSET) ? add->f : base->f

void *ea_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const ea_dir_conf *base = basev, *add = addv;
    ea_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    c->base = add->base ? add->base : base->base;
    c->allowed_hosts = add->allowed_hosts ? add->allowed_hosts : base->allowed_hosts;
    MERGE(page_size);
    MERGE(max_page_size);
    MERGE(search_timeout_ms);
    MERGE(debug);
    MERGE(cache);
    MERGE(max_body);
    return c;
}

void *ea_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    ea_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->cache_size = EA_UNSET;
    c->cache_max_entry = EA_UNSET;
    c->query_timeout_ms = EA_UNSET;
    c->max_exports = EA_UNSET;
    c->cors_allow_all = EA_UNSET;
    c->cors_credentials = EA_UNSET;
    c->cors_origins = NULL;
    c->throttle_entries = EA_UNSET;
    c->ssl_redirect = EA_UNSET;
    c->hsts_seconds = EA_UNSET;
    c->hsts_subdomains = EA_UNSET;
    c->hsts_preload = EA_UNSET;
    c->cache_db = -1;
    c->session_cookie_secure = EA_UNSET;
    c->csrf_cookie_secure = EA_UNSET;
    c->throttle_failure = EA_UNSET;
    c->task_eager = EA_UNSET;
    c->task_time_limit = EA_UNSET;
    c->metrics = EA_UNSET;
    c->ssl_engine = EA_UNSET;
    c->st = state_for(p);
    return c;
}

void *ea_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    const ea_srv_conf *base = basev, *add = addv;
    ea_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    MERGE(cache_size);
    MERGE(cache_max_entry);
    MERGE(query_timeout_ms);
    MERGE(max_exports);
    MERGE(cors_allow_all);
    MERGE(cors_credentials);
    c->cors_origins = add->cors_origins ? add->cors_origins : base->cors_origins;
    c->rate_anon = add->rate_anon.set ? add->rate_anon : base->rate_anon;
    c->rate_user = add->rate_user.set ? add->rate_user : base->rate_user;
    MERGE(throttle_entries);
    MERGE(ssl_redirect);
    MERGE(hsts_seconds);
    MERGE(hsts_subdomains);
    MERGE(hsts_preload);
    if (add->proxy_ssl_header) {
        c->proxy_ssl_header = add->proxy_ssl_header;
        c->proxy_ssl_value = add->proxy_ssl_value;
        c->proxy_ssl_trusted = add->proxy_ssl_trusted;
    } else {
        c->proxy_ssl_header = base->proxy_ssl_header;
        c->proxy_ssl_value = base->proxy_ssl_value;
        c->proxy_ssl_trusted = base->proxy_ssl_trusted;
    }
    c->cache_db = -1;
    c->secret_key = add->secret_key ? add->secret_key : base->secret_key;
    c->token_name = add->token_name ? add->token_name : base->token_name;
    c->csrf_trusted = add->csrf_trusted ? add->csrf_trusted : base->csrf_trusted;
    MERGE(session_cookie_secure);
    MERGE(csrf_cookie_secure);
    c->rate_login = add->rate_login.set ? add->rate_login : base->rate_login;
    c->throttle_backend = add->throttle_backend ? add->throttle_backend : base->throttle_backend;
    MERGE(throttle_failure);
    c->broker_url = add->broker_url ? add->broker_url : base->broker_url;
    c->result_backend = add->result_backend ? add->result_backend : base->result_backend;
    MERGE(task_eager);
    MERGE(task_time_limit);
    c->import_dir = add->import_dir ? add->import_dir : base->import_dir;
    c->dbd_params = add->dbd_params ? add->dbd_params : base->dbd_params;
    c->dbd_driver = add->dbd_driver ? add->dbd_driver : base->dbd_driver;
    c->dbd_min = add->dbd_min ? add->dbd_min : base->dbd_min;
    c->dbd_keep = add->dbd_keep ? add->dbd_keep : base->dbd_keep;
    c->dbd_max = add->dbd_max ? add->dbd_max : base->dbd_max;
    c->dbd_exptime = add->dbd_exptime ? add->dbd_exptime : base->dbd_exptime;
    c->dbd_persist = add->dbd_persist ? add->dbd_persist : base->dbd_persist;
    c->ssl_engine = add->ssl_engine;   /* the server's own: the deploy check's view */
    MERGE(metrics);
    c->st = base->st;
    return c;
}

/* Positive page sizes; a bound keeps one response from turning into an export. */
static const char *set_page_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_dir_conf *c = dconf;
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < 1 || v > 10000)
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected an integer from 1 to 10000)",
                            cmd->directive->directive, arg);
    if (cmd->info == (void *)0)
        c->page_size = (int)v;
    else
        c->max_page_size = (int)v;
    return NULL;
}

/* Seconds (fractions allowed: 0.5) a statement may run before PostgreSQL
 * cancels it: any statement (EcoAtlasQueryTimeout), or one of a searched
 * set (EcoAtlasSearchTimeout, per directory). */
static const char *set_query_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || end == arg || !(v >= 0.01 && v <= 3600))
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected seconds from 0.01 to 3600)",
                            cmd->directive->directive, arg);
    if (cmd->info == (void *)1)
        ((ea_dir_conf *)dconf)->search_timeout_ms = (int)(v * 1000 + 0.5);
    else
        ea_sconf(cmd->server)->query_timeout_ms = (int)(v * 1000 + 0.5);
    return NULL;
}

/* Exports that may hold one of a pool's connections at once, per child:
 * 1 to 100000 (unset: half of the pool's spare connections, ea_db.c). */
static const char *set_max_exports(cmd_parms *cmd, void *dconf, const char *arg)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < 1 || v > 100000)
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected an integer from 1 to 100000)",
                            cmd->directive->directive, arg);
    ea_sconf(cmd->server)->max_exports = (int)v;
    return NULL;
}

/* An On|Off server setting stored at the offset given in the table. */
static const char *set_srv_flag(cmd_parms *cmd, void *dconf, int on)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    *(int *)((char *)c + (size_t)cmd->info) = on ? 1 : 0;
    return NULL;
}

static const char *set_hsts_seconds(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < 0 || v > 2147483647L)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected seconds, "
                            "0 to 2147483647; a year is 31536000)", cmd->directive->directive, arg);
    c->hsts_seconds = (int)v;
    return NULL;
}

/* Bytes with an optional K/M/G suffix; 0 turns the cache off. */
static const char *set_cache_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long long v;
    if (err)
        return err;
    if (ea_parse_size(arg, 16LL * 1024 * 1024 * 1024, &v) != 0 || (v > 0 && v < 1024 * 1024))
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected 0 or a size "
                            "from 1M to 16G, like 64M)", cmd->directive->directive, arg);
    c->cache_size = v;
    return NULL;
}

/* The largest response body the cache stores: 1K to 1G. */
static const char *set_cache_max_entry(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    long long v;
    if (err)
        return err;
    if (ea_parse_size(arg, 1024LL * 1024 * 1024, &v) != 0 || v < 1024)
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected a size "
                            "from 1K to 1G, like 2M)", cmd->directive->directive, arg);
    c->cache_max_entry = v;
    return NULL;
}

const command_rec ea_directives[] = {
    AP_INIT_TAKE1("EcoAtlasPageSize", set_page_size, (void *)0, RSRC_CONF | ACCESS_CONF,
                  "Default number of objects per page of a list (default 50)"),
    AP_INIT_TAKE1("EcoAtlasMaxPageSize", set_page_size, (void *)1, RSRC_CONF | ACCESS_CONF,
                  "Largest page_size a client may ask for (default 200)"),
    AP_INIT_FLAG("EcoAtlasDebug", ap_set_flag_slot, (void *)APR_OFFSETOF(ea_dir_conf, debug), RSRC_CONF | ACCESS_CONF,
                 "On: error responses carry the internal cause (never in production)"),
    AP_INIT_TAKE1("EcoAtlasQueryTimeout", set_query_timeout, NULL, RSRC_CONF,
                  "Seconds a database statement may run before it is cancelled (default 30)"),
    AP_INIT_TAKE1("EcoAtlasMaxExports", set_max_exports, NULL, RSRC_CONF,
                  "Exports that may stream at once per child and connection pool "
                  "(default half of DBDMax)"),
    AP_INIT_TAKE1("EcoAtlasSearchTimeout", set_query_timeout, (void *)1, RSRC_CONF | ACCESS_CONF,
                  "Seconds a statement of a ?search= request may run; longer: 400 (default 0.9)"),
    AP_INIT_TAKE1("EcoAtlasRateLimitAnon", ea_limits_set_rate, (void *)0, RSRC_CONF,
                  "Requests per client address for anonymous callers, N/period or off "
                  "(default 1000/day)"),
    AP_INIT_TAKE1("EcoAtlasRateLimitUser", ea_limits_set_rate, (void *)1, RSRC_CONF,
                  "Requests per authenticated user, N/period or off (default 5000/day)"),
    AP_INIT_TAKE1("EcoAtlasThrottleEntries", ea_limits_set_entries, NULL, RSRC_CONF,
                  "Clients the shared rate-limit table holds (default 100000)"),
    AP_INIT_TAKE_ARGV("EcoAtlasProxySSLHeader", ea_https_set_proxy_header, NULL, RSRC_CONF,
                      "Header, value meaning https, and optionally the trusted proxies "
                      "(e.g. X-Forwarded-Proto https 10.0.0.0/8)"),
    AP_INIT_FLAG("EcoAtlasSSLRedirect", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, ssl_redirect), RSRC_CONF,
                 "On: answer insecure API requests with a 301 to https (default Off)"),
    AP_INIT_TAKE1("EcoAtlasHSTSSeconds", set_hsts_seconds, NULL, RSRC_CONF,
                  "Strict-Transport-Security max-age on secure responses; 0: none (default)"),
    AP_INIT_FLAG("EcoAtlasHSTSIncludeSubdomains", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, hsts_subdomains), RSRC_CONF,
                 "On: add includeSubDomains to Strict-Transport-Security (default Off)"),
    AP_INIT_FLAG("EcoAtlasHSTSPreload", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, hsts_preload), RSRC_CONF,
                 "On: add preload to Strict-Transport-Security (default Off)"),
    AP_INIT_ITERATE("EcoAtlasAllowedHosts", ea_hosts_set, NULL, RSRC_CONF | ACCESS_CONF,
                    "Host names the API answers for: exact names, .example.org (and "
                    "subdomains), or *; default: ServerName and ServerAlias"),
    AP_INIT_FLAG("EcoAtlasCORSAllowAllOrigins", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, cors_allow_all), RSRC_CONF,
                 "On: any Origin may read the API (default Off)"),
    AP_INIT_ITERATE("EcoAtlasCORSAllowedOrigins", ea_cors_set_origins, NULL, RSRC_CONF,
                    "Origins (scheme://host[:port]) allowed to read the API"),
    AP_INIT_FLAG("EcoAtlasCORSAllowCredentials", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, cors_credentials), RSRC_CONF,
                 "On: browsers may send cookies and credentials cross-origin (default Off)"),
    AP_INIT_FLAG("EcoAtlasCache", ap_set_flag_slot, (void *)APR_OFFSETOF(ea_dir_conf, cache), RSRC_CONF | ACCESS_CONF,
                 "Off: never answer from the shared response cache here (default On)"),
    AP_INIT_TAKE1("EcoAtlasCacheSize", set_cache_size, NULL, RSRC_CONF,
                  "Shared memory for the response cache, e.g. 128M; 0 disables it (default 64M)"),
    AP_INIT_TAKE1("EcoAtlasCacheMaxEntry", set_cache_max_entry, NULL, RSRC_CONF,
                  "Largest response body the cache stores, e.g. 2M (default 1M)"),
    AP_INIT_TAKE1("EcoAtlasMaxBodySize", ea_body_set_max, NULL, RSRC_CONF | ACCESS_CONF,
                  "Largest request body the API reads, e.g. 512K or 1M (default 1M)"),
    AP_INIT_TAKE1("EcoAtlasSecretKey", ea_auth_set_secret, NULL, RSRC_CONF,
                  "Key that signs session cookies (32+ random characters); prefer "
                  "EcoAtlasSecretKeyFile or ${VAR} to keep it out of the configuration"),
    AP_INIT_TAKE1("EcoAtlasSecretKeyFile", ea_auth_set_secret_file, NULL, RSRC_CONF,
                  "File holding the secret key on one line, readable by root only"),
    AP_INIT_TAKE1("EcoAtlasTokenName", ea_auth_set_token_name, NULL, RSRC_CONF,
                  "Label of new API tokens, followed by the date (default \"EcoPowerAtlas API\")"),
    AP_INIT_FLAG("EcoAtlasSessionCookieSecure", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, session_cookie_secure), RSRC_CONF,
                 "On: the sessionid cookie is sent over HTTPS only (default Off)"),
    AP_INIT_FLAG("EcoAtlasCSRFCookieSecure", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, csrf_cookie_secure), RSRC_CONF,
                 "On: the csrftoken cookie is sent over HTTPS only (default Off)"),
    AP_INIT_ITERATE("EcoAtlasCSRFTrustedOrigins", ea_auth_set_csrf_origins, NULL, RSRC_CONF,
                    "Origins trusted for session-authenticated writes besides the API's own "
                    "(https://app.example.org, https://*.example.org)"),
    AP_INIT_TAKE1("EcoAtlasRateLimitLogin", ea_limits_set_rate, (void *)2, RSRC_CONF,
                  "Login attempts per client address and per username, N/period or off "
                  "(default 10/min)"),
    AP_INIT_TAKE1("EcoAtlasThrottleBackend", ea_limits_set_backend, NULL, RSRC_CONF,
                  "Where the rate limits are counted: local (shared memory, default), "
                  "redis://host[:port][/db] or unix:///path.sock[?db=N] (shared by several nodes)"),
    AP_INIT_TAKE1("EcoAtlasThrottleBackendFailure", ea_limits_set_failure, NULL, RSRC_CONF,
                  "When the Redis backend is unreachable: open (count locally, default) or "
                  "closed (503)"),
    AP_INIT_TAKE1("EcoAtlasBrokerURL", ea_tasks_set_url, (void *)0, RSRC_CONF,
                  "Redis URL of the task queue: redis://host[:port][/db] or "
                  "unix:///path/redis.sock[?db=N] (Celery's CELERY_BROKER_URL)"),
    AP_INIT_TAKE1("EcoAtlasResultBackend", ea_tasks_set_url, (void *)1, RSRC_CONF,
                  "Redis URL where task records are kept (default: the broker)"),
    AP_INIT_FLAG("EcoAtlasTaskAlwaysEager", set_srv_flag,
                 (void *)APR_OFFSETOF(ea_srv_conf, task_eager), RSRC_CONF,
                 "On: run tasks inside the request instead of queueing them (default Off)"),
    AP_INIT_TAKE1("EcoAtlasTaskTimeLimit", ea_tasks_set_time_limit, NULL, RSRC_CONF,
                  "Seconds a task may run before it is cancelled (default 600)"),
    AP_INIT_TAKE1("EcoAtlasImportDir", ea_tasks_set_import_dir, NULL, RSRC_CONF,
                  "Directory, shared with ecoatlas-worker, where uploaded import files wait "
                  "(default: the system temporary directory)"),
    AP_INIT_FLAG("EcoAtlasMetrics", set_srv_flag, (void *)APR_OFFSETOF(ea_srv_conf, metrics), RSRC_CONF,
                 "Off: this host's requests are not counted in the metrics (default On)"),
    /* mod_dbd's connection and pool settings: noted here too (ea_db.c), for
     * the servers that share a database (ea_cache.c) and each pool's queue,
     * then handled by mod_dbd as usual */
    AP_INIT_TAKE1("DBDParams", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_params), RSRC_CONF,
                  "mod_dbd's connection parameters (mod_ecoatlas notes which servers share them)"),
    AP_INIT_TAKE1("DBDriver", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_driver), RSRC_CONF,
                  "mod_dbd's driver (mod_ecoatlas notes which servers share a pool)"),
    AP_INIT_TAKE1("DBDMin", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_min), RSRC_CONF,
                  "mod_dbd's DBDMin (mod_ecoatlas notes which servers share a pool)"),
    AP_INIT_TAKE1("DBDKeep", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_keep), RSRC_CONF,
                  "mod_dbd's DBDKeep (mod_ecoatlas notes which servers share a pool)"),
    AP_INIT_TAKE1("DBDMax", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_max), RSRC_CONF,
                  "mod_dbd's DBDMax (mod_ecoatlas queues requests for the pool's connections)"),
    AP_INIT_TAKE1("DBDExptime", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_exptime), RSRC_CONF,
                  "mod_dbd's DBDExptime (mod_ecoatlas notes which servers share a pool)"),
    AP_INIT_TAKE1("DBDPersist", ea_db_note_pool, (void *)APR_OFFSETOF(ea_srv_conf, dbd_persist), RSRC_CONF,
                  "mod_dbd's DBDPersist (Off: no pool, so no queue)"),
    AP_INIT_RAW_ARGS("SSLEngine", ea_deploy_note_ssl_engine, NULL, RSRC_CONF,
                     "mod_ssl's switch (mod_ecoatlas notes the hosts that serve HTTPS)"),
    { NULL }
};
