/* ea_https: Django's SECURE_* settings as directives.  A request is secure
 * when it came over TLS (mod_ssl) or, with EcoAtlasProxySSLHeader, when a
 * trusted proxy says so in a header; secure requests get the HSTS header,
 * insecure ones a 301 to https when EcoAtlasSSLRedirect is on, and the
 * API's absolute links use the scheme the client really used. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_edge.h"
#include "http_core.h"
#include "apr_strings.h"

APLOG_USE_MODULE(ecoatlas);

const char *ea_https_set_proxy_header(cmd_parms *cmd, void *dconf, int argc, char *const argv[])
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    if (argc < 2)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': expected a header name, "
                            "the value that means https, and optionally the trusted proxies",
                            cmd->directive->directive);
    if (strspn(argv[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(argv[0]))
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' is not a header name",
                            cmd->directive->directive, argv[0]);
    c->proxy_ssl_header = argv[0];
    c->proxy_ssl_value = argv[1];
    c->proxy_ssl_trusted = apr_array_make(cmd->pool, argc, sizeof(apr_ipsubnet_t *));
    for (int i = 2; i < argc; i++) {
        char *ip = apr_pstrdup(cmd->pool, argv[i]), *mask = strchr(ip, '/');
        apr_ipsubnet_t *sub;
        if (mask)
            *mask++ = '\0';
        if (apr_ipsubnet_create(&sub, ip, mask, cmd->pool) != APR_SUCCESS)
            return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' is not an "
                                "address or network (like 10.0.0.0/8)", cmd->directive->directive, argv[i]);
        APR_ARRAY_PUSH(c->proxy_ssl_trusted, apr_ipsubnet_t *) = sub;
    }
    return NULL;
}

/* The header counts only from a listed proxy (the TCP peer), or from any
 * peer when no proxy is listed (Django's behaviour: the proxy must then
 * overwrite the header on every request). */
static int from_trusted_proxy(request_rec *r, const ea_srv_conf *sc)
{
    if (!sc->proxy_ssl_trusted || sc->proxy_ssl_trusted->nelts == 0)
        return 1;
    for (int i = 0; i < sc->proxy_ssl_trusted->nelts; i++)
        if (apr_ipsubnet_test(APR_ARRAY_IDX(sc->proxy_ssl_trusted, i, apr_ipsubnet_t *),
                              r->connection->client_addr))
            return 1;
    return 0;
}

int ea_https_is_secure(request_rec *r)
{
    ea_srv_conf *sc = ea_sconf(r->server);
    if (strcmp(ap_http_scheme(r), "https") == 0)
        return 1;
    if (!sc->proxy_ssl_header)
        return 0;
    const char *v = apr_table_get(r->headers_in, sc->proxy_ssl_header);
    return v && strcasecmp(v, sc->proxy_ssl_value) == 0 && from_trusted_proxy(r, sc);
}

int ea_https_check(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *sc = ea_sconf(r->server);

    rq->secure = ea_https_is_secure(r);
    rq->scheme = rq->secure ? "https" : "http";
    if (rq->secure) {
        if (ea_srv_get(sc, hsts_seconds) > 0)
            apr_table_setn(r->err_headers_out, "Strict-Transport-Security",
                           apr_psprintf(r->pool, "max-age=%d%s%s", ea_srv_get(sc, hsts_seconds),
                                        ea_srv_get(sc, hsts_subdomains) == 1 ? "; includeSubDomains" : "",
                                        ea_srv_get(sc, hsts_preload) == 1 ? "; preload" : ""));
        return 0;
    }
    if (ea_srv_get(sc, ssl_redirect) != 1)
        return 0;
    const char *host = apr_table_get(r->headers_in, "Host");
    if (!host)
        host = r->hostname ? r->hostname : r->server->server_hostname;
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, "https://", host, r->unparsed_uri, NULL));
    r->status = HTTP_MOVED_PERMANENTLY;
    ap_set_content_length(r, 0);
    return -1;
}
