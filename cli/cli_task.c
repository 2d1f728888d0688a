/* ecoatlas task enqueue|status|dead-letters|stats: the operator's view of
 * the task queue (lib/ea_queue.c), with the broker taken from the same
 * Apache configuration as everything else (EcoAtlasBrokerURL,
 * EcoAtlasResultBackend). */
#include "cli.h"
#include "ea_conffile.h"
#include "ea_json.h"
#include "ea_queue.h"
#include "ea_task_run.h"

#include <apr_strings.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_task_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] task enqueue NAME [--arg KEY=VALUE]... [--json ARGS]\n"
          "       ecoatlas [GLOBAL OPTIONS] task status TASK_ID\n"
          "       ecoatlas [GLOBAL OPTIONS] task dead-letters [--max N]\n"
          "       ecoatlas [GLOBAL OPTIONS] task stats\n"
          "\n"
          "Queue a task for ecoatlas-worker, show a task's record (JSON: status,\n"
          "result or error, attempts, timestamps), list the tasks that failed for good\n"
          "(newest first), or show the queue lengths.  Tasks: generate_metric_snapshot\n"
          "(country_iso3), import_resources and import_geojson (path and the options of\n"
          "the import commands, skip_invalid=true), noop.\n"
          "\n"
          "Options:\n"
          "      --arg KEY=VALUE   a string argument of the task (repeatable)\n"
          "      --json ARGS       the arguments as a JSON object\n"
          "      --max N           dead-letters: how many (default 20)\n"
          "      --count N         enqueue: N identical tasks, pipelined (benchmarks)\n"
          "      --broker URL      Redis URL; default EcoAtlasBrokerURL from the config\n"
          "      --backend URL     result backend; default EcoAtlasResultBackend, else the broker\n"
          "  -f, --config FILE     Apache configuration to read\n"
          "  -h, --help            show this help\n"
          "\n"
          "enqueue prints the task id.  Exit status: 0 ok, 1 failure (Redis unreachable,\n"
          "no such task), 2 usage error.\n", out);
}

static const cli_command *cmd_task(void);

static const char *task_config_path(cli_ctx *ctx)
{
    if (ctx->config_path != NULL)
        return ctx->config_path;
    const char *env = getenv("ECOATLAS_CONFIG");
    return env && *env ? env : CLI_DEFAULT_APACHE_CONF;
}

static ea_taskq *task_open(cli_ctx *ctx, const char *broker, const char *backend)
{
    const char *err = NULL;
    if (broker == NULL) {
        ea_conffile *cf = ea_conffile_read(ctx->pool, task_config_path(ctx), &err);
        if (cf == NULL) {
            cli_err(ctx, "cannot read the Apache configuration: %s\n(give it with -f FILE, or the broker with --broker URL)", err);
            return NULL;
        }
        broker = ea_conffile_get(cf, "EcoAtlasBrokerURL", NULL);
        if (backend == NULL)
            backend = ea_conffile_get(cf, "EcoAtlasResultBackend", NULL);
        if (broker == NULL) {
            cli_err(ctx, "%s: no EcoAtlasBrokerURL directive (use --broker URL)", task_config_path(ctx));
            return NULL;
        }
    }
    ea_taskq_opts o;
    memset(&o, 0, sizeof o);
    o.broker_url = broker;
    o.backend_url = backend;
    o.worker_name = "cli";
    ea_taskq *q = ea_taskq_create(ctx->pool, &o, &err);
    if (q == NULL)
        cli_err(ctx, "%s", err);
    return q;
}

/* --arg k=v pairs into a JSON object. */
static const char *task_args_json(cli_ctx *ctx, apr_array_header_t *pairs)
{
    ea_buf b;
    ea_buf_init(&b, ctx->pool, 128);
    ea_buf_putc(&b, '{');
    for (int i = 0; i < pairs->nelts; i++) {
        const char *kv = APR_ARRAY_IDX(pairs, i, const char *);
        const char *eq = strchr(kv, '=');
        if (i)
            ea_buf_putc(&b, ',');
        ea_json_str(&b, kv, (size_t)(eq - kv));
        ea_buf_putc(&b, ':');
        ea_json_cstr(&b, eq + 1);
    }
    ea_buf_putc(&b, '}');
    return b.data;
}

int cli_task(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"arg", required_argument, NULL, 'a'},
        {"json", required_argument, NULL, 'j'},
        {"max", required_argument, NULL, 'm'},
        {"count", required_argument, NULL, 'n'},
        {"broker", required_argument, NULL, 'B'},
        {"backend", required_argument, NULL, 'E'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    apr_array_header_t *pairs = apr_array_make(ctx->pool, 4, sizeof(const char *));
    const char *json = NULL, *broker = NULL, *backend = NULL;
    long long max = 20, count = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                return cli_usage_error(ctx, cmd_task(), "--arg expects KEY=VALUE, not '%s'", optarg);
            APR_ARRAY_PUSH(pairs, const char *) = optarg;
            break;
        case 'j': json = optarg; break;
        case 'm':
            if (cli_parse_count(ctx, cmd_task(), "--max", optarg, 10000, &max) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'n':
            if (cli_parse_count(ctx, cmd_task(), "--count", optarg, 10000000, &count) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'B': broker = optarg; break;
        case 'E': backend = optarg; break;
        default:
            if ((rc = cli_common_option(ctx, cmd_task(), c, argv)) >= 0)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(ctx, cmd_task(), "expected enqueue, status, dead-letters or stats");
    const char *sub = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    if (strcmp(sub, "enqueue") == 0) {
        if (nargs != 1)
            return cli_usage_error(ctx, cmd_task(), "enqueue takes one task name");
        if (ea_task_find(args[0], 1) == NULL)
            return cli_usage_error(ctx, cmd_task(), "unknown task '%s'", args[0]);
        if (json && pairs->nelts)
            return cli_usage_error(ctx, cmd_task(), "give --arg or --json, not both");
        ea_taskq *q = task_open(ctx, broker, backend);
        char id[EA_TASK_ID_LEN + 1];
        if (q == NULL)
            return CLI_EXIT_FAIL;
        if (count > 0) {
            /* benchmarks: count tasks in pipelined batches, ids not printed */
            rc = ea_taskq_enqueue_many(q, args[0], json ? json : task_args_json(ctx, pairs), (int)count);
            if (rc != 0)
                cli_err(ctx, "cannot enqueue: %s", ea_taskq_error(q));
            ea_taskq_close(q);
            return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        }
        if (ea_taskq_enqueue(q, args[0], json ? json : task_args_json(ctx, pairs), id) != 0) {
            cli_err(ctx, "cannot enqueue: %s", ea_taskq_error(q));
            ea_taskq_close(q);
            return CLI_EXIT_FAIL;
        }
        printf("%s\n", id);
        ea_taskq_close(q);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "status") == 0) {
        if (nargs != 1)
            return cli_usage_error(ctx, cmd_task(), "status takes one task id");
        if (!ea_task_id_valid(args[0]))
            return cli_usage_error(ctx, cmd_task(), "'%s' is not a task id (a lower-case UUID)", args[0]);
        ea_taskq *q = task_open(ctx, broker, backend);
        char *rec;
        if (q == NULL)
            return CLI_EXIT_FAIL;
        rc = ea_taskq_record_json(q, ctx->pool, args[0], &rec);
        if (rc != 0)
            cli_err(ctx, "%s", ea_taskq_error(q));
        else if (rec == NULL)
            cli_err(ctx, "no task %s (unknown, or its record expired)", args[0]);
        else
            printf("%s\n", rec);
        ea_taskq_close(q);
        return rc == 0 && rec ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    if (strcmp(sub, "dead-letters") == 0 || strcmp(sub, "stats") == 0) {
        if (nargs != 0)
            return cli_usage_error(ctx, cmd_task(), "unexpected argument '%s'", args[0]);
        ea_taskq *q = task_open(ctx, broker, backend);
        if (q == NULL)
            return CLI_EXIT_FAIL;
        if (sub[0] == 'd') {
            char *out;
            rc = ea_taskq_dead_letters(q, ctx->pool, (int)max, &out);
            if (rc == 0)
                printf("%s\n", out);
        }
        else {
            long long n[4];
            rc = ea_taskq_stats(q, n);
            if (rc == 0)
                printf("{\"queued\":%lld,\"running\":%lld,\"retrying\":%lld,\"dead\":%lld}\n", n[0], n[1], n[2], n[3]);
        }
        if (rc != 0)
            cli_err(ctx, "%s", ea_taskq_error(q));
        ea_taskq_close(q);
        return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    return cli_usage_error(ctx, cmd_task(), "unknown task command '%s' (enqueue, status, dead-letters, stats)", sub);
}

const cli_command cli_cmd_task = {
    "task", "queue a task, show its status, list dead letters",
    cli_task, cli_task_usage,
};

static const cli_command *cmd_task(void)
{
    return &cli_cmd_task;
}
