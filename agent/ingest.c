/* ingest.c - the ingest policy (see ingest.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dnstap.h"
#include "ingest.h"
#include "log.h"
#include "stats.h"

#define SOURCE_MAX 32

struct rv_ingest {
	rv_ingest_opts opts;
	const rv_guard *guard;
	rv_sink sinks[RV_INGEST_MAX_SINKS];
	size_t nsinks;
	/* ~3 KiB each: kept here, not on the stack per frame. A ring: a batch
	 * decodes into obs[k % RING] while obs[(k - AHEAD) % RING] is observed. */
#define RING (RV_INGEST_AHEAD + 1)
	rv_observation obs[RING];
	/* Learnable observations per source (README "Fleets"): the first
	 * SOURCE_MAX sources get their own label, later ones share "other". */
	struct {
		char label[64];
		uint64_t count;
	} sources[SOURCE_MAX + 1];
	size_t nsources;
};

static int64_t wall_clock(void)
{
	return (int64_t)time(NULL);
}

static bool read_source(const void *arg, size_t i, const char **label, uint64_t *value)
{
	const rv_ingest *in = arg;

	if (i >= in->nsources)
		return false;
	*label = in->sources[i].label;
	*value = in->sources[i].count;
	return true;
}

rv_ingest *rv_ingest_new(const rv_ingest_opts *opts, const rv_guard *guard)
{
	rv_ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->opts = *opts;
	if (in->opts.max_skew_s <= 0)
		in->opts.max_skew_s = 600;
	if (!in->opts.clock)
		in->opts.clock = wall_clock;
	in->guard = guard;
	if (rv_stats_register_family(RV_COUNTER, "rearview_observations_by_source_total",
			"learnable observations by source: the dnstap identity, else the TCP peer's "
			"address, else local (the first 32 sources; later ones count as other)",
			"source", read_source, in) < 0) {
		free(in);
		return NULL;
	}
	return in;
}

void rv_ingest_free(rv_ingest **inp)
{
	if (!inp || !*inp)
		return;
	rv_stats_unregister(*inp);
	free(*inp);
	*inp = NULL;
	/* What the last observation borrowed (a large frame's buffer). */
	rv_dnstap_release();
}

void rv_ingest_set_guard(rv_ingest *in, const rv_guard *guard)
{
	in->guard = guard;
}

void rv_ingest_set_limits(rv_ingest *in, unsigned max_chain_depth, int64_t max_skew_s)
{
	in->opts.max_chain_depth = max_chain_depth;
	in->opts.max_skew_s = max_skew_s > 0 ? max_skew_s : 600;
}

int rv_ingest_add_sink(rv_ingest *in, const rv_sink *s)
{
	if (in->nsinks == RV_INGEST_MAX_SINKS)
		return -ENOSPC;
	in->sinks[in->nsinks++] = *s;
	return 0;
}

/* True if a configured guard says not to learn from this answer at all. */
static bool guarded(const rv_ingest *in, const rv_observation *obs)
{
	if (!in->guard)
		return false;
	if (obs->has_response_addr &&
	    rv_guard_ignore_response(in->guard, &obs->response_addr, obs->response_port))
		return true;
	return rv_guard_ignore_name(in->guard, obs->answer.qname);
}

/*
 * The observation's source: the dnstap identity when the writer sends one,
 * else the TCP/TLS peer's address (a unix peer is this host, which the sinks
 * already name by their fallback). The first identity of a connection is
 * logged once, so an operator can map connections to resolvers.
 */
/* Index of label among the sources, adding it while there is room; else
 * the shared "other" slot. Label characters outside [A-Za-z0-9._:-] become
 * '_' (they end up in the Prometheus text). */
static size_t source_index(rv_ingest *in, const uint8_t *label, size_t len)
{
	char clean[sizeof(in->sources[0].label)];
	size_t n = 0, i;

	for (i = 0; i < len && n < sizeof(clean) - 1; i++) {
		uint8_t c = label[i];

		clean[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
			     c == '-' ? (char)c : '_';
	}
	clean[n] = '\0';
	for (i = 0; i < in->nsources; i++)
		if (strcmp(in->sources[i].label, clean) == 0)
			return i;
	if (in->nsources < SOURCE_MAX) {
		memcpy(in->sources[in->nsources].label, clean, n + 1);
		return in->nsources++;
	}
	if (in->nsources == SOURCE_MAX)
		snprintf(in->sources[in->nsources++].label, sizeof(in->sources[0].label), "other");
	return SOURCE_MAX;
}

/* Counts the observation under its source; a connection's source is looked
 * up once (its first learnable frame) and cached in the peer. */
RV_ALWAYS_INLINE void count_source(rv_ingest *in, rv_fs_peer *peer, const rv_observation *obs)
{
	size_t i;

	if (peer != NULL && peer->source_slot > 0) {
		in->sources[peer->source_slot - 1].count++;
		return;
	}
	if (obs->identity != NULL && obs->identity_len > 0)
		i = source_index(in, obs->identity, obs->identity_len);
	else
		i = source_index(in, (const uint8_t *)"local", 5);
	in->sources[i].count++;
	if (peer != NULL)
		peer->source_slot = (unsigned)i + 1;
}

RV_ALWAYS_INLINE void note_source(rv_fs_peer *peer, rv_observation *obs)
{
	if (obs->identity != NULL && obs->identity_len > 0) {
		if (peer->identity[0] == '\0') {
			size_t n = 0;

			for (size_t i = 0; i < obs->identity_len && n < sizeof(peer->identity) - 1; i++) {
				uint8_t c = obs->identity[i];

				peer->identity[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
			}
			peer->identity[n] = '\0';
			if (rv_fs_peer_log_identity_ok(peer, RV_LOG_INFO))
				rv_info("dnstap", "%s: source identity '%s'", peer->label,
						peer->identity);
		}
		return;
	}
	if (peer->source[0] != '\0') {
		obs->identity = (const uint8_t *)peer->source;
		obs->identity_len = strlen(peer->source);
	}
}

/* Everything before the sinks: decode, verdict, guards, source, clock,
 * ignored addresses. 0 when obs is ready for the sinks; as rv_ingest_frame. */
RV_ALWAYS_INLINE int prepare(rv_ingest *in, rv_fs_peer *peer, const uint8_t *data, size_t len,
		int64_t now, rv_observation *obs)
{
	rv_verdict why = RV_BAD_PROTOBUF;
	int rc = rv_dnstap_decode(data, len, in->opts.max_chain_depth, obs, &why);

	if (rc == 0 && guarded(in, obs)) {
		rc = -ENOENT;
		why = RV_SKIP_IGNORED;
	}
	if ((unsigned)why < RV_ARRAY_LEN(rv_stats.verdicts))
		rv_stats.verdicts[why]++;
	rv_stats.msg_types[(unsigned)obs->msg_type < 15 ? obs->msg_type : 15]++;
	if (rc == -EBADMSG) {
		/* Once per connection at error level (within the server's connection
		 * log rate limit); the rest are counted. */
		if (!peer || (peer->bad_frames++ == 0 && rv_fs_peer_log_ok(peer, RV_LOG_ERR)))
			rv_err("dnstap", "%s: malformed frame (%s, %zu bytes); further ones from this "
				"peer are only counted", peer ? peer->label : "frame",
				rv_verdict_name(why), len);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (peer != NULL)
		note_source(peer, obs);
	count_source(in, peer, obs);

	if (!obs->has_time || obs->time_sec <= 0) {
		obs->time_sec = now;
	} else if (obs->time_sec > now + in->opts.max_skew_s ||
		   obs->time_sec < now - in->opts.max_skew_s) {
		rv_stats.clock_clamped++;
		obs->time_sec = now;
	}

	/* Ignored addresses leave the observation, so no sink ever sees them. */
	size_t kept = 0;
	for (size_t i = 0; i < obs->answer.naddrs; i++) {
		if (in->guard && rv_guard_ignore_addr(in->guard, &obs->answer.addrs[i])) {
			rv_stats.addresses_ignored++;
			continue;
		}
		if (kept != i) {
			obs->answer.addr_ttl[kept] = obs->answer.addr_ttl[i];
			obs->answer.addrs[kept] = obs->answer.addrs[i];
		}
		kept++;
	}
	obs->answer.naddrs = kept;
	rv_stats.addresses_seen += kept;
	return 0;
}

static inline void dispatch(rv_ingest *in, const rv_observation *obs)
{
	for (size_t i = 0; i < in->nsinks; i++)
		in->sinks[i].observe(in->sinks[i].arg, obs);
}

int rv_ingest_frame(rv_ingest *in, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	int rc = prepare(in, peer, data, len, in->opts.clock(), &in->obs[0]);

	if (rc == 0)
		dispatch(in, &in->obs[0]);
	return rc;
}

void rv_ingest_frame_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	(void)rv_ingest_frame(arg, peer, data, len);
}

void rv_ingest_batch_cb(void *arg, rv_fs_peer *peer, const rv_fs_frame *frames, size_t n)
{
	rv_ingest *in = arg;
	/* head: observations prepared; tail: observed. Only frames the sinks
	 * get take a slot, so a run of skipped frames (the query half of each
	 * exchange, most of a stream) does not shorten the lead. */
	size_t head = 0, tail = 0;
	/* One read's frames arrived together: one clock reading for all. */
	int64_t now = in->opts.clock();

	for (size_t f = 0; f < n; f++) {
		rv_observation *obs = &in->obs[head % RING];

		if (prepare(in, peer, frames[f].data, frames[f].len, now, obs) < 0)
			continue;
		for (size_t i = 0; i < in->nsinks; i++)
			if (in->sinks[i].prefetch != NULL)
				in->sinks[i].prefetch(in->sinks[i].arg, obs);
		if (++head - tail > RV_INGEST_AHEAD)
			dispatch(in, &in->obs[tail++ % RING]);
	}
	while (tail < head)
		dispatch(in, &in->obs[tail++ % RING]);
}
