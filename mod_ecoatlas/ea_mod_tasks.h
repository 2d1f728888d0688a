/* ea_mod_tasks.h: tasks and imports: directives and start-up check */
#ifndef EA_MOD_TASKS_H
#define EA_MOD_TASKS_H

#include "ea_mod_conf.h"

/* ---- tasks and imports (ea_handle_tasks.c) ------------------------------------ */
const char *ea_tasks_set_url(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_tasks_set_time_limit(cmd_parms *cmd, void *dconf, const char *arg);
const char *ea_tasks_set_import_dir(cmd_parms *cmd, void *dconf, const char *arg);
/* check_config: every EcoAtlasImportDir exists and the children may write it */
int ea_tasks_check_config(apr_pool_t *ptemp, server_rec *s);

#endif
