/* Unit tests for outbox.c: coalescing, order, cancel, memory bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "outbox.h"

static rv_addr v4(uint32_t n)
{
	uint8_t b[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	rv_addr a;
	assert_int_equal(rv_addr_set(&a, b, 4), 0);
	return a;
}

static void pop_expect(rv_outbox *ob, uint32_t n, rv_outbox_kind kind)
{
	rv_addr a, want = v4(n);
	rv_outbox_kind k;
	assert_int_equal(rv_outbox_pop(ob, &a, &k), 0);
	assert_memory_equal(&a, &want, sizeof(a));
	assert_int_equal(k, kind);
}

static void test_fifo_and_coalescing(void **state)
{
	(void)state;
	rv_outbox *ob = rv_outbox_new();
	assert_non_null(ob);
	for (uint32_t i = 1; i <= 3; i++) {
		rv_addr a = v4(i);
		assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_WRITE, false), 0);
	}
	/* Pushing 2 again coalesces: still 3 items, 2 keeps its place. */
	rv_addr a2 = v4(2);
	assert_int_equal(rv_outbox_push(ob, &a2, RV_OUTBOX_WRITE, false), 0);
	assert_int_equal(rv_outbox_len(ob), 3);
	/* A retry of 3 goes to the front. */
	rv_addr a3 = v4(3);
	assert_int_equal(rv_outbox_push(ob, &a3, RV_OUTBOX_WRITE, true), 0);
	pop_expect(ob, 3, RV_OUTBOX_WRITE);
	pop_expect(ob, 1, RV_OUTBOX_WRITE);
	pop_expect(ob, 2, RV_OUTBOX_WRITE);
	rv_addr a;
	rv_outbox_kind k;
	assert_int_equal(rv_outbox_pop(ob, &a, &k), -ENOENT);
	rv_outbox_free(&ob);
	assert_null(ob);
}

static void test_removal_is_sticky(void **state)
{
	(void)state;
	rv_outbox *ob = rv_outbox_new();
	rv_addr a = v4(7);
	/* write then remove: remove */
	assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_WRITE, false), 0);
	assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_REMOVE, false), 0);
	/* remove then write (the address came back): still a removal, which the
	 * table turns into a full replace when it is popped */
	assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_WRITE, false), 0);
	assert_int_equal(rv_outbox_len(ob), 1);
	/* a pending removal is never cancelled: it may be for an earlier life */
	assert_false(rv_outbox_cancel_write(ob, &a));
	pop_expect(ob, 7, RV_OUTBOX_REMOVE);
	rv_outbox_free(&ob);
}

static void test_cancel(void **state)
{
	(void)state;
	rv_outbox *ob = rv_outbox_new();
	for (uint32_t i = 1; i <= 5; i++) {
		rv_addr a = v4(i);
		assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_WRITE, false), 0);
	}
	rv_addr a3 = v4(3), a9 = v4(9);
	assert_true(rv_outbox_cancel_write(ob, &a3));
	assert_false(rv_outbox_cancel_write(ob, &a3));
	assert_false(rv_outbox_cancel_write(ob, &a9));
	assert_false(rv_outbox_has(ob, &a3));
	assert_int_equal(rv_outbox_len(ob), 4);
	pop_expect(ob, 1, RV_OUTBOX_WRITE);
	pop_expect(ob, 2, RV_OUTBOX_WRITE);
	pop_expect(ob, 4, RV_OUTBOX_WRITE);
	pop_expect(ob, 5, RV_OUTBOX_WRITE);
	rv_outbox_free(&ob);
}

/* The property the writer's memory rests on: a million sightings of addresses
 * that come and go (push, then cancel when evicted) leave the outbox with one
 * item per live address, and its index shrinks back once drained. */
static void test_memory_follows_addresses_not_sightings(void **state)
{
	(void)state;
	rv_outbox *ob = rv_outbox_new();
	size_t empty = rv_outbox_bytes(ob);
	const uint32_t live = 1000;
	for (uint32_t i = 0; i < 1000000; i++) {
		rv_addr a = v4(i);
		assert_int_equal(rv_outbox_push(ob, &a, RV_OUTBOX_WRITE, false), 0);
		if (i >= live) {
			rv_addr old = v4(i - live);
			assert_true(rv_outbox_cancel_write(ob, &old));
		}
	}
	assert_int_equal(rv_outbox_len(ob), live);
	assert_true(rv_outbox_bytes(ob) < 200 * live);
	rv_addr a;
	rv_outbox_kind k;
	while (rv_outbox_pop(ob, &a, &k) == 0)
		;
	assert_int_equal(rv_outbox_len(ob), 0);
	/* back to the empty index, plus at most the small free list */
	assert_true(rv_outbox_bytes(ob) <= empty + 1024 * 64);
	rv_outbox_free(&ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_coalescing),
		cmocka_unit_test(test_removal_is_sticky),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_memory_follows_addresses_not_sightings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
