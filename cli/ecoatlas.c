/* ecoatlas: the command-line tool that does what manage.py did for the
 * Django system.  This file holds global options and dispatch only; each
 * subcommand lives in its own cli_*.c and parses its own options. */
#include "cli.h"
#include "ea_version.h"

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <apr_strings.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_command *const cli_commands[] = {
    &cli_cmd_migrate,
    &cli_cmd_loaddata,
    &cli_cmd_generate,
    &cli_cmd_createuser,
    &cli_cmd_changepassword,
    &cli_cmd_deactivate,
    &cli_cmd_token,
    &cli_cmd_check,
    &cli_cmd_import_resources,
    &cli_cmd_import_geojson,
    &cli_cmd_task,
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void cli_tool_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "Administer the EcoPowerAtlas database served by mod_ecoatlas.\n"
          "\n"
          "Global options (also accepted after COMMAND):\n"
          "  -f, --config FILE   Apache configuration to take DBDParams from\n"
          "                      (default: $ECOATLAS_CONFIG, else " CLI_DEFAULT_APACHE_CONF ")\n"
          "      --db CONNINFO   PostgreSQL connection string; overrides the config file\n"
          "  -h, --help          show this help and exit\n"
          "  -V, --version       show the version and exit\n"
          "\n"
          "Commands:\n", out);
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        fprintf(out, "  %-16s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    }
    fputs("  help [COMMAND]   show help for the tool or for COMMAND\n"
          "\n"
          "Run 'ecoatlas help COMMAND' or 'ecoatlas COMMAND --help' for details.\n"
          "Exit status: 0 success, 1 failure (database, files), 2 usage error.\n", out);
}

void cli_err(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", ctx->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(cli_ctx *ctx, const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", ctx->prog, cmd ? " " : "", cmd ? cmd->name : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* the coreutils convention: the error and where to read more */
    fprintf(stderr, "\nTry '%s %s--help' for more information.\n", ctx->prog,
            cmd ? apr_pstrcat(ctx->pool, cmd->name, " ", NULL) : "");
    return CLI_EXIT_USAGE;
}

int cli_common_option(cli_ctx *ctx, const cli_command *cmd, int c, char **argv)
{
    switch (c) {
    case 'f': ctx->config_path = optarg; return -1;
    case 'D': ctx->db_conninfo = optarg; return -1;
    case 'h': cmd->usage(stdout); return CLI_EXIT_OK;
    case ':':
        return cli_usage_error(ctx, cmd, "option '%s' requires an argument", argv[optind - 1]);
    default:
        if (optopt > 0 && optopt < 256 && optopt != '?') {
            return cli_usage_error(ctx, cmd, "unknown option '-%c'", optopt);
        }
        return cli_usage_error(ctx, cmd, "unknown option '%s'", argv[optind - 1]);
    }
}

int cli_parse_count(cli_ctx *ctx, const cli_command *cmd, const char *opt,
                    const char *val, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || v < 0 || v > max) {
        cli_usage_error(ctx, cmd, "invalid value for %s: '%s' (expected an integer from 0 to %lld)",
                        opt, val, max);
        return -1;
    }
    *out = v;
    return 0;
}

char *cli_read_file(cli_ctx *ctx, apr_pool_t *p, const char *path, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char ebuf[256];
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        cli_err(ctx, "%s: cannot read: %s", path, apr_strerror(rv, ebuf, sizeof ebuf));
        return NULL;
    }
    char *text = NULL;
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS) {
        *len = (apr_size_t)fi.size;
        text = apr_palloc(p, *len + 1);
        rv = *len ? apr_file_read_full(f, text, *len, len) : APR_SUCCESS;
    }
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        cli_err(ctx, "%s: cannot read: %s", path, apr_strerror(rv, ebuf, sizeof ebuf));
        return NULL;
    }
    text[*len] = '\0';
    return text;
}

static const cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        if (strcmp(cli_commands[i]->name, name) == 0) {
            return cli_commands[i];
        }
    }
    return NULL;
}

static int cli_help(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        cli_tool_usage(stdout);
        return CLI_EXIT_OK;
    }
    const cli_command *cmd = cli_find(argv[1]);
    if (cmd == NULL) {
        return cli_usage_error(ctx, NULL, "unknown command '%s'", argv[1]);
    }
    cmd->usage(stdout);
    return CLI_EXIT_OK;
}

static const char *cli_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Parse the options in front of the command; stops at the first
 * non-option ("+") so that the command's own options stay untouched. */
static int cli_global_options(cli_ctx *ctx, int argc, char **argv, int *done)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *done = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': ctx->config_path = optarg; break;
        case 'D': ctx->db_conninfo = optarg; break;
        case 'h': cli_tool_usage(stdout); *done = 1; return CLI_EXIT_OK;
        case 'V':
            printf("ecoatlas (mod_ecoatlas) %s\n", EA_VERSION);
            *done = 1;
            return CLI_EXIT_OK;
        case ':':
            *done = 1;
            return cli_usage_error(ctx, NULL, "option '%s' requires an argument", argv[optind - 1]);
        default:
            *done = 1;
            return cli_usage_error(ctx, NULL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    atexit(apr_terminate);

    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.prog = cli_basename(argv[0]);
    apr_pool_create(&ctx.pool, NULL);

    int done;
    int rc = cli_global_options(&ctx, argc, argv, &done);
    if (done) {
        return rc;
    }
    if (optind >= argc) {
        return cli_usage_error(&ctx, NULL, "no command given");
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* glibc: fully re-initialise getopt for the subcommand */

    if (strcmp(sub_argv[0], "help") == 0) {
        return cli_help(&ctx, sub_argc, sub_argv);
    }
    const cli_command *cmd = cli_find(sub_argv[0]);
    if (cmd == NULL) {
        return cli_usage_error(&ctx, NULL, "unknown command '%s'", sub_argv[0]);
    }
    rc = cmd->run(&ctx, sub_argc, sub_argv);
    cli_db_close(&ctx);
    apr_pool_destroy(ctx.pool);
    return rc;
}
