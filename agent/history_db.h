/*
 * history_db.h - the passive-DNS history store: SQLite, one row per (rrname,
 * rrtype, rdata, sensor) with time_first, time_last, count and the last TTL.
 *
 * The file is in WAL mode, so the writer (one thread, history_sink.c) and the
 * readers (the query API, on the loop) never block each other. The schema has
 * a version (PRAGMA user_version); a database from a newer agent is refused
 * with a message, never written. Every statement is prepared with bound
 * parameters: nothing a client sends becomes SQL text.
 *
 * A handle is used by one thread at a time.
 */
#ifndef RV_HISTORY_DB_H
#define RV_HISTORY_DB_H

#include "common.h"
#include "pdns.h"

#define RV_HDB_SCHEMA_VERSION 1

typedef struct rv_hdb rv_hdb;

/*
 * Opens (writer: creates, sets WAL, creates or migrates the schema) the
 * database at path. On failure returns -errno-like codes (-EIO, -EPROTO for an
 * unknown schema version, -ENOENT for a reader when there is no file yet)
 * with a one-line reason in why.
 */
int rv_hdb_open(const char *path, bool writer, rv_hdb **out, char *why,
		size_t whylen) RV_MUST_CHECK;
void rv_hdb_free(rv_hdb **db);

/* Upserts every record of batch in one transaction. *rows = records written.
 * 0 or -EIO (why says what SQLite said; the transaction is rolled back). */
int rv_hdb_write(rv_hdb *db, const rv_pdns_agg *batch, size_t *rows, char *why,
		size_t whylen) RV_MUST_CHECK;

/*
 * Deletes records last seen before cutoff (0 = none), then, while the data
 * held is over max_bytes (0 = no cap), the records seen longest ago, in
 * chunks. *deleted = records deleted. 0 or -EIO.
 */
int rv_hdb_expire(rv_hdb *db, int64_t cutoff, uint64_t max_bytes, size_t *deleted, char *why,
		size_t whylen) RV_MUST_CHECK;

/* Bytes the records occupy ((pages - free pages) * page size). */
uint64_t rv_hdb_used_bytes(rv_hdb *db);

/* ------------------------------------------------------------------ queries */

typedef enum rv_hdb_kind {
	RV_HQ_RRSET_NAME,    /* rrname = name */
	RV_HQ_RRSET_SUFFIX,  /* rrname strictly under name ("*.name") */
	RV_HQ_RDATA_NAME,    /* rdata = name (CNAME, DNAME targets) */
	RV_HQ_RDATA_IP,      /* A/AAAA rdata in [ip_lo, ip_hi] */
} rv_hdb_kind;

typedef struct rv_hdb_query {
	rv_hdb_kind kind;
	const char *name;       /* presentation form, lower-case, no trailing dot */
	rv_addr ip_lo, ip_hi;   /* same family */
	uint16_t rrtype;        /* 0 = any */
	/* Bounds, exclusive; INT64_MIN / INT64_MAX when not set. */
	int64_t time_first_before, time_first_after;
	int64_t time_last_before, time_last_after;
	uint64_t limit;         /* rows at most */
} rv_hdb_query;

/* Sets every time bound to "none". */
void rv_hdb_query_init(rv_hdb_query *q, rv_hdb_kind kind);

typedef struct rv_hdb_cursor rv_hdb_cursor;

/* Starts q on db (borrowed: it must outlive the cursor). 0, -ENOMEM, -EIO. */
int rv_hdb_query_start(rv_hdb *db, const rv_hdb_query *q, rv_hdb_cursor **out) RV_MUST_CHECK;
/*
 * The next row into *row (strings valid until the next call or the free).
 * 1 = a row, 0 = no more, -EIO (why), -EBUSY (the database is busy: try the
 * request again).
 */
int rv_hdb_next(rv_hdb_cursor *c, rv_pdns_entry *row) RV_MUST_CHECK;
void rv_hdb_cursor_free(rv_hdb_cursor **c);

/* "www.example.com" <-> "com.example.www": labels reversed, escapes kept
 * ("a\.b.c" <-> "c.a\.b"). The store keys names this way so a suffix is a
 * key range. out has RV_NAME_MAX octets. */
void rv_hdb_reverse_name(const char *in, char *out);

#endif
