/* log.c - levelled logging to stderr. One line per event, prefixed with the
 * level and subsystem, so journald and grep both work. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

int rv_log_level = RV_LOG_NOTICE;

/* -1: not decided yet; 0: plain lines; 1: stderr is the journal. */
static int to_journal = -1;

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

/* "DEV:INO" in decimal, both numbers whole (systemd.exec(5), JOURNAL_STREAM). */
static bool parse_dev_ino(const char *s, uintmax_t *dev, uintmax_t *ino)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*dev = strtoumax(s, &end, 10);
	if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	*ino = strtoumax(end + 1, &end, 10);
	return errno == 0 && *end == '\0';
}

bool rv_log_detect_journal(void)
{
	/* The variable alone is not enough: it is inherited by children whose
	 * stderr was redirected, so fd 2 must still be the stream it names. */
	const char *env = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	to_journal = env != NULL && parse_dev_ino(env, &dev, &ino) && fstat(2, &st) == 0 &&
		(uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
	return to_journal == 1;
}

void rv_log_write(int level, const char *subsystem, const char *fmt, ...)
{
	char line[2048];
	int off = 0;

	if (to_journal < 0)
		(void)rv_log_detect_journal();
	if (to_journal) {
		/* journald reads "<N>" as the line's priority and stamps it itself. */
		off = snprintf(line, sizeof(line), "<%d>%s %s: ", level < 0 ? 0 : level > 7 ? 7 : level,
				rv_log_level_name(level), subsystem);
	} else {
		/* ISO 8601 UTC: cheap, and unambiguous across machines. */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
				tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				tm.tm_sec, ts.tv_nsec / 1000000, rv_log_level_name(level), subsystem);
	}
	if (off < 0)
		return;
	if ((size_t)off >= sizeof(line))
		off = (int)sizeof(line) - 1;
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

bool rv_log_ratelimit_ok(rv_log_ratelimit *rl, int64_t now_ms, uint64_t *suppressed)
{
	*suppressed = 0;
	if (!rl->started || now_ms - rl->window_start >= rl->interval_ms ||
	    now_ms < rl->window_start) {
		rl->started = true;
		rl->window_start = now_ms;
		rl->used = 0;
	}
	if (rl->used >= (rl->burst ? rl->burst : 1)) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
