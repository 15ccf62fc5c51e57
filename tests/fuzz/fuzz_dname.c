/*
 * Fuzz target: the DNS name codec (dname.c). The input is read both ways:
 *  - as presentation text: whatever rv_dname_from_text accepts prints (with
 *    rv_dname_to_text) to a text that reads back as the same wire name;
 *  - as a wire name: whatever rv_dname_to_text prints reads back as that
 *    wire name (lower-cased when printed with RV_DNAME_LOWER).
 * A broken round trip would make the AXFR reconcile see a different name
 * than the writer sent, so it traps.
 */
#include <string.h>

#include "dname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_wire(const uint8_t *w, size_t wl, unsigned flags)
{
	char text[RV_NAME_MAX];
	uint8_t back[RV_DNAME_WIRE_MAX];
	size_t bl;

	if (rv_dname_to_text(w, wl, flags, text, sizeof(text)) < 0)
		__builtin_trap();   /* every wire name prints into RV_NAME_MAX */
	if (rv_dname_from_text(text, strlen(text), 0, back, &bl, NULL) < 0 || bl != wl)
		__builtin_trap();
	for (size_t i = 0; i < wl; i++) {
		uint8_t c = w[i];
		/* label lengths are < 64, never letters: folding touches octets only */
		if ((flags & RV_DNAME_LOWER) && c >= 'A' && c <= 'Z')
			c = (uint8_t)(c | 0x20);
		if (back[i] != c)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;
	char text[RV_NAME_MAX];

	if (rv_dname_from_text((const char *)data, size, 0, w, &wl, NULL) == 0) {
		same_wire(w, wl, 0);
		same_wire(w, wl, RV_DNAME_LOWER);
	}
	if (rv_dname_to_text(data, size, 0, text, sizeof(text)) >= 0) {
		/* a wire name: data up to its root label */
		size_t n = 0;
		while (data[n] != 0)
			n += 1u + data[n];
		same_wire(data, n + 1, RV_DNAME_LOWER);
	}
	if (size > 0 && size < RV_NAME_MAX) {
		memcpy(text, data, size);
		text[size] = '\0';
		char canon[RV_NAME_MAX];
		if (strlen(text) == size && rv_dname_canon(text, canon, sizeof(canon), NULL) >= 0 &&
		    rv_dname_from_text(canon, strlen(canon), 0, w, &wl, NULL) < 0)
			__builtin_trap();
	}
	return 0;
}
