/*
 * pdns.h - passive DNS records: what an observation holds at record level, and
 * an in-memory aggregate of their sightings.
 *
 * Passive DNS keeps one record per (rrname, rrtype, rdata) seen in answers,
 * with when it was first and last seen, how often, its last TTL and which
 * sensor saw it (COF, draft-dulaunoy-dnsop-passive-dns-cof). For an answer to
 * an A/AAAA question the records are every CNAME and DNAME of its chain and
 * every address at its end. The history (history_sink.c) and the COF log
 * (cof_sink.c) both start here.
 */
#ifndef RV_PDNS_H
#define RV_PDNS_H

#include "common.h"
#include "dnstap.h"

/* Record types a passive-DNS record can have here. */
enum {
	RV_RRTYPE_A = 1,
	RV_RRTYPE_CNAME = 5,
	RV_RRTYPE_AAAA = 28,
	RV_RRTYPE_DNAME = 39,
};

/* "A", "CNAME", ... or NULL for a type we never store. */
const char *rv_rrtype_name(uint16_t rrtype);
/* The inverse, case-insensitive ("a", "AAAA", "TYPE28"); -EINVAL if unknown. */
int rv_rrtype_parse(const char *text, uint16_t *rrtype) RV_MUST_CHECK;

/* One record of an observation. The strings live in the visitor's buffers:
 * valid during the call only. */
typedef struct rv_pdns_rec {
	const char *rrname;   /* presentation form, lower-case, no trailing dot */
	uint16_t rrtype;
	const char *rdata;    /* a name (CNAME, DNAME); NULL for an address: see addr */
	const rv_addr *addr;  /* A/AAAA: the address (its text is made only when
	                       * needed: rv_pdns_rec_rdata; inet_ntop per sighting
	                       * cost more than the rest of the history together) */
	uint32_t ttl;
} rv_pdns_rec;

/* The rdata text of rec: rec->rdata, or the address's text in buf
 * (RV_ADDR_STRLEN octets). */
const char *rv_pdns_rec_rdata(const rv_pdns_rec *rec, char *buf);

typedef void (*rv_pdns_rec_fn)(void *arg, const rv_pdns_rec *rec);

/* Calls fn for every record of obs (CNAME/DNAME links, then addresses), only
 * while obs's borrowed wire is valid (during a sink's observe()). Returns the
 * number of records. */
size_t rv_pdns_records(const rv_observation *obs, rv_pdns_rec_fn fn, void *arg);

/* The sensor of an observation: its dnstap identity, made printable (bytes
 * outside 0x21-0x7e become '?', at most 63), or fallback when it has none. */
void rv_pdns_sensor(const rv_observation *obs, const char *fallback, char out[64]);

/* The fallback sensor: this host's name ("rearview" if it has none). */
void rv_pdns_local_sensor(char out[64]);

/* ------------------------------------------------------------------ aggregate */

typedef struct rv_pdns_agg rv_pdns_agg;

/* One aggregated record. */
typedef struct rv_pdns_entry {
	const char *sensor;
	const char *rrname;
	const char *rdata;
	uint16_t rrtype;
	uint32_t ttl;          /* of the last sighting */
	int64_t time_first;    /* epoch seconds */
	int64_t time_last;
	uint64_t count;
} rv_pdns_entry;

/* An empty aggregate holding at most max_entries records. NULL on ENOMEM. */
rv_pdns_agg *rv_pdns_agg_new(size_t max_entries);
void rv_pdns_agg_free(rv_pdns_agg **agg);

/*
 * One sighting at time t. Returns 1 when it made a new record, 0 when it
 * updated one, -ENOSPC when the aggregate is full and the record is new (the
 * caller counts the drop), -ENOMEM, -EINVAL (a string too long).
 */
int rv_pdns_agg_add(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec,
		int64_t t) RV_MUST_CHECK;
/* Adds count sightings spanning [first, last] at once (merging aggregates). */
int rv_pdns_agg_add_span(rv_pdns_agg *agg, const char *sensor, const rv_pdns_rec *rec,
		int64_t first, int64_t last, uint64_t count) RV_MUST_CHECK;

size_t rv_pdns_agg_size(const rv_pdns_agg *agg);
/* Heap bytes held (entries and index). */
size_t rv_pdns_agg_bytes(const rv_pdns_agg *agg);

/* Calls fn for every record, in no particular order; stops at a non-zero
 * return and returns it. The entry is valid during the call only. */
typedef int (*rv_pdns_entry_fn)(void *arg, const rv_pdns_entry *e);
int rv_pdns_agg_foreach(const rv_pdns_agg *agg, rv_pdns_entry_fn fn, void *arg);

/* ------------------------------------------------------------------ combiner */

/*
 * A small direct-mapped cache in front of an aggregate, for the ingest path.
 * Most sightings repeat an answer seen moments ago (a Zipf stream); the
 * cache recognises the repeat by (sensor, question, addresses, chain
 * fingerprint) and counts it in its own slot, without making any name's
 * text or touching the aggregate's records (whose cache misses were most of
 * the history's cost). A slot's counts reach the records when the slot is
 * reused and at rv_pdns_combiner_drain(). A 64-bit fingerprint collision
 * (about 2^-64 per lookup) would count a sighting for another answer's
 * records.
 */
typedef struct rv_pdns_combiner rv_pdns_combiner;

rv_pdns_combiner *rv_pdns_combiner_new(void);
void rv_pdns_combiner_free(rv_pdns_combiner **c);

/*
 * Counts every record of obs (as rv_pdns_records() lists them) at time t into
 * agg, through the cache. *records = records sighted; returns how many of
 * them were dropped because agg was full. Only during a sink's observe().
 */
size_t rv_pdns_combiner_observe(rv_pdns_combiner *c, rv_pdns_agg *agg, const char *sensor,
		const rv_observation *obs, int64_t t, size_t *records);

/* Moves what the cache counted into its aggregate and empties the cache.
 * Call it before the aggregate is handed over or freed. */
void rv_pdns_combiner_drain(rv_pdns_combiner *c);

#endif
