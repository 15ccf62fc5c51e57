/*
 * relay.c - rearview-relay's forwarder (see relay.h).
 *
 * Threads: the main thread (libevent loop, fstrm_srv) only copies frames into
 * libfstrm's queue and reads counters; libfstrm's I/O thread runs the
 * transport below (connect, TLS, write, read). They share only atomics and,
 * for the last error's text, a mutex.
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

struct rv_relay {
	rv_addr central;
	uint16_t port;
	unsigned io_timeout_ms;
	char where[80];            /* "tls 192.0.2.1:6000" for log lines */
	char *tls_name;
	SSL_CTX *tls;
	struct fstrm_iothr *iothr;
	struct fstrm_iothr_queue *queue;
	unsigned queue_frames;
	/* I/O thread only */
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

/* ---- main thread ---- */

static void frame_free(void *buf, void *arg)
{
	rv_relay *r = arg;

	free(buf);
	atomic_fetch_add(&r->freed, 1);
}

void rv_relay_frame_cb(void *arg, rv_fs_peer *peer, const uint8_t *data, size_t len)
{
	rv_relay *r = arg;
	uint8_t *copy;

	(void)peer;
	atomic_fetch_add(&r->in, 1);
	copy = malloc(len);
	if (copy == NULL) {
		atomic_fetch_add(&r->rejected, 1);
		return;
	}
	memcpy(copy, data, len);
	if (fstrm_iothr_submit(r->iothr, r->queue, copy, len, frame_free, r) != fstrm_res_success) {
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

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	struct fstrm_iothr_options *iopt = NULL;
	struct fstrm_writer *w = NULL;
	struct fstrm_rdwr *rdwr = NULL;
	char text[RV_ADDR_STRLEN];
	rv_relay *r = NULL;
	int rc = -ENOMEM;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->fd = -1;
	r->central = opts->central;
	r->port = opts->port;
	r->queue_frames = opts->queue_frames;
	r->io_timeout_ms = opts->io_timeout_ms ? opts->io_timeout_ms : 10000;
	r->fail_rl = (rv_log_ratelimit)RV_LOG_RATELIMIT(60000, 3);
	pthread_mutex_init(&r->mu, NULL);
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
	iopt = fstrm_iothr_options_init();
	if (rdwr == NULL || wopt == NULL || iopt == NULL)
		goto fail;
	fstrm_rdwr_set_open(rdwr, rw_open);
	fstrm_rdwr_set_close(rdwr, rw_close);
	fstrm_rdwr_set_read(rdwr, rw_read);
	fstrm_rdwr_set_write(rdwr, rw_write);
	rc = -EINVAL;
	if (fstrm_writer_options_add_content_type(wopt, opts->content_type,
			strlen(opts->content_type)) != fstrm_res_success ||
	    fstrm_iothr_options_set_num_input_queues(iopt, 1) != fstrm_res_success ||
	    fstrm_iothr_options_set_queue_model(iopt, FSTRM_IOTHR_QUEUE_MODEL_SPSC) !=
	    fstrm_res_success ||
	    fstrm_iothr_options_set_input_queue_size(iopt, opts->queue_frames) !=
	    fstrm_res_success ||
	    fstrm_iothr_options_set_reopen_interval(iopt, opts->reopen_s) != fstrm_res_success ||
	    /* Larger writes than libfstrm's defaults (8 KiB, 64 frames): one
	     * syscall per 64 KiB instead of per ~40 frames. */
	    fstrm_iothr_options_set_buffer_hint(iopt, FSTRM_IOTHR_BUFFER_HINT_MAX) !=
	    fstrm_res_success ||
	    fstrm_iothr_options_set_output_queue_size(iopt, 256) != fstrm_res_success ||
	    /* libfstrm wakes its thread when the queue's free space falls to this
	     * (else once per flush timeout, 1 s): at half full, so a burst is
	     * drained while half the queue is still free to absorb it. */
	    fstrm_iothr_options_set_queue_notify_threshold(iopt, opts->queue_frames / 2) !=
	    fstrm_res_success) {
		rv_err(LOG_SUB, "bad queue options (queue size a power of 2 from %d to %d, "
				"reconnect interval >= 1 s)", FSTRM_IOTHR_INPUT_QUEUE_SIZE_MIN,
				FSTRM_IOTHR_INPUT_QUEUE_SIZE_MAX);
		goto fail;
	}
	rc = -ENOMEM;
	/* The writer takes the rdwr, the I/O thread the writer. */
	w = fstrm_writer_init(wopt, &rdwr);
	if (w == NULL)
		goto fail;
	r->iothr = fstrm_iothr_init(iopt, &w);
	if (r->iothr == NULL)
		goto fail;
	r->queue = fstrm_iothr_get_input_queue(r->iothr);
	if (r->queue == NULL)
		goto fail;
	rv_notice(LOG_SUB, "forwarding to the central agent %s (queue %u frames, reconnect "
			"every %u s%s)", r->where, r->queue_frames, opts->reopen_s,
			r->tls ? (opts->tls_cert ? ", TLS with a client certificate" : ", TLS") : "");
	fstrm_writer_options_destroy(&wopt);
	fstrm_iothr_options_destroy(&iopt);
	*err = 0;
	return r;
fail:
	if (rc == -ENOMEM)
		rv_err(LOG_SUB, "out of memory creating the relay");
	if (w != NULL)
		fstrm_writer_destroy(&w);
	if (rdwr != NULL)
		fstrm_rdwr_destroy(&rdwr);
	if (wopt != NULL)
		fstrm_writer_options_destroy(&wopt);
	if (iopt != NULL)
		fstrm_iothr_options_destroy(&iopt);
	rv_relay_free(&r);
	*err = rc;
	return NULL;
}

void rv_relay_free(rv_relay **rp)
{
	rv_relay *r = *rp;

	if (r == NULL)
		return;
	/* Flushes what is queued, STOP, FINISH, closes, joins the thread. */
	if (r->iothr != NULL)
		fstrm_iothr_destroy(&r->iothr);
	rv_stats_unregister(r);
	if (r->tls != NULL)
		SSL_CTX_free(r->tls);
	pthread_mutex_destroy(&r->mu);
	free(r->tls_name);
	free(r->wbuf);
	free(r);
	*rp = NULL;
}
