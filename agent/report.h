/*
 * report.h - the analyst's report (rearview-report): the RPZ's records, read
 * from an AXFR or a zone file, turned into one row per address (name,
 * registered domain, the TXT statistics) and summaries, written as a table,
 * CSV, JSON or a self-contained HTML page.
 *
 * Everything here is pure (records in, text out) except the registered-domain
 * lookup, which uses a libpsl context the caller owns. Every string that comes
 * from the zone is attacker-influenced (names are whatever clients looked up):
 * each output format escapes it (rv_report_escape).
 */
#ifndef RV_REPORT_H
#define RV_REPORT_H

#include <stdio.h>

#include "common.h"

struct psl_ctx_st;

/* TXT statistics, read leniently: ours ("first=E last=E count=N depth=N
 * score=S country=CC", space-separated) and Rear View RPZ's (comma-separated,
 * with trend= and update=). */
typedef struct rv_report_meta {
	int64_t first, last;  /* epoch seconds; 0 when absent */
	uint64_t count;
	double score;
	unsigned depth;
	char country[4];      /* "" when absent or not 2..3 letters */
	bool ok;              /* first, last and count found, numbers, first <= last */
	bool has_score;
} rv_report_meta;   /* (largest members first: one per row, 1M rows) */

/* Parses txt[0..len) (not NUL-terminated). Unknown keys go to extra (when not
 * NULL; extralen > 0) as "k=v k=v", as found, kept but not interpreted; what
 * does not fit is dropped. 0 when m->ok, else -EBADMSG; m holds whatever was
 * readable in both cases. Pure. */
int rv_report_txt_parse(const char *txt, size_t len, rv_report_meta *m, char *extra,
		size_t extralen);

/* What --compare-ptr found for an address. */
enum {
	RV_CMP_NONE = 0,      /* not compared */
	RV_CMP_SAME,          /* real PTR in the same registered domain */
	RV_CMP_DIFFERENT,     /* real PTR in another registered domain */
	RV_CMP_NXDOMAIN,
	RV_CMP_NOANSWER,      /* NOERROR without a PTR */
	RV_CMP_ERROR,         /* SERVFAIL, REFUSED, ... */
	RV_CMP_TIMEOUT,
	RV_CMP_MAX
};
extern const char *const rv_cmp_names[RV_CMP_MAX];

/*
 * One row. A 1M-address zone has 1M of these, so strings the rows share are
 * stored once: name and extra point into the report's string arena (names
 * interned: many addresses have the same name), and the TXT is kept only when
 * it differs from what rv_report_entry_txt rebuilds from meta (the agent's
 * own TXTs never do). Owned by the report; read-only for callers except cmp,
 * actual and actual_regdom (ptrcheck.c).
 */
typedef struct rv_report_entry {
	const char *name;     /* the first PTR target (canonical text, no trailing dot) */
	const char *regdom;   /* registered domain: a suffix of name */
	const char *txt;      /* the first TXT as printable text; NULL if none or if it is
	                       * the canonical text of meta (use rv_report_entry_txt) */
	char *dups;           /* further PTR targets at the owner, space-separated, or NULL */
	const char *extra;    /* unknown TXT keys (rv_report_txt_parse), NULL if none */
	char *actual;         /* the real PTR (first), NULL if none (malloc'd) */
	const char *actual_regdom;
	rv_report_meta meta;
	unsigned nptr, ntxt;
	int cmp;              /* RV_CMP_* */
	rv_addr addr;
	bool hot;             /* the address has records in the hot zone (rv_report_hot_begin) */
} rv_report_entry;

/* The first TXT of e as printable text (in buf when rebuilt from meta; 160
 * octets are enough), or NULL when e has no TXT. */
#define RV_REPORT_TXT_BUF 160
const char *rv_report_entry_txt(const rv_report_entry *e, char *buf, size_t len);

typedef struct rv_report rv_report;

/* A report on zone (with or without trailing dot), registered domains from
 * psl (borrowed; NULL: the name's last two labels). NULL with *err. */
rv_report *rv_report_new(const char *zone, const struct psl_ctx_st *psl, int *err);
void rv_report_free(rv_report **r);

/* One record. owner: presentation form, absolute, with or without trailing
 * dot; type: mnemonic ("PTR", "TXT", ...); ptr: the PTR target (PTR only);
 * txt/txtlen: the TXT strings joined with one space (TXT only). SOA and NS at
 * the apex and TSIG are zone infrastructure and ignored; everything else that
 * is not a PTR or TXT at an address owner is foreign. 0 or -ENOMEM. */
int rv_report_add(rv_report *r, const char *owner, const char *type, const char *ptr,
		const uint8_t *txt, size_t txtlen) RV_MUST_CHECK;

/* The agent's hot zone (its rpz-hot-zone option): a small policy zone that
 * takes the newest records, listed before the main zone in response-policy,
 * so named answers an address in both from it. Records added between
 * rv_report_hot_begin and rv_report_hot_end are the hot zone's (owners under
 * hot); add them before any of the main zone's. An address with any record
 * in the hot zone is reported from there: the main zone's PTR and TXT at that
 * address, added afterwards, are ignored (the hot copy is the newer).
 * Foreign records of both zones are kept. 0, or -EINVAL (hot not a name, or
 * the report's zone). */
int rv_report_hot_begin(rv_report *r, const char *hot) RV_MUST_CHECK;
void rv_report_hot_end(rv_report *r);

/* All records added: owners with a TXT but no PTR become foreign, registered
 * domains are computed, entries sorted by address. 0 or -ENOMEM. */
int rv_report_finish(rv_report *r) RV_MUST_CHECK;

size_t rv_report_count(const rv_report *r);
rv_report_entry *rv_report_entry_at(rv_report *r, size_t i);
/* Registered domain of name (canonical text) per the report's psl: a suffix
 * of name, or name itself. */
const char *rv_report_regdom(const rv_report *r, const char *name);
/* Records that are not ours: how many, and each as "owner TYPE (why)". */
size_t rv_report_foreign_count(const rv_report *r);
const char *rv_report_foreign_at(const rv_report *r, size_t i);
/* Owners with more than one PTR. */
size_t rv_report_dup_count(const rv_report *r);

/* ---- selection and output ---- */

typedef struct rv_report_opts {
	int64_t now;          /* for ages and relative histograms */
	int64_t since, until; /* on last seen; 0: unbounded */
	const char *domain;   /* registered domain equal to, or name under, this; NULL: all */
	rv_addr cidr;         /* family 0: all */
	unsigned cidr_bits;
	unsigned top;         /* rows in each top list */
	double weak_score;    /* score below this (or no usable TXT): weak guess */
	bool list_foreign;
	bool compared;        /* --compare-ptr ran */
	const char *compare_note; /* "" or why the comparison is incomplete */
	const char *source;   /* "AXFR of ZONE from SERVER" or "zone file F" */
	uint32_t serial;      /* 0 if unknown */
} rv_report_opts;

/* Escapes s for kind 'h' (HTML text and attribute values), 'j' (inside a JSON
 * string), 'c' (a CSV field, quoted when needed; also defuses leading = + - @
 * so spreadsheets do not run it as a formula) or 't' (terminal: control and
 * non-ASCII octets as \DDD). Writes to f. */
void rv_report_escape(FILE *f, int kind, const char *s);

/* Writes the report: fmt 't' (table), 'c' (csv), 'j' (json). 0 or -EIO. */
int rv_report_write(rv_report *r, const rv_report_opts *o, int fmt, FILE *f) RV_MUST_CHECK;
/* Writes the self-contained HTML page. 0 or -EIO. */
int rv_report_write_html(rv_report *r, const rv_report_opts *o, FILE *f) RV_MUST_CHECK;

/* Whether entry e passes o's filters. */
bool rv_report_selected(const rv_report_entry *e, const rv_report_opts *o);

/* "-7d", "-12h", "-30m", "-90s" (relative to now) or epoch seconds -> *t.
 * 0 or -EINVAL. */
int rv_report_parse_time(const char *s, int64_t now, int64_t *t) RV_MUST_CHECK;

#endif
