/*
 * config.c - table-driven parser for the agent's "key value" config file.
 *
 * Every option is one row of the table below: name, type, bounds, default and a
 * one-line description (also printed by --dump-config via rv_config_dump()).
 * Values may be double-quoted ("" for an empty string). Durations take ms, s, m,
 * h or d suffixes (no suffix = seconds); sizes take k or m (binary) suffixes.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dname.h"
#include "fstrm_srv.h"
#include "guard.h"
#include "log.h"

enum opt_type { T_STR, T_LIST, T_BOOL, T_UINT, T_SIZE, T_MS, T_MODE, T_LOGLEVEL, T_DOUBLE };

/* Strings that hold DNS names (checked with dname.c, see name_problem()). */
enum name_kind {
	N_NONE,
	N_ZONE,       /* the RPZ: a name under which every reverse owner fits */
	N_ZONE_OPT,   /* the same, or "" (none) */
	N_KEY,        /* a key name, or "" */
	N_SUFFIXES,   /* a list of names, each with an optional leading dot */
};

/* What a SIGHUP reload can do with a changed value (reload.h). Every row
 * says it: R_UNSET (0) is what a row without the field would get, and the
 * unit test fails on it. */
enum reload_class {
	R_UNSET = 0,
	R_LIVE,      /* applied to the running agent */
	R_RESTART,   /* kept at its running value until a restart (logged) */
};

struct opt {
	const char *name;
	enum opt_type type;
	enum reload_class reload;
	size_t offset;
	uint64_t min, max;     /* bounds for numeric types, in the stored unit */
	const char *def;       /* default, in config-file syntax */
	const char *help;
	size_t width;          /* sizeof the field for integers */
	enum name_kind names;  /* a string of DNS names */
};

#define OFF(f) offsetof(rv_config, f), 0, 0
#define NUM(f, lo, hi) offsetof(rv_config, f), (lo), (hi)
#define W(f) sizeof(((rv_config *)0)->f)

static const struct opt options[] = {
	{"dnstap-socket", T_STR, R_RESTART, OFF(dnstap_socket), "/run/rearview/dnstap.sock",
	 "unix socket named's dnstap-output connects to", 0},
	{"dnstap-listen", T_LIST, R_RESTART, OFF(dnstap_listen), "\"\"",
	 "where dnstap writers connect: unix:PATH tcp:ADDR:PORT tls:ADDR:PORT (space-separated; "
	 "repeat to add); \"\" = unix:DNSTAP-SOCKET", 0},
	{"dnstap-allow", T_LIST, R_RESTART, OFF(dnstap_allow), "\"127.0.0.0/8 ::1/128\"",
	 "networks tcp: and tls: writers may connect from (space-separated CIDRs; the first use "
	 "replaces the default)", 0},
	{"dnstap-tls-cert", T_STR, R_RESTART, OFF(dnstap_tls_cert), "\"\"",
	 "PEM certificate (chain) of tls: listeners", 0},
	{"dnstap-tls-key", T_STR, R_RESTART, OFF(dnstap_tls_key), "\"\"",
	 "PEM private key of tls: listeners", 0},
	{"dnstap-tls-client-ca", T_STR, R_RESTART, OFF(dnstap_tls_client_ca), "\"\"",
	 "PEM CA that must have signed a tls: writer's client certificate (mutual TLS; such "
	 "writers keep their slot like writer-user); \"\" = no client certificate asked", 0},
	{"socket-mode", T_MODE, R_RESTART, NUM(socket_mode, 0, 0777), "0660",
	 "permissions of the socket (named must be able to write it)", W(socket_mode)},
	{"socket-group", T_STR, R_RESTART, OFF(socket_group), "bind",
	 "group owning the socket; \"\" keeps the agent's group", 0},
	{"max-frame-size", T_SIZE, R_RESTART, NUM(max_frame_bytes, 1024, 16u << 20), "128k",
	 "largest dnstap frame accepted; a larger one drops the connection", W(max_frame_bytes)},
	{"max-connections", T_UINT, R_RESTART, NUM(max_connections, 1, 100000), "64",
	 "concurrent dnstap connections; when full, a newcomer evicts the least useful one", W(max_connections)},
	{"stall-timeout", T_MS, R_RESTART, NUM(stall_timeout_ms, 100, 86400000), "30s",
	 "a frame not complete this long after its first byte drops the connection", W(stall_timeout_ms)},
	{"handshake-timeout", T_MS, R_RESTART, NUM(handshake_timeout_ms, 100, 3600000), "5s",
	 "a connection without a complete Frame Streams handshake (START) this long is dropped",
	 W(handshake_timeout_ms)},
	{"writer-user", T_STR, R_RESTART, OFF(writer_user), "bind",
	 "user (or uid) named runs as: its connections are never evicted for another user's; \"\" = root only", 0},
	{"max-chain-depth", T_UINT, R_LIVE, NUM(max_chain_depth, 0, 64), "16",
	 "CNAME links followed from the question name to the addresses", W(max_chain_depth)},
	{"max-addresses", T_UINT, R_RESTART, NUM(max_addresses, 1, 1000000000), "1000000",
	 "addresses tracked; the least recently seen is evicted beyond this", W(max_addresses)},
	{"max-candidates", T_UINT, R_RESTART, NUM(max_candidates, 1, 64), "8",
	 "candidate names kept per address", W(max_candidates)},
	{"max-name-bytes", T_SIZE, R_LIVE, NUM(max_name_bytes, 1024, 65536), "1024",
	 "bytes of candidate names kept per address (the weakest names make room)", W(max_name_bytes)},
	{"max-clock-skew", T_MS, R_LIVE, NUM(max_clock_skew_ms, 1000, 604800000), "10m",
	 "dnstap times further than this from the agent's clock are replaced by it (and counted)",
	 W(max_clock_skew_ms)},
	{"max-idle", T_MS, R_LIVE, NUM(max_idle_ms, 60000, 4000000000u), "7d",
	 "an address not seen this long is removed from the table and the zone", W(max_idle_ms)},
	{"score-half-life", T_MS, R_LIVE, NUM(score_half_life_ms, 1000, 4000000000u), "1d",
	 "a name's sighting frequency halves after this long without sightings", W(score_half_life_ms)},
	{"score-depth-weight", T_DOUBLE, R_LIVE, OFF(score_depth_weight), "0.25",
	 "score bonus per CNAME link, as a power of two (0 = none; 1 = each link doubles)", 0},
	{"txt-refresh-interval", T_MS, R_LIVE, NUM(txt_refresh_ms, 0, 4000000000u), "1h",
	 "rewrite an address's TXT metadata when last-seen moved this much (0 = never)", W(txt_refresh_ms)},
	{"txt-refresh-growth", T_DOUBLE, R_LIVE, OFF(txt_refresh_growth), "2",
	 "...or when its count grew by this factor (0 = never)", 0},
	{"geoip-database", T_STR, R_RESTART, OFF(geoip_database), "\"\"",
	 "MaxMind .mmdb for country=CC in the TXT metadata; \"\" = none", 0},
	{"ignore-cidr", T_LIST, R_LIVE, OFF(ignore_cidrs),
	 "\"0.0.0.0/8 127.0.0.0/8 169.254.0.0/16 224.0.0.0/4 255.255.255.255/32 ::/128 ::1/128 fe80::/10 ff00::/8\"",
	 "never learn these addresses (space-separated CIDRs; repeat the option to add)", 0},
	{"ignore-suffix", T_LIST, R_LIVE, OFF(ignore_suffixes), "\"\"",
	 "never learn names equal to or under these domains", 0, N_SUFFIXES},
	{"ignore-response-address", T_LIST, R_LIVE, OFF(ignore_response_addresses), "\"\"",
	 "ignore answers sent from these server addresses (ADDR or ADDR#PORT), e.g. the xray view's", 0},
	{"snapshot-file", T_STR, R_RESTART, OFF(snapshot_file), "/var/lib/rearview/state.snap",
	 "all candidates are saved here (atomically) and loaded at start; \"\" = off", 0},
	{"snapshot-interval", T_MS, R_LIVE, NUM(snapshot_interval_ms, 0, 86400000), "5m",
	 "period of background snapshots (also written at SIGTERM); 0 = only at SIGTERM", W(snapshot_interval_ms)},
	{"reconcile-interval", T_MS, R_LIVE, NUM(reconcile_interval_ms, 0, 604800000), "1h",
	 "period of the AXFR comparison that repairs drift in the zone; 0 = only at start", W(reconcile_interval_ms)},
	{"rpz-zone", T_STR, R_RESTART, OFF(rpz_zone), "rpz.rearview",
	 "the response policy zone the agent writes", 0, N_ZONE},
	{"rpz-hot-zone", T_STR, R_RESTART, OFF(rpz_hot_zone), "\"\"",
	 "a small policy zone that takes every write, listed first in the xray view; moved "
	 "into rpz-zone in batches so named rebuilds the big zone rarely; \"\" = off", 0, N_ZONE_OPT},
	{"rpz-hot-move-interval", T_MS, R_LIVE, NUM(rpz_hot_move_interval_ms, 1000, 86400000), "5m",
	 "with rpz-hot-zone: move its addresses into rpz-zone this often...", W(rpz_hot_move_interval_ms)},
	{"rpz-hot-max", T_UINT, R_LIVE, NUM(rpz_hot_max, 1, 100000000), "20000",
	 "...or as soon as it holds this many addresses", W(rpz_hot_max)},
	{"server", T_STR, R_RESTART, OFF(server), "127.0.0.1",
	 "address of the BIND server that takes the UPDATEs", 0},
	{"port", T_UINT, R_RESTART, NUM(server_port, 1, 65535), "53",
	 "its port (TCP)", W(server_port)},
	{"key-file", T_STR, R_LIVE, OFF(key_file), "/etc/rearview/rearview.key",
	 "BIND-format TSIG key file (tsig-keygen output)", 0},
	{"key-name", T_STR, R_LIVE, OFF(key_name), "\"\"",
	 "key to use from key-file; \"\" = the only key in it", 0, N_KEY},
	{"record-ttl", T_UINT, R_LIVE, NUM(record_ttl, 0, 2147483647), "600",
	 "TTL of the PTR and TXT records, seconds", W(record_ttl)},
	{"flush-interval", T_MS, R_LIVE, NUM(flush_interval_ms, 0, 3600000), "1s",
	 "partial UPDATEs at most this often; a change that finds the writer idle goes at once",
	 W(flush_interval_ms)},
	{"batch-size", T_SIZE, R_LIVE, NUM(batch_bytes, 512, 65535), "60000",
	 "bytes per UPDATE message (a DNS message is at most 65535)", W(batch_bytes)},
	{"update-timeout", T_MS, R_LIVE, NUM(update_timeout_ms, 100, 600000), "5s",
	 "connect + reply timeout of one UPDATE", W(update_timeout_ms)},
	{"retry-min", T_MS, R_LIVE, NUM(retry_min_ms, 10, 3600000), "1s",
	 "first retry delay after a failed UPDATE (doubles each time)", W(retry_min_ms)},
	{"retry-max", T_MS, R_LIVE, NUM(retry_max_ms, 10, 3600000), "60s",
	 "longest retry delay", W(retry_max_ms)},
	{"max-update-rate", T_UINT, R_LIVE, NUM(max_update_rate, 0, 100000000), "0",
	 "addresses per second sent to BIND at most, to leave a busy resolver CPU for queries; 0 = no cap",
	 W(max_update_rate)},
	{"write-before-reconcile", T_BOOL, R_RESTART, NUM(write_before_reconcile, 0, 1), "no",
	 "send UPDATEs before the start-up AXFR has shown what the zone holds (records and "
	 "history the table does not know yet may then be replaced)", W(write_before_reconcile)},
	{"dry-run", T_BOOL, R_RESTART, NUM(dry_run, 0, 1), "no",
	 "learn but never send UPDATEs (trials, benchmarks)", W(dry_run)},
	{"http-listen", T_STR, R_RESTART, OFF(http_listen), "127.0.0.1:8053",
	 "ADDR:PORT of the HTTP listener (history queries, /metrics, /healthz); \"\" = off", 0},
	{"http-api-key-file", T_STR, R_LIVE, OFF(http_api_key_file), "\"\"",
	 "file holding the API key clients send as X-API-Key; required when http-listen is not loopback", 0},
	{"http-max-connections", T_UINT, R_RESTART, NUM(http_max_connections, 1, 100000), "64",
	 "concurrent HTTP connections; more are refused", W(http_max_connections)},
	{"http-timeout", T_MS, R_RESTART, NUM(http_timeout_ms, 100, 3600000), "10s",
	 "an HTTP request must arrive whole, and a client take each chunk, within this", W(http_timeout_ms)},
	{"http-query-timeout", T_MS, R_RESTART, NUM(http_query_timeout_ms, 100, 3600000), "10s",
	 "longest a history query runs; then its stream ends with \"failed\"", W(http_query_timeout_ms)},
	{"http-max-limit", T_UINT, R_RESTART, NUM(http_max_limit, 1, 100000000), "1000000",
	 "largest limit= a query may ask for (the default limit is 10000)", W(http_max_limit)},
	{"history-database", T_STR, R_RESTART, OFF(history_database), "/var/lib/rearview/history.db",
	 "SQLite passive-DNS history of every answer record; \"\" = off", 0},
	{"history-flush-interval", T_MS, R_RESTART, NUM(history_flush_interval_ms, 100, 3600000), "5s",
	 "sightings are aggregated in memory and written in one transaction this often",
	 W(history_flush_interval_ms)},
	{"history-retention", T_MS, R_RESTART, NUM(history_retention_ms, 0, 315360000000ull), "90d",
	 "records not seen this long are deleted from the history; 0 = keep forever",
	 W(history_retention_ms)},
	{"history-max-size", T_SIZE, R_RESTART, NUM(history_max_bytes, 0, 1ull << 50), "4g",
	 "database size cap: the records seen longest ago are deleted beyond it; 0 = no cap",
	 W(history_max_bytes)},
	{"history-max-pending", T_UINT, R_RESTART, NUM(history_max_pending, 1000, 100000000), "1000000",
	 "records aggregated in memory at most while the writer is behind; more sightings are dropped (counted)",
	 W(history_max_pending)},
	{"cof-log", T_STR, R_RESTART, OFF(cof_log), "\"\"",
	 "write passive-DNS records as COF JSON lines to this file (\"-\" = stdout); \"\" = off", 0},
	{"cof-log-every", T_BOOL, R_RESTART, NUM(cof_log_every, 0, 1), "no",
	 "also one line per sighting, with the client address and the transport", W(cof_log_every)},
	{"user", T_STR, R_RESTART, OFF(user), "\"\"",
	 "when started as root, switch to this user (and its groups) once the socket is bound", 0},
	{"log-level", T_LOGLEVEL, R_LIVE, OFF(log_level), "notice",
	 "crit, error, warning, notice, info or debug", W(log_level)},
	{"stats-interval", T_MS, R_LIVE, NUM(stats_interval_ms, 0, 86400000), "5m",
	 "period of the statistics line at info level; 0 = never", W(stats_interval_ms)},
	{"statistics-channel", T_STR, R_RESTART, OFF(statistics_channel), "\"\"",
	 "ADDR:PORT of named's statistics-channels: its dnstap counters (sent, dropped) are read "
	 "to account for lost frames; \"\" = off", 0},
	{"statistics-interval", T_MS, R_RESTART, NUM(statistics_interval_ms, 100, 3600000), "15s",
	 "how often named's statistics channel is read (timeout: 5 s or this, if shorter)",
	 W(statistics_interval_ms)},
	{"shutdown-timeout", T_MS, R_LIVE, NUM(shutdown_timeout_ms, 0, 600000), "5s",
	 "how long SIGTERM waits for pending UPDATEs to be acknowledged", W(shutdown_timeout_ms)},
};

_Static_assert(RV_ARRAY_LEN(options) <= RV_CONFIG_OPTS_MAX, "rv_config.set_line is too small");

/*
 * Octets of the longest owner the agent writes without its zone: 32 nibble
 * labels and "ip6.arpa" (RFC 3596 2.5), 64 + 9. The zone's wire form may use
 * the rest of the 255 (RFC 1035 3.1), else UPDATEs for IPv6 addresses fail.
 */
#define OWNER_PREFIX_MAX 73

/*
 * Why one name of an option of kind k is unusable (static text), or NULL.
 * The agent's names go into UPDATEs and TSIG RRs as they are: a name that
 * does not convert (an empty label, a 64-octet label, over 255 octets, a bad
 * escape) is refused here rather than by the first UPDATE.
 */
static const char *name_problem(enum name_kind k, const char *name)
{
	uint8_t w[RV_DNAME_WIRE_MAX];
	size_t wl;
	const char *why = NULL;

	if ((k == N_KEY || k == N_ZONE_OPT) && name[0] == '\0')
		return NULL;            /* the only key in the file; no hot zone */
	if (k == N_SUFFIXES && name[0] == '.' && name[1] != '\0')
		name++;                 /* ".example.com": what is under it */
	if (rv_dname_from_text(name, strlen(name), 0, w, &wl, &why) < 0)
		return why;
	if (wl == 1)
		return k == N_SUFFIXES ? "the root would ignore every name" : "the root";
	if ((k == N_ZONE || k == N_ZONE_OPT) && wl > RV_DNAME_WIRE_MAX - OWNER_PREFIX_MAX)
		return "longer than 182 octets: reverse names under it would exceed 255";
	return NULL;
}

static void report(rv_config_err_fn fn, void *arg, const char *file, unsigned line,
		const char *fmt, ...) RV_PRINTF(5, 6);

static void report(rv_config_err_fn fn, void *arg, const char *file, unsigned line,
		const char *fmt, ...)
{
	char msg[512];
	int off = line ? snprintf(msg, sizeof(msg), "%s:%u: ", file, line)
		       : snprintf(msg, sizeof(msg), "%s: ", file);
	if (off < 0 || (size_t)off >= sizeof(msg))
		off = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
	va_end(ap);
	if (fn)
		fn(arg, msg);
}

/* Reports each unusable name of value (option o's text; a list is split as
 * guard.c splits it: spaces, tabs, commas) at file:line. true if none. */
static bool check_names(const struct opt *o, const char *value, rv_config_err_fn fn,
		void *arg, const char *file, unsigned line)
{
	bool ok = true;

	if (o->names != N_SUFFIXES) {
		const char *why = o->names == N_NONE ? NULL : name_problem(o->names, value);
		if (why != NULL)
			report(fn, arg, file, line, "%s '%s': not a usable DNS name: %s", o->name,
					value, why);
		return why == NULL;
	}
	for (const char *p = value; *p; ) {
		size_t n = strcspn(p, " \t,");
		if (n > 0) {
			char item[RV_NAME_MAX];
			const char *why = n < sizeof(item) ? NULL : "name longer than 255 octets";
			if (why == NULL) {
				memcpy(item, p, n);
				item[n] = '\0';
				why = name_problem(o->names, item);
			}
			if (why != NULL) {
				report(fn, arg, file, line, "%s '%.*s': not a usable DNS name: %s",
						o->name, (int)(n < 300 ? n : 300), p, why);
				ok = false;
			}
		}
		p += n;
		p += strspn(p, " \t,");
	}
	return ok;
}

static void store_uint(void *field, size_t width, uint64_t v)
{
	switch (width) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

static uint64_t load_uint(const void *field, size_t width)
{
	switch (width) {
	case 1: return *(const uint8_t *)field;
	case 2: return *(const uint16_t *)field;
	case 4: return *(const uint32_t *)field;
	default: return *(const uint64_t *)field;
	}
}

/* Parses a decimal number with an optional unit suffix; mult_for() maps the suffix
 * to a multiplier (0 = unknown suffix). */
static int parse_scaled(const char *s, uint64_t (*mult_for)(const char *), uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	uint64_t mult = mult_for(end);
	if (mult == 0)
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

static uint64_t duration_mult(const char *suffix)
{
	static const struct { const char *s; uint64_t ms; } units[] = {
		{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	for (size_t i = 0; i < RV_ARRAY_LEN(units); i++)
		if (strcmp(suffix, units[i].s) == 0)
			return units[i].ms;
	return 0;
}

static uint64_t size_mult(const char *suffix)
{
	if (strcmp(suffix, "") == 0)
		return 1;
	if (strcmp(suffix, "k") == 0 || strcmp(suffix, "K") == 0)
		return 1024;
	if (strcmp(suffix, "m") == 0 || strcmp(suffix, "M") == 0)
		return 1024 * 1024;
	if (strcmp(suffix, "g") == 0 || strcmp(suffix, "G") == 0)
		return 1024 * 1024 * 1024;
	return 0;
}

static uint64_t plain_mult(const char *suffix)
{
	return suffix[0] == '\0' ? 1 : 0;
}

/* Applies one value; returns NULL or a static error message. */
static const char *apply(rv_config *cfg, const struct opt *o, const char *value)
{
	void *field = (char *)cfg + o->offset;
	uint64_t v = 0;
	int rc;

	switch (o->type) {
	case T_STR: {
		char *copy = strdup(value);
		if (!copy)
			return "out of memory";
		free(*(char **)field);
		*(char **)field = copy;
		return NULL;
	}
	case T_LIST:
		/* Handled by the caller (first use replaces, later uses append). */
		return "internal: list option";
	case T_DOUBLE: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (errno || *end || value[0] == '\0' || !(d >= 0.0 && d <= 1e6))
			return "expected a number from 0 to 1000000";
		*(double *)field = d;
		return NULL;
	}
	case T_BOOL:
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on") ||
		    !strcmp(value, "1"))
			v = 1;
		else if (!strcmp(value, "no") || !strcmp(value, "false") ||
			 !strcmp(value, "off") || !strcmp(value, "0"))
			v = 0;
		else
			return "expected yes or no";
		store_uint(field, o->width, v);
		return NULL;
	case T_LOGLEVEL:
		rc = rv_log_level_parse(value);
		if (rc < 0)
			return "expected crit, error, warning, notice, info or debug";
		*(int *)field = rc;
		return NULL;
	case T_MODE: {
		char *end;
		errno = 0;
		unsigned long m = strtoul(value, &end, 8);
		if (errno || *end || value[0] == '\0' || m > o->max)
			return "expected an octal mode such as 0660";
		store_uint(field, o->width, m);
		return NULL;
	}
	case T_UINT:
		rc = parse_scaled(value, plain_mult, &v);
		if (rc < 0)
			return "expected a whole number";
		break;
	case T_SIZE:
		rc = parse_scaled(value, size_mult, &v);
		if (rc < 0)
			return "expected a size such as 65535, 128k or 1m";
		break;
	case T_MS:
		rc = parse_scaled(value, duration_mult, &v);
		if (rc < 0)
			return "expected a duration such as 500ms, 5s, 10m, 1h or 7d";
		break;
	}
	if (v < o->min || v > o->max)
		return "out of range";
	store_uint(field, o->width, v);
	return NULL;
}

/* The first use of a list option in a file replaces the default; later uses append,
 * so long lists can be split over several lines. */
static const char *append_list(rv_config *cfg, const struct opt *o, const char *value, bool first)
{
	char **field = (char **)((char *)cfg + o->offset);
	const char *old = (!first && *field) ? *field : "";
	size_t n = strlen(old) + strlen(value) + 2;
	char *joined = malloc(n);
	if (!joined)
		return "out of memory";
	snprintf(joined, n, "%s%s%s", old, old[0] && value[0] ? " " : "", value);
	free(*field);
	*field = joined;
	return NULL;
}

static const struct opt *find_opt(const char *name)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* Splits one line into key and value, handling a quoted value and trailing
 * comments. Modifies line in place. Returns 0 (key NULL for a blank line) or a
 * static error message through *err. */
static int split_line(char *line, char **key, char **value, const char **err)
{
	char *p = line;
	*key = *value = NULL;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	if (*p)
		*p++ = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '"') {
		char *start = ++p, *dst = start;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*dst++ = *p;
		}
		if (*p != '"') {
			*err = "unterminated quoted value";
			return -EINVAL;
		}
		p++;
		*dst = '\0';
		*value = start;
	} else {
		*value = p;
		while (*p && !isspace((unsigned char)*p) && *p != '#')
			p++;
		if (*p)
			*p++ = '\0';
		if (**value == '\0') {
			*err = "missing value";
			return -EINVAL;
		}
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p && *p != '#') {
		*err = "unexpected text after the value (quote values that contain spaces)";
		return -EINVAL;
	}
	return 0;
}

int rv_config_defaults(rv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s %s", options[i].name, options[i].def);
		char *key, *value;
		const char *err = NULL;
		/* Defaults go through the same parser as the file, so the documented
		 * default text is exactly what is in force. */
		if (split_line(buf, &key, &value, &err) < 0 || !key)
			goto fail;
		const char *e2 = options[i].type == T_LIST
			? append_list(cfg, &options[i], value, true) : apply(cfg, &options[i], value);
		if (e2 != NULL)
			goto fail;
		continue;
	fail:
		rv_config_clear(cfg);
		return -ENOMEM;
	}
	return 0;
}

int rv_config_parse(rv_config *cfg, const char *name, const char *text, size_t len,
		rv_config_err_fn err_fn, void *err_arg)
{
	int rc = 0;
	unsigned lineno = 0;
	size_t pos = 0;
	char *line = NULL;
	bool list_seen[RV_ARRAY_LEN(options)] = {false};

	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		size_t n = end - pos;
		free(line);
		line = malloc(n + 1);
		if (!line) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos = end + 1;
		if (memchr(line, '\0', n)) {
			report(err_fn, err_arg, name, lineno, "NUL byte in line");
			rc = -EINVAL;
			continue;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';

		char *key, *value;
		const char *err = NULL;
		if (split_line(line, &key, &value, &err) < 0) {
			report(err_fn, err_arg, name, lineno, "%s", err);
			rc = -EINVAL;
			continue;
		}
		if (!key)
			continue;
		const struct opt *o = find_opt(key);
		if (!o) {
			report(err_fn, err_arg, name, lineno, "unknown option '%s'", key);
			rc = -EINVAL;
			continue;
		}
		if (o->type == T_LIST) {
			err = append_list(cfg, o, value, !list_seen[o - options]);
			list_seen[o - options] = true;
		} else {
			err = apply(cfg, o, value);
		}
		if (err) {
			report(err_fn, err_arg, name, lineno, "%s '%s': %s", o->name, value, err);
			rc = -EINVAL;
			continue;
		}
		cfg->set_line[o - options] = lineno;
		if (!check_names(o, value, err_fn, err_arg, name, lineno))
			rc = -EINVAL;
	}
out:
	free(line);
	return rc;
}

int rv_config_load(rv_config *cfg, const char *path, rv_config_err_fn err_fn, void *err_arg)
{
	int rc = -EIO;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		report(err_fn, err_arg, path, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* A config file is small; refuse anything absurd rather than eat memory. */
			if (cap >= (1u << 20)) {
				report(err_fn, err_arg, path, 0, "file larger than 1 MiB");
				rc = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			report(err_fn, err_arg, path, 0, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	rc = rv_config_parse(cfg, path, buf, len, err_fn, err_arg);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Index of option name in the table (for set_line); the table is static. */
static size_t opt_index(const char *optname)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++)
		if (strcmp(options[i].name, optname) == 0)
			return i;
	return 0;
}

int rv_config_validate(const rv_config *cfg, const char *name, rv_config_err_fn err_fn,
		void *err_arg)
{
	int rc = 0;
	if (cfg->retry_min_ms > cfg->retry_max_ms) {
		report(err_fn, err_arg, name, 0, "retry-min (%u ms) is larger than retry-max (%u ms)",
				cfg->retry_min_ms, cfg->retry_max_ms);
		rc = -EINVAL;
	}
	if (cfg->dnstap_socket[0] != '/') {
		report(err_fn, err_arg, name, 0, "dnstap-socket must be an absolute path");
		rc = -EINVAL;
	}
	if (strlen(cfg->dnstap_socket) >= 108) {
		/* sizeof(sockaddr_un.sun_path) on Linux */
		report(err_fn, err_arg, name, 0, "dnstap-socket path longer than 107 bytes");
		rc = -EINVAL;
	}
	if (cfg->dnstap_listen[0] != '\0') {
		char why[256];
		bool tls = false;
		unsigned line = cfg->set_line[opt_index("dnstap-listen")];

		if (rv_fs_listen_check(cfg->dnstap_listen, &tls, why, sizeof(why)) < 0) {
			report(err_fn, err_arg, name, line, "dnstap-listen: %s", why);
			rc = -EINVAL;
		} else if (tls && (cfg->dnstap_tls_cert[0] == '\0' || cfg->dnstap_tls_key[0] == '\0')) {
			report(err_fn, err_arg, name, line,
					"dnstap-listen has a tls: listener: set dnstap-tls-cert and dnstap-tls-key");
			rc = -EINVAL;
		}
	}
	{
		char why[256];
		int gerr = 0;
		rv_guard *g = rv_guard_new(cfg->dnstap_allow, NULL, NULL, &gerr, why, sizeof(why));

		if (g == NULL) {
			report(err_fn, err_arg, name, cfg->set_line[opt_index("dnstap-allow")],
					"dnstap-allow '%s': expected ADDRESS or ADDRESS/BITS items",
					cfg->dnstap_allow);
			rc = -EINVAL;
		}
		rv_guard_free(&g);
	}
	char hz[RV_NAME_MAX], mz[RV_NAME_MAX];
	const char *why_unused;
	if (cfg->rpz_hot_zone[0] != '\0' &&
	    rv_dname_canon(cfg->rpz_hot_zone, hz, sizeof(hz), &why_unused) >= 0 &&
	    rv_dname_canon(cfg->rpz_zone, mz, sizeof(mz), &why_unused) >= 0 && strcmp(hz, mz) == 0) {
		report(err_fn, err_arg, name, cfg->set_line[opt_index("rpz-hot-zone")],
				"rpz-hot-zone must differ from rpz-zone (%s)", cfg->rpz_zone);
		rc = -EINVAL;
	}
	rv_addr a;
	uint16_t port_unused;
	if (rv_addr_parse(cfg->server, &a) < 0) {
		report(err_fn, err_arg, name, 0, "server '%s' is not an IPv4 or IPv6 address",
				cfg->server);
		rc = -EINVAL;
	}
	/* rv_config_parse checked each line as it came; these are the final
	 * values, whatever set them. */
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++) {
		const struct opt *o = &options[i];
		if (o->names == N_NONE)
			continue; /* only string options hold names (and a char *) */
		const char *v = *(char *const *)((const char *)cfg + o->offset);
		if (!check_names(o, v != NULL ? v : "", err_fn, err_arg, name, cfg->set_line[i]))
			rc = -EINVAL;
	}
	if (cfg->http_listen[0] != '\0') {
		uint16_t port;
		if (rv_hostport_parse(cfg->http_listen, &a, &port) < 0) {
			report(err_fn, err_arg, name, cfg->set_line[opt_index("http-listen")],
					"http-listen '%s' is not ADDR:PORT ([ADDR]:PORT for IPv6)",
					cfg->http_listen);
			rc = -EINVAL;
		} else if (!rv_addr_is_loopback(&a) && cfg->http_api_key_file[0] == '\0') {
			report(err_fn, err_arg, name, cfg->set_line[opt_index("http-listen")],
					"http-listen '%s' is not a loopback address: set http-api-key-file "
					"(anyone who can reach it could read the history)", cfg->http_listen);
			rc = -EINVAL;
		}
	}
	if (cfg->statistics_channel[0] != '\0' &&
	    rv_hostport_parse(cfg->statistics_channel, &a, &port_unused) < 0) {
		report(err_fn, err_arg, name, cfg->set_line[opt_index("statistics-channel")],
				"statistics-channel '%s' is not ADDR:PORT ([ADDR]:PORT for IPv6)",
				cfg->statistics_channel);
		rc = -EINVAL;
	}
	if (!cfg->dry_run && cfg->key_file[0] == '\0') {
		report(err_fn, err_arg, name, 0, "key-file is required (UPDATEs are always signed)");
		rc = -EINVAL;
	}
	return rc;
}

void rv_config_clear(rv_config *cfg)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++) {
		if (options[i].type == T_STR || options[i].type == T_LIST) {
			char **f = (char **)((char *)cfg + options[i].offset);
			free(*f);
			*f = NULL;
		}
	}
}

static void format_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms == 0)
		snprintf(buf, len, "0");
	else if (ms % 86400000 == 0)
		snprintf(buf, len, "%" PRIu64 "d", ms / 86400000);
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

/* Writes option o's value of cfg in config-file syntax (quoted when a string
 * needs it), truncated to len. */
static void format_value(const rv_config *cfg, const struct opt *o, char *val, size_t len)
{
	const void *field = (const char *)cfg + o->offset;
	switch (o->type) {
	case T_STR:
	case T_LIST: {
		const char *s = *(char *const *)field;
		bool quote = !s || !*s || strchr(s, ' ');
		snprintf(val, len, "%s%s%s", quote ? "\"" : "", s ? s : "", quote ? "\"" : "");
		break;
	}
	case T_DOUBLE:
		snprintf(val, len, "%g", *(const double *)field);
		break;
	case T_BOOL:
		snprintf(val, len, "%s", load_uint(field, o->width) ? "yes" : "no");
		break;
	case T_LOGLEVEL:
		snprintf(val, len, "%s", rv_log_level_name(*(const int *)field));
		break;
	case T_MODE:
		snprintf(val, len, "0%03" PRIo64, load_uint(field, o->width));
		break;
	case T_MS:
		format_ms(load_uint(field, o->width), val, len);
		break;
	case T_UINT:
	case T_SIZE:
		snprintf(val, len, "%" PRIu64, load_uint(field, o->width));
		break;
	}
}

void rv_config_dump(const rv_config *cfg, FILE *out)
{
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++) {
		const struct opt *o = &options[i];
		if (o->type == T_STR || o->type == T_LIST) {
			/* Printed directly: a list can be longer than any fixed buffer. */
			const char *s = *(char *const *)((const char *)cfg + o->offset);
			bool quote = !s || !*s || strchr(s, ' ');
			fprintf(out, "# %s (default %s)\n%s %s%s%s\n", o->help, o->def, o->name,
				quote ? "\"" : "", s ? s : "", quote ? "\"" : "");
			continue;
		}
		char val[300];
		format_value(cfg, o, val, sizeof(val));
		fprintf(out, "# %s (default %s)\n%s %s\n", o->help, o->def, o->name, val);
	}
}

/* ---- reload support (reload.h) ---- */

size_t rv_config_nopts(void)
{
	return RV_ARRAY_LEN(options);
}

const char *rv_config_opt_name(size_t i)
{
	return i < RV_ARRAY_LEN(options) ? options[i].name : NULL;
}

rv_config_reload rv_config_opt_reload(size_t i)
{
	if (i >= RV_ARRAY_LEN(options))
		return RV_RELOAD_UNSET;
	switch (options[i].reload) {
	case R_LIVE: return RV_RELOAD_LIVE;
	case R_RESTART: return RV_RELOAD_RESTART;
	case R_UNSET: break;
	}
	return RV_RELOAD_UNSET;
}

static bool same_value(const rv_config *a, const rv_config *b, const struct opt *o)
{
	const void *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;
	switch (o->type) {
	case T_STR:
	case T_LIST: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	}
	case T_DOUBLE:
		return *(const double *)fa == *(const double *)fb;
	case T_LOGLEVEL:
		return *(const int *)fa == *(const int *)fb;
	default:
		return load_uint(fa, o->width) == load_uint(fb, o->width);
	}
}

size_t rv_config_diff(const rv_config *old, const rv_config *new_cfg, size_t *changed,
		size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < RV_ARRAY_LEN(options); i++) {
		if (same_value(old, new_cfg, &options[i]))
			continue;
		if (n < max)
			changed[n] = i;
		n++;
	}
	return n;
}

void rv_config_take(rv_config *dst, rv_config *src, size_t i)
{
	if (i >= RV_ARRAY_LEN(options))
		return;
	const struct opt *o = &options[i];
	void *fd = (char *)dst + o->offset, *fs = (char *)src + o->offset;
	switch (o->type) {
	case T_STR:
	case T_LIST: {
		char *tmp = *(char **)fd;
		*(char **)fd = *(char **)fs;
		*(char **)fs = tmp;
		break;
	}
	case T_DOUBLE:
		*(double *)fd = *(const double *)fs;
		break;
	case T_LOGLEVEL:
		*(int *)fd = *(const int *)fs;
		break;
	default:
		store_uint(fd, o->width, load_uint(fs, o->width));
		break;
	}
	dst->set_line[i] = src->set_line[i];
}

void rv_config_format(const rv_config *cfg, size_t i, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (i < RV_ARRAY_LEN(options))
		format_value(cfg, &options[i], buf, len);
}
