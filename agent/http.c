/*
 * http.c - the agent's HTTP listener (see http.h).
 *
 * libevent 2.1's evhttp has no connection cap and no way to refuse a
 * connection before it has read a request, so this module tracks connections
 * itself:
 *  - evhttp_set_bevcb() makes evhttp ask us for each new connection's
 *    bufferevent; we create it, take an extra reference (so it cannot vanish
 *    under us), and queue it;
 *  - a deferred event, which runs after evhttp's accept callback has
 *    returned and before any I/O on the connection, looks each one up
 *    (bufferevent_getcb(): evhttp's callback argument is its connection),
 *    closes it at once if the cap is reached, or else attaches a closecb
 *    that counts it down and ends a stream running on it.
 * Every other limit is evhttp's own (header and body size, read and write
 * timeouts) plus a whole-request deadline per connection (a client trickling
 * a header one byte at a time resets evhttp's read timeout at every byte).
 */
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dnstcp.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "stats.h"

#define SUB "http"
/* Longest request target (path and query) we look at; longer ones get 400. */
#define RV_HTTP_PATH_MAX 4096
/* evhttp's limit on the request line plus headers: above the path limit, so an
 * over-long path reaches us (400, counted) rather than evhttp's bare 413. */
#define RV_HTTP_HEADERS_MAX (RV_HTTP_PATH_MAX + 8192)
/* GET and HEAD carry no body; a client sending one gets evhttp's 413. */
#define RV_HTTP_BODY_MAX 1024
/* Peers whose auth failure was logged (each one once, until it is pushed out). */
#define AUTH_LOGGED_MAX 64

typedef struct conn conn;
typedef struct stream stream;
typedef struct route route;

struct route {
	char *prefix;
	size_t len;
	int flags;
	rv_http_handler fn;
	void *arg;
	route *next;
};

/* A connection evhttp has accepted, not yet looked at. */
typedef struct pending {
	struct bufferevent *bev; /* holds our extra reference */
	struct pending *next;
} pending;

struct conn {
	rv_http *h;
	struct evhttp_connection *evcon;
	struct event *deadline_ev; /* a whole request within timeout_ms */
	stream *stream;            /* the streamed reply running on it, or NULL */
	conn *prev, *next;
};

struct stream {
	conn *c;
	struct evhttp_request *req;
	rv_http_produce_fn produce;
	rv_http_done_fn done;
	void *arg;
	struct evbuffer *buf;
	struct event *next_ev;   /* produce the next slice, from a clean stack */
	uint64_t deadline_ms;    /* monotonic; 0 = none */
};

struct rv_http {
	struct event_base *base;
	struct evhttp *http;
	char *listen;
	unsigned max_connections;
	struct timeval timeout;
	bool has_key;
	unsigned char key_md[EVP_MAX_MD_SIZE]; /* SHA-256 of the API key */
	route *routes;
	pending *pending;
	struct event *pending_ev;
	conn *conns;
	unsigned nconns;
	rv_addr auth_logged[AUTH_LOGGED_MAX];
	size_t nauth_logged, auth_next;
	rv_log_ratelimit refuse_rl, auth_rl;
	rv_http *next_instance;
};

/* Live listeners, to find the one a request belongs to (rv_http_stream gets
 * only the request). Usually one; tests make several. Loop thread only. */
static rv_http *instances;

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void count_status(int status)
{
	if (status >= 400 && status < 500)
		rv_stats.http_client_errors++;
	else if (status >= 500)
		rv_stats.http_server_errors++;
}

static conn *find_conn(struct evhttp_connection *evcon)
{
	if (evcon == NULL)
		return NULL;
	struct evhttp *server = evhttp_connection_get_server(evcon);
	for (rv_http *h = instances; h != NULL; h = h->next_instance) {
		if (h->http != server)
			continue;
		/* Linear: at most http-max-connections, and only when a stream
		 * starts. */
		for (conn *c = h->conns; c != NULL; c = c->next)
			if (c->evcon == evcon)
				return c;
	}
	return NULL;
}

static void peer_addr(struct evhttp_connection *evcon, char *buf, size_t len)
{
	char *host = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(buf, len, "%s", host != NULL ? host : "?");
}

/* ---- replies ---- */

static void send_buf(struct evhttp_request *req, int status, const char *content_type,
		struct evbuffer *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	if (content_type != NULL)
		evhttp_add_header(hdr, "Content-Type", content_type);
	/* Every body here is computed per request (metrics, query results). */
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	count_status(status);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		/* evhttp 2.1 would send the body after a HEAD reply's headers
		 * (the client takes it for the next reply): the length only. */
		char n[32];
		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(body));
		evhttp_add_header(hdr, "Content-Length", n);
		evhttp_send_reply(req, status, NULL, NULL);
		return;
	}
	evhttp_send_reply(req, status, NULL, body);
}

void rv_http_reply(struct evhttp_request *req, int status, const char *content_type,
		const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL || (len > 0 && evbuffer_add(b, body, len) < 0)) {
		if (b != NULL)
			evbuffer_free(b);
		count_status(500);
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	send_buf(req, status, content_type, b);
	evbuffer_free(b);
}

void rv_http_error(struct evhttp_request *req, int status, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL || evbuffer_add(b, "{\"error\":", 9) < 0 || rv_json_str(b, msg) < 0 ||
	    evbuffer_add(b, "}\n", 2) < 0) {
		if (b != NULL)
			evbuffer_free(b);
		count_status(500);
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	send_buf(req, status, "application/json", b);
	evbuffer_free(b);
}

int rv_http_query_param(struct evhttp_request *req, const char *key, char *buf, size_t len)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq params;
	int ret = -ENOENT;

	if (query == NULL)
		return -ENOENT;
	/* It initialises params, and empties them on failure. */
	if (evhttp_parse_query_str(query, &params) < 0)
		return -EBADMSG;
	const char *v = evhttp_find_header(&params, key);
	if (v == NULL)
		goto out;
	size_t n = strlen(v);
	if (len == 0 || n >= len) {
		ret = -ENOSPC;
		goto out;
	}
	memcpy(buf, v, n + 1);
	ret = 0;
out:
	evhttp_clear_headers(&params);
	return ret;
}

/* ---- streams ---- */

/* Ends the stream once: a client gone (its request detached from the
 * connection, which evhttp has freed) still needs the request freed. */
static void stream_finish(stream *s)
{
	if (s->c != NULL)
		s->c->stream = NULL;
	if (s->req != NULL && evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req); /* without a connection: frees it */
	s->done(s->arg);
	event_free(s->next_ev);
	evbuffer_free(s->buf);
	free(s);
}

static void stream_chunk_sent(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	stream *s = arg;
	/* From evhttp's write callback: produce from our own event instead. */
	event_active(s->next_ev, EV_TIMEOUT, 0);
}

static void stream_next(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stream *s = arg;
	bool expired = s->deadline_ms != 0 && mono_ms() >= s->deadline_ms;
	int rc = s->produce(s->arg, s->buf, expired);

	if (rc < 0) {
		/* Cut: close without the final chunk, so the client sees a broken
		 * reply, never a complete-looking short one. The closecb ends the
		 * stream. */
		rv_stats.http_server_errors++;
		rv_info(SUB, "stream cut: %s", strerror(-rc));
		evhttp_connection_free(s->c->evcon);
		return;
	}
	if (rc == 0 || expired) {
		if (expired)
			rv_stats.http_server_errors++;
		if (evbuffer_get_length(s->buf) > 0)
			evhttp_send_reply_chunk(s->req, s->buf);
		evhttp_send_reply_end(s->req);
		s->req = NULL; /* evhttp frees it once the end is written */
		stream_finish(s);
		return;
	}
	if (evbuffer_get_length(s->buf) > 0) {
		/* Backpressure: the next slice only once this one has been taken. */
		evhttp_send_reply_chunk_with_cb(s->req, s->buf, stream_chunk_sent, s);
	} else {
		/* Nothing yet (the producer waits for something): poll gently. */
		struct timeval tv = {0, 1000};
		event_add(s->next_ev, &tv);
	}
}

int rv_http_stream(struct evhttp_request *req, int status, const char *content_type,
		unsigned deadline_ms, rv_http_produce_fn produce, rv_http_done_fn done,
		void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	conn *c = find_conn(evcon);
	if (c == NULL || c->stream != NULL)
		return -EINVAL;
	stream *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->c = c;
	s->req = req;
	s->produce = produce;
	s->done = done;
	s->arg = arg;
	s->buf = evbuffer_new();
	s->next_ev = event_new(c->h->base, -1, 0, stream_next, s);
	if (s->buf == NULL || s->next_ev == NULL) {
		if (s->buf != NULL)
			evbuffer_free(s->buf);
		if (s->next_ev != NULL)
			event_free(s->next_ev);
		free(s);
		return -ENOMEM;
	}
	if (deadline_ms > 0)
		s->deadline_ms = mono_ms() + deadline_ms;
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	if (content_type != NULL)
		evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	count_status(status);
	evhttp_send_reply_start(req, status, NULL);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		/* No body: evhttp would drop every chunk (and never call back). */
		evhttp_send_reply_end(req);
		s->req = NULL;
		s->c = NULL;
		stream_finish(s);
		return 0;
	}
	c->stream = s;
	event_active(s->next_ev, EV_TIMEOUT, 0);
	return 0;
}

/* ---- connections ---- */

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn *c = arg;
	rv_http *h = c->h;

	if (c->stream != NULL) {
		stream *s = c->stream;
		s->c = NULL;
		stream_finish(s);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	h->nconns--;
	event_free(c->deadline_ev);
	free(c);
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn *c = arg;
	char peer[64];
	peer_addr(c->evcon, peer, sizeof(peer));
	rv_debug(SUB, "%s: no whole request within %ld ms; closing", peer,
		(long)(c->h->timeout.tv_sec * 1000 + c->h->timeout.tv_usec / 1000));
	evhttp_connection_free(c->evcon); /* conn_closed frees c */
}

static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
	rv_http *h = arg;
	/* Options as evhttp's own (it closes the socket itself). */
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
	pending *p = malloc(sizeof(*p));
	if (bev == NULL || p == NULL) {
		free(p);
		return bev; /* evhttp copes; the connection just goes uncounted */
	}
	bufferevent_incref(bev);
	p->bev = bev;
	p->next = h->pending;
	h->pending = p;
	event_active(h->pending_ev, EV_TIMEOUT, 0);
	return bev;
}

static void adopt(rv_http *h, struct bufferevent *bev)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	void *cbarg = NULL;

	/* No callbacks left: evhttp has already freed the connection. */
	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
	if (ecb == NULL || cbarg == NULL)
		return;
	struct evhttp_connection *evcon = cbarg;
	if (evhttp_connection_get_bufferevent(evcon) != bev)
		return;
	if (h->nconns >= h->max_connections) {
		char peer[64];
		uint64_t suppressed;
		rv_stats.http_conns_refused++;
		peer_addr(evcon, peer, sizeof(peer));
		if (rv_log_ratelimit_ok(&h->refuse_rl, (int64_t)mono_ms(), &suppressed))
			rv_warn(SUB, "%s: connection refused: %u open (http-max-connections) "
				"(%llu similar lines suppressed)", peer, h->nconns,
				(unsigned long long)suppressed);
		evhttp_connection_free(evcon);
		return;
	}
	conn *c = calloc(1, sizeof(*c));
	struct event *ev = c != NULL ? evtimer_new(h->base, conn_deadline, c) : NULL;
	if (ev == NULL) {
		free(c);
		evhttp_connection_free(evcon);
		return;
	}
	c->h = h;
	c->evcon = evcon;
	c->deadline_ev = ev;
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	evtimer_add(ev, &h->timeout);
	evhttp_connection_set_closecb(evcon, conn_closed, c);
}

static void adopt_pending(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_http *h = arg;
	pending *p = h->pending;
	h->pending = NULL;
	while (p != NULL) {
		pending *next = p->next;
		adopt(h, p->bev);
		bufferevent_decref(p->bev);
		free(p);
		p = next;
	}
}

/* ---- requests ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict %-decoding (evhttp_uridecode passes a bad escape through): -EBADMSG
 * for a '%' not followed by two hex digits, or for a NUL. out holds at least
 * strlen(in) + 1 bytes. */
int rv_http_path_decode(const char *in, char *out)
{
	for (; *in != '\0'; in++) {
		char c = *in;
		if (c == '%') {
			int hi = hexval(in[1]), lo = hi >= 0 ? hexval(in[2]) : -1;
			if (hi < 0 || lo < 0)
				return -EBADMSG;
			c = (char)(hi * 16 + lo);
			in += 2;
			if (c == '\0')
				return -EBADMSG;
		}
		*out++ = c;
	}
	*out = '\0';
	return 0;
}

static const route *match(const rv_http *h, const char *path)
{
	const route *best = NULL;
	for (const route *r = h->routes; r != NULL; r = r->next) {
		if (strncmp(path, r->prefix, r->len) != 0 ||
		    (path[r->len] != '\0' && path[r->len] != '/'))
			continue;
		if (best == NULL || r->len > best->len)
			best = r;
	}
	return best;
}

static void sha256(const void *data, size_t len, unsigned char md[EVP_MAX_MD_SIZE])
{
	unsigned int n = 0;
	memset(md, 0, EVP_MAX_MD_SIZE);
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
		/* Cannot happen with a working libcrypto; fail closed: a digest
		 * nobody's key has. */
		memset(md, 0xff, EVP_MAX_MD_SIZE);
}

/* Constant time in the key's content and length: the digests are compared,
 * never the strings. */
static bool key_ok(const rv_http *h, const char *given)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	if (given == NULL)
		return false;
	sha256(given, strlen(given), md);
	return CRYPTO_memcmp(md, h->key_md, sizeof(md)) == 0;
}

/*
 * The key a request presents: the X-API-Key header, or else the password of
 * HTTP Basic authentication (RFC 7617), which is how CIRCL-style clients
 * (dnsdbq -u circl, PyPDNS) send their secret; the user name is ignored.
 * The decoded credentials go into buf.
 */
static const char *presented_key(struct evhttp_request *req, char *buf, size_t len)
{
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	const char *k = evhttp_find_header(hdrs, "X-API-Key");
	const char *auth = evhttp_find_header(hdrs, "Authorization");
	size_t n;
	int out;
	char *colon;

	if (k != NULL || auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
		return k;
	auth += 6;
	while (*auth == ' ')
		auth++;
	n = strlen(auth);
	/* base64: 3 octets per 4 characters, plus the NUL. */
	if (n == 0 || n % 4 != 0 || n / 4 * 3 + 1 > len)
		return NULL;
	out = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)auth, (int)n);
	if (out < 0)
		return NULL;
	/* EVP_DecodeBlock counts the padding's zero octets too. */
	while (out > 0 && auth[n - 1] == '=' && buf[out - 1] == '\0') {
		out--;
		n--;
	}
	buf[out] = '\0';
	if (memchr(buf, '\0', (size_t)out) != NULL || (colon = strchr(buf, ':')) == NULL)
		return NULL;
	return colon + 1;
}

/* Logs an auth failure once per peer address (a small ring of those already
 * logged), and at most a few lines per interval whatever the addresses. */
static void log_auth_failure(rv_http *h, struct evhttp_connection *evcon, const char *path)
{
	char peer[64];
	rv_addr a;
	uint64_t suppressed;

	peer_addr(evcon, peer, sizeof(peer));
	if (rv_addr_parse(peer, &a) == 0) {
		for (size_t i = 0; i < h->nauth_logged; i++)
			if (rv_addr_equal(&h->auth_logged[i], &a))
				return;
		h->auth_logged[h->auth_next] = a;
		h->auth_next = (h->auth_next + 1) % AUTH_LOGGED_MAX;
		if (h->nauth_logged < AUTH_LOGGED_MAX)
			h->nauth_logged++;
	}
	if (rv_log_ratelimit_ok(&h->auth_rl, (int64_t)mono_ms(), &suppressed))
		rv_warn(SUB, "%s: missing or wrong API key for %s (logged once per address; "
			"%llu similar lines suppressed)", peer, path,
			(unsigned long long)suppressed);
}

static void request_done(struct evhttp_request *req, void *arg)
{
	(void)req;
	conn *c = arg;
	/* The next request on this keep-alive connection gets its own deadline.
	 * (If evhttp closes the connection now, conn_closed deletes the timer.) */
	evtimer_add(c->deadline_ev, &c->h->timeout);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	rv_http *h = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const char *target = evhttp_request_get_uri(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *path = NULL;

	rv_stats.http_requests++;
	conn *c = find_conn(evcon);
	if (c != NULL) {
		event_del(c->deadline_ev);
		evhttp_request_set_on_complete_cb(req, request_done, c);
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		rv_http_error(req, 405, "only GET and HEAD are served");
		return;
	}
	const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (target == NULL || raw == NULL || strlen(target) > RV_HTTP_PATH_MAX) {
		rv_http_error(req, 400, "request target missing or longer than 4096 bytes");
		return;
	}
	path = malloc(strlen(raw) + 1);
	if (path == NULL) {
		rv_http_error(req, 503, "out of memory");
		return;
	}
	if (rv_http_path_decode(raw, path) < 0 || path[0] != '/') {
		rv_http_error(req, 400, "malformed path (bad %-escape or NUL)");
		goto out;
	}
	const route *r = match(h, path);
	if (r == NULL) {
		rv_http_error(req, 404, "no such path");
		goto out;
	}
	if ((r->flags & RV_HTTP_KEY) && h->has_key) {
		char creds[1024];
		bool ok = key_ok(h, presented_key(req, creds, sizeof(creds)));

		explicit_bzero(creds, sizeof(creds));
		if (!ok) {
			rv_stats.http_auth_failures++;
			log_auth_failure(h, evcon, path);
			evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
					"Basic realm=\"rearview\"");
			rv_http_error(req, 401, "missing or wrong API key (X-API-Key, or the "
					"password of Basic authentication)");
			goto out;
		}
	}
	r->fn(r->arg, req, path, path + r->len);
out:
	free(path);
}

/* ---- lifecycle ---- */

static int listen_socket(const char *listen_on, evutil_socket_t *out)
{
	rv_addr a;
	uint16_t port;
	char host[RV_ADDR_STRLEN];
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1;

	if (rv_hostport_parse(listen_on, &a, &port) < 0)
		return -EINVAL;
	rv_addr_str(&a, host, sizeof(host));
	if (rv_dnstcp_peer(host, port, &ss, &sslen, NULL) < 0)
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 128) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

int rv_http_set_api_key(rv_http *h, const char *api_key)
{
	h->has_key = api_key != NULL && api_key[0] != '\0';
	if (h->has_key)
		sha256(api_key, strlen(api_key), h->key_md);
	else
		memset(h->key_md, 0, sizeof(h->key_md));
	return 0;
}

rv_http *rv_http_new(struct event_base *base, const rv_http_opts *opts, int *err)
{
	evutil_socket_t fd = -1;
	int rc = -ENOMEM;
	rv_http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		goto fail;
	h->base = base;
	h->max_connections = opts->max_connections > 0 ? opts->max_connections : 1;
	unsigned ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
	h->timeout.tv_sec = ms / 1000;
	h->timeout.tv_usec = (ms % 1000) * 1000;
	h->refuse_rl = (rv_log_ratelimit)RV_LOG_RATELIMIT(10000, 5);
	h->auth_rl = (rv_log_ratelimit)RV_LOG_RATELIMIT(10000, 5);
	h->listen = strdup(opts->listen ? opts->listen : "");
	h->http = evhttp_new(base);
	h->pending_ev = event_new(base, -1, 0, adopt_pending, h);
	if (h->listen == NULL || h->http == NULL || h->pending_ev == NULL)
		goto fail;
	rc = rv_http_set_api_key(h, opts->api_key);
	if (rc < 0)
		goto fail;
	if ((rc = listen_socket(h->listen, &fd)) < 0)
		goto fail;
	evhttp_set_timeout_tv(h->http, &h->timeout);
	evhttp_set_max_headers_size(h->http, RV_HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, RV_HTTP_BODY_MAX);
	/* Every method reaches on_request, which answers 405 itself (counted,
	 * with Allow:) instead of evhttp's uncounted 501. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
			EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
			EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_bevcb(h->http, new_bev, h);
	if (evhttp_accept_socket_with_handle(h->http, fd) == NULL) {
		close(fd);
		rc = -ENOMEM;
		goto fail;
	}
	h->next_instance = instances;
	instances = h;
	return h;
fail:
	*err = rc;
	rv_http_free(&h);
	return NULL;
}

void rv_http_free(rv_http **hp)
{
	rv_http *h = *hp;
	if (h == NULL)
		return;
	for (rv_http **p = &instances; *p != NULL; p = &(*p)->next_instance) {
		if (*p == h) {
			*p = h->next_instance;
			break;
		}
	}
	/* Frees every connection: each closecb ends its stream (done runs). */
	if (h->http != NULL)
		evhttp_free(h->http);
	for (pending *p = h->pending, *next; p != NULL; p = next) {
		next = p->next;
		bufferevent_decref(p->bev);
		free(p);
	}
	if (h->pending_ev != NULL)
		event_free(h->pending_ev);
	for (route *r = h->routes, *next; r != NULL; r = next) {
		next = r->next;
		free(r->prefix);
		free(r);
	}
	explicit_bzero(h->key_md, sizeof(h->key_md));
	free(h->listen);
	free(h);
	*hp = NULL;
}

int rv_http_route(rv_http *h, const char *prefix, int flags, rv_http_handler fn, void *arg)
{
	if (prefix == NULL || prefix[0] != '/' || fn == NULL)
		return -EINVAL;
	route *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->prefix = strdup(prefix)) == NULL) {
		free(r);
		return -ENOMEM;
	}
	r->len = strlen(prefix);
	r->flags = flags;
	r->fn = fn;
	r->arg = arg;
	r->next = h->routes;
	h->routes = r;
	return 0;
}
