/*
 * rpz_hot.h - the hot zone: a small policy zone that takes every write, and
 * the mover that copies it into the main policy zone in rare batches.
 *
 * Why: after each batch of UPDATEs, named 9.18 rebuilds a policy zone's
 * summary by walking the whole zone (at 234k addresses 0.4 s idle, 0.6-2.9 s
 * under query load), once per min-update-interval for as long as writes keep
 * coming. The walk is per policy zone: writes into a zone of a few thousand
 * addresses cost a rebuild of ~10 ms, and the big zone is not walked at all
 * while it is not written (BENCHMARKS.md "One policy zone or two").
 *
 * How (rpz-hot-zone set; the xray view lists the hot zone first in its
 * response-policy, so an address in both zones is answered from the hot one):
 *  - the RPZ writer writes every change (new address, new name, removal, TXT
 *    refresh of an address the hot zone holds) into the hot zone, through
 *    this module's feed, which passes the publisher's changes through and
 *    notes which addresses the hot zone holds (and, for removals, that the
 *    main zone still owes a deletion). A TXT refresh (same name, new count)
 *    of an address only the main zone holds is not written: the next move
 *    rewrites it there from the table, so the table's steady count updates do
 *    not fill the hot zone (the table takes it as written at once);
 *  - every move interval, or as soon as the hot zone holds max_addresses,
 *    the move runs, with its own writer to the main zone (one UPDATE in flight,
 *    full batches back to back): first the deletions the main zone owes, then
 *    a copy of every hot address as the table knows it now, then the TXT
 *    refreshes left to it; once the main zone
 *    acknowledged all of them, the hot zone's copies are deleted through the
 *    main writer (same connection as its own writes, so a newer write of an
 *    address is never overtaken by the deletion of its old copy), skipping
 *    every address written to the hot zone since the move began;
 *  - at shutdown, the deletions the main zone owes are sent (the drain); hot
 *    copies stay and the next start's reconcile (hot zone first) tells the
 *    mover what the hot zone holds.
 * What a reader may see: between the copy and the deletion an address is in
 * both zones with the same or an older name in the main one (the hot zone
 * wins); a removed address stays answerable from the main zone until the next
 * move, and its TXT shows the count of its last write until then (at most
 * the move interval).
 */
#ifndef RV_RPZ_HOT_H
#define RV_RPZ_HOT_H

#include "common.h"
#include "publish.h"
#include "rpz.h"
#include "table.h"
#include "tsig_key.h"

struct event_base;

typedef struct rv_hot_opts {
	unsigned move_interval_ms;   /* a move this long after the last one ends (0: none by time) */
	size_t max_addresses;        /* ...or as soon as the hot zone holds this many */
} rv_hot_opts;

typedef struct rv_hot rv_hot;

/*
 * upstream: the publisher's feed (copied; its arg borrowed). main_opts: the
 * writer to the main zone (opts->zone; strings copied, mover set here), key
 * copied (NULL: unsigned, tests only); base and table borrowed. NULL + *err
 * (-EINVAL, -ENOMEM) on failure. The move timer starts at once.
 */
rv_hot *rv_hot_new(struct event_base *base, const rv_hot_opts *o, rv_table *table,
		const rv_change_feed *upstream, const rv_rpz_writer_opts *main_opts,
		const rv_tsig_key *key, int *err);
/* Free the hot zone's writer first (it gives its changes back through the
 * feed). */
void rv_hot_free(rv_hot **h);

/* The feed the hot zone's writer reads (borrowed, lives as long as h). */
const rv_change_feed *rv_hot_feed(rv_hot *h);
/* The hot zone's writer, kicked when the hot copies are to be deleted
 * (borrowed; NULL detaches). */
void rv_hot_set_hot_writer(rv_hot *h, rv_rpz_writer *w);
/* The main zone's writer (owned by h): reload sets its options and key. */
rv_rpz_writer *rv_hot_main_writer(rv_hot *h);
void rv_hot_set_country_fn(rv_hot *h, rv_country_fn fn, void *arg);
/* Live reload. */
void rv_hot_set_opts(rv_hot *h, const rv_hot_opts *o);

/* The reconcile found addr in the hot zone (reconcile.h hot_owner). */
void rv_hot_owner(void *h, const rv_addr *addr);

/* Starts a move now (tests, SIGUSR2-free operators: none yet). 0, or
 * -EALREADY while one runs. */
int rv_hot_move_now(rv_hot *h) RV_MUST_CHECK;
/* True while a move runs. */
bool rv_hot_moving(const rv_hot *h);
/* Addresses the hot zone holds (as far as the mover knows), deletions the
 * main zone owes, moves completed. */
size_t rv_hot_size(const rv_hot *h);
size_t rv_hot_owed(const rv_hot *h);
uint64_t rv_hot_moves(const rv_hot *h);

/* Shutdown: sends the deletions the main zone owes, then done(arg, left) as
 * rv_rpz_writer_drain describes (left: deletions not acknowledged). A move
 * under way stops where it is. -EALREADY, -ENOMEM. */
int rv_hot_drain(rv_hot *h, unsigned timeout_ms, void (*done)(void *arg, size_t left),
		void *arg) RV_MUST_CHECK;

#endif
