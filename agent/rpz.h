/*
 * rpz.h - keeps the RPZ equal to the table through RFC 2136 UPDATEs signed with
 * TSIG (RFC 8945), sent over one persistent TCP connection to BIND.
 *
 * Record layout for address 1.2.3.4 and zone rpz.example:
 *   4.3.2.1.in-addr.arpa.rpz.example. TTL IN PTR www.example.com.
 *   4.3.2.1.in-addr.arpa.rpz.example. TTL IN TXT "first=.. last=.. count=.. depth=.. score=.."
 * IPv6 uses the 32-nibble ip6.arpa name. Each change deletes the owner's PTR and
 * TXT RRsets and adds the new ones in the same UPDATE, so readers never see a
 * half-written address; a change for an address the zone is known to lack
 * (rv_change.absent, after a complete reconcile) only adds.
 */
#ifndef RV_RPZ_H
#define RV_RPZ_H

#include "common.h"
#include "dnswire.h"   /* RV_DNS_MSG_MAX */
#include "publish.h"
#include "table.h"
#include "tsig_key.h"

struct event_base;

/* "4.3.2.1.in-addr.arpa.<zone>." into out; -ENOSPC if it does not fit. zone may
 * be given with or without its trailing dot. */
int rv_rpz_reverse_name(const rv_addr *a, const char *zone, char *out, size_t outlen) RV_MUST_CHECK;

/* Longest TXT metadata text: one DNS character-string (RFC 1035 3.3). */
#define RV_TXT_MAX 255

/* TXT metadata text (without quotes), the reference tool's keys plus country:
 * "first=E last=E count=N depth=N score=S[ country=CC]" (epoch seconds, integers;
 * score with two decimals, clamped to 0..999999999). */
int rv_rpz_format_txt(const rv_change *c, char *out, size_t outlen) RV_MUST_CHECK;

/* ---- one UPDATE message ---- */

typedef struct rv_rpz_msg rv_rpz_msg;

typedef struct rv_rpz_build {
	const char *zone;         /* the RPZ's name */
	uint32_t ttl;             /* TTL of the PTR and TXT records */
	size_t max_bytes;         /* budget for the whole signed message (<= RV_DNS_MSG_MAX) */
	const rv_tsig_key *key;   /* NULL: unsigned (tests only) */
} rv_rpz_build;

/*
 * Builds one signed UPDATE from changes[0..*n_used): as many whole changes as
 * fit in b->max_bytes, counted exactly (the encoder writes the bytes itself;
 * the TSIG RR's exact size is reserved), so the message never exceeds
 * max_bytes (nor 64 KiB). Random message ID, RD clear. Names are presentation
 * form with RFC 1035 5.1 escapes ("\DDD", "\X"); labels over 63 octets and
 * names over 255 octets are unusable.
 * Returns 0; -EMSGSIZE if not even changes[0] fits; -EINVAL for an unusable name
 * or zone; -ENOMEM. *msg is owned by the caller (rv_rpz_msg_free).
 * Unusable names: if changes[0] has one, -EINVAL with *n_used = 1 (the caller
 * drops and logs that change); a later one ends the batch just before it (0,
 * and it leads the next call). -EINVAL with *n_used = 0: the zone or the key
 * is unusable.
 */
int rv_rpz_msg_build(const rv_rpz_build *b, const rv_change *changes, size_t n,
		size_t *n_used, rv_rpz_msg **msg) RV_MUST_CHECK;
const uint8_t *rv_rpz_msg_wire(const rv_rpz_msg *m, size_t *len);
uint16_t rv_rpz_msg_id(const rv_rpz_msg *m);
void rv_rpz_msg_free(rv_rpz_msg **m);

/*
 * Checks BIND's reply to m: ID, QR, opcode UPDATE, TSIG (when m was signed; the
 * reply must carry a valid TSIG computed over m's MAC), rcode.
 * Returns 0 for a verified NOERROR; -EBADMSG malformed or not our reply;
 * -EACCES TSIG missing/invalid or a TSIG error (BADKEY/BADSIG/BADTIME);
 * -EREMOTEIO any other rcode (*rcode tells which). *rcode is -1 if unparsable.
 * err receives a one-line description ("NOTAUTH, TSIG error BADKEY").
 */
int rv_rpz_check_reply(const rv_rpz_msg *m, const rv_tsig_key *key,
		const uint8_t *wire, size_t len, int *rcode, char *err, size_t errlen) RV_MUST_CHECK;

/* ---- the writer (libevent) ---- */

typedef struct rv_rpz_writer_opts {
	const char *server;          /* IPv4 or IPv6 address of BIND */
	uint16_t port;
	const char *zone;
	uint32_t ttl;
	unsigned flush_interval_ms;  /* partial batches at most this often... */
	size_t batch_bytes;          /* ...unless a full batch of this many bytes is queued */
	unsigned timeout_ms;         /* connect + reply timeout per UPDATE */
	unsigned retry_min_ms;       /* backoff after a failure, doubling up to retry_max_ms */
	unsigned retry_max_ms;
	unsigned max_rate;           /* addresses per second sent at most; 0 = no cap */
	bool mover;                  /* the hot-zone mover's writer (rpz_hot.h): its own metric
	                              * names (rearview_rpz_move_*), the main writer keeps the others */
} rv_rpz_writer_opts;

typedef struct rv_rpz_writer rv_rpz_writer;

/* Strings in opts are copied; key and feed are copied; base and feed->arg are
 * borrowed. Does not connect yet. NULL + *err on failure. The process must
 * ignore SIGPIPE (a write to a connection BIND has reset would otherwise kill
 * it). */
rv_rpz_writer *rv_rpz_writer_new(struct event_base *base, const rv_rpz_writer_opts *opts,
		const rv_tsig_key *key, const rv_change_feed *feed, int *err);
/* Changes popped but not acknowledged go back to the feed (requeue): free the
 * writer before the feed's owner. */
void rv_rpz_writer_free(rv_rpz_writer **w);

/* Live reload: takes ttl, flush_interval_ms, batch_bytes, timeout_ms,
 * retry_min_ms, retry_max_ms and max_rate from opts (server, port and zone are
 * ignored: they need a new writer). Queued and in-flight changes are kept; the
 * UPDATE in flight finishes under the old timeout, the next uses the new
 * values. Call rv_rpz_writer_kick afterwards: a flush timed for the old values
 * is cancelled. */
void rv_rpz_writer_set_opts(rv_rpz_writer *w, const rv_rpz_writer_opts *opts);
/* Live key rotation: the next UPDATE is signed with key (copied); the one in
 * flight is verified with the key that signed it. 0, or -EINVAL for a key
 * tsig.c cannot sign with, or a writer created without a key. */
int rv_rpz_writer_set_key(rv_rpz_writer *w, const rv_tsig_key *key) RV_MUST_CHECK;
/*
 * The feed has new changes. Never blocks. Pacing, so that BIND never
 * gets a flood of small transactions (each costs a journal write and, for a
 * policy zone, a walk of the whole zone by BIND's policy code):
 *  - one UPDATE in flight at a time;
 *  - while at least batch_bytes worth is queued, full batches go back to back;
 *  - a partial batch (one that empties the queue) goes at most once per
 *    max(flush_interval_ms, 4 x the smoothed UPDATE round trip): when BIND
 *    slows down (a bigger zone), partial batches grow instead of multiplying;
 *    a kick that finds the writer idle (the last partial batch that gap ago
 *    or longer) sends on the loop's next turn, so an idle lookup does not
 *    wait for the interval;
 *  - with max_rate, an UPDATE of n addresses is followed by the next one no
 *    sooner than n / max_rate seconds later (the queue grows into bigger
 *    batches meanwhile): BIND's UPDATE work runs on the cores that answer
 *    queries, so a site with a resolver near its limit trades convergence time
 *    for query capacity.
 */
void rv_rpz_writer_kick(rv_rpz_writer *w);
/* Flush everything queued now, ignoring the interval and, from now on, the
 * rate cap (not the backoff): for shutdown. */
void rv_rpz_writer_flush_now(rv_rpz_writer *w);
/* True when nothing is queued and no UPDATE is in flight. */
bool rv_rpz_writer_idle(const rv_rpz_writer *w);
/* hold = true: start no new UPDATE (the one in flight completes) until
 * released; changes keep queueing. Used while the zone is being read (see
 * zonesync.h). */
void rv_rpz_writer_hold(rv_rpz_writer *w, bool hold);
/*
 * Shutdown: flush everything now (flush_now) and call done(arg, left) from the
 * loop once nothing is queued or in flight (left = 0), or when timeout_ms
 * passes or the writer is held (left = changes not acknowledged: they stay in
 * the table, i.e. in the snapshot, and the next start's reconcile re-sends
 * them). Once per writer; -EALREADY, -ENOMEM.
 */
int rv_rpz_writer_drain(rv_rpz_writer *w, unsigned timeout_ms,
		void (*done)(void *arg, size_t left), void *arg) RV_MUST_CHECK;
/* True while an UPDATE awaits its reply. */
bool rv_rpz_writer_in_flight(const rv_rpz_writer *w);
/* Consecutive failed UPDATE attempts: 0 when the last one succeeded (or none
 * was sent yet). why (NULL or len bytes) gets the last failure's description
 * ("connection refused ..."), "" when there is none. For /healthz. */
unsigned rv_rpz_writer_failures(const rv_rpz_writer *w, char *why, size_t len);

#endif
