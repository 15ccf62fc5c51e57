/*
 * ptrcheck.c - see ptrcheck.h. One UDP socket connected to the resolver; a
 * slot per query in flight, found by the 16-bit message ID; poll(2) with a
 * short timeout drives sending, receiving and expiry.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dname.h"
#include "dnstcp.h"
#include "dnswire.h"
#include "ptrcheck.h"

typedef struct slot {
	size_t entry;
	int64_t deadline_ms;
	unsigned tries;
	uint16_t id;
	bool busy;
} slot;

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

size_t rv_ptrcheck_revname(const rv_addr *a, uint8_t *out)
{
	size_t n = 0;
	static const char hex[] = "0123456789abcdef";

	if (a->family == AF_INET) {
		for (int i = 3; i >= 0; i--) {
			char b[4];
			int l = snprintf(b, sizeof(b), "%u", a->bytes[i]);
			out[n++] = (uint8_t)l;
			memcpy(out + n, b, (size_t)l);
			n += (size_t)l;
		}
		memcpy(out + n, "\007in-addr\004arpa", 14);
		return n + 14;
	}
	for (int i = 15; i >= 0; i--) {
		out[n++] = 1;
		out[n++] = (uint8_t)hex[a->bytes[i] & 0xf];
		out[n++] = 1;
		out[n++] = (uint8_t)hex[a->bytes[i] >> 4];
	}
	memcpy(out + n, "\003ip6\004arpa", 10);
	return n + 10;
}

static int send_query(int fd, const rv_addr *a, uint16_t id)
{
	uint8_t q[RV_DNS_HDR + RV_DNAME_WIRE_MAX + 4] = {0};
	size_t n = RV_DNS_HDR;
	rv_put16(q, id);
	rv_put16(q + 2, 0x0100);  /* RD: the resolver does the work */
	rv_put16(q + 4, 1);
	n += rv_ptrcheck_revname(a, q + n);
	rv_put16(q + n, RV_TYPE_PTR);
	rv_put16(q + n + 2, RV_CLASS_IN);
	n += 4;
	return send(fd, q, n, 0) == (ssize_t)n ? 0 : -errno;
}

/* One reply: the slot's entry gets its result. false if the reply is not an
 * answer to the slot's question (ignored: it may be spoofed or late). */
static bool take_reply(rv_report *r, slot *s, const uint8_t *w, size_t len)
{
	rv_dns_msg m;
	char err[64];
	uint8_t qn[RV_DNAME_WIRE_MAX], want[RV_DNAME_WIRE_MAX], t[RV_DNAME_WIRE_MAX];
	size_t ql, tl, off = RV_DNS_HDR;
	rv_report_entry *e = rv_report_entry_at(r, s->entry);

	if (rv_dnswire_scan(w, len, &m, err, sizeof(err)) < 0 || !rv_dns_qr(&m) || m.qd != 1 ||
	    !rv_dnswire_name_read(w, len, &off, qn, &ql))
		return false;
	size_t wl = rv_ptrcheck_revname(&e->addr, want);
	if (ql != wl || memcmp(qn, want, wl) != 0)
		return false;
	unsigned rc = rv_dns_rcode(&m);
	if (rc == 3) {
		e->cmp = RV_CMP_NXDOMAIN;
		return true;
	}
	if (rc != 0) {
		e->cmp = RV_CMP_ERROR;
		return true;
	}
	e->cmp = RV_CMP_NOANSWER;
	off = m.an_off;
	for (unsigned i = 0; i < m.an; i++) {
		if (!rv_dnswire_name_skip(w, len, &off) || off + RV_DNS_RR_FIXED > len)
			break;
		unsigned type = rv_get16(w + off);
		size_t rd = off + RV_DNS_RR_FIXED, rdl = rv_get16(w + off + 8);
		off = rd + rdl;
		if (type != RV_TYPE_PTR || off > len)
			continue;
		size_t p = rd;
		char text[RV_NAME_MAX];
		if (!rv_dnswire_name_read(w, len, &p, t, &tl) ||
		    rv_dname_to_text(t, tl, RV_DNAME_LOWER, text, sizeof(text)) < 0)
			continue;
		free(e->actual);
		e->actual = strdup(text);
		if (e->actual == NULL)
			break;  /* counted as no answer: nothing to compare with */
		e->actual_regdom = rv_report_regdom(r, e->actual);
		e->cmp = strcmp(e->actual_regdom, e->regdom) == 0 ? RV_CMP_SAME : RV_CMP_DIFFERENT;
		break;
	}
	return true;
}

int rv_ptrcheck_run(rv_report *r, const rv_ptrcheck_opts *o, uint64_t *timeouts, char *err,
		size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	unsigned conc = o->concurrency ? o->concurrency : 64;
	size_t n = rv_report_count(r), next = 0, done = 0, inflight = 0, total = 0;
	int32_t *by_id = NULL;
	slot *slots = NULL;
	int fd = -1, rc;
	uint8_t buf[RV_DNS_MSG_MAX];
	int64_t t0 = now_ms(), last_progress = 0;
	uint64_t sent = 0;

	*timeouts = 0;
	if (conc > 4096)
		conc = 4096;
	if (rv_dnstcp_peer(o->server, o->port, &sa, &salen, NULL) < 0) {
		snprintf(err, errlen, "--compare-ptr: '%s' is not a numeric IPv4 or IPv6 address",
				o->server);
		return -EINVAL;
	}
	by_id = malloc(65536 * sizeof(*by_id));
	slots = calloc(conc, sizeof(*slots));
	if (by_id == NULL || slots == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 65536; i++)
		by_id[i] = -1;
	for (size_t i = 0; i < n; i++)
		if (o->select == NULL || rv_report_selected(rv_report_entry_at(r, i), o->select))
			total++;
	fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		rc = -errno;
		snprintf(err, errlen, "--compare-ptr %s: %s", o->server, strerror(errno));
		goto out;
	}
	while (done < total) {
		int64_t now = now_ms();
		/* Send while there is room and the rate allows. */
		for (unsigned k = 0; k < conc && inflight < conc; k++) {
			if (o->rate && (double)sent >= (double)(now - t0) * o->rate / 1000.0 + 1)
				break;
			slot *s = NULL;
			for (unsigned j = 0; j < conc; j++) {
				if (slots[j].busy && slots[j].tries < 2 && slots[j].deadline_ms <= now) {
					s = &slots[j];  /* timed out once: the retry goes first */
					break;
				}
			}
			if (s == NULL) {
				while (next < n && o->select &&
						!rv_report_selected(rv_report_entry_at(r, next), o->select))
					next++;
				if (next >= n)
					break;
				for (unsigned j = 0; j < conc; j++)
					if (!slots[j].busy) {
						s = &slots[j];
						break;
					}
				if (s == NULL)
					break;
				s->busy = true;
				s->entry = next++;
				s->tries = 0;
				inflight++;
			} else {
				by_id[s->id] = -1;
			}
			uint16_t id;
			do {
				if (getrandom(&id, sizeof(id), 0) != sizeof(id))
					id = (uint16_t)(rand() & 0xffff);
			} while (by_id[id] >= 0);
			s->id = id;
			by_id[id] = (int32_t)(s - slots);
			s->tries++;
			s->deadline_ms = now + (o->timeout_ms ? o->timeout_ms : 2000);
			sent++;
			/* A send error (ENOBUFS, ECONNREFUSED from an earlier ICMP) is
			 * left to the timeout and the retry. */
			(void)send_query(fd, &rv_report_entry_at(r, s->entry)->addr, id);
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		(void)poll(&pfd, 1, 10);
		for (;;) {
			ssize_t got = recv(fd, buf, sizeof(buf), 0);
			if (got < 0)
				break;
			if (got < RV_DNS_HDR)
				continue;
			int32_t si = by_id[rv_get16(buf)];
			if (si < 0 || !take_reply(r, &slots[si], buf, (size_t)got))
				continue;
			by_id[slots[si].id] = -1;
			slots[si].busy = false;
			inflight--;
			done++;
		}
		now = now_ms();
		for (unsigned j = 0; j < conc; j++) {
			slot *s = &slots[j];
			if (!s->busy || s->tries < 2 || s->deadline_ms > now)
				continue;
			rv_report_entry_at(r, s->entry)->cmp = RV_CMP_TIMEOUT;
			by_id[s->id] = -1;
			s->busy = false;
			inflight--;
			done++;
			(*timeouts)++;
		}
		if (o->progress && (now - last_progress >= 1000 || done == total)) {
			fprintf(stderr, "\rcompare-ptr: %zu/%zu answered or given up, %zu in flight, %"
					PRIu64 " timed out", done, total, inflight, *timeouts);
			last_progress = now;
		}
	}
	if (o->progress) {
		/* The rate is what a benchmark reads (scripts/bench.sh, part report). */
		double el = (double)(now_ms() - t0) / 1000.0;
		fprintf(stderr, "\ncompare-ptr: %zu lookups in %.2f s, %.0f lookups/s\n", total, el,
				el > 0 ? (double)total / el : 0.0);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(by_id);
	free(slots);
	return rc;
}
