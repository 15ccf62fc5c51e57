/*
 * test_fstrm.c - Frame Streams session state machine (pure, byte-exact) and
 * the libevent server against a real libfstrm writer over a unix socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <fstrm.h>

#include "fstrm_srv.h"
#include "log.h"
#include "rv_test.h"
#include "stats.h"

#define CT "protobuf:dnstap.Dnstap"
#define MAX_FRAME 131072

/* ---- helpers ---- */

typedef struct {
	uint8_t *data;
	size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void bytes_be32(bytes *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	bytes_add(b, x, 4);
}

/* A control frame written by hand (not by libfstrm), so the session is checked
 * against the wire format itself. ctypes is a NULL-terminated list. */
static void add_control(bytes *b, uint32_t type, const char *const *ctypes)
{
	uint32_t len = 4;

	for (size_t i = 0; ctypes != NULL && ctypes[i] != NULL; i++)
		len += 8 + (uint32_t)strlen(ctypes[i]);
	bytes_be32(b, 0);
	bytes_be32(b, len);
	bytes_be32(b, type);
	for (size_t i = 0; ctypes != NULL && ctypes[i] != NULL; i++) {
		bytes_be32(b, 1);
		bytes_be32(b, (uint32_t)strlen(ctypes[i]));
		bytes_add(b, ctypes[i], strlen(ctypes[i]));
	}
}

static void add_data(bytes *b, const void *p, uint32_t len)
{
	bytes_be32(b, len);
	bytes_add(b, p, len);
}

static const char *const our_ct[] = { CT, NULL };

/* Records every delivered frame as BE32 length + bytes, for exact comparison. */
typedef struct {
	bytes frames;
	unsigned count;
	rv_fs_peer *last_peer;
} collector;

static void collect_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	collector *c = arg;

	bytes_be32(&c->frames, (uint32_t)len);
	bytes_add(&c->frames, data, len);
	c->count++;
	c->last_peer = peer;
}

/* Feeds the session, moving all output into out. Returns the first error. */
static int feed_all(rv_fs_session *s, const uint8_t *p, size_t len, size_t chunk_max,
		unsigned *seed, bytes *out)
{
	while (len > 0) {
		size_t n = chunk_max;
		const uint8_t *o;
		size_t olen;
		int rc;

		if (seed != NULL)
			n = 1 + (size_t)rand_r(seed) % chunk_max;
		if (n > len)
			n = len;
		rc = rv_fs_session_feed(s, p, n);
		o = rv_fs_session_output(s, &olen);
		bytes_add(out, o, olen);
		rv_fs_session_consume_output(s, olen);
		if (rc < 0)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

static rv_fs_session *new_session(collector *c)
{
	rv_fs_session *s = rv_fs_session_new(CT, MAX_FRAME, collect_cb, c, NULL);

	assert_non_null(s);
	return s;
}

static void expect_error(const bytes *stream, int err, const char *text)
{
	collector c = { 0 };
	bytes out = { 0 };
	rv_fs_session *s = new_session(&c);

	assert_int_equal(feed_all(s, stream->data, stream->len, stream->len, NULL, &out), err);
	if (text != NULL && strstr(rv_fs_session_error(s), text) == NULL)
		fail_msg("error '%s' does not contain '%s'", rv_fs_session_error(s), text);
	/* The session stays dead: later bytes get the same error. */
	assert_int_equal(rv_fs_session_feed(s, (const uint8_t *)"x", 1), err);
	rv_fs_session_free(&s);
	assert_null(s);
	free(out.data);
	free(c.frames.data);
}

/* ---- session tests ---- */

static void test_handshake_bidirectional(void **state)
{
	static const uint8_t accept_wire[] = {
		0, 0, 0, 0, 0, 0, 0, 34, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 22,
		'p', 'r', 'o', 't', 'o', 'b', 'u', 'f', ':', 'd', 'n', 's', 't', 'a', 'p', '.',
		'D', 'n', 's', 't', 'a', 'p',
	};
	static const uint8_t finish_wire[] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 5 };
	static const char *const offered[] = { "other:type", CT, NULL };
	collector c = { 0 };
	rv_fs_peer peer = { .label = "test" };
	bytes in = { 0 };
	const uint8_t *o;
	size_t olen;
	rv_fs_session *s = rv_fs_session_new(CT, MAX_FRAME, collect_cb, &c, &peer);
	struct fstrm_control *ctl = fstrm_control_init();
	fstrm_control_type type;
	const uint8_t *ct;
	size_t ctlen, n;

	(void)state;
	assert_non_null(s);
	add_control(&in, FSTRM_CONTROL_READY, offered);
	assert_int_equal(rv_fs_session_feed(s, in.data, in.len), 0);
	o = rv_fs_session_output(s, &olen);
	assert_int_equal(olen, sizeof(accept_wire));
	assert_memory_equal(o, accept_wire, sizeof(accept_wire));
	/* And libfstrm reads it as an ACCEPT carrying exactly our type. */
	assert_int_equal(fstrm_control_decode(ctl, o, olen, FSTRM_CONTROL_FLAG_WITH_HEADER),
			fstrm_res_success);
	assert_int_equal(fstrm_control_get_type(ctl, &type), fstrm_res_success);
	assert_int_equal(type, FSTRM_CONTROL_ACCEPT);
	assert_int_equal(fstrm_control_get_num_field_content_type(ctl, &n), fstrm_res_success);
	assert_int_equal(n, 1);
	assert_int_equal(fstrm_control_get_field_content_type(ctl, 0, &ct, &ctlen),
			fstrm_res_success);
	assert_int_equal(ctlen, strlen(CT));
	assert_memory_equal(ct, CT, ctlen);
	/* Partial consumption keeps the rest. */
	rv_fs_session_consume_output(s, 10);
	o = rv_fs_session_output(s, &olen);
	assert_int_equal(olen, sizeof(accept_wire) - 10);
	assert_memory_equal(o, accept_wire + 10, olen);
	rv_fs_session_consume_output(s, olen);
	rv_fs_session_output(s, &olen);
	assert_int_equal(olen, 0);

	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	add_data(&in, "hello", 5);
	add_data(&in, "\0\1\2", 3);
	assert_int_equal(rv_fs_session_feed(s, in.data, in.len), 0);
	rv_fs_session_output(s, &olen);
	assert_int_equal(olen, 0);
	assert_int_equal(c.count, 2);
	assert_int_equal(peer.frames, 2);
	assert_ptr_equal(c.last_peer, &peer);
	assert_int_equal(c.frames.len, 4 + 5 + 4 + 3);
	assert_memory_equal(c.frames.data, "\0\0\0\5hello\0\0\0\3\0\1\2", c.frames.len);
	assert_false(rv_fs_session_finished(s));

	in.len = 0;
	add_control(&in, FSTRM_CONTROL_STOP, NULL);
	assert_int_equal(rv_fs_session_feed(s, in.data, in.len), 0);
	assert_true(rv_fs_session_finished(s));
	o = rv_fs_session_output(s, &olen);
	assert_int_equal(olen, sizeof(finish_wire));
	assert_memory_equal(o, finish_wire, sizeof(finish_wire));
	assert_int_equal(fstrm_control_decode(ctl, o, olen, FSTRM_CONTROL_FLAG_WITH_HEADER),
			fstrm_res_success);
	assert_int_equal(fstrm_control_get_type(ctl, &type), fstrm_res_success);
	assert_int_equal(type, FSTRM_CONTROL_FINISH);

	fstrm_control_destroy(&ctl);
	rv_fs_session_free(&s);
	free(in.data);
	free(c.frames.data);
}

static void test_unidirectional(void **state)
{
	collector c = { 0 };
	bytes in = { 0 }, out = { 0 };
	rv_fs_session *s = new_session(&c);

	(void)state;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	add_data(&in, "abc", 3);
	add_control(&in, FSTRM_CONTROL_STOP, NULL);
	assert_int_equal(feed_all(s, in.data, in.len, in.len, NULL, &out), 0);
	assert_int_equal(c.count, 1);
	assert_memory_equal(c.frames.data + 4, "abc", 3);
	assert_true(rv_fs_session_finished(s));
	/* Only FINISH goes back: no ACCEPT without READY. */
	assert_int_equal(out.len, 12);
	rv_fs_session_free(&s);
	free(in.data);
	free(out.data);
	free(c.frames.data);
}

static void test_start_without_content_type(void **state)
{
	collector c = { 0 };
	bytes in = { 0 }, out = { 0 };
	rv_fs_session *s = new_session(&c);

	(void)state;
	/* READY and START without types are accepted, as libfstrm does. */
	add_control(&in, FSTRM_CONTROL_READY, NULL);
	add_control(&in, FSTRM_CONTROL_START, NULL);
	add_data(&in, "x", 1);
	assert_int_equal(feed_all(s, in.data, in.len, in.len, NULL, &out), 0);
	assert_int_equal(c.count, 1);
	assert_int_equal(out.len, 8 + 34); /* ACCEPT with our type */
	rv_fs_session_free(&s);
	free(in.data);
	free(out.data);
	free(c.frames.data);
}

/* READY, START, many frames of varied sizes (one larger than the initial
 * buffer), STOP. */
static void build_stream(bytes *in)
{
	static const char *const offered[] = { CT, NULL };
	uint8_t payload[5000];
	unsigned seed = 42;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	add_control(in, FSTRM_CONTROL_READY, offered);
	add_control(in, FSTRM_CONTROL_START, offered);
	for (int i = 0; i < 2000; i++) {
		uint32_t len = 1 + (uint32_t)rand_r(&seed) % 300;

		if (i == 777)
			len = sizeof(payload);
		payload[0] = (uint8_t)i;
		add_data(in, payload, len);
	}
	add_control(in, FSTRM_CONTROL_STOP, NULL);
}

static void test_chunking_equivalence(void **state)
{
	bytes in = { 0 };
	collector ref = { 0 };
	bytes ref_out = { 0 };
	rv_fs_session *s;

	(void)state;
	build_stream(&in);
	s = new_session(&ref);
	assert_int_equal(feed_all(s, in.data, in.len, in.len, NULL, &ref_out), 0);
	assert_true(rv_fs_session_finished(s));
	assert_int_equal(ref.count, 2000);
	rv_fs_session_free(&s);

	/* Byte at a time, then random chunk sizes with several seeds and maxima. */
	struct {
		size_t max;
		unsigned seed;
		bool random;
	} runs[] = { { 1, 0, false }, { 7, 1, true }, { 300, 2, true }, { 4096, 3, true },
		     { 70000, 4, true }, { 3, 5, false } };
	for (size_t r = 0; r < RV_ARRAY_LEN(runs); r++) {
		collector c = { 0 };
		bytes out = { 0 };
		unsigned seed = runs[r].seed;

		s = new_session(&c);
		assert_int_equal(feed_all(s, in.data, in.len, runs[r].max,
					runs[r].random ? &seed : NULL, &out), 0);
		assert_true(rv_fs_session_finished(s));
		assert_false(rv_fs_session_mid_frame(s));
		assert_int_equal(c.count, ref.count);
		assert_int_equal(c.frames.len, ref.frames.len);
		assert_memory_equal(c.frames.data, ref.frames.data, ref.frames.len);
		assert_int_equal(out.len, ref_out.len);
		assert_memory_equal(out.data, ref_out.data, ref_out.len);
		rv_fs_session_free(&s);
		free(out.data);
		free(c.frames.data);
	}
	free(ref_out.data);
	free(ref.frames.data);
	free(in.data);
}

/* The batch form: records frames like collect_cb, at the time of the call
 * (so a frame whose buffer was reused before its batch went out would show),
 * and the batch sizes. */
typedef struct {
	collector col;
	size_t batches, largest;
} batch_collector;

static void collect_batch_cb(void *arg, rv_fs_peer *peer, const rv_fs_frame *frames, size_t n)
{
	batch_collector *b = arg;

	assert_true(n > 0);
	b->batches++;
	if (n > b->largest)
		b->largest = n;
	for (size_t i = 0; i < n; i++)
		collect_cb(&b->col, peer, frames[i].data, frames[i].len);
}

/* Batches deliver exactly what frame-at-a-time delivery does, and by the
 * end of each feed call: the same chunks into both, compared after every
 * chunk. Frames completed in the partial-frame buffer and followed by more
 * in the same read are the case that needs care. */
static void test_batch_equivalence(void **state)
{
	bytes in = { 0 };

	(void)state;
	build_stream(&in);
	static const size_t maxima[] = { 1, 7, 300, 4096, 70000, 1 << 20 };
	for (size_t r = 0; r < RV_ARRAY_LEN(maxima); r++) {
		collector one = { 0 };
		batch_collector many = { 0 };
		rv_fs_session *s1 = rv_fs_session_new(CT, MAX_FRAME, collect_cb, &one, NULL);
		rv_fs_session *s2 = rv_fs_session_new(CT, MAX_FRAME, NULL, &many, NULL);
		unsigned seed = 100 + (unsigned)r;
		size_t off = 0;

		assert_non_null(s1);
		assert_non_null(s2);
		rv_fs_session_set_batch(s2, collect_batch_cb);
		while (off < in.len) {
			size_t n = 1 + (size_t)rand_r(&seed) % maxima[r], olen1, olen2;

			if (n > in.len - off)
				n = in.len - off;
			assert_int_equal(rv_fs_session_feed(s1, in.data + off, n), 0);
			assert_int_equal(rv_fs_session_feed(s2, in.data + off, n), 0);
			off += n;
			assert_int_equal(many.col.count, one.count);
			const uint8_t *o1 = rv_fs_session_output(s1, &olen1);
			const uint8_t *o2 = rv_fs_session_output(s2, &olen2);
			assert_int_equal(olen1, olen2);
			assert_memory_equal(o1, o2, olen1);
			rv_fs_session_consume_output(s1, olen1);
			rv_fs_session_consume_output(s2, olen2);
		}
		assert_true(rv_fs_session_finished(s2));
		assert_int_equal(one.count, 2000);
		assert_int_equal(many.col.frames.len, one.frames.len);
		assert_memory_equal(many.col.frames.data, one.frames.data, one.frames.len);
		assert_true(many.largest <= RV_FS_BATCH_MAX);
		/* Large reads carry many frames: they must come as batches. */
		if (maxima[r] >= 4096)
			assert_true(many.batches < one.count / 4);
		rv_fs_session_free(&s1);
		rv_fs_session_free(&s2);
		free(one.frames.data);
		free(many.col.frames.data);
	}
	free(in.data);
}

static void test_wrong_content_type(void **state)
{
	static const char *const other[] = { "x", "protobuf:other", NULL };
	bytes in = { 0 };

	(void)state;
	add_control(&in, FSTRM_CONTROL_READY, other);
	expect_error(&in, -EPROTO,
			"READY offers content type(s) 'x', 'protobuf:other' but not "
			"'protobuf:dnstap.Dnstap'");
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, other + 1);
	expect_error(&in, -EPROTO, "START has content type 'protobuf:other', expected");
	/* START may carry one type only (libfstrm's rule): two are malformed. */
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, other);
	expect_error(&in, -EBADMSG, "malformed START control frame");
	/* The error text never carries raw control bytes. */
	static const char *const nasty[] = { "a\nb'c", NULL };
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, nasty);
	expect_error(&in, -EPROTO, "START has content type 'a?b?c', expected 'protobuf:dnstap.Dnstap'");
	free(in.data);
}

static void test_data_before_start(void **state)
{
	bytes in = { 0 };

	(void)state;
	add_data(&in, "early", 5);
	expect_error(&in, -EBADMSG, "data frame (5 bytes) while expecting READY or START");
	/* After READY/ACCEPT but before START as well. */
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_READY, our_ct);
	add_data(&in, "early", 5);
	expect_error(&in, -EBADMSG, "data frame (5 bytes) while expecting START");
	free(in.data);
}

static void test_oversized_data(void **state)
{
	collector c = { 0 };
	bytes in = { 0 };
	rv_fs_session *s = new_session(&c);

	(void)state;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	bytes_be32(&in, 9999999);
	/* Fails on the length alone, before any payload is buffered. */
	assert_int_equal(rv_fs_session_feed(s, in.data, in.len), -EMSGSIZE);
	assert_string_equal(rv_fs_session_error(s),
			"data frame of 9999999 bytes exceeds max-frame-size 131072");
	rv_fs_session_free(&s);

	/* Exactly max_frame is fine; one more is not. */
	uint8_t *big = calloc(1, MAX_FRAME + 1);
	assert_non_null(big);
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	add_data(&in, big, MAX_FRAME);
	s = new_session(&c);
	assert_int_equal(rv_fs_session_feed(s, in.data, in.len), 0);
	assert_int_equal(c.count, 1);
	add_data(&in, big, MAX_FRAME + 1);
	rv_fs_session_free(&s);
	expect_error(&in, -EMSGSIZE, "131073 bytes exceeds max-frame-size 131072");
	free(big);
	free(in.data);
	free(c.frames.data);
}

static void test_oversized_control(void **state)
{
	bytes in = { 0 };

	(void)state;
	bytes_be32(&in, 0);
	bytes_be32(&in, 513);
	expect_error(&in, -EMSGSIZE, "control frame of 513 bytes exceeds the 512-byte limit");
	in.len = 0;
	bytes_be32(&in, 0);
	bytes_be32(&in, 2);
	expect_error(&in, -EBADMSG, "too short");
	free(in.data);
}

static void test_bad_control(void **state)
{
	bytes in = { 0 };

	(void)state;
	/* Unknown type. */
	add_control(&in, 9, NULL);
	expect_error(&in, -EBADMSG, "unknown control frame type 9");
	/* Malformed: unknown field type 7. */
	in.len = 0;
	bytes_be32(&in, 0);
	bytes_be32(&in, 12);
	bytes_be32(&in, FSTRM_CONTROL_READY);
	bytes_be32(&in, 7);
	bytes_be32(&in, 0);
	expect_error(&in, -EBADMSG, "malformed READY control frame");
	/* Malformed: content type length runs past the frame. */
	in.len = 0;
	bytes_be32(&in, 0);
	bytes_be32(&in, 14);
	bytes_be32(&in, FSTRM_CONTROL_READY);
	bytes_be32(&in, 1);
	bytes_be32(&in, 100);
	bytes_add(&in, "ab", 2);
	expect_error(&in, -EBADMSG, "malformed READY control frame");
	/* Unexpected types in each state. */
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_ACCEPT, our_ct);
	expect_error(&in, -EBADMSG, "unexpected ACCEPT control frame");
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_STOP, NULL);
	expect_error(&in, -EBADMSG, "unexpected STOP control frame while expecting READY or START");
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_READY, our_ct);
	add_control(&in, FSTRM_CONTROL_READY, our_ct);
	expect_error(&in, -EBADMSG, "unexpected READY control frame while expecting START");
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	add_control(&in, FSTRM_CONTROL_FINISH, NULL);
	expect_error(&in, -EBADMSG, "unexpected FINISH control frame while receiving data");
	/* Anything after STOP. */
	in.len = 0;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	add_control(&in, FSTRM_CONTROL_STOP, NULL);
	add_data(&in, "late", 4);
	expect_error(&in, -EBADMSG, "8 bytes after STOP");
	free(in.data);
}

static void test_garbage(void **state)
{
	bytes in = { 0 };

	(void)state;
	bytes_add(&in, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	expect_error(&in, -EBADMSG, "while expecting READY or START");
	/* Every fixed-seed random stream fails cleanly (no crash, no hang). */
	for (unsigned seed = 1; seed < 200; seed++) {
		collector c = { 0 };
		bytes out = { 0 };
		uint8_t junk[600];
		unsigned sd = seed;
		rv_fs_session *s = new_session(&c);

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand_r(&sd);
		/* Start some as a control frame so decode paths are reached too. */
		if (seed % 2)
			memset(junk, 0, 6);
		int rc = feed_all(s, junk, sizeof(junk), 1 + seed % 50, NULL, &out);
		assert_true(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE || rc == -EPROTO);
		rv_fs_session_free(&s);
		free(out.data);
		free(c.frames.data);
	}
	free(in.data);
}

static void test_mid_frame(void **state)
{
	collector c = { 0 };
	bytes in = { 0 };
	rv_fs_session *s = new_session(&c);
	size_t hdr;

	(void)state;
	assert_false(rv_fs_session_mid_frame(s));
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	hdr = in.len;
	add_data(&in, "0123456789", 10);
	/* Two bytes of the control header. */
	assert_int_equal(rv_fs_session_feed(s, in.data, 2), 0);
	assert_true(rv_fs_session_mid_frame(s));
	assert_int_equal(rv_fs_session_feed(s, in.data + 2, hdr - 2), 0);
	assert_false(rv_fs_session_mid_frame(s));
	/* Data header and part of the payload. */
	assert_int_equal(rv_fs_session_feed(s, in.data + hdr, 7), 0);
	assert_true(rv_fs_session_mid_frame(s));
	assert_int_equal(c.count, 0);
	assert_int_equal(rv_fs_session_feed(s, in.data + hdr + 7, in.len - hdr - 7), 0);
	assert_false(rv_fs_session_mid_frame(s));
	assert_int_equal(c.count, 1);
	assert_memory_equal(c.frames.data + 4, "0123456789", 10);
	assert_string_equal(rv_fs_session_error(s), "no error");
	rv_fs_session_free(&s);
	free(in.data);
	free(c.frames.data);
}

/* The accessors the server's deadlines and slot policy rely on. */
static void test_session_phases(void **state)
{
	collector c = { 0 };
	bytes in = { 0 }, out = { 0 };
	rv_fs_session *s = new_session(&c);
	size_t ready_len, start_end;
	uint64_t id;

	(void)state;
	add_control(&in, FSTRM_CONTROL_READY, our_ct);
	ready_len = in.len;
	add_control(&in, FSTRM_CONTROL_START, our_ct);
	start_end = in.len;
	add_data(&in, "0123456789", 10);
	add_data(&in, "abcdef", 6);
	add_control(&in, FSTRM_CONTROL_STOP, NULL);

	assert_false(rv_fs_session_accepted(s));
	assert_false(rv_fs_session_started(s));
	id = rv_fs_session_frame_id(s);
	/* Half a READY: a new partial frame, still no phase change. */
	assert_int_equal(feed_all(s, in.data, 5, 5, NULL, &out), 0);
	assert_int_not_equal(rv_fs_session_frame_id(s), id);
	assert_false(rv_fs_session_accepted(s));
	assert_int_equal(feed_all(s, in.data + 5, ready_len - 5, 64, NULL, &out), 0);
	assert_true(rv_fs_session_accepted(s));
	assert_false(rv_fs_session_started(s));
	assert_int_equal(feed_all(s, in.data + ready_len, start_end - ready_len, 64, NULL, &out), 0);
	assert_false(rv_fs_session_accepted(s));
	assert_true(rv_fs_session_started(s));
	/* The same incomplete frame keeps its id however many bytes trickle in... */
	assert_int_equal(rv_fs_session_feed(s, in.data + start_end, 3), 0);
	id = rv_fs_session_frame_id(s);
	for (size_t i = 3; i < 13; i++) {
		assert_int_equal(rv_fs_session_feed(s, in.data + start_end + i, 1), 0);
		assert_true(rv_fs_session_mid_frame(s));
		assert_int_equal(rv_fs_session_frame_id(s), id);
	}
	/* ...and the next incomplete frame gets a new one, even when the read
	 * that completes the first starts the second. */
	assert_int_equal(rv_fs_session_feed(s, in.data + start_end + 13, 3), 0);
	assert_int_equal(c.count, 1);
	assert_true(rv_fs_session_mid_frame(s));
	assert_int_not_equal(rv_fs_session_frame_id(s), id);
	assert_int_equal(feed_all(s, in.data + start_end + 16, in.len - start_end - 16, 64, NULL,
			&out), 0);
	assert_int_equal(c.count, 2);
	assert_true(rv_fs_session_finished(s));
	assert_true(rv_fs_session_started(s));
	rv_fs_session_free(&s);
	free(in.data);
	free(out.data);
	free(c.frames.data);
}

#define SLOT(t, p, since) ((rv_fs_slot){ .trusted = (t), .progress = (p), .since_ms = (since) })

/* Field by field: struct padding is not guaranteed to compare equal. */
static bool slot_eq(const rv_fs_slot *a, const rv_fs_slot *b)
{
	return a->trusted == b->trusted && a->progress == b->progress && a->since_ms == b->since_ms;
}

static void test_slot_policy(void **state)
{
	/* In eviction order: each entry goes before every later one. */
	const rv_fs_slot order[] = {
		SLOT(false, RV_FS_FINISHING, 900),
		SLOT(false, RV_FS_CONNECTED, 100),
		SLOT(false, RV_FS_CONNECTED, 500),
		SLOT(false, RV_FS_ACCEPTED, 50),
		SLOT(false, RV_FS_STARTED, 10),
		SLOT(false, RV_FS_STARTED, 20),
		SLOT(false, RV_FS_DELIVERING, 1),
		SLOT(false, RV_FS_DELIVERING, 999),
		SLOT(true, RV_FS_FINISHING, 5),
		SLOT(true, RV_FS_CONNECTED, 0),
		SLOT(true, RV_FS_ACCEPTED, 0),
		SLOT(true, RV_FS_STARTED, 7),
		SLOT(true, RV_FS_DELIVERING, 3),
		SLOT(true, RV_FS_DELIVERING, 4),
	};
	const size_t n = RV_ARRAY_LEN(order);
	rv_fs_slot shuffled[RV_ARRAY_LEN(order)];
	unsigned seed = 7;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_false(rv_fs_slot_before(&order[i], &order[i]));
		for (size_t j = i + 1; j < n; j++) {
			if (!rv_fs_slot_before(&order[i], &order[j]) ||
			    rv_fs_slot_before(&order[j], &order[i]))
				fail_msg("slot %zu should go before slot %zu", i, j);
		}
	}
	/* Whatever the order of the table, the victim is the first of `order`
	 * a newcomer may take. */
	for (int round = 0; round < 50; round++) {
		memcpy(shuffled, order, sizeof(order));
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)rand_r(&seed) % (i + 1);
			rv_fs_slot t = shuffled[i];

			shuffled[i] = shuffled[j];
			shuffled[j] = t;
		}
		long v = rv_fs_slot_victim(shuffled, n, false);

		assert_true(v >= 0);
		assert_true(slot_eq(&shuffled[v], &order[0]));
		/* Only the trusted slots left: a writer takes the first of them... */
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (shuffled[i].trusted)
				shuffled[k++] = shuffled[i];
		v = rv_fs_slot_victim(shuffled, k, true);
		assert_true(v >= 0);
		assert_true(slot_eq(&shuffled[v], &order[8]));
		/* ...and anyone else is refused. */
		assert_int_equal(rv_fs_slot_victim(shuffled, k, false), -1);
	}
	/* A writer newcomer displaces a delivering non-writer before an idle writer
	 * that has not even completed its handshake. */
	const rv_fs_slot two[] = { SLOT(true, RV_FS_CONNECTED, 0), SLOT(false, RV_FS_DELIVERING, 9) };

	assert_int_equal(rv_fs_slot_victim(two, 2, true), 1);
	assert_int_equal(rv_fs_slot_victim(two, 2, false), 1);
	assert_true(rv_fs_slot_evictable(&two[0], true));
	assert_false(rv_fs_slot_evictable(&two[0], false));
	assert_true(rv_fs_slot_evictable(&two[1], false));
	assert_int_equal(rv_fs_slot_victim(two, 0, true), -1);
}

/* ---- server tests ---- */

typedef struct {
	char dir[64];
	char path[128];
	struct event_base *base;
	collector col;
	/* Highest sequence number seen per writer tag, to check per-connection order. */
	int next_seq[4];
	int order_errors;
} srv_fixture;

static void srv_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	srv_fixture *f = arg;
	unsigned tag;
	int seq;

	f->col.count++;
	/* Unix peers carry their credentials, TCP peers their address. */
	if (peer == NULL || (strstr(peer->label, "pid ") == NULL &&
	    (strncmp(peer->label, "tcp 127.0.0.1:", 14) != 0 ||
	     strcmp(peer->source, "127.0.0.1") != 0)))
		f->order_errors++;
	/* Payload: "<tag> <seq>" then padding. */
	char head[32];
	size_t hl = len < sizeof(head) - 1 ? len : sizeof(head) - 1;

	memcpy(head, data, hl);
	head[hl] = '\0';
	if (sscanf(head, "%u %d", &tag, &seq) != 2 || tag >= 4 ||
	    seq != f->next_seq[tag]) {
		f->order_errors++;
		return;
	}
	f->next_seq[tag]++;
}

static int srv_setup(void **state)
{
	srv_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/rv-test-fstrm-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dnstap.sock", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	memset(&rv_stats, 0, sizeof(rv_stats));
	*state = f;
	return 0;
}

static int srv_teardown(void **state)
{
	srv_fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	event_base_free(f->base);
	free(f->col.frames.data);
	free(f);
	return 0;
}

static rv_fs_server_opts default_opts(const srv_fixture *f)
{
	rv_fs_server_opts o = {
		.path = f->path,
		.mode = 0660,
		.gid = (gid_t)-1,
		.max_frame = MAX_FRAME,
		.max_connections = 16,
		.stall_timeout_ms = 5000,
		.handshake_timeout_ms = 5000,
		.content_type = CT,
	};
	return o;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop in 10 ms slices until cond holds; false on timeout (scaled by
 * RV_TIME_SCALE: valgrind and sanitizers are slower). */
static bool loop_until(struct event_base *base, cond_fn cond, void *arg, double timeout_s)
{
	double end = now_s() + rv_test_s(timeout_s);
	struct timeval slice = { 0, 10000 };

	while (!cond(arg)) {
		if (now_s() > end)
			return false;
		event_base_loopexit(base, &slice);
		event_base_dispatch(base);
	}
	return true;
}

typedef struct {
	const char *path;
	uint16_t tcp_port;  /* nonzero: a libfstrm TCP writer to 127.0.0.1 instead */
	unsigned tag;
	int nframes;
	size_t frame_len;
	atomic_bool done;
	bool ok;
	double destroy_s;
} writer_job;

/* A real libfstrm bidirectional unix writer, as named uses. */
static void *writer_thread(void *arg)
{
	writer_job *j = arg;
	struct fstrm_unix_writer_options *uwopt = fstrm_unix_writer_options_init();
	struct fstrm_writer_options *wopt = fstrm_writer_options_init();
	struct fstrm_writer *w = NULL;
	char buf[4096];
	bool ok = false;
	double t0;

	if (j->frame_len > sizeof(buf))
		goto out;
	fstrm_unix_writer_options_set_socket_path(uwopt, j->path);
	if (fstrm_writer_options_add_content_type(wopt, CT, strlen(CT)) != fstrm_res_success)
		goto out;
	if (j->tcp_port != 0) {
		struct fstrm_tcp_writer_options *twopt = fstrm_tcp_writer_options_init();
		char port[8];

		snprintf(port, sizeof(port), "%u", (unsigned)j->tcp_port);
		fstrm_tcp_writer_options_set_socket_address(twopt, "127.0.0.1");
		fstrm_tcp_writer_options_set_socket_port(twopt, port);
		w = fstrm_tcp_writer_init(twopt, wopt);
		fstrm_tcp_writer_options_destroy(&twopt);
	} else {
		w = fstrm_unix_writer_init(uwopt, wopt);
	}
	if (w == NULL || fstrm_writer_open(w) != fstrm_res_success)
		goto out;
	memset(buf, '.', sizeof(buf));
	for (int i = 0; i < j->nframes; i++) {
		int n = snprintf(buf, sizeof(buf), "%u %d ", j->tag, i);

		buf[n] = '.';
		if (fstrm_writer_write(w, buf, j->frame_len) != fstrm_res_success)
			goto out;
	}
	/* Sends STOP and blocks until FINISH: the timing shows FINISH came at once. */
	t0 = now_s();
	ok = fstrm_writer_destroy(&w) == fstrm_res_success;
	j->destroy_s = now_s() - t0;
out:
	if (w != NULL)
		fstrm_writer_destroy(&w);
	fstrm_writer_options_destroy(&wopt);
	fstrm_unix_writer_options_destroy(&uwopt);
	j->ok = ok;
	atomic_store(&j->done, true);
	return NULL;
}

typedef struct {
	srv_fixture *f;
	writer_job *jobs;
	int njobs;
	uint64_t dropped;
} wait_state;

static bool writers_done(void *arg)
{
	wait_state *w = arg;

	for (int i = 0; i < w->njobs; i++)
		if (!atomic_load(&w->jobs[i].done))
			return false;
	return rv_stats.fs_active == 0 && rv_stats.fs_dropped >= w->dropped;
}

static void run_writers(srv_fixture *f, writer_job *jobs, int njobs, int garbage_fd)
{
	pthread_t th[4];
	wait_state ws = { f, jobs, njobs, garbage_fd >= 0 ? 1 : 0 };

	for (int i = 0; i < njobs; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &jobs[i]), 0);
	if (garbage_fd >= 0)
		assert_int_equal(write(garbage_fd, "NOT FRAME STREAMS AT ALL", 24), 24);
	bool done = loop_until(f->base, writers_done, &ws, 30);
	for (int i = 0; i < njobs; i++)
		pthread_join(th[i], NULL);
	assert_true(done);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void test_server_real_writer(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	writer_job job = { .path = f->path, .tag = 0, .nframes = 20000, .frame_len = 125 };
	struct stat st;
	int err = 1;
	rv_fs_server *srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);

	assert_non_null(srv);
	assert_int_equal(err, 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);

	run_writers(f, &job, 1, -1);
	assert_true(job.ok);
	assert_true(job.destroy_s < rv_test_s(1.0));  /* FINISH at once, not at a timeout */
	assert_int_equal(f->col.count, 20000);
	assert_int_equal(f->next_seq[0], 20000);
	assert_int_equal(f->order_errors, 0);
	assert_int_equal(rv_stats.fs_accepted, 1);
	assert_int_equal(rv_stats.fs_finished, 1);
	assert_int_equal(rv_stats.fs_frames, 20000);
	assert_int_equal(rv_stats.fs_dropped, 0);
	assert_true(rv_stats.fs_bytes >= 20000 * 129);

	rv_fs_server_free(&srv);
	assert_null(srv);
	/* free() removes the socket file. */
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void srv_batch_cb(void *arg, rv_fs_peer *peer, const rv_fs_frame *frames, size_t n)
{
	for (size_t i = 0; i < n; i++)
		srv_cb(arg, peer, frames[i].data, frames[i].len);
}

/* The agent's way (opts.batch_cb): a real writer's 20,000 frames arrive
 * whole, in order, and none through the per-frame callback. */
static void test_server_batches(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	writer_job job = { .path = f->path, .tag = 0, .nframes = 20000, .frame_len = 125 };
	int err = 1;

	o.batch_cb = srv_batch_cb;
	rv_fs_server *srv = rv_fs_server_new(f->base, &o, NULL, f, &err);

	assert_non_null(srv);
	run_writers(f, &job, 1, -1);
	assert_true(job.ok);
	assert_int_equal(f->col.count, 20000);
	assert_int_equal(f->next_seq[0], 20000);
	assert_int_equal(f->order_errors, 0);
	assert_int_equal(rv_stats.fs_frames, 20000);
	rv_fs_server_free(&srv);
}

static void test_server_two_writers_and_garbage(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	writer_job jobs[2] = {
		{ .path = f->path, .tag = 1, .nframes = 5000, .frame_len = 125 },
		{ .path = f->path, .tag = 2, .nframes = 3000, .frame_len = 3000 },
	};
	int err, g;
	char c;
	rv_fs_server *srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);

	assert_non_null(srv);
	g = raw_connect(f->path);
	assert_true(g >= 0);
	run_writers(f, jobs, 2, g);
	assert_true(jobs[0].ok && jobs[1].ok);
	assert_true(jobs[0].destroy_s < rv_test_s(1.0) && jobs[1].destroy_s < rv_test_s(1.0));
	assert_int_equal(f->next_seq[1], 5000);
	assert_int_equal(f->next_seq[2], 3000);
	assert_int_equal(f->order_errors, 0);
	assert_int_equal(rv_stats.fs_accepted, 3);
	assert_int_equal(rv_stats.fs_finished, 2);
	assert_int_equal(rv_stats.fs_dropped, 1);
	/* The garbage client was closed on. */
	assert_int_equal(read(g, &c, 1), 0);
	close(g);
	rv_fs_server_free(&srv);
}

/* Runs the loop for ms milliseconds. */
static void spin(struct event_base *base, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* True once the server has closed fd (anything it sent first is drained). */
static bool peer_closed(int fd)
{
	char buf[256];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0)
			return true;
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
}

static void write_all(int fd, const void *p, size_t len)
{
	assert_int_equal(write(fd, p, len), (ssize_t)len);
}

static void send_control(int fd, uint32_t type)
{
	bytes b = { 0 };

	add_control(&b, type, type == FSTRM_CONTROL_STOP ? NULL : our_ct);
	write_all(fd, b.data, b.len);
	free(b.data);
}

/* Test payload the fixture's callback accepts: "<tag> <seq>" padded. */
static void send_frame(int fd, unsigned tag, int seq)
{
	char p[16];
	bytes b = { 0 };

	memset(p, '.', sizeof(p));
	p[snprintf(p, sizeof(p), "%u %d ", tag, seq)] = '.';
	add_data(&b, p, sizeof(p));
	write_all(fd, b.data, b.len);
	free(b.data);
}

/* Bytes sent one at a time, every interval: a peer that keeps "making
 * progress" without ever finishing what it started. */
typedef struct {
	int fd;
	bytes data;
	size_t sent;
	double interval_s, next_s;
	/* Optional: also send one whole data frame on slow_fd every slow_s. */
	int slow_fd;
	int slow_seq;
	double slow_s, slow_next_s;
	uint64_t want_timeouts;
	double until_s;
} trickler;

static void trickle_step(trickler *t)
{
	double now = now_s();

	if (t->fd >= 0 && t->sent < t->data.len && now >= t->next_s) {
		if (write(t->fd, t->data.data + t->sent, 1) == 1)
			t->sent++;
		t->next_s = now + t->interval_s;
	}
	if (t->slow_fd >= 0 && now >= t->slow_next_s) {
		send_frame(t->slow_fd, 3, t->slow_seq++);
		t->slow_next_s = now + t->slow_s;
	}
}

static bool trickle_until_timeouts(void *arg)
{
	trickler *t = arg;

	trickle_step(t);
	return rv_stats.fs_timeouts >= t->want_timeouts;
}

static bool trickle_until_time(void *arg)
{
	trickler *t = arg;

	trickle_step(t);
	return now_s() >= t->until_s;
}

static bool active_is(void *arg)
{
	return rv_stats.fs_active == *(const uint64_t *)arg;
}

static bool evicted_is(void *arg)
{
	return rv_stats.fs_evicted == *(const uint64_t *)arg;
}

static void wait_active(srv_fixture *f, uint64_t n)
{
	assert_true(loop_until(f->base, active_is, &n, 5));
}

/* The handshake has one deadline from accept: silence, a READY without START,
 * and a READY trickled a byte at a time are all dropped when it expires; a
 * peer that completed the handshake may then stay idle. */
static void test_server_handshake_deadline(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	trickler t = { .fd = -1, .slow_fd = -1, .interval_s = 0.04, .want_timeouts = 3 };
	int err, silent, ready_only, idle;
	rv_fs_server *srv;
	double t0, took;

	o.handshake_timeout_ms = 300;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	silent = raw_connect(f->path);
	ready_only = raw_connect(f->path);
	t.fd = raw_connect(f->path);
	idle = raw_connect(f->path);
	assert_true(silent >= 0 && ready_only >= 0 && t.fd >= 0 && idle >= 0);
	t0 = now_s();
	send_control(ready_only, FSTRM_CONTROL_READY);
	send_control(idle, FSTRM_CONTROL_START);
	add_control(&t.data, FSTRM_CONTROL_READY, our_ct);
	assert_true(loop_until(f->base, trickle_until_timeouts, &t, 5));
	took = now_s() - t0;
	/* 42 bytes at one per 40 ms would take 1.7 s: the trickle did not help. */
	assert_true(t.sent < t.data.len);
	assert_true(took >= 0.28 && took < 1.5);
	assert_int_equal(rv_stats.fs_timeouts, 3);
	assert_int_equal(rv_stats.fs_dropped, 3);
	assert_true(peer_closed(silent));
	assert_true(peer_closed(ready_only));
	assert_true(peer_closed(t.fd));
	/* Idle after START is how named waits for traffic: no deadline. */
	spin(f->base, 600);
	assert_false(peer_closed(idle));
	assert_int_equal(rv_stats.fs_active, 1);
	assert_int_equal(rv_stats.fs_timeouts, 3);
	close(silent);
	close(ready_only);
	close(t.fd);
	close(idle);
	free(t.data.data);
	rv_fs_server_free(&srv);
}

/* A frame has stall-timeout from its first byte to its last, however the bytes
 * are spread; whole frames may come as slowly as they like. */
static void test_server_frame_deadline(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	trickler t = { .fd = -1, .slow_fd = -1, .interval_s = 0.05, .slow_s = 0.15,
		       .want_timeouts = 1 };
	uint8_t payload[20];
	int err, trickled;
	rv_fs_server *srv;
	double t0, took;

	o.stall_timeout_ms = 300;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	t.fd = raw_connect(f->path);
	t.slow_fd = raw_connect(f->path);
	assert_true(t.fd >= 0 && t.slow_fd >= 0);
	send_control(t.fd, FSTRM_CONTROL_START);
	send_control(t.slow_fd, FSTRM_CONTROL_START);
	wait_active(f, 2);
	/* An idle started connection is not stalled. */
	spin(f->base, 500);
	assert_int_equal(rv_stats.fs_timeouts, 0);
	memset(payload, 'x', sizeof(payload));
	add_data(&t.data, payload, sizeof(payload));
	t0 = now_s();
	t.slow_next_s = t0;
	assert_true(loop_until(f->base, trickle_until_timeouts, &t, 5));
	took = now_s() - t0;
	/* 24 bytes at one per 50 ms would take 1.2 s; each byte came well within
	 * the 300 ms, yet the frame as a whole did not. */
	assert_true(t.sent < t.data.len);
	assert_true(took >= 0.28 && took < 0.9);
	assert_true(peer_closed(t.fd));
	/* The slow but whole frames keep coming, and their connection stays. */
	trickled = t.fd;
	t.fd = -1;
	t.until_s = now_s() + 0.5;
	assert_true(loop_until(f->base, trickle_until_time, &t, 5));
	spin(f->base, 50);
	assert_false(peer_closed(t.slow_fd));
	assert_true(t.slow_seq >= 4);
	assert_int_equal(f->next_seq[3], t.slow_seq);
	assert_int_equal(f->order_errors, 0);
	assert_int_equal(rv_stats.fs_timeouts, 1);
	assert_int_equal(rv_stats.fs_active, 1);
	/* STOP is still answered and the connection closed cleanly. */
	send_control(t.slow_fd, FSTRM_CONTROL_STOP);
	wait_active(f, 0);
	assert_int_equal(rv_stats.fs_finished, 1);
	close(trickled);
	close(t.slow_fd);
	free(t.data.data);
	rv_fs_server_free(&srv);
}

/* Full slots: each newcomer evicts the peer that got least far, the
 * longest-standing first; a delivering writer is never the one. */
static void test_server_eviction_order(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	uint64_t want;
	int err, silent, started, delivering, accepted, n1, n2, n3, n4;
	rv_fs_server *srv;

	o.max_connections = 4;
	o.handshake_timeout_ms = 10000;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	silent = raw_connect(f->path);
	wait_active(f, 1);
	started = raw_connect(f->path);
	send_control(started, FSTRM_CONTROL_START);
	wait_active(f, 2);
	delivering = raw_connect(f->path);
	send_control(delivering, FSTRM_CONTROL_START);
	send_frame(delivering, 1, 0);
	wait_active(f, 3);
	accepted = raw_connect(f->path);
	send_control(accepted, FSTRM_CONTROL_READY);
	wait_active(f, 4);
	spin(f->base, 50);
	assert_int_equal(f->next_seq[1], 1);

	/* silent (no handshake) goes first. */
	n1 = raw_connect(f->path);
	want = 1;
	assert_true(loop_until(f->base, evicted_is, &want, 5));
	assert_true(peer_closed(silent));
	send_control(n1, FSTRM_CONTROL_START);
	spin(f->base, 50);
	/* Then the READY without START (n1 has started meanwhile). */
	n2 = raw_connect(f->path);
	want = 2;
	assert_true(loop_until(f->base, evicted_is, &want, 5));
	assert_true(peer_closed(accepted));
	send_control(n2, FSTRM_CONTROL_START);
	spin(f->base, 50);
	/* Then the started peer that has been idle longest: started, not n1/n2. */
	n3 = raw_connect(f->path);
	want = 3;
	assert_true(loop_until(f->base, evicted_is, &want, 5));
	assert_true(peer_closed(started));
	/* n3 never handshakes: the next newcomer evicts it, newest or not. */
	n4 = raw_connect(f->path);
	want = 4;
	assert_true(loop_until(f->base, evicted_is, &want, 5));
	assert_true(peer_closed(n3));
	assert_false(peer_closed(delivering));
	assert_false(peer_closed(n1));
	assert_false(peer_closed(n2));
	assert_false(peer_closed(n4));
	assert_int_equal(rv_stats.fs_active, 4);
	assert_int_equal(rv_stats.fs_refused, 0);
	assert_int_equal(rv_stats.fs_dropped, 0);
	/* The delivering peer still delivers. */
	send_frame(delivering, 1, 1);
	spin(f->base, 50);
	assert_int_equal(f->next_seq[1], 2);
	close(silent);
	close(started);
	close(delivering);
	close(accepted);
	close(n1);
	close(n2);
	close(n3);
	close(n4);
	rv_fs_server_free(&srv);
}

/* A child process running as uid connects and waits up to 5 s for the server
 * to close on it. Exit status: 0 closed by the server, 1 still open, 2 no
 * connection, 3 could not switch uid. No cmocka calls: it is a forked child. */
static pid_t connect_as(const char *path, uid_t uid, gid_t gid)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct pollfd pfd;
		char buf[64];
		int fd;

		/* Copies of the server's sockets (other peers' connections) would
		 * keep them open after the server closes them. */
		for (int i = 3; i < 1024; i++)
			close(i);
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(3);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sa.sun_path, path);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(2);
		pfd.fd = fd;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, 5000) == 1) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n <= 0)
				_exit(0);
		}
		_exit(1);
	}
	return pid;
}

typedef struct {
	pid_t pid;
	int status;
	bool done;
} child_wait;

static bool child_exited(void *arg)
{
	child_wait *w = arg;

	if (!w->done && waitpid(w->pid, &w->status, WNOHANG) == w->pid)
		w->done = true;
	return w->done;
}

static int child_result(srv_fixture *f, pid_t pid)
{
	child_wait w = { .pid = pid };

	if (!loop_until(f->base, child_exited, &w, 8)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return WIFEXITED(w.status) ? WEXITSTATUS(w.status) : -1;
}

static bool refused_is(void *arg)
{
	return rv_stats.fs_refused == *(const uint64_t *)arg;
}

/* Writers (trusted uids) keep their slots: another uid evicts only its own
 * kind and is refused when writers hold every slot; a writer evicts others
 * first. Needs root, to run peers as another uid. */
static void test_server_writers_keep_slots(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	const uid_t writers[] = { 0 };
	const uid_t other = 65534;
	uint64_t want;
	int err, w1, w2;
	pid_t a, b, c;
	rv_fs_server *srv;

	if (geteuid() != 0) {
		print_message("not root: cannot run peers as another uid; skipped\n");
		skip();
	}
	o.max_connections = 2;
	o.handshake_timeout_ms = 10000;
	o.mode = 0666;
	o.trusted_uids = writers;
	o.ntrusted_uids = 1;
	assert_int_equal(chmod(f->dir, 0711), 0);
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	w1 = raw_connect(f->path);
	wait_active(f, 1);
	a = connect_as(f->path, other, other);
	wait_active(f, 2);
	/* b (not a writer) may evict a (not a writer), never w1. */
	b = connect_as(f->path, other, other);
	assert_int_equal(child_result(f, a), 0);
	want = 1;
	assert_true(loop_until(f->base, evicted_is, &want, 5));
	/* A writer evicts the non-writer, though w1 has not even handshaken. */
	w2 = raw_connect(f->path);
	assert_int_equal(child_result(f, b), 0);
	assert_int_equal(rv_stats.fs_evicted, 2);
	/* Only writers left: a non-writer is refused. */
	c = connect_as(f->path, other, other);
	want = 1;
	assert_true(loop_until(f->base, refused_is, &want, 5));
	assert_int_equal(child_result(f, c), 0);
	assert_false(peer_closed(w1));
	assert_false(peer_closed(w2));
	assert_int_equal(rv_stats.fs_active, 2);
	assert_int_equal(rv_stats.fs_evicted, 2);
	close(w1);
	close(w2);
	rv_fs_server_free(&srv);
}

static bool all_gone(void *arg)
{
	return rv_stats.fs_accepted == *(const uint64_t *)arg && rv_stats.fs_active == 0;
}

static unsigned count_lines(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* A frame callback that finds every frame malformed and asks, as main.c does,
 * whether it may log that (once per connection). */
static void malformed_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	unsigned *allowed = arg;

	(void)data;
	(void)len;
	if (peer->bad_frames++ == 0 && rv_fs_peer_log_ok(peer, RV_LOG_ERR))
		(*allowed)++;
}

/* A reconnect storm logs a bounded number of lines plus one summary; each kind
 * has its own budget, so the storm cannot hide the protocol errors. */
static void test_server_log_rate_limit(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	char path[] = "/tmp/rv-test-fstrm-log-XXXXXX";
	static char text[65536];
	int saved_level = rv_log_level, saved_err, logfd, err;
	uint64_t want = 53;
	unsigned allowed = 0;
	rv_fs_server *srv;
	ssize_t n;
	rv_fs_peer lone = { .label = "no server" };

	o.max_connections = 100;
	logfd = mkstemp(path);
	assert_true(logfd >= 0);
	fflush(stderr);
	saved_err = dup(2);
	assert_true(saved_err >= 0);
	assert_int_equal(dup2(logfd, 2), 2);
	rv_log_level = RV_LOG_INFO;
	srv = rv_fs_server_new(f->base, &o, malformed_cb, &allowed, &err);
	assert_non_null(srv);
	for (int i = 0; i < 40; i++) {
		int fd = raw_connect(f->path);

		assert_true(fd >= 0);
		close(fd);
		if (i % 8 == 7)
			spin(f->base, 20);
	}
	for (int i = 0; i < 5; i++) {
		int fd = raw_connect(f->path);

		assert_true(fd >= 0);
		write_all(fd, "NOT FRAME STREAMS", 17);
		close(fd);
	}
	/* Eight writers with one malformed frame each: 5 may say so. */
	for (int i = 0; i < 8; i++) {
		int fd = raw_connect(f->path);

		assert_true(fd >= 0);
		send_control(fd, FSTRM_CONTROL_START);
		send_frame(fd, 0, 0);
		close(fd);
		spin(f->base, 10);
	}
	bool ok = loop_until(f->base, all_gone, &want, 5);

	rv_fs_server_free(&srv);
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	rv_log_level = saved_level;
	assert_true(ok);
	assert_int_equal(allowed, 5);
	/* Without a server (the pure session), only the log level decides. */
	assert_true(rv_fs_peer_log_ok(&lone, RV_LOG_ERR));
	assert_false(rv_fs_peer_log_ok(&lone, RV_LOG_DEBUG));
	n = pread(logfd, text, sizeof(text) - 1, 0);
	close(logfd);
	unlink(path);
	assert_true(n > 0);
	text[n] = '\0';
	/* 53 opened + 48 closed + 8 malformed were due: 5 of each logged, the
	 * remaining 48 + 43 + 3 = 94 summarised. */
	assert_int_equal(count_lines(text, ": connected ("), 5);
	assert_int_equal(count_lines(text, "closed without STOP"), 5);
	assert_int_equal(count_lines(text, "dropping connection: "), 5);
	assert_int_equal(count_lines(text, "more connection events"), 1);
	if (strstr(text, ": 94 more connection events") == NULL ||
	    strstr(text, "(48 opened, 43 closed, 3 sent malformed frames)") == NULL)
		fail_msg("no summary of 94 suppressed lines in:\n%s", text);
}

static void test_server_socket_path(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int err, fd;
	rv_fs_server *srv, *srv2;

	/* A stale socket file (bound, nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	assert_int_equal(err, 0);

	/* A live one is not. */
	srv2 = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_null(srv2);
	assert_int_equal(err, -EADDRINUSE);
	assert_int_equal(stat(f->path, &st), 0);
	fd = raw_connect(f->path);
	assert_true(fd >= 0);
	close(fd);

	/* stop_accepting: new connects are refused, the path stays until free. */
	rv_fs_server_stop_accepting(srv);
	assert_int_equal(raw_connect(f->path), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(stat(f->path, &st), 0);
	rv_fs_server_free(&srv);
	assert_int_equal(stat(f->path, &st), -1);

	/* Not a socket: refused and left alone. */
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_null(srv);
	assert_int_equal(err, -EEXIST);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(f->path);

	/* Missing directory. */
	o.path = "/nonexistent-rv-test/dnstap.sock";
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_null(srv);
	assert_int_equal(err, -ENOENT);

	/* Invalid options. */
	o = default_opts(f);
	o.max_frame = 0;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_null(srv);
	assert_int_equal(err, -EINVAL);
}

/* dnstap-listen items: what parses, and why the rest does not. */
static void test_endpoint_parse(void **state)
{
	rv_fs_endpoint ep;
	char why[256];
	bool tls = false;

	(void)state;
	assert_int_equal(rv_fs_endpoint_parse("unix:/run/rearview/dnstap.sock", &ep, why,
			sizeof(why)), 0);
	assert_int_equal(ep.kind, RV_FS_UNIX);
	assert_string_equal(ep.path, "/run/rearview/dnstap.sock");
	assert_int_equal(rv_fs_endpoint_parse("tcp:127.0.0.1:6000", &ep, why, sizeof(why)), 0);
	assert_int_equal(ep.kind, RV_FS_TCP);
	assert_int_equal(ep.port, 6000);
	assert_int_equal(ep.addr.family, AF_INET);
	assert_int_equal(rv_fs_endpoint_parse("tls:[::1]:853", &ep, why, sizeof(why)), 0);
	assert_int_equal(ep.kind, RV_FS_TLS);
	assert_int_equal(ep.addr.family, AF_INET6);
	assert_int_equal(rv_fs_endpoint_parse("unix:relative.sock", &ep, why, sizeof(why)),
			-EINVAL);
	assert_non_null(strstr(why, "absolute"));
	assert_int_equal(rv_fs_endpoint_parse("tcp:127.0.0.1", &ep, why, sizeof(why)), -EINVAL);
	assert_int_equal(rv_fs_endpoint_parse("tcp:127.0.0.1:0", &ep, why, sizeof(why)), -EINVAL);
	assert_int_equal(rv_fs_endpoint_parse("tls:host.example:6000", &ep, why, sizeof(why)),
			-EINVAL);
	assert_int_equal(rv_fs_endpoint_parse("udp:127.0.0.1:6000", &ep, why, sizeof(why)),
			-EINVAL);
	assert_non_null(strstr(why, "unix:PATH"));

	assert_int_equal(rv_fs_listen_check("unix:/a.sock  tcp:127.0.0.1:1", &tls, why,
			sizeof(why)), 0);
	assert_false(tls);
	assert_int_equal(rv_fs_listen_check("tls:127.0.0.1:2", &tls, why, sizeof(why)), 0);
	assert_true(tls);
	assert_int_equal(rv_fs_listen_check("unix:/a.sock unix:/b.sock", &tls, why,
			sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "only one unix"));
	assert_int_equal(rv_fs_listen_check("   ", &tls, why, sizeof(why)), -EINVAL);
	assert_int_equal(rv_fs_listen_check("tcp:127.0.0.1:1 tcp:127.0.0.1:2 tcp:127.0.0.1:3 "
			"tcp:127.0.0.1:4 tcp:127.0.0.1:5 tcp:127.0.0.1:6 tcp:127.0.0.1:7 "
			"tcp:127.0.0.1:8 tcp:127.0.0.1:9", &tls, why, sizeof(why)), -EINVAL);
}

/* A port on 127.0.0.1 nobody listens on now (bind to 0, read it back). */
static uint16_t free_tcp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* libfstrm's own TCP writer against a tcp: listener (with the unix socket
 * beside it): every frame, in order, STOP answered with FINISH at once. */
static void test_server_tcp_writer(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	uint16_t port = free_tcp_port();
	writer_job job = { .path = f->path, .tcp_port = port, .tag = 0, .nframes = 5000,
			   .frame_len = 125 };
	char list[256];
	struct stat st;
	int err = 1;
	rv_fs_server *srv;

	snprintf(list, sizeof(list), "unix:%s tcp:127.0.0.1:%u", f->path, (unsigned)port);
	o.listen = list;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(rv_fs_server_listening(srv));
	run_writers(f, &job, 1, -1);
	assert_true(job.ok);
	assert_true(job.destroy_s < rv_test_s(1.0));
	assert_int_equal(f->col.count, 5000);
	assert_int_equal(f->order_errors, 0);
	assert_int_equal(rv_stats.fs_finished, 1);
	assert_int_equal(rv_stats.fs_denied, 0);
	rv_fs_server_stop_accepting(srv);
	assert_false(rv_fs_server_listening(srv));
	rv_fs_server_free(&srv);
}

static bool denied_is(void *arg)
{
	return rv_stats.fs_denied == *(const uint64_t *)arg;
}

/* A TCP peer outside the allow-list is closed at once and counted; one
 * inside it is served. */
static void test_server_tcp_allow_list(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	uint16_t port = free_tcp_port();
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t one = 1;
	char list[64], c;
	int err, fd;
	rv_fs_server *srv;

	snprintf(list, sizeof(list), "tcp:127.0.0.1:%u", (unsigned)port);
	o.listen = list;
	o.allow = "10.0.0.0/8 ::1/128";
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(loop_until(f->base, denied_is, &one, 5));
	assert_int_equal(read(fd, &c, 1), 0); /* closed by the agent */
	close(fd);
	assert_int_equal(rv_stats.fs_accepted, 0);
	rv_fs_server_free(&srv);

	/* Bad allow-list or a tls: listener without a certificate: no server. */
	o.allow = "10.0.0.0/33";
	assert_null(rv_fs_server_new(f->base, &o, srv_cb, f, &err));
	assert_int_equal(err, -EINVAL);
	o.allow = NULL;
	snprintf(list, sizeof(list), "tls:127.0.0.1:%u", (unsigned)port);
	assert_null(rv_fs_server_new(f->base, &o, srv_cb, f, &err));
	assert_int_equal(err, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_bidirectional),
		cmocka_unit_test(test_unidirectional),
		cmocka_unit_test(test_start_without_content_type),
		cmocka_unit_test(test_chunking_equivalence),
		cmocka_unit_test(test_batch_equivalence),
		cmocka_unit_test(test_wrong_content_type),
		cmocka_unit_test(test_data_before_start),
		cmocka_unit_test(test_oversized_data),
		cmocka_unit_test(test_oversized_control),
		cmocka_unit_test(test_bad_control),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_mid_frame),
		cmocka_unit_test(test_session_phases),
		cmocka_unit_test(test_slot_policy),
		cmocka_unit_test_setup_teardown(test_server_real_writer, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_batches, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_two_writers_and_garbage, srv_setup,
				srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_handshake_deadline, srv_setup,
				srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_frame_deadline, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_eviction_order, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_writers_keep_slots, srv_setup,
				srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_log_rate_limit, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_socket_path, srv_setup, srv_teardown),
		cmocka_unit_test(test_endpoint_parse),
		cmocka_unit_test_setup_teardown(test_server_tcp_writer, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_tcp_allow_list, srv_setup, srv_teardown),
	};

	/* A peer vanishing mid-write must not kill the test (the server uses
	 * MSG_NOSIGNAL; the libfstrm writer does not). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
