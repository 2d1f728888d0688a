/* ea_logno: the id in front of every log line of the module, the worker
 * and the task functions, as httpd's APLOGNO(n) gives its lines "AH00558: ".
 *
 *     ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, EA_LOGNO(00012) "text %s", x);
 *     wk_log(EA_LOG_ERROR, EA_LOGNO(00040) "text");
 *
 * n is a five-digit number that tools/logids --assign gives a new log call
 * (never one used before); docs/log-messages.md lists every id with what it
 * means and what to do about it, and tools/logids --check (a step of
 * ./dev test) fails on a log call without an id or an id used twice. */
#ifndef EA_LOGNO_H
#define EA_LOGNO_H

#define EA_LOGNO(n) "EA" #n ": "

/* In front of the format of a call that only passes on a line which
 * already starts with its own id (a task's line, logged by the module in
 * eager mode or by the worker): tools/logids then leaves the call alone. */
#define EA_LOG_RELAY ""

#endif
