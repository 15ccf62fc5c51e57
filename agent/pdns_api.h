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

typedef struct rv_pdns_api rv_pdns_api;

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
