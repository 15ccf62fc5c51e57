/*
 * relay_main.c - rearview-relay: named's dnstap, unchanged, to a central
 * rearview-agent (see relay.h and rearview-relay(8)). Only wiring: the
 * Frame Streams server (fstrm_srv.c, the agent's) feeds the forwarder
 * (relay.c); one libevent loop; signals; the statistics line.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common.h"
#include "fstrm_srv.h"
#include "log.h"
#include "privs.h"
#include "relay.h"
#include "rv_config.h"
#include "stats.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"

typedef struct relay_main {
	struct event_base *base;
	rv_fs_server *server;
	rv_relay *relay;
	struct event *ev_poll, *ev_stats, *ev_sig[4];
	unsigned stats_interval_s;
} relay_main;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rearview-relay --central ADDR:PORT [options]\n"
		"Forwards named's dnstap (Frame Streams on a local unix socket) unchanged to a\n"
		"central rearview-agent's tcp: or tls: listener.\n"
		"  --central ADDR:PORT     the central agent (IPv6 as [ADDR]:PORT); required\n"
		"  --socket PATH           unix socket named connects to (/run/rearview/dnstap.sock)\n"
		"  --socket-mode MODE      its permissions (0660)\n"
		"  --socket-group GROUP    its group (bind; \"\" = the relay's)\n"
		"  --writer-user USER      named's user: its connections keep their slot (bind)\n"
		"  --max-connections N     local connections (8)\n"
		"  --max-frame-size BYTES  largest frame accepted (131072)\n"
		"  --queue FRAMES          frames queued for the central agent, 2 to 1048576\n"
		"                          (16384); beyond, frames are dropped\n"
		"  --reconnect SECONDS     between attempts to reach the central agent (2)\n"
		"  --io-timeout MS         connect/send/receive timeout towards it (10000)\n"
		"  --tls-ca FILE           use TLS, verifying the central agent's certificate\n"
		"  --tls-name NAME         name its certificate must carry (default: any)\n"
		"  --tls-cert FILE         client certificate (mutual TLS) ...\n"
		"  --tls-key FILE          ... and its key\n"
		"  --stats-interval SECONDS  statistics line period (60; 0 = off; SIGUSR1: now)\n"
		"  --log-level LEVEL       err, warning, notice, info, debug (notice)\n"
		"  --version, --help\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	relay_main *m = arg;

	(void)what;
	if (sig == SIGUSR1) {
		rv_stats_log(RV_LOG_NOTICE, "SIGUSR1");
		return;
	}
	rv_notice("relay", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(m->base);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rv_relay_poll(((relay_main *)arg)->relay);
}

static void on_stats(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	rv_stats_log(RV_LOG_INFO, "periodic");
}

static int parse_uint(const char *opt, const char *v, unsigned long lo, unsigned long hi,
		unsigned long *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 0);

	if (*v == '\0' || *end != '\0' || n < lo || n > hi) {
		fprintf(stderr, "rearview-relay: %s '%s': expected %lu to %lu\n", opt, v, lo, hi);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"central", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"socket-mode", required_argument, NULL, 'm'},
		{"socket-group", required_argument, NULL, 'g'},
		{"writer-user", required_argument, NULL, 'w'},
		{"max-connections", required_argument, NULL, 'n'},
		{"max-frame-size", required_argument, NULL, 'f'},
		{"queue", required_argument, NULL, 'q'},
		{"reconnect", required_argument, NULL, 'r'},
		{"io-timeout", required_argument, NULL, 't'},
		{"tls-ca", required_argument, NULL, 'A'},
		{"tls-name", required_argument, NULL, 'N'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"stats-interval", required_argument, NULL, 'i'},
		{"log-level", required_argument, NULL, 'l'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *central = NULL, *socket_path = "/run/rearview/dnstap.sock";
	const char *group = "bind", *writer = "bind";
	unsigned long mode = 0660, maxconn = 8, maxframe = 131072, queue = 16384, reopen = 2;
	unsigned long io_timeout = 10000, stats_s = 60;
	rv_relay_opts ropts = {.content_type = CONTENT_TYPE};
	relay_main m = {0};
	int opt, err = 0, rc = 1;
	uid_t writers[2] = {0, 0};
	size_t nwriters = 1;
	bool writer_set = false;
	gid_t gid;

	while ((opt = getopt_long(argc, argv, "c:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': central = optarg; break;
		case 's': socket_path = optarg; break;
		case 'm': err = parse_uint("--socket-mode", optarg, 0, 0777, &mode); break;
		case 'g': group = optarg; break;
		case 'w': writer = optarg; break;
		case 'n': err = parse_uint("--max-connections", optarg, 1, 10000, &maxconn); break;
		case 'f': err = parse_uint("--max-frame-size", optarg, 1024, 16u << 20, &maxframe); break;
		case 'q': err = parse_uint("--queue", optarg, 2, RV_RELAY_QUEUE_MAX, &queue); break;
		case 'r': err = parse_uint("--reconnect", optarg, 1, 3600, &reopen); break;
		case 't': err = parse_uint("--io-timeout", optarg, 100, 600000, &io_timeout); break;
		case 'A': ropts.tls_ca = optarg; break;
		case 'N': ropts.tls_name = optarg; break;
		case 'C': ropts.tls_cert = optarg; break;
		case 'K': ropts.tls_key = optarg; break;
		case 'i': err = parse_uint("--stats-interval", optarg, 0, 86400, &stats_s); break;
		case 'l':
			rv_log_level = rv_log_level_parse(optarg);
			if (rv_log_level < 0) {
				fprintf(stderr, "rearview-relay: unknown --log-level '%s'\n", optarg);
				err = -EINVAL;
			}
			break;
		case 'V': printf("rearview-relay %s\n", RV_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (err < 0)
			return 2;
	}
	if (central == NULL || optind != argc ||
	    rv_hostport_parse(central, &ropts.central, &ropts.port) < 0 ||
	    ((ropts.tls_cert != NULL) != (ropts.tls_key != NULL))) {
		fprintf(stderr, "rearview-relay: --central ADDR:PORT is required; --tls-cert and "
				"--tls-key go together\n");
		usage(stderr);
		return 2;
	}
	ropts.queue_frames = (unsigned)queue;
	ropts.reopen_s = (unsigned)reopen;
	ropts.io_timeout_ms = (unsigned)io_timeout;
	m.stats_interval_s = (unsigned)stats_s;
	/* A central agent that vanished must be an error return, not SIGPIPE
	 * (OpenSSL writes with plain write()). */
	signal(SIGPIPE, SIG_IGN);
	(void)rv_log_detect_journal();

	if (rv_privs_group(group, &gid) < 0 || rv_privs_uid(writer, &writers[1], &writer_set) < 0)
		goto out;
	if (writer_set && writers[1] != 0)
		nwriters = 2;
	m.base = event_base_new();
	if (m.base == NULL)
		goto out;
	m.relay = rv_relay_new(&ropts, &err);
	if (m.relay == NULL || rv_relay_register_stats(m.relay) < 0)
		goto out;
	rv_fs_server_opts sopts = {
		.path = socket_path,
		.mode = (mode_t)mode,
		.gid = gid,
		.max_frame = maxframe,
		.max_connections = (unsigned)maxconn,
		.stall_timeout_ms = 30000,
		.handshake_timeout_ms = 5000,
		.trusted_uids = writers,
		.ntrusted_uids = nwriters,
		.content_type = CONTENT_TYPE,
	};
	m.server = rv_fs_server_new(m.base, &sopts, rv_relay_frame_cb, m.relay, &err);
	if (m.server == NULL)
		goto out;
	static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
	for (size_t i = 0; i < RV_ARRAY_LEN(sigs); i++) {
		m.ev_sig[i] = evsignal_new(m.base, sigs[i], on_signal, &m);
		if (m.ev_sig[i] == NULL || evsignal_add(m.ev_sig[i], NULL) < 0)
			goto out;
	}
	struct timeval second = {1, 0}, period = {(time_t)m.stats_interval_s, 0};
	m.ev_poll = event_new(m.base, -1, EV_PERSIST, on_poll, &m);
	if (m.ev_poll == NULL || event_add(m.ev_poll, &second) < 0)
		goto out;
	if (m.stats_interval_s > 0) {
		m.ev_stats = event_new(m.base, -1, EV_PERSIST, on_stats, &m);
		if (m.ev_stats == NULL || event_add(m.ev_stats, &period) < 0)
			goto out;
	}
	rv_notice("relay", "rearview-relay %s: %s -> %s", RV_VERSION, socket_path, central);
	if (event_base_dispatch(m.base) < 0)
		goto out;
	rc = 0;
out:
	/* named first (it gets FINISH if it sent STOP, else sees the close), then
	 * the queue: flushed, STOP, FINISH from the central agent. */
	rv_fs_server_free(&m.server);
	if (m.relay != NULL) {
		rv_relay_free(&m.relay);
		rv_stats_log(RV_LOG_NOTICE, "exit");
	}
	for (size_t i = 0; i < RV_ARRAY_LEN(m.ev_sig); i++)
		if (m.ev_sig[i] != NULL)
			event_free(m.ev_sig[i]);
	if (m.ev_poll != NULL)
		event_free(m.ev_poll);
	if (m.ev_stats != NULL)
		event_free(m.ev_stats);
	if (m.base != NULL)
		event_base_free(m.base);
	return rc;
}
