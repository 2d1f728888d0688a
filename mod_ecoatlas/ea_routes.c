/* ea_routes: the route table (docs/decisions.md §2.2) and request dispatch.
 * Follow a request here: route table -> handler -> core -> SQL. */
#include "mod_ecoatlas.h"
#include "http_core.h"
#include "ap_expr.h"
#include "apr_strings.h"
#include "ea_json.h"
#include "ea_query.h"

APLOG_USE_MODULE(ecoatlas);

#define LIST_ALLOW "GET, POST, HEAD, OPTIONS"
#define DETAIL_ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
#define GET_ALLOW "GET, HEAD, OPTIONS"

#define MODEL_ROUTES(i, view) \
    { view " List", LIST_ALLOW, EA_PERM_STAFF_WRITE, ea_handle_list, &ea_resources[i], NULL, NULL, 1 }, \
    { view " Instance", DETAIL_ALLOW, EA_PERM_STAFF_WRITE, ea_handle_detail, &ea_resources[i], NULL, NULL, 1 }

/* [2i] list, [2i+1] detail, for ea_resources[i]. */
static const ea_route model_routes[] = {
    MODEL_ROUTES(EA_RES_COUNTRY, "Country"),
    MODEL_ROUTES(EA_RES_REGION, "Region"),
    MODEL_ROUTES(EA_RES_DATASET, "Energy Dataset"),
    MODEL_ROUTES(EA_RES_HYDROSITE, "Hydro Site"),
    MODEL_ROUTES(EA_RES_METRIC, "Resource Metric"),
    MODEL_ROUTES(EA_RES_CLIMATE, "Climate Series"),
};

static const ea_route root_route =
    { "Api Root", GET_ALLOW, EA_PERM_READ_ONLY, ea_handle_root, NULL, NULL, NULL, 1 };
static const ea_route stats_route =
    { "Stats List", GET_ALLOW, EA_PERM_ANY, ea_handle_stats, NULL, NULL, NULL, 1 };
static const ea_route by_country_route =
    { "By country", GET_ALLOW, EA_PERM_ANY, ea_handle_stats_by_country, NULL, NULL, NULL, 1 };

#define POST_ALLOW "POST, OPTIONS"
static const ea_route auth_routes[] = {
    { "Obtain Auth Token", POST_ALLOW, EA_PERM_ANY, NULL, NULL, NULL, ea_handle_auth_token, 0 },
    { "Login", POST_ALLOW, EA_PERM_ANY, NULL, NULL, NULL, ea_handle_auth_login, 0 },
    { "Logout", POST_ALLOW, EA_PERM_ANY, NULL, NULL, NULL, ea_handle_auth_logout, 0 },
};
/* D15: the OpenAPI document and the Swagger UI page with its assets. */
static const ea_route schema_route =
    { "Schema", GET_ALLOW, EA_PERM_ANY, ea_handle_schema, NULL, EA_SCHEMA_MEDIA, NULL, 0 };
static const ea_route docs_route =
    { "Docs", GET_ALLOW, EA_PERM_ANY, ea_handle_docs, NULL, EA_DOCS_MEDIA, NULL, 0 };

/* Tasks (ea_handle_tasks.c): task records are for staff only, reads included. */
static const ea_route task_route =
    { "Task Instance", GET_ALLOW, EA_PERM_STAFF, ea_handle_task_status, NULL, NULL, NULL, 0 };
static const ea_route import_route =
    { "Import", POST_ALLOW, EA_PERM_STAFF_WRITE, NULL, NULL, NULL, ea_handle_import, 0 };

/* List-level actions, matched before the detail route (as DRF's router). */
typedef struct { ea_res_id res; const char *action; ea_route route; } ea_action_route;
static const ea_action_route action_routes[] = {
    { EA_RES_HYDROSITE, "summary",
      { "Summary", GET_ALLOW, EA_PERM_ANY, ea_handle_summary, &ea_resources[EA_RES_HYDROSITE], NULL, NULL, 1 } },
    { EA_RES_HYDROSITE, "export",
      { "Export", GET_ALLOW, EA_PERM_ANY, ea_handle_export_sites, &ea_resources[EA_RES_HYDROSITE],
        "text/csv", NULL, 0 } },
    { EA_RES_METRIC, "export",
      { "Export", GET_ALLOW, EA_PERM_ANY, ea_handle_export_metrics, &ea_resources[EA_RES_METRIC],
        "text/csv", NULL, 0 } },
    { EA_RES_METRIC, "export_pdf",
      { "Export pdf", GET_ALLOW, EA_PERM_ANY, ea_handle_export_pdf, &ea_resources[EA_RES_METRIC],
        "application/pdf", NULL, 0 } },
    { EA_RES_METRIC, "timeseries",
      { "Timeseries", GET_ALLOW, EA_PERM_ANY, ea_handle_timeseries, &ea_resources[EA_RES_METRIC], NULL, NULL, 1 } },
    { EA_RES_METRIC, "enqueue_snapshot",
      { "Enqueue snapshot", POST_ALLOW, EA_PERM_STAFF_WRITE, NULL, &ea_resources[EA_RES_METRIC], NULL,
        ea_handle_enqueue_snapshot, 0 } },
    { EA_RES_CLIMATE, "timeline",
      { "Timeline", GET_ALLOW, EA_PERM_ANY, ea_handle_timeline, &ea_resources[EA_RES_CLIMATE], NULL, NULL, 1 } },
};

const ea_route *ea_route_at(int i)
{
    static const ea_route *const singles[] = {
        &root_route, &stats_route, &by_country_route, &auth_routes[0], &auth_routes[1],
        &auth_routes[2], &schema_route, &docs_route, &task_route, &import_route,
    };
    const int ns = (int)(sizeof(singles) / sizeof(singles[0]));
    const int nm = (int)(sizeof(model_routes) / sizeof(model_routes[0]));
    const int na = (int)(sizeof(action_routes) / sizeof(action_routes[0]));
    if (i < 0)
        return NULL;
    if (i < ns)
        return singles[i];
    if (i < ns + nm)
        return &model_routes[i - ns];
    if (i < ns + nm + na)
        return &action_routes[i - ns - nm].route;
    return NULL;
}

/* Match a path below the mount point; it must end with '/'. */
static const ea_route *match_path(const char *rel, const char **pk)
{
    const char *seg[3];
    size_t len[3];
    int n = 0;
    const char *p = rel;

    *pk = NULL;
    if (strcmp(rel, "/") == 0)
        return &root_route;
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
    if (n == 0)
        return NULL;
    if (len[0] == 4 && memcmp(seg[0], "auth", 4) == 0) {
        static const char *const names[] = { "token", "login", "logout" };
        for (int i = 0; n == 2 && i < 3; i++)
            if (len[1] == strlen(names[i]) && memcmp(seg[1], names[i], len[1]) == 0)
                return &auth_routes[i];
        return NULL;
    }
    if (n == 1 && len[0] == 6 && memcmp(seg[0], "schema", 6) == 0)
        return &schema_route;
    if (n == 1 && len[0] == 4 && memcmp(seg[0], "docs", 4) == 0)
        return &docs_route;
    if (len[0] == 5 && memcmp(seg[0], "stats", 5) == 0) {
        if (n == 1)
            return &stats_route;
        if (n == 2 && len[1] == 10 && memcmp(seg[1], "by_country", 10) == 0)
            return &by_country_route;
        return NULL;
    }
    if (len[0] == 5 && memcmp(seg[0], "tasks", 5) == 0) {
        if (n != 2)
            return NULL;
        *pk = seg[1];
        return &task_route;
    }
    if (len[0] == 7 && memcmp(seg[0], "imports", 7) == 0)
        return n == 1 ? &import_route : NULL;
    const ea_resource *res = ea_resource_by_prefix(seg[0], len[0]);
    if (!res || n > 2)
        return NULL;
    int i = (int)(res - ea_resources);
    if (n == 1)
        return &model_routes[2 * i];
    for (size_t a = 0; a < sizeof(action_routes) / sizeof(action_routes[0]); a++) {
        const ea_action_route *ar = &action_routes[a];
        if ((int)ar->res == i && strlen(ar->action) == len[1]
            && memcmp(ar->action, seg[1], len[1]) == 0)
            return &ar->route;
    }
    *pk = seg[1];
    return &model_routes[2 * i + 1];
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

    rq->base = base;
    if (strncmp(r->uri, base, bl) != 0 || (r->uri[bl] != '/' && r->uri[bl] != '\0'))
        return;
    rq->rel = r->uri + bl;
    if (ea_docs_asset_path(rq->rel)) {     /* /docs/swagger-ui.css: files, no slash */
        rq->route = &docs_route;
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
        if (match_path(slashed, &pk)) {
            rq->redirect = apr_pstrcat(r->pool, base, slashed,
                                       r->args ? "?" : "", r->args ? r->args : "", NULL);
        }
        return;
    }
    rq->route = match_path(rq->rel, &pk);
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
    ea_json_cstr(&b, rq->route == &root_route
                         ? "The default basic root view for DefaultRouter" : "");
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
    if (!ea_is_safe_method(r) && rq->route->res
        && (rq->route->get == ea_handle_list || rq->route->get == ea_handle_detail))
        return ea_handle_write(rq);
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
