/*
 * snapshot.h - the table's state on disk, so a restart loses nothing (every
 * candidate of every address, not only the best name the RPZ holds).
 *
 * File format, version 1. All integers are big-endian; there is no padding.
 *
 *   header (24 bytes)
 *     magic      6  "RVSNAP"
 *     version    u16  1
 *     created    i64  epoch seconds when the snapshot was written
 *     entries    u64  number of address entries that follow
 *   entry (repeated `entries` times, in rv_table_foreach order: most recently
 *          seen LAST, so restoring in file order rebuilds the recency order)
 *     family     u8   4 (IPv4) or 6 (IPv6) - not AF_*, whose values are per OS
 *     address    16   network order; IPv4 uses the first 4 bytes, the rest zero
 *     ncands     u8   1..64
 *     candidate (repeated ncands times)
 *       namelen  u16  1..1023
 *       name     namelen bytes: presentation form (RFC 1035 5.1 escapes), so
 *                printable ASCII 0x21..0x7e, no NUL, no space, no upper case
 *       first    i64  epoch seconds
 *       last     i64  epoch seconds, first <= last <= created + 1 day
 *       count    u64  >= 1
 *       freq     u64  IEEE 754 binary64 bits of the decayed frequency (finite, >= 0)
 *       depth    u8   longest CNAME chain seen
 *       ttl      u32  TTL of the last answer
 *   trailer
 *     checksum   u64  XXH3-64 (seed 0) of every byte before it
 *
 * A reader checks everything (magic, version, every length and bound, the
 * checksum, no trailing bytes) before it touches the table: a corrupt or
 * truncated file is reported and changes nothing (the AXFR reconcile still
 * restores the best names). Candidate names must also be unique per address.
 *
 * Saving is atomic: write PATH.tmp (mode 0640), fsync, rename over PATH, fsync
 * the directory; a crash at any point leaves either the old or the new file.
 * Only one save may run at a time (they share PATH.tmp): before a synchronous
 * save, kill and reap a background one that is still running.
 */
#ifndef RV_SNAPSHOT_H
#define RV_SNAPSHOT_H

#include <sys/types.h>

#include "common.h"
#include "table.h"

#define RV_SNAPSHOT_MAGIC "RVSNAP"
#define RV_SNAPSHOT_VERSION 1
#define RV_SNAPSHOT_HEADER 24
#define RV_SNAPSHOT_TRAILER 8
/* Bounds a reader enforces (a writer never exceeds them). */
#define RV_SNAPSHOT_NAME_MAX 1023
#define RV_SNAPSHOT_CANDS_MAX 64
/* Sightings may carry dnstap times a little ahead of the snapshot's clock. */
#define RV_SNAPSHOT_CLOCK_SLACK 86400

/*
 * Writes the whole table to path atomically (see above), stamped with time(NULL).
 * Blocking: used at shutdown (SIGTERM) and by the background child. Candidates
 * whose name a reader would refuse (cannot happen for names the table learned
 * from DNS; checked anyway) are skipped, and an address left without any is
 * not written. Returns 0, or -errno with err = "PATH: what failed: why".
 * Never leaves PATH half-written; PATH.tmp may remain after a failure.
 */
int rv_snapshot_save(const rv_table *t, const char *path, char *err, size_t errlen) RV_MUST_CHECK;

/*
 * Same, in a forked child so the event loop never waits for the disk: the child
 * writes with rv_snapshot_save and leaves with _exit(0) on success or _exit(1)
 * (after logging why), never running atexit handlers or touching libevent (its
 * signal handlers are reset to the defaults first, so a SIGTERM to the whole
 * service kills it instead of reaching the parent's loop). The child writes a
 * copy-on-write image of the table as of the fork: the parent carries on.
 * Returns the child's pid (the caller reaps it, e.g. from a SIGCHLD event, and
 * logs the outcome), or -errno if fork failed.
 */
pid_t rv_snapshot_save_async(const rv_table *t, const char *path);

/*
 * Restores a snapshot held in buf[0..len) into t: first validates the whole
 * buffer, then restores each entry in file order with rv_table_restore.
 * Returns 0 with *loaded = entries restored; -EBADMSG (corrupt, truncated, wrong
 * magic or version; err says precisely what, e.g. "snapshot truncated at entry
 * 12345 of 1000000" or "checksum mismatch") and the table untouched; -ENOMEM or
 * -EINVAL from rv_table_restore (the entries before the failing one stay).
 * Pure over bytes.
 */
int rv_snapshot_parse(const uint8_t *buf, size_t len, rv_table *t, size_t *loaded,
		char *err, size_t errlen) RV_MUST_CHECK;

/* Reads path and parses it. -ENOENT if path does not exist (a first start: not
 * an error for the caller); other errors as rv_snapshot_parse, or -errno from
 * reading. err is prefixed with path. */
int rv_snapshot_load(rv_table *t, const char *path, size_t *loaded, char *err,
		size_t errlen) RV_MUST_CHECK;

#endif
