/* Fuzz target: named's statistics JSON (what a statistics channel, or
 * whatever answers on its port, sends the agent). */
#include <string.h>

#include "bindstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rv_bindstats_counters c = {12345, 67890};
	const char *why = NULL;
	int rc = rv_bindstats_parse((const char *)data, size, &c, &why);
	/* The contract: 0 with no reason, or an error with a reason and *out
	 * untouched. */
	if (rc == 0 && why != NULL)
		__builtin_trap();
	if (rc < 0 && (why == NULL || c.dnstap_sent != 12345 || c.dnstap_dropped != 67890))
		__builtin_trap();
	if (rc < 0 && rc != -EBADMSG && rc != -ENOMEM)
		__builtin_trap();
	sink += c.dnstap_sent + c.dnstap_dropped + strlen(why ? why : "");
	return 0;
}
