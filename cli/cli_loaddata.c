/* ecoatlas loaddata: load Django fixture files (a JSON array of
 * {"model", "pk", "fields"}) like manage.py loaddata: upsert by primary
 * key, all files in one transaction, sequences moved past the loaded ids.
 * Missing fields get the model defaults of docs/decisions.md §1, applied here
 * because the schema (like Django's) has no SQL DEFAULTs. */
#include "cli.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <json-c/json.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    LD_VALUE,   /* scalar column: text, number, boolean, timestamp */
    LD_JSON,    /* JSONField -> jsonb */
    LD_FK,      /* ForeignKey "x": id -> column x_id */
    LD_M2M,     /* many-to-many: only an empty list is accepted */
} ld_kind;

typedef struct {
    const char *field;
    const char *column;
    ld_kind kind;
    const char *dflt;      /* SQL for a missing field; NULL: required */
} ld_field;

typedef struct {
    const char *model;
    const char *table;
    const char *pk;        /* primary key column */
    int serial;            /* pk has a sequence to move after loading */
    const ld_field *fields;
    int nfields;
    const char *touch;     /* auto_now column refreshed by an update, or NULL */
} ld_model;

#define LD_TIMESTAMPS \
    {"created_at", "created_at", LD_VALUE, "now()"}, \
    {"updated_at", "updated_at", LD_VALUE, "now()"}
#define LD_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const ld_field ld_country[] = {
    LD_TIMESTAMPS,
    {"name", "name", LD_VALUE, NULL},
    {"iso2", "iso2", LD_VALUE, NULL},
    {"iso3", "iso3", LD_VALUE, NULL},
    {"population", "population", LD_VALUE, "NULL"},
    {"boundary", "boundary", LD_JSON, "NULL"},
};
static const ld_field ld_region[] = {
    LD_TIMESTAMPS,
    {"name", "name", LD_VALUE, NULL},
    {"level", "level", LD_VALUE, "''"},
    {"boundary", "boundary", LD_JSON, "NULL"},
    {"country", "country_id", LD_FK, NULL},
};
static const ld_field ld_dataset[] = {
    LD_TIMESTAMPS,
    {"name", "name", LD_VALUE, NULL},
    {"dataset_type", "dataset_type", LD_VALUE, NULL},
    {"source", "source", LD_VALUE, "''"},
    {"description", "description", LD_VALUE, "''"},
    {"file_name", "file_name", LD_VALUE, "''"},
    {"file_checksum", "file_checksum", LD_VALUE, "''"},
    {"metadata", "metadata", LD_JSON, "'{}'"},
};
static const ld_field ld_hydrosite[] = {
    LD_TIMESTAMPS,
    {"name", "name", LD_VALUE, NULL},
    {"latitude", "latitude", LD_VALUE, "NULL"},
    {"longitude", "longitude", LD_VALUE, "NULL"},
    {"elevation_m", "elevation_m", LD_VALUE, "NULL"},
    {"head_m", "head_m", LD_VALUE, "NULL"},
    {"storage_capacity_mwh", "storage_capacity_mwh", LD_VALUE, "NULL"},
    {"turbine_capacity_mw", "turbine_capacity_mw", LD_VALUE, "NULL"},
    {"status", "status", LD_VALUE, "'identified'"},
    {"notes", "notes", LD_VALUE, "''"},
    {"properties", "properties", LD_JSON, "'{}'"},
    {"country", "country_id", LD_FK, NULL},
    {"dataset", "dataset_id", LD_FK, "NULL"},
    {"region", "region_id", LD_FK, "NULL"},
};
static const ld_field ld_metric[] = {
    LD_TIMESTAMPS,
    {"resource_type", "resource_type", LD_VALUE, NULL},
    {"metric", "metric", LD_VALUE, NULL},
    {"value", "value", LD_VALUE, NULL},
    {"unit", "unit", LD_VALUE, "''"},
    {"year", "year", LD_VALUE, "NULL"},
    {"country", "country_id", LD_FK, NULL},
    {"dataset", "dataset_id", LD_FK, NULL},
    {"region", "region_id", LD_FK, "NULL"},
};
static const ld_field ld_climate[] = {
    LD_TIMESTAMPS,
    {"variable", "variable", LD_VALUE, NULL},
    {"unit", "unit", LD_VALUE, NULL},
    {"statistics", "statistics", LD_JSON, "'{}'"},
    {"series", "series", LD_JSON, "'[]'"},
    {"country", "country_id", LD_FK, NULL},
    {"dataset", "dataset_id", LD_FK, NULL},
    {"region", "region_id", LD_FK, "NULL"},
    {"site", "site_id", LD_FK, "NULL"},
};
static const ld_field ld_attachment[] = {
    LD_TIMESTAMPS,
    {"name", "name", LD_VALUE, NULL},
    {"document", "document", LD_VALUE, "NULL"},
    {"data", "data", LD_VALUE, "NULL"},
    {"description", "description", LD_VALUE, "''"},
    {"is_public", "is_public", LD_VALUE, "false"},
    {"site", "site_id", LD_FK, "NULL"},
};
static const ld_field ld_user[] = {
    {"password", "password", LD_VALUE, NULL},
    {"last_login", "last_login", LD_VALUE, "NULL"},
    {"is_superuser", "is_superuser", LD_VALUE, "false"},
    {"username", "username", LD_VALUE, NULL},
    {"first_name", "first_name", LD_VALUE, "''"},
    {"last_name", "last_name", LD_VALUE, "''"},
    {"email", "email", LD_VALUE, "''"},
    {"is_staff", "is_staff", LD_VALUE, "false"},
    {"is_active", "is_active", LD_VALUE, "true"},
    {"date_joined", "date_joined", LD_VALUE, "now()"},
    {"groups", NULL, LD_M2M, NULL},
    {"user_permissions", NULL, LD_M2M, NULL},
};
static const ld_field ld_token[] = {
    {"created", "created", LD_VALUE, "now()"},
    {"user", "user_id", LD_FK, NULL},
};

static const ld_model ld_models[] = {
    {"core.country", "core_country", "id", 1, ld_country, LD_N(ld_country), "updated_at"},
    {"core.region", "core_region", "id", 1, ld_region, LD_N(ld_region), "updated_at"},
    {"core.energydataset", "core_energydataset", "id", 1, ld_dataset, LD_N(ld_dataset), "updated_at"},
    {"core.hydrosite", "core_hydrosite", "id", 1, ld_hydrosite, LD_N(ld_hydrosite), "updated_at"},
    {"core.resourcemetric", "core_resourcemetric", "id", 1, ld_metric, LD_N(ld_metric), "updated_at"},
    {"core.climateseries", "core_climateseries", "id", 1, ld_climate, LD_N(ld_climate), "updated_at"},
    {"core.reportattachment", "core_reportattachment", "id", 1, ld_attachment, LD_N(ld_attachment), "updated_at"},
    {"auth.user", "auth_user", "id", 1, ld_user, LD_N(ld_user), NULL},
    {"authtoken.token", "authtoken_token", "key", 0, ld_token, LD_N(ld_token), NULL},
};
#define LD_NMODELS LD_N(ld_models)
#define LD_MAX_FIELDS 16

/* One object being loaded. */
typedef struct {
    const ld_model *model;
    const char *pk;                         /* NULL: let the sequence choose */
    const char *values[LD_MAX_FIELDS];      /* NULL: SQL NULL */
    uint32_t given;                         /* bit i: field i present */
    size_t index;                           /* in its fixture, for messages */
} ld_object;

/* Objects waiting to be sent together (see ld_flush). */
#define LD_BATCH 500
typedef struct {
    apr_pool_t *pool;                       /* their strings; cleared per flush */
    apr_hash_t *pks;                        /* pks in the batch */
    ld_object objs[LD_BATCH];
    int n;
} ld_batch;

/* State of one run. */
typedef struct {
    cli_ctx *ctx;
    apr_pool_t *obj_pool;     /* values of the object being parsed */
    ld_batch batch;
    int touched[LD_NMODELS];
    long objects;
    const char *file;         /* for messages: where we are */
    size_t index;
    const char *model;
    const char *pk;
} ld_state;

void cli_loaddata_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] loaddata FIXTURE.json [FIXTURE.json...]\n"
          "\n"
          "Load Django fixture files (JSON arrays of {\"model\", \"pk\", \"fields\"}) in one\n"
          "transaction, like manage.py loaddata.  Objects are upserted by primary key:\n"
          "a new object gets the model defaults for the fields it leaves out (created_at\n"
          "and updated_at: now); an existing one has the fields given (and updated_at)\n"
          "replaced and keeps the others.  Foreign keys are checked at the end, so the\n"
          "order of objects and files does not matter.  The id sequences are moved past\n"
          "the largest id afterwards.\n"
          "\n"
          "Models: core.country, core.region, core.energydataset, core.hydrosite,\n"
          "        core.resourcemetric, core.climateseries, core.reportattachment,\n"
          "        auth.user, authtoken.token\n"
          "\n"
          "Options:\n"
          "  -f, --config FILE   Apache configuration to take DBDParams from\n"
          "      --db CONNINFO   PostgreSQL connection string\n"
          "  -h, --help          show this help\n", out);
}

const cli_command cli_cmd_loaddata = {
    "loaddata", "load Django fixture files (JSON)", cli_loaddata, cli_loaddata_usage,
};

/* "FILE: object at index N (model pk=K): message" */
static void ld_error(ld_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ld_error(ld_state *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = apr_pvsprintf(st->ctx->pool, fmt, ap);
    va_end(ap);
    const char *what = "";
    if (st->model != NULL) {
        what = st->pk ? apr_psprintf(st->ctx->pool, " (%s pk=%s)", st->model, st->pk)
                      : apr_psprintf(st->ctx->pool, " (%s without pk)", st->model);
    }
    cli_err(st->ctx, "%s: object at index %zu%s: %s", st->file, st->index, what, msg);
}

static const ld_model *ld_find_model(const char *name)
{
    for (int i = 0; i < LD_NMODELS; i++) {
        if (strcasecmp(ld_models[i].model, name) == 0) {
            return &ld_models[i];
        }
    }
    return NULL;
}

static int ld_field_index(const ld_model *m, const char *field)
{
    for (int i = 0; i < m->nfields; i++) {
        if (strcmp(m->fields[i].field, field) == 0) {
            return i;
        }
    }
    return -1;
}

/* Text for a scalar value as PostgreSQL should parse it; json-c keeps the
 * source text of numbers, so decimals pass through unrounded. */
static int ld_scalar_text(ld_state *st, const ld_field *f, json_object *v, const char **out)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        *out = NULL;
        return 0;
    case json_type_boolean:
        *out = json_object_get_boolean(v) ? "true" : "false";
        return 0;
    case json_type_int:
    case json_type_double:
    case json_type_string:
        *out = apr_pstrdup(st->obj_pool, json_object_get_string(v));
        return 0;
    default:
        ld_error(st, "field '%s': expected a single value, not an object or a list", f->field);
        return -1;
    }
}

static int ld_value(ld_state *st, const ld_field *f, json_object *v, const char **out)
{
    switch (f->kind) {
    case LD_JSON:
        *out = json_object_is_type(v, json_type_null) ? NULL
             : apr_pstrdup(st->obj_pool, json_object_to_json_string_ext(v,
                   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
    case LD_M2M:
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 0) {
            ld_error(st, "many-to-many field '%s' is not supported (leave it out or empty)", f->field);
            return -1;
        }
        return 0;
    case LD_FK:
        if (json_object_is_type(v, json_type_array)) {
            ld_error(st, "field '%s': natural keys are not supported; give the id", f->field);
            return -1;
        }
        return ld_scalar_text(st, f, v, out);
    default:
        return ld_scalar_text(st, f, v, out);
    }
}

static int ld_given_fields(ld_state *st, ld_object *o, json_object *fields)
{
    json_object_object_foreach(fields, key, val) {
        int i = ld_field_index(o->model, key);
        if (i < 0) {
            ld_error(st, "%s has no field named '%s'", o->model->model, key);
            return -1;
        }
        if (ld_value(st, &o->model->fields[i], val, &o->values[i]) != 0) {
            return -1;
        }
        if (o->model->fields[i].kind != LD_M2M) {
            o->given |= 1u << i;
        }
    }
    return 0;
}

/* Without a pk the object can only be new, so it must be complete; with a
 * pk a missing required field is taken from the stored row (see
 * ld_build_sql), which lets a fixture update a few fields. */
static int ld_check_required(ld_state *st, const ld_object *o)
{
    if (o->pk != NULL) {
        return 0;
    }
    for (int i = 0; i < o->model->nfields; i++) {
        const ld_field *f = &o->model->fields[i];
        if (!(o->given & (1u << i)) && f->dflt == NULL && f->kind != LD_M2M) {
            ld_error(st, "missing required field '%s'", f->field);
            return -1;
        }
    }
    return 0;
}

static int ld_parse_pk(ld_state *st, json_object *obj, ld_object *o)
{
    json_object *pk;
    if (!json_object_object_get_ex(obj, "pk", &pk) || json_object_is_type(pk, json_type_null)) {
        return 0;
    }
    st->pk = json_object_get_string(pk);
    if (!json_object_is_type(pk, json_type_int) && !json_object_is_type(pk, json_type_string)) {
        ld_error(st, "\"pk\" must be an integer or a string");
        return -1;
    }
    o->pk = apr_pstrdup(st->obj_pool, st->pk);
    return 0;
}

static int ld_parse_object(ld_state *st, json_object *obj, ld_object *o)
{
    json_object *model, *fields = NULL;
    memset(o, 0, sizeof *o);
    if (!json_object_is_type(obj, json_type_object)
        || !json_object_object_get_ex(obj, "model", &model)
        || !json_object_is_type(model, json_type_string)) {
        ld_error(st, "expected an object with a \"model\" string");
        return -1;
    }
    st->model = json_object_get_string(model);
    if (ld_parse_pk(st, obj, o) != 0) {
        return -1;
    }
    o->model = ld_find_model(st->model);
    o->index = st->index;
    if (o->model == NULL) {
        ld_error(st, "unknown model '%s'", st->model);
        return -1;
    }
    if (json_object_object_get_ex(obj, "fields", &fields)
        && !json_object_is_type(fields, json_type_object)) {
        ld_error(st, "\"fields\" must be an object");
        return -1;
    }
    if (fields != NULL && ld_given_fields(st, o, fields) != 0) {
        return -1;
    }
    return ld_check_required(st, o);
}

/* Consecutive objects of the same model and shape go to the server as one
 * multi-row INSERT: per-statement costs (a round trip, the statement
 * triggers of migration 0002) would otherwise dominate large fixtures. */
static int ld_shape_matches(const ld_batch *b, const ld_object *o)
{
    return b->objs[0].model == o->model && b->objs[0].given == o->given
        && (b->objs[0].pk != NULL) == (o->pk != NULL);
}

static int ld_param_count(const ld_object *o)
{
    int n = o->pk != NULL;
    for (uint32_t g = o->given; g; g &= g - 1) {
        n++;
    }
    return n;
}

/* One VALUES row for an object whose parameters follow $base: given
 * values, defaults, or for a missing required field the stored row's
 * value (NOT NULL is checked before ON CONFLICT looks for the row). */
static const char *ld_values_row(apr_pool_t *p, const ld_object *o, int base)
{
    const ld_model *m = o->model;
    int n = base;
    apr_array_header_t *vals = apr_array_make(p, m->nfields + 1, sizeof(const char *));
    if (o->pk != NULL) {
        APR_ARRAY_PUSH(vals, const char *) = apr_psprintf(p, "$%d", ++n);
    }
    for (int i = 0; i < m->nfields; i++) {
        const ld_field *f = &m->fields[i];
        const char *cast = f->kind == LD_JSON ? "::jsonb" : "";
        if (f->kind == LD_M2M) {
            continue;
        }
        if (o->given & (1u << i)) {
            APR_ARRAY_PUSH(vals, const char *) = apr_psprintf(p, "$%d%s", ++n, cast);
        }
        else if (f->dflt != NULL) {
            APR_ARRAY_PUSH(vals, const char *) = apr_pstrcat(p, f->dflt, cast, NULL);
        }
        else {
            APR_ARRAY_PUSH(vals, const char *) = apr_psprintf(p, "(SELECT %s FROM %s WHERE %s = $%d)",
                                                              f->column, m->table, m->pk, base + 1);
        }
    }
    return apr_pstrcat(p, "(", apr_array_pstrcat(p, vals, ','), ")", NULL);
}

/* INSERT every column of the rows, and ON CONFLICT update the given
 * columns plus the auto_now one. */
static const char *ld_build_sql(apr_pool_t *p, const ld_object *objs, int nobjs)
{
    const ld_model *m = objs[0].model;
    apr_array_header_t *cols = apr_array_make(p, m->nfields + 1, sizeof(const char *));
    apr_array_header_t *sets = apr_array_make(p, m->nfields + 1, sizeof(const char *));
    apr_array_header_t *rows = apr_array_make(p, nobjs, sizeof(const char *));
    if (objs[0].pk != NULL) {
        APR_ARRAY_PUSH(cols, const char *) = m->pk;
    }
    for (int i = 0; i < m->nfields; i++) {
        const ld_field *f = &m->fields[i];
        if (f->kind == LD_M2M) {
            continue;
        }
        APR_ARRAY_PUSH(cols, const char *) = f->column;
        if ((objs[0].given & (1u << i)) || (m->touch && strcmp(f->column, m->touch) == 0)) {
            APR_ARRAY_PUSH(sets, const char *) = apr_pstrcat(p, f->column, " = EXCLUDED.", f->column, NULL);
        }
    }
    int per_row = ld_param_count(&objs[0]);
    for (int r = 0; r < nobjs; r++) {
        APR_ARRAY_PUSH(rows, const char *) = ld_values_row(p, &objs[r], r * per_row);
    }
    const char *sql = apr_psprintf(p, "INSERT INTO %s (%s) VALUES %s", m->table,
                                   apr_array_pstrcat(p, cols, ','), apr_array_pstrcat(p, rows, ','));
    if (objs[0].pk == NULL) {
        return sql;
    }
    if (sets->nelts == 0) {
        return apr_psprintf(p, "%s ON CONFLICT (%s) DO NOTHING", sql, m->pk);
    }
    return apr_psprintf(p, "%s ON CONFLICT (%s) DO UPDATE SET %s", sql, m->pk, apr_array_pstrcat(p, sets, ','));
}

/* Insert objs[0..nobjs-1]; on failure report against objs[0], which is
 * exact when nobjs is 1 (see ld_flush). */
static int ld_insert(ld_state *st, const ld_object *objs, int nobjs, int report)
{
    apr_pool_t *p = st->batch.pool;
    int per_row = ld_param_count(&objs[0]);
    const char **params = apr_palloc(p, sizeof(char *) * (size_t)(per_row * nobjs));
    int n = 0;
    for (int r = 0; r < nobjs; r++) {
        const ld_object *o = &objs[r];
        if (o->pk != NULL) {
            params[n++] = o->pk;
        }
        for (int i = 0; i < o->model->nfields; i++) {
            if (o->given & (1u << i)) {
                params[n++] = o->values[i];
            }
        }
    }
    PGresult *res = PQexecParams(st->ctx->pg, ld_build_sql(p, objs, nobjs), n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok && report) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int not_null = state != NULL && strcmp(state, "23502") == 0;
        st->index = objs[0].index;
        st->model = objs[0].model->model;
        st->pk = objs[0].pk;
        ld_error(st, "%s%s", cli_chomp(st->ctx->pool, PQresultErrorMessage(res)),
                 not_null ? "\nHINT:  a new object must give every required field" : "");
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* Send the batch.  If the multi-row statement fails, roll it back to the
 * savepoint and replay the objects one by one, so that the error names
 * the object that caused it. */
static int ld_flush(ld_state *st)
{
    ld_batch *b = &st->batch;
    int ret = 0;
    if (b->n == 1) {
        ret = ld_insert(st, b->objs, 1, 1);
    }
    else if (b->n > 1) {
        if (cli_db_exec(st->ctx, "SAVEPOINT ecoatlas_loaddata", "loaddata") != 0) {
            return -1;
        }
        if (ld_insert(st, b->objs, b->n, 0) == 0) {
            ret = cli_db_exec(st->ctx, "RELEASE SAVEPOINT ecoatlas_loaddata", "loaddata");
        }
        else if ((ret = cli_db_exec(st->ctx, "ROLLBACK TO SAVEPOINT ecoatlas_loaddata", "loaddata")) == 0) {
            for (int i = 0; i < b->n && ret == 0; i++) {
                ret = ld_insert(st, &b->objs[i], 1, 1);
            }
        }
    }
    if (b->n > 0) {
        st->touched[b->objs[0].model - ld_models] = 1;
    }
    st->objects += b->n;
    b->n = 0;
    apr_pool_clear(b->pool);
    b->pks = apr_hash_make(b->pool);
    return ret;
}

/* The object was parsed into the per-object pool; the batch keeps its own
 * copy of the strings until it is sent. */
static void ld_copy_object(ld_object *dst, const ld_object *src, apr_pool_t *p)
{
    *dst = *src;
    dst->pk = src->pk ? apr_pstrdup(p, src->pk) : NULL;
    for (int i = 0; i < src->model->nfields; i++) {
        if (src->values[i] != NULL) {
            dst->values[i] = apr_pstrdup(p, src->values[i]);
        }
    }
}

/* A pk twice in one statement is an error for ON CONFLICT DO UPDATE, and
 * the later object must win: so a repeated pk starts a new batch. */
static int ld_add(ld_state *st, const ld_object *o)
{
    ld_batch *b = &st->batch;
    if (b->n > 0 && (b->n == LD_BATCH || !ld_shape_matches(b, o)
                     || (o->pk && apr_hash_get(b->pks, o->pk, APR_HASH_KEY_STRING)))) {
        if (ld_flush(st) != 0) {
            return -1;
        }
    }
    ld_object *copy = &b->objs[b->n++];
    ld_copy_object(copy, o, b->pool);
    if (copy->pk != NULL) {
        apr_hash_set(b->pks, copy->pk, APR_HASH_KEY_STRING, "");
    }
    return 0;
}

static int ld_objects(ld_state *st, json_object *root)
{
    if (!json_object_is_type(root, json_type_array)) {
        cli_err(st->ctx, "%s: a fixture must be a JSON array of objects", st->file);
        return -1;
    }
    size_t n = json_object_array_length(root);
    for (st->index = 0; st->index < n; st->index++) {
        ld_object o;
        st->model = NULL;
        st->pk = NULL;
        apr_pool_clear(st->obj_pool);
        if (ld_parse_object(st, json_object_array_get_idx(root, st->index), &o) != 0
            || ld_add(st, &o) != 0) {
            return -1;
        }
    }
    return ld_flush(st);
}

/* 1-based line and column of a byte offset, for parse errors. */
static void ld_position(const char *text, size_t off, long *line, long *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        }
        else {
            (*col)++;
        }
    }
}

static json_object *ld_parse_text(ld_state *st, const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH * 4);
    /* plain RFC 8259: the lenient mode takes trailing commas and the like */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue) {
        cli_err(st->ctx, "%s: invalid JSON: unexpected end of file", st->file);
        return NULL;
    }
    if (jerr == json_tokener_success) {
        while (end < len && strchr(" \t\r\n", text[end]) != NULL) {
            end++;
        }
        if (end == len) {
            return root;
        }
        json_object_put(root);
    }
    long line, col;
    ld_position(text, end, &line, &col);
    cli_err(st->ctx, "%s:%ld:%ld: invalid JSON: %s", st->file, line, col,
            jerr == json_tokener_success ? "unexpected data after the top-level value"
                                         : json_tokener_error_desc(jerr));
    return NULL;
}

static int ld_file(ld_state *st, const char *path)
{
    /* a sub-pool per file: a large fixture's text is freed before the next */
    apr_pool_t *fp;
    apr_pool_create(&fp, st->ctx->pool);
    st->file = path;
    apr_size_t len;
    char *text = cli_read_file(st->ctx, fp, path, &len);
    int ret = -1;
    if (text != NULL && len > INT32_MAX) {
        cli_err(st->ctx, "%s: too large for one fixture (2 GB at most)", path);
    }
    else if (text != NULL) {
        json_object *root = ld_parse_text(st, text, len);
        ret = root ? ld_objects(st, root) : -1;
        json_object_put(root);
    }
    apr_pool_destroy(fp);
    return ret;
}

/* Like Django's sequence reset: the next id follows the largest one. */
static int ld_reset_sequences(ld_state *st)
{
    for (int i = 0; i < LD_NMODELS; i++) {
        const ld_model *m = &ld_models[i];
        if (!st->touched[i] || !m->serial) {
            continue;
        }
        const char *sql = apr_psprintf(st->ctx->pool,
            "SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce(max(%s), 1), max(%s) IS NOT NULL) FROM %s",
            m->table, m->pk, m->pk, m->pk, m->table);
        if (cli_db_exec(st->ctx, sql, apr_psprintf(st->ctx->pool, "resetting the sequence of %s", m->table)) != 0) {
            return -1;
        }
    }
    return 0;
}

static int ld_run(ld_state *st, int nfiles, char **files)
{
    if (cli_db_exec(st->ctx, "BEGIN; SET CONSTRAINTS ALL DEFERRED", "starting a transaction") != 0) {
        return -1;
    }
    for (int i = 0; i < nfiles; i++) {
        if (ld_file(st, files[i]) != 0) {
            return -1;
        }
    }
    if (ld_reset_sequences(st) != 0) {
        return -1;
    }
    /* deferred foreign keys are checked here, after every file is in */
    return cli_db_exec(st->ctx, "COMMIT", "committing the fixtures (a reference to a missing object?)");
}

int cli_loaddata(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if ((rc = cli_common_option(ctx, &cli_cmd_loaddata, c, argv)) >= 0) {
            return rc;
        }
    }
    if (optind >= argc) {
        return cli_usage_error(ctx, &cli_cmd_loaddata, "no fixture file given");
    }
    if (cli_db_connect(ctx) != 0) {
        return CLI_EXIT_FAIL;
    }
    ld_state st;
    memset(&st, 0, sizeof st);
    st.ctx = ctx;
    apr_pool_create(&st.obj_pool, ctx->pool);
    apr_pool_create(&st.batch.pool, ctx->pool);
    st.batch.pks = apr_hash_make(st.batch.pool);
    if (ld_run(&st, argc - optind, argv + optind) != 0) {
        cli_db_rollback(ctx);
        return CLI_EXIT_FAIL;
    }
    printf("Installed %ld object(s) from %d fixture(s)\n", st.objects, argc - optind);
    return CLI_EXIT_OK;
}
