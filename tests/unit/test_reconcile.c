/* Unit tests for reconcile.c: the owner-name and TXT parsers, and the AXFR
 * client against a real named on 127.0.0.1 (started here on a free high port in
 * a temp dir, stopped by PID; without named those tests are skipped, and fail
 * under scripts/test.sh, which sets RV_REQUIRE_ALL; see rv_test.h):
 * table state and counts after a startup (adopt) and a drift-repair reconcile,
 * wrong keys, no server, a silent server, and the speed of a 100k-address zone. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>

#include "dnswire.h"
#include "reconcile.h"
#include "rpz.h"
#include "table_pub.h"
#include "rv_test.h"

static rv_addr A(const char *s)
{
	rv_addr a;
	assert_int_equal(rv_addr_parse(s, &a), 0);
	return a;
}

/* ---- pure parsers ---- */

static void test_owner_to_addr(void **state)
{
	(void)state;
	rv_addr a;
	char buf[256], want[RV_ADDR_STRLEN], got[RV_ADDR_STRLEN];

	assert_int_equal(rv_rpz_owner_to_addr("4.3.2.1.in-addr.arpa.rpz.test.", "rpz.test", &a), 0);
	assert_true(rv_addr_equal(&a, &(rv_addr){0}) == false);
	rv_addr x = A("1.2.3.4");
	assert_true(rv_addr_equal(&a, &x));
	/* Either side with or without the trailing dot, any case (RFC 4343). */
	assert_int_equal(rv_rpz_owner_to_addr("4.3.2.1.IN-ADDR.ARPA.RPZ.Test", "rpz.test.", &a), 0);
	assert_true(rv_addr_equal(&a, &x));
	assert_int_equal(rv_rpz_owner_to_addr("0.0.0.0.in-addr.arpa.rpz.test", "rpz.test", &a), 0);
	assert_int_equal(rv_rpz_owner_to_addr("255.255.255.255.in-addr.arpa.rpz.test", "rpz.test",
			&a), 0);

	/* Every address rv_rpz_reverse_name writes maps back to itself. */
	static const char *const addrs[] = {"192.0.2.1", "10.0.0.0", "255.1.0.99", "2001:db8::1",
					    "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
					    "2001:db8:abcd:12::fe"};
	for (size_t i = 0; i < RV_ARRAY_LEN(addrs); i++) {
		x = A(addrs[i]);
		assert_int_equal(rv_rpz_reverse_name(&x, "rpz.example.", buf, sizeof(buf)), 0);
		assert_int_equal(rv_rpz_owner_to_addr(buf, "rpz.example", &a), 0);
		if (!rv_addr_equal(&a, &x))
			fail_msg("%s -> %s -> %s", rv_addr_str(&x, want, sizeof(want)), buf,
					rv_addr_str(&a, got, sizeof(got)));
	}
	/* Upper-case nibbles are the same owner in DNS. */
	x = A("2001:db8::abcd");
	assert_int_equal(rv_rpz_owner_to_addr(
		"D.C.B.A.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6.arpa.rpz.test",
		"rpz.test", &a), 0);
	assert_true(rv_addr_equal(&a, &x));

	static const char *const foreign[] = {
		"3.2.1.in-addr.arpa.rpz.test",          /* 3 labels */
		"5.4.3.2.1.in-addr.arpa.rpz.test",      /* 5 labels */
		"256.3.2.1.in-addr.arpa.rpz.test",      /* octet > 255 */
		"01.3.2.1.in-addr.arpa.rpz.test",       /* leading zero: another owner */
		"a.3.2.1.in-addr.arpa.rpz.test",        /* not a digit */
		"-1.3.2.1.in-addr.arpa.rpz.test",
		"1..2.1.in-addr.arpa.rpz.test",
		"1000.3.2.1.in-addr.arpa.rpz.test",
		"in-addr.arpa.rpz.test",
		"4.3.2.1.in-addr.arpa.other.test",      /* another zone */
		"4.3.2.1.in-addr.arpa.xrpz.test",       /* zone only as a string suffix */
		"4.3.2.1.in-addr.arpa",                 /* zone missing */
		"rpz.test",
		"www.example.com.rpz.test",             /* a QNAME trigger, not ours */
		"32.1.2.0.192.rpz-ip.rpz.test",         /* an IP trigger */
		"*.in-addr.arpa.rpz.test",
		"4.3.2.1.in-addr.arpa\\.rpz.test",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.ip6.arpa.rpz.test",   /* 31 */
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.2.ip6.arpa.rpz.test", /* 33 */
		"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.rpz.test",
		"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.rpz.test",
		"",
		".",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(foreign); i++)
		if (rv_rpz_owner_to_addr(foreign[i], "rpz.test", &a) != -EINVAL)
			fail_msg("accepted '%s'", foreign[i]);
}

static void test_txt_parse(void **state)
{
	(void)state;
	rv_candidate m;

	assert_int_equal(rv_rpz_txt_parse("first=1700000000 last=1700003600 count=42 depth=2 "
			"score=3.5 country=DE", &m), 0);
	assert_int_equal(m.first, 1700000000);
	assert_int_equal(m.last, 1700003600);
	assert_int_equal(m.count, 42);
	assert_int_equal(m.depth, 2);
	assert_null(m.name);
	assert_true(m.freq == 3.5);
	/* score is advisory: absent or not a plain decimal reads as 0 */
	assert_int_equal(rv_rpz_txt_parse("first=1 last=2 count=3 score=1e9", &m), 0);
	assert_true(m.freq == 0);
	assert_int_equal(rv_rpz_txt_parse("first=1 last=2 count=3", &m), 0);
	assert_true(m.freq == 0);

	/* What rv_rpz_format_txt writes parses back. */
	rv_change c = {.first = 1600000000, .last = 1600000001, .count = 7, .depth = 3,
		       .score = 1.25};
	char txt[256];
	assert_int_equal(rv_rpz_format_txt(&c, txt, sizeof(txt)), 0);
	assert_int_equal(rv_rpz_txt_parse(txt, &m), 0);
	assert_int_equal(m.first, 1600000000);
	assert_int_equal(m.last, 1600000001);
	assert_int_equal(m.count, 7);
	assert_int_equal(m.depth, 3);

	/* The reference tool's comma-separated keys, any order, unknown keys. */
	assert_int_equal(rv_rpz_txt_parse("depth=1,first=1699990000,last=1700000000,count=7,"
			"trend=12.5,update=1700000001,score=2.25", &m), 0);
	assert_int_equal(m.first, 1699990000);
	assert_int_equal(m.last, 1700000000);
	assert_int_equal(m.count, 7);
	assert_int_equal(m.depth, 1);
	/* depth optional; count 0 read as 1; a repeated key takes the last value;
	 * junk tokens skipped; fractions of seconds ignored. */
	assert_int_equal(rv_rpz_txt_parse("  count=0 first=5 last=9 first=6 hello x=y ", &m), 0);
	assert_int_equal(m.first, 6);
	assert_int_equal(m.count, 1);
	assert_int_equal(m.depth, 0);
	assert_int_equal(rv_rpz_txt_parse("first=5.5 last=9.25 count=2", &m), 0);
	assert_int_equal(m.first, 5);
	assert_int_equal(m.last, 9);
	assert_int_equal(rv_rpz_txt_parse("FIRST=1 Last=2 COUNT=3", &m), 0);
	assert_int_equal(rv_rpz_txt_parse("first=0 last=9223372036854775807 count="
			"18446744073709551615", &m), 0);
	assert_int_equal(m.count, UINT64_MAX);

	static const char *const bad[] = {
		"",
		"last=2 count=3",                    /* first missing */
		"first=1 count=3",                   /* last missing */
		"first=1 last=2",                    /* count missing */
		"first=3 last=2 count=1",            /* first after last */
		"first=-1 last=2 count=1",
		"first=x last=2 count=1",
		"first= last=2 count=1",
		"first=1e3 last=2000 count=1",
		"first=1 last=2 count=18446744073709551616",   /* overflow */
		"first=9223372036854775808 last=9223372036854775808 count=1",
		"first=1 last=2 count=1 depth=256",
		"first=1 last=2 count=1 depth=x",
		"first=1.2.3 last=2 count=1",
		"firstx=1 last=2 count=1",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++)
		if (rv_rpz_txt_parse(bad[i], &m) != -EBADMSG)
			fail_msg("accepted '%s'", bad[i]);
}

/* ---- a real named ---- */

/* Every TSIG algorithm (RFC 8945 6) named and the agent both have. */
static const char *const algs[] = {
	"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512",
};

static struct {
	bool up;
	char dir[64];
	pid_t pid;
	uint16_t port;
	rv_tsig_key key, badkey_name, badkey_secret;
	rv_tsig_key alg_keys[6];   /* key-<algs[i]>, allowed to update esc.test */
	int64_t t;                 /* base time of the preloaded metadata */
} ns;

static int sh(const char *fmt, ...) RV_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool port_free(uint16_t port)
{
	bool ok = true;
	for (int type = SOCK_STREAM; type <= SOCK_DGRAM && ok; type++) {
		int fd = socket(AF_INET, type, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* Addresses in big.test; RV_RECONCILE_BIG_N overrides (e.g. 1000000 for the
 * 1M figure; the default keeps the test well inside meson's timeout). */
static unsigned big_n = 100000;

static void write_file(const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", ns.dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* big.test: big_n addresses (3/4 IPv4, 1/4 IPv6), PTR + TXT each. */
static void write_big_zone(void)
{
	char p[256], owner[256];
	snprintf(p, sizeof(p), "%s/big.test.db", ns.dir);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "$TTL 60\n@ IN SOA localhost. admin.big.test. 1 3600 600 86400 60\n"
		   "@ IN NS localhost.\n");
	for (unsigned i = 0; i < big_n; i++) {
		rv_addr a;
		memset(&a, 0, sizeof(a));
		if (i % 4 == 3) {
			a.family = AF_INET6;
			a.bytes[0] = 0x20;
			a.bytes[1] = 0x01;
			a.bytes[2] = 0x0d;
			a.bytes[3] = 0xb8;
			a.bytes[13] = (uint8_t)(i >> 16);
			a.bytes[14] = (uint8_t)(i >> 8);
			a.bytes[15] = (uint8_t)i;
		} else {
			a.family = AF_INET;
			a.bytes[0] = 10;
			a.bytes[1] = (uint8_t)(i >> 16);
			a.bytes[2] = (uint8_t)(i >> 8);
			a.bytes[3] = (uint8_t)i;
		}
		assert_int_equal(rv_rpz_reverse_name(&a, "big.test", owner, sizeof(owner)), 0);
		fprintf(f, "%s PTR host%u.example%u.com.\n%s TXT \"first=%lld last=%lld count=%u "
			   "depth=%u score=1\"\n", owner, i, i % 100, owner,
			   (long long)(ns.t - 1000), (long long)ns.t, i % 50 + 1, i % 3);
	}
	fclose(f);
}

static int start_named(void **state)
{
	(void)state;
	char err[256], conf[8192];

	if (sh("command -v named tsig-keygen nsupdate dig >/dev/null 2>&1") != 0)
		return 0;  /* ns.up stays false: NEED_NAMED() skips or fails */
	snprintf(ns.dir, sizeof(ns.dir), "/tmp/rv-recon-XXXXXX");
	if (!mkdtemp(ns.dir))
		return -1;
	ns.t = (int64_t)time(NULL) - 3600;
	if (getenv("RV_RECONCILE_BIG_N"))
		big_n = (unsigned)strtoul(getenv("RV_RECONCILE_BIG_N"), NULL, 10);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	for (int i = 0; i < 50 && ns.port == 0; i++) {
		uint16_t p = (uint16_t)(20000 + rand() % 40000);
		if (port_free(p))
			ns.port = p;
	}
	if (ns.port == 0)
		return -1;
	/* umask 077: key files others can read are refused (tsig_key.h). */
	if (sh("cd %s && umask 077 && tsig-keygen -a hmac-sha256 rearview-key > key.conf && "
	       "tsig-keygen -a hmac-sha256 rearview-key > wrong-secret.conf && "
	       "tsig-keygen -a hmac-sha256 stranger-key > wrong-name.conf", ns.dir) != 0)
		return -1;
	/* One more key per algorithm, for esc.test (test_escapes_every_algorithm). */
	char grants[1024] = "", transfers[512] = "", includes[1024] = "";
	for (size_t i = 0; i < RV_ARRAY_LEN(algs); i++) {
		char kp2[256], err2[256];
		if (sh("cd %s && umask 077 && tsig-keygen -a %s key-%s > %s.conf", ns.dir, algs[i], algs[i],
				algs[i]) != 0)
			return -1;
		snprintf(kp2, sizeof(kp2), "%s/%s.conf", ns.dir, algs[i]);
		if (rv_tsig_key_load(kp2, NULL, &ns.alg_keys[i], err2, sizeof(err2)) < 0)
			return -1;
		size_t n = strlen(grants);
		snprintf(grants + n, sizeof(grants) - n, "grant key-%s zonesub ANY; ", algs[i]);
		n = strlen(transfers);
		snprintf(transfers + n, sizeof(transfers) - n, "key key-%s; ", algs[i]);
		n = strlen(includes);
		snprintf(includes + n, sizeof(includes) - n, "include \"%s\";\n", kp2);
	}
	char kp[256];
	snprintf(kp, sizeof(kp), "%s/key.conf", ns.dir);
	if (rv_tsig_key_load(kp, NULL, &ns.key, err, sizeof(err)) < 0)
		return -1;
	snprintf(kp, sizeof(kp), "%s/wrong-secret.conf", ns.dir);
	if (rv_tsig_key_load(kp, NULL, &ns.badkey_secret, err, sizeof(err)) < 0)
		return -1;
	snprintf(kp, sizeof(kp), "%s/wrong-name.conf", ns.dir);
	if (rv_tsig_key_load(kp, NULL, &ns.badkey_name, err, sizeof(err)) < 0)
		return -1;

	snprintf(conf, sizeof(conf),
		"options {\n"
		"    directory \"%s\";\n"
		"    pid-file none;\n"
		"    session-keyfile none;\n"
		"    listen-on port %u { 127.0.0.1; };\n"
		"    listen-on-v6 { none; };\n"
		"    recursion no;\n"
		"    notify no;\n"
		"    dnssec-validation no;\n"
		"};\n"
		"controls { };\n"
		"logging { channel main { file \"named.log\"; severity info; print-time yes; };\n"
		"          category default { main; }; };\n"
		"include \"%s/key.conf\";\n"
		"zone \"rpz.test\" { type primary; file \"rpz.test.db\";\n"
		"    update-policy { grant rearview-key zonesub ANY; };\n"
		"    allow-transfer { key rearview-key; }; };\n"
		"zone \"big.test\" { type primary; file \"big.test.db\";\n"
		"    allow-transfer { key rearview-key; }; };\n"
		"%s"
		"zone \"esc.test\" { type primary; file \"esc.test.db\";\n"
		"    update-policy { %s};\n"
		"    allow-transfer { %s}; };\n",
		ns.dir, ns.port, ns.dir, includes, grants, transfers);
	write_file("named.conf", conf);
	write_file("esc.test.db", "$TTL 60\n@ IN SOA ns.esc.test. admin.esc.test. 1 3600 600 86400 60\n"
				  "@ IN NS ns.esc.test.\nns IN A 127.0.0.1\n");
	write_file("rpz.test.db", "$TTL 60\n@ IN SOA ns.rpz.test. admin.rpz.test. 1 3600 600 86400 60\n"
				  "@ IN NS ns.rpz.test.\nns IN A 127.0.0.1\n");
	write_big_zone();

	ns.pid = fork();
	if (ns.pid < 0)
		return -1;
	if (ns.pid == 0) {
		char c[256], out[256];
		snprintf(c, sizeof(c), "%s/named.conf", ns.dir);
		snprintf(out, sizeof(out), "%s/named.stderr", ns.dir);
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("named", "named", "-4", "-f", "-c", c, (char *)NULL);
		_exit(127);
	}
	/* Ready when both zones answer (big.test takes a moment to load). */
	for (int i = 0; i < 1200; i++) {
		if (waitpid(ns.pid, NULL, WNOHANG) == ns.pid) {
			ns.pid = 0;
			sh("cat %s/named.stderr %s/named.log >&2", ns.dir, ns.dir);
			return -1;
		}
		if (sh("dig @127.0.0.1 -p %u +time=1 +tries=1 +short SOA big.test | grep -q localhost && "
		       "dig @127.0.0.1 -p %u +time=1 +tries=1 +short SOA rpz.test | grep -q ns.rpz",
		       ns.port, ns.port) == 0)
			break;
		usleep(50000);
	}

	/* The preloaded RPZ (see test_reconcile_adopt for what each one is). */
	char upd[4096];
	long long t0 = (long long)ns.t;
	snprintf(upd, sizeof(upd),
		"server 127.0.0.1 %u\nzone rpz.test\n"
		"update add 1.2.0.192.in-addr.arpa.rpz.test. 60 PTR www.example.com.\n"
		"update add 1.2.0.192.in-addr.arpa.rpz.test. 60 TXT \"first=%lld last=%lld count=5 depth=1 score=2\"\n"
		"update add 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.rpz.test. 60 PTR v6.example.org.\n"
		"update add 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.rpz.test. 60 TXT \"first=%lld last=%lld count=3 depth=0\"\n"
		"update add 2.2.0.192.in-addr.arpa.rpz.test. 60 PTR other.example.net.\n"
		"update add 2.2.0.192.in-addr.arpa.rpz.test. 60 TXT \"first=%lld last=%lld count=9\"\n"
		"update add 3.2.0.192.in-addr.arpa.rpz.test. 60 PTR noext.example.\n"
		"update add 4.2.0.192.in-addr.arpa.rpz.test. 60 TXT \"first=%lld last=%lld count=1\"\n"
		"update add 5.2.0.192.in-addr.arpa.rpz.test. 60 PTR foo.example.\n"
		"update add 5.2.0.192.in-addr.arpa.rpz.test. 60 TXT \"depth=2,first=%lld,last=%lld,count=4,trend=3,update=5,score=1\"\n"
		"update add 5.2.0.192.in-addr.arpa.rpz.test. 60 A 10.0.0.1\n"
		"update add 6.2.0.192.in-addr.arpa.rpz.test. 60 PTR unknown.example.\n"
		"update add 6.2.0.192.in-addr.arpa.rpz.test. 60 TXT \"first=%lld last=%lld count=8 depth=1\"\n"
		"update add bad.example.com.rpz.test. 60 CNAME .\n"
		"send\n",
		ns.port, t0, t0 + 100, t0, t0 + 50, t0, t0 + 10, t0, t0, t0 + 1, t0 + 2, t0 + 3,
		t0 + 30);
	write_file("preload.nsupdate", upd);
	if (sh("nsupdate -k %s/key.conf %s/preload.nsupdate", ns.dir, ns.dir) != 0)
		return -1;
	ns.up = true;
	return 0;
}

static int stop_named(void **state)
{
	(void)state;
	if (ns.pid > 0) {
		kill(ns.pid, SIGTERM);
		int i;
		for (i = 0; i < 200 && waitpid(ns.pid, NULL, WNOHANG) != ns.pid; i++)
			usleep(50000);
		if (i == 200) {
			kill(ns.pid, SIGKILL);
			waitpid(ns.pid, NULL, 0);
		}
		ns.pid = 0;
	}
	if (ns.dir[0] && !getenv("RV_KEEP_TMP"))
		sh("rm -rf '%s'", ns.dir);
	return 0;
}

/* ---- running one reconcile to completion ---- */

typedef struct outcome {
	bool done;
	int result;
	rv_reconcile_stats st;
	char err[1024];
	struct event_base *base;
} outcome;

static void on_done(void *arg, int result, const rv_reconcile_stats *st, const char *err)
{
	outcome *o = arg;
	assert_false(o->done);  /* exactly once */
	o->done = true;
	o->result = result;
	o->st = *st;
	snprintf(o->err, sizeof(o->err), "%s", err);
	event_base_loopbreak(o->base);
}

static void run(rv_table *t, const char *zone, uint16_t port, const rv_tsig_key *key, bool adopt,
		unsigned timeout_ms, outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->base = event_base_new();
	assert_non_null(o->base);
	rv_reconcile_opts opts = {.server = "127.0.0.1", .port = port, .zone = zone, .key = key,
				  .timeout_ms = timeout_ms, .adopt = adopt};
	int err = 0;
	rv_reconcile *r = rv_reconcile_start(o->base, &opts, t, on_done, o, &err);
	assert_non_null(r);
	assert_int_equal(err, 0);
	assert_false(o->done);  /* never from inside start */
	event_base_dispatch(o->base);
	assert_true(o->done);
	rv_reconcile_free(&r);
	assert_null(r);
	event_base_free(o->base);
}

static rv_table *mk(size_t max)
{
	rv_table_opts o = {.max_addresses = max, .max_candidates = 8, .half_life_s = 86400,
			   .depth_weight = 0.1, .txt_refresh_s = 3600, .txt_refresh_ratio = 2.0};
	rv_table *t = tbl_new(&o);
	assert_non_null(t);
	return t;
}

static void restore1(rv_table *t, const char *addr, const char *name, int64_t first, int64_t last,
		uint64_t count, unsigned depth)
{
	rv_addr a = A(addr);
	rv_candidate c = {.name = name, .first = first, .last = last, .count = count,
			  .freq = (double)count, .depth = depth, .ttl = 60};
	assert_int_equal(rv_table_restore(t, &a, &c, 1), 0);
}

/* The table as a snapshot would have left it: what the preloaded zone agrees
 * with, disagrees with, and lacks. */
static rv_table *known_table(void)
{
	rv_table *t = mk(1000);
	int64_t t0 = ns.t;
	restore1(t, "192.0.2.1", "www.example.com", t0, t0 + 100, 5, 1);    /* same as zone */
	restore1(t, "2001:db8::1", "v6.example.org", t0, t0 + 50, 3, 0);    /* same as zone */
	restore1(t, "192.0.2.2", "mine.example.net", t0, t0 + 10, 9, 0);    /* zone: other name */
	restore1(t, "192.0.2.3", "noext.example", t0, t0 + 10, 2, 0);       /* zone: PTR, no TXT */
	restore1(t, "198.51.100.9", "absent.example", t0, t0 + 10, 2, 0);   /* not in the zone */
	return t;
}

static void drain(rv_table *t, char names[][RV_NAME_MAX], bool *removes, size_t max, size_t *n)
{
	rv_change c;
	*n = 0;
	while (tbl_pop(t, &c) == 0) {
		assert_true(*n < max);
		snprintf(names[*n], RV_NAME_MAX, "%s", c.remove ? "" : c.name);
		removes[*n] = c.remove;
		(*n)++;
		rv_table_committed(t, &c);
	}
}

static bool has_name(char names[][RV_NAME_MAX], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

typedef struct cand_probe {
	rv_addr addr;
	rv_candidate c;
	char name[RV_NAME_MAX];
	bool found;
} cand_probe;

static int probe_visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned n)
{
	cand_probe *p = arg;
	if (n > 0 && rv_addr_equal(addr, &p->addr)) {
		p->c = cands[0];
		snprintf(p->name, sizeof(p->name), "%s", cands[0].name);
		p->found = true;
	}
	return 0;
}

#define NEED_NAMED()                                                            \
	do {                                                                    \
		if (!ns.up)                                                     \
			RV_TEST_MISSING("named, tsig-keygen, nsupdate or dig in PATH", \
					"Debian: apt-get install bind9 bind9-utils "    \
					"bind9-dnsutils");                              \
	} while (0)

/* Startup: snapshot loaded, then the zone adopted/compared. */
static void test_reconcile_adopt(void **state)
{
	(void)state;
	NEED_NAMED();
	rv_table *t = known_table();
	outcome o;
	run(t, "rpz.test", ns.port, &ns.key, true, rv_test_ms(5000), &o);
	if (o.result != 0)
		fail_msg("reconcile failed: %s", o.err);
	printf("adopt: %s\n", o.err);
	/* 192.0.2.1 and 2001:db8::1 agree; .2 has another name and .3 no TXT: both
	 * rewritten; .5 and .6 are unknown: adopted; 198.51.100.9 is missing. */
	assert_int_equal(o.st.addresses, 6);
	assert_int_equal(o.st.matched, 2);
	assert_int_equal(o.st.rewritten, 2);
	assert_int_equal(o.st.adopted, 2);
	assert_int_equal(o.st.removed, 0);
	assert_int_equal(o.st.missing, 1);
	/* TXT without PTR at .4, the A at .5, the CNAME at a non-reverse owner, the
	 * NS glue ns.rpz.test A. */
	assert_int_equal(o.st.foreign, 4);
	assert_true(o.st.foreign_example[0] != '\0');
	assert_true(o.st.serial >= 2);
	assert_true(o.st.messages >= 1);

	rv_addr a = A("192.0.2.6");
	assert_string_equal(rv_table_best(t, &a), "unknown.example");
	a = A("192.0.2.5");
	assert_string_equal(rv_table_best(t, &a), "foo.example");
	a = A("192.0.2.4");
	assert_null(rv_table_best(t, &a));
	a = A("192.0.2.2");
	assert_string_equal(rv_table_best(t, &a), "mine.example.net");
	assert_int_equal(rv_table_size(t), 7);
	/* An adopted address keeps the zone's statistics (reference-tool TXT). */
	cand_probe p = {.addr = A("192.0.2.5")};
	assert_int_equal(rv_table_foreach(t, probe_visit, &p), 0);
	assert_true(p.found);
	assert_int_equal(p.c.first, ns.t + 1);
	assert_int_equal(p.c.last, ns.t + 2);
	assert_int_equal(p.c.count, 4);
	assert_int_equal(p.c.depth, 2);

	/* Queued for the writer: the two rewrites and the missing one. */
	char names[8][RV_NAME_MAX];
	bool removes[8];
	size_t n;
	drain(t, names, removes, 8, &n);
	assert_int_equal(n, 3);
	assert_true(has_name(names, n, "mine.example.net"));
	assert_true(has_name(names, n, "noext.example"));
	assert_true(has_name(names, n, "absent.example"));
	tbl_free(&t);
}

/* Drift repair: unknown addresses are removed, not adopted. */
static void test_reconcile_drift(void **state)
{
	(void)state;
	NEED_NAMED();
	rv_table *t = known_table();
	outcome o;
	run(t, "rpz.test.", ns.port, &ns.key, false, rv_test_ms(5000), &o);
	if (o.result != 0)
		fail_msg("reconcile failed: %s", o.err);
	printf("drift: %s\n", o.err);
	assert_int_equal(o.st.matched, 2);
	assert_int_equal(o.st.rewritten, 2);
	assert_int_equal(o.st.adopted, 0);
	assert_int_equal(o.st.removed, 2);
	assert_int_equal(o.st.missing, 1);
	assert_int_equal(o.st.foreign, 4);
	assert_int_equal(rv_table_size(t), 5);
	char names[8][RV_NAME_MAX];
	bool removes[8];
	size_t n, nrem = 0;
	drain(t, names, removes, 8, &n);
	for (size_t i = 0; i < n; i++)
		nrem += removes[i];
	assert_int_equal(n, 5);
	assert_int_equal(nrem, 2);

	/* A second pass right after, with the writer's work "committed": the zone
	 * still differs (nothing was sent), so the same repairs are found again. */
	run(t, "rpz.test", ns.port, &ns.key, false, rv_test_ms(5000), &o);
	assert_int_equal(o.result, 0);
	assert_int_equal(o.st.removed, 2);
	tbl_free(&t);
}

/* Failures: never reconcile_end (nothing queued as missing), a clear error. */
static void test_reconcile_wrong_key(void **state)
{
	(void)state;
	NEED_NAMED();
	rv_table *t = known_table();
	outcome o;

	run(t, "rpz.test", ns.port, &ns.badkey_name, true, rv_test_ms(5000), &o);
	printf("unknown key: %s\n", o.err);
	assert_int_equal(o.result, -EACCES);
	assert_non_null(strstr(o.err, "NOTAUTH"));
	assert_non_null(strstr(o.err, "BADKEY"));
	assert_non_null(strstr(o.err, "rpz.test"));
	assert_int_equal(tbl_queued(t), 0);

	run(t, "rpz.test", ns.port, &ns.badkey_secret, true, rv_test_ms(5000), &o);
	printf("wrong secret: %s\n", o.err);
	assert_int_equal(o.result, -EACCES);
	assert_non_null(strstr(o.err, "BADSIG"));
	assert_int_equal(tbl_queued(t), 0);

	/* Unsigned: the zone only transfers to the key. */
	run(t, "rpz.test", ns.port, NULL, true, rv_test_ms(5000), &o);
	printf("no key: %s\n", o.err);
	assert_int_equal(o.result, -EREMOTEIO);
	assert_non_null(strstr(o.err, "REFUSED"));
	assert_int_equal(tbl_queued(t), 0);

	/* A zone the server does not have. */
	run(t, "nosuch.test", ns.port, &ns.key, true, rv_test_ms(5000), &o);
	printf("no zone: %s\n", o.err);
	assert_true(o.result == -EREMOTEIO || o.result == -EACCES);
	assert_int_equal(tbl_queued(t), 0);
	assert_int_equal(rv_table_size(t), 5);
	tbl_free(&t);
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* 100k addresses (200k RRs, many messages: exercises the TSIG chain). */
static void test_reconcile_big(void **state)
{
	(void)state;
	NEED_NAMED();
	rv_table *t = mk(2 * big_n);
	outcome o;
	double c0 = cpu_s();
	run(t, "big.test", ns.port, &ns.key, true, rv_test_ms(30000), &o);
	double c1 = cpu_s();
	if (o.result != 0)
		fail_msg("reconcile failed: %s", o.err);
	assert_int_equal(o.st.adopted, big_n);
	assert_int_equal(o.st.foreign, 0);
	assert_int_equal(rv_table_size(t), big_n);
	printf("big, adopt into an empty table: %" PRIu64 " records in %" PRIu64 " messages "
	       "(%.1f MB) in %.3f s = %.0f records/s, %.0f addresses/s\n", o.st.records,
	       o.st.messages, (double)o.st.bytes / 1e6, o.st.seconds,
	       (double)o.st.records / o.st.seconds, (double)o.st.addresses / o.st.seconds);
	printf("big: our CPU %.3f s (the rest is BIND sending)\n", c1 - c0);
	/* Again: now every address matches. */
	c0 = cpu_s();
	run(t, "big.test", ns.port, &ns.key, false, rv_test_ms(30000), &o);
	c1 = cpu_s();
	assert_int_equal(o.result, 0);
	assert_int_equal(o.st.matched + o.st.rewritten, big_n);
	assert_int_equal(o.st.removed, 0);
	assert_int_equal(o.st.missing, 0);
	printf("big, drift check of a matching table: %.3f s = %.0f records/s (%" PRIu64
	       " matched, %" PRIu64 " rewritten)\n", o.st.seconds,
	       (double)o.st.records / o.st.seconds, o.st.matched, o.st.rewritten);
	printf("big: our CPU %.3f s\n", c1 - c0);
	tbl_free(&t);
}

/* Nobody listening: a connect error through done(), not from start. */
static void test_reconcile_refused(void **state)
{
	(void)state;
	rv_table *t = mk(10);
	restore1(t, "192.0.2.1", "a.example", 1, 2, 1, 0);
	/* A port that was just free: bind, read it back, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	outcome o;
	run(t, "rpz.test", ntohs(sa.sin_port), NULL, true, rv_test_ms(2000), &o);
	printf("refused: %s\n", o.err);
	assert_int_equal(o.result, -ECONNREFUSED);
	assert_non_null(strstr(o.err, "connect"));
	assert_int_equal(tbl_queued(t), 0);
	tbl_free(&t);
}

/* A server that accepts and never answers: the inactivity timeout. */
static void test_reconcile_timeout(void **state)
{
	(void)state;
	rv_table *t = mk(10);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	outcome o;
	run(t, "rpz.test", ntohs(sa.sin_port), NULL, true, 300, &o);
	printf("silent: %s\n", o.err);
	assert_int_equal(o.result, -ETIMEDOUT);
	assert_non_null(strstr(o.err, "300 ms"));
	close(fd);
	tbl_free(&t);
}

/* Start errors are reported synchronously and done() is never called. */
static void test_reconcile_start_errors(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	rv_table *t = mk(10);
	outcome o = {.base = base};
	int err = 0;
	rv_reconcile_opts opts = {.server = "not-an-address", .port = 53, .zone = "rpz.test",
				  .timeout_ms = 100};
	assert_null(rv_reconcile_start(base, &opts, t, on_done, &o, &err));
	assert_int_equal(err, -EINVAL);
	opts.server = "127.0.0.1";
	opts.zone = "";
	assert_null(rv_reconcile_start(base, &opts, t, on_done, &o, &err));
	assert_int_equal(err, -EINVAL);
	opts.zone = "rpz.test";
	rv_tsig_key k = {.name = "k.", .algorithm = "gss-tsig.", .secret = "AAAA"};
	opts.key = &k;
	assert_null(rv_reconcile_start(base, &opts, t, on_done, &o, &err));
	assert_int_equal(err, -EINVAL);
	/* Freed while running: no callback. */
	opts.key = NULL;
	opts.port = 9;
	rv_reconcile *r = rv_reconcile_start(base, &opts, t, on_done, &o, &err);
	assert_non_null(r);
	rv_reconcile_free(&r);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_false(o.done);
	tbl_free(&t);
	event_base_free(base);
}


/* ---- a scripted server: what BIND never sends (unsigned messages between
 * signed ones, RFC 8945 5.3.1), tampering, malformed replies. Responses are
 * signed with ldns (an independent TSIG implementation). ---- */

enum fake_mode {
	FAKE_CHAIN,        /* signed, unsigned, signed+SOA: valid */
	FAKE_TAMPERED,     /* the unsigned middle message altered after signing */
	FAKE_UNSIGNED_END, /* the closing SOA in an unsigned message */
	FAKE_FIRST_UNSIGNED,
	FAKE_BAD_ID,
	FAKE_GARBAGE,      /* a length prefix and bytes that are not DNS */
	FAKE_NOT_SOA,      /* the transfer does not start with the SOA */
};

typedef struct fake {
	struct evconnlistener *l;
	struct bufferevent *bev;
	uint16_t port;
	enum fake_mode mode;
	const rv_tsig_key *key;
} fake;

static ldns_pkt *fake_pkt(uint16_t id, const char *const *rrs)
{
	ldns_pkt *p = ldns_pkt_new();
	assert_non_null(p);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	for (; *rrs; rrs++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, *rrs, 60, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
	}
	return p;
}

/* Signs p over mac (timers only after the first) and returns the new MAC. */
static ldns_rdf *fake_sign(fake *f, ldns_pkt *p, const ldns_rdf *mac, int timers_only)
{
	assert_int_equal(ldns_pkt_tsig_sign_next(p, f->key->name, f->key->secret, 300,
			f->key->algorithm, mac, timers_only), LDNS_STATUS_OK);
	return ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
}

static void fake_send(fake *f, const uint8_t *w, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	struct evbuffer *out = bufferevent_get_output(f->bev);
	evbuffer_add(out, hdr, 2);
	evbuffer_add(out, w, len);
}

static uint8_t *fake_wire(ldns_pkt *p, size_t *len)
{
	uint8_t *w = NULL;
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	return w;
}

static void fake_read(struct bufferevent *bev, void *arg)
{
	fake *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2], q[1024];
	if (evbuffer_copyout(in, hdr, 2) != 2)
		return;
	size_t qlen = (size_t)hdr[0] << 8 | hdr[1];
	if (evbuffer_get_length(in) < 2 + qlen || qlen > sizeof(q))
		return;
	evbuffer_drain(in, 2);
	evbuffer_remove(in, q, qlen);
	ldns_pkt *query = NULL;
	assert_int_equal(ldns_wire2pkt(&query, q, qlen), LDNS_STATUS_OK);
	uint16_t id = ldns_pkt_id(query);
	assert_non_null(ldns_pkt_tsig(query));
	/* The request verifies with ldns: our signing is right too. */
	assert_true(ldns_pkt_tsig_verify(query, q, qlen, f->key->name, f->key->secret, NULL));
	ldns_rdf *mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(query), 3));
	ldns_pkt_free(query);

	static const char *const m1[] = {
		"rpz.test. SOA localhost. admin.rpz.test. 7 3600 600 86400 60",
		"1.2.0.192.in-addr.arpa.rpz.test. PTR one.example.",
		"1.2.0.192.in-addr.arpa.rpz.test. TXT \"first=10 last=20 count=3 depth=1\"", NULL};
	static const char *const m2[] = {
		"2.2.0.192.in-addr.arpa.rpz.test. PTR two.example.",
		"2.2.0.192.in-addr.arpa.rpz.test. TXT \"first=11 last=21 count=4\"", NULL};
	static const char *const m2_soa[] = {
		"2.2.0.192.in-addr.arpa.rpz.test. PTR two.example.",
		"rpz.test. SOA localhost. admin.rpz.test. 7 3600 600 86400 60", NULL};
	static const char *const m3[] = {
		"3.2.0.192.in-addr.arpa.rpz.test. PTR three.example.",
		"rpz.test. SOA localhost. admin.rpz.test. 7 3600 600 86400 60", NULL};
	static const char *const m_no_soa[] = {
		"1.2.0.192.in-addr.arpa.rpz.test. PTR one.example.", NULL};
	size_t l1, l2, l3;
	uint8_t *w1, *w2, *w3;
	ldns_pkt *p1, *p2, *p3;

	switch (f->mode) {
	case FAKE_CHAIN:
	case FAKE_TAMPERED:
	case FAKE_UNSIGNED_END: {
		p1 = fake_pkt(id, m1);
		ldns_rdf *mac1 = fake_sign(f, p1, mac, 0);
		w1 = fake_wire(p1, &l1);
		p2 = fake_pkt(id, f->mode == FAKE_UNSIGNED_END ? m2_soa : m2);
		w2 = fake_wire(p2, &l2);
		/* 5.3.1: the next MAC covers the previous MAC, then the unsigned
		 * message, then this one: ldns puts its "query MAC" argument first,
		 * so hand it both. */
		uint8_t *chain = malloc(ldns_rdf_size(mac1) + l2);
		memcpy(chain, ldns_rdf_data(mac1), ldns_rdf_size(mac1));
		memcpy(chain + ldns_rdf_size(mac1), w2, l2);
		ldns_rdf *chain_rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN,
				ldns_rdf_size(mac1) + l2, chain);
		free(chain);
		p3 = fake_pkt(id, m3);
		ldns_rdf *mac3 = fake_sign(f, p3, chain_rdf, 1);
		w3 = fake_wire(p3, &l3);
		if (f->mode == FAKE_TAMPERED) {
			/* "two" -> "twp": still well-formed, no longer what was signed */
			uint8_t *x = memmem(w2, l2, "two", 3);
			assert_non_null(x);
			x[2] = 'p';
		}
		fake_send(f, w1, l1);
		fake_send(f, w2, l2);
		if (f->mode != FAKE_UNSIGNED_END)
			fake_send(f, w3, l3);
		free(w1);
		free(w2);
		free(w3);
		ldns_pkt_free(p1);
		ldns_pkt_free(p2);
		ldns_pkt_free(p3);
		ldns_rdf_deep_free(mac1);
		ldns_rdf_deep_free(mac3);
		ldns_rdf_deep_free(chain_rdf);
		break;
	}
	case FAKE_FIRST_UNSIGNED:
	case FAKE_BAD_ID:
	case FAKE_NOT_SOA:
		p1 = fake_pkt(f->mode == FAKE_BAD_ID ? (uint16_t)(id + 1) : id,
				f->mode == FAKE_NOT_SOA ? m_no_soa : m1);
		if (f->mode == FAKE_NOT_SOA)
			ldns_rdf_deep_free(fake_sign(f, p1, mac, 0));
		w1 = fake_wire(p1, &l1);
		fake_send(f, w1, l1);
		free(w1);
		ldns_pkt_free(p1);
		break;
	case FAKE_GARBAGE: {
		uint8_t junk[40];
		memset(junk, 0xff, sizeof(junk));
		junk[0] = (uint8_t)(id >> 8);
		junk[1] = (uint8_t)id;
		fake_send(f, junk, sizeof(junk));
		break;
	}
	}
	ldns_rdf_deep_free(mac);
}

static void fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	fake *f = arg;
	assert_null(f->bev);
	f->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(f->bev, fake_read, NULL, NULL, f);
	bufferevent_enable(f->bev, EV_READ | EV_WRITE);
}

static void run_fake(rv_table *t, enum fake_mode mode, outcome *o)
{
	static rv_tsig_key key;
	char err[128];
	static const char keytext[] = "key \"fake-key\" { algorithm hmac-sha256; "
				      "secret \"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\"; };";
	assert_int_equal(rv_tsig_key_parse(keytext, sizeof(keytext) - 1, NULL, &key, err,
			sizeof(err)), 0);
	memset(o, 0, sizeof(*o));
	o->base = event_base_new();
	fake f = {.mode = mode, .key = &key};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f.l = evconnlistener_new_bind(o->base, fake_accept, &f, LEV_OPT_CLOSE_ON_FREE, 4,
			(struct sockaddr *)&sa, sizeof(sa));
	assert_non_null(f.l);
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(evconnlistener_get_fd(f.l), (struct sockaddr *)&sa, &sl), 0);
	rv_reconcile_opts opts = {.server = "127.0.0.1", .port = ntohs(sa.sin_port),
				  .zone = "rpz.test", .key = &key, .timeout_ms = rv_test_ms(2000), .adopt = true};
	int e = 0;
	rv_reconcile *r = rv_reconcile_start(o->base, &opts, t, on_done, o, &e);
	assert_non_null(r);
	event_base_dispatch(o->base);
	assert_true(o->done);
	rv_reconcile_free(&r);
	if (f.bev)
		bufferevent_free(f.bev);
	evconnlistener_free(f.l);
	event_base_free(o->base);
}

static void test_reconcile_unsigned_between(void **state)
{
	(void)state;
	rv_table *t = mk(100);
	outcome o;
	run_fake(t, FAKE_CHAIN, &o);
	if (o.result != 0)
		fail_msg("%s", o.err);
	assert_int_equal(o.st.messages, 3);
	assert_int_equal(o.st.adopted, 3);
	assert_int_equal(o.st.serial, 7);
	rv_addr a = A("192.0.2.2");
	assert_string_equal(rv_table_best(t, &a), "two.example");
	tbl_free(&t);

	static const struct {
		enum fake_mode mode;
		int result;
		const char *why;
	} bad[] = {
		{FAKE_TAMPERED, -EACCES, "does not verify"},
		{FAKE_UNSIGNED_END, -EACCES, "ends in an unsigned message"},
		{FAKE_FIRST_UNSIGNED, -EACCES, "not signed"},
		{FAKE_BAD_ID, -EBADMSG, "not a reply to our query"},
		{FAKE_GARBAGE, -EBADMSG, "malformed"},
		{FAKE_NOT_SOA, -EBADMSG, "does not start with the SOA"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		t = mk(100);
		restore1(t, "198.51.100.1", "kept.example", 1, 2, 1, 0);
		run_fake(t, bad[i].mode, &o);
		printf("fake %d: %s\n", bad[i].mode, o.err);
		if (o.result != bad[i].result || strstr(o.err, bad[i].why) == NULL)
			fail_msg("mode %d: %d '%s'", bad[i].mode, o.result, o.err);
		/* Nothing from an unverified message, and no reconcile_end. */
		assert_int_equal(rv_table_size(t), 1);
		assert_int_equal(tbl_queued(t), 0);
		tbl_free(&t);
	}
}

/* ---- names with escapes, every algorithm: what the agent writes, it reads
 * back as the same name ---- */

/* PTR targets as the table holds them (dnsmsg.c prints names so). */
static const char *const esc_names[] = {
	"a\\.b.example", "sp\\032ace.example", "back\\\\slash.example", "q\"uote.example",
	"\\000\\255.example", "semi\\;colon\\(x\\).example",
};

/* Sends one UPDATE to the test named and checks the reply with the writer's
 * own check. */
static void send_update(const rv_rpz_msg *m, const rv_tsig_key *key)
{
	size_t len;
	const uint8_t *w = rv_rpz_msg_wire(m, &len);
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len}, reply[65535];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ns.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, hdr, 2), 2);
	assert_int_equal(write(fd, w, len), (ssize_t)len);
	size_t got = 0, want = 2;
	while (got < want) {
		ssize_t r = read(fd, reply + got, want - got);
		assert_true(r > 0);
		got += (size_t)r;
		if (got == 2 && want == 2)
			want = 2 + ((size_t)reply[0] << 8 | reply[1]);
	}
	close(fd);
	int rcode;
	char err[256];
	int rc = rv_rpz_check_reply(m, key, reply + 2, want - 2, &rcode, err, sizeof(err));
	if (rc != 0)
		fail_msg("UPDATE signed with %s: %s", key->algorithm, err);
}

static void test_escapes_every_algorithm(void **state)
{
	(void)state;
	NEED_NAMED();
	int64_t t0 = ns.t;
	for (size_t i = 0; i < RV_ARRAY_LEN(algs); i++) {
		rv_change ch[RV_ARRAY_LEN(esc_names)];
		rv_table *t = mk(100);
		for (size_t k = 0; k < RV_ARRAY_LEN(esc_names); k++) {
			char addr[32];
			snprintf(addr, sizeof(addr), "192.0.2.%zu", 100 + k);
			memset(&ch[k], 0, sizeof(ch[k]));
			ch[k].addr = A(addr);
			snprintf(ch[k].name, sizeof(ch[k].name), "%s", esc_names[k]);
			ch[k].first = t0;
			ch[k].last = t0 + (int64_t)k;
			ch[k].count = k + 1;
			ch[k].depth = (unsigned)k % 3;
			restore1(t, addr, esc_names[k], ch[k].first, ch[k].last, ch[k].count,
					ch[k].depth);
		}
		/* The agent's UPDATE, signed with this algorithm: named accepts it. */
		rv_rpz_build b = {.zone = "esc.test", .ttl = 60, .max_bytes = 65535,
				  .key = &ns.alg_keys[i]};
		rv_rpz_msg *m = NULL;
		size_t used = 0;
		assert_int_equal(rv_rpz_msg_build(&b, ch, RV_ARRAY_LEN(ch), &used, &m), 0);
		assert_int_equal(used, RV_ARRAY_LEN(ch));
		send_update(m, &ns.alg_keys[i]);
		rv_rpz_msg_free(&m);
		/* The AXFR, signed with it too, reads every name back as written. */
		outcome o;
		run(t, "esc.test", ns.port, &ns.alg_keys[i], false, 5000, &o);
		printf("%s: %s\n", algs[i], o.err);
		if (o.result != 0)
			fail_msg("%s: %s", algs[i], o.err);
		assert_int_equal(o.st.matched, RV_ARRAY_LEN(esc_names));
		assert_int_equal(o.st.rewritten, 0);
		assert_int_equal(o.st.removed, 0);
		assert_int_equal(o.st.missing, 0);
		assert_int_equal(tbl_queued(t), 0);
		tbl_free(&t);
	}
}

/* ---- real transfers captured from named (tests/data/axfr/), no server ---- */

typedef struct seen {
	char ptr[64][RV_NAME_MAX];
	rv_addr addr[64];
	bool meta[64];
	size_t n;
} seen;

static int see(void *arg, const rv_addr *addr, const char *ptr, const rv_candidate *meta)
{
	seen *s = arg;
	assert_true(s->n < 64);
	snprintf(s->ptr[s->n], RV_NAME_MAX, "%s", ptr);
	s->addr[s->n] = *addr;
	s->meta[s->n++] = meta != NULL;
	return RV_RECONCILE_MATCH;
}

/* The capture's PTR targets, in presentation form as the table holds names
 * (tests/data/make-axfr-capture.py's TARGETS). */
static const char *const capture_targets[] = {
	"www.example.com", "a\\.b.example", "sp\\032ace.example", "back\\\\slash.example",
	"q\"uote.example", "\\000\\255.example",
};

static void test_axfr_captures(void **state)
{
	static uint8_t data[65536];
	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(algs); i++) {
		char path[512], err[512];
		rv_tsig_key key;
		snprintf(path, sizeof(path), "%s/axfr/%s.key", RV_TEST_DATA, algs[i]);
		assert_int_equal(rv_test_key_file(path, &key), 0);
		snprintf(path, sizeof(path), "%s/axfr/%s.axfr", RV_TEST_DATA, algs[i]);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t len = fread(data, 1, sizeof(data), f);
		fclose(f);

		seen s = {.n = 0};
		int e = 0;
		rv_axfr *x = rv_axfr_new("RPZ.test.", &key, see, &s, &e);
		assert_non_null(x);
		/* Our query at the capture's ID and time is the captured one. */
		size_t qlen = (size_t)data[0] << 8 | data[1];
		const uint8_t *q = data + 2;
		rv_dns_msg m;
		char why[128];
		assert_int_equal(rv_dnswire_scan(q, qlen, &m, why, sizeof(why)), 0);
		int64_t now = (int64_t)rv_get16(m.tsig.timers) << 32 | rv_get32(m.tsig.timers + 2);
		uint8_t mine[1024];
		assert_int_equal(rv_axfr_query(x, m.id, now, mine, sizeof(mine)), (int)qlen);
		assert_memory_equal(mine, q, qlen);
		int rc = 0;
		size_t off = 2 + qlen, msgs = 0;
		while (rc == 0 && off + 2 <= len) {
			size_t ml = (size_t)data[off] << 8 | data[off + 1];
			rc = rv_axfr_message(x, data + off + 2, ml, now, err, sizeof(err));
			off += 2 + ml;
			msgs++;
		}
		if (rc != 1)
			fail_msg("%s: %d %s", algs[i], rc, err);
		assert_int_equal(off, len);
		assert_true(msgs >= 3);
		const rv_reconcile_stats *st = rv_axfr_stats(x);
		assert_int_equal(st->addresses, 41);
		assert_int_equal(st->matched, 41);
		assert_int_equal(st->serial, 7);
		/* the CNAME at bad.example.com, the lone TXT, ns A */
		assert_int_equal(st->foreign, 3);
		assert_int_equal(s.n, 41);
		for (size_t k = 0; k < 12; k++) {
			char a[32];
			rv_addr want;
			snprintf(a, sizeof(a), "192.0.2.%zu", k + 1);
			assert_int_equal(rv_addr_parse(a, &want), 0);
			bool found = false;
			for (size_t j = 0; j < s.n; j++) {
				if (!rv_addr_equal(&s.addr[j], &want))
					continue;
				found = true;
				assert_string_equal(s.ptr[j], capture_targets[k % 6]);
				assert_true(s.meta[j]);
			}
			assert_true(found);
		}
		/* no more messages after the end */
		assert_int_equal(rv_axfr_message(x, data + 4, 12, now, err, sizeof(err)), -EINVAL);
		rv_axfr_free(&x);
		assert_null(x);

		/* Too late: the TSIG time check fails on the first message. */
		x = rv_axfr_new("rpz.test", &key, see, &s, &e);
		assert_int_equal(rv_axfr_query(x, m.id, now, mine, sizeof(mine)), (int)qlen);
		size_t ml = (size_t)data[2 + qlen] << 8 | data[3 + qlen];
		assert_int_equal(rv_axfr_message(x, data + 4 + qlen, ml, now + 3600, err,
				sizeof(err)), -EACCES);
		assert_non_null(strstr(err, "message 1 TSIG time off by"));
		rv_axfr_free(&x);
	}
}

int main(void)
{
	/* A reset connection must be an error return, not a fatal signal. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_to_addr),
		cmocka_unit_test(test_txt_parse),
		cmocka_unit_test(test_reconcile_start_errors),
		cmocka_unit_test(test_reconcile_unsigned_between),
		cmocka_unit_test(test_reconcile_refused),
		cmocka_unit_test(test_reconcile_timeout),
		cmocka_unit_test(test_reconcile_adopt),
		cmocka_unit_test(test_reconcile_drift),
		cmocka_unit_test(test_reconcile_wrong_key),
		cmocka_unit_test(test_reconcile_big),
		cmocka_unit_test(test_escapes_every_algorithm),
		cmocka_unit_test(test_axfr_captures),
	};
	return cmocka_run_group_tests(tests, start_named, stop_named);
}
