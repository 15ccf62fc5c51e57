/* Unit tests for snapshotter.c: one background child at a time, non-blocking
 * reaps, the synchronous save that stops a running child, decoded exit
 * statuses, and what the child inherits (no sockets, no other descriptors).
 *
 * A child is held at a known point by making its save fail while its stderr is
 * a full pipe: it blocks in write(2) logging why, after it has closed what it
 * inherited and before it exits, until the test drains the pipe. */
#include <dirent.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapshot.h"
#include "snapshotter.h"
#include "tmpdir.h"

static rv_table *sample(void)
{
	rv_table_opts o = {.max_addresses = 100, .max_candidates = 8, .half_life_s = 3600};
	rv_table *t = rv_table_new(&o);
	assert_non_null(t);
	int64_t now = time(NULL);
	for (unsigned i = 0; i < 4; i++) {
		rv_addr a;
		memset(&a, 0, sizeof(a));
		a.family = AF_INET;
		a.bytes[0] = 192;
		a.bytes[2] = 2;
		a.bytes[3] = (uint8_t)(i + 1);
		rv_candidate c = {.name = "host.example", .first = now - 10, .last = now,
				  .count = 1, .freq = 1.0, .ttl = 60};
		assert_int_equal(rv_table_restore(t, &a, &c, 1), 0);
	}
	return t;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reaps until a result comes (the test's own SIGCHLD loop), 20 s at most. */
static void reap_wait(rv_snapshotter *s, rv_snapshotter_result *res, int drain_fd)
{
	double until = now_s() + 20;
	char junk[4096];
	for (;;) {
		if (drain_fd >= 0)
			while (read(drain_fd, junk, sizeof(junk)) > 0)
				;
		int rc = rv_snapshotter_reap(s, res);
		if (rc == 1)
			return;
		assert_int_equal(rc, 0);
		if (now_s() > until)
			fail_msg("the background save never ended");
		usleep(2000);
	}
}

/* ---- holding a child: a full pipe as its stderr ---- */

typedef struct stall {
	int rd;       /* read end, non-blocking: drain it to let the child go */
	int wr;       /* write end, full */
} stall;

static void stall_open(stall *st)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	/* Fill it without blocking, then make the write end blocking again: the
	 * child shares this open file description. */
	int fl = fcntl(p[1], F_GETFL);
	assert_int_equal(fcntl(p[1], F_SETFL, fl | O_NONBLOCK), 0);
	char fill[512];
	memset(fill, 'x', sizeof(fill));
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	while (write(p[1], fill, 1) > 0)
		;
	assert_int_equal(fcntl(p[1], F_SETFL, fl), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
	st->rd = p[0];
	st->wr = p[1];
}

/* Starts a background save whose stderr is the full pipe. The parent's own
 * stderr is the pipe only during the fork (cmocka reports failures there). */
static int start_stalled(rv_snapshotter *s, const rv_table *t, stall *st)
{
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(st->wr, 2), 2);
	int rc = rv_snapshotter_start_async(s, t);
	dup2(saved, 2);
	close(saved);
	return rc;
}

static void stall_close(stall *st)
{
	close(st->rd);
	close(st->wr);
}

/* Waits until pid sits in write(2) (its log line, into the full pipe). */
static void wait_blocked_in_write(pid_t pid)
{
	char p[64], buf[256];
	double until = now_s() + 20;
	snprintf(p, sizeof(p), "/proc/%ld/syscall", (long)pid);
	for (;;) {
		FILE *f = fopen(p, "r");
		long nr = -1;
		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				nr = strtol(buf, NULL, 10);
			fclose(f);
		}
		if (nr == SYS_write)
			return;
		if (now_s() > until)
			fail_msg("child %ld never blocked in write (last syscall %ld)", (long)pid, nr);
		usleep(2000);
	}
}

/* A background save of t held in write(2): its pid. */
static pid_t start_held(rv_snapshotter *s, const rv_table *t, stall *st)
{
	assert_int_equal(start_stalled(s, t, st), 1);
	pid_t pid = rv_snapshotter_pid(s);
	assert_true(pid > 0);
	wait_blocked_in_write(pid);
	return pid;
}

/* ---- tests ---- */

static void test_wait_status_str(void **state)
{
	(void)state;
	char b[64];
	assert_string_equal(rv_wait_status_str(0, b, sizeof(b)), "exited with status 0");
	assert_string_equal(rv_wait_status_str(1 << 8, b, sizeof(b)), "exited with status 1");
	assert_string_equal(rv_wait_status_str(SIGKILL, b, sizeof(b)),
			"killed by signal 9 (SIGKILL)");
	assert_string_equal(rv_wait_status_str(SIGSEGV | 0x80, b, sizeof(b)),
			"killed by signal 11 (SIGSEGV), core dumped");
	assert_string_equal(rv_wait_status_str(SIGSTOP << 8 | 0x7f, b, sizeof(b)),
			"stopped by signal 19 (SIGSTOP)");
	assert_string_equal(rv_wait_status_str(0xffff, b, sizeof(b)), "continued");
	/* A short buffer is cut, never overrun. */
	char tiny[8];
	assert_string_equal(rv_wait_status_str(SIGKILL, tiny, sizeof(tiny)), "killed ");

	/* Real statuses from real children. */
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(3);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_string_equal(rv_wait_status_str(status, b, sizeof(b)), "exited with status 3");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_string_equal(rv_wait_status_str(status, b, sizeof(b)),
			"killed by signal 9 (SIGKILL)");
}

static void test_background_ok(void **state)
{
	(void)state;
	char err[256];
	rv_table *t = sample(), *u = sample();
	const char *p = path_of("ok.snap");
	rv_snapshotter *s = rv_snapshotter_new(p);
	assert_non_null(s);
	rv_snapshotter_result res;
	assert_false(rv_snapshotter_running(s));
	assert_int_equal(rv_snapshotter_reap(s, &res), 0);  /* nothing started */
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	pid_t pid = rv_snapshotter_pid(s);
	assert_true(pid > 0);
	reap_wait(s, &res, -1);
	assert_true(res.ok);
	assert_int_equal(res.pid, pid);
	assert_int_equal(res.addresses, 4);
	assert_true(res.seconds >= 0);
	assert_string_equal(rv_wait_status_str(res.status, err, sizeof(err)),
			"exited with status 0");
	assert_false(rv_snapshotter_running(s));
	assert_int_equal(rv_snapshotter_pid(s), 0);
	assert_int_equal(rv_snapshotter_reap(s, &res), 0);  /* reported once */
	rv_table_free(&u);
	rv_table_opts o = {.max_addresses = 100, .max_candidates = 8, .half_life_s = 3600};
	u = rv_table_new(&o);
	rv_snapshot_load_stats ls;
	assert_int_equal(rv_snapshot_read(u, p, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);
	rv_snapshotter_free(&s);
	assert_null(s);
	rv_snapshotter_free(&s);  /* NULL is fine */
	rv_table_free(&t);
	rv_table_free(&u);
}

/* A second start while one runs does nothing; a failed child is reported
 * with its decoded status. */
static void test_one_at_a_time(void **state)
{
	(void)state;
	char b[64];
	stall st;
	rv_table *t = sample();
	rv_snapshotter *s = rv_snapshotter_new(path_of("no-such-dir/x.snap"));
	assert_non_null(s);
	stall_open(&st);
	pid_t pid = start_held(s, t, &st);
	assert_int_equal(rv_snapshotter_start_async(s, t), 0);
	assert_int_equal(rv_snapshotter_pid(s), pid);
	rv_snapshotter_result res;
	assert_int_equal(rv_snapshotter_reap(s, &res), 0);
	assert_true(rv_snapshotter_running(s));
	reap_wait(s, &res, st.rd);
	assert_false(res.ok);
	assert_int_equal(res.pid, pid);
	assert_string_equal(rv_wait_status_str(res.status, b, sizeof(b)),
			"exited with status 1");
	stall_close(&st);
	rv_snapshotter_free(&s);
	rv_table_free(&t);
}

/* The child holds no descriptor of the agent's: sockets (listener, connected
 * pair, TCP), a pipe, a file. It is inspected through /proc while it is held
 * in write(2), so after it closed what it inherited. */
static void test_child_closes_inherited_fds(void **state)
{
	(void)state;
	stall st;
	int pair[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	int lst = socket(AF_UNIX, SOCK_STREAM, 0);  /* no CLOEXEC anywhere, on purpose */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/l.sock", dir);
	assert_int_equal(bind(lst, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lst, 4), 0);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(tcp, 4), 0);
	int file = open(path_of("plain"), O_WRONLY | O_CREAT, 0600);
	assert_true(file >= 0);

	rv_table *t = sample();
	rv_snapshotter *s = rv_snapshotter_new(path_of("no-such-dir/y.snap"));
	assert_non_null(s);
	stall_open(&st);
	pid_t pid = start_held(s, t, &st);

	char fddir[64], lp[320], target[256];
	snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(fddir);
	assert_non_null(d);
	struct dirent *de;
	unsigned low = 0;
	char extra[1024] = "";
	/* No descriptor of the program's can sit at or above its soft limit; a
	 * tool running it can (valgrind keeps its own there, out of sight). */
	struct rlimit lim;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		long fd = strtol(de->d_name, NULL, 10);
		if (lim.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= lim.rlim_cur)
			continue;
		snprintf(lp, sizeof(lp), "%s/%ld", fddir, fd);
		ssize_t n = readlink(lp, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (fd <= 2) {
			low++;
			continue;
		}
		size_t used = strlen(extra);
		snprintf(extra + used, sizeof(extra) - used, " %ld -> %s", fd, target);
	}
	closedir(d);
	if (extra[0] != '\0')
		fail_msg("the snapshot child holds inherited descriptors:%s", extra);
	assert_int_equal(low, 3);
	/* Its stderr is still there (it logs through it). */
	snprintf(lp, sizeof(lp), "%s/2", fddir);
	assert_true(readlink(lp, target, sizeof(target)) > 0);

	rv_snapshotter_result res;
	reap_wait(s, &res, st.rd);
	assert_false(res.ok);
	stall_close(&st);
	close(pair[0]);
	close(pair[1]);
	close(lst);
	close(tcp);
	close(file);
	rv_snapshotter_free(&s);
	rv_table_free(&t);
}

/* save_now stops a running child first (SIGKILL, reaped, not reported), and
 * free does the same; either removes the PATH.tmp a killed child leaves. */
static void test_save_now_and_free_stop_the_child(void **state)
{
	(void)state;
	char err[256], tmp[300];
	stall st;
	rv_table *t = sample();
	/* PATH is a non-empty directory: the child writes PATH.tmp, fails to
	 * rename it, removes it, then blocks logging. */
	const char *p = path_of("isdir.snap");
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(tmp, sizeof(tmp), "%s/keep", p);
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);

	rv_snapshotter *s = rv_snapshotter_new(p);
	assert_non_null(s);
	stall_open(&st);
	pid_t pid = start_held(s, t, &st);
	assert_int_equal(access(tmp, F_OK), -1);  /* the child cleaned up before logging */
	/* What a child killed midway leaves. */
	f = fopen(tmp, "w");
	assert_non_null(f);
	fclose(f);
	int rc = rv_snapshotter_save_now(s, t, err, sizeof(err));
	assert_true(rc < 0);  /* the synchronous save cannot rename over a directory either */
	assert_non_null(strstr(err, "rename"));
	assert_false(rv_snapshotter_running(s));
	assert_int_equal(kill(pid, 0), -1);  /* gone and reaped */
	assert_int_equal(access(tmp, F_OK), -1);
	rv_snapshotter_result res;
	assert_int_equal(rv_snapshotter_reap(s, &res), 0);  /* killed on purpose: no report */

	/* free, with a child still held and a PATH.tmp planted. */
	pid = start_held(s, t, &st);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fclose(f);
	rv_snapshotter_free(&s);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(access(tmp, F_OK), -1);
	stall_close(&st);

	/* The usual case: a good path, save_now right after a start. */
	const char *q = path_of("now.snap");
	s = rv_snapshotter_new(q);
	assert_non_null(s);
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	assert_int_equal(rv_snapshotter_save_now(s, t, err, sizeof(err)), 0);
	assert_false(rv_snapshotter_running(s));
	snprintf(tmp, sizeof(tmp), "%s.tmp", q);
	assert_int_equal(access(tmp, F_OK), -1);
	rv_table *u = sample();
	rv_snapshot_load_stats ls;
	assert_int_equal(rv_snapshot_read(u, q, &ls, err, sizeof(err)), 0);
	assert_int_equal(ls.loaded, 4);

	/* A child that already finished is not "stopped": its result stays. */
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	pid = rv_snapshotter_pid(s);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(rv_snapshotter_save_now(s, t, err, sizeof(err)), 0);
	assert_int_equal(rv_snapshotter_reap(s, &res), 1);
	assert_int_equal(res.pid, pid);
	assert_true(res.ok);
	rv_snapshotter_free(&s);
	rv_table_free(&u);
	rv_table_free(&t);
}

/* A child that ended while nobody handled SIGCHLD does not block snapshots:
 * the next start collects it, and the owner's reap loop reports both. */
static void test_missed_sigchld(void **state)
{
	(void)state;
	rv_table *t = sample();
	rv_snapshotter *s = rv_snapshotter_new(path_of("missed.snap"));
	assert_non_null(s);
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	pid_t first = rv_snapshotter_pid(s);
	/* Wait until it is a zombie, without reaping it. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)first, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	pid_t second = rv_snapshotter_pid(s);
	assert_true(second > 0 && second != first);
	rv_snapshotter_result res;
	assert_int_equal(rv_snapshotter_reap(s, &res), 1);
	assert_int_equal(res.pid, first);
	assert_true(res.ok);
	reap_wait(s, &res, -1);
	assert_int_equal(res.pid, second);
	assert_true(res.ok);

	/* A child someone else reaped: reported as gone, and forgotten. */
	assert_int_equal(rv_snapshotter_start_async(s, t), 1);
	pid_t third = rv_snapshotter_pid(s);
	int status;
	assert_int_equal(waitpid(third, &status, 0), third);
	assert_int_equal(rv_snapshotter_reap(s, &res), -ECHILD);
	assert_false(rv_snapshotter_running(s));
	assert_int_equal(rv_snapshotter_reap(s, &res), 0);
	rv_snapshotter_free(&s);
	rv_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_status_str),
		cmocka_unit_test(test_background_ok),
		cmocka_unit_test(test_one_at_a_time),
		cmocka_unit_test(test_child_closes_inherited_fds),
		cmocka_unit_test(test_save_now_and_free_stop_the_child),
		cmocka_unit_test(test_missed_sigchld),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
