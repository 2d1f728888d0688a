/* ea_validate: DRF serializer validation (see ea_validate.h).  Each step
 * names the DRF code it follows. */
#include "ea_validate.h"
#include "ea_body.h"
#include "ea_json.h"
#include "ea_params.h"
#include "ea_utf8.h"

#include <apr_strings.h>
#include <json-c/json.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the resources ------------------------------------------------------------ */

#define CHAR(k, len, fl, def) { k, k, EA_V_CHAR, fl, len, NULL, 0, 0, 0, 0, 0, NULL, def }
#define CHOICE(k, ch, fl, def) { k, k, EA_V_CHOICE, fl, 0, ch, 0, 0, 0, 0, 0, NULL, def }
#define INT(k, lo, hi, fl) { k, k, EA_V_INT, fl, 0, NULL, lo, hi, 0, 0, 0, NULL, NULL }
#define DEC(k, d, pl, m0, fl) { k, k, EA_V_DEC, fl, 0, NULL, 0, 0, d, pl, m0, NULL, NULL }
#define JSON(k, fl, def) { k, k, EA_V_JSON, fl, 0, NULL, 0, 0, 0, 0, 0, NULL, def }
#define FK(k, table, fl) { k, k "_id", EA_V_FK, fl, 0, NULL, 0, 0, 0, 0, 0, table, NULL }

#define REQ EA_VF_REQUIRED
#define NUL EA_VF_NULL
#define BLANK EA_VF_BLANK

static const ea_vfield country_v[] = {
    CHAR("name", 128, REQ | EA_VF_UNIQUE, NULL),
    CHAR("iso2", 2, REQ | EA_VF_UNIQUE, NULL),
    CHAR("iso3", 3, REQ | EA_VF_UNIQUE, NULL),
    INT("population", 0, 9223372036854775807LL, NUL),
    JSON("boundary", NUL, NULL),
};
static const ea_vfield region_v[] = {
    FK("country", "core_country", REQ),
    CHAR("name", 128, REQ, NULL),
    CHAR("level", 64, BLANK, ""),
    JSON("boundary", NUL, NULL),
};
static const ea_vfield dataset_v[] = {
    CHAR("name", 128, REQ | EA_VF_UNIQUE, NULL),
    CHOICE("dataset_type", ea_dataset_type_choices, REQ, NULL),
    CHAR("source", 256, BLANK, ""),
    CHAR("description", 0, BLANK, ""),
    CHAR("file_name", 256, BLANK, ""),
    CHAR("file_checksum", 128, BLANK, ""),
    JSON("metadata", 0, "{}"),
};
static const ea_vfield site_v[] = {
    CHAR("name", 128, REQ, NULL),
    FK("country", "core_country", REQ),
    FK("region", "core_region", NUL),
    FK("dataset", "core_energydataset", NUL),
    DEC("latitude", 9, 6, 0, NUL),
    DEC("longitude", 9, 6, 0, NUL),
    DEC("elevation_m", 7, 2, 0, NUL),
    DEC("head_m", 6, 2, 1, NUL),
    DEC("storage_capacity_mwh", 10, 2, 1, NUL),
    DEC("turbine_capacity_mw", 9, 2, 1, NUL),
    CHOICE("status", ea_status_choices, 0, "identified"),
    CHAR("notes", 0, BLANK, ""),
    JSON("properties", 0, "{}"),
};
static const ea_vfield metric_v[] = {
    FK("dataset", "core_energydataset", REQ),
    FK("country", "core_country", REQ),
    FK("region", "core_region", NUL),
    CHOICE("resource_type", ea_resource_type_choices, REQ, NULL),
    CHAR("metric", 64, REQ, NULL),
    DEC("value", 14, 4, 1, REQ),
    CHAR("unit", 32, 0, ""),    /* default "" but blank=False */
    INT("year", 0, 2147483647LL, NUL | EA_VF_DEFNULL),
};
static const ea_vfield climate_v[] = {
    CHAR("variable", 64, REQ, NULL),
    CHAR("unit", 32, REQ, NULL),
    JSON("statistics", 0, "{}"),
    JSON("series", 0, "[]"),
    FK("dataset", "core_energydataset", REQ),
    FK("country", "core_country", REQ),
    FK("region", "core_region", NUL | EA_VF_DEFNULL),
    FK("site", "core_hydrosite", NUL | EA_VF_DEFNULL),
};

static const char *const region_together[] = { "country", "name", NULL };
static const char *const site_together[] = { "country", "name", NULL };
static const char *const metric_together[] = {
    "dataset", "country", "resource_type", "metric", "year", NULL };
static const char *const climate_together[] = {
    "dataset", "country", "region", "site", "variable", NULL };

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

const ea_vresource ea_vresources[] = {
    [EA_RES_COUNTRY] = { "core_country", "country", country_v, N(country_v), NULL, NULL, 0, 0 },
    [EA_RES_REGION] = { "core_region", "region", region_v, N(region_v), region_together,
                        "core_region_country_id_name_uniq", 0, 0 },
    [EA_RES_DATASET] = { "core_energydataset", "energy dataset", dataset_v, N(dataset_v),
                         NULL, NULL, 0, 0 },
    [EA_RES_HYDROSITE] = { "core_hydrosite", "hydro site", site_v, N(site_v), site_together,
                           "unique_site_per_country", 1, 0 },
    [EA_RES_METRIC] = { "core_resourcemetric", "resource metric", metric_v, N(metric_v),
                        metric_together, "unique_metric_per_scope", 0, 1 },
    [EA_RES_CLIMATE] = { "core_climateseries", "climate series", climate_v, N(climate_v),
                         climate_together, "unique_climate_series", 0, 0 },
};

/* ---- Python's str() of a parsed value ------------------------------------------ */

static void py_repr(ea_buf *b, struct json_object *v);

static void py_str_repr(ea_buf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    ea_buf_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == (unsigned char)q) {
            ea_buf_putc(b, '\\');
            ea_buf_putc(b, (char)c);
        } else if (c == '\n') {
            ea_buf_puts(b, "\\n");
        } else if (c == '\r') {
            ea_buf_puts(b, "\\r");
        } else if (c == '\t') {
            ea_buf_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            ea_buf_printf(b, "\\x%02x", c);
        } else {
            ea_buf_putc(b, (char)c);
        }
    }
    ea_buf_putc(b, q);
}

static void py_float(ea_buf *b, double d)
{
    char out[32];
    if (isinf(d)) {
        ea_buf_puts(b, d < 0 ? "-inf" : "inf");
        return;
    }
    ea_fmt_pyfloat(out, sizeof(out), d);
    ea_buf_puts(b, out);
}

/* str(v): strings as they are, containers as repr. */
static void py_str(ea_buf *b, struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        ea_buf_puts(b, "None");
        break;
    case json_type_boolean:
        ea_buf_puts(b, json_object_get_boolean(v) ? "True" : "False");
        break;
    case json_type_int:
        ea_buf_printf(b, "%lld", (long long)json_object_get_int64(v));
        break;
    case json_type_double:
        if (ea_body_bigint(v))
            ea_buf_puts(b, json_object_get_string(v));
        else
            py_float(b, json_object_get_double(v));
        break;
    case json_type_string:
        ea_buf_put(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    default:
        py_repr(b, v);
        break;
    }
}

static void py_repr(ea_buf *b, struct json_object *v)
{
    if (json_object_is_type(v, json_type_string)) {
        py_str_repr(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        ea_buf_putc(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                ea_buf_puts(b, ", ");
            py_repr(b, json_object_array_get_idx(v, i));
        }
        ea_buf_putc(b, ']');
    } else if (json_object_is_type(v, json_type_object)) {
        int first = 1;
        ea_buf_putc(b, '{');
        json_object_object_foreach(v, k, val) {
            if (!first)
                ea_buf_puts(b, ", ");
            first = 0;
            py_str_repr(b, k, strlen(k));
            ea_buf_puts(b, ": ");
            py_repr(b, val);
        }
        ea_buf_putc(b, '}');
    } else {
        py_str(b, v);
    }
}

static const char *str_of(apr_pool_t *p, struct json_object *v, size_t *len)
{
    ea_buf b;
    ea_buf_init(&b, p, 32);
    py_str(&b, v);
    if (len)
        *len = b.len;
    return b.data;
}

static const char *type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "NoneType";
    case json_type_boolean: return "bool";
    case json_type_int: return "int";
    case json_type_double: return ea_body_bigint(v) ? "int" : "float";
    case json_type_string: return "str";
    case json_type_array: return "list";
    default: return "dict";
    }
}

/* ---- text helpers ------------------------------------------------------------------- */

/* str.strip(): Unicode whitespace off both ends. */
static const char *py_strip(apr_pool_t *p, const char *s, size_t n, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, end = 0;
    int started = 0;
    long cp;
    size_t start = 0;
    while (i < n) {
        size_t k = ea_utf8_decode(u + i, n - i, &cp);
        if (!ea_uni_isspace(cp)) {
            if (!started) {
                start = i;
                started = 1;
            }
            end = i + k;
        }
        i += k;
    }
    if (!started)
        start = end = 0;
    *outlen = end - start;
    return apr_pstrmemdup(p, s + start, end - start);
}

/* len() of a str: code points (lone surrogates count one each). */
static size_t py_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

/* ---- decimals (Python's Decimal(str) and DRF's DecimalField) ---------------------- */

typedef struct pydec {
    int neg;
    const char *digits;     /* no leading zeros, at least "0" */
    long long exp;          /* value = digits * 10^exp */
} pydec;

/* Decimal(s) for finite values: 0, or -1 for anything else (NaN and
 * infinities included: DRF refuses them alike). */
static int parse_pydec(apr_pool_t *p, const char *s, size_t n, pydec *d)
{
    ea_buf a;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    long cp;
    ea_buf_init(&a, p, n + 1);
    /* Unicode digits to ASCII; underscores dropped (Decimal ignores them) */
    while (i < n) {
        size_t k = ea_utf8_decode(u + i, n - i, &cp);
        int dv = cp >= 0x80 ? ea_uni_decimal(cp) : -1;
        if (dv >= 0)
            ea_buf_putc(&a, (char)('0' + dv));
        else if (cp == '_') {
            /* ignored */
        } else if (cp < 0x80 && cp > 0)
            ea_buf_putc(&a, (char)cp);
        else
            return -1;
        i += k;
    }
    const char *c = a.data;
    d->neg = 0;
    if (*c == '+' || *c == '-')
        d->neg = *c++ == '-';
    ea_buf dig;
    ea_buf_init(&dig, p, a.len + 1);
    long long frac = 0;
    int any = 0;
    while (*c >= '0' && *c <= '9') {
        ea_buf_putc(&dig, *c++);
        any = 1;
    }
    if (*c == '.') {
        c++;
        while (*c >= '0' && *c <= '9') {
            ea_buf_putc(&dig, *c++);
            frac++;
            any = 1;
        }
    }
    if (!any)
        return -1;
    long long e = 0;
    if (*c == 'e' || *c == 'E') {
        int eneg = 0, edig = 0;
        c++;
        if (*c == '+' || *c == '-')
            eneg = *c++ == '-';
        while (*c >= '0' && *c <= '9') {
            if (e < 1000000000000LL)
                e = e * 10 + (*c - '0');
            c++;
            edig = 1;
        }
        if (!edig)
            return -1;
        if (eneg)
            e = -e;
    }
    if (*c)
        return -1;
    const char *digits = dig.data;
    while (digits[0] == '0' && digits[1])
        digits++;
    d->digits = digits;
    d->exp = e - frac;
    return 0;
}

/* DRF DecimalField.validate_precision: NULL or the message. */
static const char *check_precision(apr_pool_t *p, const pydec *d, int max_digits, int places)
{
    long long nd = (long long)strlen(d->digits), total, whole, dp;
    if (d->exp >= 0) {
        total = nd + d->exp;
        whole = total;
        dp = 0;
    } else if (nd > -d->exp) {
        total = nd;
        whole = nd + d->exp;
        dp = -d->exp;
    } else {
        total = -d->exp;
        whole = 0;
        dp = total;
    }
    if (total > max_digits)
        return apr_psprintf(p, "Ensure that there are no more than %d digits in total.", max_digits);
    if (dp > places)
        return apr_psprintf(p, "Ensure that there are no more than %d decimal places.", places);
    if (whole > max_digits - places)
        return apr_psprintf(p, "Ensure that there are no more than %d digits before the decimal point.",
                            max_digits - places);
    return NULL;
}

/* quantize to places (the precision is checked, so only zeros are added) */
static const char *quantize(apr_pool_t *p, const pydec *d, int places)
{
    ea_buf s;
    ea_buf_init(&s, p, 48);
    ea_buf_puts(&s, d->digits);
    for (long long z = d->exp + places; z > 0; z--)
        ea_buf_putc(&s, '0');
    while (s.len < (size_t)places + 1) {   /* leading zeros for 0.xx */
        ea_buf b2;
        ea_buf_init(&b2, p, s.len + 2);
        ea_buf_putc(&b2, '0');
        ea_buf_put(&b2, s.data, s.len);
        s = b2;
    }
    size_t ip = s.len - (size_t)places;
    return apr_psprintf(p, "%s%.*s%s%s", d->neg ? "-" : "", (int)ip, s.data, places ? "." : "",
                        s.data + ip);
}

static int dec_negative(const pydec *d)
{
    return d->neg && strcmp(d->digits, "0") != 0;
}

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct vstate {
    apr_pool_t *p;
    const ea_vresource *vr;
    apr_array_header_t **errs;   /* per field: const char * messages, or NULL */
    int nerr;
    const char **val;            /* validated SQL text per field */
    int *have;                   /* field is in the validated data */
} vstate;

static void add_err(vstate *st, int i, const char *msg)
{
    if (!st->errs[i])
        st->errs[i] = apr_array_make(st->p, 2, sizeof(const char *));
    APR_ARRAY_PUSH(st->errs[i], const char *) = msg;
    st->nerr++;
}

static void put_list(ea_buf *b, const char *key, apr_array_header_t *msgs)
{
    ea_buf_putc(b, b->len ? ',' : '{');
    ea_json_cstr(b, key);
    ea_buf_puts(b, ":[");
    for (int j = 0; j < msgs->nelts; j++) {
        if (j)
            ea_buf_putc(b, ',');
        ea_json_cstr(b, APR_ARRAY_IDX(msgs, j, const char *));
    }
    ea_buf_putc(b, ']');
}

static void one_error(apr_pool_t *p, ea_buf *b, const char *key, const char *msg)
{
    apr_array_header_t *a = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(a, const char *) = msg;
    ea_buf_reset(b);
    put_list(b, key, a);
    ea_buf_putc(b, '}');
}

/* ---- one field --------------------------------------------------------------------------- */

enum { V_EMPTY, V_NULL, V_VALUE };

/* JSON a JSONField can store: no NaN/Infinity, no NUL, no surrogates. */
static int storable_json(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_double:
        return ea_body_bigint(v) || isfinite(json_object_get_double(v));
    case json_type_string: {
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        return !memchr(s, '\0', n) && !ea_body_has_surrogate(s, n) && ea_utf8_valid(s, n);
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!storable_json(json_object_array_get_idx(v, i)))
                return 0;
        return 1;
    case json_type_object: {
        json_object_object_foreach(v, k, val) {
            if (!ea_utf8_valid(k, strlen(k)) || ea_body_has_surrogate(k, strlen(k))
                || !storable_json(val))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

static apr_status_t put_json(void *v)
{
    json_object_put(v);
    return APR_SUCCESS;
}

/* One function per kind of field: validate v (neither absent nor null) as
 * field i.  Returns 1 when st->val[i] holds the value (with or without
 * errors added: DRF collects every message of the field), 0 when an error
 * rejected it, -1 when a hook failed. */
typedef int (*kind_fn)(vstate *st, int i, struct json_object *v, int is_form,
                       const ea_vhooks *h, const char *instance_id);

/* CharField (after the blank check): a string, stripped; its length, NUL and
 * surrogates; UniqueValidator when the column is unique. */
static int char_value(vstate *st, int i, struct json_object *v, int is_form,
                      const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    if (json_object_is_type(v, json_type_boolean) || json_object_is_type(v, json_type_array)
        || json_object_is_type(v, json_type_object)) {
        add_err(st, i, "Not a valid string.");
        return 0;
    }
    s = str_of(p, v, &len);
    s = py_strip(p, s, len, &len);
    int bad_text = memchr(s, '\0', len) || ea_body_has_surrogate(s, len);
    int too_long = f->max_length && py_len(s, len) > (size_t)f->max_length;
    if ((f->flags & EA_VF_UNIQUE) && !bad_text && !too_long) {
        const char *col = f->column;
        int rc = h->row_exists(h->ctx, st->vr->table, 1, &col, &s, instance_id);
        if (rc < 0)
            return -1;
        if (rc)
            add_err(st, i, apr_psprintf(p, "%s with this %s already exists.",
                                        st->vr->verbose, f->key));
    }
    if (too_long)
        add_err(st, i, apr_psprintf(p, "Ensure this field has no more than %d characters.",
                                    f->max_length));
    if (memchr(s, '\0', len))
        add_err(st, i, "Null characters are not allowed.");
    long sur = ea_body_has_surrogate(s, len);
    if (sur)
        add_err(st, i, apr_psprintf(p, "Surrogate characters are not allowed: U+%lX.", sur));
    st->val[i] = s;
    return 1;
}

/* ChoiceField: one of the field's choices. */
static int choice_value(vstate *st, int i, struct json_object *v, int is_form,
                        const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    s = str_of(p, v, &len);
    int ok = 0;
    for (const char *const *c = f->choices; *c; c++)
        if (strlen(*c) == len && memcmp(*c, s, len) == 0)
            ok = 1;
    if (!ok) {
        add_err(st, i, apr_psprintf(p, "\"%s\" is not a valid choice.", s));
        return 0;
    }
    st->val[i] = s;
    return 1;
}

/* IntegerField: Python's int() of the text, within min and max; the
 * year of a ResourceMetric between 1900 and 2100 (validate_year). */
static int int_value(vstate *st, int i, struct json_object *v, int is_form,
                     const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    long long n;
    if (json_object_is_type(v, json_type_string)
        && py_len(json_object_get_string(v), (size_t)json_object_get_string_len(v)) > 1000) {
        add_err(st, i, "String value too large.");
        return 0;
    }
    s = str_of(p, v, &len);
    int has_nul = memchr(s, '\0', len) != NULL;
    /* re.sub(r'\.0*\s*$', '', s) */
    {
        size_t e = len;
        while (e > 0) {   /* trailing whitespace, code point by code point */
            size_t k = e - 1;
            while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
                k--;
            long cp;
            ea_utf8_decode((const unsigned char *)s + k, e - k, &cp);
            if (!ea_uni_isspace(cp))
                break;
            e = k;
        }
        while (e > 0 && s[e - 1] == '0')
            e--;
        if (e > 0 && s[e - 1] == '.')
            s = apr_pstrmemdup(p, s, e - 1);
    }
    int rc = has_nul ? -1 : ea_parse_int64(s, &n);
    if (json_object_is_type(v, json_type_boolean) || rc == -1) {
        add_err(st, i, "A valid integer is required.");
        return 0;
    }
    int neg = 0;
    if (rc == -2) {
        const char *c = s;
        while (*c && *c != '-' && *c != '+' && !(*c >= '0' && *c <= '9') && (unsigned char)*c < 0x80)
            c++;
        neg = *c == '-';
    }
    if ((rc == -2 && !neg) || (rc == 0 && n > f->max)) {
        add_err(st, i, apr_psprintf(p, "Ensure this value is less than or equal to %" APR_INT64_T_FMT ".", (apr_int64_t)f->max));
        return 0;
    }
    if ((rc == -2 && neg) || (rc == 0 && n < f->min)) {
        add_err(st, i, apr_psprintf(p, "Ensure this value is greater than or equal to %" APR_INT64_T_FMT ".", (apr_int64_t)f->min));
        return 0;
    }
    if (st->vr->year_check && strcmp(f->key, "year") == 0 && n && (n < 1900 || n > 2100)) {
        add_err(st, i, "L\xE2\x80\x99" "ann\xC3\xA9" "e doit \xC3\xAA" "tre comprise entre 1900 et 2100.");
        return 0;
    }
    st->val[i] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)n);
    return 1;
}

/* DecimalField: Python's Decimal within max_digits and decimal_places,
 * not negative with min_value=0; quantized. */
static int dec_value(vstate *st, int i, struct json_object *v, int is_form,
                     const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    pydec d;
    s = str_of(p, v, &len);
    s = py_strip(p, s, len, &len);
    if (py_len(s, len) > 1000) {
        add_err(st, i, "String value too large.");
        return 0;
    }
    if (json_object_is_type(v, json_type_boolean) || memchr(s, '\0', len)
        || parse_pydec(p, s, len, &d) != 0) {
        add_err(st, i, "A valid number is required.");
        return 0;
    }
    const char *msg = check_precision(p, &d, f->digits, f->places);
    if (msg) {
        add_err(st, i, msg);
        return 0;
    }
    if (f->min0 && dec_negative(&d)) {
        add_err(st, i, "Ensure this value is greater than or equal to 0.");
        return 0;
    }
    st->val[i] = quantize(p, &d, f->places);
    return 1;
}

/* JSONField: storable JSON (parsed first from a form field). */
static int json_value(vstate *st, int i, struct json_object *v, int is_form,
                      const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    struct json_object *j = v;
    if (is_form) {
        const char *err;
        s = json_object_get_string(v);
        len = (size_t)json_object_get_string_len(v);
        if (!ea_utf8_valid(s, len) || ea_body_json(p, s, len, EA_BODY_MAX_DEPTH - 1, &j, &err) != 0) {
            add_err(st, i, "Value must be valid JSON.");
            return 0;
        }
        if (j)
            apr_pool_cleanup_register(p, j, put_json, apr_pool_cleanup_null);
        if (!j) {
            if (!(f->flags & EA_VF_NULL)) {
                add_err(st, i, "This field may not be null.");
                return 0;
            }
            st->val[i] = NULL;
            return 1;
        }
    }
    if (!storable_json(j)) {
        add_err(st, i, "Value must be valid JSON.");
        return 0;
    }
    st->val[i] = apr_pstrdup(p, json_object_to_json_string_ext(
                                    j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return 1;
}

/* PrimaryKeyRelatedField: an integer id of an existing row. */
static int fk_value(vstate *st, int i, struct json_object *v, int is_form,
                    const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    long long id = 0;
    int found_type = 1, overflow = 0;
    switch (json_object_get_type(v)) {
    case json_type_int:
        id = json_object_get_int64(v);
        break;
    case json_type_double:
        if (ea_body_bigint(v)) {
            overflow = 1;
        } else {
            double dv = json_object_get_double(v);
            if (!isfinite(dv))
                found_type = 0;
            else if (dv >= 9.2e18 || dv <= -9.2e18)
                overflow = 1;
            else
                id = (long long)dv;   /* int(1.5) == 1, as Django's get_prep_value */
        }
        break;
    case json_type_string: {
        const char *t = json_object_get_string(v);
        int rc = memchr(t, '\0', (size_t)json_object_get_string_len(v)) ? -1
                 : ea_parse_int64(t, &id);
        if (rc == -1)
            found_type = 0;
        else if (rc == -2)
            overflow = 1;
        break;
    }
    default:
        found_type = 0;
    }
    if (!found_type) {
        add_err(st, i, apr_psprintf(p, "Incorrect type. Expected pk value, received %s.",
                                    type_name(v)));
        return 0;
    }
    int exists = 0;
    const char *idtext = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)id);
    if (!overflow) {
        exists = h->fk_exists(h->ctx, f->fk_table, idtext);
        if (exists < 0)
            return -1;
    }
    if (!exists) {
        add_err(st, i, apr_psprintf(p, "Invalid pk \"%s\" - object does not exist.",
                                    str_of(p, v, NULL)));
        return 0;
    }
    st->val[i] = idtext;
    return 1;
}

/* Validate field i given its value v (state V_VALUE/V_NULL).  Sets
 * st->val[i] on success.  Returns -1 when a hook failed. */
static int field_value(vstate *st, int i, int state, struct json_object *v, int is_form,
                       const ea_vhooks *h, const char *instance_id)
{
    apr_pool_t *p = st->p;
    const ea_vfield *f = &st->vr->fields[i];
    size_t len = 0;
    const char *s;

    /* CharField.run_validation: blank strings first */
    if (f->kind == EA_V_CHAR && state == V_VALUE
        && (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int)
            || json_object_is_type(v, json_type_double))) {
        s = str_of(p, v, &len);
        size_t sl;
        const char *stripped = py_strip(p, s, len, &sl);
        if (sl == 0) {
            if (!(f->flags & EA_VF_BLANK)) {
                add_err(st, i, "This field may not be blank.");
                return 0;
            }
            st->val[i] = "";
            st->have[i] = 1;
            return 0;
        }
        (void)stripped;
    }
    /* RelatedField.run_validation: "" is None */
    if (f->kind == EA_V_FK && state == V_VALUE && json_object_is_type(v, json_type_string)
        && json_object_get_string_len(v) == 0)
        state = V_NULL;
    if (state == V_NULL) {
        if (!(f->flags & EA_VF_NULL)) {
            add_err(st, i, "This field may not be null.");
            return 0;
        }
        st->val[i] = NULL;
        st->have[i] = 1;
        return 0;
    }

    static const kind_fn kinds[] = {
        [EA_V_CHAR] = char_value, [EA_V_CHOICE] = choice_value, [EA_V_INT] = int_value,
        [EA_V_DEC] = dec_value, [EA_V_JSON] = json_value, [EA_V_FK] = fk_value,
    };
    int rc = kinds[f->kind](st, i, v, is_form, h, instance_id);
    if (rc < 0)
        return -1;
    if (rc > 0)
        st->have[i] = 1;
    return 0;
}

/* ---- object-level checks ------------------------------------------------------------------- */

static int field_index(const ea_vresource *vr, const char *key)
{
    for (int i = 0; i < vr->nfields; i++)
        if (strcmp(vr->fields[i].key, key) == 0)
            return i;
    return -1;
}

/* The value validate() sees: the validated one, else the instance's. */
static const char *effective(const vstate *st, const char *const *current, int i, int *known)
{
    *known = 1;
    if (st->have[i])
        return st->val[i];
    if (current)
        return current[i];
    *known = 0;
    return NULL;
}

int ea_validate(apr_pool_t *p, const ea_vresource *vr, ea_vmode mode,
                struct json_object *data, int is_form,
                const char *const *current, const char *instance_id,
                const ea_vhooks *h, ea_vresult *out)
{
    vstate st;
    int nf = vr->nfields;

    memset(out, 0, sizeof(*out));
    ea_buf_init(&out->errors, p, 128);
    if (!data) {
        one_error(p, &out->errors, "non_field_errors", "No data provided");
        return 1;
    }
    if (!json_object_is_type(data, json_type_object)) {
        one_error(p, &out->errors, "non_field_errors",
                  apr_psprintf(p, "Invalid data. Expected a dictionary, but got %s.", type_name(data)));
        return 1;
    }
    st.p = p;
    st.vr = vr;
    st.nerr = 0;
    st.errs = apr_pcalloc(p, sizeof(*st.errs) * (size_t)nf);
    st.val = apr_pcalloc(p, sizeof(*st.val) * (size_t)nf);
    st.have = apr_pcalloc(p, sizeof(*st.have) * (size_t)nf);

    /* (1) every field, errors collected */
    for (int i = 0; i < nf; i++) {
        const ea_vfield *f = &vr->fields[i];
        struct json_object *v = NULL;
        int state = json_object_object_get_ex(data, f->key, &v) ? (v ? V_VALUE : V_NULL) : V_EMPTY;
        if (is_form && state == V_VALUE && f->kind != EA_V_JSON
            && json_object_get_string_len(v) == 0) {
            /* Field.get_value for HTML input */
            if (f->flags & EA_VF_NULL)
                state = (f->flags & EA_VF_BLANK) ? V_VALUE : V_NULL;
            else if (!(f->flags & EA_VF_REQUIRED))
                state = (f->flags & EA_VF_BLANK) ? V_VALUE : V_EMPTY;
        }
        if (state == V_EMPTY) {
            if (mode == EA_V_PARTIAL)
                continue;
            if (f->flags & EA_VF_REQUIRED) {
                add_err(&st, i, "This field is required.");
            } else if (f->flags & EA_VF_DEFNULL) {
                st.val[i] = NULL;
                st.have[i] = 1;
            } else if (mode == EA_V_CREATE) {
                st.val[i] = f->create_default;
                st.have[i] = 1;
            }
            continue;
        }
        if (field_value(&st, i, state, v, is_form, h, instance_id) < 0)
            return -1;
    }
    if (st.nerr) {
        for (int i = 0; i < nf; i++)
            if (st.errs[i])
                put_list(&out->errors, vr->fields[i].key, st.errs[i]);
        ea_buf_putc(&out->errors, '}');
        return 1;
    }

    /* (2) unique together, skipped when a member is NULL */
    if (vr->together) {
        const char *cols[8], *vals[8];
        int n = 0, skip = 0;
        for (const char *const *k = vr->together; *k; k++, n++) {
            int i = field_index(vr, *k), known;
            cols[n] = vr->fields[i].column;
            vals[n] = effective(&st, current, i, &known);
            if (!vals[n])
                skip = 1;
        }
        if (!skip) {
            int rc = h->row_exists(h->ctx, vr->table, n, cols, vals, instance_id);
            if (rc < 0)
                return -1;
            if (rc) {
                ea_buf names;
                ea_buf_init(&names, p, 64);
                for (const char *const *k = vr->together; *k; k++)
                    ea_buf_printf(&names, "%s%s", k == vr->together ? "" : ", ", *k);
                one_error(p, &out->errors, "non_field_errors",
                          apr_psprintf(p, "The fields %s must make a unique set.", names.data));
                return 1;
            }
        }
    }

    /* (3) HydroSiteSerializer.validate(): the first failing check only */
    if (vr->site_checks) {
        static const struct { const char *key; double lo, hi; const char *msg; } checks[] = {
            { "latitude", -90, 90, "La latitude doit \xC3\xAAtre comprise entre -90 et 90." },
            { "longitude", -180, 180, "La longitude doit \xC3\xAAtre comprise entre -180 et 180." },
            { "head_m", 0, HUGE_VAL, "Le d\xC3\xA9nivel\xC3\xA9 doit \xC3\xAAtre positif." },
            { "storage_capacity_mwh", 0, HUGE_VAL,
              "La capacit\xC3\xA9 de stockage doit \xC3\xAAtre positive." },
        };
        for (size_t c = 0; c < sizeof(checks) / sizeof(checks[0]); c++) {
            int i = field_index(vr, checks[c].key), known;
            const char *t = effective(&st, current, i, &known);
            if (!t)
                continue;
            double x = strtod(t, NULL);
            if (x < checks[c].lo || x > checks[c].hi) {
                one_error(p, &out->errors, checks[c].key, checks[c].msg);
                return 1;
            }
        }
    }

    out->cols = apr_palloc(p, sizeof(*out->cols) * (size_t)nf);
    out->vals = apr_palloc(p, sizeof(*out->vals) * (size_t)nf);
    for (int i = 0; i < nf; i++) {
        if (!st.have[i])
            continue;
        out->cols[out->n] = vr->fields[i].column;
        out->vals[out->n] = st.val[i];
        out->n++;
    }
    return 0;
}

const char *ea_validate_unique_body(apr_pool_t *p, const ea_vresource *vr, const char *constraint)
{
    ea_buf b;
    ea_buf_init(&b, p, 96);
    if (!constraint)
        return NULL;
    if (vr->together_constraint && strcmp(constraint, vr->together_constraint) == 0) {
        ea_buf names;
        ea_buf_init(&names, p, 64);
        for (const char *const *k = vr->together; *k; k++)
            ea_buf_printf(&names, "%s%s", k == vr->together ? "" : ", ", *k);
        one_error(p, &b, "non_field_errors",
                  apr_psprintf(p, "The fields %s must make a unique set.", names.data));
        return b.data;
    }
    /* column constraints: core_country_iso2_key, core_energydataset_name_<hash>_uniq */
    for (int i = 0; i < vr->nfields; i++) {
        const ea_vfield *f = &vr->fields[i];
        if (!(f->flags & EA_VF_UNIQUE))
            continue;
        const char *prefix = apr_pstrcat(p, vr->table, "_", f->column, "_", NULL);
        if (strncmp(constraint, prefix, strlen(prefix)) == 0) {
            one_error(p, &b, f->key,
                      apr_psprintf(p, "%s with this %s already exists.", vr->verbose, f->key));
            return b.data;
        }
    }
    if (vr->together) {   /* a Django-named unique_together constraint */
        ea_buf names;
        ea_buf_init(&names, p, 64);
        for (const char *const *k = vr->together; *k; k++)
            ea_buf_printf(&names, "%s%s", k == vr->together ? "" : ", ", *k);
        one_error(p, &b, "non_field_errors",
                  apr_psprintf(p, "The fields %s must make a unique set.", names.data));
        return b.data;
    }
    return NULL;
}

const char *ea_validate_fk_body(apr_pool_t *p, const ea_vresource *vr, const char *constraint,
                                const ea_vresult *written)
{
    ea_buf b;
    ea_buf_init(&b, p, 96);
    if (!constraint)
        return NULL;
    for (int i = 0; i < vr->nfields; i++) {
        const ea_vfield *f = &vr->fields[i];
        if (f->kind != EA_V_FK)
            continue;
        const char *needle = apr_pstrcat(p, "_", f->column, "_", NULL);
        if (!strstr(constraint, needle))
            continue;
        for (int j = 0; j < written->n; j++) {
            if (strcmp(written->cols[j], f->column) == 0 && written->vals[j]) {
                one_error(p, &b, f->key, apr_psprintf(p, "Invalid pk \"%s\" - object does not exist.",
                                                      written->vals[j]));
                return b.data;
            }
        }
    }
    return NULL;
}
