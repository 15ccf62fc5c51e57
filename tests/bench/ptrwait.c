/*
 * ptrwait.c - rv-ptrwait: lookup -> PTR latency probe.
 *
 * For each sample "name<TAB>type<TAB>address" (rv-loadgen --samples-out), at a
 * fixed rate: look the name up through the client view (that lookup is what
 * BIND reports over dnstap), then ask the xray view for the address's PTR every
 * --poll-ms until it answers the name. Latency = PTR answer received - lookup
 * sent. Prints one line per sample and a summary with percentiles.
 *
 * One non-blocking UDP socket; replies are matched by message ID. Lost packets
 * are harmless: polls repeat, and a lookup whose reply is lost is sent again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#define MAX_SAMPLES 100000

typedef struct sample {
	char name[256];
	ldns_rr_type qtype;
	char addr[64];
	ldns_rdf *rev;         /* reverse name of addr */
	double t_lookup;       /* first lookup sent; 0 = not yet */
	bool lookup_ok;        /* the client view answered (any NOERROR) */
	double t_last_lookup, t_last_poll;
	double latency;        /* seconds; < 0 = not seen yet */
	char last_ptr[256];    /* what the xray view said last (for timeouts) */
} sample;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Percentile by nearest rank over sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return -1;
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static int send_query(int fd, const struct sockaddr_in *to, const ldns_rdf *qname,
		ldns_rr_type t, uint16_t id)
{
	ldns_pkt *q = ldns_pkt_query_new(ldns_rdf_clone(qname), t, LDNS_RR_CLASS_IN, LDNS_RD);
	uint8_t *wire = NULL;
	size_t len = 0;
	int rc = -ENOMEM;
	if (!q)
		return rc;
	ldns_pkt_set_id(q, id);
	if (ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK)
		goto out;
	rc = 0;
	if (sendto(fd, wire, len, 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
		rc = -errno; /* a full socket buffer only delays this poll */
out:
	free(wire);
	ldns_pkt_free(q);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rv-ptrwait --client ADDR --xray ADDR --port P --samples FILE [options]\n"
		"  --rate R        samples started per second (default 10)\n"
		"  --poll-ms N     PTR poll interval per pending sample (default 20)\n"
		"  --timeout S     give up on a sample after S seconds (default 30)\n"
		"  --max N         use at most N samples from the file\n"
		"Prints 'sample NAME ADDR MS' lines and a summary line:\n"
		"  summary samples=N seen=N p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..\n");
}

int main(int argc, char **argv)
{
	const char *client = NULL, *xray = NULL, *path = NULL;
	unsigned port = 53, poll_ms = 20, timeout_s = 30, max = MAX_SAMPLES;
	double rate = 10;
	static const struct option lo[] = {
		{"client", required_argument, NULL, 'c'}, {"xray", required_argument, NULL, 'x'},
		{"port", required_argument, NULL, 'p'}, {"samples", required_argument, NULL, 's'},
		{"rate", required_argument, NULL, 'r'}, {"poll-ms", required_argument, NULL, 'P'},
		{"timeout", required_argument, NULL, 't'}, {"max", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': client = optarg; break;
		case 'x': xray = optarg; break;
		case 'p': port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': path = optarg; break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 'P': poll_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': max = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!client || !xray || !path || port == 0 || port > 65535 || rate <= 0 || poll_ms == 0 ||
	    max == 0 || max > MAX_SAMPLES) {
		usage(stderr);
		return 2;
	}

	int rc = 1, fd = -1;
	size_t n = 0;
	sample *s = calloc(max, sizeof(*s));
	double *lat = calloc(max, sizeof(double));
	FILE *f = fopen(path, "r");
	if (!s || !lat || !f) {
		fprintf(stderr, "rv-ptrwait: %s: %s\n", path, strerror(errno));
		goto out;
	}
	char line[512], tname[16];
	while (n < max && fgets(line, sizeof(line), f)) {
		sample *p = &s[n];
		if (sscanf(line, "%255s %15s %63s", p->name, tname, p->addr) != 3)
			continue;
		p->qtype = strcasecmp(tname, "AAAA") == 0 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A;
		ldns_rdf *a = NULL;
		if (ldns_str2rdf_a(&a, p->addr) != LDNS_STATUS_OK &&
		    ldns_str2rdf_aaaa(&a, p->addr) != LDNS_STATUS_OK) {
			fprintf(stderr, "rv-ptrwait: bad address %s\n", p->addr);
			goto out;
		}
		p->rev = ldns_rdf_address_reverse(a);
		ldns_rdf_deep_free(a);
		if (!p->rev)
			goto out;
		p->latency = -1;
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "rv-ptrwait: no samples in %s\n", path);
		goto out;
	}

	struct sockaddr_in cli = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in xr = cli;
	if (inet_pton(AF_INET, client, &cli.sin_addr) != 1 || inet_pton(AF_INET, xray, &xr.sin_addr) != 1) {
		fprintf(stderr, "rv-ptrwait: --client and --xray must be IPv4 addresses\n");
		goto out;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto out;

	/* ID = 2 * sample index (+1 for a PTR poll), so a reply names its sample.
	 * Sample counts above 32k reuse IDs; a stale reply then only triggers a
	 * name comparison, which fails harmlessly. */
	double t0 = now_s(), poll_s = poll_ms / 1000.0;
	size_t started = 0, done = 0;
	while (done < n) {
		double t = now_s();
		while (started < n && t - t0 >= (double)started / rate) {
			ldns_rdf *qn = ldns_dname_new_frm_str(s[started].name);
			if (!qn)
				goto out;
			(void)send_query(fd, &cli, qn, s[started].qtype, (uint16_t)(2 * started));
			ldns_rdf_deep_free(qn);
			s[started].t_lookup = s[started].t_last_lookup = t;
			started++;
		}
		for (size_t k = 0; k < started; k++) {
			sample *p = &s[k];
			if (p->latency >= 0 || p->latency == -2)
				continue;
			if (t - p->t_lookup > timeout_s) {
				p->latency = -2; /* timed out */
				done++;
				printf("sample %s %s timeout (xray said '%s'%s)\n", p->name, p->addr,
					p->last_ptr, p->lookup_ok ? "" : ", lookup unanswered");
				continue;
			}
			if (!p->lookup_ok && t - p->t_last_lookup > 1.0) {
				ldns_rdf *qn = ldns_dname_new_frm_str(p->name);
				if (qn) {
					(void)send_query(fd, &cli, qn, p->qtype, (uint16_t)(2 * k));
					ldns_rdf_deep_free(qn);
				}
				p->t_last_lookup = t;
			}
			if (t - p->t_last_poll >= poll_s) {
				(void)send_query(fd, &xr, p->rev, LDNS_RR_TYPE_PTR, (uint16_t)(2 * k + 1));
				p->t_last_poll = t;
			}
		}
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		(void)poll(&pf, 1, 1);
		uint8_t buf[4096];
		ssize_t r;
		while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
			double tr = now_s();
			ldns_pkt *pkt = NULL;
			if (ldns_wire2pkt(&pkt, buf, (size_t)r) != LDNS_STATUS_OK)
				continue;
			uint16_t id = ldns_pkt_id(pkt);
			size_t k = id / 2;
			/* With > 32k samples several share an ID; try each. */
			for (; k < started; k += 32768) {
				sample *p = &s[k];
				if (p->latency >= 0 || p->latency == -2)
					continue;
				if (!(id & 1)) {
					if (ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NOERROR)
						p->lookup_ok = true;
					continue;
				}
				ldns_rr_list *an = ldns_pkt_answer(pkt);
				for (size_t a = 0; an && a < ldns_rr_list_rr_count(an); a++) {
					ldns_rr *rr = ldns_rr_list_rr(an, a);
					if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_PTR || ldns_rr_rd_count(rr) < 1)
						continue;
					char *txt = ldns_rdf2str(ldns_rr_rdf(rr, 0));
					if (!txt)
						continue;
					size_t tl = strlen(txt);
					if (tl && txt[tl - 1] == '.')
						txt[--tl] = 0;
					snprintf(p->last_ptr, sizeof(p->last_ptr), "%s", txt);
					if (strcasecmp(txt, p->name) == 0) {
						p->latency = tr - p->t_lookup;
						done++;
						printf("sample %s %s %.1f\n", p->name, p->addr, p->latency * 1000);
					}
					free(txt);
				}
			}
			ldns_pkt_free(pkt);
		}
	}

	size_t seen = 0;
	for (size_t k = 0; k < n; k++)
		if (s[k].latency >= 0)
			lat[seen++] = s[k].latency * 1000;
	qsort(lat, seen, sizeof(double), cmp_double);
	/* Timed-out samples count as "infinitely late" for the percentiles: report
	 * over all samples, so a p99 is never flattered by dropping the slow ones. */
	double *all = calloc(n, sizeof(double));
	if (!all)
		goto out;
	for (size_t k = 0; k < n; k++)
		all[k] = k < seen ? lat[k] : 1e12;
	printf("summary samples=%zu seen=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", n,
		seen, pct(all, n, 50), pct(all, n, 90), pct(all, n, 99), pct(all, n, 100));
	free(all);
	rc = seen == n ? 0 : 3;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	for (size_t k = 0; s && k < n; k++)
		ldns_rdf_deep_free(s[k].rev);
	free(s);
	free(lat);
	return rc;
}
