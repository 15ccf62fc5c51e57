/*
 * outbox.c - pending RPZ changes: a hash index over a doubly linked FIFO.
 *
 * Items are allocated one per pending address; popped or cancelled ones go to
 * a small free list (at most FREE_MAX, the steady-state churn of one read of
 * frames) and the rest back to malloc; the index shrinks back when a backlog
 * drains, so a long BIND outage leaves no high-water mark behind. Each item
 * keeps its hash, so popping never hashes the address again.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
/* XXH3 inlined (the header carries the implementation): the keys are short
 * and fixed-size, and a call into libxxhash cost more than the hash itself
 * (callgrind: ~44 instructions a call, ~700k calls per 100k frames). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "outbox.h"

typedef struct item item;
struct item {
	item *hnext;
	item *prev, *next;
	uint32_t hash;
	rv_addr addr;
	uint8_t kind;
};

struct rv_outbox {
	item **buckets;
	size_t nbuckets;   /* power of two, >= MIN_BUCKETS */
	size_t len;
	item *head, *tail;
	item *free_list;   /* linked through hnext */
	size_t nfree;
	uint64_t seed;
};

/* The index never shrinks below what one read of frames queues (as
 * FREE_MAX): at 256, every drain of such a batch shrank it twice and the next
 * batch grew it back, ~35 instructions a frame of rehashing (callgrind). */
#define MIN_BUCKETS 1024
#define FREE_MAX 1024

/* The family goes into the seed: XXH3 of the 16 address bytes takes its
 * cheaper path for 9..16 bytes (as table.c). */
static uint32_t hash_of(const rv_outbox *ob, const rv_addr *a)
{
	return (uint32_t)XXH3_64bits_withSeed(a->bytes, sizeof(a->bytes), ob->seed ^ a->family);
}

static item **slot_of(const rv_outbox *ob, const rv_addr *a, uint32_t h)
{
	item **pp = &ob->buckets[h & (ob->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || memcmp(&(*pp)->addr, a, sizeof(*a)) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static int rehash(rv_outbox *ob, size_t nb)
{
	item **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	item **old = ob->buckets;
	size_t oldn = ob->nbuckets;
	ob->buckets = b;
	ob->nbuckets = nb;
	for (size_t i = 0; i < oldn; i++) {
		item *it = old[i];
		while (it) {
			item *next = it->hnext;
			size_t k = it->hash & (nb - 1);
			it->hnext = b[k];
			b[k] = it;
			it = next;
		}
	}
	free(old);
	return 0;
}

rv_outbox *rv_outbox_new(void)
{
	rv_outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return NULL;
	ob->nbuckets = MIN_BUCKETS;
	ob->buckets = calloc(ob->nbuckets, sizeof(*ob->buckets));
	if (!ob->buckets) {
		free(ob);
		return NULL;
	}
	/* Addresses come from traffic: an unpredictable seed keeps chains short. */
	if (getrandom(&ob->seed, sizeof(ob->seed), GRND_NONBLOCK) != (ssize_t)sizeof(ob->seed))
		ob->seed ^= (uint64_t)(uintptr_t)ob;
	return ob;
}

void rv_outbox_free(rv_outbox **obp)
{
	if (!obp || !*obp)
		return;
	rv_outbox *ob = *obp;
	item *it = ob->head;
	while (it) {
		item *next = it->next;
		free(it);
		it = next;
	}
	it = ob->free_list;
	while (it) {
		item *next = it->hnext;
		free(it);
		it = next;
	}
	free(ob->buckets);
	free(ob);
	*obp = NULL;
}

static void list_unlink(rv_outbox *ob, item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		ob->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		ob->tail = it->prev;
	it->prev = it->next = NULL;
}

static void list_insert(rv_outbox *ob, item *it, bool front)
{
	if (front) {
		it->prev = NULL;
		it->next = ob->head;
		if (ob->head)
			ob->head->prev = it;
		else
			ob->tail = it;
		ob->head = it;
	} else {
		it->next = NULL;
		it->prev = ob->tail;
		if (ob->tail)
			ob->tail->next = it;
		else
			ob->head = it;
		ob->tail = it;
	}
}

int rv_outbox_push(rv_outbox *ob, const rv_addr *addr, rv_outbox_kind kind, bool front)
{
	uint32_t h = hash_of(ob, addr);
	item **pp = slot_of(ob, addr, h);
	if (*pp) {
		if (kind == RV_OUTBOX_REMOVE)
			(*pp)->kind = (uint8_t)kind;
		if (front && ob->head != *pp) {
			list_unlink(ob, *pp);
			list_insert(ob, *pp, true);
		}
		return 0;
	}
	if (ob->len + 1 > ob->nbuckets) {
		/* A failed grow only lengthens chains. */
		(void)rehash(ob, ob->nbuckets * 2);
		pp = slot_of(ob, addr, h);
	}
	item *it = ob->free_list;
	if (it) {
		ob->free_list = it->hnext;
		ob->nfree--;
	} else if (!(it = malloc(sizeof(*it)))) {
		return -ENOMEM;
	}
	it->hash = h;
	it->addr = *addr;
	it->kind = (uint8_t)kind;
	it->hnext = NULL;
	*pp = it;
	list_insert(ob, it, front);
	ob->len++;
	return 0;
}

static void take(rv_outbox *ob, item **pp)
{
	item *it = *pp;
	*pp = it->hnext;
	list_unlink(ob, it);
	if (ob->nfree < FREE_MAX) {
		it->hnext = ob->free_list;
		ob->free_list = it;
		ob->nfree++;
	} else {
		free(it);
	}
	ob->len--;
	/* Shrink after a drained backlog (hysteresis: a quarter full). */
	if (ob->nbuckets > MIN_BUCKETS && ob->len < ob->nbuckets / 4)
		(void)rehash(ob, ob->nbuckets / 2);
}

bool rv_outbox_cancel_write(rv_outbox *ob, const rv_addr *addr)
{
	item **pp = slot_of(ob, addr, hash_of(ob, addr));
	if (!*pp || (*pp)->kind != RV_OUTBOX_WRITE)
		return false;
	take(ob, pp);
	return true;
}

int rv_outbox_pop(rv_outbox *ob, rv_addr *addr, rv_outbox_kind *kind)
{
	if (!ob->head)
		return -ENOENT;
	item *it = ob->head;
	*addr = it->addr;
	*kind = (rv_outbox_kind)it->kind;
	item **pp = &ob->buckets[it->hash & (ob->nbuckets - 1)];
	while (*pp != it)
		pp = &(*pp)->hnext;
	take(ob, pp);
	return 0;
}

size_t rv_outbox_len(const rv_outbox *ob)
{
	return ob->len;
}

bool rv_outbox_has(const rv_outbox *ob, const rv_addr *addr)
{
	return *slot_of(ob, addr, hash_of(ob, addr)) != NULL;
}

size_t rv_outbox_bytes(const rv_outbox *ob)
{
	return sizeof(*ob) + ob->nbuckets * sizeof(item *) + (ob->len + ob->nfree) * sizeof(item);
}
