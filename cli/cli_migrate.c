/* ecoatlas migrate: apply db/migrations/NNNN_*.sql in name order, each in
 * its own transaction together with its row in ecoatlas_migrations, under
 * a session advisory lock so that containers starting together apply each
 * file once.  The lock dies with the connection, so a crashed run never
 * leaves it held. */
#include "cli.h"

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Django-era schema; on a database Django created it already exists. */
#define MIG_CORE_SCHEMA "0001_core_schema"

typedef struct {
    const char *name;   /* file name without ".sql": the recorded name */
    const char *path;
} mig_file;

void cli_migrate_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] migrate [--list] [--migrations DIR]\n"
          "\n"
          "Apply the pending SQL migrations (NNNN_name.sql, in name order) and record\n"
          "them in the table ecoatlas_migrations.  Each file runs in one transaction\n"
          "with its record; a session advisory lock makes concurrent runs wait for\n"
          "each other.  On a database created by the Django application (core 0002\n"
          "applied) " MIG_CORE_SCHEMA " is recorded without running it.\n"
          "\n"
          "Options:\n"
          "  -l, --list             list migrations and whether they are applied; change nothing\n"
          "  -m, --migrations DIR   directory of the .sql files\n"
          "                         (default: $ECOATLAS_MIGRATIONS_DIR, else " EA_MIGRATIONS_DIR ";\n"
          "                         run from its build tree: " EA_SRC_MIGRATIONS_DIR ")\n"
          "  -f, --config FILE      Apache configuration to take DBDParams from\n"
          "      --db CONNINFO      PostgreSQL connection string\n"
          "  -h, --help             show this help\n", out);
}

const cli_command cli_cmd_migrate = {
    "migrate", "apply pending database migrations", cli_migrate, cli_migrate_usage,
};

/* NNNN_something.sql, nothing else: editor backups and READMEs may sit in
 * the same directory. */
static int mig_is_migration(const char *fname)
{
    size_t n = strlen(fname);
    if (n < 10 || strcmp(fname + n - 4, ".sql") != 0 || fname[4] != '_') {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)fname[i])) {
            return 0;
        }
    }
    return 1;
}

static int mig_cmp(const void *a, const void *b)
{
    return strcmp(((const mig_file *)a)->name, ((const mig_file *)b)->name);
}

static apr_array_header_t *mig_scan(cli_ctx *ctx, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    char ebuf[256];
    apr_status_t rv = apr_dir_open(&d, dir, ctx->pool);
    if (rv != APR_SUCCESS) {
        cli_err(ctx, "cannot open the migrations directory %s: %s (give the directory of the "
                "NNNN_*.sql files with --migrations DIR or ECOATLAS_MIGRATIONS_DIR; a source tree "
                "has them in db/migrations)", dir, apr_strerror(rv, ebuf, sizeof ebuf));
        return NULL;
    }
    apr_array_header_t *files = apr_array_make(ctx->pool, 8, sizeof(mig_file));
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
        if (fi.filetype != APR_REG || !mig_is_migration(fi.name)) {
            continue;
        }
        mig_file *m = apr_array_push(files);
        m->name = apr_pstrmemdup(ctx->pool, fi.name, strlen(fi.name) - 4);
        m->path = apr_pstrcat(ctx->pool, dir, "/", fi.name, NULL);
    }
    apr_dir_close(d);
    qsort(files->elts, (size_t)files->nelts, sizeof(mig_file), mig_cmp);
    return files;
}

/* name -> "" for every recorded migration; an empty set when the table
 * does not exist yet. */
static apr_hash_t *mig_applied(cli_ctx *ctx)
{
    apr_hash_t *set = apr_hash_make(ctx->pool);
    const char *exists = cli_db_value(ctx, "SELECT to_regclass('ecoatlas_migrations') IS NOT NULL",
                                      "reading ecoatlas_migrations", NULL);
    if (exists == NULL) {
        return NULL;
    }
    if (strcmp(exists, "t") != 0) {
        return set;
    }
    PGresult *res = PQexec(ctx->pg, "SELECT name FROM ecoatlas_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cli_err(ctx, "reading ecoatlas_migrations: %s", cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
        PQclear(res);
        return NULL;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        apr_hash_set(set, apr_pstrdup(ctx->pool, PQgetvalue(res, i, 0)), APR_HASH_KEY_STRING, "");
    }
    PQclear(res);
    return set;
}

static int mig_list(cli_ctx *ctx, const apr_array_header_t *files)
{
    apr_hash_t *applied = mig_applied(ctx);
    if (applied == NULL) {
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < files->nelts; i++) {
        const mig_file *m = &APR_ARRAY_IDX(files, i, mig_file);
        printf(" [%c] %s\n", apr_hash_get(applied, m->name, APR_HASH_KEY_STRING) ? 'X' : ' ', m->name);
    }
    if (files->nelts == 0) {
        printf(" (no migrations)\n");
    }
    return CLI_EXIT_OK;
}

/* Try first so that a waiting run says why it is not moving. */
static int mig_lock(cli_ctx *ctx)
{
    const char *got = cli_db_value(ctx, "SELECT pg_try_advisory_lock(" CLI_MIGRATE_LOCK_KEY ")",
                                   "taking the migration lock", NULL);
    if (got == NULL) {
        return -1;
    }
    if (strcmp(got, "t") == 0) {
        return 0;
    }
    printf("Waiting for another 'ecoatlas migrate' to finish...\n");
    fflush(stdout);
    return cli_db_exec(ctx, "SELECT pg_advisory_lock(" CLI_MIGRATE_LOCK_KEY ")",
                       "taking the migration lock");
}

static int mig_record(cli_ctx *ctx, const char *name)
{
    const char *params[1] = {name};
    PGresult *res = PQexecParams(ctx->pg,
        "INSERT INTO ecoatlas_migrations (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        cli_err(ctx, "recording migration %s: %s", name, cli_chomp(ctx->pool, PQerrorMessage(ctx->pg)));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* True when Django's own migrations created the core tables (core 0002
 * applied): then our 0001 must not run, only be recorded. */
static int mig_django_db(cli_ctx *ctx, int *is_django)
{
    const char *v = cli_db_value(ctx, "SELECT to_regclass('django_migrations') IS NOT NULL",
                                 "looking for django_migrations", NULL);
    if (v == NULL) {
        return -1;
    }
    *is_django = 0;
    if (strcmp(v, "t") != 0) {
        return 0;
    }
    v = cli_db_value(ctx, "SELECT EXISTS (SELECT 1 FROM django_migrations "
                          "WHERE app = 'core' AND name LIKE '0002%')",
                     "reading django_migrations", NULL);
    if (v == NULL) {
        return -1;
    }
    *is_django = strcmp(v, "t") == 0;
    return 0;
}

/* The server reports an error position in characters from the start of
 * the script; turn it into the line of the file. */
static long mig_error_line(const char *sql, const char *pos_text)
{
    long pos = pos_text ? strtol(pos_text, NULL, 10) : 0;
    if (pos <= 0) {
        return 0;
    }
    long line = 1, chars = 0;
    for (const unsigned char *s = (const unsigned char *)sql; *s; s++) {
        if ((*s & 0xC0) == 0x80) {
            continue; /* UTF-8 continuation byte: same character */
        }
        if (++chars >= pos) {
            break;
        }
        if (*s == '\n') {
            line++;
        }
    }
    return line;
}

static int mig_run_script(cli_ctx *ctx, const mig_file *m, const char *sql)
{
    PGresult *res = PQexec(ctx->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    long line = mig_error_line(sql, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
    printf(" FAILED\n");
    fflush(stdout);
    if (line > 0) {
        cli_err(ctx, "%s, line %ld: %s", m->path, line, cli_chomp(ctx->pool, PQresultErrorMessage(res)));
    }
    else {
        cli_err(ctx, "%s: %s", m->path, cli_chomp(ctx->pool, PQresultErrorMessage(res)));
    }
    PQclear(res);
    return -1;
}

static int mig_apply(cli_ctx *ctx, const mig_file *m)
{
    apr_size_t len;
    char *sql = cli_read_file(ctx, ctx->pool, m->path, &len);
    if (sql == NULL) {
        return -1;
    }
    printf("  Applying %s...", m->name);
    fflush(stdout);
    if (cli_db_exec(ctx, "BEGIN", "starting a transaction") != 0) {
        return -1;
    }
    if (mig_run_script(ctx, m, sql) != 0) {
        cli_db_rollback(ctx);
        return -1;
    }
    if (PQtransactionStatus(ctx->pg) == PQTRANS_IDLE) {
        /* the file has its own COMMIT: what ran is kept, but not atomically */
        fprintf(stderr, "\n%s: warning: %s ends the transaction itself; migration files "
                "must not contain BEGIN/COMMIT\n", ctx->prog, m->path);
    }
    if (mig_record(ctx, m->name) != 0 || cli_db_exec(ctx, "COMMIT", "committing") != 0) {
        cli_db_rollback(ctx);
        printf(" FAILED\n");
        return -1;
    }
    printf(" OK\n");
    return 0;
}

static int mig_fake_core_schema(cli_ctx *ctx, const apr_array_header_t *files, apr_hash_t *applied,
                                int *changed)
{
    int is_django;
    if (apr_hash_get(applied, MIG_CORE_SCHEMA, APR_HASH_KEY_STRING) != NULL) {
        return 0;
    }
    if (mig_django_db(ctx, &is_django) != 0) {
        return -1;
    }
    if (!is_django) {
        return 0;
    }
    for (int i = 0; i < files->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(files, i, mig_file).name, MIG_CORE_SCHEMA) == 0) {
            if (mig_record(ctx, MIG_CORE_SCHEMA) != 0) {
                return -1;
            }
            apr_hash_set(applied, MIG_CORE_SCHEMA, APR_HASH_KEY_STRING, "");
            printf("  Applying %s... FAKED (core tables created by the Django application)\n",
                   MIG_CORE_SCHEMA);
            (*changed)++;
        }
    }
    return 0;
}

/* Migration 0005: the trigram indexes that serve ?search=.  They need the
 * extension pg_trgm, which the database role may not be allowed to create;
 * search then keeps scanning the tables.  At every run the missing ones
 * are attempted again (a superuser may have created the extension since),
 * and what stands in the way is said plainly.  0 (done, or not possible:
 * not an error), -1 on a database error. */
static int mig_search_indexes(cli_ctx *ctx, int *changed)
{
    const char *v = cli_db_value(ctx, "SELECT to_regprocedure('ecoatlas_search_indexes()') IS NOT NULL",
                                 "looking for ecoatlas_search_indexes()", NULL);
    if (v == NULL) {
        return -1;
    }
    if (strcmp(v, "t") != 0) {
        return 0;
    }
    v = cli_db_value(ctx, "SELECT count(*) FROM ecoatlas_search_missing()",
                     "looking for the search indexes", NULL);
    if (v == NULL) {
        return -1;
    }
    if (strcmp(v, "0") == 0) {
        return 0;
    }
    printf("  Building the search indexes (pg_trgm)...");
    fflush(stdout);
    int is_null;
    const char *why = cli_db_value(ctx, "SELECT ecoatlas_search_indexes()", "building the search indexes",
                                   &is_null);
    if (why == NULL && !is_null) {
        printf(" FAILED\n");
        return -1;
    }
    if (is_null) {
        printf(" OK\n");
        (*changed)++;
        return 0;
    }
    printf(" NOT POSSIBLE\n");
    fflush(stdout);
    fprintf(stderr, "%s: warning: the search indexes are missing: %s.\n"
            "  ?search= still works, but scans whole tables (slow on large ones).\n"
            "  A superuser can run CREATE EXTENSION pg_trgm; in this database;\n"
            "  the next 'ecoatlas migrate' then builds the indexes.\n", ctx->prog, why);
    return 0;
}

static int mig_apply_all(cli_ctx *ctx, const char *dir, const apr_array_header_t *files)
{
    if (mig_lock(ctx) != 0) {
        return CLI_EXIT_FAIL;
    }
    if (cli_db_exec(ctx, "CREATE TABLE IF NOT EXISTS ecoatlas_migrations ("
                         "name text PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())",
                    "creating ecoatlas_migrations") != 0) {
        return CLI_EXIT_FAIL;
    }
    apr_hash_t *applied = mig_applied(ctx);
    if (applied == NULL) {
        return CLI_EXIT_FAIL;
    }
    printf("Operations to perform:\n  Apply all migrations: %s (%d file(s))\nRunning migrations:\n",
           dir, files->nelts);
    int changed = 0;
    if (mig_fake_core_schema(ctx, files, applied, &changed) != 0) {
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < files->nelts; i++) {
        const mig_file *m = &APR_ARRAY_IDX(files, i, mig_file);
        if (apr_hash_get(applied, m->name, APR_HASH_KEY_STRING) != NULL) {
            continue;
        }
        if (mig_apply(ctx, m) != 0) {
            return CLI_EXIT_FAIL;
        }
        changed++;
    }
    if (mig_search_indexes(ctx, &changed) != 0) {
        return CLI_EXIT_FAIL;
    }
    if (changed == 0) {
        printf("  No migrations to apply.\n");
    }
    /* closing the connection releases it anyway; say so explicitly */
    cli_db_exec(ctx, "SELECT pg_advisory_unlock(" CLI_MIGRATE_LOCK_KEY ")", "releasing the migration lock");
    return CLI_EXIT_OK;
}

/* Run from the build tree (not installed yet): the source tree's
 * migrations, not the install directory's. */
static int mig_in_build_tree(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    size_t len = strlen(EA_BUILD_DIR);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    return strncmp(exe, EA_BUILD_DIR, len) == 0 && exe[len] == '/';
}

static const char *mig_dir(const char *opt)
{
    if (opt != NULL) {
        return opt;
    }
    const char *env = getenv("ECOATLAS_MIGRATIONS_DIR");
    if (env && *env)
        return env;
    return mig_in_build_tree() ? EA_SRC_MIGRATIONS_DIR : EA_MIGRATIONS_DIR;
}

int cli_migrate(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"list", no_argument, NULL, 'l'},
        {"migrations", required_argument, NULL, 'm'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int list = 0, c, rc;
    const char *dir_opt = NULL;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "lm:", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': list = 1; break;
        case 'm': dir_opt = optarg; break;
        default:
            if ((rc = cli_common_option(ctx, &cli_cmd_migrate, c, argv)) >= 0) {
                return rc;
            }
        }
    }
    if (optind < argc) {
        return cli_usage_error(ctx, &cli_cmd_migrate, "unexpected argument '%s'", argv[optind]);
    }
    const char *dir = mig_dir(dir_opt);
    apr_array_header_t *files = mig_scan(ctx, dir);
    if (files == NULL || cli_db_connect(ctx) != 0) {
        return CLI_EXIT_FAIL;
    }
    return list ? mig_list(ctx, files) : mig_apply_all(ctx, dir, files);
}
