/*
 * pdns_api.c - passive-DNS queries over HTTP (see pdns_api.h).
 *
 * A request is parsed into at most two store queries (a CIRCL or bro-pdns
 * lookup of a name asks "records owned by it" and "records pointing at it"),
 * run one after the other through a cursor. The stream's producer writes at
 * most SLICE_ROWS rows per call, so the loop gets control back between slices
 * and a slow client slows only its own query.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "dname.h"
#include "history_db.h"
#include "json.h"
#include "log.h"
#include "pdns.h"
#include "pdns_api.h"
#include "stats.h"

#define SLICE_ROWS 256
#define SLICE_BYTES (64 * 1024)
#define DEFAULT_LIMIT 10000

struct rv_pdns_api {
	rv_pdns_api_opts opts;
	char *database;
	rv_hdb *db;               /* read-only, opened at the first query */
};

enum fmt { FMT_SAF, FMT_COF, FMT_BRO };

struct query {
	rv_pdns_api *api;
	enum fmt fmt;
	bool rdata_array;         /* DNSDB rrset lookups: "rdata":["..."] */
	rv_pdns_request r;        /* r.hq: the store queries; r.nq of them */
	size_t cur_q;
	rv_hdb_cursor *cur;
	uint64_t limit, rows;
	bool started;
};

static int64_t default_clock(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ output */

static int add_str(struct evbuffer *out, const char *key, const char *value)
{
	if (evbuffer_add_printf(out, ",\"%s\":", key) < 0)
		return -ENOMEM;
	return rv_json_str(out, value);
}

/* A DNSDB name has the trailing dot; COF and bro-pdns names do not. */
static int add_name(struct evbuffer *out, const char *key, const char *name, bool dot)
{
	char buf[RV_NAME_MAX + 1];

	snprintf(buf, sizeof(buf), "%s%s", name, dot && strcmp(name, ".") != 0 ? "." : "");
	return add_str(out, key, buf);
}

static bool is_name_type(uint16_t rrtype)
{
	return rrtype == RV_RRTYPE_CNAME || rrtype == RV_RRTYPE_DNAME;
}

static int write_row(const struct query *q, const rv_pdns_entry *e, struct evbuffer *out)
{
	const char *type = rv_rrtype_name(e->rrtype);
	char stamp[2][32];
	int rc = 0;

	if (type == NULL)
		type = "TYPE0";
	switch (q->fmt) {
	case FMT_SAF:
	case FMT_COF: {
		bool dnsdb = q->fmt == FMT_SAF;

		if (evbuffer_add_printf(out, "%s{\"count\":%" PRIu64 ",\"time_first\":%" PRId64
				",\"time_last\":%" PRId64 ",\"rrtype\":\"%s\"",
				dnsdb ? "{\"obj\":" : "", e->count, e->time_first, e->time_last,
				type) < 0)
			return -ENOMEM;
		rc = add_name(out, "rrname", e->rrname, dnsdb);
		if (rc == 0 && q->rdata_array) {
			char buf[RV_NAME_MAX + 1];

			snprintf(buf, sizeof(buf), "%s%s", e->rdata,
					is_name_type(e->rrtype) ? "." : "");
			rc = evbuffer_add(out, ",\"rdata\":[", 10) < 0 ? -ENOMEM : rv_json_str(out, buf);
			if (rc == 0 && evbuffer_add(out, "]", 1) < 0)
				rc = -ENOMEM;
		} else if (rc == 0) {
			rc = add_name(out, "rdata", e->rdata, dnsdb && is_name_type(e->rrtype));
		}
		if (rc == 0)
			rc = add_str(out, "sensor_id", e->sensor);
		if (rc == 0 && evbuffer_add_printf(out, ",\"ttl\":%" PRIu32 "}%s\n", e->ttl,
				dnsdb ? "}" : "") < 0)
			rc = -ENOMEM;
		return rc;
	}
	case FMT_BRO:
		for (int i = 0; i < 2; i++) {
			time_t t = (time_t)(i == 0 ? e->time_first : e->time_last);
			struct tm tm;

			if (gmtime_r(&t, &tm) == NULL ||
			    strftime(stamp[i], sizeof(stamp[i]), "%Y-%m-%d %H:%M:%S", &tm) == 0)
				snprintf(stamp[i], sizeof(stamp[i]), "%" PRId64,
						i == 0 ? e->time_first : e->time_last);
		}
		if (evbuffer_add_printf(out, "%s{\"type\":\"%s\"", q->rows > 0 ? "," : "",
				type) < 0)
			return -ENOMEM;
		rc = add_str(out, "query", e->rrname);
		if (rc == 0)
			rc = add_str(out, "answer", e->rdata);
		if (rc == 0)
			rc = add_str(out, "first", stamp[0]);
		if (rc == 0)
			rc = add_str(out, "last", stamp[1]);
		if (rc == 0 && evbuffer_add_printf(out, ",\"count\":%" PRIu64 ",\"ttl\":%" PRIu32
				"}", e->count, e->ttl) < 0)
			rc = -ENOMEM;
		return rc;
	}
	return -EINVAL;
}

/* The end of a stream; cond is "succeeded", "limited" or "failed". */
static void trailer(const struct query *q, struct evbuffer *out, const char *cond,
		const char *msg)
{
	switch (q->fmt) {
	case FMT_SAF:
		if (msg != NULL)
			evbuffer_add_printf(out, "{\"cond\":\"%s\",\"msg\":\"%s\"}\n", cond, msg);
		else
			evbuffer_add_printf(out, "{\"cond\":\"%s\"}\n", cond);
		break;
	case FMT_COF:
		break; /* plain NDJSON: the end of the stream is the end */
	case FMT_BRO:
		if (strcmp(cond, "failed") == 0)
			evbuffer_add_printf(out, "],\"error\":\"%s\"}\n", msg != NULL ? msg : cond);
		else
			evbuffer_add_printf(out, "]%s}\n",
					strcmp(cond, "limited") == 0 ? ",\"limited\":true" : "");
		break;
	}
}

/* ------------------------------------------------------------------ stream */

static int produce(void *arg, struct evbuffer *out, bool expired)
{
	struct query *q = arg;
	size_t n = 0;

	if (!q->started) {
		q->started = true;
		if (q->fmt == FMT_SAF)
			evbuffer_add_printf(out, "{\"cond\":\"begin\"}\n");
		else if (q->fmt == FMT_BRO)
			evbuffer_add_printf(out, "{\"records\":[");
	}
	if (expired) {
		rv_stats.http_server_errors++;
		trailer(q, out, "failed", "query timeout");
		return 0;
	}
	while (n < SLICE_ROWS && evbuffer_get_length(out) < SLICE_BYTES) {
		rv_pdns_entry e;
		int rc;

		if (q->rows >= q->limit) {
			trailer(q, out, "limited", "Result limit reached");
			return 0;
		}
		if (q->cur == NULL) {
			if (q->cur_q >= q->r.nq) {
				trailer(q, out, "succeeded", NULL);
				return 0;
			}
			q->r.hq[q->cur_q].limit = q->limit - q->rows;
			if (rv_hdb_query_start(q->api->db, &q->r.hq[q->cur_q], &q->cur) < 0) {
				rv_stats.http_server_errors++;
				trailer(q, out, "failed", "cannot query the history");
				return 0;
			}
			q->cur_q++;
		}
		rc = rv_hdb_next(q->cur, &e);
		if (rc == 0) {
			rv_hdb_cursor_free(&q->cur);
			continue;
		}
		if (rc < 0) {
			rv_stats.http_server_errors++;
			trailer(q, out, "failed", rc == -EBUSY ? "history busy, try again" :
					"history read error");
			return 0;
		}
		if (write_row(q, &e, out) < 0)
			return -ENOMEM;
		q->rows++;
		n++;
	}
	return 1;
}

static void query_done(void *arg)
{
	struct query *q = arg;

	rv_hdb_cursor_free(&q->cur);
	free(q);
}

/* ------------------------------------------------------------------ requests */

/* Parses an integer parameter; negative time bounds are relative to now. */
static int time_param(struct evhttp_request *req, const char *key, int64_t now, int64_t *out)
{
	char buf[32], *end;
	long long v;

	int rc = rv_http_query_param(req, key, buf, sizeof(buf));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -EINVAL;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || *end != '\0')
		return -EINVAL;
	*out = v < 0 ? now + v : v;
	return 0;
}

/* Fills q's common parameters; on a bad one replies 400 and returns -EINVAL. */
static int common_params(rv_pdns_api *api, struct evhttp_request *req, struct query *q)
{
	static const char *const keys[] = {"time_first_before", "time_first_after",
		"time_last_before", "time_last_after"};
	int64_t now = api->opts.clock();
	int64_t t[4] = {INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN};
	char buf[32], *end;
	int rc;

	for (size_t i = 0; i < RV_ARRAY_LEN(keys); i++)
		if (time_param(req, keys[i], now, &t[i]) < 0) {
			char msg[96];

			snprintf(msg, sizeof(msg), "%s: expected epoch seconds (negative = relative)",
					keys[i]);
			rv_http_error(req, 400, msg);
			return -EINVAL;
		}
	q->limit = DEFAULT_LIMIT < api->opts.max_limit ? DEFAULT_LIMIT : api->opts.max_limit;
	rc = rv_http_query_param(req, "limit", buf, sizeof(buf));
	if (rc != -ENOENT) {
		unsigned long long v;

		errno = 0;
		v = rc == 0 ? strtoull(buf, &end, 10) : 0;
		if (rc < 0 || errno != 0 || end == buf || *end != '\0' || buf[0] == '-') {
			rv_http_error(req, 400, "limit: expected a number");
			return -EINVAL;
		}
		if (v > api->opts.max_limit) {
			char msg[96];

			snprintf(msg, sizeof(msg), "limit %llu is over the server's maximum %" PRIu64,
					v, api->opts.max_limit);
			rv_http_error(req, 400, msg);
			return -EINVAL;
		}
		q->limit = v == 0 ? api->opts.max_limit : v; /* DNSDB: 0 = the maximum */
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(q->r.hq); i++) {
		q->r.hq[i].time_first_before = t[0];
		q->r.hq[i].time_first_after = t[1];
		q->r.hq[i].time_last_before = t[2];
		q->r.hq[i].time_last_after = t[3];
	}
	return 0;
}

/* Types a query may name: the ones we store, and the ones we know we never
 * store (an empty answer, as from a store that has none). */
static int rrtype_param(const char *text, uint16_t *rrtype)
{
	static const char *const never_stored[] = {"NS", "MX", "TXT", "SOA", "PTR", "SRV",
		"HTTPS", "SVCB", "CAA", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NAPTR",
		"SPF", "TLSA", "SSHFP", "HINFO", "ANY-DNSSEC"};

	if (strcasecmp(text, "ANY") == 0) {
		*rrtype = 0;
		return 0;
	}
	if (rv_rrtype_parse(text, rrtype) == 0)
		return 0;
	for (size_t i = 0; i < RV_ARRAY_LEN(never_stored); i++)
		if (strcasecmp(text, never_stored[i]) == 0) {
			*rrtype = 0xffff; /* matches no row */
			return 0;
		}
	return -EINVAL;
}

/*
 * A name from a path into its canonical form (escapes kept, lower case, no
 * trailing dot). *wildcard: it was "*.name" (allowed only when may_wildcard).
 * -EINVAL with *why when it is not a usable name.
 */
static int name_param(const char *text, bool may_wildcard, bool *wildcard, char *out,
		const char **why)
{
	const char *bad = NULL;

	*wildcard = false;
	if (may_wildcard && strncmp(text, "*.", 2) == 0) {
		*wildcard = true;
		text += 2;
	}
	if (strchr(text, '*') != NULL) {
		*why = may_wildcard ? "a wildcard is supported only as the leftmost label "
			"(*.example.com)" : "wildcards are supported in rrset lookups only";
		return -EINVAL;
	}
	if (text[0] == '\0' || rv_dname_canon(text, out, RV_NAME_MAX, &bad) < 0) {
		*why = "not a domain name (an empty or over-long label, a bad escape, "
			"over 255 octets)";
		return -EINVAL;
	}
	return 0;
}

/* "addr", "addr,len" or "lo-hi" -> [lo, hi]. */
static int ip_range(const char *text, rv_addr *lo, rv_addr *hi)
{
	char buf[2 * RV_ADDR_STRLEN + 8];
	char *sep, *end;
	unsigned long len;
	unsigned bits;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	if ((sep = strchr(buf, '-')) != NULL) {
		*sep = '\0';
		if (rv_addr_parse(buf, lo) < 0 || rv_addr_parse(sep + 1, hi) < 0 ||
		    lo->family != hi->family || memcmp(lo->bytes, hi->bytes, 16) > 0)
			return -EINVAL;
		return 0;
	}
	sep = strchr(buf, ',');
	if (sep == NULL)
		sep = strchr(buf, '/');
	if (sep != NULL)
		*sep = '\0';
	if (rv_addr_parse(buf, lo) < 0)
		return -EINVAL;
	bits = lo->family == AF_INET ? 32 : 128;
	len = bits;
	if (sep != NULL) {
		errno = 0;
		len = strtoul(sep + 1, &end, 10);
		if (errno != 0 || end == sep + 1 || *end != '\0' || len > bits)
			return -EINVAL;
	}
	*hi = *lo;
	for (unsigned b = (unsigned)len; b < bits; b++) {
		lo->bytes[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
		hi->bytes[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	}
	return 0;
}

static struct query *query_new(rv_pdns_api *api, enum fmt fmt)
{
	struct query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->api = api;
	q->fmt = fmt;
	return q;
}

/* Opens the database on first use; replies 503 if it cannot. */
static int need_db(rv_pdns_api *api, struct evhttp_request *req)
{
	char why[256];
	int rc;

	if (api->db != NULL)
		return 0;
	rc = rv_hdb_open(api->database, false, &api->db, why, sizeof(why));
	if (rc == 0)
		return 0;
	if (rc == -ENOENT) {
		rv_http_error(req, 503, "the history has no records yet");
	} else {
		rv_warn("pdns-api", "%s: %s", api->database, why);
		rv_http_error(req, 503, "the history cannot be read");
	}
	return -EIO;
}

static void run(rv_pdns_api *api, struct evhttp_request *req, struct query *q)
{
	const char *ctype = q->fmt == FMT_BRO ? "application/json" : "application/x-ndjson";

	if (need_db(api, req) < 0) {
		free(q);
		return;
	}
	if (rv_http_stream(req, 200, ctype, api->opts.query_timeout_ms, produce, query_done,
			q) < 0) {
		free(q);
		rv_http_error(req, 500, "cannot start the reply");
	}
}

/* Splits rest ("/a/b/c") into its segments, in place in buf. Returns their
 * number, 0 for an empty segment or one too many (more than max). */
static size_t segments(const char *rest, char *buf, size_t buflen, char **seg, size_t max)
{
	size_t n = 0;
	char *p;

	if (rest[0] != '/' || strlen(rest) >= buflen)
		return 0;
	strcpy(buf, rest + 1);
	for (p = buf;; ) {
		char *slash = strchr(p, '/');

		if (n == max || *p == '\0' || *p == '/')
			return 0;
		seg[n++] = p;
		if (slash == NULL)
			return n;
		*slash = '\0';
		p = slash + 1;
	}
}

/* DNSDB: rrset/name/X[/T[/B]], rdata/name/X[/T], rdata/ip/X. */
static int parse_dnsdb(const char *rest, rv_pdns_request *r, const char **why)
{
	char buf[4096], *seg[6];
	size_t n = segments(rest, buf, sizeof(buf), seg, 5);
	bool wildcard, rrset;

	bool ok = n >= 3 &&
		((strcmp(seg[0], "rrset") == 0 && strcmp(seg[1], "name") == 0) ||
		 (strcmp(seg[0], "rdata") == 0 && strcmp(seg[1], "name") == 0 && n <= 4) ||
		 (strcmp(seg[0], "rdata") == 0 && strcmp(seg[1], "ip") == 0 && n == 3));
	if (!ok) {
		*why = "expected /dnsdb/v2/lookup/rrset/name/{owner}[/{rrtype}], "
			"rdata/name/{name}[/{rrtype}] or rdata/ip/{addr}[,{prefixlen}]";
		return 404;
	}
	r->nq = 1;
	if (strcmp(seg[1], "ip") == 0) {
		r->hq[0].kind = RV_HQ_RDATA_IP;
		if (ip_range(seg[2], &r->hq[0].ip_lo, &r->hq[0].ip_hi) < 0) {
			*why = "expected an address, address,prefixlen or lo-hi";
			return 400;
		}
		return 0;
	}
	rrset = strcmp(seg[0], "rrset") == 0;
	if (name_param(seg[2], rrset, &wildcard, r->names[0], why) < 0)
		return 400;
	r->hq[0].name = r->names[0];
	r->hq[0].kind = rrset ? (wildcard ? RV_HQ_RRSET_SUFFIX : RV_HQ_RRSET_NAME) :
		RV_HQ_RDATA_NAME;
	r->rdata_array = rrset;
	if (n >= 4 && rrtype_param(seg[3], &r->hq[0].rrtype) < 0) {
		*why = "unknown rrtype";
		return 400;
	}
	/* n == 5: the bailiwick. The history does not record one, so every
	 * record matches (the store keeps what resolvers answered). */
	return 0;
}

/* CIRCL and bro-pdns: one value, a name or an address. */
static int parse_value(const char *rest, rv_pdns_request *r, const char **why)
{
	bool wildcard;

	if (rest[0] != '/' || rest[1] == '\0' || strchr(rest + 1, '/') != NULL) {
		*why = "expected /{name or address}";
		return 404;
	}
	if (rv_addr_parse(rest + 1, &r->hq[0].ip_lo) == 0) {
		r->hq[0].kind = RV_HQ_RDATA_IP;
		r->hq[0].ip_hi = r->hq[0].ip_lo;
		r->nq = 1;
		return 0;
	}
	if (name_param(rest + 1, false, &wildcard, r->names[0], why) < 0)
		return 400;
	r->hq[0].kind = RV_HQ_RRSET_NAME;
	r->hq[0].name = r->names[0];
	r->hq[1].kind = RV_HQ_RDATA_NAME;
	r->hq[1].name = r->names[0];
	r->nq = 2;
	return 0;
}

int rv_pdns_request_parse(rv_pdns_shape shape, const char *rest, rv_pdns_request *out,
		const char **why)
{
	memset(out, 0, offsetof(rv_pdns_request, names));
	out->names[0][0] = out->names[1][0] = '\0';
	out->shape = shape;
	for (size_t i = 0; i < RV_ARRAY_LEN(out->hq); i++)
		rv_hdb_query_init(&out->hq[i], RV_HQ_RRSET_NAME);
	*why = NULL;
	return shape == RV_PDNS_DNSDB ? parse_dnsdb(rest, out, why) : parse_value(rest, out, why);
}

static void handle(rv_pdns_api *api, struct evhttp_request *req, const char *rest,
		rv_pdns_shape shape)
{
	static const enum fmt fmts[] = {[RV_PDNS_DNSDB] = FMT_SAF, [RV_PDNS_CIRCL] = FMT_COF,
		[RV_PDNS_BRO] = FMT_BRO};
	struct query *q = query_new(api, fmts[shape]);
	const char *why;
	int status;

	if (q == NULL) {
		rv_http_error(req, 503, "out of memory");
		return;
	}
	status = rv_pdns_request_parse(shape, rest, &q->r, &why);
	if (status != 0) {
		rv_http_error(req, status, why);
		free(q);
		return;
	}
	q->rdata_array = q->r.rdata_array;
	if (common_params(api, req, q) < 0) {
		free(q);
		return;
	}
	run(api, req, q);
}

static void on_lookup(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)path;
	handle(arg, req, rest, RV_PDNS_DNSDB);
}

static void on_circl(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)path;
	handle(arg, req, rest, RV_PDNS_CIRCL);
}

static void on_bro(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)path;
	handle(arg, req, rest, RV_PDNS_BRO);
}

static void on_ping(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	static const char body[] = "{\"ping\":\"ok\"}\n";

	(void)arg;
	(void)path;
	if (rest[0] != '\0') {
		rv_http_error(req, 404, "not found");
		return;
	}
	rv_http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

static void on_rate_limit(void *arg, struct evhttp_request *req, const char *path,
		const char *rest)
{
	/* No quota here: the shape dnsdbq -I prints. */
	static const char body[] =
		"{\"rate\":{\"reset\":\"n/a\",\"limit\":\"unlimited\",\"remaining\":\"n/a\"}}\n";

	(void)arg;
	(void)path;
	if (rest[0] != '\0') {
		rv_http_error(req, 404, "not found");
		return;
	}
	rv_http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

rv_pdns_api *rv_pdns_api_new(rv_http *http, const rv_pdns_api_opts *opts, int *err)
{
	rv_pdns_api *api = calloc(1, sizeof(*api));

	if (api == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	api->opts = *opts;
	if (api->opts.clock == NULL)
		api->opts.clock = default_clock;
	if (api->opts.max_limit == 0)
		api->opts.max_limit = DEFAULT_LIMIT;
	api->database = strdup(opts->database);
	api->opts.database = NULL;
	if (api->database == NULL) {
		*err = -ENOMEM;
		goto fail;
	}
	if ((*err = rv_http_route(http, "/dnsdb/v2/lookup", RV_HTTP_KEY, on_lookup, api)) < 0 ||
	    (*err = rv_http_route(http, "/dnsdb/v2/ping", RV_HTTP_KEY, on_ping, api)) < 0 ||
	    (*err = rv_http_route(http, "/dnsdb/v2/rate_limit", RV_HTTP_KEY, on_rate_limit,
				  api)) < 0 ||
	    (*err = rv_http_route(http, "/pdns/query", RV_HTTP_KEY, on_circl, api)) < 0 ||
	    (*err = rv_http_route(http, "/dns", RV_HTTP_KEY, on_bro, api)) < 0)
		goto fail;
	return api;
fail:
	rv_pdns_api_free(&api);
	return NULL;
}

void rv_pdns_api_free(rv_pdns_api **ap)
{
	if (ap == NULL || *ap == NULL)
		return;
	rv_hdb_free(&(*ap)->db);
	free((*ap)->database);
	free(*ap);
	*ap = NULL;
}
