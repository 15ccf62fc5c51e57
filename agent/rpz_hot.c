/* rpz_hot.c - the hot zone's feed and the mover (see rpz_hot.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "outbox.h"
#include "rpz_hot.h"
#include "stats.h"

#define SUB "hot"

enum phase {
	P_IDLE = 0,
	P_MAIN,      /* the main zone gets its deletions, then the copies */
	P_HOT,       /* the hot zone's copies are deleted */
};

struct rv_hot {
	struct event_base *base;
	rv_table *table;
	rv_change_feed upstream;   /* the publisher's */
	rv_change_feed feed;       /* the hot writer's: upstream, plus the hot deletions */
	rv_change_feed main_feed;  /* the main writer's: the move */
	rv_rpz_writer *main;       /* owned */
	rv_rpz_writer *hotw;       /* borrowed */
	rv_hot_opts opts;
	rv_country_fn country_fn;
	void *country_arg;

	rv_outbox *hot;            /* addresses the hot zone holds, written since the move began */
	rv_outbox *owed;           /* deletions the main zone owes */
	rv_outbox *refresh;        /* main-zone addresses whose TXT changed: refreshed by the move */
	/* One move: */
	enum phase phase;
	rv_outbox *copy;           /* hot addresses still to copy into the main zone */
	rv_outbox *removing;       /* deletions still to send to the main zone */
	rv_outbox *refreshing;     /* TXT refreshes still to send to the main zone (no hot copy) */
	rv_outbox *copied;         /* copied: their hot copy is deleted in P_HOT */
	rv_outbox *touched;        /* written to the hot zone since the move began: kept there */
	size_t main_inflight;      /* popped by the main writer, not answered yet */
	size_t hot_inflight;       /* hot deletions popped by the hot writer, not answered */
	size_t move_copies, move_deletions, move_refreshes;  /* what this move set out to do */
	uint64_t move_started_ms;
	bool draining;

	struct event *timer;       /* the next move */
	struct event *check_ev;    /* re-checks the move's progress from the loop */
	bool check_active;

	uint64_t moves, copies, hot_deleted, main_deleted;
	uint64_t deferred;         /* TXT refreshes kept out of the hot zone for the next move */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next move in ms; 0 = none by time (only at max_addresses, or asked). */
static void arm_timer(rv_hot *h, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	if (ms > 0)
		evtimer_add(h->timer, &tv);
}

/* From the writers' callbacks: look again once they have returned. */
static void schedule_check(rv_hot *h)
{
	if (!h->check_active) {
		h->check_active = true;
		event_active(h->check_ev, EV_TIMEOUT, 0);
	}
}

static int start_move(rv_hot *h)
{
	if (h->phase != P_IDLE || h->draining)
		return -EALREADY;
	if (rv_outbox_len(h->hot) == 0 && rv_outbox_len(h->owed) == 0 &&
	    rv_outbox_len(h->refresh) == 0)
		return 0;
	rv_outbox *hot = rv_outbox_new(), *owed = rv_outbox_new(), *refresh = rv_outbox_new();
	h->copied = rv_outbox_new();
	h->touched = rv_outbox_new();
	if (!hot || !owed || !refresh || !h->copied || !h->touched) {
		rv_outbox_free(&hot);
		rv_outbox_free(&owed);
		rv_outbox_free(&refresh);
		rv_outbox_free(&h->copied);
		rv_outbox_free(&h->touched);
		rv_err(SUB, "out of memory: the move into the main zone waits for the next interval");
		arm_timer(h, h->opts.move_interval_ms);
		return -ENOMEM;
	}
	h->copy = h->hot;
	h->hot = hot;
	h->removing = h->owed;
	h->owed = owed;
	h->refreshing = h->refresh;
	h->refresh = refresh;
	h->main_inflight = 0;
	h->hot_inflight = 0;
	h->move_copies = rv_outbox_len(h->copy);
	h->move_deletions = rv_outbox_len(h->removing);
	h->move_refreshes = rv_outbox_len(h->refreshing);
	h->move_started_ms = mono_ms();
	h->phase = P_MAIN;
	event_del(h->timer);
	rv_info(SUB, "move started: %zu addresses to copy, %zu TXT refreshes and %zu deletions "
			"into the main zone", h->move_copies, h->move_refreshes, h->move_deletions);
	rv_rpz_writer_kick(h->main);
	return 0;
}

static void end_move(rv_hot *h)
{
	rv_outbox_free(&h->copy);
	rv_outbox_free(&h->removing);
	rv_outbox_free(&h->refreshing);
	rv_outbox_free(&h->copied);
	rv_outbox_free(&h->touched);
	h->phase = P_IDLE;
	h->moves++;
	rv_info(SUB, "move done in %.1f s: %zu addresses copied, %zu TXT refreshes, %zu deletions; "
			"the hot zone holds %zu written since",
			(double)(mono_ms() - h->move_started_ms) / 1000.0, h->move_copies,
			h->move_refreshes, h->move_deletions, rv_outbox_len(h->hot));
	if (!h->draining) {
		if (rv_outbox_len(h->hot) >= h->opts.max_addresses)
			(void)start_move(h);
		else
			arm_timer(h, h->opts.move_interval_ms);
	}
}

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_hot *h = arg;
	(void)fd;
	(void)what;
	h->check_active = false;
	if (h->phase == P_MAIN && rv_outbox_len(h->removing) == 0 && rv_outbox_len(h->copy) == 0 &&
	    rv_outbox_len(h->refreshing) == 0 && h->main_inflight == 0) {
		/* The main zone holds every copy: the hot ones can go. */
		h->phase = P_HOT;
		if (h->hotw)
			rv_rpz_writer_kick(h->hotw);
	}
	if (h->phase == P_HOT && rv_outbox_len(h->copied) == 0 && h->hot_inflight == 0)
		end_move(h);
	else if (h->phase == P_IDLE && !h->draining && rv_outbox_len(h->hot) >= h->opts.max_addresses)
		(void)start_move(h);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_hot *h = arg;
	(void)fd;
	(void)what;
	if (start_move(h) == 0 && h->phase == P_IDLE)
		arm_timer(h, h->opts.move_interval_ms);  /* nothing to move */
}

static void removal(rv_change *out, const rv_addr *a, bool hot_move)
{
	memset(out, 0, sizeof(*out));
	out->addr = *a;
	out->remove = true;
	out->hot_move = hot_move;
}

/* ---- the hot writer's feed ---- */

static size_t hot_queued(void *arg)
{
	rv_hot *h = arg;
	return h->upstream.queued(h->upstream.arg) +
		(h->phase == P_HOT ? rv_outbox_len(h->copied) : 0);
}

static int hot_pop(void *arg, rv_change *out)
{
	rv_hot *h = arg;
	rv_addr a;
	rv_outbox_kind k;

	while (h->upstream.pop(h->upstream.arg, out) == 0) {
		out->hot_move = false;
		/* Only the TXT of an address the main zone holds changed: the next
		 * move rewrites it there from the table. Written into the hot zone
		 * it would fill it with the whole table's count updates, and every
		 * move would then rebuild the main zone for them. */
		if (out->meta_only && !rv_outbox_has(h->hot, &out->addr) &&
		    !(h->copy && rv_outbox_has(h->copy, &out->addr)) &&
		    !(h->copied && rv_outbox_has(h->copied, &out->addr)) &&
		    rv_outbox_push(h->refresh, &out->addr, RV_OUTBOX_WRITE, false) == 0) {
			h->upstream.committed(h->upstream.arg, out);
			h->deferred++;
			continue;
		}
		/* Its hot copy is newer than what the move copies: keep it. */
		if (h->phase != P_IDLE && rv_outbox_push(h->touched, &out->addr,
				RV_OUTBOX_WRITE, false) < 0)
			/* Unmarked, its hot copy may be deleted after an older copy
			 * went to the main zone: the address then shows its previous
			 * name until its next write or the next reconcile. */
			rv_err(SUB, "out of memory marking a write during a move");
		return 0;
	}
	if (h->phase != P_HOT)
		return -ENOENT;
	while (rv_outbox_pop(h->copied, &a, &k) == 0) {
		if (rv_outbox_has(h->touched, &a))
			continue;
		removal(out, &a, true);
		h->hot_inflight++;
		return 0;
	}
	return -ENOENT;
}

static void hot_committed(void *arg, const rv_change *c)
{
	rv_hot *h = arg;

	if (c->hot_move) {
		h->hot_inflight--;
		h->hot_deleted++;
		(void)rv_outbox_cancel_write(h->hot, &c->addr);
		schedule_check(h);
		return;
	}
	h->upstream.committed(h->upstream.arg, c);
	if (c->remove) {
		(void)rv_outbox_cancel_write(h->hot, &c->addr);
		if (rv_outbox_push(h->owed, &c->addr, RV_OUTBOX_REMOVE, false) < 0)
			/* The next drift repair finds it in the main zone and removes it. */
			rv_err(SUB, "out of memory: a deletion from the main zone is left to the "
					"next reconcile");
		return;
	}
	if (rv_outbox_push(h->hot, &c->addr, RV_OUTBOX_WRITE, false) < 0)
		/* Unknown to the mover it stays in the hot zone until a reconcile
		 * tells the mover about it again. */
		rv_err(SUB, "out of memory: an address of the hot zone is not tracked");
	if (h->phase == P_IDLE && rv_outbox_len(h->hot) >= h->opts.max_addresses)
		schedule_check(h);
}

static void hot_requeue(void *arg, const rv_change *c)
{
	rv_hot *h = arg;
	if (c->hot_move) {
		h->hot_inflight--;
		if (rv_outbox_push(h->copied, &c->addr, RV_OUTBOX_WRITE, true) < 0)
			h->hot_deleted++;  /* left in the hot zone; a later move deletes it */
		schedule_check(h);
		return;
	}
	h->upstream.requeue(h->upstream.arg, c);
}

static void hot_rejected(void *arg, const rv_change *c)
{
	rv_hot *h = arg;
	if (c->hot_move) {
		h->hot_inflight--;
		schedule_check(h);
		return;
	}
	h->upstream.rejected(h->upstream.arg, c);
}

/* ---- the main writer's feed: the move ---- */

static size_t main_queued(void *arg)
{
	rv_hot *h = arg;
	size_t n = h->removing ? rv_outbox_len(h->removing) : 0;
	if (h->draining)
		return n + rv_outbox_len(h->owed);
	return h->phase == P_MAIN ? n + rv_outbox_len(h->copy) + rv_outbox_len(h->refreshing) : 0;
}

/* Hands the main writer its copy of a (what the table knows now) and counts
 * it in flight. -ENOENT when the table forgot a (its removal is on the way). */
static int take_copy(rv_hot *h, const rv_addr *a, rv_change *out)
{
	if (rv_table_describe(h->table, a, out) < 0)
		return -ENOENT;
	if (h->country_fn)
		h->country_fn(h->country_arg, a, out->country);
	h->main_inflight++;
	return 0;
}

static int main_pop(void *arg, rv_change *out)
{
	rv_hot *h = arg;
	rv_addr a;
	rv_outbox_kind k;

	if ((h->removing && rv_outbox_pop(h->removing, &a, &k) == 0) ||
	    (h->draining && rv_outbox_pop(h->owed, &a, &k) == 0)) {
		removal(out, &a, false);
		h->main_inflight++;
		return 0;
	}
	if (h->phase != P_MAIN || h->draining)
		return -ENOENT;
	while (rv_outbox_pop(h->copy, &a, &k) == 0) {
		/* Whatever becomes of the copy, the hot one goes in P_HOT (an
		 * address the table forgot has its removal on the way). */
		if (rv_outbox_push(h->copied, &a, RV_OUTBOX_WRITE, false) < 0)
			rv_err(SUB, "out of memory: a copy stays in the hot zone until the next move");
		if (take_copy(h, &a, out) == 0)
			return 0;
	}
	while (rv_outbox_pop(h->refreshing, &a, &k) == 0)
		if (take_copy(h, &a, out) == 0)
			return 0;
	return -ENOENT;
}

static void main_committed(void *arg, const rv_change *c)
{
	rv_hot *h = arg;
	h->main_inflight--;
	if (c->remove)
		h->main_deleted++;
	else
		h->copies++;
	schedule_check(h);
}

static void main_requeue(void *arg, const rv_change *c)
{
	rv_hot *h = arg;
	int r;

	h->main_inflight--;
	if (c->remove) {
		r = rv_outbox_push(h->removing ? h->removing : h->owed, &c->addr, RV_OUTBOX_REMOVE, true);
	} else {
		/* Not in the main zone yet: its hot copy must stay until it is. */
		(void)rv_outbox_cancel_write(h->copied, &c->addr);
		r = h->copy ? rv_outbox_push(h->copy, &c->addr, RV_OUTBOX_WRITE, true) : -ENOENT;
		if (r < 0)
			r = rv_outbox_push(h->hot, &c->addr, RV_OUTBOX_WRITE, false);
	}
	if (r < 0)
		rv_err(SUB, "out of memory: a change of the move is left to the next reconcile");
	schedule_check(h);
}

static void main_rejected(void *arg, const rv_change *c)
{
	rv_hot *h = arg;
	(void)c;
	h->main_inflight--;
	schedule_check(h);
}

/* ---- lifecycle ---- */

static uint64_t m_size(const void *arg) { return rv_hot_size(arg); }
static uint64_t m_owed(const void *arg) { return rv_hot_owed(arg); }
static uint64_t m_moves(const void *arg) { return ((const rv_hot *)arg)->moves; }
static uint64_t m_copies(const void *arg) { return ((const rv_hot *)arg)->copies; }
static uint64_t m_deferred(const void *arg) { return ((const rv_hot *)arg)->deferred; }
static uint64_t m_refresh(const void *arg) { return rv_outbox_len(((const rv_hot *)arg)->refresh); }

rv_hot *rv_hot_new(struct event_base *base, const rv_hot_opts *o, rv_table *table,
		const rv_change_feed *upstream, const rv_rpz_writer_opts *main_opts,
		const rv_tsig_key *key, int *err)
{
	int e = -EINVAL;
	rv_hot *h = NULL;

	if (!base || !o || !table || !upstream || !main_opts)
		goto out;
	e = -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->base = base;
	h->table = table;
	h->upstream = *upstream;
	h->opts = *o;
	if (h->opts.max_addresses == 0)
		h->opts.max_addresses = SIZE_MAX;
	h->feed = (rv_change_feed){
		.queued = hot_queued, .pop = hot_pop, .committed = hot_committed,
		.requeue = hot_requeue, .rejected = hot_rejected, .arg = h,
	};
	h->main_feed = (rv_change_feed){
		.queued = main_queued, .pop = main_pop, .committed = main_committed,
		.requeue = main_requeue, .rejected = main_rejected, .arg = h,
	};
	h->hot = rv_outbox_new();
	h->owed = rv_outbox_new();
	h->refresh = rv_outbox_new();
	h->timer = evtimer_new(base, timer_cb, h);
	h->check_ev = event_new(base, -1, 0, check_cb, h);
	if (!h->hot || !h->owed || !h->refresh || !h->timer || !h->check_ev)
		goto out;
	rv_rpz_writer_opts mo = *main_opts;
	mo.mover = true;
	h->main = rv_rpz_writer_new(base, &mo, key, &h->main_feed, &e);
	if (!h->main)
		goto out;
	e = -ENOMEM;
	if (rv_stats_register(RV_GAUGE, "hot", "rearview_rpz_hot_addresses",
			"addresses the hot zone holds (as far as the mover knows)", m_size, h) < 0 ||
	    rv_stats_register(RV_GAUGE, "hot_owed", "rearview_rpz_hot_owed_deletions",
			"deletions the main zone owes (sent by the next move)", m_owed, h) < 0 ||
	    rv_stats_register(RV_COUNTER, "hot_moves", "rearview_rpz_hot_moves_total",
			"moves of the hot zone into the main zone completed", m_moves, h) < 0 ||
	    rv_stats_register(RV_COUNTER, "hot_copied", "rearview_rpz_hot_copied_total",
			"addresses copied from the hot zone into the main zone", m_copies, h) < 0 ||
	    rv_stats_register(RV_COUNTER, "hot_deferred", "rearview_rpz_hot_deferred_refreshes_total",
			"TXT refreshes of main-zone addresses left to the next move (not written to the hot zone)",
			m_deferred, h) < 0 ||
	    rv_stats_register(RV_GAUGE, "hot_refresh", "rearview_rpz_hot_pending_refreshes",
			"main-zone addresses whose TXT the next move rewrites", m_refresh, h) < 0)
		goto out;
	arm_timer(h, h->opts.move_interval_ms);
	e = 0;
out:
	if (e < 0)
		rv_hot_free(&h);
	if (err)
		*err = e;
	return h;
}

void rv_hot_free(rv_hot **hp)
{
	if (!hp || !*hp)
		return;
	rv_hot *h = *hp;
	rv_stats_unregister(h);
	/* The writer gives back what it holds through main_feed: still valid. */
	rv_rpz_writer_free(&h->main);
	if (h->timer)
		event_free(h->timer);
	if (h->check_ev)
		event_free(h->check_ev);
	rv_outbox_free(&h->hot);
	rv_outbox_free(&h->owed);
	rv_outbox_free(&h->refresh);
	rv_outbox_free(&h->copy);
	rv_outbox_free(&h->removing);
	rv_outbox_free(&h->refreshing);
	rv_outbox_free(&h->copied);
	rv_outbox_free(&h->touched);
	free(h);
	*hp = NULL;
}

const rv_change_feed *rv_hot_feed(rv_hot *h)
{
	return &h->feed;
}

void rv_hot_set_hot_writer(rv_hot *h, rv_rpz_writer *w)
{
	h->hotw = w;
}

rv_rpz_writer *rv_hot_main_writer(rv_hot *h)
{
	return h->main;
}

void rv_hot_set_country_fn(rv_hot *h, rv_country_fn fn, void *arg)
{
	h->country_fn = fn;
	h->country_arg = arg;
}

void rv_hot_set_opts(rv_hot *h, const rv_hot_opts *o)
{
	bool changed = o->move_interval_ms != h->opts.move_interval_ms;
	h->opts = *o;
	if (h->opts.max_addresses == 0)
		h->opts.max_addresses = SIZE_MAX;
	if (changed && h->phase == P_IDLE && !h->draining) {
		event_del(h->timer);
		arm_timer(h, h->opts.move_interval_ms);
	}
	schedule_check(h);
}

void rv_hot_owner(void *arg, const rv_addr *addr)
{
	rv_hot *h = arg;
	if (rv_outbox_push(h->hot, addr, RV_OUTBOX_WRITE, false) < 0)
		rv_err(SUB, "out of memory: an address of the hot zone is not tracked");
}

int rv_hot_move_now(rv_hot *h)
{
	return start_move(h);
}

bool rv_hot_moving(const rv_hot *h)
{
	return h->phase != P_IDLE;
}

size_t rv_hot_size(const rv_hot *h)
{
	return rv_outbox_len(h->hot) + (h->copy ? rv_outbox_len(h->copy) : 0) +
		(h->copied ? rv_outbox_len(h->copied) : 0);
}

size_t rv_hot_owed(const rv_hot *h)
{
	return rv_outbox_len(h->owed) + (h->removing ? rv_outbox_len(h->removing) : 0);
}

uint64_t rv_hot_moves(const rv_hot *h)
{
	return h->moves;
}

int rv_hot_drain(rv_hot *h, unsigned timeout_ms, void (*done)(void *arg, size_t left), void *arg)
{
	h->draining = true;
	event_del(h->timer);
	return rv_rpz_writer_drain(h->main, timeout_ms, done, arg);
}
