/* log.c - levelled logging to stderr. One line per event, prefixed with the
 * level and subsystem, so journald and grep both work. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

int rv_log_level = RV_LOG_NOTICE;

static const char *const level_names[] = {
	[RV_LOG_CRIT] = "crit",     [RV_LOG_ERR] = "error", [RV_LOG_WARNING] = "warning",
	[RV_LOG_NOTICE] = "notice", [RV_LOG_INFO] = "info", [RV_LOG_DEBUG] = "debug",
};

int rv_log_level_parse(const char *name)
{
	for (int i = RV_LOG_CRIT; i <= RV_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "err") == 0)
		return RV_LOG_ERR;
	if (strcmp(name, "warn") == 0)
		return RV_LOG_WARNING;
	return -EINVAL;
}

const char *rv_log_level_name(int level)
{
	if (level < RV_LOG_CRIT || level > RV_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void rv_log_write(int level, const char *subsystem, const char *fmt, ...)
{
	char line[2048];
	int off = 0;
	struct timespec ts;
	struct tm tm;

	/* Timestamps only help when not under journald, which adds its own; they are
	 * cheap, so always print them in ISO 8601 UTC. */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, ts.tv_nsec / 1000000, rv_log_level_name(level), subsystem);
	if (off < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	va_end(ap);
	/* One fputs per line: concurrent writers (tests run several processes on one
	 * stderr) never interleave within a line. */
	size_t n = strlen(line);
	if (n + 1 < sizeof(line)) {
		line[n] = '\n';
		line[n + 1] = '\0';
	} else {
		line[sizeof(line) - 2] = '\n';
	}
	fputs(line, stderr);
}
