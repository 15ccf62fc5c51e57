/*
 * loadgen.c - rv-loadgen: synthesizes a seeded, realistic stream of dnstap
 * CLIENT_RESPONSE frames and writes it to a Frame Streams file or, as a live
 * bidirectional Frame Streams writer, to a unix socket, a TCP listener or a
 * TLS listener (the same writer path over each: only connect and read/write
 * differ).
 *
 * The generator deliberately shares no code with the agent (only the protobuf
 * schema; OpenSSL for TLS, as any writer would): a DNS encoder or Frame
 * Streams framing borrowed from the code under test would hide any bug the two
 * have in common.
 *
 * Model (all derived from --seed, so two runs with the same options produce the
 * same bytes):
 *  - N names (--names); frame k asks for a Zipf(S)-distributed name (--zipf),
 *    or for name k mod N with --sequential (every name once, in order).
 *  - A addresses (--addresses, N <= A <= 4N): address j < N belongs to name j,
 *    every other address to a pseudo-random name with fewer than 4, so each name
 *    owns 1..4 addresses and each address exactly one name: the table the agent
 *    should learn is known in advance (--expect-out).
 *  - Per name, from a hash: IPv4 or IPv6 (--v6-names), CNAME chain depth 0..4.
 *  - Per frame: NXDOMAIN, NODATA, another qtype or a learnable A/AAAA answer
 *    (--nxdomain/--nodata/--other, percent); client from a pool of 4096, IPv6
 *    for --v6-clients percent; UDP, 5 % TCP.
 *
 * Every frame is generated into memory before anything is timed, so the writer
 * itself costs one write() per megabyte.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fstrm.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dnstap.pb-c.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define MAX_ADDRS_PER_NAME 4
#define CLIENT_POOL 4096
#define NAME_MAX_TEXT 128
#define WIRE_MAX 1024
/* First response time of the stream: 2024-01-01T00:00:00Z. A fixed epoch keeps
 * the bytes independent of when the generator runs. */
#define EPOCH0 1704067200
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum kind { K_LEARN, K_NXDOMAIN, K_NODATA, K_OTHER, K_COUNT };
static const char *const kind_names[K_COUNT] = {"learnable", "nxdomain", "nodata", "other"};

struct opts {
	uint64_t seed;
	uint32_t names, addresses, count, samples, addr_offset;
	double zipf;
	unsigned nx_pct, nodata_pct, other_pct, v6_names_pct, v6_clients_pct;
	bool sequential;
	double rate;
	const char *file, *unix_path, *tcp_addr, *tls_addr;
	const char *expect_out, *zone_out, *queries_out, *samples_out;
	const char *domain;
	const char *tls_ca, *tls_cert, *tls_key, *tls_name;
	unsigned timeout_s;
	int64_t time_base;       /* response time of the first frame, epoch seconds */
};

/* ---- deterministic randomness ---- */

/* splitmix64: a good 64-bit mixer; used both as a PRNG step and as a hash of
 * (seed, index) so per-name properties need no storage. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t hash2(uint64_t seed, uint64_t tag, uint64_t i)
{
	return mix64(seed ^ mix64(tag * 0x100000001b3ULL ^ mix64(i)));
}

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

/* Uniform double in [0, 1). */
static double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the name and address model ---- */

typedef struct model {
	const struct opts *o;
	uint32_t total_names;    /* names + samples (samples are never in the stream) */
	uint32_t *addr_start;    /* CSR: name i owns addr_list[addr_start[i] .. addr_start[i+1]) */
	uint32_t *addr_list;
	double *cdf;             /* Zipf cumulative distribution over names */
	uint8_t *learned;        /* name i appeared in >= 1 learnable answer */
} model;

static bool name_is_v6(const model *m, uint32_t i)
{
	return hash2(m->o->seed, 1, i) % 100 < m->o->v6_names_pct;
}

/* Chain depth 0..4: 40/25/20/10/5 %, roughly what CDN-heavy traffic shows. */
static unsigned name_depth(const model *m, uint32_t i)
{
	unsigned r = (unsigned)(hash2(m->o->seed, 2, i) % 100);
	return r < 40 ? 0 : r < 65 ? 1 : r < 85 ? 2 : r < 95 ? 3 : 4;
}

static const char *const tlds[] = {"com", "net", "org", "io", "de"};

/* Question name of name i: "h<i>.d<i % 9973>.<domain>", or with the default
 * domain a spread of TLDs, ~25 characters like typical web names. */
static int name_text(const model *m, uint32_t i, char *out, size_t len)
{
	if (m->o->domain)
		return snprintf(out, len, "h%" PRIu32 ".d%" PRIu32 ".%s", i, i % 9973, m->o->domain);
	return snprintf(out, len, "www.h%" PRIu32 "-site%" PRIu32 ".%s", i, i % 9973,
			tlds[i % ARRAY_LEN(tlds)]);
}

/* Link k (1..depth) of name i's CNAME chain. */
static int chain_text(const model *m, uint32_t i, unsigned k, char *out, size_t len)
{
	if (m->o->domain)
		return snprintf(out, len, "e%" PRIu32 "-%u.cdn%u.%s", i, k, k, m->o->domain);
	return snprintf(out, len, "e%" PRIu32 "-%u.edge%u.cdn%u.net", i, k, k % 3, k);
}

static int nx_text(const model *m, uint32_t i, char *out, size_t len)
{
	if (m->o->domain)
		return snprintf(out, len, "x%" PRIu32 ".d%" PRIu32 ".%s", i, i % 9973, m->o->domain);
	return snprintf(out, len, "x%" PRIu32 ".nosuch%" PRIu32 ".com", i, i % 9973);
}

/* Address j: IPv4 in 10.0.0.0/8, IPv6 in 2001:db8::/32 (documentation space:
 * the addresses are data in the frames, never contacted). --addr-offset shifts
 * the index so separate experiments use disjoint addresses. The 24-bit index is
 * scrambled by an odd multiplier (a bijection mod 2^24) so consecutive names do
 * not get consecutive addresses. */
static void addr_bytes(const model *m, uint32_t j, bool v6, uint8_t *out, size_t *len)
{
	j += m->o->addr_offset;
	uint32_t s = (uint32_t)((j * 0x9e3779b1u) & 0xffffffu);
	if (!v6) {
		out[0] = 10;
		out[1] = (uint8_t)(s >> 16);
		out[2] = (uint8_t)(s >> 8);
		out[3] = (uint8_t)s;
		*len = 4;
		return;
	}
	uint64_t h = hash2(m->o->seed, 3, j);
	static const uint8_t pfx[4] = {0x20, 0x01, 0x0d, 0xb8};
	memcpy(out, pfx, 4);
	for (int b = 0; b < 8; b++)
		out[4 + b] = (uint8_t)(h >> (8 * b));
	/* The last 4 bytes carry j itself: distinct even if the hash collides. */
	out[12] = (uint8_t)(j >> 24);
	out[13] = (uint8_t)(j >> 16);
	out[14] = (uint8_t)(j >> 8);
	out[15] = (uint8_t)j;
	*len = 16;
}

static void addr_str(const uint8_t *b, size_t len, char *out, size_t outlen)
{
	int family = len == 4 ? AF_INET : AF_INET6;
	if (!inet_ntop(family, b, out, (socklen_t)outlen))
		snprintf(out, outlen, "?");
}

static int model_init(model *m, const struct opts *o)
{
	memset(m, 0, sizeof(*m));
	m->o = o;
	m->total_names = o->names + o->samples;
	uint32_t n = m->total_names, a = o->addresses + o->samples;
	m->addr_start = calloc((size_t)n + 1, sizeof(uint32_t));
	m->addr_list = calloc(a, sizeof(uint32_t));
	uint32_t *owner = calloc(a, sizeof(uint32_t));
	uint8_t *cnt = calloc(n, 1);
	m->learned = calloc(n, 1);
	m->cdf = calloc(o->names, sizeof(double));
	int rc = -ENOMEM;
	if (!m->addr_start || !m->addr_list || !owner || !cnt || !m->learned || !m->cdf)
		goto out;

	/* Stream names own addresses [0, A); sample name names+k owns address A+k
	 * (one each), so samples never collide with the stream. */
	for (uint32_t j = 0; j < o->addresses; j++) {
		uint32_t w = j < o->names ? j : (uint32_t)(hash2(o->seed, 4, j) % o->names);
		while (cnt[w] >= MAX_ADDRS_PER_NAME)
			w = (w + 1) % o->names; /* terminates: A <= 4N */
		owner[j] = w;
		cnt[w]++;
	}
	for (uint32_t k = 0; k < o->samples; k++) {
		owner[o->addresses + k] = o->names + k;
		cnt[o->names + k] = 1;
	}
	for (uint32_t i = 0; i < n; i++)
		m->addr_start[i + 1] = m->addr_start[i] + cnt[i];
	memset(cnt, 0, n);
	for (uint32_t j = 0; j < a; j++) {
		uint32_t w = owner[j];
		m->addr_list[m->addr_start[w] + cnt[w]++] = j;
	}

	/* Zipf: P(rank r) ~ 1 / r^s. Rank r is name r - 1, so low indexes are the
	 * popular names. */
	double sum = 0;
	for (uint32_t i = 0; i < o->names; i++) {
		sum += 1.0 / pow((double)i + 1.0, o->zipf);
		m->cdf[i] = sum;
	}
	for (uint32_t i = 0; i < o->names; i++)
		m->cdf[i] /= sum;
	rc = 0;
out:
	free(owner);
	free(cnt);
	return rc;
}

static void model_free(model *m)
{
	free(m->addr_start);
	free(m->addr_list);
	free(m->cdf);
	free(m->learned);
}

static uint32_t zipf_pick(const model *m, rng *r)
{
	double u = rng_unit(r);
	uint32_t lo = 0, hi = m->o->names - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- DNS wire encoder with name compression ---- */

typedef struct wire {
	uint8_t b[WIRE_MAX];
	size_t len;
	bool overflow;
	/* Names written so far, for compression: offset of each written suffix
	 * (presentation form, no trailing dot). */
	unsigned nsuf;
	struct {
		uint16_t off;
		const char *text; /* points into names[] below */
	} suf[64];
	char names[16][NAME_MAX_TEXT];
	unsigned nnames;
} wire;

static void w_bytes(wire *w, const void *p, size_t n)
{
	if (w->len + n > sizeof(w->b)) {
		w->overflow = true;
		return;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void w_u16(wire *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	w_bytes(w, b, 2);
}

static void w_u32(wire *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	w_bytes(w, b, 4);
}

/* Writes name (no trailing dot), pointing at the longest suffix already in the
 * message, as BIND does; records the new suffixes for later names. */
static void w_name(wire *w, const char *name)
{
	const char *keep = name;
	if (w->nnames < ARRAY_LEN(w->names)) {
		snprintf(w->names[w->nnames], NAME_MAX_TEXT, "%s", name);
		keep = w->names[w->nnames++];
	}
	const char *p = keep;
	while (*p) {
		for (unsigned k = 0; k < w->nsuf; k++) {
			if (strcasecmp(w->suf[k].text, p) == 0) {
				w_u16(w, (uint16_t)(0xc000 | w->suf[k].off));
				return;
			}
		}
		if (w->len < 0x3fff && w->nsuf < ARRAY_LEN(w->suf) && keep != name) {
			w->suf[w->nsuf].off = (uint16_t)w->len;
			w->suf[w->nsuf].text = p;
			w->nsuf++;
		}
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		uint8_t lb = (uint8_t)l;
		w_bytes(w, &lb, 1);
		w_bytes(w, p, l);
		p += l;
		if (*p == '.')
			p++;
	}
	uint8_t z = 0;
	w_bytes(w, &z, 1);
}

/* RR header; returns the offset of RDLENGTH so it can be patched. */
static size_t w_rr(wire *w, const char *owner, uint16_t type, uint32_t ttl)
{
	w_name(w, owner);
	w_u16(w, type);
	w_u16(w, 1);
	w_u32(w, ttl);
	size_t at = w->len;
	w_u16(w, 0);
	return at;
}

static void w_rdlen(wire *w, size_t at)
{
	if (w->overflow)
		return;
	size_t n = w->len - at - 2;
	w->b[at] = (uint8_t)(n >> 8);
	w->b[at + 1] = (uint8_t)n;
}

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_PTR = 12, T_MX = 15, T_TXT = 16,
	T_AAAA = 28, T_OPT = 41, T_HTTPS = 65 };

static void w_header(wire *w, uint16_t id, uint8_t rcode, uint16_t an, uint16_t ns)
{
	w_u16(w, id);
	/* QR, opcode QUERY, RD, RA (a recursive resolver's answer to a client). */
	w_u16(w, (uint16_t)(0x8180 | rcode));
	w_u16(w, 1);
	w_u16(w, an);
	w_u16(w, ns);
	w_u16(w, 1); /* OPT */
}

static void w_opt(wire *w)
{
	uint8_t root = 0;
	w_bytes(w, &root, 1);
	w_u16(w, T_OPT);
	w_u16(w, 1232); /* UDP payload size */
	w_u32(w, 0);
	w_u16(w, 0);
}

/* The zone's SOA in the authority section of negative answers. */
static void w_soa(wire *w, const char *zone)
{
	char mname[NAME_MAX_TEXT + 4], rname[NAME_MAX_TEXT + 12];
	snprintf(mname, sizeof(mname), "ns1.%s", zone);
	snprintf(rname, sizeof(rname), "hostmaster.%s", zone);
	size_t at = w_rr(w, zone, T_SOA, 900);
	w_name(w, mname);
	w_name(w, rname);
	w_u32(w, 2024010101);
	w_u32(w, 7200);
	w_u32(w, 3600);
	w_u32(w, 1209600);
	w_u32(w, 3600);
	w_rdlen(w, at);
}

/* The registered domain of a name: its last two labels. */
static const char *zone_of(const char *name)
{
	const char *last = strrchr(name, '.');
	if (!last)
		return name;
	const char *p = last;
	while (p > name && p[-1] != '.')
		p--;
	return p > name ? p : name;
}

/* One response wire for name i (or a nonexistent name) of the given kind. */
static void build_response(const model *m, uint32_t i, enum kind kd, uint16_t id,
		uint32_t rot, wire *w)
{
	char q[NAME_MAX_TEXT], cur[NAME_MAX_TEXT], next[NAME_MAX_TEXT];
	bool v6 = name_is_v6(m, i);
	unsigned depth = name_depth(m, i);
	uint16_t qtype = v6 ? T_AAAA : T_A;

	w->len = 0;
	w->overflow = false;
	w->nsuf = 0;
	w->nnames = 0;
	if (kd == K_NXDOMAIN) {
		nx_text(m, i, q, sizeof(q));
		w_header(w, id, 3, 0, 1);
		w_name(w, q);
		w_u16(w, qtype);
		w_u16(w, 1);
		w_soa(w, m->o->domain ? m->o->domain : zone_of(q));
		w_opt(w);
		return;
	}
	name_text(m, i, q, sizeof(q));
	if (kd == K_OTHER) {
		/* MX, TXT or HTTPS: a NOERROR answer the agent must not learn from. */
		static const uint16_t types[] = {T_MX, T_TXT, T_HTTPS};
		uint16_t t = types[hash2(m->o->seed, 5, i) % ARRAY_LEN(types)];
		w_header(w, id, 0, 1, 0);
		w_name(w, q);
		w_u16(w, t);
		w_u16(w, 1);
		size_t at = w_rr(w, q, t, 300);
		if (t == T_MX) {
			char mx[NAME_MAX_TEXT + 4];
			w_u16(w, 10);
			snprintf(mx, sizeof(mx), "mx.%s", zone_of(q));
			w_name(w, mx);
		} else if (t == T_TXT) {
			static const char txt[] = "v=spf1 include:_spf.example.net ~all";
			uint8_t l = sizeof(txt) - 1;
			w_bytes(w, &l, 1);
			w_bytes(w, txt, l);
		} else {
			w_u16(w, 1);
			uint8_t root = 0;
			w_bytes(w, &root, 1);
		}
		w_rdlen(w, at);
		w_opt(w);
		return;
	}
	if (kd == K_NODATA)
		qtype = v6 ? T_A : T_AAAA; /* the family the name does not have */

	uint32_t a0 = m->addr_start[i], na = m->addr_start[i + 1] - a0;
	uint16_t an = (uint16_t)(depth + (kd == K_LEARN ? na : 0));
	w_header(w, id, 0, an, kd == K_NODATA ? 1 : 0);
	w_name(w, q);
	w_u16(w, qtype);
	w_u16(w, 1);
	snprintf(cur, sizeof(cur), "%s", q);
	for (unsigned k = 1; k <= depth; k++) {
		chain_text(m, i, k, next, sizeof(next));
		size_t at = w_rr(w, cur, T_CNAME, 300);
		w_name(w, next);
		w_rdlen(w, at);
		snprintf(cur, sizeof(cur), "%s", next);
	}
	if (kd == K_LEARN) {
		/* Round-robin order, as resolvers rotate RRsets. */
		for (uint32_t k = 0; k < na; k++) {
			uint8_t ab[16];
			size_t al;
			addr_bytes(m, m->addr_list[a0 + (k + rot) % na], v6, ab, &al);
			size_t at = w_rr(w, cur, qtype, 60);
			w_bytes(w, ab, al);
			w_rdlen(w, at);
		}
	} else {
		w_soa(w, m->o->domain ? m->o->domain : zone_of(cur));
	}
	w_opt(w);
}

/* ---- frames ---- */

typedef struct stream {
	uint8_t *buf;      /* Frame Streams data frames: BE32 length + payload each */
	size_t len, cap;
	uint64_t *off;     /* offset of frame k in buf (off[count] = len) */
	uint32_t count;
	uint64_t per_kind[K_COUNT];
	uint64_t v6_clients, tcp;
} stream;

static int stream_reserve(stream *s, size_t more)
{
	if (s->len + more <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 1 << 20;
	while (cap < s->len + more)
		cap *= 2;
	uint8_t *nb = realloc(s->buf, cap);
	if (!nb)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

/* Generates the whole stream into memory. The per-frame choices come from one
 * PRNG consumed in a fixed order, so the stream depends only on the options. */
static int generate(model *m, stream *s)
{
	const struct opts *o = m->o;
	rng r = {.s = o->seed};
	s->off = calloc((size_t)o->count + 1, sizeof(uint64_t));
	if (!s->off)
		return -ENOMEM;

	static const uint8_t resp4[4] = {127, 0, 0, 1};
	static const uint8_t resp6[16] = {[15] = 1};
	uint8_t cli[16], pb[2048];
	wire w;
	Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
	Dnstap__Message msg = DNSTAP__MESSAGE__INIT;
	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.message = &msg;
	d.has_identity = 1;
	d.identity.data = (uint8_t *)"resolver1";
	d.identity.len = 9;
	msg.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
	msg.has_socket_family = msg.has_socket_protocol = 1;
	msg.has_query_address = msg.has_response_address = 1;
	msg.has_query_port = msg.has_response_port = 1;
	msg.has_response_time_sec = msg.has_response_time_nsec = 1;
	msg.has_response_message = 1;

	/* Response times advance 4 ms per 400 frames (~100k frames/s of "traffic";
	 * BIND's clock has 4 ms granularity). */
	for (uint32_t k = 0; k < o->count; k++) {
		uint32_t i;
		enum kind kd;
		if (o->sequential) {
			i = k % o->names;
			kd = K_LEARN;
		} else {
			i = zipf_pick(m, &r);
			unsigned p = (unsigned)(rng_next(&r) % 100);
			kd = p < o->nx_pct ? K_NXDOMAIN
			   : p < o->nx_pct + o->nodata_pct ? K_NODATA
			   : p < o->nx_pct + o->nodata_pct + o->other_pct ? K_OTHER : K_LEARN;
		}
		uint64_t rr = rng_next(&r);
		uint32_t c = (uint32_t)(rr % CLIENT_POOL);
		bool cv6 = hash2(o->seed, 6, c) % 100 < o->v6_clients_pct;
		bool tcp = (rr >> 32) % 100 < 5;
		build_response(m, i, kd, (uint16_t)(rr >> 16), (uint32_t)(rr >> 48), &w);
		if (w.overflow)
			return -EOVERFLOW;
		if (kd == K_LEARN)
			m->learned[i] = 1;
		s->per_kind[kd]++;
		s->v6_clients += cv6;
		s->tcp += tcp;

		/* Clients: 100.64.0.0/10 (carrier-grade NAT space) or 2001:db8:ffff::/48. */
		if (cv6) {
			memset(cli, 0, 16);
			cli[0] = 0x20; cli[1] = 0x01; cli[2] = 0x0d; cli[3] = 0xb8;
			cli[4] = 0xff; cli[5] = 0xff;
			cli[14] = (uint8_t)(c >> 8);
			cli[15] = (uint8_t)c;
		} else {
			cli[0] = 100;
			cli[1] = (uint8_t)(64 + (c >> 16));
			cli[2] = (uint8_t)(c >> 8);
			cli[3] = (uint8_t)c;
		}
		msg.socket_family = cv6 ? DNSTAP__SOCKET_FAMILY__INET6 : DNSTAP__SOCKET_FAMILY__INET;
		msg.socket_protocol = tcp ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
		msg.query_address.data = cli;
		msg.query_address.len = cv6 ? 16 : 4;
		msg.query_port = 1024 + (uint32_t)((rr >> 8) % 64000);
		msg.response_address.data = (uint8_t *)(cv6 ? resp6 : resp4);
		msg.response_address.len = cv6 ? 16 : 4;
		msg.response_port = 53;
		uint64_t ms4 = (uint64_t)(k / 400) * 4;
		msg.response_time_sec = (uint64_t)m->o->time_base + ms4 / 1000;
		msg.response_time_nsec = (uint32_t)((ms4 % 1000) * 1000000 + (k % 400) * 10);
		msg.response_message.data = w.b;
		msg.response_message.len = w.len;

		size_t n = dnstap__dnstap__get_packed_size(&d);
		if (n > sizeof(pb))
			return -EOVERFLOW;
		dnstap__dnstap__pack(&d, pb);
		if (stream_reserve(s, n + 4) < 0)
			return -ENOMEM;
		s->off[k] = s->len;
		uint8_t *p = s->buf + s->len;
		p[0] = (uint8_t)(n >> 24);
		p[1] = (uint8_t)(n >> 16);
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
		memcpy(p + 4, pb, n);
		s->len += n + 4;
	}
	s->off[o->count] = s->len;
	s->count = o->count;
	return 0;
}

/* ---- Frame Streams control frames (libfstrm's codec) ---- */

/* Encodes a control frame with its escape header into out. */
static int ctrl_encode(fstrm_control_type type, bool with_ctype, uint8_t *out, size_t *len)
{
	struct fstrm_control *c = fstrm_control_init();
	int rc = -ENOMEM;
	if (!c)
		return rc;
	rc = -EINVAL;
	if (fstrm_control_set_type(c, type) != fstrm_res_success)
		goto out;
	if (with_ctype && fstrm_control_add_field_content_type(c,
			(const uint8_t *)CONTENT_TYPE, strlen(CONTENT_TYPE)) != fstrm_res_success)
		goto out;
	if (fstrm_control_encode(c, out, len, FSTRM_CONTROL_FLAG_WITH_HEADER) != fstrm_res_success)
		goto out;
	rc = 0;
out:
	fstrm_control_destroy(&c);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Frame Streams file: START (content type), the data frames, STOP. */
static int write_file(const char *path, const stream *s)
{
	uint8_t c[FSTRM_CONTROL_FRAME_LENGTH_MAX + 8];
	size_t cl = sizeof(c);
	int rc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "rv-loadgen: %s: %s\n", path, strerror(errno));
		return rc;
	}
	double t0 = now_s();
	if ((rc = ctrl_encode(FSTRM_CONTROL_START, true, c, &cl)) < 0 ||
	    (rc = write_all(fd, c, cl)) < 0)
		goto out;
	for (size_t off = 0; off < s->len; off += 1 << 20) {
		size_t n = s->len - off < (1u << 20) ? s->len - off : 1u << 20;
		if ((rc = write_all(fd, s->buf + off, n)) < 0)
			goto out;
	}
	cl = sizeof(c);
	if ((rc = ctrl_encode(FSTRM_CONTROL_STOP, false, c, &cl)) < 0 ||
	    (rc = write_all(fd, c, cl)) < 0)
		goto out;
	double el = now_s() - t0;
	printf("file %s frames=%" PRIu32 " bytes=%zu elapsed=%.6f fps=%.0f\n", path, s->count,
			s->len, el, el > 0 ? s->count / el : 0);
out:
	if (rc < 0)
		fprintf(stderr, "rv-loadgen: writing %s: %s\n", path, strerror(-rc));
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* ---- live connections: unix, TCP or TLS, one writer path for all three ---- */

enum transport { TR_UNIX, TR_TCP, TR_TLS };
static const char *const transport_names[] = {"unix", "tcp", "tls"};

/* A connected socket, wrapped in TLS for TR_TLS. The socket stays blocking:
 * SO_RCVTIMEO/SO_SNDTIMEO (--timeout) bound every read, write and the
 * handshake, so SSL_read/SSL_write need no WANT_READ/WANT_WRITE loop. */
typedef struct conn {
	int fd;
	SSL_CTX *ctx; /* TR_TLS only */
	SSL *ssl;     /* TR_TLS only; NULL: plain read()/write() on fd */
} conn;

/* Prints OpenSSL's error queue after the caller's message (the queue says
 * which check failed: certificate, name, protocol). */
static void tls_errors(void)
{
	unsigned long e;
	char buf[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "rv-loadgen:   %s\n", buf);
	}
}

/* Writes all n bytes. Returns 0 or -errno (-EPROTO for a TLS failure). */
static int conn_write(conn *c, const uint8_t *p, size_t n)
{
	if (!c->ssl)
		return write_all(c->fd, p, n);
	while (n > 0) {
		int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
		int r = SSL_write(c->ssl, p, chunk);
		if (r <= 0) {
			int saved = errno; /* before SSL_get_error can change it */
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_SYSCALL && saved == EINTR)
				continue;
			tls_errors();
			return e == SSL_ERROR_SYSCALL && saved ? -saved : -EPROTO;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads what is there, up to n bytes (blocks for at least one byte). Returns
 * the count, 0 at the peer's end of stream, or -errno. */
static ssize_t conn_read(conn *c, uint8_t *b, size_t n)
{
	for (;;) {
		if (!c->ssl) {
			ssize_t r = read(c->fd, b, n);
			if (r < 0 && errno == EINTR)
				continue;
			return r < 0 ? -errno : r;
		}
		int r = SSL_read(c->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
		if (r > 0)
			return r;
		int saved = errno;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && saved == EINTR)
			continue;
		tls_errors();
		return e == SSL_ERROR_SYSCALL && saved ? -saved : -EPROTO;
	}
}

/* Bytes readable now without touching the socket (a TLS record already
 * decrypted), so poll() is skipped for them. */
static bool conn_buffered(const conn *c)
{
	return c->ssl && SSL_pending(c->ssl) > 0;
}

static void conn_close(conn *c)
{
	if (c->ssl) {
		(void)SSL_shutdown(c->ssl); /* close_notify; the reader may be gone */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
	c->ctx = NULL;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" -> host and port strings (host without the
 * brackets). */
static int split_hostport(const char *spec, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	const char *h = spec;
	size_t n = (size_t)(colon - spec);
	if (h[0] == '[') {
		if (n < 3 || h[n - 1] != ']')
			return -EINVAL;
		h++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = 0;
	strcpy(port, colon + 1);
	return 0;
}

/* Connects a stream socket to the unix path or ADDR:PORT of the transport;
 * sets *fd. Every read and write on it times out after timeout_s. */
static int conn_socket(enum transport tr, const char *target, unsigned timeout_s, int *fd)
{
	int rc = 0, s = -1;
	struct addrinfo *ai = NULL;
	if (tr == TR_UNIX) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(target) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "rv-loadgen: socket path too long\n");
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, target);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			rc = -errno;
			goto out;
		}
	} else {
		char host[256], port[16];
		if (split_hostport(target, host, sizeof(host), port, sizeof(port)) < 0) {
			fprintf(stderr, "rv-loadgen: '%s': want ADDR:PORT or [V6ADDR]:PORT\n", target);
			return -EINVAL;
		}
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		int g = getaddrinfo(host, port, &hints, &ai);
		if (g != 0) {
			fprintf(stderr, "rv-loadgen: %s: %s\n", target, gai_strerror(g));
			return -EINVAL;
		}
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			rc = -errno;
			goto out;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
			rc = -errno;
			goto out;
		}
		/* The control frames are small and each waits for an answer. */
		int one = 1;
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	struct timeval tv = {.tv_sec = (time_t)timeout_s};
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		goto out;
	}
	*fd = s;
	s = -1;
out:
	if (rc < 0)
		fprintf(stderr, "rv-loadgen: connect %s: %s\n", target, strerror(-rc));
	if (s >= 0)
		close(s);
	if (ai)
		freeaddrinfo(ai);
	return rc;
}

/* TLS client on c->fd: TLS 1.2+, the server's certificate verified against
 * --tls-ca (or the system's store) and --tls-name (default: ADDR, as an IP
 * address or a DNS name); --tls-cert/--tls-key offer a client certificate. */
static int conn_tls(conn *c, const struct opts *o, const char *target)
{
	char host[256], port[16];
	unsigned char ipbuf[16];
	if (split_hostport(target, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	const char *name = o->tls_name ? o->tls_name : host;
	bool name_is_ip = inet_pton(AF_INET, name, ipbuf) == 1 || inet_pton(AF_INET6, name, ipbuf) == 1;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		goto fail;
	SSL_CTX_set_mode(c->ctx, SSL_MODE_AUTO_RETRY);
	if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1)
		goto fail;
	if (o->tls_ca ? SSL_CTX_load_verify_locations(c->ctx, o->tls_ca, NULL) != 1
		      : SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		fprintf(stderr, "rv-loadgen: CA %s unusable\n", o->tls_ca ? o->tls_ca : "(system)");
		goto fail;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (o->tls_cert && (SSL_CTX_use_certificate_chain_file(c->ctx, o->tls_cert) != 1 ||
			SSL_CTX_use_PrivateKey_file(c->ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
			SSL_CTX_check_private_key(c->ctx) != 1)) {
		fprintf(stderr, "rv-loadgen: client certificate %s / key %s unusable\n", o->tls_cert,
				o->tls_key);
		goto fail;
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	if (name_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1)
			goto fail;
	} else if (SSL_set1_host(c->ssl, name) != 1 || SSL_set_tlsext_host_name(c->ssl, name) != 1) {
		goto fail;
	}
	if (SSL_connect(c->ssl) != 1) {
		long vr = SSL_get_verify_result(c->ssl);
		fprintf(stderr, "rv-loadgen: TLS handshake with %s failed%s%s\n", target,
				vr != X509_V_OK ? ": " : "",
				vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
		tls_errors();
		return -EPROTO;
	}
	fprintf(stderr, "rv-loadgen: %s: %s %s, server certificate verified for %s\n", target,
			SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl), name);
	return 0;
fail:
	fprintf(stderr, "rv-loadgen: TLS setup for %s failed\n", target);
	tls_errors();
	return -EPROTO;
}

/* Connects (and for TLS, handshakes) c to the live writer's target. */
static int conn_open(conn *c, const struct opts *o, enum transport tr, const char *target)
{
	c->fd = -1;
	c->ssl = NULL;
	c->ctx = NULL;
	int rc = conn_socket(tr, target, o->timeout_s, &c->fd);
	if (rc == 0 && tr == TR_TLS)
		rc = conn_tls(c, o, target);
	if (rc < 0)
		conn_close(c);
	return rc;
}

/* Reads one control frame (escape, length, payload) within deadline and checks
 * its type. Data frames are not expected from a reader. */
static int read_ctrl(conn *cn, fstrm_control_type want, double deadline)
{
	uint8_t b[FSTRM_CONTROL_FRAME_LENGTH_MAX + 8];
	size_t have = 0, need = 8;
	while (have < need) {
		int ms = (int)((deadline - now_s()) * 1000);
		if (ms <= 0)
			return -ETIMEDOUT;
		if (!conn_buffered(cn)) {
			struct pollfd p = {.fd = cn->fd, .events = POLLIN};
			int pr = poll(&p, 1, ms);
			if (pr < 0 && errno != EINTR)
				return -errno;
			if (pr <= 0)
				continue;
		}
		ssize_t r = conn_read(cn, b + have, need - have);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		have += (size_t)r;
		if (have == 8 && need == 8) {
			uint32_t esc = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
			uint32_t len = (uint32_t)b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7];
			if (esc != 0 || len > FSTRM_CONTROL_FRAME_LENGTH_MAX)
				return -EBADMSG;
			need = 8 + len;
		}
	}
	struct fstrm_control *c = fstrm_control_init();
	fstrm_control_type t;
	int rc = -EBADMSG;
	if (c && fstrm_control_decode(c, b + 8, need - 8, 0) == fstrm_res_success &&
	    fstrm_control_get_type(c, &t) == fstrm_res_success && t == want)
		rc = 0;
	fstrm_control_destroy(&c);
	return rc;
}

/* Live writer over any transport: READY -> ACCEPT -> START -> data (paced) ->
 * STOP -> FINISH. elapsed = first data byte written .. FINISH read: the reader
 * answers FINISH only after it has read every frame before the STOP. The TCP
 * connect and TLS handshake happen before the clock starts. */
static int write_live(const struct opts *o, const stream *s, enum transport tr, const char *target)
{
	uint8_t c[FSTRM_CONTROL_FRAME_LENGTH_MAX + 8];
	size_t cl;
	conn cn;
	int rc = conn_open(&cn, o, tr, target);
	if (rc < 0)
		return rc;
	double deadline = now_s() + o->timeout_s;
	cl = sizeof(c);
	if ((rc = ctrl_encode(FSTRM_CONTROL_READY, true, c, &cl)) < 0 ||
	    (rc = conn_write(&cn, c, cl)) < 0)
		goto out;
	if ((rc = read_ctrl(&cn, FSTRM_CONTROL_ACCEPT, deadline)) < 0) {
		fprintf(stderr, "rv-loadgen: no ACCEPT: %s\n", strerror(-rc));
		goto out;
	}
	cl = sizeof(c);
	if ((rc = ctrl_encode(FSTRM_CONTROL_START, true, c, &cl)) < 0 ||
	    (rc = conn_write(&cn, c, cl)) < 0)
		goto out;

	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	double t0 = now_s();
	if (o->rate <= 0) {
		for (size_t off = 0; off < s->len; off += 1 << 20) {
			size_t n = s->len - off < (1u << 20) ? s->len - off : 1u << 20;
			if ((rc = conn_write(&cn, s->buf + off, n)) < 0)
				goto out;
		}
	} else {
		/* Pace in 1 ms steps: write every frame due by now in one write(). */
		uint32_t sent = 0;
		while (sent < s->count) {
			double el = now_s() - t0;
			uint64_t due = (uint64_t)(el * o->rate) + 1;
			if (due > s->count)
				due = s->count;
			if (due > sent) {
				size_t a = s->off[sent], b = s->off[due];
				if ((rc = conn_write(&cn, s->buf + a, b - a)) < 0)
					goto out;
				sent = (uint32_t)due;
			}
			if (now_s() > deadline) {
				rc = -ETIMEDOUT;
				goto out;
			}
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	double t_written = now_s() - t0;
	cl = sizeof(c);
	if ((rc = ctrl_encode(FSTRM_CONTROL_STOP, false, c, &cl)) < 0 ||
	    (rc = conn_write(&cn, c, cl)) < 0)
		goto out;
	if ((rc = read_ctrl(&cn, FSTRM_CONTROL_FINISH, deadline)) < 0) {
		fprintf(stderr, "rv-loadgen: no FINISH: %s\n", strerror(-rc));
		goto out;
	}
	double el = now_s() - t0;
	printf("%s %s frames=%" PRIu32 " bytes=%zu start_epoch=%lld.%06ld written=%.6f "
			"elapsed=%.6f fps=%.0f\n", transport_names[tr], target, s->count, s->len,
			(long long)wall.tv_sec, wall.tv_nsec / 1000, t_written, el,
			el > 0 ? s->count / el : 0);
out:
	if (rc < 0 && rc != -ETIMEDOUT)
		fprintf(stderr, "rv-loadgen: %s %s: %s\n", transport_names[tr], target, strerror(-rc));
	conn_close(&cn);
	return rc;
}

/* ---- side outputs ---- */

/* "address<TAB>name" for every address of every name seen in a learnable answer. */
static int write_expect(const model *m, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	char name[NAME_MAX_TEXT], as[64];
	uint8_t ab[16];
	size_t al;
	for (uint32_t i = 0; i < m->o->names; i++) {
		if (!m->learned[i])
			continue;
		name_text(m, i, name, sizeof(name));
		for (uint32_t k = m->addr_start[i]; k < m->addr_start[i + 1]; k++) {
			addr_bytes(m, m->addr_list[k], name_is_v6(m, i), ab, &al);
			addr_str(ab, al, as, sizeof(as));
			fprintf(f, "%s\t%s\n", as, name);
		}
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* A zone file (for an authoritative upstream) holding every name, its chain and
 * its addresses; relative to --domain, which must be set. */
static int write_zone(const model *m, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	const char *d = m->o->domain;
	fprintf(f, "$TTL 300\n@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 30\n"
		"@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n", d, d, d);
	char name[NAME_MAX_TEXT], cur[NAME_MAX_TEXT], next[NAME_MAX_TEXT], as[64];
	uint8_t ab[16];
	size_t al;
	for (uint32_t i = 0; i < m->total_names; i++) {
		name_text(m, i, name, sizeof(name));
		snprintf(cur, sizeof(cur), "%s", name);
		for (unsigned k = 1; k <= name_depth(m, i); k++) {
			chain_text(m, i, k, next, sizeof(next));
			fprintf(f, "%s. CNAME %s.\n", cur, next);
			snprintf(cur, sizeof(cur), "%s", next);
		}
		bool v6 = name_is_v6(m, i);
		for (uint32_t k = m->addr_start[i]; k < m->addr_start[i + 1]; k++) {
			addr_bytes(m, m->addr_list[k], v6, ab, &al);
			addr_str(ab, al, as, sizeof(as));
			fprintf(f, "%s. %s %s\n", cur, v6 ? "AAAA" : "A", as);
		}
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* dnsperf input ("name TYPE" per line) with the same mix as the frames. */
static int write_queries(model *m, const char *path)
{
	const struct opts *o = m->o;
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	rng r = {.s = o->seed ^ 0x5155455259ULL};
	char name[NAME_MAX_TEXT];
	for (uint32_t k = 0; k < o->count; k++) {
		uint32_t i = o->sequential ? k % o->names : zipf_pick(m, &r);
		unsigned p = (unsigned)(rng_next(&r) % 100);
		bool v6 = name_is_v6(m, i);
		if (!o->sequential && p < o->nx_pct) {
			nx_text(m, i, name, sizeof(name));
			fprintf(f, "%s %s\n", name, v6 ? "AAAA" : "A");
			continue;
		}
		name_text(m, i, name, sizeof(name));
		const char *t = v6 ? "AAAA" : "A";
		if (!o->sequential && p < o->nx_pct + o->nodata_pct)
			t = v6 ? "A" : "AAAA";
		else if (!o->sequential && p < o->nx_pct + o->nodata_pct + o->other_pct)
			t = "MX";
		fprintf(f, "%s %s\n", name, t);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* "name<TAB>type<TAB>address" for the sample names (in the zone, never in the
 * stream): probes for lookup -> PTR latency. */
static int write_samples(const model *m, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	char name[NAME_MAX_TEXT], as[64];
	uint8_t ab[16];
	size_t al;
	for (uint32_t i = m->o->names; i < m->total_names; i++) {
		bool v6 = name_is_v6(m, i);
		name_text(m, i, name, sizeof(name));
		addr_bytes(m, m->addr_list[m->addr_start[i]], v6, ab, &al);
		addr_str(ab, al, as, sizeof(as));
		fprintf(f, "%s\t%s\t%s\n", name, v6 ? "AAAA" : "A", as);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* ---- command line ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rv-loadgen [options] (--file F | --unix SOCK | --tcp ADDR:PORT |\n"
		"                  --tls ADDR:PORT | side outputs only)\n"
		"Synthesizes dnstap CLIENT_RESPONSE frames (deterministic for a seed).\n"
		"\n"
		"Stream:\n"
		"  --seed N          PRNG seed (default 1)\n"
		"  --count N         frames to generate (default 1000000)\n"
		"  --names N         name population (default 100000)\n"
		"  --addresses N     distinct answer addresses, names..4*names (default 2*names)\n"
		"  --zipf S          Zipf exponent of name popularity (default 1.0)\n"
		"  --sequential      frame k asks for name k mod names, always learnable\n"
		"                    (every address appears: table-size and burst tests)\n"
		"  --nxdomain P      percent NXDOMAIN (default 10)\n"
		"  --nodata P        percent NODATA (default 5)\n"
		"  --other P         percent other qtypes: MX, TXT, HTTPS (default 5)\n"
		"  --v6-names P      percent of names with AAAA instead of A (default 30)\n"
		"  --v6-clients P    percent of IPv6 clients (default 25)\n"
		"  --domain D        put every name under D (zone-file mode); default: a mix\n"
		"                    of web-like names under com/net/org/io/de\n"
		"  --addr-offset K   shift address indexes by K (disjoint address sets)\n"
		"  --time-base T     response time of the first frame: epoch seconds or\n"
		"                    'now' (default 1704067200, 2024-01-01, reproducible)\n"
		"\n"
		"Outputs:\n"
		"  --file F          Frame Streams file (content type " CONTENT_TYPE ")\n"
		"  --unix SOCK       live bidirectional Frame Streams writer; prints a line\n"
		"                    \"unix SOCK frames=N bytes=B start_epoch=T written=S\n"
		"                    elapsed=S fps=F\": start_epoch is the wall clock at the\n"
		"                    first data byte, elapsed the seconds from it to FINISH\n"
		"  --tcp ADDR:PORT   the same writer over TCP ([V6ADDR]:PORT for IPv6); the\n"
		"                    line starts with \"tcp\"\n"
		"  --tls ADDR:PORT   the same writer over TLS (1.2 or later); the line starts\n"
		"                    with \"tls\"; connect and handshake are not timed\n"
		"  --tls-ca FILE     PEM CA the server's certificate must chain to (default:\n"
		"                    the system's trust store)\n"
		"  --tls-name NAME   name (DNS name or IP address) the server's certificate\n"
		"                    must carry (default: ADDR of --tls)\n"
		"  --tls-cert FILE   PEM client certificate (chain) for mutual TLS\n"
		"  --tls-key FILE    its PEM private key (with --tls-cert)\n"
		"  --rate R          frames/s for a live writer (0 = as fast as possible,\n"
		"                    default)\n"
		"  --timeout S       give up on a live writer after S seconds (default 600)\n"
		"  --expect-out F    expected table: address<TAB>name per learnable address\n"
		"  --zone-out F      zone file for --domain with every name, chain and address\n"
		"  --queries-out F   dnsperf query file with the same mix (count lines)\n"
		"  --samples N       extra names in the zone only, never in the stream\n"
		"  --samples-out F   name<TAB>type<TAB>address of those sample names\n"
		"  -h, --help\n");
}

static int parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.seed = 1, .time_base = EPOCH0, .names = 100000, .count = 1000000, .zipf = 1.0,
			 .nx_pct = 10, .nodata_pct = 5, .other_pct = 5, .v6_names_pct = 30,
			 .v6_clients_pct = 25, .timeout_s = 600};
	enum { O_SEED = 256, O_COUNT, O_NAMES, O_ADDRS, O_ZIPF, O_SEQ, O_NX, O_NODATA, O_OTHER,
	       O_V6N, O_V6C, O_DOMAIN, O_FILE, O_UNIX, O_RATE, O_TIMEOUT, O_EXPECT, O_ZONE,
	       O_QUERIES, O_SAMPLES, O_SAMPLES_OUT, O_ADDR_OFFSET, O_TIME_BASE, O_TCP, O_TLS,
	       O_TLS_CA, O_TLS_CERT, O_TLS_KEY, O_TLS_NAME };
	static const struct option lo[] = {
		{"seed", required_argument, NULL, O_SEED},
		{"count", required_argument, NULL, O_COUNT},
		{"names", required_argument, NULL, O_NAMES},
		{"addresses", required_argument, NULL, O_ADDRS},
		{"zipf", required_argument, NULL, O_ZIPF},
		{"sequential", no_argument, NULL, O_SEQ},
		{"nxdomain", required_argument, NULL, O_NX},
		{"nodata", required_argument, NULL, O_NODATA},
		{"other", required_argument, NULL, O_OTHER},
		{"v6-names", required_argument, NULL, O_V6N},
		{"v6-clients", required_argument, NULL, O_V6C},
		{"domain", required_argument, NULL, O_DOMAIN},
		{"file", required_argument, NULL, O_FILE},
		{"unix", required_argument, NULL, O_UNIX},
		{"rate", required_argument, NULL, O_RATE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"expect-out", required_argument, NULL, O_EXPECT},
		{"zone-out", required_argument, NULL, O_ZONE},
		{"queries-out", required_argument, NULL, O_QUERIES},
		{"samples", required_argument, NULL, O_SAMPLES},
		{"samples-out", required_argument, NULL, O_SAMPLES_OUT},
		{"addr-offset", required_argument, NULL, O_ADDR_OFFSET},
		{"time-base", required_argument, NULL, O_TIME_BASE},
		{"tcp", required_argument, NULL, O_TCP},
		{"tls", required_argument, NULL, O_TLS},
		{"tls-ca", required_argument, NULL, O_TLS_CA},
		{"tls-cert", required_argument, NULL, O_TLS_CERT},
		{"tls-key", required_argument, NULL, O_TLS_KEY},
		{"tls-name", required_argument, NULL, O_TLS_NAME},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint32_t v;
	int ch, bad = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case O_SEED: o.seed = strtoull(optarg, &end, 0); bad |= *end != 0; break;
		case O_COUNT: bad |= parse_u32(optarg, &o.count, 1, UINT32_MAX - 1) < 0; break;
		case O_NAMES: bad |= parse_u32(optarg, &o.names, 1, 1u << 24) < 0; break;
		case O_ADDRS: bad |= parse_u32(optarg, &o.addresses, 1, 1u << 24) < 0; break;
		case O_ZIPF: o.zipf = strtod(optarg, &end); bad |= *end != 0 || o.zipf < 0; break;
		case O_SEQ: o.sequential = true; break;
		case O_NX: bad |= parse_u32(optarg, &v, 0, 100) < 0; o.nx_pct = v; break;
		case O_NODATA: bad |= parse_u32(optarg, &v, 0, 100) < 0; o.nodata_pct = v; break;
		case O_OTHER: bad |= parse_u32(optarg, &v, 0, 100) < 0; o.other_pct = v; break;
		case O_V6N: bad |= parse_u32(optarg, &v, 0, 100) < 0; o.v6_names_pct = v; break;
		case O_V6C: bad |= parse_u32(optarg, &v, 0, 100) < 0; o.v6_clients_pct = v; break;
		case O_DOMAIN: o.domain = optarg; break;
		case O_FILE: o.file = optarg; break;
		case O_UNIX: o.unix_path = optarg; break;
		case O_RATE: o.rate = strtod(optarg, &end); bad |= *end != 0 || o.rate < 0; break;
		case O_TIMEOUT: bad |= parse_u32(optarg, &o.timeout_s, 1, 86400) < 0; break;
		case O_EXPECT: o.expect_out = optarg; break;
		case O_ZONE: o.zone_out = optarg; break;
		case O_QUERIES: o.queries_out = optarg; break;
		case O_SAMPLES: bad |= parse_u32(optarg, &o.samples, 0, 1u << 20) < 0; break;
		case O_SAMPLES_OUT: o.samples_out = optarg; break;
		case O_ADDR_OFFSET: bad |= parse_u32(optarg, &o.addr_offset, 0, 1u << 24) < 0; break;
		case O_TIME_BASE:
			/* "now" for live runs against an agent whose max-idle would expire
			 * 2024 sightings at once; a number keeps the bytes reproducible. */
			if (strcmp(optarg, "now") == 0) {
				o.time_base = (int64_t)time(NULL);
			} else {
				uint32_t tb;
				bad |= parse_u32(optarg, &tb, 0, UINT32_MAX) < 0;
				o.time_base = tb;
			}
			break;
		case O_TCP: o.tcp_addr = optarg; break;
		case O_TLS: o.tls_addr = optarg; break;
		case O_TLS_CA: o.tls_ca = optarg; break;
		case O_TLS_CERT: o.tls_cert = optarg; break;
		case O_TLS_KEY: o.tls_key = optarg; break;
		case O_TLS_NAME: o.tls_name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "rv-loadgen: bad value for --%s: '%s'\n", lo[ch - O_SEED].name,
					optarg ? optarg : "");
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!o.addresses)
		o.addresses = o.names * 2;
	if (o.addresses < o.names || (uint64_t)o.addresses > 4ull * o.names ||
	    (uint64_t)o.addresses + o.samples + o.addr_offset > (1u << 24)) {
		fprintf(stderr, "rv-loadgen: --addresses must be in names..4*names and, with "
			"--samples and --addr-offset, at most 2^24\n");
		return 2;
	}
	if (o.nx_pct + o.nodata_pct + o.other_pct > 100) {
		fprintf(stderr, "rv-loadgen: --nxdomain + --nodata + --other exceed 100\n");
		return 2;
	}
	if ((o.zone_out || o.samples_out) && !o.domain) {
		fprintf(stderr, "rv-loadgen: --zone-out and --samples-out need --domain\n");
		return 2;
	}
	if ((o.unix_path != NULL) + (o.tcp_addr != NULL) + (o.tls_addr != NULL) > 1) {
		fprintf(stderr, "rv-loadgen: one live writer at a time: --unix, --tcp or --tls\n");
		return 2;
	}
	if ((o.tls_ca || o.tls_cert || o.tls_key || o.tls_name) && !o.tls_addr) {
		fprintf(stderr, "rv-loadgen: --tls-ca, --tls-cert, --tls-key and --tls-name need --tls\n");
		return 2;
	}
	if (!o.tls_cert != !o.tls_key) {
		fprintf(stderr, "rv-loadgen: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (o.domain && strlen(o.domain) > 64) {
		fprintf(stderr, "rv-loadgen: --domain too long\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	model m;
	stream s = {0};
	int rc = model_init(&m, &o);
	if (rc < 0)
		goto out;
	bool want_frames = o.file || o.unix_path || o.tcp_addr || o.tls_addr || o.expect_out;
	if (want_frames) {
		double t0 = now_s();
		rc = generate(&m, &s);
		if (rc < 0)
			goto out;
		double el = now_s() - t0;
		uint64_t learnable = 0, addrs = 0;
		for (uint32_t i = 0; i < o.names; i++) {
			if (m.learned[i]) {
				learnable++;
				addrs += m.addr_start[i + 1] - m.addr_start[i];
			}
		}
		fprintf(stderr, "rv-loadgen: generated %" PRIu32 " frames (%zu bytes, avg %.1f) in "
			"%.2f s:", s.count, s.len, (double)s.len / s.count, el);
		for (int k = 0; k < K_COUNT; k++)
			fprintf(stderr, " %s=%" PRIu64, kind_names[k], s.per_kind[k]);
		fprintf(stderr, " v6-clients=%" PRIu64 " tcp=%" PRIu64 "; distinct learnable names=%"
			PRIu64 " addresses=%" PRIu64 "\n", s.v6_clients, s.tcp, learnable, addrs);
	}
	if (o.expect_out && (rc = write_expect(&m, o.expect_out)) < 0) {
		fprintf(stderr, "rv-loadgen: %s: %s\n", o.expect_out, strerror(-rc));
		goto out;
	}
	if (o.zone_out && (rc = write_zone(&m, o.zone_out)) < 0) {
		fprintf(stderr, "rv-loadgen: %s: %s\n", o.zone_out, strerror(-rc));
		goto out;
	}
	if (o.queries_out && (rc = write_queries(&m, o.queries_out)) < 0) {
		fprintf(stderr, "rv-loadgen: %s: %s\n", o.queries_out, strerror(-rc));
		goto out;
	}
	if (o.samples_out && (rc = write_samples(&m, o.samples_out)) < 0) {
		fprintf(stderr, "rv-loadgen: %s: %s\n", o.samples_out, strerror(-rc));
		goto out;
	}
	if (o.file && (rc = write_file(o.file, &s)) < 0)
		goto out;
	if (o.unix_path && (rc = write_live(&o, &s, TR_UNIX, o.unix_path)) < 0)
		goto out;
	if (o.tcp_addr && (rc = write_live(&o, &s, TR_TCP, o.tcp_addr)) < 0)
		goto out;
	if (o.tls_addr && (rc = write_live(&o, &s, TR_TLS, o.tls_addr)) < 0)
		goto out;
	fflush(stdout);
out:
	if (rc == -ENOMEM)
		fprintf(stderr, "rv-loadgen: out of memory\n");
	else if (rc == -EOVERFLOW)
		fprintf(stderr, "rv-loadgen: internal error: message too large\n");
	free(s.buf);
	free(s.off);
	model_free(&m);
	return rc < 0 ? 1 : 0;
}
