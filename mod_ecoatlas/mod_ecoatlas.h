/* mod_ecoatlas: shared declarations of the httpd glue. */
#ifndef MOD_ECOATLAS_H
#define MOD_ECOATLAS_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_tables.h"

#include "ea_buf.h"
#include "ea_metrics.h"
#include "ea_resource.h"

#include <libpq-fe.h>

extern module AP_MODULE_DECLARE_DATA ecoatlas_module;

typedef struct ea_req ea_req;
typedef struct ea_route ea_route;

#define EA_HANDLER "ecoatlas-api"
#define EA_UNSET (-1)

/* Per-directory settings; every field starts UNSET and merges add ?: base. */
typedef struct ea_dir_conf {
    const char *base;       /* URL path the API is mounted on ("/api") */
    int page_size;          /* EcoAtlasPageSize */
    int max_page_size;      /* EcoAtlasMaxPageSize */
    int debug;              /* EcoAtlasDebug */
    int cache;              /* EcoAtlasCache */
    apr_array_header_t *allowed_hosts;  /* EcoAtlasAllowedHosts; NULL: ServerName/ServerAlias */
    long long max_body;     /* EcoAtlasMaxBodySize (bytes), UNSET: 1 MB (ea_body.c) */
} ea_dir_conf;

/* A rate limit: count per period; set = 0 means not configured here. */
typedef struct ea_rate {
    int set;
    unsigned count;         /* 0: no limit */
    uint64_t period_ms;
} ea_rate;

/* Per-server settings. */
typedef struct ea_srv_conf {
    long long cache_size;   /* EcoAtlasCacheSize (main server only) */
    long long cache_max_entry;  /* EcoAtlasCacheMaxEntry (main server only) */
    int query_timeout_ms;   /* EcoAtlasQueryTimeout */
    int cors_allow_all;     /* EcoAtlasCORSAllowAllOrigins */
    int cors_credentials;   /* EcoAtlasCORSAllowCredentials */
    apr_array_header_t *cors_origins;  /* EcoAtlasCORSAllowedOrigins, normalised; NULL: unset */
    ea_rate rate_anon;      /* EcoAtlasRateLimitAnon */
    ea_rate rate_user;      /* EcoAtlasRateLimitUser */
    int throttle_entries;   /* EcoAtlasThrottleEntries (main server only) */
    apr_array_header_t *default_hosts;  /* ServerName/ServerAlias/addresses, set in post_config */
    const char *proxy_ssl_header;   /* EcoAtlasProxySSLHeader: name, */
    const char *proxy_ssl_value;    /* the value meaning https, */
    apr_array_header_t *proxy_ssl_trusted;  /* and the proxies it is trusted from */
    int ssl_redirect;       /* EcoAtlasSSLRedirect */
    int hsts_seconds;       /* EcoAtlasHSTSSeconds */
    int hsts_subdomains;    /* EcoAtlasHSTSIncludeSubdomains */
    int hsts_preload;       /* EcoAtlasHSTSPreload */
    int cache_db;           /* index of this server's database, -1: none */
    /* authentication (ea_auth.c) */
    const char *secret_key;         /* EcoAtlasSecretKey / EcoAtlasSecretKeyFile */
    const char *token_name;         /* EcoAtlasTokenName */
    int session_cookie_secure;      /* EcoAtlasSessionCookieSecure */
    int csrf_cookie_secure;         /* EcoAtlasCSRFCookieSecure */
    apr_array_header_t *csrf_trusted;   /* EcoAtlasCSRFTrustedOrigins, normalised; NULL: unset */
    ea_rate rate_login;             /* EcoAtlasRateLimitLogin (ea_limits.c) */
    /* shared rate limits (ea_limits.c) */
    struct ea_rl_backend *throttle_backend; /* EcoAtlasThrottleBackend; NULL: unset (local) */
    int throttle_failure;           /* EcoAtlasThrottleBackendFailure: 0 open, 1 closed */
    /* tasks (ea_handle_tasks.c) */
    const char *broker_url;         /* EcoAtlasBrokerURL; NULL: unset */
    const char *result_backend;     /* EcoAtlasResultBackend; NULL: the broker */
    int task_eager;                 /* EcoAtlasTaskAlwaysEager, UNSET: Off */
    int task_time_limit;            /* EcoAtlasTaskTimeLimit (s), UNSET: 600 */
    const char *import_dir;         /* EcoAtlasImportDir; NULL: the system temp dir */
    int metrics;                    /* EcoAtlasMetrics, UNSET: On (ea_metrics.c) */
    const char *dbd_params;         /* mod_dbd's DBDParams, as noted by ea_cache.c */
    int ssl_engine;                 /* mod_ssl's SSLEngine on in this server's own
                                     * configuration, as noted by ea_deploy.c (not merged) */
    struct ea_module_state *st;     /* the module's state: one for all servers */
} ea_srv_conf;

/* Every directive's default, in one place (ea_directives.c; docs/directives.md
 * documents each).  A setting is read through one reader: the configured
 * value, or the table's when it was left unset. */
extern const ea_srv_conf ea_srv_defaults;
extern const ea_dir_conf ea_dir_defaults;
#define ea_srv_get(sc, f) ((sc)->f != EA_UNSET ? (sc)->f : ea_srv_defaults.f)
#define ea_dir_get(dc, f) ((dc)->f != EA_UNSET ? (dc)->f : ea_dir_defaults.f)
/* pointer settings: NULL is unset */
#define ea_srv_getp(sc, f) ((sc)->f ? (sc)->f : ea_srv_defaults.f)
#define ea_dir_getp(dc, f) ((dc)->f ? (dc)->f : ea_dir_defaults.f)
/* rates: .set is 0 when unset */
#define ea_srv_rate(sc, f) ((sc)->f.set ? (sc)->f : ea_srv_defaults.f)

static inline int ea_conf_page_size(const ea_dir_conf *c) { return ea_dir_get(c, page_size); }
static inline int ea_conf_max_page_size(const ea_dir_conf *c) { return ea_dir_get(c, max_page_size); }
static inline int ea_conf_debug(const ea_dir_conf *c) { return ea_dir_get(c, debug) == 1; }

/* ---- the module's state ----------------------------------------------------
 * What the module holds besides the configuration: shared-memory regions,
 * per-child connections, tables built at start-up.  One struct, created
 * with the configuration (its pool is httpd's configuration pool, so a
 * restart starts a fresh one), filled in post_config and child_init, and
 * reached from every server's configuration: ea_state(s).  Each concern
 * keeps its private part behind a pointer of its own type. */
typedef struct ea_module_state {
    apr_pool_t *pool;                   /* the configuration pool */
    /* response cache and its change listener (ea_cache.c) */
    struct ea_shmcache *cache;          /* NULL: no cache */
    int cache_ndbs;                     /* its databases (distinct DBDParams) */
    struct ea_cache_state *cache_st;
    /* rate limits (ea_limits.c) */
    struct ea_limits_state *limits;
    /* metrics (ea_metrics.c) */
    struct ea_metrics *metrics;         /* the counters' region; NULL: no metrics */
    struct ea_metrics_state *metrics_st;
    /* database (ea_db.c): mod_dbd's ap_dbd_acquire, as a generic function
     * pointer (ea_db.c casts it back) */
    void (*dbd_acquire)(void);
    /* lines logged lately in this process (ea_log_once, ea_respond.c) */
    uint64_t logged[256];
} ea_module_state;

static inline ea_srv_conf *ea_sconf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &ecoatlas_module);
}

static inline ea_module_state *ea_state(const server_rec *s)
{
    return ea_sconf(s)->st;
}

extern const command_rec ea_directives[];
void *ea_create_dir_conf(apr_pool_t *p, char *dir);
void *ea_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *ea_create_srv_conf(apr_pool_t *p, server_rec *s);
void *ea_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);

/* ---- httpd's own errors as JSON (ea_errors.c) ----------------------------- */
void ea_errors_register(apr_pool_t *p);

/* ---- HTTPS (ea_https.c) ---------------------------------------------------- */
const char *ea_https_set_proxy_header(cmd_parms *cmd, void *dconf, int argc, char *const argv[]);
int ea_https_is_secure(request_rec *r);
/* Sets rq->secure/scheme and HSTS; 0, or -1 when the redirect was sent. */
int ea_https_check(ea_req *rq);

/* ---- allowed hosts (ea_hosts.c) --------------------------------------------- */
const char *ea_hosts_set(cmd_parms *cmd, void *dconf, const char *arg);
/* 0 when the Host header is allowed; otherwise the 400 was sent. */
int ea_hosts_check(ea_req *rq);
void ea_hosts_post_config(apr_pool_t *pconf, server_rec *s);

/* ---- rate limits (ea_limits.c) ---------------------------------------------- */
const char *ea_limits_set_rate(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_limits_set_entries(cmd_parms *cmd, void *dconf, const char *arg);
int ea_limits_post_config(apr_pool_t *pconf, server_rec *s);
const char *ea_limits_set_backend(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_limits_set_failure(cmd_parms *cmd, void *dconf, const char *arg);
void ea_limits_child_init(apr_pool_t *pchild, server_rec *s);
/* Startup warnings for weak production settings (ea_deploy.c). */
void ea_deploy_post_config(apr_pool_t *ptemp, server_rec *s);
/* SSLEngine, noted before mod_ssl takes it. */
const char *ea_deploy_note_ssl_engine(cmd_parms *cmd, void *dconf, const char *arg);
/* 0 when admitted; otherwise the 429 was sent. */
int ea_limits_check(ea_req *rq);
/* The login endpoints' own limit (per client and per username): 0 when
 * admitted; otherwise the 429 was sent. */
int ea_limits_login(ea_req *rq, const char *username);
/* A failed credential (bad token): counted per client with the login
 * limit; 0 within it, else the 429 was sent (*retry_s: its Retry-After). */
int ea_limits_auth_failure(ea_req *rq, unsigned *retry_s);
/* DRF's 429 with Retry-After; returns -1. */
int ea_limits_send_throttled(ea_req *rq, unsigned retry_after_s);

/* ---- CORS (ea_cors.c) ------------------------------------------------------ */
const char *ea_cors_set_origins(cmd_parms *cmd, void *dconf, const char *arg);
/* Add the CORS headers a response needs; answers a preflight (returns 1). */
int ea_cors(request_rec *r, int respond_preflight);

/* ---- response cache (ea_cache.c) ---------------------------------------- */
int ea_cache_post_config(apr_pool_t *pconf, server_rec *s);
/* DBDParams, noted before mod_dbd takes it (servers that share a database). */
const char *ea_cache_note_dbd_params(cmd_parms *cmd, void *dconf, const char *arg);
void ea_cache_child_init(apr_pool_t *pchild, server_rec *s);
/* 1: a hit, *body and *len hold the stored response (in the request pool)
 * for the caller to send; 0: a miss (rq->cache_key is set when the answer
 * may be stored: ea_cache_store). */
int ea_cache_lookup(ea_req *rq, const char **body, size_t *len);
void ea_cache_store(ea_req *rq, const char *body, size_t len);  /* body: until the request ends */
void ea_cache_invalidate(request_rec *r);      /* after a write through the API */
/* Entries that are not responses (keyset maps), under the responses'
 * generation, where EcoAtlasCache is On: 1 hit (*val in the request pool),
 * 0 miss (store under *gen), -1 no usable cache. */
int ea_cache_aux_get(ea_req *rq, const char *key, char **val, size_t *len, uint64_t *gen);
void ea_cache_aux_put(ea_req *rq, const char *key, uint64_t gen, const char *val, size_t len);
size_t ea_cache_key_max(void);
/* Credentials: 1 hit (value in out), 0 miss, -1 no usable cache (ask the
 * database, do not store).  *gen is what a miss must be stored under. */
int ea_cache_auth_get(request_rec *r, const char *key, char *out, size_t outsz, size_t *len,
                      uint64_t *gen);
void ea_cache_auth_put(request_rec *r, const char *key, uint64_t gen, const char *val, size_t len);
/* Store under the current generation (entries no change can make stale). */
void ea_cache_auth_put_now(request_rec *r, const char *key, const char *val, size_t len);
void ea_cache_auth_invalidate(request_rec *r);

/* ---- metrics (ea_metrics.c) ------------------------------------------------ */
#define EA_METRICS_HANDLER "ecoatlas-metrics"
/* One line at a call site: add 1 to a counter (nothing with EcoAtlasMetrics Off). */
void ea_count(server_rec *s, ea_metric_counter c);
/* Add n to a counter labelled with a task name. */
void ea_count_task(server_rec *s, ea_metric_task t, const char *task, uint64_t n);
/* Time spent waiting for a pooled database connection. */
void ea_count_wait(server_rec *s, apr_time_t waited);
/* route_at: the route table (ea_route_at), whose names label the requests. */
int ea_metrics_post_config(apr_pool_t *pconf, server_rec *s, const ea_route *(*route_at)(int i));
void ea_metrics_register(apr_pool_t *p);
int ea_metrics_handler(request_rec *r);

/* ---- routes ------------------------------------------------------------ */
typedef int (*ea_handler_fn)(ea_req *rq);

/* ANY: public; READ_ONLY: writes need a user; STAFF_WRITE: writes need
 * staff; STAFF: every method needs staff (task records). */
typedef enum { EA_PERM_ANY, EA_PERM_READ_ONLY, EA_PERM_STAFF_WRITE, EA_PERM_STAFF } ea_perm;

struct ea_route {
    const char *path;          /* below the mount, no slashes around: "stats/by_country";
                                * "{res}" is res's prefix, "*" one segment (the pk) */
    const char *name;          /* for OPTIONS "name" and the metrics */
    const char *description;   /* for OPTIONS "description"; NULL: "" */
    const char *allow;         /* Allow header value */
    ea_perm perm;
    ea_handler_fn get;         /* GET/HEAD */
    const ea_resource *res;    /* model routes */
    const char *media;         /* besides JSON, the types it serves (exports, schema),
                                * comma-separated */
    ea_handler_fn post;        /* POST-only routes (auth endpoints, actions) */
    ea_handler_fn write;       /* model routes: POST on a list, PUT/PATCH/DELETE on a detail */
    int cacheable;             /* GET answers come from and go to the response cache:
                                * only what the data NOTIFY invalidates */
    int assets;                /* also serves the files below its path (no trailing slash) */
    int is_export;             /* an export: the metrics count its rows and bytes */
    ea_metric_export export_kind;  /* as which kind of export (with is_export) */
};

/* Everything known about one API request. */
struct ea_req {
    request_rec *r;
    const ea_dir_conf *conf;
    const char *base;          /* mount path without trailing slash */
    const char *rel;           /* path below base, begins with '/' */
    const ea_route *route;     /* NULL: no route */
    int route_index;           /* i of ea_route_at(i) == route (metrics) */
    const char *pk;            /* detail routes: the id segment */
    const char *redirect;      /* missing trailing slash: where to go */
    apr_array_header_t *qs;    /* ea_param */
    int indent;                /* Accept: application/json; indent=N, or -1 */
    void *db;                  /* ap_dbd_t *, acquired lazily */
    int db_failure;            /* ea_db_status of a failed lookup */
    int secure;                /* TLS, or a trusted proxy's header says https */
    const char *scheme;        /* "https" or "http", for absolute links */
    const char *cache_key;     /* set on a cache miss: store the 200 body */
    uint64_t cache_gen;        /* generation the miss was looked up under */
    const char *sent_body;     /* the JSON body sent (ea_send_raw_json), for the cache */
    size_t sent_len;
    const struct ea_user *user; /* authenticated caller (check_authn), or NULL */
    int in_txn;                /* a write's transaction is open (ea_db_begin) */
    int txn_cleanup;           /* its rollback-on-exit cleanup is registered */
    int db_oneshot;            /* the set's SQL grows with the input: never prepared */
    int authorized;            /* ea_authorize passed (fixups, or dispatch) */
    long long export_rows;     /* rows an export streamed (metrics) */
};

/* ---- authentication (ea_auth.c) ------------------------------------------- */
typedef struct ea_user {
    long long id;              /* auth_user.id */
    const char *username;
    int is_staff;
    int via_session;           /* authenticated by the session cookie (CSRF applies) */
} ea_user;
/* Permission check for the matched route and method (docs/decisions.md §3):
 * 0 when allowed; otherwise the 401/403 was sent. */
int ea_auth_permit(ea_req *rq);
/* Why a POST to the session login is refused as cross-site (Origin or
 * Referer of another site), or NULL. */
const char *ea_auth_login_csrf_failure(ea_req *rq);
void ea_auth_register_hooks(apr_pool_t *p);
int ea_auth_post_config(apr_pool_t *pconf, server_rec *s);
const char *ea_auth_set_secret(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_secret_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_token_name(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_csrf_origins(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_token_name(const ea_srv_conf *sc);
/* The key in a well-formed sessionid cookie signed with our secret, or NULL. */
const char *ea_auth_session_key(ea_req *rq);
#define EA_SESSION_COOKIE "sessionid"
#define EA_CSRF_COOKIE "csrftoken"

/* ---- request bodies (ea_body.c) --------------------------------------------- */
struct json_object;
/* Read the body through the input filters, capped by EcoAtlasMaxBodySize,
 * and parse it by Content-Type (JSON, form-urlencoded, multipart/form-data).
 * 0: *data is a JSON object owned by the request pool (form values are
 * strings; *is_form set); -1: the 400/413/415 response was sent. */
int ea_body_read(ea_req *rq, struct json_object **data, int *is_form);
/* The same with another cap, keeping everything the parser found
 * (uploaded files included). */
struct ea_body;
int ea_body_read_parsed(ea_req *rq, long long cap, struct ea_body *out);
const char *ea_body_set_max(cmd_parms *cmd, void *dconf, const char *arg);

/* ---- tasks and imports (ea_handle_tasks.c) ------------------------------------ */
const char *ea_tasks_set_url(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_tasks_set_time_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_tasks_set_import_dir(cmd_parms *cmd, void *dconf, const char *arg);
/* check_config: every EcoAtlasImportDir exists and the children may write it */
int ea_tasks_check_config(apr_pool_t *ptemp, server_rec *s);
int ea_handle_enqueue_snapshot(ea_req *rq);
int ea_handle_task_status(ea_req *rq);
int ea_handle_import(ea_req *rq);

/* ---- writes (ea_handle_write.c) --------------------------------------------- */
/* POST on a list route, PUT/PATCH/DELETE on a detail route, after the
 * permission check. */
int ea_handle_write(ea_req *rq);

/* The request's ea_req (set in header_parser), or NULL: not an API request. */
static inline ea_req *ea_req_get(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &ecoatlas_module);
}
/* Does the request's configuration set our handler (SetHandler
 * ecoatlas-api, in whatever section)?  Known before the type checker sets
 * r->handler, so early phases can act. */
int ea_is_api_request(request_rec *r);
void ea_route_match(ea_req *rq);
/* Every route of the table, i = 0, 1, ... until NULL (metrics labels). */
const ea_route *ea_route_at(int i);
/* Once per request, before the handler: %00, query string, content
 * negotiation (406), then permissions and CSRF (ea_auth_permit), in DRF's
 * order.  0, or -1 when the refusal was sent. */
int ea_authorize(ea_req *rq);
/* GET, HEAD or OPTIONS. */
static inline int ea_is_safe_method(const request_rec *r)
{
    return r->method_number == M_GET || r->method_number == M_OPTIONS
           || strcmp(r->method, "HEAD") == 0;
}

/* ---- responses ----------------------------------------------------------- */
void ea_security_headers(request_rec *r);
int ea_send_json(ea_req *rq, int status, ea_buf *body);
int ea_log_once(server_rec *s, const char *what, uint64_t salt);
int ea_send_raw_json(ea_req *rq, int status, const char *data, size_t len);
int ea_send_detail(ea_req *rq, int status, const char *detail);
int ea_send_unavailable(ea_req *rq);
int ea_send_server_error(ea_req *rq, const char *what);
int ea_negotiate(ea_req *rq);          /* 0 ok, else 406 already sent */
const char *ea_absolute_url(ea_req *rq, const char *path_below_base);
const char *ea_request_url(ea_req *rq); /* scheme://host/path, no query */

/* ---- database ------------------------------------------------------------- */
typedef enum { EA_DB_OK = 0, EA_DB_UNAVAILABLE = 1, EA_DB_ERROR = 2, EA_DB_TIMEOUT = 3 } ea_db_status;
/* Run sql with text parameters; the result lives until the request ends. */
ea_db_status ea_db_query(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out);
/* Send the response that fits a failed status (503 or 500). */
int ea_db_fail(ea_req *rq, ea_db_status st);
int ea_db_fk_exists(void *ctx, const char *table, long long id);
/* Stream the rows of sql one at a time to fn (single-row mode); fn returns
 * non-zero to stop, which cancels the query.  *delivered counts the rows
 * handed over: after the first one, the response has started. */
typedef int (*ea_row_fn)(void *ctx, PGresult *row);
ea_db_status ea_db_stream(ea_req *rq, const char *sql, const apr_array_header_t *params,
                          ea_row_fn fn, void *ctx, int *delivered);
int ea_db_post_config(apr_pool_t *pconf, server_rec *s);
/* A pooled connection of mod_dbd for the request (ap_dbd_t *), or NULL. */
void *ea_db_acquire(request_rec *r);
/* Writes: one transaction per request.  ea_db_write is ea_db_query where an
 * integrity violation (SQLSTATE 23xxx) is an expected answer: EA_DB_ERROR
 * with diag set, and no error logged.  A request that ends with its
 * transaction open is rolled back. */
typedef struct ea_db_diag {
    const char *sqlstate;      /* "23505", or NULL */
    const char *constraint;    /* the constraint's name, or NULL */
} ea_db_diag;
ea_db_status ea_db_write(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out, ea_db_diag *diag);
ea_db_status ea_db_begin(ea_req *rq);
ea_db_status ea_db_commit(ea_req *rq, ea_db_diag *diag);
void ea_db_rollback(ea_req *rq);

/* ---- handlers -------------------------------------------------------------- */
int ea_dispatch(ea_req *rq);
int ea_handle_root(ea_req *rq);
int ea_handle_list(ea_req *rq);
int ea_handle_detail(ea_req *rq);
int ea_handle_summary(ea_req *rq);
int ea_handle_timeseries(ea_req *rq);
int ea_handle_timeline(ea_req *rq);
int ea_handle_stats(ea_req *rq);
int ea_handle_stats_by_country(ea_req *rq);
int ea_handle_export_sites(ea_req *rq);
int ea_handle_export_metrics(ea_req *rq);
int ea_handle_export_pdf(ea_req *rq);
int ea_handle_auth_token(ea_req *rq);
int ea_handle_auth_login(ea_req *rq);
int ea_handle_auth_logout(ea_req *rq);
/* ea_handle_schema.c: GET /api/schema/ and /api/docs/ (D15) */
#define EA_SCHEMA_MEDIA "application/vnd.oai.openapi,application/vnd.oai.openapi+json,application/yaml"
#define EA_DOCS_MEDIA "text/css,application/javascript,text/javascript,image/png,image/*"
int ea_handle_schema(ea_req *rq);
int ea_handle_docs(ea_req *rq);
int ea_docs_asset_path(const char *rel);   /* "/docs/<embedded file>" */

/* Build the filtered set of the route's resource; on failure the error
 * response is sent and the handler's return value stored in *rc. */
int ea_build_set(ea_req *rq, const ea_resource *res, ea_listq *q, int *rc);
/* Row i of res as an array of strings (NULL for SQL NULL), from column off. */
const char *const *ea_row_values(ea_req *rq, PGresult *res, int row, int off, int n);

#endif
