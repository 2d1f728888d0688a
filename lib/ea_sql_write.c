/* ea_sql_write: statements of the writes (lib/ea_sql_write.h). */
#include "ea_sql_write.h"

#include <apr_strings.h>

ea_stmt ea_sql_fk_exists(apr_pool_t *p, const char *table, const char *id)
{
    return ea_stmt_read(apr_psprintf(p, "SELECT 1 FROM %s WHERE id = $1", table),
                        ea_stmt_params(p, 1, &id));
}

ea_stmt ea_sql_row_exists(apr_pool_t *p, const char *table, int n, const char *const *cols,
                          const char *const *vals, const char *exclude_id)
{
    ea_buf sql;
    apr_array_header_t *params = ea_stmt_params(p, n, vals);
    ea_buf_init(&sql, p, 128);
    ea_buf_printf(&sql, "SELECT 1 FROM %s WHERE ", table);
    for (int i = 0; i < n; i++)
        ea_buf_printf(&sql, "%s%s = $%d", i ? " AND " : "", cols[i], i + 1);
    if (exclude_id) {
        APR_ARRAY_PUSH(params, const char *) = exclude_id;
        ea_buf_printf(&sql, " AND id <> $%d", n + 1);
    }
    ea_buf_puts(&sql, " LIMIT 1");
    return ea_stmt_read(sql.data, params);
}

ea_stmt ea_sql_locate(ea_listq *q, const ea_vresource *vr, const char *id, int for_update)
{
    ea_buf sql;
    apr_array_header_t *params = apr_array_copy(q->pool, q->params);
    ea_buf_init(&sql, q->pool, 512);
    ea_buf_puts(&sql, "SELECT t.id");
    for (int i = 0; i < vr->nfields; i++)
        ea_buf_printf(&sql, ", t.%s", vr->fields[i].column);
    APR_ARRAY_PUSH(params, const char *) = id;
    ea_buf_printf(&sql, " FROM %s WHERE t.id = $%d%s", q->res->from_sql, params->nelts, ea_listq_and(q));
    if (for_update)
        ea_buf_puts(&sql, " FOR UPDATE OF t");
    return ea_stmt_read(sql.data, params);
}

ea_stmt ea_sql_insert(apr_pool_t *p, const ea_vresource *vr, const ea_vresult *v)
{
    ea_buf sql, vals;
    ea_buf_init(&sql, p, 256);
    ea_buf_init(&vals, p, 128);
    ea_buf_printf(&sql, "INSERT INTO %s (", vr->table);
    for (int i = 0; i < v->n; i++) {
        ea_buf_printf(&sql, "%s, ", v->cols[i]);
        ea_buf_printf(&vals, "$%d, ", i + 1);
    }
    ea_buf_printf(&sql, "created_at, updated_at) VALUES (%snow(), now()) RETURNING id", vals.data);
    return ea_stmt_write(sql.data, ea_stmt_params(p, v->n, v->vals));
}

ea_stmt ea_sql_update(apr_pool_t *p, const ea_vresource *vr, const ea_vresult *v, const char *id)
{
    ea_buf sql;
    ea_buf_init(&sql, p, 256);
    ea_buf_printf(&sql, "UPDATE %s SET ", vr->table);
    for (int i = 0; i < v->n; i++)
        ea_buf_printf(&sql, "%s = $%d, ", v->cols[i], i + 1);
    apr_array_header_t *params = ea_stmt_params(p, v->n, v->vals);
    APR_ARRAY_PUSH(params, const char *) = id;
    ea_buf_printf(&sql, "updated_at = now() WHERE id = $%d", params->nelts);
    return ea_stmt_write(sql.data, params);
}

ea_stmt ea_sql_delete(apr_pool_t *p, const ea_vresource *vr, const char *id)
{
    return ea_stmt_write(apr_psprintf(p, "DELETE FROM %s WHERE id = $1", vr->table),
                         ea_stmt_params(p, 1, &id));
}

ea_stmt ea_sql_country_site_count(apr_pool_t *p, const char *id)
{
    return ea_stmt_read("SELECT count(*) FROM core_hydrosite WHERE country_id = $1",
                        ea_stmt_params(p, 1, &id));
}
