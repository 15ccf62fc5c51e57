/*
 * worker.h - one background thread for work that may wait on a disk (the
 * history database, the COF log), so the loop never does.
 *
 * The handoff is bounded by construction: at most one job is in flight. The
 * loop submits a job; the thread runs it; its completion comes back to the
 * loop as an event (an eventfd), where done() runs. While a job is in flight
 * a submit is refused (-EBUSY) and the caller keeps aggregating, within its
 * own memory bound.
 */
#ifndef RV_WORKER_H
#define RV_WORKER_H

#include "common.h"

struct event_base;

typedef struct rv_worker rv_worker;

/* run(arg, job) on the worker thread; then done(arg, job) on the loop, which
 * owns job again. */
typedef void (*rv_worker_run_fn)(void *arg, void *job);
typedef void (*rv_worker_done_fn)(void *arg, void *job);

/*
 * Starts the thread. NULL with *err = -errno. name is for logs (borrowed).
 * The thread runs at nice RV_WORKER_NICE relative to the agent: it is
 * background work, and on a machine short of CPU the loop (ingest) must win;
 * the worker catches up when the loop idles, and its owner's bound (drops
 * counted) covers the time it cannot.
 */
#define RV_WORKER_NICE 10
rv_worker *rv_worker_new(struct event_base *base, const char *name, rv_worker_run_fn run,
		rv_worker_done_fn done, void *arg, int *err);
/* Hands job over. 0, or -EBUSY while one is in flight (job stays the caller's). */
int rv_worker_submit(rv_worker *w, void *job) RV_MUST_CHECK;
bool rv_worker_busy(const rv_worker *w);
/* Waits for the job in flight (if any) and runs its done() now. For shutdown:
 * it blocks the loop. */
void rv_worker_wait(rv_worker *w);
/* rv_worker_wait(), then stops and joins the thread. */
void rv_worker_free(rv_worker **w);

#endif
