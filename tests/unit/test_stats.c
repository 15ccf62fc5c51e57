/* Unit tests for stats.c: the registry, the log line, the Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dnsmsg.h"
#include "stats.h"

static uint64_t read_u64(const void *arg)
{
	return *(const uint64_t *)arg;
}

static char *prometheus_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(rv_stats_write_prometheus(f), 0);
	fclose(f);
	return buf;
}

static void test_prometheus_exposition(void **state)
{
	(void)state;
	rv_stats_reset();
	rv_stats.fs_frames = 42;
	rv_stats.verdicts[RV_LEARN] = 7;
	static uint64_t owned = 5;
	assert_int_equal(rv_stats_register(RV_GAUGE, "things", "rearview_test_things",
			"things a module keeps", read_u64, &owned), 0);
	char *t = prometheus_text();
	assert_non_null(strstr(t, "# HELP rearview_dnstap_frames_total dnstap data frames received\n"
			"# TYPE rearview_dnstap_frames_total counter\nrearview_dnstap_frames_total 42\n"));
	assert_non_null(strstr(t, "rearview_dnstap_frames_by_verdict_total{verdict=\"learn\"} 7\n"));
	assert_non_null(strstr(t, "# TYPE rearview_test_things gauge\nrearview_test_things 5\n"));
	/* HELP and TYPE once per family, however many label values */
	const char *p = t;
	int helps = 0;
	while ((p = strstr(p, "# HELP rearview_dnstap_frames_by_verdict_total ")) != NULL) {
		helps++;
		p++;
	}
	assert_int_equal(helps, 1);
	free(t);
	/* a module going away takes its metrics along */
	rv_stats_unregister(&owned);
	t = prometheus_text();
	assert_null(strstr(t, "rearview_test_things"));
	free(t);
}

static void test_register_replaces_same_name(void **state)
{
	(void)state;
	rv_stats_reset();
	static uint64_t a = 1, b = 2;
	assert_int_equal(rv_stats_register(RV_GAUGE, "x", "rearview_x", "x", read_u64, &a), 0);
	assert_int_equal(rv_stats_register(RV_GAUGE, "x", "rearview_x", "x", read_u64, &b), 0);
	char *t = prometheus_text();
	assert_non_null(strstr(t, "rearview_x 2\n"));
	assert_null(strstr(t, "rearview_x 1\n"));
	free(t);
	assert_int_equal(rv_stats_register(RV_GAUGE, "x", "rearview_y", "y", NULL, &b), -EINVAL);
	rv_stats_reset();
}

static void test_milli_and_unlogged(void **state)
{
	(void)state;
	rv_stats_reset();
	static uint64_t ms = 1234, start = 99;
	assert_int_equal(rv_stats_register_milli(RV_COUNTER, "cpu_ms", "process_cpu_seconds_total",
			"cpu", read_u64, &ms), 0);
	assert_int_equal(rv_stats_register(RV_GAUGE, NULL, "process_start_time_seconds",
			"start", read_u64, &start), 0);
	char *t = prometheus_text();
	assert_non_null(strstr(t, "\nprocess_cpu_seconds_total 1.234\n"));
	assert_non_null(strstr(t, "\nprocess_start_time_seconds 99\n"));
	free(t);
	ms = 5;
	t = prometheus_text();
	assert_non_null(strstr(t, "\nprocess_cpu_seconds_total 0.005\n"));
	free(t);
	rv_stats_reset();
}

static bool read_family(const void *arg, size_t i, const char **label, uint64_t *value)
{
	static const char *const labels[] = {"ns1.example", "192.0.2.7"};
	const uint64_t *v = arg;

	if (i >= 2)
		return false;
	*label = labels[i];
	*value = v[i];
	return true;
}

/* A module-kept labelled family (per-source counts): one HELP/TYPE, a line
 * per label value, nothing in the log line, gone with its module. */
static void test_family(void **state)
{
	(void)state;
	rv_stats_reset();
	static uint64_t counts[2] = {12, 3};
	assert_int_equal(rv_stats_register_family(RV_COUNTER, "rearview_test_by_source_total",
			"by source", "source", read_family, counts), 0);
	char *t = prometheus_text();
	assert_non_null(strstr(t, "# TYPE rearview_test_by_source_total counter\n"
			"rearview_test_by_source_total{source=\"ns1.example\"} 12\n"
			"rearview_test_by_source_total{source=\"192.0.2.7\"} 3\n"));
	free(t);
	assert_int_equal(rv_stats_register_family(RV_COUNTER, "rearview_x", "x", NULL, read_family,
			counts), -EINVAL);
	rv_stats_unregister(counts);
	t = prometheus_text();
	assert_null(strstr(t, "rearview_test_by_source_total"));
	free(t);
	rv_stats_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prometheus_exposition),
		cmocka_unit_test(test_register_replaces_same_name),
		cmocka_unit_test(test_milli_and_unlogged),
		cmocka_unit_test(test_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
