/*
 * ptrcheck.h - rearview-report --compare-ptr: the real PTR of every address of
 * a report, asked of a resolver over UDP (non-blocking, a bounded number of
 * queries in flight, an optional rate limit, one retry), and each compared with
 * the synthesized name by registered domain.
 */
#ifndef RV_PTRCHECK_H
#define RV_PTRCHECK_H

#include "common.h"
#include "report.h"

typedef struct rv_ptrcheck_opts {
	const char *server;     /* numeric IPv4 or IPv6 address */
	uint16_t port;
	unsigned concurrency;   /* queries in flight, 1..4096 */
	unsigned timeout_ms;    /* per try; two tries */
	unsigned rate;          /* queries per second, 0: unlimited */
	bool progress;          /* a progress line on stderr */
	const rv_report_opts *select;  /* only the selected rows are asked; NULL: all */
} rv_ptrcheck_opts;

/* Fills cmp, actual and actual_regdom of the report's entries. Returns 0, or
 * -errno (bad server address, socket errors, -ENOMEM) with err. *timeouts =
 * addresses without any answer (the comparison is then incomplete). */
int rv_ptrcheck_run(rv_report *r, const rv_ptrcheck_opts *o, uint64_t *timeouts, char *err,
		size_t errlen) RV_MUST_CHECK;

/* The reverse name of a (in-addr.arpa / ip6.arpa) as wire into out
 * (RV_DNAME_WIRE_MAX octets). Returns its length. Pure. */
size_t rv_ptrcheck_revname(const rv_addr *a, uint8_t *out);

#endif
