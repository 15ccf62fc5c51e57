/*
 * reload.h - SIGHUP: re-read the configuration and the key files, apply to the
 * running agent what can change live, keep the rest.
 *
 * Which options are live and which need a restart is said once, in config.c's
 * option table (rv_config_opt_reload). A reload:
 *  - parses and validates the file into a fresh rv_config; any error (each
 *    logged as file:line) keeps the running configuration whole;
 *  - re-reads the TSIG key file (a rotation may keep its path): a key that
 *    cannot be read, is unsafe (keyfile.h) or cannot sign keeps the running
 *    key, and key-file/key-name keep their running values;
 *  - re-reads http-api-key-file likewise;
 *  - logs each changed option: applied ("OLD -> NEW"), or "restart needed
 *    (keeping OLD)", which keeps the running value;
 *  - hands live values to their modules through their setters. The table,
 *    the publisher's queue, the writer's changes in flight and the dnstap
 *    connections are never re-created, so no sighting or queued change is
 *    lost.
 */
#ifndef RV_RELOAD_H
#define RV_RELOAD_H

#include "common.h"
#include "config.h"
#include "guard.h"
#include "http.h"
#include "ingest.h"
#include "persist.h"
#include "rpz.h"
#include "rpz_hot.h"
#include "table.h"
#include "tsig_key.h"
#include "zonesync.h"

struct event;

/* The running agent's parts a reload changes; all borrowed. NULL members are
 * modules that are not running (dry run, no snapshot-file, no HTTP). */
typedef struct rv_reload_targets {
	const char *path;              /* the configuration file */
	const char *log_level_override; /* --log-level: wins over the file, or NULL */
	bool dry_run_override;         /* --dry-run */
	rv_config *cfg;                /* the running configuration: updated in place */
	rv_tsig_key *key;              /* the running key (dry run: unused) */
	rv_guard **guard;              /* replaced (and the old one freed) on a change */
	rv_table *table;
	rv_ingest *ingest;
	rv_rpz_writer *writer;
	rv_hot *hot;                   /* the hot zone's mover and its writer, or NULL */
	rv_zonesync *zonesync;
	rv_persist *persist;
	rv_http *http;
	struct event *stats_timer;     /* persistent timer, armed when stats-interval > 0 */
} rv_reload_targets;

/* What one reload did (for the summary line and the tests). */
typedef struct rv_reload_result {
	unsigned applied;      /* live options changed */
	unsigned restart;      /* changed options kept until a restart */
	bool key_rotated;      /* a different TSIG key signs from now on */
	bool key_kept;         /* the key file could not be used: old key kept */
} rv_reload_result;

/* Runs one reload (from the loop: never in a signal handler). Logs every step.
 * Returns 0 (res filled; possibly with kept values), -EINVAL when the
 * configuration has errors (nothing changed), -ENOMEM; every outcome is
 * logged, so a caller that only wants it done may ignore it. res may be NULL. */
int rv_reload(const rv_reload_targets *t, rv_reload_result *res);

#endif
