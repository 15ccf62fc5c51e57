/*
 * snapshotter.h - the agent's snapshot job: background saves in a forked child
 * (so the event loop never waits for the disk), a synchronous save at shutdown,
 * and never two saves at once (they share PATH.tmp). The file format and the
 * save itself: snapshot.h.
 *
 * The agent is single-threaded (one libevent loop); so is this module. Call
 * sequence for the owner (agent/main.c):
 *
 *   start-up, after the table exists:
 *     s = rv_snapshotter_new(cfg.snapshot_file);           NULL: out of memory
 *     rc = rv_snapshot_read(table, cfg.snapshot_file, &ls, err, sizeof(err));
 *       0: notice "loaded %zu addresses from PATH (%.2f s)", and when
 *          ls.skipped: warning "skipped %zu bad entries (first: %s)" with
 *          ls.first_skipped, when ls.clamped: notice "%zu had times ahead of the
 *          snapshot's clock, clamped"; -ENOENT: notice "no snapshot (first
 *          start)"; other: error "%s; ignored, the zone's contents will be
 *          adopted" with err
 *     a SIGCHLD event: evsignal_new(base, SIGCHLD, on_sigchld, ag)
 *     a persistent timer every snapshot-interval
 *   timer:
 *     if (!stopping) rc = rv_snapshotter_start_async(s, table);
 *       rc < 0: error "cannot start a background snapshot to PATH: strerror(-rc)"
 *       rc == 0: the previous one is still being written (nothing to do)
 *   SIGCHLD event:
 *     while (rv_snapshotter_reap(s, &res) > 0)
 *       res.ok: info "wrote PATH (%zu addresses, %.2f s)"
 *       else:   rv_stats.snapshot_failures++; error "background snapshot to PATH
 *               %s; the previous one is kept" with rv_wait_status_str(res.status)
 *               (the child has already logged why when it exited with 1)
 *   shutdown, after the event loop returned (queue flushed):
 *     rc = rv_snapshotter_save_now(s, table, err, sizeof(err));
 *       kills and reaps a background save still running, then saves
 *       0: notice "saved %zu addresses to PATH (%.2f s)"; < 0: error err, exit 1
 *   teardown:
 *     rv_snapshotter_free(&s);
 *
 * Nothing here logs except a background save stopped by save_now or free (info).
 */
#ifndef RV_SNAPSHOTTER_H
#define RV_SNAPSHOTTER_H

#include <sys/types.h>

#include "common.h"
#include "table.h"

typedef struct rv_snapshotter rv_snapshotter;

/* How a background save ended. */
typedef struct rv_snapshotter_result {
	pid_t pid;
	int status;         /* raw wait status: rv_wait_status_str decodes it */
	bool ok;            /* exited with 0: PATH holds the new snapshot */
	size_t addresses;   /* table size at the fork (what the child wrote) */
	double seconds;     /* from the fork to the reap */
} rv_snapshotter_result;

/* path is copied. NULL on allocation failure. */
rv_snapshotter *rv_snapshotter_new(const char *path);
/* Kills (SIGKILL) and reaps a background save still running, removes its
 * PATH.tmp, frees, NULLs *s. */
void rv_snapshotter_free(rv_snapshotter **s);

/* Starts a background save of t (rv_snapshot_save_async). Returns 1 if one was
 * started, 0 if the previous one is still running (not an error: one at a time),
 * -errno if fork failed. A previous child that has finished but was not reaped
 * yet is reaped here, its result kept for the next rv_snapshotter_reap. */
int rv_snapshotter_start_async(rv_snapshotter *s, const rv_table *t) RV_MUST_CHECK;

/* Non-blocking: call from the owner's SIGCHLD event, in a loop until it returns
 * 0. Returns 1 with *res filled for a background save that has ended, 0 if
 * there is none (still running, or none started), -ECHILD if the child
 * vanished (someone else reaped it; forgotten). A child killed by a signal
 * leaves a partial PATH.tmp: it is removed here. */
int rv_snapshotter_reap(rv_snapshotter *s, rv_snapshotter_result *res) RV_MUST_CHECK;

/* True while a background save is running (not yet reaped). */
bool rv_snapshotter_running(const rv_snapshotter *s);
/* Its pid, or 0. */
pid_t rv_snapshotter_pid(const rv_snapshotter *s);

/* Synchronous save (shutdown): kills and reaps a background save still running
 * (both write PATH.tmp; the one now holds newer data anyway), then
 * rv_snapshot_save. Returns its result; err as rv_snapshot_save. */
int rv_snapshotter_save_now(rv_snapshotter *s, const rv_table *t, char *err,
		size_t errlen) RV_MUST_CHECK;

/* A wait(2) status in words, for any child: "exited with status 1", "killed by
 * signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV), core dumped", "stopped
 * by signal 19 (SIGSTOP)". Returns buf (len >= 64 is always enough). */
const char *rv_wait_status_str(int status, char *buf, size_t len);

#endif
