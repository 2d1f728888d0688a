/* ea_task_run: the task functions, run by the worker and, in eager mode, by
 * the module inside the request (same code, docs/decisions.md §5). */
#ifndef EA_TASK_RUN_H
#define EA_TASK_RUN_H

#include <apr_pools.h>
#include <libpq-fe.h>

/* syslog-style levels for the log callback */
#define EA_LOG_ERROR 3
#define EA_LOG_WARNING 4
#define EA_LOG_INFO 6
#define EA_LOG_DEBUG 7

typedef struct ea_task_env {
    apr_pool_t *pool;           /* lives for the run */
    PGconn *pg;                 /* an idle connection (tasks with needs_db) */
    const char *task_id;
    volatile int *cancel;       /* set by the time limit or a shutdown */
    void (*log)(void *baton, int level, const char *msg);
    void *log_baton;
    const char *import_dir;     /* EcoAtlasImportDir: import tasks read (and
                                   remove) files below it only; NULL = the
                                   system temporary directory */
} ea_task_env;

typedef enum {
    EA_TASKRUN_OK = 0,          /* *result is the JSON result */
    EA_TASKRUN_FAIL = 1,        /* *error says why; retrying would not help */
    EA_TASKRUN_RETRY = 2        /* *error says why; a transient failure (database gone, deadlock) */
} ea_taskrun_status;

typedef struct ea_task_def {
    const char *name;
    int needs_db;
    int test_only;              /* only with ecoatlas-worker --enable-test-tasks */
    ea_taskrun_status (*run)(ea_task_env *env, const char *args_json, char **result, char **error);
} ea_task_def;

/* The task called name; test-only tasks only when allow_test is set. */
const ea_task_def *ea_task_find(const char *name, int allow_test);
/* Run def with args_json (a JSON object, "" or NULL for {}): checks the
 * arguments, runs, classifies failures (a lost connection, a
 * serialization failure or deadlock: RETRY). */
ea_taskrun_status ea_task_run(const ea_task_def *def, ea_task_env *env, const char *args_json,
                              char **result, char **error);

/* The task names by index (metrics labels): ea_task_count of them;
 * ea_task_index is -1 for a name that is not a task. */
int ea_task_count(void);
const char *ea_task_name_at(int i);
int ea_task_index(const char *name);
/* The real path of path (symlinks and .. resolved) when it lies below the
 * real path of dir; NULL otherwise (*why says why).  A path that does not
 * exist yet resolves through its directory. */
const char *ea_task_confine(apr_pool_t *p, const char *dir, const char *path, const char **why);

/* Session settings every task connection needs (UTC, UTF-8, quiet). */
int ea_task_pg_setup(PGconn *pg);

#endif
