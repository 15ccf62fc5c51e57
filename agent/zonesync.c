/* zonesync.c - reconcile scheduling and writer holds (see zonesync.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <time.h>

#include "log.h"
#include "reconcile.h"
#include "stats.h"
#include "zonesync.h"

#define SUB "reconcile"

struct rv_zonesync {
	struct event_base *base;
	rv_zonesync_opts opts;
	char *server, *zone;
	char *hot_zone;            /* NULL: none */
	rv_tsig_key key;
	bool has_key;
	uint32_t serial;           /* of the last reconcile */
	int64_t last_ok;           /* epoch seconds of the last reconcile completed */
	rv_table *table;
	rv_rpz_writer *writer;
	rv_reconcile *rec;
	struct event *timer;       /* next reconcile, or the in-flight poll */
	bool ready;                /* start-up reconcile done (or given up) */
	bool pausing;              /* writer held, polling for its UPDATE in flight */
	unsigned retry_ms;
	unsigned refused_streak;
	unsigned fail_streak;      /* failed transfers in a row: logged once, then at debug */
};

static void arm(rv_zonesync *zs, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(zs->timer, &tv);
}

static void release_writer(rv_zonesync *zs)
{
	if (zs->writer)
		rv_rpz_writer_hold(zs->writer, false);
}

static void on_done(void *arg, int result, const rv_reconcile_stats *st, const char *err)
{
	rv_zonesync *zs = arg;
	rv_stats.reconcile_runs++;
	if (result < 0) {
		rv_stats.reconcile_failures++;
		int level = zs->fail_streak++ == 0 ? RV_LOG_WARNING : RV_LOG_DEBUG;
		if (!zs->ready) {
			bool refused = result != -ECONNREFUSED && result != -ETIMEDOUT &&
				result != -ECONNRESET && result != -EHOSTUNREACH &&
				result != -ENETUNREACH && result != -ENOMEM;
			zs->refused_streak = refused ? zs->refused_streak + 1 : 0;
			if (zs->refused_streak >= zs->opts.give_up_after) {
				rv_err(SUB, "%s; giving up waiting for the start-up reconcile after %u "
					"attempts: writing without knowing what the zone holds (records the "
					"table does not know may be replaced); retrying every %u s",
					err, zs->refused_streak, zs->retry_ms / 1000);
				zs->ready = true;
				release_writer(zs);
			} else {
				rv_log(level, SUB, "%s; %sretrying in %.1f s%s", err,
					zs->opts.write_early ? "" : "updates wait for the zone's contents, ",
					zs->retry_ms / 1000.0,
					level == RV_LOG_WARNING ? " (repeats are logged at debug)" : "");
			}
			arm(zs, zs->retry_ms);
			zs->retry_ms = zs->retry_ms >= zs->opts.retry_max_ms / 2 ? zs->opts.retry_max_ms
				: zs->retry_ms * 2;
		} else {
			unsigned next = zs->opts.interval_ms ? zs->opts.interval_ms : zs->opts.retry_max_ms;
			rv_log(level, SUB, "%s; retrying in %u s", err, next / 1000);
			release_writer(zs);
			arm(zs, next);
		}
		goto out;
	}
	if (zs->fail_streak > 0)
		rv_notice(SUB, "AXFR of %s from %s#%u works again after %u failed attempts", zs->zone,
			zs->server, zs->opts.port, zs->fail_streak);
	zs->fail_streak = 0;
	uint64_t fixed = st->rewritten + st->adopted + st->removed + st->missing;
	rv_stats.reconcile_fixed += fixed;
	rv_log(fixed || !zs->ready ? RV_LOG_NOTICE : RV_LOG_INFO, SUB,
		"zone %s serial %u: %" PRIu64 " addresses, %" PRIu64 " matched, %" PRIu64
		" rewritten, %" PRIu64 " adopted, %" PRIu64 " removed, %" PRIu64 " re-sent, %"
		PRIu64 " foreign records left alone%s%s (%.2f s)",
		zs->zone, st->serial, st->addresses, st->matched, st->rewritten,
		st->adopted, st->removed, st->missing, st->foreign,
		st->foreign ? ", e.g. " : "", st->foreign ? st->foreign_example : "", st->seconds);
	zs->ready = true;
	zs->serial = st->serial;
	zs->last_ok = (int64_t)time(NULL);
	zs->refused_streak = 0;
	zs->retry_ms = zs->opts.retry_min_ms;
	/* Records the agent does not understand (a TXT without a PTR, say) could
	 * sit at the owner of an address it learns later: then only a full
	 * replace is safe. */
	rv_table_set_zone_known(zs->table, st->foreign == 0);
	if (st->foreign > 0)
		rv_info(SUB, "zone %s holds foreign records: every write deletes before it adds",
			zs->zone);
	release_writer(zs);
	if (zs->opts.interval_ms > 0)
		arm(zs, zs->opts.interval_ms);
out:
	/* Last: st and err point into the reconcile. */
	rv_reconcile_free(&zs->rec);
}

static void start_transfer(rv_zonesync *zs)
{
	rv_reconcile_opts o = {
		.server = zs->server,
		.port = zs->opts.port,
		.zone = zs->zone,
		.key = zs->has_key ? &zs->key : NULL,
		.timeout_ms = zs->opts.timeout_ms,
		/* At start the zone may hold what a lost snapshot forgot: adopt it. Later
		 * the table is the truth and unknown records are drift: remove them. */
		.adopt = !zs->ready,
		.hot_zone = zs->hot_zone,
		.hot_owner = zs->opts.hot_owner,
		.hot_arg = zs->opts.hot_arg,
	};
	int err = 0;
	zs->rec = rv_reconcile_start(zs->base, &o, zs->table, on_done, zs, &err);
	if (!zs->rec) {
		rv_err(SUB, "cannot start the AXFR of %s from %s#%u: %s", zs->zone, zs->server,
			zs->opts.port, strerror(-err));
		if (zs->ready)
			release_writer(zs);
		arm(zs, zs->opts.retry_max_ms);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_zonesync *zs = arg;
	zs->pausing = false;
	if (zs->rec)
		return;
	/* Drift repair compares against what BIND acknowledged: pause the writer
	 * and let its UPDATE in flight finish, so the AXFR is not racing our own
	 * writes. Pausing (instead of waiting for an idle writer, which under
	 * steady learning never comes) is what keeps drift repair on schedule. */
	if (zs->writer && (zs->ready || !zs->opts.write_early)) {
		rv_rpz_writer_hold(zs->writer, true);
		if (rv_rpz_writer_in_flight(zs->writer)) {
			zs->pausing = true;
			arm(zs, 20);
			return;
		}
	}
	start_transfer(zs);
}

static uint64_t read_serial(const void *arg)
{
	return ((const rv_zonesync *)arg)->serial;
}

static uint64_t read_last_ok(const void *arg)
{
	int64_t t = ((const rv_zonesync *)arg)->last_ok;

	return t > 0 ? (uint64_t)t : 0;
}

void rv_zonesync_set_key(rv_zonesync *zs, const rv_tsig_key *key)
{
	/* A transfer under way keeps its copy (rv_axfr_new); the next one signs
	 * with this. */
	if (key != NULL && zs->has_key)
		zs->key = *key;
}

void rv_zonesync_set_timing(rv_zonesync *zs, unsigned timeout_ms, unsigned interval_ms)
{
	bool changed = zs->opts.interval_ms != interval_ms;
	zs->opts.timeout_ms = timeout_ms;
	zs->opts.interval_ms = interval_ms;
	/* The drift repair timer runs on the old period: restart it on the new
	 * one. Not during start-up retries, a transfer, or the short poll that
	 * waits for the writer's UPDATE in flight (all re-arm when done). */
	if (changed && zs->ready && zs->rec == NULL && !zs->pausing) {
		evtimer_del(zs->timer);
		if (interval_ms > 0)
			arm(zs, interval_ms);
	}
}

rv_zonesync *rv_zonesync_new(struct event_base *base, const rv_zonesync_opts *opts,
		rv_table *table, rv_rpz_writer *writer, int *err)
{
	int ret = -ENOMEM;
	rv_zonesync *zs = calloc(1, sizeof(*zs));
	if (!zs)
		goto out;
	zs->base = base;
	zs->opts = *opts;
	zs->table = table;
	zs->writer = writer;
	zs->server = strdup(opts->server);
	zs->zone = strdup(opts->zone);
	zs->hot_zone = opts->hot_zone ? strdup(opts->hot_zone) : NULL;
	zs->opts.hot_zone = zs->hot_zone;
	zs->timer = evtimer_new(base, on_timer, zs);
	if (!zs->server || !zs->zone || !zs->timer || (opts->hot_zone && !zs->hot_zone))
		goto out;
	if (opts->key) {
		zs->key = *opts->key;
		zs->has_key = true;
	}
	if (zs->opts.retry_min_ms == 0)
		zs->opts.retry_min_ms = 1000;
	if (zs->opts.retry_max_ms < zs->opts.retry_min_ms)
		zs->opts.retry_max_ms = zs->opts.retry_min_ms > 30000 ? zs->opts.retry_min_ms : 30000;
	if (zs->opts.give_up_after == 0)
		zs->opts.give_up_after = 3;
	zs->retry_ms = zs->opts.retry_min_ms;
	if (writer && !opts->write_early)
		rv_rpz_writer_hold(writer, true);
	if (rv_stats_register(RV_GAUGE, NULL, "rearview_rpz_zone_serial",
			"SOA serial of the zone at the last AXFR reconcile (0: not read yet)",
			read_serial, zs) < 0 ||
	    rv_stats_register(RV_GAUGE, NULL, "rearview_reconcile_last_success_timestamp_seconds",
			"epoch time of the last AXFR reconcile that completed (0: none yet)",
			read_last_ok, zs) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		rv_zonesync_free(&zs);
	if (err)
		*err = ret;
	return zs;
}

void rv_zonesync_free(rv_zonesync **zsp)
{
	if (!zsp || !*zsp)
		return;
	rv_zonesync *zs = *zsp;
	rv_stats_unregister(zs);
	rv_reconcile_free(&zs->rec);
	/* Before the zone was read, queued writes stay unsent (the snapshot keeps
	 * what they carry; the next start reconciles first). */
	if (zs->ready)
		release_writer(zs);
	if (zs->timer)
		event_free(zs->timer);
	explicit_bzero(&zs->key, sizeof(zs->key));
	free(zs->server);
	free(zs->zone);
	free(zs->hot_zone);
	free(zs);
	*zsp = NULL;
}

void rv_zonesync_start(rv_zonesync *zs)
{
	arm(zs, 0);
}

bool rv_zonesync_ready(const rv_zonesync *zs)
{
	return zs->ready;
}

