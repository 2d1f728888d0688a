/* ecoatlas check --deploy: Django's `manage.py check --deploy` for the
 * Apache configuration mod_ecoatlas reads.  The rules are lib/ea_deploy.c,
 * the same the module applies at startup (its [warn] lines carry the same
 * ids and texts); here the settings come from the configuration file
 * (lib/ea_conffile.c follows Include/IncludeOptional and records which
 * <VirtualHost> each directive is in).  Exit status 1 when anything is
 * found, 0 and "System check identified no issues." otherwise. */
#include "cli.h"
#include "ea_conffile.h"
#include "ea_deploy.h"

#include <apr_strings.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check_usage(FILE *out)
{
    fputs("Usage: ecoatlas check --deploy [-f FILE]\n"
          "\n"
          "Report weak production settings in the Apache configuration, as\n"
          "Django's `manage.py check --deploy` did, with the ids mod_ecoatlas\n"
          "logs at startup (ecoatlas.W004, ...).  When the configuration names a\n"
          "database (DBDParams, or --db), also whether ?search= is served by its\n"
          "indexes there (ecoatlas.W101: cannot check; ecoatlas.W102: missing).\n"
          "\n"
          "Options:\n"
          "      --deploy        run the deployment checks (required)\n"
          "  -f, --config FILE   the Apache configuration (default: $ECOATLAS_CONFIG,\n"
          "                      else " CLI_DEFAULT_APACHE_CONF ")\n"
          "      --db CONNINFO   the database to check (default: DBDParams)\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Exit status: 0 no issues, 1 issues found or unreadable file, 2 usage error.\n", out);
}

static int flag_on(const apr_array_header_t *args)
{
    return args->nelts > 0 && strcasecmp(APR_ARRAY_IDX(args, 0, const char *), "on") == 0;
}

static const char *arg0(const apr_array_header_t *args)
{
    return args->nelts > 0 ? APR_ARRAY_IDX(args, 0, const char *) : "";
}

/* The key in EcoAtlasSecretKeyFile: its first line; NULL if unreadable. */
static const char *read_key_file(apr_pool_t *p, const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    if (!f)
        return NULL;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return apr_pstrdup(p, buf);
}

/* Apply one directive to s; *https_hint set by SSLEngine/ServerName/port. */
static void apply(apr_pool_t *p, ea_deploy_settings *s, const ea_conf_entry *e, int *https)
{
    const char *n = e->name;
    if (strcasecmp(n, "EcoAtlasDebug") == 0) {
        if (flag_on(e->args))
            s->debug = 1;
        else if (!e->in_dir)
            s->debug = 0;
    }
    else if (strcasecmp(n, "EcoAtlasSecretKey") == 0)
        s->secret_key = arg0(e->args);
    else if (strcasecmp(n, "EcoAtlasSecretKeyFile") == 0) {
        const char *k = read_key_file(p, arg0(e->args));
        s->secret_key = k ? k : "unreadable-EcoAtlasSecretKeyFile-not-checked-here-"
                                "0123456789abcdefghijklmnopqrstuvwxyz";
    }
    else if (strcasecmp(n, "EcoAtlasCORSAllowAllOrigins") == 0)
        s->cors_allow_all = flag_on(e->args);
    else if (strcasecmp(n, "EcoAtlasHSTSSeconds") == 0)
        s->hsts_seconds = atoi(arg0(e->args));
    else if (strcasecmp(n, "EcoAtlasSSLRedirect") == 0)
        s->ssl_redirect = flag_on(e->args);
    else if (strcasecmp(n, "EcoAtlasSessionCookieSecure") == 0)
        s->session_cookie_secure = flag_on(e->args);
    else if (strcasecmp(n, "EcoAtlasCSRFCookieSecure") == 0)
        s->csrf_cookie_secure = flag_on(e->args);
    else if (strcasecmp(n, "EcoAtlasProxySSLHeader") == 0)
        *https = 1;
    else if (strcasecmp(n, "SSLEngine") == 0 && flag_on(e->args))
        *https = 1;
    else if (strcasecmp(n, "ServerName") == 0) {
        const char *v = arg0(e->args);
        size_t l = strlen(v);
        if (strncasecmp(v, "https://", 8) == 0 || (l > 4 && strcmp(v + l - 4, ":443") == 0))
            *https = 1;
    }
}

static int addrs_443(const char *addrs)
{
    for (const char *c = strstr(addrs, ":443"); c; c = strstr(c + 1, ":443"))
        if (c[4] == '\0' || c[4] == ' ' || c[4] == '\t')
            return 1;
    return 0;
}

static void add_warning(apr_array_header_t *w, const char *id, const char *server, const char *text)
{
    ea_deploy_warning *x = apr_array_push(w);
    x->id = id;
    x->server = server;
    x->text = text;
}

/* The database the configuration names (DBDParams, or --db): are the
 * indexes that serve ?search= there (migration 0005)?  Nothing to check
 * when no database is named. */
static void check_database(cli_ctx *ctx, ea_conffile *cf, apr_array_header_t *w)
{
    const apr_array_header_t *dbd = ea_conffile_args(cf, "DBDParams");
    if (!ctx->db_conninfo && (!dbd || dbd->nelts == 0))
        return;
    if (cli_db_connect(ctx) != 0) {
        add_warning(w, "ecoatlas.W101", "database",
                    "cannot connect to the database named by DBDParams to check it (see above)");
        return;
    }
    const char *v = cli_db_value(ctx, "SELECT to_regprocedure('ecoatlas_search_missing()') IS NOT NULL",
                                 "looking for migration 0005", NULL);
    if (v && strcmp(v, "t") != 0) {
        add_warning(w, "ecoatlas.W102", "database",
                    "migrations are pending (no search indexes): run ecoatlas migrate");
        return;
    }
    if (v)
        v = cli_db_value(ctx, "SELECT coalesce(string_agg(m, ', ' ORDER BY m), '') FROM ecoatlas_search_missing() m",
                         "looking for the search indexes", NULL);
    if (!v) {
        add_warning(w, "ecoatlas.W101", "database", "cannot read the database to check it (see above)");
        return;
    }
    if (!*v)
        return;
    const char *trgm = cli_db_value(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
                                    "looking for pg_trgm", NULL);
    add_warning(w, "ecoatlas.W102", "database",
                apr_psprintf(ctx->pool, "?search= scans whole tables: search indexes missing (%s)%s", v,
                             trgm && strcmp(trgm, "t") == 0
                             ? "; run ecoatlas migrate"
                             : "; the extension pg_trgm is not installed: a superuser can run "
                               "CREATE EXTENSION pg_trgm; in this database, then run ecoatlas migrate"));
}

static int run_check(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"deploy", no_argument, NULL, 'd'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int deploy = 0, c, rc;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (c == 'd')
            deploy = 1;
        else if ((rc = cli_common_option(ctx, &cli_cmd_check, c, argv)) >= 0)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error(ctx, &cli_cmd_check, "unexpected argument '%s'", argv[optind]);
    if (!deploy)
        return cli_usage_error(ctx, &cli_cmd_check, "only the deployment checks exist: give --deploy");
    const char *path = ctx->config_path;
    if (!path) {
        const char *env = getenv("ECOATLAS_CONFIG");
        path = env && *env ? env : CLI_DEFAULT_APACHE_CONF;
    }
    const char *err = NULL;
    ea_conffile *cf = ea_conffile_read(ctx->pool, path, &err);
    if (!cf) {
        cli_err(ctx, "cannot read the Apache configuration: %s", err);
        return CLI_EXIT_FAIL;
    }
    const apr_array_header_t *entries = ea_conffile_entries(cf);
    const apr_array_header_t *vhosts = ea_conffile_vhosts(cf);

    ea_deploy_settings main_s;
    memset(&main_s, 0, sizeof main_s);
    main_s.name = "main server";
    main_s.hsts_seconds = EA_DEPLOY_UNSET;
    main_s.cors_allow_all = main_s.ssl_redirect = main_s.session_cookie_secure =
        main_s.csrf_cookie_secure = EA_DEPLOY_UNSET;
    int main_https = 0;
    for (int i = 0; i < entries->nelts; i++) {
        const ea_conf_entry *e = &APR_ARRAY_IDX(entries, i, ea_conf_entry);
        if (e->vhost < 0)
            apply(ctx->pool, &main_s, e, &main_https);
    }
    main_s.https = main_https;
    /* a main-server debug inside <Location> is the main server's alone */
    int main_debug_inherited = 0;
    for (int i = 0; i < entries->nelts; i++) {
        const ea_conf_entry *e = &APR_ARRAY_IDX(entries, i, ea_conf_entry);
        if (e->vhost < 0 && !e->in_dir && strcasecmp(e->name, "EcoAtlasDebug") == 0)
            main_debug_inherited = flag_on(e->args);
    }

    apr_array_header_t *vs = apr_array_make(ctx->pool, vhosts->nelts + 1, sizeof(ea_deploy_settings));
    for (int v = 0; v < vhosts->nelts; v++) {
        const ea_conf_vhost *vh = &APR_ARRAY_IDX(vhosts, v, ea_conf_vhost);
        ea_deploy_settings *s = apr_array_push(vs);
        *s = main_s;
        s->debug = main_debug_inherited;
        s->name = apr_psprintf(ctx->pool, "vhost at %s:%u", vh->file, vh->line);
        /* EcoAtlasProxySSLHeader is inherited; SSLEngine and the port are not */
        int https = 0;
        for (int i = 0; i < entries->nelts; i++) {
            const ea_conf_entry *e = &APR_ARRAY_IDX(entries, i, ea_conf_entry);
            if (e->vhost < 0 && strcasecmp(e->name, "EcoAtlasProxySSLHeader") == 0)
                https = 1;
        }
        for (int i = 0; i < entries->nelts; i++) {
            const ea_conf_entry *e = &APR_ARRAY_IDX(entries, i, ea_conf_entry);
            if (e->vhost == v)
                apply(ctx->pool, s, e, &https);
        }
        s->https = https || addrs_443(vh->addrs);
    }
    apr_array_header_t *w = ea_deploy_check_all(ctx->pool, &main_s, vs);
    check_database(ctx, cf, w);
    if (w->nelts == 0) {
        puts("System check identified no issues.");
        return CLI_EXIT_OK;
    }
    puts("System check identified some issues:\n\nWARNINGS:");
    for (int i = 0; i < w->nelts; i++)
        puts(ea_deploy_format(ctx->pool, &APR_ARRAY_IDX(w, i, ea_deploy_warning)));
    printf("\nSystem check identified %d issue%s.\n", w->nelts, w->nelts == 1 ? "" : "s");
    return CLI_EXIT_FAIL;
}

const cli_command cli_cmd_check = {
    "check",
    "report weak production settings (check --deploy)",
    run_check,
    check_usage,
};
