/*
 * table_pub.h - tests drive the table together with the publisher that the
 * agent attaches to it (publish.h): tbl_new() creates both, tbl_pop() pops
 * the next change the RPZ writer would get, tbl_queued() counts the outbox,
 * tbl_free() frees both. Header-only, for the unit tests.
 */
#ifndef RV_TEST_TABLE_PUB_H
#define RV_TEST_TABLE_PUB_H

#include "publish.h"
#include "table.h"

#define TBL_MAX 16
static struct {
	rv_table *t;
	rv_publisher *p;
} tbl_pairs[TBL_MAX];

static inline rv_publisher *tbl_pub(const rv_table *t)
{
	for (size_t i = 0; i < TBL_MAX; i++)
		if (tbl_pairs[i].t == t)
			return tbl_pairs[i].p;
	fail_msg("table %p has no publisher", (const void *)t);
	return NULL;
}

static inline rv_table *tbl_new(const rv_table_opts *o)
{
	rv_table *t = rv_table_new(o);
	assert_non_null(t);
	for (size_t i = 0; i < TBL_MAX; i++) {
		if (!tbl_pairs[i].t) {
			tbl_pairs[i].t = t;
			tbl_pairs[i].p = rv_publisher_new(NULL, t);
			assert_non_null(tbl_pairs[i].p);
			return t;
		}
	}
	fail_msg("more than %d tables alive", TBL_MAX);
	return NULL;
}

static inline int tbl_pop(rv_table *t, rv_change *c)
{
	const rv_change_feed *f = rv_publisher_feed(tbl_pub(t));
	return f->pop(f->arg, c);
}

static inline size_t tbl_queued(const rv_table *t)
{
	return rv_publisher_queued(tbl_pub(t));
}

static inline void tbl_free(rv_table **t)
{
	if (!*t)
		return;
	for (size_t i = 0; i < TBL_MAX; i++) {
		if (tbl_pairs[i].t == *t) {
			rv_publisher_free(&tbl_pairs[i].p);
			tbl_pairs[i].t = NULL;
		}
	}
	rv_table_free(t);
}

#endif
