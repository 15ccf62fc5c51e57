/* bindstats.c - named's dnstap counters from its statistics channel (see
 * bindstats.h): a pure parser over json-c, and a poller on the agent's loop. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "bindstats.h"
#include "log.h"
#include "stats.h"

/* ---- the parser ---- */

/* A counter of obj: absent = 0 (named leaves zeros out); otherwise it must be
 * a non-negative JSON integer. */
static int counter(json_object *obj, const char *key, uint64_t *out, const char **why)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v)) {
		*out = 0;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int)) {
		*why = "a dnstap counter is not an integer";
		return -EBADMSG;
	}
	/* json-c keeps integers above INT64_MAX as unsigned; get_int64 then
	 * saturates, so the sign test is only meaningful below. */
	if (json_object_get_int64(v) < 0) {
		*why = "a dnstap counter is negative";
		return -EBADMSG;
	}
	*out = json_object_get_uint64(v);
	return 0;
}

int rv_bindstats_parse(const char *body, size_t len, rv_bindstats_counters *out,
		const char **why)
{
	json_tokener *tok = NULL;
	json_object *root = NULL, *v, *dt;
	rv_bindstats_counters c = {0, 0};
	int rc = -EBADMSG;

	*why = "internal error";
	if (len == 0) {
		*why = "empty reply";
		goto out;
	}
	if (len > RV_BINDSTATS_MAX_BODY) {
		*why = "reply too large";
		goto out;
	}
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok) {
		*why = "out of memory";
		rc = -ENOMEM;
		goto out;
	}
	/* Strict: named writes standard JSON; anything json-c would merely
	 * tolerate (single quotes, trailing commas, NaN) is not named's. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (root == NULL) {
		*why = jerr == json_tokener_continue ? "truncated JSON" : "not JSON";
		goto out;
	}
	/* One document and nothing else: a second value or stray bytes (a NUL
	 * among them) mean the body is not what named sends. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!strchr(" \t\r\n", body[i]) || body[i] == '\0') {
			*why = "bytes after the JSON document";
			goto out;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		*why = "not a JSON object";
		goto out;
	}
	if (!json_object_object_get_ex(root, "json-stats-version", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*why = "no json-stats-version: not named's statistics";
		goto out;
	}
	/* Version 1.x is the schema the counters' place was checked against
	 * (BIND 9.18 writes 1.7); another major version may move them. */
	if (strncmp(json_object_get_string(v), "1.", 2) != 0) {
		*why = "unsupported json-stats-version (want 1.x)";
		goto out;
	}
	if (json_object_object_get_ex(root, "dnstapstats", &dt)) {
		if (!json_object_is_type(dt, json_type_object)) {
			*why = "dnstapstats is not an object";
			goto out;
		}
		if ((rc = counter(dt, "DNSTAPsuccess", &c.dnstap_sent, why)) < 0 ||
		    (rc = counter(dt, "DNSTAPdropped", &c.dnstap_dropped, why)) < 0)
			goto out;
	}
	*out = c;
	*why = NULL;
	rc = 0;
out:
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	return rc;
}

/* ---- the poller ---- */

struct rv_bindstats {
	struct evhttp_connection *conn;
	struct event *timer;
	char host[RV_ADDR_STRLEN];
	char hostport[RV_ADDR_STRLEN + 8]; /* for log lines: "ADDR:PORT" / "[ADDR]:PORT" */
	unsigned timeout_ms;
	bool busy;                 /* a request is in flight */
	int last_error;            /* evhttp_request_error of the request in flight, or -1 */
	/* metrics */
	rv_bindstats_counters last;
	uint64_t frames_at_poll;   /* rv_stats.fs_frames when the last good answer came */
	uint64_t failures;
	bool up;
	/* log-once state: failures since the last good poll */
	uint64_t failing;
};

static uint64_t m_sent(const void *arg) { return ((const rv_bindstats *)arg)->last.dnstap_sent; }
static uint64_t m_dropped(const void *arg) { return ((const rv_bindstats *)arg)->last.dnstap_dropped; }
static uint64_t m_frames(const void *arg) { return ((const rv_bindstats *)arg)->frames_at_poll; }
static uint64_t m_up(const void *arg) { return ((const rv_bindstats *)arg)->up ? 1 : 0; }
static uint64_t m_failures(const void *arg) { return ((const rv_bindstats *)arg)->failures; }

static const char *request_error_text(int e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "no complete answer in time";
	case EVREQ_HTTP_EOF: return "connection closed before the answer was complete";
	case EVREQ_HTTP_INVALID_HEADER: return "malformed HTTP answer";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection error";
	case EVREQ_HTTP_REQUEST_CANCEL: return "request cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "answer larger than 1 MiB";
	default: return "cannot connect";
	}
}

/* One failed poll: counted always, logged once per outage (the first), then
 * at debug level, so a channel that stays down does not fill the log. */
static void poll_failed(rv_bindstats *b, const char *why, int status)
{
	char st[32] = "";

	if (status > 0)
		snprintf(st, sizeof(st), " (HTTP status %d)", status);
	b->failures++;
	b->up = false;
	if (b->failing++ == 0)
		rv_warn("bindstats", "named's statistics channel http://%s%s: %s%s; named's dnstap "
			"counters are not updated until it answers (further failures are counted "
			"in rearview_bind_stats_poll_failures_total and logged at debug level)",
			b->hostport, RV_BINDSTATS_PATH, why, st);
	else
		rv_debug("bindstats", "named's statistics channel http://%s%s: %s%s (%" PRIu64
			" failed polls in a row)", b->hostport, RV_BINDSTATS_PATH, why, st,
			b->failing);
}

static void poll_ok(rv_bindstats *b, const rv_bindstats_counters *c)
{
	if (b->failing > 0)
		rv_notice("bindstats", "named's statistics channel http://%s%s answers again after "
			"%" PRIu64 " failed polls: dnstap sent=%" PRIu64 " dropped=%" PRIu64,
			b->hostport, RV_BINDSTATS_PATH, b->failing, c->dnstap_sent,
			c->dnstap_dropped);
	else if (!b->up)
		rv_info("bindstats", "reading named's dnstap counters from http://%s%s: sent=%"
			PRIu64 " dropped=%" PRIu64, b->hostport, RV_BINDSTATS_PATH,
			c->dnstap_sent, c->dnstap_dropped);
	b->failing = 0;
	b->up = true;
	b->last = *c;
	/* Sampled now, when named's numbers arrive: the two counts then differ
	 * only by frames in flight, not by a poll interval of traffic. */
	b->frames_at_poll = rv_stats.fs_frames;
}

static void on_request_error(enum evhttp_request_error e, void *arg)
{
	((rv_bindstats *)arg)->last_error = (int)e;
}

static void on_response(struct evhttp_request *req, void *arg)
{
	rv_bindstats *b = arg;
	int status = req ? evhttp_request_get_response_code(req) : 0;

	b->busy = false;
	if (req == NULL || status == 0) {
		/* NULL: evhttp failed the request (error callback said why); a
		 * request without a status never got a connection. */
		poll_failed(b, request_error_text(b->last_error), 0);
		return;
	}
	if (status != 200) {
		poll_failed(b, "unexpected answer", status);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	rv_bindstats_counters c;
	const char *why = NULL;
	int rc = body ? rv_bindstats_parse(body, len, &c, &why) : -ENOMEM;
	if (rc < 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "not named's JSON statistics (%s)",
			why ? why : "out of memory");
		poll_failed(b, msg, 0);
		return;
	}
	poll_ok(b, &c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	rv_bindstats *b = arg;
	(void)fd;
	(void)what;

	/* The timeout is at most the interval, so this only happens if evhttp
	 * is late; never stack requests. */
	if (b->busy)
		return;
	struct evhttp_request *req = evhttp_request_new(on_response, b);
	if (!req) {
		poll_failed(b, "out of memory", 0);
		return;
	}
	evhttp_request_set_error_cb(req, on_request_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	/* A new connection per poll: no keep-alive connection for named to close
	 * under us just as a request goes out. */
	if (evhttp_add_header(h, "Host", b->hostport) < 0 ||
	    evhttp_add_header(h, "Connection", "close") < 0 ||
	    evhttp_add_header(h, "Accept", "application/json") < 0) {
		evhttp_request_free(req);
		poll_failed(b, "out of memory", 0);
		return;
	}
	b->last_error = -1;
	b->busy = true;
	/* On failure evhttp_make_request frees req itself. */
	if (evhttp_make_request(b->conn, req, EVHTTP_REQ_GET, RV_BINDSTATS_PATH) < 0) {
		b->busy = false;
		poll_failed(b, "cannot send the request", 0);
	}
}

rv_bindstats *rv_bindstats_new(struct event_base *base, const rv_bindstats_opts *opts,
		int *err)
{
	rv_addr a;
	uint16_t port;
	int rc = -ENOMEM;
	rv_bindstats *b = NULL;

	if (rv_hostport_parse(opts->channel, &a, &port) < 0 || opts->interval_ms == 0) {
		rc = -EINVAL;
		goto fail;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		goto fail;
	b->last_error = -1;
	rv_addr_str(&a, b->host, sizeof(b->host));
	snprintf(b->hostport, sizeof(b->hostport), a.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		b->host, port);
	b->timeout_ms = opts->timeout_ms ? opts->timeout_ms
		: (opts->interval_ms < 5000 ? opts->interval_ms : 5000);
	/* No DNS base: host is numeric (rv_hostport_parse), so libevent's
	 * address lookup does not touch the resolver or block. */
	b->conn = evhttp_connection_base_new(base, NULL, b->host, port);
	if (!b->conn)
		goto fail;
	struct timeval tv = {b->timeout_ms / 1000, (b->timeout_ms % 1000) * 1000};
	evhttp_connection_set_timeout_tv(b->conn, &tv);
	evhttp_connection_set_max_body_size(b->conn, RV_BINDSTATS_MAX_BODY);
	evhttp_connection_set_max_headers_size(b->conn, 16384);
	evhttp_connection_set_retries(b->conn, 0);
	b->timer = event_new(base, -1, EV_PERSIST, on_timer, b);
	if (!b->timer)
		goto fail;
	struct timeval iv = {opts->interval_ms / 1000, (opts->interval_ms % 1000) * 1000};
	if (event_add(b->timer, &iv) < 0)
		goto fail;
	event_active(b->timer, EV_TIMEOUT, 0); /* the first poll at once */
	(void)rv_stats_register(RV_COUNTER, "bind_sent", "rearview_bind_dnstap_sent_total",
		"dnstap messages named queued for the agent (named's DNSTAPsuccess; includes "
		"those its writer discarded while the agent was not connected)", m_sent, b);
	(void)rv_stats_register(RV_COUNTER, "bind_dropped", "rearview_bind_dnstap_dropped_total",
		"dnstap messages named dropped because its queue was full (named's DNSTAPdropped)",
		m_dropped, b);
	(void)rv_stats_register(RV_COUNTER, "bind_poll_frames", "rearview_bind_poll_frames_total",
		"rearview_dnstap_frames_total when named's counters were last read: "
		"rearview_bind_dnstap_sent_total minus this is the loss", m_frames, b);
	(void)rv_stats_register(RV_GAUGE, "bind_up", "rearview_bind_stats_up",
		"1 if the last read of named's statistics channel succeeded", m_up, b);
	(void)rv_stats_register(RV_COUNTER, "bind_poll_failures",
		"rearview_bind_stats_poll_failures_total",
		"reads of named's statistics channel that failed (down, slow, too large, not "
		"named's JSON)", m_failures, b);
	rv_info("bindstats", "polling named's statistics channel http://%s%s every %u ms "
		"(timeout %u ms)", b->hostport, RV_BINDSTATS_PATH, opts->interval_ms,
		b->timeout_ms);
	return b;
fail:
	rv_bindstats_free(&b);
	if (err)
		*err = rc;
	return NULL;
}

void rv_bindstats_free(rv_bindstats **bp)
{
	if (!bp || !*bp)
		return;
	rv_bindstats *b = *bp;
	rv_stats_unregister(b);
	if (b->timer)
		event_free(b->timer);
	/* Frees a request in flight without calling on_response. */
	if (b->conn)
		evhttp_connection_free(b->conn);
	free(b);
	*bp = NULL;
}
