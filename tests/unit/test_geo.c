/* test_geo.c - country lookups in tests/data/test-country.mmdb (made by
 * tests/data/make-test-mmdb.py) and damaged copies of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "geo.h"
#include "rv_config.h"

#define TEST_DB RV_TEST_DATA "/test-country.mmdb"

static rv_addr addr(const char *text)
{
	rv_addr a;

	assert_int_equal(rv_addr_parse(text, &a), 0);
	return a;
}

/* Looks text up; returns the result code, country in cc. */
static int lookup(rv_geo *g, const char *text, char cc[3])
{
	rv_addr a = addr(text);

	memset(cc, 'x', 3); /* so a missing terminator shows */
	return rv_geo_country(g, &a, cc);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

#if RV_HAVE_MAXMINDDB

static rv_geo *open_test_db(void)
{
	char errbuf[256];
	int err = 1;
	rv_geo *g = rv_geo_open(TEST_DB, &err, errbuf, sizeof(errbuf));

	if (!g)
		fail_msg("%s (%d)", errbuf, err);
	assert_int_equal(err, 0);
	return g;
}

static void *read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void test_found(void **state)
{
	static const struct {
		const char *addr, *cc;
	} cases[] = {
		{"192.0.2.0", "AU"}, {"192.0.2.1", "AU"}, {"192.0.2.255", "AU"},
		{"198.51.100.0", "DE"}, {"198.51.100.77", "DE"}, {"198.51.100.255", "DE"},
		{"2001:db8::", "JP"}, {"2001:db8::1", "JP"}, {"2001:db8:abcd:12::53", "JP"},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "JP"},
		{"203.0.113.0", "US"}, {"203.0.113.127", "US"},
		/* IPv4-mapped: looked up as IPv4 although the database has no alias */
		{"::ffff:192.0.2.9", "AU"}, {"::ffff:203.0.113.1", "US"},
		/* IPv4 lives under ::/96 of the tree, so the (deprecated) IPv4-compatible
		 * form lands there too: a property of the format, pinned here */
		{"::192.0.2.9", "AU"},
	};
	rv_geo *g = open_test_db();
	char cc[3];

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		int rc = lookup(g, cases[i].addr, cc);
		if (rc != 0 || strcmp(cc, cases[i].cc) != 0)
			fail_msg("%s: rc %d cc \"%s\", want \"%s\"", cases[i].addr, rc, cc, cases[i].cc);
	}
	rv_geo_free(&g);
	assert_null(g);
	rv_geo_free(&g); /* twice is harmless */
}

static void test_not_found(void **state)
{
	static const char *const cases[] = {
		"192.0.1.255", "192.0.3.0", "198.51.101.0", "10.0.0.1", "0.0.0.0",
		"255.255.255.255", "127.0.0.1",
		"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "::", "::1",
		"fe80::1", "2a00:1450::1", "::ffff:10.0.0.1",
	};
	rv_geo *g = open_test_db();
	char cc[3];

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		int rc = lookup(g, cases[i], cc);
		if (rc != -ENOENT || cc[0] != '\0')
			fail_msg("%s: rc %d cc \"%.2s\", want -ENOENT and \"\"", cases[i], rc, cc);
	}
	rv_geo_free(&g);
}

/* The odd records in 203.0.113.128/25 and 3fff::/20: see make-test-mmdb.py */
static void test_record_shapes(void **state)
{
	static const struct {
		const char *addr;
		int rc;
		const char *cc;
	} cases[] = {
		{"203.0.113.128", 0, "NZ"},        /* registered_country only */
		{"203.0.113.191", 0, "NZ"},
		{"203.0.113.200", -EBADMSG, ""},   /* "usa" */
		{"203.0.113.230", 0, "FR"},        /* "fr", upper-cased */
		{"203.0.113.241", -EBADMSG, ""},   /* a uint32, not a string */
		{"203.0.113.249", -ENOENT, ""},    /* only a continent */
		{"203.0.113.252", -EBADMSG, ""},   /* "\u00e9": two bytes, not letters */
		{"203.0.113.254", 0, "CA"},        /* country beats registered_country */
		{"203.0.113.255", 0, "CA"},
		{"3fff:0:0:1::1", 0, "SE"},        /* country without iso_code */
		{"3fff:0:0:2::1", -ENOENT, ""},    /* "country": "Japan" */
		{"3fff:0:0:3::1", -ENOENT, ""},    /* the record is a string */
		{"3fff::1", -ENOENT, ""},          /* 3fff:0:0:0::/64 is not in the DB */
	};
	rv_geo *g = open_test_db();
	char cc[3];

	(void)state;
	for (size_t i = 0; i < RV_ARRAY_LEN(cases); i++) {
		int rc = lookup(g, cases[i].addr, cc);
		if (rc != cases[i].rc || strcmp(cc, cases[i].cc) != 0)
			fail_msg("%s: rc %d cc \"%.2s\", want %d \"%s\"", cases[i].addr, rc, cc,
					cases[i].rc, cases[i].cc);
	}
	rv_geo_free(&g);
}

static void test_metadata(void **state)
{
	rv_geo *g = open_test_db();
	rv_addr a;
	char cc[3];

	(void)state;
	assert_string_equal(rv_geo_database_type(g), "Rearview-Test-Country");
	assert_int_equal(rv_geo_build_epoch(g), 1735689600);
	assert_string_equal(rv_geo_database_type(NULL), "");

	/* no database: unknown, so callers need no special case */
	assert_int_equal(lookup(NULL, "192.0.2.1", cc), -ENOENT);
	assert_string_equal(cc, "");
	/* not an address at all: a caller bug, still no country */
	memset(&a, 0, sizeof(a));
	memset(cc, 'x', sizeof(cc));
	assert_int_equal(rv_geo_country(g, &a, cc), -EINVAL);
	assert_int_equal(cc[0], '\0');
	rv_geo_free(&g);
}

struct tmp {
	char dir[64];
	char path[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/rv-test-geo-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/db.mmdb", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;

	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Opens t->path; it must fail with want_err (or any error when want_err is 0). */
static void open_fails(struct tmp *t, int want_err)
{
	char errbuf[256];
	int err = 0;
	rv_geo *g = rv_geo_open(t->path, &err, errbuf, sizeof(errbuf));

	assert_null(g);
	if (want_err)
		assert_int_equal(err, want_err);
	else
		assert_true(err < 0);
	/* "PATH: why" */
	assert_int_equal(strncmp(errbuf, t->path, strlen(t->path)), 0);
	assert_true(strlen(errbuf) > strlen(t->path) + 2);
}

static void test_open_errors(void **state)
{
	struct tmp *t = *state;
	char errbuf[256], want[256];
	int err = 0;

	/* missing */
	assert_null(rv_geo_open(t->path, &err, errbuf, sizeof(errbuf)));
	assert_int_equal(err, -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", t->path);
	assert_string_equal(errbuf, want);

	/* empty */
	write_file(t->path, "", 0);
	open_fails(t, -EBADMSG);
	assert_null(rv_geo_open(t->path, &err, errbuf, sizeof(errbuf)));
	snprintf(want, sizeof(want), "%s: empty file, not a MaxMind DB", t->path);
	assert_string_equal(errbuf, want);

	/* garbage: text, and text that carries the metadata marker */
	static const char text[] = "this is not a MaxMind DB\n";
	write_file(t->path, text, sizeof(text) - 1);
	open_fails(t, -EBADMSG);
	static const char marker[] = "\xab\xcd\xefMaxMind.com\xe0";
	write_file(t->path, marker, sizeof(marker) - 1);
	open_fails(t, -EBADMSG);
	static const char bad_map[] = "\0\0\0\0\xab\xcd\xefMaxMind.com\xe1\x4anode_count\xff";
	write_file(t->path, bad_map, sizeof(bad_map) - 1);
	open_fails(t, -EBADMSG);

	/* a directory */
	assert_null(rv_geo_open(t->dir, &err, errbuf, sizeof(errbuf)));
	assert_int_equal(err, -EBADMSG);
	snprintf(want, sizeof(want), "%s: not a regular file", t->dir);
	assert_string_equal(errbuf, want);

	/* a tiny errbuf is cut, not overrun */
	char small[8];
	assert_null(rv_geo_open(t->path, &err, small, sizeof(small)));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_truncated(void **state)
{
	struct tmp *t = *state;
	size_t len;
	char *db = read_file(TEST_DB, &len);

	/* every length short of the whole file: the metadata at the end is cut,
	 * so the open must fail cleanly */
	for (size_t cut = 0; cut < len; cut++) {
		char errbuf[256];
		int err = 0;
		write_file(t->path, db, cut);
		rv_geo *g = rv_geo_open(t->path, &err, errbuf, sizeof(errbuf));
		if (g)
			fail_msg("truncated to %zu of %zu bytes: opened", cut, len);
		assert_int_equal(err, -EBADMSG);
	}
	free(db);
}

/* Lookups of these, against damaged databases, must give a sane answer. */
static const char *const probes[] = {
	"192.0.2.1", "198.51.100.2", "2001:db8::3", "203.0.113.4", "203.0.113.130",
	"203.0.113.200", "203.0.113.230", "203.0.113.241", "203.0.113.249",
	"203.0.113.253", "203.0.113.254", "10.0.0.1", "2001:db9::1", "3fff:0:0:1::1",
	"3fff:0:0:2::1", "3fff:0:0:3::1",
};

static void test_corrupted(void **state)
{
	struct tmp *t = *state;
	size_t len, end;
	char *db = read_file(TEST_DB, &len);
	unsigned opened = 0, found = 0, bad = 0;

	/* damage one byte at a time, everywhere before the metadata (damaged
	 * metadata is the truncation test's job): all bits, and the lowest one,
	 * which turns a record or pointer into a near, plausible one */
	for (end = len - 14; end > 0; end--)
		if (memcmp(db + end, "\xab\xcd\xefMaxMind.com", 14) == 0)
			break;
	assert_true(end > 0);
	for (size_t step = 0; step < 2 * end; step++) {
		size_t off = step / 2;
		char mask = step % 2 ? 0x01 : (char)0xff;
		char errbuf[256];
		int err = 0;

		db[off] ^= mask;
		write_file(t->path, db, len);
		db[off] ^= mask;
		rv_geo *g = rv_geo_open(t->path, &err, errbuf, sizeof(errbuf));
		if (!g) {
			assert_int_equal(err, -EBADMSG);
			continue;
		}
		opened++;
		for (size_t i = 0; i < RV_ARRAY_LEN(probes); i++) {
			char cc[3];
			int rc = lookup(g, probes[i], cc);
			if (rc == 0) {
				found++;
				assert_true(cc[0] >= 'A' && cc[0] <= 'Z');
				assert_true(cc[1] >= 'A' && cc[1] <= 'Z');
				assert_int_equal(cc[2], '\0');
			} else {
				if (rc == -EBADMSG)
					bad++;
				else
					assert_int_equal(rc, -ENOENT);
				assert_int_equal(cc[0], '\0');
			}
		}
		rv_geo_free(&g);
	}
	/* the damage has to reach the lookups, or this proved nothing */
	assert_true(opened > 0);
	assert_true(found > 0);
	assert_true(bad > 0);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_record_shapes),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test_setup_teardown(test_open_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_corrupted, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* !RV_HAVE_MAXMINDDB */

static void test_not_supported(void **state)
{
	char errbuf[256], cc[3];
	int err = 0;
	rv_geo *g;

	(void)state;
	g = rv_geo_open(TEST_DB, &err, errbuf, sizeof(errbuf));
	assert_null(g);
	assert_int_equal(err, -ENOTSUP);
	assert_non_null(strstr(errbuf, "without libmaxminddb"));
	rv_geo_free(&g);
	assert_int_equal(lookup(NULL, "192.0.2.1", cc), -ENOENT);
	assert_string_equal(cc, "");
	(void)write_file;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_supported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
