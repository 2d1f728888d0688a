/* ea_sql_list: resource tables, filters and SQL building (see ea_sql_list.h). */
#include "ea_sql_list.h"
#include "ea_json.h"
#include "ea_params.h"

#include <apr_strings.h>
#include <string.h>

/* Timestamps as PostgreSQL prints them in our UTC, ISO-DateStyle sessions
 * (cheaper than to_char); ea_json_datetime gives them DRF's form. */
#define TS(col) col

#define COUNTRY_BY_ISO3 "(SELECT id FROM core_country WHERE iso3 = ?)"
#define REGIONS_BY_NAME "ANY (ARRAY(SELECT id FROM core_region WHERE name = ?))"
/* ... and the same looked up first (ea_filter.ref_sql) */
#define COUNTRY_IDS "SELECT id FROM core_country WHERE iso3 = $1 ORDER BY id"
#define REGION_IDS "SELECT id FROM core_region WHERE name = $1 ORDER BY id"
#define NO_REF NULL, NULL, NULL

/* The models' choices (docs/decisions.md §1), shared with validation and imports. */
const char *const ea_status_choices[] = {
    "identified", "study", "construction", "operational", NULL };
const char *const ea_resource_type_choices[] = {
    "solar", "wind", "hydro", "biomass", "other", NULL };
const char *const ea_dataset_type_choices[] = {
    "resource", "climate", "phes", NULL };

/* ---- Country ----------------------------------------------------------- */
static const ea_field country_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "name", EA_F_STR, "t.name" },
    { "iso2", EA_F_STR, "t.iso2" },
    { "iso3", EA_F_STR, "t.iso3" },
    { "population", EA_F_INT, "t.population" },
    { "boundary", EA_F_JSON, "t.boundary" },
    /* D2: true distinct counts, not the old double-join product */
    { "region_count", EA_F_INT, "(SELECT count(*) FROM core_region x WHERE x.country_id = t.id)" },
    { "site_count", EA_F_INT,
      "(SELECT coalesce(sum(g.n), 0) FROM ecoatlas_hydrosite_count g WHERE g.country_id = t.id)" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
};
static const ea_filter country_filters[] = {
    { "iso2", EA_FILT_STR, "t.iso2 = ?", NULL, NULL, NULL, NO_REF },
    { "iso3", EA_FILT_STR, "t.iso3 = ?", NULL, NULL, NULL, NO_REF },
};
static const char *const country_search[] = { "t.name::text", NULL };
static const ea_order country_orderings[] = {
    { "name", "t.name" }, { "population", "t.population" }, { "created_at", "t.created_at" },
};

/* ---- Region ------------------------------------------------------------ */
static const ea_field region_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "country", EA_F_INT, "t.country_id" },
    { "country_name", EA_F_STR, "c.name" },
    { "name", EA_F_STR, "t.name" },
    { "level", EA_F_STR, "t.level" },
    { "boundary", EA_F_JSON, "t.boundary" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
};
static const ea_filter region_filters[] = {
    { "country__iso3", EA_FILT_STR, "t.country_id = " COUNTRY_BY_ISO3, NULL, NULL, NULL,
      COUNTRY_IDS, "t.country_id", NULL },
    { "level", EA_FILT_STR, "t.level = ?", NULL, NULL, NULL, NO_REF },
};
static const char *const region_search[] = { "t.name::text", NULL };
static const ea_order region_orderings[] = {
    { "name", "t.name" }, { "country__name", "c.name" },
};

/* ---- EnergyDataset ------------------------------------------------------ */
static const ea_field dataset_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
    { "name", EA_F_STR, "t.name" },
    { "dataset_type", EA_F_STR, "t.dataset_type" },
    { "source", EA_F_STR, "t.source" },
    { "description", EA_F_STR, "t.description" },
    { "file_name", EA_F_STR, "t.file_name" },
    { "file_checksum", EA_F_STR, "t.file_checksum" },
    { "metadata", EA_F_JSON, "t.metadata" },
};
static const ea_filter dataset_filters[] = {
    { "dataset_type", EA_FILT_CHOICE, "t.dataset_type = ?", NULL, ea_dataset_type_choices, NULL, NO_REF },
};
static const char *const dataset_search[] = { "t.name::text", "t.source::text", NULL };
static const ea_order dataset_orderings[] = {
    { "name", "t.name" }, { "created_at", "t.created_at" },
};

/* ---- HydroSite ---------------------------------------------------------- */
static const ea_field site_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "name", EA_F_STR, "t.name" },
    { "country", EA_F_INT, "t.country_id" },
    { "country_name", EA_F_STR, "c.name" },
    { "region", EA_F_INT, "t.region_id" },
    { "region_name", EA_F_STR, "r.name" },   /* D3: present, null without region */
    { "dataset", EA_F_INT, "t.dataset_id" },
    { "latitude", EA_F_DEC, "t.latitude" },
    { "longitude", EA_F_DEC, "t.longitude" },
    { "elevation_m", EA_F_DEC, "t.elevation_m" },
    { "head_m", EA_F_DEC, "t.head_m" },
    { "storage_capacity_mwh", EA_F_DEC, "t.storage_capacity_mwh" },
    { "turbine_capacity_mw", EA_F_DEC, "t.turbine_capacity_mw" },
    { "status", EA_F_STR, "t.status" },
    { "notes", EA_F_STR, "t.notes" },
    { "properties", EA_F_JSON, "t.properties" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
};
static const ea_name_field site_names[] = {
    { 3, EA_NAMES_COUNTRY, 2 }, { 5, EA_NAMES_REGION, 4 },
};
static const ea_filter site_filters[] = {
    { "country__iso3", EA_FILT_STR, "t.country_id = " COUNTRY_BY_ISO3,
      "g.country_id = " COUNTRY_BY_ISO3, NULL, NULL,
      COUNTRY_IDS, "t.country_id", "g.country_id" },
    { "region__name", EA_FILT_STR, "t.region_id = " REGIONS_BY_NAME,
      "g.region_id = " REGIONS_BY_NAME, NULL, NULL,
      REGION_IDS, "t.region_id", "g.region_id" },
    { "status", EA_FILT_CHOICE, "t.status = ?", "g.status = ?", ea_status_choices, NULL, NO_REF },
    { "dataset", EA_FILT_FK, "t.dataset_id = ?", "g.dataset_id = ?", NULL, "core_energydataset", NO_REF },
};
static const char *const site_search[] = { "t.name::text", "t.notes::text", "t.properties::text", NULL };
static const ea_order site_orderings[] = {
    { "name", "t.name" }, { "head_m", "t.head_m" },
    { "storage_capacity_mwh", "t.storage_capacity_mwh" },
    { "turbine_capacity_mw", "t.turbine_capacity_mw" },
};

/* ---- ResourceMetric ----------------------------------------------------- */
static const ea_field metric_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "dataset", EA_F_INT, "t.dataset_id" },
    { "country", EA_F_INT, "t.country_id" },
    { "country_name", EA_F_STR, "c.name" },
    { "region", EA_F_INT, "t.region_id" },
    { "region_name", EA_F_STR, "r.name" },
    { "resource_type", EA_F_STR, "t.resource_type" },
    { "metric", EA_F_STR, "t.metric" },
    { "value", EA_F_DEC, "t.value" },
    { "unit", EA_F_STR, "t.unit" },
    { "year", EA_F_INT, "t.year" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
};
static const ea_name_field metric_names[] = {
    { 3, EA_NAMES_COUNTRY, 2 }, { 5, EA_NAMES_REGION, 4 },
};
static const ea_filter metric_filters[] = {
    { "resource_type", EA_FILT_CHOICE, "t.resource_type = ?", "g.resource_type = ?",
      ea_resource_type_choices, NULL, NO_REF },
    { "country__iso3", EA_FILT_STR, "t.country_id = " COUNTRY_BY_ISO3,
      "g.country_id = " COUNTRY_BY_ISO3, NULL, NULL,
      COUNTRY_IDS, "t.country_id", "g.country_id" },
    { "year", EA_FILT_NUMBER, "t.year = ?", "g.year = ?", NULL, NULL, NO_REF },
};
static const char *const metric_search[] = { "t.metric::text", NULL };
static const ea_order metric_orderings[] = {
    { "value", "t.value" }, { "year", "t.year" },
};

/* ---- ClimateSeries ------------------------------------------------------ */
static const ea_field climate_fields[] = {
    { "id", EA_F_INT, "t.id" },
    { "created_at", EA_F_TS, TS("t.created_at") },
    { "updated_at", EA_F_TS, TS("t.updated_at") },
    { "variable", EA_F_STR, "t.variable" },
    { "unit", EA_F_STR, "t.unit" },
    { "statistics", EA_F_JSON, "t.statistics" },
    { "series", EA_F_JSON, "t.series" },
    { "dataset", EA_F_INT, "t.dataset_id" },
    { "country", EA_F_INT, "t.country_id" },
    { "region", EA_F_INT, "t.region_id" },
    { "site", EA_F_INT, "t.site_id" },
};
static const ea_filter climate_filters[] = {
    { "variable", EA_FILT_STR, "t.variable = ?", NULL, NULL, NULL, NO_REF },
    { "country__iso3", EA_FILT_STR, "t.country_id = " COUNTRY_BY_ISO3, NULL, NULL, NULL,
      COUNTRY_IDS, "t.country_id", NULL },
    { "site", EA_FILT_FK, "t.site_id = ?", NULL, NULL, "core_hydrosite", NO_REF },
};
static const char *const climate_search[] = { "t.variable::text", NULL };
static const ea_order climate_orderings[] = {
    { "created_at", "t.created_at" },
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

const ea_resource ea_resources[] = {
    [EA_RES_COUNTRY] = { "countries", "Country", "Country", "core_country",
        "core_country t",
        country_fields, N(country_fields), country_filters, N(country_filters),
        country_search, country_orderings, N(country_orderings), "t.name", NULL, NULL, NULL, NULL, 0 },
    [EA_RES_REGION] = { "regions", "Region", "Region", "core_region",
        "core_region t JOIN core_country c ON c.id = t.country_id",
        region_fields, N(region_fields), region_filters, N(region_filters),
        region_search, region_orderings, N(region_orderings), "c.name, t.name", NULL, NULL, NULL, NULL, 0 },
    [EA_RES_DATASET] = { "datasets", "EnergyDataset", "Energy Dataset", "core_energydataset",
        "core_energydataset t",
        dataset_fields, N(dataset_fields), dataset_filters, N(dataset_filters),
        dataset_search, dataset_orderings, N(dataset_orderings), "t.name", NULL, NULL, NULL, NULL, 0 },
    [EA_RES_HYDROSITE] = { "hydro-sites", "HydroSite", "Hydro Site", "core_hydrosite",
        "core_hydrosite t JOIN core_country c ON c.id = t.country_id"
        " LEFT JOIN core_region r ON r.id = t.region_id",
        site_fields, N(site_fields), site_filters, N(site_filters),
        site_search, site_orderings, N(site_orderings), "t.name",
        "ecoatlas_hydrosite_count", "t.ecoatlas_search", "core_hydrosite t", site_names, N(site_names) },
    [EA_RES_METRIC] = { "resource-metrics", "ResourceMetric", "Resource Metric",
        "core_resourcemetric",
        "core_resourcemetric t JOIN core_country c ON c.id = t.country_id"
        " LEFT JOIN core_region r ON r.id = t.region_id",
        metric_fields, N(metric_fields), metric_filters, N(metric_filters),
        metric_search, metric_orderings, N(metric_orderings), "t.created_at DESC",
        "ecoatlas_resourcemetric_count", NULL, "core_resourcemetric t", metric_names, N(metric_names) },
    [EA_RES_CLIMATE] = { "climate-series", "ClimateSeries", "Climate Series",
        "core_climateseries", "core_climateseries t",
        climate_fields, N(climate_fields), climate_filters, N(climate_filters),
        climate_search, climate_orderings, N(climate_orderings), "t.created_at DESC", NULL, NULL, NULL, NULL, 0 },
};
const int ea_nresources = N(ea_resources);

const ea_resource *ea_resource_by_prefix(const char *seg, size_t len)
{
    for (int i = 0; i < ea_nresources; i++) {
        if (strlen(ea_resources[i].prefix) == len
            && memcmp(ea_resources[i].prefix, seg, len) == 0)
            return &ea_resources[i];
    }
    return NULL;
}

/* ---- building ------------------------------------------------------------ */

int ea_listq_param(ea_listq *q, const char *value)
{
    APR_ARRAY_PUSH(q->params, const char *) = value;
    return q->params->nelts;
}

/* Append cond to w (AND-joined), with every '?' replaced by $n. */
static void add_cond(ea_buf *w, const char *cond, int n)
{
    if (w->len)
        ea_buf_puts(w, " AND ");
    for (const char *c = cond; *c; c++) {
        if (*c == '?')
            ea_buf_printf(w, "$%d", n);
        else
            ea_buf_putc(w, *c);
    }
}

static void add_error(ea_listq *q, const char *field, const char *msg)
{
    ea_buf_putc(&q->errors, q->errors.len ? ',' : '{');
    ea_json_cstr(&q->errors, field);
    ea_buf_puts(&q->errors, ":[");
    ea_json_cstr(&q->errors, msg);
    ea_buf_putc(&q->errors, ']');
}

static int is_choice(const char *const *choices, const char *v)
{
    for (; *choices; choices++)
        if (strcmp(*choices, v) == 0)
            return 1;
    return 0;
}

/* forms.CharField: surrounding whitespace stripped (Python's str.strip). */
static const char *strip_ws(apr_pool_t *p, const char *v)
{
    while (*v == ' ' || (*v >= '\t' && *v <= '\r') || (*v >= 0x1c && *v <= 0x1f))
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || (v[n - 1] >= '\t' && v[n - 1] <= '\r')
                 || (v[n - 1] >= 0x1c && v[n - 1] <= 0x1f)))
        n--;
    return apr_pstrmemdup(p, v, n);
}

/* One django-filter field.  Returns 0 (applied or empty), 1 (invalid), -1. */
static int apply_filter(ea_listq *q, const ea_filter *f, const char *raw,
                        ea_fk_exists_fn fk_exists, ea_ref_ids_fn ref_ids, void *ctx)
{
    const char *v = raw;
    long long n;
    int overflow;

    if (!v || !*v)
        return 0;
    switch (f->kind) {
    case EA_FILT_STR:
        v = strip_ws(q->pool, raw);
        if (!*v)
            return 0;
        break;
    case EA_FILT_CHOICE:
        if (!is_choice(f->choices, v)) {
            ea_buf msg;
            ea_buf_init(&msg, q->pool, 96);
            ea_buf_printf(&msg, "Select a valid choice. %s is not one of the available choices.", v);
            add_error(q, f->param, msg.data);
            return 1;
        }
        break;
    case EA_FILT_FK: {
        int rc = ea_parse_int64(v, &n);
        int exists = 0;
        if (rc == 0 && n > 0) {
            exists = fk_exists(ctx, f->fk_table, n);
            if (exists < 0)
                return -1;
        }
        if (!exists) {
            add_error(q, f->param,
                      "Select a valid choice. That choice is not one of the available choices.");
            return 1;
        }
        v = apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)n);
        break;
    }
    case EA_FILT_NUMBER: {
        v = strip_ws(q->pool, raw);
        if (!*v)
            return 0;
        if (ea_parse_decimal_trunc(v, &n, &overflow) != 0) {
            add_error(q, f->param, "Enter a number.");
            return 1;
        }
        if (overflow || n < -2147483648LL || n > 2147483647LL) {
            q->empty = 1;   /* an integer column never holds it */
            return 0;
        }
        v = apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)n);
        break;
    }
    }
    const char *cond = f->cond, *group_cond = f->group_cond;
    if (f->ref_sql && ref_ids) {
        size_t len;
        if (!(v = ref_ids(ctx, f->ref_sql, v)) || (len = strlen(v)) < 2 || v[0] != '{' || v[len - 1] != '}')
            return -1;
        const char *op = " = ANY (?::bigint[])";
        if (strcmp(v, "{}") == 0) {
            q->empty = 1;   /* the key names nothing */
            return 0;
        }
        if (!strchr(v, ',')) {   /* "{id}" */
            v = apr_pstrmemdup(q->pool, v + 1, len - 2);
            op = " = ?::bigint";
        }
        cond = apr_pstrcat(q->pool, f->ref_col, op, NULL);
        group_cond = f->ref_group_col ? apr_pstrcat(q->pool, f->ref_group_col, op, NULL) : NULL;
    }
    int idx = ea_listq_param(q, v);
    add_cond(&q->where, cond, idx);
    if (group_cond)
        add_cond(&q->group_where, group_cond, idx);
    else
        q->by_groups = 0;
    return 0;
}

char *ea_like_contains(apr_pool_t *p, const char *term)
{
    ea_buf b;
    ea_buf_init(&b, p, strlen(term) + 8);
    ea_buf_putc(&b, '%');
    for (const char *c = term; *c; c++) {
        if (*c == '\\' || *c == '%' || *c == '_')
            ea_buf_putc(&b, '\\');
        ea_buf_putc(&b, *c);
    }
    ea_buf_putc(&b, '%');
    return b.data;
}

/* Code points in a valid UTF-8 string (the query string is made valid). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A term's test on each search field of res, ORed. */
static void put_fields_term(ea_buf *b, const ea_resource *res, int short_term, int idx)
{
    ea_buf_putc(b, '(');
    for (const char *const *s = res->search; *s; s++) {
        if (s != res->search)
            ea_buf_puts(b, " OR ");
        if (short_term)
            ea_buf_printf(b, "strpos(UPPER(%s), UPPER($%d)) > 0", *s, idx);
        else
            ea_buf_printf(b, "UPPER(%s) LIKE UPPER($%d)", *s, idx);
    }
    ea_buf_putc(b, ')');
}

/* A term's test on a search document, as written and as recognised again
 * (ea_search_doc_fallback): [0] LIKE, for a term with trigrams; [1] strpos,
 * for a shorter one.  Each is head, the document, mid, $n, tail. */
typedef struct doc_form {
    const char *head, *mid, *tail;
} doc_form;
static const doc_form doc_forms[2] = {
    { "(", " LIKE UPPER($", "))" },
    { "(strpos(", ", UPPER($", ")) > 0)" },
};

void ea_search_term_sql(ea_buf *b, const ea_resource *res, const char *term, int idx,
                        apr_pool_t *p, const char **param)
{
    /* Django's icontains on PostgreSQL: UPPER(field::text) LIKE UPPER(pattern).
     * The trigram indexes of migration 0005 are on UPPER(field::text), so
     * this form is served by them.  A term of fewer than three characters
     * has no trigram: the index could only be scanned whole, so it gets
     * the same test spelt so that no index matches it (the term as a
     * substring of the upper-cased field: LIKE '%term%' with every
     * metacharacter escaped says exactly that). */
    int short_term = utf8_chars(term) < EA_SEARCH_TRIGRAM;
    *param = short_term ? term : ea_like_contains(p, term);
    /* The stored document of migration 0006 holds UPPER(field::text) of each
     * search field, joined by line feeds: a term without a line feed (every
     * term: SearchFilter splits at whitespace) is in the document exactly
     * when it is in one of the fields. */
    if (res->search_doc && !strchr(term, '\n')) {
        const doc_form *f = &doc_forms[short_term];
        ea_buf_printf(b, "%s%s%s%d%s", f->head, res->search_doc, f->mid, idx, f->tail);
        return;
    }
    put_fields_term(b, res, short_term, idx);
}

/* Form f of a term's test on doc at s: its placeholder's number, and where
 * it ends. */
static int doc_test_at(const char *s, const char *doc, int f, int *idx, const char **end)
{
    const char *parts[] = { doc_forms[f].head, doc, doc_forms[f].mid };
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(parts[i]);
        if (strncmp(s, parts[i], l) != 0)
            return 0;
        s += l;
    }
    int n = 0, digits = 0;
    for (; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
        n = n * 10 + (*s - '0');
    size_t tl = strlen(doc_forms[f].tail);
    if (!digits || strncmp(s, doc_forms[f].tail, tl) != 0)
        return 0;
    *idx = n;
    *end = s + tl;
    return 1;
}

const char *ea_search_doc_fallback(apr_pool_t *p, const char *sql)
{
    ea_buf b;
    int changed = 0;
    ea_buf_init(&b, p, strlen(sql) + 256);
    for (const char *s = sql; *s;) {
        const ea_resource *hit = NULL;
        const char *end = NULL;
        int idx = 0, form = 0;
        for (int i = 0; *s == '(' && !hit && i < ea_nresources; i++)
            for (int f = 0; !hit && ea_resources[i].search_doc && f < 2; f++)
                if (doc_test_at(s, ea_resources[i].search_doc, f, &idx, &end))
                    hit = &ea_resources[i], form = f;
        if (hit) {
            put_fields_term(&b, hit, form, idx);
            changed = 1;
            s = end;
        } else {
            ea_buf_putc(&b, *s++);
        }
    }
    return changed ? b.data : NULL;
}

int ea_search_doc_named(const char *message)
{
    for (int i = 0; message && i < ea_nresources; i++) {
        const char *doc = ea_resources[i].search_doc, *dot;
        if (doc && strstr(message, (dot = strchr(doc, '.')) ? dot + 1 : doc))
            return 1;
    }
    return 0;
}

/* SearchFilter within the bounds of docs/security.md: every term adds a condition
 * on every search field, so the number of terms and the length of the
 * value are capped.  Returns 1 (error added) when a bound is passed. */
static int apply_search(ea_listq *q, const char *value)
{
    size_t chars = utf8_chars(value);
    if (chars > EA_SEARCH_MAX_CHARS) {
        add_error(q, "search", apr_psprintf(q->pool, "Ensure this value has at most %d characters (it has %"
                                            APR_SIZE_T_FMT ").", EA_SEARCH_MAX_CHARS, chars));
        return 1;
    }
    apr_array_header_t *terms = ea_search_terms(q->pool, value);
    if (terms->nelts > EA_SEARCH_MAX_TERMS) {
        add_error(q, "search", apr_psprintf(q->pool, "Ensure this value has at most %d search terms (it has %d).",
                                            EA_SEARCH_MAX_TERMS, terms->nelts));
        return 1;
    }
    /* With no other condition, the plan of a searched set is the same for
     * every term: the matches found through the trigram index (a bitmap),
     * or a scan for a term without a trigram, whose text differs.  Up to
     * EA_SEARCH_GENERIC_TERMS terms the texts are few (each term long or
     * short, per ordering), so such a statement is prepared and planned
     * once, generically (PostgreSQL's own choice would plan it at every
     * execution: its generic estimate of LIKE $1 is never below the custom
     * ones).  With filters, how selective each value is decides the plan:
     * those are planned for their values, like the larger searches. */
    int alone = q->where.len == 0 && terms->nelts <= EA_SEARCH_GENERIC_TERMS;
    for (int i = 0; i < terms->nelts; i++) {
        const char *term = APR_ARRAY_IDX(terms, i, const char *), *param;
        int idx = q->params->nelts + 1;
        ea_buf cond;
        ea_buf_init(&cond, q->pool, 160);
        ea_search_term_sql(&cond, q->res, term, idx, q->pool, &param);
        ea_listq_param(q, param);
        if (q->where.len)
            ea_buf_puts(&q->where, " AND ");
        ea_buf_put(&q->where, cond.data, cond.len);
        q->by_groups = 0;
        q->searched = 1;
        q->shape_varies = !alone;
        q->plan_generic = alone;
    }
    return 0;
}

static const ea_order *find_ordering(const ea_resource *res, const char *name)
{
    for (int i = 0; i < res->norderings; i++)
        if (strcmp(res->orderings[i].name, name) == 0)
            return &res->orderings[i];
    return NULL;
}

static void push_key(ea_listq *q, const char *sql, size_t len, int desc)
{
    ea_order_key *k = apr_array_push(q->order_keys);
    k->sql = apr_pstrmemdup(q->pool, sql, len);
    k->desc = desc;
}

/* The keys of a default order ("c.name, t.name", "t.created_at DESC"). */
static void push_default_keys(ea_listq *q, const char *order)
{
    while (*order) {
        size_t n = strcspn(order, ",");
        int desc = n > 5 && memcmp(order + n - 5, " DESC", 5) == 0;
        push_key(q, order, desc ? n - 5 : n, desc);
        order += n;
        while (*order == ',' || *order == ' ')
            order++;
    }
}

/* OrderingFilter: valid names replace the default; invalid ones dropped.
 * A final id keeps pages stable where the order has ties. */
static int apply_ordering(ea_listq *q, const char *param)
{
    ea_buf ob;
    ea_buf_init(&ob, q->pool, 64);
    q->order_keys = apr_array_make(q->pool, 4, sizeof(ea_order_key));
    int first_desc = -1;
    if (param && *param) {
        int nfields = 1;
        for (const char *c = param; *c; c++)
            nfields += *c == ',';
        if (nfields > EA_ORDERING_MAX_FIELDS) {
            add_error(q, "ordering", apr_psprintf(q->pool, "Ensure this value has at most %d fields (it has %d).",
                                                  EA_ORDERING_MAX_FIELDS, nfields));
            return 1;
        }
        unsigned used = 0;   /* a field named again changes nothing: dropped */
        char *list = apr_pstrdup(q->pool, param), *last;
        for (char *tok = apr_strtok(list, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
            const char *name = strip_ws(q->pool, tok);
            int desc = name[0] == '-';
            const ea_order *o = find_ordering(q->res, desc ? name + 1 : name);
            if (!o || (used & (1u << (o - q->res->orderings))))
                continue;
            used |= 1u << (o - q->res->orderings);
            if (first_desc < 0)
                first_desc = desc;
            ea_buf_printf(&ob, "%s%s%s", ob.len ? ", " : "", o->sql, desc ? " DESC" : "");
            push_key(q, o->sql, strlen(o->sql), desc);
        }
    }
    if (!ob.len) {
        ea_buf_puts(&ob, q->res->default_order);
        first_desc = strstr(q->res->default_order, " DESC") != NULL;
        push_default_keys(q, q->res->default_order);
    }
    ea_buf_puts(&ob, first_desc ? ", t.id DESC" : ", t.id");
    push_key(q, "t.id", 4, first_desc);
    q->order_by = ob.data;
    return 0;
}

int ea_listq_build(apr_pool_t *p, const ea_resource *res,
                   const apr_array_header_t *qs,
                   ea_fk_exists_fn fk_exists, ea_ref_ids_fn ref_ids, void *ctx, ea_listq *q)
{
    int invalid = 0;
    memset(q, 0, sizeof(*q));
    q->pool = p;
    q->res = res;
    q->by_groups = res->group_table != NULL;
    q->params = apr_array_make(p, 8, sizeof(const char *));
    ea_buf_init(&q->where, p, 256);
    ea_buf_init(&q->group_where, p, 128);
    ea_buf_init(&q->errors, p, 64);

    for (int i = 0; i < res->nfilters; i++) {
        int rc = apply_filter(q, &res->filters[i], ea_qs_get(qs, res->filters[i].param),
                              fk_exists, ref_ids, ctx);
        if (rc < 0)
            return -1;
        invalid |= rc;
    }
    if (!invalid) {
        const char *search = ea_qs_get(qs, "search");
        if (search && *search)
            invalid |= apply_search(q, search);
        invalid |= apply_ordering(q, ea_qs_get(qs, "ordering"));
    }
    if (invalid) {
        ea_buf_putc(&q->errors, '}');
        return 1;
    }
    return 0;
}

/* The one place that knows an empty set's condition (false).  The other
 * conditions stay behind it: PostgreSQL folds them away, but they still
 * name every parameter of the statement (a parameter that nothing names
 * has no type, and the statement fails). */
static const char *conditions(const ea_listq *q, const char *word, int groups)
{
    const ea_buf *w = groups ? &q->group_where : &q->where;
    if (q->empty)
        return w->len ? apr_pstrcat(q->pool, word, "false AND (", w->data, ")", NULL)
                      : apr_pstrcat(q->pool, word, "false", NULL);
    return w->len ? apr_pstrcat(q->pool, word, w->data, NULL) : "";
}

const char *ea_listq_where(const ea_listq *q, int groups)
{
    return conditions(q, " WHERE ", groups);
}

const char *ea_listq_and(const ea_listq *q)
{
    return conditions(q, " AND ", 0);
}

const char *ea_listq_count_sql(ea_listq *q)
{
    const ea_resource *res = q->res;
    if (q->empty)
        return q->where.len ? apr_psprintf(q->pool, "SELECT count(*) FROM %s t%s", res->table, ea_listq_where(q, 0))
                            : "SELECT 0::bigint";
    if (!q->where.len)
        return apr_psprintf(q->pool,
                            "SELECT coalesce((SELECT n FROM ecoatlas_rowcount WHERE tbl = '%s'), 0)",
                            res->table);
    if (q->by_groups)
        return apr_psprintf(q->pool,
                            "SELECT coalesce(sum(g.n), 0)::bigint FROM %s g WHERE %s",
                            res->group_table, q->group_where.data);
    return apr_psprintf(q->pool, "SELECT count(*) FROM %s t WHERE %s", res->table, q->where.data);
}

static int is_name_field(const ea_resource *res, int i)
{
    for (int k = 0; k < res->nname_fields; k++)
        if (res->name_fields[k].field == i)
            return 1;
    return 0;
}

void ea_listq_put_columns(ea_buf *b, const ea_listq *q)
{
    const ea_resource *res = q->res;
    for (int i = 0; i < res->nfields; i++) {
        if (i)
            ea_buf_puts(b, ", ");
        ea_buf_puts(b, q->lean && is_name_field(res, i) ? "NULL" : res->fields[i].sql);
    }
    if (q->lean)
        ea_buf_puts(b, ", " EA_NAMES_VERSION_SQL);
}

const char *ea_listq_from(const ea_listq *q)
{
    return q->lean ? q->res->lean_from : q->res->from_sql;
}

const char *ea_names_load_sql(void)
{
#define NAMES_STR_(x) #x
#define NAMES_STR(x) NAMES_STR_(x)
#define NAMES_OF(kind, table) \
    "(SELECT '" kind "', id::text, name FROM " table " LIMIT " NAMES_STR(EA_NAMES_MAX) " + 1)"
    return "SELECT " EA_NAMES_VERSION_SQL "::text, NULL, NULL"
           " UNION ALL " NAMES_OF("c", "core_country") " UNION ALL " NAMES_OF("r", "core_region");
#undef NAMES_OF
#undef NAMES_STR
#undef NAMES_STR_
}

int ea_names_version_named(const char *message)
{
    return message && strstr(message, "\"ecoatlas_names_version\"") != NULL;
}

const char *ea_names_present_sql(void)
{
    return "SELECT to_regclass('ecoatlas_names_version') IS NOT NULL";
}

/* LIMIT and OFFSET, as parameters.  A first page of a set without any
 * other parameter (a list unfiltered, unsearched) gets its LIMIT written
 * out instead and no OFFSET: a statement without parameters is planned
 * once when prepared, while one with a parameter LIMIT is planned again at
 * every execution (PostgreSQL estimates a generic plan's LIMIT $1 as a
 * tenth of the table, so it keeps choosing custom plans): 0.8 ms of
 * planning against 0.4 ms of execution for a page of 50 hydro sites.  The
 * limit is a validated page size, so the texts are few; a statement with
 * other parameters keeps the parameter form, whose custom plans follow
 * each filter's values. */
static void put_limit(ea_listq *q, ea_buf *b, long long limit, long long offset)
{
    if (q->page_params->nelts == 0 && offset <= 0) {
        if (limit >= 0)
            ea_buf_printf(b, " LIMIT %" APR_INT64_T_FMT, (apr_int64_t)limit);
        return;
    }
    if (limit >= 0) {
        APR_ARRAY_PUSH(q->page_params, const char *) = apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)limit);
        ea_buf_printf(b, " LIMIT $%d::bigint", q->page_params->nelts);
    }
    APR_ARRAY_PUSH(q->page_params, const char *) = apr_psprintf(q->pool, "%" APR_INT64_T_FMT, (apr_int64_t)(offset > 0 ? offset : 0));
    ea_buf_printf(b, " OFFSET $%d::bigint", q->page_params->nelts);
}

/* " ORDER BY <prefix>k1, <prefix>k2 DESC, ..." over the keys as columns. */
static void put_key_order(ea_buf *b, const ea_listq *q, const char *prefix)
{
    ea_buf_puts(b, " ORDER BY ");
    for (int i = 0; i < q->order_keys->nelts; i++) {
        const ea_order_key *k = &APR_ARRAY_IDX(q->order_keys, i, ea_order_key);
        ea_buf_printf(b, "%s%sk%d%s", i ? ", " : "", prefix, i + 1, k->desc ? " DESC" : "");
    }
}

/* A searched set: the rows matching the terms are found once, through the
 * trigram indexes or one scan, keeping their ids and sort keys (m); the
 * count is that of m and the page the first rows of m in order, joined
 * back for their columns.  Never a walk along an ordering index hoping to
 * meet enough matches early: when they are few, that walk reads the whole
 * table (docs/operations.md, "Search"). */
static const char *searched_select_sql(ea_listq *q, int with_count, long long limit, long long offset)
{
    ea_buf b;
    ea_buf_init(&b, q->pool, 1024);
    q->page_params = apr_array_copy(q->pool, q->params);
    /* the joins only when a sort key needs them (conditions are on t) */
    int joins = 0;
    ea_buf_puts(&b, "WITH m AS MATERIALIZED (SELECT t.id AS id");
    for (int i = 0; i < q->order_keys->nelts; i++) {
        const char *key = APR_ARRAY_IDX(q->order_keys, i, ea_order_key).sql;
        joins |= strncmp(key, "t.", 2) != 0;
        ea_buf_printf(&b, ", %s AS k%d", key, i + 1);
    }
    if (joins)
        ea_buf_printf(&b, " FROM %s WHERE %s) SELECT ", q->res->from_sql, q->where.data);
    else
        ea_buf_printf(&b, " FROM %s t WHERE %s) SELECT ", q->res->table, q->where.data);
    if (with_count)
        ea_buf_puts(&b, "(SELECT count(*) FROM m), ");
    ea_listq_put_columns(&b, q);
    ea_buf_printf(&b, " FROM %s JOIN (SELECT * FROM m", ea_listq_from(q));
    put_key_order(&b, q, "");
    put_limit(q, &b, limit, offset);
    ea_buf_puts(&b, ") p ON p.id = t.id");
    put_key_order(&b, q, "p.");
    return b.data;
}

/* Is every ORDER BY key a column of the main table (none of a joined one)? */
static int order_on_table(const ea_listq *q)
{
    if (!q->order_keys)
        return 0;
    for (int i = 0; i < q->order_keys->nelts; i++)
        if (strncmp(APR_ARRAY_IDX(q->order_keys, i, ea_order_key).sql, "t.", 2) != 0)
            return 0;
    return q->order_keys->nelts > 0;
}

int ea_listq_lean_ok(const ea_listq *q)
{
    return q->res->lean_from != NULL && order_on_table(q);
}

const char *ea_listq_select_sql(ea_listq *q, const char *total_sql,
                                long long limit, long long offset)
{
    if (q->searched && !q->empty)
        return searched_select_sql(q, total_sql != NULL, limit, offset);
    ea_buf b;
    ea_buf_init(&b, q->pool, 1024);
    q->page_params = apr_array_copy(q->pool, q->params);
    ea_buf_puts(&b, "SELECT ");
    if (total_sql)
        ea_buf_printf(&b, "(%s), ", total_sql);
    ea_listq_put_columns(&b, q);
    if (offset >= EA_LIST_IDS_FIRST_OFFSET && limit >= 0 && order_on_table(q)) {
        ea_buf_printf(&b, " FROM %s WHERE t.id IN (SELECT t.id FROM %s t%s ORDER BY %s", ea_listq_from(q),
                      q->res->table, ea_listq_where(q, 0), q->order_by);
        put_limit(q, &b, limit, offset);
        ea_buf_printf(&b, ") ORDER BY %s", q->order_by);
        return b.data;
    }
    ea_buf_printf(&b, " FROM %s%s", ea_listq_from(q), ea_listq_where(q, 0));
    ea_buf_printf(&b, " ORDER BY %s", q->order_by);
    put_limit(q, &b, limit, offset);
    return b.data;
}

const char *ea_listq_detail_sql(ea_listq *q, const char *id)
{
    ea_buf b;
    int idx = ea_listq_param(q, id);
    ea_buf_init(&b, q->pool, 1024);
    ea_buf_puts(&b, "SELECT ");
    ea_listq_put_columns(&b, q);
    ea_buf_printf(&b, " FROM %s WHERE t.id = $%d%s", ea_listq_from(q), idx, ea_listq_and(q));
    return b.data;
}

int ea_serialize(ea_buf *b, const ea_resource *res, const char *const *vals)
{
    return ea_serialize_n(b, res, vals, NULL);
}

int ea_serialize_n(ea_buf *b, const ea_resource *res, const char *const *vals, const int *lens)
{
    ea_buf_putc(b, '{');
    for (int i = 0; i < res->nfields; i++) {
        const ea_field *f = &res->fields[i];
        const char *v = vals[i];
        /* ,"key": written at once */
        size_t klen = strlen(f->key);
        char *k = ea_buf_reserve(b, klen + 4), *w = k;
        if (i)
            *w++ = ',';
        *w++ = '"';
        memcpy(w, f->key, klen);
        w += klen;
        *w++ = '"';
        *w++ = ':';
        ea_buf_commit(b, (size_t)(w - k));
        if (!v) {
            ea_buf_puts(b, "null");
            continue;
        }
        size_t vlen = lens && lens[i] >= 0 ? (size_t)lens[i] : strlen(v);
        switch (f->kind) {
        case EA_F_INT:
            ea_buf_put(b, v, vlen);
            break;
        case EA_F_STR:
        case EA_F_DEC:
            ea_json_str(b, v, vlen);
            break;
        case EA_F_TS:
            ea_json_datetime(b, v);
            break;
        case EA_F_JSON:
            if (ea_json_compact(b, v, vlen) != 0)
                return -1;
            break;
        }
    }
    ea_buf_putc(b, '}');
    return 0;
}
