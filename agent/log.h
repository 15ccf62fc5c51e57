/*
 * log.h - levelled logging to stderr (journald picks it up under systemd).
 *
 * Line format: "2026-01-02T03:04:05.678Z error snapshot: message" on a
 * terminal, a file or a pipe. When stderr is connected to the journal (systemd
 * sets JOURNAL_STREAM to "DEV:INO" of that stream, and fd 2 still has that
 * device and inode), each line starts with the syslog priority instead of the
 * timestamp, "<3>error snapshot: message" (sd-daemon.h's SD_ERR prefix):
 * journald stores it as the entry's priority, so `journalctl -p err` works,
 * and adds its own timestamp.
 *
 * Levels (syslog numbering):
 *   RV_LOG_CRIT    the process is about to exit; bad input never causes this
 *   RV_LOG_ERR     something failed; the process continues (bad frame, refused UPDATE)
 *   RV_LOG_WARNING degraded but working (peer dropped, retrying)
 *   RV_LOG_NOTICE  significant normal events (start, stop, BIND reachable again)
 *   RV_LOG_INFO    periodic statistics, connections
 *   RV_LOG_DEBUG   per-batch and per-record detail
 * Nothing is formatted when the level is off. Never call from a signal handler.
 */
#ifndef RV_LOG_H
#define RV_LOG_H

#include "common.h"

enum {
	RV_LOG_CRIT = 2,
	RV_LOG_ERR = 3,
	RV_LOG_WARNING = 4,
	RV_LOG_NOTICE = 5,
	RV_LOG_INFO = 6,
	RV_LOG_DEBUG = 7,
};

extern int rv_log_level;

/* "crit", "error", "warning", "notice", "info", "debug" -> level; -EINVAL otherwise. */
int rv_log_level_parse(const char *name);
const char *rv_log_level_name(int level);

void rv_log_write(int level, const char *subsystem, const char *fmt, ...) RV_PRINTF(3, 4);

/* Decides (again) whether stderr is the journal; rv_log_write decides once by
 * itself, at its first line. Call it after pointing fd 2 elsewhere. */
bool rv_log_detect_journal(void);

/*
 * Rate limit for a line that can repeat (a peer reconnecting in a loop): at
 * most `burst` lines per `interval_ms` window; the next line allowed says how
 * many were suppressed meanwhile. Not thread-safe (nothing here is). Use:
 *
 *   static rv_log_ratelimit rl = RV_LOG_RATELIMIT(10000, 5);
 *   uint64_t dropped;
 *   if (rv_log_ratelimit_ok(&rl, now_ms, &dropped))
 *       rv_warn("fstrm", "connection from %s refused (%" PRIu64 " similar lines "
 *               "suppressed)", peer, dropped);
 *
 * now_ms: any monotonic clock in milliseconds (CLOCK_MONOTONIC, or libevent's
 * cached time); a clock that goes back starts a new window.
 */
typedef struct rv_log_ratelimit {
	int64_t interval_ms;
	unsigned burst;          /* lines per window; 0 counts as 1 */
	/* state, zero at first */
	bool started;
	int64_t window_start;
	unsigned used;           /* lines logged in this window */
	uint64_t suppressed;     /* lines refused since the last one logged */
} rv_log_ratelimit;

#define RV_LOG_RATELIMIT(interval, lines) {.interval_ms = (interval), .burst = (lines)}

/* True: log the line now, *suppressed = lines refused since the previous one
 * logged (then reset). False: skip it (counted). */
bool rv_log_ratelimit_ok(rv_log_ratelimit *rl, int64_t now_ms, uint64_t *suppressed);

#define rv_log(level, subsystem, ...)                                  \
	do {                                                               \
		if ((level) <= rv_log_level)                                   \
			rv_log_write((level), (subsystem), __VA_ARGS__);           \
	} while (0)

#define rv_crit(sub, ...) rv_log(RV_LOG_CRIT, sub, __VA_ARGS__)
#define rv_err(sub, ...) rv_log(RV_LOG_ERR, sub, __VA_ARGS__)
#define rv_warn(sub, ...) rv_log(RV_LOG_WARNING, sub, __VA_ARGS__)
#define rv_notice(sub, ...) rv_log(RV_LOG_NOTICE, sub, __VA_ARGS__)
#define rv_info(sub, ...) rv_log(RV_LOG_INFO, sub, __VA_ARGS__)
#define rv_debug(sub, ...) rv_log(RV_LOG_DEBUG, sub, __VA_ARGS__)

#endif
