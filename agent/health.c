/* health.c - the /healthz verdict (see health.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "health.h"
#include "stats.h"

#define HEARTBEAT_MS 1000
/* Later than this (a tick missed or run this late) = the loop is not live. */
#define STALL_MS 3000

struct rv_health {
	rv_health_sources src;
	struct event *tick;
	uint64_t last_tick_ms;  /* monotonic */
	uint64_t lag_ms;        /* how late the last tick ran */
	bool stopping;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_health *h = arg;
	uint64_t now = mono_ms(), due = h->last_tick_ms + HEARTBEAT_MS;
	h->lag_ms = now > due ? now - due : 0;
	h->last_tick_ms = now;
}

static uint64_t lag_ms(const void *arg)
{
	const rv_health *h = arg;
	return h->lag_ms;
}

rv_health *rv_health_new(struct event_base *base, const rv_health_sources *src)
{
	rv_health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->src = *src;
	h->tick = event_new(base, -1, EV_PERSIST, on_tick, h);
	if (h->tick == NULL) {
		free(h);
		return NULL;
	}
	struct timeval tv = {HEARTBEAT_MS / 1000, (HEARTBEAT_MS % 1000) * 1000};
	event_add(h->tick, &tv);
	h->last_tick_ms = mono_ms();
	(void)rv_stats_register_milli(RV_GAUGE, NULL, "rearview_event_loop_lag_seconds",
			"how late the event loop ran its last 1 s heartbeat timer", lag_ms, h);
	return h;
}

void rv_health_free(rv_health **hp)
{
	rv_health *h = *hp;
	if (h == NULL)
		return;
	rv_stats_unregister(h);
	event_free(h->tick);
	free(h);
	*hp = NULL;
}

void rv_health_stopping(rv_health *h)
{
	if (h != NULL)
		h->stopping = true;
}

int rv_health_check(rv_health *h, char *why, size_t len)
{
	char err[256];
	uint64_t now = mono_ms();

	if (h->stopping) {
		snprintf(why, len, "stopping");
		return -EAGAIN;
	}
	if (!rv_fs_server_listening(h->src.dnstap)) {
		snprintf(why, len, "dnstap socket is not listening (removed or replaced?)");
		return -EAGAIN;
	}
	if (h->src.writer != NULL && !rv_rpz_writer_idle(h->src.writer)) {
		unsigned n = rv_rpz_writer_failures(h->src.writer, err, sizeof(err));
		if (n > 0) {
			snprintf(why, len, "%zu changes pending and the last %u UPDATE attempts "
				"failed; last: %s",
				h->src.publisher ? rv_publisher_queued(h->src.publisher) : 0, n, err);
			return -EAGAIN;
		}
	}
	if (h->src.mover != NULL && !rv_rpz_writer_idle(h->src.mover)) {
		unsigned n = rv_rpz_writer_failures(h->src.mover, err, sizeof(err));
		if (n > 0) {
			snprintf(why, len, "the hot zone's move into the main zone: the last %u "
				"UPDATE attempts failed; last: %s", n, err);
			return -EAGAIN;
		}
	}
	if (now - h->last_tick_ms > STALL_MS || h->lag_ms > STALL_MS) {
		snprintf(why, len, "event loop stalled: heartbeat %llu ms ago, last one %llu ms late",
			(unsigned long long)(now - h->last_tick_ms), (unsigned long long)h->lag_ms);
		return -EAGAIN;
	}
	return 0;
}
