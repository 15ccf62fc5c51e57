/*
 * report_main.c - rearview-report: reads the RPZ (a TSIG-signed AXFR with the
 * agent's transfer parser, or a zone file) and writes the analyst's report
 * (report.h), optionally comparing with the real PTRs (ptrcheck.h). See
 * doc/rearview-report.1.
 *
 * The transfer client blocks: this is a one-shot tool, not the agent's loop.
 * Any failure to read the whole zone is an error and no report is written, so
 * a partial zone is never presented as the complete one.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpsl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dname.h"
#include "dnstcp.h"
#include "dnswire.h"
#include "ptrcheck.h"
#include "reconcile.h"
#include "report.h"
#include "rv_config.h"
#include "tsig_key.h"
#include "zonefile.h"

static void usage(FILE *f)
{
	fputs("usage: rearview-report (--server ADDR[#PORT] --zone NAME --key-file F [--key-name N]\n"
	      "                         [--hot-zone NAME]\n"
	      "                        | --zone-file F [--zone NAME])\n"
	      "         [--format table|csv|json] [--html FILE] [--since T] [--until T]\n"
	      "         [--domain D] [--cidr P/N] [--top N] [--weak-score S] [--list-foreign]\n"
	      "         [--compare-ptr RESOLVER[#PORT] [--concurrency N] [--timeout MS] [--rate Q]]\n"
	      "         [--transfer-timeout MS]\n"
	      "See rearview-report(1).\n", f);
}

/* "ADDR" or "ADDR#PORT" -> addr (in buf) and port. */
static int split_port(const char *s, char *buf, size_t cap, uint16_t *port, uint16_t def)
{
	const char *h = strrchr(s, '#');
	size_t l = h ? (size_t)(h - s) : strlen(s);
	if (l == 0 || l >= cap)
		return -EINVAL;
	memcpy(buf, s, l);
	buf[l] = '\0';
	*port = def;
	if (h) {
		char *end;
		long p = strtol(h + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -EINVAL;
		*port = (uint16_t)p;
	}
	return 0;
}

/* ---- the AXFR, blocking ---- */

typedef struct axfr_ctx {
	rv_report *rep;
	int rc;
} axfr_ctx;

static int on_owner(void *arg, const rv_addr *addr, const char *ptr, const rv_candidate *meta)
{
	(void)arg, (void)addr, (void)ptr, (void)meta;
	return 0;  /* rows are built from the raw records (on_rr) */
}

static int on_rr(void *arg, const uint8_t *owner, size_t owner_len, unsigned type, unsigned cls,
		uint32_t ttl, const uint8_t *msg, size_t len, size_t rd, size_t rdlen)
{
	axfr_ctx *c = arg;
	char o[RV_NAME_MAX], tb[16], target[RV_NAME_MAX];
	uint8_t txt[65536], wn[RV_DNAME_WIRE_MAX];
	size_t tl = 0, wl;
	(void)ttl;

	if (rv_dname_to_text(owner, owner_len, RV_DNAME_LOWER, o, sizeof(o)) < 0)
		return 0;
	const char *tn = rv_dns_type_name(type, tb, sizeof(tb));
	if (cls != RV_CLASS_IN)
		tn = "non-IN";
	if (type == RV_TYPE_PTR && cls == RV_CLASS_IN) {
		size_t p = rd;
		if (!rv_dnswire_name_read(msg, len, &p, wn, &wl) || p != rd + rdlen ||
		    rv_dname_to_text(wn, wl, RV_DNAME_LOWER, target, sizeof(target)) < 0)
			return rv_report_add(c->rep, o, "PTR(bad)", NULL, NULL, 0);
		return rv_report_add(c->rep, o, "PTR", target, NULL, 0);
	}
	if (type == RV_TYPE_TXT && cls == RV_CLASS_IN) {
		/* <character-string>s joined with one space, as the zone-file path. */
		for (size_t i = rd; i < rd + rdlen;) {
			size_t sl = msg[i++];
			if (sl > rd + rdlen - i)
				sl = rd + rdlen - i;
			if (tl)
				txt[tl++] = ' ';
			memcpy(txt + tl, msg + i, sl);
			tl += sl;
			i += sl;
		}
		return rv_report_add(c->rep, o, "TXT", NULL, txt, tl);
	}
	return rv_report_add(c->rep, o, tn, NULL, NULL, 0);
}

static int read_full(int fd, uint8_t *b, size_t n, unsigned timeout_ms)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)timeout_ms);
		if (pr == 0)
			return -ETIMEDOUT;
		if (pr < 0)
			return -errno;
		ssize_t k = read(fd, b + got, n - got);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0)
			return -errno;
		got += (size_t)k;
	}
	return 0;
}

static int do_axfr(const char *server, const char *zone, const rv_tsig_key *key,
		unsigned timeout_ms, rv_report *rep, uint32_t *serial, char *err, size_t errlen)
{
	char addr[RV_ADDR_STRLEN + 8], peer[RV_DNSTCP_PEER_MAX], why[512];
	uint16_t port;
	struct sockaddr_storage sa;
	socklen_t salen;
	axfr_ctx c = {.rep = rep};
	uint8_t *buf = malloc(RV_DNS_MSG_MAX + 2);
	int fd = -1, rc, e;
	uint16_t id;
	rv_axfr *x = NULL;

	if (buf == NULL)
		return -ENOMEM;
	if (split_port(server, addr, sizeof(addr), &port, 53) < 0 ||
	    rv_dnstcp_peer(addr, port, &sa, &salen, peer) < 0) {
		snprintf(err, errlen, "--server '%s': not ADDRESS[#PORT] with a numeric address", server);
		rc = -EINVAL;
		goto out;
	}
	x = rv_axfr_new(zone, key, on_owner, &c, &e);
	if (x == NULL) {
		snprintf(err, errlen, "AXFR of %s: bad zone name or unusable key", zone);
		rc = e;
		goto out;
	}
	rv_axfr_set_rr_fn(x, on_rr, &c);
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)getpid();
	rc = rv_axfr_query(x, id, (int64_t)time(NULL), buf + 2, RV_DNS_MSG_MAX);
	if (rc < 0) {
		snprintf(err, errlen, "AXFR of %s: cannot build the query: %s", zone, strerror(-rc));
		goto out;
	}
	rv_put16(buf, (unsigned)rc);
	size_t qlen = (size_t)rc + 2;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		snprintf(err, errlen, "AXFR of %s from %s: connect: %s", zone, peer, strerror(errno));
		goto out;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (poll(&p, 1, (int)timeout_ms) != 1) {
		rc = -ETIMEDOUT;
		snprintf(err, errlen, "AXFR of %s from %s: connect timed out", zone, peer);
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		rc = -(soerr ? soerr : errno);
		snprintf(err, errlen, "AXFR of %s from %s: connect: %s", zone, peer, strerror(-rc));
		goto out;
	}
	if (write(fd, buf, qlen) != (ssize_t)qlen) {
		rc = -EIO;
		snprintf(err, errlen, "AXFR of %s from %s: cannot send the query", zone, peer);
		goto out;
	}
	for (;;) {
		uint8_t lb[2];
		rc = read_full(fd, lb, 2, timeout_ms);
		if (rc == 0) {
			size_t ml = rv_get16(lb);
			rc = read_full(fd, buf, ml, timeout_ms);
			if (rc == 0) {
				rc = rv_axfr_message(x, buf, ml, (int64_t)time(NULL), why, sizeof(why));
				if (rc == 1)
					break;
				if (rc < 0) {
					snprintf(err, errlen, "AXFR of %s from %s: %s", zone, peer, why);
					goto out;
				}
				continue;
			}
		}
		const rv_reconcile_stats *st = rv_axfr_stats(x);
		snprintf(err, errlen, "AXFR of %s from %s: %s after %" PRIu64 " messages (%" PRIu64
				" records): transfer incomplete", zone, peer,
				rc == -ECONNRESET ? "connection closed" : strerror(-rc), st->messages,
				st->records);
		goto out;
	}
	*serial = rv_axfr_stats(x)->serial;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	rv_axfr_free(&x);
	free(buf);
	return rc;
}

/* ---- zone file ---- */

typedef struct zf_ctx {
	rv_report *rep;
	const char *map;
	size_t dropped;      /* pages before this offset are given back */
} zf_ctx;

/* A 1M-address zone file is ~170 MB, and every page the parse touched would
 * stay resident until the munmap: give back what the parser is done with
 * every 16 MiB. The mapping is read-only and file-backed, so a page read
 * again would only be read again from the file. */
#define ZF_DROP_STEP (16u << 20)

static int on_zrr(void *arg, const rv_zonefile_rr *rr)
{
	zf_ctx *c = arg;
	if (rr->consumed - c->dropped >= 2 * ZF_DROP_STEP) {
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);
		size_t upto = (rr->consumed - ZF_DROP_STEP) / pg * pg;
		if (upto > c->dropped) {
			(void)madvise((char *)c->map + c->dropped, upto - c->dropped, MADV_DONTNEED);
			c->dropped = upto;
		}
	}
	return rv_report_add(c->rep, rr->owner, rr->type, rr->ptr, rr->txt, rr->txt_len);
}

static int do_zonefile(const char *path, const char *zone, rv_report *rep, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat st;
	char why[300];

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -errno;
		goto out;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s: empty file", path);
		rc = -EBADMSG;
		goto out;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	zf_ctx zc = {.rep = rep, .map = m};
	(void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
	rc = rv_zonefile_parse(m, (size_t)st.st_size, zone, on_zrr, &zc, why, sizeof(why));
	munmap(m, (size_t)st.st_size);
	if (rc < 0)
		snprintf(err, errlen, "%s:%s (nothing reported: the file was not read to the end)",
				path, why[0] ? why : strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int parse_cidr(const char *s, rv_addr *a, unsigned *bits)
{
	char buf[64];
	const char *sl = strchr(s, '/');
	size_t l = sl ? (size_t)(sl - s) : strlen(s);
	if (l >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, l);
	buf[l] = '\0';
	if (rv_addr_parse(buf, a) < 0)
		return -EINVAL;
	unsigned max = a->family == AF_INET ? 32 : 128;
	*bits = max;
	if (sl) {
		char *end;
		long b = strtol(sl + 1, &end, 10);
		if (*end || sl[1] == '\0' || b < 0 || b > (long)max)
			return -EINVAL;
		*bits = (unsigned)b;
	}
	return 0;
}

static bool uint_arg(const char *s, unsigned lo, unsigned hi, unsigned *v)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(s, &end, 10);
	if (errno || *end || end == s || x < lo || x > hi)
		return false;
	*v = (unsigned)x;
	return true;
}

int main(int argc, char **argv)
{
	enum { O_SERVER = 256, O_ZONE, O_KEYFILE, O_KEYNAME, O_ZONEFILE, O_FORMAT, O_HTML, O_SINCE,
		O_UNTIL, O_DOMAIN, O_CIDR, O_TOP, O_WEAK, O_FOREIGN, O_CMP, O_CONC, O_TIMEOUT, O_RATE,
		O_XTIMEOUT, O_HOT, O_HELP, O_VERSION };
	static const struct option lo[] = {
		{"server", 1, 0, O_SERVER}, {"zone", 1, 0, O_ZONE}, {"key-file", 1, 0, O_KEYFILE},
		{"key-name", 1, 0, O_KEYNAME}, {"zone-file", 1, 0, O_ZONEFILE},
		{"format", 1, 0, O_FORMAT}, {"html", 1, 0, O_HTML}, {"since", 1, 0, O_SINCE},
		{"until", 1, 0, O_UNTIL}, {"domain", 1, 0, O_DOMAIN}, {"cidr", 1, 0, O_CIDR},
		{"top", 1, 0, O_TOP}, {"weak-score", 1, 0, O_WEAK}, {"list-foreign", 0, 0, O_FOREIGN},
		{"compare-ptr", 1, 0, O_CMP}, {"concurrency", 1, 0, O_CONC},
		{"timeout", 1, 0, O_TIMEOUT}, {"rate", 1, 0, O_RATE},
		{"transfer-timeout", 1, 0, O_XTIMEOUT}, {"hot-zone", 1, 0, O_HOT}, {"help", 0, 0, O_HELP},
		{"version", 0, 0, O_VERSION}, {0, 0, 0, 0},
	};
	const char *server = NULL, *zone = NULL, *keyfile = NULL, *keyname = NULL, *zonefile = NULL;
	const char *html = NULL, *cmp = NULL, *since = NULL, *until = NULL, *hot = NULL;
	int fmt = 't', c, status = 1;
	unsigned conc = 64, timeout = 2000, rate = 0, xtimeout = 10000;
	rv_report_opts o = {.now = (int64_t)time(NULL), .top = 10, .weak_score = 2.0};
	char err[1024], src[2 * RV_NAME_MAX + 200], note[200] = "";
	rv_report *rep = NULL;
	psl_ctx_t *psl = NULL;
	FILE *hf = NULL;
	int e;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_SERVER: server = optarg; break;
		case O_ZONE: zone = optarg; break;
		case O_HOT: hot = optarg; break;
		case O_KEYFILE: keyfile = optarg; break;
		case O_KEYNAME: keyname = optarg; break;
		case O_ZONEFILE: zonefile = optarg; break;
		case O_FORMAT:
			if (strcmp(optarg, "table") == 0) fmt = 't';
			else if (strcmp(optarg, "csv") == 0) fmt = 'c';
			else if (strcmp(optarg, "json") == 0) fmt = 'j';
			else goto bad_usage;
			break;
		case O_HTML: html = optarg; break;
		case O_SINCE: since = optarg; break;
		case O_UNTIL: until = optarg; break;
		case O_DOMAIN: o.domain = optarg; break;
		case O_CIDR:
			if (parse_cidr(optarg, &o.cidr, &o.cidr_bits) < 0) {
				fprintf(stderr, "rearview-report: --cidr '%s': not ADDRESS/BITS\n", optarg);
				return 2;
			}
			break;
		case O_TOP: if (!uint_arg(optarg, 0, 1000000, &o.top)) goto bad_usage; break;
		case O_WEAK: {
			char *end;
			o.weak_score = strtod(optarg, &end);
			if (*end || end == optarg)
				goto bad_usage;
			break;
		}
		case O_FOREIGN: o.list_foreign = true; break;
		case O_CMP: cmp = optarg; break;
		case O_CONC: if (!uint_arg(optarg, 1, 4096, &conc)) goto bad_usage; break;
		case O_TIMEOUT: if (!uint_arg(optarg, 1, 600000, &timeout)) goto bad_usage; break;
		case O_RATE: if (!uint_arg(optarg, 0, 10000000, &rate)) goto bad_usage; break;
		case O_XTIMEOUT: if (!uint_arg(optarg, 1, 3600000, &xtimeout)) goto bad_usage; break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("rearview-report %s\n", RV_VERSION); return 0;
		default: goto bad_usage;
		}
	}
	if (optind != argc || (!server == !zonefile) || (server && (!zone || !keyfile)) ||
	    (hot && !server))
		goto bad_usage;
	if ((since && rv_report_parse_time(since, o.now, &o.since) < 0) ||
	    (until && rv_report_parse_time(until, o.now, &o.until) < 0)) {
		fprintf(stderr, "rearview-report: --since/--until: epoch seconds or -N[smhdw]\n");
		return 2;
	}
	/* psl_latest: the newer of the built-in list and the distribution's
	 * (Debian's publicsuffix package), so list updates need no rebuild. */
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = (psl_ctx_t *)psl_builtin();
	if (psl == NULL)
		fprintf(stderr, "rearview-report: no public suffix list: registered domains are the "
				"last two labels\n");
	rep = rv_report_new(zone ? zone : "rpz.rearview", psl, &e);
	if (rep == NULL) {
		fprintf(stderr, "rearview-report: --zone '%s': %s\n", zone ? zone : "", strerror(-e));
		goto out;
	}
	if (server) {
		rv_tsig_key key;
		if (rv_tsig_key_load(keyfile, keyname, &key, err, sizeof(err)) < 0) {
			fprintf(stderr, "rearview-report: %s\n", err);
			goto out;
		}
		/* The hot zone first: its addresses hide the main zone's (report.h). */
		uint32_t hot_serial = 0;
		if (hot) {
			if (rv_report_hot_begin(rep, hot) < 0) {
				fprintf(stderr, "rearview-report: --hot-zone '%s': not a zone name other "
						"than --zone\n", hot);
				goto out;
			}
			e = do_axfr(server, hot, &key, xtimeout, rep, &hot_serial, err, sizeof(err));
			if (e < 0) {
				fprintf(stderr, "rearview-report: %s\n", err);
				goto out;
			}
			rv_report_hot_end(rep);
		}
		e = do_axfr(server, zone, &key, xtimeout, rep, &o.serial, err, sizeof(err));
		if (e < 0) {
			fprintf(stderr, "rearview-report: %s\n", err);
			goto out;
		}
		if (hot)
			snprintf(src, sizeof(src), "AXFR of %s (hot zone, serial %" PRIu32 ") and %s from %s",
					hot, hot_serial, zone, server);
		else
			snprintf(src, sizeof(src), "AXFR of %s from %s", zone, server);
	} else {
		e = do_zonefile(zonefile, zone ? zone : NULL, rep, err, sizeof(err));
		if (e < 0) {
			fprintf(stderr, "rearview-report: %s\n", err);
			goto out;
		}
		snprintf(src, sizeof(src), "zone file %s", zonefile);
	}
	o.source = src;
	if (rv_report_finish(rep) < 0) {
		fprintf(stderr, "rearview-report: out of memory\n");
		goto out;
	}
	if (cmp) {
		char ra[RV_ADDR_STRLEN + 8];
		uint64_t timeouts;
		rv_ptrcheck_opts po = {.concurrency = conc, .timeout_ms = timeout, .rate = rate,
			.progress = isatty(2) || getenv("RV_REPORT_PROGRESS") != NULL, .select = &o};
		if (split_port(cmp, ra, sizeof(ra), &po.port, 53) < 0) {
			fprintf(stderr, "rearview-report: --compare-ptr '%s': not ADDRESS[#PORT]\n", cmp);
			goto out;
		}
		po.server = ra;
		if (rv_ptrcheck_run(rep, &po, &timeouts, err, sizeof(err)) < 0) {
			fprintf(stderr, "rearview-report: %s\n", err);
			goto out;
		}
		o.compared = true;
		if (timeouts) {
			snprintf(note, sizeof(note), "%" PRIu64 " addresses got no answer from %s", timeouts,
					cmp);
			fprintf(stderr, "rearview-report: compare-ptr incomplete: %s\n", note);
		}
		o.compare_note = note;
	}
	if (rv_report_write(rep, &o, fmt, stdout) < 0) {
		fprintf(stderr, "rearview-report: writing the report failed\n");
		goto out;
	}
	if (html) {
		hf = fopen(html, "we");
		if (hf == NULL || rv_report_write_html(rep, &o, hf) < 0 || fclose(hf) != 0) {
			hf = NULL;
			fprintf(stderr, "rearview-report: %s: cannot write the HTML report\n", html);
			goto out;
		}
		hf = NULL;
	}
	/* Exit 3: the report is written, but the comparison is incomplete. */
	status = note[0] ? 3 : 0;
out:
	if (hf)
		fclose(hf);
	rv_report_free(&rep);
	if (psl && psl != psl_builtin())
		psl_free(psl);
	return status;
bad_usage:
	usage(stderr);
	return 2;
}
