/*
 * http.h - the agent's HTTP listener (libevent evhttp, on the agent's loop).
 *
 * One listener serves every HTTP output: the passive-DNS query API
 * (pdns_api.c), the live table (table_api.c), Prometheus /metrics and
 * /healthz. Each is a route registered by its own file; this module owns only
 * what every route shares: the socket, the connection cap, timeouts, the API
 * key check, error replies and counting (stats.h http_*), and streamed replies
 * that never run long on the loop.
 *
 * evhttp is single-threaded: every function here is called on the loop thread.
 */
#ifndef RV_HTTP_H
#define RV_HTTP_H

#include "common.h"

struct event_base;
struct evbuffer;
struct evhttp_request;

typedef struct rv_http rv_http;

typedef struct rv_http_opts {
	const char *listen;        /* "ADDR:PORT" / "[ADDR]:PORT" */
	const char *api_key;       /* NULL or "": no key required (loopback only; config checks) */
	unsigned max_connections;  /* more are closed at once (counted) */
	unsigned timeout_ms;       /* read a request / write a chunk within this */
} rv_http_opts;

/*
 * Binds and listens. Borrows base; copies opts' strings. On failure returns
 * NULL with *err = -errno (-EADDRINUSE, -EINVAL for a bad address, ...).
 */
rv_http *rv_http_new(struct event_base *base, const rv_http_opts *opts, int *err);
/* Ends every open stream (their done callbacks run) and closes the listener. */
void rv_http_free(rv_http **h);

/* Replaces the API key (live reload); NULL or "" = none. 0, -ENOMEM. */
int rv_http_set_api_key(rv_http *h, const char *api_key) RV_MUST_CHECK;

/*
 * A route: fn handles GET requests whose path is prefix or starts with prefix
 * followed by '/' (the longest matching prefix wins). path is the request's
 * path, %-decoded, without the query string; rest points into path just past
 * prefix ("" or "/..."). With RV_HTTP_KEY the API key is checked first (when
 * one is configured): a missing or wrong X-API-Key gets 401 and never reaches
 * fn. Other methods get 405, unknown paths 404.
 */
enum { RV_HTTP_PUBLIC = 0, RV_HTTP_KEY = 1 };
typedef void (*rv_http_handler)(void *arg, struct evhttp_request *req, const char *path,
		const char *rest);
int rv_http_route(rv_http *h, const char *prefix, int flags, rv_http_handler fn,
		void *arg) RV_MUST_CHECK;

/* %-decodes a request path into out (at least strlen(in) + 1 octets): a
 * pure function (fuzzed). -EBADMSG for a bad escape or an encoded NUL. */
int rv_http_path_decode(const char *in, char *out) RV_MUST_CHECK;

/* A whole reply: status, content type, body (copied). Counts 4xx/5xx. */
void rv_http_reply(struct evhttp_request *req, int status, const char *content_type,
		const char *body, size_t len);
/* An error reply: {"error":"<msg>"} (JSON-escaped) with status. */
void rv_http_error(struct evhttp_request *req, int status, const char *msg);

/* Value of query parameter key (decoded; '+' is a space) copied into buf;
 * -ENOENT if absent, -ENOSPC if longer than len - 1, -EBADMSG if the query
 * string is malformed (a parameter without '='). */
int rv_http_query_param(struct evhttp_request *req, const char *key, char *buf,
		size_t len) RV_MUST_CHECK;

/*
 * A streamed (chunked) reply. produce() is called on the loop, first right
 * after this call returns (from a loop event, never inside it) and then each
 * time the client has taken the previous chunk (backpressure: a slow client
 * slows production, it never queues up memory); it appends one slice (keep it
 * short: tens of KiB, a few ms) to out and returns 1 for more to come, 0 when
 * finished, or -errno (the stream is cut: the connection is closed without
 * the final chunk, so a client sees a broken reply, never a short complete
 * one; counted as a 5xx). Returning 1 with nothing appended calls it again
 * about 1 ms later. When the stream has run longer than deadline_ms (0 = no
 * deadline), produce() is called once more with expired = true and must
 * append its trailer (SAF: {"cond":"failed",...}); the stream then ends
 * whatever it returns (counted as a 5xx). A client that takes no chunk for
 * the listener's timeout_ms is dropped.
 * done(arg) runs exactly once, whatever ended the stream (finished, cut,
 * client gone, timed out, listener freed), and frees what arg owns; for a
 * HEAD request (no body) it runs before rv_http_stream returns.
 * Returns 0; or -ENOMEM / -EINVAL (req is not a request of a live listener,
 * or already streams): then nothing was sent, done is not called, and the
 * caller still owns arg and must reply (rv_http_error).
 */
typedef int (*rv_http_produce_fn)(void *arg, struct evbuffer *out, bool expired);
typedef void (*rv_http_done_fn)(void *arg);
int rv_http_stream(struct evhttp_request *req, int status, const char *content_type,
		unsigned deadline_ms, rv_http_produce_fn produce, rv_http_done_fn done,
		void *arg) RV_MUST_CHECK;

#endif
