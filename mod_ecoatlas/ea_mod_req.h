/* ea_mod_req.h: one API request, the route table and dispatch, the handlers */
#ifndef EA_MOD_REQ_H
#define EA_MOD_REQ_H

#include "ea_mod_conf.h"
#include "ea_buf.h"
#include "ea_metrics.h"
#include "ea_sql_list.h"
#include "ea_stmt.h"

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
    int db_own;                /* db is this request's own (ap_dbd_open): given back early */
    struct ea_fifo *db_queue;  /* the slot of its pool's queue it holds with db, or NULL */
    int db_cleanup;            /* its give-back-on-exit cleanup is registered */
    void *export_pool;         /* the pool whose export slot it holds (ea_db.c), or NULL */
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
    int db_generic;            /* the set's statements take their generic plan (ea_listq.plan_generic) */
    int search_timeout_ms;     /* a searched set: its statements' bound (EcoAtlasSearchTimeout), else 0 */
    int search_timed_out;      /* one of them passed it: 400 on the search parameter */
    int authorized;            /* ea_authorize passed (fixups, or dispatch) */
    long long export_rows;     /* rows an export streamed (metrics) */
};

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
/* post_config: the route table's patterns split into segments, once. */
int ea_routes_post_config(apr_pool_t *pconf, server_rec *s);
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

/* ---- tasks and imports (ea_handle_tasks.c) ---- */
int ea_handle_enqueue_snapshot(ea_req *rq);
int ea_handle_task_status(ea_req *rq);
int ea_handle_import(ea_req *rq);

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

#endif
