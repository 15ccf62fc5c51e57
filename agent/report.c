/*
 * report.c - rows, summaries and the four output formats of rearview-report
 * (see report.h). Records arrive in any order (a zone file need not be sorted),
 * so owners are found through an open-addressing table keyed by address;
 * summaries are sorts of the selected rows, O(n log n) for a 1M-address zone.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <libpsl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <xxhash.h>

#include "dname.h"
#include "reconcile.h"
#include "report.h"

const char *const rv_cmp_names[RV_CMP_MAX] = {
	"", "same", "different", "nxdomain", "noanswer", "error", "timeout",
};

/* ---- TXT, leniently ---- */

static bool num_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i = 0;
	if (n == 0)
		return false;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	/* "12.0": a decimal fraction is tolerated and dropped. */
	if (i < n && s[i] == '.' && i > 0)
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
	if (i != n || (i > 0 && s[0] == '.'))
		return false;
	*v = x;
	return true;
}

static bool num_double(const char *s, size_t n, double *v)
{
	char buf[32];
	char *end;
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* Only plain decimals: strtod would also take "nan", "inf" and hex. */
	for (size_t i = 0; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || (i == 0 && buf[i] == '-')))
			return false;
	double d = strtod(buf, &end);
	if (*end != '\0' || !isfinite(d))
		return false;
	*v = d;
	return true;
}

int rv_report_txt_parse(const char *txt, size_t len, rv_report_meta *m, char *extra,
		size_t extralen)
{
	enum { K_FIRST = 1, K_LAST = 2, K_COUNT = 4 };
	unsigned have = 0;
	bool bad = false;
	size_t i = 0, xo = 0;

	memset(m, 0, sizeof(*m));
	if (extra != NULL && extralen > 0)
		extra[0] = '\0';
	while (i < len) {
		while (i < len && (txt[i] == ' ' || txt[i] == ',' || txt[i] == '\t' || txt[i] == ';' ||
				txt[i] == '"'))
			i++;
		size_t st = i;
		while (i < len && txt[i] != ' ' && txt[i] != ',' && txt[i] != '\t' && txt[i] != ';' &&
				txt[i] != '"')
			i++;
		if (i == st)
			continue;
		const char *tok = txt + st, *eq = memchr(tok, '=', i - st);
		if (eq == NULL)
			continue;  /* free text: not ours, nothing to read */
		size_t kl = (size_t)(eq - tok), vl = i - st - kl - 1;
		const char *v = eq + 1;
		uint64_t u;
#define KEY(k) (kl == sizeof(k) - 1 && strncasecmp(tok, k, kl) == 0)
		if (KEY("first") || KEY("last")) {
			if (num_u64(v, vl, &u) && u <= INT64_MAX) {
				if (KEY("first"))
					m->first = (int64_t)u, have |= K_FIRST;
				else
					m->last = (int64_t)u, have |= K_LAST;
			} else {
				bad = true;
			}
		} else if (KEY("count")) {
			if (num_u64(v, vl, &u))
				m->count = u, have |= K_COUNT;
			else
				bad = true;
		} else if (KEY("depth")) {
			if (num_u64(v, vl, &u) && u <= 255)
				m->depth = (unsigned)u;
		} else if (KEY("score")) {
			m->has_score = num_double(v, vl, &m->score);
		} else if (KEY("country")) {
			bool ok = vl >= 2 && vl <= 3;
			for (size_t k = 0; ok && k < vl; k++)
				ok = (v[k] >= 'A' && v[k] <= 'Z') || (v[k] >= 'a' && v[k] <= 'z');
			if (ok) {
				for (size_t k = 0; k < vl; k++)
					m->country[k] = (char)(v[k] & ~0x20);
				m->country[vl] = '\0';
			}
		} else {
			/* Unknown keys (trend=, update=, ...) are kept as found. */
			size_t tl = i - st;
			if (extra != NULL && xo + tl + 2 < extralen) {
				if (xo > 0)
					extra[xo++] = ' ';
				for (size_t k = 0; k < tl; k++) {
					char c = tok[k];
					extra[xo++] = c >= 0x20 && c < 0x7f ? c : '?';
				}
				extra[xo] = '\0';
			}
		}
#undef KEY
	}
	m->ok = !bad && have == (K_FIRST | K_LAST | K_COUNT) && m->first <= m->last;
	if (m->ok && m->count == 0)
		m->count = 1;
	return m->ok ? 0 : -EBADMSG;
}

/* ---- the store ---- */

/* Strings of the rows live in 1 MiB chunks, freed with the report: a malloc
 * per string costs its header and rounding (a 30-octet name took 48), and 1M
 * rows of them were most of the tool's memory. */
#define ARENA_CHUNK (1u << 20)
typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
} arena_chunk;

struct rv_report {
	char zone[RV_NAME_MAX];      /* canonical, no trailing dot */
	char hot[RV_NAME_MAX];       /* the hot zone, while its records are added */
	bool in_hot;                 /* between rv_report_hot_begin and _end */
	const psl_ctx_t *psl;
	rv_report_entry *e;
	size_t n, cap;
	uint32_t *slots;             /* index + 1; 0 empty */
	size_t nslots;
	arena_chunk *arena;
	const char **names;          /* interned names (open addressing), NULL empty */
	size_t nnames, nnslots;
	char **foreign;
	size_t nforeign, capforeign;
	size_t ndups;
	bool finished;
};

static char *arena_dup(rv_report *r, const char *s, size_t n)
{
	arena_chunk *c = r->arena;
	if (c == NULL || c->cap - c->used < n + 1) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->next = r->arena;
		c->used = 0;
		c->cap = cap;
		r->arena = c;
	}
	char *d = c->data + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

static int grow_names(rv_report *r)
{
	size_t ns = r->nnslots ? r->nnslots * 2 : 1024;
	const char **t = calloc(ns, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < r->nnslots; i++) {
		if (r->names[i] == NULL)
			continue;
		size_t h = (size_t)XXH3_64bits(r->names[i], strlen(r->names[i])) & (ns - 1);
		while (t[h])
			h = (h + 1) & (ns - 1);
		t[h] = r->names[i];
	}
	free(r->names);
	r->names = t;
	r->nnslots = ns;
	return 0;
}

/* The one copy of name s in the arena: addresses behind one CDN or hoster
 * name share it (a 1M-address zone had 5x fewer names than addresses). */
static const char *intern(rv_report *r, const char *s)
{
	size_t n = strlen(s);
	if ((r->nnames + 1) * 2 > r->nnslots && grow_names(r) < 0)
		return NULL;
	size_t h = (size_t)XXH3_64bits(s, n) & (r->nnslots - 1);
	while (r->names[h]) {
		if (strcmp(r->names[h], s) == 0)
			return r->names[h];
		h = (h + 1) & (r->nnslots - 1);
	}
	char *d = arena_dup(r, s, n);
	if (d == NULL)
		return NULL;
	r->names[h] = d;
	r->nnames++;
	return d;
}

/* The TXT as the agent writes it (rv_rpz_format_txt), from what was parsed;
 * the score and country are left out when absent, as older agents wrote it.
 * Length, or -1 when it does not fit len. */
static int canon_txt(const rv_report_meta *m, char *buf, size_t len)
{
	int k = snprintf(buf, len, "first=%" PRId64 " last=%" PRId64 " count=%" PRIu64 " depth=%u",
			m->first, m->last, m->count, m->depth);
	if (k >= 0 && (size_t)k < len && m->has_score)
		k += snprintf(buf + k, len - (size_t)k, " score=%.2f", m->score);
	if (k >= 0 && (size_t)k < len && m->country[0])
		k += snprintf(buf + k, len - (size_t)k, " country=%s", m->country);
	return k >= 0 && (size_t)k < len ? k : -1;
}

const char *rv_report_entry_txt(const rv_report_entry *e, char *buf, size_t len)
{
	if (e->txt != NULL || e->ntxt == 0)
		return e->txt;
	/* Not stored: rv_report_add found it equal to this, which fit this size. */
	if (canon_txt(&e->meta, buf, len) < 0)
		return NULL;
	return buf;
}

rv_report *rv_report_new(const char *zone, const struct psl_ctx_st *psl, int *err)
{
	rv_report *r = calloc(1, sizeof(*r));
	const char *why;

	if (r == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	if (zone == NULL || rv_dname_canon(zone, r->zone, sizeof(r->zone), &why) < 0 ||
	    strcmp(r->zone, ".") == 0) {
		free(r);
		*err = -EINVAL;
		return NULL;
	}
	r->psl = psl;
	*err = 0;
	return r;
}

void rv_report_free(rv_report **rp)
{
	rv_report *r = *rp;
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].dups);
		free(r->e[i].actual);
	}
	free(r->e);
	free(r->slots);
	free(r->names);
	while (r->arena) {
		arena_chunk *c = r->arena;
		r->arena = c->next;
		free(c);
	}
	for (size_t i = 0; i < r->nforeign; i++)
		free(r->foreign[i]);
	free(r->foreign);
	free(r);
	*rp = NULL;
}

static size_t addr_hash(const rv_addr *a)
{
	return (size_t)XXH3_64bits(a, sizeof(*a));
}

static int grow_slots(rv_report *r)
{
	size_t ns = r->nslots ? r->nslots * 2 : 1024;
	uint32_t *s = calloc(ns, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		size_t h = addr_hash(&r->e[i].addr) & (ns - 1);
		while (s[h])
			h = (h + 1) & (ns - 1);
		s[h] = (uint32_t)(i + 1);
	}
	free(r->slots);
	r->slots = s;
	r->nslots = ns;
	return 0;
}

static rv_report_entry *entry_for(rv_report *r, const rv_addr *a)
{
	if (r->n >= UINT32_MAX - 1)
		return NULL;
	if ((r->n + 1) * 2 > r->nslots && grow_slots(r) < 0)
		return NULL;
	size_t h = addr_hash(a) & (r->nslots - 1);
	while (r->slots[h]) {
		rv_report_entry *e = &r->e[r->slots[h] - 1];
		if (memcmp(&e->addr, a, sizeof(*a)) == 0)
			return e;
		h = (h + 1) & (r->nslots - 1);
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 256;
		rv_report_entry *ne = realloc(r->e, nc * sizeof(*ne));
		if (ne == NULL)
			return NULL;
		r->e = ne;
		r->cap = nc;
	}
	rv_report_entry *e = &r->e[r->n];
	memset(e, 0, sizeof(*e));
	e->addr = *a;
	r->slots[h] = (uint32_t)(++r->n);
	return e;
}

static int add_foreign(rv_report *r, const char *owner, const char *type, const char *why)
{
	if (r->nforeign == r->capforeign) {
		size_t nc = r->capforeign ? r->capforeign * 2 : 16;
		char **nf = realloc(r->foreign, nc * sizeof(*nf));
		if (nf == NULL)
			return -ENOMEM;
		r->foreign = nf;
		r->capforeign = nc;
	}
	char *s;
	if (asprintf(&s, "%s %s (%s)", owner, type, why) < 0)
		return -ENOMEM;
	r->foreign[r->nforeign++] = s;
	return 0;
}

/* Printable copy of TXT bytes in the arena: other octets as \DDD, so
 * nothing in the stored text is a control character. */
static const char *txt_copy(rv_report *r, const uint8_t *t, size_t n)
{
	char *s = malloc(n * 4 + 1), *p = s;
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (t[i] >= 0x20 && t[i] < 0x7f && t[i] != '\\')
			*p++ = (char)t[i];
		else
			p += sprintf(p, "\\%03u", t[i]);
	}
	const char *d = arena_dup(r, s, (size_t)(p - s));
	free(s);
	return d;
}

int rv_report_hot_begin(rv_report *r, const char *hot)
{
	const char *why;
	if (hot == NULL || rv_dname_canon(hot, r->hot, sizeof(r->hot), &why) < 0 ||
	    strcmp(r->hot, ".") == 0 || strcmp(r->hot, r->zone) == 0)
		return -EINVAL;
	r->in_hot = true;
	return 0;
}

void rv_report_hot_end(rv_report *r)
{
	r->in_hot = false;
}

int rv_report_add(rv_report *r, const char *owner, const char *type, const char *ptr,
		const uint8_t *txt, size_t txtlen)
{
	char o[RV_NAME_MAX], t[RV_NAME_MAX];
	const char *why, *zone = r->in_hot ? r->hot : r->zone;
	rv_report_entry *e = NULL;
	rv_addr a;

	if (rv_dname_canon(owner, o, sizeof(o), &why) < 0)
		return add_foreign(r, owner, type, "bad owner name");
	bool apex = strcmp(o, zone) == 0;
	if (strcasecmp(type, "TSIG") == 0)
		return 0;
	if (apex && (strcasecmp(type, "SOA") == 0 || strcasecmp(type, "NS") == 0))
		return 0;
	bool at_addr = rv_rpz_owner_to_addr(o, zone, &a) == 0;
	/* Any record at an address owner of the hot zone makes named answer
	 * that address from the hot zone: mark it, even if the record itself
	 * is foreign (an entry left without PTR and TXT is dropped at finish). */
	if (at_addr && r->in_hot) {
		if ((e = entry_for(r, &a)) == NULL)
			return -ENOMEM;
		e->hot = true;
	}
	bool is_ptr = strcasecmp(type, "PTR") == 0 && ptr != NULL;
	bool is_txt = strcasecmp(type, "TXT") == 0 && txt != NULL;
	if (!is_ptr && !is_txt)
		return add_foreign(r, o, type, apex ? "at the apex" : "not PTR or TXT");
	if (!at_addr)
		return add_foreign(r, o, type, "owner outside the reverse trees");
	if (is_ptr && (rv_dname_canon(ptr, t, sizeof(t), &why) < 0 || strcmp(t, ".") == 0 ||
			t[0] == '*'))
		/* "." and "*." are RPZ actions (NXDOMAIN, NODATA), not names. */
		return add_foreign(r, o, type, "PTR target is an RPZ action");
	if (e == NULL && (e = entry_for(r, &a)) == NULL)
		return -ENOMEM;
	if (e->hot && !r->in_hot)
		return 0;  /* the main zone's older copy of a hot address */
	if (is_ptr) {
		if (e->nptr++ == 0) {
			if ((e->name = intern(r, t)) == NULL)
				return -ENOMEM;
		} else {
			size_t ol = e->dups ? strlen(e->dups) : 0;
			char *d = realloc(e->dups, ol + strlen(t) + 2);
			if (d == NULL)
				return -ENOMEM;
			if (ol)
				d[ol++] = ' ';
			strcpy(d + ol, t);
			e->dups = d;
			if (e->nptr == 2)
				r->ndups++;
		}
	} else if (e->ntxt++ == 0) {
		char extra[256], canon[RV_REPORT_TXT_BUF];
		(void)rv_report_txt_parse((const char *)txt, txtlen, &e->meta, extra, sizeof(extra));
		/* Most TXTs are the agent's own, which meta rebuilds octet for octet:
		 * only the others are stored (80-100 octets a row otherwise). */
		int cl = canon_txt(&e->meta, canon, sizeof(canon));
		if ((cl < 0 || (size_t)cl != txtlen || memcmp(canon, txt, txtlen) != 0) &&
		    (e->txt = txt_copy(r, txt, txtlen)) == NULL)
			return -ENOMEM;
		if (extra[0] && (e->extra = arena_dup(r, extra, strlen(extra))) == NULL)
			return -ENOMEM;
	}
	return 0;
}

const char *rv_report_regdom(const rv_report *r, const char *name)
{
	if (r->psl != NULL) {
		const char *d = psl_registrable_domain(r->psl, name);
		return d ? d : name;
	}
	/* Without a list: the last two labels (escapes are not dots). */
	const char *p = name + strlen(name), *d = name;
	int dots = 0;
	while (p > name) {
		p--;
		if (*p == '.' && (p == name || p[-1] != '\\') && ++dots == 2) {
			d = p + 1;
			break;
		}
	}
	return d;
}

static int cmp_addr(const void *a, const void *b)
{
	const rv_report_entry *x = a, *y = b;
	if (x->addr.family != y->addr.family)
		return x->addr.family == AF_INET ? -1 : 1;
	return memcmp(x->addr.bytes, y->addr.bytes, 16);
}

int rv_report_finish(rv_report *r)
{
	size_t k = 0;
	char buf[RV_ADDR_STRLEN];

	for (size_t i = 0; i < r->n; i++) {
		rv_report_entry *e = &r->e[i];
		if (e->nptr == 0) {
			char o[RV_ADDR_STRLEN + 16];
			snprintf(o, sizeof(o), "%s", rv_addr_str(&e->addr, buf, sizeof(buf)));
			for (unsigned j = 0; j < e->ntxt; j++)
				if (add_foreign(r, o, "TXT", "TXT without PTR") < 0)
					return -ENOMEM;
			continue;  /* its strings stay in the arena until the report is freed */
		}
		e->regdom = rv_report_regdom(r, e->name);
		r->e[k++] = *e;
	}
	r->n = k;
	/* Addresses found by index from now on, names never added again: the
	 * hashes are not needed. */
	free(r->slots);
	r->slots = NULL;
	r->nslots = 0;
	free(r->names);
	r->names = NULL;
	r->nnslots = 0;
	if (r->n > 1)  /* qsort(NULL, 0, ...) is undefined */
		qsort(r->e, r->n, sizeof(*r->e), cmp_addr);
	r->finished = true;
	return 0;
}

size_t rv_report_count(const rv_report *r) { return r->n; }
rv_report_entry *rv_report_entry_at(rv_report *r, size_t i) { return i < r->n ? &r->e[i] : NULL; }
size_t rv_report_foreign_count(const rv_report *r) { return r->nforeign; }
const char *rv_report_foreign_at(const rv_report *r, size_t i)
{
	return i < r->nforeign ? r->foreign[i] : NULL;
}
size_t rv_report_dup_count(const rv_report *r) { return r->ndups; }

/* ---- filters ---- */

int rv_report_parse_time(const char *s, int64_t now, int64_t *t)
{
	char *end;
	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (s[0] == '-') {
		errno = 0;
		long long v = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || v < 0 || v > 100LL * 365 * 86400)
			return -EINVAL;
		int64_t mul;
		if (strcmp(end, "s") == 0 || *end == '\0')
			mul = 1;
		else if (strcmp(end, "m") == 0)
			mul = 60;
		else if (strcmp(end, "h") == 0)
			mul = 3600;
		else if (strcmp(end, "d") == 0)
			mul = 86400;
		else if (strcmp(end, "w") == 0)
			mul = 604800;
		else
			return -EINVAL;
		*t = now - (int64_t)v * mul;
		return 0;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < 0)
		return -EINVAL;
	*t = v;
	return 0;
}

static bool name_under(const char *name, const char *dom)
{
	size_t nl = strlen(name), dl = strlen(dom);
	if (dl == 0)
		return true;
	if (nl < dl || strcasecmp(name + nl - dl, dom) != 0)
		return false;
	return nl == dl || name[nl - dl - 1] == '.';
}

bool rv_report_selected(const rv_report_entry *e, const rv_report_opts *o)
{
	if (o->since && (!e->meta.ok || e->meta.last < o->since))
		return false;
	if (o->until && (!e->meta.ok || e->meta.last > o->until))
		return false;
	if (o->domain && *o->domain && !name_under(e->name, o->domain))
		return false;
	if (o->cidr.family) {
		if (e->addr.family != o->cidr.family)
			return false;
		unsigned bits = o->cidr_bits, full = bits / 8, rem = bits % 8;
		if (memcmp(e->addr.bytes, o->cidr.bytes, full) != 0)
			return false;
		if (rem && ((e->addr.bytes[full] ^ o->cidr.bytes[full]) & (0xff00u >> rem) & 0xff))
			return false;
	}
	return true;
}

/* ---- escaping ---- */

void rv_report_escape(FILE *f, int kind, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL)
		return;
	if (kind == 'c') {
		/* RFC 4180 quoting; a leading = + - @ (or tab/CR) would make a
		 * spreadsheet evaluate the field, so such fields get a leading '. */
		bool formula = s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
		bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
		if (!quote) {
			fputs(s, f);
			return;
		}
		fputc('"', f);
		if (formula)
			fputc('\'', f);
		for (; *p; p++) {
			if (*p == '"')
				fputc('"', f);
			fputc(*p, f);
		}
		fputc('"', f);
		return;
	}
	for (; *p; p++) {
		unsigned c = *p;
		switch (kind) {
		case 'h':
			if (c == '<') fputs("&lt;", f);
			else if (c == '>') fputs("&gt;", f);
			else if (c == '&') fputs("&amp;", f);
			else if (c == '"') fputs("&quot;", f);
			else if (c == '\'') fputs("&#39;", f);
			else if (c < 0x20 || c == 0x7f) fprintf(f, "&#%u;", c == 0 ? 0xfffd : c + 0x2400);
			else fputc((int)c, f);
			break;
		case 'j':
			if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
			else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
			/* "</script>" inside JSON embedded in HTML: never a bare "</". */
			else if (c == '<' || c == '>' || c == '&') fprintf(f, "\\u%04x", c);
			else if (c >= 0x80) fprintf(f, "\\u%04x", c);  /* names are octets, not UTF-8 */
			else fputc((int)c, f);
			break;
		default:
			if (c < 0x20 || c >= 0x7f) fprintf(f, "\\%03u", c);
			else fputc((int)c, f);
			break;
		}
	}
}

/* ---- summaries ---- */

typedef struct group {
	const char *key;
	uint64_t naddr, count;
} group;

typedef struct keyed {
	const char *key;
	uint64_t count;
} keyed;

enum { AGE_BUCKETS = 7 };
static const char *const age_labels[AGE_BUCKETS] = {
	"< 1 hour", "1 hour - 1 day", "1 - 7 days", "7 - 30 days", "30 - 90 days", "> 90 days",
	"no statistics",
};

typedef struct summary {
	size_t *sel, nsel;
	uint64_t v4, v6, weak;
	group *dom, *dom_c, *names, *names_c, *ctry, *actual;
	size_t ndom, nnames, nctry, nactual;
	int64_t hbucket, hstart;
	size_t nh;
	uint64_t *hfirst, *hlast;
	uint64_t age[AGE_BUCKETS];
	uint64_t cmp[RV_CMP_MAX];
	size_t *weak_idx, nweak_idx;  /* weak guesses, lowest score first */
} summary;

static int cmp_keyed(const void *a, const void *b)
{
	return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}
static int by_naddr(const void *a, const void *b)
{
	const group *x = a, *y = b;
	if (x->naddr != y->naddr)
		return x->naddr < y->naddr ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}
static int by_count(const void *a, const void *b)
{
	const group *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->naddr != y->naddr)
		return x->naddr < y->naddr ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* Groups the selected rows by key(e) (NULL: left out), sorted by addresses. */
static int group_by(rv_report *r, const summary *s, const char *(*key)(const rv_report_entry *),
		group **out, size_t *nout)
{
	keyed *k = malloc((s->nsel ? s->nsel : 1) * sizeof(*k));
	group *g = malloc((s->nsel ? s->nsel : 1) * sizeof(*g));
	size_t nk = 0, ng = 0;

	if (k == NULL || g == NULL) {
		free(k);
		free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nsel; i++) {
		const rv_report_entry *e = &r->e[s->sel[i]];
		const char *kv = key(e);
		if (kv != NULL)
			k[nk++] = (keyed){kv, e->meta.ok ? e->meta.count : 0};
	}
	qsort(k, nk, sizeof(*k), cmp_keyed);
	for (size_t i = 0; i < nk; i++) {
		if (ng == 0 || strcmp(g[ng - 1].key, k[i].key) != 0)
			g[ng++] = (group){k[i].key, 0, 0};
		g[ng - 1].naddr++;
		g[ng - 1].count += k[i].count;
	}
	free(k);
	qsort(g, ng, sizeof(*g), by_naddr);
	*out = g;
	*nout = ng;
	return 0;
}

static const char *key_regdom(const rv_report_entry *e) { return e->regdom; }
static const char *key_name(const rv_report_entry *e) { return e->name; }
static const char *key_country(const rv_report_entry *e)
{
	return e->meta.country[0] ? e->meta.country : "--";
}
static const char *key_actual(const rv_report_entry *e)
{
	return e->actual_regdom;
}

static bool is_weak(const rv_report_entry *e, const rv_report_opts *o)
{
	return !e->meta.ok || !e->meta.has_score || e->meta.score < o->weak_score;
}

static rv_report *weak_sort_r;
static int by_score(const void *a, const void *b)
{
	const rv_report_entry *x = &weak_sort_r->e[*(const size_t *)a];
	const rv_report_entry *y = &weak_sort_r->e[*(const size_t *)b];
	double sx = x->meta.has_score ? x->meta.score : -1, sy = y->meta.has_score ? y->meta.score : -1;
	if (sx != sy)
		return sx < sy ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static void summary_free(summary *s)
{
	free(s->sel);
	free(s->dom);
	free(s->dom_c);
	free(s->names);
	free(s->names_c);
	free(s->ctry);
	free(s->actual);
	free(s->hfirst);
	free(s->hlast);
	free(s->weak_idx);
	memset(s, 0, sizeof(*s));
}

static group *copy_by_count(const group *g, size_t n)
{
	group *c = malloc((n ? n : 1) * sizeof(*c));
	if (c == NULL)
		return NULL;
	memcpy(c, g, n * sizeof(*c));
	qsort(c, n, sizeof(*c), by_count);
	return c;
}

static int summarize(rv_report *r, const rv_report_opts *o, summary *s)
{
	int64_t tmin = INT64_MAX, tmax = INT64_MIN;

	memset(s, 0, sizeof(*s));
	s->sel = malloc((r->n ? r->n : 1) * sizeof(*s->sel));
	s->weak_idx = malloc((r->n ? r->n : 1) * sizeof(*s->weak_idx));
	if (s->sel == NULL || s->weak_idx == NULL)
		goto nomem;
	for (size_t i = 0; i < r->n; i++) {
		const rv_report_entry *e = &r->e[i];
		if (!rv_report_selected(e, o))
			continue;
		s->sel[s->nsel++] = i;
		if (e->addr.family == AF_INET)
			s->v4++;
		else
			s->v6++;
		if (is_weak(e, o)) {
			s->weak++;
			s->weak_idx[s->nweak_idx++] = i;
		}
		s->cmp[e->cmp]++;
		if (!e->meta.ok) {
			s->age[AGE_BUCKETS - 1]++;
			continue;
		}
		int64_t age = o->now - e->meta.first;
		s->age[age < 3600 ? 0 : age < 86400 ? 1 : age < 7 * 86400 ? 2 : age < 30 * 86400 ? 3
			: age < 90 * 86400 ? 4 : 5]++;
		if (e->meta.first < tmin)
			tmin = e->meta.first;
		if (e->meta.last > tmax)
			tmax = e->meta.last;
	}
	weak_sort_r = r;
	qsort(s->weak_idx, s->nweak_idx, sizeof(*s->weak_idx), by_score);
	if (group_by(r, s, key_regdom, &s->dom, &s->ndom) < 0 ||
	    group_by(r, s, key_name, &s->names, &s->nnames) < 0 ||
	    group_by(r, s, key_country, &s->ctry, &s->nctry) < 0 ||
	    group_by(r, s, key_actual, &s->actual, &s->nactual) < 0)
		goto nomem;
	if ((s->dom_c = copy_by_count(s->dom, s->ndom)) == NULL ||
	    (s->names_c = copy_by_count(s->names, s->nnames)) == NULL)
		goto nomem;
	/* Histogram buckets: hours when the data spans up to 3 days, days up to
	 * 120 days, weeks beyond; at most a few hundred bars either way. */
	if (tmin <= tmax) {
		int64_t span = tmax - tmin;
		s->hbucket = span <= 3 * 86400 ? 3600 : span <= 120 * 86400 ? 86400 : 7 * 86400;
		while (span / s->hbucket >= 400)
			s->hbucket *= 2;
		s->hstart = tmin - tmin % s->hbucket;
		s->nh = (size_t)((tmax - s->hstart) / s->hbucket) + 1;
		s->hfirst = calloc(s->nh, sizeof(*s->hfirst));
		s->hlast = calloc(s->nh, sizeof(*s->hlast));
		if (s->hfirst == NULL || s->hlast == NULL)
			goto nomem;
		for (size_t i = 0; i < s->nsel; i++) {
			const rv_report_entry *e = &r->e[s->sel[i]];
			if (!e->meta.ok)
				continue;
			s->hfirst[(e->meta.first - s->hstart) / s->hbucket]++;
			s->hlast[(e->meta.last - s->hstart) / s->hbucket]++;
		}
	}
	return 0;
nomem:
	summary_free(s);
	return -ENOMEM;
}

/* ---- text helpers ---- */

static const char *iso(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, t);
	return buf;
}

static unsigned topn(const rv_report_opts *o, size_t n)
{
	return (unsigned)(o->top && o->top < n ? o->top : n);
}

static const char *fam(const rv_addr *a) { return a->family == AF_INET ? "4" : "6"; }

/* ---- table ---- */

static void t_groups(FILE *f, const char *title, const group *g, size_t n, const rv_report_opts *o)
{
	fprintf(f, "\n%s\n  %9s %12s  %s\n", title, "ADDRESSES", "COUNT", "KEY");
	for (unsigned i = 0; i < topn(o, n); i++) {
		fprintf(f, "  %9" PRIu64 " %12" PRIu64 "  ", g[i].naddr, g[i].count);
		rv_report_escape(f, 't', g[i].key);
		fputc('\n', f);
	}
	if (n == 0)
		fputs("  (none)\n", f);
}

static void t_hist(FILE *f, const char *title, const summary *s, const uint64_t *h)
{
	char b[32];
	uint64_t max = 0;
	fprintf(f, "\n%s (bucket %s)\n", title, s->hbucket == 3600 ? "1 hour" :
			s->hbucket == 86400 ? "1 day" : "1 week or more");
	for (size_t i = 0; i < s->nh; i++)
		if (h[i] > max)
			max = h[i];
	/* A terminal shows the most recent 48 buckets; JSON and HTML have all. */
	size_t from = s->nh > 48 ? s->nh - 48 : 0;
	if (from > 0) {
		uint64_t before = 0;
		for (size_t i = 0; i < from; i++)
			before += h[i];
		fprintf(f, "  (%zu earlier buckets: %" PRIu64 " addresses; all of them in --format json"
				" and --html)\n", from, before);
	}
	for (size_t i = from; i < s->nh; i++) {
		int w = max ? (int)(h[i] * 50 / max) : 0;
		fprintf(f, "  %s %9" PRIu64 " %.*s\n", iso(s->hstart + (int64_t)i * s->hbucket, b, sizeof(b)),
				h[i], w, "##################################################");
	}
	if (s->nh == 0)
		fputs("  (no statistics)\n", f);
}

/* Column widths of the per-address table: names are canonical text (every
 * octet outside 0x21..0x7e already a \DDD escape), so strlen is their width. */
typedef struct widths {
	int addr, name, dom;
} widths;

static void pad(FILE *f, const char *s, int w)
{
	int n = (int)strlen(s);
	rv_report_escape(f, 't', s);
	for (; n < w; n++)
		fputc(' ', f);
}

static void t_row(FILE *f, const rv_report_entry *e, const widths *w)
{
	char a[RV_ADDR_STRLEN], b1[32], b2[32];
	fprintf(f, "%-*s %s  ", w->addr, rv_addr_str(&e->addr, a, sizeof(a)), fam(&e->addr));
	pad(f, e->name, w->name);
	fputs("  ", f);
	pad(f, e->regdom, w->dom);
	if (e->meta.ok)
		fprintf(f, "  %s  %s  %7" PRIu64 " %5u", iso(e->meta.first, b1, sizeof(b1)),
				iso(e->meta.last, b2, sizeof(b2)), e->meta.count, e->meta.depth);
	else
		fprintf(f, "  %-20s  %-20s  %7s %5s", "-", "-", "-", "-");
	if (e->meta.has_score)
		fprintf(f, " %8.2f", e->meta.score);
	else
		fprintf(f, " %8s", "-");
	fprintf(f, "  %s", e->meta.country[0] ? e->meta.country : "--");
	if (e->cmp) {
		fprintf(f, "  real=");
		rv_report_escape(f, 't', e->actual ? e->actual : "-");
		fprintf(f, " (%s)", rv_cmp_names[e->cmp]);
	}
	fputc('\n', f);
}

static widths t_widths(rv_report *r, const summary *s)
{
	widths w = {7, 4, 10};
	char a[RV_ADDR_STRLEN];
	for (size_t i = 0; i < s->nsel; i++) {
		const rv_report_entry *e = &r->e[s->sel[i]];
		int n = (int)strlen(rv_addr_str(&e->addr, a, sizeof(a)));
		if (n > w.addr)
			w.addr = n;
		n = (int)strlen(e->name);
		if (n > w.name)
			w.name = n < 48 ? n : 48;  /* longer ones push their row only */
		n = (int)strlen(e->regdom);
		if (n > w.dom)
			w.dom = n < 32 ? n : 32;
	}
	return w;
}

static void header_line(FILE *f, rv_report *r, const rv_report_opts *o, const summary *s)
{
	fprintf(f, "rearview report: ");
	rv_report_escape(f, 't', o->source);
	if (o->serial)
		fprintf(f, ", serial %u", o->serial);
	fprintf(f, "\naddresses: %zu of %zu selected (IPv4 %" PRIu64 ", IPv6 %" PRIu64
			"); foreign records: %zu; owners with duplicate PTRs: %zu; weak guesses: %" PRIu64
			"\n", s->nsel, r->n, s->v4, s->v6, r->nforeign, r->ndups, s->weak);
}

static void t_compare(FILE *f, rv_report *r, const rv_report_opts *o, const summary *s)
{
	uint64_t n = 0;
	for (int c = 1; c < RV_CMP_MAX; c++)
		n += s->cmp[c];
	fprintf(f, "\nReal PTR (--compare-ptr) of %" PRIu64 " addresses%s%s\n", n,
			o->compare_note && *o->compare_note ? ": INCOMPLETE, " : "",
			o->compare_note ? o->compare_note : "");
	for (int c = 1; c < RV_CMP_MAX; c++)
		fprintf(f, "  %-10s %9" PRIu64 "  %5.1f%%\n", rv_cmp_names[c], s->cmp[c],
				n ? 100.0 * (double)s->cmp[c] / (double)n : 0.0);
	t_groups(f, "Top actual registered domains", s->actual, s->nactual, o);
	fputs("\nDisagreements (synthesized vs real)\n", f);
	unsigned shown = 0;
	for (size_t i = 0; i < s->nsel && (!o->top || shown < o->top); i++) {
		const rv_report_entry *e = &r->e[s->sel[i]];
		if (e->cmp != RV_CMP_DIFFERENT)
			continue;
		char a[RV_ADDR_STRLEN];
		fprintf(f, "  %-39s ", rv_addr_str(&e->addr, a, sizeof(a)));
		rv_report_escape(f, 't', e->name);
		fputs("  real ", f);
		rv_report_escape(f, 't', e->actual);
		fputc('\n', f);
		shown++;
	}
	if (shown == 0)
		fputs("  (none)\n", f);
}

static void write_table(FILE *f, rv_report *r, const rv_report_opts *o, const summary *s)
{
	header_line(f, r, o, s);
	widths w = t_widths(r, s);
	fprintf(f, "\n%-*s F  %-*s  %-*s  %-20s  %-20s  %7s %5s %8s  CC\n", w.addr, "ADDRESS",
			w.name, "NAME", w.dom, "REGISTERED", "FIRST", "LAST", "COUNT", "DEPTH", "SCORE");
	for (size_t i = 0; i < s->nsel; i++)
		t_row(f, &r->e[s->sel[i]], &w);
	t_groups(f, "Top registered domains by addresses", s->dom, s->ndom, o);
	t_groups(f, "Top registered domains by count", s->dom_c, s->ndom, o);
	t_groups(f, "Names with the most addresses", s->names, s->nnames, o);
	t_groups(f, "Top names by count", s->names_c, s->nnames, o);
	t_groups(f, "Countries", s->ctry, s->nctry, o);
	fprintf(f, "\nFamilies\n  IPv4 %9" PRIu64 "\n  IPv6 %9" PRIu64 "\n", s->v4, s->v6);
	t_hist(f, "First seen", s, s->hfirst);
	t_hist(f, "Last seen", s, s->hlast);
	fputs("\nAge (now - first seen)\n", f);
	for (int i = 0; i < AGE_BUCKETS; i++)
		fprintf(f, "  %-15s %9" PRIu64 "\n", age_labels[i], s->age[i]);
	fprintf(f, "\nWeak guesses (score < %.2f or no usable TXT), lowest first\n", o->weak_score);
	for (unsigned i = 0; i < topn(o, s->nweak_idx); i++)
		t_row(f, &r->e[s->weak_idx[i]], &w);
	if (s->nweak_idx == 0)
		fputs("  (none)\n", f);
	fputs("\nOwners with duplicate PTRs\n", f);
	for (size_t i = 0; i < s->nsel; i++) {
		const rv_report_entry *e = &r->e[s->sel[i]];
		if (e->nptr < 2)
			continue;
		char a[RV_ADDR_STRLEN];
		fprintf(f, "  %s: ", rv_addr_str(&e->addr, a, sizeof(a)));
		rv_report_escape(f, 't', e->name);
		fputc(' ', f);
		rv_report_escape(f, 't', e->dups);
		fputc('\n', f);
	}
	if (r->ndups == 0)
		fputs("  (none)\n", f);
	fprintf(f, "\nRecords that are not ours: %zu%s\n", r->nforeign,
			r->nforeign && !o->list_foreign ? " (list them with --list-foreign)" : "");
	for (size_t i = 0; o->list_foreign && i < r->nforeign; i++) {
		fputs("  ", f);
		rv_report_escape(f, 't', r->foreign[i]);
		fputc('\n', f);
	}
	if (o->compared)
		t_compare(f, r, o, s);
}

/* ---- CSV: one row per selected address ---- */

static void write_csv(FILE *f, rv_report *r, const rv_report_opts *o, const summary *s)
{
	(void)o;
	fputs("address,family,name,registered_domain,first,last,count,depth,score,country,"
			"txt_ok,ptr_count,other_ptrs,extra,actual_ptr,actual_registered_domain,compare\n", f);
	for (size_t i = 0; i < s->nsel; i++) {
		const rv_report_entry *e = &r->e[s->sel[i]];
		char a[RV_ADDR_STRLEN];
		fprintf(f, "%s,%s,", rv_addr_str(&e->addr, a, sizeof(a)), fam(&e->addr));
		rv_report_escape(f, 'c', e->name);
		fputc(',', f);
		rv_report_escape(f, 'c', e->regdom);
		if (e->meta.ok)
			fprintf(f, ",%" PRId64 ",%" PRId64 ",%" PRIu64 ",%u,", e->meta.first, e->meta.last,
					e->meta.count, e->meta.depth);
		else
			fputs(",,,,,", f);
		if (e->meta.has_score)
			fprintf(f, "%.2f", e->meta.score);
		fprintf(f, ",%s,%d,%u,", e->meta.country, e->meta.ok, e->nptr);
		rv_report_escape(f, 'c', e->dups ? e->dups : "");
		fputc(',', f);
		rv_report_escape(f, 'c', e->extra ? e->extra : "");
		fputc(',', f);
		rv_report_escape(f, 'c', e->actual ? e->actual : "");
		fputc(',', f);
		rv_report_escape(f, 'c', e->actual_regdom ? e->actual_regdom : "");
		fprintf(f, ",%s\n", rv_cmp_names[e->cmp]);
	}
}

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	rv_report_escape(f, 'j', s);
	fputc('"', f);
}

static void j_groups(FILE *f, const char *name, const group *g, size_t n, const rv_report_opts *o)
{
	fprintf(f, ",\n\"%s\":[", name);
	for (unsigned i = 0; i < topn(o, n); i++) {
		fputs(i ? ",\n {\"key\":" : "\n {\"key\":", f);
		jstr(f, g[i].key);
		fprintf(f, ",\"addresses\":%" PRIu64 ",\"count\":%" PRIu64 "}", g[i].naddr, g[i].count);
	}
	fputs("]", f);
}

static void j_entry(FILE *f, const rv_report_entry *e)
{
	char a[RV_ADDR_STRLEN];
	fprintf(f, "{\"address\":\"%s\",\"family\":%s,\"name\":", rv_addr_str(&e->addr, a, sizeof(a)),
			fam(&e->addr));
	jstr(f, e->name);
	fputs(",\"registered_domain\":", f);
	jstr(f, e->regdom);
	if (e->meta.ok)
		fprintf(f, ",\"first\":%" PRId64 ",\"last\":%" PRId64 ",\"count\":%" PRIu64
				",\"depth\":%u", e->meta.first, e->meta.last, e->meta.count, e->meta.depth);
	else
		fputs(",\"first\":null,\"last\":null,\"count\":null,\"depth\":null", f);
	if (e->meta.has_score)
		fprintf(f, ",\"score\":%.2f", e->meta.score);
	else
		fputs(",\"score\":null", f);
	fputs(",\"country\":", f);
	jstr(f, e->meta.country[0] ? e->meta.country : NULL);
	fprintf(f, ",\"txt_ok\":%s,\"ptr_count\":%u,\"txt\":", e->meta.ok ? "true" : "false", e->nptr);
	char tb[RV_REPORT_TXT_BUF];
	jstr(f, rv_report_entry_txt(e, tb, sizeof(tb)));
	fputs(",\"extra\":", f);
	jstr(f, e->extra);
	fputs(",\"other_ptrs\":", f);
	jstr(f, e->dups);
	if (e->cmp) {
		fputs(",\"actual_ptr\":", f);
		jstr(f, e->actual);
		fputs(",\"actual_registered_domain\":", f);
		jstr(f, e->actual_regdom);
		fprintf(f, ",\"compare\":\"%s\"", rv_cmp_names[e->cmp]);
	}
	fputc('}', f);
}

static void j_hist(FILE *f, const char *name, const summary *s, const uint64_t *h)
{
	fprintf(f, ",\n\"%s\":{\"bucket_seconds\":%" PRId64 ",\"buckets\":[", name, s->hbucket);
	for (size_t i = 0; i < s->nh; i++)
		fprintf(f, "%s{\"start\":%" PRId64 ",\"addresses\":%" PRIu64 "}", i ? "," : "",
				s->hstart + (int64_t)i * s->hbucket, h[i]);
	fputs("]}", f);
}

static void write_json(FILE *f, rv_report *r, const rv_report_opts *o, const summary *s)
{
	fputs("{\"format\":\"rearview-report/1\",\"source\":", f);
	jstr(f, o->source);
	fprintf(f, ",\"serial\":%u,\"generated\":%" PRId64 ",\"complete\":%s,\"compare_note\":", o->serial,
			o->now, o->compare_note && *o->compare_note ? "false" : "true");
	jstr(f, o->compare_note && *o->compare_note ? o->compare_note : NULL);
	fprintf(f, ",\n\"totals\":{\"addresses\":%zu,\"selected\":%zu,\"ipv4\":%" PRIu64 ",\"ipv6\":%"
			PRIu64 ",\"foreign\":%zu,\"duplicate_ptr_owners\":%zu,\"weak\":%" PRIu64 "}",
			r->n, s->nsel, s->v4, s->v6, r->nforeign, r->ndups, s->weak);
	fputs(",\n\"addresses\":[", f);
	for (size_t i = 0; i < s->nsel; i++) {
		fputs(i ? ",\n " : "\n ", f);
		j_entry(f, &r->e[s->sel[i]]);
	}
	fputs("]", f);
	j_groups(f, "top_domains_by_addresses", s->dom, s->ndom, o);
	j_groups(f, "top_domains_by_count", s->dom_c, s->ndom, o);
	j_groups(f, "top_names_by_addresses", s->names, s->nnames, o);
	j_groups(f, "top_names_by_count", s->names_c, s->nnames, o);
	j_groups(f, "countries", s->ctry, s->nctry, o);
	j_hist(f, "first_seen", s, s->hfirst);
	j_hist(f, "last_seen", s, s->hlast);
	fputs(",\n\"ages\":[", f);
	for (int i = 0; i < AGE_BUCKETS; i++) {
		fprintf(f, "%s{\"label\":\"%s\",\"addresses\":%" PRIu64 "}", i ? "," : "", age_labels[i],
				s->age[i]);
	}
	fprintf(f, "],\n\"weak_score_below\":%.2f,\"weak\":[", o->weak_score);
	for (unsigned i = 0; i < topn(o, s->nweak_idx); i++) {
		char a[RV_ADDR_STRLEN];
		fprintf(f, "%s\"%s\"", i ? "," : "", rv_addr_str(&r->e[s->weak_idx[i]].addr, a, sizeof(a)));
	}
	fputs("],\n\"foreign\":[", f);
	for (size_t i = 0; o->list_foreign && i < r->nforeign; i++) {
		fputs(i ? "," : "", f);
		jstr(f, r->foreign[i]);
	}
	fputs("]", f);
	if (o->compared) {
		fputs(",\n\"compare\":{\"counts\":{", f);
		for (int c = 1; c < RV_CMP_MAX; c++)
			fprintf(f, "%s\"%s\":%" PRIu64, c > 1 ? "," : "", rv_cmp_names[c], s->cmp[c]);
		fputs("}", f);
		j_groups(f, "top_actual_domains", s->actual, s->nactual, o);
		fputs("}", f);
	}
	fputs("}\n", f);
}

static int ensure(FILE *f)
{
	return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

int rv_report_write(rv_report *r, const rv_report_opts *o, int fmt, FILE *f)
{
	summary s;
	if (summarize(r, o, &s) < 0)
		return -ENOMEM;
	if (fmt == 'c')
		write_csv(f, r, o, &s);
	else if (fmt == 'j')
		write_json(f, r, o, &s);
	else
		write_table(f, r, o, &s);
	summary_free(&s);
	return ensure(f);
}

/* ---- HTML: one self-contained page (inline CSS, SVG and script) ---- */

static void h_bars(FILE *f, const char *title, const group *g, size_t n, const rv_report_opts *o)
{
	unsigned k = topn(o, n);
	uint64_t max = 1;
	for (unsigned i = 0; i < k; i++)
		if (g[i].naddr > max)
			max = g[i].naddr;
	fputs("<h2>", f);
	rv_report_escape(f, 'h', title);
	fprintf(f, "</h2>\n<svg class=\"bars\" role=\"img\" width=\"760\" height=\"%u\" "
			"xmlns=\"http://www.w3.org/2000/svg\">\n", k * 22 + 4);
	for (unsigned i = 0; i < k; i++) {
		unsigned w = (unsigned)(g[i].naddr * 440 / max);
		fprintf(f, "<text x=\"0\" y=\"%u\">", i * 22 + 16);
		rv_report_escape(f, 'h', g[i].key);
		fprintf(f, "</text><rect x=\"260\" y=\"%u\" width=\"%u\" height=\"16\"/>"
				"<text x=\"%u\" y=\"%u\">%" PRIu64 "</text>\n", i * 22 + 3, w ? w : 1,
				265 + w, i * 22 + 16, g[i].naddr);
	}
	fputs("</svg>\n", f);
	if (k == 0)
		fputs("<p>(none)</p>\n", f);
}

static void h_hist(FILE *f, const char *title, const summary *s, const uint64_t *h)
{
	uint64_t max = 1;
	char b[32];
	for (size_t i = 0; i < s->nh; i++)
		if (h[i] > max)
			max = h[i];
	fprintf(f, "<h2>%s</h2>\n", title);
	if (s->nh == 0) {
		fputs("<p>(no statistics)</p>\n", f);
		return;
	}
	/* Bars 2..40 px wide: a single bucket must not fill the page. */
	unsigned bw = 720 / s->nh > 40 ? 40 : 720 / s->nh > 2 ? (unsigned)(720 / s->nh) : 2;
	fprintf(f, "<svg class=\"hist\" role=\"img\" width=\"%zu\" height=\"150\" "
			"xmlns=\"http://www.w3.org/2000/svg\">\n", s->nh * bw + 40);
	for (size_t i = 0; i < s->nh; i++) {
		unsigned hh = (unsigned)(h[i] * 110 / max);
		fprintf(f, "<rect x=\"%zu\" y=\"%u\" width=\"%u\" height=\"%u\"><title>%s: %" PRIu64
				"</title></rect>\n", i * bw, 120 - hh, bw > 1 ? bw - 1 : 1, hh,
				iso(s->hstart + (int64_t)i * s->hbucket, b, sizeof(b)), h[i]);
	}
	fprintf(f, "<text x=\"0\" y=\"140\">%s</text>", iso(s->hstart, b, sizeof(b)));
	fprintf(f, "<text x=\"%zu\" y=\"140\" text-anchor=\"end\">%s</text></svg>\n", s->nh * bw + 40,
			iso(s->hstart + (int64_t)s->nh * s->hbucket, b, sizeof(b)));
	fprintf(f, "<p class=\"note\">bucket: %" PRId64 " s, tallest bar %" PRIu64 " addresses</p>\n",
			s->hbucket, max);
}

static void h_td(FILE *f, const char *s)
{
	fputs("<td>", f);
	rv_report_escape(f, 'h', s ? s : "");
	fputs("</td>", f);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	"style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
	"<title>rearview report</title>\n<style>\n"
	"body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}\n"
	"table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 6px;"
	"text-align:left;font-family:monospace;overflow-wrap:anywhere}\n"
	"td:first-child{white-space:nowrap}\n"
	"th{background:#eee;cursor:pointer}th.asc:after{content:' \\25B2'}th.desc:after{content:' \\25BC'}\n"
	"svg rect{fill:#4a78b5}svg text{font:12px monospace;fill:#222}.note{color:#666}\n"
	".cmp-different{background:#fde2e2}.cmp-same{background:#e2f5e2}\n"
	"@media print{th{cursor:auto}svg rect{fill:#555}h2{page-break-after:avoid}"
	"table,svg{page-break-inside:avoid}}\n</style></head><body>\n";

/* Sorting: click a header; numbers compare as numbers. No external script. */
static const char html_script[] =
	"<script>\n(function(){\n"
	"document.querySelectorAll('table.sortable').forEach(function(t){\n"
	" t.querySelectorAll('th').forEach(function(th,i){\n"
	"  th.addEventListener('click',function(){\n"
	"   var asc=!th.classList.contains('asc');\n"
	"   t.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});\n"
	"   th.classList.add(asc?'asc':'desc');\n"
	"   var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);\n"
	"   rows.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent;\n"
	"    var na=parseFloat(a),nc=parseFloat(c);\n"
	"    var r=(!isNaN(na)&&!isNaN(nc)&&String(na)===a.trim()&&String(nc)===c.trim())?na-nc:a.localeCompare(c);\n"
	"    return asc?r:-r;});\n"
	"   rows.forEach(function(r){b.appendChild(r);});\n"
	"  });\n });\n});\n})();\n</script>\n";

int rv_report_write_html(rv_report *r, const rv_report_opts *o, FILE *f)
{
	summary s;
	char b1[32], b2[32], a[RV_ADDR_STRLEN];

	if (summarize(r, o, &s) < 0)
		return -ENOMEM;
	fputs(html_head, f);
	fputs("<h1>rearview report</h1>\n<p>Source: ", f);
	rv_report_escape(f, 'h', o->source);
	if (o->serial)
		fprintf(f, ", serial %u", o->serial);
	fprintf(f, ". Generated %s.</p>\n", iso(o->now, b1, sizeof(b1)));
	fprintf(f, "<p id=\"totals\">Addresses: %zu of %zu selected (IPv4 %" PRIu64 ", IPv6 %" PRIu64
			"); records that are not ours: %zu; owners with duplicate PTRs: %zu; weak guesses: %"
			PRIu64 ".</p>\n", s.nsel, r->n, s.v4, s.v6, r->nforeign, r->ndups, s.weak);
	h_bars(f, "Top registered domains by addresses", s.dom, s.ndom, o);
	h_bars(f, "Countries", s.ctry, s.nctry, o);
	h_hist(f, "First seen", &s, s.hfirst);
	h_hist(f, "Last seen", &s, s.hlast);
	fputs("<h2>Age (now - first seen)</h2>\n<table><tbody>", f);
	for (int i = 0; i < AGE_BUCKETS; i++)
		fprintf(f, "<tr><td>%s</td><td>%" PRIu64 "</td></tr>", age_labels[i], s.age[i]);
	fputs("</tbody></table>\n", f);
	if (o->compared) {
		uint64_t n = 0;
		for (int c = 1; c < RV_CMP_MAX; c++)
			n += s.cmp[c];
		fprintf(f, "<h2>Synthesized vs real PTR</h2>\n");
		if (o->compare_note && *o->compare_note) {
			fputs("<p><strong>Incomplete:</strong> ", f);
			rv_report_escape(f, 'h', o->compare_note);
			fputs("</p>\n", f);
		}
		fputs("<svg class=\"bars\" role=\"img\" width=\"760\" height=\"140\" "
				"xmlns=\"http://www.w3.org/2000/svg\">\n", f);
		for (int c = 1; c < RV_CMP_MAX; c++) {
			unsigned w = n ? (unsigned)(s.cmp[c] * 440 / n) : 0;
			fprintf(f, "<text x=\"0\" y=\"%d\">%s</text><rect x=\"120\" y=\"%d\" width=\"%u\" "
					"height=\"16\"/><text x=\"%u\" y=\"%d\">%" PRIu64 " (%.1f%%)</text>\n",
					(c - 1) * 22 + 16, rv_cmp_names[c], (c - 1) * 22 + 3, w ? w : 1, 125 + w,
					(c - 1) * 22 + 16, s.cmp[c], n ? 100.0 * (double)s.cmp[c] / (double)n : 0.0);
		}
		fputs("</svg>\n", f);
		h_bars(f, "Top actual registered domains", s.actual, s.nactual, o);
	}
	fputs("<h2>Addresses</h2>\n<table class=\"sortable\" id=\"addresses\"><thead><tr>"
			"<th>address</th><th>family</th><th>name</th><th>registered domain</th><th>first</th>"
			"<th>last</th><th>count</th><th>depth</th><th>score</th><th>country</th>", f);
	if (o->compared)
		fputs("<th>real PTR</th><th>compare</th>", f);
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < s.nsel; i++) {
		const rv_report_entry *e = &r->e[s.sel[i]];
		fprintf(f, "<tr class=\"cmp-%s\"><td>%s</td><td>%s</td>", rv_cmp_names[e->cmp],
				rv_addr_str(&e->addr, a, sizeof(a)), fam(&e->addr));
		h_td(f, e->name);
		h_td(f, e->regdom);
		if (e->meta.ok)
			fprintf(f, "<td>%s</td><td>%s</td><td>%" PRIu64 "</td><td>%u</td>",
					iso(e->meta.first, b1, sizeof(b1)), iso(e->meta.last, b2, sizeof(b2)),
					e->meta.count, e->meta.depth);
		else
			fputs("<td></td><td></td><td></td><td></td>", f);
		if (e->meta.has_score)
			fprintf(f, "<td>%.2f</td>", e->meta.score);
		else
			fputs("<td></td>", f);
		h_td(f, e->meta.country);
		if (o->compared) {
			h_td(f, e->actual);
			h_td(f, rv_cmp_names[e->cmp]);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	fputs("<h2>Names with the most addresses</h2>\n<table class=\"sortable\"><thead><tr>"
			"<th>name</th><th>addresses</th><th>count</th></tr></thead><tbody>\n", f);
	for (unsigned i = 0; i < topn(o, s.nnames); i++) {
		fputs("<tr>", f);
		h_td(f, s.names[i].key);
		fprintf(f, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", s.names[i].naddr,
				s.names[i].count);
	}
	fputs("</tbody></table>\n", f);
	fprintf(f, "<h2>Weak guesses (score &lt; %.2f or no usable TXT)</h2>\n<table class=\"sortable\">"
			"<thead><tr><th>address</th><th>name</th><th>score</th><th>TXT</th></tr></thead>"
			"<tbody>\n", o->weak_score);
	for (unsigned i = 0; i < topn(o, s.nweak_idx); i++) {
		const rv_report_entry *e = &r->e[s.weak_idx[i]];
		fprintf(f, "<tr><td>%s</td>", rv_addr_str(&e->addr, a, sizeof(a)));
		h_td(f, e->name);
		if (e->meta.has_score)
			fprintf(f, "<td>%.2f</td>", e->meta.score);
		else
			fputs("<td></td>", f);
		char tb[RV_REPORT_TXT_BUF];
		h_td(f, rv_report_entry_txt(e, tb, sizeof(tb)));
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	fprintf(f, "<h2>Records that are not ours: %zu</h2>\n", r->nforeign);
	if (o->list_foreign && r->nforeign) {
		fputs("<ul>", f);
		for (size_t i = 0; i < r->nforeign; i++) {
			fputs("<li>", f);
			rv_report_escape(f, 'h', r->foreign[i]);
			fputs("</li>", f);
		}
		fputs("</ul>\n", f);
	}
	fputs(html_script, f);
	fputs("</body></html>\n", f);
	summary_free(&s);
	return ensure(f);
}
