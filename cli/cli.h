/* cli.h: shared declarations of the `ecoatlas` command-line tool, the
 * successor of Django's manage.py (docs/architecture.md). */
#ifndef EA_CLI_H
#define EA_CLI_H

#include <stdio.h>

#include <apr_pools.h>
#include <apr_dbd.h>
#include <libpq-fe.h>

/* Exit codes: 0 success, 1 runtime/database failure, 2 usage error. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

#ifndef EA_MIGRATIONS_DIR
#define EA_MIGRATIONS_DIR "/usr/share/mod_ecoatlas/migrations"
#endif
#define CLI_DEFAULT_APACHE_CONF "/etc/apache2/apache2.conf"

/* Key of the session advisory lock held by `ecoatlas migrate` for its whole
 * run: the ASCII bytes "ecoatlas".  Entry points that must wait for
 * migrations can take the same lock. */
#define CLI_MIGRATE_LOCK_KEY "7305797358823432563"

typedef struct cli_ctx {
    apr_pool_t *pool;
    const char *prog;          /* argv[0] basename, for messages */
    const char *db_conninfo;   /* --db */
    const char *config_path;   /* -f / --config */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *dbd;
    PGconn *pg;                /* native handle of dbd, owned by it */
} cli_ctx;

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
    void (*usage)(FILE *out);
} cli_command;

/* ecoatlas.c: option parsing helpers shared by subcommands.  Every
 * subcommand accepts the global options after its name too, and --help. */
#define CLI_COMMON_SHORTOPTS ":f:h"
#define CLI_COMMON_LONGOPTS \
    {"config", required_argument, NULL, 'f'}, \
    {"db", required_argument, NULL, 'D'}, \
    {"help", no_argument, NULL, 'h'}
/* Handle getopt_long's answer c that the subcommand did not recognise:
 * returns -1 when parsing should go on, else the exit code to return
 * (0 after --help, 2 after a usage error). */
int cli_common_option(cli_ctx *ctx, const cli_command *cmd, int c, char **argv);
/* Parse a non-negative integer option value up to max; -1 after a usage
 * message if it is not one. */
int cli_parse_count(cli_ctx *ctx, const cli_command *cmd, const char *opt,
                    const char *val, long long max, long long *out);
int cli_usage_error(cli_ctx *ctx, const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_err(cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Read a whole file into p (NUL-terminated); NULL after printing
 * "PATH: cannot read: reason". */
char *cli_read_file(cli_ctx *ctx, apr_pool_t *p, const char *path, apr_size_t *len);

/* cli_db.c */
int cli_db_connect(cli_ctx *ctx);
/* The first argument of directive in the Apache configuration (-f,
 * $ECOATLAS_CONFIG, the default file), or dflt when absent or unreadable. */
const char *cli_config_value(cli_ctx *ctx, const char *directive, const char *dflt);
void cli_db_close(cli_ctx *ctx);
/* Replace the value of password=... (and the password of a postgresql://
 * URI) so a conninfo can appear in a message. */
const char *cli_db_redact(apr_pool_t *p, const char *conninfo);
/* msg without its trailing newline (libpq messages end with one). */
char *cli_chomp(apr_pool_t *p, const char *msg);
/* Run sql (may hold several statements); on failure print "what: error"
 * and return -1. */
int cli_db_exec(cli_ctx *ctx, const char *sql, const char *what);
/* First column of the first row of a one-value query, copied into the
 * pool, NULL on error (reported) or when the result is SQL NULL (then
 * *is_null is set when given). */
const char *cli_db_value(cli_ctx *ctx, const char *sql, const char *what, int *is_null);
/* Roll back if a transaction is open; errors ignored, we are already
 * failing. */
void cli_db_rollback(cli_ctx *ctx);

/* subcommands */
int cli_migrate(cli_ctx *ctx, int argc, char **argv);
void cli_migrate_usage(FILE *out);
int cli_loaddata(cli_ctx *ctx, int argc, char **argv);
void cli_loaddata_usage(FILE *out);
int cli_generate(cli_ctx *ctx, int argc, char **argv);
void cli_generate_usage(FILE *out);

extern const cli_command cli_cmd_migrate;
extern const cli_command cli_cmd_loaddata;
extern const cli_command cli_cmd_generate;
extern const cli_command cli_cmd_createuser;
extern const cli_command cli_cmd_changepassword;
extern const cli_command cli_cmd_deactivate;
extern const cli_command cli_cmd_token;
extern const cli_command cli_cmd_check;

/* cli_import.c, cli_task.c */
int cli_import_resources(cli_ctx *ctx, int argc, char **argv);
void cli_import_resources_usage(FILE *out);
int cli_import_geojson(cli_ctx *ctx, int argc, char **argv);
void cli_import_geojson_usage(FILE *out);
int cli_task(cli_ctx *ctx, int argc, char **argv);
void cli_task_usage(FILE *out);
extern const cli_command cli_cmd_import_resources;
extern const cli_command cli_cmd_import_geojson;
extern const cli_command cli_cmd_task;

#endif
