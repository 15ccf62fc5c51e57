/*
 * history_sink.c - observations -> record aggregate -> the history database,
 * written by a worker thread (see history_sink.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "history_db.h"
#include "history_sink.h"
#include "log.h"
#include "pdns.h"
#include "stats.h"
#include "worker.h"

/* Retention and the size cap are enforced at most this often. */
#define EXPIRE_EVERY_S 60

struct job {
	rv_pdns_agg *batch;
	int64_t now;
	bool expire;
	/* results, written by the thread */
	int rc;
	size_t rows;
	size_t deleted;
	uint64_t write_us;
	char why[256];
};

struct rv_history {
	rv_history_opts opts;
	char *path;
	char fallback[64];        /* sensor of frames without a dnstap identity */
	rv_pdns_combiner *comb;   /* repeats counted without touching the aggregate */
	rv_hdb *db;               /* used by the worker thread only, once started */
	rv_worker *worker;
	rv_pdns_agg *agg;         /* filling on the loop */
	struct job job;           /* the one job (in flight or idle) */
	struct event *timer;
	int64_t last_expire;
	bool failed;
	uint64_t write_us;        /* time the writer spent in transactions */
};

static int64_t default_clock(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ thread */

static void run_job(void *arg, void *p)
{
	rv_history *h = arg;
	struct job *j = p;

	struct timespec t0, t1;

	j->rc = 0;
	j->rows = j->deleted = 0;
	j->why[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (j->batch != NULL && rv_pdns_agg_size(j->batch) > 0)
		j->rc = rv_hdb_write(h->db, j->batch, &j->rows, j->why, sizeof(j->why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	j->write_us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (j->rc == 0 && j->expire) {
		int64_t cutoff = h->opts.retention_s > 0 ?
			j->now - (int64_t)h->opts.retention_s : 0;

		j->rc = rv_hdb_expire(h->db, cutoff, h->opts.max_bytes, &j->deleted, j->why,
				sizeof(j->why));
	}
	/* Freed here, not on the loop: hundreds of thousands of records. */
	rv_pdns_agg_free(&j->batch);
}

/* ------------------------------------------------------------------ loop */

static void fail(rv_history *h, const char *why)
{
	if (h->failed)
		return;
	h->failed = true;
	rv_stats.history_write_failures++;
	rv_err("history", "%s: %s; the history is off from now on (the RPZ is not affected)",
			h->path, why);
}

static void job_done(void *arg, void *p)
{
	rv_history *h = arg;
	struct job *j = p;

	rv_pdns_agg_free(&j->batch);
	if (j->rc < 0) {
		fail(h, j->why[0] ? j->why : "write failed");
		return;
	}
	rv_stats.history_rows_written += j->rows;
	h->write_us += j->write_us;
	rv_stats.history_rows_expired += j->deleted;
	if (j->deleted > 0)
		rv_info("history", "%zu records deleted (history-retention, history-max-size)",
				j->deleted);
}

/* Hands the aggregate to the writer unless it is busy; false if it was. */
static bool flush(rv_history *h)
{
	rv_pdns_agg *next;
	int64_t now = h->opts.clock();
	bool expire = now - h->last_expire >= EXPIRE_EVERY_S;

	if (h->failed || rv_worker_busy(h->worker))
		return false;
	if (rv_pdns_agg_size(h->agg) == 0 && !expire)
		return true;
	next = rv_pdns_agg_new(h->opts.max_pending);
	if (next == NULL)
		return false; /* keep aggregating; try again next time */
	rv_pdns_combiner_drain(h->comb); /* its counts belong to this batch */
	h->job = (struct job){.batch = h->agg, .now = now, .expire = expire};
	if (expire)
		h->last_expire = now;
	h->agg = next;
	if (rv_worker_submit(h->worker, &h->job) < 0) {
		/* Not busy (checked above): cannot happen; keep the data anyway. */
		rv_pdns_agg_free(&h->agg);
		h->agg = h->job.batch;
		h->job.batch = NULL;
		return false;
	}
	return true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)flush(arg);
}

static void observe(void *arg, const rv_observation *obs)
{
	rv_history *h = arg;
	char sensor[64];
	size_t records;

	if (h->failed)
		return;
	rv_pdns_sensor(obs, h->fallback, sensor);
	rv_stats.history_dropped += rv_pdns_combiner_observe(h->comb, h->agg, sensor, obs,
			obs->time_sec, &records);
	rv_stats.history_sightings += records;
	/* Half full and the writer idle: hand it over now rather than at the
	 * timer, so a burst of new records is written, not dropped. */
	if (rv_pdns_agg_size(h->agg) >= h->opts.max_pending / 2 && !rv_worker_busy(h->worker))
		(void)flush(h);
}

rv_sink rv_history_sink(rv_history *h)
{
	return (rv_sink){.name = "history", .observe = observe, .arg = h};
}

static uint64_t read_pending(const void *arg)
{
	const rv_history *h = arg;

	return h->agg != NULL ? rv_pdns_agg_size(h->agg) : 0;
}

static uint64_t read_pending_bytes(const void *arg)
{
	const rv_history *h = arg;

	return h->agg != NULL ? rv_pdns_agg_bytes(h->agg) : 0;
}

static uint64_t read_write_ms(const void *arg)
{
	return ((const rv_history *)arg)->write_us / 1000;
}

static uint64_t read_busy(const void *arg)
{
	const rv_history *h = arg;

	return h->worker != NULL && rv_worker_busy(h->worker);
}

static uint64_t read_up(const void *arg)
{
	return !((const rv_history *)arg)->failed;
}

rv_history *rv_history_new(struct event_base *base, const rv_history_opts *opts, int *err,
		char *why, size_t whylen)
{
	rv_history *h = calloc(1, sizeof(*h));
	struct timeval tv;

	why[0] = '\0';
	if (h == NULL) {
		*err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	h->opts = *opts;
	if (h->opts.clock == NULL)
		h->opts.clock = default_clock;
	h->path = strdup(opts->path);
	if (opts->sensor != NULL)
		snprintf(h->fallback, sizeof(h->fallback), "%s", opts->sensor);
	else
		rv_pdns_local_sensor(h->fallback);
	h->opts.sensor = NULL; /* borrowed: h->fallback is the copy */
	h->agg = rv_pdns_agg_new(opts->max_pending);
	h->comb = rv_pdns_combiner_new();
	if (h->path == NULL || h->agg == NULL || h->comb == NULL) {
		*err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	*err = rv_hdb_open(h->path, true, &h->db, why, whylen);
	if (*err < 0)
		goto fail;
	h->worker = rv_worker_new(base, "history", run_job, job_done, h, err);
	if (h->worker == NULL) {
		snprintf(why, whylen, "cannot start the writer thread");
		goto fail;
	}
	h->timer = event_new(base, -1, EV_PERSIST, on_timer, h);
	tv.tv_sec = opts->flush_interval_ms / 1000;
	tv.tv_usec = (suseconds_t)(opts->flush_interval_ms % 1000) * 1000;
	if (h->timer == NULL || event_add(h->timer, &tv) < 0) {
		*err = -ENOMEM;
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	h->last_expire = h->opts.clock() - EXPIRE_EVERY_S; /* first flush also expires */
	rv_stats_register(RV_GAUGE, "hist_pending", "rearview_history_pending_records",
			"records aggregated in memory, not yet written to the history",
			read_pending, h);
	rv_stats_register(RV_GAUGE, "hist_pending_bytes", "rearview_history_pending_bytes",
			"heap bytes of the records aggregated in memory", read_pending_bytes, h);
	rv_stats_register_milli(RV_COUNTER, "hist_write_ms", "rearview_history_write_seconds_total",
			"time the history writer spent in transactions (rows written / this = "
			"its rate)", read_write_ms, h);
	rv_stats_register(RV_GAUGE, "hist_writing", "rearview_history_writer_busy",
			"1 while the writer thread has a batch", read_busy, h);
	rv_stats_register(RV_GAUGE, "hist_up", "rearview_history_up",
			"1 while the history database is being written, 0 after a failure "
			"turned it off", read_up, h);
	return h;
fail:
	rv_history_free(&h);
	return NULL;
}

int rv_history_sync(rv_history *h)
{
	if (h->worker == NULL)
		return -EIO;
	rv_worker_wait(h->worker);
	if (!flush(h))
		return h->failed ? -EIO : -EAGAIN;
	rv_worker_wait(h->worker);
	return h->failed ? -EIO : 0;
}

bool rv_history_ok(const rv_history *h)
{
	return !h->failed;
}

void rv_history_free(rv_history **hp)
{
	rv_history *h;

	if (hp == NULL || *hp == NULL)
		return;
	h = *hp;
	rv_stats_unregister(h);
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->worker != NULL && !h->failed) {
		if (rv_history_sync(h) == 0)
			rv_notice("history", "%s: written", h->path);
	}
	rv_worker_free(&h->worker);
	rv_hdb_free(&h->db);
	rv_pdns_combiner_free(&h->comb);
	rv_pdns_agg_free(&h->agg);
	free(h->path);
	free(h);
	*hp = NULL;
}
