/* metrics_http.c - GET /metrics and GET /healthz (see metrics_http.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"
#include "stats.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void metrics(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)arg;
	(void)path;
	char *buf = NULL;
	size_t len = 0;

	if (rest[0] != '\0') {
		rv_http_error(req, 404, "no such path");
		return;
	}
	/* The one exposition writer (stats.c), into memory: the registry is
	 * read in one go, so a scrape sees one consistent moment. */
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) {
		rv_http_error(req, 503, "out of memory");
		return;
	}
	int rc = rv_stats_write_prometheus(f);
	if (fclose(f) != 0 || rc < 0)
		rv_http_error(req, 503, "could not write the metrics (out of memory)");
	else
		rv_http_reply(req, 200, PROM_CONTENT_TYPE, buf, len);
	free(buf);
}

static void healthz(void *arg, struct evhttp_request *req, const char *path, const char *rest)
{
	(void)path;
	char why[512];
	size_t n;

	if (rest[0] != '\0') {
		rv_http_error(req, 404, "no such path");
		return;
	}
	if (rv_health_check(arg, why, sizeof(why) - 1) == 0) {
		rv_http_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
		return;
	}
	n = strlen(why);
	why[n++] = '\n';
	rv_http_reply(req, 503, "text/plain; charset=utf-8", why, n);
}

int rv_metrics_http_add(rv_http *http, rv_health *health)
{
	int rc = rv_http_route(http, "/metrics", RV_HTTP_PUBLIC, metrics, NULL);
	return rc < 0 ? rc : rv_http_route(http, "/healthz", RV_HTTP_PUBLIC, healthz, health);
}
