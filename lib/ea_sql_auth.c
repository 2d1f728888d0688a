/* ea_sql_auth: statements of authentication (lib/ea_sql_auth.h). */
#include "ea_sql_auth.h"

#include <apr_strings.h>

ea_stmt ea_sql_token_lookup(apr_pool_t *p, const char *hex, const char *legacy_key)
{
    const char *v[] = { hex, legacy_key };
    return ea_stmt_read(
        "SELECT u.id, u.is_staff, u.is_active, coalesce(extract(epoch FROM k.expires)::bigint, 0), "
        "u.username, k.id FROM ecoatlas_token k JOIN auth_user u ON u.id = k.user_id "
        "WHERE k.key_sha256 = decode($1, 'hex') "
        "UNION ALL SELECT u.id, u.is_staff, u.is_active, 0, u.username, NULL "
        "FROM authtoken_token a JOIN auth_user u ON u.id = a.user_id WHERE a.key = $2 LIMIT 1",
        ea_stmt_params(p, 2, v));
}

ea_stmt ea_sql_session_lookup(apr_pool_t *p, const char *hex)
{
    return ea_stmt_read(
        "SELECT u.id, u.is_staff, u.is_active, extract(epoch FROM s.expires)::bigint, "
        "u.username, s.id FROM ecoatlas_session s JOIN auth_user u ON u.id = s.user_id "
        "WHERE s.key_sha256 = decode($1, 'hex')", ea_stmt_params(p, 1, &hex));
}

ea_stmt ea_sql_token_touch(apr_pool_t *p, const char *token_id)
{
    return ea_stmt_write(
        "UPDATE ecoatlas_token SET last_used = now() WHERE id = $1::bigint "
        "AND (last_used IS NULL OR last_used < now() - interval '30 seconds')",
        ea_stmt_params(p, 1, &token_id));
}

ea_stmt ea_sql_user_by_name(apr_pool_t *p, const char *username)
{
    return ea_stmt_read("SELECT id, password, is_active, is_staff, username "
                        "FROM auth_user WHERE username = $1", ea_stmt_params(p, 1, &username));
}

ea_stmt ea_sql_token_insert(apr_pool_t *p, const char *user_id, const char *hex,
                            const char *prefix, const char *name)
{
    const char *v[] = { user_id, hex, prefix, name };
    return ea_stmt_write("INSERT INTO ecoatlas_token (user_id, key_sha256, prefix, name, created) "
                         "VALUES ($1::integer, decode($2, 'hex'), $3, $4, now())",
                         ea_stmt_params(p, 4, v));
}

ea_stmt ea_sql_session_end(apr_pool_t *p, const char *hex)
{
    return ea_stmt_write("DELETE FROM ecoatlas_session WHERE key_sha256 = decode($1, 'hex')",
                         ea_stmt_params(p, 1, &hex));
}

ea_stmt ea_sql_session_start(apr_pool_t *p, const char *user_id, const char *hex, int age_s)
{
    const char *v[] = { user_id, hex, apr_psprintf(p, "%d", age_s) };
    return ea_stmt_write(
        "WITH s AS (INSERT INTO ecoatlas_session (user_id, key_sha256, created, expires) "
        "VALUES ($1::integer, decode($2, 'hex'), now(), now() + make_interval(secs => $3::integer)) "
        "RETURNING user_id), "
        "x AS (DELETE FROM ecoatlas_session WHERE expires < now() - interval '1 day') "
        "UPDATE auth_user SET last_login = now() WHERE id IN (SELECT user_id FROM s)",
        ea_stmt_params(p, 3, v));
}
