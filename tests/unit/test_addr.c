/* Unit tests for addr.c: address values from bytes and text, their canonical
 * text (the form that appears in logs and, reversed, in the RPZ owner names),
 * and comparison (the table hashes and memcmp()s them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include "rv_test.h"

#include "common.h"

/* Parses text (must succeed) and returns the canonical form in a static buffer. */
static const char *canon(const char *text)
{
	static char buf[RV_ADDR_STRLEN];
	rv_addr a;

	if (rv_addr_parse(text, &a) != 0)
		fail_msg("\"%s\" did not parse", text);
	return rv_addr_str(&a, buf, sizeof(buf));
}

static void test_parse_ipv4(void **state)
{
	(void)state;
	rv_addr a;
	static const uint8_t want[16] = { 192, 0, 2, 1 };

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(rv_addr_parse("192.0.2.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	/* the 12 unused bytes are zero, whatever was there: hashing relies on it */
	assert_memory_equal(a.bytes, want, 16);
	assert_string_equal(canon("0.0.0.0"), "0.0.0.0");
	assert_string_equal(canon("255.255.255.255"), "255.255.255.255");
	assert_string_equal(canon("10.20.30.40"), "10.20.30.40");
}

static void test_parse_ipv6(void **state)
{
	(void)state;
	rv_addr a;
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
					  0, 0, 0, 0, 0, 0, 0, 0x01 };

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(rv_addr_parse("2001:db8::1", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_memory_equal(a.bytes, want, 16);
}

/* RFC 5952 section 4: the one text form an IPv6 address gets. */
static void test_ipv6_canonical(void **state)
{
	(void)state;
	/* 4.1: leading zeros dropped; 4.3: lower case */
	assert_string_equal(canon("2001:0DB8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
	assert_string_equal(canon("2001:db8:0:0:0:0:0:1"), "2001:db8::1");
	assert_string_equal(canon("2001:DB8:AbCd::FFFF"), "2001:db8:abcd::ffff");
	/* 4.2.1: "::" as long as possible */
	assert_string_equal(canon("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1");
	/* 4.2.2: never for a single 16-bit zero */
	assert_string_equal(canon("2001:db8::1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
	/* 4.2.3: the longest run; of equal runs, the first */
	assert_string_equal(canon("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
	assert_string_equal(canon("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
	/* the ends */
	assert_string_equal(canon("0:0:0:0:0:0:0:0"), "::");
	assert_string_equal(canon("0:0:0:0:0:0:0:1"), "::1");
	assert_string_equal(canon("fe80:0:0:0:0:0:0:0"), "fe80::");
	assert_string_equal(canon("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* every text form of one address is the same value */
	rv_addr a, b;
	assert_int_equal(rv_addr_parse("2001:db8::a:0:0:1", &a), 0);
	assert_int_equal(rv_addr_parse("2001:0db8:0000:0000:000A:0:0000:01", &b), 0);
	assert_true(rv_addr_equal(&a, &b));
}

/* An IPv4-mapped IPv6 address (what a dual-stack socket reports for an IPv4
 * peer) stays an IPv6 value: RFC 5952 section 5 text, not equal to the IPv4
 * address (its RPZ owner is under ip6.arpa, not in-addr.arpa). */
static void test_ipv4_mapped(void **state)
{
	(void)state;
	rv_addr m, m2, v4;
	static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };

	assert_int_equal(rv_addr_parse("::ffff:192.0.2.1", &m), 0);
	assert_int_equal(m.family, AF_INET6);
	assert_memory_equal(m.bytes, want, 16);
	assert_string_equal(canon("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
	assert_string_equal(canon("::FFFF:c000:0201"), "::ffff:192.0.2.1");
	assert_string_equal(canon("0:0:0:0:0:ffff:192.0.2.1"), "::ffff:192.0.2.1");
	assert_int_equal(rv_addr_parse("::ffff:c000:201", &m2), 0);
	assert_true(rv_addr_equal(&m, &m2));
	assert_int_equal(rv_addr_parse("192.0.2.1", &v4), 0);
	assert_false(rv_addr_equal(&m, &v4));
	/* dotted quad only in the last 32 bits */
	assert_string_equal(canon("2001:db8::192.0.2.1"), "2001:db8::c000:201");
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-1", "1.2.3.4 ", " 1.2.3.4",
		"1.2.3.4/32", "1..2.3", "0x7f.0.0.1", "a.b.c.d", "localhost",
		"2001:db8::1::2", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::",
		"g::", "[::1]", "::1%lo", "fe80::1%eth0", "::1/128", "2001:db8:::1",
		"::ffff:1.2.3", "::ffff:256.0.0.1", "1.2.3.4::",
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		rv_addr a;
		memset(&a, 0xa5, sizeof(a));
		if (rv_addr_parse(bad[i], &a) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		/* a failed parse leaves no half-filled value behind */
		rv_addr zero;
		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&a, &zero, sizeof(a));
	}
}

static void test_set(void **state)
{
	(void)state;
	rv_addr a, b;
	char buf[RV_ADDR_STRLEN];
	static const uint8_t v4[4] = { 198, 51, 100, 7 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0, 0,
					0, 0, 0, 0, 0, 0, 0xab, 0xcd };

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(rv_addr_set(&a, v4, 4), 0);
	assert_int_equal(a.family, AF_INET);
	assert_string_equal(rv_addr_str(&a, buf, sizeof(buf)), "198.51.100.7");
	/* set and parse give the same value, byte for byte */
	assert_int_equal(rv_addr_parse("198.51.100.7", &b), 0);
	assert_true(rv_addr_equal(&a, &b));
	assert_memory_equal(&a, &b, sizeof(a));

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(rv_addr_set(&a, v6, 16), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_string_equal(rv_addr_str(&a, buf, sizeof(buf)), "2001:db8:1234::abcd");
	assert_int_equal(rv_addr_parse("2001:db8:1234::abcd", &b), 0);
	assert_true(rv_addr_equal(&a, &b));

	/* only 4 or 16 bytes are an address */
	static const size_t bad_len[] = { 0, 1, 3, 5, 8, 15, 17, 32 };
	for (size_t i = 0; i < RV_ARRAY_LEN(bad_len); i++)
		assert_int_equal(rv_addr_set(&a, v6, bad_len[i]), -EINVAL);
}

static void test_equal(void **state)
{
	(void)state;
	rv_addr a, b;
	static const uint8_t bytes[16] = { 10, 0, 0, 1 };

	/* the same 4 bytes as IPv4 and as the start of an IPv6 address differ */
	assert_int_equal(rv_addr_set(&a, bytes, 4), 0);
	assert_int_equal(rv_addr_set(&b, bytes, 16), 0);
	assert_false(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_parse("10.0.0.1", &b), 0);
	assert_true(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_parse("10.0.0.2", &b), 0);
	assert_false(rv_addr_equal(&a, &b));
	assert_int_equal(rv_addr_parse("2001:db8::1", &a), 0);
	assert_int_equal(rv_addr_parse("2001:db8::2", &b), 0);
	assert_false(rv_addr_equal(&a, &b));
	assert_true(rv_addr_equal(&a, &a));
}

/* No 16-bit group of IPv6 text is written with a leading zero ("0db8"). */
static bool no_leading_zeros(const char *text)
{
	const char *g = text;
	for (;;) {
		size_t n = strcspn(g, ":");
		if (n > 1 && g[0] == '0' && memchr(g, '.', n) == NULL)
			return false;
		if (g[n] == '\0')
			return true;
		g += n + 1;
	}
}

/* Text -> value -> text -> value is stable for any address. */
static void test_round_trip(void **state)
{
	(void)state;
	srand(20241203);
	for (int i = 0; i < 20000; i++) {
		uint8_t bytes[16];
		for (size_t k = 0; k < 16; k += 2) {
			/* zero groups in runs of every length, so "::" lands anywhere */
			bool zero = rand() % 3 == 0;
			bytes[k] = zero ? 0 : (uint8_t)rand();
			bytes[k + 1] = zero ? 0 : (uint8_t)rand();
		}
		size_t len = i % 2 ? 16 : 4;
		rv_addr a, b;
		char t1[RV_ADDR_STRLEN], t2[RV_ADDR_STRLEN];
		assert_int_equal(rv_addr_set(&a, bytes, len), 0);
		rv_addr_str(&a, t1, sizeof(t1));
		if (rv_addr_parse(t1, &b) != 0)
			fail_msg("canonical text \"%s\" does not parse", t1);
		assert_true(rv_addr_equal(&a, &b));
		assert_string_equal(rv_addr_str(&b, t2, sizeof(t2)), t1);
		/* canonical IPv6 text: lower case, no leading zeros, at most one "::" */
		if (len == 16) {
			assert_null(strpbrk(t1, "ABCDEF"));
			const char *dc = strstr(t1, "::");
			assert_true(dc == NULL || strstr(dc + 1, "::") == NULL);
			assert_true(no_leading_zeros(t1));
		}
	}
}

/* The text form of a value that is no address, or a buffer too small: "?"
 * (as much of it as fits), never an overflow or garbage in a log line. */
static void test_str_edge(void **state)
{
	(void)state;
	rv_addr a;
	char buf[RV_ADDR_STRLEN];

	memset(&a, 0, sizeof(a));
	assert_string_equal(rv_addr_str(&a, buf, sizeof(buf)), "?");
	a.family = 99;
	assert_string_equal(rv_addr_str(&a, buf, sizeof(buf)), "?");
	/* the longest forms fit RV_ADDR_STRLEN */
	assert_string_equal(canon("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
			"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_string_equal(canon("::ffff:255.255.255.255"), "::ffff:255.255.255.255");
	/* too small for the address: "?" truncated to the buffer, NUL-terminated */
	assert_int_equal(rv_addr_parse("192.0.2.1", &a), 0);
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_ptr_equal(rv_addr_str(&a, small, sizeof(small)), small);
	assert_string_equal(small, "?");
	char one[1] = { 'x' };
	rv_addr_str(&a, one, sizeof(one));
	assert_int_equal(one[0], '\0');
	/* exactly enough: "192.0.2.1" + NUL */
	char exact[10];
	assert_string_equal(rv_addr_str(&a, exact, sizeof(exact)), "192.0.2.1");
}

/* Our printer against glibc's inet_ntop, which it replaced on the history's
 * path: every special form (zero runs of each length and place, ties, the
 * embedded IPv4 forms) and a million random addresses with zero groups. */
static void test_str_same_as_inet_ntop(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	char mine[RV_ADDR_STRLEN], ref[INET6_ADDRSTRLEN];
	rv_addr a;

	for (unsigned long n = 0, end = rv_test_work(1000000); n < end; n++) {
		uint8_t b[16];

		for (int i = 0; i < 16; i += 2) {
			seed = seed * 1103515245u + 12345u;
			/* each group zero half the time, so runs of every length */
			unsigned v = (seed >> 16) & 0x7;
			unsigned g = v < 4 ? 0 : v == 4 ? 0xffff : (seed >> 8) & 0xffff;
			if (v == 5)
				g &= 0xf;
			b[i] = (uint8_t)(g >> 8);
			b[i + 1] = (uint8_t)g;
		}
		if (n % 7 == 0) { /* ::ffff:a.b.c.d and ::a.b.c.d shapes */
			memset(b, 0, 10);
			b[10] = b[11] = (n % 14 == 0) ? 0xff : 0;
		}
		assert_int_equal(rv_addr_set(&a, b, 16), 0);
		assert_non_null(inet_ntop(AF_INET6, b, ref, sizeof(ref)));
		assert_string_equal(rv_addr_str(&a, mine, sizeof(mine)), ref);
		assert_int_equal(rv_addr_set(&a, b, 4), 0);
		assert_non_null(inet_ntop(AF_INET, b, ref, sizeof(ref)));
		assert_string_equal(rv_addr_str(&a, mine, sizeof(mine)), ref);
	}
	static const uint8_t zeros[16];
	assert_int_equal(rv_addr_set(&a, zeros, 16), 0);
	assert_string_equal(rv_addr_str(&a, mine, sizeof(mine)), "::");
}

static void test_ascii_lower(void **state)
{
	(void)state;
	char s[] = "WWW.Example.COM-\\065\xc3\x89z@[`{";
	rv_ascii_lower(s);
	/* letters A-Z only: escapes, digits, UTF-8 bytes and neighbours of the
	 * letter ranges untouched */
	assert_string_equal(s, "www.example.com-\\065\xc3\x89z@[`{");
	char empty[] = "";
	rv_ascii_lower(empty);
	assert_string_equal(empty, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_ipv6_canonical),
		cmocka_unit_test(test_ipv4_mapped),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_str_edge),
		cmocka_unit_test(test_str_same_as_inet_ntop),
		cmocka_unit_test(test_ascii_lower),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
