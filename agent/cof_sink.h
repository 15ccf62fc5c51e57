/*
 * cof_sink.h - the COF log: passive-DNS records as Common Output Format JSON
 * lines (draft-dulaunoy-dnsop-passive-dns-cof), one file a SIEM pipeline
 * (Vector, Logstash, Filebeat) can ship as it is.
 *
 * Every flush interval, one line per record that was seen in the interval
 * (new or changed): rrname, rrtype, rdata, time_first/time_last/count of the
 * interval, sensor_id. With every_sighting, also one line per record per
 * sighting, with the client address and the transport ("which host resolved
 * this name?").
 *
 * Lines are buffered on the loop and written by a worker thread (worker.h):
 * ingest never waits on the file. Past max_buffer bytes waiting, lines are
 * dropped and counted (rearview_cof_log_lines_dropped_total). The file is
 * opened in append mode and reopened on rv_cof_sink_reopen() (SIGHUP), for
 * logrotate.
 */
#ifndef RV_COF_SINK_H
#define RV_COF_SINK_H

#include "common.h"
#include "sink.h"

struct event_base;

typedef struct rv_cof_sink rv_cof_sink;

typedef struct rv_cof_opts {
	const char *path;            /* "-" = standard output */
	bool every_sighting;
	unsigned flush_interval_ms;
	size_t max_pending;          /* records aggregated per interval at most */
	size_t max_buffer;           /* bytes of lines waiting for the writer at most */
	const char *sensor;          /* sensor_id of frames without a dnstap identity;
	                              * NULL = the host's name (rv_pdns_local_sensor) */
} rv_cof_opts;

/* Starts the writer (the file is opened by it, at the first write). Borrows
 * base; copies opts' strings. NULL with *err = -errno. */
rv_cof_sink *rv_cof_sink_new(struct event_base *base, const rv_cof_opts *opts, int *err);
/* Writes what is pending (waits: shutdown only) and closes the file. */
void rv_cof_sink_free(rv_cof_sink **c);

rv_sink rv_cof_sink_sink(rv_cof_sink *c);

/* The file is closed and opened again before the next write (logrotate). */
void rv_cof_sink_reopen(rv_cof_sink *c);

/* Hands everything pending to the writer and waits for it (tests, shutdown). */
void rv_cof_sink_sync(rv_cof_sink *c);

#endif
