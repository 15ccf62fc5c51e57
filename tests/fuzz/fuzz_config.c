/* Fuzz target: the config file parser. */
#include <stdio.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are not checked here (any is fine for arbitrary input), but they must
 * be consumed: the functions are warn_unused_result. */
static volatile unsigned sink;

static void ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rv_config cfg;
	if (rv_config_defaults(&cfg) < 0)
		return 0;
	if (rv_config_parse(&cfg, "fuzz.conf", (const char *)data, size, ignore, NULL) == 0)
		sink += (unsigned)rv_config_validate(&cfg, "fuzz.conf", ignore, NULL);
	rv_config_clear(&cfg);
	return 0;
}
