/* Unit tests for zonesync.c and the writer's hold and drain, with the real
 * table, publisher and writer on a libevent loop, against a port where nothing
 * listens (the primary is down); tests/integration/truth.sh and restarts.sh
 * run the same logic against a real named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "publish.h"
#include "rpz.h"
#include "rv_test.h"
#include "stats.h"
#include "table.h"
#include "zonesync.h"

static const rv_tsig_key key = {
	.name = "rearview-key.",
	.algorithm = "hmac-sha256.",
	.secret = "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=",
};

/* A loopback TCP port nothing listens on: bind, read the port, close. */
static uint16_t dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

struct rig {
	struct event_base *base;
	rv_table *table;
	rv_publisher *pub;
	rv_rpz_writer *writer;
	rv_zonesync *zs;
};

static void kick(void *arg)
{
	rv_rpz_writer_kick(arg);
}

static void rig_up(struct rig *r, bool write_early)
{
	rv_stats_reset();
	uint16_t port = dead_port();
	r->base = event_base_new();
	rv_table_opts to = {.max_addresses = 100, .max_candidates = 4, .half_life_s = 86400};
	r->table = rv_table_new(&to);
	r->pub = rv_publisher_new(r->base, r->table);
	rv_rpz_writer_opts wo = {
		.server = "127.0.0.1", .port = port, .zone = "rpz.example", .ttl = 600,
		.flush_interval_ms = 20, .batch_bytes = 16384, .timeout_ms = rv_test_ms(300),
		.retry_min_ms = 10, .retry_max_ms = 40,
	};
	int err = 0;
	r->writer = rv_rpz_writer_new(r->base, &wo, &key, rv_publisher_feed(r->pub), &err);
	assert_non_null(r->writer);
	rv_publisher_set_sender(r->pub, kick, r->writer);
	rv_zonesync_opts zo = {
		.server = "127.0.0.1", .port = port, .zone = "rpz.example", .key = &key,
		.timeout_ms = rv_test_ms(300), .retry_min_ms = 50, .retry_max_ms = 100,
		.write_early = write_early,
	};
	r->zs = rv_zonesync_new(r->base, &zo, r->table, r->writer, &err);
	assert_non_null(r->zs);
	rv_zonesync_start(r->zs);
}

static void rig_down(struct rig *r)
{
	rv_zonesync_free(&r->zs);
	rv_rpz_writer_free(&r->writer);
	rv_publisher_free(&r->pub);
	rv_table_free(&r->table);
	event_base_free(r->base);
}

static void run_ms(struct event_base *base, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void learn(struct rig *r, int n)
{
	char a[32];
	for (int i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "192.0.2.%d", i + 1);
		rv_addr addr;
		assert_int_equal(rv_addr_parse(a, &addr), 0);
		assert_true(rv_table_observe(r->table, &addr, "www.example", 0, 60, 1800000000) >= 0);
	}
}

/* The zone cannot be read (primary down): changes queue, nothing is sent. */
static void test_writes_wait_for_the_zone(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r, false);
	learn(&r, 5);
	/* Scaled: under valgrind on a busy machine 600 ms held one retry. */
	run_ms(r.base, rv_test_ms(600));
	assert_false(rv_zonesync_ready(r.zs));
	assert_true(rv_stats.reconcile_failures >= 2); /* retried with backoff */
	assert_int_equal(rv_stats.rpz_updates_sent, 0);
	assert_int_equal(rv_publisher_queued(r.pub), 5);
	/* Shutdown before the zone was read: freeing the zone sync keeps the
	 * writer held, so nothing is written (the snapshot keeps the changes). */
	rv_zonesync_free(&r.zs);
	run_ms(r.base, 100);
	assert_int_equal(rv_stats.rpz_updates_sent, 0);
	rig_down(&r);
}

/* write-before-reconcile yes: the writer does not wait (and here fails, since
 * nothing listens), counted as UPDATE attempts. */
static void test_write_early_does_not_wait(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r, true);
	learn(&r, 5);
	run_ms(r.base, rv_test_ms(600));
	assert_false(rv_zonesync_ready(r.zs));
	assert_true(rv_stats.rpz_updates_failed >= 1);
	rig_down(&r);
}

static void on_drained(void *arg, size_t left)
{
	size_t *out = arg;
	*out = left;
}

/* Drain at shutdown: with the primary down it gives up at the timeout and
 * says how many changes were not acknowledged. */
static void test_drain_reports_what_is_left(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r, true);
	learn(&r, 7);
	size_t left = 0;
	assert_int_equal(rv_rpz_writer_drain(r.writer, 200, on_drained, &left), 0);
	assert_int_equal(rv_rpz_writer_drain(r.writer, 200, on_drained, &left), -EALREADY);
	run_ms(r.base, rv_test_ms(600));
	assert_int_equal(left, 7);
	rig_down(&r);
}

/* Dry-run: no writer; the publisher acknowledges every change itself, so the
 * outbox stays empty and the table's bookkeeping runs as in a real run. */
static void test_dry_run_acknowledges(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	rv_table_opts to = {.max_addresses = 100, .max_candidates = 4, .half_life_s = 86400};
	rv_table *t = rv_table_new(&to);
	rv_publisher *p = rv_publisher_new(base, t);
	rv_addr a;
	assert_int_equal(rv_addr_parse("192.0.2.1", &a), 0);
	assert_int_equal(rv_table_observe(t, &a, "one.example", 0, 60, 1800000000), 1);
	assert_int_equal(rv_publisher_queued(p), 1);
	run_ms(base, 50);
	assert_int_equal(rv_publisher_queued(p), 0);
	/* acknowledged as written: the same name again needs no write */
	assert_int_equal(rv_table_observe(t, &a, "one.example", 0, 60, 1800000001), 0);
	rv_publisher_free(&p);
	rv_table_free(&t);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_wait_for_the_zone),
		cmocka_unit_test(test_write_early_does_not_wait),
		cmocka_unit_test(test_drain_reports_what_is_left),
		cmocka_unit_test(test_dry_run_acknowledges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
