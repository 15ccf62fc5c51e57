/*
 * procstats.h - the process's own resources as metrics, under the names every
 * Prometheus client library uses (process_*), so standard dashboards and
 * alerts work unchanged: resident memory, CPU time, open and maximum file
 * descriptors, start time. Read from /proc and getrusage() when metrics are
 * shown (a scrape or the statistics line), never in between.
 */
#ifndef RV_PROCSTATS_H
#define RV_PROCSTATS_H

#include "common.h"

/* Adds the process_* metrics to the registry (stats.h). 0 or -errno. */
int rv_procstats_register(void) RV_MUST_CHECK;
/* Removes them. */
void rv_procstats_unregister(void);

#endif
