/* guard.c - ignore lists: CIDRs, name suffixes, server response addresses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dname.h"
#include "guard.h"

/*
 * A prefix as a 128-bit big-endian number (an IPv4 one in the top 32 bits)
 * and its mask, so that matching an address is two masked compares: every
 * learned address is tested against every entry (callgrind: the byte-wise
 * test cost 400 instructions a frame with the default list).
 */
typedef struct cidr {
	rv_addr net;
	unsigned bits;
	uint64_t hi, lo;   /* net & mask */
	uint64_t mhi, mlo; /* the mask */
} cidr;

typedef struct resp {
	rv_addr addr;
	int port; /* -1 = any */
} resp;

struct rv_guard {
	cidr *cidrs;       /* the IPv4 ones first: cidrs[0..nv4) */
	size_t ncidrs;
	size_t nv4;
	/* first[0] (IPv4), first[1] (IPv6): bit b is set when an entry of that
	 * family can match an address whose first octet is b. Most addresses
	 * match none, and one bit test answers for them instead of a scan of
	 * the family's entries (callgrind: ~60 instructions an address with
	 * the default list). */
	uint64_t first[2][4];
	char **suffixes;
	size_t nsuffixes;
	resp *resps;
	size_t nresps;
};

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* a as the 128-bit number of struct cidr. */
static inline void addr_words(const rv_addr *a, uint64_t *hi, uint64_t *lo)
{
	if (a->family == AF_INET) {
		*hi = (uint64_t)a->bytes[0] << 56 | (uint64_t)a->bytes[1] << 48 |
		      (uint64_t)a->bytes[2] << 40 | (uint64_t)a->bytes[3] << 32;
		*lo = 0;
	} else {
		*hi = load_be64(a->bytes);
		*lo = load_be64(a->bytes + 8);
	}
}

static inline bool prefix_match(uint64_t hi, uint64_t lo, const cidr *c)
{
	return (hi & c->mhi) == c->hi && (lo & c->mlo) == c->lo;
}

static int parse_cidr(const char *item, cidr *out)
{
	char buf[64];
	if (strlen(item) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, item);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (rv_addr_parse(buf, &out->net) < 0)
		return -EINVAL;
	unsigned max = out->net.family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);
		if (*end || slash[1] == '\0' || b > max)
			return -EINVAL;
		out->bits = (unsigned)b;
	}
	return 0;
}

static int parse_resp(const char *item, resp *out)
{
	char buf[80];
	if (strlen(item) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, item);
	out->port = -1;
	char *hash = strchr(buf, '#');
	if (hash) {
		*hash = '\0';
		char *end;
		unsigned long p = strtoul(hash + 1, &end, 10);
		if (*end || hash[1] == '\0' || p > 65535)
			return -EINVAL;
		out->port = (int)p;
	}
	return rv_addr_parse(buf, &out->addr);
}

/* Calls fn for each space-separated item of list; stops at the first error. */
static int each_item(const char *list, int (*fn)(void *arg, const char *item), void *arg,
		char *bad, size_t badlen)
{
	if (!list)
		return 0;
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		char item[300];
		size_t n = (size_t)(p - start);
		if (n >= sizeof(item)) {
			snprintf(bad, badlen, "%.40s...", start);
			return -EINVAL;
		}
		memcpy(item, start, n);
		item[n] = '\0';
		int rc = fn(arg, item);
		if (rc < 0) {
			snprintf(bad, badlen, "%.60s", item);
			return rc;
		}
	}
	return 0;
}

static int add_cidr(void *arg, const char *item)
{
	rv_guard *g = arg;
	cidr c;
	if (parse_cidr(item, &c) < 0)
		return -EINVAL;
	c.mhi = c.bits == 0 ? 0 : c.bits >= 64 ? UINT64_MAX : UINT64_MAX << (64 - c.bits);
	c.mlo = c.bits <= 64 ? 0 : c.bits == 128 ? UINT64_MAX : UINT64_MAX << (128 - c.bits);
	addr_words(&c.net, &c.hi, &c.lo);
	c.hi &= c.mhi;
	c.lo &= c.mlo;
	cidr *n = realloc(g->cidrs, (g->ncidrs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	g->cidrs = n;
	unsigned fam = c.net.family == AF_INET ? 0 : 1;
	uint8_t mb = (uint8_t)(c.mhi >> 56), nb = (uint8_t)(c.hi >> 56);
	for (unsigned b = 0; b < 256; b++)
		if ((b & mb) == nb)
			g->first[fam][b >> 6] |= UINT64_C(1) << (b & 63);
	/* Keep the IPv4 ones first, so an address is only tested against its
	 * own family's. */
	if (c.net.family == AF_INET) {
		memmove(&g->cidrs[g->nv4 + 1], &g->cidrs[g->nv4],
			(g->ncidrs - g->nv4) * sizeof(*n));
		g->cidrs[g->nv4++] = c;
	} else {
		g->cidrs[g->ncidrs] = c;
	}
	g->ncidrs++;
	return 0;
}

static int add_suffix(void *arg, const char *item)
{
	rv_guard *g = arg;
	char canon[RV_NAME_MAX];
	/* The form dnsmsg.c prints learned names in (dname.h): lower-case, the
	 * same escapes, no trailing dot, so the suffix compares with strcmp. */
	int len = rv_dname_canon(item[0] == '.' && item[1] != '\0' ? item + 1 : item, canon,
			sizeof(canon), NULL);
	if (len < 0 || strcmp(canon, ".") == 0)
		return -EINVAL;
	char *s = strdup(canon);
	if (!s)
		return -ENOMEM;
	char **n = realloc(g->suffixes, (g->nsuffixes + 1) * sizeof(*n));
	if (!n) {
		free(s);
		return -ENOMEM;
	}
	g->suffixes = n;
	g->suffixes[g->nsuffixes++] = s;
	return 0;
}

static int add_resp(void *arg, const char *item)
{
	rv_guard *g = arg;
	resp r;
	if (parse_resp(item, &r) < 0)
		return -EINVAL;
	resp *n = realloc(g->resps, (g->nresps + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	g->resps = n;
	g->resps[g->nresps++] = r;
	return 0;
}

rv_guard *rv_guard_new(const char *cidrs, const char *suffixes, const char *response_addrs,
		int *err, char *errbuf, size_t errlen)
{
	char bad[64] = "";
	int rc = -ENOMEM;
	rv_guard *g = calloc(1, sizeof(*g));
	if (!g)
		goto fail;
	rc = each_item(cidrs, add_cidr, g, bad, sizeof(bad));
	if (rc < 0) {
		snprintf(errbuf, errlen, "ignore-cidr '%s': expected ADDRESS or ADDRESS/BITS", bad);
		goto fail;
	}
	rc = each_item(suffixes, add_suffix, g, bad, sizeof(bad));
	if (rc < 0) {
		snprintf(errbuf, errlen, "ignore-suffix '%s': expected a domain name", bad);
		goto fail;
	}
	rc = each_item(response_addrs, add_resp, g, bad, sizeof(bad));
	if (rc < 0) {
		snprintf(errbuf, errlen, "ignore-response-address '%s': expected ADDRESS or ADDRESS#PORT",
				bad);
		goto fail;
	}
	*err = 0;
	return g;
fail:
	rv_guard_free(&g);
	*err = rc;
	return NULL;
}

void rv_guard_free(rv_guard **gp)
{
	if (!gp || !*gp)
		return;
	rv_guard *g = *gp;
	for (size_t i = 0; i < g->nsuffixes; i++)
		free(g->suffixes[i]);
	free(g->suffixes);
	free(g->cidrs);
	free(g->resps);
	free(g);
	*gp = NULL;
}

bool rv_guard_ignore_addr(const rv_guard *g, const rv_addr *a)
{
	uint64_t hi, lo;
	unsigned fam = a->family == AF_INET ? 0 : 1;
	uint8_t b0 = a->bytes[0];

	/* No entry of its family covers its first octet. An IPv6 address
	 * starting with 0 may be IPv4-mapped: the IPv4 entries decide then. */
	if ((g->first[fam][b0 >> 6] >> (b0 & 63) & 1) == 0 && (fam == 0 || b0 != 0))
		return false;
	addr_words(a, &hi, &lo);
	/* ::ffff:a.b.c.d (RFC 4291 2.5.5.2) names the IPv4 address a.b.c.d: an
	 * AAAA record holding one must not slip past the IPv4 entries of
	 * ignore-cidr (a zone could otherwise teach "::ffff:127.0.0.1" despite
	 * 127.0.0.0/8). */
	bool mapped = a->family == AF_INET6 && hi == 0 && lo >> 32 == 0xffff;
	uint64_t v4 = lo << 32;

	if (a->family == AF_INET || mapped) {
		if (mapped) {
			hi = v4;
			lo = 0;
		}
		for (size_t i = 0; i < g->nv4; i++)
			if (prefix_match(hi, lo, &g->cidrs[i]))
				return true;
		if (!mapped)
			return false;
		addr_words(a, &hi, &lo);
	}
	for (size_t i = g->nv4; i < g->ncidrs; i++)
		if (prefix_match(hi, lo, &g->cidrs[i]))
			return true;
	return false;
}

bool rv_guard_ignore_name(const rv_guard *g, const char *name)
{
	if (g->nsuffixes == 0)
		return false;
	size_t nlen = strlen(name);
	for (size_t i = 0; i < g->nsuffixes; i++) {
		const char *s = g->suffixes[i];
		size_t slen = strlen(s);
		if (nlen == slen && memcmp(name, s, slen) == 0)
			return true;
		/* Label boundary: "evil-example.com" is not under "example.com". */
		if (nlen > slen && name[nlen - slen - 1] == '.' &&
		    memcmp(name + nlen - slen, s, slen) == 0)
			return true;
	}
	return false;
}

bool rv_guard_ignore_response(const rv_guard *g, const rv_addr *addr, uint16_t port)
{
	for (size_t i = 0; i < g->nresps; i++)
		if (rv_addr_equal(addr, &g->resps[i].addr) &&
		    (g->resps[i].port < 0 || g->resps[i].port == port))
			return true;
	return false;
}
