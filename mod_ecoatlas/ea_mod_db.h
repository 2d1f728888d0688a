/* ea_mod_db.h: PostgreSQL through mod_dbd; the only glue header that includes libpq */
#ifndef EA_MOD_DB_H
#define EA_MOD_DB_H

#include "ea_mod_req.h"
#include <libpq-fe.h>

/* ---- database ------------------------------------------------------------- */
typedef enum { EA_DB_OK = 0, EA_DB_UNAVAILABLE = 1, EA_DB_ERROR = 2, EA_DB_TIMEOUT = 3 } ea_db_status;
/* Run sql with text parameters; the result lives until the request ends. */
ea_db_status ea_db_query(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out);
/* Send the response that fits a failed status (503 or 500). */
int ea_db_fail(ea_req *rq, ea_db_status st);
int ea_db_fk_exists(void *ctx, const char *table, long long id);
/* Stream the rows of sql one at a time to fn (single-row mode); fn returns
 * non-zero to stop, which cancels the query.  *delivered counts the rows
 * handed over: after the first one, the response has started. */
typedef int (*ea_row_fn)(void *ctx, PGresult *row);
ea_db_status ea_db_stream(ea_req *rq, const char *sql, const apr_array_header_t *params,
                          ea_row_fn fn, void *ctx, int *delivered);
int ea_db_post_config(apr_pool_t *pconf, server_rec *s);
/* A pooled connection of mod_dbd for the request (ap_dbd_t *), or NULL. */
void *ea_db_acquire(request_rec *r);
/* Writes: one transaction per request.  ea_db_write is ea_db_query where an
 * integrity violation (SQLSTATE 23xxx) is an expected answer: EA_DB_ERROR
 * with diag set, and no error logged.  A request that ends with its
 * transaction open is rolled back. */
typedef struct ea_db_diag {
    const char *sqlstate;      /* "23505", or NULL */
    const char *constraint;    /* the constraint's name, or NULL */
} ea_db_diag;
ea_db_status ea_db_write(ea_req *rq, const char *sql, const apr_array_header_t *params,
                         PGresult **out, ea_db_diag *diag);
ea_db_status ea_db_begin(ea_req *rq);
ea_db_status ea_db_commit(ea_req *rq, ea_db_diag *diag);
void ea_db_rollback(ea_req *rq);

/* Build the filtered set of the route's resource; on failure the error
 * response is sent and the handler's return value stored in *rc. */
int ea_build_set(ea_req *rq, const ea_resource *res, ea_listq *q, int *rc);
/* Row i of res as an array of strings (NULL for SQL NULL), from column off. */
const char *const *ea_row_values(ea_req *rq, PGresult *res, int row, int off, int n);

#endif
