/* Unit tests for guard.c: ignore-cidr, ignore-suffix, ignore-response-address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "guard.h"

static rv_addr A(const char *s)
{
	rv_addr a;
	assert_int_equal(rv_addr_parse(s, &a), 0);
	return a;
}

#define DEFAULT_CIDRS "0.0.0.0/8 127.0.0.0/8 169.254.0.0/16 224.0.0.0/4 " \
	"255.255.255.255/32 ::/128 ::1/128 fe80::/10 ff00::/8"

static void test_default_cidrs(void **state)
{
	(void)state;
	int err;
	char eb[128];
	rv_guard *g = rv_guard_new(DEFAULT_CIDRS, NULL, NULL, &err, eb, sizeof(eb));
	assert_non_null(g);
	const char *ignored[] = {"0.0.0.0", "127.0.0.1", "127.255.1.2", "169.254.10.1", "224.0.0.251",
		"239.255.255.250", "255.255.255.255", "::", "::1", "fe80::1", "ff02::fb"};
	const char *learned[] = {"1.2.3.4", "10.0.0.1", "192.168.1.1", "126.255.255.255",
		"128.0.0.1", "223.255.255.255", "2001:db8::1", "::2", "fec0::1", "fe7f::1"};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++) {
		rv_addr a = A(ignored[i]);
		assert_true(rv_guard_ignore_addr(g, &a));
	}
	for (size_t i = 0; i < sizeof(learned) / sizeof(*learned); i++) {
		rv_addr a = A(learned[i]);
		assert_false(rv_guard_ignore_addr(g, &a));
	}
	rv_guard_free(&g);
	assert_null(g);
}

static void test_odd_prefix_lengths(void **state)
{
	(void)state;
	int err;
	char eb[128];
	rv_guard *g = rv_guard_new("10.1.2.128/25, 2001:db8:ab00::/41", NULL, NULL, &err, eb, sizeof(eb));
	assert_non_null(g);
	rv_addr in4 = A("10.1.2.200"), out4 = A("10.1.2.127");
	rv_addr in6 = A("2001:db8:ab7f::1"), out6 = A("2001:db8:ab80::1");
	assert_true(rv_guard_ignore_addr(g, &in4));
	assert_false(rv_guard_ignore_addr(g, &out4));
	assert_true(rv_guard_ignore_addr(g, &in6));
	assert_false(rv_guard_ignore_addr(g, &out6));
	rv_guard_free(&g);
}

/* ::ffff:a.b.c.d is the IPv4 address a.b.c.d: the IPv4 entries cover it too. */
static void test_v4_mapped(void **state)
{
	(void)state;
	int err;
	char eb[128];
	rv_guard *g = rv_guard_new(DEFAULT_CIDRS " 10.1.2.128/25", NULL, NULL, &err, eb, sizeof(eb));
	assert_non_null(g);
	const char *ignored[] = {"::ffff:127.0.0.1", "::FFFF:7f00:1", "::ffff:0.0.0.0",
		"::ffff:169.254.1.1", "::ffff:224.0.0.251", "::ffff:255.255.255.255",
		"::ffff:10.1.2.200"};
	/* Not mapped (IPv4-compatible, NAT64 well-known prefix, one bit off the
	 * ::ffff prefix) or mapped but outside every IPv4 entry. */
	const char *learned[] = {"::ffff:192.0.2.1", "::ffff:10.1.2.127", "::127.0.0.1",
		"64:ff9b::7f00:1", "::fffe:7f00:1", "::1:ffff:7f00:1", "1::ffff:7f00:1"};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++) {
		rv_addr a = A(ignored[i]);
		if (!rv_guard_ignore_addr(g, &a))
			fail_msg("%s should be ignored", ignored[i]);
	}
	for (size_t i = 0; i < sizeof(learned) / sizeof(*learned); i++) {
		rv_addr a = A(learned[i]);
		if (rv_guard_ignore_addr(g, &a))
			fail_msg("%s should be learned", learned[i]);
	}
	rv_guard_free(&g);
	/* An IPv6-only list does not start matching IPv4 through the mapping. */
	g = rv_guard_new("::/128 ::ffff:0:0/96", NULL, NULL, &err, eb, sizeof(eb));
	assert_non_null(g);
	rv_addr m = A("::ffff:192.0.2.1"), v4 = A("192.0.2.1");
	assert_true(rv_guard_ignore_addr(g, &m));
	assert_false(rv_guard_ignore_addr(g, &v4));
	rv_guard_free(&g);
}

/* Every prefix length of both families against addresses that differ from
 * the prefix in one bit, before, at and after the length: the word-wise match
 * (guard.c) says what the bit-by-bit definition says. */
static void test_every_prefix_length(void **state)
{
	static const char *const nets[] = { "203.0.113.77", "2001:db8:aaaa:5555:1234:5678:9abc:def0" };

	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		rv_addr net;
		unsigned max = fam == 0 ? 32 : 128;

		assert_int_equal(rv_addr_parse(nets[fam], &net), 0);
		for (unsigned bits = 0; bits <= max; bits++) {
			char spec[80], eb[128];
			int err;

			snprintf(spec, sizeof(spec), "%s/%u", nets[fam], bits);
			rv_guard *g = rv_guard_new(spec, NULL, NULL, &err, eb, sizeof(eb));
			assert_non_null(g);
			assert_true(rv_guard_ignore_addr(g, &net));
			for (unsigned flip = 0; flip < max; flip++) {
				rv_addr a = net;

				a.bytes[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
				assert_int_equal(rv_guard_ignore_addr(g, &a), flip >= bits);
				/* The other family never matches. */
				a.family = fam == 0 ? AF_INET6 : AF_INET;
				if (fam == 1)
					assert_false(rv_guard_ignore_addr(g, &a));
			}
			rv_guard_free(&g);
		}
	}
}

static void test_suffixes(void **state)
{
	(void)state;
	int err;
	char eb[128];
	rv_guard *g = rv_guard_new("", "Example.COM. .internal", NULL, &err, eb, sizeof(eb));
	assert_non_null(g);
	assert_true(rv_guard_ignore_name(g, "example.com"));
	assert_true(rv_guard_ignore_name(g, "www.example.com"));
	assert_true(rv_guard_ignore_name(g, "a.b.internal"));
	assert_false(rv_guard_ignore_name(g, "evil-example.com"));
	assert_false(rv_guard_ignore_name(g, "example.com.evil"));
	assert_false(rv_guard_ignore_name(g, "com"));
	rv_guard_free(&g);
}

static void test_response_addresses(void **state)
{
	(void)state;
	int err;
	char eb[128];
	rv_guard *g = rv_guard_new(NULL, NULL, "127.0.0.2 ::1#5353", &err, eb, sizeof(eb));
	assert_non_null(g);
	rv_addr x = A("127.0.0.2"), v6 = A("::1"), other = A("127.0.0.1");
	assert_true(rv_guard_ignore_response(g, &x, 53));
	assert_true(rv_guard_ignore_response(g, &x, 5353));
	assert_true(rv_guard_ignore_response(g, &v6, 5353));
	assert_false(rv_guard_ignore_response(g, &v6, 53));
	assert_false(rv_guard_ignore_response(g, &other, 53));
	rv_guard_free(&g);
}

static void test_errors(void **state)
{
	(void)state;
	int err = 0;
	char eb[128];
	assert_null(rv_guard_new("10.0.0.0/33", NULL, NULL, &err, eb, sizeof(eb)));
	assert_int_equal(err, -EINVAL);
	assert_string_equal(eb, "ignore-cidr '10.0.0.0/33': expected ADDRESS or ADDRESS/BITS");
	assert_null(rv_guard_new("banana", NULL, NULL, &err, eb, sizeof(eb)));
	assert_null(rv_guard_new("1.2.3.4/", NULL, NULL, &err, eb, sizeof(eb)));
	assert_null(rv_guard_new(NULL, ".", NULL, &err, eb, sizeof(eb)));
	assert_string_equal(eb, "ignore-suffix '.': expected a domain name");
	assert_null(rv_guard_new(NULL, NULL, "1.2.3.4#99999", &err, eb, sizeof(eb)));
	assert_string_equal(eb, "ignore-response-address '1.2.3.4#99999': expected ADDRESS or ADDRESS#PORT");
	assert_null(rv_guard_new(NULL, NULL, "1.2.3.4#", &err, eb, sizeof(eb)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_cidrs),
		cmocka_unit_test(test_odd_prefix_lengths),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_every_prefix_length),
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_response_addresses),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
