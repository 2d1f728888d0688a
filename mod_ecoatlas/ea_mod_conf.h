/* ea_mod_conf.h: the module, its configuration (per directory, per server,
 * every default in one table) and its state */
#ifndef EA_MOD_CONF_H
#define EA_MOD_CONF_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_tables.h"

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
    int search_timeout_ms;  /* EcoAtlasSearchTimeout */
    int debug;              /* EcoAtlasDebug */
    int cache;              /* EcoAtlasCache */
    apr_array_header_t *allowed_hosts;  /* EcoAtlasAllowedHosts; NULL: ServerName/ServerAlias */
    long long max_body;     /* EcoAtlasMaxBodySize (bytes), UNSET: 1 MB (ea_mod_body.c) */
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
    int max_exports;        /* EcoAtlasMaxExports, UNSET: half of DBDMax (ea_db.c) */
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
    /* authentication (ea_mod_auth.c) */
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
    int metrics;                    /* EcoAtlasMetrics, UNSET: On (ea_mod_metrics.c) */
    const char *dbd_params;         /* mod_dbd's DBDParams, as noted by ea_db.c */
    /* mod_dbd's pool settings, as written, noted by ea_db.c (NULL: unset):
     * which servers share a pool, and how many connections it has */
    const char *dbd_driver;         /* DBDriver */
    const char *dbd_min;            /* DBDMin */
    const char *dbd_keep;           /* DBDKeep */
    const char *dbd_max;            /* DBDMax */
    const char *dbd_exptime;        /* DBDExptime */
    const char *dbd_persist;        /* DBDPersist */
    int ssl_engine;                 /* mod_ssl's SSLEngine on in this server's own
                                     * configuration, as noted by ea_mod_deploy.c (not merged) */
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
    /* the route table's patterns, split once (ea_routes.c) */
    struct ea_routes_state *routes;
    /* rate limits (ea_limits.c) */
    struct ea_limits_state *limits;
    /* metrics (ea_mod_metrics.c) */
    struct ea_metrics *metrics;         /* the counters' region; NULL: no metrics */
    struct ea_metrics_state *metrics_st;
    /* database (ea_db.c): mod_dbd's ap_dbd_acquire, ap_dbd_open and
     * ap_dbd_close, as generic function pointers (ea_db.c casts them back),
     * and mod_dbd's module record (its per-request acquisition) */
    void (*dbd_acquire)(void);
    void (*dbd_open)(void);
    void (*dbd_close)(void);
    module *dbd_module;
    /* per child: server_rec * -> the ea_fifo its requests wait in for a
     * pooled connection (ea_db.c); NULL: they wait in mod_dbd's pool */
    struct apr_hash_t *db_queues;
    /* lines logged lately in this process (ea_log_once, ea_respond.c) */
    uint64_t logged[256];
    /* the names of countries and regions this process keeps (ea_names.c) */
    struct ea_names_state *names;
    /* until when this process tests each search field instead of the search
     * document, found missing (ea_db.c); 0: never found missing */
    apr_time_t search_doc_gone_until;
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

#endif
