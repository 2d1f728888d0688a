/* ea_handle_schema: GET /api/schema/ (the OpenAPI document, docs/decisions.md
 * §2.9 and D15) and GET /api/docs/ (Swagger UI, served from the module
 * itself: no CDN).  Both come from files compiled in (ea_assets.c). */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "apr_strings.h"
#include "ea_assets.h"
#include "ea_params.h"

APLOG_USE_MODULE(ecoatlas);

static const ea_asset *ea_asset_find(const char *name)
{
    for (const ea_asset *a = ea_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* A Docs asset below the mount: "/docs/<file>" (no trailing slash). */
int ea_docs_asset_path(const char *rel)
{
    if (strncmp(rel, "/docs/", 6) != 0 || !rel[6] || strchr(rel + 6, '/'))
        return 0;
    const char *name = rel + 6;
    return strcmp(name, "docs.html") != 0 && strncmp(name, "schema.", 7) != 0
           && ea_asset_find(name) != NULL;
}

static int send_asset(ea_req *rq, const ea_asset *a, const char *type, const char *disposition)
{
    request_rec *r = rq->r;

    r->status = HTTP_OK;
    ap_set_content_type(r, type ? type : a->content_type);
    apr_table_setn(r->err_headers_out, "Allow", rq->route->allow);
    apr_table_mergen(r->err_headers_out, "Vary", "Accept");
    if (disposition)
        apr_table_setn(r->headers_out, "Content-Disposition", disposition);
    ap_set_content_length(r, (apr_off_t)a->len);
    if (!r->header_only)
        ap_rwrite(a->data, (int)a->len, r);
    return OK;
}

/* Does the Accept header ask for JSON (drf-spectacular's JSON renderers)
 * rather than YAML?  The first OpenAPI/JSON range listed decides. */
static int accept_wants_json(const char *accept)
{
    const char *best = NULL;
    int json = 0;
    static const struct { const char *type; int json; } kinds[] = {
        { "application/vnd.oai.openapi+json", 1 },
        { "application/json", 1 },
        { "application/vnd.oai.openapi", 0 },
        { "application/yaml", 0 },
    };
    if (!accept)
        return 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const char *at = ap_strcasestr(accept, kinds[i].type);
        /* "application/vnd.oai.openapi" is a prefix of its +json form */
        while (at && !kinds[i].json && at[strlen(kinds[i].type)] == '+')
            at = ap_strcasestr(at + 1, kinds[i].type);
        if (at && (!best || at < best)) {
            best = at;
            json = kinds[i].json;
        }
    }
    return json;
}

int ea_handle_schema(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *format = ea_qs_get(rq->qs, "format");
    int json;

    if (format && *format) {
        if (strcmp(format, "json") == 0)
            json = 1;
        else if (strcmp(format, "yaml") == 0 || strcmp(format, "openapi") == 0)
            json = 0;
        else
            return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    }
    else
        json = accept_wants_json(apr_table_get(r->headers_in, "Accept"));

    const ea_asset *a = ea_asset_find(json ? "schema.json" : "schema.yaml");
    if (!a)
        return ea_send_server_error(rq, "OpenAPI document not compiled in");
    if (!json)
        return send_asset(rq, a, "application/vnd.oai.openapi; charset=utf-8",
                          "inline; filename=\"EcoPowerAtlas API.yaml\"");
    const char *accept = apr_table_get(r->headers_in, "Accept");
    int plain_json = !format && accept && ap_strcasestr(accept, "application/json")
                     && !ap_strcasestr(accept, "application/vnd.oai.openapi+json");
    return send_asset(rq, a, plain_json ? "application/json" : "application/vnd.oai.openapi+json",
                      "inline; filename=\"EcoPowerAtlas API.json\"");
}

int ea_handle_docs(ea_req *rq)
{
    const char *name = rq->rel + 6;          /* after "/docs/" */
    const ea_asset *a = ea_asset_find(*name ? name : "docs.html");

    if (!a || strcmp(name, "docs.html") == 0 || strncmp(name, "schema.", 7) == 0)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    /* the UI's scripts and styles change only with the module */
    if (*name)
        apr_table_setn(rq->r->headers_out, "Cache-Control", "public, max-age=86400");
    return send_asset(rq, a, NULL, NULL);
}
