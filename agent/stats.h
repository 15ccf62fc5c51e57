/*
 * stats.h - the one metrics registry.
 *
 * Every counter and gauge of the process is declared once, here (static ones,
 * in RV_STATS_LIST) or by the module that owns the value (rv_stats_register(),
 * for values a module keeps itself, such as the table's size). Everything that
 * shows metrics reads this registry: the statistics log line (periodic,
 * SIGUSR1, exit) and the Prometheus text exposition. Nothing copies counters
 * by hand.
 *
 * The agent is single-threaded (one libevent loop), so the static counters are
 * plain integers in the global rv_stats, incremented in place by the module
 * that counts (rv_stats.fs_frames++). Pure parsers never touch it: they report
 * through return values and their callers count.
 */
#ifndef RV_STATS_H
#define RV_STATS_H

#include <stdio.h>

#include "common.h"

typedef enum rv_metric_type {
	RV_COUNTER = 0,  /* only goes up (Prometheus "counter"; name ends in _total) */
	RV_GAUGE = 1,    /* goes up and down */
} rv_metric_type;

/*
 * X(field, type, log_key, prometheus_name, help)
 *   field            member of struct rv_stats
 *   log_key          short key in the statistics log line ("frames=123"); unique
 *   prometheus_name  full metric name (rearview_ prefix)
 */
#define RV_STATS_LIST(X)                                                                       \
	X(fs_active, RV_GAUGE, "active", "rearview_dnstap_connections_open",                   \
	  "dnstap (Frame Streams) connections open now")                                       \
	X(fs_accepted, RV_COUNTER, "accepted", "rearview_dnstap_connections_accepted_total",   \
	  "dnstap connections accepted")                                                       \
	X(fs_refused, RV_COUNTER, "refused", "rearview_dnstap_connections_refused_total",      \
	  "dnstap connections refused (every slot held by writers that may not be evicted)") \
	X(fs_dropped, RV_COUNTER, "dropped", "rearview_dnstap_connections_dropped_total",      \
	  "dnstap connections closed for a protocol error or a missed deadline")               \
	X(fs_timeouts, RV_COUNTER, "conn_timeouts", "rearview_dnstap_connection_timeouts_total", \
	  "dnstap connections closed for a missed deadline (handshake, frame, FINISH)")         \
	X(fs_evicted, RV_COUNTER, "conn_evicted", "rearview_dnstap_connections_evicted_total",  \
	  "dnstap connections closed to give their slot to a newcomer")                         \
	X(fs_denied, RV_COUNTER, "denied", "rearview_dnstap_connections_denied_total",           \
	  "dnstap TCP/TLS connections from outside dnstap-allow, closed at once")               \
	X(fs_tls_failures, RV_COUNTER, "tls_failed", "rearview_dnstap_tls_failures_total",      \
	  "dnstap TLS handshakes that failed (not TLS, bad or missing client certificate)")     \
	X(fs_finished, RV_COUNTER, "finished", "rearview_dnstap_sessions_finished_total",      \
	  "dnstap sessions ended cleanly (STOP answered with FINISH)")                         \
	X(fs_frames, RV_COUNTER, "frames", "rearview_dnstap_frames_total",                     \
	  "dnstap data frames received")                                                       \
	X(fs_bytes, RV_COUNTER, "bytes", "rearview_dnstap_bytes_total",                        \
	  "dnstap bytes received")                                                             \
	X(addresses_seen, RV_COUNTER, "addresses", "rearview_addresses_observed_total",        \
	  "addresses taken from learnable answers")                                           \
	X(addresses_ignored, RV_COUNTER, "ignored", "rearview_addresses_ignored_total",        \
	  "addresses dropped by ignore-cidr")                                                  \
	X(clock_clamped, RV_COUNTER, "clamped", "rearview_observations_clock_clamped_total",   \
	  "observations whose dnstap time was further than max-clock-skew from the agent's clock") \
	X(geo_errors, RV_COUNTER, "geo_errors", "rearview_geoip_errors_total",                 \
	  "country lookups that met bad data in the GeoIP database")                           \
	X(table_full, RV_COUNTER, "table_full", "rearview_table_insert_failures_total",        \
	  "sightings dropped because memory could not be allocated")                           \
	X(rpz_updates_sent, RV_COUNTER, "sent", "rearview_rpz_updates_sent_total",             \
	  "DNS UPDATE messages sent to the RPZ primary")                                       \
	X(rpz_updates_ok, RV_COUNTER, "ok", "rearview_rpz_updates_ok_total",                   \
	  "DNS UPDATE messages the primary acknowledged (NOERROR, TSIG verified)")             \
	X(rpz_updates_failed, RV_COUNTER, "failed", "rearview_rpz_updates_failed_total",       \
	  "DNS UPDATE attempts that failed (any reason)")                                      \
	X(rpz_rcode_errors, RV_COUNTER, "rcode", "rearview_rpz_update_rcode_errors_total",     \
	  "DNS UPDATEs answered with an rcode other than NOERROR")                             \
	X(rpz_tsig_errors, RV_COUNTER, "tsig", "rearview_rpz_update_tsig_errors_total",        \
	  "DNS UPDATE replies with a missing or bad TSIG, or a TSIG error")                    \
	X(rpz_timeouts, RV_COUNTER, "timeout", "rearview_rpz_update_timeouts_total",           \
	  "DNS UPDATEs without a reply in time")                                               \
	X(rpz_conn_errors, RV_COUNTER, "conn", "rearview_rpz_update_connection_errors_total",  \
	  "DNS UPDATE connections refused, reset or closed")                                   \
	X(rpz_records_committed, RV_COUNTER, "records", "rearview_rpz_records_committed_total", \
	  "address records the primary acknowledged")                                          \
	X(rpz_rejected, RV_COUNTER, "rejected", "rearview_rpz_changes_rejected_total",         \
	  "changes dropped for good (a name that cannot be encoded)")                          \
	X(reconcile_runs, RV_COUNTER, "reconciles", "rearview_reconcile_runs_total",           \
	  "AXFR reconciles of the zone against the table")                                     \
	X(reconcile_failures, RV_COUNTER, "reconcile_failures",                                \
	  "rearview_reconcile_failures_total", "AXFR reconciles that failed")                  \
	X(reconcile_fixed, RV_COUNTER, "reconcile_fixed", "rearview_reconcile_fixed_total",    \
	  "records rewritten, adopted, removed or re-sent by reconciles")                      \
	X(snapshot_failures, RV_COUNTER, "snapshot_failures", "rearview_snapshot_failures_total", \
	  "snapshots that could not be written") \
	X(history_sightings, RV_COUNTER, "hist_sightings", "rearview_history_sightings_total",      \
	  "answer records seen by the passive-DNS history (before aggregation)")                  \
	X(history_dropped, RV_COUNTER, "hist_dropped", "rearview_history_sightings_dropped_total",  \
	  "record sightings dropped because the history writer was behind (aggregate full)")     \
	X(history_rows_written, RV_COUNTER, "hist_written", "rearview_history_rows_written_total", \
	  "aggregated records written (inserted or updated) to the history database")            \
	X(history_write_failures, RV_COUNTER, "hist_failures", "rearview_history_write_failures_total", \
	  "history batches that could not be written")                                            \
	X(history_rows_expired, RV_COUNTER, "hist_expired", "rearview_history_rows_deleted_total", \
	  "history records deleted by history-retention or history-max-size")                    \
	X(cof_lines, RV_COUNTER, "cof_lines", "rearview_cof_log_lines_total",                      \
	  "COF JSON lines written to cof-log")                                                     \
	X(cof_dropped, RV_COUNTER, "cof_dropped", "rearview_cof_log_lines_dropped_total",          \
	  "COF lines dropped because the log writer was behind or the file failed")               \
	X(http_requests, RV_COUNTER, "http_requests", "rearview_http_requests_total",              \
	  "HTTP requests received")                                                                \
	X(http_client_errors, RV_COUNTER, "http_4xx", "rearview_http_client_errors_total",         \
	  "HTTP requests answered with a 4xx status (bad path, address, limit, key, ...)")        \
	X(http_auth_failures, RV_COUNTER, "http_auth", "rearview_http_auth_failures_total",        \
	  "HTTP requests with a missing or wrong X-API-Key")                                       \
	X(http_server_errors, RV_COUNTER, "http_5xx", "rearview_http_server_errors_total",         \
	  "HTTP requests answered with a 5xx status, or streams ended by a failure or timeout")   \
	X(http_conns_refused, RV_COUNTER, "http_refused", "rearview_http_connections_refused_total", \
	  "HTTP connections refused beyond http-max-connections")

struct rv_stats {
#define RV_STATS_FIELD(field, type, key, name, help) uint64_t field;
	RV_STATS_LIST(RV_STATS_FIELD)
#undef RV_STATS_FIELD
	/* Frames by verdict (indexed by rv_verdict, dnsmsg.h): the labelled family
	 * rearview_dnstap_frames_by_verdict_total{verdict="..."}. */
	uint64_t verdicts[16];
	/* Frames by dnstap Message.Type (0: none or undecodable; 1-14 as in
	 * dnstap.proto): rearview_dnstap_frames_by_type_total{type="..."}. */
	uint64_t msg_types[16];
	/* UPDATEs answered with an error rcode, by rcode (15: 15 and above):
	 * rearview_rpz_update_failures_by_rcode_total{rcode="REFUSED"}. */
	uint64_t rpz_rcodes[16];
};

extern struct rv_stats rv_stats;

/* A value a module keeps itself, read when metrics are shown. */
typedef uint64_t (*rv_stats_read_fn)(const void *arg);

/*
 * Registers a metric whose value fn(arg) returns. Strings are borrowed (use
 * literals); log_key may be NULL (not in the log line: a value only a graph
 * makes sense of, such as a start time). A later registration with the same
 * prometheus_name replaces the earlier one (a module re-created on reload).
 * Returns 0, -ENOSPC when the registry is full (a programming error: raise
 * RV_STATS_DYNAMIC_MAX), -EINVAL.
 */
#define RV_STATS_DYNAMIC_MAX 64
int rv_stats_register(rv_metric_type type, const char *log_key, const char *prometheus_name,
		const char *help, rv_stats_read_fn fn, const void *arg);
/* The same for a value fn returns in thousandths of its unit (CPU time in
 * milliseconds for process_cpu_seconds_total): the Prometheus text shows it
 * as a decimal in the unit ("1.234"), the log line the raw integer (its
 * log_key should say so: "cpu_ms"). */
int rv_stats_register_milli(rv_metric_type type, const char *log_key,
		const char *prometheus_name, const char *help, rv_stats_read_fn fn,
		const void *arg);
/*
 * A histogram a module keeps (Prometheus "histogram": cumulative _bucket
 * lines, _sum, _count). bounds_ms: ascending upper bounds in milliseconds,
 * at most RV_STATS_HIST_MAX; exported in seconds. Shown by the Prometheus
 * text only (the log line has the counters).
 */
#define RV_STATS_HIST_MAX 16
typedef struct rv_stats_histogram {
	size_t nbounds;
	const uint32_t *bounds_ms;
	uint64_t counts[RV_STATS_HIST_MAX + 1]; /* per bucket; [nbounds] = above the last */
	uint64_t sum_ms;
	uint64_t count;
} rv_stats_histogram;

void rv_stats_histogram_observe(rv_stats_histogram *h, uint64_t ms);
/* Registers h (borrowed, owned by arg; removed by rv_stats_unregister(arg)).
 * 0, -ENOSPC, -EINVAL. */
int rv_stats_register_histogram(const char *prometheus_name, const char *help,
		const rv_stats_histogram *h, const void *arg);

/*
 * A labelled family whose members a module keeps itself (one metric name,
 * one label, a bounded number of values): fn(arg, i, &label_value, &value)
 * for i = 0, 1, ... until it returns false. Label values may come from input
 * (a dnstap identity): the module keeps them to [A-Za-z0-9._:-], which needs
 * no escaping. Not in the log line (a count per label would make it
 * unbounded to read). Same replacement rule as rv_stats_register.
 */
typedef bool (*rv_stats_family_fn)(const void *arg, size_t i, const char **label_value,
		uint64_t *value);
#define RV_STATS_FAMILY_MAX 8
int rv_stats_register_family(rv_metric_type type, const char *prometheus_name,
		const char *help, const char *label_key, rv_stats_family_fn fn, const void *arg);
/* Removes every metric registered with arg (the module is going away). */
void rv_stats_unregister(const void *arg);

/* Calls fn for every metric, static ones first, in declaration order. For the
 * labelled verdict family it calls fn once per verdict with label set. milli:
 * value is in thousandths (rv_stats_register_milli). */
typedef void (*rv_stats_visit_fn)(void *ctx, rv_metric_type type, const char *log_key,
		const char *prometheus_name, const char *help, const char *label_key,
		const char *label_value, uint64_t value, bool milli);
void rv_stats_foreach(rv_stats_visit_fn fn, void *ctx);

/* One-line summary at the given level, prefixed by why ("periodic", "exit",
 * "SIGUSR1"): every metric as key=value, and the verdicts summed as
 * learned=, skipped= and malformed=. */
void rv_stats_log(int level, const char *why);

/* Prometheus text exposition format 0.0.4 of every metric into out.
 * Returns 0 or -errno (a write error). */
int rv_stats_write_prometheus(FILE *out);

/* Zeroes the static counters and drops every registration (tests). */
void rv_stats_reset(void);

#endif
