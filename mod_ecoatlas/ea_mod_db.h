/* ea_mod_db.h: PostgreSQL through mod_dbd; the only glue header that includes libpq */
#ifndef EA_MOD_DB_H
#define EA_MOD_DB_H

#include "ea_mod_req.h"
#include <libpq-fe.h>

/* ---- database ------------------------------------------------------------- */
/* EA_DB_BUSY: every export slot of the pool is taken (ea_db_export_slot) */
typedef enum { EA_DB_OK = 0, EA_DB_UNAVAILABLE = 1, EA_DB_ERROR = 2, EA_DB_TIMEOUT = 3,
               EA_DB_BUSY = 4 } ea_db_status;
/* Run a statement built by lib/; the result lives until the request ends. */
ea_db_status ea_db_query(ea_req *rq, ea_stmt stmt, PGresult **out);
/* Send the response that fits a failed status (503 or 500). */
int ea_db_fail(ea_req *rq, ea_db_status st);
/* A lookup that lib/ makes through a callback (the FK filters of
 * ea_listq_build, the validation hooks): ctx is an ea_db_lookup, and a
 * failed lookup (-1) leaves its status there. */
typedef struct ea_db_lookup {
    ea_req *rq;
    ea_db_status failure;
} ea_db_lookup;
int ea_db_fk_exists(void *ctx, const char *table, long long id);
/* Stream the rows of sql one at a time to fn (single-row mode); fn returns
 * non-zero to stop, which cancels the query.  *delivered counts the rows
 * handed over: after the first one, the response has started. */
typedef int (*ea_row_fn)(void *ctx, PGresult *row);
ea_db_status ea_db_stream(ea_req *rq, ea_stmt stmt, ea_row_fn fn, void *ctx, int *delivered);
/* A stream keeps its connection while the client reads, so streams may
 * hold at most EcoAtlasMaxExports of a pool's connections at once (default
 * half of them; threaded MPMs, per child): take one of those slots, until
 * the stream ends or the request does.  EA_DB_BUSY when none is free
 * (ea_db_fail answers 503).  An export handler takes it before it sets any
 * header; ea_db_stream takes it if the handler did not. */
ea_db_status ea_db_export_slot(ea_req *rq);
/* A connection of s's pool held outside any request (the response cache's
 * change listener) leaves fewer for requests, in line and for exports:
 * hold says so, and returns
 * what unhold takes when it is given back (NULL: no pool to count in). */
void *ea_db_pool_hold(server_rec *s);
void ea_db_pool_unhold(void *pool);
/* Run fn(pg, baton) on the request's connection under a statement timeout
 * of ms instead of the request's (eager tasks): the connection is repaired
 * first if a restart broke it; afterwards what fn left open is rolled back
 * and the request's timeout is back. */
typedef void (*ea_db_conn_fn)(PGconn *pg, void *baton);
ea_db_status ea_db_with_timeout(ea_req *rq, int ms, ea_db_conn_fn fn, void *baton);
int ea_db_post_config(apr_pool_t *pconf, server_rec *s);
/* mod_dbd's pool directives, noted in the ea_srv_conf field at the offset
 * cmd->info gives (then handled by mod_dbd as usual). */
const char *ea_db_note_pool(cmd_parms *cmd, void *dconf, const char *arg);
/* Each pool's arrival-order queue, per child (threaded MPMs). */
void ea_db_child_init(apr_pool_t *pchild, server_rec *s);
/* Give the request's connection back to mod_dbd's pool now, when the
 * request owns it and it is idle (no transaction, no statement running):
 * the response is sent after, so a client slow to read it holds no
 * connection.  A later statement of the request takes one again. */
void ea_db_release(ea_req *rq);
/* Writes: one transaction per request.  ea_db_write is ea_db_query where an
 * integrity violation (SQLSTATE 23xxx) is an expected answer: EA_DB_ERROR
 * with diag set, and no error logged.  A request that ends with its
 * transaction open is rolled back. */
typedef struct ea_db_diag {
    const char *sqlstate;      /* "23505", or NULL */
    const char *constraint;    /* the constraint's name, or NULL */
} ea_db_diag;
ea_db_status ea_db_write(ea_req *rq, ea_stmt stmt, PGresult **out, ea_db_diag *diag);
ea_db_status ea_db_begin(ea_req *rq);
ea_db_status ea_db_commit(ea_req *rq, ea_db_diag *diag);
void ea_db_rollback(ea_req *rq);

/* Build the filtered set of the route's resource; on failure the error
 * response is sent and the handler's return value stored in *rc. */
int ea_build_set(ea_req *rq, const ea_resource *res, ea_listq *q, int *rc);
/* Row i of res as an array of strings (NULL for SQL NULL), from column off. */
const char **ea_row_values(ea_req *rq, PGresult *res, int row, int off, int n);


#endif
