/* Unit tests for log.c: the line format on a plain stderr and on the journal
 * (JOURNAL_STREAM naming fd 2), level names, and the rate limiter. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* ---- stderr captured in a file ---- */

typedef struct capture {
	FILE *f;
	int saved;
} capture;

static void capture_start(capture *c)
{
	c->f = tmpfile();
	assert_non_null(c->f);
	fflush(stderr);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(fileno(c->f), 2), 2);
}

/* Puts stderr back; returns what was written (caller frees). */
static char *capture_end(capture *c)
{
	fflush(stderr);
	assert_int_equal(dup2(c->saved, 2), 2);
	close(c->saved);
	fseek(c->f, 0, SEEK_END);
	long len = ftell(c->f);
	rewind(c->f);
	char *buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, c->f), (size_t)len);
	fclose(c->f);
	return buf;
}

/* JOURNAL_STREAM set to fd 2's own device and inode (what systemd does). */
static void point_journal_stream_at_stderr(long ino_delta)
{
	struct stat st;
	char v[64];
	assert_int_equal(fstat(2, &st), 0);
	snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino + ino_delta);
	assert_int_equal(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
	int rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fail_msg("'%s' does not match /%s/", text, pattern);
}

static void test_plain_lines(void **state)
{
	(void)state;
	capture c;
	unsetenv("JOURNAL_STREAM");
	capture_start(&c);
	assert_false(rv_log_detect_journal());
	rv_log_level = RV_LOG_INFO;
	rv_err("snapshot", "disk %s", "full");
	rv_info("stats", "n=%d", 42);
	rv_debug("stats", "not shown at info");
	char *out = capture_end(&c);
	assert_matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			"error snapshot: disk full\n"
			"[0-9]{4}-[^ ]*Z info stats: n=42\n$");
	free(out);
}

static void test_journal_lines(void **state)
{
	(void)state;
	capture c;
	capture_start(&c);
	point_journal_stream_at_stderr(0);
	assert_true(rv_log_detect_journal());
	rv_log_level = RV_LOG_DEBUG;
	rv_crit("agent", "bye");
	rv_err("snapshot", "disk %s", "full");
	rv_warn("rpz", "w");
	rv_notice("agent", "n");
	rv_info("stats", "i");
	rv_debug("rpz", "d");
	char *out = capture_end(&c);
	assert_string_equal(out, "<2>crit agent: bye\n"
			"<3>error snapshot: disk full\n"
			"<4>warning rpz: w\n"
			"<5>notice agent: n\n"
			"<6>info stats: i\n"
			"<7>debug rpz: d\n");
	free(out);

	/* JOURNAL_STREAM inherited by a process whose stderr went elsewhere
	 * (another inode), or malformed: plain lines. */
	static const char *const bad[] = {"", "12", "12:", ":34", "a:b", "1:2x", "-1:2",
					  "1: 2", "99999999999999999999999:1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JOURNAL_STREAM", bad[i], 1);
		if (rv_log_detect_journal())
			fail_msg("JOURNAL_STREAM='%s' taken for the journal", bad[i]);
	}
	capture_start(&c);
	point_journal_stream_at_stderr(1);
	assert_false(rv_log_detect_journal());
	rv_err("snapshot", "x");
	out = capture_end(&c);
	assert_matches(out, "^[0-9]{4}-[^ ]*Z error snapshot: x\n$");
	free(out);
	unsetenv("JOURNAL_STREAM");
	assert_false(rv_log_detect_journal());
	rv_log_level = RV_LOG_NOTICE;
}

/* Lines longer than the buffer are cut but still end with a newline. */
static void test_long_line(void **state)
{
	(void)state;
	capture c;
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_start(&c);
	assert_false(rv_log_detect_journal());
	rv_err("t", "%s", big);
	char *out = capture_end(&c);
	size_t n = strlen(out);
	assert_true(n > 1000 && n < 2048);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);  /* one line, newline-terminated */
	free(out);
}

static void test_level_names(void **state)
{
	(void)state;
	assert_int_equal(rv_log_level_parse("error"), RV_LOG_ERR);
	assert_int_equal(rv_log_level_parse("err"), RV_LOG_ERR);
	assert_int_equal(rv_log_level_parse("warn"), RV_LOG_WARNING);
	assert_int_equal(rv_log_level_parse("debug"), RV_LOG_DEBUG);
	assert_int_equal(rv_log_level_parse("loud"), -EINVAL);
	assert_string_equal(rv_log_level_name(RV_LOG_CRIT), "crit");
	assert_string_equal(rv_log_level_name(99), "?");
}

static void test_ratelimit(void **state)
{
	(void)state;
	rv_log_ratelimit rl = RV_LOG_RATELIMIT(1000, 3);
	uint64_t dropped = 99;
	/* A burst of 3, then silence for the rest of the window, counted. */
	for (int i = 0; i < 3; i++) {
		assert_true(rv_log_ratelimit_ok(&rl, 5000 + i, &dropped));
		assert_int_equal(dropped, 0);
	}
	for (int i = 0; i < 5; i++) {
		assert_false(rv_log_ratelimit_ok(&rl, 5100 + i * 100, &dropped));
		assert_int_equal(dropped, 0);
	}
	/* Next window: the first line says how many were dropped, once. */
	assert_true(rv_log_ratelimit_ok(&rl, 6000, &dropped));
	assert_int_equal(dropped, 5);
	assert_true(rv_log_ratelimit_ok(&rl, 6001, &dropped));
	assert_int_equal(dropped, 0);
	assert_true(rv_log_ratelimit_ok(&rl, 6002, &dropped));
	assert_false(rv_log_ratelimit_ok(&rl, 6003, &dropped));
	/* A clock that goes back starts a new window rather than muting for good. */
	assert_true(rv_log_ratelimit_ok(&rl, 100, &dropped));
	assert_int_equal(dropped, 1);

	/* burst 0 behaves as 1. */
	rv_log_ratelimit one = RV_LOG_RATELIMIT(10, 0);
	assert_true(rv_log_ratelimit_ok(&one, 0, &dropped));
	assert_false(rv_log_ratelimit_ok(&one, 5, &dropped));
	assert_true(rv_log_ratelimit_ok(&one, 10, &dropped));
	assert_int_equal(dropped, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lines),
		cmocka_unit_test(test_journal_lines),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
