/*
 * tsig_key.c - reads the TSIG key (RFC 8945) from a BIND key file, the output of
 * tsig-keygen / rndc-confgen -A:
 *
 *   key "rearview-key" {
 *           algorithm hmac-sha256;
 *           secret "base64...";
 *   };
 *
 * The file is also include'd by named, so we accept the named.conf lexical
 * rules that matter here (quoted or bare words, the three comment styles, any
 * whitespace) and stay as strict as named-checkconf on structure: a file that
 * named rejects should not silently work for the agent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dname.h"
#include "keyfile.h"
#include "tsig.h"
#include "tsig_key.h"


enum tok_type { TOK_EOF, TOK_WORD, TOK_STRING, TOK_PUNCT, TOK_ERROR };

struct lexer {
	const char *p, *end;
	unsigned line;
	/* current token */
	enum tok_type type;
	unsigned tok_line;
	unsigned last_line;  /* where the previous token ended */
	char text[1024];
	char *err;
	size_t errlen;
};

static void RV_PRINTF(3, 4) set_err(struct lexer *lx, unsigned line, const char *fmt, ...)
{
	if (lx->errlen == 0)
		return;
	int off = snprintf(lx->err, lx->errlen, "line %u: ", line);
	if (off < 0 || (size_t)off >= lx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lx->err + off, lx->errlen - (size_t)off, fmt, ap);
	va_end(ap);
}

/* Skips whitespace and comments; 0, or -EBADMSG for an unterminated comment. */
static int skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->p++;
		} else if (c == '#' || (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/')) {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			unsigned start = lx->line;
			lx->p += 2;
			for (;;) {
				if (lx->p + 1 >= lx->end) {
					set_err(lx, start, "unterminated /* comment");
					return -EBADMSG;
				}
				if (lx->p[0] == '*' && lx->p[1] == '/') {
					lx->p += 2;
					break;
				}
				if (*lx->p == '\n')
					lx->line++;
				lx->p++;
			}
		} else {
			break;
		}
	}
	return 0;
}

static bool is_punct(char c)
{
	return c == '{' || c == '}' || c == ';';
}

/* Reads the next token into lx->type / lx->text. */
static int next_token(struct lexer *lx)
{
	size_t n = 0;

	lx->text[0] = '\0';
	if (skip_space(lx) < 0) {
		lx->type = TOK_ERROR;
		return -EBADMSG;
	}
	lx->tok_line = lx->line;
	if (lx->p >= lx->end) {
		/* "missing X" errors point at the last line with a token on it */
		lx->tok_line = lx->last_line;
		lx->type = TOK_EOF;
		return 0;
	}
	char c = *lx->p;
	if (c == '\0') {
		set_err(lx, lx->line, "NUL byte in key file");
		lx->type = TOK_ERROR;
		return -EBADMSG;
	}
	if (is_punct(c)) {
		lx->text[0] = c;
		lx->text[1] = '\0';
		lx->p++;
		lx->type = TOK_PUNCT;
		return 0;
	}
	if (c == '"') {
		/* named.conf strings: a backslash escapes the next character. */
		lx->p++;
		for (;;) {
			if (lx->p >= lx->end) {
				set_err(lx, lx->tok_line, "unterminated string");
				lx->type = TOK_ERROR;
				return -EBADMSG;
			}
			c = *lx->p++;
			if (c == '"')
				break;
			if (c == '\\' && lx->p < lx->end)
				c = *lx->p++;
			if (c == '\n')
				lx->line++;
			if (c == '\0' || n + 1 >= sizeof(lx->text)) {
				set_err(lx, lx->tok_line, c ? "string too long" : "NUL byte in string");
				lx->type = TOK_ERROR;
				return -EBADMSG;
			}
			lx->text[n++] = c;
		}
		lx->text[n] = '\0';
		lx->type = TOK_STRING;
		return 0;
	}
	while (lx->p < lx->end) {
		c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' ||
		    c == '"' || c == '#' || c == '\0' || is_punct(c))
			break;
		if (c == '/' && lx->p + 1 < lx->end && (lx->p[1] == '/' || lx->p[1] == '*'))
			break;
		if (n + 1 >= sizeof(lx->text)) {
			set_err(lx, lx->tok_line, "word too long");
			lx->type = TOK_ERROR;
			return -EBADMSG;
		}
		lx->text[n++] = c;
		lx->p++;
	}
	lx->text[n] = '\0';
	lx->type = TOK_WORD;
	return 0;
}

static int next(struct lexer *lx)
{
	int r = next_token(lx);
	lx->last_line = lx->line;
	return r;
}

static const char *tok_desc(const struct lexer *lx)
{
	return lx->type == TOK_EOF ? "end of file" : lx->text;
}

/* Expects the punctuation character c as the next token. */
static int expect(struct lexer *lx, char c, const char *after)
{
	if (next(lx) < 0)
		return -EBADMSG;
	if (lx->type != TOK_PUNCT || lx->text[0] != c) {
		set_err(lx, lx->tok_line, "expected '%c' %s, got '%s'", c, after, tok_desc(lx));
		return -EBADMSG;
	}
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict RFC 4648 base64 check of s (whitespace already removed): full quads,
 * '=' only as padding at the end. Returns the decoded length, or -1.
 */
static long b64_decoded_len(const char *s)
{
	size_t len = strlen(s), pad = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (b64_value((unsigned char)s[i]) < 0)
			return -1;
	/* Unused bits of the last symbol must be zero (RFC 4648 3.5), else two
	 * different strings would name the same key. */
	if (pad == 1 && (b64_value((unsigned char)s[len - 2]) & 0x3) != 0)
		return -1;
	if (pad == 2 && (b64_value((unsigned char)s[len - 3]) & 0xf) != 0)
		return -1;
	return (long)(len / 4 * 3 - pad);
}

struct parsed_key {
	char name[256];
	char algorithm[64];
	char secret[512];
	bool has_alg, has_secret;
	unsigned line;
};

/* Parses the body of `key NAME {` up to and including `};`. */
static int parse_key_body(struct lexer *lx, struct parsed_key *k)
{
	for (;;) {
		if (next(lx) < 0)
			return -EBADMSG;
		if (lx->type == TOK_EOF) {
			set_err(lx, k->line, "key \"%s\": missing '}' (unexpected end of file)", k->name);
			return -EBADMSG;
		}
		if (lx->type == TOK_PUNCT && lx->text[0] == '}')
			break;
		if (lx->type != TOK_WORD) {
			set_err(lx, lx->tok_line, "expected 'algorithm' or 'secret', got '%s'", lx->text);
			return -EBADMSG;
		}
		unsigned stmt_line = lx->tok_line;
		bool is_alg = strcasecmp(lx->text, "algorithm") == 0;
		if (!is_alg && strcasecmp(lx->text, "secret") != 0) {
			set_err(lx, stmt_line, "unknown key option '%s'", lx->text);
			return -EBADMSG;
		}
		if ((is_alg && k->has_alg) || (!is_alg && k->has_secret)) {
			set_err(lx, stmt_line, "duplicate '%s'", is_alg ? "algorithm" : "secret");
			return -EBADMSG;
		}
		if (next(lx) < 0)
			return -EBADMSG;
		if (lx->type != TOK_WORD && lx->type != TOK_STRING) {
			set_err(lx, lx->tok_line, "missing value after '%s'",
					is_alg ? "algorithm" : "secret");
			return -EBADMSG;
		}
		if (is_alg) {
			/* BIND's spelling, without a trailing dot (named.conf has none). */
			size_t al = strlen(lx->text);
			const char *canon = al > 0 && lx->text[al - 1] != '.'
				? rv_tsig_algorithm(lx->text) : NULL;
			if (canon == NULL) {
				set_err(lx, lx->tok_line, "unknown TSIG algorithm '%s'", lx->text);
				return -EBADMSG;
			}
			snprintf(k->algorithm, sizeof(k->algorithm), "%s", canon);
			k->has_alg = true;
		} else {
			/* Whitespace inside the base64 text is allowed by named. */
			size_t n = 0;
			for (const char *s = lx->text; *s; s++) {
				if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
					continue;
				if (n + 1 >= sizeof(k->secret)) {
					set_err(lx, lx->tok_line, "secret too long");
					return -EBADMSG;
				}
				k->secret[n++] = *s;
			}
			k->secret[n] = '\0';
			if (b64_decoded_len(k->secret) <= 0) {
				set_err(lx, lx->tok_line, "secret is not valid base64");
				return -EBADMSG;
			}
			k->has_secret = true;
		}
		if (expect(lx, ';', is_alg ? "after algorithm" : "after secret") < 0)
			return -EBADMSG;
	}
	/* named requires "};" */
	if (expect(lx, ';', "after '}'") < 0)
		return -EBADMSG;
	if (!k->has_alg) {
		set_err(lx, k->line, "key \"%s\" has no algorithm", k->name);
		return -EBADMSG;
	}
	if (!k->has_secret) {
		set_err(lx, k->line, "key \"%s\" has no secret", k->name);
		return -EBADMSG;
	}
	return 0;
}

/* Canonical key name: lower-case, absolute, and a valid domain name other
 * than the root (the key name is the TSIG RR's owner, RFC 8945 4.2), printed
 * as rv_dname prints it so two spellings of one name compare equal. */
static int canon_key_name(struct lexer *lx, const char *text, char *out, size_t outlen)
{
	char canon[RV_NAME_MAX];
	int n = rv_dname_canon(text, canon, sizeof(canon), NULL);

	if (n < 0 || strcmp(canon, ".") == 0 || (size_t)n + 2 > outlen) {
		set_err(lx, lx->tok_line, "bad key name '%s'", text);
		return -EBADMSG;
	}
	memcpy(out, canon, (size_t)n);
	out[n] = '.';
	out[n + 1] = '\0';
	return 0;
}

int rv_tsig_key_parse(const char *text, size_t len, const char *want_name,
		rv_tsig_key *key, char *err, size_t errlen)
{
	struct lexer lx = {
		.p = text, .end = text + len, .line = 1, .last_line = 1, .err = err, .errlen = errlen,
	};
	char want[256] = "";
	unsigned nkeys = 0;
	bool found = false;
	int ret = -EBADMSG;

	if (errlen > 0)
		err[0] = '\0';
	memset(key, 0, sizeof(*key));
	if (want_name != NULL && want_name[0] != '\0') {
		if (canon_key_name(&lx, want_name, want, sizeof(want)) < 0) {
			snprintf(err, errlen, "bad key name '%s'", want_name);
			return -EINVAL;
		}
	}

	for (;;) {
		struct parsed_key k = { .has_alg = false };

		if (next(&lx) < 0)
			goto out;
		if (lx.type == TOK_EOF)
			break;
		if (lx.type != TOK_WORD || strcasecmp(lx.text, "key") != 0) {
			set_err(&lx, lx.tok_line, "expected 'key', got '%s'", lx.text);
			goto out;
		}
		k.line = lx.tok_line;
		if (next(&lx) < 0)
			goto out;
		if (lx.type != TOK_WORD && lx.type != TOK_STRING) {
			set_err(&lx, lx.tok_line, "expected a key name after 'key', got '%s'",
					tok_desc(&lx));
			goto out;
		}
		if (canon_key_name(&lx, lx.text, k.name, sizeof(k.name)) < 0)
			goto out;
		if (expect(&lx, '{', "after the key name") < 0)
			goto out;
		if (parse_key_body(&lx, &k) < 0)
			goto out;
		nkeys++;

		bool match = want[0] == '\0' || strcmp(want, k.name) == 0;
		if (match && found && want[0] != '\0') {
			set_err(&lx, k.line, "key \"%s\" defined twice", k.name);
			goto out;
		}
		if (match && !found) {
			memcpy(key->name, k.name, sizeof(key->name));
			memcpy(key->algorithm, k.algorithm, sizeof(key->algorithm));
			memcpy(key->secret, k.secret, sizeof(key->secret));
			found = true;
		}
	}

	if (nkeys == 0) {
		snprintf(err, errlen, "no key found");
		ret = -ENOENT;
		goto out;
	}
	if (want[0] == '\0' && nkeys > 1) {
		snprintf(err, errlen, "%u keys found: say which one to use", nkeys);
		ret = -ENOENT;
		goto out;
	}
	if (!found) {
		snprintf(err, errlen, "no key named \"%s\"", want);
		ret = -ENOENT;
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		/* Never leave a half-filled key (or a secret) behind. */
		explicit_bzero(key, sizeof(*key));
	}
	return ret;
}

int rv_tsig_key_load(const char *path, const char *want_name, rv_tsig_key *key,
		char *err, size_t errlen)
{
	char *buf = NULL;
	char msg[512];
	size_t len = 0;

	/* The key signs every change to the zone: keyfile.h's policy (not
	 * readable by everyone, writable only by its owner). */
	int ret = rv_keyfile_read(path, &buf, &len, err, errlen);
	if (ret < 0)
		return ret;
	ret = rv_tsig_key_parse(buf, len, want_name, key, msg, sizeof(msg));
	if (ret < 0) {
		/* "line N: ..." -> "PATH:N: ..."; set-wide messages -> "PATH: ..." */
		unsigned line;
		int used = 0;
		if (sscanf(msg, "line %u: %n", &line, &used) == 1 && used > 0)
			snprintf(err, errlen, "%s:%u: %s", path, line, msg + used);
		else
			snprintf(err, errlen, "%s: %s", path, msg);
	}
	rv_keyfile_clear(&buf, len);
	explicit_bzero(msg, sizeof(msg));
	return ret;
}
