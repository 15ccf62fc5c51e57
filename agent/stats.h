/*
 * stats.h - process-wide counters. The agent is single-threaded (one libevent
 * loop), so plain integers suffice. Only glue code (main.c, the socket and
 * writer event handlers) touches them; pure parsers report through return values.
 */
#ifndef RV_STATS_H
#define RV_STATS_H

#include "common.h"

struct rv_stats {
	/* Frame Streams server */
	uint64_t fs_accepted;         /* connections accepted */
	uint64_t fs_active;           /* connections open now (gauge) */
	uint64_t fs_refused;          /* connections refused: max-connections reached */
	uint64_t fs_dropped;          /* connections closed for a protocol error or a deadline */
	uint64_t fs_timeouts;         /* ...of which for a deadline (handshake, frame, FINISH) */
	uint64_t fs_evicted;          /* connections closed to give their slot to a newcomer */
	uint64_t fs_finished;         /* clean STOP -> FINISH sessions */
	uint64_t fs_frames;           /* data frames received */
	uint64_t fs_bytes;            /* bytes received */
	/* decoding (indexed by rv_verdict, see dnstap.h) */
	uint64_t verdicts[16];
	uint64_t addresses_seen;      /* addresses extracted from learnable answers */
	uint64_t addresses_ignored;   /* addresses dropped by ignore-cidr */
	uint64_t geo_errors;          /* country lookups that hit bad data in the .mmdb */
	/* table */
	uint64_t table_new;           /* addresses added */
	uint64_t table_changed;       /* best name of an existing address changed */
	uint64_t table_evicted;       /* addresses evicted by the size cap */
	uint64_t table_expired;       /* addresses removed after max-idle */
	uint64_t table_full;          /* observations dropped: table full and nothing evictable */
	/* RPZ writer */
	uint64_t rpz_updates_sent;
	uint64_t rpz_updates_ok;
	uint64_t rpz_updates_failed;  /* any failure: connect, timeout, rcode, TSIG */
	uint64_t rpz_rcode_errors;    /* answered with an rcode other than NOERROR */
	uint64_t rpz_tsig_errors;     /* reply TSIG missing or bad */
	uint64_t rpz_timeouts;
	uint64_t rpz_conn_errors;     /* connect refused, reset, closed */
	uint64_t rpz_records_committed; /* address records BIND acknowledged */
	uint64_t reconcile_runs;
	uint64_t reconcile_failures;
	uint64_t reconcile_fixed;     /* records rewritten, adopted, removed or re-sent */
	uint64_t snapshot_failures;
	uint64_t rpz_rejected;        /* changes dropped for good (name cannot be encoded) */
};

extern struct rv_stats rv_stats;

/* One-line summary at INFO (or the given level) prefixed by why ("periodic", "exit"). */
void rv_stats_log(int level, const char *why);

#endif
