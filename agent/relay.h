/*
 * relay.h - rearview-relay's forwarder: every dnstap frame the local
 * Frame Streams server (fstrm_srv.h) receives from named is queued, unchanged,
 * for a central rearview-agent over TCP or TLS.
 *
 * The sending side is libfstrm's writer (fstrm_writer: the bidirectional
 * handshake, framing, STOP/FINISH when the relay stops) run by our own I/O
 * thread behind a bounded queue (queue_frames), reconnecting every reopen_s
 * seconds; the thread writes what is queued as soon as it wakes (relay.c says
 * why not libfstrm's fstrm_iothr). The byte transport is ours (an fstrm_rdwr over a blocking socket, with
 * OpenSSL for TLS): libfstrm's own fstrm_tcp_writer cannot do TLS and says
 * nothing about whether it is connected or what it wrote, and the relay must
 * count what it loses. Frame accounting (all counters in the one registry,
 * stats.h):
 *   in        frames received from named
 *   sent      frames written to the central agent
 *   rejected  frames refused because the queue was full (central slow or down)
 *   lost      frames the I/O thread discarded while not connected, or in a
 *             write that failed (the central agent unreachable or gone)
 * so in = sent + rejected + lost + queued at every moment.
 */
#ifndef RV_RELAY_H
#define RV_RELAY_H

#include "common.h"
#include "fstrm_srv.h"

typedef struct rv_relay rv_relay;

#define RV_RELAY_QUEUE_MAX 1048576u

typedef struct rv_relay_opts {
	rv_addr central;            /* the central agent's tcp:/tls: listener */
	uint16_t port;
	unsigned queue_frames;      /* 2..RV_RELAY_QUEUE_MAX */
	unsigned reopen_s;          /* seconds between reconnection attempts */
	unsigned io_timeout_ms;     /* connect, send and receive timeout of the socket */
	const char *content_type;   /* "protobuf:dnstap.Dnstap" */
	/* TLS: tls_ca set = TLS, verifying the central agent's certificate with it */
	const char *tls_ca;
	const char *tls_name;       /* expected name in its certificate; NULL = any */
	const char *tls_cert;       /* client certificate and key for mutual TLS; NULL = none */
	const char *tls_key;
} rv_relay_opts;

/* Starts the I/O thread (which connects on its own, and keeps retrying).
 * Strings are copied. NULL with *err (negative errno) on failure, logged. */
rv_relay *rv_relay_new(const rv_relay_opts *opts, int *err);
/* Sends STOP, waits for FINISH (bounded by io_timeout_ms per read) and
 * stops the thread; frames still queued are written first if connected. */
void rv_relay_free(rv_relay **r);
/* fstrm_srv frame callback (arg: the relay): copies and queues the frame. */
void rv_relay_frame_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len);
/* Logs a line when the connection state changed since the last call (the
 * I/O thread does not log: log.h is the main thread's). Call it often. */
void rv_relay_poll(rv_relay *r);
/* Registers the relay's counters (relay_in, relay_sent, ...) in stats.h. */
int rv_relay_register_stats(rv_relay *r) RV_MUST_CHECK;

#endif
