/*
 * fstrm_srv.h - Frame Streams receiver: the agent is the server on a unix
 * socket that named (the Frame Streams client) connects to, and optionally on
 * TCP and TLS ports that remote writers (Unbound, rearview-relay) connect to.
 *
 * Three layers:
 *  - rv_fs_session: a pure, I/O-free per-connection state machine. Bytes go in
 *    with rv_fs_session_feed(); data frames come out through a callback; bytes
 *    to send back (ACCEPT, FINISH) are read with rv_fs_session_output().
 *  - rv_fs_slot: the pure slot policy (which connection a newcomer displaces).
 *  - rv_fs_server: the libevent glue (listen, accept, read, write, deadlines).
 *    It never blocks: a slow or broken peer only affects its own connection.
 *
 * Protocol (bidirectional, https://farsightsec.github.io/fstrm/): client READY
 * (content types) -> server ACCEPT (the matching type) -> client START -> data
 * frames -> client STOP -> server FINISH. A unidirectional client (START first,
 * as from a file replay) is also accepted. STOP is answered with FINISH at once:
 * named blocks in exclusive mode (queries wait) until it arrives.
 *
 * Slots and deadlines. named opens one connection and keeps it, idle for as
 * long as there is no traffic, so idleness alone never closes a connection.
 * Whatever a peer does, it cannot keep a slot from a real writer:
 *  - Handshake deadline: READY -> ACCEPT -> START (or START alone) must be
 *    complete handshake_timeout_ms after the connection was accepted; bytes
 *    trickled in meanwhile do not extend it.
 *  - Frame deadline: a frame (after START) must arrive whole within
 *    stall_timeout_ms of the read that brought its first byte; later bytes of
 *    the same frame do not extend it. After STOP, the peer has stall_timeout_ms
 *    to read FINISH.
 *  - Eviction: when all max_connections slots are taken, a new connection
 *    displaces the least useful one instead of being refused. Peers whose
 *    SO_PEERCRED uid is in trusted_uids (the agent passes root and
 *    writer-user, i.e. named's user) are "writers": an untrusted newcomer may
 *    only displace untrusted peers (and is refused when every slot holds a
 *    writer); a writer may displace anyone. Among the candidates, the first
 *    in this order goes (rv_fs_slot_before):
 *      1. untrusted before trusted;
 *      2. by progress: finishing (STOP received) < connected (no READY
 *         answered yet) < accepted (ACCEPT sent, no START) < started (no
 *         accepted data frame yet) < delivering (has delivered a data frame
 *         the frame callback accepted);
 *      3. the longest-standing: earliest connect (before START), START or STOP
 *         time, or last accepted frame (delivering).
 *    So a writer always gets a slot and keeps it against everyone else. Peers
 *    of the same class compete on behaviour alone: a connection that has
 *    delivered valid dnstap (a frame the callback did not count in
 *    bad_frames) is displaced only when every slot holds such a connection,
 *    the one that delivered least recently first; and as connections without
 *    a handshake go first (oldest first), a connect flood mostly displaces
 *    its own connections.
 *
 * TCP and TLS peers. They have no unix credentials, so no uid makes them
 * writers. Instead: a TCP/TLS peer must come from the allow-list (allow,
 * default loopback only; others are accepted and closed at once, logged as
 * "denied" and counted in fs_denied); a TLS peer must complete the TLS
 * handshake within the handshake deadline (failures, including a client
 * certificate from another CA, are logged as "TLS failed" and counted in
 * fs_tls_failures); and only a TLS peer whose client certificate the
 * client-CA verified (mutual TLS) becomes a writer once its handshake is done.
 * A plain TCP peer, or TLS without a client CA, competes as an untrusted peer:
 * its delivering connection keeps its slot against newcomers that have not
 * delivered, but a local writer can displace it. All listeners share the
 * max_connections slots.
 * Per-connection log lines (opened, closed, evicted, timed out, refused,
 * failed: protocol or socket error, and the frame callback's malformed-frame
 * line through rv_fs_peer_log_ok) are rate-limited per server: at most 5 of
 * each kind per minute, then one line with the counts of the rest; the
 * statistics line has the totals.
 */
#ifndef RV_FSTRM_SRV_H
#define RV_FSTRM_SRV_H

#include <sys/types.h>

#include "common.h"

struct event_base;

struct rv_fs_server;

/* Per-connection identity and counters, for log context. Owned by the server. */
typedef struct rv_fs_peer {
	char label[80];         /* e.g. "fd 7 pid 1234 uid 110 (writer)", "tcp 192.0.2.7:40312 fd 9" */
	char source[48];        /* TCP/TLS peers: their address, the observation's source when
	                         * the frame has no dnstap identity; "" for unix peers */
	char identity[64];      /* the first dnstap identity seen on the connection (set by the
	                         * frame callback; printable), "" until then */
	unsigned source_slot;   /* the frame callback's cache: 1 + the index of this
	                         * connection's source in its per-source counters; 0 = not yet */
	uint64_t frames;        /* data frames delivered */
	uint64_t bad_frames;    /* frames the callback rejected (it logs the first one) */
	struct rv_fs_server *srv; /* the server it came through; NULL outside a server */
} rv_fs_peer;

/* For the frame callback's once-per-connection "malformed frame" line: true if
 * it may be logged at level now. Such lines share the server's connection log
 * rate limit (kind "malformed"), so a reconnect storm of bad writers stays a
 * few lines; the rest are counted in the summary. */
bool rv_fs_peer_log_ok(rv_fs_peer *peer, int level);
/* The same for the frame callback's once-per-connection "source identity"
 * line (its own kind, "identified"). */
bool rv_fs_peer_log_identity_ok(rv_fs_peer *peer, int level);

/* Called for each complete data frame. data is borrowed for the call only.
 * The return value is ignored by the session; the callback counts its own errors
 * in peer->bad_frames. */
typedef void (*rv_fs_frame_cb)(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len);

/*
 * The batch form: the complete data frames of one read, in order, up to
 * RV_FS_BATCH_MAX at a time. Every frame of a batch is valid for the whole
 * call, so the callback may work on several at once (ingest decodes a frame
 * ahead and prefetches what the next needs: BENCHMARKS.md, "Ingest across
 * frames"). A batch never spans a control frame or a read.
 */
typedef struct rv_fs_frame {
	const uint8_t *data;
	size_t len;
} rv_fs_frame;
#define RV_FS_BATCH_MAX 32
typedef void (*rv_fs_batch_cb)(void *arg, rv_fs_peer *peer, const rv_fs_frame *frames, size_t n);

/* ---- pure state machine ---- */

typedef struct rv_fs_session rv_fs_session;

/* Frame Streams caps control frames at 512 bytes; data frames at max_frame.
 * content_type is copied. peer is borrowed for the session's lifetime (may be NULL).
 * Returns NULL on allocation failure. */
rv_fs_session *rv_fs_session_new(const char *content_type, size_t max_frame,
		rv_fs_frame_cb cb, void *cb_arg, rv_fs_peer *peer);
/* Delivers data frames to batch_cb (with the session's cb_arg) instead of cb
 * from now on; NULL goes back to cb. */
void rv_fs_session_set_batch(rv_fs_session *s, rv_fs_batch_cb batch_cb);
void rv_fs_session_free(rv_fs_session **s);

/*
 * Consumes all len bytes (partial frames are buffered inside, bounded by
 * max_frame). Returns 0, or on a fatal protocol error (after which the session
 * is dead and the connection should be closed once output is flushed):
 *   -EBADMSG   malformed/unknown control frame, data before START, garbage
 *   -EMSGSIZE  data frame longer than max_frame, control frame over 512 bytes
 *   -EPROTO    READY/START without our content type
 * rv_fs_session_error() then returns a human-readable reason.
 */
int rv_fs_session_feed(rv_fs_session *s, const uint8_t *buf, size_t len) RV_MUST_CHECK;

/* Pending bytes to write to the peer; borrowed until the next feed/consume. */
const uint8_t *rv_fs_session_output(const rv_fs_session *s, size_t *len);
void rv_fs_session_consume_output(rv_fs_session *s, size_t n);

/* STOP received and FINISH queued: close once output is drained. */
bool rv_fs_session_finished(const rv_fs_session *s);
/* READY answered with ACCEPT; START not received yet. */
bool rv_fs_session_accepted(const rv_fs_session *s);
/* START received: the data phase (or finished after it). */
bool rv_fs_session_started(const rv_fs_session *s);
/* Changes whenever the session starts buffering a new incomplete frame, so the
 * caller can tell "still the same frame" from "a new frame" (frame deadline). */
uint64_t rv_fs_session_frame_id(const rv_fs_session *s);
/* Some bytes of an incomplete frame are buffered (used for the stall timeout). */
bool rv_fs_session_mid_frame(const rv_fs_session *s);
const char *rv_fs_session_error(const rv_fs_session *s);

/* ---- slot policy (pure) ---- */

/* How far a connection got, in the order it is evicted (lowest first). */
typedef enum rv_fs_progress {
	RV_FS_FINISHING,  /* STOP received, FINISH being sent: done anyway */
	RV_FS_CONNECTED,  /* nothing answered yet (no READY, no START) */
	RV_FS_ACCEPTED,   /* READY answered with ACCEPT, waiting for START */
	RV_FS_STARTED,    /* START received, no accepted data frame yet */
	RV_FS_DELIVERING, /* delivered at least one data frame the callback accepted */
} rv_fs_progress;

/* What the eviction policy knows about one connection. */
typedef struct rv_fs_slot {
	bool trusted;            /* peer uid is one of the server's trusted_uids */
	rv_fs_progress progress;
	uint64_t since_ms;       /* monotonic ms: connect (CONNECTED, ACCEPTED), START
	                          * (STARTED), last accepted frame (DELIVERING), STOP */
} rv_fs_slot;

/* True if a should be evicted before b (see "Slots and deadlines" above). */
bool rv_fs_slot_before(const rv_fs_slot *a, const rv_fs_slot *b);
/* May a newcomer (trusted or not) displace victim? */
bool rv_fs_slot_evictable(const rv_fs_slot *victim, bool newcomer_trusted);
/* Index of the slot a newcomer displaces when all n are taken; -1 when it
 * may displace none of them (it is refused). */
long rv_fs_slot_victim(const rv_fs_slot *slots, size_t n, bool newcomer_trusted);

/* ---- libevent server ---- */

/* One listen item (a dnstap-listen word). */
typedef enum rv_fs_listen_kind { RV_FS_UNIX, RV_FS_TCP, RV_FS_TLS } rv_fs_listen_kind;
typedef struct rv_fs_endpoint {
	rv_fs_listen_kind kind;
	char path[108];            /* RV_FS_UNIX */
	rv_addr addr;              /* RV_FS_TCP, RV_FS_TLS */
	uint16_t port;
} rv_fs_endpoint;
/* At most this many listeners per server. */
#define RV_FS_LISTEN_MAX 8

/* Parses "unix:/ABS/PATH", "tcp:ADDR:PORT" or "tls:ADDR:PORT" (IPv6 as
 * [ADDR]:PORT). -EINVAL with a reason in errbuf otherwise. */
int rv_fs_endpoint_parse(const char *item, rv_fs_endpoint *ep, char *errbuf,
		size_t errlen) RV_MUST_CHECK;
/* Checks a whole space-separated listen list: every item parses, at most one
 * unix item, at most RV_FS_LISTEN_MAX items, not empty. Sets *has_tls. */
int rv_fs_listen_check(const char *list, bool *has_tls, char *errbuf, size_t errlen) RV_MUST_CHECK;

typedef struct rv_fs_server_opts {
	const char *path;          /* unix socket path when listen is NULL or "";
	                            * a stale socket file is replaced */
	const char *listen;        /* space-separated endpoints (rv_fs_endpoint_parse);
	                            * NULL or "" = just the unix socket at path */
	const char *allow;         /* space-separated CIDRs TCP/TLS peers may come from;
	                            * NULL or "" = loopback only */
	const char *tls_cert;      /* PEM certificate chain for tls: listeners */
	const char *tls_key;       /* PEM private key */
	const char *tls_client_ca; /* PEM CA that must sign client certificates; NULL/"" = none asked */
	mode_t mode;               /* e.g. 0660 so named's group can connect */
	gid_t gid;                 /* (gid_t)-1 keeps the default group */
	size_t max_frame;          /* bytes */
	unsigned max_connections;  /* slots; when full a newcomer evicts one (see above) or is refused */
	unsigned stall_timeout_ms; /* frame deadline, and FINISH drain deadline; 0 = none */
	unsigned handshake_timeout_ms; /* accept -> START deadline; 0 = none */
	const uid_t *trusted_uids; /* writers' uids (copied); may be NULL */
	size_t ntrusted_uids;
	const char *content_type;  /* "protobuf:dnstap.Dnstap" */
	rv_fs_batch_cb batch_cb;   /* if set, data frames go here (with cb_arg), not to cb */
} rv_fs_server_opts;

typedef struct rv_fs_server rv_fs_server;

/* Creates, binds and listens on the socket. Refuses to replace a path that is
 * not a socket, or a socket someone is still listening on (-EADDRINUSE).
 * Returns NULL and sets *err (negative errno) on failure, logging the reason.
 * opts strings are copied. base is borrowed and must outlive the server. */
rv_fs_server *rv_fs_server_new(struct event_base *base, const rv_fs_server_opts *opts,
		rv_fs_frame_cb cb, void *cb_arg, int *err);
/* Closes every connection and the listeners and unlinks the socket path. */
void rv_fs_server_free(rv_fs_server **srv);
/* Stop accepting new connections (shutdown in progress); existing ones keep going. */
void rv_fs_server_stop_accepting(rv_fs_server *srv);
/* True while the server listens on every endpoint and its socket file (if
 * any) is still the one it bound (named can connect): false after
 * stop_accepting, or once someone removed or replaced the path. For /healthz. */
bool rv_fs_server_listening(const rv_fs_server *srv);

#endif
