/* ea_conffile: read settings from an Apache-syntax configuration file, so
 * that the CLI and the worker take DBDParams, EcoAtlasBrokerURL, ... from
 * the very file httpd reads (one source of truth, ARCHITECTURE §6). */
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

#endif
