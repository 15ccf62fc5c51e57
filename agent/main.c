/*
 * main.c - rearview-agent: command line, configuration, signals and wiring.
 *
 * One libevent loop runs everything: the Frame Streams server (dnstap in), the
 * table, and the RPZ writer (UPDATEs out). Nothing on the ingest path waits for
 * BIND: learned changes are queued in the table and the writer drains the queue
 * on its own timers and socket events. Signals are loop events (evsignal), so no
 * work happens in a signal handler.
 */
#include <getopt.h>
#include <inttypes.h>
#include <grp.h>
#include <pwd.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "dnstap.h"
#include "fstrm_srv.h"
#include "geo.h"
#include "guard.h"
#include "log.h"
#include "reconcile.h"
#include "rpz.h"
#include "rv_config.h"
#include "snapshot.h"
#include "stats.h"
#include "table.h"
#include "tsig_key.h"

#if RV_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"

typedef struct agent {
	rv_config cfg;
	rv_tsig_key key;
	struct event_base *base;
	rv_table *table;
	rv_rpz_writer *writer;
	rv_fs_server *server;
	rv_guard *guard;
	rv_geo *geo;
	struct event *expire_timer;
	rv_reconcile *reconcile;
	bool reconciled_once;         /* the startup reconcile succeeded */
	struct event *reconcile_timer, *snapshot_timer, *sig_chld;
	pid_t snap_pid;               /* background snapshot writer, 0 if none */
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stats_timer, *shutdown_timer, *drain_timer;
	bool stopping;
	int exit_code;
} agent;

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: rearview-agent [OPTIONS]\n"
		"\n"
		"Learns which name each address was resolved from (BIND dnstap) and publishes\n"
		"it as PTR records in a response policy zone (TSIG-signed dynamic updates).\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"  -t, --check-config    validate the configuration and key file, then exit\n"
		"                        (0 = valid, 1 = errors, printed as file:line: message)\n"
		"      --dump-config     print every option with its effective value and exit\n"
		"  -l, --log-level LEVEL override log-level (crit, error, warning, notice, info, debug)\n"
		"  -n, --dry-run         learn but never send updates\n"
		"  -h, --help            show this help and exit\n"
		"  -V, --version         show the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT flush pending updates and exit; SIGUSR1 logs statistics.\n"
		"See rearview-agent(8) and the example configuration for every option.\n",
		RV_DEFAULT_CONFIG);
}

static void config_error(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* ---- ingest ---- */

static int64_t wall_clock(void)
{
	return (int64_t)time(NULL);
}

/* New queued changes: the writer sends them; in dry-run nothing is sent, so
 * acknowledge them at once (as if written) to keep the queue from growing and
 * the table's bookkeeping (TXT refresh, removals) as in a real run. */
static void changes_queued(agent *ag)
{
	if (ag->writer) {
		rv_rpz_writer_kick(ag->writer);
		return;
	}
	rv_change c;
	while (rv_table_pop_queued(ag->table, &c) == 0)
		rv_table_committed(ag->table, &c);
}

/* True if a configured guard says not to learn from this answer at all. */
static bool guarded(const agent *ag, const rv_observation *obs)
{
	if (obs->has_response_addr &&
	    rv_guard_ignore_response(ag->guard, &obs->response_addr, obs->response_port))
		return true;
	return rv_guard_ignore_name(ag->guard, obs->answer.qname);
}

static void on_frame(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	agent *ag = arg;
	rv_observation obs;
	rv_verdict why = RV_BAD_PROTOBUF;
	int rc = rv_dnstap_decode(data, len, ag->cfg.max_chain_depth, &obs, &why);

	if (rc == 0 && guarded(ag, &obs)) {
		rc = -ENOENT;
		why = RV_SKIP_IGNORED;
	}
	if ((unsigned)why < RV_ARRAY_LEN(rv_stats.verdicts))
		rv_stats.verdicts[why]++;
	if (rc == -EBADMSG) {
		/* Once per connection at error level (within the server's connection
		 * log rate limit); the rest are counted. */
		if (peer->bad_frames++ == 0 && rv_fs_peer_log_ok(peer, RV_LOG_ERR))
			rv_err("dnstap", "%s: malformed frame (%s, %zu bytes); further ones from this "
				"peer are only counted", peer->label, rv_verdict_name(why), len);
		return;
	}
	if (rc < 0)
		return;

	int64_t when = obs.has_time && obs.time_sec > 0 ? obs.time_sec : wall_clock();
	bool queued = false;
	for (size_t i = 0; i < obs.answer.naddrs; i++) {
		if (rv_guard_ignore_addr(ag->guard, &obs.answer.addrs[i])) {
			rv_stats.addresses_ignored++;
			continue;
		}
		rv_stats.addresses_seen++;
		int r = rv_table_observe(ag->table, &obs.answer.addrs[i], obs.answer.qname,
				obs.answer.depth, obs.answer.min_ttl, when);
		if (r < 0) {
			rv_stats.table_full++;
			continue;
		}
		queued |= r > 0;
	}
	if (queued)
		changes_queued(ag);
}

/* ---- signals and shutdown ---- */

static void finish_loop(agent *ag)
{
	event_base_loopexit(ag->base, NULL);
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	/* Not lost: the table (with them) goes into the snapshot, and the startup
	 * reconcile of the next run re-sends whatever the zone lacks. */
	rv_err("agent", "shutdown timeout: %zu addresses not yet acknowledged by %s#%u "
		"(zone %s); %s", rv_table_queued(ag->table), ag->cfg.server,
		ag->cfg.server_port, ag->cfg.rpz_zone,
		ag->cfg.snapshot_file[0] ? "the snapshot keeps them; the next start re-sends them"
					 : "without a snapshot-file they are relearned from new traffic");
	finish_loop(ag);
}

/* Polls the writer during shutdown; cheap and keeps the writer API small. */
static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	if (!ag->writer || rv_rpz_writer_idle(ag->writer)) {
		finish_loop(ag);
		return;
	}
	struct timeval tv = {0, 20000};
	event_add(ag->drain_timer, &tv);
}

static void begin_shutdown(agent *ag, const char *why)
{
	if (ag->stopping)
		return;
	ag->stopping = true;
	rv_notice("agent", "%s: stopping; flushing %zu queued addresses", why,
		rv_table_queued(ag->table));
#if RV_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	/* Close the dnstap side first: each open session gets no more reads, and named
	 * reconnects to the next agent instance on its reopen interval. */
	rv_fs_server_free(&ag->server);
	rv_reconcile_free(&ag->reconcile);
	if (ag->writer)
		rv_rpz_writer_flush_now(ag->writer);
	struct timeval tv = {ag->cfg.shutdown_timeout_ms / 1000,
			     (ag->cfg.shutdown_timeout_ms % 1000) * 1000};
	event_add(ag->shutdown_timer, &tv);
	on_drain_check(-1, 0, ag);
}

/* The table keeps its own counters (it is a pure module); copy them over. */
static void sync_table_stats(const agent *ag)
{
	rv_table_counters c;
	rv_table_get_counters(ag->table, &c);
	rv_stats.table_new = c.added;
	rv_stats.table_changed = c.changed;
	rv_stats.table_evicted = c.evicted;
	rv_stats.table_expired = c.expired;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	agent *ag = arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		begin_shutdown(ag, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
	case SIGUSR1:
		sync_table_stats(ag);
		rv_stats_log(RV_LOG_NOTICE, sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
		break;
	}
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	sync_table_stats(ag);
	rv_stats_log(RV_LOG_INFO, "periodic");
	rv_debug("agent", "table: %zu addresses, %zu queued", rv_table_size(ag->table),
		rv_table_queued(ag->table));
}

static void on_expire_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	int64_t cutoff = wall_clock() - (int64_t)(ag->cfg.max_idle_ms / 1000);
	size_t n = rv_table_expire(ag->table, cutoff);
	if (n > 0) {
		rv_info("table", "expired %zu addresses idle for more than %u s", n,
			ag->cfg.max_idle_ms / 1000);
		changes_queued(ag);
	}
}

static void country_of(void *arg, const rv_addr *addr, char cc[3])
{
	agent *ag = arg;
	if (rv_geo_country(ag->geo, addr, cc) == -EBADMSG)
		rv_stats.geo_errors++;
}

/* ---- reconcile: the zone against the table (AXFR) ---- */

static void arm_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(ev, &tv);
}

/* Retry soon while the startup reconcile has not succeeded: until then, the zone
 * may hold entries the table lacks (and the snapshot may be stale). */
#define RECONCILE_RETRY_MS 30000

static void on_reconcile_done(void *arg, int result, const rv_reconcile_stats *st,
		const char *err)
{
	agent *ag = arg;
	rv_stats.reconcile_runs++;
	if (result < 0) {
		rv_stats.reconcile_failures++;
		rv_warn("reconcile", "%s; retrying in %u s", err,
			(ag->reconciled_once ? ag->cfg.reconcile_interval_ms : RECONCILE_RETRY_MS) / 1000);
		arm_ms(ag->reconcile_timer,
		       ag->reconciled_once ? ag->cfg.reconcile_interval_ms : RECONCILE_RETRY_MS);
		goto out;
	}
	uint64_t fixed = st->rewritten + st->adopted + st->removed + st->missing;
	rv_stats.reconcile_fixed += fixed;
	rv_log(fixed || !ag->reconciled_once ? RV_LOG_NOTICE : RV_LOG_INFO, "reconcile",
		"zone %s serial %u: %" PRIu64 " addresses, %" PRIu64 " matched, %" PRIu64
		" rewritten, %" PRIu64 " adopted, %" PRIu64 " removed, %" PRIu64 " re-sent, %"
		PRIu64 " foreign records left alone%s%s (%.2f s)",
		ag->cfg.rpz_zone, st->serial, st->addresses, st->matched, st->rewritten,
		st->adopted, st->removed, st->missing, st->foreign,
		st->foreign ? ", e.g. " : "", st->foreign ? st->foreign_example : "", st->seconds);
	ag->reconciled_once = true;
	/* Records the agent does not understand (a TXT without a PTR, say) could
	 * sit at the owner of an address it learns later: then only a full
	 * replace is safe. */
	rv_table_set_zone_known(ag->table, st->foreign == 0);
	if (st->foreign > 0)
		rv_info("reconcile", "zone %s holds foreign records: every write deletes before it adds",
			ag->cfg.rpz_zone);
	if (fixed && ag->writer)
		rv_rpz_writer_kick(ag->writer);
	if (ag->cfg.reconcile_interval_ms > 0)
		arm_ms(ag->reconcile_timer, ag->cfg.reconcile_interval_ms);
out:
	/* Last: st and err point into the reconcile. */
	rv_reconcile_free(&ag->reconcile);
}

static void start_reconcile(agent *ag)
{
	if (ag->reconcile || ag->stopping || !ag->writer)
		return;
	/* Drift repair compares against what BIND acknowledged: wait until the
	 * writer has nothing in flight, so the AXFR is not racing our own UPDATEs. */
	if (ag->reconciled_once && !rv_rpz_writer_idle(ag->writer)) {
		arm_ms(ag->reconcile_timer, 5000);
		return;
	}
	rv_reconcile_opts o = {
		.server = ag->cfg.server,
		.port = ag->cfg.server_port,
		.zone = ag->cfg.rpz_zone,
		.key = &ag->key,
		.timeout_ms = ag->cfg.update_timeout_ms * 2,
		/* At start the zone may hold what a lost snapshot forgot: adopt it. Later
		 * the table is the truth and unknown records are drift: remove them. */
		.adopt = !ag->reconciled_once,
	};
	int err = 0;
	ag->reconcile = rv_reconcile_start(ag->base, &o, ag->table, on_reconcile_done, ag, &err);
	if (!ag->reconcile) {
		rv_err("reconcile", "cannot start the AXFR of %s from %s#%u: %s", ag->cfg.rpz_zone,
			ag->cfg.server, ag->cfg.server_port, strerror(-err));
		arm_ms(ag->reconcile_timer, RECONCILE_RETRY_MS);
	}
}

static void on_reconcile_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_reconcile(arg);
}

/* ---- snapshots ---- */

static void on_snapshot_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	if (ag->snap_pid > 0 || ag->stopping)
		return; /* the previous one is still being written */
	/* fork(): the child writes from a copy-on-write image of the table while
	 * the loop keeps ingesting (a 1M-address snapshot takes about a second). */
	ag->snap_pid = rv_snapshot_save_async(ag->table, ag->cfg.snapshot_file);
	if (ag->snap_pid < 0) {
		rv_err("snapshot", "cannot start a background snapshot to %s: %s",
			ag->cfg.snapshot_file, strerror((int)-ag->snap_pid));
		ag->snap_pid = 0;
	}
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	agent *ag = arg;
	int status;
	if (ag->snap_pid <= 0 || waitpid(ag->snap_pid, &status, WNOHANG) != ag->snap_pid)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rv_info("snapshot", "wrote %s (%zu addresses)", ag->cfg.snapshot_file,
			rv_table_size(ag->table));
	} else {
		rv_stats.snapshot_failures++;
		rv_err("snapshot", "background snapshot to %s failed (status %d); the previous "
			"one is kept", ag->cfg.snapshot_file, status);
	}
	ag->snap_pid = 0;
}

static void load_snapshot(agent *ag)
{
	char err[512];
	size_t loaded = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = rv_snapshot_load(ag->table, ag->cfg.snapshot_file, &loaded, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc == 0)
		rv_notice("snapshot", "loaded %zu addresses from %s (%.2f s)", loaded,
			ag->cfg.snapshot_file, secs);
	else if (rc == -ENOENT)
		rv_notice("snapshot", "no snapshot at %s (first start)", ag->cfg.snapshot_file);
	else
		/* Corrupt or truncated: the AXFR reconcile still restores the best
		 * names, so carry on with what the zone says. */
		rv_err("snapshot", "%s; ignored, the zone's contents will be adopted", err);
}

static void save_snapshot_now(agent *ag)
{
	if (ag->snap_pid > 0) {
		/* Both writers use PATH.tmp: stop the background one first. */
		kill(ag->snap_pid, SIGKILL);
		waitpid(ag->snap_pid, NULL, 0);
		ag->snap_pid = 0;
	}
	char err[512];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = rv_snapshot_save(ag->table, ag->cfg.snapshot_file, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc == 0) {
		rv_notice("snapshot", "saved %zu addresses to %s (%.2f s)", rv_table_size(ag->table),
			ag->cfg.snapshot_file, secs);
	} else {
		rv_err("snapshot", "%s", err);
		ag->exit_code = 1;
	}
}

/* The snapshot directory must be writable by the user the agent runs as, or
 * everything learned would be lost at the next restart: fail at start instead. */
static int check_snapshot_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	const char *dir = dirname(copy);
	int rc = access(dir, W_OK | X_OK) == 0 ? 0 : -errno;
	if (rc < 0)
		rv_crit("snapshot", "snapshot-file %s: directory %s is not writable: %s (create it, "
			"or set snapshot-file \"\" to run without snapshots)", path, dir, strerror(-rc));
	free(copy);
	return rc;
}

/* ---- setup ---- */

static int load_config(agent *ag, const char *path, bool explicit_path, const char *log_level,
		bool dry_run)
{
	int rc = rv_config_defaults(&ag->cfg);
	if (rc < 0)
		return rc;
	if (explicit_path || access(path, F_OK) == 0) {
		rc = rv_config_load(&ag->cfg, path, config_error, NULL);
		if (rc < 0)
			return rc;
	} else {
		fprintf(stderr, "%s: not found; using built-in defaults\n", path);
	}
	if (log_level) {
		int lvl = rv_log_level_parse(log_level);
		if (lvl < 0) {
			fprintf(stderr, "--log-level '%s': expected crit, error, warning, notice, "
				"info or debug\n", log_level);
			return -EINVAL;
		}
		ag->cfg.log_level = lvl;
	}
	if (dry_run)
		ag->cfg.dry_run = true;
	rc = rv_config_validate(&ag->cfg, path, config_error, NULL);
	if (rc < 0)
		return rc;
	if (!ag->cfg.dry_run) {
		char err[512];
		struct stat st;
		/* The key signs every change to the zone: a copy readable by any local
		 * user lets them rewrite what analysts see. */
		if (stat(ag->cfg.key_file, &st) == 0 && (st.st_mode & S_IROTH)) {
			fprintf(stderr, "%s: key file is readable by everyone (mode %04o); "
				"fix with: chmod o-rwx %s\n", ag->cfg.key_file,
				(unsigned)(st.st_mode & 07777), ag->cfg.key_file);
			return -EACCES;
		}
		rc = rv_tsig_key_load(ag->cfg.key_file, ag->cfg.key_name, &ag->key, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s\n", err);
			return rc;
		}
	}
	return 0;
}

static int resolve_group(const char *name, gid_t *gid)
{
	*gid = (gid_t)-1;
	if (!name || !*name)
		return 0;
	struct group *gr = getgrnam(name);
	if (!gr) {
		rv_crit("agent", "socket-group '%s': no such group (set socket-group \"\" to keep "
			"the agent's own group)", name);
		return -ENOENT;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* writer-user -> uid: a user name, or a number for a uid without a passwd entry. */
static int resolve_writer(const char *name, uid_t *uid, bool *set)
{
	*set = false;
	if (!name || !*name)
		return 0;
	struct passwd *pw = getpwnam(name);
	if (pw) {
		*uid = pw->pw_uid;
		*set = true;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0 &&
	    v < (unsigned long)(uid_t)-1) {
		*uid = (uid_t)v;
		*set = true;
		return 0;
	}
	rv_crit("agent", "writer-user '%s': no such user (set writer-user to the user named runs "
		"as, or \"\" to trust only root)", name);
	return -ENOENT;
}

/* Runs after the socket is bound (the only step that may need root). */
static int drop_privileges(const char *user)
{
	if (!user || !*user)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		rv_crit("agent", "user '%s': no such user", user);
		return -ENOENT;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		rv_crit("agent", "user '%s': switching users needs root; started as uid %u",
			user, (unsigned)geteuid());
		return -EPERM;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		int e = errno;
		rv_crit("agent", "switching to user '%s' failed: %s", user, strerror(e));
		return -e;
	}
	/* Belt and braces: a process that can get root back has not dropped it. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		rv_crit("agent", "still able to regain root after switching to '%s'", user);
		return -EPERM;
	}
	rv_notice("agent", "running as user %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
		(unsigned)pw->pw_gid);
	return 0;
}

static struct event *add_signal(agent *ag, int sig)
{
	struct event *ev = evsignal_new(ag->base, sig, on_signal, ag);
	if (ev)
		evsignal_add(ev, NULL);
	return ev;
}

static int start(agent *ag)
{
	int err = 0;
	ag->base = event_base_new();
	if (!ag->base)
		return -ENOMEM;

	rv_table_opts topts = {
		.max_addresses = ag->cfg.max_addresses,
		.max_candidates = ag->cfg.max_candidates,
		.half_life_s = ag->cfg.score_half_life_ms / 1000,
		.depth_weight = ag->cfg.score_depth_weight,
		.txt_refresh_s = ag->cfg.txt_refresh_ms / 1000,
		.txt_refresh_ratio = ag->cfg.txt_refresh_growth,
	};
	ag->table = rv_table_new(&topts);
	if (!ag->table)
		return -ENOMEM;

	char errbuf[512];
	ag->guard = rv_guard_new(ag->cfg.ignore_cidrs, ag->cfg.ignore_suffixes,
			ag->cfg.ignore_response_addresses, &err, errbuf, sizeof(errbuf));
	if (!ag->guard) {
		rv_crit("agent", "%s", errbuf);
		return err;
	}
	if (ag->cfg.snapshot_file[0])
		load_snapshot(ag);

	if (ag->cfg.geoip_database[0]) {
		ag->geo = rv_geo_open(ag->cfg.geoip_database, &err, errbuf, sizeof(errbuf));
		if (!ag->geo) {
			rv_crit("agent", "geoip-database: %s", errbuf);
			return err;
		}
		rv_table_set_country_fn(ag->table, country_of, ag);
	}

	if (!ag->cfg.dry_run) {
		rv_rpz_writer_opts wopts = {
			.server = ag->cfg.server,
			.port = ag->cfg.server_port,
			.zone = ag->cfg.rpz_zone,
			.ttl = ag->cfg.record_ttl,
			.flush_interval_ms = ag->cfg.flush_interval_ms,
			.batch_bytes = ag->cfg.batch_bytes,
			.timeout_ms = ag->cfg.update_timeout_ms,
			.retry_min_ms = ag->cfg.retry_min_ms,
			.retry_max_ms = ag->cfg.retry_max_ms,
			.max_rate = ag->cfg.max_update_rate,
		};
		ag->writer = rv_rpz_writer_new(ag->base, &wopts, &ag->key, ag->table, &err);
		if (!ag->writer)
			return err ? err : -ENOMEM;
	}

	gid_t gid;
	err = resolve_group(ag->cfg.socket_group, &gid);
	if (err < 0)
		return err;
	/* Writers keep their slot whatever other peers do (fstrm_srv.h). Root is
	 * always one: it could stop the agent anyway. */
	uid_t writers[2] = {0, 0};
	size_t nwriters = 1;
	bool writer_set;
	err = resolve_writer(ag->cfg.writer_user, &writers[1], &writer_set);
	if (err < 0)
		return err;
	if (writer_set && writers[1] != 0)
		nwriters = 2;
	rv_fs_server_opts sopts = {
		.path = ag->cfg.dnstap_socket,
		.mode = (mode_t)ag->cfg.socket_mode,
		.gid = gid,
		.max_frame = ag->cfg.max_frame_bytes,
		.max_connections = ag->cfg.max_connections,
		.stall_timeout_ms = ag->cfg.stall_timeout_ms,
		.handshake_timeout_ms = ag->cfg.handshake_timeout_ms,
		.trusted_uids = writers,
		.ntrusted_uids = nwriters,
		.content_type = CONTENT_TYPE,
	};
	ag->server = rv_fs_server_new(ag->base, &sopts, on_frame, ag, &err);
	if (!ag->server)
		return err ? err : -ENOMEM;
	err = drop_privileges(ag->cfg.user);
	if (err < 0)
		return err;
	if (ag->cfg.snapshot_file[0]) {
		err = check_snapshot_dir(ag->cfg.snapshot_file);
		if (err < 0)
			return err;
	}

	ag->sig_term = add_signal(ag, SIGTERM);
	ag->sig_int = add_signal(ag, SIGINT);
	ag->sig_hup = add_signal(ag, SIGHUP);
	ag->sig_usr1 = add_signal(ag, SIGUSR1);
	ag->shutdown_timer = evtimer_new(ag->base, on_shutdown_timeout, ag);
	ag->drain_timer = evtimer_new(ag->base, on_drain_check, ag);
	/* Expiry runs every minute (or every max-idle if shorter): removal is O(expired). */
	ag->expire_timer = event_new(ag->base, -1, EV_PERSIST, on_expire_timer, ag);
	if (ag->expire_timer) {
		unsigned ms = ag->cfg.max_idle_ms < 60000 ? ag->cfg.max_idle_ms : 60000;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		event_add(ag->expire_timer, &tv);
	}
	ag->reconcile_timer = evtimer_new(ag->base, on_reconcile_timer, ag);
	ag->sig_chld = evsignal_new(ag->base, SIGCHLD, on_sigchld, ag);
	if (ag->sig_chld)
		evsignal_add(ag->sig_chld, NULL);
	if (ag->cfg.snapshot_file[0] && ag->cfg.snapshot_interval_ms > 0) {
		ag->snapshot_timer = event_new(ag->base, -1, EV_PERSIST, on_snapshot_timer, ag);
		if (!ag->snapshot_timer)
			return -ENOMEM;
		arm_ms(ag->snapshot_timer, ag->cfg.snapshot_interval_ms);
	}
	if (!ag->reconcile_timer || !ag->sig_chld)
		return -ENOMEM;
	/* Not in dry-run: there is no zone to compare with. */
	if (ag->writer)
		start_reconcile(ag);
	if (!ag->expire_timer || !ag->sig_term || !ag->sig_int || !ag->sig_hup || !ag->sig_usr1 ||
	    !ag->shutdown_timer || !ag->drain_timer)
		return -ENOMEM;
	if (ag->cfg.stats_interval_ms > 0) {
		ag->stats_timer = event_new(ag->base, -1, EV_PERSIST, on_stats_timer, ag);
		if (!ag->stats_timer)
			return -ENOMEM;
		struct timeval tv = {ag->cfg.stats_interval_ms / 1000,
				     (ag->cfg.stats_interval_ms % 1000) * 1000};
		event_add(ag->stats_timer, &tv);
	}
	return 0;
}

static void teardown(agent *ag)
{
	rv_reconcile_free(&ag->reconcile);
	rv_fs_server_free(&ag->server);
	rv_rpz_writer_free(&ag->writer);
	rv_table_free(&ag->table);
	rv_guard_free(&ag->guard);
	rv_geo_free(&ag->geo);
	struct event **evs[] = {&ag->sig_term, &ag->sig_int, &ag->sig_hup, &ag->sig_usr1,
				&ag->stats_timer, &ag->shutdown_timer, &ag->drain_timer,
				&ag->expire_timer, &ag->reconcile_timer, &ag->snapshot_timer,
				&ag->sig_chld};
	for (size_t i = 0; i < RV_ARRAY_LEN(evs); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	if (ag->base)
		event_base_free(ag->base);
	ag->base = NULL;
	rv_config_clear(&ag->cfg);
	/* The key is secret material: do not leave it in freed memory. */
	explicit_bzero(&ag->key, sizeof(ag->key));
}

int main(int argc, char **argv)
{
	enum { OPT_DUMP = 1000 };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 't'},
		{"dump-config", no_argument, NULL, OPT_DUMP},
		{"log-level", required_argument, NULL, 'l'},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = RV_DEFAULT_CONFIG;
	bool explicit_path = false, check_only = false, dump = false, dry_run = false;
	const char *log_level = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tl:nhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			explicit_path = true;
			break;
		case 't':
			check_only = true;
			break;
		case OPT_DUMP:
			dump = true;
			break;
		case 'l':
			log_level = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'h':
			print_usage(stdout);
			return 0;
		case 'V':
			printf("rearview-agent %s\n", RV_VERSION);
			return 0;
		default:
			print_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rearview-agent: unexpected argument '%s'\n", argv[optind]);
		print_usage(stderr);
		return 2;
	}

	agent ag = {.exit_code = 0};
	int rc = load_config(&ag, config_path, explicit_path, log_level, dry_run);
	if (dump) {
		rv_config_dump(&ag.cfg, stdout);
		rv_config_clear(&ag.cfg);
		return rc < 0 ? 1 : 0;
	}
	if (rc < 0) {
		fprintf(stderr, "rearview-agent: configuration %s is not valid\n", config_path);
		rv_config_clear(&ag.cfg);
		return 1;
	}
	if (check_only) {
		printf("%s: OK\n", config_path);
		rv_config_clear(&ag.cfg);
		return 0;
	}
	rv_log_level = ag.cfg.log_level;
	/* A dead UPDATE connection must be an error return, not a fatal signal. */
	signal(SIGPIPE, SIG_IGN);

	rc = start(&ag);
	if (rc < 0) {
		rv_crit("agent", "startup failed: %s", strerror(-rc));
		teardown(&ag);
		return 1;
	}
	rv_notice("agent", "rearview-agent %s listening on %s; writing zone %s via %s#%u%s",
		RV_VERSION, ag.cfg.dnstap_socket, ag.cfg.rpz_zone, ag.cfg.server,
		ag.cfg.server_port, ag.cfg.dry_run ? " (dry run: no updates sent)" : "");
#if RV_HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
	if (event_base_dispatch(ag.base) < 0) {
		rv_crit("agent", "event loop failed");
		ag.exit_code = 1;
	}
	if (ag.cfg.snapshot_file[0])
		save_snapshot_now(&ag);
	sync_table_stats(&ag);
	rv_stats_log(RV_LOG_NOTICE, "exit");
	teardown(&ag);
	return ag.exit_code;
}
