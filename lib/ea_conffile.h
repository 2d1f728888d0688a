/* ea_conffile: read settings from an Apache-syntax configuration file, so
 * that the CLI and the worker take DBDParams, EcoAtlasBrokerURL, ... from
 * the very file httpd reads (one source of truth, docs/architecture.md). */
#ifndef EA_CONFFILE_H
#define EA_CONFFILE_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct ea_conffile ea_conffile;

/* Parse path: one directive per line, '\' line continuation, '#' comments,
 * <Section ...> ... </Section> containers are entered (their directives
 * count as if global; the last occurrence wins), Include / IncludeOptional
 * followed (globs allowed; relative paths resolved against ServerRoot when
 * set, else the including file's directory), ${VAR} expanded from the
 * environment (an undefined variable is kept literally, as httpd does
 * after its warning).
 * Returns NULL and sets *err (a message naming file and line) on failure. */
ea_conffile *ea_conffile_read(apr_pool_t *p, const char *path, const char **err);

/* The arguments of the LAST occurrence of directive (case-insensitive), as
 * an array of const char * with quotes removed; NULL when absent. */
const apr_array_header_t *ea_conffile_args(const ea_conffile *cf, const char *directive);

/* Convenience: the first argument of the last occurrence, or dflt. */
const char *ea_conffile_get(const ea_conffile *cf, const char *directive, const char *dflt);

/* Every directive in file order, for readers that need the structure (the
 * deploy check): which <VirtualHost> it is in, whether it sits in a
 * per-directory section (<Location>, <Directory>, <Files> and their Match
 * forms).  Other containers (<IfModule>, <IfDefine>, ...) are entered as
 * if their condition held. */
typedef struct {
    const char *name;                 /* as written */
    const apr_array_header_t *args;   /* const char *, quotes removed */
    int vhost;                        /* index in ea_conffile_vhosts(), -1: main server */
    int in_dir;                       /* inside a per-directory section */
    const char *file;
    unsigned line;
} ea_conf_entry;

typedef struct {
    const char *addrs;                /* the <VirtualHost ...> arguments, e.g. "*:443" */
    const char *file;
    unsigned line;
} ea_conf_vhost;

const apr_array_header_t *ea_conffile_entries(const ea_conffile *cf);   /* ea_conf_entry */
const apr_array_header_t *ea_conffile_vhosts(const ea_conffile *cf);    /* ea_conf_vhost */

#endif
