/* Fuzz target: a DNS response through the CNAME-chain walk. */
#include <string.h>

#include "dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
