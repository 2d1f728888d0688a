/* ea_errors: JSON bodies for the errors httpd itself raises under an API
 * mount (docs/decisions.md D12), e.g. 400 for a malformed %-escape or 404 for an
 * encoded slash, which happen before any of our request hooks run.  The
 * mounts are the <Location> sections that set our handler. */
#include "mod_ecoatlas.h"
#include "http_core.h"
#include "util_filter.h"
#include "apr_strings.h"

APLOG_USE_MODULE(ecoatlas);

#define EA_NOTE "ecoatlas-api"
#define EA_ERROR_FILTER "ECOATLAS_ERROR_JSON"

static apr_array_header_t *mounts;   /* const char *, without trailing '/' */

static void collect(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<Location") == 0 && d->first_child) {
            for (const ap_directive_t *c = d->first_child; c; c = c->next) {
                if (strcasecmp(c->directive, "SetHandler") == 0 && strstr(c->args, EA_HANDLER)) {
                    const char *args = d->args;
                    char *path = ap_getword_conf(p, &args);
                    size_t n = strlen(path);
                    if (n && path[n - 1] == '>')
                        path[--n] = '\0';
                    while (n > 1 && path[n - 1] == '/')
                        path[--n] = '\0';
                    if (path[0] == '/')
                        APR_ARRAY_PUSH(mounts, const char *) = n == 1 ? "" : path;
                }
            }
        }
        if (d->first_child)
            collect(p, d->first_child);
    }
}

void ea_errors_post_config(apr_pool_t *pconf)
{
    mounts = apr_array_make(pconf, 4, sizeof(const char *));
    collect(pconf, ap_conftree);
}

static const struct { int status; const char *body; } bodies[] = {
    { HTTP_BAD_REQUEST, "{\"detail\":\"Malformed request.\"}" },
    { HTTP_NOT_FOUND, "{\"detail\":\"Not found.\"}" },
    { HTTP_METHOD_NOT_ALLOWED, "{\"detail\":\"Method not allowed.\"}" },
    { HTTP_REQUEST_ENTITY_TOO_LARGE, "{\"detail\":\"Request body too large.\"}" },
    { HTTP_INTERNAL_SERVER_ERROR, "{\"detail\":\"A server error occurred.\"}" },
    { HTTP_NOT_IMPLEMENTED, "{\"detail\":\"Method not implemented.\"}" },
    { HTTP_SERVICE_UNAVAILABLE, "{\"detail\":\"Service unavailable.\"}" },
};

/* post_read_request: the raw path is known, nothing has been decoded yet. */
static int ea_errors_post_read_request(request_rec *r)
{
    if (!mounts || !r->uri || r->main || r->prev)
        return DECLINED;
    for (int i = 0; i < mounts->nelts; i++) {
        const char *m = APR_ARRAY_IDX(mounts, i, const char *);
        size_t n = strlen(m);
        if (strncmp(r->uri, m, n) == 0 && (r->uri[n] == '/' || r->uri[n] == '\0')) {
            for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++)
                ap_custom_response(r, bodies[k].status, bodies[k].body);
            apr_table_setn(r->notes, EA_NOTE, "1");
            ea_security_headers(r);
            ea_cors(r, 0);
            break;
        }
    }
    return DECLINED;
}

/* httpd labels its error pages text/html: relabel ours before the headers go. */
static apr_status_t error_json_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void insert_error_filter(request_rec *r)
{
    if (apr_table_get(r->notes, EA_NOTE))
        ap_add_output_filter(EA_ERROR_FILTER, NULL, r, r->connection);
}

void ea_errors_register(apr_pool_t *p)
{
    ap_register_output_filter(EA_ERROR_FILTER, error_json_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(ea_errors_post_read_request, NULL, NULL, APR_HOOK_MIDDLE);
}
