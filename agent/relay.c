/*
 * relay.c - rearview-relay's forwarder (see relay.h).
 *
 * Threads: the main thread (libevent loop, fstrm_srv) only copies frames into
 * the bounded queue and reads counters; the I/O thread takes what is queued
 * and hands it to libfstrm's writer, whose byte transport (connect, TLS,
 * write, read) is below. They share the queue (a mutex), atomics and, for
 * the last error's text, a mutex.
 *
 * Why not libfstrm's own I/O thread (fstrm_iothr): it writes a lone frame
 * only when its flush timeout (at least 1 s) expires with nothing else
 * queued, so an idle relay added 1-2 s to every lookup's way to the PTR
 * (integration.fleet measured it). This thread writes whatever is queued as
 * soon as it wakes: one frame at a time when idle, batches of up to
 * RELAY_BATCH frames under load (the queue fills while a write is on the
 * wire).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <fstrm.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "relay.h"
#include "stats.h"

#define LOG_SUB "relay"
/* Frames per fstrm_writer_writev(): the writer's one send of at most this
 * many frames (and RELAY_BATCH_BYTES) per wake-up. */
#define RELAY_BATCH 256
#define RELAY_BATCH_BYTES (64u * 1024)

typedef struct relay_frame {
	uint8_t *data;
	size_t len;
} relay_frame;

struct rv_relay {
	rv_addr central;
	uint16_t port;
	unsigned io_timeout_ms;
	char where[80];            /* "tls 192.0.2.1:6000" for log lines */
	char *tls_name;
	SSL_CTX *tls;
	unsigned queue_frames;
	unsigned reopen_ms;
	/* the queue: a ring of queue_frames frames; the main thread adds, the
	 * I/O thread takes (under qmu) */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	relay_frame *ring;
	unsigned head, count;
	bool consumer_waiting, stopping;
	pthread_t thr;
	bool thr_started;
	/* I/O thread only */
	struct fstrm_writer *writer;
	bool opened;
	int64_t last_open_ms;
	int fd;
	SSL *ssl;
	uint8_t hdr[8];            /* frame parser over the written byte stream */
	size_t hdr_have;
	uint64_t skip;
	uint8_t *wbuf;             /* one write's bytes (rw_write) */
	size_t wcap;
	/* shared */
	atomic_uint_fast64_t in, sent, rejected, freed, connects, connect_failures;
	atomic_bool connected;
	pthread_mutex_t mu;
	char last_error[200];
	/* main thread: what the last poll logged */
	bool was_connected;
	uint64_t seen_connects;
	uint64_t seen_failures;
	rv_log_ratelimit fail_rl;
};

static void set_error(rv_relay *r, const char *fmt, ...) RV_PRINTF(2, 3);

static void set_error(rv_relay *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	va_start(ap, fmt);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->mu);
}

static const char *ssl_error(char *buf, size_t len)
{
	unsigned long ec = ERR_peek_last_error();

	if (ec == 0)
		snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
	else
		ERR_error_string_n(ec, buf, len);
	ERR_clear_error();
	return buf;
}

/* ---- the transport, run by libfstrm's I/O thread ---- */

static fstrm_res rw_close(void *obj)
{
	rv_relay *r = obj;

	if (r->ssl != NULL) {
		(void)SSL_shutdown(r->ssl);
		SSL_free(r->ssl);
		r->ssl = NULL;
		ERR_clear_error();
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	atomic_store(&r->connected, false);
	return fstrm_res_success;
}

static fstrm_res rw_open(void *obj)
{
	rv_relay *r = obj;
	struct sockaddr_storage ss = {0};
	struct timeval tv = {r->io_timeout_ms / 1000, (r->io_timeout_ms % 1000) * 1000};
	socklen_t sslen;
	char why[200];
	int one = 1;

	if (r->central.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(r->port);
		memcpy(&in->sin_addr, r->central.bytes, 4);
		sslen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(r->port);
		memcpy(&in6->sin6_addr, r->central.bytes, 16);
		sslen = sizeof(*in6);
	}
	r->fd = socket(r->central.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		set_error(r, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Blocking I/O in this thread, bounded: a hung central agent must not
	 * hold the thread (and so the queue) forever. SO_SNDTIMEO bounds connect. */
	(void)setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(r->fd, (struct sockaddr *)&ss, sslen) < 0) {
		set_error(r, "connect: %s", strerror(errno));
		goto fail;
	}
	if (r->tls != NULL) {
		r->ssl = SSL_new(r->tls);
		if (r->ssl == NULL || SSL_set_fd(r->ssl, r->fd) != 1 ||
		    (r->tls_name != NULL && SSL_set1_host(r->ssl, r->tls_name) != 1)) {
			set_error(r, "TLS setup: %s", ssl_error(why, sizeof(why)));
			goto fail;
		}
		errno = 0;
		if (SSL_connect(r->ssl) != 1) {
			long vr = SSL_get_verify_result(r->ssl);

			if (vr != X509_V_OK) {
				ERR_clear_error();
				set_error(r, "TLS handshake: server certificate: %s",
						X509_verify_cert_error_string(vr));
			} else {
				set_error(r, "TLS handshake: %s", ssl_error(why, sizeof(why)));
			}
			goto fail;
		}
	}
	r->hdr_have = 0;
	r->skip = 0;
	atomic_fetch_add(&r->connects, 1);
	atomic_store(&r->connected, true);
	return fstrm_res_success;
fail:
	atomic_fetch_add(&r->connect_failures, 1);
	rw_close(r);
	return fstrm_res_failure;
}

static fstrm_res rw_read(void *obj, void *data, size_t count)
{
	rv_relay *r = obj;
	uint8_t *p = data;
	char why[200];

	while (count > 0) {
		ssize_t n;

		errno = 0;
		if (r->ssl != NULL) {
			int k = SSL_read(r->ssl, p, count > INT32_MAX ? INT32_MAX : (int)count);

			if (k <= 0) {
				if (SSL_get_error(r->ssl, k) == SSL_ERROR_ZERO_RETURN)
					return fstrm_res_stop;
				set_error(r, "read: %s", ssl_error(why, sizeof(why)));
				return fstrm_res_failure;
			}
			n = k;
		} else {
			n = read(r->fd, p, count);
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				return fstrm_res_stop;
			if (n < 0) {
				set_error(r, "read: %s", strerror(errno));
				return fstrm_res_failure;
			}
		}
		p += n;
		count -= (size_t)n;
	}
	return fstrm_res_success;
}

/* Counts the data frames in the bytes just written, whatever the iovec
 * layout: a 4-byte length, then that many bytes; a zero length escapes a
 * control frame (a 4-byte length and its payload), which is not counted. */
static void count_frames(rv_relay *r, const uint8_t *p, size_t len)
{
	uint64_t frames = 0;

	while (len > 0) {
		if (r->skip > 0) {
			size_t k = r->skip < len ? (size_t)r->skip : len;

			r->skip -= k;
			p += k;
			len -= k;
			continue;
		}
		r->hdr[r->hdr_have++] = *p++;
		len--;
		if (r->hdr_have == 4) {
			uint32_t n = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
				     (uint32_t)r->hdr[2] << 8 | r->hdr[3];

			if (n != 0) {
				frames++;
				r->skip = n;
				r->hdr_have = 0;
			}
		} else if (r->hdr_have == 8) {
			r->skip = (uint32_t)r->hdr[4] << 24 | (uint32_t)r->hdr[5] << 16 |
				  (uint32_t)r->hdr[6] << 8 | r->hdr[7];
			r->hdr_have = 0;
		}
	}
	if (frames > 0)
		atomic_fetch_add(&r->sent, frames);
}

static fstrm_res rw_write(void *obj, const struct iovec *iov, int iovcnt)
{
	rv_relay *r = obj;
	const uint8_t *p;
	size_t total = 0, len;
	char why[200];

	/* One buffer, one send: libfstrm hands a length and a payload per frame,
	 * and two small writes per frame (TCP_NODELAY, or one TLS record each)
	 * cost 10 times the throughput. */
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > r->wcap) {
		uint8_t *nb = realloc(r->wbuf, total);

		if (nb == NULL) {
			set_error(r, "out of memory for a %zu-byte write", total);
			return fstrm_res_failure;
		}
		r->wbuf = nb;
		r->wcap = total;
	}
	len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(r->wbuf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	p = r->wbuf;
	while (len > 0) {
		ssize_t n;

		errno = 0;
		if (r->ssl != NULL) {
			int k = SSL_write(r->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);

			if (k <= 0) {
				set_error(r, "write: %s", ssl_error(why, sizeof(why)));
				return fstrm_res_failure;
			}
			n = k;
		} else {
			n = send(r->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				set_error(r, "write: %s", strerror(errno));
				return fstrm_res_failure;
			}
		}
		count_frames(r, p, (size_t)n);
		p += n;
		len -= (size_t)n;
	}
	return fstrm_res_success;
}

/* ---- the I/O thread ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects (handshake included) if not connected and the reconnect interval
 * has passed since the last attempt. */
static void io_maybe_open(rv_relay *r)
{
	int64_t now = mono_ms();

	if (r->opened || (r->last_open_ms != 0 && now - r->last_open_ms < r->reopen_ms))
		return;
	r->last_open_ms = now;
	r->opened = fstrm_writer_open(r->writer) == fstrm_res_success;
}

static void io_close(rv_relay *r)
{
	if (r->opened) {
		/* STOP, then FINISH read back (bounded by io_timeout_ms). */
		(void)fstrm_writer_close(r->writer);
		r->opened = false;
	}
}

static void *io_thread(void *arg)
{
	rv_relay *r = arg;
	relay_frame batch[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];

	io_maybe_open(r);
	for (;;) {
		unsigned n = 0;
		size_t bytes = 0;
		bool stop;

		pthread_mutex_lock(&r->qmu);
		while (r->count == 0 && !r->stopping) {
			r->consumer_waiting = true;
			if (r->opened) {
				pthread_cond_wait(&r->qcv, &r->qmu);
			} else {
				/* Not connected: wake for the next attempt. */
				struct timespec ts;
				int64_t at = r->last_open_ms + r->reopen_ms;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				int64_t wait = at - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
				if (wait < 1)
					wait = 1;
				ts.tv_sec += wait / 1000;
				ts.tv_nsec += (wait % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				(void)pthread_cond_timedwait(&r->qcv, &r->qmu, &ts);
				r->consumer_waiting = false;
				pthread_mutex_unlock(&r->qmu);
				io_maybe_open(r);
				pthread_mutex_lock(&r->qmu);
			}
			r->consumer_waiting = false;
		}
		while (n < RELAY_BATCH && r->count > 0 && (n == 0 || bytes < RELAY_BATCH_BYTES)) {
			batch[n] = r->ring[r->head];
			bytes += batch[n].len;
			r->head = (r->head + 1) % r->queue_frames;
			r->count--;
			n++;
		}
		stop = r->stopping && r->count == 0;
		pthread_mutex_unlock(&r->qmu);

		if (n > 0) {
			io_maybe_open(r);
			if (r->opened) {
				for (unsigned i = 0; i < n; i++)
					iov[i] = (struct iovec){batch[i].data, batch[i].len};
				if (fstrm_writer_writev(r->writer, iov, (int)n) != fstrm_res_success)
					io_close(r);
			}
			/* Written (counted as sent by the transport) or, while not
			 * connected, dropped: lost = freed - sent. */
			for (unsigned i = 0; i < n; i++)
				free(batch[i].data);
			atomic_fetch_add(&r->freed, n);
		}
		if (stop)
			break;
	}
	io_close(r);
	return NULL;
}

/* ---- main thread ---- */

void rv_relay_frame_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	rv_relay *r = arg;
	uint8_t *copy;
	bool wake = false, full;

	(void)peer;
	atomic_fetch_add(&r->in, 1);
	copy = malloc(len);
	if (copy == NULL) {
		atomic_fetch_add(&r->rejected, 1);
		return;
	}
	memcpy(copy, data, len);
	pthread_mutex_lock(&r->qmu);
	full = r->count == r->queue_frames;
	if (!full) {
		r->ring[(r->head + r->count) % r->queue_frames] = (relay_frame){copy, len};
		r->count++;
		/* Only a sleeping I/O thread needs the signal (a busy one comes
		 * back for more before it sleeps). */
		wake = r->consumer_waiting;
	}
	pthread_mutex_unlock(&r->qmu);
	if (wake)
		pthread_cond_signal(&r->qcv);
	if (full) {
		/* The queue is full: the central agent is slow or unreachable. */
		free(copy);
		atomic_fetch_add(&r->rejected, 1);
	}
}

static uint64_t lost(const rv_relay *r)
{
	uint64_t freed = atomic_load(&r->freed), sent = atomic_load(&r->sent);

	/* sent is counted as bytes leave, freed a moment later. */
	return freed > sent ? freed - sent : 0;
}

void rv_relay_poll(rv_relay *r)
{
	bool up = atomic_load(&r->connected);
	uint64_t connects = atomic_load(&r->connects);
	uint64_t failures = atomic_load(&r->connect_failures);
	char err[sizeof(r->last_error)];
	uint64_t suppressed = 0;

	pthread_mutex_lock(&r->mu);
	memcpy(err, r->last_error, sizeof(err));
	pthread_mutex_unlock(&r->mu);
	if (r->was_connected && (!up || connects != r->seen_connects))
		rv_warn(LOG_SUB, "lost the central agent %s (%s); frames are dropped (and counted) "
				"until it is back", r->where, err[0] ? err : "closed");
	if (connects != r->seen_connects && up)
		rv_notice(LOG_SUB, "connected to the central agent %s (connection %llu; so far "
				"%llu frames sent, %llu lost, %llu rejected)", r->where,
				(unsigned long long)connects, (unsigned long long)atomic_load(&r->sent),
				(unsigned long long)lost(r), (unsigned long long)atomic_load(&r->rejected));
	if (failures != r->seen_failures && !up &&
	    rv_log_ratelimit_ok(&r->fail_rl, mono_ms(), &suppressed))
		rv_warn(LOG_SUB, "cannot reach the central agent %s: %s (%llu failed attempts so "
				"far; retrying)", r->where, err, (unsigned long long)failures);
	r->was_connected = up;
	r->seen_connects = connects;
	r->seen_failures = failures;
}

#define READER(field)                                                   \
	static uint64_t read_##field(const void *arg)                   \
	{                                                               \
		return atomic_load(&((const rv_relay *)arg)->field);    \
	}
READER(in)
READER(sent)
READER(rejected)
READER(connects)
READER(connect_failures)

static uint64_t read_lost(const void *arg)
{
	return lost(arg);
}

static uint64_t read_connected(const void *arg)
{
	return atomic_load(&((const rv_relay *)arg)->connected) ? 1 : 0;
}

static uint64_t read_queued(const void *arg)
{
	const rv_relay *r = arg;
	uint64_t in = atomic_load(&r->in), done = atomic_load(&r->freed) +
			atomic_load(&r->rejected);

	return in > done ? in - done : 0;
}

int rv_relay_register_stats(rv_relay *r)
{
	static const struct {
		rv_metric_type type;
		const char *key, *name, *help;
		rv_stats_read_fn fn;
	} m[] = {
		{RV_COUNTER, "relay_in", "rearview_relay_frames_in_total",
		 "dnstap frames received from the local writer (named)", read_in},
		{RV_COUNTER, "relay_sent", "rearview_relay_frames_sent_total",
		 "dnstap frames written to the central agent", read_sent},
		{RV_COUNTER, "relay_rejected", "rearview_relay_frames_rejected_total",
		 "dnstap frames dropped because the relay's queue was full", read_rejected},
		{RV_COUNTER, "relay_lost", "rearview_relay_frames_lost_total",
		 "dnstap frames dropped while the central agent was unreachable", read_lost},
		{RV_GAUGE, "relay_queued", "rearview_relay_frames_queued",
		 "dnstap frames waiting in the relay's queue", read_queued},
		{RV_GAUGE, "relay_connected", "rearview_relay_connected",
		 "1 while the relay is connected to the central agent", read_connected},
		{RV_COUNTER, "relay_connects", "rearview_relay_connects_total",
		 "connections made to the central agent", read_connects},
		{RV_COUNTER, "relay_connect_failures", "rearview_relay_connect_failures_total",
		 "failed attempts to connect to the central agent (TCP or TLS)",
		 read_connect_failures},
	};
	int rc;

	for (size_t i = 0; i < RV_ARRAY_LEN(m); i++)
		if ((rc = rv_stats_register(m[i].type, m[i].key, m[i].name, m[i].help, m[i].fn,
				r)) < 0)
			return rc;
	return 0;
}

static int tls_client_setup(rv_relay *r, const rv_relay_opts *opts)
{
	char why[200];

	r->tls = SSL_CTX_new(TLS_client_method());
	if (r->tls == NULL || SSL_CTX_set_min_proto_version(r->tls, TLS1_2_VERSION) != 1)
		goto fail;
	if (SSL_CTX_load_verify_locations(r->tls, opts->tls_ca, NULL) != 1) {
		rv_err(LOG_SUB, "--tls-ca %s: cannot load: %s", opts->tls_ca,
				ssl_error(why, sizeof(why)));
		return -EINVAL;
	}
	SSL_CTX_set_verify(r->tls, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(r->tls, SSL_MODE_AUTO_RETRY);
	if (opts->tls_cert != NULL && opts->tls_cert[0] != '\0') {
		if (SSL_CTX_use_certificate_chain_file(r->tls, opts->tls_cert) != 1 ||
		    opts->tls_key == NULL ||
		    SSL_CTX_use_PrivateKey_file(r->tls, opts->tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(r->tls) != 1) {
			rv_err(LOG_SUB, "--tls-cert %s / --tls-key %s: cannot load, or they do not "
					"match: %s", opts->tls_cert, opts->tls_key ? opts->tls_key : "(none)",
					ssl_error(why, sizeof(why)));
			return -EINVAL;
		}
	}
	return 0;
fail:
	rv_err(LOG_SUB, "TLS setup: %s", ssl_error(why, sizeof(why)));
	return -EINVAL;
}

rv_relay *rv_relay_new(const rv_relay_opts *opts, int *err)
{
	struct fstrm_writer_options *wopt = NULL;
	struct fstrm_rdwr *rdwr = NULL;
	pthread_condattr_t ca;
	char text[RV_ADDR_STRLEN];
	rv_relay *r = NULL;
	int rc = -ENOMEM;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->qmu, NULL);
	/* The I/O thread's timed waits (reconnection) are on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->qcv, &ca);
	pthread_condattr_destroy(&ca);
	r->central = opts->central;
	r->port = opts->port;
	rc = -EINVAL;
	if (opts->queue_frames < 2 || opts->queue_frames > RV_RELAY_QUEUE_MAX) {
		rv_err(LOG_SUB, "queue of %u frames: expected 2 to %u", opts->queue_frames,
				RV_RELAY_QUEUE_MAX);
		goto fail;
	}
	rc = -ENOMEM;
	r->queue_frames = opts->queue_frames;
	r->reopen_ms = (opts->reopen_s ? opts->reopen_s : 1) * 1000u;
	r->io_timeout_ms = opts->io_timeout_ms ? opts->io_timeout_ms : 10000;
	r->fail_rl = (rv_log_ratelimit)RV_LOG_RATELIMIT(60000, 3);
	r->ring = calloc(r->queue_frames, sizeof(*r->ring));
	if (r->ring == NULL)
		goto fail;
	rv_addr_str(&r->central, text, sizeof(text));
	snprintf(r->where, sizeof(r->where), r->central.family == AF_INET6 ? "%s [%s]:%u" :
			"%s %s:%u", opts->tls_ca ? "tls" : "tcp", text, (unsigned)r->port);
	if (opts->tls_name != NULL && (r->tls_name = strdup(opts->tls_name)) == NULL)
		goto fail;
	if (opts->tls_ca != NULL && opts->tls_ca[0] != '\0' &&
	    (rc = tls_client_setup(r, opts)) < 0)
		goto fail;
	rc = -ENOMEM;
	rdwr = fstrm_rdwr_init(r);
	wopt = fstrm_writer_options_init();
	if (rdwr == NULL || wopt == NULL)
		goto fail;
	fstrm_rdwr_set_open(rdwr, rw_open);
	fstrm_rdwr_set_close(rdwr, rw_close);
	fstrm_rdwr_set_read(rdwr, rw_read);
	fstrm_rdwr_set_write(rdwr, rw_write);
	rc = -EINVAL;
	if (fstrm_writer_options_add_content_type(wopt, opts->content_type,
			strlen(opts->content_type)) != fstrm_res_success) {
		rv_err(LOG_SUB, "bad content type '%s'", opts->content_type);
		goto fail;
	}
	rc = -ENOMEM;
	/* The writer takes the rdwr. */
	r->writer = fstrm_writer_init(wopt, &rdwr);
	if (r->writer == NULL)
		goto fail;
	if ((rc = -pthread_create(&r->thr, NULL, io_thread, r)) < 0) {
		rv_err(LOG_SUB, "cannot start the I/O thread: %s", strerror(-rc));
		goto fail;
	}
	r->thr_started = true;
	rv_notice(LOG_SUB, "forwarding to the central agent %s (queue %u frames, reconnect "
			"every %u s%s)", r->where, r->queue_frames, r->reopen_ms / 1000,
			r->tls ? (opts->tls_cert ? ", TLS with a client certificate" : ", TLS") : "");
	fstrm_writer_options_destroy(&wopt);
	*err = 0;
	return r;
fail:
	if (rc == -ENOMEM)
		rv_err(LOG_SUB, "out of memory creating the relay");
	if (rdwr != NULL)
		fstrm_rdwr_destroy(&rdwr);
	if (wopt != NULL)
		fstrm_writer_options_destroy(&wopt);
	rv_relay_free(&r);
	*err = rc;
	return NULL;
}

void rv_relay_free(rv_relay **rp)
{
	rv_relay *r = *rp;

	if (r == NULL)
		return;
	if (r->thr_started) {
		/* The thread writes what is queued (if connected), then STOP,
		 * FINISH, close. */
		pthread_mutex_lock(&r->qmu);
		r->stopping = true;
		pthread_mutex_unlock(&r->qmu);
		pthread_cond_signal(&r->qcv);
		pthread_join(r->thr, NULL);
	}
	if (r->writer != NULL)
		fstrm_writer_destroy(&r->writer);
	for (unsigned i = 0; r->ring != NULL && i < r->count; i++)
		free(r->ring[(r->head + i) % r->queue_frames].data);
	free(r->ring);
	rv_stats_unregister(r);
	if (r->tls != NULL)
		SSL_CTX_free(r->tls);
	pthread_cond_destroy(&r->qcv);
	pthread_mutex_destroy(&r->qmu);
	pthread_mutex_destroy(&r->mu);
	free(r->tls_name);
	free(r->wbuf);
	free(r);
	*rp = NULL;
}
