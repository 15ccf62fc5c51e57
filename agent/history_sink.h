/*
 * history_sink.h - the passive-DNS history: a sink that aggregates every
 * answer record (pdns.h) in memory and has a worker thread (worker.h) write
 * the aggregate to the SQLite store (history_db.h) once per flush interval, in
 * one transaction.
 *
 * Ingest never waits for the disk. While the writer is behind, the aggregate
 * keeps growing up to max_pending records; then new records' sightings are
 * dropped and counted (rearview_history_sightings_dropped_total), never
 * blocking. A write that fails (corrupt file, disk full, unwritable) is
 * logged once and turns the history off; the RPZ path is not affected.
 */
#ifndef RV_HISTORY_SINK_H
#define RV_HISTORY_SINK_H

#include "common.h"
#include "sink.h"

struct event_base;

typedef struct rv_history rv_history;

typedef struct rv_history_opts {
	const char *path;            /* database file */
	unsigned flush_interval_ms;
	uint64_t retention_s;        /* 0 = keep forever */
	uint64_t max_bytes;          /* 0 = no cap */
	size_t max_pending;          /* records aggregated in memory at most */
	const char *sensor;          /* sensor_id of frames without a dnstap identity;
	                              * NULL = the host's name (rv_pdns_local_sensor) */
	int64_t (*clock)(void);      /* epoch seconds; NULL = time(NULL) */
} rv_history_opts;

/*
 * Opens (creates, migrates) the database and starts the writer thread.
 * Borrows base; copies opts' strings. NULL with *err = -errno and a one-line
 * reason in why (the file is unusable: the caller runs without a history).
 */
rv_history *rv_history_new(struct event_base *base, const rv_history_opts *opts, int *err,
		char *why, size_t whylen);
/* Writes what is aggregated (waiting for the writer: shutdown only), stops the
 * thread, closes the database. */
void rv_history_free(rv_history **h);

/* The sink (bound to h, borrowed). */
rv_sink rv_history_sink(rv_history *h);

/* Writes what is aggregated now and waits for it (tests, shutdown). 0 or
 * -EIO when the history is off after a failure. */
int rv_history_sync(rv_history *h) RV_MUST_CHECK;

/* false once a failure turned the history off. */
bool rv_history_ok(const rv_history *h);

#endif
