/*
 * Unit tests for bindstats.c: the JSON -> counters parser on named's own
 * statistics (tests/data/named-stats-*.json, captured from BIND 9.18) and on
 * what a broken or foreign statistics channel could send; then the poller
 * against an in-process HTTP server on loopback (good answer, garbage, an
 * error status, no answer, an oversized answer, a closed port, recovery).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "bindstats.h"
#include "log.h"
#include "rv_test.h"
#include "stats.h"

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static int parse_str(const char *s, rv_bindstats_counters *c, const char **why)
{
	return rv_bindstats_parse(s, strlen(s), c, why);
}

/* ---- the parser ---- */

/* named after 40,000 queries with its dnstap reader stopped: both counters,
 * values as named wrote them (see tests/data/README.md). */
static void test_real_named_with_drops(void **state)
{
	(void)state;
	size_t len;
	char *body = read_file(RV_TEST_DATA "/named-stats-drops.json", &len);
	rv_bindstats_counters c = {99, 99};
	const char *why = "unset";
	assert_int_equal(rv_bindstats_parse(body, len, &c, &why), 0);
	assert_null(why);
	assert_int_equal(c.dnstap_sent, 18113);
	assert_int_equal(c.dnstap_dropped, 17859);
	free(body);
}

/* A named without dnstap writes no "dnstapstats" at all: zeros, not an error
 * (named also leaves the object out while both counters are zero). */
static void test_real_named_without_dnstap(void **state)
{
	(void)state;
	size_t len;
	char *body = read_file(RV_TEST_DATA "/named-stats-nodnstap.json", &len);
	assert_null(strstr(body, "dnstapstats"));
	rv_bindstats_counters c = {99, 99};
	const char *why;
	assert_int_equal(rv_bindstats_parse(body, len, &c, &why), 0);
	assert_int_equal(c.dnstap_sent, 0);
	assert_int_equal(c.dnstap_dropped, 0);
	free(body);
}

/* Every cut of the real document before its closing brace is an error (a
 * channel that closed mid-answer), never a partial result. */
static void test_truncated(void **state)
{
	(void)state;
	size_t len;
	char *body = read_file(RV_TEST_DATA "/named-stats-drops.json", &len);
	const char *end = strrchr(body, '}');
	assert_non_null(end);
	size_t full = (size_t)(end - body) + 1;
	for (size_t n = 0; n < full; n++) {
		rv_bindstats_counters c = {7, 7};
		const char *why = NULL;
		assert_int_equal(rv_bindstats_parse(body, n, &c, &why), -EBADMSG);
		assert_non_null(why);
		/* *out untouched on error */
		assert_int_equal(c.dnstap_sent, 7);
		assert_int_equal(c.dnstap_dropped, 7);
	}
	rv_bindstats_counters c;
	const char *why;
	assert_int_equal(rv_bindstats_parse(body, full, &c, &why), 0);
	/* a truncated answer says so */
	assert_int_equal(rv_bindstats_parse(body, full / 2, &c, &why), -EBADMSG);
	assert_string_equal(why, "truncated JSON");
	free(body);
}

static void test_garbage(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		" ",
		"hello",
		"<html><body>404 Not Found</body></html>",
		"\x89PNG\r\n\x1a\n",
		"null",
		"42",
		"\"json-stats-version\"",
		"[{\"json-stats-version\":\"1.7\"}]",
		"{\"json-stats-version\":\"1.7\",}",            /* trailing comma: not strict JSON */
		"{'json-stats-version':'1.7'}",                /* single quotes */
		"{\"json-stats-version\":\"1.7\"} {}",          /* two documents */
		"{\"json-stats-version\":\"1.7\"} x",           /* stray bytes */
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":NaN}}",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		rv_bindstats_counters c = {1, 2};
		const char *why = NULL;
		if (parse_str(bad[i], &c, &why) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
		assert_int_equal(c.dnstap_sent, 1);
		assert_int_equal(c.dnstap_dropped, 2);
	}
	/* An embedded NUL after a complete document is not whitespace. */
	static const char nul[] = "{\"json-stats-version\":\"1.7\"}\0{}";
	rv_bindstats_counters c;
	const char *why;
	assert_int_equal(rv_bindstats_parse(nul, sizeof(nul) - 1, &c, &why), -EBADMSG);
	/* Whitespace after the document is fine (named ends with a newline). */
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\"}\r\n \t", &c, &why), 0);
	/* Nesting far beyond named's: refused by the depth limit, no recursion blow-up. */
	size_t deep = 100000;
	char *d = malloc(2 * deep + 1);
	assert_non_null(d);
	memset(d, '[', deep);
	memset(d + deep, ']', deep);
	assert_int_equal(rv_bindstats_parse(d, 2 * deep, &c, &why), -EBADMSG);
	free(d);
	/* Larger than any answer we read. */
	assert_int_equal(rv_bindstats_parse("{}", RV_BINDSTATS_MAX_BODY + 1, &c, &why), -EBADMSG);
	assert_string_equal(why, "reply too large");
}

static void test_wrong_types(void **state)
{
	(void)state;
	static const char *bad[] = {
		/* not named's: no version, or not a string, or another major */
		"{}",
		"{\"dnstapstats\":{\"DNSTAPsuccess\":5}}",
		"{\"json-stats-version\":1.7}",
		"{\"json-stats-version\":null}",
		"{\"json-stats-version\":\"2.0\",\"dnstapstats\":{\"DNSTAPsuccess\":5}}",
		/* dnstapstats not an object */
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":[5,0]}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":\"5\"}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":null}",
		/* counters of the wrong type */
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":\"5\"}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":5.0}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":5e3}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":true}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":null}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":{}}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPdropped\":[]}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPsuccess\":-1}}",
		"{\"json-stats-version\":\"1.7\",\"dnstapstats\":{\"DNSTAPdropped\":-9223372036854775808}}",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		rv_bindstats_counters c = {1, 2};
		const char *why = NULL;
		if (parse_str(bad[i], &c, &why) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(why);
		assert_int_equal(c.dnstap_sent, 1);
	}
	const char *why;
	rv_bindstats_counters c;
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":\"5\"}}", &c, &why), -EBADMSG);
	assert_string_equal(why, "a dnstap counter is not an integer");
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":-1}}", &c, &why), -EBADMSG);
	assert_string_equal(why, "a dnstap counter is negative");
	assert_int_equal(parse_str("{\"version\":\"9.18.49\"}", &c, &why), -EBADMSG);
	assert_string_equal(why, "no json-stats-version: not named's statistics");
}

static void test_missing_and_extreme_fields(void **state)
{
	(void)state;
	rv_bindstats_counters c;
	const char *why;
	/* Each counter may be absent (named leaves zeros out). */
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":12}}", &c, &why), 0);
	assert_int_equal(c.dnstap_sent, 12);
	assert_int_equal(c.dnstap_dropped, 0);
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPdropped\":3}}", &c, &why), 0);
	assert_int_equal(c.dnstap_sent, 0);
	assert_int_equal(c.dnstap_dropped, 3);
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":{}}",
			&c, &why), 0);
	assert_int_equal(c.dnstap_sent, 0);
	/* Unknown members and other minor versions are fine. */
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.9\",\"future\":[1,{\"x\":null}],"
			"\"dnstapstats\":{\"DNSTAPsuccess\":1,\"DNSTAPother\":\"x\"}}", &c, &why), 0);
	assert_int_equal(c.dnstap_sent, 1);
	/* named's counters are unsigned 64-bit: the largest one is kept exactly. */
	assert_int_equal(parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":18446744073709551615,\"DNSTAPdropped\":9223372036854775807}}",
			&c, &why), 0);
	assert_true(c.dnstap_sent == UINT64_MAX);
	assert_true(c.dnstap_dropped == (uint64_t)INT64_MAX);
	/* One past it is not a number we can count with: refused or saturated,
	 * never wrapped to a small value. */
	int rc = parse_str("{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":18446744073709551616}}", &c, &why);
	assert_true(rc == -EBADMSG || c.dnstap_sent == UINT64_MAX);
}

/* ---- the poller, against an in-process HTTP server ---- */

enum serve_mode { S_GOOD, S_GARBAGE, S_STATUS_500, S_SILENT, S_HUGE };

typedef struct fake {
	struct event_base *base;
	struct evhttp *http;
	uint16_t port;
	enum serve_mode mode;
	uint64_t sent;
	unsigned requests;
	char path[64];
	struct evhttp_request *held; /* S_SILENT: never answered */
} fake;

static void fake_cb(struct evhttp_request *req, void *arg)
{
	fake *f = arg;
	f->requests++;
	snprintf(f->path, sizeof(f->path), "%s", evhttp_request_get_uri(req));
	struct evbuffer *out = evbuffer_new();
	assert_non_null(out);
	switch (f->mode) {
	case S_GOOD:
		evbuffer_add_printf(out, "{\"json-stats-version\":\"1.7\",\"dnstapstats\":"
			"{\"DNSTAPsuccess\":%llu,\"DNSTAPdropped\":2}}\n",
			(unsigned long long)f->sent);
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case S_GARBAGE:
		evbuffer_add_printf(out, "<html>not JSON</html>");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	case S_STATUS_500:
		evbuffer_add_printf(out, "{}");
		evhttp_send_reply(req, 500, "Internal Server Error", out);
		break;
	case S_HUGE: {
		/* Valid JSON, but larger than the cap. */
		evbuffer_add_printf(out, "{\"json-stats-version\":\"1.7\",\"pad\":\"");
		static char pad[4096];
		memset(pad, 'x', sizeof(pad));
		for (unsigned i = 0; i < (RV_BINDSTATS_MAX_BODY / sizeof(pad)) + 2; i++)
			evbuffer_add(out, pad, sizeof(pad));
		evbuffer_add_printf(out, "\"}");
		evhttp_send_reply(req, 200, "OK", out);
		break;
	}
	case S_SILENT:
		/* Keep the request without answering: the client must time out.
		 * evhttp frees it with the connection. */
		f->held = req;
		break;
	}
	evbuffer_free(out);
}

static void fake_start(fake *f, struct event_base *base)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	f->http = evhttp_new(base);
	assert_non_null(f->http);
	evhttp_set_gencb(f->http, fake_cb, f);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
}

typedef struct metric_find {
	const char *name;
	uint64_t value;
	bool found;
} metric_find;

static void find_visit(void *ctx, rv_metric_type type, const char *log_key, const char *name,
		const char *help, const char *label_key, const char *label_value, uint64_t value,
		bool milli)
{
	metric_find *m = ctx;
	(void)type;
	(void)milli;
	(void)log_key;
	(void)help;
	(void)label_key;
	(void)label_value;
	if (strcmp(name, m->name) == 0) {
		m->found = true;
		m->value = value;
	}
}

static uint64_t metric(const char *name)
{
	metric_find m = {name, 0, false};
	rv_stats_foreach(find_visit, &m);
	if (!m.found)
		fail_msg("metric %s not registered", name);
	return m.value;
}

/* Runs the loop until metric `name` reaches at least want, or fails after
 * ms (scaled). */
static void run_until(struct event_base *base, const char *name, uint64_t want, unsigned ms)
{
	struct timeval start, now;
	evutil_gettimeofday(&start, NULL);
	for (;;) {
		if (metric(name) >= want)
			return;
		event_base_loop(base, EVLOOP_ONCE);
		evutil_gettimeofday(&now, NULL);
		long el = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000;
		if (el > (long)rv_test_ms(ms))
			fail_msg("%s stayed at %llu (want >= %llu) for %u ms", name,
				(unsigned long long)metric(name), (unsigned long long)want, ms);
	}
}

static void test_poller(void **state)
{
	(void)state;
	rv_stats_reset();
	rv_log_level = RV_LOG_CRIT; /* the test checks counters, not lines */
	struct event_base *base = event_base_new();
	assert_non_null(base);
	fake f;
	fake_start(&f, base);
	f.sent = 40;
	rv_stats.fs_frames = 37;

	char chan[64];
	snprintf(chan, sizeof(chan), "127.0.0.1:%u", f.port);
	rv_bindstats_opts o = {.channel = chan, .interval_ms = 50, .timeout_ms = 300};
	int err = 0;
	rv_bindstats *b = rv_bindstats_new(base, &o, &err);
	assert_non_null(b);

	/* A good answer: named's counters, up, and the agent's frames then. */
	run_until(base, "rearview_bind_stats_up", 1, 3000);
	assert_string_equal(f.path, RV_BINDSTATS_PATH);
	assert_int_equal(metric("rearview_bind_dnstap_sent_total"), 40);
	assert_int_equal(metric("rearview_bind_dnstap_dropped_total"), 2);
	assert_int_equal(metric("rearview_bind_poll_frames_total"), 37);
	assert_int_equal(metric("rearview_bind_stats_poll_failures_total"), 0);
	/* In the Prometheus text as counters and a gauge. */
	char *text = NULL;
	size_t tlen = 0;
	FILE *tf = open_memstream(&text, &tlen);
	assert_non_null(tf);
	assert_int_equal(rv_stats_write_prometheus(tf), 0);
	fclose(tf);
	assert_non_null(strstr(text, "# TYPE rearview_bind_dnstap_sent_total counter\n"
			"rearview_bind_dnstap_sent_total 40\n"));
	assert_non_null(strstr(text, "# TYPE rearview_bind_dnstap_dropped_total counter\n"
			"rearview_bind_dnstap_dropped_total 2\n"));
	assert_non_null(strstr(text, "# TYPE rearview_bind_poll_frames_total counter\n"
			"rearview_bind_poll_frames_total 37\n"));
	assert_non_null(strstr(text, "# TYPE rearview_bind_stats_up gauge\nrearview_bind_stats_up 1\n"));
	assert_non_null(strstr(text, "# TYPE rearview_bind_stats_poll_failures_total counter\n"
			"rearview_bind_stats_poll_failures_total 0\n"));
	free(text);

	/* Each kind of bad answer is one more failure, "up" goes to 0, and the
	 * last good values stay. */
	enum serve_mode bad[] = {S_GARBAGE, S_STATUS_500, S_HUGE, S_SILENT};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		uint64_t before = metric("rearview_bind_stats_poll_failures_total");
		f.mode = bad[i];
		run_until(base, "rearview_bind_stats_poll_failures_total", before + 1, 3000);
		assert_int_equal(metric("rearview_bind_stats_up"), 0);
		assert_int_equal(metric("rearview_bind_dnstap_sent_total"), f.sent);
		assert_int_equal(metric("rearview_bind_poll_frames_total"), rv_stats.fs_frames);
		if (f.held) {
			/* Answer the request kept unanswered: evhttp frees it
			 * (its client has long given up). */
			evhttp_send_reply(f.held, 200, "OK", NULL);
			f.held = NULL;
		}
		/* ...and it recovers with the next good answer. */
		f.mode = S_GOOD;
		f.sent += 10;
		rv_stats.fs_frames += 10;
		run_until(base, "rearview_bind_stats_up", 1, 3000);
		run_until(base, "rearview_bind_dnstap_sent_total", f.sent, 3000);
		assert_int_equal(metric("rearview_bind_poll_frames_total"), rv_stats.fs_frames);
	}

	/* A closed port: counted too. */
	evhttp_free(f.http);
	f.http = NULL;
	uint64_t before = metric("rearview_bind_stats_poll_failures_total");
	run_until(base, "rearview_bind_stats_poll_failures_total", before + 2, 3000);
	assert_int_equal(metric("rearview_bind_stats_up"), 0);

	/* Freeing takes the metrics along (and any request in flight). */
	rv_bindstats_free(&b);
	assert_null(b);
	metric_find m = {"rearview_bind_stats_up", 0, false};
	rv_stats_foreach(find_visit, &m);
	assert_false(m.found);
	event_base_free(base);
	rv_stats_reset();
}

static void test_bad_channel(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	static const char *bad[] = {"", "127.0.0.1", "localhost:8080", "127.0.0.1:0",
				    "::1:8080", "127.0.0.1:65536"};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		rv_bindstats_opts o = {.channel = bad[i], .interval_ms = 1000};
		int err = 0;
		assert_null(rv_bindstats_new(base, &o, &err));
		assert_int_equal(err, -EINVAL);
	}
	/* IPv6 in brackets is fine (nothing needs to listen to create it). */
	rv_bindstats_opts o = {.channel = "[::1]:8080", .interval_ms = 1000};
	int err = 0;
	rv_bindstats *b = rv_bindstats_new(base, &o, &err);
	assert_non_null(b);
	rv_bindstats_free(&b);
	rv_bindstats_free(&b); /* NULL: no-op */
	event_base_free(base);
	rv_stats_reset();
}

int main(void)
{
	/* As in the agent (main.c ignores it): a peer that closes early must be
	 * a write error, not the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_named_with_drops),
		cmocka_unit_test(test_real_named_without_dnstap),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_missing_and_extreme_fields),
		cmocka_unit_test(test_poller),
		cmocka_unit_test(test_bad_channel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
