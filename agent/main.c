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

#include "cof_sink.h"
#include "bindstats.h"
#include "config.h"
#include "dnstap.h"
#include "fstrm_srv.h"
#include "geo.h"
#include "guard.h"
#include "history_sink.h"
#include "health.h"
#include "http.h"
#include "keyfile.h"
#include "log.h"
#include "pdns_api.h"
#include "metrics_http.h"
#include "ingest.h"
#include "publish.h"
#include "reload.h"
#include "rpz_hot.h"
#include "rpz.h"
#include "rv_config.h"
#include "persist.h"
#include "privs.h"
#include "procstats.h"
#include "stats.h"
#include "table.h"
#include "table_api.h"
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
	rv_hot *hot;                  /* the hot zone's mover; NULL with rpz-hot-zone "" */
	rv_zonesync *zonesync;
	rv_fs_server *server;
	rv_guard *guard;
	rv_geo *geo;
	rv_persist *persist;          /* snapshots; NULL with snapshot-file "" */
	rv_history *history;          /* passive DNS; NULL when off or unusable */
	rv_cof_sink *cof;             /* COF log; NULL when off */
	rv_http *http;                /* HTTP listener; NULL with http-listen "" */
	rv_health *health;            /* what /healthz says */
	rv_pdns_api *pdns_api;        /* history queries; NULL without http or history */
	rv_table_api *table_api;      /* /v1/address, /v1/name; NULL without http */
	rv_bindstats *bindstats;      /* named's dnstap counters; NULL with statistics-channel "" */
	struct event *expire_timer;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event *stats_timer;    /* always there; armed when stats-interval > 0 */
	const char *config_path;      /* re-read at SIGHUP */
	const char *log_level_override; /* --log-level: still wins at a reload */
	bool dry_run_override;         /* --dry-run: likewise */
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
		"Signals: SIGTERM/SIGINT flush pending updates and exit; SIGUSR1 logs statistics;\n"
		"SIGHUP (systemctl reload) re-reads the configuration and the key files, applies\n"
		"what can change live, logs \"restart needed\" for the rest (kept as they are),\n"
		"keeps everything if the file has errors, reopens the COF log and logs\n"
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

/* The writer is drained: then the deletions the main zone owes (hot zone). */
static void on_writer_drained(void *arg, size_t left)
{
	agent *ag = arg;
	if (left > 0 || !ag->hot || rv_hot_drain(ag->hot, ag->cfg.shutdown_timeout_ms,
			on_drained, ag) < 0)
		on_drained(ag, left);
}

static void begin_shutdown(agent *ag, const char *why)
{
	if (ag->stopping)
		return;
	ag->stopping = true;
	/* The dnstap server and the writer are about to go: /healthz says
	 * "stopping" from now on (and load balancers move away). */
	rv_health_stopping(ag->health);
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
			on_writer_drained, ag) < 0)
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
	case SIGHUP: {
		/* logrotate moved the COF log away: write a new one. */
		if (ag->cof)
			rv_cof_sink_reopen(ag->cof);
		rv_reload_targets rt = {
			.path = ag->config_path,
			.log_level_override = ag->log_level_override,
			.dry_run_override = ag->dry_run_override,
			.cfg = &ag->cfg, .key = &ag->key, .guard = &ag->guard,
			.table = ag->table, .ingest = ag->ingest, .writer = ag->writer,
			.hot = ag->hot,
			.zonesync = ag->zonesync, .persist = ag->persist, .http = ag->http,
			.stats_timer = ag->stats_timer,
		};
		if (!ag->stopping)
			rv_reload(&rt, NULL); /* logged there; the agent runs on either way */
		rv_stats_log(RV_LOG_NOTICE, "SIGHUP");
		break;
	}
	case SIGUSR1:
		rv_stats_log(RV_LOG_NOTICE, "SIGUSR1");
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

/*
 * The passive-DNS history. Opened after root is dropped: the file belongs to
 * the agent's user. A file that cannot be used is reported and the agent runs
 * without a history: the RPZ does not depend on it.
 */
static int make_history(agent *ag)
{
	char why[512];
	int err = 0;

	if (ag->cfg.history_database[0] == '\0')
		return 0;
	rv_history_opts hopts = {
		.path = ag->cfg.history_database,
		.flush_interval_ms = ag->cfg.history_flush_interval_ms,
		.retention_s = ag->cfg.history_retention_ms / 1000,
		.max_bytes = ag->cfg.history_max_bytes,
		.max_pending = ag->cfg.history_max_pending,
	};
	ag->history = rv_history_new(ag->base, &hopts, &err, why, sizeof(why));
	if (!ag->history) {
		if (err == -ENOMEM)
			return err;
		rv_err("history", "%s: %s; running without a history (the RPZ is not affected)",
				ag->cfg.history_database, why);
		return 0;
	}
	rv_sink sink = rv_history_sink(ag->history);
	return rv_ingest_add_sink(ag->ingest, &sink);
}

/* The COF log. Its file is opened by its writer thread, as the agent's user. */
static int make_cof(agent *ag)
{
	int err = 0;

	if (ag->cfg.cof_log[0] == '\0')
		return 0;
	rv_cof_opts copts = {
		.path = ag->cfg.cof_log,
		.every_sighting = ag->cfg.cof_log_every,
		.flush_interval_ms = ag->cfg.history_flush_interval_ms,
		.max_pending = ag->cfg.history_max_pending,
		.max_buffer = 16u << 20,
	};
	ag->cof = rv_cof_sink_new(ag->base, &copts, &err);
	if (!ag->cof)
		return err;
	rv_sink sink = rv_cof_sink_sink(ag->cof);
	return rv_ingest_add_sink(ag->ingest, &sink);
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
	const rv_change_feed *feed = rv_publisher_feed(ag->publisher);
	if (ag->cfg.rpz_hot_zone[0]) {
		/* Every write goes to the hot zone; the mover owns the main zone's
		 * writer (rpz_hot.h). */
		rv_hot_opts hopts = {
			.move_interval_ms = ag->cfg.rpz_hot_move_interval_ms,
			.max_addresses = ag->cfg.rpz_hot_max,
		};
		ag->hot = rv_hot_new(ag->base, &hopts, ag->table, feed, &wopts, &ag->key, &err);
		if (!ag->hot)
			return err ? err : -ENOMEM;
		feed = rv_hot_feed(ag->hot);
		wopts.zone = ag->cfg.rpz_hot_zone;
	}
	ag->writer = rv_rpz_writer_new(ag->base, &wopts, &ag->key, feed, &err);
	if (!ag->writer)
		return err ? err : -ENOMEM;
	if (ag->hot)
		rv_hot_set_hot_writer(ag->hot, ag->writer);
	rv_publisher_set_sender(ag->publisher, kick_writer, ag->writer);
	rv_zonesync_opts zopts = {
		.server = ag->cfg.server,
		.port = ag->cfg.server_port,
		.zone = ag->cfg.rpz_zone,
		.key = &ag->key,
		.timeout_ms = ag->cfg.update_timeout_ms * 2,
		.interval_ms = ag->cfg.reconcile_interval_ms,
		.write_early = ag->cfg.write_before_reconcile,
		.hot_zone = ag->hot ? ag->cfg.rpz_hot_zone : NULL,
		.hot_owner = ag->hot ? rv_hot_owner : NULL,
		.hot_arg = ag->hot,
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
		.listen = ag->cfg.dnstap_listen,
		.allow = ag->cfg.dnstap_allow,
		.tls_cert = ag->cfg.dnstap_tls_cert,
		.tls_key = ag->cfg.dnstap_tls_key,
		.tls_client_ca = ag->cfg.dnstap_tls_client_ca,
		.mode = (mode_t)ag->cfg.socket_mode,
		.gid = gid,
		.max_frame = ag->cfg.max_frame_bytes,
		.max_connections = ag->cfg.max_connections,
		.stall_timeout_ms = ag->cfg.stall_timeout_ms,
		.handshake_timeout_ms = ag->cfg.handshake_timeout_ms,
		.trusted_uids = writers,
		.ntrusted_uids = nwriters,
		.content_type = CONTENT_TYPE,
		.batch_cb = rv_ingest_batch_cb,
	};
	ag->server = rv_fs_server_new(ag->base, &sopts, rv_ingest_frame_cb, ag->ingest, &err);
	return ag->server ? 0 : (err ? err : -ENOMEM);
}

/* Before the privilege drop: the port may be privileged, and the key file
 * root's. */
static int make_http(agent *ag)
{
	char errbuf[512];
	char *key = NULL;
	int err = 0;
	rv_health_sources hs = {ag->server, ag->writer, ag->hot ? rv_hot_main_writer(ag->hot) : NULL,
		ag->publisher};
	ag->health = rv_health_new(ag->base, &hs);
	if (!ag->health)
		return -ENOMEM;
	if (!ag->cfg.http_listen[0])
		return 0;
	if (ag->cfg.http_api_key_file[0] &&
	    (err = rv_api_key_load(ag->cfg.http_api_key_file, &key, errbuf, sizeof(errbuf))) < 0) {
		rv_crit("agent", "http-api-key-file: %s", errbuf);
		return err;
	}
	rv_http_opts hopts = {
		.listen = ag->cfg.http_listen,
		.api_key = key,
		.max_connections = ag->cfg.http_max_connections,
		.timeout_ms = ag->cfg.http_timeout_ms,
	};
	ag->http = rv_http_new(ag->base, &hopts, &err);
	if (key)
		rv_keyfile_clear(&key, strlen(key));
	if (!ag->http) {
		rv_crit("agent", "http-listen %s: cannot listen: %s", ag->cfg.http_listen,
			strerror(-err));
		return err;
	}
	/* HTTP routes: one line each */
	if ((err = rv_metrics_http_add(ag->http, ag->health)) < 0)
		return err;
	if (!(ag->table_api = rv_table_api_new(ag->http, ag->table, ag->cfg.http_query_timeout_ms,
			NULL, &err)))
		return err;
	if (ag->cfg.history_database[0]) {
		rv_pdns_api_opts popts = {
			.database = ag->cfg.history_database,
			.query_timeout_ms = ag->cfg.http_query_timeout_ms,
			.max_limit = ag->cfg.http_max_limit,
		};
		if (!(ag->pdns_api = rv_pdns_api_new(ag->http, &popts, &err)))
			return err;
	}
	return 0;
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
	if (ag->hot)
		rv_hot_set_country_fn(ag->hot, country_of, ag);
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
	/* Created even when off: a reload may turn it on. */
	ag->stats_timer = event_new(ag->base, -1, EV_PERSIST, on_stats_timer, ag);
	if (!ag->stats_timer)
		return -ENOMEM;
	if (ag->cfg.stats_interval_ms > 0)
		arm_ms(ag->stats_timer, ag->cfg.stats_interval_ms);
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
	    (err = make_writer(ag)) < 0 || (err = make_server(ag)) < 0 ||
	    (err = make_http(ag)) < 0 || (err = rv_procstats_register()) < 0)
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
	if ((err = open_geo(ag)) < 0 || (err = make_history(ag)) < 0 ||
	    (err = make_cof(ag)) < 0 ||
	    (err = add_events(ag)) < 0)
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
	/* First: its routes borrow the modules below (streams end, done runs). */
	rv_http_free(&ag->http);
	rv_pdns_api_free(&ag->pdns_api);
	rv_table_api_free(&ag->table_api);
	rv_health_free(&ag->health);
	rv_procstats_unregister();
	rv_zonesync_free(&ag->zonesync);
	rv_fs_server_free(&ag->server);
	rv_rpz_writer_free(&ag->writer);
	rv_hot_free(&ag->hot);
	rv_publisher_free(&ag->publisher);
	rv_ingest_free(&ag->ingest);
	rv_history_free(&ag->history);
	rv_cof_sink_free(&ag->cof);
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
	ag.config_path = config_path;
	ag.log_level_override = log_level;
	ag.dry_run_override = dry_run;
	ignore_stray_signals();

	rc = start(&ag);
	if (rc < 0) {
		rv_crit("agent", "startup failed: %s", strerror(-rc));
		teardown(&ag);
		return 1;
	}
	rv_notice("agent", "rearview-agent %s listening on %s; writing zone %s via %s#%u%s; "
		"HTTP %s", RV_VERSION,
		ag.cfg.dnstap_listen[0] ? ag.cfg.dnstap_listen : ag.cfg.dnstap_socket, ag.cfg.rpz_zone, ag.cfg.server,
		ag.cfg.server_port, ag.cfg.dry_run ? " (dry run: no updates sent)" : "",
		ag.cfg.http_listen[0] ? ag.cfg.http_listen : "off");
#if RV_HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
	if (event_base_dispatch(ag.base) < 0) {
		rv_crit("agent", "event loop failed");
		ag.exit_code = 1;
	}
	if (ag.persist && rv_persist_save_now(ag.persist) < 0)
		ag.exit_code = 1;
	/* The last sightings reach the history and the COF log before the exit
	 * line counts them (a failure was already logged, and the RPZ is done). */
	if (ag.history && rv_history_ok(ag.history) && rv_history_sync(ag.history) < 0)
		rv_warn("history", "the last records could not be written (see above)");
	if (ag.cof)
		rv_cof_sink_sync(ag.cof);
	rv_stats_log(RV_LOG_NOTICE, "exit");
	teardown(&ag);
	return ag.exit_code;
}
