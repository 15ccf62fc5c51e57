/* publish.c - table -> outbox -> RPZ writer (see publish.h). */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "outbox.h"
#include "publish.h"
#include "stats.h"

struct rv_publisher {
	rv_table *table;
	rv_outbox *outbox;
	rv_change_feed feed;
	struct event *kick_ev;
	bool kick_active;   /* kick_ev is active and kick_cb has not run yet */
	void (*kick)(void *arg);
	void *kick_arg;
	rv_country_fn country_fn;
	void *country_arg;
	uint64_t lost;
};

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_publisher *p = arg;
	/* libevent clears the active state before calling back: work queued
	 * from here on needs another run. */
	p->kick_active = false;
	if (p->kick)
		p->kick(p->kick_arg);
	else
		rv_publisher_ack_all(p);
}

static void schedule_kick(rv_publisher *p)
{
	/* Our own flag, not event_pending(): a call into libevent for every
	 * queued change cost ~40 instructions (callgrind). */
	if (p->kick_ev && !p->kick_active) {
		p->kick_active = true;
		event_active(p->kick_ev, EV_TIMEOUT, 0);
	}
}

static int on_queue(void *arg, const rv_addr *addr, bool remove, bool front)
{
	rv_publisher *p = arg;
	int rc = rv_outbox_push(p->outbox, addr, remove ? RV_OUTBOX_REMOVE : RV_OUTBOX_WRITE, front);
	if (rc < 0) {
		/* The table keeps the address unwritten; the next reconcile finds it. */
		p->lost++;
		return rc;
	}
	schedule_kick(p);
	return 0;
}

static void on_cancel(void *arg, const rv_addr *addr)
{
	rv_publisher *p = arg;
	(void)rv_outbox_cancel_write(p->outbox, addr);
}

static uint64_t m_queued(const void *p) { return rv_outbox_len(((const rv_publisher *)p)->outbox); }
static uint64_t m_lost(const void *p) { return ((const rv_publisher *)p)->lost; }
static uint64_t m_bytes(const void *p) { return rv_outbox_bytes(((const rv_publisher *)p)->outbox); }

static size_t feed_queued(void *arg)
{
	rv_publisher *p = arg;
	return rv_outbox_len(p->outbox);
}

static int feed_pop(void *arg, rv_change *out)
{
	rv_publisher *p = arg;
	rv_addr a;
	rv_outbox_kind k;
	while (rv_outbox_pop(p->outbox, &a, &k) == 0) {
		if (k == RV_OUTBOX_REMOVE) {
			if (rv_table_take_removal(p->table, &a) < 0)
				continue; /* came back: its own write follows */
			memset(out, 0, sizeof(*out));
			out->addr = a;
			out->remove = true;
			return 0;
		}
		if (rv_table_take(p->table, &a, out) < 0)
			continue; /* gone, or nothing to write any more */
		if (p->country_fn)
			p->country_fn(p->country_arg, &a, out->country);
		return 0;
	}
	return -ENOENT;
}

static void feed_committed(void *arg, const rv_change *c)
{
	rv_publisher *p = arg;
	rv_table_committed(p->table, c);
}

static void feed_requeue(void *arg, const rv_change *c)
{
	rv_publisher *p = arg;
	rv_table_requeue(p->table, c);
}

static void feed_rejected(void *arg, const rv_change *c)
{
	rv_publisher *p = arg;
	rv_table_rejected(p->table, c);
}

rv_publisher *rv_publisher_new(struct event_base *base, rv_table *t)
{
	rv_publisher *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->table = t;
	p->outbox = rv_outbox_new();
	if (!p->outbox)
		goto fail;
	if (base) {
		p->kick_ev = event_new(base, -1, 0, kick_cb, p);
		if (!p->kick_ev)
			goto fail;
	}
	p->feed = (rv_change_feed){
		.queued = feed_queued, .pop = feed_pop, .committed = feed_committed,
		.requeue = feed_requeue, .rejected = feed_rejected, .arg = p,
	};
	rv_table_listener l = {.queue = on_queue, .cancel = on_cancel};
	rv_table_set_listener(t, &l, p);
	(void)rv_stats_register(RV_GAUGE, "queued", "rearview_rpz_queue_addresses",
		"addresses with a change waiting to be sent to the RPZ primary", m_queued, p);
	(void)rv_stats_register(RV_GAUGE, "queue_bytes", "rearview_rpz_queue_bytes",
		"memory held by the queue of pending changes, bytes", m_bytes, p);
	(void)rv_stats_register(RV_COUNTER, "queue_lost", "rearview_rpz_queue_failures_total",
		"changes that could not be queued (no memory; the next reconcile re-sends them)",
		m_lost, p);
	return p;
fail:
	rv_outbox_free(&p->outbox);
	free(p);
	return NULL;
}

void rv_publisher_free(rv_publisher **pp)
{
	if (!pp || !*pp)
		return;
	rv_publisher *p = *pp;
	rv_table_set_listener(p->table, NULL, NULL);
	rv_stats_unregister(p);
	if (p->kick_ev)
		event_free(p->kick_ev);
	rv_outbox_free(&p->outbox);
	free(p);
	*pp = NULL;
}

const rv_change_feed *rv_publisher_feed(rv_publisher *p)
{
	return &p->feed;
}

void rv_publisher_set_country_fn(rv_publisher *p, rv_country_fn fn, void *arg)
{
	p->country_fn = fn;
	p->country_arg = arg;
}

void rv_publisher_set_sender(rv_publisher *p, void (*kick)(void *arg), void *arg)
{
	p->kick = kick;
	p->kick_arg = arg;
}

size_t rv_publisher_queued(const rv_publisher *p)
{
	return rv_outbox_len(p->outbox);
}

void rv_publisher_ack_all(rv_publisher *p)
{
	rv_change c;
	/* committed() may queue the address again (a better name meanwhile); the
	 * loop then acknowledges that too, and ends: each pass makes the table
	 * agree with itself. */
	while (feed_pop(p, &c) == 0)
		feed_committed(p, &c);
}
