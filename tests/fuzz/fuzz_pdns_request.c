/*
 * Fuzz target: an HTTP request path through the query API's parsing, as a
 * client sends it: %-decoding (http.c), then the DNSDB, CIRCL or bro-pdns
 * path parser (pdns_api.c). The first input octet picks the shape; the rest
 * is the path after the route's prefix.
 *
 * Checked: a parse that succeeds gives store queries the store can run (a
 * known kind, names in canonical form, an address range of one family,
 * low <= high), a failure gives an HTTP status and a reason.
 */
#include <stdlib.h>
#include <string.h>

#include "dname.h"
#include "http.h"
#include "pdns_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char raw[8192], path[8192];
	static rv_pdns_request r;
	const char *why = NULL;
	int status;

	if (size < 1 || size > sizeof(raw) - 1)
		return 0;
	memcpy(raw, data + 1, size - 1);
	raw[size - 1] = '\0';
	if (rv_http_path_decode(raw, path) < 0)
		return 0;
	status = rv_pdns_request_parse((rv_pdns_shape)(data[0] % 3), path, &r, &why);
	if (status != 0) {
		if ((status != 400 && status != 404) || why == NULL || why[0] == '\0')
			__builtin_trap();
		return 0;
	}
	if (r.nq < 1 || r.nq > 2)
		__builtin_trap();
	for (size_t i = 0; i < r.nq; i++) {
		const rv_hdb_query *q = &r.hq[i];
		char canon[RV_NAME_MAX];
		const char *bad;

		switch (q->kind) {
		case RV_HQ_RDATA_IP:
			if (q->ip_lo.family != q->ip_hi.family ||
			    memcmp(q->ip_lo.bytes, q->ip_hi.bytes, 16) > 0)
				__builtin_trap();
			break;
		case RV_HQ_RRSET_NAME:
		case RV_HQ_RRSET_SUFFIX:
		case RV_HQ_RDATA_NAME:
			if (q->name == NULL || rv_dname_canon(q->name, canon, sizeof(canon), &bad) < 0 ||
			    strcmp(canon, q->name) != 0)
				__builtin_trap();
			break;
		default:
			__builtin_trap();
		}
	}
	return 0;
}
