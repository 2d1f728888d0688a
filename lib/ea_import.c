/* ea_import: CSV and GeoJSON imports (see ea_import.h). */
#include "ea_import.h"
#include "ea_sql_list.h"
#include "ea_buf.h"
#include "ea_csv.h"
#include "ea_geojson.h"
#include "ea_utf8.h"

#include <apr_strings.h>
#include <json-c/json.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMP_COPY_CHUNK (256 * 1024)

void ea_import_opts_init(ea_import_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dataset_name = "Ressources importées";
    o->dataset_source = "";
    o->resource_type = "solar";
    o->default_metric = "potential_kwh";
    o->target = "country";
    o->name_field = "name";
    o->iso3_field = "iso3";
    o->level = "";
}

int ea_import_resource_type_valid(const char *s)
{
    for (int i = 0; s && ea_resource_type_choices[i]; i++)
        if (strcmp(s, ea_resource_type_choices[i]) == 0)
            return 1;
    return 0;
}

/* ---- header and row rules ------------------------------------------------------- */

static const char *const imp_colnames[EA_NCOLS] = {
    "iso3", "country", "iso2", "metric", "value", "unit", "year", "resource_type"
};

/* Header names are compared with spaces around them removed. */
static int imp_name_eq(const char *h, const char *want, int how)
{
    size_t n = strlen(want);
    while (*h == ' ' || *h == '\t')
        h++;
    size_t hn = strlen(h);
    while (hn > 0 && (h[hn - 1] == ' ' || h[hn - 1] == '\t'))
        hn--;
    if (hn != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char w = want[i];
        if (how == 1 && i == 0)
            w = (char)toupper((unsigned char)w);        /* Capitalised */
        else if (how == 2)
            w = (char)toupper((unsigned char)w);        /* UPPER */
        if (how == 3 ? tolower((unsigned char)h[i]) != w : h[i] != w)
            return 0;
    }
    return 1;
}

void ea_import_map_header(const char *const *names, size_t n, ea_metric_cols *cols)
{
    for (int c = 0; c < EA_NCOLS; c++) {
        int k = 0;
        for (int i = 0; i < EA_COL_ALTS; i++)
            cols->pos[c][i] = -1;
        for (int how = 0; how < 4; how++) {
            for (size_t i = 0; i < n && k < EA_COL_ALTS; i++) {
                int seen = 0;
                for (int j = 0; j < k; j++)
                    if (cols->pos[c][j] == (int)i)
                        seen = 1;
                if (!seen && imp_name_eq(names[i], imp_colnames[c], how))
                    cols->pos[c][k++] = (int)i;
            }
        }
    }
}

/* Python's `row['x'] or row['X'] or ...`: the first non-empty value. */
static const char *imp_get(const ea_metric_cols *cols, int c, const char *const *f, size_t nf)
{
    for (int i = 0; i < EA_COL_ALTS && cols->pos[c][i] >= 0; i++) {
        size_t at = (size_t)cols->pos[c][i];
        if (at < nf && f[at] != NULL && f[at][0] != '\0')
            return f[at];
    }
    return NULL;
}

static int imp_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char *imp_strip(apr_pool_t *p, const char *s)
{
    while (imp_space((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && imp_space((unsigned char)s[n - 1]))
        n--;
    return apr_pstrmemdup(p, s, n);
}

static size_t imp_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* The first k characters of s. */
static char *imp_prefix(apr_pool_t *p, const char *s, size_t k)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < k) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    return apr_pstrmemdup(p, s, i);
}

static void imp_upper_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* A decimal number PostgreSQL's numeric reads the same way: [+-]digits[.digits][e[+-]digits]. */
static int imp_decimal(const char *s)
{
    const char *c = s;
    int digits = 0;
    if (*c == '+' || *c == '-')
        c++;
    while (isdigit((unsigned char)*c))
        c++, digits++;
    if (*c == '.') {
        c++;
        while (isdigit((unsigned char)*c))
            c++, digits++;
    }
    if (!digits)
        return 0;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-')
            c++;
        if (!isdigit((unsigned char)*c))
            return 0;
        while (isdigit((unsigned char)*c))
            c++;
    }
    return *c == '\0';
}

static int imp_why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int imp_why(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

int ea_import_metric_row(const ea_metric_cols *cols, const char *const *f, size_t nf,
                         const ea_import_opts *o, apr_pool_t *p, ea_metric_row *row,
                         char *why, size_t wn)
{
    const char *v;
    char *iso3, *s;
    memset(row, 0, sizeof *row);
    row->year = -1;

    v = imp_get(cols, EA_COL_ISO3, f, nf);
    iso3 = imp_strip(p, v ? v : "");
    imp_upper_ascii(iso3);
    if (*iso3 == '\0')
        return imp_why(why, wn, "iso3 manquant.");
    if (imp_chars(iso3) > 3 || strlen(iso3) > 3)
        return imp_why(why, wn, "iso3 « %s » trop long (3 caractères au plus).", iso3);
    memcpy(row->iso3, iso3, strlen(iso3) + 1);

    v = imp_get(cols, EA_COL_COUNTRY, f, nf);
    row->country = imp_strip(p, v ? v : iso3);
    if (*row->country == '\0')
        row->country = iso3;
    if (imp_chars(row->country) > 128)
        return imp_why(why, wn, "nom de pays trop long (128 caractères au plus).");

    v = imp_get(cols, EA_COL_ISO2, f, nf);
    s = imp_strip(p, v ? v : imp_prefix(p, iso3, 2));
    if (*s == '\0')
        s = imp_prefix(p, iso3, 2);
    imp_upper_ascii(s);
    if (imp_chars(s) > 2)
        return imp_why(why, wn, "iso2 « %s » trop long (2 caractères au plus).", s);
    row->iso2 = s;

    v = imp_get(cols, EA_COL_RTYPE, f, nf);
    if (v != NULL) {
        s = imp_strip(p, v);
        for (char *c = s; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (*s == '\0')
            s = (char *)o->resource_type;
    }
    else {
        s = (char *)o->resource_type;
    }
    if (!ea_import_resource_type_valid(s))
        return imp_why(why, wn, "resource_type « %s » invalide (solar, wind, hydro, biomass ou other).", s);
    row->resource_type = s;

    /* not stripped, as the old command did */
    v = imp_get(cols, EA_COL_METRIC, f, nf);
    row->metric = v ? v : o->default_metric;
    if (imp_chars(row->metric) > 64)
        return imp_why(why, wn, "nom de métrique trop long (64 caractères au plus).");

    v = imp_get(cols, EA_COL_UNIT, f, nf);
    row->unit = v ? v : "";
    if (imp_chars(row->unit) > 32)
        return imp_why(why, wn, "unité trop longue (32 caractères au plus).");

    v = imp_get(cols, EA_COL_YEAR, f, nf);
    if (v != NULL) {
        char *y = imp_strip(p, v), *end;
        long long yy;
        errno = 0;
        yy = strtoll(y, &end, 10);
        if (*y == '\0' || *end != '\0' || errno || !isdigit((unsigned char)*y) || yy < 0
            || yy > 2147483647LL)
            return imp_why(why, wn, "année « %s » invalide (entier positif attendu).", y);
        row->year = (long)yy;
    }

    v = imp_get(cols, EA_COL_VALUE, f, nf);
    s = imp_strip(p, v ? v : "");
    if (!imp_decimal(s))
        return imp_why(why, wn, "Valeur invalide pour %s/%s, ligne ignorée.", row->iso3, row->metric);
    {
        double d = strtod(s, NULL);
        /* numeric(14,4): at most 10 digits before the point once rounded */
        if (!isfinite(d) || fabs(d) >= 9999999999.99995)
            return imp_why(why, wn, "valeur %s hors limites (moins de 10 000 000 000 attendu).", s);
    }
    row->value = s;
    return 0;
}

/* ---- PostgreSQL helpers ------------------------------------------------------------------ */

typedef struct imp_ctx {
    PGconn *pg;
    apr_pool_t *p;
    const ea_import_opts *o;
    ea_import_result *res;
} imp_ctx;

static int imp_fail(imp_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int imp_fail(imp_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->res->message, sizeof x->res->message, fmt, ap);
    va_end(ap);
    if (PQtransactionStatus(x->pg) != PQTRANS_IDLE)
        PQclear(PQexec(x->pg, "ROLLBACK"));
    return -1;
}

static const char *imp_pgerr(imp_ctx *x)
{
    char *m = apr_pstrdup(x->p, PQerrorMessage(x->pg));
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        m[--n] = '\0';
    return m;
}

/* Run sql with text params; 0, or -1 with res->message set and rolled back. */
static int imp_exec(imp_ctx *x, const char *what, const char *sql, int n, const char *const *params,
                    PGresult **out)
{
    PGresult *r = PQexecParams(x->pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *e = imp_pgerr(x);
        PQclear(r);
        return imp_fail(x, "%s: %s", what, e);
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int imp_cancelled(const imp_ctx *x)
{
    return x->o->cancel != NULL && *x->o->cancel;
}

void ea_copy_text(ea_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': ea_buf_put(b, "\\\\", 2); break;
        case '\t': ea_buf_put(b, "\\t", 2); break;
        case '\n': ea_buf_put(b, "\\n", 2); break;
        case '\r': ea_buf_put(b, "\\r", 2); break;
        default: ea_buf_putc(b, *s);
        }
    }
}

void ea_copy_field(ea_buf *b, const char *s, int last)
{
    if (s == NULL)
        ea_buf_put(b, "\\N", 2);
    else
        ea_copy_text(b, s);
    ea_buf_putc(b, last ? '\n' : '\t');
}

int ea_copy_flush(PGconn *pg, ea_buf *b)
{
    if (b->len == 0)
        return 0;
    if (PQputCopyData(pg, b->data, (int)b->len) != 1)
        return -1;
    ea_buf_reset(b);
    return 0;
}

static int imp_copy_end(imp_ctx *x, const char *what, const char *abort_msg)
{
    PGresult *r;
    int rc = 0;
    if (PQputCopyEnd(x->pg, abort_msg) != 1)
        rc = -1;
    while ((r = PQgetResult(x->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = -1;
        PQclear(r);
    }
    if (rc != 0 && abort_msg == NULL)
        return imp_fail(x, "%s: %s", what, imp_pgerr(x));
    return rc;
}

static void imp_report(imp_ctx *x, unsigned long line, const char *reason)
{
    x->res->rejected++;
    if (x->o->report)
        x->o->report(x->o->baton, line, reason);
}

/* Report the lines a query returns (line, reason) as rejected; -1 on error. */
static int imp_report_query(imp_ctx *x, const char *what, const char *sql, int n, const char *const *params,
                            long long *count)
{
    PGresult *r;
    if (imp_exec(x, what, sql, n, params, &r) != 0)
        return -1;
    *count = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        imp_report(x, strtoul(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1));
    PQclear(r);
    return 0;
}

static int imp_abort_rejected(imp_ctx *x)
{
    return imp_fail(x, "Import annulé: %lld ligne%s rejetée%s, aucune donnée écrite "
                       "(--skip-invalid importe les lignes valides).",
                    x->res->rejected, x->res->rejected > 1 ? "s" : "", x->res->rejected > 1 ? "s" : "");
}

/* ---- files ------------------------------------------------------------------------------- */

static const char *imp_suffix(apr_pool_t *p, const char *path)
{
    const char *base = strrchr(path, '/'), *dot;
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base)
        return "";
    char *s = apr_pstrdup(p, dot);
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

/* "~/x" as Path.expanduser does. */
static const char *imp_expand(apr_pool_t *p, const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = getenv("HOME");
        if (home && *home)
            return apr_pstrcat(p, home, path + 1, NULL);
    }
    return path;
}

static int imp_open(imp_ctx *x, const char *path, int *fd, struct stat *st)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return imp_fail(x, "Fichier introuvable: %s", path);
        return imp_fail(x, "Lecture impossible: %s: %s", path, strerror(errno));
    }
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(*fd);
        *fd = -1;
        return imp_fail(x, "Pas un fichier ordinaire: %s", path);
    }
    return 0;
}

static ssize_t imp_fd_read(void *baton, char *buf, size_t len)
{
    return read(*(int *)baton, buf, len);
}

int ea_import_check_file(apr_pool_t *p, const char *path, int geojson, char *msg, size_t n)
{
    const char *suffix;
    path = imp_expand(p, path);
    if (access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        snprintf(msg, n, "Fichier introuvable: %s", path);
        return -1;
    }
    if (geojson)
        return 0;
    suffix = imp_suffix(p, path);
    if (strcmp(suffix, ".csv") != 0 && strcmp(suffix, ".txt") != 0) {
        if (strcmp(suffix, ".xlsx") == 0 || strcmp(suffix, ".xls") == 0)
            snprintf(msg, n, "Extension de fichier non supportée: %s (enregistrez le classeur en CSV UTF-8)", suffix);
        else
            snprintf(msg, n, "Extension de fichier non supportée: %s", suffix);
        return -1;
    }
    return 0;
}

/* ---- import_resources -------------------------------------------------------------------- */

static const char *imp_sql_dataset =
    "INSERT INTO core_energydataset (created_at, updated_at, name, dataset_type, source, description,"
    " file_name, file_checksum, metadata)"
    " VALUES (now(), now(), $1, 'resource', $2, '', '', '', '{}') ON CONFLICT (name) DO NOTHING";

static const char *imp_sql_stage_metric =
    "CREATE TEMP TABLE ea_stage_metric (line bigint NOT NULL, iso3 text NOT NULL, country text NOT NULL,"
    " iso2 text NOT NULL, resource_type text NOT NULL, metric text NOT NULL, value numeric NOT NULL,"
    " unit text NOT NULL, year integer) ON COMMIT DROP";

/* New countries: the first row naming an iso3 gives its name and iso2;
 * existing countries are untouched (get_or_create). */
static const char *imp_sql_countries =
    "INSERT INTO core_country (created_at, updated_at, name, iso2, iso3, population, boundary)"
    " SELECT now(), now(), s.country, s.iso2, s.iso3, NULL, NULL FROM ("
    "   SELECT DISTINCT ON (iso3) iso3, country, iso2 FROM ea_stage_metric ORDER BY iso3, line) s"
    " WHERE NOT EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 = s.iso3)"
    " ORDER BY s.iso3 ON CONFLICT DO NOTHING";

static const char *imp_sql_country_missing =
    "SELECT s.line, format('pays %s impossible à créer: nom « %s » ou iso2 « %s » déjà pris par un autre pays.',"
    " s.iso3, s.country, s.iso2)"
    " FROM ea_stage_metric s WHERE NOT EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 = s.iso3)"
    " ORDER BY s.line";

static const char *imp_sql_drop_missing =
    "DELETE FROM ea_stage_metric s WHERE NOT EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 = s.iso3)";

/* One row per key, the last line winning; year -1 stands for NULL so that
 * NULL years match each other (the unique constraint never would). */
static const char *imp_sql_final =
    "CREATE TEMP TABLE ea_stage_final ON COMMIT DROP AS"
    " SELECT DISTINCT ON (c.id, s.resource_type, s.metric, coalesce(s.year, -1))"
    "   c.id AS country_id, s.resource_type, s.metric, s.value, s.unit, s.year"
    " FROM ea_stage_metric s JOIN core_country c ON c.iso3 = s.iso3"
    " ORDER BY c.id, s.resource_type, s.metric, coalesce(s.year, -1), s.line DESC";

static const char *imp_sql_update =
    "UPDATE core_resourcemetric m SET value = f.value, unit = f.unit, updated_at = now()"
    " FROM ea_stage_final f"
    " WHERE m.dataset_id = $1 AND m.country_id = f.country_id AND m.resource_type = f.resource_type"
    "   AND m.metric = f.metric AND coalesce(m.year, -1) = coalesce(f.year, -1)"
    "   AND (m.value IS DISTINCT FROM f.value::numeric(14,4) OR m.unit IS DISTINCT FROM f.unit)";

static const char *imp_sql_insert =
    "INSERT INTO core_resourcemetric (created_at, updated_at, resource_type, metric, value, unit, year,"
    " country_id, dataset_id, region_id)"
    " SELECT now(), now(), f.resource_type, f.metric, f.value, f.unit, f.year, f.country_id, $1, NULL"
    " FROM ea_stage_final f"
    " WHERE NOT EXISTS (SELECT 1 FROM core_resourcemetric m WHERE m.dataset_id = $1"
    "   AND m.country_id = f.country_id AND m.resource_type = f.resource_type AND m.metric = f.metric"
    "   AND coalesce(m.year, -1) = coalesce(f.year, -1))";

static void imp_progress(imp_ctx *x, unsigned long long done, unsigned long long total,
                         unsigned long long rows)
{
    if (x->o->progress)
        x->o->progress(x->o->baton, done, total, rows);
}

static int imp_resources_rows(imp_ctx *x, ea_csv *csv, unsigned long long total, long long *accepted)
{
    ea_metric_cols cols;
    ea_buf b;
    apr_pool_t *rp;
    char why[512];
    const char **names, **fields;
    size_t nheader;
    ea_csv_status st;
    int missing_iso3 = 1, missing_value = 1;

    /* header */
    do {
        st = ea_csv_next(csv);
        if (st == EA_CSV_BAD || st == EA_CSV_FATAL)
            return imp_fail(x, "En-tête illisible (ligne %lu): %s", ea_csv_error_line(csv), ea_csv_error(csv));
    } while (0);
    if (st == EA_CSV_EOF)
        return imp_fail(x, "Fichier vide: aucune ligne d'en-tête.");
    nheader = ea_csv_nfields(csv);
    names = apr_palloc(x->p, nheader * sizeof *names);
    for (size_t i = 0; i < nheader; i++)
        names[i] = apr_pstrdup(x->p, ea_csv_field(csv, i, NULL));
    ea_import_map_header(names, nheader, &cols);
    missing_iso3 = cols.pos[EA_COL_ISO3][0] < 0;
    missing_value = cols.pos[EA_COL_VALUE][0] < 0;
    if (missing_iso3 || missing_value)
        return imp_fail(x, "Colonne%s obligatoire%s absente%s de l'en-tête (ligne %lu): %s%s%s.",
                        missing_iso3 && missing_value ? "s" : "", missing_iso3 && missing_value ? "s" : "",
                        missing_iso3 && missing_value ? "s" : "", ea_csv_line(csv),
                        missing_iso3 ? "iso3" : "", missing_iso3 && missing_value ? ", " : "",
                        missing_value ? "value" : "");

    ea_buf_init(&b, x->p, IMP_COPY_CHUNK + 4096);
    apr_pool_create(&rp, x->p);
    fields = apr_palloc(x->p, EA_CSV_DEFAULT_MAX_FIELDS * sizeof *fields);
    if (imp_exec(x, "staging", imp_sql_stage_metric, 0, NULL, NULL) != 0)
        return -1;
    PGresult *r = PQexec(x->pg, "COPY ea_stage_metric (line, iso3, country, iso2, resource_type, metric,"
                                " value, unit, year) FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        return imp_fail(x, "COPY: %s", imp_pgerr(x));
    }
    PQclear(r);
    unsigned long rows_since = 0;
    for (;;) {
        st = ea_csv_next(csv);
        if (st == EA_CSV_EOF)
            break;
        if (st == EA_CSV_FATAL) {
            imp_report(x, ea_csv_error_line(csv), ea_csv_error(csv));
            break;
        }
        if (st == EA_CSV_BAD) {
            imp_report(x, ea_csv_error_line(csv), ea_csv_error(csv));
            continue;
        }
        size_t nf = ea_csv_nfields(csv);
        if (nf > nheader) {
            snprintf(why, sizeof why, "%zu champs pour %zu colonnes d'en-tête.", nf, nheader);
            imp_report(x, ea_csv_line(csv), why);
            continue;
        }
        for (size_t i = 0; i < nf; i++)
            fields[i] = ea_csv_field(csv, i, NULL);
        ea_metric_row row;
        if (ea_import_metric_row(&cols, fields, nf, x->o, rp, &row, why, sizeof why) != 0) {
            imp_report(x, ea_csv_line(csv), why);
        }
        else {
            char num[32];
            snprintf(num, sizeof num, "%lu", ea_csv_line(csv));
            ea_copy_field(&b, num, 0);
            ea_copy_field(&b, row.iso3, 0);
            ea_copy_field(&b, row.country, 0);
            ea_copy_field(&b, row.iso2, 0);
            ea_copy_field(&b, row.resource_type, 0);
            ea_copy_field(&b, row.metric, 0);
            ea_copy_field(&b, row.value, 0);
            ea_copy_field(&b, row.unit, 0);
            if (row.year >= 0) {
                snprintf(num, sizeof num, "%ld", row.year);
                ea_copy_field(&b, num, 1);
            }
            else {
                ea_copy_field(&b, NULL, 1);
            }
            (*accepted)++;
        }
        if (++rows_since >= 1024) {
            rows_since = 0;
            apr_pool_clear(rp);
        }
        if (b.len >= IMP_COPY_CHUNK) {
            if (ea_copy_flush(x->pg, &b) != 0)
                break;
            imp_progress(x, ea_csv_offset(csv), total, (unsigned long long)*accepted);
            if (imp_cancelled(x)) {
                imp_copy_end(x, "COPY", "cancelled");
                return imp_fail(x, "Import interrompu (délai dépassé ou arrêt demandé).");
            }
        }
    }
    if (ea_copy_flush(x->pg, &b) != 0 || imp_copy_end(x, "COPY", NULL) != 0) {
        if (x->res->message[0] == '\0')
            return imp_fail(x, "COPY: %s", imp_pgerr(x));
        return -1;
    }
    imp_progress(x, ea_csv_offset(csv), total, (unsigned long long)*accepted);
    apr_pool_destroy(rp);
    if (st == EA_CSV_FATAL)
        return imp_fail(x, "Fichier illisible à partir de la ligne %lu: %s; aucune donnée écrite.",
                        ea_csv_error_line(csv), ea_csv_error(csv));
    return 0;
}

int ea_import_resources(PGconn *pg, apr_pool_t *p, const char *path, const ea_import_opts *o,
                        ea_import_result *res)
{
    imp_ctx x = {pg, p, o, res};
    struct stat st;
    int fd;
    long long accepted = 0, missing = 0;
    const char *dsid;
    PGresult *r;

    memset(res, 0, sizeof *res);
    if (ea_import_check_file(p, path, 0, res->message, sizeof res->message) != 0)
        return -1;
    path = imp_expand(p, path);
    if (!ea_import_resource_type_valid(o->resource_type))
        return imp_fail(&x, "--resource-type « %s » invalide (solar, wind, hydro, biomass ou other).",
                        o->resource_type ? o->resource_type : "");
    if (o->dataset_name == NULL || *o->dataset_name == '\0' || imp_chars(o->dataset_name) > 128)
        return imp_fail(&x, "--dataset-name doit compter de 1 à 128 caractères.");
    if (o->dataset_source && imp_chars(o->dataset_source) > 256)
        return imp_fail(&x, "--dataset-source doit compter 256 caractères au plus.");
    if (o->default_metric == NULL || *o->default_metric == '\0' || imp_chars(o->default_metric) > 64)
        return imp_fail(&x, "--default-metric doit compter de 1 à 64 caractères.");
    if (imp_open(&x, path, &fd, &st) != 0)
        return -1;

    ea_csv *csv = ea_csv_open(imp_fd_read, &fd, o->max_record, 0);
    if (csv == NULL) {
        close(fd);
        return imp_fail(&x, "mémoire insuffisante");
    }
    int rc = -1;
    if (imp_exec(&x, "BEGIN", "BEGIN", 0, NULL, NULL) != 0)
        goto out;
    if (imp_exec(&x, "settings", "SET LOCAL work_mem = '256MB'", 0, NULL, NULL) != 0)
        goto out;
    if (imp_resources_rows(&x, csv, (unsigned long long)st.st_size, &accepted) != 0)
        goto out;
    if (res->rejected > 0 && !o->skip_invalid) {
        imp_abort_rejected(&x);
        goto out;
    }
    /* the dataset (get_or_create: an existing one is kept as it is), locked
     * so that two imports into it do not interleave their upserts */
    {
        const char *params[] = {o->dataset_name, o->dataset_source ? o->dataset_source : ""};
        if (imp_exec(&x, "dataset", imp_sql_dataset, 2, params, NULL) != 0)
            goto out;
        if (imp_exec(&x, "dataset", "SELECT id FROM core_energydataset WHERE name = $1 FOR UPDATE", 1, params, &r) != 0)
            goto out;
        dsid = PQntuples(r) == 1 ? apr_pstrdup(p, PQgetvalue(r, 0, 0)) : NULL;
        PQclear(r);
        if (dsid == NULL) {
            imp_fail(&x, "dataset: « %s » introuvable après sa création", o->dataset_name);
            goto out;
        }
    }
    if (imp_exec(&x, "pays", imp_sql_countries, 0, NULL, NULL) != 0)
        goto out;
    if (imp_report_query(&x, "pays", imp_sql_country_missing, 0, NULL, &missing) != 0)
        goto out;
    if (missing > 0) {
        if (!o->skip_invalid) {
            imp_abort_rejected(&x);
            goto out;
        }
        accepted -= missing;
        if (imp_exec(&x, "pays", imp_sql_drop_missing, 0, NULL, NULL) != 0)
            goto out;
    }
    if (imp_cancelled(&x)) {
        imp_fail(&x, "Import interrompu (délai dépassé ou arrêt demandé).");
        goto out;
    }
    if (imp_exec(&x, "déduplication", imp_sql_final, 0, NULL, NULL) != 0
        || imp_exec(&x, "analyse", "ANALYZE ea_stage_final", 0, NULL, NULL) != 0)
        goto out;
    {
        const char *params[] = {dsid};
        if (imp_exec(&x, "mise à jour des métriques", imp_sql_update, 1, params, NULL) != 0
            || imp_exec(&x, "ajout des métriques", imp_sql_insert, 1, params, NULL) != 0)
            goto out;
    }
    if (imp_cancelled(&x)) {
        imp_fail(&x, "Import interrompu (délai dépassé ou arrêt demandé).");
        goto out;
    }
    if (imp_exec(&x, "COMMIT", "COMMIT", 0, NULL, NULL) != 0)
        goto out;
    res->imported = accepted;
    snprintf(res->message, sizeof res->message, "%lld métriques importées vers %s.", accepted, o->dataset_name);
    rc = 0;
out:
    if (rc != 0 && PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, "ROLLBACK"));
    ea_csv_close(csv);
    close(fd);
    return rc;
}

/* ---- import_geojson ------------------------------------------------------------------------ */

static const char *gj_first(const ea_geojson_feature *f, const char *a, const char *b, const char *c,
                            const char *d)
{
    const char *v = ea_geojson_prop(f, a);
    if (v == NULL && b)
        v = ea_geojson_prop(f, b);
    if (v == NULL && c)
        v = ea_geojson_prop(f, c);
    if (v == NULL && d)
        v = ea_geojson_prop(f, d);
    return v;
}

static int imp_read_all(imp_ctx *x, const char *path, char **data, size_t *len)
{
    struct stat st;
    int fd;
    if (imp_open(x, path, &fd, &st) != 0)
        return -1;
    if ((unsigned long long)st.st_size > EA_GEOJSON_MAX_BYTES) {
        close(fd);
        return imp_fail(x, "Fichier trop volumineux: %s (plus de %u octets).", path, EA_GEOJSON_MAX_BYTES);
    }
    *data = malloc((size_t)st.st_size + 1);
    if (*data == NULL) {
        close(fd);
        return imp_fail(x, "mémoire insuffisante");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, *data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    (*data)[got] = '\0';
    *len = got;
    return 0;
}

static const char *imp_sql_stage_country =
    "CREATE TEMP TABLE ea_stage_geo (line bigint NOT NULL, iso3 text NOT NULL, name text NOT NULL,"
    " iso2 text NOT NULL, boundary jsonb) ON COMMIT DROP";

/* A name or iso2 that another country (or another feature) already uses. */
static const char *imp_sql_country_clash =
    "SELECT s.line, format('%s: nom « %s » ou iso2 « %s » déjà pris par un autre pays.', s.iso3, s.name, s.iso2)"
    " FROM ea_stage_geo s"
    " WHERE EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 <> s.iso3 AND (c.name = s.name OR c.iso2 = s.iso2))"
    "    OR EXISTS (SELECT 1 FROM ea_stage_geo o WHERE o.iso3 <> s.iso3 AND (o.name = s.name OR o.iso2 = s.iso2))"
    " ORDER BY s.line";

static const char *imp_sql_drop_clash =
    "DELETE FROM ea_stage_geo s"
    " WHERE EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 <> s.iso3 AND (c.name = s.name OR c.iso2 = s.iso2))"
    "    OR EXISTS (SELECT 1 FROM ea_stage_geo o WHERE o.iso3 <> s.iso3 AND (o.name = s.name OR o.iso2 = s.iso2))";

/* update_or_create by iso3, the last feature winning */
static const char *imp_sql_upsert_country =
    "INSERT INTO core_country AS c (created_at, updated_at, name, iso2, iso3, population, boundary)"
    " SELECT now(), now(), name, iso2, iso3, NULL, boundary FROM ("
    "   SELECT DISTINCT ON (iso3) * FROM ea_stage_geo ORDER BY iso3, line DESC) s ORDER BY iso3"
    " ON CONFLICT (iso3) DO UPDATE SET name = excluded.name, iso2 = excluded.iso2,"
    "   boundary = excluded.boundary, updated_at = now()";

static const char *imp_sql_stage_region =
    "CREATE TEMP TABLE ea_stage_geo (line bigint NOT NULL, country_iso3 text NOT NULL, name text NOT NULL,"
    " level text NOT NULL, boundary jsonb) ON COMMIT DROP";

static const char *imp_sql_region_missing =
    "SELECT s.line, format('Pays %s introuvable, région ignorée.', s.country_iso3) FROM ea_stage_geo s"
    " WHERE NOT EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 = s.country_iso3) ORDER BY s.line";

static const char *imp_sql_region_drop =
    "DELETE FROM ea_stage_geo s WHERE NOT EXISTS (SELECT 1 FROM core_country c WHERE c.iso3 = s.country_iso3)";

static const char *imp_sql_upsert_region =
    "INSERT INTO core_region AS r (created_at, updated_at, name, level, boundary, country_id)"
    " SELECT now(), now(), s.name, s.level, s.boundary, c.id FROM ("
    "   SELECT DISTINCT ON (country_iso3, name) * FROM ea_stage_geo ORDER BY country_iso3, name, line DESC) s"
    " JOIN core_country c ON c.iso3 = s.country_iso3 ORDER BY c.id, s.name"
    " ON CONFLICT (country_id, name) DO UPDATE SET boundary = excluded.boundary, level = excluded.level,"
    "   updated_at = now()";

/* One feature's row for the staging table; 0, or -1 with why. */
static int gj_row(imp_ctx *x, const ea_geojson_feature *f, int region, ea_buf *b, char *why, size_t wn)
{
    const ea_import_opts *o = x->o;
    char num[32];
    snprintf(num, sizeof num, "%zu", f->index);
    if (f->error)
        return imp_why(why, wn, "%s", f->error);
    if (!region) {
        const char *v = gj_first(f, o->iso3_field, "iso_a3", "ISO_A3", NULL);
        char *iso3 = imp_strip(x->p, v ? v : "");
        imp_upper_ascii(iso3);
        if (*iso3 == '\0')
            return imp_why(why, wn, "iso3 manquant (propriété %s, iso_a3 ou ISO_A3).", o->iso3_field);
        if (imp_chars(iso3) > 3 || strlen(iso3) > 3)
            return imp_why(why, wn, "iso3 « %s » trop long (3 caractères au plus).", iso3);
        const char *name = gj_first(f, o->name_field, "name", "NAME", NULL);
        if (name == NULL)
            name = iso3;
        if (imp_chars(name) > 128)
            return imp_why(why, wn, "nom trop long (128 caractères au plus).");
        /* D13 (docs/decisions.md): an iso2 property is read (then iso_a2, else iso3[:2]) */
        const char *v2 = gj_first(f, "iso2", "ISO2", "iso_a2", "ISO_A2");
        char *iso2 = imp_strip(x->p, v2 ? v2 : imp_prefix(x->p, iso3, 2));
        imp_upper_ascii(iso2);
        if (*iso2 == '\0' || imp_chars(iso2) > 2)
            return imp_why(why, wn, "iso2 « %s » invalide (2 caractères au plus).", iso2);
        ea_copy_field(b, num, 0);
        ea_copy_field(b, iso3, 0);
        ea_copy_field(b, name, 0);
        ea_copy_field(b, iso2, 0);
        ea_copy_field(b, f->geometry, 1);
        return 0;
    }
    const char *ci = ea_geojson_prop(f, "country_iso3");
    char *iso3 = imp_strip(x->p, ci ? ci : (o->country_iso3 ? o->country_iso3 : ""));
    imp_upper_ascii(iso3);
    if (*iso3 == '\0')
        return imp_why(why, wn, "pays manquant (propriété country_iso3 ou --country-iso3).");
    const char *name = gj_first(f, o->name_field, "name", "NAME", NULL);
    if (name == NULL)
        return imp_why(why, wn, "nom manquant (propriété %s, name ou NAME).", o->name_field);
    if (imp_chars(name) > 128)
        return imp_why(why, wn, "nom trop long (128 caractères au plus).");
    const char *level = o->level && *o->level ? o->level : ea_geojson_prop(f, "level");
    if (level == NULL)
        level = "";
    if (imp_chars(level) > 64)
        return imp_why(why, wn, "niveau trop long (64 caractères au plus).");
    ea_copy_field(b, num, 0);
    ea_copy_field(b, iso3, 0);
    ea_copy_field(b, name, 0);
    ea_copy_field(b, level, 0);
    ea_copy_field(b, f->geometry, 1);
    return 0;
}

int ea_import_geojson(PGconn *pg, apr_pool_t *p, const char *path, const ea_import_opts *o,
                      ea_import_result *res)
{
    imp_ctx x = {pg, p, o, res};
    char *data = NULL, err[512], why[512];
    size_t len = 0;
    ea_geojson *g = NULL;
    long long accepted = 0, dropped = 0;
    int region, rc = -1;
    ea_buf b;

    memset(res, 0, sizeof *res);
    if (ea_import_check_file(p, path, 1, res->message, sizeof res->message) != 0)
        return -1;
    path = imp_expand(p, path);
    region = o->target && strcmp(o->target, "region") == 0;
    if (o->target && !region && strcmp(o->target, "country") != 0)
        return imp_fail(&x, "--target « %s » invalide (country ou region).", o->target);
    if (o->level && imp_chars(o->level) > 64)
        return imp_fail(&x, "--level doit compter 64 caractères au plus.");
    if (imp_read_all(&x, path, &data, &len) != 0)
        return -1;
    if (ea_geojson_parse(data, len, NULL, &g, err, sizeof err) != 0) {
        free(data);
        return imp_fail(&x, "GeoJSON illisible: %s", err);
    }
    free(data);
    if (g->nfeatures == 0) {
        ea_geojson_free(g);
        return imp_fail(&x, "Aucune entité trouvée dans le GeoJSON.");
    }
    ea_buf_init(&b, p, IMP_COPY_CHUNK + 4096);
    if (imp_exec(&x, "BEGIN", "BEGIN", 0, NULL, NULL) != 0
        || imp_exec(&x, "staging", region ? imp_sql_stage_region : imp_sql_stage_country, 0, NULL, NULL) != 0)
        goto out;
    {
        PGresult *r = PQexec(pg, region ? "COPY ea_stage_geo (line, country_iso3, name, level, boundary) FROM STDIN"
                                        : "COPY ea_stage_geo (line, iso3, name, iso2, boundary) FROM STDIN");
        if (PQresultStatus(r) != PGRES_COPY_IN) {
            PQclear(r);
            imp_fail(&x, "COPY: %s", imp_pgerr(&x));
            goto out;
        }
        PQclear(r);
    }
    for (size_t i = 0; i < g->nfeatures; i++) {
        if (gj_row(&x, &g->features[i], region, &b, why, sizeof why) != 0)
            imp_report(&x, g->features[i].index, why);
        else
            accepted++;
        if (b.len >= IMP_COPY_CHUNK && ea_copy_flush(x.pg, &b) != 0)
            break;
        if ((i & 1023) == 0)
            imp_progress(&x, i + 1, g->nfeatures, (unsigned long long)accepted);
        if (imp_cancelled(&x)) {
            imp_copy_end(&x, "COPY", "cancelled");
            imp_fail(&x, "Import interrompu (délai dépassé ou arrêt demandé).");
            goto out;
        }
    }
    if (ea_copy_flush(x.pg, &b) != 0 || imp_copy_end(&x, "COPY", NULL) != 0) {
        if (res->message[0] == '\0')
            imp_fail(&x, "COPY: %s", imp_pgerr(&x));
        goto out;
    }
    imp_progress(&x, g->nfeatures, g->nfeatures, (unsigned long long)accepted);
    if (res->rejected > 0 && !o->skip_invalid) {
        imp_abort_rejected(&x);
        goto out;
    }
    if (imp_report_query(&x, "contrôle", region ? imp_sql_region_missing : imp_sql_country_clash, 0, NULL,
                         &dropped) != 0)
        goto out;
    if (dropped > 0) {
        if (!o->skip_invalid) {
            imp_abort_rejected(&x);
            goto out;
        }
        accepted -= dropped;
        if (imp_exec(&x, "contrôle", region ? imp_sql_region_drop : imp_sql_drop_clash, 0, NULL, NULL) != 0)
            goto out;
    }
    if (imp_exec(&x, "enregistrement", region ? imp_sql_upsert_region : imp_sql_upsert_country, 0, NULL, NULL) != 0
        || imp_exec(&x, "COMMIT", "COMMIT", 0, NULL, NULL) != 0)
        goto out;
    res->imported = accepted;
    snprintf(res->message, sizeof res->message, "%lld géométries importées.", accepted);
    rc = 0;
out:
    if (rc != 0 && PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, "ROLLBACK"));
    ea_geojson_free(g);
    return rc;
}
