/*
 * outbox.h - what the RPZ writer still has to send: one pending item per
 * address, in order.
 *
 * An address is in the outbox at most once (pushing it again coalesces: the
 * newer kind wins and it keeps its place, or moves to the front), so the
 * outbox's memory is O(addresses with a pending change), which is at most the
 * addresses the table holds plus those the zone holds, never O(sightings).
 * Cancelling an address (the table evicted or expired it before anything was
 * written) frees its item at once. Every operation is O(1).
 *
 * A write item carries no name: the writer asks the table for the address's
 * best name when it pops it, so a change that flips several times while
 * queued costs one write of its final state.
 */
#ifndef RV_OUTBOX_H
#define RV_OUTBOX_H

#include "common.h"

typedef enum rv_outbox_kind {
	RV_OUTBOX_WRITE = 0,   /* write the address's current best name and metadata */
	RV_OUTBOX_REMOVE = 1,  /* delete the address's records from the zone */
} rv_outbox_kind;

typedef struct rv_outbox rv_outbox;

/* NULL on allocation failure. */
rv_outbox *rv_outbox_new(void);
void rv_outbox_free(rv_outbox **ob);

/* Queues addr (at the back, or at the front for a retry). If addr is already
 * queued it keeps its place (or moves to the front if front is set), and a
 * removal is never downgraded to a write: the removal, when popped, learns
 * from the table that the address came back, and its write (a full replace of
 * whatever the zone holds) follows. 0 or -ENOMEM. */
int rv_outbox_push(rv_outbox *ob, const rv_addr *addr, rv_outbox_kind kind,
		bool front) RV_MUST_CHECK;
/* Forgets addr's pending write, if any (a pending removal stays: it may be for
 * records an earlier life of the address left in the zone). Returns true if
 * an item was dropped. */
bool rv_outbox_cancel_write(rv_outbox *ob, const rv_addr *addr);
/* Takes the item at the front. 0, or -ENOENT when empty. */
int rv_outbox_pop(rv_outbox *ob, rv_addr *addr, rv_outbox_kind *kind) RV_MUST_CHECK;
/* Pending items, and whether addr has one. */
size_t rv_outbox_len(const rv_outbox *ob);
bool rv_outbox_has(const rv_outbox *ob, const rv_addr *addr);
/* Bytes the outbox holds (items and index), for memory accounting. */
size_t rv_outbox_bytes(const rv_outbox *ob);

#endif
