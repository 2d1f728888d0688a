/* ea_routes: the route table (docs/decisions.md §2.2) and request dispatch.
 * Follow a request here: route table -> handler -> core -> SQL. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_cache.h"
#include "ea_mod_auth.h"
#include "http_core.h"
#include "ap_expr.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_params.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

#define LIST_ALLOW "GET, POST, HEAD, OPTIONS"
#define DETAIL_ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
#define GET_ALLOW "GET, HEAD, OPTIONS"
#define POST_ALLOW "POST, OPTIONS"

/* A model's list and detail: writes go to ea_handle_write. */
#define MODEL_ROUTES(i, view) \
    { .path = "{res}", .name = view " List", .allow = LIST_ALLOW, .perm = EA_PERM_STAFF_WRITE, \
      .get = ea_handle_list, .res = &ea_resources[i], .write = ea_handle_write, .cacheable = 1 }, \
    { .path = "{res}/*", .name = view " Instance", .allow = DETAIL_ALLOW, .perm = EA_PERM_STAFF_WRITE, \
      .get = ea_handle_detail, .res = &ea_resources[i], .write = ea_handle_write, .cacheable = 1 }
#define ACTION(i, act, view, fn, ...) \
    { .path = "{res}/" act, .name = view, .allow = GET_ALLOW, .perm = EA_PERM_ANY, .get = fn, \
      .res = &ea_resources[i], __VA_ARGS__ }

/* The whole routing: a path below the mount matches the route whose
 * pattern it fits ("{res}" is the route's resource prefix, "*" one segment,
 * the pk); a pattern without "*" wins over one with it, so list-level
 * actions come before the detail route (as DRF's router).  The order is the
 * metrics' order of route names. */
static const ea_route routes[] = {
    { .path = "", .name = "Api Root", .description = "The default basic root view for DefaultRouter",
      .allow = GET_ALLOW, .perm = EA_PERM_READ_ONLY, .get = ea_handle_root, .cacheable = 1 },
    { .path = "stats", .name = "Stats List", .allow = GET_ALLOW, .perm = EA_PERM_ANY,
      .get = ea_handle_stats, .cacheable = 1 },
    { .path = "stats/by_country", .name = "By country", .allow = GET_ALLOW, .perm = EA_PERM_ANY,
      .get = ea_handle_stats_by_country, .cacheable = 1 },
    { .path = "auth/token", .name = "Obtain Auth Token", .allow = POST_ALLOW, .perm = EA_PERM_ANY,
      .post = ea_handle_auth_token },
    { .path = "auth/login", .name = "Login", .allow = POST_ALLOW, .perm = EA_PERM_ANY,
      .post = ea_handle_auth_login },
    { .path = "auth/logout", .name = "Logout", .allow = POST_ALLOW, .perm = EA_PERM_ANY,
      .post = ea_handle_auth_logout },
    /* D15: the OpenAPI document and the Swagger UI page with its assets. */
    { .path = "schema", .name = "Schema", .allow = GET_ALLOW, .perm = EA_PERM_ANY,
      .get = ea_handle_schema, .media = EA_SCHEMA_MEDIA },
    { .path = "docs", .name = "Docs", .allow = GET_ALLOW, .perm = EA_PERM_ANY,
      .get = ea_handle_docs, .media = EA_DOCS_MEDIA, .assets = 1 },
    /* Tasks (ea_handle_tasks.c): task records are for staff only, reads included. */
    { .path = "tasks/*", .name = "Task Instance", .allow = GET_ALLOW, .perm = EA_PERM_STAFF,
      .get = ea_handle_task_status },
    { .path = "imports", .name = "Import", .allow = POST_ALLOW, .perm = EA_PERM_STAFF_WRITE,
      .post = ea_handle_import },
    MODEL_ROUTES(EA_RES_COUNTRY, "Country"),
    MODEL_ROUTES(EA_RES_REGION, "Region"),
    MODEL_ROUTES(EA_RES_DATASET, "Energy Dataset"),
    MODEL_ROUTES(EA_RES_HYDROSITE, "Hydro Site"),
    MODEL_ROUTES(EA_RES_METRIC, "Resource Metric"),
    MODEL_ROUTES(EA_RES_CLIMATE, "Climate Series"),
    ACTION(EA_RES_HYDROSITE, "summary", "Summary", ea_handle_summary, .cacheable = 1),
    ACTION(EA_RES_HYDROSITE, "export", "Export", ea_handle_export_sites, .media = "text/csv",
           .is_export = 1, .export_kind = EA_X_SITES_CSV),
    ACTION(EA_RES_METRIC, "export", "Export", ea_handle_export_metrics, .media = "text/csv",
           .is_export = 1, .export_kind = EA_X_METRICS_CSV),
    ACTION(EA_RES_METRIC, "export_pdf", "Export pdf", ea_handle_export_pdf, .media = "application/pdf",
           .is_export = 1, .export_kind = EA_X_METRICS_PDF),
    ACTION(EA_RES_METRIC, "timeseries", "Timeseries", ea_handle_timeseries, .cacheable = 1),
    { .path = "{res}/enqueue_snapshot", .name = "Enqueue snapshot", .allow = POST_ALLOW,
      .perm = EA_PERM_STAFF_WRITE, .res = &ea_resources[EA_RES_METRIC],
      .post = ea_handle_enqueue_snapshot },
    ACTION(EA_RES_CLIMATE, "timeline", "Timeline", ea_handle_timeline, .cacheable = 1),
};
#define NROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

const ea_route *ea_route_at(int i)
{
    return i >= 0 && i < NROUTES ? &routes[i] : NULL;
}

/* The patterns split into segments once, at start-up (the module state's
 * routes): "{res}" becomes the resource's prefix, "*" any segment. */
typedef struct {
    int nseg;
    struct { const char *s; size_t len; int any; } seg[3];
} split_route;
typedef struct ea_routes_state {
    split_route r[NROUTES];
    int with_n[4][NROUTES];        /* the routes of n segments, in table order */
    int nwith[4];
} ea_routes_state;

int ea_routes_post_config(apr_pool_t *pconf, server_rec *s)
{
    ea_routes_state *rs = apr_pcalloc(pconf, sizeof(*rs));
    for (int i = 0; i < NROUTES; i++) {
        split_route *sr = &rs->r[i];
        for (const char *p = routes[i].path; *p; ) {
            size_t pl = strcspn(p, "/");
            if (sr->nseg == 3) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, EA_LOGNO(00080) "route %s: more than 3 segments",
                             routes[i].path);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            if (pl == 1 && *p == '*')
                sr->seg[sr->nseg].any = 1;
            else if (pl == 5 && memcmp(p, "{res}", 5) == 0 && routes[i].res)
                sr->seg[sr->nseg].s = routes[i].res->prefix;
            else
                sr->seg[sr->nseg].s = apr_pstrmemdup(pconf, p, pl);
            if (sr->seg[sr->nseg].s)
                sr->seg[sr->nseg].len = strlen(sr->seg[sr->nseg].s);
            sr->nseg++;
            p += pl + (p[pl] == '/');
        }
        rs->with_n[sr->nseg][rs->nwith[sr->nseg]++] = i;
    }
    ea_state(s)->routes = rs;
    return OK;
}

/* Match a path below the mount point; it must end with '/'. */
static const ea_route *match_path(const ea_routes_state *rs, const char *rel, const char **pk)
{
    const char *seg[3];
    size_t len[3];
    int n = 0;
    const char *p = rel;
    const ea_route *wild = NULL;
    const char *wild_pk = NULL;

    *pk = NULL;
    if (*p != '/')
        return NULL;
    p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        if (!slash || n == 3 || slash == p)
            return NULL;
        seg[n] = p;
        len[n] = (size_t)(slash - p);
        n++;
        p = slash + 1;
    }
    for (int j = 0; j < rs->nwith[n]; j++) {
        int i = rs->with_n[n][j];
        const split_route *sr = &rs->r[i];
        const char *id = NULL;
        int k;
        for (k = 0; k < n; k++) {
            if (sr->seg[k].any)
                id = seg[k];
            else if (sr->seg[k].len != len[k] || memcmp(sr->seg[k].s, seg[k], len[k]) != 0)
                break;
        }
        if (k < n)
            continue;
        if (!id)
            return &routes[i];
        if (!wild) {
            wild = &routes[i];
            wild_pk = id;
        }
    }
    *pk = wild_pk;
    return wild;
}

/* The route that serves files below its path (the Swagger UI's assets). */
static const ea_route *assets_route(void)
{
    for (const ea_route *rt = routes; rt < routes + NROUTES; rt++)
        if (rt->assets)
            return rt;
    return NULL;
}

/* Is this request for a location with SetHandler ecoatlas-api?  Known
 * before the type checker sets r->handler, so early phases can act. */
int ea_is_api_request(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *h = d->handler;
    if (!h && d->expr_handler) {
        const char *err = NULL;
        h = ap_expr_str_exec(r, d->expr_handler, &err);
        if (err)
            return 0;
    }
    return h && strcmp(h, EA_HANDLER) == 0;
}

void ea_route_match(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *base = ea_dir_getp(rq->conf, base);
    size_t bl = strlen(base);
    const char *pk = NULL;
    const ea_routes_state *rs = ea_state(r->server)->routes;

    rq->base = base;
    if (strncmp(r->uri, base, bl) != 0 || (r->uri[bl] != '/' && r->uri[bl] != '\0'))
        return;
    rq->rel = r->uri + bl;
    if (ea_docs_asset_path(rq->rel)) {     /* /docs/swagger-ui.css: files, no slash */
        rq->route = assets_route();
        rq->route_index = (int)(rq->route - routes);
        return;
    }
    size_t rl = strlen(rq->rel);
    if (rl == 0 || rq->rel[rl - 1] != '/') {
        /* APPEND_SLASH: only when the slashed path is a route.  A decoded
         * control character (%0D%0A) cannot go into a Location header and
         * names no object: no redirect, the 404 below (docs/security.md). */
        const char *slashed = apr_pstrcat(r->pool, rq->rel, "/", NULL);
        for (const char *c = rq->rel; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return;
        if (match_path(rs, slashed, &pk)) {
            rq->redirect = apr_pstrcat(r->pool, base, slashed,
                                       r->args ? "?" : "", r->args ? r->args : "", NULL);
        }
        return;
    }
    rq->route = match_path(rs, rq->rel, &pk);
    if (rq->route)
        rq->route_index = (int)(rq->route - routes);
    if (pk) {
        const char *end = strchr(pk, '/');
        rq->pk = apr_pstrmemdup(r->pool, pk, (size_t)(end - pk));
    }
}

/* DRF's SimpleMetadata for anonymous callers (no "actions"). */
static int send_options(ea_req *rq)
{
    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 256);
    ea_buf_puts(&b, "{\"name\":");
    ea_json_cstr(&b, rq->route->name);
    ea_buf_puts(&b, ",\"description\":");
    ea_json_cstr(&b, rq->route->description ? rq->route->description : "");
    ea_buf_puts(&b, ",\"renders\":[\"application/json\"],\"parses\":[\"application/json\","
                    "\"application/x-www-form-urlencoded\",\"multipart/form-data\"]}");
    return ea_send_json(rq, HTTP_OK, &b);
}

int ea_authorize(ea_req *rq)
{
    request_rec *r = rq->r;
    if (rq->authorized)
        return 0;
    if (ap_strchr_c(r->args ? r->args : "", '%') && ap_strstr_c(r->args, "%00")) {
        ea_send_detail(rq, HTTP_BAD_REQUEST, "Null characters are not allowed.");
        return -1;
    }
    rq->qs = ea_qs_parse(r->pool, r->args);
    if (rq->qs->nelts > EA_QS_MAX_PARAMS) {
        ea_send_detail(rq, HTTP_BAD_REQUEST,
                       apr_psprintf(r->pool, "Too many query parameters: %d (at most %d).",
                                    rq->qs->nelts, EA_QS_MAX_PARAMS));
        return -1;
    }
    if (ea_negotiate(rq) != 0 || ea_auth_permit(rq) != 0)
        return -1;
    rq->authorized = 1;
    return 0;
}

int ea_dispatch(ea_req *rq)
{
    request_rec *r = rq->r;

    if (rq->redirect) {
        /* D10: 301 for GET/HEAD as Django did; 308 keeps the method and body */
        apr_table_setn(r->headers_out, "Location", rq->redirect);
        r->status = ea_is_safe_method(r) && r->method_number != M_OPTIONS
                        ? HTTP_MOVED_PERMANENTLY : HTTP_PERMANENT_REDIRECT;
        ap_set_content_length(r, 0);
        return OK;
    }
    if (!rq->route)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    if (ea_authorize(rq) != 0)   /* done in fixups, unless an internal redirect skipped them */
        return OK;
    /* writes: POST on lists, PUT/PATCH/DELETE on details (405 otherwise) */
    if (!ea_is_safe_method(r) && rq->route->write)
        return rq->route->write(rq);
    if (r->method_number == M_OPTIONS)
        return send_options(rq);
    if (r->method_number == M_POST && rq->route->post)
        return rq->route->post(rq);
    if (r->method_number == M_GET && rq->route->get) {  /* HEAD is M_GET with header_only */
        if (!rq->route->cacheable)
            return rq->route->get(rq);
        const char *body;
        size_t len;
        if (ea_cache_lookup(rq, &body, &len))
            return ea_send_raw_json(rq, HTTP_OK, body, len);
        int rc = rq->route->get(rq);
        if (rq->cache_key && r->status == HTTP_OK && rq->sent_body)
            ea_cache_store(rq, rq->sent_body, rq->sent_len);
        return rc;
    }
    return ea_send_detail(rq, HTTP_METHOD_NOT_ALLOWED,
                          apr_psprintf(r->pool, "Method \"%s\" not allowed.", r->method));
}
