/*
 * log.h - levelled logging to stderr (journald picks it up under systemd).
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
