/*
 * zonesync.h - when the agent compares the zone with the table (AXFR
 * reconcile, reconcile.h), and what it lets the writer do meanwhile.
 *
 *  - At start: the writer is held until the first reconcile has read the zone,
 *    so no write can overwrite records (and their history: count, first seen)
 *    that the table does not know yet; the reconcile adopts them first. A
 *    failed start-up reconcile is retried with backoff (1 s doubling to 30 s).
 *    If the server is reachable but refuses the transfer (REFUSED, NOTAUTH,
 *    TSIG, a malformed answer) three times in a row, the agent gives up
 *    waiting, says so at error level, and writes without knowing the zone (it
 *    keeps retrying the reconcile on the periodic schedule).
 *  - Periodically (drift repair, every interval): the writer is paused, the
 *    UPDATE in flight (if any) completes, then the AXFR runs and the writer
 *    resumes. A steady stream of new addresses therefore cannot postpone drift
 *    repair; it delays writes by one transfer.
 *  - After each complete reconcile, the table learns whether the zone held
 *    only records the agent understands (rv_table_set_zone_known): only then
 *    can first writes be add-only.
 */
#ifndef RV_ZONESYNC_H
#define RV_ZONESYNC_H

#include "common.h"
#include "rpz.h"
#include "table.h"
#include "tsig_key.h"

struct event_base;

typedef struct rv_zonesync_opts {
	const char *server;        /* the primary the writer updates */
	uint16_t port;
	const char *zone;
	const rv_tsig_key *key;
	unsigned timeout_ms;       /* per transfer: connect, then between bytes */
	unsigned interval_ms;      /* drift repair period; 0 = only at start */
	unsigned retry_min_ms;     /* start-up retry backoff (0 = 1 s) ... */
	unsigned retry_max_ms;     /* ... doubling up to this (0 = 30 s) */
	unsigned give_up_after;    /* refused start-up transfers before writing anyway (0 = 3) */
	bool write_early;          /* never hold the writer before the first reconcile */
	const char *hot_zone;      /* read first, with hot_owner (reconcile.h); NULL = none */
	void (*hot_owner)(void *arg, const rv_addr *addr);
	void *hot_arg;
} rv_zonesync_opts;

typedef struct rv_zonesync rv_zonesync;

/* Strings and the key are copied; base, table and writer are borrowed and must
 * outlive it. Holds the writer at once (unless write_early). NULL + *err on
 * failure. */
rv_zonesync *rv_zonesync_new(struct event_base *base, const rv_zonesync_opts *opts,
		rv_table *table, rv_rpz_writer *writer, int *err);
/* Stops any transfer and releases the writer if the zone has been read (at
 * shutdown, writes queued before that stay unsent: the snapshot keeps them). */
void rv_zonesync_free(rv_zonesync **zs);

/* Live reload: the next transfer is signed with key (copied; ignored without
 * a key at creation); a transfer under way finishes with its own. */
void rv_zonesync_set_key(rv_zonesync *zs, const rv_tsig_key *key);
/* Live reload: per-transfer timeout and drift repair period (the period's
 * timer restarts from now when it changed). */
void rv_zonesync_set_timing(rv_zonesync *zs, unsigned timeout_ms, unsigned interval_ms);
/* Starts the first reconcile (from the loop, at once). */
void rv_zonesync_start(rv_zonesync *zs);
/* True once a start-up reconcile completed (or the agent gave up waiting). */
bool rv_zonesync_ready(const rv_zonesync *zs);

#endif
