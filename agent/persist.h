/*
 * persist.h - the agent's snapshot schedule, on the event loop: the load at
 * start (with what it skipped or clamped, logged), a background save every
 * interval (snapshotter.h: a forked child), its outcome when the child is
 * reaped (SIGCHLD, decoded exit status), and the synchronous save at exit.
 */
#ifndef RV_PERSIST_H
#define RV_PERSIST_H

#include "common.h"
#include "table.h"

struct event_base;

typedef struct rv_persist rv_persist;

/* path is copied; base and table are borrowed. interval_ms 0 = only at exit.
 * Fails with -EACCES (logged at crit, naming the directory) when the
 * directory of path is not writable by this process: everything learned would
 * otherwise be lost at the next restart. NULL + *err. */
rv_persist *rv_persist_new(struct event_base *base, const char *path, unsigned interval_ms,
		rv_table *table, int *err);
/* Kills and reaps a background save still running. */
void rv_persist_free(rv_persist **p);

/* Loads the snapshot into the table and logs the outcome; a missing, corrupt
 * or unreadable file is logged and left (the start-up reconcile adopts the
 * zone's contents). */
void rv_persist_load(rv_persist *p);
/* Starts the background saves (after the load). 0 or -ENOMEM. */
int rv_persist_start(rv_persist *p) RV_MUST_CHECK;
/* Live reload: background saves every interval_ms from now (0 = only at
 * exit); a save under way finishes. 0 or -ENOMEM. */
int rv_persist_set_interval(rv_persist *p, unsigned interval_ms) RV_MUST_CHECK;
/* No more background saves (shutdown has begun). */
void rv_persist_stop(rv_persist *p);
/* The exit save: stops a background one, saves, logs. 0 or -errno. */
int rv_persist_save_now(rv_persist *p) RV_MUST_CHECK;

#endif
