/*
 * test_rpz_hot.c - the hot zone's mover (rpz_hot.h) with the real table,
 * publisher and writers, against an in-process DNS server that applies every
 * UPDATE to a model of both zones (parsed with ldns). What is checked is what
 * a reader of the xray view would see: for each address, the hot zone's
 * record if there is one, else the main zone's, must be the table's best
 * name, whatever happens during a move. tests/integration/hot.sh runs the same
 * against real named.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>

#include "log.h"
#include "publish.h"
#include "rpz.h"
#include "rpz_hot.h"
#include "rv_test.h"
#include "stats.h"
#include "table.h"
#include "update_srv.h"

static const rv_tsig_key test_key = {
	.name = "rearview-key.",
	.algorithm = "hmac-sha256.",
	.secret = "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=",
};

#define HOT "hot.rpz.example"
#define MAIN "rpz.example"
#define REC_MAX 512

/* One owner of one zone, as the server holds it. */
struct rec {
	bool used;
	bool hot;
	char owner[128];     /* "4.3.2.1.in-addr.arpa", the zone's suffix removed */
	char ptr[256];       /* "" = no PTR */
	char txt[256];       /* "" = no TXT */
};

struct srv {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	struct bufferevent *conns[64];
	unsigned nconns;
	struct rec recs[REC_MAX];
	unsigned updates[2];        /* UPDATEs received: [0] main, [1] hot */
	unsigned deletes_hot;       /* owners whose PTR the hot zone lost */
	bool refuse_main;           /* answer UPDATEs of the main zone REFUSED */
	unsigned refused;
};

static struct srv S;

static struct rec *find(bool hot, const char *owner, bool create)
{
	struct rec *free_slot = NULL;
	for (size_t i = 0; i < REC_MAX; i++) {
		struct rec *r = &S.recs[i];
		if (!r->used) {
			if (!free_slot)
				free_slot = r;
			continue;
		}
		if (r->hot == hot && strcmp(r->owner, owner) == 0)
			return r;
	}
	if (!create)
		return NULL;
	assert_non_null(free_slot);
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->hot = hot;
	snprintf(free_slot->owner, sizeof(free_slot->owner), "%s", owner);
	return free_slot;
}

static void rdf_text(const ldns_rdf *rd, char *out, size_t len)
{
	char *s = ldns_rdf2str(rd);
	assert_non_null(s);
	snprintf(out, len, "%s", s);
	free(s);
}

/* Applies one UPDATE (RFC 2136 2.5: class IN adds, class ANY deletes an RRset). */
static void apply(const ldns_pkt *req)
{
	char zone[256], owner[256];
	rdf_text(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(req), 0)), zone, sizeof(zone));
	bool hot = strcmp(zone, HOT ".") == 0;
	assert_true(hot || strcmp(zone, MAIN ".") == 0);
	S.updates[hot]++;
	ldns_rr_list *up = ldns_pkt_authority(req);
	for (size_t i = 0; i < ldns_rr_list_rr_count(up); i++) {
		ldns_rr *rr = ldns_rr_list_rr(up, i);
		rdf_text(ldns_rr_owner(rr), owner, sizeof(owner));
		size_t ol = strlen(owner), zl = strlen(zone);
		assert_true(ol > zl + 1 && strcmp(owner + ol - zl, zone) == 0);
		owner[ol - zl - 1] = '\0';
		ldns_rr_type t = ldns_rr_get_type(rr);
		assert_true(t == LDNS_RR_TYPE_PTR || t == LDNS_RR_TYPE_TXT);
		struct rec *r = find(hot, owner, ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN);
		if (ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN) {
			char *field = t == LDNS_RR_TYPE_PTR ? r->ptr : r->txt;
			rdf_text(ldns_rr_rdf(rr, 0), field, sizeof(r->ptr));
		} else if (r) {
			if (t == LDNS_RR_TYPE_PTR && r->ptr[0] && hot)
				S.deletes_hot++;
			(t == LDNS_RR_TYPE_PTR ? r->ptr : r->txt)[0] = '\0';
			if (!r->ptr[0] && !r->txt[0])
				r->used = false;
		}
	}
}

static void srv_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	ldns_pkt *req;
	size_t len;

	while ((req = update_srv_take(in, &test_key, &len)) != NULL) {
		char zone[256];
		rdf_text(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(req), 0)), zone,
			 sizeof(zone));
		bool refuse = S.refuse_main && strcmp(zone, MAIN ".") == 0;
		if (refuse)
			S.refused++;
		else
			apply(req);
		uint8_t *frame = update_srv_reply(req, &test_key,
				refuse ? LDNS_RCODE_REFUSED : LDNS_RCODE_NOERROR, &len);
		bufferevent_write(bev, frame, len);
		free(frame);
		ldns_pkt_free(req);
	}
}

static void srv_event(struct bufferevent *bev, short events, void *arg)
{
	(void)arg;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		for (unsigned i = 0; i < S.nconns; i++)
			if (S.conns[i] == bev)
				S.conns[i] = NULL;
		bufferevent_free(bev);
	}
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	struct bufferevent *bev = bufferevent_socket_new(S.base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	unsigned i = 0;
	while (i < S.nconns && S.conns[i] != NULL)   /* a closed one's slot first */
		i++;
	assert_true(i < RV_ARRAY_LEN(S.conns));
	S.conns[i] = bev;
	if (i == S.nconns)
		S.nconns++;
	bufferevent_setcb(bev, srv_read, NULL, srv_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- the agent's side ---- */

struct rig {
	struct event_base *base;
	rv_table *table;
	rv_publisher *pub;
	rv_hot *hot;
	rv_rpz_writer *w;
	int64_t now;
};

static void kick(void *arg)
{
	rv_rpz_writer_kick(arg);
}

static void rig_new(struct rig *g, size_t max_addresses)
{
	memset(g, 0, sizeof(*g));
	memset(&S, 0, sizeof(S));
	g->base = event_base_new();
	assert_non_null(g->base);
	S.base = g->base;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S.lis = evconnlistener_new_bind(g->base, srv_accept, NULL,
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin,
			sizeof(sin));
	assert_non_null(S.lis);
	socklen_t sl = sizeof(sin);
	getsockname(evconnlistener_get_fd(S.lis), (struct sockaddr *)&sin, &sl);
	S.port = ntohs(sin.sin_port);

	rv_table_opts to = {
		.max_addresses = max_addresses, .max_candidates = 8, .half_life_s = 86400,
		.depth_weight = 0.25, .txt_refresh_s = 0, .txt_refresh_ratio = 2.0,
	};
	g->table = rv_table_new(&to);
	assert_non_null(g->table);
	g->pub = rv_publisher_new(g->base, g->table);
	assert_non_null(g->pub);
	rv_rpz_writer_opts wo = {
		.server = "127.0.0.1", .port = S.port, .zone = MAIN, .ttl = 600,
		.flush_interval_ms = 10, .batch_bytes = 4096, .timeout_ms = rv_test_ms(2000),
		.retry_min_ms = 10, .retry_max_ms = 40,
	};
	/* No timer-driven moves: the test starts each one. */
	rv_hot_opts ho = { .move_interval_ms = 0, .max_addresses = 1000000 };
	int err = 0;
	g->hot = rv_hot_new(g->base, &ho, g->table, rv_publisher_feed(g->pub), &wo, &test_key, &err);
	assert_non_null(g->hot);
	wo.zone = HOT;
	g->w = rv_rpz_writer_new(g->base, &wo, &test_key, rv_hot_feed(g->hot), &err);
	assert_non_null(g->w);
	rv_hot_set_hot_writer(g->hot, g->w);
	rv_publisher_set_sender(g->pub, kick, g->w);
	g->now = 1800000000;
}

static void rig_free(struct rig *g)
{
	rv_rpz_writer_free(&g->w);
	rv_hot_free(&g->hot);
	rv_publisher_free(&g->pub);
	rv_table_free(&g->table);
	for (unsigned i = 0; i < S.nconns; i++)
		if (S.conns[i])
			bufferevent_free(S.conns[i]);
	evconnlistener_free(S.lis);
	event_base_free(g->base);
}

static bool settled(const struct rig *g)
{
	return rv_rpz_writer_idle(g->w) && rv_rpz_writer_idle(rv_hot_main_writer(g->hot)) &&
		!rv_hot_moving(g->hot) && rv_publisher_queued(g->pub) == 0;
}

/* Runs the loop until nothing is queued, in flight or moving. */
static void run(struct rig *g)
{
	struct timespec t0, t;
	unsigned limit = rv_test_ms(5000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A few turns first: the publisher's kick is a deferred event. */
	for (int i = 0; i < 5; i++)
		event_base_loop(g->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	while (!settled(g)) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((unsigned)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000) > limit)
			fail_msg("not settled after %u ms (moving %d, queued %zu)", limit,
				 rv_hot_moving(g->hot), rv_publisher_queued(g->pub));
		event_base_loop(g->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
	for (int i = 0; i < 5; i++)
		event_base_loop(g->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static rv_addr addr_of(unsigned i)
{
	rv_addr a;
	char s[32];
	snprintf(s, sizeof(s), "10.0.%u.%u", i / 256, i % 256);
	assert_int_equal(rv_addr_parse(s, &a), 0);
	return a;
}

static void owner_of(unsigned i, char *out, size_t len)
{
	snprintf(out, len, "%u.%u.0.10.in-addr.arpa.", i % 256, i / 256);
}

static void see(struct rig *g, unsigned i, const char *name, unsigned times)
{
	rv_addr a = addr_of(i);
	for (unsigned k = 0; k < times; k++) {
		rv_addr client;
		char c[32];
		snprintf(c, sizeof(c), "192.0.2.%u", k % 200 + 1);
		assert_int_equal(rv_addr_parse(c, &client), 0);
		assert_true(rv_table_observe_from(g->table, &a, name, 0, 300, g->now, &client) >= 0);
	}
}

/* Addresses 0..n-1, each seen once as "n<i>.example". */
static void see_first(struct rig *g, unsigned n)
{
	char name[64];
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "n%u.example", i);
		see(g, i, name, 1);
	}
}

/* What the xray view answers for address i: the hot zone first. */
static const struct rec *answer(unsigned i)
{
	char o[128];
	owner_of(i, o, sizeof(o));
	o[strlen(o) - 1] = '\0';
	const struct rec *r = find(true, o, false);
	return r && r->ptr[0] ? r : find(false, o, false);
}

static void dump(void)
{
	for (size_t i = 0; i < REC_MAX; i++)
		if (S.recs[i].used)
			fprintf(stderr, "# %s %s PTR %s TXT %s\n", S.recs[i].hot ? "hot" : "main",
				S.recs[i].owner, S.recs[i].ptr, S.recs[i].txt);
}

static unsigned zone_size(bool hot)
{
	unsigned n = 0;
	for (size_t i = 0; i < REC_MAX; i++)
		n += S.recs[i].used && S.recs[i].hot == hot;
	return n;
}

/* Every address of [0, n) is answered with the table's best name. */
static void assert_answers(struct rig *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		rv_addr a = addr_of(i);
		const char *best = rv_table_best(g->table, &a);
		const struct rec *r = answer(i);
		if (!best) {
			if (r)
				fail_msg("address %u: not in the table, answered %s", i, r->ptr);
			continue;
		}
		if (!r)
			fail_msg("address %u: no answer, want %s", i, best);
		char want[300];
		snprintf(want, sizeof(want), "%s.", best);
		if (strcmp(r->ptr, want) != 0)
			fail_msg("address %u: answered %s from the %s zone, want %s", i, r->ptr,
				 r->hot ? "hot" : "main", want);
	}
}

static void test_move(void **state)
{
	(void)state;
	struct rig g;
	rig_new(&g, 1000);

	see_first(&g, 50);
	run(&g);
	assert_int_equal(zone_size(true), 50);
	assert_int_equal(zone_size(false), 0);
	assert_int_equal(S.updates[0], 0);
	assert_answers(&g, 50);
	assert_int_equal(rv_hot_size(g.hot), 50);

	/* A move, and during it a new best name for address 1: the hot copy
	 * of address 1 was written after the move began, so it must stay. */
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	assert_int_equal(rv_hot_move_now(g.hot), -EALREADY);
	see(&g, 1, "new1.example", 5);
	run(&g);
	assert_int_equal(rv_hot_moves(g.hot), 1);
	assert_int_equal(zone_size(false), 50);
	if (zone_size(true) != 1)
		dump();
	assert_int_equal(zone_size(true), 1);
	char o[128];
	owner_of(1, o, sizeof(o));
	o[strlen(o) - 1] = '\0';
	const struct rec *r = find(true, o, false);
	assert_non_null(r);
	assert_string_equal(r->ptr, "new1.example.");
	assert_answers(&g, 50);
	/* 49 hot copies deleted by the move, plus the replace (delete, add) that
	 * wrote address 1's new name. */
	assert_int_equal(S.deletes_hot, 50);

	/* The next move takes address 1 too: the main zone holds everything. */
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	assert_int_equal(zone_size(true), 0);
	assert_int_equal(zone_size(false), 50);
	assert_answers(&g, 50);
	rig_free(&g);
}

/* A TXT refresh (same name, count doubled) of an address only the main zone
 * holds is not written into the hot zone; the next move rewrites its TXT in
 * the main zone with the count the table has then. */
static void test_refresh_deferred(void **state)
{
	(void)state;
	struct rig g;
	rig_new(&g, 1000);
	see(&g, 2, "n2.example", 1);
	see(&g, 3, "n3.example", 1);
	run(&g);
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	assert_int_equal(zone_size(true), 0);
	unsigned hot_updates = S.updates[1];

	see(&g, 2, "n2.example", 10);   /* count 1 -> 11: refreshes are due */
	run(&g);
	assert_int_equal(S.updates[1], hot_updates);   /* nothing written to the hot zone */
	assert_int_equal(zone_size(true), 0);
	const struct rec *r = answer(2);
	assert_non_null(r);
	assert_non_null(strstr(r->txt, "count=1 "));  /* the main zone: the old count still */

	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	r = answer(2);
	assert_non_null(r);
	assert_false(r->hot);
	if (!strstr(r->txt, "count=11 "))
		fail_msg("after the move the TXT should say count=11: %s", r->txt);
	assert_answers(&g, 4);
	rig_free(&g);
}

/* An address that leaves the table (evicted by max-addresses) leaves the
 * hot zone at once and the main zone at the next move. */
static void test_removal(void **state)
{
	(void)state;
	struct rig g;
	rig_new(&g, 10);
	see_first(&g, 10);
	run(&g);
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	assert_int_equal(zone_size(false), 10);
	assert_int_equal(zone_size(true), 0);

	see(&g, 10, "n10.example", 1);   /* evicts the least recently seen: address 0 */
	run(&g);
	assert_int_equal(rv_table_size(g.table), 10);
	assert_int_equal(rv_hot_owed(g.hot), 1);
	/* Until the move the main zone still answers for address 0. */
	assert_non_null(answer(0));
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	assert_int_equal(rv_hot_owed(g.hot), 0);
	assert_null(answer(0));
	assert_int_equal(zone_size(false), 10);
	assert_int_equal(zone_size(true), 0);
	assert_answers(&g, 11);
	rig_free(&g);
}

/* Runs the loop until the main zone refused n UPDATEs (fails after ms). */
static void until_refused(struct rig *g, unsigned n, unsigned ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (S.refused < n) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			fail_msg("%u UPDATEs refused after %u ms, want %u", S.refused, ms, n);
		event_base_loop(g->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
}

/* The main zone refuses the copies: no hot copy may be deleted, the move
 * waits and retries, and completes once the main zone takes them. */
static void test_main_refuses(void **state)
{
	(void)state;
	struct rig g;
	rig_new(&g, 1000);
	see_first(&g, 20);
	run(&g);
	S.refuse_main = true;
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	until_refused(&g, 3, rv_test_ms(2000));   /* tried, and retried after the backoff */
	assert_true(rv_hot_moving(g.hot));
	assert_int_equal(zone_size(true), 20);
	assert_int_equal(zone_size(false), 0);
	assert_int_equal(S.deletes_hot, 0);
	assert_true(rv_rpz_writer_failures(rv_hot_main_writer(g.hot), NULL, 0) > 0);
	assert_answers(&g, 20);

	S.refuse_main = false;
	run(&g);
	assert_int_equal(rv_hot_moves(g.hot), 1);
	assert_int_equal(zone_size(false), 20);
	assert_int_equal(zone_size(true), 0);
	assert_answers(&g, 20);
	rig_free(&g);
}

/* Shutdown: the deletions the main zone owes are sent by the drain. */
static int drained_left = -1;
static void on_drained(void *arg, size_t left)
{
	(void)arg;
	drained_left = (int)left;
}

static void test_drain_sends_owed(void **state)
{
	(void)state;
	struct rig g;
	rig_new(&g, 5);
	see_first(&g, 5);
	run(&g);
	assert_int_equal(rv_hot_move_now(g.hot), 0);
	run(&g);
	see(&g, 5, "n5.example", 1);     /* evicts address 0 */
	run(&g);
	assert_int_equal(rv_hot_owed(g.hot), 1);
	assert_non_null(answer(0));
	drained_left = -1;
	assert_int_equal(rv_hot_drain(g.hot, rv_test_ms(2000), on_drained, NULL), 0);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (drained_left < 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("drain did not finish");
		event_base_loop(g.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
	assert_int_equal(drained_left, 0);
	assert_null(answer(0));
	/* The hot copy of address 5 stays (the next start's reconcile finds it). */
	assert_non_null(answer(5));
	assert_true(answer(5)->hot);
	rig_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_refresh_deferred),
		cmocka_unit_test(test_removal),
		cmocka_unit_test(test_main_refuses),
		cmocka_unit_test(test_drain_sends_owed),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("RV_TEST_DEBUG"))
		rv_log_level = RV_LOG_DEBUG;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
