/* ea_mod_metrics.h: counters and the scrape */
#ifndef EA_MOD_METRICS_H
#define EA_MOD_METRICS_H

#include "ea_mod_conf.h"
#include "ea_metrics.h"

/* ---- metrics (ea_mod_metrics.c) ------------------------------------------------ */
#define EA_METRICS_HANDLER "ecoatlas-metrics"
/* One line at a call site: add 1 to a counter (nothing with EcoAtlasMetrics Off). */
void ea_count(server_rec *s, ea_metric_counter c);
/* Add n to a counter labelled with a task name. */
void ea_count_task(server_rec *s, ea_metric_task t, const char *task, uint64_t n);
/* Time spent waiting for a pooled database connection. */
void ea_count_wait(server_rec *s, apr_time_t waited);
/* route_at: the route table (ea_route_at), whose names label the requests. */
int ea_metrics_post_config(apr_pool_t *pconf, server_rec *s, const ea_route *(*route_at)(int i));
void ea_metrics_register(apr_pool_t *p);
int ea_metrics_handler(request_rec *r);

#endif
