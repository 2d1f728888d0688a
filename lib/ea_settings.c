/* ea_settings: see ea_settings.h. */
#include "ea_settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const ea_setting settings[] = {
    /* docs/directives.md EcoAtlasTaskTimeLimit: the module (statement
     * timeout of eager tasks) and ecoatlas-worker */
    { "EcoAtlasTaskTimeLimit", EA_SETTING_INT, 1, 604800, EA_TASK_TIME_LIMIT_DEFAULT, "seconds" },
};

const ea_setting *ea_setting_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof settings / sizeof settings[0]; i++)
        if (strcasecmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

long ea_setting_default(const char *name)
{
    const ea_setting *s = ea_setting_find(name);
    return s ? s->dflt : 0;
}

int ea_setting_parse(const char *name, const char *text, long *value, char *errbuf, size_t errlen)
{
    const ea_setting *s = ea_setting_find(name);
    char *end;
    long v;
    if (s == NULL) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "unknown setting");
        return -1;
    }
    errno = 0;
    v = text ? strtol(text, &end, 10) : 0;
    if (text == NULL || errno || *end || end == text || v < s->min || v > s->max) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "expected %s from %ld to %ld", s->unit ? s->unit : "an integer",
                     s->min, s->max);
        return -1;
    }
    *value = v;
    return 0;
}
