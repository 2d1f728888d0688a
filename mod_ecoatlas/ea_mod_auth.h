/* ea_mod_auth.h: who is calling and may they do it */
#ifndef EA_MOD_AUTH_H
#define EA_MOD_AUTH_H

#include "ea_mod_req.h"

/* ---- authentication (ea_mod_auth.c) ------------------------------------------- */
typedef struct ea_user {
    long long id;              /* auth_user.id */
    const char *username;
    int is_staff;
    int via_session;           /* authenticated by the session cookie (CSRF applies) */
} ea_user;
/* Permission check for the matched route and method (docs/decisions.md §3):
 * 0 when allowed; otherwise the 401/403 was sent. */
int ea_auth_permit(ea_req *rq);
/* Why a POST to the session login is refused as cross-site (Origin or
 * Referer of another site), or NULL. */
const char *ea_auth_login_csrf_failure(ea_req *rq);
void ea_auth_register_hooks(apr_pool_t *p);
int ea_auth_post_config(apr_pool_t *pconf, server_rec *s);
const char *ea_auth_set_secret(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_secret_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_token_name(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_set_csrf_origins(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_auth_token_name(const ea_srv_conf *sc);
/* The key in a well-formed sessionid cookie signed with our secret, or NULL. */
const char *ea_auth_session_key(ea_req *rq);
#define EA_SESSION_COOKIE "sessionid"
#define EA_CSRF_COOKIE "csrftoken"

#endif
