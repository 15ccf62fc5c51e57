/* procstats.c - process_* metrics (see procstats.h). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procstats.h"
#include "stats.h"

/* The registry's handle for our metrics (rv_stats_unregister by arg). */
static const char token;
static uint64_t start_time_s;

static uint64_t resident_bytes(const void *arg)
{
	(void)arg;
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

static uint64_t tv_ms(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* User + system CPU time of the process (all threads), in ms. */
static uint64_t cpu_ms(const void *arg)
{
	(void)arg;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
}

static uint64_t open_fds(const void *arg)
{
	(void)arg;
	uint64_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

static uint64_t max_fds(const void *arg)
{
	(void)arg;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (uint64_t)rl.rlim_cur;
}

static uint64_t start_time(const void *arg)
{
	(void)arg;
	return start_time_s;
}

/* Start time from the kernel (boot time + the process's start in clock
 * ticks), so it is right whenever this runs; now if /proc says nothing. */
static uint64_t read_start_time(void)
{
	char buf[1024], line[256];
	unsigned long long btime = 0, ticks = 0;
	FILE *f = fopen("/proc/stat", "re");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	f = fopen("/proc/self/stat", "re");
	size_t n = 0;
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces and ')'. */
	const char *p = strrchr(buf, ')');
	long hz = sysconf(_SC_CLK_TCK);
	if (btime == 0 || p == NULL || hz <= 0 ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			    "%*d %*d %*d %llu", &ticks) != 1)
		return (uint64_t)time(NULL);
	return btime + ticks / (unsigned long long)hz;
}

int rv_procstats_register(void)
{
	int rc;
	start_time_s = read_start_time();
	if ((rc = rv_stats_register(RV_GAUGE, "rss", "process_resident_memory_bytes",
			"Resident memory size in bytes", resident_bytes, &token)) < 0 ||
	    (rc = rv_stats_register_milli(RV_COUNTER, "cpu_ms", "process_cpu_seconds_total",
			"Total user and system CPU time spent in seconds", cpu_ms, &token)) < 0 ||
	    (rc = rv_stats_register(RV_GAUGE, "fds", "process_open_fds",
			"Number of open file descriptors", open_fds, &token)) < 0 ||
	    (rc = rv_stats_register(RV_GAUGE, NULL, "process_max_fds",
			"Maximum number of open file descriptors", max_fds, &token)) < 0 ||
	    (rc = rv_stats_register(RV_GAUGE, NULL, "process_start_time_seconds",
			"Start time of the process since the Unix epoch in seconds", start_time,
			&token)) < 0)
		rv_stats_unregister(&token);
	return rc;
}

void rv_procstats_unregister(void)
{
	rv_stats_unregister(&token);
}
