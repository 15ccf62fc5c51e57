/* Unit tests for dnswire.c: the message scanner, compressed names, the
 * rcode / TSIG error / type names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dnswire.h"

static void test_fields(void **state)
{
	uint8_t b[4];

	(void)state;
	rv_put16(b, 0xabcd);
	assert_int_equal(rv_get16(b), 0xabcd);
	rv_put32(b, 0x01020304);
	assert_int_equal(rv_get32(b), 0x01020304);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[3], 4);
}

static void test_names(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(rv_dns_rcode_name(0, buf, sizeof(buf)), "NOERROR");
	assert_string_equal(rv_dns_rcode_name(4, buf, sizeof(buf)), "NOTIMP");
	assert_string_equal(rv_dns_rcode_name(9, buf, sizeof(buf)), "NOTAUTH");
	assert_string_equal(rv_dns_rcode_name(10, buf, sizeof(buf)), "NOTZONE");
	assert_string_equal(rv_dns_rcode_name(11, buf, sizeof(buf)), "RCODE11");
	assert_string_equal(rv_dns_tsig_error_name(16, buf, sizeof(buf)), "BADSIG");
	assert_string_equal(rv_dns_tsig_error_name(17, buf, sizeof(buf)), "BADKEY");
	assert_string_equal(rv_dns_tsig_error_name(18, buf, sizeof(buf)), "BADTIME");
	assert_string_equal(rv_dns_tsig_error_name(22, buf, sizeof(buf)), "BADTRUNC");
	assert_string_equal(rv_dns_tsig_error_name(99, buf, sizeof(buf)), "99");
	assert_string_equal(rv_dns_type_name(12, buf, sizeof(buf)), "PTR");
	assert_string_equal(rv_dns_type_name(46, buf, sizeof(buf)), "RRSIG");
	assert_string_equal(rv_dns_type_name(65280, buf, sizeof(buf)), "TYPE65280");
}

/* header (id 1, QR, 1 question, 1 answer), "a.example." A, an answer whose
 * owner is a pointer to the question name. */
static const uint8_t msg[] = {
	0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
	1, 'A', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
};

static void test_scan(void **state)
{
	rv_dns_msg m;
	char err[128];
	uint8_t w[sizeof(msg) + 1];

	(void)state;
	assert_int_equal(rv_dnswire_scan(msg, sizeof(msg), &m, err, sizeof(err)), 0);
	assert_int_equal(m.id, 1);
	assert_true(rv_dns_qr(&m));
	assert_int_equal(rv_dns_opcode(&m), 0);
	assert_int_equal(rv_dns_rcode(&m), 0);
	assert_int_equal(m.an, 1);
	assert_int_equal(m.an_off, 27);
	assert_false(m.has_tsig);
	/* every truncation and one octet too many: malformed */
	for (size_t l = 0; l < sizeof(msg); l++)
		assert_int_equal(rv_dnswire_scan(msg, l, &m, err, sizeof(err)), -EBADMSG);
	memcpy(w, msg, sizeof(msg));
	w[sizeof(msg)] = 0;
	assert_int_equal(rv_dnswire_scan(w, sizeof(w), &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "malformed"));
	assert_int_equal(rv_dnswire_scan(NULL, 0, &m, err, sizeof(err)), -EBADMSG);

	/* names: the pointer is followed, the copy is lower-case */
	uint8_t name[255];
	size_t nl, off = 27;
	assert_true(rv_dnswire_name_read(msg, sizeof(msg), &off, name, &nl));
	assert_int_equal(off, 29);
	assert_int_equal(nl, 11);
	assert_memory_equal(name, "\1a\7example", 11);
	/* a pointer to itself or forward is refused (no loops) */
	memcpy(w, msg, sizeof(msg));
	w[28] = 27;
	off = 27;
	assert_false(rv_dnswire_name_read(w, sizeof(msg), &off, name, &nl));
	w[28] = 40;
	off = 27;
	assert_false(rv_dnswire_name_read(w, sizeof(msg), &off, name, &nl));
	/* label types 0x40 / 0x80 */
	w[27] = 0x40;
	off = 27;
	assert_false(rv_dnswire_name_skip(w, sizeof(msg), &off));
	assert_int_equal(rv_dnswire_scan(w, sizeof(msg), &m, err, sizeof(err)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
