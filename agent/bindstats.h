/*
 * bindstats.h - named's own dnstap counters, read from its statistics channel,
 * so that frames lost between named and the agent show up as a number.
 *
 * named 9.18 counts every dnstap message in /json/v1/server:
 *
 *   "dnstapstats": { "DNSTAPsuccess": N, "DNSTAPdropped": M }
 *
 * DNSTAPsuccess counts messages handed to named's Frame Streams writer (its
 * queue); DNSTAPdropped those discarded because that queue was full. Messages
 * queued while no reader is connected (the agent restarting, named's reopen
 * interval) count as success and are then thrown away by the writer: the gap
 * between named's success count and the frames the agent received
 * (rearview_dnstap_frames_total) is what was lost on the way, whatever the
 * cause. named leaves out counters that are zero, and the whole "dnstapstats"
 * object when both are (or dnstap is off).
 *
 * The poller runs on the agent's loop and never blocks it: one HTTP GET
 * (libevent evhttp, "Connection: close") every interval, with a timeout and a
 * cap on the reply's size. A channel that is down, slow, too large or answers
 * something that is not named's JSON is counted (poll failures, "up" 0) and
 * logged once per outage; its recovery is logged once. The last good values
 * stay exported meanwhile (they are counters; "up" says whether they are
 * current).
 *
 * Metrics (stats.h registry): rearview_bind_dnstap_sent_total,
 * rearview_bind_dnstap_dropped_total, rearview_bind_poll_frames_total (the
 * agent's frame count at the moment named's answer arrived, so the two can be
 * compared without the poll interval's skew), rearview_bind_stats_up,
 * rearview_bind_stats_poll_failures_total.
 */
#ifndef RV_BINDSTATS_H
#define RV_BINDSTATS_H

#include "common.h"

struct event_base;

/* The counters the agent takes from named's statistics. */
typedef struct rv_bindstats_counters {
	uint64_t dnstap_sent;    /* DNSTAPsuccess */
	uint64_t dnstap_dropped; /* DNSTAPdropped */
} rv_bindstats_counters;

/* Largest reply read (evhttp max body size): /json/v1/server is a few KiB per
 * view; anything near this is not named's answer to that URL. */
#define RV_BINDSTATS_MAX_BODY (1u << 20)

/* The URL path polled. */
#define RV_BINDSTATS_PATH "/json/v1/server"

/*
 * Pure: parses the body of named's /json/v1/server (len bytes, need not be
 * NUL-terminated) into *out. The document must be one JSON object (nothing but
 * whitespace after it) with "json-stats-version" "1.x"; "dnstapstats", when
 * present, must be an object whose DNSTAPsuccess and DNSTAPdropped, when
 * present, are non-negative integers (absent = 0, as named writes them).
 * Returns 0, or -EBADMSG with *why (a static string) saying what was wrong;
 * *out is untouched on error.
 */
int rv_bindstats_parse(const char *body, size_t len, rv_bindstats_counters *out,
		const char **why) RV_MUST_CHECK;

typedef struct rv_bindstats_opts {
	const char *channel;     /* "ADDR:PORT" / "[ADDR]:PORT" of named's statistics-channels */
	unsigned interval_ms;    /* between polls; the first is at once */
	unsigned timeout_ms;     /* connect + whole reply; 0 = min(5 s, interval) */
} rv_bindstats_opts;

typedef struct rv_bindstats rv_bindstats;

/*
 * Starts polling (the first poll is queued on the loop at once) and registers
 * the metrics. base is borrowed and must outlive the poller; opts' strings are
 * copied. NULL with *err = -EINVAL (channel not ADDR:PORT) or -ENOMEM.
 */
rv_bindstats *rv_bindstats_new(struct event_base *base, const rv_bindstats_opts *opts,
		int *err);
/* Cancels a poll in flight (no callback runs), unregisters the metrics, frees
 * and NULLs *b. */
void rv_bindstats_free(rv_bindstats **b);

#endif
