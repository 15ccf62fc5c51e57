/* reload.c - SIGHUP: configuration and key files re-read (see reload.h). */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "keyfile.h"
#include "log.h"
#include "reload.h"

#define SUB "reload"

static void config_err(void *arg, const char *msg)
{
	unsigned *n = arg;
	(*n)++;
	rv_err(SUB, "%s", msg);
}

static bool is_changed(const size_t *changed, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rv_config_opt_name(changed[i]), name) == 0)
			return true;
	return false;
}

static bool same_key(const rv_tsig_key *a, const rv_tsig_key *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->algorithm, b->algorithm) == 0 &&
		strcmp(a->secret, b->secret) == 0;
}

/*
 * Reads the key the new configuration names. 1: *key is a new key the writer
 * accepted; 0: the same key as before; -1: unusable (logged; the caller keeps
 * the running key and key-file/key-name).
 */
static int read_key(const rv_reload_targets *t, const rv_config *next, rv_tsig_key *key)
{
	char err[512];
	if (rv_tsig_key_load(next->key_file, next->key_name, key, err, sizeof(err)) < 0) {
		rv_err(SUB, "%s; keeping the running key %s", err, t->key->name);
		return -1;
	}
	if (same_key(key, t->key))
		return 0;
	/* The writer checks that it can sign with it before anything changes. */
	if (t->writer && rv_rpz_writer_set_key(t->writer, key) < 0) {
		rv_err(SUB, "%s: key %s (%s) cannot sign UPDATEs; keeping the running key %s",
			next->key_file, key->name, key->algorithm, t->key->name);
		return -1;
	}
	/* Same key, so it signs there too. */
	if (t->hot && rv_rpz_writer_set_key(rv_hot_main_writer(t->hot), key) < 0)
		rv_err(SUB, "%s: key %s: the hot zone's mover kept the running key",
			next->key_file, key->name);
	return 1;
}

/* http-api-key-file re-read (same path or a new one). false: keep the running key. */
static bool reload_api_key(const rv_reload_targets *t, const rv_config *next)
{
	char err[512];
	char *key = NULL;
	int rc;

	if (!t->http)
		return true;
	if (next->http_api_key_file[0] &&
	    rv_api_key_load(next->http_api_key_file, &key, err, sizeof(err)) < 0) {
		rv_err(SUB, "http-api-key-file %s; keeping the running API key", err);
		return false;
	}
	rc = rv_http_set_api_key(t->http, key);
	if (key)
		rv_keyfile_clear(&key, strlen(key));
	if (rc < 0) {
		rv_err(SUB, "http-api-key-file: %s; keeping the running API key", strerror(-rc));
		return false;
	}
	return true;
}

static void arm_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(ev, &tv);
}

/* Hands the running configuration's live values to the modules. Every setter
 * takes what it already has without effect, so all are called. */
static void apply_live(const rv_reload_targets *t, const size_t *changed, size_t n)
{
	const rv_config *c = t->cfg;

	rv_log_level = c->log_level;
	rv_table_opts topts = {
		.half_life_s = c->score_half_life_ms / 1000,
		.depth_weight = c->score_depth_weight,
		.txt_refresh_s = c->txt_refresh_ms / 1000,
		.txt_refresh_ratio = c->txt_refresh_growth,
		.name_budget = c->max_name_bytes,
	};
	rv_table_set_scoring(t->table, &topts);
	rv_ingest_set_limits(t->ingest, c->max_chain_depth, c->max_clock_skew_ms / 1000);
	if (t->writer) {
		rv_rpz_writer_opts wopts = {
			.ttl = c->record_ttl,
			.flush_interval_ms = c->flush_interval_ms,
			.batch_bytes = c->batch_bytes,
			.timeout_ms = c->update_timeout_ms,
			.retry_min_ms = c->retry_min_ms,
			.retry_max_ms = c->retry_max_ms,
			.max_rate = c->max_update_rate,
		};
		rv_rpz_writer_set_opts(t->writer, &wopts);
		/* Pacing changed: let the writer re-plan with the new values. */
		rv_rpz_writer_kick(t->writer);
		if (t->hot) {
			rv_rpz_writer *mw = rv_hot_main_writer(t->hot);
			rv_rpz_writer_set_opts(mw, &wopts);
			rv_rpz_writer_kick(mw);
			rv_hot_opts hopts = {
				.move_interval_ms = c->rpz_hot_move_interval_ms,
				.max_addresses = c->rpz_hot_max,
			};
			rv_hot_set_opts(t->hot, &hopts);
		}
	}
	if (t->zonesync)
		rv_zonesync_set_timing(t->zonesync, c->update_timeout_ms * 2, c->reconcile_interval_ms);
	if (t->persist && rv_persist_set_interval(t->persist, c->snapshot_interval_ms) < 0)
		rv_err(SUB, "snapshot-interval: out of memory; background snapshots stopped "
			"(the exit snapshot still runs)");
	if (t->stats_timer && is_changed(changed, n, "stats-interval")) {
		event_del(t->stats_timer);
		if (c->stats_interval_ms > 0)
			arm_ms(t->stats_timer, c->stats_interval_ms);
	}
}

int rv_reload(const rv_reload_targets *t, rv_reload_result *res)
{
	rv_config next;
	rv_reload_result r = {0};
	rv_tsig_key key;
	rv_guard *guard = NULL;
	size_t changed[RV_CONFIG_OPTS_MAX];
	unsigned errors = 0;
	int rc;

	memset(&key, 0, sizeof(key));
	rc = rv_config_defaults(&next);
	if (rc < 0) {
		rv_err(SUB, "out of memory; keeping the running configuration");
		return rc;
	}
	rc = rv_config_load(&next, t->path, config_err, &errors);
	if (rc == 0) {
		if (t->log_level_override)
			next.log_level = t->cfg->log_level;
		if (t->dry_run_override)
			next.dry_run = true;
		rc = rv_config_validate(&next, t->path, config_err, &errors);
	}
	size_t n = rc < 0 ? 0 : rv_config_diff(t->cfg, &next, changed, RV_ARRAY_LEN(changed));
	if (n > RV_ARRAY_LEN(changed))
		n = RV_ARRAY_LEN(changed); /* cannot happen: the table fits (config.c) */
	/* A new guard is built before anything changes: an item guard.c refuses
	 * is a configuration error like any other. */
	if (rc == 0 && (is_changed(changed, n, "ignore-cidr") ||
			is_changed(changed, n, "ignore-suffix") ||
			is_changed(changed, n, "ignore-response-address"))) {
		char why[512];
		int gerr = 0;
		guard = rv_guard_new(next.ignore_cidrs, next.ignore_suffixes,
				next.ignore_response_addresses, &gerr, why, sizeof(why));
		if (!guard) {
			rv_err(SUB, "%s: %s", t->path, why);
			errors++;
			rc = gerr ? gerr : -EINVAL;
		}
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			rv_err(SUB, "out of memory; keeping the running configuration");
		else
			rv_err(SUB, "%s: %u error%s (above); keeping the running configuration and key",
				t->path, errors, errors == 1 ? "" : "s");
		goto out;
	}

	/* The key file may have new contents under the same name: always read. */
	bool keep_key = false;
	if (!t->cfg->dry_run) {
		int k = read_key(t, &next, &key);
		keep_key = k < 0;
		r.key_kept = k < 0;
		r.key_rotated = k > 0;
	}
	bool keep_api_key = !reload_api_key(t, &next);

	for (size_t i = 0; i < n; i++) {
		size_t o = changed[i];
		const char *name = rv_config_opt_name(o);
		char was[200], now[200];
		rv_config_format(t->cfg, o, was, sizeof(was));
		rv_config_format(&next, o, now, sizeof(now));
		if (rv_config_opt_reload(o) != RV_RELOAD_LIVE) {
			rv_warn(SUB, "%s changed to %s: restart needed (keeping %s)", name, now, was);
			r.restart++;
			continue;
		}
		if ((keep_key && (strcmp(name, "key-file") == 0 || strcmp(name, "key-name") == 0)) ||
		    (keep_api_key && strcmp(name, "http-api-key-file") == 0)) {
			rv_warn(SUB, "%s changed to %s: not usable (above), keeping %s", name, now, was);
			continue;
		}
		rv_notice(SUB, "%s: %s -> %s", name, was, now);
		rv_config_take(t->cfg, &next, o);
		r.applied++;
	}
	if (guard) {
		/* Frames are handled on this loop: none is using the old guard now. */
		rv_ingest_set_guard(t->ingest, guard);
		rv_guard_free(t->guard);
		*t->guard = guard;
		guard = NULL;
	}
	if (r.key_rotated) {
		/* The writer has it already (read_key); the next AXFR too. */
		if (t->zonesync)
			rv_zonesync_set_key(t->zonesync, &key);
		rv_notice(SUB, "TSIG key %s (%s) signs from now on (was %s); an UPDATE in flight "
			"completes with the old one", key.name, key.algorithm, t->key->name);
		*t->key = key;
	}
	apply_live(t, changed, n);
	rv_notice(SUB, "%s: %u option%s applied, %u need%s a restart, key %s", t->path,
		r.applied, r.applied == 1 ? "" : "s", r.restart, r.restart == 1 ? "s" : "",
		t->cfg->dry_run ? "not used (dry run)" : r.key_kept ? "kept (key file unusable)"
		: r.key_rotated ? "rotated" : "unchanged");
out:
	rv_guard_free(&guard);
	explicit_bzero(&key, sizeof(key));
	rv_config_clear(&next);
	if (res)
		*res = r;
	return rc < 0 ? rc : 0;
}
