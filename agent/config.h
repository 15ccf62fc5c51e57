/*
 * config.h - the agent's configuration: a plain struct with documented units and
 * defaults, filled from a "key value" file (see doc/rearview.conf.example).
 * Errors are reported as "file:line: message".
 */
#ifndef RV_CONFIG_H
#define RV_CONFIG_H

#include <stdio.h>
#include <sys/types.h>

#include "common.h"

/* Room for every option of config.c's table (checked there at build time). */
#define RV_CONFIG_OPTS_MAX 80

typedef struct rv_config {
	/* dnstap input */
	char *dnstap_socket;          /* unix socket path named connects to (when dnstap_listen is "") */
	char *dnstap_listen;          /* "unix:PATH tcp:ADDR:PORT tls:ADDR:PORT" list; "" = unix:dnstap_socket */
	char *dnstap_allow;           /* CIDRs tcp:/tls: writers may come from */
	char *dnstap_tls_cert;        /* PEM files of tls: listeners */
	char *dnstap_tls_key;
	char *dnstap_tls_client_ca;   /* "" = no client certificates asked */
	unsigned socket_mode;         /* permission bits of the socket */
	char *socket_group;           /* group owning the socket ("" = the agent's) */
	size_t max_frame_bytes;       /* larger data frames drop the connection */
	unsigned max_connections;     /* concurrent Frame Streams connections (slots) */
	unsigned stall_timeout_ms;    /* a frame must arrive whole this long after its first byte */
	unsigned handshake_timeout_ms; /* accept -> START deadline of a connection */
	char *writer_user;            /* named's user: its connections keep their slot ("" = root only) */
	unsigned max_chain_depth;     /* CNAME links followed */
	/* table */
	size_t max_addresses;
	unsigned max_candidates;
	size_t max_name_bytes;        /* candidate name bytes per address */
	unsigned max_clock_skew_ms;   /* dnstap time vs the agent's clock */
	unsigned max_idle_ms;         /* addresses not seen this long are removed */
	unsigned score_half_life_ms;
	double score_depth_weight;
	unsigned txt_refresh_ms;
	double txt_refresh_growth;
	char *geoip_database;         /* "" = no country codes */
	/* guards: space-separated lists */
	char *ignore_cidrs;
	char *ignore_suffixes;
	char *ignore_response_addresses;
	/* persistence */
	char *snapshot_file;          /* "" = no snapshots */
	unsigned snapshot_interval_ms;
	unsigned reconcile_interval_ms; /* 0 = only at start */
	bool write_before_reconcile;  /* do not hold the writer until the zone was read */
	/* RPZ output */
	char *rpz_zone;
	char *rpz_hot_zone;           /* "" = none (rpz_hot.h) */
	unsigned rpz_hot_move_interval_ms;
	unsigned rpz_hot_max;         /* addresses in the hot zone that start a move at once */
	char *server;                 /* BIND address for UPDATEs */
	uint16_t server_port;
	char *key_file;               /* BIND-format TSIG key file */
	char *key_name;               /* "" = the only key in key_file */
	uint32_t record_ttl;          /* TTL of PTR/TXT records, seconds */
	unsigned flush_interval_ms;
	size_t batch_bytes;
	unsigned update_timeout_ms;
	unsigned retry_min_ms;
	unsigned retry_max_ms;
	unsigned max_update_rate;     /* addresses/s sent to BIND at most; 0 = no cap */
	bool dry_run;                 /* learn but never write to BIND (benchmarks, trials) */
	/* HTTP: history queries, metrics, health */
	char *http_listen;            /* "ADDR:PORT"; "" = off */
	char *http_api_key_file;      /* "" = no key (loopback only) */
	unsigned http_max_connections;
	unsigned http_timeout_ms;
	unsigned http_query_timeout_ms;
	unsigned http_max_limit;
	/* passive-DNS history */
	char *history_database;       /* "" = off */
	unsigned history_flush_interval_ms;
	uint64_t history_retention_ms; /* 0 = forever */
	uint64_t history_max_bytes;   /* 0 = no cap */
	unsigned history_max_pending;
	char *cof_log;                /* "" = off, "-" = stdout */
	bool cof_log_every;
	/* process */
	char *user;                   /* switch to this user after binding the socket ("" = stay) */
	int log_level;
	unsigned stats_interval_ms;   /* 0 = no periodic statistics line */
	char *statistics_channel;     /* named's statistics-channels "ADDR:PORT" (bindstats.h); "" = off */
	unsigned statistics_interval_ms;
	unsigned shutdown_timeout_ms; /* how long SIGTERM waits for pending UPDATEs */
	/* The file line that last set each option (config.c's table order; 0: not
	 * set by the file), so rv_config_validate can say "file:line". */
	unsigned set_line[RV_CONFIG_OPTS_MAX];
} rv_config;

/* Error sink: receives "file:line: message" lines. */
typedef void (*rv_config_err_fn)(void *arg, const char *msg);

/* Fills cfg with the documented defaults (allocates strings). -ENOMEM. */
int rv_config_defaults(rv_config *cfg) RV_MUST_CHECK;
/* Applies text (as read from file `name`, used in error messages) over cfg.
 * Reports every error through err_fn and returns -EINVAL if there was any. */
int rv_config_parse(rv_config *cfg, const char *name, const char *text, size_t len,
		rv_config_err_fn err_fn, void *err_arg) RV_MUST_CHECK;
/* Reads path and parses it; -errno if unreadable (reported through err_fn too). */
int rv_config_load(rv_config *cfg, const char *path, rv_config_err_fn err_fn, void *err_arg) RV_MUST_CHECK;
/* Cross-field checks (retry_min <= retry_max, batch_bytes <= 65535, ...) and
 * the final value of every name-valued option (rpz-zone, key-name,
 * ignore-suffix), which rv_config_parse also checks as it reads each line. */
int rv_config_validate(const rv_config *cfg, const char *name, rv_config_err_fn err_fn,
		void *err_arg) RV_MUST_CHECK;
void rv_config_clear(rv_config *cfg);
/* Writes every option with its current value, in config-file syntax. */
void rv_config_dump(const rv_config *cfg, FILE *out);

/* ---- live reload (SIGHUP; reload.h applies what this reports) ----
 * Each option of the table says whether a reload can apply a new value to the
 * running agent (LIVE) or the value in force stays until a restart (RESTART).
 * The table in config.c is the only place that says it. */
typedef enum rv_config_reload {
	RV_RELOAD_UNSET = 0,  /* a row without a class: a bug (the unit test catches it) */
	RV_RELOAD_LIVE,
	RV_RELOAD_RESTART,
} rv_config_reload;

/* Options are indexed in table order, 0 .. rv_config_nopts() - 1. */
size_t rv_config_nopts(void);
const char *rv_config_opt_name(size_t i);   /* NULL past the end */
rv_config_reload rv_config_opt_reload(size_t i);
/* Indices of the options whose values differ between old and new_cfg, in
 * table order, into changed[0..max); returns how many differ (may be > max).
 * Pure. */
size_t rv_config_diff(const rv_config *old, const rv_config *new_cfg, size_t *changed,
		size_t max);
/* Moves option i's value from src into dst (strings are swapped, so src keeps
 * dst's old string and both stay valid for rv_config_clear), with its line. */
void rv_config_take(rv_config *dst, rv_config *src, size_t i);
/* Option i's value in config-file syntax (quoted when needed), truncated to len. */
void rv_config_format(const rv_config *cfg, size_t i, char *buf, size_t len);

#endif
