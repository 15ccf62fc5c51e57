/* Fuzz target: BIND's reply to our UPDATE (what a hostile or broken server could
 * send back on the TCP connection). */
#include <string.h>

#include "rpz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are not checked here (any is fine for arbitrary input), but they must
 * be consumed: the functions are warn_unused_result. */
static volatile unsigned sink;

static rv_rpz_msg *request(const rv_tsig_key *key)
{
	rv_change c;
	memset(&c, 0, sizeof(c));
	if (rv_addr_parse("192.0.2.1", &c.addr) < 0)
		return NULL;
	strcpy(c.name, "www.example.com");
	c.first = c.last = 1700000000;
	c.count = 1;
	rv_rpz_build b = {.zone = "rpz.test", .ttl = 60, .max_bytes = 65535, .key = key};
	size_t used = 0;
	rv_rpz_msg *m = NULL;
	if (rv_rpz_msg_build(&b, &c, 1, &used, &m) < 0)
		return NULL;
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rv_tsig_key key;
	static rv_rpz_msg *signed_req, *plain_req;
	if (!signed_req) {
		static const char keytext[] =
			"key \"rearview-key\" { algorithm hmac-sha256; "
			"secret \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\"; };";
		char err[128];
		if (rv_tsig_key_parse(keytext, sizeof(keytext) - 1, NULL, &key, err, sizeof(err)) < 0)
			__builtin_trap();
		signed_req = request(&key);
		plain_req = request(NULL);
		if (!signed_req || !plain_req)
			__builtin_trap();
	}
	int rcode;
	char err[256];
	sink += (unsigned)rv_rpz_check_reply(signed_req, &key, data, size, &rcode, err, sizeof(err));
	/* Random message IDs would stop almost every input at the ID check; give the
	 * second call the request's ID so the fuzzer reaches the TSIG and rcode code. */
	static uint8_t buf[RV_DNS_MSG_MAX];
	if (size >= 2 && size <= sizeof(buf)) {
		memcpy(buf, data, size);
		uint16_t id = rv_rpz_msg_id(plain_req);
		buf[0] = (uint8_t)(id >> 8);
		buf[1] = (uint8_t)id;
		sink += (unsigned)rv_rpz_check_reply(plain_req, NULL, buf, size, &rcode, err, sizeof(err));
		id = rv_rpz_msg_id(signed_req);
		buf[0] = (uint8_t)(id >> 8);
		buf[1] = (uint8_t)id;
		sink += (unsigned)rv_rpz_check_reply(signed_req, &key, buf, size, &rcode, err, sizeof(err));
	}
	return 0;
}
