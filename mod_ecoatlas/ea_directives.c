/* ea_directives: the EcoAtlas* directive table, per-directory create/merge. */
#include "mod_ecoatlas.h"
#include "apr_strings.h"

APLOG_USE_MODULE(ecoatlas);

void *ea_create_dir_conf(apr_pool_t *p, char *dir)
{
    ea_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    c->base = NULL;
    if (dir && dir[0] == '/') {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        c->base = (n == 1) ? "" : apr_pstrmemdup(p, dir, n);
    }
    c->page_size = EA_UNSET;
    c->max_page_size = EA_UNSET;
    c->debug = EA_UNSET;
    return c;
}

#define MERGE(f) c->f = (add->f != EA_UNSET) ? add->f : base->f

void *ea_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const ea_dir_conf *base = basev, *add = addv;
    ea_dir_conf *c = apr_pcalloc(p, sizeof(*c));
    c->base = add->base ? add->base : base->base;
    MERGE(page_size);
    MERGE(max_page_size);
    MERGE(debug);
    return c;
}

int ea_conf_page_size(const ea_dir_conf *c)
{
    return c->page_size != EA_UNSET ? c->page_size : EA_DEFAULT_PAGE_SIZE;
}

int ea_conf_max_page_size(const ea_dir_conf *c)
{
    return c->max_page_size != EA_UNSET ? c->max_page_size : EA_DEFAULT_MAX_PAGE_SIZE;
}

int ea_conf_debug(const ea_dir_conf *c)
{
    return c->debug == 1;
}

/* Positive page sizes; a bound keeps one response from turning into an export. */
static const char *set_page_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    ea_dir_conf *c = dconf;
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < 1 || v > 10000)
        return apr_psprintf(cmd->pool,
                            "Invalid value for directive '%s': '%s' (expected an integer from 1 to 10000)",
                            cmd->directive->directive, arg);
    if (cmd->info == (void *)0)
        c->page_size = (int)v;
    else
        c->max_page_size = (int)v;
    return NULL;
}

static const char *set_debug(cmd_parms *cmd, void *dconf, int on)
{
    ((ea_dir_conf *)dconf)->debug = on ? 1 : 0;
    return NULL;
}

const command_rec ea_directives[] = {
    AP_INIT_TAKE1("EcoAtlasPageSize", set_page_size, (void *)0, RSRC_CONF | ACCESS_CONF,
                  "Default number of objects per page of a list (default 50)"),
    AP_INIT_TAKE1("EcoAtlasMaxPageSize", set_page_size, (void *)1, RSRC_CONF | ACCESS_CONF,
                  "Largest page_size a client may ask for (default 200)"),
    AP_INIT_FLAG("EcoAtlasDebug", set_debug, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: error responses carry the internal cause (never in production)"),
    { NULL }
};
