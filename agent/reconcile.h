/*
 * reconcile.h - compares the table with what the RPZ really holds, from an AXFR
 * of the zone (RFC 5936) signed with TSIG (RFC 8945), and fixes the difference
 * through the table (which queues what the RPZ writer must send).
 *
 * At startup (adopt = true) after the snapshot load: addresses in the zone the
 * table does not know are adopted (the zone's PTR becomes their only candidate,
 * with the statistics of the TXT), so even without a snapshot the best names
 * survive. Periodically (adopt = false, drift repair): such addresses are queued
 * for removal, names that differ from the table's best are rewritten, and
 * addresses the zone lacks are re-sent.
 *
 * Records are read per owner name (BIND sends an AXFR in DNSSEC canonical order,
 * so an owner's RRs are adjacent; an owner seen again later is simply handled
 * twice, which is harmless):
 *   - owner "<reverse>.<zone>" with exactly one PTR and one TXT that parses:
 *     rv_table_reconcile_record(addr, ptr, meta);
 *   - ... with a PTR but no TXT, an unparsable TXT, or several PTR or TXT
 *     records: the first PTR with meta = NULL, so a known address gets its
 *     records rewritten (the writer replaces both RRsets);
 *   - SOA and NS at the apex: zone infrastructure, ignored;
 *   - anything else (other types, owners that are not a reverse name, a TXT
 *     without a PTR, DNSSEC records): "foreign" - counted, reported once per
 *     reconcile with an example, never deleted, never fatal.
 */
#ifndef RV_RECONCILE_H
#define RV_RECONCILE_H

#include "common.h"
#include "table.h"
#include "tsig_key.h"

struct event_base;

/* ---- pure helpers (unit- and fuzz-tested) ---- */

/*
 * Maps an RR owner name in presentation form (as rv_dname_to_text prints it;
 * with or without the trailing dot; case-insensitive) under zone (with or
 * without its trailing dot, spelt as the owner is: the transfer parser passes
 * the zone's canonical text) to the address it stands for:
 *   "d.c.b.a.in-addr.arpa.<zone>"            -> IPv4 a.b.c.d (decimal 0..255,
 *                                              no leading zeros: "01" is a
 *                                              different owner than the one we
 *                                              write, so it is not ours)
 *   "<32 single hex nibbles>.ip6.arpa.<zone>" -> IPv6
 * Returns 0, or -EINVAL for any other name ("foreign").
 */
int rv_rpz_owner_to_addr(const char *owner, const char *zone, rv_addr *out) RV_MUST_CHECK;

/*
 * Parses TXT metadata: space- or comma-separated key=value pairs in any order,
 * e.g. ours "first=E last=E count=N depth=N score=S country=CC" or the reference
 * tool's "depth=..,first=..,last=..,count=..,trend=..,update=..,score=..".
 * first, last and count are required (non-negative decimal integers, first <=
 * last); depth is optional (0 when absent); score (ours: the decayed frequency
 * as of last, times the depth bonus) is optional and fills meta->freq (0 when
 * absent or not a plain decimal); unknown keys (country, trend, update, ...)
 * are skipped; a repeated key takes its last value. Fills
 * meta->first/last/count/depth/freq; sets name = NULL, ttl = 0; count 0 is
 * read as 1.
 * Returns 0, or -EBADMSG (a required key missing, a value not a number, or
 * out of range).
 */
int rv_rpz_txt_parse(const char *txt, rv_candidate *meta) RV_MUST_CHECK;

/* ---- the transfer parser (pure: messages in, address owners out) ----
 *
 * Everything the AXFR client does with the bytes it receives, without the
 * socket: the query, the TSIG chain over the reply (tsig.c), the SOA framing
 * and the records grouped per owner as described at the top of this file.
 * The fuzz target tests/fuzz/fuzz_axfr.c drives it directly.
 */

typedef struct rv_reconcile_stats {
	uint64_t messages;        /* DNS messages received */
	uint64_t bytes;
	uint64_t records;         /* RRs in the transfer (without the two SOAs framing it) */
	uint64_t addresses;       /* owners that mapped to an address with a PTR */
	uint64_t matched;         /* zone already equal to the table */
	uint64_t rewritten;       /* queued: the table's name or metadata differs */
	uint64_t adopted;         /* unknown address taken into the table (adopt) */
	uint64_t removed;         /* unknown address queued for removal (!adopt) */
	uint64_t missing;         /* table addresses absent from the zone, queued (re-sent) */
	uint64_t foreign;         /* RRs left alone (see above) */
	char foreign_example[300];/* the first foreign RR: "owner TYPE" */
	uint32_t serial;          /* SOA serial of the transferred zone */
	double seconds;           /* start to last message */
} rv_reconcile_stats;

/*
 * One address owner of the zone, complete: its address, the first PTR target
 * (presentation form, as rv_dname_to_text and the ingest path print names,
 * without the trailing dot) and the TXT statistics when the owner holds exactly
 * one PTR and one TXT that parses (else meta is NULL). Returns the
 * RV_RECONCILE_* outcome (counted in the statistics) or -errno (the transfer
 * then fails with it).
 */
typedef int (*rv_axfr_owner_fn)(void *arg, const rv_addr *addr, const char *ptr,
		const rv_candidate *meta);

typedef struct rv_axfr rv_axfr;

/* A transfer of zone (with or without its trailing dot), verified with key
 * (copied; NULL: unsigned, tests only). NULL with *err = -EINVAL (bad zone or
 * key) or -ENOMEM. */
rv_axfr *rv_axfr_new(const char *zone, const rv_tsig_key *key, rv_axfr_owner_fn fn, void *arg,
		int *err);
void rv_axfr_free(rv_axfr **x);

/* The AXFR query (RFC 5936 2.1) with ID id, RD clear, signed at time now when
 * there is a key, into buf (cap octets); the reply is then checked against it.
 * Returns its length, or -EMSGSIZE / -ENOMEM / -EIO. */
int rv_axfr_query(rv_axfr *x, uint16_t id, int64_t now, uint8_t *buf, size_t cap) RV_MUST_CHECK;

/*
 * One whole message of the reply (now: for the TSIG time check). Records are
 * handed to fn only once the message (or a later one covering it) verified.
 * Returns 0 to go on, 1 when the transfer is complete (the closing SOA; every
 * owner handed over), or -errno with a one-line err: -EBADMSG (malformed, not
 * a reply to the query, not an AXFR of the zone), -EACCES (TSIG), -EREMOTEIO
 * (an rcode other than NOERROR), or what fn returned. After 1 or an error the
 * transfer takes no more messages (-EINVAL).
 */
int rv_axfr_message(rv_axfr *x, const uint8_t *w, size_t len, int64_t now, char *err,
		size_t errlen) RV_MUST_CHECK;

/*
 * Optional: every verified record of the transfer except the two SOAs that
 * frame it, as it is read and before the per-owner grouping: owner (wire,
 * uncompressed, case as sent), type, class, TTL, and the whole message with the
 * RDATA's offset and length (a PTR target may be compressed against the
 * message). For tools that need more than the address owners (rearview-report:
 * foreign records, duplicate PTRs, the TXT text as written). Called before the
 * owner callback of the same owner. Returns 0 or -errno (the transfer then
 * fails with it).
 */
typedef int (*rv_axfr_rr_fn)(void *arg, const uint8_t *owner, size_t owner_len, unsigned type,
		unsigned cls, uint32_t ttl, const uint8_t *msg, size_t len, size_t rd, size_t rdlen);
void rv_axfr_set_rr_fn(rv_axfr *x, rv_axfr_rr_fn fn, void *arg);

/* The counters so far (messages, bytes, records, addresses and their
 * outcomes, foreign, serial; not missing or seconds, which the client adds). */
const rv_reconcile_stats *rv_axfr_stats(const rv_axfr *x);

/* ---- the AXFR client (libevent) ---- */

typedef struct rv_reconcile_opts {
	const char *server;       /* IPv4 or IPv6 address of BIND (numeric) */
	uint16_t port;
	const char *zone;         /* the RPZ, with or without trailing dot */
	const rv_tsig_key *key;   /* NULL: unsigned transfer (tests only) */
	unsigned timeout_ms;      /* connect, and then at most this long without any byte */
	bool adopt;               /* unknown addresses: adopt (startup) or remove (drift repair) */
	/* The hot zone (rpz_hot.h), or NULL. When set, it is transferred first and
	 * zone after it, in one pass of the table: an address in both is taken
	 * from the hot zone (the newer copy; the main zone's older name is then
	 * a rewrite the table finds already done). hot_owner(hot_arg, addr) is
	 * told of every address owner of the hot zone, so the mover knows what it
	 * holds after a restart. */
	const char *hot_zone;
	void (*hot_owner)(void *arg, const rv_addr *addr);
	void *hot_arg;
} rv_reconcile_opts;

/*
 * Called once when the reconcile ends: result 0 (the table was reconciled and
 * rv_table_reconcile_end called: st->missing is set) or -errno:
 *   -ECONNREFUSED and other connect errors, -ECONNRESET (closed early),
 *   -ETIMEDOUT, -EACCES (TSIG: reply unsigned, bad MAC, BADKEY/BADSIG/BADTIME),
 *   -EREMOTEIO (an rcode other than NOERROR: REFUSED, NOTAUTH, ...),
 *   -EBADMSG (malformed or not an AXFR of the zone), -ENOMEM.
 * err is a one-line description naming server, zone and cause, e.g.
 * "AXFR of rpz.test from 127.0.0.1#53: NOTAUTH, TSIG error BADKEY".
 * On failure rv_table_reconcile_end is NOT called, so the table does not queue
 * every address as missing; what rv_table_reconcile_record already did for
 * verified records stays (each action is right on its own), and the marks of
 * the interrupted pass are discarded by the next rv_table_reconcile_begin.
 * The callback may free the reconcile (rv_reconcile_free); nothing touches it
 * after the callback returns.
 */
typedef void (*rv_reconcile_done_fn)(void *arg, int result, const rv_reconcile_stats *st,
		const char *err);

typedef struct rv_reconcile rv_reconcile;

/*
 * Starts an AXFR of opts->zone (after opts->hot_zone, when set) from
 * opts->server#port: connects (non-blocking),
 * sends the TSIG-signed query and processes the transfer as it arrives, calling
 * rv_table_reconcile_begin before the first record. Strings and the key are
 * copied; base and table are borrowed and must outlive the reconcile. Only one
 * reconcile per table at a time. Returns NULL with *err = -errno if it cannot
 * even start (bad address or zone, unusable key, no memory); done() is never
 * called from inside this function. The process must ignore SIGPIPE.
 */
rv_reconcile *rv_reconcile_start(struct event_base *base, const rv_reconcile_opts *opts,
		rv_table *table, rv_reconcile_done_fn done, void *arg, int *err);

/* Aborts a running reconcile without calling done() (and without
 * rv_table_reconcile_end), or frees a finished one. NULLs *r. */
void rv_reconcile_free(rv_reconcile **r);

#endif
