/*
 * cof_sink.c - the COF log (see cof_sink.h).
 *
 * Per-sighting lines are formatted on the loop (they need the observation,
 * which is only valid during observe()); interval lines are formatted by the
 * writer thread from the aggregate it was handed. One job in flight at a
 * time: while the writer is busy, the loop keeps buffering within its bound.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cof_sink.h"
#include "json.h"
#include "log.h"
#include "pdns.h"
#include "stats.h"
#include "worker.h"

struct job {
	rv_pdns_agg *agg;          /* interval records (may be NULL) */
	struct evbuffer *lines;    /* per-sighting lines, already formatted */
	bool reopen;
	/* results, written by the thread */
	uint64_t written;          /* lines handed over (set by the loop) */
	int err;                   /* errno of the first failure, 0 if none */
	bool open_failed;
};

struct rv_cof_sink {
	rv_cof_opts opts;
	char *path;
	char fallback[64];
	int fd;                    /* used by the thread only; -1 = closed */
	bool fd_is_stdout;
	rv_worker *worker;
	struct event *timer;
	rv_pdns_agg *agg;          /* filling on the loop */
	rv_pdns_combiner *comb;    /* repeats, without per-sighting lines */
	struct evbuffer *lines;    /* filling on the loop */
	uint64_t buffered_lines;   /* in lines */
	bool reopen;
	struct job job;
	bool failing;              /* a failure was logged; the next success says so */
	/* during observe() */
	const rv_observation *obs;
	const char *sensor;
};

/* ------------------------------------------------------------------ format */

static int cof_line(struct evbuffer *out, const rv_pdns_entry *e, const rv_observation *obs)
{
	const char *type = rv_rrtype_name(e->rrtype);

	if (evbuffer_add(out, "{\"rrname\":", 10) < 0 || rv_json_str(out, e->rrname) < 0 ||
	    evbuffer_add_printf(out, ",\"rrtype\":\"%s\",\"rdata\":", type ? type : "TYPE0") < 0 ||
	    rv_json_str(out, e->rdata) < 0 ||
	    evbuffer_add_printf(out, ",\"time_first\":%" PRId64 ",\"time_last\":%" PRId64
			",\"count\":%" PRIu64 ",\"ttl\":%" PRIu32 ",\"sensor_id\":",
			e->time_first, e->time_last, e->count, e->ttl) < 0 ||
	    rv_json_str(out, e->sensor) < 0)
		return -ENOMEM;
	if (obs != NULL) {
		char client[RV_ADDR_STRLEN] = "";

		if (obs->has_client)
			rv_addr_str(&obs->client, client, sizeof(client));
		if (evbuffer_add_printf(out, ",\"client\":\"%s\",\"transport\":\"%s\"", client,
				rv_dnstap_transport_name(obs->socket_protocol)) < 0)
			return -ENOMEM;
	}
	return evbuffer_add(out, "}\n", 2) < 0 ? -ENOMEM : 0;
}

/* ------------------------------------------------------------------ thread */

static int open_file(rv_cof_sink *c, struct job *j)
{
	if (c->fd >= 0 && !c->fd_is_stdout)
		close(c->fd);
	c->fd = -1;
	if (strcmp(c->path, "-") == 0) {
		c->fd = STDOUT_FILENO;
		c->fd_is_stdout = true;
		return 0;
	}
	c->fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (c->fd < 0) {
		j->err = errno;
		j->open_failed = true;
		return -1;
	}
	return 0;
}

struct fmt_ctx {
	struct evbuffer *out;
	uint64_t lines;
};

static int format_entry(void *arg, const rv_pdns_entry *e)
{
	struct fmt_ctx *f = arg;

	if (cof_line(f->out, e, NULL) < 0)
		return -ENOMEM;
	f->lines++;
	return 0;
}

static void run_job(void *arg, void *p)
{
	rv_cof_sink *c = arg;
	struct job *j = p;
	struct fmt_ctx f = {.out = j->lines};

	j->err = 0;
	j->open_failed = false;
	if (j->agg != NULL)
		(void)rv_pdns_agg_foreach(j->agg, format_entry, &f);
	if ((j->reopen || c->fd < 0) && open_file(c, j) < 0)
		goto out;
	while (evbuffer_get_length(j->lines) > 0) {
		int n = evbuffer_write(j->lines, c->fd);

		if (n < 0) {
			j->err = errno;
			break;
		}
	}
out:
	evbuffer_drain(j->lines, evbuffer_get_length(j->lines));
	rv_pdns_agg_free(&j->agg); /* here, not on the loop */
}

/* ------------------------------------------------------------------ loop */

static void job_done(void *arg, void *p)
{
	rv_cof_sink *c = arg;
	struct job *j = p;

	rv_pdns_agg_free(&j->agg);
	if (j->lines != NULL) {
		evbuffer_free(j->lines); /* drained by the writer */
		j->lines = NULL;
	}
	if (j->err != 0) {
		rv_stats.cof_dropped += j->written; /* what the job held */
		if (!c->failing)
			rv_err("cof-log", "%s: cannot %s: %s; lines are dropped (counted) until it "
					"works again (SIGHUP reopens the file)", c->path,
					j->open_failed ? "open" : "write", strerror(j->err));
		c->failing = true;
		return;
	}
	if (c->failing)
		rv_notice("cof-log", "%s: writing again", c->path);
	c->failing = false;
	rv_stats.cof_lines += j->written;
}

static void flush(rv_cof_sink *c)
{
	rv_pdns_agg *next;
	struct evbuffer *lines;

	if (rv_worker_busy(c->worker))
		return;
	if (rv_pdns_agg_size(c->agg) == 0 && evbuffer_get_length(c->lines) == 0 && !c->reopen)
		return;
	next = rv_pdns_agg_new(c->opts.max_pending);
	lines = evbuffer_new();
	if (next == NULL || lines == NULL) {
		rv_pdns_agg_free(&next);
		if (lines != NULL)
			evbuffer_free(lines);
		return;
	}
	rv_pdns_combiner_drain(c->comb); /* its counts belong to this interval */
	c->job.agg = c->agg;
	c->job.lines = c->lines;
	c->job.reopen = c->reopen;
	/* What the job will write, counted now; a failure moves it to dropped. */
	c->job.written = c->buffered_lines + rv_pdns_agg_size(c->agg);
	c->reopen = false;
	c->agg = next;
	c->lines = lines;
	c->buffered_lines = 0;
	if (rv_worker_submit(c->worker, &c->job) < 0) {
		/* not busy (checked): cannot happen */
		rv_stats.cof_dropped += c->job.written;
		rv_pdns_agg_free(&c->job.agg);
		evbuffer_free(c->job.lines);
		c->job.lines = NULL;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush(arg);
}

static void record(void *arg, const rv_pdns_rec *rec)
{
	rv_cof_sink *c = arg;
	int64_t t = c->obs->time_sec;

	if (rv_pdns_agg_add(c->agg, c->sensor, rec, t) < 0)
		rv_stats.cof_dropped++;
	if (!c->opts.every_sighting)
		return;
	if (evbuffer_get_length(c->lines) >= c->opts.max_buffer) {
		rv_stats.cof_dropped++;
		return;
	}
	char text[RV_ADDR_STRLEN];
	rv_pdns_entry e = {
		.sensor = c->sensor, .rrname = rec->rrname, .rdata = rv_pdns_rec_rdata(rec, text),
		.rrtype = rec->rrtype, .ttl = rec->ttl, .time_first = t, .time_last = t,
		.count = 1,
	};
	if (cof_line(c->lines, &e, c->obs) < 0)
		rv_stats.cof_dropped++;
	else
		c->buffered_lines++;
}

static void observe(void *arg, const rv_observation *obs)
{
	rv_cof_sink *c = arg;
	char sensor[64];

	rv_pdns_sensor(obs, c->fallback, sensor);
	if (!c->opts.every_sighting) {
		size_t records;

		rv_stats.cof_dropped += rv_pdns_combiner_observe(c->comb, c->agg, sensor, obs,
				obs->time_sec, &records);
		return;
	}
	c->sensor = sensor;
	c->obs = obs;
	rv_pdns_records(obs, record, c);
	c->obs = NULL;
	c->sensor = NULL;
}

rv_sink rv_cof_sink_sink(rv_cof_sink *c)
{
	return (rv_sink){.name = "cof-log", .observe = observe, .arg = c};
}

void rv_cof_sink_reopen(rv_cof_sink *c)
{
	c->reopen = true;
	flush(c);
}

void rv_cof_sink_sync(rv_cof_sink *c)
{
	rv_worker_wait(c->worker);
	flush(c);
	rv_worker_wait(c->worker);
}

rv_cof_sink *rv_cof_sink_new(struct event_base *base, const rv_cof_opts *opts, int *err)
{
	rv_cof_sink *c = calloc(1, sizeof(*c));
	struct timeval tv;

	if (c == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	c->fd = -1;
	c->opts = *opts;
	c->path = strdup(opts->path);
	if (opts->sensor != NULL)
		snprintf(c->fallback, sizeof(c->fallback), "%s", opts->sensor);
	else
		rv_pdns_local_sensor(c->fallback);
	c->opts.path = c->opts.sensor = NULL; /* borrowed: the copies are above */
	c->agg = rv_pdns_agg_new(opts->max_pending);
	c->comb = rv_pdns_combiner_new();
	c->lines = evbuffer_new();
	*err = -ENOMEM;
	if (c->path == NULL || c->agg == NULL || c->comb == NULL || c->lines == NULL)
		goto fail;
	c->worker = rv_worker_new(base, "cof-log", run_job, job_done, c, err);
	if (c->worker == NULL)
		goto fail;
	c->timer = event_new(base, -1, EV_PERSIST, on_timer, c);
	tv.tv_sec = opts->flush_interval_ms / 1000;
	tv.tv_usec = (suseconds_t)(opts->flush_interval_ms % 1000) * 1000;
	if (c->timer == NULL || event_add(c->timer, &tv) < 0) {
		*err = -ENOMEM;
		goto fail;
	}
	*err = 0;
	return c;
fail:
	rv_cof_sink_free(&c);
	return NULL;
}

void rv_cof_sink_free(rv_cof_sink **cp)
{
	rv_cof_sink *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->worker != NULL)
		rv_cof_sink_sync(c);
	rv_worker_free(&c->worker);
	if (c->fd >= 0 && !c->fd_is_stdout)
		close(c->fd);
	rv_pdns_combiner_free(&c->comb);
	rv_pdns_agg_free(&c->agg);
	if (c->lines != NULL)
		evbuffer_free(c->lines);
	free(c->path);
	free(c);
	*cp = NULL;
}
