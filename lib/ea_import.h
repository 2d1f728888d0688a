/* ea_import: import_resources (CSV) and import_geojson, the successors of
 * the Django management commands (docs/decisions.md §6 with decision D13).
 * Shared by the CLI and the worker's import tasks.
 *
 * One file is one transaction: rows are checked here (each rejected row is
 * reported with its line and reason), COPYed into a temporary staging
 * table, then upserted set-wise.  Any rejected row rolls the whole file
 * back unless skip_invalid is set.  The upsert of metrics matches on
 * (dataset, country, resource_type, metric, year) like the constraint
 * unique_metric_per_scope, with a NULL year matching a NULL year (SQL's
 * NULLs would never conflict).  Statement-level triggers (counts, cache
 * NOTIFY) fire for the INSERT and UPDATE statements as for any write. */
#ifndef EA_IMPORT_H
#define EA_IMPORT_H

#include "ea_buf.h"

#include <apr_pools.h>
#include <libpq-fe.h>
#include <stddef.h>

/* A rejected row: line (CSV) or feature number (GeoJSON, 1-based). */
typedef void (*ea_import_report_fn)(void *baton, unsigned long line, const char *reason);
/* Bytes read of total so far, and rows accepted. */
typedef void (*ea_import_progress_fn)(void *baton, unsigned long long done,
                                      unsigned long long total, unsigned long long rows);

typedef struct ea_import_opts {
    /* import_resources */
    const char *dataset_name;       /* default "Ressources importées" */
    const char *dataset_source;     /* default "" */
    const char *resource_type;      /* default "solar"; a resource_type column wins per row */
    const char *default_metric;     /* default "potential_kwh" */
    /* import_geojson */
    const char *target;             /* "country" (default) or "region" */
    const char *country_iso3;       /* regions: the country when the feature has no country_iso3 */
    const char *name_field;         /* default "name" */
    const char *iso3_field;         /* default "iso3" */
    const char *level;              /* regions: default "" (then the "level" property) */
    /* both */
    int skip_invalid;               /* import the valid rows, report the others */
    size_t max_record;              /* CSV: largest record in bytes (0: 1 MiB) */
    ea_import_report_fn report;
    ea_import_progress_fn progress;
    void *baton;
    volatile int *cancel;           /* set (e.g. by a time limit): stop and roll back */
} ea_import_opts;

void ea_import_opts_init(ea_import_opts *o);

typedef struct ea_import_result {
    long long imported;             /* rows written (created or updated) */
    long long rejected;             /* rows reported */
    char message[1024];             /* success line, or the error */
} ea_import_result;

/* 0: imported (message "N métriques importées vers DATASET."); -1: nothing
 * written (message says why).  pg must be idle (no open transaction). */
int ea_import_resources(PGconn *pg, apr_pool_t *p, const char *path, const ea_import_opts *o,
                        ea_import_result *res);
int ea_import_geojson(PGconn *pg, apr_pool_t *p, const char *path, const ea_import_opts *o,
                      ea_import_result *res);

/* The checks that need no database: the file exists, and (CSV) its
 * extension is .csv or .txt.  0, or -1 with the message in msg. */
int ea_import_check_file(apr_pool_t *p, const char *path, int geojson, char *msg, size_t msglen);

/* ---- row rules, exposed for the unit tests ----------------------------------- */

enum { EA_COL_ISO3, EA_COL_COUNTRY, EA_COL_ISO2, EA_COL_METRIC, EA_COL_VALUE, EA_COL_UNIT,
       EA_COL_YEAR, EA_COL_RTYPE, EA_NCOLS };
#define EA_COL_ALTS 4

/* For each logical column, the header positions that may hold it, best
 * first (exact lower-case name, Capitalised, UPPER, any other case); -1
 * ends the list. */
typedef struct ea_metric_cols {
    int pos[EA_NCOLS][EA_COL_ALTS];
} ea_metric_cols;

void ea_import_map_header(const char *const *names, size_t n, ea_metric_cols *cols);

typedef struct ea_metric_row {
    char iso3[4];
    const char *country;
    const char *iso2;
    const char *resource_type;
    const char *metric;
    const char *value;              /* trimmed decimal text */
    const char *unit;
    long year;                      /* -1: NULL */
} ea_metric_row;

/* Apply the contract's rules to one record; 0, or -1 with the reason (in
 * French) in why.  Strings point into fields or into p. */
int ea_import_metric_row(const ea_metric_cols *cols, const char *const *fields, size_t nfields,
                         const ea_import_opts *o, apr_pool_t *p, ea_metric_row *row,
                         char *why, size_t whylen);

/* 1 when s is one of solar wind hydro biomass other. */
int ea_import_resource_type_valid(const char *s);

/* ---- COPY text format (PostgreSQL), for the imports and `ecoatlas
 * generate-sample` ---- */

/* s with backslash, tab, newline and CR escaped. */
void ea_copy_text(ea_buf *b, const char *s);
/* One field: s as ea_copy_text (NULL as \N), then a tab, or a newline when
 * last. */
void ea_copy_field(ea_buf *b, const char *s, int last);
/* Send b's bytes (PQputCopyData) and empty b: 0, or -1. */
int ea_copy_flush(PGconn *pg, ea_buf *b);

#endif
