/* Unit tests for table.c: best name, coalescing, queue hand-off, eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "table.h"
#include "table_pub.h"

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
	rv_table *t = tbl_new(&o);
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
	assert_int_equal(tbl_queued(t), 1);
	rv_change c;
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_true(rv_addr_equal(&c.addr, &a));
	assert_string_equal(c.name, "www.example.com");
	assert_int_equal(c.first, 1000);
	assert_int_equal(c.last, 1005);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.depth, 2);
	assert_false(c.remove);
	assert_int_equal(tbl_pop(t, &c), -ENOENT);
	tbl_free(&t);
	assert_null(t);
}

static void test_committed_then_unchanged(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("2001:db8::1");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "v6.example", 0, 60, 10), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	rv_table_committed(t, &c);
	/* More sightings of the committed name do not cause writes. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(rv_table_observe(t, &a, "v6.example", 0, 60, 11 + i), 0);
	assert_int_equal(tbl_queued(t), 0);
	tbl_free(&t);
}

static void test_best_name_changes(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("198.51.100.7");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 100), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	rv_table_committed(t, &c);
	/* One sighting of a new name ties on count and wins on recency. */
	assert_int_equal(rv_table_observe(t, &a, "new.example", 0, 60, 200), 1);
	assert_string_equal(rv_table_best(t, &a), "new.example");
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "new.example");
	rv_table_committed(t, &c);
	/* The old name seen once more overtakes by count (2 vs 1). */
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 300), 1);
	assert_string_equal(rv_table_best(t, &a), "old.example");
	assert_int_equal(rv_table_observe(t, &a, "old.example", 0, 60, 301), 0);
	rv_table_counters k;
	rv_table_get_counters(t, &k);
	assert_int_equal(k.added, 1);
	assert_int_equal(k.changed, 2); /* old -> new -> old */
	assert_int_equal(k.evicted, 0);
	tbl_free(&t);
}

static void test_requeue_keeps_change(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("192.0.2.1"), b = A("192.0.2.2");
	rv_change c;
	assert_int_equal(rv_table_observe(t, &a, "a.example", 0, 60, 1), 1);
	assert_int_equal(rv_table_observe(t, &b, "b.example", 0, 60, 2), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "a.example");
	/* The UPDATE failed: a goes back to the front, nothing lost. */
	rv_table_requeue(t, &c);
	assert_int_equal(tbl_queued(t), 2);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "a.example");
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "b.example");
	tbl_free(&t);
}

static void test_change_while_in_flight(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("192.0.2.9");
	rv_change inflight, c;
	assert_int_equal(rv_table_observe(t, &a, "first.example", 0, 60, 1), 1);
	assert_int_equal(tbl_pop(t, &inflight), 0);
	/* A better name arrives while the UPDATE is in flight. */
	assert_int_equal(rv_table_observe(t, &a, "second.example", 0, 60, 2), 1);
	assert_int_equal(rv_table_observe(t, &a, "second.example", 0, 60, 3), 0);
	rv_table_committed(t, &inflight);
	assert_int_equal(tbl_queued(t), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "second.example");
	assert_int_equal(c.count, 2);
	tbl_free(&t);
}

/* rv_change.absent (add without deleting) only when the zone is known to hold
 * nothing for the address; every doubt turns it off. */
static void test_absent_only_when_known(void **state)
{
	(void)state;
	rv_table *t = mk(10, 2);
	rv_change c;
	rv_addr a = A("192.0.2.1"), b = A("192.0.2.2"), d = A("192.0.2.3");

	/* Before a reconcile: the zone may hold anything. */
	assert_int_equal(rv_table_observe(t, &a, "a.example", 0, 60, 1), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_false(c.absent);
	rv_table_committed(t, &c);

	rv_table_set_zone_known(t, true);
	/* Known to be absent; once written, a new best name is a replace. */
	assert_int_equal(rv_table_observe(t, &b, "b.example", 0, 60, 2), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_true(c.absent);
	rv_table_committed(t, &c);
	/* (one sighting each: the more recent name wins the tie) */
	assert_int_equal(rv_table_observe(t, &b, "b2.example", 0, 60, 3), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "b2.example");
	assert_false(c.absent);
	/* Addresses known before do not become absent either. */
	assert_int_equal(rv_table_observe(t, &a, "a2.example", 0, 60, 5), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_string_equal(c.name, "a2.example");
	assert_false(c.absent);

	/* A failed UPDATE (a timeout) may have been applied: the retry replaces. */
	assert_int_equal(rv_table_observe(t, &d, "d.example", 0, 60, 7), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_true(c.absent);
	rv_table_requeue(t, &c);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_true(rv_addr_equal(&c.addr, &d));
	assert_false(c.absent);
	/* A reconcile that found foreign records turns it off again. */
	rv_table_set_zone_known(t, false);
	rv_addr e = A("192.0.2.4");
	assert_int_equal(rv_table_observe(t, &e, "e.example", 0, 60, 8), 1);
	assert_int_equal(tbl_pop(t, &c), 0);
	assert_false(c.absent);
	tbl_free(&t);

	/* Evicted while its first write was in flight, then seen again before the
	 * removal went out: the removal is queued (the write may have landed) and
	 * the new entry's write replaces rather than adds. */
	t = mk(1, 2);
	rv_table_set_zone_known(t, true);
	rv_addr x = A("198.51.100.1"), y = A("198.51.100.2");
	assert_int_equal(rv_table_observe(t, &x, "x.example", 0, 60, 1), 1);
	rv_change inflight;
	assert_int_equal(tbl_pop(t, &inflight), 0);
	assert_true(inflight.absent);
	assert_int_equal(rv_table_observe(t, &y, "y.example", 0, 60, 2), 1);  /* evicts x */
	assert_int_equal(rv_table_observe(t, &x, "x.example", 0, 60, 3), 1);  /* evicts y */
	int n = 0;  /* (x's first write is still in flight: it may land or not) */
	while (tbl_pop(t, &c) == 0) {
		assert_false(c.remove);  /* x is back: its own write replaces */
		assert_true(rv_addr_equal(&c.addr, &x));
		assert_false(c.absent);
		n++;
	}
	assert_int_equal(n, 1);
	rv_table_committed(t, &inflight);
	tbl_free(&t);
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
	rv_table_counters k;
	rv_table_get_counters(t, &k);
	assert_int_equal(k.added, 4);
	assert_int_equal(k.evicted, 1);
	assert_null(rv_table_best(t, &b));
	assert_string_equal(rv_table_best(t, &a), "a");
	assert_string_equal(rv_table_best(t, &d), "d");
	/* The evicted address is not written, and since the RPZ never held it,
	 * no removal is queued for it either. */
	rv_change ch;
	int popped = 0;
	while (tbl_pop(t, &ch) == 0) {
		assert_false(ch.remove);
		assert_false(rv_addr_equal(&ch.addr, &b));
		popped++;
	}
	assert_int_equal(popped, 3);
	tbl_free(&t);
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
	tbl_free(&t);
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
	while (tbl_pop(t, &c) == 0)
		popped++;
	assert_int_equal(popped, 50000);
	tbl_free(&t);
}

#define DAY 86400
#define T0 1700000000

/* Worked example 1 (README "Scoring"): a CDN address shared by many names.
 * www.news.example is asked 50 times in the last hour, static.shop.example 5
 * times, and 100 one-off names once each (a random-subdomain flood). */
static void test_example_cdn_shared_address(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("151.101.1.1");
	char name[64];
	for (int i = 0; i < 50; i++)
		assert_true(rv_table_observe(t, &a, "www.news.example", 1, 60, T0 + i * 72) >= 0);
	for (int i = 0; i < 5; i++)
		assert_true(rv_table_observe(t, &a, "static.shop.example", 2, 60, T0 + 100 + i * 600) >= 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "x%03d.random.example", i);
		assert_true(rv_table_observe(t, &a, name, 0, 60, T0 + 3000 + i) >= 0);
	}
	assert_string_equal(rv_table_best(t, &a), "www.news.example");
	tbl_free(&t);
}

/* Worked example 2: an address repurposed from one service to another.
 * old.service.example: 10 sightings a day for 30 days, then never again;
 * new.service.example: from then on, 5 sightings a day. */
static void test_example_repurposed_address(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("203.0.113.80");
	int64_t now = T0;
	for (int d = 0; d < 30; d++)
		for (int k = 0; k < 10; k++)
			assert_true(rv_table_observe(t, &a, "old.service.example", 0, 300,
						now = T0 + d * DAY + k * (DAY / 10)) >= 0);
	int64_t switch_at = now + DAY / 10;
	int switched_after = -1;
	for (int h = 0; h < 10 * 24; h++) {
		/* 5 a day: one every 4.8 h */
		int64_t ts = switch_at + h * 3600;
		if (h % 5 == 0)
			assert_true(rv_table_observe(t, &a, "new.service.example", 0, 300, ts) >= 0);
		if (switched_after < 0 && strcmp(rv_table_best(t, &a), "new.service.example") == 0)
			switched_after = h;
	}
	/* Pinned: the new name takes over 35 hours after the switch, at its 8th
	 * sighting: the old name's steady-state frequency (14.9) has decayed to 5.07
	 * while the new one has built up to 5.09. */
	assert_int_equal(switched_after, 35);
	assert_string_equal(rv_table_best(t, &a), "new.service.example");
	tbl_free(&t);
}

/* Worked example 3: a one-off name is published when it is all we know, and
 * yields to any name that is seen again. */
static void test_example_one_off_name(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("198.51.100.9");
	assert_int_equal(rv_table_observe(t, &a, "k3j4h5.tracker.example", 0, 60, T0), 1);
	assert_string_equal(rv_table_best(t, &a), "k3j4h5.tracker.example");
	/* Still queued from the first sighting (not yet written): coalesced, 0. */
	assert_int_equal(rv_table_observe(t, &a, "mail.example.org", 0, 60, T0 + 3600), 0);
	/* Two one-sighting names: the more recent wins. */
	assert_string_equal(rv_table_best(t, &a), "mail.example.org");
	assert_true(rv_table_observe(t, &a, "k3j4h5.tracker.example", 0, 60, T0 + 3601) >= 0);
	assert_string_equal(rv_table_best(t, &a), "k3j4h5.tracker.example");
	assert_true(rv_table_observe(t, &a, "mail.example.org", 0, 60, T0 + 7200) >= 0);
	assert_true(rv_table_observe(t, &a, "mail.example.org", 0, 60, T0 + 7201) >= 0);
	assert_string_equal(rv_table_best(t, &a), "mail.example.org");
	tbl_free(&t);
}

/* The depth bonus: at equal use, the name reached through a CNAME chain (the
 * service name a user typed) beats the CDN host name asked directly. */
static void test_depth_bonus(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("192.0.2.44");
	assert_true(rv_table_observe(t, &a, "e1234.cdn.example", 0, 60, T0 + 10) >= 0);
	assert_true(rv_table_observe(t, &a, "www.shop.example", 2, 60, T0) >= 0);
	assert_string_equal(rv_table_best(t, &a), "www.shop.example");
	rv_table_opts o = {.half_life_s = DAY, .depth_weight = 0.25};
	rv_candidate c = {.freq = 4.0, .last = T0, .depth = 2};
	/* 4 * 2^0.25 = 4.757 (one link counts, however long the chain); a day
	 * later half of it. Before the threat model it was 4 * 2^(0.25*2). */
	assert_true(fabs(rv_table_score(&o, &c, T0) - 4.75683) < 1e-4);
	assert_true(fabs(rv_table_score(&o, &c, T0 + DAY) - 2.37841) < 1e-4);
	c.depth = 16;
	assert_true(fabs(rv_table_score(&o, &c, T0) - 4.75683) < 1e-4);
	tbl_free(&t);
}

/* Attack 1 (README "Scoring: threat model"): the answer's owner chooses the
 * chain. One lookup of l0.evil.test, a 10-CNAME chain ending at the same
 * address, used to beat 5 real lookups of www.example.test (2^(0.25*10) =
 * 5.66 > 5). The depth bonus now counts one link: 1.19 < 5. */
static void test_attack_long_chain(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("192.0.2.10"), client = A("10.0.0.5");
	for (int i = 0; i < 5; i++)
		assert_true(rv_table_observe_from(t, &a, "www.example.test", 0, 60, T0 + i * 60,
					&client) >= 0);
	assert_true(rv_table_observe_from(t, &a, "l0.evil.test", 10, 60, T0 + 400, &client) >= 0);
	assert_string_equal(rv_table_best(t, &a), "www.example.test");
	tbl_free(&t);
}

/* Attack 2: one local client repeats (or scripts) lookups of a name to pin it
 * on an address that many clients use under another name. 1,000 lookups from
 * one client weigh at most RV_SCORE_PER_CLIENT (8); 12 clients asking 3 times
 * each weigh their full 36. */
static void test_attack_one_noisy_client(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("192.0.2.20"), noisy = A("10.0.0.66");
	char cl[32];
	for (int c = 0; c < 12; c++) {
		snprintf(cl, sizeof(cl), "10.1.0.%d", c + 1);
		rv_addr client = A(cl);
		for (int k = 0; k < 3; k++)
			assert_true(rv_table_observe_from(t, &a, "intranet.example", 0, 60,
						T0 + c * 10 + k, &client) >= 0);
	}
	for (int i = 0; i < 1000; i++)
		assert_true(rv_table_observe_from(t, &a, "pinned.evil.test", 0, 60, T0 + 200 + i,
					&noisy) >= 0);
	assert_string_equal(rv_table_best(t, &a), "intranet.example");
	/* ...but the same client on its own still gets its answer: a name only one
	 * client asks for is published when it is all there is. */
	rv_addr b = A("192.0.2.21");
	for (int i = 0; i < 50; i++)
		assert_true(rv_table_observe_from(t, &b, "solo.example", 0, 60, T0 + i, &noisy) >= 0);
	assert_string_equal(rv_table_best(t, &b), "solo.example");
	tbl_free(&t);
}

struct find_ctx {
	rv_addr addr;
	uint64_t count;
};

static int find_cb(void *arg, const rv_addr *addr, const rv_candidate *c, unsigned n)
{
	struct find_ctx *f = arg;
	if (!rv_addr_equal(addr, &f->addr))
		return 0;
	for (unsigned i = 0; i < n; i++)
		f->count += c[i].count;
	return 1;
}

/* Attack 3: a flood of one-off addresses used to evict popular ones (plain
 * LRU). The review's numbers: max-addresses 10,000, 100,000 one-off addresses,
 * a popular address seen once every 11,000 of them (so plain LRU evicted it
 * between two sightings and it lost its whole history). Now addresses seen more
 * than once live in a protected segment and one-offs are evicted first. */
static void test_attack_one_off_flood(void **state)
{
	(void)state;
	rv_table *t = mk(10000, 4);
	rv_addr pop = A("192.0.2.30");
	for (int i = 0; i < 3; i++)
		assert_true(rv_table_observe(t, &pop, "popular.example", 0, 60, T0 + i) >= 0);
	char an[32], nm[64];
	int seen = 3;
	for (int i = 0; i < 100000; i++) {
		snprintf(an, sizeof(an), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		snprintf(nm, sizeof(nm), "x%d.oneoff.example", i);
		rv_addr x = A(an);
		assert_true(rv_table_observe(t, &x, nm, 0, 60, T0 + 10 + i) >= 0);
		if (i % 11000 == 10999) {
			assert_true(rv_table_observe(t, &pop, "popular.example", 0, 60, T0 + 10 + i) >= 0);
			seen++;
		}
	}
	assert_int_equal(rv_table_size(t), 10000);
	assert_string_equal(rv_table_best(t, &pop), "popular.example");
	/* its whole history, not a fresh entry */
	struct find_ctx f = {.addr = pop};
	assert_int_equal(rv_table_foreach(t, find_cb, &f), 1);
	assert_int_equal(f.count, seen);
	assert_int_equal(seen, 3 + 9);
	tbl_free(&t);
}

/* Deterministic ties: same count, same time, same depth -> smaller name. */
static void test_deterministic_ties(void **state)
{
	(void)state;
	rv_table *t = mk(100, 8);
	rv_addr a = A("192.0.2.45");
	assert_true(rv_table_observe(t, &a, "b.example", 0, 60, T0) >= 0);
	assert_true(rv_table_observe(t, &a, "a.example", 0, 60, T0) >= 0);
	assert_string_equal(rv_table_best(t, &a), "a.example");
	tbl_free(&t);
}

static int pop_all(rv_table *t, rv_change *out, int max)
{
	int n = 0;
	while (n < max && tbl_pop(t, &out[n]) == 0)
		n++;
	return n;
}

/* An evicted address the RPZ holds is queued for removal; one it never held is not. */
static void test_eviction_queues_removal(void **state)
{
	(void)state;
	rv_table *t = mk(2, 2);
	rv_addr a = A("10.9.0.1"), b = A("10.9.0.2"), c = A("10.9.0.3");
	rv_change ch[8];
	assert_int_equal(rv_table_observe(t, &a, "a", 0, 60, 1), 1);
	assert_int_equal(rv_table_observe(t, &b, "b", 0, 60, 2), 1);
	assert_int_equal(pop_all(t, ch, 8), 2);
	rv_table_committed(t, &ch[0]);
	rv_table_committed(t, &ch[1]);
	assert_int_equal(rv_table_observe(t, &c, "c", 0, 60, 3), 1); /* evicts a */
	assert_null(rv_table_best(t, &a));
	int n = pop_all(t, ch, 8);
	assert_int_equal(n, 2);
	assert_true(ch[0].remove);
	assert_true(rv_addr_equal(&ch[0].addr, &a));
	assert_false(ch[1].remove);
	assert_string_equal(ch[1].name, "c");
	/* A failed removal is retried. */
	rv_table_requeue(t, &ch[0]);
	assert_int_equal(pop_all(t, ch, 8), 1);
	assert_true(ch[0].remove);
	tbl_free(&t);
}

/* A removal is dropped when the address comes back before it is sent: the new
 * entry's write replaces the records. */
static void test_removal_cancelled_by_return(void **state)
{
	(void)state;
	rv_table *t = mk(1, 2);
	rv_addr a = A("10.9.1.1"), b = A("10.9.1.2");
	rv_change ch[8];
	assert_int_equal(rv_table_observe(t, &a, "a", 0, 60, 1), 1);
	assert_int_equal(pop_all(t, ch, 8), 1);
	rv_table_committed(t, &ch[0]);
	assert_int_equal(rv_table_observe(t, &b, "b", 0, 60, 2), 1); /* evicts a */
	assert_int_equal(rv_table_observe(t, &a, "a2", 0, 60, 3), 1); /* evicts b, a is back */
	int n = pop_all(t, ch, 8);
	assert_int_equal(n, 1);
	assert_false(ch[0].remove);
	assert_string_equal(ch[0].name, "a2");
	tbl_free(&t);
}

static void test_expiry(void **state)
{
	(void)state;
	rv_table *t = mk(100, 2);
	rv_addr a = A("10.8.0.1"), b = A("10.8.0.2"), c = A("10.8.0.3");
	rv_change ch[8];
	assert_int_equal(rv_table_observe(t, &a, "a", 0, 60, T0), 1);
	assert_int_equal(rv_table_observe(t, &b, "b", 0, 60, T0 + 5 * DAY), 1);
	assert_int_equal(rv_table_observe(t, &c, "c", 0, 60, T0 + 8 * DAY), 1);
	assert_int_equal(pop_all(t, ch, 8), 3);
	for (int i = 0; i < 3; i++)
		rv_table_committed(t, &ch[i]);
	/* max-idle 7 days, now = T0 + 10 days: a and b are idle for more than that? b 5 days: no. */
	assert_int_equal(rv_table_expire(t, T0 + 10 * DAY - 7 * DAY), 1);
	assert_int_equal(rv_table_size(t), 2);
	assert_null(rv_table_best(t, &a));
	assert_int_equal(pop_all(t, ch, 8), 1);
	assert_true(ch[0].remove);
	assert_true(rv_addr_equal(&ch[0].addr, &a));
	assert_int_equal(rv_table_expire(t, T0 + 20 * DAY), 2);
	assert_int_equal(rv_table_size(t), 0);
	assert_int_equal(pop_all(t, ch, 8), 2);
	tbl_free(&t);
}

/* TXT refresh: unchanged best name is rewritten only when its numbers moved
 * materially (count doubled, or last seen moved by txt_refresh_s). */
static void test_txt_refresh(void **state)
{
	(void)state;
	rv_table_opts o = {.max_addresses = 10, .max_candidates = 4, .half_life_s = DAY,
			   .depth_weight = 0.25, .txt_refresh_s = 3600, .txt_refresh_ratio = 2.0};
	rv_table *t = tbl_new(&o);
	rv_addr a = A("10.7.0.1");
	rv_change ch[4];
	assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0), 1);
	assert_int_equal(pop_all(t, ch, 4), 1);
	rv_table_committed(t, &ch[0]); /* count 1 */
	assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0 + 1), 1); /* count 2 = 2x */
	assert_int_equal(pop_all(t, ch, 4), 1);
	assert_int_equal(ch[0].count, 2);
	rv_table_committed(t, &ch[0]);
	assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0 + 2), 0); /* 3 < 4 */
	assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0 + 3), 1); /* 4 = 2x */
	assert_int_equal(pop_all(t, ch, 4), 1);
	rv_table_committed(t, &ch[0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0 + 10 + i), 0);
	/* An hour after the last write's `last`: refresh. */
	assert_int_equal(rv_table_observe(t, &a, "n", 0, 60, T0 + 3 + 3600), 1);
	tbl_free(&t);
}

struct collected {
	int n;
	rv_addr addrs[8];
	unsigned ncands[8];
	char first_name[8][64];
	uint64_t count0[8];
};

static int collect_cb(void *arg, const rv_addr *addr, const rv_candidate *c, unsigned n)
{
	struct collected *col = arg;
	col->addrs[col->n] = *addr;
	col->ncands[col->n] = n;
	snprintf(col->first_name[col->n], 64, "%s", c[0].name);
	col->count0[col->n] = c[0].count;
	col->n++;
	return 0;
}

/* foreach visits the addresses seen once (least recent first), then those seen
 * again (the protected segment, least recent first); restore rebuilds the same
 * entries, in the same segments, not queued. */
static void test_foreach_restore(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr a = A("10.6.0.1"), b = A("2001:db8::6");
	assert_int_equal(rv_table_observe(t, &a, "a1", 0, 60, T0), 1);
	assert_int_equal(rv_table_observe(t, &a, "a1", 0, 60, T0 + 1), 0);
	assert_true(rv_table_observe(t, &a, "a2", 1, 60, T0 + 2) >= 0);
	assert_int_equal(rv_table_observe(t, &b, "b1", 0, 60, T0 + 3), 1);
	struct collected col = {0};
	assert_int_equal(rv_table_foreach(t, collect_cb, &col), 0);
	assert_int_equal(col.n, 2);
	assert_true(rv_addr_equal(&col.addrs[0], &b));
	assert_true(rv_addr_equal(&col.addrs[1], &a));
	assert_int_equal(col.ncands[1], 2);
	assert_string_equal(col.first_name[1], "a1");
	assert_int_equal(col.count0[1], 2);

	rv_table *t2 = mk(100, 4);
	rv_candidate cands[2] = {
		{.name = "a1", .first = T0, .last = T0 + 1, .count = 2, .freq = 2.0, .depth = 0},
		{.name = "a2", .first = T0 + 2, .last = T0 + 2, .count = 1, .freq = 1.0, .depth = 1},
	};
	assert_int_equal(rv_table_restore(t2, &a, cands, 2), 0);
	assert_string_equal(rv_table_best(t2, &a), rv_table_best(t, &a));
	assert_int_equal(tbl_queued(t2), 0);
	assert_int_equal(rv_table_restore(t2, &a, cands, 0), -EINVAL);
	tbl_free(&t);
	tbl_free(&t2);
}

static void test_reconcile(void **state)
{
	(void)state;
	rv_table *t = mk(100, 4);
	rv_addr same = A("10.5.0.1"), other = A("10.5.0.2"), missing = A("10.5.0.3");
	rv_addr foreign = A("10.5.0.4"), adopt = A("10.5.0.5");
	rv_candidate meta = {.first = T0 - 100, .last = T0 - 10, .count = 7, .depth = 1};
	rv_change ch[8];
	assert_int_equal(rv_table_observe(t, &same, "same", 0, 60, T0), 1);
	assert_int_equal(rv_table_observe(t, &other, "mine", 0, 60, T0), 1);
	assert_int_equal(rv_table_observe(t, &missing, "gone", 0, 60, T0), 1);
	while (tbl_pop(t, &ch[0]) == 0)
		; /* pretend nothing was written yet: reconcile decides */

	rv_table_reconcile_begin(t);
	assert_int_equal(rv_table_reconcile_record(t, &same, "same", &meta, true, T0), RV_RECONCILE_MATCH);
	/* At start the zone's record (7 sightings, depth 1) joins the table's
	 * knowledge before the names are compared: one sighting of "mine",
	 * learned while the zone was unread, does not replace that history. */
	assert_int_equal(rv_table_reconcile_record(t, &other, "theirs", &meta, true, T0), RV_RECONCILE_MATCH);
	assert_string_equal(rv_table_best(t, &other), "theirs");
	assert_int_equal(rv_table_reconcile_record(t, &adopt, "adopted", &meta, true, T0), RV_RECONCILE_ADOPTED);
	assert_int_equal(rv_table_reconcile_end(t), 1); /* "gone" */
	assert_string_equal(rv_table_best(t, &adopt), "adopted");
	int n = pop_all(t, ch, 8);
	assert_int_equal(n, 1);
	assert_string_equal(ch[0].name, "gone");
	/* ...and the merged candidate carries the zone's count */
	struct find_ctx f = {.addr = other};
	assert_int_equal(rv_table_foreach(t, find_cb, &f), 1);
	assert_int_equal(f.count, 7 + 1);

	/* Drift repair (not at start): the table is the truth and wins. */
	rv_table_reconcile_begin(t);
	assert_int_equal(rv_table_reconcile_record(t, &same, "hand.edited", &meta, false, T0),
			 RV_RECONCILE_REWRITE);
	n = pop_all(t, ch, 8);
	assert_true(n >= 1);
	assert_string_equal(ch[0].name, "same");

	/* Periodic drift repair: unknown records are removed, not adopted. */
	rv_table_reconcile_begin(t);
	assert_int_equal(rv_table_reconcile_record(t, &foreign, "hand.edit", NULL, false, T0),
			 RV_RECONCILE_REMOVE);
	n = pop_all(t, ch, 8);
	assert_true(n >= 1);
	assert_true(ch[0].remove);
	assert_true(rv_addr_equal(&ch[0].addr, &foreign));
	tbl_free(&t);
}

/* Names are interned: a million addresses behind one name store it once. */
static void test_interning(void **state)
{
	(void)state;
	rv_table *t = mk(1000, 4);
	char buf[32];
	for (int i = 0; i < 500; i++) {
		rv_addr a;
		snprintf(buf, sizeof(buf), "10.4.%d.%d", i / 256, i % 256);
		a = A(buf);
		assert_int_equal(rv_table_observe(t, &a, "shared.example", 0, 60, T0), 1);
	}
	size_t bytes = 0;
	assert_int_equal(rv_table_names(t, &bytes), 1);
	assert_int_equal(bytes, strlen("shared.example") + 1);
	tbl_free(&t);
}

/* rv_table_prefetch is only a hint: observes that were never announced,
 * announcements never observed (more than the ring holds), and an observe
 * of other addresses than the one announced all leave the table exactly as
 * plain observes do. */
static void test_prefetch_is_only_a_hint(void **state)
{
	(void)state;
	rv_table *t = mk(1000, 4), *ref = mk(1000, 4);
	rv_addr a[3] = {A("192.0.2.1"), A("192.0.2.2"), A("2001:db8::3")};
	rv_addr b[2] = {A("192.0.2.9"), A("192.0.2.1")};
	size_t nf = 0;

	/* Announced more often than the ring holds, never observed. */
	for (int i = 0; i < 2 * RV_TABLE_AHEAD + 3; i++)
		rv_table_prefetch(t, a, 3);
	/* Announced a, observed b (another array): b's own hashes are used. */
	rv_table_prefetch(t, a, 3);
	assert_true(rv_table_observe_addrs(t, b, 2, "b.example", 0, 60, 1000, NULL, &nf) >= 0);
	assert_true(rv_table_observe_addrs(ref, b, 2, "b.example", 0, 60, 1000, NULL, &nf) >= 0);
	/* Announced, then observed in order. */
	rv_table_prefetch(t, b, 2);
	assert_true(rv_table_observe_addrs(t, a, 3, "a.example", 0, 60, 1001, NULL, &nf) >= 0);
	assert_true(rv_table_observe_addrs(t, b, 2, "b.example", 0, 60, 1002, NULL, &nf) >= 0);
	assert_true(rv_table_observe_addrs(ref, a, 3, "a.example", 0, 60, 1001, NULL, &nf) >= 0);
	assert_true(rv_table_observe_addrs(ref, b, 2, "b.example", 0, 60, 1002, NULL, &nf) >= 0);
	assert_int_equal(rv_table_size(t), 4);
	assert_int_equal(rv_table_size(ref), 4);
	for (size_t i = 0; i < 3; i++) {
		rv_change c, r;
		assert_int_equal(rv_table_describe(t, &a[i], &c), 0);
		assert_int_equal(rv_table_describe(ref, &a[i], &r), 0);
		assert_string_equal(c.name, r.name);
		assert_int_equal(c.count, r.count);
	}
	assert_string_equal(rv_table_best(t, &b[0]), "b.example");
	rv_change c;
	assert_int_equal(rv_table_describe(t, &b[1], &c), 0);
	assert_int_equal(c.count, 2);
	rv_table_free(&t);
	rv_table_free(&ref);
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
		cmocka_unit_test(test_example_cdn_shared_address),
		cmocka_unit_test(test_example_repurposed_address),
		cmocka_unit_test(test_example_one_off_name),
		cmocka_unit_test(test_depth_bonus),
		cmocka_unit_test(test_attack_long_chain),
		cmocka_unit_test(test_attack_one_noisy_client),
		cmocka_unit_test(test_attack_one_off_flood),
		cmocka_unit_test(test_deterministic_ties),
		cmocka_unit_test(test_eviction_queues_removal),
		cmocka_unit_test(test_removal_cancelled_by_return),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_txt_refresh),
		cmocka_unit_test(test_foreach_restore),
		cmocka_unit_test(test_reconcile),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_absent_only_when_known),
		cmocka_unit_test(test_prefetch_is_only_a_hint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
