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
 *       last     i64  epoch seconds, first <= last (times after `created`
 *                     are clamped to it on load, see below)
 *       count    u64  >= 1
 *       freq     u64  IEEE 754 binary64 bits of the decayed frequency (finite, >= 0)
 *       depth    u8   longest CNAME chain seen
 *       ttl      u32  TTL of the last answer
 *   trailer
 *     checksum   u64  XXH3-64 (seed 0) of every byte before it
 *
 * A reader first checks the structure: magic, version, a creation time >= 0,
 * the checksum, that every length fits inside the file (the entry count, each
 * ncands and namelen walk to exactly the trailer: nothing cut short, no trailing
 * bytes). Any of these wrong rejects the whole file and changes nothing (the
 * AXFR reconcile still restores the best names).
 *
 * A structurally sound file is then restored entry by entry. One bad entry
 * does not cost the others: an entry whose contents break a bound above (family
 * other than 4 or 6, IPv4 padding not zero, ncands outside 1..64, a name outside
 * 1..1023 bytes or not lower-case printable ASCII, first < 0, first > last,
 * count 0, a frequency that is negative or not finite, the same name twice) is
 * skipped and counted, never restored in part. Times ahead of the file's own
 * `created` stamp (sightings stamped by a resolver whose clock ran ahead) are
 * clamped to `created`, and the entry is kept and counted as clamped.
 *
 * Cost per address (what the table's per-address byte budget is weighed
 * against): on disk 18 bytes plus 39 + namelen per candidate (one 20-byte name:
 * 77 bytes; the worst an address can take, 64 names of 1023 bytes: 67,986).
 * The writer allocates nothing per address: one 4 MiB buffer and an XXH3 state
 * whatever the table's size, two walks of the table (count, then write); in the
 * background child, memory is shared copy-on-write with the agent, so only the
 * pages the agent changes during the save are copied. The reader maps the file
 * (page cache, the file's size), walks its bytes twice (structure, then
 * restore) with a fixed 67 KiB scratch for one entry's candidates; what an
 * address costs in memory after that is the table's own per-address cost.
 * Time, 2-core machine, 1M addresses of 1.3 candidates (100 MB): save
 * 0.2-0.4 s, load 1.7-1.9 s (mostly the table's own inserts); test_timing in
 * tests/unit/test_snapshot.c prints the figures.
 *
 * Saving is atomic: write PATH.tmp (mode 0640), fsync, rename over PATH, fsync
 * the directory; a crash at any point leaves either the old or the new file.
 * PATH.tmp is created afresh (a leftover one, or a symbolic link planted there,
 * is unlinked first; the open never follows a link and fails if anything
 * reappeared meanwhile), and removed again on every failure. Only one save may
 * run at a time (they share PATH.tmp): rv_snapshotter (snapshotter.h) enforces
 * that for the agent.
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

/*
 * Writes the whole table to path atomically (see above), stamped with time(NULL).
 * Blocking: used at shutdown (SIGTERM) and by the background child. Candidates
 * whose name a reader would refuse (cannot happen for names the table learned
 * from DNS; checked anyway) are skipped, and an address left without any is
 * not written. Returns 0, or -errno with err = "PATH.tmp: what failed: why".
 * Never leaves PATH half-written, and never leaves PATH.tmp behind when it
 * returns (a process killed during the save does: the next save removes it).
 * The caller makes sure no other save to path is running (rv_snapshotter does).
 */
int rv_snapshot_save(const rv_table *t, const char *path, char *err, size_t errlen) RV_MUST_CHECK;

/*
 * Same, in a forked child so the event loop never waits for the disk. The
 * child first closes every descriptor above 2 (the dnstap listener and
 * connections, the UPDATE connection, libevent's internals: none of them is
 * its business, and a child holding a socket keeps it open after the agent
 * closed it), puts every caught signal back to its default (a SIGTERM to the
 * whole service ends it instead of reaching the parent's loop through a
 * libevent socketpair), writes with rv_snapshot_save and leaves with _exit(0)
 * on success or _exit(1) (after logging why), never running atexit handlers or
 * touching libevent. Signals stay blocked from before the fork until that is
 * done, so no handler of the agent ever runs in the child. The child writes a
 * copy-on-write image of the table as of the fork: the parent carries on.
 * Returns the child's pid (the caller reaps it and logs the outcome), or -errno
 * if fork failed. The agent uses it through rv_snapshotter_start_async.
 */
pid_t rv_snapshot_save_async(const rv_table *t, const char *path);

/* What a load did, for the caller's log line (see rv_snapshot_read). */
typedef struct rv_snapshot_load_stats {
	size_t loaded;          /* entries restored into the table */
	size_t skipped;         /* bad entries left out (see the format above) */
	size_t clamped;         /* restored entries with a time moved back to `created` */
	char first_skipped[192]; /* why the first one was skipped: "entry 101 candidate 1:
				  * times first=... last=... out of range", or "" */
} rv_snapshot_load_stats;

/*
 * Restores a snapshot held in buf[0..len) into t: first checks the structure
 * of the whole buffer, then restores each good entry in file order with
 * rv_table_restore (bad ones skipped, future times clamped: see above).
 * Returns 0 with *st filled (skipped entries are not an error); -EBADMSG for a
 * structural fault (err says precisely what, e.g. "snapshot truncated at entry
 * 12345 of 1000000" or "checksum mismatch") with the table untouched and *st
 * zero; -ENOMEM from rv_table_restore (the entries before the failing one
 * stay). Pure over bytes.
 */
int rv_snapshot_parse(const uint8_t *buf, size_t len, rv_table *t, rv_snapshot_load_stats *st,
		char *err, size_t errlen) RV_MUST_CHECK;

/*
 * Reads path and parses it. -ENOENT if path does not exist (a first start: not
 * an error for the caller); -ELOOP if path is a symbolic link (not followed:
 * every save renames a regular file over PATH, which would silently replace the
 * link, so it is refused at once; point snapshot-file at the real file); -EINVAL
 * if it is not a regular file (opened without blocking, so a FIFO cannot hang
 * the start); other errors as rv_snapshot_parse, or -errno from reading. err is
 * prefixed with path. A caller logs, e.g.:
 *   "loaded N addresses from PATH; skipped M bad entries (first: <first_skipped>);
 *    K with times ahead of the snapshot's clock clamped"
 */
int rv_snapshot_read(rv_table *t, const char *path, rv_snapshot_load_stats *st, char *err,
		size_t errlen) RV_MUST_CHECK;


#endif
