/*
 * publish.h - the RPZ sink's bookkeeping: turns the table's knowledge into the
 * stream of changes the RPZ writer sends.
 *
 * The publisher listens to the table (what needs writing, what to remove,
 * what to forget), keeps the pending work in an outbox (outbox.h: one item
 * per address, bounded by the addresses the table and the zone hold), and
 * hands the writer complete changes through an rv_change_feed: at pop time it
 * asks the table for the address's current best name and adds the country.
 * What the writer reports back (committed, requeue, rejected) goes to the
 * table, which remembers what the zone holds.
 *
 * Whoever sends is told through a deferred loop event after the event that
 * queued work has returned (never from inside the table). With no sender
 * (dry-run), every change is acknowledged at that point as if BIND had applied
 * it, so the bookkeeping (TXT refresh, removals) runs as in a real run and the
 * outbox stays empty.
 */
#ifndef RV_PUBLISH_H
#define RV_PUBLISH_H

#include "common.h"
#include "table.h"

struct event_base;

/* The writer's view of pending changes (implemented by the publisher; tests
 * may supply their own). */
typedef struct rv_change_feed {
	size_t (*queued)(void *arg);                     /* changes waiting (an upper bound) */
	int (*pop)(void *arg, rv_change *out);           /* 0, or -ENOENT when none */
	void (*committed)(void *arg, const rv_change *c); /* BIND applied c */
	void (*requeue)(void *arg, const rv_change *c);  /* sending c failed: retry first */
	void (*rejected)(void *arg, const rv_change *c); /* c can never be sent */
	void *arg;
} rv_change_feed;

/* Fills cc (zeroed, 3 bytes) with the ISO 3166 code of addr, or leaves it "". */
typedef void (*rv_country_fn)(void *arg, const rv_addr *addr, char cc[3]);

typedef struct rv_publisher rv_publisher;

/* Attaches to t as its listener. base may be NULL (no sender is ever told:
 * tests that pop by hand). t and base are borrowed. NULL on ENOMEM. */
rv_publisher *rv_publisher_new(struct event_base *base, rv_table *t);
/* Detaches from the table. Free the writer (which requeues what it holds)
 * first. */
void rv_publisher_free(rv_publisher **p);

const rv_change_feed *rv_publisher_feed(rv_publisher *p);
void rv_publisher_set_country_fn(rv_publisher *p, rv_country_fn fn, void *arg);
/* kick(arg) runs from the loop whenever work was queued since the last call.
 * kick == NULL (the default): dry-run, acknowledge everything instead. */
void rv_publisher_set_sender(rv_publisher *p, void (*kick)(void *arg), void *arg);

/* Pending changes (writes and removals). The outbox's size and the changes
 * that could not be queued for lack of memory are in the metrics registry. */
size_t rv_publisher_queued(const rv_publisher *p);

/* Dry-run commit path: acknowledges every pending change as applied. */
void rv_publisher_ack_all(rv_publisher *p);

#endif
