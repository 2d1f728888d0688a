/* ea_sql_write: the statements of the writes (docs/decisions.md §2.2,
 * §2.3, D6; mod_ecoatlas/ea_handle_write.c runs them in one transaction
 * per request) and of the validation core's lookups (lib/ea_validate.c's
 * hooks, lib/ea_sql_list.c's FK filters).  Table and column names come
 * from the resource tables of lib/, never from the request; every value
 * is a parameter. */
#ifndef EA_SQL_WRITE_H
#define EA_SQL_WRITE_H

#include "ea_sql_list.h"
#include "ea_stmt.h"
#include "ea_validate.h"

/* A row of table with this id (one column, or none).  Read. */
ea_stmt ea_sql_fk_exists(apr_pool_t *p, const char *table, const char *id);

/* A row of table whose n columns cols equal vals, other than exclude_id
 * when non-NULL (a unique rule).  Read. */
ea_stmt ea_sql_row_exists(apr_pool_t *p, const char *table, int n, const char *const *cols,
                          const char *const *vals, const char *exclude_id);

/* The row id of q's set: t.id and vr's writable columns in order; locked
 * (FOR UPDATE OF t) with for_update.  Read: run again after a dead
 * connection only outside a transaction (mod_ecoatlas/ea_db.c). */
ea_stmt ea_sql_locate(ea_listq *q, const ea_vresource *vr, const char *id, int for_update);

/* INSERT of the validated columns, RETURNING id; UPDATE of them on id;
 * DELETE of id.  Writes. */
ea_stmt ea_sql_insert(apr_pool_t *p, const ea_vresource *vr, const ea_vresult *v);
ea_stmt ea_sql_update(apr_pool_t *p, const ea_vresource *vr, const ea_vresult *v, const char *id);
ea_stmt ea_sql_delete(apr_pool_t *p, const ea_vresource *vr, const char *id);

/* The number of hydro sites of country id (D6: PROTECT).  Read. */
ea_stmt ea_sql_country_site_count(apr_pool_t *p, const char *id);

#endif
