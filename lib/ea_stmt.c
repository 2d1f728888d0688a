/* ea_stmt: statements as lib/ builds them (lib/ea_stmt.h). */
#include "ea_stmt.h"

#include <apr_strings.h>

ea_stmt ea_stmt_read(const char *sql, const apr_array_header_t *params)
{
    ea_stmt s = { sql, params, EA_STMT_READ };
    return s;
}

ea_stmt ea_stmt_write(const char *sql, const apr_array_header_t *params)
{
    ea_stmt s = { sql, params, EA_STMT_WRITE };
    return s;
}

apr_array_header_t *ea_stmt_params(apr_pool_t *p, int n, const char *const *vals)
{
    apr_array_header_t *a = apr_array_make(p, n + 2, sizeof(const char *));
    for (int i = 0; i < n; i++)
        APR_ARRAY_PUSH(a, const char *) = vals[i];
    return a;
}

const char *ea_sql_session_settings(apr_pool_t *p, int timeout_ms)
{
    return apr_psprintf(p, "SET statement_timeout = %d; SET jit = off; SET TimeZone = 'UTC'; "
                        "SET DateStyle = 'ISO'", timeout_ms);
}

const char *ea_sql_set_timeout(apr_pool_t *p, int ms)
{
    return apr_psprintf(p, "SET statement_timeout = %d", ms);
}

const char *ea_sql_work_mem_below(void)
{
    return "SELECT pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('" EA_SEARCH_WORK_MEM "')";
}

const char *ea_sql_search_begin(apr_pool_t *p, int ms, int raise, int generic)
{
    return apr_psprintf(p, "SET statement_timeout = %d%s%s", ms,
                        raise ? "; SET work_mem = '" EA_SEARCH_WORK_MEM "'" : "",
                        generic ? "; SET plan_cache_mode = force_generic_plan" : "");
}

const char *ea_sql_search_end(apr_pool_t *p, int ms, int raise, int generic)
{
    return apr_psprintf(p, "SET statement_timeout = %d%s%s", ms, raise ? "; RESET work_mem" : "",
                        generic ? "; RESET plan_cache_mode" : "");
}
