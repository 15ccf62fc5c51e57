/*
 * tsig.h - TSIG (RFC 8945) in one place: the key prepared for use, signing a
 * request (an UPDATE, an AXFR query), and verifying the reply to it, one
 * message (an UPDATE reply) or a stream of them (a zone transfer, where a
 * message may go unsigned if a later one covers it, 5.3.1). Algorithms: every
 * HMAC of RFC 8945 6 (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256,
 * hmac-sha384, hmac-sha512), computed with libcrypto. Pure functions of their
 * arguments: the time is passed in.
 */
#ifndef RV_TSIG_H
#define RV_TSIG_H

#include "common.h"
#include "dname.h"
#include "dnswire.h"
#include "tsig_key.h"

/*
 * Secret octets kept. HMAC first hashes a key longer than its block size (RFC
 * 2104 2), so no algorithm ever uses more than its block, and the largest block
 * (SHA-384/512) is 128 octets: rv_tsig_init does that hashing once, so a longer
 * secret still works and nothing longer needs storing. tsig-keygen writes
 * secrets of the digest size (at most 64 octets).
 */
#define RV_TSIG_SECRET_MAX 128
/* Longest MAC (HMAC-SHA512). */
#define RV_TSIG_MAC_MAX 64
/* Clock skew tolerated in both directions (RFC 8945 10 recommends 300 s). */
#define RV_TSIG_FUDGE 300
/* RFC 8945 5.3.1: in a multi-message reply, at most 99 unsigned messages
 * between signed ones ("at least every 100th message is signed"). */
#define RV_TSIG_UNSIGNED_MAX 99

/* The canonical name of a TSIG algorithm (RFC 8945 6), absolute:
 * "hmac-sha256." for "hmac-sha256", "HMAC-SHA256." ...; "hmac-md5" is
 * "hmac-md5.sig-alg.reg.int.". Case-insensitive. NULL if not supported. */
const char *rv_tsig_algorithm(const char *name);

typedef struct rv_tsig {
	unsigned alg;                         /* index into tsig.c's algorithm table */
	uint8_t name[RV_DNAME_WIRE_MAX];      /* key name, lower-case wire (RFC 8945 4.3.3) */
	size_t name_len;
	uint8_t alg_name[RV_DNAME_WIRE_MAX];  /* algorithm name, lower-case wire */
	size_t alg_len;
	uint8_t secret[RV_TSIG_SECRET_MAX];
	size_t secret_len;
	size_t mac_len;                       /* the full MAC (no truncation, 5.2.2.1) */
} rv_tsig;

/* Prepares k (algorithm, key name, base64 secret) for use. 0, or -EINVAL for a
 * key that cannot be used (unknown algorithm, bad name, bad or empty secret). */
int rv_tsig_init(rv_tsig *t, const rv_tsig_key *k) RV_MUST_CHECK;
/* Wipes the secret. */
void rv_tsig_clear(rv_tsig *t);
/* Octets the TSIG RR adds to a message signed with t. */
size_t rv_tsig_rr_len(const rv_tsig *t);

/*
 * Signs the message msg[0..*len) (complete, without a TSIG RR) in place:
 * appends the TSIG RR (time signed now, fudge RV_TSIG_FUDGE, Original ID =
 * the message's ID), counts it in ARCOUNT and sets *len. cap is msg's size; it
 * must hold rv_tsig_rr_len(t) more octets. prior is NULL for a request; for a
 * response it is the request's MAC (5.3: the response's MAC covers it). mac
 * (RV_TSIG_MAC_MAX octets) receives the MAC, t->mac_len of them, which the
 * reply to a request is verified against.
 * Returns 0, -EMSGSIZE (no room), -EBADMSG (not a message), -ENOMEM/-EIO (libcrypto).
 */
int rv_tsig_sign(const rv_tsig *t, const uint8_t *prior, size_t prior_len, uint8_t *msg,
		size_t *len, size_t cap, int64_t now, uint8_t *mac) RV_MUST_CHECK;

/* Verifying the reply to one signed request: the messages of the reply go
 * through rv_tsig_reply_check in order. */
typedef struct rv_tsig_reply {
	const rv_tsig *key;              /* borrowed */
	uint16_t id;                     /* the request's ID: every TSIG's Original ID */
	uint8_t mac[RV_TSIG_MAC_MAX];    /* the MAC the next signed message covers: */
	size_t mac_len;                  /* the request's, then the last verified one */
	bool verified;                   /* a message verified: later ones digest the timers only */
	unsigned unsigned_run;           /* unsigned messages since (digested into ctx) */
	struct evp_mac_ctx_st *ctx;      /* open digest while unsigned messages wait; else NULL */
} rv_tsig_reply;

/* Starts verifying the reply to a request signed with key (borrowed) whose ID
 * was id and whose MAC was req_mac[0..req_mac_len). */
void rv_tsig_reply_init(rv_tsig_reply *r, const rv_tsig *key, uint16_t id,
		const uint8_t *req_mac, size_t req_mac_len);
void rv_tsig_reply_clear(rv_tsig_reply *r);

/* rv_tsig_reply_check: an unsigned message the next signed one must cover. */
#define RV_TSIG_HELD 1

/*
 * Checks the next message w[0..len) of the reply (m: rv_dnswire_scan of it):
 *  - signed: its TSIG must carry no error, be for our key and algorithm with
 *    class ANY, TTL 0 and our Original ID, a full-length MAC over the previous
 *    MAC, any messages held since, this message (ID = Original ID, ARCOUNT
 *    without the TSIG: 4.3.2) and the TSIG variables (all of them for the
 *    first message, the timers only for later ones: 5.3.1), computed with
 *    CRYPTO_memcmp, and a time signed within its fudge of now (5.4.2).
 *    Returns 0: this message and the ones held before it are authentic.
 *  - unsigned: allowed only after a verified message and for at most
 *    RV_TSIG_UNSIGNED_MAX in a row; digested now, returns RV_TSIG_HELD: use
 *    its content only once a later message returns 0.
 * Otherwise -EACCES with err: "TSIG error BADSIG", "<what> not signed",
 * "<what> TSIG is for another key or malformed", "<what> TSIG has a N-byte MAC
 * (want M)", "<what> TSIG does not verify", "<what> TSIG time off by N s",
 * "more than 99 unsigned messages in a row"; -ENOMEM. what names the message
 * in err ("reply", "message 3").
 */
int rv_tsig_reply_check(rv_tsig_reply *r, const uint8_t *w, size_t len, const rv_dns_msg *m,
		int64_t now, const char *what, char *err, size_t errlen) RV_MUST_CHECK;

#endif
