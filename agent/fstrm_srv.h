/*
 * fstrm_srv.h - Frame Streams receiver: the agent is the server on a unix
 * socket that named (the Frame Streams client) connects to.
 *
 * Two layers:
 *  - rv_fs_session: a pure, I/O-free per-connection state machine. Bytes go in
 *    with rv_fs_session_feed(); data frames come out through a callback; bytes
 *    to send back (ACCEPT, FINISH) are read with rv_fs_session_output().
 *  - rv_fs_server: the libevent glue (listen, accept, read, write, timeouts).
 *    It never blocks: a slow or broken peer only affects its own connection.
 *
 * Protocol (bidirectional, https://farsightsec.github.io/fstrm/): client READY
 * (content types) -> server ACCEPT (the matching type) -> client START -> data
 * frames -> client STOP -> server FINISH. A unidirectional client (START first,
 * as from a file replay) is also accepted. STOP is answered with FINISH at once:
 * named blocks in exclusive mode until it arrives (DESIGN.md 4.1).
 */
#ifndef RV_FSTRM_SRV_H
#define RV_FSTRM_SRV_H

#include <sys/types.h>

#include "common.h"

struct event_base;

/* Per-connection identity and counters, for log context. Owned by the server. */
typedef struct rv_fs_peer {
	char label[80];         /* e.g. "fd 7 pid 1234 uid 110" */
	uint64_t frames;        /* data frames delivered */
	uint64_t bad_frames;    /* frames the callback rejected (it logs the first one) */
} rv_fs_peer;

/* Called for each complete data frame. data is borrowed for the call only.
 * The return value is ignored by the session; the callback counts its own errors
 * in peer->bad_frames. */
typedef void (*rv_fs_frame_cb)(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len);

/* ---- pure state machine ---- */

typedef struct rv_fs_session rv_fs_session;

/* Frame Streams caps control frames at 512 bytes; data frames at max_frame.
 * content_type is copied. peer is borrowed for the session's lifetime (may be NULL).
 * Returns NULL on allocation failure. */
rv_fs_session *rv_fs_session_new(const char *content_type, size_t max_frame,
		rv_fs_frame_cb cb, void *cb_arg, rv_fs_peer *peer);
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
/* Some bytes of an incomplete frame are buffered (used for the stall timeout). */
bool rv_fs_session_mid_frame(const rv_fs_session *s);
const char *rv_fs_session_error(const rv_fs_session *s);

/* ---- libevent server ---- */

typedef struct rv_fs_server_opts {
	const char *path;          /* unix socket path; a stale socket file is replaced */
	mode_t mode;               /* e.g. 0660 so named's group can connect */
	gid_t gid;                 /* (gid_t)-1 keeps the default group */
	size_t max_frame;          /* bytes */
	unsigned max_connections;  /* further connections are closed at once (counted) */
	unsigned stall_timeout_ms; /* a peer stuck mid-frame this long is dropped */
	const char *content_type;  /* "protobuf:dnstap.Dnstap" */
} rv_fs_server_opts;

typedef struct rv_fs_server rv_fs_server;

/* Creates, binds and listens on the socket. Refuses to replace a path that is
 * not a socket, or a socket someone is still listening on (-EADDRINUSE).
 * Returns NULL and sets *err (negative errno) on failure, logging the reason.
 * opts strings are copied. base is borrowed and must outlive the server. */
rv_fs_server *rv_fs_server_new(struct event_base *base, const rv_fs_server_opts *opts,
		rv_fs_frame_cb cb, void *cb_arg, int *err);
/* Closes every connection and the listener and unlinks the socket path. */
void rv_fs_server_free(rv_fs_server **srv);
/* Stop accepting new connections (shutdown in progress); existing ones keep going. */
void rv_fs_server_stop_accepting(rv_fs_server *srv);

#endif
