/*
 * Fuzz target: a dnstap frame through the protobuf reader and the CNAME-chain
 * walk.
 *
 * With -DRV_FUZZ_DIFFERENTIAL (e.g. CFLAGS=-DRV_FUZZ_DIFFERENTIAL in a
 * separate build directory) every input also goes through the protobuf-c
 * based decoder that dnstap.c replaced (tests/unit/dnstap_pbc_ref.c), and any
 * difference in result, verdict or observation traps.
 */
#include "dnstap.h"
#ifdef RV_FUZZ_DIFFERENTIAL
#include "../unit/dnstap_pbc_ref.c"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rv_observation obs;
	rv_verdict why;
	int rc = rv_dnstap_decode(data, size, 16, &obs, &why);
	/* The contract the agent relies on: learned answers carry 1..max addresses. */
	if (rc == 0 && (obs.answer.naddrs == 0 || obs.answer.naddrs > RV_ANSWER_MAX_ADDRS))
		__builtin_trap();
	/* The verdict always agrees with the result. */
	if ((rc == 0) != (why == RV_LEARN) ||
	    (rc == -EBADMSG) != (why == RV_BAD_PROTOBUF || why == RV_BAD_DNS))
		__builtin_trap();
	/* What the observation borrows lies inside the frame. */
	if (obs.identity != NULL &&
	    (obs.identity < data || obs.identity + obs.identity_len > data + size))
		__builtin_trap();
#ifdef RV_FUZZ_DIFFERENTIAL
	{
		static rv_observation ref;
		rv_verdict ref_why;
		int ref_rc = rv_dnstap_decode_ref(data, size, 16, &ref, &ref_why);

		if (dnstap_diff(rc, why, &obs, ref_rc, ref_why, &ref) != NULL)
			__builtin_trap();
		rv_dnstap_release_ref();
	}
#endif
	return 0;
}
