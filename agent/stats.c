/* stats.c - the metrics registry: static counters, module-owned values, the
 * statistics log line and the Prometheus text exposition. */
#include <inttypes.h>
#include <string.h>

#include "dnsmsg.h"
#include "log.h"
#include "stats.h"

struct rv_stats rv_stats;

typedef struct dyn_metric {
	rv_metric_type type;
	const char *log_key;
	const char *name;
	const char *help;
	rv_stats_read_fn fn;
	const void *arg;
	bool milli;
} dyn_metric;

static dyn_metric dynamic[RV_STATS_DYNAMIC_MAX];
static size_t ndynamic;

typedef struct family {
	rv_metric_type type;
	const char *name;
	const char *help;
	const char *label_key;
	rv_stats_family_fn fn;
	const void *arg;
} family;

static family families[RV_STATS_FAMILY_MAX];
static size_t nfamilies;

int rv_stats_register_family(rv_metric_type type, const char *prometheus_name,
		const char *help, const char *label_key, rv_stats_family_fn fn, const void *arg)
{
	family f = {type, prometheus_name, help, label_key, fn, arg};

	if (!prometheus_name || !help || !label_key || !fn)
		return -EINVAL;
	for (size_t i = 0; i < nfamilies; i++) {
		if (strcmp(families[i].name, prometheus_name) == 0) {
			families[i] = f;
			return 0;
		}
	}
	if (nfamilies == RV_STATS_FAMILY_MAX)
		return -ENOSPC;
	families[nfamilies++] = f;
	return 0;
}

static int add_dynamic(const dyn_metric *m)
{
	if (!m->name || !m->help || !m->fn)
		return -EINVAL;
	for (size_t i = 0; i < ndynamic; i++) {
		if (strcmp(dynamic[i].name, m->name) == 0) {
			dynamic[i] = *m;
			return 0;
		}
	}
	if (ndynamic == RV_STATS_DYNAMIC_MAX)
		return -ENOSPC;
	dynamic[ndynamic++] = *m;
	return 0;
}

int rv_stats_register(rv_metric_type type, const char *log_key, const char *prometheus_name,
		const char *help, rv_stats_read_fn fn, const void *arg)
{
	return add_dynamic(&(dyn_metric){type, log_key, prometheus_name, help, fn, arg, false});
}

int rv_stats_register_milli(rv_metric_type type, const char *log_key,
		const char *prometheus_name, const char *help, rv_stats_read_fn fn,
		const void *arg)
{
	return add_dynamic(&(dyn_metric){type, log_key, prometheus_name, help, fn, arg, true});
}

typedef struct hist_metric {
	const char *name, *help;
	const rv_stats_histogram *h;
	const void *arg;
} hist_metric;

#define RV_STATS_HISTOGRAMS_MAX 8
static hist_metric histograms[RV_STATS_HISTOGRAMS_MAX];
static size_t nhistograms;

void rv_stats_histogram_observe(rv_stats_histogram *h, uint64_t ms)
{
	size_t i = 0;

	while (i < h->nbounds && ms > h->bounds_ms[i])
		i++;
	h->counts[i]++;
	h->sum_ms += ms;
	h->count++;
}

int rv_stats_register_histogram(const char *prometheus_name, const char *help,
		const rv_stats_histogram *h, const void *arg)
{
	if (!prometheus_name || !help || !h || h->nbounds > RV_STATS_HIST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < nhistograms; i++)
		if (strcmp(histograms[i].name, prometheus_name) == 0) {
			histograms[i] = (hist_metric){prometheus_name, help, h, arg};
			return 0;
		}
	if (nhistograms == RV_STATS_HISTOGRAMS_MAX)
		return -ENOSPC;
	histograms[nhistograms++] = (hist_metric){prometheus_name, help, h, arg};
	return 0;
}

void rv_stats_unregister(const void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < nhistograms; i++)
		if (histograms[i].arg != arg)
			histograms[k++] = histograms[i];
	nhistograms = k;
	size_t j = 0;
	for (size_t i = 0; i < ndynamic; i++)
		if (dynamic[i].arg != arg)
			dynamic[j++] = dynamic[i];
	ndynamic = j;
	j = 0;
	for (size_t i = 0; i < nfamilies; i++)
		if (families[i].arg != arg)
			families[j++] = families[i];
	nfamilies = j;
}

void rv_stats_reset(void)
{
	memset(&rv_stats, 0, sizeof(rv_stats));
	ndynamic = 0;
	nhistograms = 0;
	nfamilies = 0;
}

void rv_stats_foreach(rv_stats_visit_fn fn, void *ctx)
{
#define RV_STATS_VISIT(field, type, key, name, help) \
	fn(ctx, type, key, name, help, NULL, NULL, rv_stats.field, false);
	RV_STATS_LIST(RV_STATS_VISIT)
#undef RV_STATS_VISIT
	for (int v = 0; v < RV_VERDICT_COUNT; v++)
		fn(ctx, RV_COUNTER, NULL, "rearview_dnstap_frames_by_verdict_total",
		   "dnstap frames by what the agent made of them", "verdict",
		   rv_verdict_name((rv_verdict)v), rv_stats.verdicts[v], false);
	static const char *const types[16] = {"none", "auth-query", "auth-response",
		"resolver-query", "resolver-response", "client-query", "client-response",
		"forwarder-query", "forwarder-response", "stub-query", "stub-response",
		"tool-query", "tool-response", "update-query", "update-response", "other"};
	for (int t = 0; t < 16; t++)
		fn(ctx, RV_COUNTER, NULL, "rearview_dnstap_frames_by_type_total",
		   "dnstap frames by dnstap message type (none: undecodable)", "type", types[t],
		   rv_stats.msg_types[t], false);
	static const char *const rcodes[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
		"NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
		"DSOTYPENI", "RCODE12", "RCODE13", "RCODE14", "OTHER"};
	for (int r = 1; r < 16; r++)
		fn(ctx, RV_COUNTER, NULL, "rearview_rpz_update_failures_by_rcode_total",
		   "UPDATEs the primary answered with an error rcode, by rcode", "rcode",
		   rcodes[r], rv_stats.rpz_rcodes[r], false);
	for (size_t i = 0; i < ndynamic; i++)
		fn(ctx, dynamic[i].type, dynamic[i].log_key, dynamic[i].name, dynamic[i].help,
		   NULL, NULL, dynamic[i].fn(dynamic[i].arg), dynamic[i].milli);
	for (size_t i = 0; i < nfamilies; i++) {
		const family *f = &families[i];
		const char *label;
		uint64_t value;

		for (size_t k = 0; f->fn(f->arg, k, &label, &value); k++)
			fn(ctx, f->type, NULL, f->name, f->help, f->label_key, label, value, false);
	}
}

typedef struct line_ctx {
	char buf[2048];
	size_t off;
} line_ctx;

static void line_add(line_ctx *l, const char *key, uint64_t value)
{
	if (l->off >= sizeof(l->buf))
		return;
	int n = snprintf(l->buf + l->off, sizeof(l->buf) - l->off, " %s=%" PRIu64, key, value);
	if (n > 0)
		l->off += (size_t)n;
}

static void line_visit(void *ctx, rv_metric_type type, const char *log_key, const char *name,
		const char *help, const char *label_key, const char *label_value, uint64_t value,
		bool milli)
{
	(void)type;
	(void)milli;
	(void)name;
	(void)help;
	(void)label_key;
	(void)label_value;
	if (log_key)
		line_add(ctx, log_key, value);
}

void rv_stats_log(int level, const char *why)
{
	if (level > rv_log_level)
		return;
	line_ctx l = {.off = 0};
	const uint64_t *v = rv_stats.verdicts;
	uint64_t skipped = 0;
	for (int i = RV_SKIP_MSG_TYPE; i <= RV_SKIP_RPZ; i++)
		skipped += v[i];
	l.buf[0] = '\0';
	rv_stats_foreach(line_visit, &l);
	/* The verdict family summed, as operators read it: what was learned, what
	 * was deliberately skipped, what was malformed. */
	line_add(&l, "learned", v[RV_LEARN]);
	line_add(&l, "skipped", skipped);
	line_add(&l, "malformed", v[RV_BAD_PROTOBUF] + v[RV_BAD_DNS]);
	rv_log_write(level, "stats", "%s:%s", why, l.buf);
}

typedef struct prom_ctx {
	FILE *out;
	const char *last_name; /* HELP/TYPE once per family */
} prom_ctx;

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static void prom_help(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void prom_visit(void *ctx, rv_metric_type type, const char *log_key, const char *name,
		const char *help, const char *label_key, const char *label_value, uint64_t value,
		bool milli)
{
	prom_ctx *p = ctx;
	(void)log_key;
	if (!p->last_name || strcmp(p->last_name, name) != 0) {
		fprintf(p->out, "# HELP %s ", name);
		prom_help(p->out, help);
		fprintf(p->out, "\n# TYPE %s %s\n", name, type == RV_COUNTER ? "counter" : "gauge");
		p->last_name = name;
	}
	/* Label values are our own identifiers ([a-z-]), or kept by their module
	 * to [A-Za-z0-9._:-] (rv_stats_register_family): nothing to escape. */
	if (label_key)
		fprintf(p->out, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label_key, label_value, value);
	else if (milli)
		fprintf(p->out, "%s %" PRIu64 ".%03u\n", name, value / 1000,
			(unsigned)(value % 1000));
	else
		fprintf(p->out, "%s %" PRIu64 "\n", name, value);
}

static void prom_seconds(FILE *out, uint64_t ms)
{
	fprintf(out, "%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
}

static void prom_histogram(FILE *out, const hist_metric *m)
{
	const rv_stats_histogram *h = m->h;
	uint64_t cum = 0;

	fprintf(out, "# HELP %s ", m->name);
	prom_help(out, m->help);
	fprintf(out, "\n# TYPE %s histogram\n", m->name);
	for (size_t i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		fprintf(out, "%s_bucket{le=\"", m->name);
		prom_seconds(out, h->bounds_ms[i]);
		fprintf(out, "\"} %" PRIu64 "\n", cum);
	}
	fprintf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", m->name, h->count);
	fprintf(out, "%s_sum ", m->name);
	prom_seconds(out, h->sum_ms);
	fprintf(out, "\n%s_count %" PRIu64 "\n", m->name, h->count);
}

int rv_stats_write_prometheus(FILE *out)
{
	prom_ctx p = {.out = out};
	rv_stats_foreach(prom_visit, &p);
	for (size_t i = 0; i < nhistograms; i++)
		prom_histogram(out, &histograms[i]);
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
