/* ea_sql_auth: the statements of authentication (docs/security.md; the
 * glue is mod_ecoatlas/ea_mod_auth.c and ea_handle_auth.c).  Keys are looked up
 * by their SHA-256 digest (hex), never stored in clear. */
#ifndef EA_SQL_AUTH_H
#define EA_SQL_AUTH_H

#include "ea_stmt.h"

/* The user of an API token: by digest among ours, or by the legacy
 * (DRF authtoken) key; columns (id, is_staff, is_active, expires epoch or
 * 0, username, token id or NULL).  Read. */
ea_stmt ea_sql_token_lookup(apr_pool_t *p, const char *hex, const char *legacy_key);

/* The user of a session, by digest: the same columns (session id last). */
ea_stmt ea_sql_session_lookup(apr_pool_t *p, const char *hex);

/* A token's last use, at most every 30 seconds.  Write. */
ea_stmt ea_sql_token_touch(apr_pool_t *p, const char *token_id);

/* (id, password, is_active, is_staff, username) of username.  Read. */
ea_stmt ea_sql_user_by_name(apr_pool_t *p, const char *username);

/* A new token of user_id.  Write. */
ea_stmt ea_sql_token_insert(apr_pool_t *p, const char *user_id, const char *hex,
                            const char *prefix, const char *name);

/* The end of a session; a new session of age_s seconds (expired ones
 * older than a day go, the user's last_login is set).  Writes. */
ea_stmt ea_sql_session_end(apr_pool_t *p, const char *hex);
ea_stmt ea_sql_session_start(apr_pool_t *p, const char *user_id, const char *hex, int age_s);

#endif
