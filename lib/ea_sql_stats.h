/* ea_sql_stats: the statements of the list-level actions, the statistics
 * and the exports (docs/decisions.md §2.2, §2.7; mod_ecoatlas/
 * ea_handle_actions.c and ea_handle_export.c run them).  Sums come from
 * the trigger-kept group tables (g) whenever the set allows it
 * (q->by_groups), from the rows (t) otherwise.  All are reads. */
#ifndef EA_SQL_STATS_H
#define EA_SQL_STATS_H

#include "ea_sql_list.h"
#include "ea_stmt.h"

/* /hydro-sites/summary/: (count, storage, turbine) of the set, and its
 * five countries with the most sites (iso3, name, count). */
ea_stmt ea_sql_summary_totals(ea_listq *q);
ea_stmt ea_sql_summary_top(ea_listq *q);

/* /resource-metrics/timeseries/: (year, total, n) per year.  Adds the
 * view's own conditions to q: a year, and iso3 (quirk A.5: iexact on the
 * raw parameter) when non-empty. */
ea_stmt ea_sql_timeseries(ea_listq *q, const char *iso3);

/* /climate-series/timeline/: five series of variable (and iso3 when
 * non-empty) with at most limit points each. */
ea_stmt ea_sql_timeline(ea_listq *q, const char *variable, const char *iso3, long long limit);

/* /stats/: the top five countries by sites, the totals per resource type,
 * the number of datasets. */
ea_stmt ea_sql_stats_top(void);
ea_stmt ea_sql_stats_resources(void);
ea_stmt ea_sql_stats_datasets(void);

/* stats/by_country/: the country of iso3 (iexact, first by name), then the
 * site totals and the totals per resource type of country id. */
ea_stmt ea_sql_country_by_iso3(apr_pool_t *p, const char *iso3);
ea_stmt ea_sql_country_sites(apr_pool_t *p, const char *id);
ea_stmt ea_sql_country_resources(apr_pool_t *p, const char *id);

/* The CSV exports' rows, in the set's order (columns as the CSV header). */
ea_stmt ea_sql_export_sites(ea_listq *q);
ea_stmt ea_sql_export_metrics(ea_listq *q);

/* The PDF export: the totals per resource type (the chart), and the rows
 * (iso3, type, metric, value, unit, year) in the set's order. */
ea_stmt ea_sql_export_pdf_totals(ea_listq *q);
ea_stmt ea_sql_export_pdf_rows(ea_listq *q);

#endif
