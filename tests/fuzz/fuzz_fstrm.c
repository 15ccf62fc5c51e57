/* Fuzz target: arbitrary bytes from a Frame Streams writer, fed in chunks whose
 * sizes come from the input itself, so partial-frame buffering is exercised.
 * Differential: a second session takes the same chunks in batches (the
 * agent's way, rv_fs_batch_cb) and must deliver the same frames, the same
 * bytes, by the end of the same feed call, with the same result. */
#include <stdlib.h>

#include "fstrm_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t frames;
	uint64_t hash; /* FNV-1a over every frame's length and bytes, in order */
};

static void on_frame(void *arg, rv_fs_peer *peer, const uint8_t *d, size_t len)
{
	struct seen *s = arg;

	(void)peer;
	/* Touching every byte also lets ASan check the bounds we were handed. */
	s->frames++;
	s->hash = (s->hash ^ len) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i++)
		s->hash = (s->hash ^ d[i]) * 0x100000001b3ull;
}

static void on_batch(void *arg, rv_fs_peer *peer, const rv_fs_frame *f, size_t n)
{
	if (n == 0 || n > RV_FS_BATCH_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		on_frame(arg, peer, f[i].data, f[i].len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen one = {0, 0xcbf29ce484222325ull}, many = one;
	rv_fs_session *s = rv_fs_session_new("protobuf:dnstap.Dnstap", 4096, on_frame, &one, NULL);
	rv_fs_session *b = rv_fs_session_new("protobuf:dnstap.Dnstap", 4096, NULL, &many, NULL);

	if (!s || !b)
		goto out;
	rv_fs_session_set_batch(b, on_batch);
	size_t pos = 0;
	while (pos < size) {
		size_t chunk = 1 + data[pos] % 64;
		if (chunk > size - pos)
			chunk = size - pos;
		int rc = rv_fs_session_feed(s, data + pos, chunk);
		if (rv_fs_session_feed(b, data + pos, chunk) != rc || many.frames != one.frames ||
		    many.hash != one.hash)
			abort();
		if (rc < 0)
			break;
		size_t out;
		(void)rv_fs_session_output(s, &out);
		rv_fs_session_consume_output(s, out);
		(void)rv_fs_session_output(b, &out);
		rv_fs_session_consume_output(b, out);
		pos += chunk;
	}
out:
	rv_fs_session_free(&s);
	rv_fs_session_free(&b);
	return 0;
}
