/*
 * Unit tests for http.c: a real listener on 127.0.0.1 on a real event_base,
 * driven by a raw-socket client (the test pumps the loop while it waits), so
 * what is checked is the bytes a client sees: status lines, bodies, chunked
 * streams, closed connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "stats.h"
#include "rv_test.h"

typedef struct fixture {
	struct event_base *base;
	rv_http *h;
	uint16_t port;
} fixture;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A port nobody listens on (bound and released: the address is ours alone
 * for the test's short life). */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Runs the loop for about ms (at least one pass). */
static void pump(fixture *f, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	} while (now_ms() < end);
}

static int client(fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what the server sends until it closes the connection (or timeout
 * ms), pumping the loop meanwhile. *closed = it closed. Returns the bytes
 * (NUL-terminated, caller frees). */
static char *read_all(fixture *f, int fd, unsigned timeout_ms, bool *closed)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	uint64_t end = now_ms() + rv_test_ms(timeout_ms);
	assert_non_null(buf);
	*closed = false;
	while (now_ms() < end) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (cap - len < 2048) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			*closed = true;
			break;
		}
		if (r > 0)
			len += (size_t)r;
		else
			poll(NULL, 0, 1);
	}
	buf[len] = '\0';
	return buf;
}

/* One request with Connection: close; returns the whole reply. */
static char *request(fixture *f, const char *method, const char *target, const char *extra)
{
	char req[8192];
	bool closed;
	int fd = client(f);
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
		 method, target, extra ? extra : "");
	send_str(fd, req);
	char *reply = read_all(f, fd, 5000, &closed);
	assert_true(closed);
	close(fd);
	return reply;
}

static int status_of(const char *reply)
{
	int st = 0;
	if (sscanf(reply, "HTTP/1.1 %d", &st) != 1)
		return -1;
	return st;
}

static const char *body_of(const char *reply)
{
	const char *p = strstr(reply, "\r\n\r\n");
	return p ? p + 4 : "";
}

/* ---- handlers ---- */

static void hello(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	char body[512];
	(void)arg;
	snprintf(body, sizeof(body), "path=%s rest=%s\n", path, rest);
	rv_http_reply(req, 200, "text/plain", body, strlen(body));
}

static void echo_param(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	char v[16], body[64];
	(void)arg;
	(void)path;
	(void)rest;
	int rc = rv_http_query_param(req, "x", v, sizeof(v));
	snprintf(body, sizeof(body), "rc=%d x=%s\n", rc, rc == 0 ? v : "");
	rv_http_reply(req, 200, "text/plain", body, strlen(body));
}

static void json_err(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)arg;
	(void)path;
	(void)rest;
	rv_http_error(req, 400, "bad \"x\"\n\\");
}

/* A stream: slices "slice N\n" up to limit (0 = forever, slice_bytes each),
 * optionally failing at call fail_at. */
typedef struct sstate {
	int calls;
	int limit;
	int fail_at;
	size_t slice_bytes;
	int done;
	bool expired_seen;
} sstate;

static sstate streams[8];
static size_t nstreams;
static sstate stream_template;

static int produce(void *arg, struct evbuffer *out, bool expired)
{
	sstate *s = arg;
	s->calls++;
	if (expired) {
		s->expired_seen = true;
		evbuffer_add_printf(out, "{\"cond\":\"failed\"}\n");
		return 0;
	}
	if (s->fail_at > 0 && s->calls == s->fail_at)
		return -EIO;
	if (s->slice_bytes > 0) {
		char *junk = malloc(s->slice_bytes);
		assert_non_null(junk);
		memset(junk, 'x', s->slice_bytes);
		evbuffer_add(out, junk, s->slice_bytes);
		free(junk);
	} else {
		evbuffer_add_printf(out, "slice %d\n", s->calls);
	}
	return s->limit == 0 || s->calls < s->limit ? 1 : 0;
}

static void done(void *arg)
{
	sstate *s = arg;
	s->done++;
}

static void streamer(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	unsigned deadline = (unsigned)(uintptr_t)arg;
	(void)path;
	(void)rest;
	assert_true(nstreams < RV_ARRAY_LEN(streams));
	sstate *s = &streams[nstreams++];
	*s = stream_template;
	assert_int_equal(rv_http_stream(req, 200, "application/json", deadline, produce, done, s), 0);
}

/* ---- fixture ---- */

static fixture *start(unsigned max_conns, unsigned timeout_ms, const char *key)
{
	fixture *f = calloc(1, sizeof(*f));
	char listen_on[64];
	int err = 0;
	assert_non_null(f);
	rv_stats_reset();
	nstreams = 0;
	memset(streams, 0, sizeof(streams));
	memset(&stream_template, 0, sizeof(stream_template));
	f->base = event_base_new();
	assert_non_null(f->base);
	f->port = free_port();
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", f->port);
	rv_http_opts o = {.listen = listen_on, .api_key = key, .max_connections = max_conns,
			  .timeout_ms = timeout_ms};
	f->h = rv_http_new(f->base, &o, &err);
	assert_non_null(f->h);
	assert_int_equal(rv_http_route(f->h, "/hello", RV_HTTP_PUBLIC, hello, NULL), 0);
	assert_int_equal(rv_http_route(f->h, "/hello/deeper", RV_HTTP_PUBLIC, hello, NULL), 0);
	assert_int_equal(rv_http_route(f->h, "/secret", RV_HTTP_KEY, hello, NULL), 0);
	assert_int_equal(rv_http_route(f->h, "/q", RV_HTTP_PUBLIC, echo_param, NULL), 0);
	assert_int_equal(rv_http_route(f->h, "/err", RV_HTTP_PUBLIC, json_err, NULL), 0);
	assert_int_equal(rv_http_route(f->h, "/stream", RV_HTTP_PUBLIC, streamer, (void *)0), 0);
	assert_int_equal(rv_http_route(f->h, "/deadline", RV_HTTP_PUBLIC, streamer,
			(void *)(uintptr_t)300), 0);
	return f;
}

static void stop(fixture *f)
{
	rv_http_free(&f->h);
	assert_null(f->h);
	event_base_free(f->base);
	free(f);
}

/* ---- tests ---- */

static void test_bad_requests(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	char *r;

	r = request(f, "GET", "/hello/a%20b", NULL);
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "path=/hello/a b rest=/a b\n");
	free(r);
	/* the longest prefix wins */
	r = request(f, "GET", "/hello/deeper/x", NULL);
	assert_string_equal(body_of(r), "path=/hello/deeper/x rest=/x\n");
	free(r);
	/* a prefix only matches whole path segments */
	r = request(f, "GET", "/helloworld", NULL);
	assert_int_equal(status_of(r), 404);
	assert_string_equal(body_of(r), "{\"error\":\"no such path\"}\n");
	free(r);
	r = request(f, "POST", "/hello", "Content-Length: 0\r\n");
	assert_int_equal(status_of(r), 405);
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	r = request(f, "DELETE", "/hello", NULL);
	assert_int_equal(status_of(r), 405);
	free(r);
	r = request(f, "GET", "/hello/%zz", NULL);
	assert_int_equal(status_of(r), 400);
	free(r);
	r = request(f, "GET", "/hello/%4", NULL);
	assert_int_equal(status_of(r), 400);
	free(r);
	r = request(f, "GET", "/hello/a%00b", NULL);
	assert_int_equal(status_of(r), 400);
	free(r);
	char *longpath = malloc(5001);
	assert_non_null(longpath);
	memset(longpath, 'a', 5000);
	longpath[0] = '/';
	longpath[5000] = '\0';
	r = request(f, "GET", longpath, NULL);
	assert_int_equal(status_of(r), 400);
	free(r);
	free(longpath);
	/* HEAD: the status and headers, no body */
	r = request(f, "HEAD", "/hello", NULL);
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "Content-Length: 18\r\n")); /* as GET's "path=/hello rest=\n" */
	assert_string_equal(body_of(r), "");
	free(r);
	assert_int_equal(rv_stats.http_requests, 10);
	assert_int_equal(rv_stats.http_client_errors, 7);
	assert_int_equal(rv_stats.http_server_errors, 0);
	stop(f);
}

static void test_json_error_and_params(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	char *r = request(f, "GET", "/err", NULL);
	assert_int_equal(status_of(r), 400);
	assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
	assert_string_equal(body_of(r), "{\"error\":\"bad \\\"x\\\"\\u000a\\\\\"}\n");
	free(r);
	r = request(f, "GET", "/q?y=2&x=a%20b+c", NULL);
	assert_string_equal(body_of(r), "rc=0 x=a b c\n");
	free(r);
	r = request(f, "GET", "/q?y=2", NULL);
	assert_string_equal(body_of(r), "rc=-2 x=\n"); /* -ENOENT */
	free(r);
	r = request(f, "GET", "/q?x=0123456789abcdefghij", NULL);
	assert_string_equal(body_of(r), "rc=-28 x=\n"); /* -ENOSPC */
	free(r);
	r = request(f, "GET", "/q?x", NULL);
	assert_string_equal(body_of(r), "rc=-74 x=\n"); /* -EBADMSG */
	free(r);
	stop(f);
}

static void test_api_key(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, "s3cret-key");
	char *r;

	r = request(f, "GET", "/secret", NULL);
	assert_int_equal(status_of(r), 401);
	assert_string_equal(body_of(r), "{\"error\":\"missing or wrong API key (X-API-Key, or the "
			"password of Basic authentication)\"}\n");
	assert_non_null(strstr(r, "WWW-Authenticate: Basic realm=\"rearview\"\r\n"));
	free(r);
	r = request(f, "GET", "/secret", "X-API-Key: s3cret-kez\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	r = request(f, "GET", "/secret", "X-API-Key: s3cret-key-and-more\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	r = request(f, "GET", "/secret", "x-api-key: s3cret-key\r\n");
	assert_int_equal(status_of(r), 200);
	free(r);
	/* Basic authentication: the password is the key (dnsdbq -u circl);
	 * "analyst:s3cret-key", "x:s3cret-kez", no colon, not base64. */
	r = request(f, "GET", "/secret", "Authorization: Basic YW5hbHlzdDpzM2NyZXQta2V5\r\n");
	assert_int_equal(status_of(r), 200);
	free(r);
	r = request(f, "GET", "/secret", "Authorization: Basic eDpzM2NyZXQta2V6\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	r = request(f, "GET", "/secret", "Authorization: Basic czNjcmV0LWtleQ==\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	r = request(f, "GET", "/secret", "Authorization: Basic !!!!\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	/* public routes need none */
	r = request(f, "GET", "/hello", NULL);
	assert_int_equal(status_of(r), 200);
	free(r);
	assert_int_equal(rv_stats.http_auth_failures, 6);
	assert_int_equal(rv_stats.http_client_errors, 6);
	/* live reload: the old key stops working, the new one works */
	assert_int_equal(rv_http_set_api_key(f->h, "other"), 0);
	r = request(f, "GET", "/secret", "X-API-Key: s3cret-key\r\n");
	assert_int_equal(status_of(r), 401);
	free(r);
	r = request(f, "GET", "/secret", "X-API-Key: other\r\n");
	assert_int_equal(status_of(r), 200);
	free(r);
	/* no key configured: every route is open */
	assert_int_equal(rv_http_set_api_key(f->h, NULL), 0);
	r = request(f, "GET", "/secret", NULL);
	assert_int_equal(status_of(r), 200);
	free(r);
	stop(f);
}

static void test_connection_cap(void **state)
{
	(void)state;
	fixture *f = start(2, 5000, NULL);
	bool closed;
	int a = client(f), b = client(f);
	pump(f, 50);
	int c = client(f);
	char *r = read_all(f, c, 1000, &closed);
	assert_true(closed); /* closed at once, nothing said */
	assert_string_equal(r, "");
	free(r);
	close(c);
	assert_int_equal(rv_stats.http_conns_refused, 1);
	/* the two admitted connections still work */
	send_str(a, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	r = read_all(f, a, 5000, &closed);
	assert_true(closed);
	assert_int_equal(status_of(r), 200);
	free(r);
	close(a);
	/* a slot is free again */
	r = request(f, "GET", "/hello", NULL);
	assert_int_equal(status_of(r), 200);
	free(r);
	assert_int_equal(rv_stats.http_conns_refused, 1);
	close(b);
	stop(f);
}

static void test_stalled_clients_timed_out(void **state)
{
	(void)state;
	fixture *f = start(8, 300, NULL);
	bool closed;

	/* Half a request, then silence. */
	int a = client(f);
	send_str(a, "GET /hello HT");
	uint64_t t0 = now_ms();
	char *r = read_all(f, a, 3000, &closed);
	assert_true(closed);
	assert_true(now_ms() - t0 >= 250);
	free(r);
	close(a);

	/* A byte every 100 ms: each one resets evhttp's read timeout, but the
	 * whole request must still arrive within the timeout. */
	const char *req = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
	int b = client(f);
	t0 = now_ms();
	closed = false;
	for (size_t i = 0; req[i] != '\0' && !closed; i++) {
		if (send(b, &req[i], 1, MSG_NOSIGNAL) != 1)
			break;
		free(read_all(f, b, 100, &closed));
	}
	assert_true(closed);
	assert_true(now_ms() - t0 < rv_test_ms(2000));

	/* Connected and silent. */
	int c = client(f);
	r = read_all(f, c, 3000, &closed);
	assert_true(closed);
	free(r);
	close(b);
	close(c);
	stop(f);
}

/* Checks a chunked body; out gets the concatenated data (when it fits) or
 * else only the last chunk. False if there is no final chunk. */
static bool dechunk(const char *body, char *out, size_t outlen)
{
	const char *end = body + strlen(body);
	size_t o = 0;
	out[0] = '\0';
	for (;;) {
		char *p;
		unsigned long n = strtoul(body, &p, 16);
		if (p == body || end - p < 2 || memcmp(p, "\r\n", 2) != 0)
			return false;
		body = p + 2;
		if (n == 0)
			return true;
		if ((size_t)(end - body) < n + 2)
			return false;
		if (o + n >= outlen)
			o = 0; /* keep the last chunk */
		if (n < outlen) {
			memcpy(out + o, body, n);
			o += n;
			out[o] = '\0';
		}
		body += n + 2;
	}
}

/* Reads until the reply's headers have arrived (and a little more). */
static void read_headers(fixture *f, int fd)
{
	char buf[4096];
	size_t len = 0;
	uint64_t end = now_ms() + rv_test_ms(3000);
	while (now_ms() < end && len < sizeof(buf) - 1) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				return;
		} else {
			poll(NULL, 0, 1);
		}
	}
	fail_msg("no reply headers");
}

static void test_stream_slices(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	char text[4096] = "";

	stream_template.limit = 5;
	char *r = request(f, "GET", "/stream", NULL);
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "Transfer-Encoding: chunked\r\n"));
	assert_true(dechunk(body_of(r), text, sizeof(text)));
	assert_string_equal(text, "slice 1\nslice 2\nslice 3\nslice 4\nslice 5\n");
	free(r);
	assert_int_equal(nstreams, 1);
	assert_int_equal(streams[0].done, 1);
	assert_int_equal(streams[0].calls, 5);

	/* HEAD: no body, done at once */
	r = request(f, "HEAD", "/stream", NULL);
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "");
	free(r);
	assert_int_equal(streams[1].done, 1);
	assert_int_equal(rv_stats.http_server_errors, 0);
	stop(f);
}

static void test_stream_deadline(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	static char text[1 << 16];

	stream_template.limit = 0; /* forever, but for the 300 ms deadline */
	stream_template.slice_bytes = 1000;
	uint64_t t0 = now_ms();
	char *r = request(f, "GET", "/deadline", NULL);
	assert_true(now_ms() - t0 >= 290);
	assert_int_equal(status_of(r), 200);
	assert_true(dechunk(body_of(r), text, sizeof(text)));
	size_t n = strlen(text);
	assert_true(n > 18);
	assert_string_equal(text + n - 18, "{\"cond\":\"failed\"}\n");
	free(r);
	assert_true(streams[0].expired_seen);
	assert_int_equal(streams[0].done, 1);
	assert_int_equal(rv_stats.http_server_errors, 1);
	stop(f);
}

static void test_stream_cut(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	char text[4096];

	stream_template.limit = 10;
	stream_template.fail_at = 3;
	char *r = request(f, "GET", "/stream", NULL);
	assert_int_equal(status_of(r), 200);
	/* two slices, then the connection closed without the final chunk */
	assert_non_null(strstr(r, "slice 2\n"));
	assert_false(dechunk(body_of(r), text, sizeof(text)));
	free(r);
	assert_int_equal(streams[0].done, 1);
	assert_int_equal(rv_stats.http_server_errors, 1);
	stop(f);
}

static void test_stream_client_gone(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);

	stream_template.limit = 0;
	stream_template.slice_bytes = 64 * 1024;
	int a = client(f);
	send_str(a, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	read_headers(f, a);
	assert_int_equal(nstreams, 1);
	assert_int_equal(streams[0].done, 0);
	/* Backpressure: the client reads nothing more; once the socket buffers
	 * are full the producer is not called any more. */
	pump(f, 300);
	int calls = streams[0].calls;
	pump(f, 300);
	assert_int_equal(streams[0].calls, calls);
	close(a);
	uint64_t end = now_ms() + rv_test_ms(3000);
	while (streams[0].done == 0 && now_ms() < end)
		pump(f, 10);
	assert_int_equal(streams[0].done, 1);
	pump(f, 50);
	assert_int_equal(streams[0].done, 1);

	/* A stream still running when the listener goes: done runs once. */
	int b = client(f);
	send_str(b, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	read_headers(f, b);
	assert_int_equal(nstreams, 2);
	assert_int_equal(streams[1].done, 0);
	rv_http_free(&f->h);
	assert_int_equal(streams[1].done, 1);
	close(b);
	stop(f);
	assert_int_equal(streams[0].done, 1);
	assert_int_equal(streams[1].done, 1);
}

/* A client that stops reading a stream is dropped after timeout_ms without
 * progress, and the stream's done runs. */
static void test_stream_reader_stalls(void **state)
{
	(void)state;
	fixture *f = start(8, 300, NULL);

	stream_template.limit = 0;
	stream_template.slice_bytes = 64 * 1024;
	int a = client(f);
	send_str(a, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	read_headers(f, a);
	uint64_t t0 = now_ms(), end = t0 + rv_test_ms(5000);
	while (streams[0].done == 0 && now_ms() < end)
		pump(f, 10);
	assert_int_equal(streams[0].done, 1);
	assert_true(now_ms() - t0 >= 250);
	close(a);
	stop(f);
	assert_int_equal(streams[0].done, 1);
}

static void test_bind_errors(void **state)
{
	(void)state;
	fixture *f = start(8, 5000, NULL);
	char listen_on[64];
	int err = 0;
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%u", f->port);
	rv_http_opts o = {.listen = listen_on, .max_connections = 4, .timeout_ms = 1000};
	assert_null(rv_http_new(f->base, &o, &err));
	assert_int_equal(err, -EADDRINUSE);
	o.listen = "localhost:80";
	assert_null(rv_http_new(f->base, &o, &err));
	assert_int_equal(err, -EINVAL);
	stop(f);
}

int main(void)
{
	rv_log_level = RV_LOG_CRIT; /* the auth and refusal lines are expected */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_json_error_and_params),
		cmocka_unit_test(test_api_key),
		cmocka_unit_test(test_connection_cap),
		cmocka_unit_test(test_stalled_clients_timed_out),
		cmocka_unit_test(test_stream_slices),
		cmocka_unit_test(test_stream_deadline),
		cmocka_unit_test(test_stream_cut),
		cmocka_unit_test(test_stream_client_gone),
		cmocka_unit_test(test_stream_reader_stalls),
		cmocka_unit_test(test_bind_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
