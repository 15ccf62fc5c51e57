/* persist.c - snapshot schedule on the event loop (see persist.h). */
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "persist.h"
#include "snapshot.h"
#include "snapshotter.h"
#include "stats.h"

#define SUB "snapshot"

struct rv_persist {
	struct event_base *base;
	char *path;
	unsigned interval_ms;
	rv_table *table;
	rv_snapshotter *snap;
	struct event *timer, *sigchld;
	bool stopped;
	int64_t last_ok;          /* epoch seconds of the last snapshot written */
	uint64_t last_ms;         /* how long it took */
};

static double since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int check_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	const char *dir = dirname(copy);
	int rc = access(dir, W_OK | X_OK) == 0 ? 0 : -errno;
	if (rc < 0)
		rv_crit(SUB, "snapshot-file %s: directory %s is not writable: %s (create it, "
			"or set snapshot-file \"\" to run without snapshots)", path, dir, strerror(-rc));
	free(copy);
	return rc;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_persist *p = arg;
	if (p->stopped)
		return;
	int rc = rv_snapshotter_start_async(p->snap, p->table);
	if (rc < 0)
		rv_err(SUB, "cannot start a background snapshot to %s: %s", p->path, strerror(-rc));
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	rv_persist *p = arg;
	rv_snapshotter_result res;
	char why[96];
	while (rv_snapshotter_reap(p->snap, &res) > 0) {
		if (res.ok) {
			rv_info(SUB, "wrote %s (%zu addresses, %.2f s)", p->path, res.addresses,
				res.seconds);
			p->last_ok = (int64_t)time(NULL);
			p->last_ms = res.seconds > 0 ? (uint64_t)(res.seconds * 1000) : 0;
		} else {
			rv_stats.snapshot_failures++;
			rv_err(SUB, "background snapshot to %s %s; the previous one is kept", p->path,
				rv_wait_status_str(res.status, why, sizeof(why)));
		}
	}
}

static uint64_t read_age(const void *arg)
{
	const rv_persist *p = arg;
	int64_t now = (int64_t)time(NULL);

	return p->last_ok > 0 && now > p->last_ok ? (uint64_t)(now - p->last_ok) : 0;
}

static uint64_t read_last_ms(const void *arg)
{
	return ((const rv_persist *)arg)->last_ms;
}

rv_persist *rv_persist_new(struct event_base *base, const char *path, unsigned interval_ms,
		rv_table *table, int *err)
{
	int ret = check_dir(path);
	rv_persist *p = NULL;
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	p->base = base;
	p->interval_ms = interval_ms;
	p->table = table;
	p->path = strdup(path);
	p->snap = rv_snapshotter_new(path);
	p->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, p);
	if (!p->path || !p->snap || !p->sigchld || evsignal_add(p->sigchld, NULL) < 0)
		goto out;
	if (rv_stats_register(RV_GAUGE, NULL, "rearview_snapshot_age_seconds",
			"seconds since the last background snapshot was written (0: none yet)",
			read_age, p) < 0 ||
	    rv_stats_register_milli(RV_GAUGE, NULL, "rearview_snapshot_duration_seconds",
			"how long the last background snapshot took", read_last_ms, p) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		rv_persist_free(&p);
	if (err)
		*err = ret;
	return p;
}

void rv_persist_free(rv_persist **pp)
{
	if (!pp || !*pp)
		return;
	rv_persist *p = *pp;
	rv_stats_unregister(p);
	if (p->timer)
		event_free(p->timer);
	if (p->sigchld)
		event_free(p->sigchld);
	rv_snapshotter_free(&p->snap);
	free(p->path);
	free(p);
	*pp = NULL;
}

void rv_persist_load(rv_persist *p)
{
	char err[512];
	rv_snapshot_load_stats ls;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = rv_snapshot_read(p->table, p->path, &ls, err, sizeof(err));
	double secs = since(&t0);
	if (rc == 0) {
		rv_notice(SUB, "loaded %zu addresses from %s (%.2f s)", ls.loaded, p->path, secs);
		if (ls.skipped)
			rv_warn(SUB, "%s: skipped %zu bad entries (first: %s)", p->path, ls.skipped,
				ls.first_skipped);
		if (ls.clamped)
			rv_notice(SUB, "%s: %zu entries had times ahead of the snapshot's clock, "
				"clamped", p->path, ls.clamped);
	} else if (rc == -ENOENT) {
		rv_notice(SUB, "no snapshot at %s (first start)", p->path);
	} else {
		/* Corrupt or truncated: the AXFR reconcile still restores the best
		 * names, so carry on with what the zone says. */
		rv_err(SUB, "%s; ignored, the zone's contents will be adopted", err);
	}
}

int rv_persist_start(rv_persist *p)
{
	if (p->interval_ms == 0)
		return 0;
	p->timer = event_new(p->base, -1, EV_PERSIST, on_timer, p);
	if (!p->timer)
		return -ENOMEM;
	struct timeval tv = {p->interval_ms / 1000, (p->interval_ms % 1000) * 1000};
	return event_add(p->timer, &tv) == 0 ? 0 : -ENOMEM;
}

int rv_persist_set_interval(rv_persist *p, unsigned interval_ms)
{
	if (p->interval_ms == interval_ms)
		return 0;
	p->interval_ms = interval_ms;
	if (p->timer) {
		event_free(p->timer);
		p->timer = NULL;
	}
	return rv_persist_start(p);
}

void rv_persist_stop(rv_persist *p)
{
	p->stopped = true;
}

int rv_persist_save_now(rv_persist *p)
{
	char err[512];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = rv_snapshotter_save_now(p->snap, p->table, err, sizeof(err));
	if (rc == 0)
		rv_notice(SUB, "saved %zu addresses to %s (%.2f s)", rv_table_size(p->table), p->path,
			since(&t0));
	else
		rv_err(SUB, "%s", err);
	return rc;
}
