/*
 * test_fstrm.c - Frame Streams session state machine (pure, byte-exact) and
 * the libevent server against a real libfstrm writer over a unix socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
	if (peer == NULL || strstr(peer->label, "pid ") == NULL)
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
	w = fstrm_unix_writer_init(uwopt, wopt);
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

static bool stats_at_least(void *arg)
{
	const uint64_t *want = arg; /* active, refused, dropped */

	return rv_stats.fs_active >= want[0] && rv_stats.fs_refused >= want[1] &&
	       rv_stats.fs_dropped >= want[2];
}

static void test_server_max_connections_and_stall(void **state)
{
	srv_fixture *f = *state;
	rv_fs_server_opts o = default_opts(f);
	uint64_t want[3];
	int err, a, b, c2;
	char ch;
	rv_fs_server *srv;

	o.max_connections = 1;
	o.stall_timeout_ms = 150;
	srv = rv_fs_server_new(f->base, &o, srv_cb, f, &err);
	assert_non_null(srv);
	a = raw_connect(f->path);
	assert_true(a >= 0);
	want[0] = 1, want[1] = 0, want[2] = 0;
	assert_true(loop_until(f->base, stats_at_least, want, 5));
	/* Over the limit: accepted and closed at once. */
	b = raw_connect(f->path);
	c2 = raw_connect(f->path);
	assert_true(b >= 0 && c2 >= 0);
	want[1] = 2;
	assert_true(loop_until(f->base, stats_at_least, want, 5));
	assert_int_equal(read(b, &ch, 1), 0);
	assert_int_equal(read(c2, &ch, 1), 0);
	assert_int_equal(rv_stats.fs_active, 1);
	/* An idle connection (no partial frame) is not a stall... */
	struct timeval wait = { 0, 300000 };
	event_base_loopexit(f->base, &wait);
	event_base_dispatch(f->base);
	assert_int_equal(rv_stats.fs_dropped, 0);
	/* ...but three bytes of a header with nothing after them is. */
	assert_int_equal(write(a, "\0\0\0", 3), 3);
	want[0] = 0;
	want[2] = 1;
	double t0 = now_s();
	assert_true(loop_until(f->base, stats_at_least, want, 5));
	assert_true(now_s() - t0 >= 0.14);
	assert_int_equal(rv_stats.fs_active, 0);
	assert_int_equal(read(a, &ch, 1), 0);
	close(a);
	close(b);
	close(c2);
	rv_fs_server_free(&srv);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_bidirectional),
		cmocka_unit_test(test_unidirectional),
		cmocka_unit_test(test_start_without_content_type),
		cmocka_unit_test(test_chunking_equivalence),
		cmocka_unit_test(test_wrong_content_type),
		cmocka_unit_test(test_data_before_start),
		cmocka_unit_test(test_oversized_data),
		cmocka_unit_test(test_oversized_control),
		cmocka_unit_test(test_bad_control),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_mid_frame),
		cmocka_unit_test_setup_teardown(test_server_real_writer, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_two_writers_and_garbage, srv_setup,
				srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_max_connections_and_stall, srv_setup,
				srv_teardown),
		cmocka_unit_test_setup_teardown(test_server_socket_path, srv_setup, srv_teardown),
	};

	/* A peer vanishing mid-write must not kill the test (the server uses
	 * MSG_NOSIGNAL; the libfstrm writer does not). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
