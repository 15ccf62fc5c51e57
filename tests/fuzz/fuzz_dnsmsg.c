/*
 * Fuzz target: a DNS response through the CNAME-chain walk.
 *
 * With -DRV_FUZZ_DIFFERENTIAL (e.g. CFLAGS=-DRV_FUZZ_DIFFERENTIAL in a
 * separate build directory) every input also goes through the ldns-based
 * parser that dnsmsg.c replaced (tests/unit/dnsmsg_ldns_ref.c), and any
 * difference that is not one of the deliberate ones listed there traps.
 */
#include <string.h>

#include "dnsmsg.h"
#include "pdns.h"
#ifdef RV_FUZZ_DIFFERENTIAL
#include "../unit/dnsmsg_ldns_ref.c"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every record of a learned answer names real text (the history's input). */
static void check_rec(void *arg, const rv_pdns_rec *r)
{
	(void)arg;
	char text[RV_ADDR_STRLEN];

	if (r->rrname[0] == '\0' || rv_pdns_rec_rdata(r, text)[0] == '\0' || rv_rrtype_name(r->rrtype) == NULL ||
	    strlen(r->rrname) >= RV_NAME_MAX || strlen(rv_pdns_rec_rdata(r, text)) >= RV_NAME_MAX)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rv_answer ans;
	rv_verdict why;
	int rc = rv_dnsmsg_parse(data, size, 16, &ans, &why);
	if (rc == 0 && (ans.naddrs == 0 || ans.naddrs > RV_ANSWER_MAX_ADDRS ||
			strlen(ans.qname) >= RV_NAME_MAX))
		__builtin_trap();
	if (rc == 0 && ans.depth > 16)
		__builtin_trap();
	if (rc == 0) {
		static rv_observation obs;

		obs.answer = ans;
		if (rv_pdns_records(&obs, check_rec, NULL) < ans.naddrs + ans.depth)
			__builtin_trap();
	}
	/* The verdict always agrees with the result. */
	if ((rc == 0) != (why == RV_LEARN) ||
	    (rc == -EBADMSG) != (why == RV_BAD_DNS))
		__builtin_trap();
#ifdef RV_FUZZ_DIFFERENTIAL
	{
		static rv_answer ref;
		rv_verdict ref_why;
		bool diverged;
		int ref_rc = rv_dnsmsg_parse_ref(data, size, 16, &ref, &ref_why);

		switch (dnsmsg_diff_class(data, size, &diverged)) {
		case DIFF_SAME:
			if (dnsmsg_diff_result(rc, why, &ans, ref_rc, ref_why,
					       &ref) != NULL)
				__builtin_trap();
			break;
		case DIFF_LDNS_FRAMING:
			break;
		case DIFF_MALFORMED:
			if (!diverged && ref_rc != -EBADMSG)
				__builtin_trap();
			/* fall through */
		default:
			if (rc != -EBADMSG)
				__builtin_trap();
			break;
		}
	}
#endif
	return 0;
}
