/* Fuzz target: the BIND key file parser. */
#include "tsig_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are not checked here (any is fine for arbitrary input), but they must
 * be consumed: the functions are warn_unused_result. */
static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rv_tsig_key key;
	char err[256];
	sink += (unsigned)rv_tsig_key_parse((const char *)data, size, NULL, &key, err, sizeof(err));
	sink += (unsigned)rv_tsig_key_parse((const char *)data, size, "rearview-key", &key, err, sizeof(err));
	return 0;
}
