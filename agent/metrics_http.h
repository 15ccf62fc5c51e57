/*
 * metrics_http.h - the operations routes on the HTTP listener (http.h), both
 * public (no API key: nothing secret, and a scraper or a load balancer
 * should not need one):
 *   GET /metrics  every metric in the registry (stats.h), Prometheus text
 *                 exposition format 0.0.4;
 *   GET /healthz  200 "ok" or 503 with the reason (health.h), text/plain.
 */
#ifndef RV_METRICS_HTTP_H
#define RV_METRICS_HTTP_H

#include "common.h"
#include "health.h"
#include "http.h"

/* Registers both routes. health is borrowed: free the listener first. */
int rv_metrics_http_add(rv_http *http, rv_health *health) RV_MUST_CHECK;

#endif
