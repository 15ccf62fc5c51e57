/*
 * zonefile.c - the master-file reader (see zonefile.h). One pass over the
 * buffer: a tokenizer that yields the fields of one logical record (quotes,
 * escapes, comments and parentheses resolved), then the record's fields are
 * classified. Nothing is allocated; every field is a slice of the input.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dname.h"
#include "zonefile.h"

#define MAX_FIELDS 512
#define TXT_MAX 65535

typedef struct field {
	const char *p;
	size_t len;
	bool quoted;
} field;

typedef struct parser {
	const char *s;
	size_t len, i;
	unsigned line;
	char origin[RV_NAME_MAX];
	char last_owner[RV_NAME_MAX];
	uint32_t default_ttl;
	field f[MAX_FIELDS];
	size_t nf;
	bool blank_start;    /* the record's first line started with a blank */
	unsigned start_line;
	char *err;
	size_t errlen;
} parser;

static int fail(parser *p, unsigned line, const char *msg)
{
	snprintf(p->err, p->errlen, "line %u: %s", line, msg);
	return -EBADMSG;
}

/* Next logical record into p->f. 1 when one was read, 0 at the end, -EBADMSG. */
static int next_record(parser *p)
{
	unsigned depth = 0;
	bool at_line_start = true;

	p->nf = 0;
	p->blank_start = false;
	while (p->i < p->len) {
		char c = p->s[p->i];
		if (c == '\n') {
			p->i++;
			p->line++;
			if (depth == 0 && p->nf > 0)
				return 1;
			at_line_start = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r') {
			if (at_line_start && p->nf == 0 && depth == 0) {
				p->blank_start = true;
				p->start_line = p->line;
			}
			at_line_start = false;
			p->i++;
			continue;
		}
		if (at_line_start && p->nf == 0 && depth == 0)
			p->blank_start = false;
		at_line_start = false;
		if (c == ';') {
			while (p->i < p->len && p->s[p->i] != '\n')
				p->i++;
			continue;
		}
		if (c == '(') {
			depth++;
			p->i++;
			continue;
		}
		if (c == ')') {
			if (depth == 0)
				return fail(p, p->line, "')' without '('");
			depth--;
			p->i++;
			continue;
		}
		if (p->nf == 0)
			p->start_line = p->line;
		if (p->nf == MAX_FIELDS)
			return fail(p, p->start_line, "too many fields in one record");
		field *f = &p->f[p->nf++];
		if (c == '"') {
			size_t st = ++p->i;
			while (p->i < p->len && p->s[p->i] != '"') {
				if (p->s[p->i] == '\\' && p->i + 1 < p->len)
					p->i++;
				if (p->s[p->i] == '\n')
					p->line++;
				p->i++;
			}
			if (p->i >= p->len)
				return fail(p, p->start_line, "unterminated quoted string");
			f->p = p->s + st;
			f->len = p->i - st;
			f->quoted = true;
			p->i++;
			continue;
		}
		size_t st = p->i;
		while (p->i < p->len) {
			char d = p->s[p->i];
			if (d == '\\' && p->i + 1 < p->len && p->s[p->i + 1] != '\n') {
				p->i += 2;
				continue;
			}
			if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' || d == '(' ||
			    d == ')' || d == '"')
				break;
			p->i++;
		}
		f->p = p->s + st;
		f->len = p->i - st;
		f->quoted = false;
	}
	if (depth > 0)
		return fail(p, p->start_line, "unterminated '('");
	return p->nf > 0 ? 1 : 0;
}

/* A name field -> absolute text without the trailing dot, checked. */
static int make_name(parser *p, const field *f, char *out, size_t cap)
{
	uint8_t wire[RV_DNAME_WIRE_MAX];
	size_t wl;
	const char *why = "bad name";
	int n;

	if (f->len == 1 && f->p[0] == '@') {
		if (p->origin[0] == '\0')
			return fail(p, p->start_line, "'@' without $ORIGIN");
		snprintf(out, cap, "%s", p->origin);
		return 0;
	}
	size_t sl = rv_dname_strip_dot(f->p, f->len);
	if (sl == f->len) {
		/* Relative: append the origin. */
		if (p->origin[0] == '\0')
			return fail(p, p->start_line, "relative name without $ORIGIN");
		n = snprintf(out, cap, "%.*s.%s", (int)f->len, f->p, p->origin);
	} else if (sl == 0) {
		n = snprintf(out, cap, ".");
	} else {
		n = snprintf(out, cap, "%.*s", (int)sl, f->p);
	}
	if (n < 0 || (size_t)n >= cap)
		return fail(p, p->start_line, "name too long");
	/* Checked once here, so every name handed over is a valid DNS name. */
	if (rv_dname_from_text(out, strlen(out), 0, wire, &wl, &why) < 0) {
		char m[128];
		snprintf(m, sizeof(m), "bad name: %s", why);
		return fail(p, p->start_line, m);
	}
	return 0;
}

static bool is_class(const field *f)
{
	static const char *const cl[] = {"IN", "CH", "CS", "HS", "ANY", "NONE"};
	if (f->quoted)
		return false;
	for (size_t k = 0; k < RV_ARRAY_LEN(cl); k++)
		if (f->len == strlen(cl[k]) && strncasecmp(f->p, cl[k], f->len) == 0)
			return true;
	return f->len > 5 && strncasecmp(f->p, "CLASS", 5) == 0;
}

/* "3600", "1h", "1w2d": BIND's TTL forms. */
static bool parse_ttl(const field *f, uint32_t *ttl)
{
	uint64_t total = 0, cur = 0;
	bool digits = false;

	if (f->quoted || f->len == 0 || f->p[0] < '0' || f->p[0] > '9')
		return false;
	for (size_t k = 0; k < f->len; k++) {
		char c = f->p[k];
		if (c >= '0' && c <= '9') {
			cur = cur * 10 + (uint64_t)(c - '0');
			digits = true;
			if (cur > UINT32_MAX)
				return false;
			continue;
		}
		uint64_t mul;
		switch (c | 0x20) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 604800; break;
		default: return false;
		}
		if (!digits)
			return false;
		total += cur * mul;
		cur = 0;
		digits = false;
	}
	total += cur;
	if (total > UINT32_MAX)
		return false;
	*ttl = (uint32_t)total;
	return true;
}

/* One <character-string> with RFC 1035 5.1 escapes decoded, appended to out. */
static bool txt_append(const field *f, uint8_t *out, size_t *off)
{
	for (size_t k = 0; k < f->len; k++) {
		uint8_t c = (uint8_t)f->p[k];
		if (c == '\\' && k + 1 < f->len) {
			const char *d = f->p + k + 1;
			if (k + 3 < f->len && d[0] >= '0' && d[0] <= '9' && d[1] >= '0' && d[1] <= '9' &&
			    d[2] >= '0' && d[2] <= '9') {
				unsigned v = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 +
					(unsigned)(d[2] - '0');
				if (v > 255)
					return false;
				c = (uint8_t)v;
				k += 3;
			} else {
				c = (uint8_t)d[0];
				k++;
			}
		}
		if (*off >= TXT_MAX)
			return false;
		out[(*off)++] = c;
	}
	return true;
}

static int record(parser *p, rv_zonefile_fn fn, void *arg)
{
	char owner[RV_NAME_MAX], type[32], ptr[RV_NAME_MAX];
	uint8_t txt[TXT_MAX + 1];
	size_t k = 0, txt_len = 0;
	uint32_t ttl = p->default_ttl;
	bool have_ttl = false, have_class = false;
	rv_zonefile_rr rr = {0};
	int rc;

	if (!p->f[0].quoted && p->f[0].len > 0 && p->f[0].p[0] == '$') {
		const field *d = &p->f[0];
		if (d->len == 7 && strncasecmp(d->p, "$ORIGIN", 7) == 0 && p->nf >= 2) {
			char o[RV_NAME_MAX];
			rc = make_name(p, &p->f[1], o, sizeof(o));
			if (rc < 0)
				return rc;
			snprintf(p->origin, sizeof(p->origin), "%s", strcmp(o, ".") == 0 ? "" : o);
			return 0;
		}
		if (d->len == 4 && strncasecmp(d->p, "$TTL", 4) == 0 && p->nf >= 2 &&
		    parse_ttl(&p->f[1], &p->default_ttl))
			return 0;
		return fail(p, p->start_line, "unsupported or malformed $ directive");
	}
	if (p->blank_start) {
		if (p->last_owner[0] == '\0')
			return fail(p, p->start_line, "record without owner");
		snprintf(owner, sizeof(owner), "%s", p->last_owner);
	} else {
		rc = make_name(p, &p->f[k++], owner, sizeof(owner));
		if (rc < 0)
			return rc;
		snprintf(p->last_owner, sizeof(p->last_owner), "%s", owner);
	}
	for (int j = 0; j < 2 && k < p->nf; j++) {
		if (!have_ttl && parse_ttl(&p->f[k], &ttl)) {
			have_ttl = true;
			k++;
		} else if (!have_class && is_class(&p->f[k])) {
			have_class = true;
			k++;
		}
	}
	if (k >= p->nf || p->f[k].quoted || p->f[k].len == 0 || p->f[k].len >= sizeof(type))
		return fail(p, p->start_line, "no record type");
	memcpy(type, p->f[k].p, p->f[k].len);
	type[p->f[k].len] = '\0';
	for (char *c = type; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	k++;
	rr.owner = owner;
	rr.ttl = ttl;
	rr.type = type;
	rr.line = p->start_line;
	rr.consumed = p->i;
	if (strcmp(type, "PTR") == 0) {
		if (k + 1 != p->nf || p->f[k].quoted)
			return fail(p, p->start_line, "PTR needs exactly one name");
		rc = make_name(p, &p->f[k], ptr, sizeof(ptr));
		if (rc < 0)
			return rc;
		rr.ptr = ptr;
	} else if (strcmp(type, "TXT") == 0) {
		if (k >= p->nf)
			return fail(p, p->start_line, "TXT without text");
		for (; k < p->nf; k++) {
			if (txt_len > 0) {
				if (txt_len >= TXT_MAX)
					return fail(p, p->start_line, "TXT too long");
				txt[txt_len++] = ' ';
			}
			if (!txt_append(&p->f[k], txt, &txt_len))
				return fail(p, p->start_line, "TXT too long or bad escape");
		}
		txt[txt_len] = '\0';
		rr.txt = txt;
		rr.txt_len = txt_len;
	}
	return fn(arg, &rr);
}

int rv_zonefile_parse(const char *text, size_t len, const char *origin, rv_zonefile_fn fn,
		void *arg, char *err, size_t errlen)
{
	/* All state on the stack (~15 KB, and 64 KB of TXT in record()): no
	 * allocation, so no failure path but the input's. */
	parser p = {.s = text, .len = len, .line = 1, .default_ttl = 0, .err = err, .errlen = errlen};
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (origin != NULL) {
		size_t ol = rv_dname_strip_dot(origin, strlen(origin));
		if (ol >= sizeof(p.origin))
			return fail(&p, 0, "origin too long");
		memcpy(p.origin, origin, ol);
		p.origin[ol] = '\0';
	}
	while ((rc = next_record(&p)) == 1) {
		rc = record(&p, fn, arg);
		if (rc < 0) {
			if (err && errlen && err[0] == '\0')
				snprintf(err, errlen, "line %u: %s", p.start_line, strerror(-rc));
			return rc;
		}
	}
	return rc;
}
