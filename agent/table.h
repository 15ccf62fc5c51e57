/*
 * table.h - the best-guess table: address -> the name clients asked for.
 *
 * Each address keeps a few candidate names with their statistics; the best
 * candidate is what the RPZ should say. Addresses whose best name differs from
 * what the RPZ holds are queued (once each: changes coalesce per address) for
 * the RPZ writer, which pops them, and reports back committed or requeue.
 */
#ifndef RV_TABLE_H
#define RV_TABLE_H

#include "common.h"

typedef struct rv_table_opts {
	size_t max_addresses;     /* cap on tracked addresses; least recently seen evicted first */
	unsigned max_candidates;  /* candidate names kept per address */
} rv_table_opts;

/* What the RPZ should hold for one address: a self-contained copy. */
typedef struct rv_change {
	rv_addr addr;
	bool remove;              /* delete the address's records instead */
	char name[RV_NAME_MAX];   /* best name, lower-case, no trailing dot */
	int64_t first;            /* epoch seconds the name was first / last seen for addr */
	int64_t last;
	uint64_t count;           /* sightings of this name for addr */
	unsigned depth;           /* longest CNAME chain seen from name to addr */
} rv_change;

typedef struct rv_table rv_table;

/* Returns NULL on allocation failure. opts is copied. */
rv_table *rv_table_new(const rv_table_opts *opts);
void rv_table_free(rv_table **t);

/*
 * Records one sighting: a client asked for name (lower-case, no trailing dot)
 * and got addr at the end of a chain of depth CNAMEs, at time now (epoch s).
 * Returns 1 if addr's best name changed and it is now queued for the RPZ, 0 if
 * not, -ENOMEM. name is copied.
 */
int rv_table_observe(rv_table *t, const rv_addr *addr, const char *name,
		unsigned depth, int64_t now) RV_MUST_CHECK;

size_t rv_table_size(const rv_table *t);
/* Addresses queued for the RPZ writer (not counting those in flight). */
size_t rv_table_queued(const rv_table *t);

/* Moves the longest-queued address out of the queue into *out (the entry stays in
 * the table). Returns 0, or -ENOENT when the queue is empty. */
int rv_table_pop_queued(rv_table *t, rv_change *out) RV_MUST_CHECK;
/* BIND acknowledged c: the RPZ now holds c's name for c's address. */
void rv_table_committed(rv_table *t, const rv_change *c);
/* Writing c failed: queue its address again (at the front) unless it already is. */
void rv_table_requeue(rv_table *t, const rv_change *c);

/* Current best name for addr (borrowed until the next mutating call), or NULL. */
const char *rv_table_best(const rv_table *t, const rv_addr *addr);

#endif
