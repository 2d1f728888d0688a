/* ea_settings: the settings that more than one program reads from the
 * same configuration file (the module as directives, ecoatlas-worker and
 * the ecoatlas CLI through ea_conffile), each validated here once, with
 * the same range, default and message everywhere (docs/directives.md). */
#ifndef EA_SETTINGS_H
#define EA_SETTINGS_H

#include <stddef.h>

/* Defaults that other tables repeat (the module's table of directive
 * defaults, mod_ecoatlas/ea_directives.c) take them from here. */
#define EA_TASK_TIME_LIMIT_DEFAULT 600

typedef enum {
    EA_SETTING_INT           /* a decimal integer from min to max */
} ea_setting_kind;

typedef struct ea_setting {
    const char *name;        /* the directive */
    ea_setting_kind kind;
    long min, max;
    long dflt;               /* when the directive is absent */
    const char *unit;        /* for messages ("seconds"); NULL: none */
} ea_setting;

/* The setting called name (any case), or NULL. */
const ea_setting *ea_setting_find(const char *name);
/* Its default (0 for an unknown name). */
long ea_setting_default(const char *name);
/* Parse text as the setting called name: 0 and *value, or -1 with the
 * reason in errbuf ("expected seconds from 1 to 604800"); callers put it
 * in their own "Invalid value for directive '...': '...' (reason)". */
int ea_setting_parse(const char *name, const char *text, long *value, char *errbuf, size_t errlen);

#endif
