/*
 * table_api.c - the live table over HTTP (see table_api.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "dname.h"
#include "json.h"
#include "stats.h"
#include "table_api.h"

/* Hash buckets visited per slice of a /v1/name scan (~1 ms). */
#define SCAN_BUCKETS 16384

struct rv_table_api {
	rv_table *table;
	unsigned deadline_ms;
	int64_t (*clock)(void);
};

static int64_t default_clock(void)
{
	return (int64_t)time(NULL);
}

static int cand_json(struct evbuffer *out, const rv_candidate *c, double score, bool best)
{
	if (evbuffer_add(out, "{\"name\":", 8) < 0 || rv_json_str(out, c->name) < 0)
		return -ENOMEM;
	return evbuffer_add_printf(out, ",\"first\":%" PRId64 ",\"last\":%" PRId64
			",\"count\":%" PRIu64 ",\"depth\":%u,\"clients\":%u,\"ttl\":%" PRIu32
			",\"score\":%.6g,\"best\":%s}", c->first, c->last, c->count, c->depth,
			c->clients, c->ttl, score, best ? "true" : "false") < 0 ? -ENOMEM : 0;
}

static void on_address(void *arg, struct evhttp_request *req, const char *path,
		const char *rest)
{
	rv_table_api *api = arg;
	rv_table_view *v = NULL;
	struct evbuffer *out = NULL;
	char text[RV_ADDR_STRLEN];
	const char *state, *why;
	rv_addr a;
	size_t len;

	(void)path;
	if (rest[0] != '/' || rv_addr_parse(rest + 1, &a) < 0) {
		rv_http_error(req, 400, "expected /v1/address/{IPv4 or IPv6 address}");
		return;
	}
	v = malloc(sizeof(*v));
	out = evbuffer_new();
	if (v == NULL || out == NULL) {
		rv_http_error(req, 503, "out of memory");
		goto out;
	}
	if (rv_table_inspect(api->table, &a, api->clock(), v) < 0) {
		rv_http_error(req, 404, "address not in the table (never seen, expired or evicted)");
		goto out;
	}
	const char *best = v->cands[v->best].name;
	if (v->pending) {
		state = "pending";
		why = "the best name is queued for the next UPDATE";
	} else if (v->committed != NULL && strcmp(v->committed, best) == 0) {
		state = "written";
		why = "the best score among the candidates";
	} else if (v->handed) {
		state = "in-flight";
		why = "an UPDATE with the best name has been sent, not yet acknowledged";
	} else {
		state = "unknown";
		why = "restored at start: what the zone holds is known after the reconcile";
	}
	evbuffer_add_printf(out, "{\"address\":\"%s\",\"best\":",
			rv_addr_str(&a, text, sizeof(text)));
	rv_json_str(out, best);
	evbuffer_add_printf(out, ",\"rpz\":{\"name\":");
	if (v->committed != NULL)
		rv_json_str(out, v->committed);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add_printf(out, ",\"state\":\"%s\",\"why\":\"%s\"},\"seen_again\":%s,"
			"\"candidates\":[", state, why, v->seen_again ? "true" : "false");
	for (unsigned i = 0; i < v->ncands && i < RV_ARRAY_LEN(v->cands); i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		(void)cand_json(out, &v->cands[i], v->score[i], (int)i == v->best);
	}
	evbuffer_add(out, "]}\n", 3);
	len = evbuffer_get_length(out);
	rv_http_reply(req, 200, "application/json", (const char *)evbuffer_pullup(out, -1), len);
out:
	if (out != NULL)
		evbuffer_free(out);
	free(v);
}

/* ------------------------------------------------------------------ /v1/name */

struct scan {
	rv_table_api *api;
	char name[RV_NAME_MAX];
	size_t pos;
	uint64_t found;
	bool started;
	struct evbuffer *out;     /* during a slice */
};

static int visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned n)
{
	struct scan *s = arg;
	char text[RV_ADDR_STRLEN];

	for (unsigned i = 0; i < n; i++) {
		if (strcmp(cands[i].name, s->name) != 0)
			continue;
		evbuffer_add_printf(s->out, "%s{\"address\":\"%s\",\"candidate\":",
				s->found > 0 ? "," : "", rv_addr_str(addr, text, sizeof(text)));
		(void)cand_json(s->out, &cands[i], 0, false);
		evbuffer_add(s->out, "}", 1);
		s->found++;
		break;
	}
	return 0;
}

static int produce(void *arg, struct evbuffer *out, bool expired)
{
	struct scan *s = arg;
	int rc;

	s->out = out;
	if (!s->started) {
		s->started = true;
		evbuffer_add(out, "{\"name\":", 8);
		rv_json_str(out, s->name);
		evbuffer_add(out, ",\"addresses\":[", 14);
	}
	if (expired) {
		rv_stats.http_server_errors++;
		evbuffer_add_printf(out, "],\"complete\":false}\n");
		return 0;
	}
	rc = rv_table_scan(s->api->table, &s->pos, SCAN_BUCKETS, visit, s);
	if (rc == 0)
		evbuffer_add_printf(out, "],\"complete\":true}\n");
	return rc == 0 ? 0 : 1;
}

static void scan_done(void *arg)
{
	free(arg);
}

static void on_name(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	rv_table_api *api = arg;
	struct scan *s;
	const char *why = NULL;

	(void)path;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		rv_http_error(req, 503, "out of memory");
		return;
	}
	s->api = api;
	if (rest[0] != '/' || rest[1] == '\0' ||
	    rv_dname_canon(rest + 1, s->name, sizeof(s->name), &why) < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "expected /v1/name/{domain name}%s%s",
				why ? ": " : "", why ? why : "");
		rv_http_error(req, 400, msg);
		free(s);
		return;
	}
	if (rv_http_stream(req, 200, "application/json", api->deadline_ms, produce, scan_done,
			s) < 0) {
		free(s);
		rv_http_error(req, 500, "cannot start the reply");
	}
}

rv_table_api *rv_table_api_new(rv_http *http, rv_table *table, unsigned deadline_ms,
		int64_t (*clock)(void), int *err)
{
	rv_table_api *api = calloc(1, sizeof(*api));

	if (api == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	api->table = table;
	api->deadline_ms = deadline_ms;
	api->clock = clock != NULL ? clock : default_clock;
	if ((*err = rv_http_route(http, "/v1/address", RV_HTTP_KEY, on_address, api)) < 0 ||
	    (*err = rv_http_route(http, "/v1/name", RV_HTTP_KEY, on_name, api)) < 0) {
		free(api);
		return NULL;
	}
	return api;
}

void rv_table_api_free(rv_table_api **api)
{
	if (api == NULL || *api == NULL)
		return;
	free(*api);
	*api = NULL;
}
