/* ea_hosts: Django's ALLOWED_HOSTS as EcoAtlasAllowedHosts.  A request whose
 * Host header names no allowed host gets 400 with a JSON body before
 * anything else runs; each refused host is logged once per process, so a
 * flood does not flood the error log.  Without the directive the allowed
 * names are the virtual host's ServerName and ServerAlias. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_edge.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "ea_edge.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

static int valid_pattern(const char *p)
{
    if (strcmp(p, "*") == 0)
        return 1;
    if (*p == '.')
        p++;
    if (*p == '[')
        return p[strlen(p) - 1] == ']' && strspn(p + 1, "0123456789abcdefABCDEF:.") == strlen(p) - 2;
    return *p && strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(p);
}

const char *ea_hosts_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_dir_conf *c = dconf;
    if (!valid_pattern(arg))
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected a host name, "
                            ".domain for a domain and its subdomains, or *)",
                            cmd->directive->directive, arg);
    if (!c->allowed_hosts)
        c->allowed_hosts = apr_array_make(cmd->pool, 4, sizeof(const char *));
    char *low = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower(low);
    APR_ARRAY_PUSH(c->allowed_hosts, const char *) = low;
    return NULL;
}

/* ServerName, ServerAlias ("*.example.org" becomes ".example.org"), and the
 * addresses the <VirtualHost> names (a request to its own IP is no forgery). */
static apr_array_header_t *server_names(apr_pool_t *p, server_rec *s)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    if (s->server_hostname)
        APR_ARRAY_PUSH(a, const char *) = s->server_hostname;
    for (int i = 0; s->names && i < s->names->nelts; i++)
        APR_ARRAY_PUSH(a, const char *) = APR_ARRAY_IDX(s->names, i, const char *);
    for (int i = 0; s->wild_names && i < s->wild_names->nelts; i++) {
        const char *w = APR_ARRAY_IDX(s->wild_names, i, const char *);
        if (w[0] == '*' && w[1] == '.' && !strpbrk(w + 2, "*?["))
            APR_ARRAY_PUSH(a, const char *) = w + 1;
    }
    for (server_addr_rec *sa = s->addrs; sa; sa = sa->next) {
        const char *v = sa->virthost;
        if (v && *v && strcmp(v, "*") != 0 && strcasecmp(v, "_default_") != 0)
            APR_ARRAY_PUSH(a, const char *) = v;
    }
    for (int i = 0; i < a->nelts; i++) {
        char *low = apr_pstrdup(p, APR_ARRAY_IDX(a, i, const char *));
        ap_str_tolower(low);
        APR_ARRAY_IDX(a, i, const char *) = low;
    }
    return a;
}

/* Each server's default list, once, rather than on every request. */
void ea_hosts_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    for (server_rec *s = main_s; s; s = s->next) {
        ea_srv_conf *sc = ea_sconf(s);
        sc->default_hosts = server_names(pconf, s);
    }
}

int ea_hosts_check(ea_req *rq)
{
    request_rec *r = rq->r;
    const char *host = apr_table_get(r->headers_in, "Host");
    if (!host)   /* HTTP/1.0 without Host: the server's own name */
        return 0;
    ea_srv_conf *sc = ea_sconf(r->server);
    const apr_array_header_t *allowed = rq->conf->allowed_hosts ? rq->conf->allowed_hosts
                                                                : sc->default_hosts;
    if (allowed && ea_host_allowed(allowed, host))
        return 0;
    if (ea_log_once(r->server, host, 0))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      EA_LOGNO(00038) "refused Host header '%s': not in EcoAtlasAllowedHosts "
                      "(or ServerName/ServerAlias); further requests for it are not logged",
                      ap_escape_logitem(r->pool, host));
    ea_send_detail(rq, HTTP_BAD_REQUEST,
                   apr_psprintf(r->pool, "Invalid HTTP_HOST header: '%s'. You may need to add "
                                "'%s' to EcoAtlasAllowedHosts.", host, host));
    return -1;
}
