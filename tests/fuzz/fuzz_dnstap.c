/* Fuzz target: a dnstap frame through protobuf decode and the CNAME-chain walk. */
#include "dnstap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rv_observation obs;
	rv_verdict why;
	int rc = rv_dnstap_decode(data, size, 16, &obs, &why);
	/* The contract the agent relies on: learned answers carry 1..max addresses. */
	if (rc == 0 && (obs.answer.naddrs == 0 || obs.answer.naddrs > RV_ANSWER_MAX_ADDRS))
		__builtin_trap();
	return 0;
}
