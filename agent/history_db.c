/*
 * history_db.c - the passive-DNS history in SQLite (see history_db.h).
 *
 * Names are stored label-reversed (rname): an exact name is one key, and
 * "everything under example.com" is the key range ("com.example.",
 * "com.example/"), since '/' follows '.' in byte order. Addresses are also
 * kept as 16 bytes (IPv4 as ::ffff:a.b.c.d) so a prefix is a key range too.
 * Both ranges are served by indexes; no query scans the table.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sqlite3.h>

#include "history_db.h"

struct rv_hdb {
	sqlite3 *db;
	bool writer;
	sqlite3_stmt *upsert;
};

struct rv_hdb_cursor {
	rv_hdb *db;
	sqlite3_stmt *st;
	char rrname[RV_NAME_MAX];
};

static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS rr ("
	" id INTEGER PRIMARY KEY,"
	" rname TEXT NOT NULL,"          /* rrname, labels reversed */
	" rrtype INTEGER NOT NULL,"
	" rdata TEXT NOT NULL,"
	" ip BLOB,"                      /* A/AAAA: 16 bytes; else NULL */
	" sensor TEXT NOT NULL,"
	" time_first INTEGER NOT NULL,"
	" time_last INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" ttl INTEGER NOT NULL,"
	" UNIQUE (rname, rrtype, rdata, sensor));"
	"CREATE INDEX IF NOT EXISTS rr_rdata ON rr (rdata) WHERE ip IS NULL;"
	"CREATE INDEX IF NOT EXISTS rr_ip ON rr (ip) WHERE ip IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS rr_last ON rr (time_last);";

static const char upsert_sql[] =
	"INSERT INTO rr (rname, rrtype, rdata, ip, sensor, time_first, time_last, count, ttl)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	" ON CONFLICT (rname, rrtype, rdata, sensor) DO UPDATE SET"
	" time_first = min(time_first, excluded.time_first),"
	/* SET expressions see the row as it was: ttl follows the newest sighting. */
	" ttl = CASE WHEN excluded.time_last >= time_last THEN excluded.ttl ELSE ttl END,"
	" time_last = max(time_last, excluded.time_last),"
	" count = count + excluded.count";

static void say(char *why, size_t whylen, const char *what, sqlite3 *db)
{
	snprintf(why, whylen, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(rv_hdb *h, const char *sql, char *why, size_t whylen)
{
	char *msg = NULL;

	if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(why, whylen, "%s", msg != NULL ? msg : sqlite3_errmsg(h->db));
	sqlite3_free(msg);
	return -EIO;
}

static int user_version(rv_hdb *h, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*v = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int rv_hdb_open(const char *path, bool writer, rv_hdb **out, char *why, size_t whylen)
{
	rv_hdb *h = calloc(1, sizeof(*h));
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	int rc = -EIO, v = 0;

	*out = NULL;
	if (h == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	h->writer = writer;
	/* NOMUTEX: each handle has one user at a time (history_db.h). */
	if (sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		say(why, whylen, "cannot open", h->db);
		rc = writer ? -EIO : -ENOENT;
		goto out;
	}
	sqlite3_extended_result_codes(h->db, 1);
	/* The writer is a thread of its own and may wait for a checkpoint; a
	 * reader runs on the loop and must not wait long. */
	sqlite3_busy_timeout(h->db, writer ? 5000 : 20);
	if (user_version(h, &v) < 0) {
		say(why, whylen, "not a readable SQLite database", h->db);
		goto out;
	}
	if (v > RV_HDB_SCHEMA_VERSION) {
		snprintf(why, whylen, "schema version %d is newer than this agent's (%d): "
				"refusing to touch it (upgrade the agent or move the file away)",
				v, RV_HDB_SCHEMA_VERSION);
		rc = -EPROTO;
		goto out;
	}
	if (!writer) {
		if (v != RV_HDB_SCHEMA_VERSION) {
			snprintf(why, whylen, "no history schema yet");
			rc = -ENOENT;
			goto out;
		}
		if (exec(h, "PRAGMA query_only = 1", why, whylen) < 0)
			goto out;
		*out = h;
		return 0;
	}
	/* WAL: readers and the writer do not block each other; NORMAL sync: a
	 * power loss may lose the last transactions, never corrupt the file. */
	if (exec(h, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", why, whylen) < 0)
		goto out;
	/* Version 0 is a new file (or one with no schema): create it. A future
	 * version 2 would migrate from 1 here, in one transaction. */
	if (v == 0 &&
	    exec(h, "BEGIN IMMEDIATE", why, whylen) == 0) {
		if (exec(h, schema_v1, why, whylen) < 0 ||
		    exec(h, "PRAGMA user_version = 1; COMMIT", why, whylen) < 0) {
			char ignored[64];

			(void)exec(h, "ROLLBACK", ignored, sizeof(ignored));
			goto out;
		}
	} else if (v == 0) {
		goto out;
	}
	if (sqlite3_prepare_v3(h->db, upsert_sql, -1, SQLITE_PREPARE_PERSISTENT, &h->upsert,
			       NULL) != SQLITE_OK) {
		say(why, whylen, "cannot prepare the upsert", h->db);
		goto out;
	}
	*out = h;
	return 0;
out:
	rv_hdb_free(&h);
	return rc;
}

void rv_hdb_free(rv_hdb **hp)
{
	rv_hdb *h;

	if (hp == NULL || *hp == NULL)
		return;
	h = *hp;
	sqlite3_finalize(h->upsert);
	sqlite3_close(h->db);
	free(h);
	*hp = NULL;
}

void rv_hdb_reverse_name(const char *in, char *out)
{
	size_t n = strlen(in);
	size_t starts[128 + 1], nl = 0, o = 0;

	if (n == 0 || strcmp(in, ".") == 0 || n >= RV_NAME_MAX) {
		snprintf(out, RV_NAME_MAX, "%s", n < RV_NAME_MAX ? in : "");
		return;
	}
	/* Label starts, skipping escaped octets ("\." and "\DDD"). */
	starts[nl++] = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\\') {
			i++; /* the escaped octet; "\DDD" digits are never '.' */
			continue;
		}
		if (in[i] == '.' && nl < RV_ARRAY_LEN(starts) - 1)
			starts[nl++] = i + 1;
	}
	for (size_t k = nl; k-- > 0;) {
		size_t s = starts[k];
		size_t e = k + 1 < nl ? starts[k + 1] - 1 : n;

		memcpy(out + o, in + s, e - s);
		o += e - s;
		if (k > 0)
			out[o++] = '.';
	}
	out[o] = '\0';
}

/* 16-byte store form of an address (IPv4 as ::ffff:a.b.c.d). */
static void ip16(const rv_addr *a, uint8_t out[16])
{
	if (a->family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a->bytes, 4);
	} else {
		memcpy(out, a->bytes, 16);
	}
}

struct write_ctx {
	rv_hdb *h;
	size_t rows;
};

static int write_one(void *arg, const rv_pdns_entry *e)
{
	struct write_ctx *w = arg;
	sqlite3_stmt *st = w->h->upsert;
	char rname[RV_NAME_MAX];
	uint8_t ip[16];
	rv_addr a;
	int rc;

	rv_hdb_reverse_name(e->rrname, rname);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, rname, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, e->rrtype);
	sqlite3_bind_text(st, 3, e->rdata, -1, SQLITE_STATIC);
	if ((e->rrtype == RV_RRTYPE_A || e->rrtype == RV_RRTYPE_AAAA) &&
	    rv_addr_parse(e->rdata, &a) == 0) {
		ip16(&a, ip);
		sqlite3_bind_blob(st, 4, ip, 16, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 4);
	}
	sqlite3_bind_text(st, 5, e->sensor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, e->time_first);
	sqlite3_bind_int64(st, 7, e->time_last);
	sqlite3_bind_int64(st, 8, e->count > INT64_MAX ? INT64_MAX : (int64_t)e->count);
	sqlite3_bind_int64(st, 9, e->ttl);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -EIO;
	w->rows++;
	return 0;
}

int rv_hdb_write(rv_hdb *h, const rv_pdns_agg *batch, size_t *rows, char *why, size_t whylen)
{
	struct write_ctx w = {.h = h};
	char ignored[64];

	*rows = 0;
	if (!h->writer) {
		snprintf(why, whylen, "read-only handle");
		return -EINVAL;
	}
	if (exec(h, "BEGIN IMMEDIATE", why, whylen) < 0)
		return -EIO;
	if (rv_pdns_agg_foreach(batch, write_one, &w) != 0) {
		say(why, whylen, "write", h->db);
		(void)exec(h, "ROLLBACK", ignored, sizeof(ignored));
		return -EIO;
	}
	if (exec(h, "COMMIT", why, whylen) < 0) {
		(void)exec(h, "ROLLBACK", ignored, sizeof(ignored));
		return -EIO;
	}
	*rows = w.rows;
	return 0;
}

static int64_t one_int(rv_hdb *h, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

uint64_t rv_hdb_used_bytes(rv_hdb *h)
{
	int64_t pages = one_int(h, "PRAGMA page_count");
	int64_t free_pages = one_int(h, "PRAGMA freelist_count");
	int64_t size = one_int(h, "PRAGMA page_size");

	if (pages < 0 || free_pages < 0 || size < 0 || free_pages > pages)
		return 0;
	return (uint64_t)(pages - free_pages) * (uint64_t)size;
}

/* Runs a DELETE with one int64 parameter; adds the rows deleted. */
static int delete_with(rv_hdb *h, const char *sql, int64_t p, size_t *deleted, char *why,
		size_t whylen)
{
	sqlite3_stmt *st = NULL;
	int rc = -EIO;

	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
		say(why, whylen, "prepare", h->db);
		goto out;
	}
	sqlite3_bind_int64(st, 1, p);
	if (sqlite3_step(st) != SQLITE_DONE) {
		say(why, whylen, "delete", h->db);
		goto out;
	}
	*deleted += (size_t)sqlite3_changes(h->db);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Records deleted per statement: keeps each transaction (and the WAL) short. */
#define EXPIRE_CHUNK 20000

int rv_hdb_expire(rv_hdb *h, int64_t cutoff, uint64_t max_bytes, size_t *deleted, char *why,
		size_t whylen)
{
	size_t before;

	*deleted = 0;
	if (cutoff > 0) {
		do {
			before = *deleted;
			if (delete_with(h, "DELETE FROM rr WHERE id IN (SELECT id FROM rr"
					" WHERE time_last < ?1 LIMIT 20000)", cutoff, deleted,
					why, whylen) < 0)
				return -EIO;
		} while (*deleted - before == EXPIRE_CHUNK);
	}
	if (max_bytes == 0)
		return 0;
	/* Freed pages are reused, not returned: the used bytes fall as rows go. */
	for (int round = 0; round < 1000 && rv_hdb_used_bytes(h) > max_bytes; round++) {
		before = *deleted;
		if (delete_with(h, "DELETE FROM rr WHERE id IN (SELECT id FROM rr"
				" ORDER BY time_last LIMIT ?1)", EXPIRE_CHUNK, deleted, why,
				whylen) < 0)
			return -EIO;
		if (*deleted == before)
			break; /* empty: the schema alone is over the cap */
	}
	return 0;
}

/* ------------------------------------------------------------------ queries */

void rv_hdb_query_init(rv_hdb_query *q, rv_hdb_kind kind)
{
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	q->time_first_before = q->time_last_before = INT64_MAX;
	q->time_first_after = q->time_last_after = INT64_MIN;
	q->limit = 10000;
}

#define COLS "SELECT rname, rrtype, rdata, sensor, time_first, time_last, count, ttl FROM rr "
#define FILTERS " AND (?2 = 0 OR rrtype = ?2) AND time_first < ?3 AND time_first > ?4" \
	" AND time_last < ?5 AND time_last > ?6 LIMIT ?7"

static const char *const query_sql[] = {
	[RV_HQ_RRSET_NAME] = COLS "WHERE rname = ?1" FILTERS,
	[RV_HQ_RRSET_SUFFIX] = COLS "WHERE rname > ?1 AND rname < ?8" FILTERS,
	[RV_HQ_RDATA_NAME] = COLS "WHERE rdata = ?1 AND ip IS NULL" FILTERS,
	[RV_HQ_RDATA_IP] = COLS "WHERE ip >= ?1 AND ip <= ?8 AND ip IS NOT NULL" FILTERS,
};

int rv_hdb_query_start(rv_hdb *h, const rv_hdb_query *q, rv_hdb_cursor **out)
{
	rv_hdb_cursor *c;
	char key[RV_NAME_MAX + 1], end[RV_NAME_MAX + 1];
	uint8_t lo[16], hi[16];
	uint16_t rrtype = q->rrtype;

	*out = NULL;
	if ((unsigned)q->kind >= RV_ARRAY_LEN(query_sql))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->db = h;
	if (sqlite3_prepare_v2(h->db, query_sql[q->kind], -1, &c->st, NULL) != SQLITE_OK) {
		free(c);
		return -EIO;
	}
	switch (q->kind) {
	case RV_HQ_RRSET_NAME:
		rv_hdb_reverse_name(q->name, key);
		sqlite3_bind_text(c->st, 1, key, -1, SQLITE_TRANSIENT);
		break;
	case RV_HQ_RRSET_SUFFIX: {
		size_t n;

		rv_hdb_reverse_name(q->name, key);
		n = strlen(key);
		memcpy(end, key, n);
		key[n] = '.';
		key[n + 1] = '\0';
		end[n] = '/'; /* the octet after '.' */
		end[n + 1] = '\0';
		sqlite3_bind_text(c->st, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(c->st, 8, end, -1, SQLITE_TRANSIENT);
		break;
	}
	case RV_HQ_RDATA_NAME:
		sqlite3_bind_text(c->st, 1, q->name, -1, SQLITE_TRANSIENT);
		break;
	case RV_HQ_RDATA_IP:
		ip16(&q->ip_lo, lo);
		ip16(&q->ip_hi, hi);
		sqlite3_bind_blob(c->st, 1, lo, 16, SQLITE_TRANSIENT);
		sqlite3_bind_blob(c->st, 8, hi, 16, SQLITE_TRANSIENT);
		/* An IPv4 range also covers AAAA records of ::ffff:0:0/96. */
		if (rrtype == 0)
			rrtype = q->ip_lo.family == AF_INET ? RV_RRTYPE_A : RV_RRTYPE_AAAA;
		break;
	}
	sqlite3_bind_int(c->st, 2, rrtype);
	sqlite3_bind_int64(c->st, 3, q->time_first_before);
	sqlite3_bind_int64(c->st, 4, q->time_first_after);
	sqlite3_bind_int64(c->st, 5, q->time_last_before);
	sqlite3_bind_int64(c->st, 6, q->time_last_after);
	sqlite3_bind_int64(c->st, 7, q->limit > INT64_MAX ? INT64_MAX : (int64_t)q->limit);
	*out = c;
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? (const char *)t : "";
}

int rv_hdb_next(rv_hdb_cursor *c, rv_pdns_entry *row)
{
	int rc = sqlite3_step(c->st);

	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return -EBUSY;
	if (rc != SQLITE_ROW)
		return -EIO;
	rv_hdb_reverse_name(col_text(c->st, 0), c->rrname);
	*row = (rv_pdns_entry){
		.rrname = c->rrname,
		.rrtype = (uint16_t)sqlite3_column_int(c->st, 1),
		.rdata = col_text(c->st, 2),
		.sensor = col_text(c->st, 3),
		.time_first = sqlite3_column_int64(c->st, 4),
		.time_last = sqlite3_column_int64(c->st, 5),
		.count = (uint64_t)sqlite3_column_int64(c->st, 6),
		.ttl = (uint32_t)sqlite3_column_int64(c->st, 7),
	};
	return 1;
}

void rv_hdb_cursor_free(rv_hdb_cursor **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	sqlite3_finalize((*cp)->st);
	free(*cp);
	*cp = NULL;
}
