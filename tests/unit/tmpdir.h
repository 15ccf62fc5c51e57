/* tmpdir.h - a scratch directory for one test program: created by the cmocka
 * group setup, removed with everything in it by the group teardown. Included
 * once by each test program that needs it (static helpers, no object file). */
#ifndef RV_TEST_TMPDIR_H
#define RV_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rv-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* dir/name, in one of four static buffers (a few may be in use at once). */
static const char *path_of(const char *name)
{
	static char p[4][256];
	static unsigned next;
	char *b = p[next++ % 4];
	snprintf(b, sizeof(p[0]), "%s/%s", dir, name);
	return b;
}

#endif
