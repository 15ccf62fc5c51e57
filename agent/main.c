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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bindstats.h"
#include "config.h"
#include "dnstap.h"
#include "fstrm_srv.h"
#include "geo.h"
#include "guard.h"
#include "log.h"
#include "ingest.h"
#include "publish.h"
#include "rpz.h"
#include "rv_config.h"
#include "persist.h"
#include "privs.h"
#include "stats.h"
#include "table.h"
#include "table_sink.h"
#include "tsig_key.h"
#include "zonesync.h"

#if RV_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"

typedef struct agent {
	rv_config cfg;
	rv_tsig_key key;
	struct event_base *base;
	rv_table *table;
	rv_publisher *publisher;
	rv_ingest *ingest;
	rv_rpz_writer *writer;
	rv_zonesync *zonesync;
	rv_fs_server *server;
	rv_guard *guard;
	rv_geo *geo;
	rv_persist *persist;          /* snapshots; NULL with snapshot-file "" */
	rv_bindstats *bindstats;      /* named's dnstap counters; NULL with statistics-channel "" */
	struct event *expire_timer;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stats_timer;
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
		"Signals: SIGTERM/SIGINT flush pending updates and exit; SIGUSR1/SIGHUP log\n"
		"statistics; SIGUSR2 and other unused signals are ignored.\n"
		"See rearview-agent(8) and the example configuration for every option.\n",
		RV_DEFAULT_CONFIG);
}

static void config_error(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* ---- signals and shutdown ---- */

static void on_drained(void *arg, size_t left)
{
	agent *ag = arg;
	if (left > 0)
		/* Not lost: the table (with them) goes into the snapshot, and the
		 * startup reconcile of the next run re-sends whatever the zone lacks. */
		rv_err("agent", "shutdown: %zu addresses not yet acknowledged by %s#%u (zone %s); %s",
			left, ag->cfg.server, ag->cfg.server_port, ag->cfg.rpz_zone,
			ag->cfg.snapshot_file[0] ? "the snapshot keeps them; the next start re-sends them"
						 : "without a snapshot-file they are relearned from new traffic");
	event_base_loopexit(ag->base, NULL);
}

static void begin_shutdown(agent *ag, const char *why)
{
	if (ag->stopping)
		return;
	ag->stopping = true;
	rv_notice("agent", "%s: stopping; flushing %zu queued addresses", why,
		ag->publisher ? rv_publisher_queued(ag->publisher) : 0);
#if RV_HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	/* Close the dnstap side first: each open session gets no more reads, and named
	 * reconnects to the next agent instance on its reopen interval. */
	rv_fs_server_free(&ag->server);
	rv_zonesync_free(&ag->zonesync);
	if (ag->persist)
		rv_persist_stop(ag->persist);
	if (!ag->writer || rv_rpz_writer_drain(ag->writer, ag->cfg.shutdown_timeout_ms,
			on_drained, ag) < 0)
		event_base_loopexit(ag->base, NULL);
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
		rv_stats_log(RV_LOG_NOTICE, sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
		break;
	}
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	rv_stats_log(RV_LOG_INFO, "periodic");
}

static void on_expire_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent *ag = arg;
	int64_t cutoff = (int64_t)time(NULL) - (int64_t)(ag->cfg.max_idle_ms / 1000);
	size_t n = rv_table_expire(ag->table, cutoff);
	if (n > 0)
		rv_info("table", "expired %zu addresses idle for more than %u s", n,
			ag->cfg.max_idle_ms / 1000);
}

static void country_of(void *arg, const rv_addr *addr, char cc[3])
{
	agent *ag = arg;
	if (rv_geo_country(ag->geo, addr, cc) == -EBADMSG)
		rv_stats.geo_errors++;
}

static void arm_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(ev, &tv);
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
		rc = rv_tsig_key_load(ag->cfg.key_file, ag->cfg.key_name, &ag->key, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s\n", err);
			return rc;
		}
	}
	return 0;
}

static struct event *add_signal(agent *ag, int sig)
{
	struct event *ev = evsignal_new(ag->base, sig, on_signal, ag);
	if (ev)
		evsignal_add(ev, NULL);
	return ev;
}

/* Signals that would end the process by default but mean nothing to the
 * agent: a stray `kill -USR2` must not take the resolver's observer down, and a
 * dead UPDATE connection must be an error return, not SIGPIPE. */
static void ignore_stray_signals(void)
{
	static const int sigs[] = {SIGPIPE, SIGUSR2, SIGALRM, SIGVTALRM, SIGIO, SIGPWR,
				   SIGXFSZ, SIGSTKFLT};
	for (size_t i = 0; i < RV_ARRAY_LEN(sigs); i++)
		signal(sigs[i], SIG_IGN);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		signal(sig, SIG_IGN);
}

static int make_table(agent *ag)
{
	rv_table_opts topts = {
		.max_addresses = ag->cfg.max_addresses,
		.max_candidates = ag->cfg.max_candidates,
		.half_life_s = ag->cfg.score_half_life_ms / 1000,
		.depth_weight = ag->cfg.score_depth_weight,
		.txt_refresh_s = ag->cfg.txt_refresh_ms / 1000,
		.txt_refresh_ratio = ag->cfg.txt_refresh_growth,
		.name_budget = ag->cfg.max_name_bytes,
	};
	ag->table = rv_table_new(&topts);
	if (!ag->table)
		return -ENOMEM;
	ag->publisher = rv_publisher_new(ag->base, ag->table);
	if (!ag->publisher)
		return -ENOMEM;
	rv_table_register_stats(ag->table);
	return 0;
}

static int make_ingest(agent *ag)
{
	char errbuf[512];
	int err = 0;
	ag->guard = rv_guard_new(ag->cfg.ignore_cidrs, ag->cfg.ignore_suffixes,
			ag->cfg.ignore_response_addresses, &err, errbuf, sizeof(errbuf));
	if (!ag->guard) {
		rv_crit("agent", "%s", errbuf);
		return err;
	}
	rv_ingest_opts iopts = {
		.max_chain_depth = ag->cfg.max_chain_depth,
		.max_skew_s = ag->cfg.max_clock_skew_ms / 1000,
	};
	ag->ingest = rv_ingest_new(&iopts, ag->guard);
	if (!ag->ingest)
		return -ENOMEM;
	/* The sinks, in order. A new output is one line here. */
	rv_sink table_sink = rv_table_sink(ag->table);
	return rv_ingest_add_sink(ag->ingest, &table_sink);
}

static void kick_writer(void *arg)
{
	rv_rpz_writer_kick(arg);
}

static int make_writer(agent *ag)
{
	int err = 0;
	if (ag->cfg.dry_run)
		return 0; /* the publisher acknowledges everything itself */
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
	ag->writer = rv_rpz_writer_new(ag->base, &wopts, &ag->key,
			rv_publisher_feed(ag->publisher), &err);
	if (!ag->writer)
		return err ? err : -ENOMEM;
	rv_publisher_set_sender(ag->publisher, kick_writer, ag->writer);
	rv_zonesync_opts zopts = {
		.server = ag->cfg.server,
		.port = ag->cfg.server_port,
		.zone = ag->cfg.rpz_zone,
		.key = &ag->key,
		.timeout_ms = ag->cfg.update_timeout_ms * 2,
		.interval_ms = ag->cfg.reconcile_interval_ms,
		.write_early = ag->cfg.write_before_reconcile,
	};
	ag->zonesync = rv_zonesync_new(ag->base, &zopts, ag->table, ag->writer, &err);
	return ag->zonesync ? 0 : (err ? err : -ENOMEM);
}

static int make_server(agent *ag)
{
	gid_t gid;
	int err = rv_privs_group(ag->cfg.socket_group, &gid);
	if (err < 0)
		return err;
	/* Writers keep their slot whatever other peers do (fstrm_srv.h). Root is
	 * always one: it could stop the agent anyway. */
	uid_t writers[2] = {0, 0};
	size_t nwriters = 1;
	bool writer_set;
	err = rv_privs_uid(ag->cfg.writer_user, &writers[1], &writer_set);
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
	ag->server = rv_fs_server_new(ag->base, &sopts, rv_ingest_frame_cb, ag->ingest, &err);
	return ag->server ? 0 : (err ? err : -ENOMEM);
}

/* Opened after the privilege drop: parsing files is not a job for root. */
static int open_geo(agent *ag)
{
	char errbuf[512];
	int err = 0;
	if (!ag->cfg.geoip_database[0])
		return 0;
	ag->geo = rv_geo_open(ag->cfg.geoip_database, &err, errbuf, sizeof(errbuf));
	if (!ag->geo) {
		rv_crit("agent", "geoip-database: %s", errbuf);
		return err;
	}
	rv_publisher_set_country_fn(ag->publisher, country_of, ag);
	return 0;
}

static struct event *add_timer(agent *ag, event_callback_fn fn, unsigned ms)
{
	struct event *ev = event_new(ag->base, -1, EV_PERSIST, fn, ag);
	if (ev)
		arm_ms(ev, ms);
	return ev;
}

static int add_events(agent *ag)
{
	ag->sig_term = add_signal(ag, SIGTERM);
	ag->sig_int = add_signal(ag, SIGINT);
	ag->sig_hup = add_signal(ag, SIGHUP);
	ag->sig_usr1 = add_signal(ag, SIGUSR1);
	if (!ag->sig_term || !ag->sig_int || !ag->sig_hup || !ag->sig_usr1)
		return -ENOMEM;
	/* Expiry runs every minute (or every max-idle if shorter): removal is O(expired). */
	ag->expire_timer = add_timer(ag, on_expire_timer,
			ag->cfg.max_idle_ms < 60000 ? ag->cfg.max_idle_ms : 60000);
	if (!ag->expire_timer)
		return -ENOMEM;
	if (ag->cfg.stats_interval_ms > 0 &&
	    !(ag->stats_timer = add_timer(ag, on_stats_timer, ag->cfg.stats_interval_ms)))
		return -ENOMEM;
	return 0;
}

/* named's own dnstap counters (loss accounting), when statistics-channel is set. */
static int make_bindstats(agent *ag)
{
	int err = 0;
	if (!ag->cfg.statistics_channel[0])
		return 0;
	rv_bindstats_opts bopts = {
		.channel = ag->cfg.statistics_channel,
		.interval_ms = ag->cfg.statistics_interval_ms,
	};
	ag->bindstats = rv_bindstats_new(ag->base, &bopts, &err);
	return ag->bindstats ? 0 : err;
}

/*
 * Order matters for least privilege: what needs root (binding the socket in a
 * root-owned directory; the key was read with the configuration) happens
 * first, then root is dropped, and only then are files parsed (the snapshot,
 * the GeoIP database).
 */
static int start(agent *ag)
{
	int err;
	ag->base = event_base_new();
	if (!ag->base)
		return -ENOMEM;
	if ((err = make_table(ag)) < 0 || (err = make_ingest(ag)) < 0 ||
	    (err = make_writer(ag)) < 0 || (err = make_server(ag)) < 0)
		return err;
	if ((err = rv_privs_drop(ag->cfg.user)) < 0)
		return err;
	if (ag->cfg.snapshot_file[0]) {
		ag->persist = rv_persist_new(ag->base, ag->cfg.snapshot_file,
				ag->cfg.snapshot_interval_ms, ag->table, &err);
		if (!ag->persist)
			return err;
		rv_persist_load(ag->persist);
		if ((err = rv_persist_start(ag->persist)) < 0)
			return err;
	}
	if ((err = open_geo(ag)) < 0 || (err = add_events(ag)) < 0)
		return err;
	if ((err = make_bindstats(ag)) < 0)
		return err;
	/* Not in dry-run: there is no zone to compare with. */
	if (ag->zonesync)
		rv_zonesync_start(ag->zonesync);
	return 0;
}

static void teardown(agent *ag)
{
	rv_zonesync_free(&ag->zonesync);
	rv_fs_server_free(&ag->server);
	rv_rpz_writer_free(&ag->writer);
	rv_publisher_free(&ag->publisher);
	rv_ingest_free(&ag->ingest);
	rv_stats_unregister(ag->table);
	rv_table_free(&ag->table);
	rv_guard_free(&ag->guard);
	rv_geo_free(&ag->geo);
	rv_persist_free(&ag->persist);
	rv_bindstats_free(&ag->bindstats);
	struct event **evs[] = {&ag->sig_term, &ag->sig_int, &ag->sig_hup, &ag->sig_usr1,
				&ag->stats_timer, &ag->expire_timer};
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
	ignore_stray_signals();

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
	if (ag.persist && rv_persist_save_now(ag.persist) < 0)
		ag.exit_code = 1;
	rv_stats_log(RV_LOG_NOTICE, "exit");
	teardown(&ag);
	return ag.exit_code;
}
