/*
 * snapshotter.c - one background snapshot child at a time, reaped without
 * blocking; a synchronous save that first stops it. See snapshotter.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "snapshotter.h"

#define SUB "snapshot"

struct rv_snapshotter {
	char *path;
	char *tmp;                  /* path + ".tmp": what a killed child leaves */
	pid_t pid;                  /* running child, 0 if none */
	struct timespec started;
	size_t addresses;           /* table size at the fork */
	bool have_done;             /* an ended child's result awaits rv_snapshotter_reap */
	rv_snapshotter_result done;
};

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

rv_snapshotter *rv_snapshotter_new(const char *path)
{
	rv_snapshotter *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->path = strdup(path);
	if (s->path == NULL || asprintf(&s->tmp, "%s.tmp", path) < 0) {
		s->tmp = NULL;
		free(s->path);
		free(s);
		return NULL;
	}
	return s;
}

/* The child ended with status: keep its result, and remove what a child that
 * did not exit by itself left behind (one that exits cleans up after itself). */
static void ended(rv_snapshotter *s, int status)
{
	s->done = (rv_snapshotter_result){
		.pid = s->pid,
		.status = status,
		.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0,
		.addresses = s->addresses,
		.seconds = since(&s->started),
	};
	s->have_done = true;
	s->pid = 0;
	if (!WIFEXITED(status))
		(void)unlink(s->tmp);
}

/* waitpid for the running child. Returns 1 if it ended (result kept), 0 if
 * still running (WNOHANG), -ECHILD if it is gone. */
static int collect(rv_snapshotter *s, int flags)
{
	int status;
	pid_t r;
	do
		r = waitpid(s->pid, &status, flags);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0) {
		s->pid = 0;
		return -ECHILD;
	}
	ended(s, status);
	return 1;
}

/* Stops a running child: SIGKILL cannot be caught, so the wait is short. One
 * that already ended by itself is only collected: its result is real and
 * awaits rv_snapshotter_reap. */
static void stop_child(rv_snapshotter *s, const char *why)
{
	if (s->pid <= 0 || collect(s, WNOHANG) == 1)
		return;
	if (s->pid > 0) {
		pid_t pid = s->pid;
		(void)kill(pid, SIGKILL);
		if (collect(s, 0) == 1) {
			/* Killed on purpose: not an outcome to report. */
			s->have_done = false;
			rv_info(SUB, "stopped the background snapshot to %s (pid %ld) %s", s->path,
					(long)pid, why);
		}
	}
	/* Dead either way (or reaped by someone else): its PATH.tmp is garbage. */
	(void)unlink(s->tmp);
}

void rv_snapshotter_free(rv_snapshotter **sp)
{
	rv_snapshotter *s = *sp;
	if (s == NULL)
		return;
	stop_child(s, "at teardown");
	free(s->path);
	free(s->tmp);
	free(s);
	*sp = NULL;
}

int rv_snapshotter_start_async(rv_snapshotter *s, const rv_table *t)
{
	/* A child that ended without its SIGCHLD being handled yet must not block
	 * snapshots for good: collect it now, report it at the next reap. */
	if (s->pid > 0 && collect(s, WNOHANG) == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->addresses = rv_table_size(t);
	pid_t pid = rv_snapshot_save_async(t, s->path);
	if (pid < 0)
		return (int)pid;
	s->pid = pid;
	return 1;
}

int rv_snapshotter_reap(rv_snapshotter *s, rv_snapshotter_result *res)
{
	int rc = 0;
	if (s->pid > 0)
		rc = collect(s, WNOHANG);
	if (s->have_done) {
		*res = s->done;
		s->have_done = false;
		return 1;
	}
	return rc < 0 ? rc : 0;
}

bool rv_snapshotter_running(const rv_snapshotter *s)
{
	return s->pid > 0;
}

pid_t rv_snapshotter_pid(const rv_snapshotter *s)
{
	return s->pid > 0 ? s->pid : 0;
}

int rv_snapshotter_save_now(rv_snapshotter *s, const rv_table *t, char *err, size_t errlen)
{
	stop_child(s, "for a synchronous save");
	return rv_snapshot_save(t, s->path, err, errlen);
}

const char *rv_wait_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status) || WIFSTOPPED(status)) {
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : WSTOPSIG(status);
		const char *abbrev = sigabbrev_np(sig);
		snprintf(buf, len, "%s by signal %d%s%s%s%s", WIFSIGNALED(status) ? "killed" :
				"stopped", sig, abbrev ? " (SIG" : "", abbrev ? abbrev : "",
				abbrev ? ")" : "",
				WIFSIGNALED(status) && WCOREDUMP(status) ? ", core dumped" : "");
	} else if (WIFCONTINUED(status)) {
		snprintf(buf, len, "continued");
	} else {
		snprintf(buf, len, "wait status 0x%x", (unsigned)status);
	}
	return buf;
}
