/* ea_mod_deploy: the deploy check at startup (lib/ea_deploy.c has the rules):
 * one [warn] line per weak production setting, like Django's
 * `check --deploy`, with the same ids and texts as `ecoatlas check
 * --deploy`.  Logged in the second configuration pass only (httpd runs
 * post_config twice at start-up: the lines appear once per start, and
 * again after each reload, which re-reads the configuration). */
#include "ea_mod_conf.h"
#include "ea_mod_edge.h"
#include "http_core.h"
#include "http_main.h"
#include "apr_strings.h"
#include "ea_deploy.h"
#include "ea_logno.h"

APLOG_USE_MODULE(ecoatlas);

static int dir_debug(ap_conf_vector_t *v)
{
    const ea_dir_conf *d = v ? ap_get_module_config(v, &ecoatlas_module) : NULL;
    return d && d->debug == 1;
}

/* EcoAtlasDebug On in the server's own defaults or any of its sections. */
static int server_debug(server_rec *s)
{
    core_server_config *core = ap_get_core_module_config(s->module_config);
    apr_array_header_t *lists[2] = { core->sec_url, core->sec_dir };
    if (dir_debug(s->lookup_defaults))
        return 1;
    for (int l = 0; l < 2; l++)
        for (int i = 0; lists[l] && i < lists[l]->nelts; i++)
            if (dir_debug(APR_ARRAY_IDX(lists[l], i, ap_conf_vector_t *)))
                return 1;
    return 0;
}

/* SSLEngine is mod_ssl's; mod_ecoatlas notes it too (httpd gives a
 * directive to every module that declares it): "on" in a server's own
 * configuration makes it an HTTPS host for the deploy check. */
const char *ea_deploy_note_ssl_engine(cmd_parms *cmd, void *dconf, const char *arg)
{
    if (!ap_find_linked_module("mod_ssl.c"))   /* as httpd says it without us */
        return apr_pstrcat(cmd->pool, "Invalid command '", cmd->directive->directive,
                           "', perhaps misspelled or defined by a module not included "
                           "in the server configuration", NULL);
    ea_srv_conf *sc = ea_sconf(cmd->server);
    if (strncasecmp(arg, "on", 2) == 0)
        sc->ssl_engine = 1;
    else if (sc->ssl_engine == EA_UNSET)
        sc->ssl_engine = 0;
    return DECLINE_CMD;   /* and mod_ssl's own handler takes it as usual */
}


static int server_https(server_rec *s, const ea_srv_conf *sc)
{
    if (sc->proxy_ssl_header || s->port == 443
        || (s->server_scheme && strcasecmp(s->server_scheme, "https") == 0))
        return 1;
    for (server_addr_rec *a = s->addrs; s->is_virtual && a; a = a->next)
        if (a->host_port == 443)
            return 1;
    return sc->ssl_engine == 1;
}

static const char *server_label(apr_pool_t *p, server_rec *s)
{
    if (!s->is_virtual)
        return "main server";
    /* as `ecoatlas check --deploy` names it */
    return apr_psprintf(p, "vhost at %s:%u", s->defn_name ? s->defn_name : "?", s->defn_line_number);
}

static ea_deploy_settings settings_of(apr_pool_t *p, server_rec *s)
{
    ea_srv_conf *sc = ea_sconf(s);
    ea_deploy_settings d;
    d.name = server_label(p, s);
    d.https = server_https(s, sc);
    d.debug = server_debug(s);
    d.secret_key = sc->secret_key;
    d.cors_allow_all = sc->cors_allow_all;
    d.hsts_seconds = sc->hsts_seconds;
    d.ssl_redirect = sc->ssl_redirect;
    d.session_cookie_secure = sc->session_cookie_secure;
    d.csrf_cookie_secure = sc->csrf_cookie_secure;
    return d;
}

void ea_deploy_post_config(apr_pool_t *ptemp, server_rec *s)
{
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return;
    ea_deploy_settings m = settings_of(ptemp, s);
    apr_array_header_t *vh = apr_array_make(ptemp, 8, sizeof(ea_deploy_settings));
    for (server_rec *v = s->next; v; v = v->next)
        *(ea_deploy_settings *)apr_array_push(vh) = settings_of(ptemp, v);
    apr_array_header_t *w = ea_deploy_check_all(ptemp, &m, vh);
    for (int i = 0; i < w->nelts; i++)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, EA_LOGNO(00025) "%s",
                     ea_deploy_format(ptemp, &APR_ARRAY_IDX(w, i, ea_deploy_warning)));
}
