/*
 * rv_test.h - helpers shared by the unit tests (include after <cmocka.h>).
 *
 * RV_TIME_SCALE: a factor (>= 1) for wall-clock upper bounds: how long a test
 *   waits for something that must happen. Meson sets it for the valgrind setup
 *   and for sanitizer builds (see meson.build and tests/unit/meson.build), where
 *   everything runs several times slower. Lower bounds ("not before 150 ms")
 *   stay unscaled: a slower machine only makes them easier to meet.
 * RV_WORK_SCALE: a divisor (>= 1) for the iteration counts of the randomized
 *   and differential loops (rv_test_work). The valgrind setup sets it to 10:
 *   every code path still runs there, under valgrind's checks; the full
 *   counts run in the plain and sanitizer builds. (CI time: these loops made
 *   half of the valgrind run.)
 * RV_REQUIRE_ALL: set by scripts/test.sh (and so CI). A test that cannot run
 *   because a tool is missing then fails, naming the tool; without it, the test
 *   is skipped with the same message (running one test by hand).
 */
#ifndef RV_TEST_H
#define RV_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline double rv_test_time_scale(void)
{
	const char *s = getenv("RV_TIME_SCALE");
	double f = s && *s ? strtod(s, NULL) : 1.0;
	return f >= 1.0 ? f : 1.0;
}

/* An upper bound of ms milliseconds, scaled. */
static inline unsigned rv_test_ms(unsigned ms)
{
	return (unsigned)((double)ms * rv_test_time_scale());
}

/* The same, in seconds. */
static inline double rv_test_s(double s)
{
	return s * rv_test_time_scale();
}

/* n iterations, divided by RV_WORK_SCALE (at least 1). */
static inline unsigned long rv_test_work(unsigned long n)
{
	const char *s = getenv("RV_WORK_SCALE");
	unsigned long d = s && *s ? strtoul(s, NULL, 10) : 1;

	if (d < 1)
		d = 1;
	return n / d > 0 ? n / d : 1;
}

static inline bool rv_test_require_all(void)
{
	const char *s = getenv("RV_REQUIRE_ALL");
	return s && *s && strcmp(s, "0") != 0;
}

/* A prerequisite (what) is missing: fail under RV_REQUIRE_ALL, else skip.
 * Either way the message says what is missing and how to get it. */
#define RV_TEST_MISSING(what, how)                                                   \
	do {                                                                         \
		if (rv_test_require_all())                                           \
			fail_msg("missing: %s (%s); RV_REQUIRE_ALL is set, so this "  \
				 "is a failure, not a skip", (what), (how));           \
		print_message("SKIP: missing: %s (%s)\n", (what), (how));            \
		skip();                                                              \
	} while (0)

#include "tsig_key.h"

/* Parses a key file committed with the tests. Git stores such files 0644,
 * which rv_tsig_key_load rightly refuses for a real key, so the tests read
 * the text and parse it. Returns rv_tsig_key_parse's result. */
static inline int rv_test_key_file(const char *path, rv_tsig_key *key)
{
	char text[4096], err[256];
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(text, 1, sizeof(text), f);
	fclose(f);
	return rv_tsig_key_parse(text, n, NULL, key, err, sizeof(err));
}

#endif
