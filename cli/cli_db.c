/* cli_db: find the connection string and open PostgreSQL through APR DBD,
 * the same driver mod_dbd uses, so "works in httpd" and "works in the CLI"
 * mean the same DBDParams.  Statements then go through the native libpq
 * handle: migrations are multi-statement scripts and the generator needs
 * COPY, neither of which apr_dbd offers. */
#include "cli.h"
#include "ea_conffile.h"

#include <apr_strings.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copy one conninfo value (quoted '...' with \-escapes, or a bare word)
 * starting at s; returns the position after it. */
static const char *db_skip_value(const char *s)
{
    if (*s == '\'') {
        s++;
        while (*s && *s != '\'') {
            if (*s == '\\' && s[1]) {
                s++;
            }
            s++;
        }
        return *s ? s + 1 : s;
    }
    while (*s && !isspace((unsigned char)*s)) {
        s++;
    }
    return s;
}

static const char *db_redact_keywords(apr_pool_t *p, const char *ci)
{
    /* worst case: each word gains "=" and a short password grows to "****" */
    char *out = apr_palloc(p, 2 * strlen(ci) + 16);
    char *o = out;
    const char *s = ci;
    while (*s) {
        if (isspace((unsigned char)*s)) {
            *o++ = *s++;
            continue;
        }
        const char *key = s;
        while (*s && *s != '=' && !isspace((unsigned char)*s)) {
            s++;
        }
        size_t klen = (size_t)(s - key);
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '=') {
            s++;
        }
        while (isspace((unsigned char)*s)) {
            s++;
        }
        const char *val = s;
        s = db_skip_value(s);
        memcpy(o, key, klen);
        o += klen;
        *o++ = '=';
        if (klen == 8 && strncasecmp(key, "password", 8) == 0) {
            memcpy(o, "****", 4);
            o += 4;
        }
        else {
            memcpy(o, val, (size_t)(s - val));
            o += s - val;
        }
    }
    *o = '\0';
    return out;
}

/* postgresql://user:secret@host/db?password=x -> user:****@host/db?password=**** */
static const char *db_redact_uri(apr_pool_t *p, const char *uri)
{
    const char *authority = strstr(uri, "://") + 3;
    size_t alen = strcspn(authority, "/?");
    const char *at = NULL;
    for (const char *c = authority; c < authority + alen; c++) {
        if (*c == '@') {
            at = c;
        }
    }
    const char *out = uri;
    if (at != NULL) {
        const char *colon = memchr(authority, ':', (size_t)(at - authority));
        if (colon != NULL) {
            out = apr_pstrcat(p, apr_pstrmemdup(p, uri, (apr_size_t)(colon + 1 - uri)),
                              "****", at, NULL);
        }
    }
    const char *q = strstr(out, "password=");
    if (q != NULL && strchr(out, '?') != NULL && strchr(out, '?') < q) {
        const char *end = q + strcspn(q, "&");
        out = apr_pstrcat(p, apr_pstrmemdup(p, out, (apr_size_t)(q + 9 - out)), "****", end, NULL);
    }
    return out;
}

const char *cli_db_redact(apr_pool_t *p, const char *conninfo)
{
    if (strncmp(conninfo, "postgresql://", 13) == 0 || strncmp(conninfo, "postgres://", 11) == 0) {
        return db_redact_uri(p, conninfo);
    }
    return db_redact_keywords(p, conninfo);
}

static const char *db_config_path(cli_ctx *ctx)
{
    if (ctx->config_path != NULL) {
        return ctx->config_path;
    }
    const char *env = getenv("ECOATLAS_CONFIG");
    return env && *env ? env : CLI_DEFAULT_APACHE_CONF;
}

const char *cli_config_value(cli_ctx *ctx, const char *directive, const char *dflt)
{
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(ctx->pool, db_config_path(ctx), &err);
    return cf ? ea_conffile_get(cf, directive, dflt) : dflt;
}

/* DBDParams is TAKE1 in mod_dbd; a value split into several words (no
 * quotes) is joined back rather than refused, the intent being plain. */
static const char *db_conninfo_from_config(cli_ctx *ctx)
{
    const char *path = db_config_path(ctx);
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(ctx->pool, path, &err);
    if (cf == NULL) {
        cli_err(ctx, "cannot read the Apache configuration: %s\n"
                "(give the file with -f FILE or $ECOATLAS_CONFIG, or the database with --db CONNINFO)", err);
        return NULL;
    }
    const char *driver = ea_conffile_get(cf, "DBDriver", "pgsql");
    if (strcasecmp(driver, "pgsql") != 0) {
        cli_err(ctx, "%s: DBDriver is '%s'; mod_ecoatlas supports only pgsql", path, driver);
        return NULL;
    }
    const apr_array_header_t *args = ea_conffile_args(cf, "DBDParams");
    if (args == NULL || args->nelts == 0) {
        cli_err(ctx, "%s: no DBDParams directive found (use --db CONNINFO)", path);
        return NULL;
    }
    const char *ci = APR_ARRAY_IDX(args, 0, const char *);
    for (int i = 1; i < args->nelts; i++) {
        ci = apr_pstrcat(ctx->pool, ci, " ", APR_ARRAY_IDX(args, i, const char *), NULL);
    }
    return ci;
}

char *cli_chomp(apr_pool_t *p, const char *msg)
{
    char *m = apr_pstrdup(p, msg ? msg : "unknown error");
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' ')) {
        m[--n] = '\0';
    }
    return m;
}

static int db_open(cli_ctx *ctx, const char *conninfo)
{
    apr_status_t rv = apr_dbd_init(ctx->pool);
    if (rv == APR_SUCCESS) {
        rv = apr_dbd_get_driver(ctx->pool, "pgsql", &ctx->driver);
    }
    if (rv != APR_SUCCESS) {
        cli_err(ctx, "the APR DBD driver 'pgsql' is not available "
                "(install the Debian package libaprutil1-dbd-pgsql)");
        return -1;
    }
    const char *error = NULL;
    rv = apr_dbd_open_ex(ctx->driver, ctx->pool, conninfo, &ctx->dbd, &error);
    if (rv != APR_SUCCESS || ctx->dbd == NULL) {
        ctx->dbd = NULL;
        cli_err(ctx, "cannot connect to PostgreSQL (%s): %s",
                cli_db_redact(ctx->pool, conninfo), cli_chomp(ctx->pool, error));
        return -1;
    }
    ctx->pg = apr_dbd_native_handle(ctx->driver, ctx->dbd);
    return 0;
}

/* Quiet NOTICEs (e.g. "relation already exists, skipping") so the output
 * stays the short Django-style report; warnings still reach stderr. */
static int db_session_setup(cli_ctx *ctx)
{
    if (PQsetClientEncoding(ctx->pg, "UTF8") != 0) {
        cli_err(ctx, "cannot set the client encoding to UTF8: %s",
                cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
        return -1;
    }
    /* jit off as on the module's connections (docs/security.md) */
    return cli_db_exec(ctx, "SET client_min_messages = warning; SET jit = off; "
                            "SET application_name = 'ecoatlas'", "session setup");
}

int cli_db_connect(cli_ctx *ctx)
{
    if (ctx->pg != NULL) {
        return 0;
    }
    const char *conninfo = ctx->db_conninfo;
    if (conninfo == NULL) {
        conninfo = db_conninfo_from_config(ctx);
        if (conninfo == NULL) {
            return -1;
        }
    }
    if (db_open(ctx, conninfo) != 0) {
        return -1;
    }
    return db_session_setup(ctx);
}

void cli_db_close(cli_ctx *ctx)
{
    if (ctx->dbd != NULL) {
        apr_dbd_close(ctx->driver, ctx->dbd);
        ctx->dbd = NULL;
        ctx->pg = NULL;
    }
}

static int db_result_ok(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int cli_db_exec(cli_ctx *ctx, const char *sql, const char *what)
{
    PGresult *res = PQexec(ctx->pg, sql);
    int ok = db_result_ok(res);
    if (!ok) {
        cli_err(ctx, "%s: %s", what, cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

const char *cli_db_value(cli_ctx *ctx, const char *sql, const char *what, int *is_null)
{
    PGresult *res = PQexec(ctx->pg, sql);
    const char *val = NULL;
    if (is_null != NULL) {
        *is_null = 0;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        cli_err(ctx, "%s: %s", what, cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
    }
    else if (PQgetisnull(res, 0, 0)) {
        if (is_null != NULL) {
            *is_null = 1;
        }
    }
    else {
        val = apr_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return val;
}

void cli_db_rollback(cli_ctx *ctx)
{
    if (ctx->pg != NULL && PQtransactionStatus(ctx->pg) != PQTRANS_IDLE) {
        PQclear(PQexec(ctx->pg, "ROLLBACK"));
    }
}
