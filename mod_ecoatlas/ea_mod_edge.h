/* ea_mod_edge.h: checks at the edge of a request: httpd's own errors, HTTPS,
 * allowed hosts, CORS; the deploy check at start-up */
#ifndef EA_MOD_EDGE_H
#define EA_MOD_EDGE_H

#include "ea_mod_req.h"

/* ---- httpd's own errors as JSON (ea_errors.c) ----------------------------- */
void ea_errors_register(apr_pool_t *p);

/* ---- HTTPS (ea_https.c) ---------------------------------------------------- */
const char *ea_https_set_proxy_header(cmd_parms *cmd, void *dconf, int argc, char *const argv[]);
int ea_https_is_secure(request_rec *r);
/* Sets rq->secure/scheme and HSTS; 0, or -1 when the redirect was sent. */
int ea_https_check(ea_req *rq);

/* ---- allowed hosts (ea_hosts.c) --------------------------------------------- */
const char *ea_hosts_set(cmd_parms *cmd, void *dconf, const char *arg);
/* 0 when the Host header is allowed; otherwise the 400 was sent. */
int ea_hosts_check(ea_req *rq);
void ea_hosts_post_config(apr_pool_t *pconf, server_rec *s);

/* ---- CORS (ea_cors.c) ------------------------------------------------------ */
const char *ea_cors_set_origins(cmd_parms *cmd, void *dconf, const char *arg);
/* Add the CORS headers a response needs; answers a preflight (returns 1). */
int ea_cors(request_rec *r, int respond_preflight);

/* ---- deploy check (ea_mod_deploy.c) ---- */
/* Startup warnings for weak production settings (ea_mod_deploy.c). */
void ea_deploy_post_config(apr_pool_t *ptemp, server_rec *s);
/* SSLEngine, noted before mod_ssl takes it. */
const char *ea_deploy_note_ssl_engine(cmd_parms *cmd, void *dconf, const char *arg);

#endif
