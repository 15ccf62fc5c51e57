/* Unit tests for table.c: best name, coalescing, queue hand-off, eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "table.h"

static rv_addr A(const char *s)
{
	rv_addr a;
	assert_int_equal(rv_addr_parse(s, &a), 0);
	return a;
}

static rv_table *mk(size_t max, unsigned cands)
{
	rv_table_opts o = {.max_addresses = max, .max_candidates = cands, .half_life_s = 86400,
			   .depth_weight = 0.25};
	rv_table *t = rv_table_new(&o);
	assert_non_null(t);
	return t;
}

static void test_first_sighting_queues(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("192.0.2.1");
	assert_int_equal(rv_table_observe(t, &a, "www.example.com", 1, 60, 1000), 1);
	/* The same name again: coalesced, not queued twice. */
	assert_int_equal(rv_table_observe(t, &a, "www.example.com", 2, 60, 1005), 0);
	assert_int_equal(rv_table_queued(t), 1);
	rv_change c;
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_true(rv_addr_equal(&c.addr, &a));
	assert_string_equal(c.name, "www.example.com");
	assert_int_equal(c.first, 1000);
	assert_int_equal(c.last, 1005);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.depth, 2);
	assert_false(c.remove);
	assert_int_equal(rv_table_pop_queued(t, &c), -ENOENT);
	rv_table_free(&t);
	assert_null(t);
}

static void test_committed_then_unchanged(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("2001:db8::1");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "v6.example", 0, 60, 10), 1);
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	rv_table_committed(t, &c);
	/* More sightings of the committed name do not cause writes. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(rv_table_observe(t, &a, "v6.example", 0, 60, 11 + i), 0);
	assert_int_equal(rv_table_queued(t), 0);
	rv_table_free(&t);
}

static void test_best_name_changes(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("198.51.100.7");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 100), 1);
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	rv_table_committed(t, &c);
	/* One sighting of a new name ties on count and wins on recency. */
	assert_int_equal(rv_table_observe(t, &a, "new.example", 0, 60, 200), 1);
	assert_string_equal(rv_table_best(t, &a), "new.example");
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_string_equal(c.name, "new.example");
	rv_table_committed(t, &c);
	/* The old name seen once more overtakes by count (2 vs 1). */
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 300), 1);
	assert_string_equal(rv_table_best(t, &a), "old.example");
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 301), 0);
	rv_table_free(&t);
}

static void test_requeue_keeps_change(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("192.0.2.1"), b = A("192.0.2.2");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "a.example", 0, 60, 1), 1);
	assert_int_equal(rv_table_observe(t, &b, "b.example", 0, 60, 2), 1);
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_string_equal(c.name, "a.example");
	/* The UPDATE failed: a goes back to the front, nothing lost. */
	rv_table_requeue(t, &c);
	assert_int_equal(rv_table_queued(t), 2);
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_string_equal(c.name, "a.example");
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_string_equal(c.name, "b.example");
	rv_table_free(&t);
}

static void test_change_while_in_flight(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("192.0.2.9");
	rv_change inflight, c;
	assert_int_equal(rv_table_observe(t, &a, "first.example", 0, 60, 1), 1);
	assert_int_equal(rv_table_pop_queued(t, &inflight), 0);
	/* A better name arrives while the UPDATE is in flight. */
	assert_int_equal(rv_table_observe(t, &a, "second.example", 0, 60, 2), 1);
	assert_int_equal(rv_table_observe(t, &a, "second.example", 0, 60, 3), 0);
	rv_table_committed(t, &inflight);
	assert_int_equal(rv_table_queued(t), 1);
	assert_int_equal(rv_table_pop_queued(t, &c), 0);
	assert_string_equal(c.name, "second.example");
	assert_int_equal(c.count, 2);
	rv_table_free(&t);
}

static void test_eviction_lru(void **state)
{
	(void)state;
	rv_table *t = mk(3, 2);
	rv_addr a = A("10.0.0.1"), b = A("10.0.0.2"), c = A("10.0.0.3"), d = A("10.0.0.4");
	assert_int_equal(rv_table_observe(t, &a, "a", 0, 60, 1), 1);
	assert_int_equal(rv_table_observe(t, &b, "b", 0, 60, 2), 1);
	assert_int_equal(rv_table_observe(t, &c, "c", 0, 60, 3), 1);
	/* Touch a, so b is now the least recently seen. */
	assert_int_equal(rv_table_observe(t, &a, "a", 0, 60, 4), 0);
	assert_int_equal(rv_table_observe(t, &d, "d", 0, 60, 5), 1);
	assert_int_equal(rv_table_size(t), 3);
	assert_null(rv_table_best(t, &b));
	assert_string_equal(rv_table_best(t, &a), "a");
	assert_string_equal(rv_table_best(t, &d), "d");
	/* The evicted address is not written, and since the RPZ never held it,
	 * no removal is queued for it either. */
	rv_change ch;
	int popped = 0;
	while (rv_table_pop_queued(t, &ch) == 0) {
		assert_false(ch.remove);
		assert_false(rv_addr_equal(&ch.addr, &b));
		popped++;
	}
	assert_int_equal(popped, 3);
	rv_table_free(&t);
}

static void test_candidate_cap(void **state)
{
	(void)state;
	rv_table *t = mk(10, 2);
	rv_addr a = A("10.1.1.1");
	assert_int_equal(rv_table_observe(t, &a, "popular", 0, 60, 1), 1);
	assert_int_equal(rv_table_observe(t, &a, "popular", 0, 60, 2), 0);
	assert_int_equal(rv_table_observe(t, &a, "popular", 0, 60, 3), 0);
	/* A stream of one-off names never displaces the popular one. */
	char name[32];
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "oneoff%d", i);
		assert_true(rv_table_observe(t, &a, name, 0, 60, 10 + i) >= 0);
	}
	assert_string_equal(rv_table_best(t, &a), "popular");
	rv_table_free(&t);
}

static void test_many_addresses_grow(void **state)
{
	(void)state;
	rv_table *t = mk(100000, 2);
	char buf[64];
	for (int i = 0; i < 50000; i++) {
		rv_addr a;
		snprintf(buf, sizeof(buf), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		a = A(buf);
		assert_int_equal(rv_table_observe(t, &a, "n.example", 0, 60, i), 1);
	}
	assert_int_equal(rv_table_size(t), 50000);
	rv_addr probe = A("10.0.195.79"); /* i = 49999, the last one added */
	assert_non_null(rv_table_best(t, &probe));
	assert_string_equal(rv_table_best(t, &probe), "n.example");
	probe = A("10.0.195.80");
	assert_null(rv_table_best(t, &probe));
	size_t popped = 0;
	rv_change c;
	while (rv_table_pop_queued(t, &c) == 0)
		popped++;
	assert_int_equal(popped, 50000);
	rv_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_sighting_queues),
		cmocka_unit_test(test_committed_then_unchanged),
		cmocka_unit_test(test_best_name_changes),
		cmocka_unit_test(test_requeue_keeps_change),
		cmocka_unit_test(test_change_while_in_flight),
		cmocka_unit_test(test_eviction_lru),
		cmocka_unit_test(test_candidate_cap),
		cmocka_unit_test(test_many_addresses_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
