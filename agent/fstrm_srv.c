/*
 * fstrm_srv.c - Frame Streams receiver: an I/O-free session state machine and
 * the libevent server that feeds it from a unix socket (see fstrm_srv.h).
 *
 * Buffering: the server reads into one shared 64 KiB buffer (the loop is
 * single-threaded) and hands it to the session, which delivers every complete
 * frame straight from that buffer. Only the incomplete frame at the end of a
 * read is copied into the session's own buffer, which grows geometrically up
 * to max_frame and is then kept, so the steady state does no allocation and
 * touches each payload byte only in the frame callback.
 *
 * TLS is OpenSSL on the same non-blocking socket and the same read/write
 * events (not a bufferevent), so a TLS connection keeps exactly the plain
 * connection's buffering, deadlines and slot policy: only the byte source
 * (SSL_read) and sink (SSL_write) differ.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <fstrm.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fstrm_srv.h"
#include "guard.h"
#include "log.h"
#include "stats.h"

#define LOG_SUB "fstrm"

/* Frame Streams: a control frame is the 4-byte escape (a zero data length),
 * the 4-byte control length, then at most 512 bytes of control payload. */
#define CTRL_HDR 8u
#define CTRL_MAX FSTRM_CONTROL_FRAME_LENGTH_MAX
#define DATA_HDR 4u

/* Room for the two frames a session can owe its peer (ACCEPT, FINISH). */
#define OUT_MAX (2 * (CTRL_HDR + CTRL_MAX))

/* First allocation of the partial-frame buffer: control frames and typical
 * dnstap frames (~125 bytes) fit without ever growing it. */
#define PBUF_INITIAL 1024u

enum fs_state {
	FS_HANDSHAKE,  /* expecting READY (bidirectional) or START (unidirectional) */
	FS_WAIT_START, /* ACCEPT queued, expecting START */
	FS_DATA,       /* data frames until STOP */
	FS_FINISHED,   /* STOP received, FINISH queued */
	FS_FAILED,     /* protocol error; err and errmsg say why */
};

struct rv_fs_session {
	enum fs_state state;
	int err;
	rv_fs_frame_cb cb;
	rv_fs_batch_cb batch_cb;
	void *cb_arg;
	rv_fs_peer *peer;
	size_t max_frame;
	char *ctype;
	/* Data frames waiting for batch_cb: they point into the caller's buffer
	 * or pbuf, so they go out before either can change (flush_batch()). */
	rv_fs_frame batch[RV_FS_BATCH_MAX];
	size_t nbatch;
	size_t ctype_len;
	/* Reused for every control frame we decode or encode. */
	struct fstrm_control *ctl;
	/* The incomplete frame, header included: have bytes so far, want is how
	 * many we need before we learn more (the header or the whole frame). */
	uint8_t *pbuf;
	size_t pcap;
	size_t have;
	size_t want;
	/* Bumped each time a new incomplete frame starts (rv_fs_session_frame_id). */
	uint64_t frame_id;
	/* Pending output is out[out_off, out_len). */
	size_t out_off;
	size_t out_len;
	uint8_t out[OUT_MAX];
	char errmsg[256];
};

static const char *const ctl_names[] = {
	[FSTRM_CONTROL_ACCEPT] = "ACCEPT", [FSTRM_CONTROL_START] = "START",
	[FSTRM_CONTROL_STOP] = "STOP",     [FSTRM_CONTROL_READY] = "READY",
	[FSTRM_CONTROL_FINISH] = "FINISH",
};

static const char *const state_names[] = {
	[FS_HANDSHAKE] = "expecting READY or START",
	[FS_WAIT_START] = "expecting START after ACCEPT",
	[FS_DATA] = "receiving data frames",
	[FS_FINISHED] = "finished",
	[FS_FAILED] = "failed",
};

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(rv_fs_session *s, int err, const char *fmt, ...) RV_PRINTF(3, 4);

static int fail(rv_fs_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	s->state = FS_FAILED;
	s->err = err;
	return err;
}

/* Peer-supplied content types go into log lines: keep them printable and short. */
static void printable(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
	size_t i, max = dstlen - 1;
	bool cut = len > max;

	if (cut && max >= 3)
		max -= 3;
	for (i = 0; i < len && i < max; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f && src[i] != '\'') ? (char)src[i] : '?';
	if (cut && dstlen > 3) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

rv_fs_session *rv_fs_session_new(const char *content_type, size_t max_frame,
		rv_fs_frame_cb cb, void *cb_arg, rv_fs_peer *peer)
{
	rv_fs_session *s = NULL;
	size_t ctlen = strlen(content_type);

	/* A longer type could not be sent in ACCEPT; it is a caller bug, not input. */
	if (ctlen > FSTRM_CONTROL_FIELD_CONTENT_TYPE_LENGTH_MAX)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	s->state = FS_HANDSHAKE;
	s->cb = cb;
	s->cb_arg = cb_arg;
	s->peer = peer;
	s->max_frame = max_frame;
	s->ctype_len = ctlen;
	s->ctype = strdup(content_type);
	s->ctl = fstrm_control_init();
	s->pcap = PBUF_INITIAL;
	s->pbuf = malloc(s->pcap);
	if (s->ctype == NULL || s->ctl == NULL || s->pbuf == NULL)
		goto fail;
	return s;
fail:
	rv_fs_session_free(&s);
	return NULL;
}

void rv_fs_session_set_batch(rv_fs_session *s, rv_fs_batch_cb batch_cb)
{
	s->batch_cb = batch_cb;
}

static void flush_batch(rv_fs_session *s)
{
	if (s->nbatch > 0) {
		size_t n = s->nbatch;

		s->nbatch = 0;
		s->batch_cb(s->cb_arg, s->peer, s->batch, n);
	}
}

void rv_fs_session_free(rv_fs_session **sp)
{
	rv_fs_session *s = *sp;

	if (s == NULL)
		return;
	if (s->ctl != NULL)
		fstrm_control_destroy(&s->ctl);
	free(s->ctype);
	free(s->pbuf);
	free(s);
	*sp = NULL;
}

/* Encodes a control frame (with its escape header) onto the output queue. */
static int queue_control(rv_fs_session *s, fstrm_control_type type, bool with_ctype)
{
	size_t room;

	if (s->out_off > 0) {
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
	room = sizeof(s->out) - s->out_len;
	fstrm_control_reset(s->ctl);
	if (fstrm_control_set_type(s->ctl, type) != fstrm_res_success ||
	    (with_ctype && fstrm_control_add_field_content_type(s->ctl,
				(const uint8_t *)s->ctype, s->ctype_len) != fstrm_res_success) ||
	    fstrm_control_encode(s->ctl, s->out + s->out_len, &room,
				FSTRM_CONTROL_FLAG_WITH_HEADER) != fstrm_res_success)
		return fail(s, -ENOBUFS, "cannot encode %s control frame", ctl_names[type]);
	s->out_len += room;
	return 0;
}

/* READY offered types we do not speak: name them all, the operator needs them. */
static int fail_ready_types(rv_fs_session *s)
{
	char list[160], one[48];
	size_t n = 0, off = 0;

	list[0] = '\0';
	(void)fstrm_control_get_num_field_content_type(s->ctl, &n);
	for (size_t i = 0; i < n && off < sizeof(list); i++) {
		const uint8_t *ct;
		size_t ctlen;
		int w;

		if (fstrm_control_get_field_content_type(s->ctl, i, &ct, &ctlen) != fstrm_res_success)
			break;
		printable(one, sizeof(one), ct, ctlen);
		w = snprintf(list + off, sizeof(list) - off, "%s'%s'", i ? ", " : "", one);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return fail(s, -EPROTO, "READY offers content type(s) %s but not '%s'", list, s->ctype);
}

static int handle_control(rv_fs_session *s, const uint8_t *f, size_t total)
{
	uint32_t type = load_be32(f + CTRL_HDR);
	char ct[64];

	/* Checked before decoding so the error names the real problem. */
	if (type < FSTRM_CONTROL_ACCEPT || type > FSTRM_CONTROL_FINISH)
		return fail(s, -EBADMSG, "unknown control frame type %u (%zu bytes)", type, total);
	if (fstrm_control_decode(s->ctl, f, total, FSTRM_CONTROL_FLAG_WITH_HEADER) !=
	    fstrm_res_success)
		return fail(s, -EBADMSG, "malformed %s control frame (%zu bytes)",
				ctl_names[type], total - CTRL_HDR);

	switch (type) {
	case FSTRM_CONTROL_READY:
		if (s->state != FS_HANDSHAKE)
			break;
		/* libfstrm treats a READY without any content type as "anything"; so do
		 * we, and answer with ours. */
		if (fstrm_control_match_field_content_type(s->ctl, (const uint8_t *)s->ctype,
					s->ctype_len) != fstrm_res_success)
			return fail_ready_types(s);
		if (queue_control(s, FSTRM_CONTROL_ACCEPT, true) < 0)
			return s->err;
		s->state = FS_WAIT_START;
		return 0;
	case FSTRM_CONTROL_START:
		if (s->state != FS_HANDSHAKE && s->state != FS_WAIT_START)
			break;
		if (fstrm_control_match_field_content_type(s->ctl, (const uint8_t *)s->ctype,
					s->ctype_len) != fstrm_res_success) {
			const uint8_t *p = NULL;
			size_t plen = 0;

			(void)fstrm_control_get_field_content_type(s->ctl, 0, &p, &plen);
			printable(ct, sizeof(ct), p, p ? plen : 0);
			return fail(s, -EPROTO, "START has content type '%s', expected '%s'",
					ct, s->ctype);
		}
		s->state = FS_DATA;
		return 0;
	case FSTRM_CONTROL_STOP:
		if (s->state != FS_DATA)
			break;
		/* named waits in exclusive mode (queries blocked) for FINISH: queue it now. */
		if (queue_control(s, FSTRM_CONTROL_FINISH, false) < 0)
			return s->err;
		s->state = FS_FINISHED;
		return 0;
	default:
		break;
	}
	return fail(s, -EBADMSG, "unexpected %s control frame while %s", ctl_names[type],
			state_names[s->state]);
}

/*
 * Looks at a frame header (n >= 4 bytes at p) and returns the total length the
 * frame needs: the whole frame once known, else the control header size (8).
 * Lengths are checked here, before anything is buffered, so a hostile length
 * never causes an allocation.
 */
static long frame_need(rv_fs_session *s, const uint8_t *p, size_t n)
{
	uint32_t len = load_be32(p), clen;

	if (len != 0) {
		/* Checked first: garbage at the start of a connection is "not Frame
		 * Streams", which says more than an absurd size. */
		if (s->state != FS_DATA)
			return fail(s, -EBADMSG, "data frame (%u bytes) while %s%s", len,
					state_names[s->state], s->state == FS_HANDSHAKE ?
					" (not a Frame Streams writer?)" : "");
		if (len > s->max_frame)
			return fail(s, -EMSGSIZE, "data frame of %u bytes exceeds max-frame-size %zu",
					len, s->max_frame);
		return (long)DATA_HDR + len;
	}
	if (n < CTRL_HDR)
		return CTRL_HDR;
	clen = load_be32(p + DATA_HDR);
	if (clen > CTRL_MAX)
		return fail(s, -EMSGSIZE, "control frame of %u bytes exceeds the %u-byte limit",
				clen, CTRL_MAX);
	if (clen < 4)
		return fail(s, -EBADMSG, "control frame of %u bytes is too short for a type", clen);
	return (long)(CTRL_HDR + clen);
}

static inline int handle_frame(rv_fs_session *s, const uint8_t *f, size_t total)
{
	if (load_be32(f) == 0) {
		/* Frames before a control frame are delivered before it acts. */
		flush_batch(s);
		return handle_control(s, f, total);
	}
	if (s->peer != NULL)
		s->peer->frames++;
	if (s->batch_cb != NULL) {
		s->batch[s->nbatch++] = (rv_fs_frame){f + DATA_HDR, total - DATA_HDR};
		if (s->nbatch == RV_FS_BATCH_MAX)
			flush_batch(s);
	} else if (s->cb != NULL) {
		s->cb(s->cb_arg, s->peer, f + DATA_HDR, total - DATA_HDR);
	}
	return 0;
}

static int pbuf_reserve(rv_fs_session *s, size_t need)
{
	size_t cap = s->pcap;
	uint8_t *p;

	size_t limit = s->max_frame + DATA_HDR;

	if (need <= cap)
		return 0;
	/* Geometric growth, so a peer with growing frames costs few reallocs, but
	 * never past the largest frame frame_need() admits. */
	if (limit < CTRL_HDR + CTRL_MAX)
		limit = CTRL_HDR + CTRL_MAX;
	while (cap < need)
		cap *= 2;
	if (cap > limit)
		cap = limit > need ? limit : need;
	p = realloc(s->pbuf, cap);
	if (p == NULL)
		return fail(s, -ENOMEM, "out of memory buffering a %zu-byte frame", need);
	s->pbuf = p;
	s->pcap = cap;
	return 0;
}

static int feed(rv_fs_session *s, const uint8_t *buf, size_t len)
{
	long need;
	int rc;

	if (s->state == FS_FAILED)
		return s->err;
	while (len > 0) {
		if (s->state == FS_FINISHED)
			return fail(s, -EBADMSG, "%zu bytes after STOP", len);
		if (s->have == 0) {
			/* Fast path: complete frames straight from the caller's buffer. */
			if (len >= DATA_HDR) {
				need = frame_need(s, buf, len);
				if (need < 0)
					return (int)need;
				if ((size_t)need <= len) {
					rc = handle_frame(s, buf, (size_t)need);
					if (rc < 0)
						return rc;
					buf += need;
					len -= (size_t)need;
					continue;
				}
			}
			/* pbuf is about to change: a frame batched from it goes first. */
			flush_batch(s);
			s->want = DATA_HDR;
			s->frame_id++;
		}
		/* Slow path: collect the header, then the rest of the frame. */
		size_t take = s->want - s->have;

		if (take > len)
			take = len;
		rc = pbuf_reserve(s, s->want);
		if (rc < 0)
			return rc;
		memcpy(s->pbuf + s->have, buf, take);
		s->have += take;
		buf += take;
		len -= take;
		if (s->have < s->want)
			break;
		need = frame_need(s, s->pbuf, s->have);
		if (need < 0)
			return (int)need;
		if ((size_t)need > s->have) {
			s->want = (size_t)need;
			continue;
		}
		rc = handle_frame(s, s->pbuf, s->have);
		s->have = 0;
		s->want = 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

int rv_fs_session_feed(rv_fs_session *s, const uint8_t *buf, size_t len)
{
	int rc = feed(s, buf, len);

	/* buf is the caller's: every frame in it is delivered before return,
	 * those before an error included (as one at a time would have been). */
	flush_batch(s);
	return rc;
}

const uint8_t *rv_fs_session_output(const rv_fs_session *s, size_t *len)
{
	*len = s->out_len - s->out_off;
	return s->out + s->out_off;
}

void rv_fs_session_consume_output(rv_fs_session *s, size_t n)
{
	if (n > s->out_len - s->out_off)
		n = s->out_len - s->out_off;
	s->out_off += n;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
}

bool rv_fs_session_finished(const rv_fs_session *s)
{
	return s->state == FS_FINISHED;
}

bool rv_fs_session_accepted(const rv_fs_session *s)
{
	return s->state == FS_WAIT_START;
}

bool rv_fs_session_started(const rv_fs_session *s)
{
	return s->state == FS_DATA || s->state == FS_FINISHED;
}

bool rv_fs_session_mid_frame(const rv_fs_session *s)
{
	return s->have > 0;
}

uint64_t rv_fs_session_frame_id(const rv_fs_session *s)
{
	return s->frame_id;
}

const char *rv_fs_session_error(const rv_fs_session *s)
{
	return s->state == FS_FAILED ? s->errmsg : "no error";
}

/* ---- slot policy ---- */

bool rv_fs_slot_before(const rv_fs_slot *a, const rv_fs_slot *b)
{
	if (a->trusted != b->trusted)
		return !a->trusted;
	if (a->progress != b->progress)
		return a->progress < b->progress;
	return a->since_ms < b->since_ms;
}

bool rv_fs_slot_evictable(const rv_fs_slot *victim, bool newcomer_trusted)
{
	/* An untrusted peer must never be able to push named out. */
	return newcomer_trusted || !victim->trusted;
}

long rv_fs_slot_victim(const rv_fs_slot *slots, size_t n, bool newcomer_trusted)
{
	long best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!rv_fs_slot_evictable(&slots[i], newcomer_trusted))
			continue;
		if (best < 0 || rv_fs_slot_before(&slots[i], &slots[best]))
			best = (long)i;
	}
	return best;
}

static const char *const progress_names[] = {
	[RV_FS_FINISHING] = "finishing",
	[RV_FS_CONNECTED] = "no handshake",
	[RV_FS_ACCEPTED] = "ACCEPT sent, no START",
	[RV_FS_STARTED] = "started, no frame accepted",
	[RV_FS_DELIVERING] = "delivering",
};

/* ---- libevent server ---- */

/* One read() per 64 KiB; at most 256 KiB per callback so one busy peer cannot
 * starve the others (the read event is level-triggered and fires again). */
#define RBUF_SIZE (64 * 1024)
#define READ_BUDGET (256 * 1024)
#define ACCEPT_BATCH 32
/* After EMFILE and friends the listener stays readable; pause it instead of spinning. */
#define ACCEPT_PAUSE_MS 1000
/* Connection log lines: LOG_BURST of each kind per LOG_WINDOW_MS, then one
 * summary. A reconnect storm (5,500 reconnects were seen) stays a few lines. */
#define LOG_BURST 5
#define LOG_WINDOW_MS 60000

/* The one deadline a connection has at a time. */
enum deadline {
	DL_NONE,
	DL_HANDSHAKE, /* accept -> START */
	DL_FRAME,     /* first byte of a frame -> its last */
	DL_FINISH,    /* STOP -> FINISH read by the peer */
};

/* Kinds of connection log lines, counted when suppressed. */
enum conn_event {
	CE_OPENED,
	CE_CLOSED,   /* by the peer, or after STOP/FINISH */
	CE_EVICTED,
	CE_TIMED_OUT,
	CE_REFUSED,
	CE_FAILED,   /* protocol or socket error */
	CE_MALFORMED, /* the frame callback's first malformed frame of a connection */
	CE_DENIED,   /* a TCP/TLS peer outside the allow-list */
	CE_TLS_FAILED, /* TLS handshake failed (bad client certificate, not TLS, ...) */
	CE_IDENTITY, /* the frame callback's "source identity" line of a connection */
	CE_TLS_OK,   /* TLS established (its own budget: "opened" lines come first) */
	CE_COUNT,
};

static const char *const conn_event_names[] = {
	[CE_OPENED] = "opened", [CE_CLOSED] = "closed", [CE_EVICTED] = "evicted",
	[CE_TIMED_OUT] = "timed out", [CE_REFUSED] = "refused", [CE_FAILED] = "failed",
	[CE_MALFORMED] = "sent malformed frames", [CE_DENIED] = "denied",
	[CE_TLS_FAILED] = "TLS failed", [CE_IDENTITY] = "identified",
	[CE_TLS_OK] = "TLS established",
};

struct fs_listener {
	rv_fs_server *srv;
	rv_fs_listen_kind kind;
	int lfd;
	struct event *ev;
	char name[128];  /* "unix:/run/rearview/dnstap.sock", "tls:127.0.0.1:6000" */
};

struct fs_conn {
	struct fs_conn *prev, *next;
	rv_fs_server *srv;
	int fd;
	SSL *ssl;                 /* TLS peers: NULL for unix and plain TCP */
	bool tls_done;            /* handshake complete */
	bool read_wants_write;    /* SSL_read needs the socket writable first */
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_timer;
	rv_fs_session *sess;
	rv_fs_peer peer;
	rv_fs_slot slot;
	enum deadline deadline;
	uint64_t deadline_frame;  /* the frame id DL_FRAME is timing */
	uint64_t connected_ms;
	uint64_t bytes;
	uint64_t good_frames;     /* frames the callback accepted, at the last read */
};

struct rv_fs_server {
	struct event_base *base;
	char *path;
	char *ctype;
	size_t max_frame;
	unsigned max_connections;
	unsigned stall_timeout_ms;
	unsigned handshake_timeout_ms;
	uid_t *trusted_uids;
	size_t ntrusted_uids;
	rv_fs_frame_cb cb;
	rv_fs_batch_cb batch_cb;
	void *cb_arg;
	struct fs_listener ls[RV_FS_LISTEN_MAX];
	size_t nls;
	bool accepting;           /* listeners open (until stop_accepting) */
	char *name;               /* the first listener's name, for server-wide log lines */
	rv_guard *allow;          /* networks TCP/TLS peers may come from (a guard's CIDR set) */
	SSL_CTX *tls;             /* NULL without tls: listeners */
	bool tls_mutual;          /* a client CA verifies client certificates */
	struct event *ev_resume;
	/* Identity of the socket file we bound: free() unlinks only that one, not a
	 * newer instance's socket at the same path. */
	dev_t sock_dev;
	ino_t sock_ino;
	bool path_bound;
	struct fs_conn *conns;
	unsigned nconns;
	/* Log rate limit: a window opens with the first line logged and closes
	 * LOG_WINDOW_MS later with a summary of what it suppressed. Each kind has
	 * its own budget, so a storm of one kind (reconnects, evictions) cannot
	 * hide the first lines of another (a protocol error, a timeout). */
	struct event *ev_logwin;
	bool logwin_open;
	uint64_t logwin_start_ms;
	unsigned log_used[CE_COUNT];
	uint64_t log_suppressed[CE_COUNT];
	int log_suppressed_level;
	uint8_t rbuf[RBUF_SIZE];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Logs the window's suppressed counts, if any, and closes the window. */
static void log_window_flush(rv_fs_server *srv)
{
	char list[256];
	uint64_t total = 0;
	size_t off = 0;

	for (int k = 0; k < CE_COUNT; k++) {
		int w;

		if (srv->log_suppressed[k] == 0)
			continue;
		total += srv->log_suppressed[k];
		w = snprintf(list + off, sizeof(list) - off, "%s%llu %s", off ? ", " : "",
				(unsigned long long)srv->log_suppressed[k], conn_event_names[k]);
		if (w > 0 && (size_t)w < sizeof(list) - off)
			off += (size_t)w;
	}
	/* The window is shorter than LOG_WINDOW_MS when the server is freed. */
	if (total > 0)
		rv_log(srv->log_suppressed_level, LOG_SUB,
				"%s: %llu more connection events in the last %llu s not logged one "
				"by one (%s); the statistics line has the totals", srv->name,
				(unsigned long long)total,
				(unsigned long long)((now_ms() - srv->logwin_start_ms + 999) / 1000),
				off ? list : "");
	memset(srv->log_suppressed, 0, sizeof(srv->log_suppressed));
	memset(srv->log_used, 0, sizeof(srv->log_used));
	srv->log_suppressed_level = RV_LOG_DEBUG;
	srv->logwin_open = false;
}

static void log_window_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_window_flush(arg);
}

/* Should a connection line of this kind and level be logged now? Lines the
 * log level hides cost nothing and are not counted. */
static bool conn_log_ok(rv_fs_server *srv, enum conn_event kind, int level)
{
	if (level > rv_log_level)
		return false;
	if (!srv->logwin_open) {
		struct timeval tv = { LOG_WINDOW_MS / 1000, (LOG_WINDOW_MS % 1000) * 1000 };

		srv->logwin_open = true;
		srv->logwin_start_ms = now_ms();
		evtimer_add(srv->ev_logwin, &tv);
	}
	if (srv->log_used[kind] < LOG_BURST) {
		srv->log_used[kind]++;
		return true;
	}
	srv->log_suppressed[kind]++;
	if (level < srv->log_suppressed_level)
		srv->log_suppressed_level = level;
	return false;
}

bool rv_fs_peer_log_ok(rv_fs_peer *peer, int level)
{
	if (peer == NULL || peer->srv == NULL)
		return level <= rv_log_level;
	return conn_log_ok(peer->srv, CE_MALFORMED, level);
}

bool rv_fs_peer_log_identity_ok(rv_fs_peer *peer, int level)
{
	if (peer == NULL || peer->srv == NULL)
		return level <= rv_log_level;
	return conn_log_ok(peer->srv, CE_IDENTITY, level);
}

#define conn_log(srv, kind, level, ...)                                 \
	do {                                                            \
		if (conn_log_ok((srv), (kind), (level)))                \
			rv_log_write((level), LOG_SUB, __VA_ARGS__);    \
	} while (0)

static void conn_close(struct fs_conn *c)
{
	rv_fs_server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
	rv_stats.fs_active--;
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->ev_timer != NULL)
		event_free(c->ev_timer);
	rv_fs_session_free(&c->sess);
	if (c->ssl != NULL) {
		/* One non-blocking close_notify attempt; the peer may be gone. */
		if (c->tls_done)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	close(c->fd);
	free(c);
}

static void conn_drop(struct fs_conn *c)
{
	rv_stats.fs_dropped++;
	conn_close(c);
}

/* Arms the connection's one timer for kind, ms from now (0 ms = no deadline). */
static void deadline_arm(struct fs_conn *c, enum deadline kind, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (ms == 0) {
		evtimer_del(c->ev_timer);
		c->deadline = DL_NONE;
		return;
	}
	evtimer_add(c->ev_timer, &tv);
	c->deadline = kind;
}

static void deadline_clear(struct fs_conn *c)
{
	if (c->deadline != DL_NONE) {
		evtimer_del(c->ev_timer);
		c->deadline = DL_NONE;
	}
}

/*
 * After a read: brings the slot (eviction rank) and the deadline up to date
 * with what the session now knows. The handshake deadline stays until START;
 * after it, a frame deadline runs only while a frame is incomplete, and is
 * armed once per frame: more bytes of the same frame do not move it.
 */
static void conn_progress(struct fs_conn *c)
{
	rv_fs_session *s = c->sess;
	uint64_t good = c->peer.frames - c->peer.bad_frames;

	if (!rv_fs_session_started(s)) {
		if (rv_fs_session_accepted(s))
			c->slot.progress = RV_FS_ACCEPTED;
		return;
	}
	if (good > c->good_frames) {
		c->slot.progress = RV_FS_DELIVERING;
		c->slot.since_ms = now_ms();
	} else if (c->slot.progress < RV_FS_STARTED) {
		c->slot.progress = RV_FS_STARTED;
		c->slot.since_ms = now_ms();
	}
	c->good_frames = good;
	if (rv_fs_session_mid_frame(s)) {
		uint64_t id = rv_fs_session_frame_id(s);

		if (c->deadline != DL_FRAME || c->deadline_frame != id) {
			deadline_arm(c, DL_FRAME, c->srv->stall_timeout_ms);
			c->deadline_frame = id;
		}
	} else {
		deadline_clear(c);
	}
}

/* The byte sink: send() or SSL_write(). Returns the bytes written, or -1
 * with errno (EAGAIN: wait for EV_WRITE). */
static ssize_t conn_send(struct fs_conn *c, const uint8_t *p, size_t len)
{
	int n, e, saved;

	/* MSG_NOSIGNAL: a peer that vanished must not SIGPIPE the daemon (the
	 * daemons ignore SIGPIPE too, for OpenSSL's plain write()). */
	if (c->ssl == NULL)
		return send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	saved = errno;
	e = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN :
		e == SSL_ERROR_SYSCALL && saved != 0 ? saved : EPROTO;
	return -1;
}

/* The byte source: read() or SSL_read(). Returns the bytes read, 0 at the
 * end of the stream, or -1 with errno (EAGAIN: nothing more now). */
static ssize_t conn_recv(struct fs_conn *c, uint8_t *buf, size_t len)
{
	int n, e, saved;

	if (c->ssl == NULL)
		return read(c->fd, buf, len);
	n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	saved = errno;
	e = SSL_get_error(c->ssl, n);
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		/* A TLS-level write (key update) is due before more can be read. */
		c->read_wants_write = true;
		event_add(c->ev_write, NULL);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		errno = saved != 0 ? saved : ECONNRESET;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

/* Writes pending output without blocking. Returns 1 when drained, 0 when the
 * rest waits for EV_WRITE, -1 when the connection was closed. */
static int conn_flush(struct fs_conn *c)
{
	const uint8_t *p;
	size_t len;
	ssize_t n;

	for (p = rv_fs_session_output(c->sess, &len); len > 0;
	     p = rv_fs_session_output(c->sess, &len)) {
		n = conn_send(c, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->ev_write, NULL);
				return 0;
			}
			conn_log(c->srv, CE_FAILED, RV_LOG_NOTICE, "%s: write failed: %s; closing",
					c->peer.label, strerror(errno));
			conn_close(c);
			return -1;
		}
		rv_fs_session_consume_output(c->sess, (size_t)n);
	}
	return 1;
}

static void conn_finish_close(struct fs_conn *c)
{
	conn_log(c->srv, CE_CLOSED, RV_LOG_INFO, "%s: STOP after %llu frames, FINISH sent; closing",
			c->peer.label, (unsigned long long)c->peer.frames);
	conn_close(c);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);

/* The handshake is done: log the peer's certificate, and make a peer whose
 * certificate the client CA verified a writer (fstrm_srv.h). */
static void conn_tls_established(struct fs_conn *c)
{
	X509 *cert = SSL_get1_peer_certificate(c->ssl);
	char cn[40] = "";
	size_t used;

	if (cert != NULL) {
		(void)X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
				cn, sizeof(cn));
		for (char *p = cn; *p != '\0'; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				*p = '?';
		if (c->srv->tls_mutual && SSL_get_verify_result(c->ssl) == X509_V_OK)
			c->slot.trusted = true;
		X509_free(cert);
	}
	used = strlen(c->peer.label);
	snprintf(c->peer.label + used, sizeof(c->peer.label) - used, "%s%s%s",
			cn[0] ? " cn " : "", cn, c->slot.trusted ? " (writer)" : "");
	conn_log(c->srv, CE_TLS_OK, RV_LOG_INFO, "%s: TLS established (%s, %s)", c->peer.label,
			SSL_get_version(c->ssl), cert != NULL ? "client certificate verified" :
			"no client certificate");
}

/* Drives the TLS handshake. Returns 1 when it is complete, 0 while it waits
 * for the socket, -1 when it failed (the connection was closed). */
static int conn_tls_handshake(struct fs_conn *c)
{
	char why[200];
	unsigned long ec;
	long vr;
	int n, e;

	n = SSL_accept(c->ssl);
	if (n == 1) {
		c->tls_done = true;
		conn_tls_established(c);
		return 1;
	}
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		event_add(c->ev_write, NULL);
		return 0;
	}
	vr = SSL_get_verify_result(c->ssl);
	ec = ERR_peek_last_error();
	if (vr != X509_V_OK)
		snprintf(why, sizeof(why), "client certificate refused: %s",
				X509_verify_cert_error_string(vr));
	else if (ec != 0)
		ERR_error_string_n(ec, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "connection closed during the handshake");
	ERR_clear_error();
	conn_log(c->srv, CE_TLS_FAILED, RV_LOG_WARNING, "%s: TLS handshake failed: %s; closing",
			c->peer.label, why);
	rv_stats.fs_tls_failures++;
	conn_close(c);
	return -1;
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fs_conn *c = arg;

	(void)what;
	if (c->ssl != NULL && !c->tls_done) {
		if (conn_tls_handshake(c) == 1)
			conn_read_cb(fd, EV_READ, c);
		return;
	}
	if (c->read_wants_write) {
		c->read_wants_write = false;
		conn_read_cb(fd, EV_READ, c);
		return;
	}
	if (conn_flush(c) == 1 && rv_fs_session_finished(c->sess))
		conn_finish_close(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fs_conn *c = arg;
	rv_fs_server *srv = c->srv;

	(void)fd;
	(void)what;
	switch (c->deadline) {
	case DL_HANDSHAKE:
		conn_log(srv, CE_TIMED_OUT, RV_LOG_WARNING,
				"%s: no Frame Streams handshake within %u ms (%s, %llu bytes received); "
				"dropping", c->peer.label, srv->handshake_timeout_ms,
				progress_names[c->slot.progress], (unsigned long long)c->bytes);
		break;
	case DL_FRAME:
		conn_log(srv, CE_TIMED_OUT, RV_LOG_WARNING,
				"%s: a frame was still incomplete %u ms after its first byte "
				"(after %llu frames); dropping", c->peer.label, srv->stall_timeout_ms,
				(unsigned long long)c->peer.frames);
		break;
	case DL_FINISH:
		conn_log(srv, CE_TIMED_OUT, RV_LOG_WARNING,
				"%s: peer did not read FINISH within %u ms; dropping", c->peer.label,
				srv->stall_timeout_ms);
		break;
	case DL_NONE:
		/* A timer that fired as it was being cleared: nothing is due. */
		return;
	}
	rv_stats.fs_timeouts++;
	conn_drop(c);
}

static void conn_eof(struct fs_conn *c)
{
	if (rv_fs_session_mid_frame(c->sess))
		conn_log(c->srv, CE_CLOSED, RV_LOG_NOTICE,
				"%s: closed without STOP in the middle of a frame after %llu frames",
				c->peer.label, (unsigned long long)c->peer.frames);
	else
		conn_log(c->srv, CE_CLOSED, RV_LOG_NOTICE, "%s: closed without STOP after %llu frames",
				c->peer.label, (unsigned long long)c->peer.frames);
	conn_close(c);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fs_conn *c = arg;
	rv_fs_server *srv = c->srv;
	size_t budget = READ_BUDGET;
	bool got = false;
	ssize_t n;
	int rc;

	(void)what;
	(void)fd;
	if (c->ssl != NULL && !c->tls_done && conn_tls_handshake(c) <= 0)
		return;
	while (budget > 0) {
		n = conn_recv(c, srv->rbuf, sizeof(srv->rbuf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_log(srv, CE_FAILED, RV_LOG_NOTICE, "%s: read failed: %s; closing",
					c->peer.label, strerror(errno));
			conn_close(c);
			return;
		}
		if (n == 0) {
			conn_eof(c);
			return;
		}
		got = true;
		c->bytes += (uint64_t)n;
		rv_stats.fs_bytes += (uint64_t)n;
		uint64_t before = c->peer.frames;
		rc = rv_fs_session_feed(c->sess, srv->rbuf, (size_t)n);
		rv_stats.fs_frames += c->peer.frames - before;
		if (rc < 0) {
			conn_log(srv, CE_FAILED, RV_LOG_ERR, "%s: dropping connection: %s",
					c->peer.label, rv_fs_session_error(c->sess));
			conn_drop(c);
			return;
		}
		rc = conn_flush(c);
		if (rc < 0)
			return;
		if (rv_fs_session_finished(c->sess)) {
			rv_stats.fs_finished++;
			if (rc == 1) {
				conn_finish_close(c);
				return;
			}
			/* Nothing more may arrive; wait for FINISH to drain, bounded. It
			 * is the first to go if a newcomer needs the slot. */
			event_del(c->ev_read);
			c->slot.progress = RV_FS_FINISHING;
			c->slot.since_ms = now_ms();
			deadline_arm(c, DL_FINISH, srv->stall_timeout_ms);
			return;
		}
		/* A short read means the socket is drained: skip the EAGAIN read
		 * (not so for TLS: SSL_read returns one record at a time). */
		if (c->ssl == NULL && (size_t)n < sizeof(srv->rbuf))
			break;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
	/* Decrypted bytes OpenSSL still holds do not make the socket readable. */
	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		event_active(c->ev_read, EV_READ, 1);
	if (got)
		conn_progress(c);
}

static bool uid_trusted(const rv_fs_server *srv, uid_t uid)
{
	for (size_t i = 0; i < srv->ntrusted_uids; i++)
		if (srv->trusted_uids[i] == uid)
			return true;
	return false;
}

/* "fd 7 pid 1234 uid 110 (writer)" from SO_PEERCRED, when available. Returns
 * whether the peer is a writer (a trusted uid); without credentials it is not. */
static bool peer_identity(const rv_fs_server *srv, int fd, char *buf, size_t len)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	bool trusted;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		snprintf(buf, len, "fd %d", fd);
		return false;
	}
	trusted = uid_trusted(srv, cred.uid);
	snprintf(buf, len, "fd %d pid %ld uid %lu%s", fd, (long)cred.pid,
			(unsigned long)cred.uid, trusted ? " (writer)" : "");
	return trusted;
}

static int conn_new(rv_fs_server *srv, int fd, const char *label, bool trusted,
		const char *source, bool tls)
{
	struct fs_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		goto fail;
	c->srv = srv;
	c->fd = fd;
	snprintf(c->peer.label, sizeof(c->peer.label), "%s", label);
	snprintf(c->peer.source, sizeof(c->peer.source), "%s", source ? source : "");
	if (tls) {
		c->ssl = SSL_new(srv->tls);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1)
			goto fail;
		SSL_set_accept_state(c->ssl);
	}
	c->peer.srv = srv;
	c->connected_ms = now_ms();
	c->slot.trusted = trusted;
	c->slot.progress = RV_FS_CONNECTED;
	c->slot.since_ms = c->connected_ms;
	c->sess = rv_fs_session_new(srv->ctype, srv->max_frame, srv->cb, srv->cb_arg, &c->peer);
	if (c->sess != NULL && srv->batch_cb != NULL)
		rv_fs_session_set_batch(c->sess, srv->batch_cb);
	c->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->ev_write = event_new(srv->base, fd, EV_WRITE, conn_write_cb, c);
	c->ev_timer = evtimer_new(srv->base, conn_timer_cb, c);
	if (c->sess == NULL || c->ev_read == NULL || c->ev_write == NULL ||
	    c->ev_timer == NULL || event_add(c->ev_read, NULL) < 0)
		goto fail;
	deadline_arm(c, DL_HANDSHAKE, srv->handshake_timeout_ms);
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	rv_stats.fs_accepted++;
	rv_stats.fs_active++;
	conn_log(srv, CE_OPENED, RV_LOG_INFO, "%s: connected (%u active)", c->peer.label,
			srv->nconns);
	return 0;
fail:
	if (c != NULL) {
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->ev_write != NULL)
			event_free(c->ev_write);
		if (c->ev_timer != NULL)
			event_free(c->ev_timer);
		rv_fs_session_free(&c->sess);
		if (c->ssl != NULL)
			SSL_free(c->ssl);
		free(c);
	}
	return -ENOMEM;
}

/*
 * All slots are taken and a newcomer arrived: closes the connection the slot
 * policy picks for it (see fstrm_srv.h). Returns false if the newcomer may
 * displace none (every slot holds a writer and it is not one).
 */
static bool make_room(rv_fs_server *srv, const char *newcomer, bool trusted)
{
	struct fs_conn *victim = NULL;

	for (struct fs_conn *c = srv->conns; c != NULL; c = c->next)
		if (rv_fs_slot_evictable(&c->slot, trusted) &&
		    (victim == NULL || rv_fs_slot_before(&c->slot, &victim->slot)))
			victim = c;
	if (victim == NULL)
		return false;
	conn_log(srv, CE_EVICTED, RV_LOG_WARNING,
			"%s: evicted for %s: max-connections (%u) reached; it was the least useful "
			"(%s, %llu frames, connected %.1f s ago)", victim->peer.label, newcomer,
			srv->max_connections, progress_names[victim->slot.progress],
			(unsigned long long)victim->peer.frames,
			(double)(now_ms() - victim->connected_ms) / 1000.0);
	rv_stats.fs_evicted++;
	conn_close(victim);
	return true;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	rv_fs_server *srv = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < srv->nls; i++)
		if (srv->ls[i].ev != NULL)
			event_add(srv->ls[i].ev, NULL);
}

/*
 * A TCP/TLS peer: "tcp 192.0.2.7:40312 fd 9" into label, its address into
 * source. Returns false (and logs, counts, closes) when the allow-list
 * does not admit it.
 */
static bool net_peer(rv_fs_server *srv, struct fs_listener *l, int fd,
		const struct sockaddr_storage *ss, char *label, size_t len, char *source,
		size_t slen)
{
	char text[RV_ADDR_STRLEN];
	rv_addr a = {0};
	unsigned port = 0;
	int rc = -EINVAL;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		rc = rv_addr_set(&a, (const uint8_t *)&in->sin_addr, 4);
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		rc = rv_addr_set(&a, (const uint8_t *)&in6->sin6_addr, 16);
		port = ntohs(in6->sin6_port);
	}
	if (rc < 0)
		snprintf(text, sizeof(text), "?");
	else
		rv_addr_str(&a, text, sizeof(text));
	snprintf(source, slen, "%s", text);
	snprintf(label, len, a.family == AF_INET6 ? "%s [%s]:%u fd %d" : "%s %s:%u fd %d",
			l->kind == RV_FS_TLS ? "tls" : "tcp", text, port, fd);
	/* The allow-list is a guard's CIDR set ("ignore" = "listed" here). */
	if (rc == 0 && rv_guard_ignore_addr(srv->allow, &a))
		return true;
	conn_log(srv, CE_DENIED, RV_LOG_WARNING, "%s: denied on %s: not in dnstap-allow",
			label, l->name);
	rv_stats.fs_denied++;
	close(fd);
	return false;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct fs_listener *l = arg;
	rv_fs_server *srv = l->srv;
	char label[sizeof(((rv_fs_peer *)0)->label)];
	char source[sizeof(((rv_fs_peer *)0)->source)];
	struct sockaddr_storage ss;
	socklen_t sslen;
	bool trusted;
	int fd;

	(void)what;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timeval tv = { ACCEPT_PAUSE_MS / 1000,
						      (ACCEPT_PAUSE_MS % 1000) * 1000 };

				rv_warn(LOG_SUB, "accept on %s: %s; pausing accepts for %d ms",
						l->name, strerror(errno), ACCEPT_PAUSE_MS);
				for (size_t k = 0; k < srv->nls; k++)
					if (srv->ls[k].ev != NULL)
						event_del(srv->ls[k].ev);
				evtimer_add(srv->ev_resume, &tv);
				return;
			}
			rv_err(LOG_SUB, "accept on %s: %s", l->name, strerror(errno));
			return;
		}
		source[0] = '\0';
		if (l->kind == RV_FS_UNIX) {
			trusted = peer_identity(srv, fd, label, sizeof(label));
		} else {
			/* No credentials: not a writer until mutual TLS says so. */
			trusted = false;
			if (!net_peer(srv, l, fd, &ss, label, sizeof(label), source, sizeof(source)))
				continue;
		}
		if (srv->nconns >= srv->max_connections && !make_room(srv, label, trusted)) {
			/* Accept-and-close rather than leave it in the backlog: the
			 * client learns at once and retries later. */
			conn_log(srv, CE_REFUSED, RV_LOG_WARNING,
					"%s: refused: max-connections (%u) reached on %s and every "
					"slot holds a writer", label, srv->max_connections, l->name);
			close(fd);
			rv_stats.fs_refused++;
			continue;
		}
		if (conn_new(srv, fd, label, trusted, source, l->kind == RV_FS_TLS) < 0) {
			rv_err(LOG_SUB, "out of memory for a new connection on %s", l->name);
			close(fd);
		}
	}
}

/*
 * Makes path free for bind(): absent, or a socket nobody listens on (left by a
 * crash), which is removed. Anything else is refused.
 */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = -1, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		rv_err(LOG_SUB, "cannot examine socket path %s: %s", path, strerror(errno));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		rv_err(LOG_SUB, "%s exists and is not a socket; refusing to replace it", path);
		return -EEXIST;
	}
	/* Non-blocking, so a listener with a full backlog answers EAGAIN instead
	 * of blocking us: that also means "in use". */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "socket(AF_UNIX): %s", strerror(errno));
		return rc;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS) {
		rv_err(LOG_SUB, "%s is in use: another process is listening on it "
				"(another rearview-agent?)", path);
		rc = -EADDRINUSE;
		goto out;
	}
	if (errno != ECONNREFUSED) {
		rc = -errno;
		rv_err(LOG_SUB, "cannot check whether %s is in use: %s", path, strerror(errno));
		goto out;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		rv_err(LOG_SUB, "cannot remove stale socket %s: %s", path, strerror(errno));
		goto out;
	}
	rv_notice(LOG_SUB, "removed stale socket %s", path);
	rc = 0;
out:
	close(fd);
	return rc;
}

static int listen_unix(rv_fs_server *srv, struct fs_listener *l, mode_t mode, gid_t gid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = srv->path;
	size_t plen = strlen(path);
	struct stat st;
	int rc;

	if (plen == 0 || plen >= sizeof(sa.sun_path)) {
		rv_err(LOG_SUB, "socket path '%s' is empty or too long (%zu bytes, max %zu)",
				path, plen, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, plen + 1);
	rc = clear_stale_socket(path);
	if (rc < 0)
		return rc;
	l->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->lfd < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "socket(AF_UNIX): %s", strerror(errno));
		return rc;
	}
	if (bind(l->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "cannot create socket %s: %s%s", path, strerror(errno),
				errno == ENOENT ? " (does the directory exist?)" :
				errno == EACCES ? " (is the directory writable by this user?)" : "");
		return rc;
	}
	if (lstat(path, &st) == 0) {
		srv->sock_dev = st.st_dev;
		srv->sock_ino = st.st_ino;
		srv->path_bound = true;
	}
	/* Permissions before listen(): nobody can connect with the umask's mode. */
	if (chmod(path, mode) < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "chmod %04o %s: %s", (unsigned)mode, path, strerror(errno));
		return rc;
	}
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "chown :%lu %s: %s", (unsigned long)gid, path, strerror(errno));
		return rc;
	}
	if (listen(l->lfd, SOMAXCONN) < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "listen on %s: %s", path, strerror(errno));
		return rc;
	}
	return 0;
}

int rv_fs_endpoint_parse(const char *item, rv_fs_endpoint *ep, char *errbuf, size_t errlen)
{
	memset(ep, 0, sizeof(*ep));
	if (strncmp(item, "unix:", 5) == 0) {
		const char *path = item + 5;

		ep->kind = RV_FS_UNIX;
		if (path[0] != '/' || strlen(path) >= sizeof(ep->path)) {
			snprintf(errbuf, errlen, "'%s': the unix socket path must be absolute and "
					"at most %zu bytes", item, sizeof(ep->path) - 1);
			return -EINVAL;
		}
		memcpy(ep->path, path, strlen(path) + 1);
		return 0;
	}
	if (strncmp(item, "tcp:", 4) == 0 || strncmp(item, "tls:", 4) == 0) {
		ep->kind = item[1] == 'c' ? RV_FS_TCP : RV_FS_TLS;
		if (rv_hostport_parse(item + 4, &ep->addr, &ep->port) == 0)
			return 0;
		snprintf(errbuf, errlen, "'%s': expected %.3s:ADDR:PORT (IPv6 as [ADDR]:PORT)",
				item, item);
		return -EINVAL;
	}
	snprintf(errbuf, errlen, "'%s': expected unix:PATH, tcp:ADDR:PORT or tls:ADDR:PORT", item);
	return -EINVAL;
}

/* Calls fn for each space-separated word of list; stops at the first error. */
static int each_word(const char *list, int (*fn)(void *arg, const char *word), void *arg)
{
	char word[256];
	const char *p = list;
	int rc;

	while (p != NULL && *p != '\0') {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, p, n);
		word[n] = '\0';
		rc = fn(arg, word);
		if (rc < 0)
			return rc;
		p += strcspn(p, " \t");
	}
	return 0;
}

struct listen_check {
	rv_fs_endpoint eps[RV_FS_LISTEN_MAX];
	size_t n;
	size_t nunix;
	bool has_tls;
	char *errbuf;
	size_t errlen;
};

static int check_word(void *arg, const char *word)
{
	struct listen_check *lc = arg;
	rv_fs_endpoint ep;
	int rc;

	rc = rv_fs_endpoint_parse(word, &ep, lc->errbuf, lc->errlen);
	if (rc < 0)
		return rc;
	if (lc->n == RV_FS_LISTEN_MAX) {
		snprintf(lc->errbuf, lc->errlen, "more than %d listeners", RV_FS_LISTEN_MAX);
		return -EINVAL;
	}
	if (ep.kind == RV_FS_UNIX && ++lc->nunix > 1) {
		snprintf(lc->errbuf, lc->errlen, "'%s': only one unix: listener (socket-mode and "
				"socket-group apply to it)", word);
		return -EINVAL;
	}
	lc->has_tls |= ep.kind == RV_FS_TLS;
	lc->eps[lc->n++] = ep;
	return 0;
}

static int listen_parse(const char *list, struct listen_check *lc)
{
	int rc = each_word(list, check_word, lc);

	if (rc == 0 && lc->n == 0) {
		snprintf(lc->errbuf, lc->errlen, "no listener");
		rc = -EINVAL;
	}
	return rc;
}

int rv_fs_listen_check(const char *list, bool *has_tls, char *errbuf, size_t errlen)
{
	struct listen_check lc = {.errbuf = errbuf, .errlen = errlen};
	int rc = listen_parse(list, &lc);

	*has_tls = lc.has_tls;
	return rc;
}

static int listen_net(rv_fs_server *srv, struct fs_listener *l, const rv_fs_endpoint *ep)
{
	struct sockaddr_storage ss = {0};
	socklen_t sslen;
	int one = 1, rc;

	(void)srv;
	if (ep->addr.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		memcpy(&in->sin_addr, ep->addr.bytes, 4);
		sslen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(ep->port);
		memcpy(&in6->sin6_addr, ep->addr.bytes, 16);
		sslen = sizeof(*in6);
	}
	l->lfd = socket(ep->addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->lfd < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "socket for %s: %s", l->name, strerror(errno));
		return rc;
	}
	/* A restart must not wait for TIME_WAIT connections of the last run. */
	(void)setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->lfd, (struct sockaddr *)&ss, sslen) < 0 || listen(l->lfd, SOMAXCONN) < 0) {
		rc = -errno;
		rv_err(LOG_SUB, "cannot listen on %s: %s", l->name, strerror(errno));
		return rc;
	}
	return 0;
}

/* The server's TLS context: certificate, key and, for mutual TLS, the CA
 * client certificates must chain to. Read once, before privileges drop. */
static int tls_setup(rv_fs_server *srv, const rv_fs_server_opts *opts)
{
	unsigned long ec;
	char why[200];

	if (opts->tls_cert == NULL || opts->tls_cert[0] == '\0' || opts->tls_key == NULL ||
	    opts->tls_key[0] == '\0') {
		rv_err(LOG_SUB, "a tls: listener needs dnstap-tls-cert and dnstap-tls-key");
		return -EINVAL;
	}
	srv->tls = SSL_CTX_new(TLS_server_method());
	if (srv->tls == NULL)
		goto ssl_fail;
	/* Only our own session state: the output buffer moves (queue_control's
	 * memmove) between a partial SSL_write and its retry. */
	SSL_CTX_set_mode(srv->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
			SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(srv->tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_set_min_proto_version(srv->tls, TLS1_2_VERSION) != 1)
		goto ssl_fail;
	if (SSL_CTX_use_certificate_chain_file(srv->tls, opts->tls_cert) != 1) {
		rv_err(LOG_SUB, "dnstap-tls-cert %s: cannot load the certificate", opts->tls_cert);
		goto ssl_fail;
	}
	if (SSL_CTX_use_PrivateKey_file(srv->tls, opts->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(srv->tls) != 1) {
		rv_err(LOG_SUB, "dnstap-tls-key %s: cannot load the key, or it does not match "
				"the certificate", opts->tls_key);
		goto ssl_fail;
	}
	if (opts->tls_client_ca != NULL && opts->tls_client_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(srv->tls, opts->tls_client_ca, NULL) != 1) {
			rv_err(LOG_SUB, "dnstap-tls-client-ca %s: cannot load", opts->tls_client_ca);
			goto ssl_fail;
		}
		SSL_CTX_set_verify(srv->tls, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		srv->tls_mutual = true;
	}
	return 0;
ssl_fail:
	ec = ERR_peek_last_error();
	if (ec != 0) {
		ERR_error_string_n(ec, why, sizeof(why));
		rv_err(LOG_SUB, "TLS setup: %s", why);
	}
	ERR_clear_error();
	return -EINVAL;
}

rv_fs_server *rv_fs_server_new(struct event_base *base, const rv_fs_server_opts *opts,
		rv_fs_frame_cb cb, void *cb_arg, int *err)
{
	char errbuf[256];
	struct listen_check lc = {.errbuf = errbuf, .errlen = sizeof(errbuf)};
	const char *allow;
	rv_fs_server *srv = NULL;
	int rc = -EINVAL, gerr = 0;
	bool use_list = opts->listen != NULL && opts->listen[0] != '\0';

	if ((!use_list && opts->path == NULL) || opts->content_type == NULL ||
	    opts->max_frame == 0 ||
	    opts->max_frame > UINT32_MAX || opts->max_connections == 0 ||
	    (opts->ntrusted_uids > 0 && opts->trusted_uids == NULL) ||
	    strlen(opts->content_type) > FSTRM_CONTROL_FIELD_CONTENT_TYPE_LENGTH_MAX) {
		rv_err(LOG_SUB, "invalid server options (path, content type, max-frame-size "
				"1..4G, max-connections >= 1)");
		goto fail;
	}
	/* Without a list, the one unix socket at path (checked by listen_unix). */
	if (!use_list) {
		lc.n = 1;
		lc.eps[0].kind = RV_FS_UNIX;
	} else if (listen_parse(opts->listen, &lc) < 0) {
		rv_err(LOG_SUB, "dnstap-listen: %s", errbuf);
		goto fail;
	}
	rc = -ENOMEM;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		goto fail;
	for (size_t i = 0; i < RV_FS_LISTEN_MAX; i++)
		srv->ls[i].lfd = -1;
	srv->base = base;
	srv->max_frame = opts->max_frame;
	srv->max_connections = opts->max_connections;
	srv->stall_timeout_ms = opts->stall_timeout_ms;
	srv->handshake_timeout_ms = opts->handshake_timeout_ms;
	srv->log_suppressed_level = RV_LOG_DEBUG;
	srv->cb = cb;
	srv->batch_cb = opts->batch_cb;
	srv->cb_arg = cb_arg;
	srv->ctype = strdup(opts->content_type);
	if (srv->ctype == NULL)
		goto fail;
	if (opts->ntrusted_uids > 0) {
		srv->trusted_uids = calloc(opts->ntrusted_uids, sizeof(*srv->trusted_uids));
		if (srv->trusted_uids == NULL)
			goto fail;
		memcpy(srv->trusted_uids, opts->trusted_uids,
				opts->ntrusted_uids * sizeof(*srv->trusted_uids));
		srv->ntrusted_uids = opts->ntrusted_uids;
	}
	allow = opts->allow != NULL && opts->allow[0] != '\0' ? opts->allow : "127.0.0.0/8 ::1/128";
	srv->allow = rv_guard_new(allow, NULL, NULL, &gerr, errbuf, sizeof(errbuf));
	if (srv->allow == NULL) {
		rc = gerr < 0 ? gerr : -ENOMEM;
		if (rc == -EINVAL)
			rv_err(LOG_SUB, "dnstap-allow '%s': expected ADDRESS or ADDRESS/BITS items",
					allow);
		goto fail;
	}
	if (lc.has_tls && (rc = tls_setup(srv, opts)) < 0)
		goto fail;
	srv->ev_logwin = evtimer_new(base, log_window_cb, srv);
	srv->ev_resume = evtimer_new(base, resume_cb, srv);
	if (srv->ev_logwin == NULL || srv->ev_resume == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < lc.n; i++) {
		const rv_fs_endpoint *ep = &lc.eps[i];
		struct fs_listener *l = &srv->ls[i];
		char text[RV_ADDR_STRLEN];

		l->srv = srv;
		l->kind = ep->kind;
		srv->nls = i + 1;
		if (ep->kind == RV_FS_UNIX) {
			srv->path = strdup(use_list ? ep->path : opts->path);
			snprintf(l->name, sizeof(l->name), "%s", srv->path ? srv->path : "");
			rc = srv->path == NULL ? -ENOMEM : listen_unix(srv, l, opts->mode, opts->gid);
		} else {
			rv_addr_str(&ep->addr, text, sizeof(text));
			snprintf(l->name, sizeof(l->name), ep->addr.family == AF_INET6 ?
					"%s:[%s]:%u" : "%s:%s:%u", ep->kind == RV_FS_TLS ? "tls" : "tcp",
					text, (unsigned)ep->port);
			rc = listen_net(srv, l, ep);
		}
		if (rc < 0)
			goto fail;
		rc = -ENOMEM;
		l->ev = event_new(base, l->lfd, EV_READ | EV_PERSIST, accept_cb, l);
		if (l->ev == NULL || event_add(l->ev, NULL) < 0)
			goto fail;
		rv_notice(LOG_SUB, "listening on %s", l->name);
	}
	srv->name = strdup(srv->ls[0].name);
	if (srv->name == NULL)
		goto fail;
	srv->accepting = true;
	rv_notice(LOG_SUB, "%zu listener(s) (unix mode %04o, max %u connections, max frame %zu "
			"bytes, handshake timeout %u ms, frame timeout %u ms, %zu writer uid(s), "
			"TCP/TLS from %s%s)", srv->nls, (unsigned)opts->mode, srv->max_connections,
			srv->max_frame, srv->handshake_timeout_ms, srv->stall_timeout_ms,
			srv->ntrusted_uids, allow, srv->tls_mutual ? ", mutual TLS" : "");
	*err = 0;
	return srv;
fail:
	if (rc == -ENOMEM)
		rv_err(LOG_SUB, "out of memory creating the Frame Streams server");
	rv_fs_server_free(&srv);
	*err = rc;
	return NULL;
}

static void close_listener(rv_fs_server *srv)
{
	for (size_t i = 0; i < srv->nls; i++) {
		struct fs_listener *l = &srv->ls[i];

		if (l->ev != NULL) {
			event_free(l->ev);
			l->ev = NULL;
		}
		if (l->lfd >= 0) {
			close(l->lfd);
			l->lfd = -1;
		}
	}
	if (srv->ev_resume != NULL) {
		event_free(srv->ev_resume);
		srv->ev_resume = NULL;
	}
	srv->accepting = false;
}

void rv_fs_server_stop_accepting(rv_fs_server *srv)
{
	/* Closing (not just disabling) the listener makes new connects fail with
	 * ECONNREFUSED at once; a connection parked in the backlog would leave named
	 * waiting for an ACCEPT that never comes. The path stays until free. */
	if (srv != NULL && srv->accepting) {
		close_listener(srv);
		rv_notice(LOG_SUB, "no longer accepting connections on %s%s (%u still open)",
				srv->name, srv->nls > 1 ? " and the other listeners" : "", srv->nconns);
	}
}

bool rv_fs_server_listening(const rv_fs_server *srv)
{
	struct stat st;

	if (srv == NULL || !srv->accepting)
		return false;
	if (srv->path == NULL)
		return true;
	return srv->path_bound && stat(srv->path, &st) == 0 &&
	       S_ISSOCK(st.st_mode) && st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino;
}

void rv_fs_server_free(rv_fs_server **sp)
{
	rv_fs_server *srv = *sp;
	struct stat st;

	if (srv == NULL)
		return;
	close_listener(srv);
	while (srv->conns != NULL)
		conn_close(srv->conns);
	/* What the rate limit held back is still worth one line at exit. */
	if (srv->ev_logwin != NULL) {
		if (srv->name != NULL)
			log_window_flush(srv);
		event_free(srv->ev_logwin);
	}
	if (srv->path != NULL && srv->path_bound && lstat(srv->path, &st) == 0 &&
	    st.st_dev == srv->sock_dev && st.st_ino == srv->sock_ino && unlink(srv->path) < 0)
		rv_warn(LOG_SUB, "cannot remove %s: %s", srv->path, strerror(errno));
	if (srv->tls != NULL)
		SSL_CTX_free(srv->tls);
	rv_guard_free(&srv->allow);
	free(srv->path);
	free(srv->name);
	free(srv->ctype);
	free(srv->trusted_uids);
	free(srv);
	*sp = NULL;
}
