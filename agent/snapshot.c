/*
 * snapshot.c - the table on disk: atomic save (optionally in a forked child),
 * validated load. Format: see snapshot.h.
 *
 * The writer streams through one large buffer (few write(2) calls, the XXH3
 * state updated per flush), so 1M addresses cost well under a second of CPU;
 * the reader checks the structure of the whole file in a first pass and only
 * then restores (leaving out bad entries), so a corrupt file never leaves a
 * half-restored table.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "log.h"
#include "rv_config.h"
#include "snapshot.h"

#define SUB "snapshot"

/* Big enough that 1M addresses (~60 MB) take a few dozen write(2) calls. */
#define WBUF_SIZE (4u << 20)

/* Fixed bytes of one entry (before its candidates) and of one candidate
 * (besides its name). */
#define ENTRY_FIXED (1 + 16 + 1)
#define CAND_FIXED (2 + 8 + 8 + 8 + 8 + 1 + 4)

/* ---- big-endian helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t double_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bits_double(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/* A name the reader accepts: presentation form never needs bytes outside
 * 0x21..0x7e (RFC 1035 5.1 escapes everything else as \DDD), and the table
 * stores names lower-cased. */
static bool name_ok(const char *s, size_t len)
{
	if (len == 0 || len > RV_SNAPSHOT_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || (c >= 'A' && c <= 'Z'))
			return false;
	}
	return true;
}

/* ---- writer ---- */

typedef struct writer {
	int fd;
	uint8_t *buf;
	size_t used;
	XXH3_state_t *xxh;
	int error;          /* first -errno of a failed write */
	uint64_t entries;   /* entries written */
	uint64_t skipped;   /* candidates skipped (name a reader would refuse) */
} writer;

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int wflush(writer *w)
{
	if (w->error)
		return w->error;
	if (w->used == 0)
		return 0;
	XXH3_64bits_update(w->xxh, w->buf, w->used);
	w->error = write_all(w->fd, w->buf, w->used);
	w->used = 0;
	return w->error;
}

/* Room for n more bytes in the buffer (n <= WBUF_SIZE). */
static uint8_t *wreserve(writer *w, size_t n)
{
	if (w->used + n > WBUF_SIZE && wflush(w) < 0)
		return NULL;
	uint8_t *p = w->buf + w->used;
	w->used += n;
	return p;
}

static unsigned usable_cands(const rv_candidate *cands, unsigned ncands)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ncands && n < RV_SNAPSHOT_CANDS_MAX; i++)
		if (cands[i].name && name_ok(cands[i].name, strlen(cands[i].name)))
			n++;
	return n;
}

static bool addr_ok(const rv_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static int count_visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned ncands)
{
	uint64_t *n = arg;
	if (addr_ok(addr) && usable_cands(cands, ncands) > 0)
		(*n)++;
	return 0;
}

static int write_visit(void *arg, const rv_addr *addr, const rv_candidate *cands, unsigned ncands)
{
	writer *w = arg;
	unsigned n = usable_cands(cands, ncands);

	if (!addr_ok(addr) || n == 0) {
		w->skipped += ncands;
		return 0;
	}
	uint8_t *p = wreserve(w, ENTRY_FIXED);
	if (p == NULL)
		return w->error;
	p[0] = addr->family == AF_INET ? 4 : 6;
	memset(p + 1, 0, 16);
	memcpy(p + 1, addr->bytes, addr->family == AF_INET ? 4 : 16);
	p[17] = (uint8_t)n;
	unsigned written = 0;
	for (unsigned i = 0; i < ncands && written < n; i++) {
		const rv_candidate *c = &cands[i];
		size_t len = c->name ? strlen(c->name) : 0;
		if (c->name == NULL || !name_ok(c->name, len)) {
			w->skipped++;
			continue;
		}
		p = wreserve(w, CAND_FIXED + len);
		if (p == NULL)
			return w->error;
		put16(p, (uint16_t)len);
		memcpy(p + 2, c->name, len);
		p += 2 + len;
		put64(p, (uint64_t)c->first);
		put64(p + 8, (uint64_t)c->last);
		put64(p + 16, c->count);
		put64(p + 24, double_bits(c->freq));
		p[32] = (uint8_t)(c->depth > 255 ? 255 : c->depth);
		put32(p + 33, c->ttl);
		written++;
	}
	w->entries++;
	return 0;
}

/* fsync the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;
	if (fd < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

int rv_snapshot_save(const rv_table *t, const char *path, char *err, size_t errlen)
{
	writer w = {.fd = -1};
	char tmp[4096];
	const char *what = "open";
	uint64_t expected = 0;
	bool created = false;   /* PATH.tmp is ours to remove on failure */
	int ret;

	if (errlen > 0)
		err[0] = '\0';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	/* Count first: the header carries the number of entries and the checksum
	 * covers the header, so it cannot be patched afterwards. */
	(void)rv_table_foreach(t, count_visit, &expected);

	w.buf = malloc(WBUF_SIZE);
	w.xxh = XXH3_createState();
	if (w.buf == NULL || w.xxh == NULL) {
		what = "buffers";
		ret = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(w.xxh);
	/* A leftover PATH.tmp (a save killed midway) or a symbolic link planted
	 * there goes first: unlink removes the name, never a link's target. Then
	 * O_EXCL: the file is always one we create, so nothing that reappears at
	 * PATH.tmp in between (a link, a file someone else holds open) is ever
	 * written through; such a race fails the save instead. O_NOFOLLOW says the
	 * same for readers of this line (O_EXCL never follows a link either);
	 * O_TRUNC is not needed on a file that did not exist. */
	what = "remove the stale file";
	if (unlink(tmp) < 0 && errno != ENOENT) {
		ret = -errno;
		goto out;
	}
	what = "open";
	w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (w.fd < 0) {
		ret = -errno;
		goto out;
	}
	created = true;
	what = "write";
	uint8_t *h = wreserve(&w, RV_SNAPSHOT_HEADER);
	memcpy(h, RV_SNAPSHOT_MAGIC, 6);
	put16(h + 6, RV_SNAPSHOT_VERSION);
	put64(h + 8, (uint64_t)(int64_t)time(NULL));
	put64(h + 16, expected);
	ret = rv_table_foreach(t, write_visit, &w);
	if (ret == 0)
		ret = wflush(&w);
	if (ret < 0)
		goto out;
	if (ret > 0 || w.entries != expected) {
		/* Cannot happen: the table is not modified while we walk it. */
		what = "table walk";
		ret = -EIO;
		goto out;
	}
	uint8_t trailer[RV_SNAPSHOT_TRAILER];
	put64(trailer, XXH3_64bits_digest(w.xxh));
	ret = write_all(w.fd, trailer, sizeof(trailer));
	if (ret < 0)
		goto out;
	what = "fsync";
	if (fsync(w.fd) < 0) {
		ret = -errno;
		goto out;
	}
	what = "close";
	int fd = w.fd;
	w.fd = -1;
	if (close(fd) < 0) {
		ret = -errno;
		goto out;
	}
	what = "rename";
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out;
	}
	created = false;
	/* The data is safe under its final name either way; a failed directory
	 * fsync only means the rename may not survive a power loss. */
	what = "fsync directory";
	ret = sync_dir(path);
	if (ret < 0)
		goto out;
	if (w.skipped > 0)
		rv_warn(SUB, "%s: skipped %" PRIu64 " candidates with unusable names", path,
				w.skipped);
	ret = 0;
out:
	if (ret < 0)
		snprintf(err, errlen, "%s: %s: %s", ret == -ENAMETOOLONG ? path : tmp, what,
				strerror(-ret));
	if (w.fd >= 0)
		close(w.fd);
	/* A partial PATH.tmp (a full disk) is useless and takes the space the
	 * next save needs. */
	if (ret < 0 && created)
		(void)unlink(tmp);
	XXH3_freeState(w.xxh);
	free(w.buf);
	return ret;
}

/* Closes every descriptor above stderr: the child needs none it inherited.
 * close_range does it in one call; without it (older kernel or libc, a seccomp
 * filter), walk /proc/self/fd, and failing that every number below the limit. */
static void close_inherited_fds(void)
{
#if RV_HAVE_CLOSE_RANGE
	if (close_range(3, ~0U, 0) == 0)
		return;
#endif
	/* opendir allocates: safe after fork because the agent is single-threaded. */
	DIR *d = opendir("/proc/self/fd");
	if (d != NULL) {
		int keep = dirfd(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char *end;
			long fd = strtol(de->d_name, &end, 10);
			if (*end == '\0' && end != de->d_name && fd > 2 && fd != keep)
				close((int)fd);
		}
		closedir(d);
		return;
	}
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
		close((int)fd);
}

pid_t rv_snapshot_save_async(const rv_table *t, const char *path)
{
	/* Block every signal across fork, so none reaches a handler of the agent in
	 * the child (libevent's would write into its socketpair, shared with the
	 * parent, or into whatever file takes that descriptor's number once the
	 * child has closed it). */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/* Flush stdio first so buffered output is not written twice. */
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0) {
		int ret = pid < 0 ? -errno : pid;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return ret;
	}

	/* Child: first of all, drop what it inherited. */
	close_inherited_fds();
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		signal(sig, SIG_DFL);  /* fails harmlessly for SIGKILL, SIGSTOP and gaps */
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	char err[512];
	int rc = rv_snapshot_save(t, path, err, sizeof(err));
	if (rc < 0)
		rv_err(SUB, "background save failed: %s", err);
	/* _exit: no atexit handlers, no stdio flush of the parent's buffers. */
	_exit(rc < 0 ? 1 : 0);
}

/* ---- reader ---- */

typedef struct reader {
	const uint8_t *p;
	size_t len;          /* bytes of entries (between header and trailer) */
	size_t off;
	uint64_t entries;
	int64_t created;
} reader;

/* One entry's contents, checked and ready for rv_table_restore. */
typedef struct entry_buf {
	rv_addr addr;
	unsigned ncands;
	bool clamped;
	rv_candidate c[RV_SNAPSHOT_CANDS_MAX];
	char names[RV_SNAPSHOT_CANDS_MAX][RV_SNAPSHOT_NAME_MAX + 1];
} entry_buf;

/* Structure: the size of entry i (1-based, for messages) at r->off, if every
 * length in it stays inside the file. Returns 0, or -EBADMSG with why set. */
static int entry_span(const reader *r, uint64_t i, size_t *size, char *why, size_t whylen)
{
	size_t left = r->len - r->off, n = ENTRY_FIXED;
	if (left < n)
		goto cut;
	const uint8_t *e = r->p + r->off;
	for (unsigned k = 0; k < e[17]; k++) {
		if (left - n < 2)
			goto cut;
		size_t cand = CAND_FIXED + get16(e + n);
		if (left - n < cand)
			goto cut;
		n += cand;
	}
	*size = n;
	return 0;
cut:
	snprintf(why, whylen, "snapshot truncated at entry %" PRIu64 " of %" PRIu64, i,
			r->entries);
	return -EBADMSG;
}

#define BAD_ENTRY(...)                                             \
	do {                                                           \
		snprintf(why, whylen, __VA_ARGS__);                        \
		return 1;                                                  \
	} while (0)

/* Contents of entry i (1-based), known to fit in e[0..entry_span). Returns 0
 * with *out filled (times after created clamped to it), or 1 for a bad entry
 * with why set. */
static int check_entry(const uint8_t *e, uint64_t i, int64_t created, entry_buf *out,
		char *why, size_t whylen)
{
	unsigned fam = e[0], ncands = e[17];
	memset(&out->addr, 0, sizeof(out->addr));
	if (fam == 4) {
		out->addr.family = AF_INET;
		for (int k = 4; k < 16; k++)
			if (e[1 + k] != 0)
				BAD_ENTRY("entry %" PRIu64 ": IPv4 address with non-zero padding", i);
		memcpy(out->addr.bytes, e + 1, 4);
	} else if (fam == 6) {
		out->addr.family = AF_INET6;
		memcpy(out->addr.bytes, e + 1, 16);
	} else {
		BAD_ENTRY("entry %" PRIu64 ": address family %u (expected 4 or 6)", i, fam);
	}
	if (ncands == 0 || ncands > RV_SNAPSHOT_CANDS_MAX)
		BAD_ENTRY("entry %" PRIu64 ": %u candidates (expected 1..%d)", i, ncands,
				RV_SNAPSHOT_CANDS_MAX);
	out->ncands = ncands;
	out->clamped = false;
	const uint8_t *c = e + ENTRY_FIXED;
	for (unsigned k = 0; k < ncands; k++) {
		size_t nl = get16(c);
		const char *name = (const char *)c + 2;
		if (!name_ok(name, nl))
			BAD_ENTRY("entry %" PRIu64 " candidate %u: name of %zu bytes is empty, too "
					"long or not lower-case printable ASCII", i, k + 1, nl);
		const uint8_t *f = c + 2 + nl;
		int64_t first = (int64_t)get64(f), last = (int64_t)get64(f + 8);
		uint64_t count = get64(f + 16);
		double freq = bits_double(get64(f + 24));
		if (first < 0 || first > last)
			BAD_ENTRY("entry %" PRIu64 " candidate %u: times first=%" PRId64 " last=%"
					PRId64 " out of range", i, k + 1, first, last);
		if (count == 0)
			BAD_ENTRY("entry %" PRIu64 " candidate %u: count 0", i, k + 1);
		if (!isfinite(freq) || freq < 0)
			BAD_ENTRY("entry %" PRIu64 " candidate %u: frequency not a finite "
					"non-negative number", i, k + 1);
		/* A sighting cannot postdate the file that records it: the resolver's
		 * clock ran ahead. Keep the entry, at the file's time. */
		if (last > created) {
			last = created;
			first = first < created ? first : created;
			out->clamped = true;
		}
		memcpy(out->names[k], name, nl);
		out->names[k][nl] = '\0';
		/* Unique names: the table keys candidates by name. At most 64 per
		 * address, so pairwise is cheap. */
		for (unsigned j = 0; j < k; j++)
			if (strcmp(out->names[j], out->names[k]) == 0)
				BAD_ENTRY("entry %" PRIu64 ": candidate %u repeats the name of "
						"candidate %u", i, k + 1, j + 1);
		out->c[k] = (rv_candidate){
			.name = out->names[k],
			.first = first,
			.last = last,
			.count = count,
			.freq = freq,
			.depth = f[32],
			.ttl = get32(f + 33),
		};
		c = f + CAND_FIXED - 2;
	}
	return 0;
}

static void skip_entry(rv_snapshot_load_stats *st, const char *why)
{
	if (st->skipped++ == 0)
		snprintf(st->first_skipped, sizeof(st->first_skipped), "%s", why);
}

int rv_snapshot_parse(const uint8_t *buf, size_t len, rv_table *t, rv_snapshot_load_stats *st,
		char *err, size_t errlen)
{
	entry_buf *e = NULL;
	char why[256];
	int ret = -EBADMSG;

	memset(st, 0, sizeof(*st));
	if (errlen > 0)
		err[0] = '\0';
	if (len < 6 || memcmp(buf, RV_SNAPSHOT_MAGIC, 6) != 0) {
		snprintf(err, errlen, "not a rearview snapshot (bad magic)");
		goto out;
	}
	if (len < RV_SNAPSHOT_HEADER + RV_SNAPSHOT_TRAILER) {
		snprintf(err, errlen, "snapshot truncated in the header (%zu bytes)", len);
		goto out;
	}
	unsigned version = get16(buf + 6);
	if (version != RV_SNAPSHOT_VERSION) {
		snprintf(err, errlen, "snapshot format version %u not supported (expected %d)",
				version, RV_SNAPSHOT_VERSION);
		goto out;
	}
	reader r = {
		.p = buf + RV_SNAPSHOT_HEADER,
		.len = len - RV_SNAPSHOT_HEADER - RV_SNAPSHOT_TRAILER,
		.created = (int64_t)get64(buf + 8),
		.entries = get64(buf + 16),
	};
	if (r.created < 0) {
		snprintf(err, errlen, "snapshot creation time %" PRId64 " invalid", r.created);
		goto out;
	}
	bool sum_ok = XXH3_64bits(buf, len - RV_SNAPSHOT_TRAILER) ==
		get64(buf + len - RV_SNAPSHOT_TRAILER);
	/* Pass 1: structure only. A checksum mismatch takes precedence over extra
	 * bytes (random damage), but a file cut short is reported as truncated
	 * (the usual cause: a full disk or a copy). */
	bool truncated = false;
	size_t size;
	why[0] = '\0';
	for (uint64_t i = 0; i < r.entries; i++) {
		if (entry_span(&r, i + 1, &size, why, sizeof(why)) < 0) {
			truncated = true;
			break;
		}
		r.off += size;
	}
	if (!truncated && r.off != r.len)
		snprintf(why, sizeof(why), "%zu trailing bytes after the last of %" PRIu64
				" entries", r.len - r.off, r.entries);
	if (!sum_ok && !truncated) {
		snprintf(err, errlen, "checksum mismatch");
		goto out;
	}
	if (why[0] != '\0') {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	e = malloc(sizeof(*e));
	if (e == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Pass 2: restore, into hash tables sized once for the whole file (growing
	 * them step by step while restoring 1M entries costs a second or more). */
	(void)rv_table_reserve(t, (size_t)r.entries);
	r.off = 0;
	for (uint64_t i = 0; i < r.entries; i++) {
		const uint8_t *p = r.p + r.off;
		(void)entry_span(&r, i + 1, &size, why, sizeof(why));  /* known to fit */
		r.off += size;
		if (check_entry(p, i + 1, r.created, e, why, sizeof(why)) != 0) {
			skip_entry(st, why);
			continue;
		}
		int rc = rv_table_restore(t, &e->addr, e->c, e->ncands);
		if (rc == -ENOMEM) {
			ret = rc;
			snprintf(err, errlen, "entry %" PRIu64 ": restore failed: %s", i + 1,
					strerror(-rc));
			goto out;
		}
		if (rc < 0) {
			/* Cannot happen for an entry check_entry accepted: counted, not fatal. */
			snprintf(why, sizeof(why), "entry %" PRIu64 ": refused by the table: %s",
					i + 1, strerror(-rc));
			skip_entry(st, why);
			continue;
		}
		st->loaded++;
		if (e->clamped)
			st->clamped++;
	}
	ret = 0;
out:
	free(e);
	return ret;
}

int rv_snapshot_read(rv_table *t, const char *path, rv_snapshot_load_stats *ls, char *err,
		size_t errlen)
{
	char why[512];
	void *map = MAP_FAILED;
	struct stat st;
	int ret;

	memset(ls, 0, sizeof(*ls));
	if (errlen > 0)
		err[0] = '\0';
	/* O_NOFOLLOW: see snapshot.h (a link at PATH would be replaced by the next
	 * save). O_NONBLOCK: a FIFO planted at PATH must not hang the start; it
	 * changes nothing for a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			snprintf(err, errlen, "%s: is a symbolic link, not followed (every save "
					"replaces it with a regular file: set snapshot-file to the "
					"link's target)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		ret = -EBADMSG;
		snprintf(err, errlen, "%s: empty file", path);
		goto out;
	}
	/* mmap: no copy of a file that may be tens of megabytes; read once. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(-ret));
		goto out;
	}
	(void)madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	ret = rv_snapshot_parse(map, (size_t)st.st_size, t, ls, why, sizeof(why));
	if (ret < 0)
		snprintf(err, errlen, "%s: %s", path, why);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return ret;
}
