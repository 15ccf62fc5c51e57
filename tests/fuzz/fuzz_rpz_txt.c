/* Fuzz target: what an AXFR of the RPZ hands the reconcile - TXT metadata text
 * (anyone with update rights, or the reference tool, may have written it) and
 * owner names. The input is used as both. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "reconcile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	rv_candidate m;
	if (rv_rpz_txt_parse(s, &m) == 0 && (m.first > m.last || m.first < 0 || m.count == 0))
		__builtin_trap();

	rv_addr a;
	static const char *const zones[] = {"rpz.test", "rpz.test.", ""};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (rv_rpz_owner_to_addr(s, zones[i], &a) == 0 &&
		    a.family != AF_INET && a.family != AF_INET6)
			__builtin_trap();
	free(s);
	return 0;
}
