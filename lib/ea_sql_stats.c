/* ea_sql_stats: statements of the actions, statistics and exports
 * (lib/ea_sql_stats.h). */
#include "ea_sql_stats.h"

#include <apr_strings.h>

static apr_array_header_t *one_param(apr_pool_t *p, const char *v)
{
    return ea_stmt_params(p, 1, &v);
}

/* " AND " between conditions already there and the next one. */
static void and(ea_buf *w)
{
    if (w->len)
        ea_buf_puts(w, " AND ");
}

ea_stmt ea_sql_summary_totals(ea_listq *q)
{
    int g = q->by_groups;
    const char *w = ea_listq_where(q, g);
    return ea_stmt_read(g
        ? apr_pstrcat(q->pool, "SELECT coalesce(sum(g.n), 0), coalesce(sum(g.storage), 0),"
                      " coalesce(sum(g.turbine), 0) FROM ecoatlas_hydrosite_count g", w, NULL)
        : apr_pstrcat(q->pool, "SELECT count(*), coalesce(sum(t.storage_capacity_mwh), 0),"
                      " coalesce(sum(t.turbine_capacity_mw), 0) FROM core_hydrosite t", w, NULL),
        q->params);
}

ea_stmt ea_sql_summary_top(ea_listq *q)
{
    int g = q->by_groups;
    const char *w = ea_listq_where(q, g);
    return ea_stmt_read(g
        ? apr_pstrcat(q->pool, "SELECT c.iso3, c.name, sum(g.n) AS k FROM ecoatlas_hydrosite_count g"
                      " JOIN core_country c ON c.id = g.country_id", w,
                      " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5", NULL)
        : apr_pstrcat(q->pool, "SELECT c.iso3, c.name, count(*) AS k FROM core_hydrosite t"
                      " JOIN core_country c ON c.id = t.country_id", w,
                      " GROUP BY c.iso3, c.name ORDER BY k DESC, c.iso3 LIMIT 5", NULL),
        q->params);
}

ea_stmt ea_sql_timeseries(ea_listq *q, const char *iso3)
{
    int g = q->by_groups;
    ea_buf *w = g ? &q->group_where : &q->where;
    and(w);
    ea_buf_puts(w, g ? "g.year >= 0" : "t.year IS NOT NULL");
    if (iso3 && *iso3) {
        int n = ea_listq_param(q, iso3);
        ea_buf_printf(w, " AND %s.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($%d))",
                      g ? "g" : "t", n);
    }
    return ea_stmt_read(g
        ? apr_pstrcat(q->pool, "SELECT g.year, sum(g.total), sum(g.n) FROM ecoatlas_resourcemetric_count g",
                      ea_listq_where(q, 1), " GROUP BY g.year ORDER BY g.year", NULL)
        : apr_pstrcat(q->pool, "SELECT t.year, sum(t.value), count(*) FROM core_resourcemetric t",
                      ea_listq_where(q, 0), " GROUP BY t.year ORDER BY t.year", NULL),
        q->params);
}

ea_stmt ea_sql_timeline(ea_listq *q, const char *variable, const char *iso3, long long limit)
{
    ea_buf *w = &q->where;
    and(w);
    ea_buf_printf(w, "t.variable = $%d", ea_listq_param(q, variable));
    if (iso3 && *iso3)
        ea_buf_printf(w, " AND t.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($%d))",
                      ea_listq_param(q, iso3));
    int lim = ea_listq_param(q, apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)limit));
    return ea_stmt_read(apr_pstrcat(q->pool,
        "SELECT t.id, c.iso3, t.variable, t.unit, t.site_id,"
        " CASE WHEN jsonb_typeof(t.series) = 'array' THEN coalesce((SELECT jsonb_agg(e ORDER BY i)"
        " FROM jsonb_array_elements(t.series) WITH ORDINALITY AS x(e, i)",
        apr_psprintf(q->pool, " WHERE i <= $%d::bigint), '[]'::jsonb) ELSE '[]'::jsonb END", lim),
        " FROM core_climateseries t JOIN core_country c ON c.id = t.country_id",
        ea_listq_where(q, 0), " ORDER BY ", q->order_by, " LIMIT 5", NULL), q->params);
}

ea_stmt ea_sql_stats_top(void)
{
    return ea_stmt_read(
        "SELECT c.iso3, c.name, coalesce((SELECT sum(g.n) FROM ecoatlas_hydrosite_count g"
        " WHERE g.country_id = c.id), 0) AS k FROM core_country c"
        " ORDER BY k DESC, c.name, c.id LIMIT 5", NULL);
}

ea_stmt ea_sql_stats_resources(void)
{
    return ea_stmt_read(
        "SELECT resource_type, sum(total), sum(n) FROM ecoatlas_resourcemetric_count"
        " GROUP BY resource_type ORDER BY resource_type", NULL);
}

ea_stmt ea_sql_stats_datasets(void)
{
    return ea_stmt_read(
        "SELECT coalesce((SELECT n FROM ecoatlas_rowcount WHERE tbl = 'core_energydataset'), 0)", NULL);
}

ea_stmt ea_sql_country_by_iso3(apr_pool_t *p, const char *iso3)
{
    return ea_stmt_read("SELECT id, name FROM core_country WHERE upper(iso3) = upper($1)"
                        " ORDER BY name, id LIMIT 1", one_param(p, iso3));
}

ea_stmt ea_sql_country_sites(apr_pool_t *p, const char *id)
{
    return ea_stmt_read("SELECT coalesce(sum(n), 0), coalesce(sum(storage), 0),"
                        " coalesce(sum(turbine), 0) FROM ecoatlas_hydrosite_count"
                        " WHERE country_id = $1", one_param(p, id));
}

ea_stmt ea_sql_country_resources(apr_pool_t *p, const char *id)
{
    return ea_stmt_read("SELECT resource_type, sum(total), sum(n)"
                        " FROM ecoatlas_resourcemetric_count WHERE country_id = $1"
                        " GROUP BY resource_type ORDER BY resource_type", one_param(p, id));
}

static ea_stmt export_rows(ea_listq *q, const char *columns)
{
    return ea_stmt_read(apr_pstrcat(q->pool, "SELECT ", columns, " FROM ", q->res->from_sql,
                                    ea_listq_where(q, 0), " ORDER BY ", q->order_by, NULL),
                        q->params);
}

ea_stmt ea_sql_export_sites(ea_listq *q)
{
    return export_rows(q,
        "t.id, t.name, c.iso3, coalesce(r.name, ''), t.latitude, t.longitude, t.head_m,"
        " t.storage_capacity_mwh, t.turbine_capacity_mw, t.status");
}

ea_stmt ea_sql_export_metrics(ea_listq *q)
{
    return export_rows(q, "c.iso3, t.resource_type, t.metric, t.value, t.unit, t.year");
}

ea_stmt ea_sql_export_pdf_totals(ea_listq *q)
{
    return ea_stmt_read(q->by_groups
        ? apr_pstrcat(q->pool, "SELECT g.resource_type, sum(g.total) FROM ecoatlas_resourcemetric_count g",
                      ea_listq_where(q, 1), " GROUP BY g.resource_type ORDER BY g.resource_type", NULL)
        : apr_pstrcat(q->pool, "SELECT t.resource_type, sum(t.value) FROM core_resourcemetric t",
                      ea_listq_where(q, 0), " GROUP BY t.resource_type ORDER BY t.resource_type", NULL),
        q->params);
}

ea_stmt ea_sql_export_pdf_rows(ea_listq *q)
{
    return export_rows(q, "c.iso3, t.resource_type, t.metric, t.value, t.unit, t.year");
}
