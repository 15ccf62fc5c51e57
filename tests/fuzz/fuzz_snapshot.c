/* Fuzz target: a snapshot file (read back at every start; a damaged disk or a
 * file from another version must be refused, never crash or half-load; a bad
 * entry in a sound file is skipped alone). */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const uint8_t *data, size_t size)
{
	rv_table_opts o = {.max_addresses = 1000, .max_candidates = 8, .half_life_s = 3600};
	rv_table *t = rv_table_new(&o);
	if (t == NULL)
		return;
	rv_snapshot_load_stats st;
	char err[256];
	int rc = rv_snapshot_parse(data, size, t, &st, err, sizeof(err));
	/* The contract the loader relies on: refused means untouched. */
	if (rc == -EBADMSG && (st.loaded != 0 || st.skipped != 0 || rv_table_size(t) != 0))
		__builtin_trap();
	if (rc == 0) {
		/* Accepted: every announced entry is either restored or skipped (a
		 * bad entry never takes the file with it), and counted once. */
		uint64_t entries = 0;
		for (int i = 16; i < 24; i++)
			entries = entries << 8 | data[i];
		if (st.loaded + st.skipped != entries || st.clamped > st.loaded ||
		    rv_table_size(t) > st.loaded || (st.skipped > 0) != (st.first_skipped[0] != 0))
			__builtin_trap();
	}
	rv_table_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse(data, size);
	/* Random bytes almost never carry a valid checksum: parse a copy with the
	 * trailer recomputed too, so the fuzzer reaches every bound check. */
	if (size >= RV_SNAPSHOT_HEADER + RV_SNAPSHOT_TRAILER) {
		uint8_t *copy = malloc(size);
		if (copy == NULL)
			return 0;
		memcpy(copy, data, size);
		uint64_t h = XXH3_64bits(copy, size - RV_SNAPSHOT_TRAILER);
		for (int i = 7; i >= 0; i--, h >>= 8)
			copy[size - RV_SNAPSHOT_TRAILER + (size_t)i] = (uint8_t)h;
		parse(copy, size);
		free(copy);
	}
	return 0;
}
