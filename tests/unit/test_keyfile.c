/* Unit tests for keyfile.c: the permission policy for secret files and the
 * HTTP API key's format (first line, trimmed; empty is an error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "keyfile.h"
#include "tmpdir.h"

static const char *write_file(const char *name, const char *text, size_t len, mode_t mode)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void expect_key(const char *text, const char *want)
{
	char err[512], *key = NULL;
	const char *p = write_file("k", text, strlen(text), 0600);
	assert_int_equal(rv_api_key_load(p, &key, err, sizeof(err)), 0);
	assert_string_equal(key, want);
	rv_keyfile_clear(&key, strlen(key));
	assert_null(key);
}

static void test_api_key_first_line(void **state)
{
	(void)state;
	expect_key("s3cret\n", "s3cret");
	expect_key("s3cret", "s3cret");
	expect_key("  s3cret \r\nsecond line\n", "s3cret");
	expect_key("a b\n", "a b");
}

static void test_api_key_errors(void **state)
{
	(void)state;
	char err[512], *key = (char *)"x";
	const char *p = write_file("empty", "", 0, 0600);
	assert_int_equal(rv_api_key_load(p, &key, err, sizeof(err)), -EBADMSG);
	assert_null(key);
	assert_non_null(strstr(err, "no API key"));
	p = write_file("blank", " \n", 2, 0600);
	assert_int_equal(rv_api_key_load(p, &key, err, sizeof(err)), -EBADMSG);
	p = write_file("nul", "ab\0cd\n", 6, 0600);
	assert_int_equal(rv_api_key_load(p, &key, err, sizeof(err)), -EBADMSG);
	assert_int_equal(rv_api_key_load(path_of("missing"), &key, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing: No such file or directory"));
}

static void test_permissions(void **state)
{
	(void)state;
	static const struct {
		mode_t mode;
		int rc;
		const char *msg;
	} cases[] = {
		{0600, 0, NULL},
		{0640, 0, NULL},
		{0400, 0, NULL},
		{0644, -EACCES, "readable by everyone (mode 0644); fix with: chmod o-rwx,g-w"},
		{0602, -EACCES, "writable by everyone (mode 0602); fix with: chmod o-rwx,g-w"},
		{0660, -EACCES, "writable by its group (mode 0660); fix with: chmod g-w"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512], *key = NULL;
		const char *p = write_file("perm", "key\n", 4, cases[i].mode);
		assert_int_equal(rv_api_key_load(p, &key, err, sizeof(err)), cases[i].rc);
		if (cases[i].msg)
			assert_non_null(strstr(err, cases[i].msg));
		else
			rv_keyfile_clear(&key, strlen(key));
	}
	/* a directory is not a key file */
	char err[512], *buf = NULL;
	size_t len;
	assert_int_equal(rv_keyfile_read(dir, &buf, &len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_key_first_line),
		cmocka_unit_test(test_api_key_errors),
		cmocka_unit_test(test_permissions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
