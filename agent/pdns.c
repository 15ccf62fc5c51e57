/*
 * pdns.c - passive-DNS records of an observation, and their aggregate.
 *
 * The aggregate is a chained hash table keyed by (sensor, rrname, rrtype,
 * rdata). Each entry is one allocation holding its three strings, so a batch
 * handed to the history writer is freed in one walk. Sightings of the same
 * record within a flush interval cost one hash and one compare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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
	char owner[RV_NAME_MAX], target[RV_NAME_MAX];
	size_t n = 0;

	if (a->wire == NULL)
		return 0;
	for (size_t i = 0; i < a->nlinks; i++) {
		const rv_answer_link *l = &a->links[i];

		rv_answer_name(a, l->owner, owner);
		rv_answer_name(a, l->target, target);
		fn(arg, &(rv_pdns_rec){.rrname = owner, .rrtype = l->type,
				.rdata = target, .ttl = l->ttl});
		n++;
	}
	if (a->naddrs == 0)
		return n;
	rv_answer_name(a, a->addr_owner, owner);
	for (size_t i = 0; i < a->naddrs; i++) {
		char text[RV_ADDR_STRLEN];
		const rv_addr *ad = &a->addrs[i];

		rv_addr_str(ad, text, sizeof(text));
		fn(arg, &(rv_pdns_rec){.rrname = owner,
				.rrtype = ad->family == AF_INET ? RV_RRTYPE_A : RV_RRTYPE_AAAA,
				.rdata = text, .ttl = a->addr_ttl[i]});
		n++;
	}
	return n;
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

/* ------------------------------------------------------------------ aggregate */

struct entry {
	struct entry *next;
	uint64_t hash;
	rv_pdns_entry e;      /* its strings point into key */
	uint16_t key_len;
	char key[];           /* sensor \0 rrname \0 rdata \0 */
};

struct rv_pdns_agg {
	struct entry **buckets;
	size_t nbuckets;      /* power of two */
	size_t size;
	size_t max_entries;
	size_t bytes;
};

#define AGG_MIN_BUCKETS 1024

rv_pdns_agg *rv_pdns_agg_new(size_t max_entries)
{
	rv_pdns_agg *agg = calloc(1, sizeof(*agg));

	if (agg == NULL)
		return NULL;
	agg->nbuckets = AGG_MIN_BUCKETS;
	agg->buckets = calloc(agg->nbuckets, sizeof(*agg->buckets));
	if (agg->buckets == NULL) {
		free(agg);
		return NULL;
	}
	agg->max_entries = max_entries;
	agg->bytes = agg->nbuckets * sizeof(*agg->buckets);
	return agg;
}

void rv_pdns_agg_free(rv_pdns_agg **aggp)
{
	rv_pdns_agg *agg;

	if (aggp == NULL || *aggp == NULL)
		return;
	agg = *aggp;
	for (size_t i = 0; i < agg->nbuckets; i++) {
		struct entry *e = agg->buckets[i];

		while (e != NULL) {
			struct entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(agg->buckets);
	free(agg);
	*aggp = NULL;
}

static void grow(rv_pdns_agg *agg)
{
	size_t n = agg->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < agg->nbuckets; i++) {
		struct entry *e = agg->buckets[i];

		while (e != NULL) {
			struct entry *next = e->next;
			size_t j = (size_t)e->hash & (n - 1);

			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(agg->buckets);
	agg->bytes += (n - agg->nbuckets) * sizeof(*b);
	agg->buckets = b;
	agg->nbuckets = n;
}

int rv_pdns_agg_add_span(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec,
		int64_t first, int64_t last, uint64_t count)
{
	size_t sl = strlen(sensor), nl = strlen(rec->rrname), dl = strlen(rec->rdata);
	size_t kl = sl + 1 + nl + 1 + dl + 1;
	char key[64 + 2 * RV_NAME_MAX + 3];
	uint64_t hash;
	struct entry *e;
	size_t b;

	if (kl > sizeof(key) || kl > UINT16_MAX)
		return -EINVAL;
	memcpy(key, sensor, sl + 1);
	memcpy(key + sl + 1, rec->rrname, nl + 1);
	memcpy(key + sl + 1 + nl + 1, rec->rdata, dl + 1);
	hash = XXH3_64bits_withSeed(key, kl, rec->rrtype);
	b = (size_t)hash & (agg->nbuckets - 1);
	for (e = agg->buckets[b]; e != NULL; e = e->next) {
		if (e->hash != hash || e->e.rrtype != rec->rrtype || e->key_len != kl ||
		    memcmp(e->key, key, kl) != 0)
			continue;
		if (first < e->e.time_first)
			e->e.time_first = first;
		if (last >= e->e.time_last) {
			e->e.time_last = last;
			e->e.ttl = rec->ttl;
		}
		e->e.count += count;
		return 0;
	}
	if (agg->size >= agg->max_entries)
		return -ENOSPC;
	e = malloc(sizeof(*e) + kl);
	if (e == NULL)
		return -ENOMEM;
	e->hash = hash;
	e->key_len = (uint16_t)kl;
	memcpy(e->key, key, kl);
	e->e = (rv_pdns_entry){
		.sensor = e->key,
		.rrname = e->key + sl + 1,
		.rdata = e->key + sl + 1 + nl + 1,
		.rrtype = rec->rrtype,
		.ttl = rec->ttl,
		.time_first = first,
		.time_last = last,
		.count = count,
	};
	e->next = agg->buckets[b];
	agg->buckets[b] = e;
	agg->size++;
	agg->bytes += sizeof(*e) + kl;
	if (agg->size > agg->nbuckets)
		grow(agg);
	return 1;
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
	for (size_t i = 0; i < agg->nbuckets; i++)
		for (const struct entry *e = agg->buckets[i]; e != NULL; e = e->next) {
			int rc = fn(arg, &e->e);

			if (rc != 0)
				return rc;
		}
	return 0;
}
