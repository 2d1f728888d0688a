/* ea_stmt: one SQL statement as lib/ builds it and the httpd glue (and the
 * worker) runs it: its text, its text parameters ($1..$n) and whether it
 * is a read.  The glue writes no SQL of its own (tools/check-layers): it
 * asks a builder of lib/ for the statement and hands it to
 * mod_ecoatlas/ea_db.c.
 *
 * The read flag is the caller's word, not a guess from the text: a read
 * whose connection died may be run once more on the repaired connection, a
 * write may have been executed before the connection went and is never
 * repeated (the client gets 503 and decides; docs/security.md). */
#ifndef EA_STMT_H
#define EA_STMT_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef enum { EA_STMT_READ = 0, EA_STMT_WRITE = 1 } ea_stmt_kind;

typedef struct ea_stmt {
    const char *sql;
    const apr_array_header_t *params;  /* const char *, $1..$n; NULL: none */
    ea_stmt_kind kind;
} ea_stmt;

ea_stmt ea_stmt_read(const char *sql, const apr_array_header_t *params);
ea_stmt ea_stmt_write(const char *sql, const apr_array_header_t *params);

/* A parameter list of the n values (room for two more). */
apr_array_header_t *ea_stmt_params(apr_pool_t *p, int n, const char *const *vals);

/* ---- the connection's own statements (mod_ecoatlas/ea_db.c, the worker) ---- */

#define EA_SQL_BEGIN "BEGIN"
#define EA_SQL_COMMIT "COMMIT"
#define EA_SQL_ROLLBACK "ROLLBACK"
/* A cheap read: it repairs a connection a PostgreSQL restart broke. */
#define EA_SQL_PING "SELECT 1"
#define EA_SQL_SHOW_TIMEOUT "SHOW statement_timeout"
/* Puts back a setting SHOW returned (its text, as a parameter). */
#define EA_SQL_RESTORE_TIMEOUT "SELECT set_config('statement_timeout', $1, false)"
/* The cache's listener (mod_ecoatlas/ea_cache.c): the channels the
 * triggers of migrations 0003 and 0004 NOTIFY. */
#define EA_SQL_LISTEN "LISTEN ecoatlas_data; LISTEN ecoatlas_auth"
/* ... and what it runs before handing its connection back to mod_dbd. */
#define EA_SQL_UNLISTEN "UNLISTEN *"

/* The settings of every new server session: a bound on each statement,
 * JIT off, UTC and ISO dates (docs/security.md). */
const char *ea_sql_session_settings(apr_pool_t *p, int timeout_ms);

/* SET statement_timeout = ms. */
const char *ea_sql_set_timeout(apr_pool_t *p, int ms);

/* Around a searched set's statement: its bound, and work_mem raised to
 * EA_SEARCH_WORK_MEM when the session's is lower (raise: never lowered), so
 * that the bitmap of a common term's matches stays exact (a lossy one
 * rechecks every row of its pages) and the matches stay in memory; with
 * generic, its prepared plan is the generic one (ea_listq.plan_generic);
 * then the session's bound, work_mem and plan_cache_mode back
 * (docs/operations.md, "Search").  ea_sql_work_mem_below() answers, once
 * per session, whether to raise. */
#define EA_SEARCH_WORK_MEM "32MB"
const char *ea_sql_work_mem_below(void);
const char *ea_sql_search_begin(apr_pool_t *p, int ms, int raise, int generic);
const char *ea_sql_search_end(apr_pool_t *p, int ms, int raise, int generic);

#endif
