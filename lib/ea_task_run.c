/* ea_task_run: generate_metric_snapshot, import_resources, import_geojson,
 * noop (benchmarks) and the test-only sleep. */
#include "ea_task_run.h"
#include "ea_buf.h"
#include "ea_import.h"
#include "ea_json.h"
#include "ea_logno.h"
#include "ea_queue.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <json-c/json.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A line for the log of whoever runs the task (the worker, or the module in
 * eager mode); its format starts with its id (docs/log-messages.md). */
static void task_log(ea_task_env *env, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void task_log(ea_task_env *env, int level, const char *fmt, ...)
{
    va_list ap;
    if (env->log == NULL)
        return;
    va_start(ap, fmt);
    char *msg = apr_pvsprintf(env->pool, fmt, ap);
    va_end(ap);
    env->log(env->log_baton, level, msg);
}

static char *task_pgerr(apr_pool_t *p, PGconn *pg)
{
    char *m = apr_pstrdup(p, PQerrorMessage(pg));
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        m[--n] = '\0';
    return m;
}

/* A string argument: NULL when absent or null; *bad when another type. */
static const char *arg_str(json_object *args, const char *key, int *bad)
{
    json_object *v;
    if (!json_object_object_get_ex(args, key, &v) || v == NULL)
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *bad = 1;
        return NULL;
    }
    return json_object_get_string(v);
}

static int arg_bool(json_object *args, const char *key, int *bad)
{
    json_object *v;
    if (!json_object_object_get_ex(args, key, &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_boolean))
        return json_object_get_boolean(v);
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 || strcmp(s, "on") == 0)
            return 1;
        if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0 || strcmp(s, "off") == 0 || *s == '\0')
            return 0;
    }
    *bad = 1;
    return 0;
}

/* ---- generate_metric_snapshot -------------------------------------------------------- */

/* D5 (docs/decisions.md): resource_types distinct, with the count and total per type, from
 * the counts the triggers keep (no scan of core_resourcemetric). */
static ea_taskrun_status task_snapshot(ea_task_env *env, const char *args_json, char **result, char **error)
{
    json_object *args = json_tokener_parse(args_json);
    int bad = 0;
    const char *iso3 = args ? arg_str(args, "country_iso3", &bad) : NULL;
    PGresult *r;
    ea_buf b;
    char now[32];
    long long total = 0;

    if (bad) {
        json_object_put(args);
        *error = "country_iso3 must be a string or null";
        return EA_TASKRUN_FAIL;
    }
    iso3 = iso3 ? apr_pstrdup(env->pool, iso3) : NULL;
    json_object_put(args);
    if (iso3 && *iso3) {
        const char *params[] = {iso3};
        r = PQexecParams(env->pg,
                         "SELECT g.resource_type, sum(g.n)::bigint, sum(g.total)::float8"
                         " FROM ecoatlas_resourcemetric_count g"
                         " WHERE g.country_id IN (SELECT id FROM core_country WHERE upper(iso3) = upper($1))"
                         " GROUP BY 1 ORDER BY 1", 1, NULL, params, NULL, NULL, 0);
    }
    else {
        r = PQexec(env->pg, "SELECT g.resource_type, sum(g.n)::bigint, sum(g.total)::float8"
                            " FROM ecoatlas_resourcemetric_count g GROUP BY 1 ORDER BY 1");
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        *error = apr_pstrcat(env->pool, "generate_metric_snapshot: ", task_pgerr(env->pool, env->pg), NULL);
        PQclear(r);
        return EA_TASKRUN_FAIL;
    }
    ea_buf_init(&b, env->pool, 512);
    for (int i = 0; i < PQntuples(r); i++)
        total += strtoll(PQgetvalue(r, i, 1), NULL, 10);
    ea_buf_printf(&b, "{\"total_metrics\":%lld,\"resource_types\":[", total);
    for (int i = 0; i < PQntuples(r); i++) {
        char f[40];
        ea_fmt_pyfloat(f, sizeof f, strtod(PQgetvalue(r, i, 2), NULL));
        ea_buf_puts(&b, i ? ",{\"resource_type\":" : "{\"resource_type\":");
        ea_json_cstr(&b, PQgetvalue(r, i, 0));
        ea_buf_printf(&b, ",\"metrics\":%s,\"total\":%s}", PQgetvalue(r, i, 1), f);
    }
    PQclear(r);
    ea_task_now_iso(now);
    ea_buf_puts(&b, "],\"generated_at\":");
    ea_json_cstr(&b, now);
    ea_buf_puts(&b, ",\"task_id\":");
    ea_json_cstr(&b, env->task_id);
    ea_buf_puts(&b, ",\"country_iso3\":");
    ea_json_cstr(&b, iso3);
    ea_buf_putc(&b, '}');
    task_log(env, EA_LOG_INFO, EA_LOGNO(00001) "Generated metric snapshot");
    *result = b.data;
    return EA_TASKRUN_OK;
}

/* ---- imports ----------------------------------------------------------------------------- */

typedef struct task_import_report {
    ea_buf *rej;
    int n;
} task_import_report;

#define TASK_MAX_REJECTIONS 100

static void task_import_reject(void *baton, unsigned long line, const char *reason)
{
    task_import_report *t = baton;
    if (t->n < TASK_MAX_REJECTIONS) {
        ea_buf_printf(t->rej, "%s{\"line\":%lu,\"reason\":", t->n ? "," : "", line);
        ea_json_cstr(t->rej, reason);
        ea_buf_putc(t->rej, '}');
    }
    t->n++;
}

const char *ea_task_confine(apr_pool_t *p, const char *dir, const char *path, const char **why)
{
    char rdir[PATH_MAX], rpath[PATH_MAX];
    const char *resolved, *slash;

    if (dir == NULL && apr_temp_dir_get(&dir, p) != APR_SUCCESS) {
        *why = "no import directory";
        return NULL;
    }
    if (realpath(dir, rdir) == NULL) {
        *why = "the import directory (EcoAtlasImportDir) cannot be resolved";
        return NULL;
    }
    if (realpath(path, rpath) != NULL) {
        resolved = rpath;
    } else if (errno == ENOENT && (slash = strrchr(path, '/')) != NULL && slash[1] != '\0'
               && strcmp(slash + 1, ".") != 0 && strcmp(slash + 1, "..") != 0) {
        /* not there (yet): its directory must be inside, the name is kept */
        char *parent = apr_pstrmemdup(p, path, slash == path ? 1 : (apr_size_t)(slash - path));
        if (realpath(parent, rpath) == NULL) {
            *why = "the file's directory cannot be resolved";
            return NULL;
        }
        resolved = apr_pstrcat(p, rpath, "/", slash + 1, NULL);
    } else {
        *why = "the path cannot be resolved";
        return NULL;
    }
    size_t n = strlen(rdir);
    if (n == 1)   /* EcoAtlasImportDir / : everything is below it */
        n = 0;
    if (strncmp(resolved, rdir, n) != 0 || resolved[n] != '/' || resolved[n + 1] == '\0') {
        *why = "the path is outside the import directory (EcoAtlasImportDir)";
        return NULL;
    }
    return apr_pstrdup(p, resolved);
}

static ea_taskrun_status task_import(ea_task_env *env, const char *args_json, char **result, char **error,
                                     int geo)
{
    json_object *args = json_tokener_parse(args_json);
    ea_import_opts o;
    ea_import_result res;
    task_import_report rep;
    ea_buf rej, b;
    int bad = 0, rc;
    const char *path, *v;

    if (args == NULL || !json_object_is_type(args, json_type_object)) {
        json_object_put(args);
        *error = "the arguments must be a JSON object";
        return EA_TASKRUN_FAIL;
    }
    ea_import_opts_init(&o);
    path = arg_str(args, "path", &bad);
#define STR_OPT(key, field) if ((v = arg_str(args, key, &bad)) != NULL) o.field = apr_pstrdup(env->pool, v)
    if (!geo) {
        STR_OPT("dataset_name", dataset_name);
        STR_OPT("dataset_source", dataset_source);
        STR_OPT("resource_type", resource_type);
        STR_OPT("default_metric", default_metric);
    }
    else {
        STR_OPT("target", target);
        STR_OPT("country_iso3", country_iso3);
        STR_OPT("name_field", name_field);
        STR_OPT("iso3_field", iso3_field);
        STR_OPT("level", level);
    }
#undef STR_OPT
    o.skip_invalid = arg_bool(args, "skip_invalid", &bad);
    int remove_file = arg_bool(args, "remove_file", &bad);
    path = path ? apr_pstrdup(env->pool, path) : NULL;
    json_object_put(args);
    if (bad || path == NULL || *path == '\0') {
        *error = bad ? "invalid argument types (strings, and a boolean skip_invalid)" : "path is required";
        return EA_TASKRUN_FAIL;
    }
    /* Whoever can write to the queue names the file: it is read, and with
     * remove_file deleted, only below EcoAtlasImportDir (docs/security.md). */
    const char *why = NULL, *real = ea_task_confine(env->pool, env->import_dir, path, &why);
    if (real == NULL) {
        *error = apr_psprintf(env->pool, "Import refused: %s: %s", why, path);
        return EA_TASKRUN_FAIL;
    }
    path = real;
    ea_buf_init(&rej, env->pool, 256);
    rep.rej = &rej;
    rep.n = 0;
    o.report = task_import_reject;
    o.baton = &rep;
    o.cancel = env->cancel;
    rc = geo ? ea_import_geojson(env->pg, env->pool, path, &o, &res)
             : ea_import_resources(env->pg, env->pool, path, &o, &res);
    /* an uploaded file (POST /api/imports/) goes once the outcome is final */
    if (remove_file && (rc == 0 || PQstatus(env->pg) == CONNECTION_OK))
        unlink(path);
    ea_buf_init(&b, env->pool, 256 + rej.len);
    if (rc != 0) {
        ea_buf_puts(&b, res.message);
        if (rep.n > 0) {
            ea_buf_printf(&b, " Lignes rejetées: %s", rej.data);
            if (rep.n > TASK_MAX_REJECTIONS)
                ea_buf_printf(&b, " (+%d)", rep.n - TASK_MAX_REJECTIONS);
        }
        *error = b.data;
        return PQstatus(env->pg) != CONNECTION_OK ? EA_TASKRUN_RETRY : EA_TASKRUN_FAIL;
    }
    task_log(env, EA_LOG_INFO, EA_LOGNO(00002) "%s", res.message);
    ea_buf_puts(&b, "{\"message\":");
    ea_json_cstr(&b, res.message);
    ea_buf_printf(&b, ",\"imported\":%lld,\"rejected\":%lld,\"rejections\":[%s]}", res.imported,
                  res.rejected, rej.data);
    *result = b.data;
    return EA_TASKRUN_OK;
}

static ea_taskrun_status task_import_resources(ea_task_env *env, const char *a, char **r, char **e)
{
    return task_import(env, a, r, e, 0);
}

static ea_taskrun_status task_import_geojson(ea_task_env *env, const char *a, char **r, char **e)
{
    return task_import(env, a, r, e, 1);
}

/* ---- noop and sleep ---------------------------------------------------------------------- */

static ea_taskrun_status task_noop(ea_task_env *env, const char *a, char **r, char **e)
{
    *r = "null";
    return EA_TASKRUN_OK;
}

/* Test-only: pg_sleep(seconds) on the task's connection, so that the time
 * limit (PQcancel) and kill -9 can be exercised mid-task. */
static ea_taskrun_status task_sleep(ea_task_env *env, const char *args_json, char **r, char **e)
{
    json_object *args = json_tokener_parse(args_json), *v;
    double secs = 1;
    char buf[32];
    PGresult *res;
    if (args && json_object_object_get_ex(args, "seconds", &v))
        secs = json_object_get_double(v);
    json_object_put(args);
    if (!(secs >= 0 && secs <= 86400)) {
        *e = "seconds must be from 0 to 86400";
        return EA_TASKRUN_FAIL;
    }
    snprintf(buf, sizeof buf, "%.3f", secs);
    const char *params[] = {buf};
    res = PQexecParams(env->pg, "SELECT pg_sleep($1::float8)", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *e = apr_pstrcat(env->pool, "sleep: ", task_pgerr(env->pool, env->pg), NULL);
        PQclear(res);
        return EA_TASKRUN_FAIL;
    }
    PQclear(res);
    *r = apr_psprintf(env->pool, "{\"slept\":%s}", buf);
    return EA_TASKRUN_OK;
}

static const ea_task_def task_defs[] = {
    {"generate_metric_snapshot", 1, 0, task_snapshot},
    {"import_resources", 1, 0, task_import_resources},
    {"import_geojson", 1, 0, task_import_geojson},
    {"noop", 0, 0, task_noop},
    {"sleep", 1, 1, task_sleep},
};

const ea_task_def *ea_task_find(const char *name, int allow_test)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof task_defs / sizeof task_defs[0]; i++)
        if (strcmp(task_defs[i].name, name) == 0 && (allow_test || !task_defs[i].test_only))
            return &task_defs[i];
    return NULL;
}

ea_taskrun_status ea_task_run(const ea_task_def *def, ea_task_env *env, const char *args_json,
                              char **result, char **error)
{
    json_object *args;
    ea_taskrun_status st;
    *result = NULL;
    *error = NULL;
    if (args_json == NULL || *args_json == '\0')
        args_json = "{}";
    args = json_tokener_parse(args_json);
    if (args == NULL || !json_object_is_type(args, json_type_object)) {
        json_object_put(args);
        *error = "the arguments must be a JSON object";
        return EA_TASKRUN_FAIL;
    }
    json_object_put(args);
    st = def->run(env, args_json, result, error);
    if (st == EA_TASKRUN_FAIL && def->needs_db && env->pg != NULL) {
        /* transient: the connection went away, or PostgreSQL asks for a retry */
        if (PQstatus(env->pg) != CONNECTION_OK)
            st = EA_TASKRUN_RETRY;
    }
    if (st != EA_TASKRUN_OK && *error == NULL)
        *error = "unknown error";
    return st;
}

int ea_task_pg_setup(PGconn *pg)
{
    PGresult *r;
    int ok;
    if (PQsetClientEncoding(pg, "UTF8") != 0)
        return -1;
    /* jit off as on the module's connections (docs/security.md) */
    r = PQexec(pg, "SET client_min_messages = warning; SET TimeZone = 'UTC'; SET jit = off;"
                   " SET application_name = 'ecoatlas-worker'");
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

int ea_task_count(void)
{
    return (int)(sizeof task_defs / sizeof task_defs[0]);
}

const char *ea_task_name_at(int i)
{
    return i >= 0 && i < ea_task_count() ? task_defs[i].name : NULL;
}

int ea_task_index(const char *name)
{
    for (int i = 0; name && i < ea_task_count(); i++)
        if (strcmp(task_defs[i].name, name) == 0)
            return i;
    return -1;
}
