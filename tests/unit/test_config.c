/* Unit tests for config.c: defaults, every value type, file:line errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

/* Collects reported errors so tests can assert on their exact text. */
struct errs {
	int n;
	char text[16][512];
};

static void collect(void *arg, const char *msg)
{
	struct errs *e = arg;
	if (e->n < 16)
		snprintf(e->text[e->n], sizeof(e->text[0]), "%s", msg);
	e->n++;
}

static int parse(rv_config *cfg, const char *text, struct errs *e)
{
	memset(e, 0, sizeof(*e));
	return rv_config_parse(cfg, "t.conf", text, strlen(text), collect, e);
}

static void test_defaults(void **state)
{
	(void)state;
	rv_config cfg;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_string_equal(cfg.dnstap_socket, "/run/rearview/dnstap.sock");
	assert_int_equal(cfg.socket_mode, 0660);
	assert_string_equal(cfg.socket_group, "bind");
	assert_int_equal(cfg.max_frame_bytes, 128 * 1024);
	assert_int_equal(cfg.flush_interval_ms, 1000);
	assert_int_equal(cfg.batch_bytes, 60000);
	assert_int_equal(cfg.retry_max_ms, 60000);
	assert_int_equal(cfg.stats_interval_ms, 300000);
	assert_int_equal(cfg.server_port, 53);
	assert_string_equal(cfg.key_name, "");
	assert_string_equal(cfg.rpz_zone, "rpz.rearview");
	assert_int_equal(cfg.max_addresses, 1000000);
	assert_false(cfg.dry_run);
	assert_int_equal(cfg.log_level, RV_LOG_NOTICE);
	struct errs e = {0};
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	rv_config_clear(&cfg);
}

static void test_values(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	const char *text =
		"# comment line\n"
		"\n"
		"dnstap-socket /tmp/x.sock   # trailing comment\n"
		"socket-mode 0600\r\n"
		"socket-group \"\"\n"
		"flush-interval 250ms\n"
		"update-timeout 2m\n"
		"retry-max 1h\n"
		"stats-interval 0\n"
		"max-frame-size 1m\n"
		"batch-size 4k\n"
		"port 5353\n"
		"dry-run yes\n"
		"log-level debug\n"
		"key-name \"my key\"\n";
	assert_int_equal(parse(&cfg, text, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(cfg.dnstap_socket, "/tmp/x.sock");
	assert_int_equal(cfg.socket_mode, 0600);
	assert_string_equal(cfg.socket_group, "");
	assert_int_equal(cfg.flush_interval_ms, 250);
	assert_int_equal(cfg.update_timeout_ms, 120000);
	assert_int_equal(cfg.retry_max_ms, 3600000);
	assert_int_equal(cfg.stats_interval_ms, 0);
	assert_int_equal(cfg.max_frame_bytes, 1024 * 1024);
	assert_int_equal(cfg.batch_bytes, 4096);
	assert_int_equal(cfg.server_port, 5353);
	assert_true(cfg.dry_run);
	assert_int_equal(cfg.log_level, RV_LOG_DEBUG);
	assert_string_equal(cfg.key_name, "my key");
	rv_config_clear(&cfg);
}

static void test_errors_have_file_and_line(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	const char *text =
		"port 5353\n"
		"no-such-option 1\n"
		"port 70000\n"
		"batch-size 100000\n"
		"flush-interval soon\n"
		"dry-run maybe\n"
		"socket-mode 0999\n"
		"server\n"
		"rpz-zone \"unterminated\n"
		"log-level loud\n"
		"port 53 extra\n";
	assert_int_equal(parse(&cfg, text, &e), -EINVAL);
	assert_int_equal(e.n, 10);
	assert_string_equal(e.text[0], "t.conf:2: unknown option 'no-such-option'");
	assert_string_equal(e.text[1], "t.conf:3: port '70000': out of range");
	assert_string_equal(e.text[2], "t.conf:4: batch-size '100000': out of range");
	assert_non_null(strstr(e.text[3], "t.conf:5: flush-interval 'soon': expected a duration"));
	assert_non_null(strstr(e.text[4], "t.conf:6: dry-run 'maybe'"));
	assert_non_null(strstr(e.text[5], "t.conf:7: socket-mode '0999'"));
	assert_string_equal(e.text[6], "t.conf:8: missing value");
	assert_string_equal(e.text[7], "t.conf:9: unterminated quoted value");
	assert_non_null(strstr(e.text[8], "t.conf:10: log-level 'loud'"));
	assert_non_null(strstr(e.text[9], "t.conf:11: unexpected text after the value"));
	/* Valid lines still applied; invalid ones left the default in place. */
	assert_int_equal(cfg.server_port, 5353);
	assert_int_equal(cfg.batch_bytes, 60000);
	rv_config_clear(&cfg);
}

static void test_validate(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_int_equal(parse(&cfg, "retry-min 10s\nretry-max 5s\nserver bind.example\n"
				"dnstap-socket relative.sock\n", &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 3);
	assert_non_null(strstr(e.text[0], "retry-min (10000 ms) is larger than retry-max"));
	assert_non_null(strstr(e.text[1], "dnstap-socket must be an absolute path"));
	assert_non_null(strstr(e.text[2], "server 'bind.example' is not an IPv4 or IPv6"));
	rv_config_clear(&cfg);
}

/* statistics-channel: off by default; ADDR:PORT checked by --check-config
 * with the line that set it. */
static void test_statistics_channel(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_string_equal(cfg.statistics_channel, "");
	assert_int_equal(cfg.statistics_interval_ms, 15000);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	assert_int_equal(parse(&cfg, "statistics-interval 500ms\n"
				"statistics-channel [::1]:8080\n", &e), 0);
	assert_int_equal(cfg.statistics_interval_ms, 500);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	assert_int_equal(parse(&cfg, "\nstatistics-channel localhost:8080\n", &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:2: statistics-channel 'localhost:8080' is not "
			"ADDR:PORT ([ADDR]:PORT for IPv6)");
	assert_int_equal(parse(&cfg, "statistics-interval 10ms\n", &e), -EINVAL);
	rv_config_clear(&cfg);
}

/* dnstap-listen / dnstap-allow / TLS files: defaults, the forms accepted,
 * and file:line errors from --check-config. */
static void test_dnstap_listen(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_string_equal(cfg.dnstap_listen, "");
	assert_string_equal(cfg.dnstap_allow, "127.0.0.0/8 ::1/128");
	memset(&e, 0, sizeof(e));
	assert_int_equal(parse(&cfg, "dnstap-listen \"unix:/run/x.sock tcp:[::1]:6000\"\n"
				"dnstap-listen tcp:127.0.0.1:6001\n"
				"dnstap-allow 10.0.0.0/8\n", &e), 0);
	assert_string_equal(cfg.dnstap_listen, "unix:/run/x.sock tcp:[::1]:6000 tcp:127.0.0.1:6001");
	assert_string_equal(cfg.dnstap_allow, "10.0.0.0/8");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	/* a tls: listener needs the certificate and key */
	assert_int_equal(parse(&cfg, "\ndnstap-listen tls:127.0.0.1:6000\n", &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:2: dnstap-listen has a tls: listener: set "
			"dnstap-tls-cert and dnstap-tls-key");
	assert_int_equal(parse(&cfg, "dnstap-tls-cert /c.pem\ndnstap-tls-key /k.pem\n", &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	/* bad items */
	assert_int_equal(parse(&cfg, "dnstap-listen udp:127.0.0.1:53\ndnstap-allow 10.0.0.0/99\n",
				&e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	assert_non_null(strstr(e.text[0], "t.conf:1: dnstap-listen: 'udp:127.0.0.1:53'"));
	assert_non_null(strstr(e.text[1], "t.conf:2: dnstap-allow '10.0.0.0/99'"));
	rv_config_clear(&cfg);
}

/* Name-valued options must be names the agent can put on the wire: caught
 * by --check-config with file:line, not by the first UPDATE. */
static void test_names(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e;
	char label64[80], longzone[300];
	memset(label64, 'a', 64);
	snprintf(label64 + 64, sizeof(label64) - 64, ".example");
	/* 183 octets on the wire: no room for a 73-octet ip6.arpa owner prefix */
	memset(longzone, 'z', 181);
	longzone[60] = longzone[121] = '.';
	longzone[181] = '\0';
	char text[1024];
	snprintf(text, sizeof(text),
		"rpz-zone a..b\n"                          /* 1 */
		"key-name %s\n"                            /* 2 */
		"ignore-suffix \"good.example bad\\\\ .ok\"\n"   /* 3: a lone backslash */
		"ignore-suffix \".\"\n"                    /* 4 */
		"rpz-zone %s\n"                            /* 5 */
		"rpz-zone \".\"\n"                         /* 6 */
		"key-name \"\"\n"                          /* 7: fine, the only key */
		"ignore-suffix \".example.com a\\.b\\032c\"\n"  /* 8: fine */
		"rpz-zone R\\.pz.Example.\n",               /* 9: fine */
		label64, longzone);
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_int_equal(parse(&cfg, text, &e), -EINVAL);
	assert_int_equal(e.n, 6);
	assert_string_equal(e.text[0], "t.conf:1: rpz-zone 'a..b': not a usable DNS name: empty label");
	assert_non_null(strstr(e.text[1], "t.conf:2: key-name 'aaaa"));
	assert_non_null(strstr(e.text[1], "label longer than 63 octets"));
	assert_string_equal(e.text[2], "t.conf:3: ignore-suffix 'bad\\': not a usable DNS name: "
			"bad escape");
	assert_string_equal(e.text[3], "t.conf:4: ignore-suffix '.': not a usable DNS name: "
			"the root would ignore every name");
	assert_non_null(strstr(e.text[4], "t.conf:5: rpz-zone 'zzz"));
	assert_non_null(strstr(e.text[4], "longer than 182 octets"));
	assert_string_equal(e.text[5], "t.conf:6: rpz-zone '.': not a usable DNS name: the root");
	rv_config_clear(&cfg);

	/* validate checks the final values too, and says where they were set */
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_int_equal(parse(&cfg, "port 53\nrpz-zone ok.example\n", &e), 0);
	free(cfg.rpz_zone);
	cfg.rpz_zone = strdup("x..y");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:2: rpz-zone 'x..y': not a usable DNS name: "
			"empty label");
	free(cfg.rpz_zone);
	cfg.rpz_zone = strdup("fine.example");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	rv_config_clear(&cfg);

	/* rpz-hot-zone: "" (off) is fine, a bad name is not, and it must not be
	 * rpz-zone under another spelling (both would be written as one zone) */
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_string_equal(cfg.rpz_hot_zone, "");
	assert_int_equal(parse(&cfg, "rpz-hot-zone hot..x\n", &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:1: rpz-hot-zone 'hot..x': not a usable DNS name: "
			"empty label");
	rv_config_clear(&cfg);
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_int_equal(parse(&cfg, "rpz-zone rpz.example\nrpz-hot-zone RPZ.Example.\n", &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:2: rpz-hot-zone must differ from rpz-zone (rpz.example)");
	free(cfg.rpz_hot_zone);
	cfg.rpz_hot_zone = strdup("hot.rpz.example");
	memset(&e, 0, sizeof(e));
	assert_int_equal(rv_config_validate(&cfg, "t.conf", collect, &e), 0);
	rv_config_clear(&cfg);
}

static void test_load_missing_file(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e = {0};
	assert_int_equal(rv_config_defaults(&cfg), 0);
	assert_int_equal(rv_config_load(&cfg, "/nonexistent/rearview.conf", collect, &e), -ENOENT);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "/nonexistent/rearview.conf: cannot open: No such file or directory");
	rv_config_clear(&cfg);
}

static void test_nul_byte(void **state)
{
	(void)state;
	rv_config cfg;
	struct errs e = {0};
	assert_int_equal(rv_config_defaults(&cfg), 0);
	static const char text[] = "port 1\0\nport 2\n";
	assert_int_equal(rv_config_parse(&cfg, "t.conf", text, sizeof(text) - 1, collect, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.text[0], "t.conf:1: NUL byte in line");
	assert_int_equal(cfg.server_port, 2);
	rv_config_clear(&cfg);
}

/* The dump is valid config text that parses back to the same values. */
static void test_dump_round_trip(void **state)
{
	(void)state;
	rv_config a, b;
	struct errs e;
	assert_int_equal(rv_config_defaults(&a), 0);
	assert_int_equal(parse(&a, "flush-interval 1500ms\nport 99\nsocket-group \"\"\n", &e), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	rv_config_dump(&a, f);
	fclose(f);
	assert_int_equal(rv_config_defaults(&b), 0);
	assert_int_equal(parse(&b, buf, &e), 0);
	assert_int_equal(b.flush_interval_ms, 1500);
	assert_int_equal(b.server_port, 99);
	assert_string_equal(b.socket_group, "");
	assert_string_equal(b.dnstap_socket, a.dnstap_socket);
	free(buf);
	rv_config_clear(&a);
	rv_config_clear(&b);
}

/* The shipped example documents every option with its default: parsing it must
 * give exactly the built-in defaults, so the two can never drift apart. */
static void test_example_file_matches_defaults(void **state)
{
	(void)state;
	rv_config def, ex;
	struct errs e = {0};
	assert_int_equal(rv_config_defaults(&def), 0);
	assert_int_equal(rv_config_defaults(&ex), 0);
	/* Start the example's parse from values that differ from every default. */
	assert_int_equal(parse(&ex, "port 1\nflush-interval 7ms\nsocket-group x\n", &e), 0);
	assert_int_equal(rv_config_load(&ex, RV_SRCDIR "/doc/rearview.conf.example", collect, &e), 0);
	assert_int_equal(e.n, 0);
	char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	FILE *fa = open_memstream(&a, &alen), *fb = open_memstream(&b, &blen);
	rv_config_dump(&def, fa);
	rv_config_dump(&ex, fb);
	fclose(fa);
	fclose(fb);
	assert_string_equal(a, b);
	/* ...and every option is written out in it, with its default value. */
	FILE *ef = fopen(RV_SRCDIR "/doc/rearview.conf.example", "r");
	assert_non_null(ef);
	static char example[65536];
	size_t elen = fread(example, 1, sizeof(example) - 1, ef);
	fclose(ef);
	example[elen] = '\0';
	for (char *line = strtok(a, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		char needle[1024];
		snprintf(needle, sizeof(needle), "\n%s\n", line);
		if (!strstr(example, needle))
			fail_msg("doc/rearview.conf.example lacks the line '%s'", line);
	}
	free(a);
	free(b);
	rv_config_clear(&def);
	rv_config_clear(&ex);
}

/* Every option is documented in the man page (roff escapes '-' as '\\-'). */
static void test_man_page_documents_every_option(void **state)
{
	(void)state;
	rv_config cfg;
	assert_int_equal(rv_config_defaults(&cfg), 0);
	char *dump = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&dump, &dlen);
	rv_config_dump(&cfg, f);
	fclose(f);
	FILE *mf = fopen(RV_SRCDIR "/doc/rearview-agent.8", "r");
	assert_non_null(mf);
	static char man[131072];
	size_t mlen = fread(man, 1, sizeof(man) - 1, mf);
	fclose(mf);
	man[mlen] = '\0';
	for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		char roff[128] = "", *o = roff;
		for (const char *p = line; *p && *p != ' ' && o < roff + sizeof(roff) - 3; p++) {
			if (*p == '-')
				*o++ = '\\';
			*o++ = *p;
		}
		*o = '\0';
		if (!strstr(man, roff))
			fail_msg("doc/rearview-agent.8 does not document '%s'", roff);
	}
	free(dump);
	rv_config_clear(&cfg);
}

/* Every option says what a reload does with it (the table in config.c is the
 * only place): a new row without a class fails here. */
static void test_every_option_has_reload_class(void **state)
{
	(void)state;
	size_t n = rv_config_nopts();
	assert_true(n > 40);
	assert_null(rv_config_opt_name(n));
	for (size_t i = 0; i < n; i++) {
		rv_config_reload r = rv_config_opt_reload(i);
		if (r != RV_RELOAD_LIVE && r != RV_RELOAD_RESTART)
			fail_msg("option '%s' has no reload class (R_LIVE or R_RESTART)",
					rv_config_opt_name(i));
	}
	/* The ones the documentation promises. */
	static const char *live[] = {"log-level", "ignore-suffix", "ignore-cidr",
		"max-update-rate", "record-ttl", "key-file", "score-half-life", "stats-interval",
		"reconcile-interval", "snapshot-interval", "http-api-key-file"};
	static const char *restart[] = {"dnstap-socket", "socket-mode", "user", "rpz-zone",
		"server", "port", "http-listen", "history-database", "snapshot-file"};
	for (size_t k = 0; k < RV_ARRAY_LEN(live) + RV_ARRAY_LEN(restart); k++) {
		bool want_live = k < RV_ARRAY_LEN(live);
		const char *name = want_live ? live[k] : restart[k - RV_ARRAY_LEN(live)];
		size_t i = 0;
		while (i < n && strcmp(rv_config_opt_name(i), name) != 0)
			i++;
		assert_true(i < n);
		assert_int_equal(rv_config_opt_reload(i),
				want_live ? RV_RELOAD_LIVE : RV_RELOAD_RESTART);
	}
}

static const char *changed_name(const size_t *changed, size_t k)
{
	return rv_config_opt_name(changed[k]);
}

static void test_diff_take_format(void **state)
{
	(void)state;
	rv_config a, b;
	struct errs e;
	size_t changed[RV_CONFIG_OPTS_MAX];
	char buf[64];

	assert_int_equal(rv_config_defaults(&a), 0);
	assert_int_equal(rv_config_defaults(&b), 0);
	assert_int_equal(rv_config_diff(&a, &b, changed, RV_ARRAY_LEN(changed)), 0);
	/* The same values written differently are no change. */
	assert_int_equal(parse(&b, "flush-interval 1000ms\nlog-level notice\n", &e), 0);
	assert_int_equal(rv_config_diff(&a, &b, changed, RV_ARRAY_LEN(changed)), 0);

	assert_int_equal(parse(&b, "log-level debug\nmax-update-rate 50\n"
			"ignore-suffix ex.test\ndnstap-socket /tmp/x.sock\n"
			"score-depth-weight 0.5\n", &e), 0);
	size_t n = rv_config_diff(&a, &b, changed, RV_ARRAY_LEN(changed));
	assert_int_equal(n, 5);
	/* Table order. */
	assert_string_equal(changed_name(changed, 0), "dnstap-socket");
	assert_string_equal(changed_name(changed, 1), "score-depth-weight");
	assert_string_equal(changed_name(changed, 2), "ignore-suffix");
	assert_string_equal(changed_name(changed, 3), "max-update-rate");
	assert_string_equal(changed_name(changed, 4), "log-level");
	/* More changes than room: the count is still right. */
	assert_int_equal(rv_config_diff(&a, &b, changed, 2), 5);

	rv_config_format(&a, changed[0], buf, sizeof(buf));
	assert_string_equal(buf, "/run/rearview/dnstap.sock");
	rv_config_format(&b, changed[2], buf, sizeof(buf));
	assert_string_equal(buf, "ex.test");
	rv_config_format(&a, changed[2], buf, sizeof(buf));
	assert_string_equal(buf, "\"\"");
	rv_config_format(&b, changed[4], buf, sizeof(buf));
	assert_string_equal(buf, "debug");
	rv_config_format(&b, changed[3], buf, 3);
	assert_string_equal(buf, "50");

	/* Take the live ones, as a reload does: a keeps its socket. */
	for (size_t k = 1; k < n; k++)
		rv_config_take(&a, &b, changed[k]);
	assert_string_equal(a.ignore_suffixes, "ex.test");
	assert_string_equal(b.ignore_suffixes, "");   /* swapped, still owned */
	assert_int_equal(a.max_update_rate, 50);
	assert_int_equal(a.log_level, RV_LOG_DEBUG);
	assert_true(a.score_depth_weight == 0.5);
	assert_int_equal(a.set_line[changed[1]], 5);
	assert_string_equal(a.dnstap_socket, "/run/rearview/dnstap.sock");
	n = rv_config_diff(&a, &b, changed, RV_ARRAY_LEN(changed));
	/* Numbers are copied, strings swapped: b holds a's old suffix list. */
	assert_int_equal(n, 2);
	assert_string_equal(changed_name(changed, 0), "dnstap-socket");
	assert_string_equal(changed_name(changed, 1), "ignore-suffix");
	rv_config_clear(&a);
	rv_config_clear(&b);
}

/* The man page's SIGNALS section names every option that needs a restart. */
static void test_man_page_lists_restart_options(void **state)
{
	(void)state;
	FILE *mf = fopen(RV_SRCDIR "/doc/rearview-agent.8", "r");
	assert_non_null(mf);
	static char man[131072];
	size_t mlen = fread(man, 1, sizeof(man) - 1, mf);
	fclose(mf);
	man[mlen] = '\0';
	char *sec = strstr(man, "\n.SH SIGNALS");
	assert_non_null(sec);
	char *end = strstr(sec + 1, "\n.SH ");
	if (end)
		*end = '\0';
	for (size_t i = 0; i < rv_config_nopts(); i++) {
		if (rv_config_opt_reload(i) != RV_RELOAD_RESTART)
			continue;
		char roff[128] = "", *o = roff;
		for (const char *p = rv_config_opt_name(i); *p && o < roff + sizeof(roff) - 3; p++) {
			if (*p == '-')
				*o++ = '\\';
			*o++ = *p;
		}
		*o = '\0';
		if (!strstr(sec, roff))
			fail_msg("doc/rearview-agent.8 SIGNALS does not list '%s' as restart-needed", roff);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors_have_file_and_line),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_dnstap_listen),
		cmocka_unit_test(test_statistics_channel),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_example_file_matches_defaults),
		cmocka_unit_test(test_man_page_documents_every_option),
		cmocka_unit_test(test_every_option_has_reload_class),
		cmocka_unit_test(test_diff_take_format),
		cmocka_unit_test(test_man_page_lists_restart_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
