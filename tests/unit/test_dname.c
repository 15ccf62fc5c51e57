/* Unit tests for dname.c: text <-> wire, escapes, limits, case, and that the
 * ingest path's printer (dnsmsg.c) and ldns agree with it byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "dname.h"
#include "long_name.h"
#include "dnsmsg.h"

/* text -> wire -> text; returns the printed text (static) or NULL if refused. */
static const char *round_trip(const char *text, unsigned flags)
{
	static char out[RV_NAME_MAX];
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl = 0;
	const char *why = NULL;

	if (rv_dname_from_text(text, strlen(text), flags, w, &wl, &why) < 0) {
		assert_non_null(why);
		return NULL;
	}
	assert_true(wl >= 1 && wl <= RV_DNAME_WIRE_MAX);
	assert_true(rv_dname_to_text(w, wl, 0, out, sizeof(out)) > 0);
	return out;
}

static void expect(const char *text, const char *want)
{
	const char *got = round_trip(text, 0);
	if (want == NULL && got != NULL)
		fail_msg("\"%s\" accepted as \"%s\"", text, got);
	if (want != NULL && (got == NULL || strcmp(got, want) != 0))
		fail_msg("\"%s\" -> \"%s\", want \"%s\"", text, got ? got : "(refused)", want);
}

static void test_escapes(void **state)
{
	(void)state;
	expect("a\\.b.example", "a\\.b.example");
	expect("a\\.b.example.", "a\\.b.example");
	expect("sp\\032ace.example", "sp\\032ace.example");
	expect("x\\\\y.example", "x\\\\y.example");
	/* '"' is printable and no syntax in a name: printed as itself */
	expect("q\\\"uote.example", "q\"uote.example");
	expect("q\"uote.example", "q\"uote.example");
	expect("\\097bc.example", "abc.example");
	expect("\\000\\255\\127.x", "\\000\\255\\127.x");
	expect("semi\\;paren\\(\\).x", "semi\\;paren\\(\\).x");
	expect("end\\.", "end\\.");       /* an escaped dot is no terminator */
	expect(".", ".");
	expect("www.example.com", "www.example.com");
	/* refused */
	expect("", NULL);
	expect("..", NULL);
	expect(".a", NULL);
	expect("a..b", NULL);
	expect("a.b..", NULL);
	expect("a\\", NULL);
	expect("a\\2", NULL);
	expect("a\\25", NULL);
	expect("a\\25.b", NULL);
	expect("\\256.x", NULL);
	expect("\\1x2.x", NULL);

	const char *why = NULL;
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;
	assert_int_equal(rv_dname_from_text("a..b", 4, 0, w, &wl, &why), -EINVAL);
	assert_string_equal(why, "empty label");
	assert_int_equal(rv_dname_from_text("\\999", 4, 0, w, &wl, &why), -EINVAL);
	assert_string_equal(why, "bad escape");
	assert_int_equal(rv_dname_from_text("", 0, 0, w, &wl, NULL), -EINVAL);
	/* the wire is what RFC 1035 says */
	assert_int_equal(rv_dname_from_text("a\\.b.C", 6, 0, w, &wl, NULL), 0);
	assert_int_equal(wl, 7);
	assert_memory_equal(w, "\3a.b\1C\0", 7);
	assert_int_equal(rv_dname_from_text(".", 1, 0, w, &wl, NULL), 0);
	assert_int_equal(wl, 1);
	assert_int_equal(w[0], 0);
}

static void test_limits(void **state)
{
	char name[RV_NAME_MAX], want[RV_NAME_MAX + 2];
	const char *why;
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;

	(void)state;
	/* labels: 63 octets fit, 64 do not (RFC 1035 2.3.4), counted after escapes */
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, ".com");
	expect(name, name);
	memset(name, 'a', 64);
	snprintf(name + 64, sizeof(name) - 64, ".com");
	assert_int_equal(rv_dname_from_text(name, strlen(name), 0, w, &wl, &why), -EINVAL);
	assert_string_equal(why, "label longer than 63 octets");
	memset(name, 'a', 62);
	snprintf(name + 62, sizeof(name) - 62, "\\046.com");     /* 63 octets */
	memset(want, 'a', 62);
	snprintf(want + 62, sizeof(want) - 62, "\\..com");
	expect(name, want);
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, "\\046.com");     /* 64 octets */
	expect(name, NULL);

	/* names: 255 octets on the wire fit, 256 do not (RFC 1035 3.1) */
	long_name(name, 253);                    /* 253 + 2 = 255 */
	expect(name, name);
	assert_int_equal(rv_dname_from_text(name, strlen(name), 0, w, &wl, NULL), 0);
	assert_int_equal(wl, 255);
	snprintf(want, sizeof(want), "%s.", name);
	expect(want, name);                      /* with the trailing dot: same name */
	long_name(name, 254);
	assert_int_equal(rv_dname_from_text(name, strlen(name), 0, w, &wl, &why), -EINVAL);
	assert_string_equal(why, "name longer than 255 octets");
	snprintf(want, sizeof(want), "%s.", name);
	expect(want, NULL);
	/* a long text that is short on the wire: 63+63+63+61 octets, all \DDD */
	size_t o = 0;
	const size_t labs[] = { 63, 63, 63, 61 };
	for (size_t l = 0; l < 4; l++) {
		for (size_t k = 0; k < labs[l]; k++)
			o += (size_t)snprintf(name + o, sizeof(name) - o, "\\%03u", 200 + (unsigned)l);
		if (l < 3)
			name[o++] = '.';
	}
	name[o] = '\0';
	assert_true(o > 1000 && o < RV_NAME_MAX);
	expect(name, name);                      /* the longest text we print fits */
	snprintf(name + o, sizeof(name) - o, "\\200");   /* 256 octets */
	expect(name, NULL);

	/* wire -> text: malformed wire, small buffers */
	char out[RV_NAME_MAX];
	static const uint8_t l64[] = { 64 };
	assert_int_equal(rv_dname_to_text(l64, sizeof(l64), 0, out, sizeof(out)), -EINVAL);
	static const uint8_t noroot[] = { 1, 'a', 1, 'b' };
	assert_int_equal(rv_dname_to_text(noroot, sizeof(noroot), 0, out, sizeof(out)), -EINVAL);
	uint8_t big[300];
	for (size_t i = 0; i < 256; i += 2) {
		big[i] = 1;
		big[i + 1] = 'x';
	}
	big[256] = 0;
	assert_int_equal(rv_dname_to_text(big, sizeof(big), 0, out, sizeof(out)), -EINVAL);
	big[254] = 0;                            /* 127 labels + root = 255 octets */
	assert_int_equal(rv_dname_to_text(big, sizeof(big), 0, out, sizeof(out)), 253);
	static const uint8_t abc[] = { 3, 'a', 'b', 'c', 0 };
	assert_int_equal(rv_dname_to_text(abc, sizeof(abc), 0, out, 3), -ENOSPC);
	assert_int_equal(rv_dname_to_text(abc, sizeof(abc), 0, out, 1), -ENOSPC);
}

static void test_case(void **state)
{
	char out[RV_NAME_MAX];
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;

	(void)state;
	assert_string_equal(round_trip("WwW.ExAmple.COM", 0), "WwW.ExAmple.COM");
	assert_string_equal(round_trip("WwW.ExAmple.COM", RV_DNAME_LOWER), "www.example.com");
	/* only ASCII letters fold (RFC 4343); escapes fold too, octets >= 128 not */
	assert_string_equal(round_trip("\\065\\090\\091\\196", RV_DNAME_LOWER), "az[\\196");
	assert_int_equal(rv_dname_from_text("ABC", 3, 0, w, &wl, NULL), 0);
	assert_int_equal(rv_dname_to_text(w, wl, RV_DNAME_LOWER, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(rv_dname_canon("Ex\\097mple.COM.", out, sizeof(out), NULL), 11);
	assert_string_equal(out, "example.com");
	assert_int_equal(rv_dname_canon("a..b", out, sizeof(out), NULL), -EINVAL);
	assert_int_equal(rv_dname_canon(".", out, sizeof(out), NULL), 1);
	assert_string_equal(out, ".");
}

static void test_strip_dot(void **state)
{
	(void)state;
	assert_int_equal(rv_dname_strip_dot("a.b.", 4), 3);
	assert_int_equal(rv_dname_strip_dot("a.b", 3), 3);
	assert_int_equal(rv_dname_strip_dot("a\\.", 3), 3);
	assert_int_equal(rv_dname_strip_dot("a\\\\.", 4), 3);
	assert_int_equal(rv_dname_strip_dot("", 0), 0);
	assert_int_equal(rv_dname_strip_dot(".", 1), 0);
}

/* A response whose question name is the given wire name, with one A. */
static size_t response(const uint8_t *name, size_t nl, uint8_t *m)
{
	static const uint8_t hdr[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0 };
	static const uint8_t tail[] = { 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
		192, 0, 2, 1 };
	memcpy(m, hdr, sizeof(hdr));
	memcpy(m + 12, name, nl);
	memcpy(m + 12 + nl, tail, sizeof(tail));
	return 12 + nl + sizeof(tail);
}

/* The ingest path prints names with its own walker (dnsmsg.c): for every octet
 * value, in any case, it prints what rv_dname_to_text prints, and ldns (which
 * printed the names the agent stored before) prints the same. */
static void test_same_as_dnsmsg_and_ldns(void **state)
{
	uint8_t name[16], m[128];
	char out[RV_NAME_MAX];
	rv_answer a;
	rv_verdict why;

	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		size_t nl = 0;
		name[nl++] = 3;
		name[nl++] = 'A';
		name[nl++] = (uint8_t)c;
		name[nl++] = 'b';
		name[nl++] = 2;
		name[nl++] = 'E';
		name[nl++] = 'x';
		name[nl++] = 0;
		size_t ml = response(name, nl, m);
		assert_int_equal(rv_dnsmsg_parse(m, ml, 8, &a, &why), 0);
		assert_true(rv_dname_to_text(name, nl, RV_DNAME_LOWER, out, sizeof(out)) > 0);
		if (strcmp(a.qname, out) != 0)
			fail_msg("octet %u: dnsmsg \"%s\", dname \"%s\"", c, a.qname, out);
		/* ldns_rdf2str on the lower-cased name, without its trailing dot */
		uint8_t lw[16];
		size_t lwl;
		assert_int_equal(rv_dname_from_text(out, strlen(out), 0, lw, &lwl, NULL), 0);
		ldns_rdf *r = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, lwl, lw);
		char *s = ldns_rdf2str(r);
		assert_non_null(s);
		s[strlen(s) - 1] = '\0';
		if (strcmp(s, out) != 0)
			fail_msg("octet %u: ldns \"%s\", dname \"%s\"", c, s, out);
		free(s);
		ldns_rdf_deep_free(r);
		/* and back: the text is the same name */
		assert_int_equal(rv_dname_from_text(out, strlen(out), 0, lw, &lwl, NULL), 0);
		assert_int_equal(lwl, nl);
		assert_int_equal(lw[2], c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
}

/* ldns' text reader and ours make the same wire from the same text. */
static void test_same_wire_as_ldns(void **state)
{
	static const char *const names[] = {
		"www.example.com.", "a\\.b.example.", "sp\\032ace.example.", "x\\\\y.", "q\\\"uote.",
		"\\000\\001\\255.", "MiXeD.CaSe.", "end\\..", "a.b.c.d.e.f.g.",
	};
	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(names); i++) {
		uint8_t w[RV_DNAME_WIRE_MAX];
		size_t wl;
		ldns_rdf *r = ldns_dname_new_frm_str(names[i]);
		assert_non_null(r);
		assert_int_equal(rv_dname_from_text(names[i], strlen(names[i]), 0, w, &wl, NULL), 0);
		assert_int_equal(wl, ldns_rdf_size(r));
		assert_memory_equal(w, ldns_rdf_data(r), wl);
		ldns_rdf_deep_free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_strip_dot),
		cmocka_unit_test(test_same_as_dnsmsg_and_ldns),
		cmocka_unit_test(test_same_wire_as_ldns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
