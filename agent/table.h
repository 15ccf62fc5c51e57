/*
 * table.h - the best-guess table: address -> the names clients asked for.
 *
 * Per address: up to max_candidates names with their statistics; a score picks
 * the best (see "Scoring" in README.md). The table also remembers what the RPZ
 * was last told for each address (the committed name and metadata). Whenever an
 * address's best name (or, at a bounded rate, its metadata) differs from that,
 * the table tells its listener (the RPZ publisher, which keeps the outbox);
 * addresses that leave the table (evicted by the max_addresses cap, expired
 * after max_idle) are reported as removals when the zone may hold them, and as
 * cancellations otherwise. The table itself holds no queue.
 *
 * Times are epoch seconds. Names are lower-case presentation form without the
 * trailing dot; they are interned (stored once however many addresses use them).
 */
#ifndef RV_TABLE_H
#define RV_TABLE_H

#include "common.h"

typedef struct rv_table_opts {
	size_t max_addresses;     /* cap on tracked addresses; least recently seen evicted first */
	unsigned max_candidates;  /* candidate names kept per address (1..64) */
	uint32_t half_life_s;     /* decay half-life of a candidate's frequency */
	double depth_weight;      /* score bonus per CNAME link (see README "Scoring") */
	uint32_t txt_refresh_s;   /* rewrite an unchanged PTR's TXT at most this often... */
	double txt_refresh_ratio; /* ...and only once count grew by this factor (or last moved by txt_refresh_s) */
	size_t name_budget;       /* bytes of candidate names per address (0 = RV_TABLE_NAME_BUDGET) */
} rv_table_opts;

/* Default name budget per address: room for the longest possible name (255
 * wire octets can need 1,020 characters of escapes) and, in the common case
 * of ~25-character names, for every candidate. A newcomer that does not fit
 * pushes out the weakest candidates. */
#define RV_TABLE_NAME_BUDGET 1024

/* Statistics of one candidate name of one address (a copy, or borrowed where said). */
typedef struct rv_candidate {
	const char *name;
	int64_t first;            /* first / last sighting of this name for this address */
	int64_t last;
	uint64_t count;           /* sightings */
	double freq;              /* decayed frequency as of `last` (see README "Scoring") */
	unsigned depth;           /* longest CNAME chain seen from name to the address */
	uint32_t ttl;             /* TTL of the last answer that carried it */
	unsigned clients;         /* distinct clients seen asking (estimate); 0 = not known */
} rv_candidate;

/* One client's sightings count for at most this much decayed frequency (see
 * README "Scoring: threat model"). */
#define RV_SCORE_PER_CLIENT 8

/* What the RPZ should hold for one address: a self-contained copy. */
typedef struct rv_change {
	rv_addr addr;
	bool remove;              /* delete the address's records instead */
	char name[RV_NAME_MAX];   /* best name */
	int64_t first;
	int64_t last;
	uint64_t count;
	unsigned depth;
	double score;             /* score of the best name at pop time */
	char country[3];          /* ISO 3166 code or "" (filled by the writer's owner) */
	bool absent;              /* the zone holds nothing for addr: add without deleting */
	bool meta_only;           /* the zone holds this name already: only the TXT changes */
	bool hot_move;            /* a deletion the hot-zone mover asked for (rpz_hot.h), not the
	                           * table: its outcome goes back to the mover; never set by the table */
} rv_change;

typedef struct rv_table rv_table;

/* Returns NULL on allocation failure. opts is copied. */
rv_table *rv_table_new(const rv_table_opts *opts);
/* Live reload: takes half_life_s, depth_weight, txt_refresh_s,
 * txt_refresh_ratio and name_budget from opts (the sizes, max_addresses and
 * max_candidates, stay: they shape what is allocated). Entries are kept; the
 * new values apply from the next sighting or comparison (a smaller
 * name_budget trims an address's names at its next sighting). */
void rv_table_set_scoring(rv_table *t, const rv_table_opts *opts);
void rv_table_free(rv_table **t);

/*
 * Where the table reports pending zone work (the RPZ publisher):
 *  queue(addr, remove, front): addr needs a write of its current best name
 *    (remove = false) or the removal of whatever the zone holds for it
 *    (remove = true); front = a retry, ahead of other work. 0 or -ENOMEM.
 *  cancel(addr): addr left the table and the zone holds nothing for it:
 *    anything pending for it is void.
 * Callbacks must not call back into the table.
 */
typedef struct rv_table_listener {
	int (*queue)(void *arg, const rv_addr *addr, bool remove, bool front);
	void (*cancel)(void *arg, const rv_addr *addr);
} rv_table_listener;
/* l is copied; arg is borrowed. NULL detaches. */
void rv_table_set_listener(rv_table *t, const rv_table_listener *l, void *arg);

/*
 * Records one sighting: a client asked for name and got addr at the end of a
 * chain of depth CNAMEs, with answer TTL ttl, at time now.
 * Returns 1 if the listener was told addr needs a write (new best name or
 * material metadata change), 0 if not, -ENOMEM. name is copied (interned).
 */
int rv_table_observe(rv_table *t, const rv_addr *addr, const char *name,
		unsigned depth, uint32_t ttl, int64_t now) RV_MUST_CHECK;
/* Same, naming the client that asked (borrowed; NULL = not known): each
 * client can give a name at most RV_SCORE_PER_CLIENT of weight. */
int rv_table_observe_from(rv_table *t, const rv_addr *addr, const char *name,
		unsigned depth, uint32_t ttl, int64_t now, const rv_addr *client) RV_MUST_CHECK;
/* Same for the n addresses of one answer (addrs borrowed): the sightings
 * share name, depth, ttl, time and client. Returns how many addresses the
 * listener was told need a write (>= 0), or -ENOMEM when at least one could
 * not be stored; *nfull counts those, the others are recorded either way. */
int rv_table_observe_addrs(rv_table *t, const rv_addr *addrs, size_t n, const char *name,
		unsigned depth, uint32_t ttl, int64_t now, const rv_addr *client,
		size_t *nfull) RV_MUST_CHECK;

/*
 * A hint that rv_table_observe_addrs(t, addrs, n, ...) is coming, with the
 * same addresses, after at most RV_TABLE_AHEAD other announcements: the
 * table hashes the addresses now (observe takes the hashes instead of
 * computing them again) and prefetches their index slots; each later
 * announcement takes the pending ones a step further (the entries, then
 * their names and LRU neighbours), so the misses overlap the caller's work
 * (ingest decoding the next frames). Purely a hint: an observe that was not
 * announced, or whose addresses differ, works the same, only slower.
 */
#define RV_TABLE_AHEAD 3
void rv_table_prefetch(rv_table *t, const rv_addr *addrs, size_t n);

size_t rv_table_size(const rv_table *t);
/* Sizes the hash tables for n addresses (and about as many names) at once.
 * Optional: they grow by themselves. -ENOMEM leaves the table as it was. */
int rv_table_reserve(rv_table *t, size_t n);

/* Lifetime counters (for the statistics line). */
typedef struct rv_table_counters {
	uint64_t added;           /* addresses added */
	uint64_t changed;         /* best name of a known address changed */
	uint64_t evicted;         /* removed by the max_addresses cap */
	uint64_t expired;         /* removed by rv_table_expire */
} rv_table_counters;
void rv_table_get_counters(const rv_table *t, rv_table_counters *out);
/* Registers the table's size and counters in the metrics registry (stats.h);
 * rv_stats_unregister(t) before freeing it. */
void rv_table_register_stats(const rv_table *t);
/* Interned names alive and their bytes (for memory accounting). */
size_t rv_table_names(const rv_table *t, size_t *bytes);

/* The publisher takes addr for writing: *out = what the zone should hold now
 * (country left ""). Returns 0; -ENOENT addr is no longer in the table (its
 * removal was reported if the zone may hold it); -EALREADY the zone already
 * holds that (the change flipped back while it waited). */
int rv_table_take(rv_table *t, const rv_addr *addr, rv_change *out) RV_MUST_CHECK;
/* What the zone should hold for addr now, like rv_table_take but with no
 * bookkeeping (absent false, country ""): for the hot-zone mover's copy into
 * the main zone. 0, or -ENOENT when addr is not in the table. */
int rv_table_describe(const rv_table *t, const rv_addr *addr, rv_change *out) RV_MUST_CHECK;
/* The publisher is about to remove addr's records. 0 = go ahead; -EEXIST =
 * addr is back in the table, whose own write (a full replace) supersedes the
 * removal (it is queued again if needed). */
int rv_table_take_removal(rv_table *t, const rv_addr *addr) RV_MUST_CHECK;
/* BIND acknowledged c. */
void rv_table_committed(rv_table *t, const rv_change *c);
/* Writing c failed: queue it again (at the front) unless already queued or obsolete. */
void rv_table_requeue(rv_table *t, const rv_change *c);
/* c was dropped for good (e.g. its name cannot be encoded): do not retry it until
 * its best name changes. */
void rv_table_rejected(rv_table *t, const rv_change *c);

/* Set after each complete reconcile (known = the zone held nothing but what
 * the agent understands): from then on, an address the table creates is known
 * to have no records in the zone (rv_change.absent), so its first write needs
 * no deletions, which halves the RRs BIND must apply. Any doubt (a queued
 * removal of earlier records, a failed UPDATE, the zone showing a record)
 * clears it for that address. */
void rv_table_set_zone_known(rv_table *t, bool known);

/* Current best name for addr (borrowed until the next mutating call), or NULL. */
const char *rv_table_best(const rv_table *t, const rv_addr *addr);

/* What the table knows of one address, for people (the /v1/address API). */
typedef struct rv_table_view {
	unsigned ncands;
	rv_candidate cands[64];   /* names borrowed until the next mutating call */
	double score[64];         /* each candidate's score as of the view's time */
	int best;                 /* index of the best candidate */
	const char *committed;    /* name the RPZ was last told (NULL: none or not known) */
	bool pending;             /* a write for it is queued (not yet handed to the writer) */
	bool handed;              /* a write for it was handed to the writer since start */
	bool zone_absent;         /* the zone is known to hold nothing for it */
	bool seen_again;          /* in the protected LRU segment (seen more than once) */
} rv_table_view;

/* Fills *out for addr, scores as of now. 0, or -ENOENT when addr is not in
 * the table. */
int rv_table_inspect(const rv_table *t, const rv_addr *addr, int64_t now,
		rv_table_view *out) RV_MUST_CHECK;

/* Score of a candidate at time now: the decayed frequency (capped per distinct
 * client when c->clients is known) times the depth bonus (one link at most). */
double rv_table_score(const rv_table_opts *opts, const rv_candidate *c, int64_t now);

/* Removes every address last seen before cutoff; each one the RPZ holds is
 * queued for removal. Returns how many were removed. O(removed). */
size_t rv_table_expire(rv_table *t, int64_t cutoff);

/* ---- persistence and reconciliation ---- */

/* Calls fn for every address, most recently seen LAST (so a restore in that order
 * rebuilds the same recency order). cands are borrowed for the call. Stops and
 * returns fn's value if it returns non-zero. */
typedef int (*rv_table_visit_fn)(void *arg, const rv_addr *addr, const rv_candidate *cands,
		unsigned ncands);
int rv_table_foreach(const rv_table *t, rv_table_visit_fn fn, void *arg);

/*
 * An incremental scan for work spread over loop turns: visits the addresses
 * of up to max_buckets hash buckets from *pos on and advances *pos. Returns
 * 1 while there is more, 0 at the end, or fn's non-zero value. Addresses
 * added, moved or removed between calls may be missed or visited twice.
 */
int rv_table_scan(const rv_table *t, size_t *pos, size_t max_buckets, rv_table_visit_fn fn,
		void *arg);


/* Adds (or replaces) addr with the given candidates, as loaded from a snapshot:
 * not queued, and with nothing known about what the RPZ holds (reconcile tells).
 * Candidates beyond max_candidates are dropped (weakest first). -ENOMEM, -EINVAL. */
int rv_table_restore(rv_table *t, const rv_addr *addr, const rv_candidate *cands,
		unsigned ncands) RV_MUST_CHECK;

/*
 * Reconciliation against the zone's contents (from an AXFR):
 *   rv_table_reconcile_begin(t);
 *   for each address record in the zone: rv_table_reconcile_record(t, ...);
 *   rv_table_reconcile_end(t, ...);
 * record(): ptr_name is the zone's PTR target (lower-case, no trailing dot),
 * meta the statistics parsed from its TXT (NULL if none or unparsable).
 *   - known address, same best name: marked committed (nothing to send; the TXT is
 *     rewritten only if meta is NULL, i.e. missing or not ours);
 *   - known address, other name: queued (the table wins);
 *   - unknown address: adopt == true -> added with ptr_name as its only candidate
 *     (stats from meta, or first=last=now, count 1) and marked committed;
 *     adopt == false -> queued for removal.
 * Returns RV_RECONCILE_* describing what was done, or -ENOMEM.
 * end(): every address not seen in the zone since begin() is queued (re-sent).
 */
enum {
	RV_RECONCILE_MATCH = 0,
	RV_RECONCILE_REWRITE = 1,
	RV_RECONCILE_ADOPTED = 2,
	RV_RECONCILE_REMOVE = 3,
};
void rv_table_reconcile_begin(rv_table *t);
int rv_table_reconcile_record(rv_table *t, const rv_addr *addr, const char *ptr_name,
		const rv_candidate *meta, bool adopt, int64_t now) RV_MUST_CHECK;
/* Returns how many addresses the zone lacked (queued for sending). */
size_t rv_table_reconcile_end(rv_table *t);

#endif
