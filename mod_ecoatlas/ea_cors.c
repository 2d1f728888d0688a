/* ea_cors: cross-origin requests, as django-cors-headers answered them
 * (docs/decisions.md §4): Vary: Origin on every response; the allow headers for
 * allowed origins only (exact match after normalisation, never a substring);
 * preflights (OPTIONS + Access-Control-Request-Method) answered before
 * authentication and throttling.  Headers go in err_headers_out so that a
 * browser can read a 401 or a 429 too. */
#include "ea_mod_conf.h"
#include "ea_mod_edge.h"
#include "apr_strings.h"
#include "ea_edge.h"

APLOG_USE_MODULE(ecoatlas);

#define CORS_HEADERS "accept, authorization, content-type, user-agent, x-csrftoken, x-requested-with"
#define CORS_METHODS "DELETE, GET, OPTIONS, PATCH, POST, PUT"

const char *ea_cors_set_origins(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    char *norm = ea_origin_normalize(cmd->pool, arg);
    if (!norm)
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected an origin such as "
                            "https://app.example.org or http://localhost:5173)",
                            cmd->directive->directive, arg);
    if (!c->cors_origins)
        c->cors_origins = apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(c->cors_origins, const char *) = norm;
    return NULL;
}

static int origin_allowed(const ea_srv_conf *sc, const char *origin)
{
    if (ea_srv_get(sc, cors_allow_all) == 1)
        return 1;
    return sc->cors_origins && ea_origin_allowed(sc->cors_origins, origin);
}

int ea_cors(request_rec *r, int respond_preflight)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    const char *origin = apr_table_get(r->headers_in, "Origin");
    int preflight = r->method_number == M_OPTIONS
                    && apr_table_get(r->headers_in, "Access-Control-Request-Method");

    if (apr_table_get(r->notes, "ecoatlas-cors"))   /* already done for this request */
        origin = NULL;
    else {
        apr_table_setn(r->notes, "ecoatlas-cors", "1");
        apr_table_mergen(r->err_headers_out, "Vary", "Origin");
    }
    if (origin && origin_allowed(sc, origin)) {
        int creds = ea_srv_get(sc, cors_credentials) == 1;
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Origin",
                       ea_srv_get(sc, cors_allow_all) == 1 && !creds ? "*" : origin);
        if (creds)
            apr_table_setn(r->err_headers_out, "Access-Control-Allow-Credentials", "true");
        if (preflight) {
            apr_table_setn(r->err_headers_out, "Access-Control-Allow-Headers", CORS_HEADERS);
            apr_table_setn(r->err_headers_out, "Access-Control-Allow-Methods", CORS_METHODS);
            apr_table_setn(r->err_headers_out, "Access-Control-Max-Age", "86400");
        }
    }
    if (!preflight || !respond_preflight)
        return 0;
    /* django-cors-headers answers every preflight with an empty 200; only an
     * allowed origin gets the headers that let the browser go on. */
    r->status = HTTP_OK;
    ap_set_content_length(r, 0);
    return 1;
}
