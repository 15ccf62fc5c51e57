/*
 * Fuzz target: the zone transfer (AXFR) parser of the reconcile (rv_axfr in
 * reconcile.c), everything it does with the bytes BIND sends: message scan,
 * the TSIG chain, SOA framing, owners, PTR targets, TXT metadata.
 *
 * Input: a TCP stream as the capture in tests/data/axfr/ holds it, each DNS
 * message with its 2-byte length prefix: first our query, then the reply.
 * Each input runs twice:
 *  - signed, with the capture's hmac-sha256 key: the query is rebuilt by
 *    rv_axfr_query with the input query's ID and time signed, which gives the
 *    same MAC as the capture's, so a real transfer verifies all the way and
 *    mutations of it exercise the chain;
 *  - unsigned, with every reply message's ID set to the query's, so inputs
 *    whose MACs no longer match still reach the record code.
 */
#include <string.h>

#include "dnswire.h"
#include "reconcile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are not checked (any is fine for arbitrary input), but consumed:
 * the functions are warn_unused_result. */
static volatile unsigned sink;

/* tests/data/axfr/hmac-sha256.key */
static const char keytext[] = "key \"rearview-hmac-sha256\" { algorithm hmac-sha256; "
	"secret \"iwJ4d2HjjQpQBqDef1+OFpuKyjRtI2R6HmeUGkCSTI8=\"; };";

static int on_owner(void *arg, const rv_addr *addr, const char *ptr, const rv_candidate *meta)
{
	(void)arg;
	sink += (unsigned)strlen(ptr) + (meta != NULL ? (unsigned)meta->count : 0);
	/* Every outcome the table can give, so each counter is reached. */
	return addr->bytes[3] % 4;
}

static void run(const rv_tsig_key *key, const uint8_t *data, size_t size, uint16_t id,
		int64_t now, bool patch_id)
{
	static uint8_t q[1024], msg[RV_DNS_MSG_MAX];
	char err[512];
	int e = 0;
	rv_axfr *x = rv_axfr_new("rpz.test", key, on_owner, NULL, &e);

	if (x == NULL)
		__builtin_trap();
	if (rv_axfr_query(x, id, now, q, sizeof(q)) < 0)
		__builtin_trap();
	for (size_t off = 0; size - off >= 2; ) {
		size_t len = rv_get16(data + off);
		off += 2;
		if (len > size - off)
			break;
		memcpy(msg, data + off, len);
		off += len;
		if (patch_id && len >= 2)
			rv_put16(msg, id);
		int rc = rv_axfr_message(x, msg, len, now, err, sizeof(err));
		sink += (unsigned)rc + (unsigned)strlen(err);
		if (rc != 0)
			break;
	}
	sink += (unsigned)rv_axfr_stats(x)->records;
	rv_axfr_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rv_tsig_key key;
	static bool have_key;
	uint16_t id = 0x1234;
	int64_t now = 1700000000;

	if (!have_key) {
		char err[128];
		if (rv_tsig_key_parse(keytext, sizeof(keytext) - 1, NULL, &key, err, sizeof(err)) < 0)
			__builtin_trap();
		have_key = true;
	}
	/* The query: its ID and, when signed, its time (named signs the reply at
	 * that second or the next, well within the fudge). */
	if (size < 2 || rv_get16(data) > size - 2)
		return 0;
	size_t qlen = rv_get16(data);
	rv_dns_msg m;
	char err[128];
	if (rv_dnswire_scan(data + 2, qlen, &m, err, sizeof(err)) == 0) {
		id = m.id;
		if (m.has_tsig)
			now = (int64_t)rv_get16(m.tsig.timers) << 32 | rv_get32(m.tsig.timers + 2);
	}
	run(&key, data + 2 + qlen, size - 2 - qlen, id, now, false);
	run(NULL, data + 2 + qlen, size - 2 - qlen, id, now, true);
	return 0;
}
