/* mod_ecoatlas: the EcoPowerAtlas API inside httpd.  This file holds only
 * the module record and the hook registration; see ea_routes.c for the
 * route table and ea_handle_*.c for the handlers. */
#include "ea_mod_conf.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_cache.h"
#include "ea_mod_limits.h"
#include "ea_mod_auth.h"
#include "ea_mod_edge.h"
#include "ea_mod_tasks.h"
#include "ea_mod_metrics.h"
#include "ea_mod_names.h"
#include "ea_version.h"

/* header_parser: match the route once; later phases and the handler use it. */
static int ea_header_parser(request_rec *r)
{
    if (!ea_is_api_request(r))
        return DECLINED;
    ea_req *rq = apr_pcalloc(r->pool, sizeof(*rq));
    rq->r = r;
    rq->conf = ap_get_module_config(r->per_dir_config, &ecoatlas_module);
    rq->indent = -1;
    rq->scheme = ap_http_scheme(r);
    ea_security_headers(r);
    ea_cors(r, 0);   /* on every answer, the refusals below included */
    ea_route_match(rq);
    ap_set_module_config(r->request_config, &ecoatlas_module, rq);
    if (ea_hosts_check(rq) != 0 || ea_https_check(rq) != 0)
        return DONE;
    /* A CORS preflight is answered here, before authentication runs. */
    return ea_cors(r, 1) ? DONE : DECLINED;
}

/* fixups: after authentication (check_authn), in DRF's order: content
 * negotiation, permissions (CSRF included), then throttling. */
static int ea_fixups(request_rec *r)
{
    ea_req *rq = ea_req_get(r);
    if (!rq || r->main)
        return DECLINED;
    if (rq->route && !rq->redirect && ea_authorize(rq) != 0)
        return DONE;
    return ea_limits_check(rq) != 0 ? DONE : DECLINED;
}

static int ea_handler(request_rec *r)
{
    if (r->handler && strcmp(r->handler, EA_METRICS_HANDLER) == 0)
        return ea_metrics_handler(r);
    if (!r->handler || strcmp(r->handler, EA_HANDLER) != 0)
        return DECLINED;
    ea_req *rq = ea_req_get(r);
    if (!rq) {   /* a subrequest or internal redirect reached us */
        ea_header_parser(r);
        rq = ea_req_get(r);
        if (!rq)
            return HTTP_NOT_FOUND;
    }
    int rc = ea_dispatch(rq);
    /* a connection the handler left idle goes back before httpd's own
     * error handling runs (an ErrorDocument's internal redirect would
     * otherwise wait for a second one) */
    ea_db_release(rq);
    return rc;
}

static int ea_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ap_add_version_component(pconf, "mod_ecoatlas/" EA_VERSION);
    ea_hosts_post_config(pconf, s);
    int rc = ea_routes_post_config(pconf, s);
    if (rc == OK)
        rc = ea_auth_post_config(pconf, s);
    if (rc == OK)
        rc = ea_db_post_config(pconf, s);
    if (rc == OK)
        rc = ea_limits_post_config(pconf, s);
    if (rc == OK)
        rc = ea_metrics_post_config(pconf, s, ea_route_at);
    if (rc == OK)
        ea_deploy_post_config(ptemp, s);
    return rc != OK ? rc : ea_cache_post_config(pconf, s);
}

/* Runs in `apache2ctl configtest` too (post_config does not). */
static int ea_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    return ea_tasks_check_config(ptemp, s);
}

static void ea_child_init(apr_pool_t *pchild, server_rec *s)
{
    ea_db_child_init(pchild, s);      /* first: the listener thread reads its pools */
    ea_cache_child_init(pchild, s);
    ea_limits_child_init(pchild, s);
    ea_names_child_init(pchild, s);
}

static void ea_register_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };
    ap_hook_post_config(ea_post_config, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(ea_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ea_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ea_errors_register(p);
    ap_hook_header_parser(ea_header_parser, NULL, NULL, APR_HOOK_MIDDLE);
    ea_auth_register_hooks(p);
    ap_hook_fixups(ea_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ea_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ea_metrics_register(p);
}

AP_DECLARE_MODULE(ecoatlas) = {
    STANDARD20_MODULE_STUFF,
    ea_create_dir_conf,
    ea_merge_dir_conf,
    ea_create_srv_conf,
    ea_merge_srv_conf,
    ea_directives,
    ea_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
