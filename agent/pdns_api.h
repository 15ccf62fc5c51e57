/*
 * pdns_api.h - the passive-DNS query API: the history (history_db.h) in the
 * shapes analysts' clients already speak, on the agent's HTTP listener.
 *
 *   DNSDB API v2 (SAF framing, NDJSON; what `dnsdbq -u dnsdb2` sends):
 *     /dnsdb/v2/lookup/rrset/name/{owner}[/{rrtype}[/{bailiwick}]]
 *     /dnsdb/v2/lookup/rdata/name/{name}[/{rrtype}]
 *     /dnsdb/v2/lookup/rdata/ip/{addr}[,{prefixlen}] or {addr}-{addr}
 *     /dnsdb/v2/ping, /dnsdb/v2/rate_limit
 *   CIRCL (COF NDJSON; `dnsdbq -u circl`):  /pdns/query/{name|address}
 *   bro-pdns: /dns/{name|address} -> {"records":[...]}
 *
 * Query parameters: limit (default 10000, at most http-max-limit),
 * time_first_before/after, time_last_before/after (epoch seconds; negative =
 * relative to now). Every reply is streamed a slice at a time (http.h), so no
 * query holds the loop; a query that runs longer than its deadline ends with
 * {"cond":"failed"}.
 */
#ifndef RV_PDNS_API_H
#define RV_PDNS_API_H

#include "common.h"
#include "http.h"

#include "history_db.h"

typedef struct rv_pdns_api rv_pdns_api;

/* What a request path asks (the query parameters are applied separately). */
typedef enum rv_pdns_shape {
	RV_PDNS_DNSDB,   /* /dnsdb/v2/lookup/...: SAF */
	RV_PDNS_CIRCL,   /* /pdns/query/...: COF NDJSON */
	RV_PDNS_BRO,     /* /dns/...: {"records":[...]} */
} rv_pdns_shape;

typedef struct rv_pdns_request {
	rv_pdns_shape shape;
	bool rdata_array;        /* DNSDB rrset lookups: "rdata":["..."] */
	size_t nq;               /* store queries to run, in order (1 or 2) */
	rv_hdb_query hq[2];      /* hq[i].name points into names[i] */
	char names[2][RV_NAME_MAX];
} rv_pdns_request;

/*
 * Parses the path after the route's prefix (rest: "/rrset/name/x/A" for
 * DNSDB, "/{name or address}" for CIRCL and bro-pdns), already %-decoded, into
 * *out. A pure function (fuzzed). Returns 0, or the HTTP status to answer
 * (400 a bad name, address, prefix, rrtype or wildcard; 404 a path of no
 * known shape) with a static reason in *why.
 */
int rv_pdns_request_parse(rv_pdns_shape shape, const char *rest, rv_pdns_request *out,
		const char **why) RV_MUST_CHECK;

typedef struct rv_pdns_api_opts {
	const char *database;       /* the history file (opened read-only, on demand) */
	unsigned query_timeout_ms;
	uint64_t max_limit;
	int64_t (*clock)(void);     /* epoch seconds; NULL = time(NULL) */
} rv_pdns_api_opts;

/* Registers the routes on http (borrowed; it must outlive the API). NULL with
 * *err = -errno. */
rv_pdns_api *rv_pdns_api_new(rv_http *http, const rv_pdns_api_opts *opts, int *err);
void rv_pdns_api_free(rv_pdns_api **api);

#endif
