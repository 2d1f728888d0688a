/* ea_handle_tasks: the task endpoints (docs/decisions.md §2.7, D9) and the
 * EcoAtlasBrokerURL / EcoAtlasResultBackend / EcoAtlasTaskTimeLimit /
 * EcoAtlasImportDir directives.
 *   POST /api/resource-metrics/enqueue_snapshot/  staff  202 {"task_id"}
 *   GET  /api/tasks/<id>/                         staff  the task record
 *   POST /api/imports/                            staff  multipart upload, 202 {"task_id"}
 * Queued mode puts the task on Redis (lib/ea_queue.c: record and message in
 * one transaction, a short timeout, 503 when Redis is away); eager mode
 * (EcoAtlasTaskAlwaysEager On) runs the same task code (lib/ea_task_run.c) in
 * the request on the request's pooled database connection. */
#include "ea_mod_conf.h"
#include "ea_logno.h"
#include "ea_mod_req.h"
#include "ea_mod_respond.h"
#include "ea_mod_db.h"
#include "ea_mod_body.h"
#include "ea_mod_tasks.h"
#include "ea_mod_metrics.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_lib.h"
#include "unixd.h"

#include "ea_body.h"
#include "ea_json.h"
#include "ea_queue.h"
#include "ea_redis.h"
#include "ea_settings.h"
#include "ea_task_run.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

APLOG_USE_MODULE(ecoatlas);

#define EA_TASK_REDIS_TIMEOUT_MS 1000
/* Uploads are read whole (then written to EcoAtlasImportDir): a bound on
 * what one request may make a child hold. */
#define EA_IMPORT_MAX_BODY (64LL * 1024 * 1024)

/* ---- directives ------------------------------------------------------------------- */

const char *ea_tasks_set_url(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_srv_conf *c = ea_sconf(cmd->server);
    ea_redis_url u;
    const char *err;
    if (ea_redis_url_parse(arg, &u, &err) != 0)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s': %s",
                            cmd->directive->directive, ea_redis_url_redact(cmd->pool, arg), err);
    if (cmd->info == (void *)0)
        c->broker_url = arg;
    else
        c->result_backend = arg;
    return NULL;
}

const char *ea_tasks_set_time_limit(cmd_parms *cmd, void *dconf, const char *arg)
{
    char why[128];
    long v;
    if (ea_setting_parse("EcoAtlasTaskTimeLimit", arg, &v, why, sizeof why) != 0)
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (%s)",
                            cmd->directive->directive, arg, why);
    ea_sconf(cmd->server)->task_time_limit = (int)v;
    return NULL;
}

const char *ea_tasks_set_import_dir(cmd_parms *cmd, void *dconf, const char *arg)
{
    if (arg[0] != '/')
        return apr_psprintf(cmd->pool, "Invalid value for directive '%s': '%s' (expected an "
                            "absolute path)", cmd->directive->directive, arg);
    ea_sconf(cmd->server)->import_dir = arg;
    return NULL;
}

/* May the user the children run as (User/Group when started as root, else
 * this process) create and remove files in DIR?  Returns NULL or why not. */
static const char *import_dir_problem(apr_pool_t *p, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return apr_psprintf(p, "%s", strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return "not a directory";
    if (geteuid() != 0)
        return access(dir, W_OK | X_OK) == 0 ? NULL
               : apr_psprintf(p, "not writable by this user (%s)", strerror(errno));
    uid_t uid = ap_unixd_config.user_id;
    gid_t gid = ap_unixd_config.group_id;
    mode_t need;
    if (uid == 0 || st.st_uid == uid) {
        need = S_IWUSR | S_IXUSR;
    }
    else {
        int in_group = st.st_gid == gid;
        gid_t groups[256];
        int n = (int)(sizeof groups / sizeof groups[0]);
        if (!in_group && ap_unixd_config.user_name
            && getgrouplist(ap_unixd_config.user_name, gid, groups, &n) >= 0) {
            for (int i = 0; i < n && !in_group; i++)
                in_group = groups[i] == st.st_gid;
        }
        need = in_group ? (S_IWGRP | S_IXGRP) : (S_IWOTH | S_IXOTH);
    }
    if (uid != 0 && (st.st_mode & need) != need)
        return apr_psprintf(p, "not writable by user %s (the User httpd's children run as): "
                            "owner %ld, group %ld, mode %04o", ap_unixd_config.user_name,
                            (long)st.st_uid, (long)st.st_gid, (unsigned)(st.st_mode & 07777));
    return NULL;
}

int ea_tasks_check_config(apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        const char *dir = ea_sconf(v)->import_dir;
        const char *why = dir ? import_dir_problem(ptemp, dir) : NULL;
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         EA_LOGNO(00031) "EcoAtlasImportDir %s: %s; uploaded imports (POST /api/imports/) are "
                         "written there: create it, writable by httpd's User and readable by "
                         "the worker (docs/directives.md, EcoAtlasImportDir)", dir, why);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int conf_eager(const ea_srv_conf *c)
{
    return ea_srv_get(c, task_eager) == 1;
}

static int conf_time_limit(const ea_srv_conf *c)
{
    return ea_srv_get(c, task_time_limit);
}

/* ---- helpers -------------------------------------------------------------------------- */

static ea_taskq *open_queue(ea_req *rq, int need_broker)
{
    ea_srv_conf *c = ea_sconf(rq->r->server);
    ea_taskq_opts o;
    const char *err;
    memset(&o, 0, sizeof o);
    o.broker_url = c->broker_url ? c->broker_url : (need_broker ? NULL : c->result_backend);
    o.backend_url = c->result_backend;
    o.timeout_ms = EA_TASK_REDIS_TIMEOUT_MS;
    o.worker_name = "httpd";
    if (o.broker_url == NULL)
        return NULL;
    ea_taskq *q = ea_taskq_create(rq->r->pool, &o, &err);
    if (q != NULL)
        apr_pool_cleanup_register(rq->r->pool, q, ea_taskq_close_cleanup,
                                  apr_pool_cleanup_null);
    return q;
}

static int send_unavailable(ea_req *rq, ea_taskq *q)
{
    ea_count(rq->r->server, EA_C_TASK_BROKER_ERROR);
    if (ea_log_once(rq->r->server, "task-broker", 0))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r, EA_LOGNO(00032) "task broker unavailable: %s",
                      ea_taskq_error(q));
    apr_table_setn(rq->r->err_headers_out, "Retry-After", "5");
    return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE,
                          "The task queue is unavailable; try again later.");
}

static int send_task_id(ea_req *rq, const char *id)
{
    ea_buf b;
    ea_buf_init(&b, rq->r->pool, 64);
    ea_buf_puts(&b, "{\"task_id\":");
    ea_json_cstr(&b, id);
    ea_buf_putc(&b, '}');
    return ea_send_json(rq, HTTP_ACCEPTED, &b);
}

static void eager_log(void *baton, int level, const char *msg)
{
    request_rec *r = baton;
    ap_log_rerror(APLOG_MARK, level <= EA_LOG_ERROR ? APLOG_ERR : level == EA_LOG_WARNING
                  ? APLOG_WARNING : level == EA_LOG_INFO ? APLOG_INFO : APLOG_DEBUG, 0, r,
                  EA_LOG_RELAY "%s", msg);
}

/* Eager mode: run the task on the request's database connection, store
 * its record when a result backend is configured, answer 202 with its id;
 * a failure propagates (500), as CELERY_TASK_EAGER_PROPAGATES did. */
typedef struct eager_run {
    const ea_task_def *def;
    ea_task_env *env;
    const char *args;
    char **result, **error;
    ea_taskrun_status st;
} eager_run;

static void eager_on(PGconn *pg, void *baton)
{
    eager_run *e = baton;
    e->env->pg = pg;
    e->st = ea_task_run(e->def, e->env, e->args, e->result, e->error);
}

static int run_eager(ea_req *rq, const char *name, const char *args)
{
    request_rec *r = rq->r;
    ea_srv_conf *c = ea_sconf(r->server);
    const ea_task_def *def = ea_task_find(name, 0);
    char id[EA_TASK_ID_LEN + 1], created[32], finished[32], *result = NULL, *error = NULL;
    volatile int cancel = 0;
    ea_task_env env;
    ea_taskrun_status st;

    if (def == NULL || ea_task_uuid4(id) != 0)
        return ea_send_server_error(rq, "task setup");
    ea_task_now_iso(created);
    memset(&env, 0, sizeof env);
    env.pool = r->pool;
    env.task_id = id;
    env.cancel = &cancel;
    env.log = eager_log;
    env.log_baton = r;
    env.import_dir = c->import_dir;
    /* the task's own bound instead of the request statement timeout */
    eager_run e = { def, &env, args, &result, &error, EA_TASKRUN_OK };
    ea_db_status dst = ea_db_with_timeout(rq, conf_time_limit(c) * 1000, eager_on, &e);
    if (dst != EA_DB_OK)
        return ea_db_fail(rq, dst);
    st = e.st;
    ea_task_now_iso(finished);
    if (c->broker_url || c->result_backend) {
        ea_taskq *q = open_queue(rq, 0);
        int stored = !q || ea_taskq_store_record(q, id, name, args, st == EA_TASKRUN_OK ? "SUCCESS"
                                                 : "FAILURE", result, error, created, created, finished) == 0;
        if (!stored)
            ea_count(r->server, EA_C_TASK_BROKER_ERROR);
        if (!stored && ea_log_once(r->server, "task-backend", 0))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, EA_LOGNO(00033) "eager task %s: record not stored: %s", id,
                          ea_taskq_error(q));
    }
    ea_count_task(r->server, st == EA_TASKRUN_OK ? EA_T_EAGER_OK : EA_T_EAGER_FAIL, name, 1);
    long long rows = st == EA_TASKRUN_OK ? ea_metrics_result_rows(result) : -1;
    if (rows > 0)
        ea_count_task(r->server, EA_T_EAGER_IMPORT_ROWS, name, (uint64_t)rows);
    if (st != EA_TASKRUN_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, EA_LOGNO(00034) "eager task %s[%s] failed: %s", name, id, error);
        return ea_send_server_error(rq, error);
    }
    return send_task_id(rq, id);
}

/* Queue name(args); 202 with the id, or 503. */
static int dispatch_task(ea_req *rq, const char *name, const char *args)
{
    ea_srv_conf *c = ea_sconf(rq->r->server);
    char id[EA_TASK_ID_LEN + 1];
    if (conf_eager(c))
        return run_eager(rq, name, args);
    ea_taskq *q = open_queue(rq, 1);
    if (q == NULL) {
        if (ea_log_once(rq->r->server, "task-no-broker", 0))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, rq->r,
                          EA_LOGNO(00035) "a task was requested but neither EcoAtlasBrokerURL nor "
                          "EcoAtlasTaskAlwaysEager On is configured");
        return ea_send_detail(rq, HTTP_SERVICE_UNAVAILABLE, "The task queue is not configured.");
    }
    if (ea_taskq_enqueue(q, name, args, id) != 0)
        return send_unavailable(rq, q);
    ea_count_task(rq->r->server, EA_T_ENQUEUED, name, 1);
    return send_task_id(rq, id);
}

/* ---- POST /api/resource-metrics/enqueue_snapshot/ ---------------------------------------- */

int ea_handle_enqueue_snapshot(ea_req *rq)
{
    json_object *data, *v = NULL;
    int is_form;
    ea_buf args;
    if (ea_body_read(rq, &data, &is_form) != 0)
        return OK;
    ea_buf_init(&args, rq->r->pool, 64);
    ea_buf_puts(&args, "{\"country_iso3\":");
    if (json_object_is_type(data, json_type_object) && json_object_object_get_ex(data, "country_iso3", &v)
        && v != NULL) {
        if (!json_object_is_type(v, json_type_string))
            return ea_send_raw_json(rq, HTTP_BAD_REQUEST, "{\"country_iso3\":[\"Not a valid string.\"]}",
                                    sizeof "{\"country_iso3\":[\"Not a valid string.\"]}" - 1);
        ea_json_str(&args, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    }
    else {
        ea_buf_puts(&args, "null");
    }
    ea_buf_putc(&args, '}');
    return dispatch_task(rq, "generate_metric_snapshot", args.data);
}

/* ---- GET /api/tasks/<id>/ -------------------------------------------------------------------- */

int ea_handle_task_status(ea_req *rq)
{
    ea_srv_conf *c = ea_sconf(rq->r->server);
    char *json;
    if (!ea_task_id_valid(rq->pk) || (c->broker_url == NULL && c->result_backend == NULL))
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    ea_taskq *q = open_queue(rq, 0);
    if (q == NULL)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    if (ea_taskq_record_json(q, rq->r->pool, rq->pk, &json) != 0)
        return send_unavailable(rq, q);
    if (json == NULL)
        return ea_send_detail(rq, HTTP_NOT_FOUND, "Not found.");
    return ea_send_raw_json(rq, HTTP_OK, json, strlen(json));
}

/* ---- POST /api/imports/ ------------------------------------------------------------------------ */

/* The body, whole, up to EA_IMPORT_MAX_BODY (ea_body_read's cap,
 * EcoAtlasMaxBodySize, is for JSON documents, not files). */
static int read_upload(ea_req *rq, ea_body *out)
{
    return ea_body_read_parsed(rq, EA_IMPORT_MAX_BODY, out);
}

static const char *form_str(json_object *data, const char *key)
{
    json_object *v;
    if (data && json_object_object_get_ex(data, key, &v) && v && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static const char *file_ext(apr_pool_t *p, const char *filename)
{
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    if (dot == NULL || strchr(dot, '/') || strlen(dot) > 10)
        return "";
    char *e = apr_pstrdup(p, dot);
    for (char *c = e; *c; c++)
        *c = (char)apr_tolower(*c);
    return e;
}

int ea_handle_import(ea_req *rq)
{
    request_rec *r = rq->r;
    ea_srv_conf *c = ea_sconf(r->server);
    ea_body body;
    const ea_body_file *file = NULL;
    const char *kind, *ext, *dir;
    char id[EA_TASK_ID_LEN + 1];
    ea_buf args;
    static const char *const res_opts[] = {"dataset_name", "dataset_source", "resource_type", "default_metric", NULL};
    static const char *const geo_opts[] = {"target", "country_iso3", "name_field", "iso3_field", "level", NULL};

    if (read_upload(rq, &body) != 0)
        return OK;
    for (int i = 0; body.files && i < body.files->nelts; i++) {
        const ea_body_file *f = &APR_ARRAY_IDX(body.files, i, ea_body_file);
        if (strcmp(f->name, "file") == 0)
            file = f;
    }
    if (file == NULL)
        return ea_send_field_error(rq, "file", body.is_form ? "No file was submitted."
                               : "The submitted data was not a file. Check the encoding type on the form.");
    ext = file_ext(r->pool, file->filename);
    kind = form_str(body.data, "kind");
    if (kind == NULL)
        kind = strcmp(ext, ".geojson") == 0 || strcmp(ext, ".json") == 0 ? "geojson" : "resources";
    if (strcmp(kind, "resources") != 0 && strcmp(kind, "geojson") != 0)
        return ea_send_field_error(rq, "kind", "\"resources\" or \"geojson\".");
    if (strcmp(kind, "resources") == 0 && strcmp(ext, ".csv") != 0 && strcmp(ext, ".txt") != 0)
        return ea_send_field_error(rq, "file", apr_psprintf(r->pool, "Extension de fichier non supportée: %s", ext));
    if (file->len == 0)
        return ea_send_field_error(rq, "file", "The submitted file is empty.");

    /* the file waits in the import directory for the worker (or for us) */
    if (ea_task_uuid4(id) != 0)
        return ea_send_server_error(rq, "random");
    dir = c->import_dir;
    if (dir == NULL && apr_temp_dir_get(&dir, r->pool) != APR_SUCCESS)
        return ea_send_server_error(rq, "no temporary directory");
    const char *path = apr_pstrcat(r->pool, dir, "/ecoatlas-import-", id,
                                   strcmp(kind, "geojson") == 0 ? ".geojson" : ".csv", NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    size_t done = 0;
    while (fd >= 0 && done < file->len) {
        ssize_t n = write(fd, file->data + done, file->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (fd < 0 || done < file->len || close(fd) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r,
                      EA_LOGNO(00036) "import: cannot write %s (EcoAtlasImportDir)", path);
        if (fd >= 0)
            unlink(path);
        return ea_send_server_error(rq, "cannot store the uploaded file");
    }

    ea_buf_init(&args, r->pool, 256);
    ea_buf_puts(&args, "{\"path\":");
    ea_json_cstr(&args, path);
    for (const char *const *o = strcmp(kind, "geojson") == 0 ? geo_opts : res_opts; *o; o++) {
        const char *v = form_str(body.data, *o);
        if (v != NULL) {
            ea_buf_puts(&args, ",");
            ea_json_cstr(&args, *o);
            ea_buf_putc(&args, ':');
            ea_json_cstr(&args, v);
        }
    }
    const char *skip = form_str(body.data, "skip_invalid");
    ea_buf_printf(&args, ",\"skip_invalid\":%s,\"remove_file\":true}",
                  skip && (strcmp(skip, "true") == 0 || strcmp(skip, "1") == 0 || strcmp(skip, "on") == 0)
                      ? "true" : "false");
    const char *name = strcmp(kind, "geojson") == 0 ? "import_geojson" : "import_resources";
    ea_count_task(r->server, EA_T_IMPORT_UPLOADS, name, 1);
    ea_count_task(r->server, EA_T_IMPORT_UPLOAD_BYTES, name, file->len);
    int rc = dispatch_task(rq, name, args.data);
    /* not queued (503) or run here: the file is no longer needed */
    if (conf_eager(c) || r->status != HTTP_ACCEPTED)
        unlink(path);
    return rc;
}
