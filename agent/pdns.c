/*
 * pdns.c - passive-DNS records of an observation, and their aggregate.
 *
 * The aggregate is a hash table keyed by (sensor, rrname, rrtype, rdata);
 * each entry holds its strings, and the entries live in a few large chunks,
 * so a batch handed to the history writer is freed in a few calls. Sightings
 * of the same record within a flush interval cost one hash and one compare.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xxhash.h>

#include "pdns.h"

const char *rv_rrtype_name(uint16_t rrtype)
{
	switch (rrtype) {
	case RV_RRTYPE_A: return "A";
	case RV_RRTYPE_CNAME: return "CNAME";
	case RV_RRTYPE_AAAA: return "AAAA";
	case RV_RRTYPE_DNAME: return "DNAME";
	default: return NULL;
	}
}

int rv_rrtype_parse(const char *text, uint16_t *rrtype)
{
	static const uint16_t known[] = {RV_RRTYPE_A, RV_RRTYPE_CNAME, RV_RRTYPE_AAAA,
		RV_RRTYPE_DNAME};

	for (size_t i = 0; i < RV_ARRAY_LEN(known); i++) {
		char generic[16];

		snprintf(generic, sizeof(generic), "TYPE%u", known[i]);
		if (strcasecmp(text, rv_rrtype_name(known[i])) == 0 ||
		    strcasecmp(text, generic) == 0) {
			*rrtype = known[i];
			return 0;
		}
	}
	return -EINVAL;
}

size_t rv_pdns_records(const rv_observation *obs, rv_pdns_rec_fn fn, void *arg)
{
	const rv_answer *a = &obs->answer;
	char buf[2][RV_NAME_MAX], dname_owner[RV_NAME_MAX];
	const char *owner = a->qname; /* the chain starts at the question */
	size_t n = 0, cur = 0;

	if (a->wire == NULL)
		return 0;
	/* Each CNAME is owned by the previous one's target (dnsmsg.c walked them
	 * in chain order), so only targets need their text made: half the
	 * names' printing, on the ingest path. */
	for (size_t i = 0; i < a->nlinks; i++) {
		const rv_answer_link *l = &a->links[i];
		char *target = buf[cur];
		const char *own = owner;

		if (l->type != RV_RRTYPE_CNAME) {
			rv_answer_name(a, l->owner, dname_owner);
			own = dname_owner;
		}
		rv_answer_name(a, l->target, target);
		fn(arg, &(rv_pdns_rec){.rrname = own, .rrtype = l->type,
				.rdata = target, .ttl = l->ttl});
		if (l->type == RV_RRTYPE_CNAME) {
			owner = target;
			cur ^= 1;
		}
		n++;
	}
	if (a->naddrs == 0)
		return n;
	/* The addresses' owner ends the chain: the last CNAME's target, or the
	 * question (DNAMEs follow the CNAMEs and do not move it). */
	for (size_t i = 0; i < a->naddrs; i++) {
		const rv_addr *ad = &a->addrs[i];

		fn(arg, &(rv_pdns_rec){.rrname = owner,
				.rrtype = ad->family == AF_INET ? RV_RRTYPE_A : RV_RRTYPE_AAAA,
				.addr = ad, .ttl = a->addr_ttl[i]});
		n++;
	}
	return n;
}

const char *rv_pdns_rec_rdata(const rv_pdns_rec *rec, char *buf)
{
	if (rec->rdata != NULL || rec->addr == NULL)
		return rec->rdata != NULL ? rec->rdata : "";
	return rv_addr_str(rec->addr, buf, RV_ADDR_STRLEN);
}

void rv_pdns_sensor(const rv_observation *obs, const char *fallback, char out[64])
{
	size_t n = 0;

	if (obs->identity == NULL || obs->identity_len == 0) {
		snprintf(out, 64, "%s", fallback);
		return;
	}
	for (size_t i = 0; i < obs->identity_len && n < 63; i++) {
		uint8_t c = obs->identity[i];

		out[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
}

void rv_pdns_local_sensor(char out[64])
{
	out[63] = '\0';
	if (gethostname(out, 63) < 0 || out[0] == '\0')
		snprintf(out, 64, "rearview");
}

/* ------------------------------------------------------------------ aggregate */

/*
 * Layout for the ingest path's sake (perf: cache misses in a chained table
 * were most of the history's cost): an open-addressing index of (hash,
 * entry) slots, probed linearly, so a probe touches no entry until the
 * 64-bit hashes match; entries bump-allocated from large chunks (no malloc
 * per record, one free per chunk, neighbours in memory).
 */
struct entry {
	uint64_t hash;
	rv_pdns_entry e;      /* its strings point into key */
	uint16_t key_len;
	char key[];           /* see rv_pdns_agg_add_span(); an address's text follows */
};

struct slot {
	uint64_t hash;
	struct entry *e;      /* NULL = empty */
};

#define CHUNK_SIZE (256 * 1024)

struct chunk {
	struct chunk *next;
	size_t used;
	alignas(max_align_t) char mem[CHUNK_SIZE];
};

struct rv_pdns_agg {
	struct slot *slots;
	size_t nslots;        /* power of two, at least twice size */
	size_t size;
	size_t max_entries;
	size_t bytes;
	struct chunk *chunks;
};

#define AGG_MIN_SLOTS 1024

rv_pdns_agg *rv_pdns_agg_new(size_t max_entries)
{
	rv_pdns_agg *agg = calloc(1, sizeof(*agg));

	if (agg == NULL)
		return NULL;
	agg->nslots = AGG_MIN_SLOTS;
	agg->slots = calloc(agg->nslots, sizeof(*agg->slots));
	if (agg->slots == NULL) {
		free(agg);
		return NULL;
	}
	agg->max_entries = max_entries;
	agg->bytes = agg->nslots * sizeof(*agg->slots);
	return agg;
}

void rv_pdns_agg_free(rv_pdns_agg **aggp)
{
	rv_pdns_agg *agg;

	if (aggp == NULL || *aggp == NULL)
		return;
	agg = *aggp;
	while (agg->chunks != NULL) {
		struct chunk *next = agg->chunks->next;

		free(agg->chunks);
		agg->chunks = next;
	}
	free(agg->slots);
	free(agg);
	*aggp = NULL;
}

static void *agg_alloc(rv_pdns_agg *agg, size_t n)
{
	struct chunk *c = agg->chunks;
	void *p;

	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (n > CHUNK_SIZE)
		return NULL;
	if (c == NULL || CHUNK_SIZE - c->used < n) {
		c = malloc(sizeof(*c));
		if (c == NULL)
			return NULL;
		c->next = agg->chunks;
		c->used = 0;
		agg->chunks = c;
		agg->bytes += sizeof(*c);
	}
	p = c->mem + c->used;
	c->used += n;
	return p;
}

static void grow(rv_pdns_agg *agg)
{
	size_t n = agg->nslots * 2;
	struct slot *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return; /* fuller index, still correct while size < nslots */
	for (size_t i = 0; i < agg->nslots; i++) {
		size_t j;

		if (agg->slots[i].e == NULL)
			continue;
		for (j = (size_t)agg->slots[i].hash & (n - 1); s[j].e != NULL; j = (j + 1) & (n - 1))
			;
		s[j] = agg->slots[i];
	}
	free(agg->slots);
	agg->bytes += (n - agg->nslots) * sizeof(*s);
	agg->slots = s;
	agg->nslots = n;
}

static int agg_add(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec,
		int64_t first, int64_t last, uint64_t count, struct entry **out)
{
	/* Key: sensor \0 rrname \0 then the rdata: its text and \0 for a name,
	 * or 0x01, the family and 16 address octets for an address (no name's
	 * text starts with a control octet, so the two never collide). The
	 * address's text is made once, when the record is new. */
	size_t sl = strlen(sensor), nl = strlen(rec->rrname), dl, kl, tl = 0;
	char key[64 + 2 * RV_NAME_MAX + 3];
	const rv_addr *ad = rec->addr;
	rv_addr parsed;
	uint64_t hash;
	struct entry *e;
	size_t b;

	if (ad == NULL && rec->rdata != NULL &&
	    (rec->rrtype == RV_RRTYPE_A || rec->rrtype == RV_RRTYPE_AAAA) &&
	    rv_addr_parse(rec->rdata, &parsed) == 0)
		ad = &parsed;
	if (ad == NULL && rec->rdata == NULL)
		return -EINVAL;
	dl = ad != NULL ? 18 : strlen(rec->rdata) + 1;
	kl = sl + 1 + nl + 1 + dl;
	if (kl > sizeof(key) || kl > UINT16_MAX)
		return -EINVAL;
	memcpy(key, sensor, sl + 1);
	memcpy(key + sl + 1, rec->rrname, nl + 1);
	if (ad != NULL) {
		key[sl + 1 + nl + 1] = 0x01;
		key[sl + 1 + nl + 2] = (char)ad->family;
		memcpy(key + sl + 1 + nl + 3, ad->bytes, 16);
		tl = RV_ADDR_STRLEN;
	} else {
		memcpy(key + sl + 1 + nl + 1, rec->rdata, dl);
	}
	hash = XXH3_64bits_withSeed(key, kl, rec->rrtype);
	for (b = (size_t)hash & (agg->nslots - 1); agg->slots[b].e != NULL;
	     b = (b + 1) & (agg->nslots - 1)) {
		if (agg->slots[b].hash != hash)
			continue;
		e = agg->slots[b].e;
		if (e->e.rrtype != rec->rrtype || e->key_len != kl || memcmp(e->key, key, kl) != 0)
			continue;
		if (first < e->e.time_first)
			e->e.time_first = first;
		if (last >= e->e.time_last) {
			e->e.time_last = last;
			e->e.ttl = rec->ttl;
		}
		e->e.count += count;
		*out = e;
		return 0;
	}
	/* The index keeps at least one empty slot in two (probes stay short). */
	if (agg->size >= agg->max_entries || agg->size + 1 >= agg->nslots)
		return -ENOSPC;
	e = agg_alloc(agg, sizeof(*e) + kl + tl);
	if (e == NULL)
		return -ENOMEM;
	e->hash = hash;
	e->key_len = (uint16_t)kl;
	memcpy(e->key, key, kl);
	e->e = (rv_pdns_entry){
		.sensor = e->key,
		.rrname = e->key + sl + 1,
		.rdata = ad != NULL ? rv_addr_str(ad, e->key + kl, RV_ADDR_STRLEN) :
			e->key + sl + 1 + nl + 1,
		.rrtype = rec->rrtype,
		.ttl = rec->ttl,
		.time_first = first,
		.time_last = last,
		.count = count,
	};
	agg->slots[b] = (struct slot){.hash = hash, .e = e};
	agg->size++;
	if (agg->size * 2 > agg->nslots)
		grow(agg);
	*out = e;
	return 1;
}

int rv_pdns_agg_add_span(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec,
		int64_t first, int64_t last, uint64_t count)
{
	struct entry *e;

	return agg_add(agg, sensor, rec, first, last, count, &e);
}

int rv_pdns_agg_add(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec, int64_t t)
{
	return rv_pdns_agg_add_span(agg, sensor, rec, t, t, 1);
}

size_t rv_pdns_agg_size(const rv_pdns_agg *agg)
{
	return agg->size;
}

size_t rv_pdns_agg_bytes(const rv_pdns_agg *agg)
{
	return agg->bytes;
}

int rv_pdns_agg_foreach(const rv_pdns_agg *agg, rv_pdns_entry_fn fn, void *arg)
{
	for (size_t i = 0; i < agg->nslots; i++) {
		int rc;

		if (agg->slots[i].e == NULL)
			continue;
		rc = fn(arg, &agg->slots[i].e->e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ combiner */

#define COMB_SLOTS 32768 /* ~3.6 MiB: one cache miss per repeat, against several for the records */
#define COMB_RECS 6      /* answers with more records bypass the cache */

struct cslot {
	uint64_t key;
	uint32_t count;          /* sightings not yet in the records */
	uint8_t nrec;            /* 0 = empty */
	int64_t first, last;
	struct entry *rec[COMB_RECS];
	uint32_t ttl[COMB_RECS]; /* of the last sighting */
};

struct rv_pdns_combiner {
	rv_pdns_agg *agg;        /* the aggregate the slots' records live in */
	struct cslot slots[COMB_SLOTS];
};

rv_pdns_combiner *rv_pdns_combiner_new(void)
{
	return calloc(1, sizeof(struct rv_pdns_combiner));
}

void rv_pdns_combiner_free(rv_pdns_combiner **c)
{
	if (c == NULL || *c == NULL)
		return;
	free(*c);
	*c = NULL;
}

static void slot_drain(struct cslot *sl)
{
	for (unsigned i = 0; i < sl->nrec && sl->count > 0; i++) {
		rv_pdns_entry *e = &sl->rec[i]->e;

		e->count += sl->count;
		if (sl->first < e->time_first)
			e->time_first = sl->first;
		if (sl->last >= e->time_last) {
			e->time_last = sl->last;
			e->ttl = sl->ttl[i];
		}
	}
	sl->nrec = 0;
	sl->count = 0;
}

void rv_pdns_combiner_drain(rv_pdns_combiner *c)
{
	for (size_t i = 0; i < COMB_SLOTS; i++)
		if (c->slots[i].nrec > 0)
			slot_drain(&c->slots[i]);
	c->agg = NULL;
}

struct comb_ctx {
	rv_pdns_agg *agg;
	const char *sensor;
	int64_t t;
	size_t n, dropped;
	struct entry *rec[COMB_RECS];
	uint32_t ttl[COMB_RECS];
};

static void comb_record(void *arg, const rv_pdns_rec *rec)
{
	struct comb_ctx *x = arg;
	struct entry *e = NULL;

	if (agg_add(x->agg, x->sensor, rec, x->t, x->t, 1, &e) < 0)
		x->dropped++;
	if (x->n < COMB_RECS) {
		x->rec[x->n] = e;
		x->ttl[x->n] = rec->ttl;
	}
	x->n++;
}

/*
 * The cache key: everything that decides which records an answer holds. The
 * addresses count as a set (their hashes summed): resolvers rotate RRsets, so
 * the same records come in every order, and each order would otherwise be a
 * miss (the round-robin of a 4-address name made 4 keys).
 */
static uint64_t answer_key(const char *sensor, const rv_answer *a)
{
	uint8_t buf[64 + RV_NAME_MAX + 2];
	size_t sl = strnlen(sensor, 63), ql = strnlen(a->qname, RV_NAME_MAX - 1), n;
	uint64_t addrs = 0;

	memcpy(buf, sensor, sl);
	buf[sl] = '\0';
	n = sl + 1;
	memcpy(buf + n, a->qname, ql);
	n += ql;
	buf[n++] = (uint8_t)(a->qtype >> 8);
	buf[n++] = (uint8_t)a->qtype;
	for (size_t i = 0; i < a->naddrs; i++)
		addrs += XXH3_64bits(&a->addrs[i], sizeof(a->addrs[i]));
	return XXH3_64bits_withSeed(buf, n, rv_answer_chain_hash(a) ^ (addrs * 0x9e3779b97f4a7c15ull));
}

size_t rv_pdns_combiner_observe(rv_pdns_combiner *c, rv_pdns_agg *agg, const char *sensor,
		const rv_observation *obs, int64_t t, size_t *records)
{
	const rv_answer *a = &obs->answer;
	size_t nrec = a->wire != NULL ? a->nlinks + a->naddrs : 0;
	struct comb_ctx x = {.agg = agg, .sensor = sensor, .t = t};
	struct cslot *sl;
	uint64_t key;

	*records = 0;
	if (nrec == 0)
		return 0;
	if (c->agg != agg)
		rv_pdns_combiner_drain(c); /* a new aggregate: the slots point into the old */
	c->agg = agg;
	if (nrec > COMB_RECS) {
		*records = rv_pdns_records(obs, comb_record, &x);
		return x.dropped;
	}
	key = answer_key(sensor, a);
	sl = &c->slots[key & (COMB_SLOTS - 1)];
	if (sl->nrec == nrec && sl->key == key) {
		size_t k = 0;

		sl->count++;
		if (t < sl->first)
			sl->first = t;
		if (t >= sl->last) {
			sl->last = t;
			for (size_t i = 0; i < a->nlinks; i++)
				sl->ttl[k++] = a->links[i].ttl;
			/* The addresses may come in another order (RRset rotation);
			 * an RRset's records share one TTL (RFC 2181 5.2). */
			for (size_t i = 0; i < a->naddrs; i++)
				sl->ttl[k++] = a->addr_ttl[i];
		}
		*records = nrec;
		return 0;
	}
	*records = rv_pdns_records(obs, comb_record, &x);
	if (x.dropped > 0 || x.n != nrec)
		return x.dropped; /* not cached: every later sighting tries again */
	/* Admission: a resident answer that was repeated since it came in keeps
	 * its slot (until the next drain), so the long tail of a Zipf stream
	 * cannot push out the answers that make most of the traffic. */
	if (sl->nrec > 0 && sl->count > 0)
		return 0;
	if (sl->nrec > 0)
		slot_drain(sl);
	sl->key = key;
	sl->nrec = (uint8_t)nrec;
	sl->count = 0;
	sl->first = sl->last = t;
	memcpy(sl->rec, x.rec, sizeof(x.rec));
	memcpy(sl->ttl, x.ttl, sizeof(x.ttl));
	return 0;
}
