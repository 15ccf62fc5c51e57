/*
 * ingest.h - dnstap frame -> observation -> sinks.
 *
 * The ingest policy lives here, in one place: decode (dnstap.h), count the
 * verdict, apply the guards (ignored response addresses and names drop the
 * frame; ignored addresses are removed from it), check the observation's time
 * against the agent's clock, and dispatch to the sinks (sink.h).
 *
 * Clock sanity: a dnstap time further than max_skew_s from the agent's clock,
 * ahead or behind, is replaced by the agent's clock and counted
 * (rv_stats.clock_clamped). A frame missing a time gets the agent's clock. So
 * no sighting can claim to be from the future (and win a best name or block
 * expiry) or from long ago.
 */
#ifndef RV_INGEST_H
#define RV_INGEST_H

#include "common.h"
#include "fstrm_srv.h"
#include "guard.h"
#include "sink.h"

typedef struct rv_ingest_opts {
	unsigned max_chain_depth;    /* CNAME links followed */
	int64_t max_skew_s;          /* see above; <= 0 means 600 */
	int64_t (*clock)(void);      /* epoch seconds; NULL = time(NULL) (tests inject one) */
} rv_ingest_opts;

typedef struct rv_ingest rv_ingest;

/* guard is borrowed (may be NULL: no guards). NULL on ENOMEM. */
rv_ingest *rv_ingest_new(const rv_ingest_opts *opts, const rv_guard *guard);
void rv_ingest_free(rv_ingest **in);

/* Live reload: frames from now on are checked against guard (borrowed; the
 * caller frees the previous one after this call: frames are handled on the
 * loop, so none is using it). */
void rv_ingest_set_guard(rv_ingest *in, const rv_guard *guard);
/* Live reload: opts.max_chain_depth and opts.max_skew_s (<= 0 means 600). */
void rv_ingest_set_limits(rv_ingest *in, unsigned max_chain_depth, int64_t max_skew_s);
/* Adds a sink (copied). At most RV_INGEST_MAX_SINKS. 0, -ENOSPC. */
#define RV_INGEST_MAX_SINKS 8
int rv_ingest_add_sink(rv_ingest *in, const rv_sink *s) RV_MUST_CHECK;

/*
 * One data frame from peer (may be NULL). Malformed frames are counted and
 * logged once per peer (peer->bad_frames). Returns the decode result: 0 when
 * the sinks got an observation, -ENOENT skipped (counted by verdict), -EBADMSG.
 * Matches rv_fs_frame_cb when wrapped by rv_ingest_frame_cb.
 */
int rv_ingest_frame(rv_ingest *in, rv_fs_peer *peer, const uint8_t *data, size_t len);
/* rv_fs_frame_cb adapter: arg is the rv_ingest. */
void rv_ingest_frame_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len);
/*
 * The frames of one read, as rv_ingest_frame() would take them one by one
 * (same verdicts, same observations, in the same order), but pipelined: each
 * frame is decoded and announced to the sinks (rv_sink.prefetch) while the
 * one RV_INGEST_AHEAD before it is observed, so the table's cache misses
 * overlap the decoding. Matches rv_fs_batch_cb; arg is the rv_ingest.
 */
#define RV_INGEST_AHEAD 3
void rv_ingest_batch_cb(void *arg, rv_fs_peer *peer, const rv_fs_frame *frames, size_t n);

#endif
