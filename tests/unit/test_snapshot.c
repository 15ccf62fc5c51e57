/* Unit tests for snapshot.c: round trip, corruption and truncation, atomic and
 * background saves, and the time to save and load 1M addresses (printed). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>

#include "snapshot.h"
#include "table_pub.h"
#include "tmpdir.h"

static rv_addr A(const char *s)
{
	rv_addr a;
	assert_int_equal(rv_addr_parse(s, &a), 0);
	return a;
}

static rv_table *mk(size_t max)
{
	rv_table_opts o = {.max_addresses = max, .max_candidates = 64, .half_life_s = 86400,
			   .depth_weight = 0.1};
	rv_table *t = tbl_new(&o);
	assert_non_null(t);
	return t;
}

/* ---- a flat copy of a table's contents, in foreach order ---- */

typedef struct flat_cand {
	char name[RV_NAME_MAX];
	rv_candidate c;
} flat_cand;

typedef struct flat_entry {
	rv_addr addr;
	unsigned n;
	flat_cand cands[8];
} flat_entry;

typedef struct flat {
	flat_entry e[16];
	unsigned n;
} flat;

static int flatten_visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned n)
{
	flat *f = arg;
	assert_true(f->n < RV_ARRAY_LEN(f->e));
	assert_true(n <= 8);
	flat_entry *e = &f->e[f->n++];
	e->addr = *addr;
	e->n = n;
	for (unsigned i = 0; i < n; i++) {
		snprintf(e->cands[i].name, sizeof(e->cands[i].name), "%s", cands[i].name);
		e->cands[i].c = cands[i];
		e->cands[i].c.name = NULL;
	}
	return 0;
}

static void flatten(const rv_table *t, flat *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(rv_table_foreach(t, flatten_visit, f), 0);
}

static void assert_flat_equal(const flat *a, const flat *b)
{
	assert_int_equal(a->n, b->n);
	for (unsigned i = 0; i < a->n; i++) {
		const flat_entry *x = &a->e[i], *y = &b->e[i];
		assert_true(rv_addr_equal(&x->addr, &y->addr));
		assert_int_equal(x->n, y->n);
		for (unsigned k = 0; k < x->n; k++) {
			const rv_candidate *p = &x->cands[k].c, *q = &y->cands[k].c;
			assert_string_equal(x->cands[k].name, y->cands[k].name);
			assert_int_equal(p->first, q->first);
			assert_int_equal(p->last, q->last);
			assert_int_equal(p->count, q->count);
			assert_true(p->freq == q->freq);
			assert_int_equal(p->depth, q->depth);
			assert_int_equal(p->ttl, q->ttl);
		}
	}
}

/* A small table: IPv4 and IPv6, several candidates, names with escapes. */
static rv_table *sample(void)
{
	rv_table *t = mk(100);
	time_t now = time(NULL);
	static const struct {
		const char *addr;
		unsigned n;
		const char *names[4];
	} rows[] = {
		{"192.0.2.1", 3, {"www.example.com", "a\\.b.example", "cdn\\032x.example"}},
		{"2001:db8::1", 2, {"v6.example.org", "x\\\\y.example"}},
		{"198.51.100.7", 1, {"only.example.net"}},
		{"2001:db8:ffff::abcd", 4, {"a.test", "b.test", "c.test", "d.test"}},
	};
	for (size_t r = 0; r < RV_ARRAY_LEN(rows); r++) {
		rv_addr a = A(rows[r].addr);
		rv_candidate c[4];
		for (unsigned k = 0; k < rows[r].n; k++)
			c[k] = (rv_candidate){
				.name = rows[r].names[k],
				.first = now - 1000 - (int64_t)(r * 10 + k),
				.last = now - (int64_t)(r * 10 + k),
				.count = 3 + r * 7 + k,
				.freq = 0.5 + (double)k,
				.depth = (unsigned)k,
				.ttl = 60 * (unsigned)(k + 1),
			};
		assert_int_equal(rv_table_restore(t, &a, c, rows[r].n), 0);
	}
	assert_int_equal(rv_table_size(t), RV_ARRAY_LEN(rows));
	return t;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct stat st;
	assert_int_equal(fstat(fileno(f), &st), 0);
	*len = (size_t)st.st_size;
	uint8_t *buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void reseal(uint8_t *buf, size_t len)
{
	uint64_t h = XXH3_64bits(buf, len - 8);
	for (int i = 7; i >= 0; i--, h >>= 8)
		buf[len - 8 + i] = (uint8_t)h;
}

static void test_round_trip(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	flat *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);

	const char *p = path_of("rt.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	/* 0640 at most (the umask may take more away). */
	assert_int_equal(st.st_mode & 0777 & ~(mode_t)0640, 0);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);
	flatten(t, a);
	flatten(u, b);
	assert_int_equal(a->n, 4);
	/* Same entries, same candidates, same order (recency rebuilt). */
	assert_flat_equal(a, b);
	/* The best name survives too. */
	rv_addr x = A("192.0.2.1");
	assert_string_equal(rv_table_best(t, &x), rv_table_best(u, &x));
	/* Nothing restored is queued for the RPZ: the reconcile decides. */
	assert_int_equal(tbl_queued(u), 0);

	/* Saving the restored table gives the same bytes but the creation time. */
	const char *p2 = path_of("rt2.snap");
	assert_int_equal(rv_snapshot_save(u, p2, err, sizeof(err)), 0);
	size_t l1, l2;
	uint8_t *b1 = slurp(p, &l1), *b2 = slurp(p2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1 + 16, b2 + 16, l1 - 16 - 8);
	free(b1);
	free(b2);
	free(a);
	free(b);
	tbl_free(&t);
	tbl_free(&u);
}

static void test_empty_table(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	size_t len;
	rv_table *t = mk(10), *u = mk(10);
	const char *p = path_of("empty.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	uint8_t *buf = slurp(p, &len);
	assert_int_equal(len, RV_SNAPSHOT_HEADER + RV_SNAPSHOT_TRAILER);
	assert_memory_equal(buf, "RVSNAP\0\1", 8);
	free(buf);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 0);
	assert_int_equal(rv_table_size(u), 0);
	tbl_free(&t);
	tbl_free(&u);
}

static void test_missing_file(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls = {.loaded = 5};
	rv_table *u = mk(10);
	assert_int_equal(rv_snapshot_read(u, path_of("nope.snap"), &ls, err, sizeof(err)),
			-ENOENT);
	assert_int_equal(ls.loaded, 0);
	assert_non_null(strstr(err, "nope.snap"));
	tbl_free(&u);
}

/* Every prefix of a valid snapshot is refused and leaves the table empty. */
static void test_truncation_every_length(void **state)
{
	(void)state;
	char err[256];
	size_t len;
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *p = path_of("trunc.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	uint8_t *buf = slurp(p, &len);

	assert_int_equal(rv_snapshot_parse(buf, len, u, &ls, err, sizeof(err)), 0);
	tbl_free(&u);
	u = mk(100);
	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so ASan/valgrind catch any over-read. */
		uint8_t *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, buf, n);
		ls.loaded = 7;
		int rc = rv_snapshot_parse(cut, n, u, &ls, err, sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("length %zu of %zu: rc %d (%s)", n, len, rc, err);
		assert_int_equal(ls.loaded, 0);
		assert_int_equal(rv_table_size(u), 0);
		assert_true(err[0] != '\0');
		free(cut);
	}
	/* Cut inside an entry: the message names it. */
	assert_int_equal(rv_snapshot_parse(buf, len - 20, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated at entry 4 of 4"));
	free(buf);
	tbl_free(&t);
	tbl_free(&u);
}

/* Any single bit flipped anywhere is refused; in the body, by the checksum. */
static void test_bit_flips(void **state)
{
	(void)state;
	char err[256];
	size_t len;
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *p = path_of("flip.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	uint8_t *buf = slurp(p, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			int rc = rv_snapshot_parse(buf, len, u, &ls, err, sizeof(err));
			if (rc != -EBADMSG)
				fail_msg("byte %zu bit %d: rc %d", i, bit, rc);
			assert_int_equal(rv_table_size(u), 0);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* A flip in a name (same length, still printable): only the checksum sees it. */
	size_t at = RV_SNAPSHOT_HEADER + 18 + 2;  /* first byte of the first name */
	buf[at] ^= 1;
	assert_int_equal(rv_snapshot_parse(buf, len, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "checksum mismatch");
	free(buf);
	tbl_free(&t);
	tbl_free(&u);
}

static void test_magic_and_version(void **state)
{
	(void)state;
	char err[256];
	size_t len;
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *p = path_of("mv.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	uint8_t *buf = slurp(p, &len);

	buf[0] = 'X';
	reseal(buf, len);
	assert_int_equal(rv_snapshot_parse(buf, len, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	buf[0] = 'R';
	buf[7] = 2;  /* version 2, correctly sealed: a future format */
	reseal(buf, len);
	assert_int_equal(rv_snapshot_parse(buf, len, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "version 2"));
	assert_int_equal(rv_table_size(u), 0);
	free(buf);
	tbl_free(&t);
	tbl_free(&u);
}

/* ---- hand-built files: bounds checked even with a valid checksum ---- */

typedef struct builder {
	uint8_t b[16384];
	size_t n;
	unsigned id;        /* entries so far: each gets its own address */
	int64_t created;
} builder;

static void put(builder *w, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

static void header(builder *w, uint64_t entries)
{
	w->n = 0;
	w->id = 0;
	w->created = time(NULL);
	memcpy(w->b, "RVSNAP", 6);
	w->n = 6;
	put(w, 1, 2);
	put(w, (uint64_t)w->created, 8);
	put(w, entries, 8);
}

static void entry(builder *w, unsigned fam, unsigned ncands)
{
	put(w, fam, 1);
	for (int i = 0; i < 16; i++)
		w->b[w->n++] = fam == 4 && i >= 4 ? 0 : (uint8_t)(i + 1);
	/* Third and fourth bytes: the entry's number, so addresses differ. */
	w->b[w->n - 16 + 2] = (uint8_t)(w->id >> 8);
	w->b[w->n - 16 + 3] = (uint8_t)w->id;
	w->id++;
	put(w, ncands, 1);
}

static void cand(builder *w, const char *name, int64_t first, int64_t last, uint64_t count)
{
	size_t l = strlen(name);
	put(w, l, 2);
	memcpy(w->b + w->n, name, l);
	w->n += l;
	put(w, (uint64_t)first, 8);
	put(w, (uint64_t)last, 8);
	put(w, count, 8);
	double f = 1.5;
	uint64_t bits;
	memcpy(&bits, &f, 8);
	put(w, bits, 8);
	put(w, 2, 1);
	put(w, 300, 4);
}

static int finish_parse(builder *w, rv_table *u, rv_snapshot_load_stats *ls, char *err,
		size_t errlen)
{
	put(w, 0, 8);
	reseal(w->b, w->n);
	int rc = rv_snapshot_parse(w->b, w->n, u, ls, err, errlen);
	if (rc == 0) {
		assert_int_equal(ls->loaded, rv_table_size(u));
		assert_true(ls->skipped == 0 || ls->first_skipped[0] != '\0');
	} else {
		assert_int_equal(ls->loaded + ls->skipped + ls->clamped, 0);
	}
	return rc;
}

static void test_bounds(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	builder *w = malloc(sizeof(*w));
	rv_table *u = mk(100);
	int64_t now = time(NULL);
	assert_non_null(w);

	/* The well-formed baseline. */
	header(w, 2);
	entry(w, 4, 1);
	cand(w, "ok.example", now - 5, now, 3);
	entry(w, 6, 2);
	cand(w, "a.example", now - 5, now, 1);
	cand(w, "b.example", now - 5, now, 1);
	if (finish_parse(w, u, &ls, err, sizeof(err)) != 0)
		fail_msg("baseline refused: %s", err);
	assert_int_equal(rv_table_size(u), 2);
	assert_int_equal(ls.skipped, 0);
	assert_int_equal(ls.clamped, 0);
	assert_string_equal(ls.first_skipped, "");
	tbl_free(&u);
	u = mk(100);

	/* A bad entry between two good ones: skipped alone, with its reason. */
	static const struct {
		const char *name;
		unsigned fam, ncands;
		int64_t first_off, last_off;
		uint64_t count;
		const char *why;
	} bad[] = {
		{"x.example", 5, 1, -5, 0, 1, "entry 2: address family 5"},
		{"x.example", 4, 0, -5, 0, 1, "entry 2: 0 candidates"},
		{"x.example", 4, 65, -5, 0, 1, "entry 2: 65 candidates"},
		{"has space", 4, 1, -5, 0, 1, "entry 2 candidate 1: name of 9 bytes"},
		{"Upper.example", 4, 1, -5, 0, 1, "not lower-case printable"},
		{"", 4, 1, -5, 0, 1, "name of 0 bytes"},
		{"x.example", 4, 1, 0, -5, 1, "out of range"},           /* first > last */
		{"x.example", 4, 1, INT64_MIN, 0, 1, "out of range"},     /* first < 0 */
		{"x.example", 4, 1, -5, 0, 0, "entry 2 candidate 1: count 0"},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(bad); i++) {
		header(w, 3);
		entry(w, 4, 1);
		cand(w, "before.example", now - 5, now, 1);
		entry(w, bad[i].fam, bad[i].ncands);
		for (unsigned k = 0; k < bad[i].ncands; k++) {
			/* Several candidates: distinct names (the first one as given). */
			char name[32];
			snprintf(name, sizeof(name), "n%u.example", k);
			int64_t first = bad[i].first_off == INT64_MIN ? -1 : now + bad[i].first_off;
			cand(w, k ? name : bad[i].name, first, now + bad[i].last_off, bad[i].count);
		}
		entry(w, 6, 1);
		cand(w, "after.example", now - 5, now, 1);
		int rc = finish_parse(w, u, &ls, err, sizeof(err));
		if (rc != 0 || ls.skipped != 1 || ls.loaded != 2 ||
		    strstr(ls.first_skipped, bad[i].why) == NULL)
			fail_msg("case %zu: rc %d (%s) loaded %zu skipped %zu first '%s' (want '%s')",
					i, rc, err, ls.loaded, ls.skipped, ls.first_skipped, bad[i].why);
		assert_int_equal(rv_table_size(u), 2);
		tbl_free(&u);
		u = mk(100);
	}

	/* A frequency that is not a number. */
	header(w, 1);
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 1);
	uint64_t nan_bits = 0x7ff8000000000000ull;
	for (int k = 0; k < 8; k++)  /* freq: the 8 bytes before depth (1) and ttl (4) */
		w->b[w->n - 6 - k] = (uint8_t)(nan_bits >> (8 * k));
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.skipped, 1);
	assert_non_null(strstr(ls.first_skipped, "frequency"));

	/* IPv4 with bytes in the padding. */
	header(w, 1);
	entry(w, 6, 1);
	w->b[RV_SNAPSHOT_HEADER] = 4;
	cand(w, "x.example", now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.skipped, 1);
	assert_non_null(strstr(ls.first_skipped, "padding"));

	/* The same name twice for one address: the whole entry goes, and the
	 * first reason is the one kept. */
	header(w, 2);
	entry(w, 4, 2);
	cand(w, "dup.example", now - 5, now, 1);
	cand(w, "dup.example", now - 5, now, 1);
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 0);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.skipped, 2);
	assert_int_equal(ls.loaded, 0);
	assert_non_null(strstr(ls.first_skipped, "entry 1: candidate 2 repeats"));
	assert_int_equal(rv_table_size(u), 0);

	/* A name of 1024 bytes (the limit is 1023). */
	header(w, 1);
	entry(w, 4, 1);
	char longname[1025];
	memset(longname, 'a', 1024);
	longname[1024] = '\0';
	cand(w, longname, now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.skipped, 1);
	assert_int_equal(rv_table_size(u), 0);
	longname[1023] = '\0';
	header(w, 1);
	entry(w, 4, 1);
	cand(w, longname, now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.skipped, 0);
	assert_int_equal(rv_table_size(u), 1);
	tbl_free(&u);
	u = mk(100);

	/* Structure still rejects the file: fewer entries than announced, more
	 * bytes than entries, a name running past the end, a bad creation time. */
	header(w, 3);
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated at entry 2 of 3"));
	header(w, 0);
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "trailing bytes"));
	header(w, 2);
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 1);
	entry(w, 4, 1);
	put(w, 5000, 2);  /* namelen beyond the file */
	memcpy(w->b + w->n, "abc", 3);
	w->n += 3;
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated at entry 2 of 2"));
	header(w, 1);
	w->b[8] = 0x80;  /* created < 0 */
	entry(w, 4, 1);
	cand(w, "x.example", now - 5, now, 1);
	assert_int_equal(finish_parse(w, u, &ls, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "creation time"));
	assert_int_equal(rv_table_size(u), 0);

	free(w);
	tbl_free(&u);
}

/* A table of n addresses with one candidate each (about 75 bytes an address
 * on disk), with room for a few more. */
static rv_table *many(size_t n)
{
	rv_table *t = mk(n + 16);
	int64_t now = time(NULL);
	char name[64];
	for (size_t i = 0; i < n; i++) {
		rv_addr a;
		memset(&a, 0, sizeof(a));
		a.family = AF_INET;
		a.bytes[0] = 10;
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
		snprintf(name, sizeof(name), "host%zu.example.com", i);
		rv_candidate c = {.name = name, .first = now - 10, .last = now, .count = 1,
				  .freq = 1.0, .ttl = 60};
		assert_int_equal(rv_table_restore(t, &a, &c, 1), 0);
	}
	return t;
}

/* The candidates of one address, found with rv_table_foreach. */
typedef struct entry_copy {
	rv_addr want;
	unsigned n;
	char names[8][RV_NAME_MAX];
	rv_candidate cands[8];
} entry_copy;

static int find_visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned n)
{
	entry_copy *f = arg;
	if (!rv_addr_equal(addr, &f->want))
		return 0;
	for (unsigned i = 0; i < n && i < 8; i++) {
		snprintf(f->names[i], sizeof(f->names[i]), "%s", cands[i].name);
		f->cands[i] = cands[i];
		f->cands[i].name = f->names[i];
	}
	f->n = n;
	return 0;
}

/* The review's case: 100 addresses and one frame stamped 3 days ahead. The
 * file is kept; the future times come back as the file's creation time. */
static void test_future_clamped(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	builder *w = malloc(sizeof(*w));
	rv_table *u = mk(200);
	assert_non_null(w);
	header(w, 101);
	int64_t now = w->created;
	for (unsigned i = 0; i < 100; i++) {
		entry(w, 4, 1);
		cand(w, "ok.example", now - 50, now - 1, 2);
	}
	entry(w, 6, 2);
	cand(w, "future.example", now + 3 * 86400 - 10, now + 3 * 86400, 1);  /* both ahead */
	cand(w, "mixed.example", now - 100, now + 3 * 86400, 1);              /* last ahead */
	if (finish_parse(w, u, &ls, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(ls.loaded, 101);
	assert_int_equal(ls.skipped, 0);
	assert_int_equal(ls.clamped, 1);
	assert_int_equal(rv_table_size(u), 101);

	/* Clamped, not dropped: both names kept, no time after the file's. */
	entry_copy found = {.want = {.family = AF_INET6}};
	for (int i = 0; i < 16; i++)
		found.want.bytes[i] = (uint8_t)(i + 1);
	found.want.bytes[2] = 0;    /* entry number 100, as entry() writes it */
	found.want.bytes[3] = 100;
	assert_int_equal(rv_table_foreach(u, find_visit, &found), 0);
	assert_int_equal(found.n, 2);
	for (unsigned k = 0; k < 2; k++) {
		const rv_candidate *c = &found.cands[k];
		assert_true(c->first <= c->last);
		assert_int_equal(c->last, now);
		if (strcmp(found.names[k], "mixed.example") == 0)
			assert_int_equal(c->first, now - 100);
		else
			assert_string_equal(found.names[k], "future.example");
	}
	free(w);
	tbl_free(&u);
}

/* The same through the real writer and reader: a table holding a candidate
 * stamped 3 days ahead saves and loads whole. */
static void test_future_round_trip(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	rv_table *t = many(100), *u = mk(200);
	rv_addr a = A("192.0.2.200");
	int64_t now = time(NULL);
	rv_candidate c = {.name = "ahead.example", .first = now - 10, .last = now + 3 * 86400,
			  .count = 1, .freq = 1.0, .ttl = 60};
	assert_int_equal(rv_table_restore(t, &a, &c, 1), 0);
	const char *p = path_of("future.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 101);
	assert_int_equal(ls.skipped, 0);
	assert_int_equal(ls.clamped, 1);
	assert_int_equal(rv_table_size(u), 101);
	tbl_free(&t);
	tbl_free(&u);
}

/* A leftover PATH.tmp (crash during a save) neither breaks a load nor a save. */
static void test_leftover_tmp(void **state)
{
	(void)state;
	char err[256], tmp[300];
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *p = path_of("atomic.snap");
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	FILE *f = fopen(tmp, "wb");
	assert_non_null(f);
	fputs("RVSNAP half written garbage", f);
	fclose(f);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);
	/* The next save replaces the leftover and leaves no tmp behind. */
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	tbl_free(&u);
	u = mk(100);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);
	/* A save that cannot write its tmp file fails and leaves the old file. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/no-such-dir/x.snap", dir);
	assert_true(rv_snapshot_save(t, bad, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "no-such-dir"));
	tbl_free(&t);
	tbl_free(&u);
}

static void test_async_save(void **state)
{
	(void)state;
	char err[256];
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *p = path_of("async.snap");
	pid_t pid = rv_snapshot_save_async(t, p);
	assert_true(pid > 0);
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);
	flat *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	flatten(t, a);
	flatten(u, b);
	assert_flat_equal(a, b);
	free(a);
	free(b);
	/* A failing background save exits 1. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/no-such-dir/x.snap", dir);
	pid = rv_snapshot_save_async(t, bad);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	tbl_free(&t);
	tbl_free(&u);
}

static char small_fs[300];

static int umount_small_fs(void **state)
{
	(void)state;
	if (small_fs[0] != '\0' && umount2(small_fs, MNT_DETACH) < 0)
		return -1;
	small_fs[0] = '\0';
	return 0;
}

/* A disk too small for the snapshot (a 64 KiB tmpfs): the save fails with
 * ENOSPC, the previous snapshot stays, and no partial PATH.tmp is left to
 * hold the space; the same from the background child. Needs root (mount). */
static void test_full_disk(void **state)
{
	(void)state;
	char err[256], tmp[400], mnt[300];
	rv_snapshot_load_stats ls;
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") < 0) {
		print_message("full disk: cannot mount a tmpfs (%s): skipped\n", strerror(errno));
		skip();
	}
	snprintf(small_fs, sizeof(small_fs), "%s", mnt);
	char p[360];
	snprintf(p, sizeof(p), "%s/state.snap", mnt);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	rv_table *small = sample(), *big = many(3000), *u = mk(100);
	assert_int_equal(rv_snapshot_save(small, p, err, sizeof(err)), 0);

	assert_int_equal(rv_snapshot_save(big, p, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "state.snap.tmp: write: No space left on device"));
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);

	pid_t pid = rv_snapshot_save_async(big, p);
	assert_true(pid > 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(access(tmp, F_OK), -1);

	/* The space is free again: a snapshot that fits is written. */
	assert_int_equal(rv_snapshot_save(small, p, err, sizeof(err)), 0);
	tbl_free(&small);
	tbl_free(&big);
	tbl_free(&u);
}

/* PATH.tmp is a symbolic link (planted, or left by anything): the save never
 * writes through it. The link is replaced by the new file and renamed away;
 * its target, existing or not, is untouched. */
static void test_tmp_symlink(void **state)
{
	(void)state;
	char err[256], tmp[300], buf[64];
	rv_snapshot_load_stats ls;
	rv_table *t = sample(), *u = mk(100);
	const char *victim = strdup(path_of("victim"));
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	const char *p = strdup(path_of("link.snap"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "precious\n");
	struct stat st;
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);

	/* A dangling link: following it would create the file it names. */
	const char *ghost = strdup(path_of("ghost"));
	assert_int_equal(symlink(ghost, tmp), 0);
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	assert_int_equal(lstat(ghost, &st), -1);
	assert_int_equal(lstat(tmp, &st), -1);

	/* PATH itself a link: not followed on load (the next save would replace
	 * it); the save replaces the link, not its target. */
	const char *q = strdup(path_of("pathlink.snap"));
	assert_int_equal(symlink(p, q), 0);
	tbl_free(&u);
	u = mk(100);
	assert_int_equal(rv_snapshot_read(u, q, &ls, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(rv_table_size(u), 0);
	assert_int_equal(unlink(q), 0);
	assert_int_equal(symlink(victim, q), 0);
	assert_int_equal(rv_snapshot_save(t, q, err, sizeof(err)), 0);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "precious\n");

	/* A FIFO at PATH: refused at once, not waited on. */
	const char *fifo = strdup(path_of("fifo.snap"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(rv_snapshot_read(u, fifo, &ls, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));

	free((void *)victim);
	free((void *)ghost);
	free((void *)p);
	free((void *)q);
	free((void *)fifo);
	tbl_free(&t);
	tbl_free(&u);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints the cost of 1M addresses (fewer under valgrind and sanitizers;
 * RV_SNAPSHOT_BENCH_N overrides); asserts only the round trip. */
static void test_timing(void **state)
{
	(void)state;
	const char *pre = getenv("LD_PRELOAD");
	size_t n = pre && strstr(pre, "vgpreload") ? 20000 : 1000000;
#if defined(__SANITIZE_ADDRESS__)
	n = 200000;  /* sanitizers: ~3x slower, keep well inside the test timeout */
#endif
	const char *env = getenv("RV_SNAPSHOT_BENCH_N");
	if (env)
		n = strtoul(env, NULL, 10);
	rv_table *t = mk(n), *u = mk(n);
	int64_t now = time(NULL);
	char name[64], err[256];
	for (size_t i = 0; i < n; i++) {
		rv_addr a;
		memset(&a, 0, sizeof(a));
		a.family = i % 4 == 0 ? AF_INET6 : AF_INET;
		a.bytes[0] = a.family == AF_INET ? 10 : 0x20;
		a.bytes[1] = (uint8_t)(i >> 16);
		a.bytes[2] = (uint8_t)(i >> 8);
		a.bytes[3] = (uint8_t)i;
		snprintf(name, sizeof(name), "host%zu.example%zu.com", i, i % 1000);
		rv_candidate c[2] = {
			{.name = name, .first = now - 100, .last = now - (int64_t)(i % 50), .count = i % 100 + 1,
			 .freq = 1.25, .depth = 1, .ttl = 300},
			{.name = "shared.cdn.example", .first = now - 200, .last = now - 150, .count = 2,
			 .freq = 0.5, .depth = 2, .ttl = 60},
		};
		assert_int_equal(rv_table_restore(t, &a, c, i % 3 == 0 ? 2 : 1), 0);
	}
	const char *p = path_of("big.snap");
	double t0 = now_s();
	assert_int_equal(rv_snapshot_save(t, p, err, sizeof(err)), 0);
	double t1 = now_s();
	rv_snapshot_load_stats ls;
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	double t2 = now_s();
	assert_int_equal(ls.loaded, n);
	assert_int_equal(rv_table_size(u), n);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	printf("snapshot: %zu addresses, %.1f MB: save %.3f s, load %.3f s\n", n,
			(double)st.st_size / 1e6, t1 - t0, t2 - t1);
	t0 = now_s();
	pid_t pid = rv_snapshot_save_async(t, p);
	double tf = now_s();
	int status;
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("snapshot: background save: parent blocked %.3f s (fork), child done after %.3f s\n",
			tf - t0, now_s() - t0);
	tbl_free(&t);
	tbl_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_truncation_every_length),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_magic_and_version),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_future_clamped),
		cmocka_unit_test(test_future_round_trip),
		cmocka_unit_test(test_leftover_tmp),
		cmocka_unit_test(test_async_save),
		cmocka_unit_test_teardown(test_full_disk, umount_small_fs),
		cmocka_unit_test(test_tmp_symlink),
		cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
