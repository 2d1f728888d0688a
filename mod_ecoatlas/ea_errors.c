/* ea_errors: JSON bodies for the errors httpd itself raises under an API
 * mount (docs/decisions.md D12), e.g. 400 for a malformed %-escape or 404 for an
 * encoded slash, which happen before any of our request hooks run.  A mount
 * is wherever httpd's merged configuration sets our handler (<Location>,
 * <LocationMatch>, ...): when the error is sent, the request's own
 * configuration says, or, for an error raised before httpd walked the
 * <Location> sections, a walk of them done here. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_edge.h"
#include "http_core.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_strings.h"

APLOG_USE_MODULE(ecoatlas);

#define EA_ERROR_FILTER "ECOATLAS_ERROR_JSON"

static const struct { int status; const char *body; } bodies[] = {
    { HTTP_BAD_REQUEST, "{\"detail\":\"Malformed request.\"}" },
    { HTTP_NOT_FOUND, "{\"detail\":\"Not found.\"}" },
    { HTTP_METHOD_NOT_ALLOWED, "{\"detail\":\"Method not allowed.\"}" },
    { HTTP_REQUEST_ENTITY_TOO_LARGE, "{\"detail\":\"Request body too large.\"}" },
    { HTTP_INTERNAL_SERVER_ERROR, "{\"detail\":\"A server error occurred.\"}" },
    { HTTP_NOT_IMPLEMENTED, "{\"detail\":\"Method not implemented.\"}" },
    { HTTP_SERVICE_UNAVAILABLE, "{\"detail\":\"Service unavailable.\"}" },
};

/* httpd labels its error pages text/html: relabel ours before the headers go. */
static apr_status_t error_json_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* Is the failed request under our handler?  Once header_parser ran, it
 * knows; after the <Location> walk, the merged configuration says; before
 * it (the request still has the server's defaults), the walk is done here
 * and its result dropped again, so that nothing else of the error response
 * changes. */
static int under_api(request_rec *r)
{
    if (ea_req_get(r))
        return 1;
    if (!r->uri || !r->per_dir_config)   /* no request line to speak of */
        return 0;
    if (r->per_dir_config != r->server->lookup_defaults)
        return ea_is_api_request(r);
    ap_conf_vector_t *saved = r->per_dir_config;
    int api = ap_location_walk(r) == OK && ea_is_api_request(r);
    r->per_dir_config = saved;
    return api;
}

/* insert_error_filter runs before httpd picks the error's body: our
 * bodies, headers and the filter that labels them JSON go in here. */
static void insert_error_filter(request_rec *r)
{
    if (r->main || r->prev || !under_api(r))
        return;
    for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++)
        ap_custom_response(r, bodies[k].status, bodies[k].body);
    ea_security_headers(r);
    ea_cors(r, 0);
    ap_add_output_filter(EA_ERROR_FILTER, NULL, r, r->connection);
}

void ea_errors_register(apr_pool_t *p)
{
    ap_register_output_filter(EA_ERROR_FILTER, error_json_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
