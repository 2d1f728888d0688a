/* ea_mod_limits.h: rate limits */
#ifndef EA_MOD_LIMITS_H
#define EA_MOD_LIMITS_H

#include "ea_mod_req.h"

/* ---- rate limits (ea_limits.c) ---------------------------------------------- */
const char *ea_limits_set_rate(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_limits_set_entries(cmd_parms *cmd, void *dconf, const char *arg);
int ea_limits_post_config(apr_pool_t *pconf, server_rec *s);
const char *ea_limits_set_backend(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_limits_set_failure(cmd_parms *cmd, void *dconf, const char *arg);
void ea_limits_child_init(apr_pool_t *pchild, server_rec *s);
/* 0 when admitted; otherwise the 429 was sent. */
int ea_limits_check(ea_req *rq);
/* The login endpoints' own limit (per client and per username): 0 when
 * admitted; otherwise the 429 was sent. */
int ea_limits_login(ea_req *rq, const char *username);
/* A failed credential (bad token): counted per client with the login
 * limit; 0 within it, else the 429 was sent (*retry_s: its Retry-After). */
int ea_limits_auth_failure(ea_req *rq, unsigned *retry_s);
/* DRF's 429 with Retry-After; returns -1. */
int ea_limits_send_throttled(ea_req *rq, unsigned retry_after_s);

#endif
