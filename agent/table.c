/*
 * table.c - address -> candidate names, scoring, eviction, expiry, and what the
 * zone was last told about each address.
 *
 * Memory layout (budget: <= 200 bytes per address plus name bytes):
 *  - entry: one per address (allocated from slabs, below) holding the address,
 *    its hash, hash-chain and LRU links,
 *    what the RPZ holds, and the first candidate inline (most addresses only
 *    ever have one name); further candidates live in a small array.
 *  - names are interned (refcounted, one copy however many addresses use them).
 *  - the queue of pending writes is not here: the table tells its listener
 *    (the RPZ publisher, whose outbox holds one item per pending address) when
 *    an address needs a write or a removal, and when an evicted address needs
 *    nothing any more (cancel), so pending work never outgrows the addresses.
 *  - candidate names of one address hold at most name_budget bytes, so a
 *    client that queries long names cannot make one address cost kilobytes.
 *
 * Scoring (README "Scoring"): each candidate keeps an exponentially decayed
 * frequency f (half-life h): at a sighting f = f * 2^-(dt/h) + 1. Its score at
 * time now is  f * 2^-((now - last)/h) * 2^(depth_weight * depth).  Comparing two
 * candidates of one address at the same `now`, now cancels out, so the ranking key
 *     log2(f) + last/h + depth_weight * depth
 * is time-invariant: the best name only changes at a sighting, never on a timer.
 * Ties: more recent last, then the lexicographically smaller name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
/* XXH3 inlined (the header carries the implementation): the keys are short
 * and fixed-size, and a call into libxxhash cost more than the hash itself
 * (callgrind: ~44 instructions a call, ~700k calls per 100k frames). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "stats.h"
#include "table.h"

/* Free entries stay poisoned under ASan, so a use after free is still caught
 * although they go back to a slab, not to malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/* The small helpers of the per-observation path are RV_ALWAYS_INLINE: their
 * calls cost more than their bodies (callgrind). */

/* ---- interned names ---- */

typedef struct iname iname;
struct iname {
	iname *next;
	uint32_t refs;
	uint32_t hash;
	char s[];
};

typedef struct names {
	iname **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	size_t bytes;
} names;

/* ---- entries ---- */

typedef struct cand {
	iname *name;
	uint32_t first;   /* epoch seconds; uint32 is good until 2106 and saves 8 bytes */
	uint32_t last;
	uint32_t count;   /* saturates */
	float freq;
	uint32_t ttl;
	uint16_t clients; /* distinct-client sketch: one bit per hashed client; 0 = none known */
	uint8_t depth;
} cand;

enum {
	F_DIRTY = 1,       /* the listener was told to write it and has not taken it */
	F_RECON_SEEN = 2,  /* seen in the zone during the current reconcile pass */
	F_ABSENT = 4,      /* the zone is known to hold nothing for this address */
	F_POPPED = 8,      /* a write has been handed to the writer (maybe applied) */
	F_PROTECTED = 16,  /* in the protected LRU segment: seen more than once */
};

typedef struct entry entry;
struct entry {
	entry *hnext;
	entry *lru_prev, *lru_next;  /* most recently seen at the head */
	iname *committed;            /* name the RPZ holds, or NULL (none / unknown) */
	uint32_t committed_count;    /* count and last written in the TXT */
	uint32_t committed_last;
	rv_addr addr;
	uint8_t ncand;
	uint8_t extra_cap;
	uint8_t flags;
	/* The address's hash, in what was padding: finds compare it before the
	 * address, and growing the index or unlinking never hashes again. */
	uint32_t hash;
	cand *extra;                 /* candidates 1..ncand-1 */
	cand c0;
};
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct entry) == 104, "entry outgrew its 104 bytes (README memory budget)");
#endif

/*
 * Entries come from slabs of ENTRY_SLAB, one malloc per 256 addresses: a
 * calloc per address cost ~230 instructions (callgrind, most of it in
 * malloc's bookkeeping), malloc's header added 8 bytes to each, and freeing
 * the table freed every address. A freed entry goes to a free list (linked
 * through hnext) and is reused; slabs go back only with the table, so their
 * memory follows the most addresses ever held, which max-addresses bounds.
 */
#define ENTRY_SLAB 256

typedef struct slab slab;
struct slab {
	slab *next;
	entry e[ENTRY_SLAB];
};

/* Prefetch ring (rv_table_prefetch): the announcements in flight, and the
 * addresses of each whose hashes are kept (an answer has 1.6 on average). */
#define PF_RING (RV_TABLE_AHEAD + 1)
#define PF_ADDRS 8

struct rv_table {
	rv_table_opts opts;
	uint64_t seed;
	entry **buckets;
	size_t nbuckets;
	size_t size;
	/* Segmented LRU: [0] probation (addresses seen once), [1] protected
	 * (seen again; at most protected_max). Eviction takes the probation tail
	 * first, so a flood of one-off addresses only churns probation. */
	struct lru {
		entry *head, *tail;
		size_t n;
	} lru[2];
	size_t protected_max;
	names names;
	rv_table_listener listener;
	void *listener_arg;
	bool zone_known;             /* a reconcile has shown what the zone holds */
	size_t ncands;               /* candidates of every address */
	rv_table_counters counters;
	slab *slabs;
	entry *free_entries;
	double depth_factor;         /* exp2(opts.depth_weight): a change's score, no libm call */
	/* Announced observations (rv_table_prefetch), oldest at pf_tail, and
	 * their hashes. An observe of the same addresses takes them: the same
	 * array, count and first address (a cheap guard against a caller that
	 * reuses the array for other addresses without announcing them). */
	struct pf {
		const rv_addr *addrs;
		size_t n;              /* hashes held: min(n, PF_ADDRS) */
		rv_addr first;
		uint32_t h[PF_ADDRS];
	} pf[PF_RING];
	unsigned pf_head, pf_tail;
};

static uint32_t clamp_time(int64_t t)
{
	if (t < 0)
		return 0;
	if (t > UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)t;
}

/* ---- names ---- */

static int names_resize(names *n, size_t nb)
{
	iname **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n->nbuckets; i++) {
		iname *p = n->buckets[i];
		while (p) {
			iname *next = p->next;
			p->next = b[p->hash & (nb - 1)];
			b[p->hash & (nb - 1)] = p;
			p = next;
		}
	}
	free(n->buckets);
	n->buckets = b;
	n->nbuckets = nb;
	return 0;
}

static iname *name_intern_len(rv_table *t, const char *s, size_t len)
{
	names *n = &t->names;
	uint32_t h = (uint32_t)XXH3_64bits_withSeed(s, len, t->seed);
	for (iname *p = n->buckets[h & (n->nbuckets - 1)]; p; p = p->next) {
		if (p->hash == h && strcmp(p->s, s) == 0) {
			p->refs++;
			return p;
		}
	}
	if (n->count >= n->nbuckets && names_resize(n, n->nbuckets * 2) < 0)
		return NULL;
	iname *p = malloc(sizeof(*p) + len + 1);
	if (!p)
		return NULL;
	p->refs = 1;
	p->hash = h;
	memcpy(p->s, s, len + 1);
	p->next = n->buckets[h & (n->nbuckets - 1)];
	n->buckets[h & (n->nbuckets - 1)] = p;
	n->count++;
	n->bytes += len + 1;
	return p;
}

static iname *name_intern(rv_table *t, const char *s)
{
	return name_intern_len(t, s, strlen(s));
}

static iname *name_ref(iname *p)
{
	if (p)
		p->refs++;
	return p;
}

static void name_unref(rv_table *t, iname *p)
{
	if (!p || --p->refs > 0)
		return;
	names *n = &t->names;
	iname **pp = &n->buckets[p->hash & (n->nbuckets - 1)];
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	n->count--;
	n->bytes -= strlen(p->s) + 1;
	free(p);
}

/* ---- hash of entries ---- */

/* Keyed (per-process random seed): addresses come from hostile answers, and
 * a known hash would let them build long chains. An observation hashes its
 * address once (find_h, then entry_new); the entry keeps the result. The 16
 * address bytes are hashed with the family folded into the seed: XXH3's path
 * for 9..16 bytes is a third cheaper than its 17..128 one (callgrind). */
static uint32_t addr_hash(const rv_table *t, const rv_addr *a)
{
	return (uint32_t)XXH3_64bits_withSeed(a->bytes, sizeof(a->bytes), t->seed ^ a->family);
}

RV_ALWAYS_INLINE entry *find_h(const rv_table *t, const rv_addr *a, uint32_t h)
{
	for (entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && rv_addr_equal(&e->addr, a))
			return e;
	return NULL;
}

static entry *find(const rv_table *t, const rv_addr *a)
{
	return find_h(t, a, addr_hash(t, a));
}

static int resize(rv_table *t, size_t n)
{
	entry **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	entry **old = t->buckets;
	size_t oldn = t->nbuckets;
	t->buckets = nb;
	t->nbuckets = n;
	for (size_t i = 0; i < oldn; i++) {
		entry *e = old[i];
		while (e) {
			entry *next = e->hnext;
			size_t b = e->hash & (n - 1);
			e->hnext = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(old);
	return 0;
}

static int grow(rv_table *t)
{
	return resize(t, t->nbuckets * 2);
}

static void unlink_hash(rv_table *t, entry *e)
{
	entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

/* ---- LRU ---- */

static struct lru *seg_of(rv_table *t, const entry *e)
{
	return &t->lru[(e->flags & F_PROTECTED) ? 1 : 0];
}

RV_ALWAYS_INLINE void lru_unlink(rv_table *t, entry *e)
{
	struct lru *l = seg_of(t, e);
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		l->head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		l->tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	l->n--;
}

RV_ALWAYS_INLINE void lru_push_head(rv_table *t, entry *e)
{
	struct lru *l = seg_of(t, e);
	e->lru_prev = NULL;
	e->lru_next = l->head;
	if (l->head)
		l->head->lru_prev = e;
	else
		l->tail = e;
	l->head = e;
	l->n++;
}

/* Moves e to the head of the protected segment; the protected tail falls back
 * to the head of probation when the segment is over its share. */
static void promote(rv_table *t, entry *e)
{
	if (t->protected_max == 0)
		return;
	lru_unlink(t, e);
	e->flags |= F_PROTECTED;
	lru_push_head(t, e);
	if (t->lru[1].n > t->protected_max) {
		entry *d = t->lru[1].tail;
		lru_unlink(t, d);
		d->flags &= (uint8_t)~F_PROTECTED;
		lru_push_head(t, d);
	}
}

/* A sighting of a known address: to the head of its segment, or promoted. */
static void touch(rv_table *t, entry *e)
{
	if (!(e->flags & F_PROTECTED)) {
		promote(t, e);
		if (e->flags & F_PROTECTED)
			return;
	}
	if (seg_of(t, e)->head != e) {
		lru_unlink(t, e);
		lru_push_head(t, e);
	}
}

/* The next address to evict: the least recently seen of those seen once,
 * else the least recently seen of all. */
static entry *victim(const rv_table *t)
{
	return t->lru[0].tail ? t->lru[0].tail : t->lru[1].tail;
}

/* ---- the listener (the RPZ publisher) ---- */

static int tell_remove(rv_table *t, const rv_addr *a, bool front)
{
	if (!t->listener.queue)
		return 0;
	return t->listener.queue(t->listener_arg, a, true, front);
}

static int queue_entry(rv_table *t, entry *e, bool front)
{
	if ((e->flags & F_DIRTY) && !front)
		return 0;
	if (t->listener.queue) {
		int rc = t->listener.queue(t->listener_arg, &e->addr, false, front);
		if (rc < 0)
			return rc;
	}
	e->flags |= F_DIRTY;
	return 0;
}

/* ---- candidates and scoring ---- */

static cand *cand_at(entry *e, unsigned i)
{
	return i == 0 ? &e->c0 : &e->extra[i - 1];
}

static const cand *cand_at_c(const entry *e, unsigned i)
{
	return i == 0 ? &e->c0 : &e->extra[i - 1];
}

/* Distinct clients estimated from a 16-bit sketch (linear counting,
 * -16 ln(zero bits / 16)); 0 when no client was ever known. A full sketch
 * reads as 48: enough that the per-client cap no longer binds. */
static unsigned sketch_clients(uint16_t bits)
{
	static const unsigned est[17] = {
		48, 44, 33, 27, 22, 19, 16, 13, 11, 9, 7, 6, 4, 3, 2, 1, 0,
	};
	/* Bits set, by halves (no libgcc __popcountdi2 call without -mpopcnt). */
	unsigned x = bits;
	x = x - ((x >> 1) & 0x5555u);
	x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
	x = (x + (x >> 4)) & 0x0f0fu;
	x = (x + (x >> 8)) & 0x1fu;
	return est[16 - x];
}

/* The frequency a candidate is ranked by: its decayed frequency, capped at
 * RV_SCORE_PER_CLIENT per distinct client (see README "Scoring: threat
 * model"): one client cannot outweigh a name many clients use. */
static double capped_freq(double freq, unsigned clients)
{
	double f = freq > 0 ? freq : 1e-30;
	if (clients > 0 && f > (double)RV_SCORE_PER_CLIENT * clients)
		f = (double)RV_SCORE_PER_CLIENT * clients;
	return f;
}

/* The depth bonus counts one link at most: the chain's length is whatever the
 * answer's owner writes, so more links must not buy more weight. */
static double depth_bonus(const rv_table_opts *o, unsigned depth)
{
	return o->depth_weight * (depth > 0 ? 1.0 : 0.0);
}

static double rank_key(const rv_table_opts *o, const cand *c)
{
	return log2(capped_freq(c->freq, sketch_clients(c->clients))) +
	       (double)c->last / (double)o->half_life_s + depth_bonus(o, c->depth);
}

/* True if a ranks above b (deterministic total order). */
static bool better(const rv_table_opts *o, const cand *a, const cand *b)
{
	double ka = rank_key(o, a), kb = rank_key(o, b);
	if (ka != kb)
		return ka > kb;
	if (a->last != b->last)
		return a->last > b->last;
	return strcmp(a->name->s, b->name->s) < 0;
}

RV_ALWAYS_INLINE const cand *best_of(const rv_table_opts *o, const entry *e)
{
	const cand *best = NULL;
	for (unsigned i = 0; i < e->ncand; i++) {
		const cand *c = cand_at_c(e, i);
		if (!best || better(o, c, best))
			best = c;
	}
	return best;
}

static uint32_t entry_last(const entry *e)
{
	uint32_t last = 0;
	for (unsigned i = 0; i < e->ncand; i++)
		if (cand_at_c(e, i)->last > last)
			last = cand_at_c(e, i)->last;
	return last;
}

/* Does the RPZ need a write for e, whose best candidate is b (best_of(), which
 * the caller has at hand): another best name, or metadata that moved
 * materially (bounded: at most every txt_refresh_s or per growth by txt_refresh_ratio). */
RV_ALWAYS_INLINE bool needs_write_best(const rv_table *t, const entry *e, const cand *b)
{
	if (!b)
		return false;
	if (e->committed != b->name)
		return true;
	if (t->opts.txt_refresh_s > 0 && b->last >= (uint64_t)e->committed_last + t->opts.txt_refresh_s)
		return true;
	/* The integer test first: mostly false, and it spares the doubles. */
	if (b->count > e->committed_count && t->opts.txt_refresh_ratio > 1.0 &&
	    (double)b->count >= (double)e->committed_count * t->opts.txt_refresh_ratio)
		return true;
	return false;
}

static bool needs_write(const rv_table *t, const entry *e)
{
	return needs_write_best(t, e, best_of(&t->opts, e));
}

/* A zeroed entry, or NULL (ENOMEM). */
static entry *entry_alloc(rv_table *t)
{
	entry *e = t->free_entries;
	if (!e) {
		slab *s = malloc(sizeof(*s));
		if (!s)
			return NULL;
		s->next = t->slabs;
		t->slabs = s;
		for (size_t i = ENTRY_SLAB; i-- > 0;) {
			s->e[i].hnext = t->free_entries;
			t->free_entries = &s->e[i];
		}
		ASAN_POISON_MEMORY_REGION(s->e, sizeof(s->e));
		e = t->free_entries;
	}
	ASAN_UNPOISON_MEMORY_REGION(e, sizeof(*e));
	t->free_entries = e->hnext;
	memset(e, 0, sizeof(*e));
	return e;
}

static void entry_free(rv_table *t, entry *e)
{
	t->ncands -= e->ncand;
	for (unsigned i = 0; i < e->ncand; i++)
		name_unref(t, cand_at(e, i)->name);
	name_unref(t, e->committed);
	free(e->extra);
	e->hnext = t->free_entries;
	t->free_entries = e;
	ASAN_POISON_MEMORY_REGION(e, sizeof(*e));
}

/* Removes e from the table; if the RPZ holds something for it, queues a removal. */
static void drop_entry(rv_table *t, entry *e)
{
	lru_unlink(t, e);
	unlink_hash(t, e);
	t->size--;
	/* A write in flight or failed ambiguously may have reached the zone too.
	 * Otherwise nothing is there: whatever was pending for it is void, and
	 * cancelling it is what keeps pending work bounded by the table. */
	if (e->committed || (e->flags & F_POPPED))
		(void)tell_remove(t, &e->addr, false);
	else if (t->listener.cancel)
		t->listener.cancel(t->listener_arg, &e->addr);
	entry_free(t, e);
}

/* A new entry for addr, whose addr_hash() is h. */
static entry *entry_new(rv_table *t, const rv_addr *addr, uint32_t h)
{
	if (t->size >= t->opts.max_addresses && victim(t)) {
		drop_entry(t, victim(t));
		t->counters.evicted++;
	}
	if (t->size + 1 > t->nbuckets && grow(t) < 0)
		return NULL;
	entry *e = entry_alloc(t);
	if (!e)
		return NULL;
	e->addr = *addr;
	e->hash = h;
	/* After a complete reconcile, a new address has no records in the zone,
	 * unless a removal of earlier ones is still queued: pop_queued() clears the
	 * flag when it meets that removal. */
	if (t->zone_known)
		e->flags = F_ABSENT;
	size_t b = h & (t->nbuckets - 1);
	e->hnext = t->buckets[b];
	t->buckets[b] = e;
	t->size++;
	t->counters.added++;
	lru_push_head(t, e);
	return e;
}

/* Removes candidate i (its name released), keeping the others. */
static void cand_remove(rv_table *t, entry *e, unsigned i)
{
	name_unref(t, cand_at(e, i)->name);
	unsigned last = e->ncand - 1u;
	if (i != last)
		*cand_at(e, i) = *cand_at(e, last);
	e->ncand = (uint8_t)last;
	t->ncands--;
}

/* Makes room for a new candidate name of len bytes within the per-address name
 * budget by removing the weakest candidates. Interned names may be shared, but
 * the budget counts each in full: that bounds the worst case, where every name
 * is unique to its address. */
static void make_room(rv_table *t, entry *e, size_t len)
{
	for (;;) {
		size_t used = len;
		for (unsigned i = 0; i < e->ncand; i++)
			used += strlen(cand_at(e, i)->name->s);
		if (used <= t->opts.name_budget || e->ncand == 0)
			return;
		unsigned weak = 0;
		for (unsigned i = 1; i < e->ncand; i++)
			if (better(&t->opts, cand_at(e, weak), cand_at(e, i)))
				weak = i;
		cand_remove(t, e, weak);
	}
}

/* A free candidate slot, or the weakest one (its name released), or NULL (ENOMEM). */
static cand *cand_slot(rv_table *t, entry *e)
{
	if (e->ncand == 0) {
		e->ncand = 1;
		t->ncands++;
		return &e->c0;
	}
	if (e->ncand < t->opts.max_candidates) {
		unsigned need = e->ncand; /* extra slots needed after adding one */
		if (need > e->extra_cap) {
			unsigned ncap = e->extra_cap ? e->extra_cap * 2u : 1u;
			if (ncap > t->opts.max_candidates - 1)
				ncap = t->opts.max_candidates - 1;
			cand *nx = realloc(e->extra, ncap * sizeof(*nx));
			if (!nx)
				return NULL;
			e->extra = nx;
			e->extra_cap = (uint8_t)ncap;
		}
		t->ncands++;
		return cand_at(e, e->ncand++);
	}
	/* Full: the newcomer replaces the weakest candidate and starts from one
	 * sighting, so a flood of one-off names cannot push out a popular one. */
	cand *weak = cand_at(e, 0);
	for (unsigned i = 1; i < e->ncand; i++)
		if (better(&t->opts, weak, cand_at(e, i)))
			weak = cand_at(e, i);
	name_unref(t, weak->name);
	weak->name = NULL;
	return weak;
}

/* Adds name to e as a new candidate with the statistics of init, within the
 * per-address name budget (the weakest candidates make room). 0; -E2BIG when
 * the name alone exceeds the budget (nothing changed); -ENOMEM. */
static int add_cand(rv_table *t, entry *e, const char *name, size_t len, cand init)
{
	if (len > t->opts.name_budget)
		return -E2BIG;
	make_room(t, e, len);
	iname *n = name_intern_len(t, name, len);
	if (!n)
		return -ENOMEM;
	cand *c = cand_slot(t, e);
	if (!c) {
		name_unref(t, n);
		return -ENOMEM;
	}
	*c = init;
	c->name = n;
	return 0;
}

/* ---- API ---- */

void rv_table_set_scoring(rv_table *t, const rv_table_opts *opts)
{
	/* Scores are computed when compared, from each candidate's stored
	 * frequency and times: new weights apply from the next comparison, and
	 * nothing stored has to be rewritten. */
	t->opts.half_life_s = opts->half_life_s ? opts->half_life_s : 86400;
	t->opts.depth_weight = opts->depth_weight;
	t->opts.txt_refresh_s = opts->txt_refresh_s;
	t->opts.txt_refresh_ratio = opts->txt_refresh_ratio;
	t->opts.name_budget = opts->name_budget ? opts->name_budget : RV_TABLE_NAME_BUDGET;
	t->depth_factor = exp2(t->opts.depth_weight);
}

rv_table *rv_table_new(const rv_table_opts *opts)
{
	rv_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->opts = *opts;
	if (t->opts.max_candidates == 0)
		t->opts.max_candidates = 1;
	if (t->opts.max_candidates > 64)
		t->opts.max_candidates = 64;
	if (t->opts.max_addresses == 0)
		t->opts.max_addresses = 1;
	if (t->opts.half_life_s == 0)
		t->opts.half_life_s = 86400;
	if (t->opts.name_budget == 0)
		t->opts.name_budget = RV_TABLE_NAME_BUDGET;
	t->depth_factor = exp2(t->opts.depth_weight);
	/* 80 % for addresses seen more than once, as segmented LRU caches do. */
	t->protected_max = t->opts.max_addresses - t->opts.max_addresses / 5;
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->names.nbuckets = 1024;
	t->names.buckets = calloc(t->names.nbuckets, sizeof(*t->names.buckets));
	if (!t->buckets || !t->names.buckets) {
		free(t->buckets);
		free(t->names.buckets);
		free(t);
		return NULL;
	}
	/* The seed only needs to be unpredictable to senders of traffic; a short read
	 * leaves part of it zero, which is still a valid (if weaker) seed. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed ^= (uint64_t)(uintptr_t)t;
	return t;
}

void rv_table_free(rv_table **tp)
{
	if (!tp || !*tp)
		return;
	rv_table *t = *tp;
	/* Everything goes: no reference counting, no unlinking. Every interned
	 * name is in the names index, and every entry in a slab. */
	for (int k = 0; k < 2; k++)
		for (entry *e = t->lru[k].head; e; e = e->lru_next)
			free(e->extra);
	for (size_t i = 0; i < t->names.nbuckets; i++) {
		iname *p = t->names.buckets[i];
		while (p) {
			iname *next = p->next;
			free(p);
			p = next;
		}
	}
	while (t->slabs) {
		slab *s = t->slabs;
		t->slabs = s->next;
		ASAN_UNPOISON_MEMORY_REGION(s->e, sizeof(s->e));
		free(s);
	}
	free(t->buckets);
	free(t->names.buckets);
	free(t);
	*tp = NULL;
}

/* rv_table_score with exp2 of the depth bonus given (depth_factor). */
static double score_with(const rv_table_opts *o, const rv_candidate *c, int64_t now,
		double depth_factor)
{
	double idle = now > c->last ? (double)(now - c->last) : 0.0;
	double h = o->half_life_s ? (double)o->half_life_s : 86400.0;
	/* exp2(0) is exactly 1: every change is scored as of its last sighting
	 * (idle 0), and libm calls were a tenth of the acknowledgement path
	 * (callgrind). */
	return capped_freq(c->freq, c->clients) * (idle == 0.0 ? 1.0 : exp2(-idle / h)) *
	       depth_factor;
}

double rv_table_score(const rv_table_opts *o, const rv_candidate *c, int64_t now)
{
	double bonus = depth_bonus(o, c->depth);

	return score_with(o, c, now, bonus == 0.0 ? 1.0 : exp2(bonus));
}

int rv_table_observe(rv_table *t, const rv_addr *addr, const char *name, unsigned depth,
		uint32_t ttl, int64_t now)
{
	return rv_table_observe_from(t, addr, name, depth, ttl, now, NULL);
}

int rv_table_observe_from(rv_table *t, const rv_addr *addr, const char *name, unsigned depth,
		uint32_t ttl, int64_t now, const rv_addr *client)
{
	size_t nfull = 0;
	int rc = rv_table_observe_addrs(t, addr, 1, name, depth, ttl, now, client, &nfull);

	return rc < 0 ? rc : (int)(rc > 0);
}

/* The client's bit in a candidate's 16-bit set of clients (see capped_freq). */
static uint16_t client_bit(const rv_table *t, const rv_addr *client)
{
	if (!client)
		return 0;
	return (uint16_t)(1u << (XXH3_64bits_withSeed(client->bytes, sizeof(client->bytes),
				t->seed ^ 0x9e3779b97f4a7c15ull ^ client->family) & 15));
}

static int observe_one(rv_table *t, const rv_addr *addr, uint32_t ah, const char *name,
		size_t name_len, unsigned depth, uint32_t ttl, uint32_t ts, uint16_t cbit);

void rv_table_prefetch(rv_table *t, const rv_addr *addrs, size_t n)
{
	entry *const *b = t->buckets;
	size_t mask = t->nbuckets - 1;
	unsigned head = t->pf_head, pending = head - t->pf_tail;
	struct pf *p = &t->pf[head % PF_RING];

	if (n == 0)
		return;
	if (pending == PF_RING) {
		t->pf_tail++; /* never observed: the caller broke the contract; forget it */
		pending--;
	}
	t->pf_head = head + 1;
	p->addrs = addrs;
	p->n = n < PF_ADDRS ? n : PF_ADDRS;
	p->first = addrs[0];
	for (size_t i = 0; i < p->n; i++) {
		p->h[i] = addr_hash(t, &addrs[i]);
		__builtin_prefetch(&b[p->h[i] & mask]);
	}
	/* The one announced before: its index slots have had a frame's time to
	 * arrive; fetch the entries they point at (104 bytes: two lines). */
	if (pending >= 1) {
		const struct pf *q = &t->pf[(head - 1) % PF_RING];

		for (size_t i = 0; i < q->n; i++) {
			const entry *e = b[q->h[i] & mask];

			__builtin_prefetch(e);
			__builtin_prefetch((const char *)e + 64);
		}
	}
	/* The one before that: what observe will touch through the entry, its
	 * best candidate's name (compared, referenced) and its LRU neighbours
	 * (relinked). Prefetching NULL is harmless. */
	if (pending >= 2) {
		const struct pf *q = &t->pf[(head - 2) % PF_RING];

		for (size_t i = 0; i < q->n; i++) {
			const entry *e = b[q->h[i] & mask];

			if (e != NULL) {
				__builtin_prefetch(e->c0.name, 1);
				__builtin_prefetch(e->lru_prev, 1);
				__builtin_prefetch(e->lru_next, 1);
			}
		}
	}
}

int rv_table_observe_addrs(rv_table *t, const rv_addr *addrs, size_t n, const char *name,
		unsigned depth, uint32_t ttl, int64_t now, const rv_addr *client,
		size_t *nfull)
{
	/* What the addresses share is worked out once (per answer, not per
	 * address): the time, the client's bit, the name's length. */
	uint32_t ts = clamp_time(now);
	uint16_t cbit = client_bit(t, client);
	size_t name_len = strlen(name);
	int queued = 0, rc = 0;
	const struct pf *p = NULL;

	*nfull = 0;
	if (n == 0)
		return 0;
	/* Announced (rv_table_prefetch): take its hashes. */
	if (t->pf_head != t->pf_tail) {
		p = &t->pf[t->pf_tail % PF_RING];
		if (p->addrs == addrs && p->n == (n < PF_ADDRS ? n : PF_ADDRS) &&
		    rv_addr_equal(&p->first, &addrs[0])) {
			t->pf_tail++;
		} else {
			/* Not what was announced next: the caller is not following
			 * the contract, so none of the pending hints is trusted. */
			t->pf_tail = t->pf_head;
			p = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t ah = p != NULL && i < p->n ? p->h[i] : addr_hash(t, &addrs[i]);
		int r = observe_one(t, &addrs[i], ah, name, name_len, depth, ttl, ts, cbit);

		if (r < 0) {
			(*nfull)++;
			rc = r;
		} else {
			queued += r;
		}
	}
	return rc < 0 ? rc : queued;
}

static int observe_one(rv_table *t, const rv_addr *addr, uint32_t ah, const char *name,
		size_t name_len, unsigned depth, uint32_t ttl, uint32_t ts, uint16_t cbit)
{
	entry *e = find_h(t, addr, ah);
	if (!e) {
		e = entry_new(t, addr, ah);
		if (!e)
			return -ENOMEM;
	} else {
		touch(t, e);
	}

	const cand *before = best_of(&t->opts, e);
	/* Held so the pointer stays unique even if its candidate is replaced. */
	iname *best_before = before ? name_ref(before->name) : NULL;
	cand *c = NULL;
	for (unsigned i = 0; i < e->ncand; i++) {
		if (strcmp(cand_at(e, i)->name->s, name) == 0) {
			c = cand_at(e, i);
			break;
		}
	}
	double h = (double)t->opts.half_life_s;
	if (!c) {
		int rc = add_cand(t, e, name, name_len, (cand){.first = ts, .last = ts, .count = 1,
				.freq = 1.0f, .ttl = ttl, .clients = cbit,
				.depth = (uint8_t)(depth > 255 ? 255 : depth)});
		if (rc == -ENOMEM)
			goto nomem;
		if (rc < 0) {
			/* Cannot happen with the default budget (it holds any name). */
			name_unref(t, best_before);
			if (e->ncand == 0)
				drop_entry(t, e);
			return 0;
		}
	} else {
		if (ts == c->last) {
			/* Same second: no decay (exp2(0) = 1, without the call). */
			c->freq = (float)((double)c->freq + 1.0);
			c->ttl = ttl;
		} else if (ts > c->last) {
			c->freq = (float)((double)c->freq * exp2(-(double)(ts - c->last) / h) + 1.0);
			c->last = ts;
			c->ttl = ttl;
		} else {
			/* dnstap frames arrive out of order (one queue per named worker):
			 * credit the sighting decayed to the candidate's current `last`. */
			c->freq = (float)((double)c->freq + exp2(-(double)(c->last - ts) / h));
			if (ts < c->first)
				c->first = ts;
		}
		if (c->count < UINT32_MAX)
			c->count++;
		c->clients |= cbit;
		if (depth > c->depth)
			c->depth = (uint8_t)(depth > 255 ? 255 : depth);
	}

	const cand *after = best_of(&t->opts, e);
	if (best_before && after->name != best_before)
		t->counters.changed++;
	name_unref(t, best_before);
	if (!(e->flags & F_DIRTY) && needs_write_best(t, e, after)) {
		if (queue_entry(t, e, false) < 0)
			return -ENOMEM;
		return 1;
	}
	return 0;
nomem:
	name_unref(t, best_before);
	/* Never leave an entry without candidates behind. */
	if (e->ncand == 0)
		drop_entry(t, e);
	return -ENOMEM;
}

int rv_table_reserve(rv_table *t, size_t n)
{
	if (n > t->opts.max_addresses)
		n = t->opts.max_addresses;
	size_t want = 1024;
	while (want < n && want < ((size_t)1 << 40))
		want *= 2;
	if (want > t->nbuckets && resize(t, want) < 0)
		return -ENOMEM;
	if (want > t->names.nbuckets && names_resize(&t->names, want) < 0)
		return -ENOMEM;
	return 0;
}

size_t rv_table_size(const rv_table *t)
{
	return t->size;
}

void rv_table_get_counters(const rv_table *t, rv_table_counters *out)
{
	*out = t->counters;
}

size_t rv_table_names(const rv_table *t, size_t *bytes)
{
	if (bytes)
		*bytes = t->names.bytes;
	return t->names.count;
}

/* out <- e, whose best candidate is b. */
static void fill_change(const rv_table *t, const entry *e, const cand *b, rv_change *out)
{
	memset(out, 0, offsetof(rv_change, name));
	out->addr = e->addr;
	out->absent = (e->flags & F_ABSENT) != 0;
	out->hot_move = false;
	out->meta_only = e->committed == b->name && !(e->flags & F_ABSENT);
	/* Interned names are < RV_NAME_MAX (the parser bounds them); memcpy is
	 * measurably cheaper than snprintf on the ingest path. */
	size_t len = strnlen(b->name->s, sizeof(out->name) - 1);
	memcpy(out->name, b->name->s, len);
	out->name[len] = '\0';
	out->first = b->first;
	out->last = b->last;
	out->count = b->count;
	out->depth = b->depth;
	rv_candidate rc = {.freq = b->freq, .last = b->last, .depth = b->depth,
			   .clients = sketch_clients(b->clients)};
	/* Score as of the last sighting: deterministic, independent of write time.
	 * The bonus is 0 or depth_weight, whose exp2 the table keeps. */
	out->score = score_with(&t->opts, &rc, b->last,
			depth_bonus(&t->opts, b->depth) == 0.0 ? 1.0 : t->depth_factor);
	memset(out->country, 0, sizeof(out->country));
}

void rv_table_set_zone_known(rv_table *t, bool known)
{
	t->zone_known = known;
}

void rv_table_set_listener(rv_table *t, const rv_table_listener *l, void *arg)
{
	if (l)
		t->listener = *l;
	else
		memset(&t->listener, 0, sizeof(t->listener));
	t->listener_arg = arg;
}

int rv_table_take(rv_table *t, const rv_addr *addr, rv_change *out)
{
	entry *e = find(t, addr);
	if (!e)
		return -ENOENT; /* evicted or expired: its removal was queued if needed */
	e->flags &= (uint8_t)~F_DIRTY;
	const cand *b = best_of(&t->opts, e);
	if (!needs_write_best(t, e, b))
		return -EALREADY; /* flipped back to what the RPZ holds */
	fill_change(t, e, b, out);
	e->flags |= F_POPPED;
	return 0;
}

int rv_table_describe(const rv_table *t, const rv_addr *addr, rv_change *out)
{
	const entry *e = find(t, addr);
	if (!e)
		return -ENOENT;
	const cand *b = best_of(&t->opts, e);
	if (!b)
		return -ENOENT;
	fill_change(t, e, b, out);
	out->absent = false;
	return 0;
}

int rv_table_take_removal(rv_table *t, const rv_addr *addr)
{
	entry *e = find(t, addr);
	if (e) {
		/* Seen again since: the entry's own write replaces the records (a
		 * full replace: they are there). */
		e->flags &= (uint8_t)~F_ABSENT;
		if (needs_write(t, e))
			(void)queue_entry(t, e, true);
		return -EEXIST;
	}
	return 0;
}

void rv_table_committed(rv_table *t, const rv_change *c)
{
	if (c->remove)
		return;
	entry *e = find(t, &c->addr);
	if (!e)
		return; /* evicted while in flight; its removal is queued */
	e->flags &= (uint8_t)~F_ABSENT;
	/* Nearly always the best name still, whose interned copy is at hand:
	 * the same pointer name_intern() would find, without hashing the text. */
	const cand *b = best_of(&t->opts, e);
	iname *n = b && strcmp(b->name->s, c->name) == 0 ? name_ref(b->name) : name_intern(t, c->name);
	name_unref(t, e->committed);
	e->committed = n; /* NULL on ENOMEM: "unknown", written again later */
	e->committed_count = c->count > UINT32_MAX ? UINT32_MAX : (uint32_t)c->count;
	e->committed_last = clamp_time(c->last);
	/* Seen a better name while the UPDATE was in flight: write again. (b is
	 * still the best: only what the zone holds changed.) */
	if (!(e->flags & F_DIRTY) && needs_write_best(t, e, b))
		(void)queue_entry(t, e, false);
}

void rv_table_requeue(rv_table *t, const rv_change *c)
{
	entry *e = find(t, &c->addr);
	/* A failed UPDATE (a timeout above all) may still have been applied. */
	if (e)
		e->flags &= (uint8_t)~F_ABSENT;
	if (c->remove) {
		if (!e)
			(void)tell_remove(t, &c->addr, true);
		return;
	}
	if (e && needs_write(t, e))
		(void)queue_entry(t, e, true);
}

void rv_table_rejected(rv_table *t, const rv_change *c)
{
	entry *e = find(t, &c->addr);
	if (!e || c->remove)
		return;
	/* Pretend it is written so it is not retried; a new best name (a different
	 * interned pointer) makes needs_write() true again. */
	iname *n = name_intern(t, c->name);
	name_unref(t, e->committed);
	e->committed = n;
	e->committed_count = UINT32_MAX;
	e->committed_last = UINT32_MAX;
}

const char *rv_table_best(const rv_table *t, const rv_addr *addr)
{
	const entry *e = find(t, addr);
	if (!e)
		return NULL;
	const cand *b = best_of(&t->opts, e);
	return b ? b->name->s : NULL;
}

size_t rv_table_expire(rv_table *t, int64_t cutoff)
{
	size_t n = 0;
	uint32_t cut = clamp_time(cutoff);
	/* The LRU tail is the least recently *observed*; observation order follows
	 * dnstap time closely (frames are at most ~1 s out of order), so stopping at
	 * the first fresh entry is accurate to within that. */
	for (int k = 0; k < 2; k++) {
		while (t->lru[k].tail && entry_last(t->lru[k].tail) < cut) {
			drop_entry(t, t->lru[k].tail);
			n++;
		}
	}
	t->counters.expired += n;
	return n;
}

/* ---- persistence and reconciliation ---- */

static void to_public(const cand *c, rv_candidate *out)
{
	*out = (rv_candidate){.name = c->name->s, .first = c->first, .last = c->last,
			      .count = c->count, .freq = c->freq, .depth = c->depth,
			      .ttl = c->ttl, .clients = sketch_clients(c->clients)};
}

int rv_table_foreach(const rv_table *t, rv_table_visit_fn fn, void *arg)
{
	rv_candidate cands[64];
	/* Probation first, then protected: restoring in this order puts each
	 * address back in its segment in the same recency order. */
	for (int k = 0; k < 2; k++)
	for (const entry *e = t->lru[k].tail; e; e = e->lru_prev) {
		for (unsigned i = 0; i < e->ncand; i++)
			to_public(cand_at_c(e, i), &cands[i]);
		int rc = fn(arg, &e->addr, cands, e->ncand);
		if (rc)
			return rc;
	}
	return 0;
}

int rv_table_inspect(const rv_table *t, const rv_addr *addr, int64_t now, rv_table_view *out)
{
	const entry *e = find(t, addr);
	const cand *b;

	if (!e)
		return -ENOENT;
	b = best_of(&t->opts, e);
	out->ncands = e->ncand;
	out->best = 0;
	for (unsigned i = 0; i < e->ncand && i < RV_ARRAY_LEN(out->cands); i++) {
		const cand *c = cand_at_c(e, i);

		to_public(c, &out->cands[i]);
		out->score[i] = rv_table_score(&t->opts, &out->cands[i], now);
		if (c == b)
			out->best = (int)i;
	}
	out->committed = e->committed ? e->committed->s : NULL;
	out->pending = (e->flags & F_DIRTY) != 0;
	out->handed = (e->flags & F_POPPED) != 0;
	out->zone_absent = (e->flags & F_ABSENT) != 0;
	out->seen_again = (e->flags & F_PROTECTED) != 0;
	return 0;
}

int rv_table_scan(const rv_table *t, size_t *pos, size_t max_buckets, rv_table_visit_fn fn,
		void *arg)
{
	rv_candidate cands[64];
	size_t end = *pos + max_buckets;

	if (end > t->nbuckets || end < *pos)
		end = t->nbuckets;
	for (; *pos < end; (*pos)++)
		for (const entry *e = t->buckets[*pos]; e; e = e->hnext) {
			for (unsigned i = 0; i < e->ncand; i++)
				to_public(cand_at_c(e, i), &cands[i]);
			int rc = fn(arg, &e->addr, cands, e->ncand);
			if (rc)
				return rc;
		}
	return *pos < t->nbuckets ? 1 : 0;
}

int rv_table_restore(rv_table *t, const rv_addr *addr, const rv_candidate *cands, unsigned n)
{
	if (n == 0 || (addr->family != AF_INET && addr->family != AF_INET6))
		return -EINVAL;
	uint32_t h = addr_hash(t, addr);
	entry *e = find_h(t, addr, h);
	if (e)
		drop_entry(t, e);
	e = entry_new(t, addr, h);
	if (!e)
		return -ENOMEM;
	e->flags &= (uint8_t)~F_ABSENT; /* restored state: its records may be in the zone */
	for (unsigned i = 0; i < n; i++) {
		if (!cands[i].name || !cands[i].name[0]) {
			drop_entry(t, e);
			return -EINVAL;
		}
		int rc = add_cand(t, e, cands[i].name, strlen(cands[i].name), (cand){
			.first = clamp_time(cands[i].first), .last = clamp_time(cands[i].last),
			.count = cands[i].count > UINT32_MAX ? UINT32_MAX : (uint32_t)cands[i].count,
			.freq = (float)cands[i].freq, .ttl = cands[i].ttl,
			/* Not in the snapshot: what was learned before counts as widely
			 * used (the cap does not bind until it decays). */
			.clients = 0xffff,
			.depth = (uint8_t)(cands[i].depth > 255 ? 255 : cands[i].depth)});
		if (rc == -ENOMEM)
			goto nomem;
	}
	if (e->ncand == 0) {
		drop_entry(t, e);
		return -EINVAL;
	}
	uint64_t seen = 0;
	for (unsigned i = 0; i < e->ncand; i++)
		seen += cand_at(e, i)->count;
	if (seen >= 2)
		promote(t, e);
	return 0;
nomem:
	drop_entry(t, e);
	return -ENOMEM;
}

/* The zone's PTR target and TXT statistics for a known address become (or
 * strengthen) a candidate: count and first/last span the union, the frequency
 * is the larger of the two. 0 or -ENOMEM. */
static int merge_zone_record(rv_table *t, entry *e, const char *ptr_name,
		const rv_candidate *meta)
{
	cand *c = NULL;
	for (unsigned i = 0; i < e->ncand; i++) {
		if (strcmp(cand_at(e, i)->name->s, ptr_name) == 0) {
			c = cand_at(e, i);
			break;
		}
	}
	if (!meta && c)
		return 0; /* nothing to add: no statistics in the zone */
	uint32_t first = meta ? clamp_time(meta->first) : 0, last = meta ? clamp_time(meta->last) : 0;
	uint32_t count = meta ? (meta->count > UINT32_MAX ? UINT32_MAX : (uint32_t)meta->count) : 1;
	float freq = (float)(meta && meta->freq >= 1.0 ? meta->freq : 1.0);
	if (!c) {
		int rc = add_cand(t, e, ptr_name, strlen(ptr_name), (cand){.first = first, .last = last,
				.count = count, .freq = freq, .clients = 0xffff,
				.depth = (uint8_t)(meta && meta->depth < 255 ? meta->depth : 0)});
		return rc == -E2BIG ? 0 : rc;
	}
	if (first < c->first)
		c->first = first;
	if (last > c->last)
		c->last = last;
	if (count > c->count)
		c->count = count;
	if (freq > c->freq)
		c->freq = freq;
	c->clients = 0xffff; /* history from before: widely used, as a restore */
	return 0;
}

void rv_table_reconcile_begin(rv_table *t)
{
	for (int k = 0; k < 2; k++)
		for (entry *e = t->lru[k].head; e; e = e->lru_next)
			e->flags &= (uint8_t)~F_RECON_SEEN;
}

int rv_table_reconcile_record(rv_table *t, const rv_addr *addr, const char *ptr_name,
		const rv_candidate *meta, bool adopt, int64_t now)
{
	entry *e = find(t, addr);
	if (!e) {
		if (!adopt) {
			if (tell_remove(t, addr, false) < 0)
				return -ENOMEM;
			return RV_RECONCILE_REMOVE;
		}
		rv_candidate c = {.name = ptr_name, .first = now, .last = now, .count = 1,
				  .freq = 1.0, .depth = 0, .ttl = 0};
		if (meta) {
			c.first = meta->first;
			c.last = meta->last;
			c.count = meta->count ? meta->count : 1;
			c.depth = meta->depth;
			/* The TXT's score is the frequency as of last (times the
			 * depth bonus, ignored here); without one, one sighting. */
			c.freq = meta->freq >= 1.0 ? meta->freq : 1.0;
		}
		int rc = rv_table_restore(t, addr, &c, 1);
		if (rc < 0)
			return rc;
		e = find(t, addr);
		e->flags &= (uint8_t)~F_ABSENT;
		e->committed = name_intern(t, ptr_name);
		e->committed_count = (uint32_t)(c.count > UINT32_MAX ? UINT32_MAX : c.count);
		e->committed_last = clamp_time(c.last);
		e->flags |= F_RECON_SEEN;
		return RV_RECONCILE_ADOPTED;
	}
	e->flags |= F_RECON_SEEN;
	e->flags &= (uint8_t)~F_ABSENT;
	/* At start the zone may hold history the table lacks (no snapshot, or an
	 * older one): sightings learned while the zone was still unread must not
	 * replace it, so the zone's record joins the table's knowledge first. */
	if (adopt && merge_zone_record(t, e, ptr_name, meta) < 0)
		return -ENOMEM;
	const cand *b = best_of(&t->opts, e);
	if (b && strcmp(b->name->s, ptr_name) == 0) {
		name_unref(t, e->committed);
		e->committed = name_ref(b->name);
		if (meta) {
			e->committed_count = (uint32_t)(meta->count > UINT32_MAX ? UINT32_MAX : meta->count);
			e->committed_last = clamp_time(meta->last);
		} else {
			/* TXT missing or not ours: force a rewrite of the metadata. */
			e->committed_count = 0;
			e->committed_last = 0;
		}
		if (needs_write(t, e)) {
			if (queue_entry(t, e, false) < 0)
				return -ENOMEM;
			return RV_RECONCILE_REWRITE;
		}
		return RV_RECONCILE_MATCH;
	}
	/* The zone holds another name: remember that (so the write is a replace) and
	 * let the table win. */
	name_unref(t, e->committed);
	e->committed = name_intern(t, ptr_name);
	if (queue_entry(t, e, false) < 0)
		return -ENOMEM;
	return RV_RECONCILE_REWRITE;
}

size_t rv_table_reconcile_end(rv_table *t)
{
	size_t missing = 0;
	for (int k = 0; k < 2; k++)
	for (entry *e = t->lru[k].head; e; e = e->lru_next) {
		if (e->flags & F_RECON_SEEN)
			continue;
		name_unref(t, e->committed);
		e->committed = NULL;
		if (needs_write(t, e) && queue_entry(t, e, false) == 0)
			missing++;
	}
	return missing;
}

/* ---- metrics ---- */

static uint64_t m_size(const void *t) { return ((const rv_table *)t)->size; }
static uint64_t m_added(const void *t) { return ((const rv_table *)t)->counters.added; }
static uint64_t m_changed(const void *t) { return ((const rv_table *)t)->counters.changed; }
static uint64_t m_evicted(const void *t) { return ((const rv_table *)t)->counters.evicted; }
static uint64_t m_expired(const void *t) { return ((const rv_table *)t)->counters.expired; }
static uint64_t m_names(const void *t) { return ((const rv_table *)t)->names.count; }
static uint64_t m_cands(const void *t) { return ((const rv_table *)t)->ncands; }
static uint64_t m_name_bytes(const void *t) { return ((const rv_table *)t)->names.bytes; }

void rv_table_register_stats(const rv_table *t)
{
	(void)rv_stats_register(RV_GAUGE, "size", "rearview_table_addresses",
		"addresses in the table", m_size, t);
	(void)rv_stats_register(RV_COUNTER, "new", "rearview_table_addresses_added_total",
		"addresses added to the table", m_added, t);
	(void)rv_stats_register(RV_COUNTER, "changed", "rearview_table_best_name_changes_total",
		"best-name changes of known addresses", m_changed, t);
	(void)rv_stats_register(RV_COUNTER, "evicted", "rearview_table_evictions_total",
		"addresses evicted by the max-addresses cap", m_evicted, t);
	(void)rv_stats_register(RV_COUNTER, "expired", "rearview_table_expiries_total",
		"addresses removed after max-idle", m_expired, t);
	(void)rv_stats_register(RV_GAUGE, "candidates", "rearview_table_candidates",
		"candidate names of every address (an address-name pair each)", m_cands, t);
	(void)rv_stats_register(RV_GAUGE, "names", "rearview_table_names",
		"distinct candidate names held (interned)", m_names, t);
	(void)rv_stats_register(RV_GAUGE, "name_bytes", "rearview_table_name_bytes",
		"bytes of candidate names held", m_name_bytes, t);
}
