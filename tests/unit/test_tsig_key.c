/* test_tsig_key.c - BIND key file parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/stat.h>

#include "tsig.h"
#include "tsig_key.h"

/* Exactly what `tsig-keygen -a hmac-sha256 rearview-key` prints (BIND 9.18). */
static const char keygen_out[] =
	"key \"rearview-key\" {\n"
	"\talgorithm hmac-sha256;\n"
	"\tsecret \"fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=\";\n"
	"};\n";

static int parse(const char *text, const char *want, rv_tsig_key *k, char *err, size_t errlen)
{
	return rv_tsig_key_parse(text, strlen(text), want, k, err, errlen);
}

static void test_keygen_output(void **state)
{
	rv_tsig_key k;
	char err[256];

	(void)state;
	assert_int_equal(parse(keygen_out, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "rearview-key.");
	assert_string_equal(k.algorithm, "hmac-sha256.");
	assert_string_equal(k.secret, "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=");
	/* want_name matches with or without the dot, in any case */
	assert_int_equal(parse(keygen_out, "rearview-key", &k, err, sizeof(err)), 0);
	assert_int_equal(parse(keygen_out, "ReArView-Key.", &k, err, sizeof(err)), 0);
	assert_int_equal(parse(keygen_out, "", &k, err, sizeof(err)), 0);
	assert_int_equal(parse(keygen_out, "other", &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "other."));
}

static void test_whitespace_comments(void **state)
{
	rv_tsig_key k;
	char err[256];
	static const char text[] =
		"# a comment\n"
		"// another\n"
		"/* a block\n   comment */ key   Rearview-KEY.{algorithm \"HMAC-SHA512\" ;\n"
		"secret\n  \"fiLFPrTAww06rSgrth CfsEeeb0QkZHfJsa+gzOXq4Ok=\" # trailing\n"
		";/**/}\t;   // done\n";

	(void)state;
	assert_int_equal(parse(text, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "rearview-key.");
	assert_string_equal(k.algorithm, "hmac-sha512.");
	/* whitespace inside the base64 text is dropped */
	assert_string_equal(k.secret, "fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=");

	/* CRLF line ends, one line */
	assert_int_equal(parse("key k {\r\nalgorithm hmac-md5;\r\nsecret \"AAAA\";\r\n};\r\n",
			NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.algorithm, "hmac-md5.sig-alg.reg.int.");
	assert_int_equal(parse("key k{algorithm hmac-sha1;secret AAAA;};", NULL, &k, err,
			sizeof(err)), 0);
	assert_string_equal(k.algorithm, "hmac-sha1.");
	assert_string_equal(k.name, "k.");
}

static void test_several_keys(void **state)
{
	rv_tsig_key k;
	char err[256];
	static const char text[] =
		"key \"a\" { algorithm hmac-sha256; secret \"QUFBQQ==\"; };\n"
		"key \"b\" { algorithm hmac-sha512; secret \"QkJCQg==\"; };\n";

	(void)state;
	assert_int_equal(parse(text, NULL, &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "2 keys"));
	assert_int_equal(parse(text, "b", &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "b.");
	assert_string_equal(k.algorithm, "hmac-sha512.");
	assert_string_equal(k.secret, "QkJCQg==");
	assert_int_equal(parse(text, "a.", &k, err, sizeof(err)), 0);
	assert_string_equal(k.secret, "QUFBQQ==");
	assert_int_equal(parse(text, "c", &k, err, sizeof(err)), -ENOENT);
	/* a later key that is broken still fails the file, as in named */
	assert_int_equal(parse("key a { algorithm hmac-sha256; secret \"QUFBQQ==\"; };\n"
			"key b { algorithm hmac-sha256; };\n", "a", &k, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 2: key \"b.\" has no secret");
	assert_int_equal(parse("key a { algorithm hmac-sha256; secret \"QUFBQQ==\"; };\n"
			"key A { algorithm hmac-sha256; secret \"QUFBQQ==\"; };\n", "a", &k, err,
			sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 2: key \"a.\" defined twice");
}

struct bad_case {
	const char *text;
	int ret;
	const char *err;
};

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "", -ENOENT, "no key found" },
		{ "# only a comment\n", -ENOENT, "no key found" },
		{ "key k {\n algorithm hmac-sha256;\n};\n", -EBADMSG, "line 1: key \"k.\" has no secret" },
		{ "key k {\n secret \"AAAA\";\n};\n", -EBADMSG, "line 1: key \"k.\" has no algorithm" },
		{ "key k {\n algorithm hmac-sha256;\n secret \"AA*A\";\n};\n", -EBADMSG,
			"line 3: secret is not valid base64" },
		{ "key k { algorithm hmac-sha256; secret \"AAA\"; };", -EBADMSG,
			"line 1: secret is not valid base64" },
		{ "key k { algorithm hmac-sha256; secret \"\"; };", -EBADMSG,
			"line 1: secret is not valid base64" },
		{ "key k { algorithm hmac-sha256; secret \"====\"; };", -EBADMSG,
			"line 1: secret is not valid base64" },
		{ "key k { algorithm hmac-sha256; secret \"AB==\"; };", -EBADMSG,
			"line 1: secret is not valid base64" },   /* non-zero pad bits */
		{ "key k {\n\n algorithm hmac-sha3;\n secret \"AAAA\";\n};\n", -EBADMSG,
			"line 3: unknown TSIG algorithm 'hmac-sha3'" },
		{ "key k {\n algorithm hmac-sha256.;\n secret \"AAAA\";\n};\n", -EBADMSG,
			"line 2: unknown TSIG algorithm 'hmac-sha256.'" },   /* named.conf has no dot */
		{ "key k {\n algorithm gss-tsig;\n secret \"AAAA\";\n};\n", -EBADMSG,
			"line 2: unknown TSIG algorithm 'gss-tsig'" },
		{ "key k {\n algorithm hmac-sha256;\n secret \"AAAA\";\n", -EBADMSG,
			"line 1: key \"k.\": missing '}' (unexpected end of file)" },
		{ "key k {\n algorithm hmac-sha256;\n secret \"AAAA\";\n}\n", -EBADMSG,
			"line 4: expected ';' after '}', got 'end of file'" },
		{ "key k {\n algorithm hmac-sha256\n secret \"AAAA\";\n};\n", -EBADMSG,
			"line 3: expected ';' after algorithm, got 'secret'" },
		{ "key k {\n algorithm hmac-sha256;\n secret \"AAAA;\n};\n", -EBADMSG,
			"line 3: unterminated string" },
		{ "key k {\n algorithm hmac-sha256;\n algorithm hmac-sha256;\n};\n", -EBADMSG,
			"line 3: duplicate 'algorithm'" },
		{ "key k {\n algorithm hmac-sha256;\n secret \"AAAA\";\n owner x;\n};\n", -EBADMSG,
			"line 4: unknown key option 'owner'" },
		{ "options { };\n", -EBADMSG, "line 1: expected 'key', got 'options'" },
		{ "\n\nkey {\n", -EBADMSG, "line 3: expected a key name after 'key', got '{'" },
		{ "key k\n", -EBADMSG, "line 1: expected '{' after the key name, got 'end of file'" },
		{ "key k { algorithm hmac-sha256; secret \"AAAA\"; };\n/* open\n\n", -EBADMSG,
			"line 2: unterminated /* comment" },
		{ "key \"a..b\" { algorithm hmac-sha256; secret \"AAAA\"; };", -EBADMSG,
			"line 1: bad key name 'a..b'" },
		{ "key k {\n algorithm;\n};", -EBADMSG, "line 2: missing value after 'algorithm'" },
	};
	rv_tsig_key k;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&k, 0x55, sizeof(k));
		int r = parse(cases[i].text, NULL, &k, err, sizeof(err));
		if (r != cases[i].ret || strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, r, err, cases[i].ret,
					cases[i].err);
		/* nothing half-filled left behind */
		assert_int_equal(k.secret[0], 0);
		assert_int_equal(k.name[0], 0);
	}
	/* tiny error buffer: truncated, never overflowed */
	char small[8];
	assert_int_equal(parse("key k {", NULL, &k, small, sizeof(small)), -EBADMSG);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* a NUL byte inside the text */
	static const char nul[] = "key k { algorithm hmac-sha256; secret \"AA\0A\"; };";
	assert_int_equal(rv_tsig_key_parse(nul, sizeof(nul) - 1, NULL, &k, err, sizeof(err)),
			-EBADMSG);
}

/* Every algorithm of RFC 8945 6 is accepted, in any case, under its canonical
 * name; the key signs with tsig.c (test_tsig.c checks the MACs). */
static void test_algorithms(void **state)
{
	static const struct {
		const char *bind, *canon;
	} algs[] = {
		{ "hmac-sha256", "hmac-sha256." }, { "HMAC-SHA512", "hmac-sha512." },
		{ "hmac-sha1", "hmac-sha1." }, { "hmac-md5", "hmac-md5.sig-alg.reg.int." },
		{ "hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int." },
		{ "hmac-sha224", "hmac-sha224." }, { "Hmac-Sha384", "hmac-sha384." },
	};
	char text[512], err[256];
	rv_tsig_key k;

	(void)state;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		snprintf(text, sizeof(text), "key k { algorithm %s; secret \"%s\"; };", algs[i].bind,
				"fiLFPrTAww06rSgrthCfsEeeb0QkZHfJsa+gzOXq4Ok=");
		assert_int_equal(parse(text, NULL, &k, err, sizeof(err)), 0);
		assert_string_equal(k.algorithm, algs[i].canon);
		rv_tsig t;
		assert_int_equal(rv_tsig_init(&t, &k), 0);
		rv_tsig_clear(&t);
	}
}

/* Key names are canonical: one name, however spelt, is one key. */
static void test_key_name_spellings(void **state)
{
	rv_tsig_key k;
	char err[256];
	static const char two[] =
		"key \"Rear\\\\086iew-Key\" { algorithm hmac-sha256; secret \"QUFBQQ==\"; };\n";

	(void)state;
	/* named.conf unescapes the string once: the name text is Rear\086iew-Key */
	assert_int_equal(parse(two, "rearview-key.", &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "rearview-key.");
	assert_int_equal(parse("key \"a\\\\.b\" { algorithm hmac-sha256; secret \"QUFBQQ==\"; };",
			NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "a\\.b.");
	assert_int_equal(parse("key \".\" { algorithm hmac-sha256; secret \"QUFBQQ==\"; };",
			NULL, &k, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 1: bad key name '.'");
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_tsig_keyXXXXXX";
	char err[512], want[600];
	rv_tsig_key k;

	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "// header\nkey k {\n algorithm hmac-sha256;\n secret \"A\";\n};\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(rv_tsig_key_load(path, NULL, &k, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "%s:4: secret is not valid base64", path);
	assert_string_equal(err, want);
	assert_int_equal(rv_tsig_key_load(path, "nope", &k, err, sizeof(err)), -EBADMSG);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, keygen_out, strlen(keygen_out)), (ssize_t)strlen(keygen_out));
	close(fd);
	assert_int_equal(rv_tsig_key_load(path, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.name, "rearview-key.");
	assert_int_equal(rv_tsig_key_load(path, "x", &k, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: no key named \"x.\"", path);
	assert_string_equal(err, want);
	/* Modes that let others read or swap the key are refused (checked on the
	 * open descriptor), with the chmod that fixes them. */
	static const struct { mode_t mode; const char *says; } bad[] = {
		{0644, "readable by everyone (mode 0644); fix with: chmod o-rwx,g-w"},
		{0602, "writable by everyone (mode 0602); fix with: chmod o-rwx,g-w"},
		{0660, "writable by its group (mode 0660); fix with: chmod g-w"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(path, bad[i].mode), 0);
		assert_int_equal(rv_tsig_key_load(path, NULL, &k, err, sizeof(err)), -EACCES);
		if (!strstr(err, bad[i].says))
			fail_msg("mode %04o: '%s'", (unsigned)bad[i].mode, err);
	}
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(rv_tsig_key_load(path, NULL, &k, err, sizeof(err)), 0);
	unlink(path);

	assert_int_equal(rv_tsig_key_load(path, NULL, &k, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(rv_tsig_key_load("/", NULL, &k, err, sizeof(err)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen_output),
		cmocka_unit_test(test_whitespace_comments),
		cmocka_unit_test(test_several_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_key_name_spellings),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
