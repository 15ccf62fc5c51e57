/*
 * table.c - address -> candidate names, best-name choice, RPZ write queue.
 *
 * Layout: a chained hash table keyed by rv_addr (xxHash3 with a random seed, so
 * hostile traffic cannot aim for one bucket), an LRU list for eviction under
 * max_addresses, and a FIFO of addresses whose best name differs from what the
 * RPZ holds. All three are intrusive lists in the entry: no per-operation
 * allocation beyond the entry and its names.
 *
 * Best name (first version): the candidate seen most often for the address; ties
 * go to the most recently seen, then to the lexicographically smaller name so the
 * choice is deterministic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "table.h"

typedef struct candidate {
	char *name;
	int64_t first;
	int64_t last;
	uint64_t count;
	unsigned depth;
} candidate;

typedef struct entry entry;
struct entry {
	rv_addr addr;
	entry *hnext;               /* hash chain */
	entry *lru_prev, *lru_next; /* most recently seen at the head */
	entry *q_prev, *q_next;     /* write queue, oldest at the head */
	bool queued;
	unsigned ncand;
	char *committed;            /* name the RPZ holds (BIND acknowledged), or NULL */
	candidate cand[];           /* max_candidates slots */
};

struct rv_table {
	rv_table_opts opts;
	uint64_t seed;
	entry **buckets;
	size_t nbuckets;            /* power of two */
	size_t size;
	entry *lru_head, *lru_tail;
	entry *q_head, *q_tail;
	size_t queued;
};

static size_t bucket_of(const rv_table *t, const rv_addr *a)
{
	return (size_t)XXH3_64bits_withSeed(a, sizeof(*a), t->seed) & (t->nbuckets - 1);
}

static entry *find(const rv_table *t, const rv_addr *a)
{
	for (entry *e = t->buckets[bucket_of(t, a)]; e; e = e->hnext)
		if (rv_addr_equal(&e->addr, a))
			return e;
	return NULL;
}

static int grow(rv_table *t)
{
	size_t n = t->nbuckets * 2;
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
			size_t b = bucket_of(t, &e->addr);
			e->hnext = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(old);
	return 0;
}

/* ---- intrusive lists ---- */

static void lru_unlink(rv_table *t, entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_head(rv_table *t, entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = e;
	else
		t->lru_tail = e;
	t->lru_head = e;
}

static void queue_unlink(rv_table *t, entry *e)
{
	if (!e->queued)
		return;
	if (e->q_prev)
		e->q_prev->q_next = e->q_next;
	else
		t->q_head = e->q_next;
	if (e->q_next)
		e->q_next->q_prev = e->q_prev;
	else
		t->q_tail = e->q_prev;
	e->q_prev = e->q_next = NULL;
	e->queued = false;
	t->queued--;
}

static void queue_push(rv_table *t, entry *e, bool front)
{
	if (e->queued)
		return;
	if (front) {
		e->q_prev = NULL;
		e->q_next = t->q_head;
		if (t->q_head)
			t->q_head->q_prev = e;
		else
			t->q_tail = e;
		t->q_head = e;
	} else {
		e->q_next = NULL;
		e->q_prev = t->q_tail;
		if (t->q_tail)
			t->q_tail->q_next = e;
		else
			t->q_head = e;
		t->q_tail = e;
	}
	e->queued = true;
	t->queued++;
}

/* ---- candidates ---- */

static bool better(const candidate *a, const candidate *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	if (a->last != b->last)
		return a->last > b->last;
	return strcmp(a->name, b->name) < 0;
}

static const candidate *best_of(const entry *e)
{
	const candidate *best = NULL;
	for (unsigned i = 0; i < e->ncand; i++)
		if (!best || better(&e->cand[i], best))
			best = &e->cand[i];
	return best;
}

static bool needs_write(const entry *e)
{
	const candidate *b = best_of(e);
	if (!b)
		return false;
	return !e->committed || strcmp(e->committed, b->name) != 0;
}

static void entry_free(entry *e)
{
	for (unsigned i = 0; i < e->ncand; i++)
		free(e->cand[i].name);
	free(e->committed);
	free(e);
}

static void unlink_hash(rv_table *t, entry *e)
{
	entry **pp = &t->buckets[bucket_of(t, &e->addr)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

static void evict_one(rv_table *t)
{
	entry *victim = t->lru_tail;
	if (!victim)
		return;
	lru_unlink(t, victim);
	queue_unlink(t, victim);
	unlink_hash(t, victim);
	t->size--;
	entry_free(victim);
}

/* ---- API ---- */

rv_table *rv_table_new(const rv_table_opts *opts)
{
	rv_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->opts = *opts;
	if (t->opts.max_candidates == 0)
		t->opts.max_candidates = 1;
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
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
	entry *e = t->lru_head;
	while (e) {
		entry *next = e->lru_next;
		entry_free(e);
		e = next;
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

int rv_table_observe(rv_table *t, const rv_addr *addr, const char *name, unsigned depth,
		int64_t now)
{
	entry *e = find(t, addr);
	if (!e) {
		if (t->size >= t->opts.max_addresses)
			evict_one(t);
		if (t->size + 1 > t->nbuckets && grow(t) < 0)
			return -ENOMEM;
		e = calloc(1, sizeof(*e) + t->opts.max_candidates * sizeof(candidate));
		if (!e)
			return -ENOMEM;
		e->addr = *addr;
		size_t b = bucket_of(t, addr);
		e->hnext = t->buckets[b];
		t->buckets[b] = e;
		t->size++;
	} else {
		lru_unlink(t, e);
	}
	lru_push_head(t, e);

	candidate *c = NULL;
	for (unsigned i = 0; i < e->ncand; i++) {
		if (strcmp(e->cand[i].name, name) == 0) {
			c = &e->cand[i];
			break;
		}
	}
	if (!c) {
		char *copy = strdup(name);
		if (!copy)
			return -ENOMEM;
		if (e->ncand < t->opts.max_candidates) {
			c = &e->cand[e->ncand++];
		} else {
			/* Replace the weakest candidate; the newcomer starts from one
			 * sighting and must earn its place like any other. */
			c = &e->cand[0];
			for (unsigned i = 1; i < e->ncand; i++)
				if (better(c, &e->cand[i]))
					c = &e->cand[i];
			free(c->name);
		}
		*c = (candidate){.name = copy, .first = now, .last = now, .count = 0, .depth = depth};
	}
	c->count++;
	if (now > c->last)
		c->last = now;
	if (now < c->first)
		c->first = now; /* dnstap frames arrive out of order (one queue per worker) */
	if (depth > c->depth)
		c->depth = depth;

	if (needs_write(e) && !e->queued) {
		queue_push(t, e, false);
		return 1;
	}
	return 0;
}

size_t rv_table_size(const rv_table *t)
{
	return t->size;
}

size_t rv_table_queued(const rv_table *t)
{
	return t->queued;
}

static void fill_change(const entry *e, rv_change *out)
{
	const candidate *b = best_of(e);
	memset(out, 0, offsetof(rv_change, name));
	out->addr = e->addr;
	out->remove = false;
	snprintf(out->name, sizeof(out->name), "%s", b->name);
	out->first = b->first;
	out->last = b->last;
	out->count = b->count;
	out->depth = b->depth;
}

int rv_table_pop_queued(rv_table *t, rv_change *out)
{
	while (t->q_head) {
		entry *e = t->q_head;
		queue_unlink(t, e);
		/* The best name may have flipped back to the committed one while queued. */
		if (!needs_write(e))
			continue;
		fill_change(e, out);
		return 0;
	}
	return -ENOENT;
}

void rv_table_committed(rv_table *t, const rv_change *c)
{
	entry *e = find(t, &c->addr);
	if (!e)
		return; /* evicted while in flight */
	char *copy = c->remove ? NULL : strdup(c->name);
	free(e->committed);
	e->committed = copy;
	/* Seen a better name while the UPDATE was in flight: write again. */
	if (needs_write(e))
		queue_push(t, e, false);
}

void rv_table_requeue(rv_table *t, const rv_change *c)
{
	entry *e = find(t, &c->addr);
	if (e && needs_write(e))
		queue_push(t, e, true);
}

const char *rv_table_best(const rv_table *t, const rv_addr *addr)
{
	const entry *e = find(t, addr);
	if (!e)
		return NULL;
	const candidate *b = best_of(e);
	return b ? b->name : NULL;
}
