/*
 * encode.c - rv-encode: how fast the UPDATE encoder (rv_rpz_msg_build) packs
 * changes into TSIG-signed 64 KiB messages, for IPv4 and IPv6 addresses, as a
 * replacement (delete + add: 4 RRs per address) and add-only (2 RRs).
 *
 * Usage: rv-encode [SECONDS]   (per case; default 1)
 * Prints one line per case:
 *   encode ipv4 replace: 1234 UPDATEs/s, 345 changes and 65000 bytes per UPDATE, 426000 changes/s
 * Correctness (every change encoded once, sizes within the budget, TSIG) is
 * asserted by tests/unit/test_rpz.c; this only measures. scripts/bench.sh runs it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "rpz.h"

enum { N = 800 };

static const rv_tsig_key key = {
	.name = "rearview-key.",
	.algorithm = "hmac-sha256.",
	.secret = "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=",
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_case(int family, bool add_only, double seconds)
{
	static rv_change ch[N];
	rv_rpz_build b = { .zone = "rpz.test", .ttl = 60, .max_bytes = 65535, .key = &key };
	size_t msgs = 0, changes = 0, bytes = 0;

	for (size_t i = 0; i < N; i++) {
		uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, (uint8_t)(i * 7) };
		a[12] = (uint8_t)(i >> 8);
		a[13] = (uint8_t)(i * 13);
		a[15] = (uint8_t)i;
		if (family == AF_INET) {
			a[0] = 10;
			a[1] = (uint8_t)(i >> 8);
			a[2] = (uint8_t)i;
			a[3] = (uint8_t)(i * 3);
		}
		memset(&ch[i], 0, sizeof(ch[i]));
		if (rv_addr_set(&ch[i].addr, a, family == AF_INET ? 4 : 16) != 0)
			return -1;
		snprintf(ch[i].name, sizeof(ch[i].name), "host-%zu.cdn%zu.example-provider.com",
				i, i % 17);
		ch[i].first = 1700000000;
		ch[i].last = 1700000100 + (int64_t)i;
		ch[i].count = i + 1;
		ch[i].depth = (unsigned)(i % 3);
		ch[i].absent = add_only;
	}
	double t0 = now_s(), dt;
	do {
		rv_rpz_msg *m = NULL;
		size_t used = 0, len;
		/* N changes never fit: every message is a full one */
		int r = rv_rpz_msg_build(&b, ch, N, &used, &m);
		if (r != 0 || used == 0 || used >= N) {
			fprintf(stderr, "rv-encode: rv_rpz_msg_build: %d (%zu used)\n", r, used);
			return -1;
		}
		rv_rpz_msg_wire(m, &len);
		rv_rpz_msg_free(&m);
		msgs++;
		changes += used;
		bytes += len;
		dt = now_s() - t0;
	} while (dt < seconds);
	printf("encode %s %s: %.0f UPDATEs/s, %zu changes and %zu bytes per UPDATE, "
	       "%.0f changes/s\n", family == AF_INET ? "ipv4" : "ipv6",
	       add_only ? "add-only" : "replace", (double)msgs / dt, changes / msgs,
	       bytes / msgs, (double)changes / dt);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	if (argc > 2 || !(seconds > 0)) {
		fprintf(stderr, "usage: rv-encode [SECONDS]\n");
		return 2;
	}
	for (int f = 0; f < 2; f++)
		for (int add_only = 0; add_only < 2; add_only++)
			if (run_case(f == 0 ? AF_INET : AF_INET6, add_only, seconds) != 0)
				return 1;
	return 0;
}
