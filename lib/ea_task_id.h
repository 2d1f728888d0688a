/* ea_task_id: task ids and the timestamps of task records, shared by the
 * queue (ea_queue.c), the module's eager mode and the CLI. */
#ifndef EA_TASK_ID_H
#define EA_TASK_ID_H

#define EA_TASK_ID_LEN 36

/* A random UUID4 (getrandom, the kernel CSPRNG) as 36 characters + NUL. */
int ea_task_uuid4(char out[EA_TASK_ID_LEN + 1]);
/* 8-4-4-4-12 lower-case hex: safe to put in a key. */
int ea_task_id_valid(const char *id);
/* Now as ISO 8601 UTC with microseconds: 2025-01-01T12:00:00.123456Z. */
void ea_task_now_iso(char out[32]);

#endif
