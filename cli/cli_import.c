/* ecoatlas import-resources / import-geojson: the successors of
 * manage.py import_resources / import_geojson (docs/decisions.md §6, D13).
 * The work is lib/ea_import.c (shared with the worker's tasks); this file
 * parses options, shows progress on a terminal and reports. */
#include "cli.h"
#include "ea_import.h"

#include <apr_strings.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct imp_ui {
    cli_ctx *ctx;
    const char *unit;           /* "Ligne" or "Entité" */
    int tty;
    int bar_shown;
    struct timespec last;
} imp_ui;

static void ui_clear(imp_ui *u)
{
    if (u->bar_shown) {
        fputs("\r\033[K", stderr);
        u->bar_shown = 0;
    }
}

static void ui_report(void *baton, unsigned long line, const char *reason)
{
    imp_ui *u = baton;
    ui_clear(u);
    fprintf(stderr, "%s %lu: %s\n", u->unit, line, reason);
}

/* A bar on stderr when it is a terminal, redrawn at most 10 times a second. */
static void ui_progress(void *baton, unsigned long long done, unsigned long long total,
                        unsigned long long rows)
{
    imp_ui *u = baton;
    struct timespec now;
    if (!u->tty)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - u->last.tv_sec) * 1000 + (now.tv_nsec - u->last.tv_nsec) / 1000000;
    if (u->bar_shown && ms < 100 && done < total)
        return;
    u->last = now;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct > 100)
        pct = 100;
    char bar[31];
    int fill = pct * 30 / 100;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %llu %s", bar, pct, rows, u->unit[0] == 'L' ? "lignes valides" : "entités valides");
    fflush(stderr);
    u->bar_shown = 1;
}

static int imp_finish(cli_ctx *ctx, const cli_command *cmd, imp_ui *u, int rc, const ea_import_result *res)
{
    ui_clear(u);
    if (rc != 0) {
        fprintf(stderr, "%s %s: %s\n", ctx->prog, cmd->name, res->message);
        return CLI_EXIT_FAIL;
    }
    printf("%s\n", res->message);
    if (res->rejected > 0)
        fprintf(stderr, "%lld %s ignorée%s (--skip-invalid).\n", res->rejected,
                u->unit[0] == 'L' ? (res->rejected > 1 ? "lignes" : "ligne") : (res->rejected > 1 ? "entités" : "entité"),
                res->rejected > 1 ? "s" : "");
    return CLI_EXIT_OK;
}

/* ---- import-resources ------------------------------------------------------------- */

void cli_import_resources_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] import-resources FILE.csv [OPTIONS]\n"
          "\n"
          "Importe des métriques de ressources à partir d'un fichier CSV.\n"
          "\n"
          "The CSV (UTF-8 with or without BOM, comma-separated, first line = header)\n"
          "has the columns iso3 and value, and optionally country, iso2, metric, unit,\n"
          "year and resource_type (lower-case, Capitalised or UPPER names).  Missing\n"
          "countries are created; metrics are upserted by dataset, country, resource\n"
          "type, metric and year.  The file is one transaction: any rejected row\n"
          "(reported with its line number) cancels the whole import unless\n"
          "--skip-invalid is given.\n"
          "\n"
          "Options:\n"
          "      --dataset-name NAME     dataset to import into, created if missing\n"
          "                              (default \"Ressources importées\")\n"
          "      --dataset-source TEXT   source of a new dataset (default \"\")\n"
          "      --resource-type TYPE    solar, wind, hydro, biomass or other, for rows\n"
          "                              without a resource_type column (default solar)\n"
          "      --default-metric NAME   metric of rows without one (default potential_kwh)\n"
          "      --skip-invalid          import the valid rows, report the others\n"
          "  -f, --config FILE           Apache configuration to take DBDParams from\n"
          "      --db CONNINFO           PostgreSQL connection string\n"
          "  -h, --help                  show this help\n"
          "\n"
          "Exit status: 0 imported, 1 nothing imported (see the messages), 2 usage error.\n", out);
}

static const cli_command *cmd_res(void);

int cli_import_resources(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dataset-name", required_argument, NULL, 'N'},
        {"dataset-source", required_argument, NULL, 'S'},
        {"resource-type", required_argument, NULL, 'R'},
        {"default-metric", required_argument, NULL, 'M'},
        {"skip-invalid", no_argument, NULL, 'K'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    ea_import_opts o;
    ea_import_result res;
    imp_ui u = {ctx, "Ligne", isatty(2), 0, {0, 0}};
    int c, rc;
    ea_import_opts_init(&o);
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'N': o.dataset_name = optarg; break;
        case 'S': o.dataset_source = optarg; break;
        case 'R': o.resource_type = optarg; break;
        case 'M': o.default_metric = optarg; break;
        case 'K': o.skip_invalid = 1; break;
        default:
            if ((rc = cli_common_option(ctx, cmd_res(), c, argv)) >= 0)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(ctx, cmd_res(), "the file to import is required");
    if (optind + 1 < argc)
        return cli_usage_error(ctx, cmd_res(), "unexpected argument '%s'", argv[optind + 1]);
    if (!ea_import_resource_type_valid(o.resource_type))
        return cli_usage_error(ctx, cmd_res(), "invalid --resource-type '%s' (solar, wind, hydro, biomass or other)",
                               o.resource_type);
    if (ea_import_check_file(ctx->pool, argv[optind], 0, res.message, sizeof res.message) != 0)
        return imp_finish(ctx, cmd_res(), &u, -1, &res);
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    o.report = ui_report;
    o.progress = ui_progress;
    o.baton = &u;
    rc = ea_import_resources(ctx->pg, ctx->pool, argv[optind], &o, &res);
    return imp_finish(ctx, cmd_res(), &u, rc, &res);
}

/* ---- import-geojson ------------------------------------------------------------------ */

void cli_import_geojson_usage(FILE *out)
{
    fputs("Usage: ecoatlas [GLOBAL OPTIONS] import-geojson FILE [OPTIONS]\n"
          "\n"
          "Charge des géométries GeoJSON dans les pays ou régions.\n"
          "\n"
          "Reads a FeatureCollection.  --target country upserts countries by iso3\n"
          "(properties iso3/iso_a3/ISO_A3, name/NAME, iso2/iso_a2/ISO_A2); --target\n"
          "region upserts regions by country and name (properties country_iso3 or\n"
          "--country-iso3, name/NAME, level).  The geometry becomes the boundary.  The\n"
          "file is one transaction: any rejected feature (reported with its number)\n"
          "cancels the import unless --skip-invalid is given.\n"
          "\n"
          "Options:\n"
          "      --target country|region  what the features are (default country)\n"
          "      --country-iso3 ISO3      regions: their country when a feature has no\n"
          "                               country_iso3 property\n"
          "      --name-field NAME        property holding the name (default name)\n"
          "      --iso3-field NAME        property holding the ISO3 code (default iso3)\n"
          "      --level TEXT             regions: level to set (default: the level property)\n"
          "      --skip-invalid           import the valid features, report the others\n"
          "  -f, --config FILE            Apache configuration to take DBDParams from\n"
          "      --db CONNINFO            PostgreSQL connection string\n"
          "  -h, --help                   show this help\n"
          "\n"
          "Exit status: 0 imported, 1 nothing imported (see the messages), 2 usage error.\n", out);
}

static const cli_command *cmd_geo(void);

int cli_import_geojson(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 'T'},
        {"country-iso3", required_argument, NULL, 'C'},
        {"name-field", required_argument, NULL, 'N'},
        {"iso3-field", required_argument, NULL, 'I'},
        {"level", required_argument, NULL, 'L'},
        {"skip-invalid", no_argument, NULL, 'K'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    ea_import_opts o;
    ea_import_result res;
    imp_ui u = {ctx, "Entité", isatty(2), 0, {0, 0}};
    int c, rc;
    ea_import_opts_init(&o);
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'T': o.target = optarg; break;
        case 'C': o.country_iso3 = optarg; break;
        case 'N': o.name_field = optarg; break;
        case 'I': o.iso3_field = optarg; break;
        case 'L': o.level = optarg; break;
        case 'K': o.skip_invalid = 1; break;
        default:
            if ((rc = cli_common_option(ctx, cmd_geo(), c, argv)) >= 0)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(ctx, cmd_geo(), "the file to import is required");
    if (optind + 1 < argc)
        return cli_usage_error(ctx, cmd_geo(), "unexpected argument '%s'", argv[optind + 1]);
    if (strcmp(o.target, "country") != 0 && strcmp(o.target, "region") != 0)
        return cli_usage_error(ctx, cmd_geo(), "invalid --target '%s' (country or region)", o.target);
    if (ea_import_check_file(ctx->pool, argv[optind], 1, res.message, sizeof res.message) != 0)
        return imp_finish(ctx, cmd_geo(), &u, -1, &res);
    if (cli_db_connect(ctx) != 0)
        return CLI_EXIT_FAIL;
    o.report = ui_report;
    o.progress = ui_progress;
    o.baton = &u;
    rc = ea_import_geojson(ctx->pg, ctx->pool, argv[optind], &o, &res);
    return imp_finish(ctx, cmd_geo(), &u, rc, &res);
}

const cli_command cli_cmd_import_resources = {
    "import-resources", "import resource metrics from a CSV file",
    cli_import_resources, cli_import_resources_usage,
};

const cli_command cli_cmd_import_geojson = {
    "import-geojson", "import country or region boundaries from GeoJSON",
    cli_import_geojson, cli_import_geojson_usage,
};

static const cli_command *cmd_res(void)
{
    return &cli_cmd_import_resources;
}

static const cli_command *cmd_geo(void)
{
    return &cli_cmd_import_geojson;
}
