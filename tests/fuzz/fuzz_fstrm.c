/* Fuzz target: arbitrary bytes from a Frame Streams writer, fed in chunks whose
 * sizes come from the input itself, so partial-frame buffering is exercised. */
#include "fstrm_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_frame(void *arg, rv_fs_peer *peer, const uint8_t *d, size_t len)
{
	(void)arg;
	(void)peer;
	/* Touch every byte so ASan checks the bounds we were handed. */
	volatile uint8_t sink = 0;
	for (size_t i = 0; i < len; i++)
		sink ^= d[i];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rv_fs_session *s = rv_fs_session_new("protobuf:dnstap.Dnstap", 4096, on_frame, NULL, NULL);
	if (!s)
		return 0;
	size_t pos = 0;
	while (pos < size) {
		size_t chunk = 1 + data[pos] % 64;
		if (chunk > size - pos)
			chunk = size - pos;
		if (rv_fs_session_feed(s, data + pos, chunk) < 0)
			break;
		size_t out;
		(void)rv_fs_session_output(s, &out);
		rv_fs_session_consume_output(s, out);
		pos += chunk;
	}
	rv_fs_session_free(&s);
	return 0;
}
