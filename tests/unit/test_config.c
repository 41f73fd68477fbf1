/*
 * test_config.c - tests for proxy/config.c.
 *
 * Good files (a minimal one, contrib/postern.conf and one-option
 * variants) load with the right values; bad files fail with the exact
 * "file:line: reason"; references count; the -t summary shows what was
 * loaded, each filter's settings included.  Each file is written to a
 * temporary path.  dkim_sign gets real tables in a temporary directory
 * (%D in the cases), with the corpus's RSA key ($CORPUS, default
 * ../shared/corpus) copied there with mode 0600.  Tests run from the
 * repository root, where contrib/postern.conf is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "filters/filter.h"
#include "proxy/config.h"
#include "proxy/upstream_source.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_tls.h"

#define CONTRIB_CONF "contrib/postern.conf"
#define CORPUS_KEY   "dkim/dkimpy/test.private"

/* A listener on line 1 and an upstream on line 2. */
#define LU                                                                     \
	"listener smtp { address = \"127.0.0.1:2525\" }\n"                     \
	"upstream { address = \"127.0.0.1:10025\" }\n"

/* LU and a resolver on line 3 that needs no /etc/resolv.conf. */
#define LUD LU "dns { forwarders = {\"127.0.0.1\"} }\n"

/* dkim_sign's two required options, on two lines. */
#define SIGN_TABLES                                                            \
	"\tkey_table = \"%D/keytable\"\n"                                      \
	"\tsigning_table = \"%D/signtable\"\n"

/* tmpl with each "%s" replaced by path and each "%D" by the scratch
 * directory, which holds dkim_sign's key and tables (see sign_setup());
 * allocated. */
static char *
expand(const char *tmpl, const char *path)
{
	const char *const values[] = {path, unit_tmpdir()};

	return unit_expand(tmpl, "sD", values);
}

/* Write text, with %D expanded, to a new temporary file. */
static char *
write_temp(const char *text)
{
	char *expanded = expand(text, ""), *path;

	path = unit_temp_file("test_config", expanded, strlen(expanded));
	free(expanded);
	return path;
}

/* Files in the scratch directory: name and content, %D expanded. */
static const struct {
	const char *name;
	const char *text;
} sign_files[] = {
    {"keytable", "# name domain:selector:keyfile\n"
                 "sel1 example.org:sel1:%D/key.private\n"},
    {"signtable", "example.org sel1\n"},
    {"resigntable", "*@example.org sel1\n"},
    {"badkeytable", "sel1 example.org:sel1:%D/key.private\n"
                    "sel2 example.org:sel2:%D/missing.private\n"},
    {"badsigntable", "example.org sel1\nexample.net nokey\n"},
};

static int
sign_setup(void **state)
{
	char *text;
	size_t i, len;

	if (unit_tmpdir_make("test_config") < 0 ||
	    access(unit_corpus_path(CORPUS_KEY), R_OK) != 0)
		return -1;
	text = unit_read_file(unit_corpus_path(CORPUS_KEY), &len);
	unit_write_text(unit_tmp("key.private"), text);
	free(text);
	if (len == 0 || unit_tls_files_make(unit_tmpdir()) < 0)
		return -1;
	for (i = 0; i < ARRAY_LEN(sign_files); i++) {
		text = expand(sign_files[i].text, "");
		unit_write_text(unit_tmp(sign_files[i].name), text);
		free(text);
	}
	return 0;
}

static int
sign_teardown(void **state)
{
	unit_tmpdir_remove();
	return 0;
}

static struct config *
load_text(const char *text, char **error)
{
	char *path = write_temp(text);
	struct config *cfg = config_load(path, error);

	unlink(path);
	free(path);
	return cfg;
}

/* text loaded, or NULL with the reason printed and *failed set. */
static struct config *
load_case(const char *name, const char *text, int *failed)
{
	char *error = NULL;
	struct config *cfg = load_text(text, &error);

	if (cfg == NULL) {
		print_error("%s: load failed: %s\n", name, error);
		free(error);
		*failed = 1;
	}
	return cfg;
}

static struct config *
load_ok(const char *text)
{
	int failed = 0;
	struct config *cfg = load_case("file", text, &failed);

	if (failed)
		fail();
	return cfg;
}

/* A minimal file gets every default. */
static void
test_config_defaults(void **state)
{
	struct config *cfg = load_ok(LU);
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	assert_string_equal(cfg->hostname, host);
	assert_int_equal(cfg->refs, 1);
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->drain_timeout, 30);
	assert_string_equal(cfg->spool_dir, "/var/tmp");
	assert_null(cfg->pid_file);
	assert_int_equal(cfg->log_syslog, 0);
	assert_int_equal(cfg->log_facility, LOG_MAIL);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->log_trace, 0);
	assert_int_equal(cfg->nlisteners, 1);
	assert_int_equal(cfg->listeners[0].outbound, 0);
	assert_int_equal(cfg->listeners[0].backlog, 128);
	assert_int_equal(cfg->listeners[0].proxy_protocol, 0);
	assert_null(cfg->listeners[0].proxy_networks);
	assert_int_equal(cfg->listeners[0].proxy_timeout, 5);
	assert_int_equal(cfg->listeners[0].auth_without_tls, 0);
	assert_string_equal(cfg->upstream.helo_name, host);
	assert_int_equal(cfg->upstream.identity, CONFIG_IDENTITY_AUTO);
	assert_int_equal(cfg->upstream.connect_timeout, 30);
	assert_int_equal(cfg->upstream.command_timeout, 300);
	assert_int_equal(cfg->upstream.data_timeout, 600);
	assert_int_equal(cfg->limits.command_line, 512);
	assert_int_equal(cfg->limits.text_line, 1000);
	assert_int_equal(cfg->limits.message_size, 50 * 1024 * 1024);
	assert_int_equal(cfg->limits.recipients, 100);
	assert_int_equal(cfg->limits.sessions, 1000);
	assert_int_equal(cfg->limits.sessions_per_client, 20);
	assert_int_equal(cfg->limits.errors, 10);
	assert_int_equal(cfg->limits.idle_timeout, 300);
	assert_int_equal(cfg->limits.data_timeout, 600);
	assert_int_equal(cfg->limits.spool_memory, 1024 * 1024);
	assert_int_equal(cfg->limits.bare_eol, CONFIG_BARE_EOL_REJECT);
	assert_int_equal(cfg->limits.auth_failures, 5);
	assert_int_equal(cfg->limits.auth_lockout, 900);
	assert_int_equal(cfg->limits.auth_delay, 1);
	assert_int_equal(cfg->limits.auth_delay_max, 16);
	assert_int_equal(netlist_count(cfg->xclient_networks), 0);
	assert_int_equal(netlist_count(cfg->internal_networks), 0);
	assert_null(cfg->dns);
	assert_int_equal(cfg->dns_conf.nforwarders, 0);
	assert_int_equal(cfg->dns_conf.timeout, 5);
	assert_null(cfg->dns_conf.trust_anchor);
	assert_int_equal(cfg->dns_conf.nnodefault_zones, 0);
	assert_int_equal(filter_chain_count(cfg->chain), 0);
	assert_null(cfg->filter_settings[0]);
	config_unref(&cfg);
}

/* The example file shipped in contrib/ loads, with its values. */
static void
test_config_contrib(void **state)
{
	char *error = NULL;
	struct config *cfg = config_load(CONTRIB_CONF, &error);
	struct netaddr a;

	if (cfg == NULL) {
		print_error("%s: load failed: %s\n", CONTRIB_CONF, error);
		free(error);
		fail();
	}
	assert_string_equal(cfg->path, CONTRIB_CONF);
	assert_string_equal(cfg->hostname, "mx.example.org");
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->drain_timeout, 30);
	assert_string_equal(cfg->pid_file, "/run/postern.pid");
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->nlisteners, 1);
	assert_string_equal(cfg->listeners[0].name, "smtp");
	assert_int_equal(netaddr_port(&cfg->listeners[0].addr), 2525);
	assert_int_equal(cfg->listeners[0].addr.ss.ss_family, AF_INET);
	assert_int_equal(netaddr_port(&cfg->upstream.addr), 10025);
	assert_string_equal(cfg->upstream.helo_name, "postern.example.org");
	assert_int_equal(cfg->upstream.command_timeout, 300);
	assert_int_equal(cfg->limits.message_size, 50 * 1024 * 1024);
	assert_int_equal(cfg->limits.sessions_per_client, 20);
	assert_int_equal(netlist_count(cfg->xclient_networks), 2);
	assert_int_equal(netaddr_parse_ip("::1", &a), 0);
	assert_int_equal(netlist_match(cfg->xclient_networks, &a), 1);
	assert_int_equal(netaddr_parse_ip("127.0.0.9", &a), 0);
	assert_int_equal(netlist_match(cfg->xclient_networks, &a), 1);
	assert_int_equal(netlist_count(cfg->internal_networks), 2);
	assert_int_equal(netlist_match(cfg->internal_networks, &a), 1);
	assert_non_null(cfg->dns);
	assert_int_equal(cfg->dns_conf.nforwarders, 1);
	assert_string_equal(cfg->dns_conf.forwarders[0], "127.0.0.1@53");
	assert_int_equal(cfg->dns_conf.timeout, 5);
	assert_null(cfg->dns_conf.trust_anchor);
	assert_int_equal(filter_chain_count(cfg->chain), 6);
	assert_string_equal(filter_chain_name(cfg->chain, 0), "received");
	assert_string_equal(filter_chain_name(cfg->chain, 1), "dkim_verify");
	assert_string_equal(filter_chain_name(cfg->chain, 2), "spf");
	assert_string_equal(cfg->filter_settings[2],
	                    "on_fail reject on_softfail tag on_permerror tag "
	                    "on_temperror tempfail check_helo no "
	                    "trusted_forwarders none");
	assert_string_equal(filter_chain_name(cfg->chain, 3), "dmarc");
	assert_string_equal(
	    cfg->filter_settings[3],
	    "on_reject reject on_quarantine tag psl_file builtin "
	    "record_file none");
	assert_string_equal(filter_chain_name(cfg->chain, 4), "spam");
	assert_string_equal(
	    cfg->filter_settings[4],
	    "rules 1 plugins 0 match_limit 100000 max_size 1048576 "
	    "tag_score 5.0 hold_score off reject_score 15.0 "
	    "outbound_tag_score off outbound_hold_score off "
	    "outbound_reject_score off subject_tag off");
	assert_non_null(cfg->spam);
	assert_string_equal(cfg->quarantine_dir,
	                    "/var/spool/postern/quarantine");
	assert_string_equal(filter_chain_name(cfg->chain, 5), "authres");
	config_unref(&cfg);
}

/* Good variants: one value each, read back through a getter. */

typedef unsigned long long config_get_cb(const struct config *cfg);

static unsigned long long
get_drain(const struct config *c)
{
	return c->drain_timeout;
}
static unsigned long long
get_workers(const struct config *c)
{
	return c->workers;
}
static unsigned long long
get_command_line(const struct config *c)
{
	return c->limits.command_line;
}
static unsigned long long
get_message_size(const struct config *c)
{
	return c->limits.message_size;
}
static unsigned long long
get_spool_memory(const struct config *c)
{
	return c->limits.spool_memory;
}
static unsigned long long
get_idle(const struct config *c)
{
	return c->limits.idle_timeout;
}
static unsigned long long
get_connect(const struct config *c)
{
	return c->upstream.connect_timeout;
}
static unsigned long long
get_trace(const struct config *c)
{
	return c->log_trace;
}
static unsigned long long
get_syslog(const struct config *c)
{
	return (unsigned long long)c->log_syslog;
}
static unsigned long long
get_facility(const struct config *c)
{
	return (unsigned long long)c->log_facility;
}
static unsigned long long
get_level(const struct config *c)
{
	return (unsigned long long)c->log_level;
}
static unsigned long long
get_identity(const struct config *c)
{
	return c->upstream.identity;
}
static unsigned long long
get_bare_eol(const struct config *c)
{
	return c->limits.bare_eol;
}
static unsigned long long
get_outbound(const struct config *c)
{
	return (unsigned long long)c->listeners[0].outbound;
}
static unsigned long long
get_nlisteners(const struct config *c)
{
	return c->nlisteners;
}
static unsigned long long
get_listener_family(const struct config *c)
{
	return c->listeners[0].addr.ss.ss_family;
}
static unsigned long long
get_upstream_family(const struct config *c)
{
	return c->upstream.addr.ss.ss_family;
}
static unsigned long long
get_upstream_port(const struct config *c)
{
	return netaddr_port(&c->upstream.addr);
}
static unsigned long long
get_nfilters(const struct config *c)
{
	return filter_chain_count(c->chain);
}
static unsigned long long
get_nxclient(const struct config *c)
{
	return netlist_count(c->xclient_networks);
}
static unsigned long long
get_ninternal(const struct config *c)
{
	return netlist_count(c->internal_networks);
}
static unsigned long long
get_has_dns(const struct config *c)
{
	return c->dns != NULL;
}
static unsigned long long
get_dns_timeout(const struct config *c)
{
	return c->dns_conf.timeout;
}
static unsigned long long
get_nforwarders(const struct config *c)
{
	return c->dns_conf.nforwarders;
}
static unsigned long long
get_proxy(const struct config *c)
{
	return (unsigned long long)c->listeners[0].proxy_protocol;
}
static unsigned long long
get_nproxy_networks(const struct config *c)
{
	const struct netlist *l = c->listeners[0].proxy_networks;

	return l != NULL ? netlist_count(l) : 0;
}
static unsigned long long
get_proxy_timeout(const struct config *c)
{
	return c->listeners[0].proxy_timeout;
}
static unsigned long long
get_auth_without_tls(const struct config *c)
{
	return (unsigned long long)c->listeners[0].auth_without_tls;
}
static unsigned long long
get_auth_failures(const struct config *c)
{
	return c->limits.auth_failures;
}
static unsigned long long
get_auth_lockout(const struct config *c)
{
	return c->limits.auth_lockout;
}
static unsigned long long
get_auth_delay(const struct config *c)
{
	return c->limits.auth_delay;
}
static unsigned long long
get_auth_delay_max(const struct config *c)
{
	return c->limits.auth_delay_max;
}
static unsigned long long
get_nzones(const struct config *c)
{
	return c->dns_conf.nnodefault_zones;
}

/* The tls section's certificate and key (unit_tls.h), on two lines. */
#define TLS_PAIR                                                               \
	"\tcertificate = \"%D/cert.pem\"\n"                                    \
	"\tkey = \"%D/key.pem\"\n"
#define TLS_SECTION "tls {\n" TLS_PAIR "}\n"

static unsigned long long
get_listener_tls(const struct config *c)
{
	return c->listeners[0].tls;
}
static unsigned long long
get_tls_min(const struct config *c)
{
	return (unsigned long long)c->tls->min_version;
}
static unsigned long long
get_tls_verify(const struct config *c)
{
	return c->tls->verify_client;
}
static unsigned long long
get_tls_handshake(const struct config *c)
{
	return c->tls->handshake_timeout;
}
static unsigned long long
get_has_tls(const struct config *c)
{
	return c->tls != NULL && c->tls->server != NULL;
}
static unsigned long long
get_metrics_port(const struct config *c)
{
	return c->metrics != NULL ? netaddr_port(&c->metrics->addr) : 0;
}
static unsigned long long
get_metrics_allow(const struct config *c)
{
	return c->metrics != NULL ? netlist_count(c->metrics->allow) : 0;
}
static unsigned long long
get_history_retention(const struct config *c)
{
	return c->history != NULL ? c->history->retention : 0;
}
static unsigned long long
get_history_max_rows(const struct config *c)
{
	return c->history != NULL ? c->history->max_rows : 1;
}
static unsigned long long
get_history_default_path(const struct config *c)
{
	return c->history != NULL &&
	       strcmp(c->history->path, "/var/lib/postern/history.db") == 0;
}

struct good_case {
	const char *name;
	const char *text;
	config_get_cb *get;
	unsigned long long want;
};

static const struct good_case good_cases[] = {
    {"no metrics section", LU, get_metrics_port, 0},
    {"metrics port", LU "metrics { address = \"127.0.0.1:9325\" }\n",
     get_metrics_port, 9325},
    {"metrics allow defaults to the local host",
     LU "metrics { address = \"127.0.0.1:9325\" }\n", get_metrics_allow, 2},
    {"metrics allow given",
     LU "metrics { address = \"[::1]:9325\"  allow = {\"10.0.0.0/8\"} }\n",
     get_metrics_allow, 1},
    {"no history section", LU, get_history_retention, 0},
    {"history defaults: 30 days", LU "history { }\n", get_history_retention,
     30 * 86400},
    {"history defaults: no row limit", LU "history { }\n", get_history_max_rows,
     0},
    {"history default path", LU "history { }\n", get_history_default_path, 1},
    {"history retention",
     LU "history { path = \"/tmp/h.db\" retention = 2h }\n",
     get_history_retention, 7200},
    {"history retention in weeks", LU "history { retention = 6w }\n",
     get_history_retention, 6 * 7 * 86400},
    {"history max_rows", LU "history { max_rows = 5000 }\n",
     get_history_max_rows, 5000},
    {"no tls section: no TLS anywhere", LU, get_has_tls, 0},
    {"no tls section: listener plain", LU, get_listener_tls, CONFIG_TLS_NONE},
    {"tls section makes the context", LU TLS_SECTION, get_has_tls, 1},
    {"tls section: listener offers STARTTLS", LU TLS_SECTION, get_listener_tls,
     CONFIG_TLS_STARTTLS},
    {"tls section: port 465 is implicit",
     "listener smtps { address = \"127.0.0.1:465\" }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n" TLS_SECTION,
     get_listener_tls, CONFIG_TLS_IMPLICIT},
    {"listener tls none beside a tls section",
     "listener smtp { address = \"127.0.0.1:2525\"  tls = none }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n" TLS_SECTION,
     get_listener_tls, CONFIG_TLS_NONE},
    {"listener tls implicit on another port",
     "listener smtps { address = \"127.0.0.1:2465\"  tls = implicit }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n" TLS_SECTION,
     get_listener_tls, CONFIG_TLS_IMPLICIT},
    {"tls min_version default TLSv1.2", LU TLS_SECTION, get_tls_min, 0x0303},
    {"tls min_version TLSv1.3",
     LU "tls {\n" TLS_PAIR "\tmin_version = \"TLSv1.3\"\n}\n", get_tls_min,
     0x0304},
    {"tls verify_client require with a CA file",
     LU "tls {\n" TLS_PAIR "\tca_file = \"%D/cert.pem\"\n"
        "\tverify_client = require\n}\n",
     get_tls_verify, CONFIG_TLS_VERIFY_REQUIRE},
    {"tls handshake_timeout",
     LU "tls {\n" TLS_PAIR "\thandshake_timeout = 10s\n}\n", get_tls_handshake,
     10},
    {"tls handshake_timeout default", LU TLS_SECTION, get_tls_handshake, 60},
    {"tls certificate holding the chain, ciphers and suites",
     LU "tls {\n" TLS_PAIR "\tchain = \"%D/cert.pem\"\n"
        "\tciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\"\n"
        "\tciphersuites = \"TLS_AES_128_GCM_SHA256\"\n}\n",
     get_has_tls, 1},
    {"duration without unit is seconds", LU "drain_timeout = 90\n", get_drain,
     90},
    {"duration in seconds", LU "drain_timeout = 45s\n", get_drain, 45},
    {"duration in minutes", LU "limits { idle_timeout = 3m }\n", get_idle, 180},
    {"duration in hours", LU "drain_timeout = 2h\n", get_drain, 7200},
    {"duration in days, the maximum", LU "drain_timeout = 7d\n", get_drain,
     604800},
    {"duration in weeks", LU "drain_timeout = 1w\n", get_drain, 604800},
    {"duration quoted", LU "drain_timeout = \"1m\"\n", get_drain, 60},
    {"duration in upstream",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\"\n"
     "connect_timeout = 1s }\n",
     get_connect, 1},
    {"workers minimum", LU "workers = 1\n", get_workers, 1},
    {"workers maximum", LU "workers = 64\n", get_workers, 64},
    {"size without unit", LU "limits { command_line = 2000 }\n",
     get_command_line, 2000},
    {"size in k", LU "limits { command_line = 64k }\n", get_command_line,
     65536},
    {"size in m, upper case", LU "limits { message_size = 2M }\n",
     get_message_size, 2097152},
    {"size in g", LU "limits { message_size = 3g }\n", get_message_size,
     3ULL << 30},
    {"message_size 0 is unlimited", LU "limits { message_size = 0 }\n",
     get_message_size, 0},
    {"spool_memory 0", LU "limits { spool_memory = 0 }\n", get_spool_memory, 0},
    {"trace two subsystems", LU "log { trace = {smtp, filter} }\n", get_trace,
     LOG_TRACE_SMTP | LOG_TRACE_FILTER},
    {"trace all", LU "log { trace = {all} }\n", get_trace, LOG_TRACE_ALL},
    {"trace empty", LU "log { trace = {} }\n", get_trace, 0},
    {"log to syslog", LU "log { target = syslog }\n", get_syslog, 1},
    {"syslog facility local3", LU "log { facility = local3 }\n", get_facility,
     LOG_LOCAL3},
    {"log level debug", LU "log { level = debug }\n", get_level,
     LOG_LEVEL_DEBUG},
    {"client_identity xforward",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\" client_identity = xforward }\n",
     get_identity, CONFIG_IDENTITY_XFORWARD},
    {"client_identity none",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\" client_identity = none }\n",
     get_identity, CONFIG_IDENTITY_NONE},
    {"bare_line_ending normalize",
     LU "limits { bare_line_ending = normalize }\n", get_bare_eol,
     CONFIG_BARE_EOL_NORMALIZE},
    {"client_identity proxy",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\" client_identity = proxy }\n",
     get_identity, CONFIG_IDENTITY_PROXY},
    {"proxy_protocol on",
     "listener smtp { address = \"127.0.0.1:2525\"\n"
     "proxy_protocol = yes proxy_networks = {127.0.0.1, \"::1\"} }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_proxy, 1},
    {"proxy_networks kept",
     "listener smtp { address = \"127.0.0.1:2525\"\n"
     "proxy_protocol = yes proxy_networks = {\"10.0.0.0/8\", \"::1\"} }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_nproxy_networks, 2},
    {"proxy_networks ignored without proxy_protocol",
     "listener smtp { address = \"127.0.0.1:2525\"\n"
     "proxy_networks = {\"10.0.0.0/8\"} }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_nproxy_networks, 0},
    {"proxy_timeout",
     "listener smtp { address = \"127.0.0.1:2525\" proxy_timeout = 1m }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_proxy_timeout, 60},
    {"auth_without_tls",
     "listener smtp { address = \"127.0.0.1:2525\" auth_without_tls = yes }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_auth_without_tls, 1},
    {"auth_failures", LU "limits { auth_failures = 3 }\n", get_auth_failures,
     3},
    {"auth_lockout", LU "limits { auth_lockout = 1h }\n", get_auth_lockout,
     3600},
    {"auth_delay off", LU "limits { auth_delay = 0 }\n", get_auth_delay, 0},
    {"auth_delay_max", LU "limits { auth_delay_max = 2m }\n",
     get_auth_delay_max, 120},
    {"outbound listener",
     "listener out { address = \"127.0.0.1:2587\" outbound = true }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_outbound, 1},
    {"IPv6 listener",
     "listener smtp { address = \"[::1]:2525\" }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     get_listener_family, AF_INET6},
    {"two listeners", LU "listener sub { address = \"127.0.0.1:2587\" }\n",
     get_nlisteners, 2},
    {"same port on two addresses",
     LU "listener six { address = \"[::1]:2525\" }\n", get_nlisteners, 2},
    {"upstream on a unix socket",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"unix:/run/mta.sock\" }\n",
     get_upstream_family, AF_UNIX},
    {"upstream on IPv6",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"[::1]:25\" }\n",
     get_upstream_port, 25},
    {"xclient networks", LU "xclient_networks = {\"127.0.0.0/8\", \"::1\"}\n",
     get_nxclient, 2},
    {"received filter", LU "filter received {}\n", get_nfilters, 1},
    {"internal networks",
     LU "internal_networks = {\"127.0.0.0/8\", \"::1\", \"127.0.0.1\"}\n",
     get_ninternal, 3},
    {"no resolver unless asked for", LU "filter authres {}\n", get_has_dns, 0},
    {"a dns section starts the resolver",
     LU "dns { forwarders = {\"127.0.0.1\"} }\n", get_has_dns, 1},
    {"dkim_verify starts the resolver",
     LU "dns { forwarders = {\"127.0.0.1@53\"} }\nfilter dkim_verify {}\n",
     get_has_dns, 1},
    {"spf starts the resolver", LUD "filter spf {}\n", get_has_dns, 1},
    {"spf without a dns section starts the resolver too",
     LU "filter spf { on_fail = tag }\n", get_has_dns, 1},
    {"dns timeout maximum",
     LU "dns {\n\tforwarders = {\"127.0.0.1@5353\"}\n\ttimeout = 5m\n}\n",
     get_dns_timeout, 300},
    {"dns timeout minimum",
     LU "dns { forwarders = {\"127.0.0.1\"} timeout = 1 }\n", get_dns_timeout,
     1},
    {"forwarders IPv4 and IPv6 with and without port",
     LU "dns { forwarders = {\"127.0.0.1\", \"127.0.0.2@65535\", \"::1\",\n"
        "\t\"::1@5353\"} }\n",
     get_nforwarders, 4},
    {"nodefault zones",
     LU "dns {\n\tforwarders = {\"127.0.0.1\"}\n"
        "\tnodefault_zones = {\"test.\", \"invalid\", \"_x.example.\"}\n}\n",
     get_nzones, 3},
    {"filters of every kind in order",
     LU "dns { forwarders = {\"127.0.0.1\"} }\n"
        "filter received {}\nfilter dkim_verify {}\nfilter authres {}\n"
        "filter dkim_sign {\n\tkey_table = \"%D/keytable\"\n"
        "\tsigning_table = \"%D/signtable\"\n}\n",
     get_nfilters, 4},
    {"comments of every kind",
     "# hash\n// slashes\n/* C\n comment */\n" LU
     "workers = 2 # trailing, with \"quote\n",
     get_workers, 2},
    {"single-quoted string", LU "workers = '3'\n", get_workers, 3},
};

static void
test_config_good(void **state)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < ARRAY_LEN(good_cases); i++) {
		const struct good_case *c = &good_cases[i];
		struct config *cfg = load_case(c->name, c->text, &failed);
		unsigned long long got;

		if (cfg == NULL)
			continue;
		got = c->get(cfg);
		if (got != c->want) {
			print_error("%s: got %llu, want %llu\n", c->name, got,
			            c->want);
			failed = 1;
		}
		config_unref(&cfg);
	}
	if (failed)
		fail();
}

/* Each filter's settings as the -t summary shows them, defaults
 * included: those of the last filter of the file. */

struct settings_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct settings_case settings_cases[] = {
    {"received has none", LU "filter received {}\n", ""},
    {"dkim_verify defaults", LUD "filter dkim_verify {}\n",
     "max_signatures 5 min_key_bits 1024 dns_error tempfail"},
    {"dkim_verify every option",
     LUD "filter dkim_verify {\n\tmax_signatures = 50\n"
         "\tmin_key_bits = 16384\n\tdns_error = accept\n}\n",
     "max_signatures 50 min_key_bits 16384 dns_error accept"},
    {"dkim_verify least", LUD "filter dkim_verify { max_signatures = 1 }\n",
     "max_signatures 1 min_key_bits 1024 dns_error tempfail"},
    {"spf defaults", LUD "filter spf {}\n",
     "on_fail reject on_softfail tag on_permerror tag on_temperror tempfail "
     "check_helo no trusted_forwarders none"},
    {"spf every option",
     LUD "filter spf {\n\ton_fail = tag\n\ton_softfail = reject\n"
         "\ton_permerror = reject\n\ton_temperror = accept\n"
         "\tcheck_helo = yes\n"
         "\ttrusted_forwarders = {\"127.0.0.0/8\", \"::1\",\n"
         "\t\t\"127.1.2.3\"}\n}\n",
     "on_fail tag on_softfail reject on_permerror reject on_temperror "
     "accept check_helo yes trusted_forwarders {127.0.0.0/8, ::1, "
     "127.1.2.3}"},
    {"spf accepting everything",
     LUD "filter spf { on_fail = accept on_softfail = accept "
         "on_permerror = accept check_helo = no trusted_forwarders = {} }\n",
     "on_fail accept on_softfail accept on_permerror accept on_temperror "
     "tempfail check_helo no trusted_forwarders none"},
    {"authres authserv_id defaults to hostname",
     LU "hostname = \"mx.example.net\"\nfilter authres {}\n",
     "authserv_id mx.example.net"},
    {"authres authserv_id",
     LU "hostname = \"mx.example.net\"\n"
        "filter authres { authserv_id = \"auth.example.org\" }\n",
     "authserv_id auth.example.org"},
    {"dkim_sign defaults", LU "filter dkim_sign {\n" SIGN_TABLES "}\n",
     "key_table %D/keytable keys 1 signing_table %D/signtable "
     "canonicalization relaxed/relaxed sign_headers default "
     "oversign_headers default missing_from skip long_header_lines fold"},
    {"dkim_sign every option",
     LU "filter dkim_sign {\n"
        "\tkey_table = \"%D/keytable\"\n"
        "\tsigning_table = \"refile:%D/resigntable\"\n"
        "\tcanonicalization = simple/relaxed\n"
        "\tsign_headers = {From, TO, subject, X-Mailer}\n"
        "\toversign_headers = {}\n"
        "\tmissing_from = reject\n"
        "\tlong_header_lines = reject\n}\n",
     "key_table %D/keytable keys 1 signing_table refile:%D/resigntable "
     "canonicalization simple/relaxed "
     "sign_headers {from, to, subject, x-mailer} oversign_headers {} "
     "missing_from reject long_header_lines reject"},
    {"dkim_sign simple/simple, oversigning from",
     LU "filter authres {}\nfilter dkim_sign {\n" SIGN_TABLES
        "\tcanonicalization = simple/simple\n"
        "\toversign_headers = {from}\n}\n",
     "key_table %D/keytable keys 1 signing_table %D/signtable "
     "canonicalization simple/simple sign_headers default "
     "oversign_headers {from} missing_from skip long_header_lines fold"},
    {"dkim_sign relaxed/simple",
     LU "filter dkim_sign {\n" SIGN_TABLES
        "\tcanonicalization = \"relaxed/simple\"\n}\n",
     "key_table %D/keytable keys 1 signing_table %D/signtable "
     "canonicalization relaxed/simple sign_headers default "
     "oversign_headers default missing_from skip long_header_lines fold"},
};

static void
test_config_filter_settings(void **state)
{
	size_t i, n;
	int failed = 0;

	for (i = 0; i < ARRAY_LEN(settings_cases); i++) {
		const struct settings_case *c = &settings_cases[i];
		struct config *cfg = load_case(c->name, c->text, &failed);
		char *want;

		if (cfg == NULL)
			continue;
		want = expand(c->want, "");
		n = filter_chain_count(cfg->chain);
		if (n == 0 || strcmp(cfg->filter_settings[n - 1], want) != 0) {
			print_error("%s:\n  got  %s\n  want %s\n", c->name,
			            n == 0 ? "no filter"
			                   : cfg->filter_settings[n - 1],
			            want);
			failed = 1;
		}
		free(want);
		config_unref(&cfg);
	}
	if (failed)
		fail();
}

/* Bad files.  want is the whole error with %s for the file and %D for
 * the scratch directory; a want ending in "..." gives only the start, where the
 * reason itself comes from util/netaddr or sign/sign_keys. */

struct bad_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct bad_case bad_cases[] = {
    /* tls */
    {"tls without key", LU "tls {\n\tcertificate = \"%D/cert.pem\"\n}\n",
     "%s:3: tls: no key"},
    {"tls without certificate", LU "tls {\n\tkey = \"%D/key.pem\"\n}\n",
     "%s:3: tls: no certificate"},
    {"tls certificate missing",
     LU "tls {\n\tcertificate = \"%D/nope.pem\"\n}\n",
     "%s:4: certificate: %D/nope.pem: cannot read the file"},
    {"tls certificate without PEM",
     LU "tls {\n\tcertificate = \"%D/garbage.pem\"\n}\n",
     "%s:4: certificate: %D/garbage.pem: no PEM certificate in the file"},
    {"tls key that is a certificate",
     LU "tls {\n\tcertificate = \"%D/cert.pem\"\n"
        "\tkey = \"%D/cert.pem\"\n}\n",
     "%s:5: key: %D/cert.pem: no PEM private key in the file (or it is "
     "encrypted)"},
    {"tls key of another certificate",
     LU "tls {\n\tcertificate = \"%D/cert.pem\"\n"
        "\tkey = \"%D/other.key\"\n}\n",
     "%s:3: tls: key %D/other.key does not match certificate %D/cert.pem"},
    {"tls chain without PEM",
     LU "tls {\n" TLS_PAIR "\tchain = \"%D/garbage.pem\"\n}\n",
     "%s:6: chain: %D/garbage.pem: no PEM certificate in the file"},
    {"tls ca_file missing",
     LU "tls {\n" TLS_PAIR "\tca_file = \"%D/nope.pem\"\n}\n",
     "%s:6: ca_file: %D/nope.pem: cannot read the file"},
    {"tls verify_client unknown",
     LU "tls {\n" TLS_PAIR "\tverify_client = maybe\n}\n",
     "%s:6: verify_client: unknown value 'maybe' (want none, optional or "
     "require)"},
    {"tls verify_client without ca_file",
     LU "tls {\n" TLS_PAIR "\tverify_client = optional\n}\n",
     "%s:3: tls: verify_client optional needs ca_file"},
    {"tls min_version SSLv3",
     LU "tls {\n" TLS_PAIR "\tmin_version = SSLv3\n}\n",
     "%s:6: min_version: unknown value 'SSLv3' (want TLSv1, TLSv1.1, "
     "TLSv1.2 or TLSv1.3)"},
    {"tls ciphers unusable", LU "tls {\n" TLS_PAIR "\tciphers = NOPE\n}\n",
     "%s:6: ciphers: no usable cipher in 'NOPE'"},
    {"tls ciphersuites unusable",
     LU "tls {\n" TLS_PAIR "\tciphersuites = \"TLS_NOPE\"\n}\n",
     "%s:6: ciphersuites: no usable suite in 'TLS_NOPE'"},
    {"tls handshake_timeout zero",
     LU "tls {\n" TLS_PAIR "\thandshake_timeout = 0\n}\n",
     "%s:6: handshake_timeout: 0 out of range (1s..1h)"},
    {"tls twice", LU TLS_SECTION TLS_SECTION, "%s:7: duplicate tls section"},
    {"tls unknown option", LU "tls {\n" TLS_PAIR "\tprotocols = all\n}\n",
     "%s:6: no such option 'protocols'"},
    {"listener tls unknown",
     "listener smtp { address = \"127.0.0.1:2525\"  tls = yes }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n" TLS_SECTION,
     "%s:1: tls: unknown value 'yes' (want none, starttls or implicit)"},
    {"listener starttls without a tls section",
     "listener smtp { address = \"127.0.0.1:2525\"  tls = starttls }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:1: listener smtp: tls = starttls needs a tls section"},
    {"listener implicit without a tls section",
     "listener smtps {\n\taddress = \"127.0.0.1:465\"\n\ttls = implicit\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:1: listener smtps: tls = implicit needs a tls section"},
    /* durations */
    {"duration with an unknown unit", LU "drain_timeout = 30x\n",
     "%s:3: drain_timeout: invalid duration '30x' "
     "(want N, Ns, Nm, Nh, Nd or Nw)"},
    {"duration with a size unit", LU "drain_timeout = 5k\n",
     "%s:3: drain_timeout: invalid duration '5k' "
     "(want N, Ns, Nm, Nh, Nd or Nw)"},
    {"duration negative", LU "drain_timeout = -5s\n",
     "%s:3: drain_timeout: invalid duration '-5s' "
     "(want N, Ns, Nm, Nh, Nd or Nw)"},
    {"duration empty", LU "drain_timeout = \"\"\n",
     "%s:3: drain_timeout: invalid duration '' "
     "(want N, Ns, Nm, Nh, Nd or Nw)"},
    {"duration zero", LU "drain_timeout = 0s\n",
     "%s:3: drain_timeout: 0s out of range (1s..7d)"},
    {"duration too long", LU "drain_timeout = 8d\n",
     "%s:3: drain_timeout: 8d out of range (1s..7d)"},
    {"duration overflowing", LU "drain_timeout = 99999999999999999999999d\n",
     "%s:3: drain_timeout: 99999999999999999999999d out of range (1s..7d)"},
    {"timeout zero inside a section",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream {\n"
     "\taddress = \"127.0.0.1:10025\"\n"
     "\tcommand_timeout = 0\n"
     "}\n",
     "%s:4: command_timeout: 0 out of range (1s..7d)"},
    {"limits timeout zero", LU "limits { idle_timeout = 0m }\n",
     "%s:3: idle_timeout: 0m out of range (1s..7d)"},
    /* sizes */
    {"size with an unknown unit", LU "limits { message_size = 50x }\n",
     "%s:3: message_size: invalid size '50x' (want N, Nk, Nm or Ng)"},
    {"size with two units", LU "limits { message_size = 50mk }\n",
     "%s:3: message_size: invalid size '50mk' (want N, Nk, Nm or Ng)"},
    {"size with a fraction", LU "limits { message_size = 1.5m }\n",
     "%s:3: message_size: invalid size '1.5m' (want N, Nk, Nm or Ng)"},
    {"command_line below the RFC minimum", LU "limits { command_line = 511 }\n",
     "%s:3: command_line: 511 out of range (512..64k)"},
    {"command_line too long", LU "limits { command_line = 65537 }\n",
     "%s:3: command_line: 65537 out of range (512..64k)"},
    {"text_line below the RFC minimum", LU "limits { text_line = 999 }\n",
     "%s:3: text_line: 999 out of range (1000..1000000)"},
    {"text_line too long", LU "limits { text_line = 1g }\n",
     "%s:3: text_line: 1g out of range (1000..1000000)"},
    {"message_size overflowing", LU "limits { message_size = 99999999999g }\n",
     "%s:3: message_size: 99999999999g out of range (0..1024g)"},
    {"spool_memory too large", LU "limits { spool_memory = 2g }\n",
     "%s:3: spool_memory: 2g out of range (0..1g)"},
    /* counts */
    {"workers zero", LU "workers = 0\n",
     "%s:3: workers: 0 out of range (1..64)"},
    {"workers too many", LU "workers = 65\n",
     "%s:3: workers: 65 out of range (1..64)"},
    {"workers not a number", LU "workers = four\n",
     "%s:3: workers: invalid number 'four'"},
    {"workers with a unit", LU "workers = 4k\n",
     "%s:3: workers: invalid number '4k'"},
    {"backlog zero",
     "listener smtp {\n\taddress = \"127.0.0.1:2525\"\n"
     "\tbacklog = 0\n}\n",
     "%s:3: backlog: 0 out of range (1..65535)"},
    {"recipients zero", LU "limits { recipients = 0 }\n",
     "%s:3: recipients: 0 out of range (1..100000)"},
    {"sessions_per_client above sessions",
     LU "limits {\n\tsessions = 10\n\tsessions_per_client = 20\n}\n",
     "%s:3: limits: sessions_per_client 20 exceeds sessions 10"},
    /* addresses */
    {"listener address without port",
     "listener smtp { address = \"127.0.0.1\" }\n",
     "%s:1: address: 127.0.0.1: ..."},
    {"listener port zero", "listener smtp { address = \"127.0.0.1:0\" }\n",
     "%s:1: address: 127.0.0.1:0: ..."},
    {"listener port too big",
     "listener smtp { address = \"127.0.0.1:65536\" }\n",
     "%s:1: address: 127.0.0.1:65536: ..."},
    {"listener on a host name",
     "listener smtp { address = \"localhost:25\" }\n",
     "%s:1: address: localhost:25: ..."},
    {"listener on a unix socket",
     "listener smtp { address = \"unix:/tmp/postern.sock\" }\n",
     "%s:1: address: unix:/tmp/postern.sock: a listener needs ip:port"},
    {"upstream port too big",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:99999\" }\n",
     "%s:2: address: 127.0.0.1:99999: ..."},
    {"upstream IPv6 without brackets",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"::1:25\" }\n",
     "%s:2: address: ::1:25: ..."},
    {"xclient network with a bad prefix",
     LU "xclient_networks = {\"127.0.0.0/8\",\n\t\"127.0.0.0/33\"}\n",
     "%s:4: xclient_networks: 127.0.0.0/33: ..."},
    {"xclient network with host bits",
     LU "xclient_networks = {\"127.0.0.1/8\"}\n",
     "%s:3: xclient_networks: 127.0.0.1/8: ..."},
    {"xclient network not an address", LU "xclient_networks = {\"local\"}\n",
     "%s:3: xclient_networks: local: ..."},
    /* names and enums */
    {"unknown option", LU "colour = blue\n", "%s:3: no such option 'colour'"},
    {"unknown option in a section", LU "limits {\n\tmax_size = 1\n}\n",
     "%s:4: no such option 'max_size'"},
    {"hidden option set by hand",
     "listener smtp { __section_line = 7 address = \"127.0.0.1:2525\" }\n",
     "%s:1: no such option '__section_line'"},
    {"unknown filter", LU "filter received {}\nfilter dkim {\n}\n",
     "%s:4: unknown filter 'dkim'"},
    {"filter twice", LU "filter received {}\nfilter received {}\n",
     "%s:4: found duplicate title 'received'"},
    {"log target", LU "log { target = file }\n",
     "%s:3: target: unknown value 'file' (want stderr or syslog)"},
    {"log level", LU "log {\n\tlevel = verbose\n}\n",
     "%s:4: level: unknown value 'verbose' "
     "(want error, warning, info or debug)"},
    {"log facility", LU "log { facility = kern }\n",
     "%s:3: facility: unknown syslog facility 'kern' "
     "(want mail, daemon or local0..local7)"},
    {"trace subsystem", LU "log {\n\ttrace = {smtp,\n\t\tbogus}\n}\n",
     "%s:5: trace: unknown value 'bogus' "
     "(want smtp, upstream, filter, config or all)"},
    {"client_identity",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\" client_identity = maybe }\n",
     "%s:2: client_identity: unknown value 'maybe' "
     "(want auto, xclient, xforward, none or proxy)"},
    {"proxy_protocol without proxy_networks",
     "listener smtp {\n"
     "\taddress = \"127.0.0.1:2525\"\n"
     "\tproxy_protocol = yes\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:1: listener smtp: proxy_protocol needs proxy_networks"},
    {"proxy_networks not a network",
     "listener smtp {\n"
     "\taddress = \"127.0.0.1:2525\"\n"
     "\tproxy_protocol = yes\n"
     "\tproxy_networks = {\"10.0.0.1/8\"}\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:4: proxy_networks: 10.0.0.1/8: host bits set below the prefix"},
    {"proxy_timeout zero",
     "listener smtp {\n"
     "\taddress = \"127.0.0.1:2525\"\n"
     "\tproxy_timeout = 0\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:3: proxy_timeout: 0 out of range (1s..5m)"},
    {"proxy_protocol not a boolean",
     "listener smtp {\n"
     "\taddress = \"127.0.0.1:2525\"\n"
     "\tproxy_protocol = maybe\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:3: invalid boolean value for option 'proxy_protocol'"},
    {"auth_failures zero", LU "limits { auth_failures = 0 }\n",
     "%s:3: auth_failures: 0 out of range (1..1000)"},
    {"auth_delay too long", LU "limits { auth_delay = 2m }\n",
     "%s:3: auth_delay: 2m out of range (0s..1m)"},
    {"auth_lockout zero", LU "limits { auth_lockout = 0 }\n",
     "%s:3: auth_lockout: 0 out of range (1s..7d)"},
    {"bare_line_ending", LU "limits { bare_line_ending = fix }\n",
     "%s:3: bare_line_ending: unknown value 'fix' (want reject or normalize)"},
    {"enum is case sensitive", LU "log { level = INFO }\n",
     "%s:3: level: unknown value 'INFO' (want error, warning, info or debug)"},
    {"outbound not a boolean",
     "listener smtp { address = \"127.0.0.1:2525\" outbound = maybe }\n",
     "%s:1: invalid boolean value for option 'outbound'"},
    {"host name with a space", LU "hostname = \"mx example\"\n",
     "%s:3: hostname: invalid host name 'mx example'"},
    {"host name empty", LU "hostname = \"\"\n",
     "%s:3: hostname: invalid host name ''"},
    {"helo_name with a bracket",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"127.0.0.1:25\" helo_name = \"[x]\" }\n",
     "%s:2: helo_name: invalid host name '[x]'"},
    {"spool_dir empty", LU "spool_dir = \"\"\n", "%s:3: spool_dir: empty path"},
    {"pid_file empty", LU "pid_file = ''\n", "%s:3: pid_file: empty path"},
    /* sections */
    {"listener name twice",
     LU "listener smtp { address = \"127.0.0.1:2526\" }\n",
     "%s:3: found duplicate title 'smtp'"},
    {"listener address twice",
     LU "listener other {\n\taddress = \"127.0.0.1:2525\"\n}\n",
     "%s:4: address: 127.0.0.1:2525 already used by listener smtp"},
    {"listener without address",
     "listener smtp {\n\toutbound = true\n}\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:1: listener smtp: no address"},
    {"listener without title", "listener { address = \"127.0.0.1:2525\" }\n",
     "%s:1: missing title for section 'listener'"},
    {"upstream without address",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream {\n\thelo_name = \"a.example\"\n}\n",
     "%s:2: upstream: no address"},
    {"upstream twice", LU "\nupstream { address = \"127.0.0.1:10026\" }\n",
     "%s:4: duplicate upstream section"},
    {"limits twice", LU "limits { errors = 5 }\nlimits { errors = 6 }\n",
     "%s:4: duplicate limits section"},
    {"no upstream", "listener smtp { address = \"127.0.0.1:2525\" }\n",
     "%s: no upstream section"},
    {"no listener", "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s: no listener section"},
    {"empty file", "", "%s: no listener section"},
    /* syntax */
    {"missing equal sign", LU "workers 4\n",
     "%s:3: missing equal sign after option 'workers'"},
    {"list for a single value", LU "workers = {4}\n",
     "%s:3: unexpected token '{'"},
    {"stray closing brace", LU "}\n", "%s:3: unexpected closing brace"},
    {"section not closed", LU "limits {\n\terrors = 5\n", "%s:3: unclosed '{'"},
    {"section not closed before the next",
     LU "limits {\n\terrors = 5\nlog { level = info }\n", "%s:3: unclosed '{'"},
    {"list not closed", LU "log { trace = {smtp }\n", "%s:3: unclosed '{'"},
    {"unterminated string", LU "hostname = \"mx.example.org\nworkers = 4\n",
     "%s:3: unterminated string"},
    {"unterminated string at end of file", LU "hostname = \"mx",
     "%s:3: unterminated string"},
    {"unterminated single-quoted string", LU "\nspool_dir = '/var/tmp\n",
     "%s:4: unterminated string"},
    {"unterminated comment", LU "/* no end\nworkers = 4\n",
     "%s:3: unterminated comment"},
    /* filters' options */
    {"option of another filter",
     LU "filter received {\n\tkey_table = \"/etc/keytable\"\n}\n",
     "%s:4: filter received: option 'key_table' does not belong to this "
     "filter"},
    {"number of another filter",
     LU "filter authres {\n\tauthserv_id = \"a.example\"\n"
        "\tmax_signatures = 5\n}\n",
     "%s:5: filter authres: option 'max_signatures' does not belong to "
     "this filter"},
    {"another filter's option set to its default",
     LU "filter dkim_verify {\n\tmissing_from = skip\n}\n",
     "%s:4: filter dkim_verify: option 'missing_from' does not belong to "
     "this filter"},
    {"list of another filter",
     LU "filter dkim_verify {\n\toversign_headers = {from,\n\t\tto}\n}\n",
     "%s:4: filter dkim_verify: option 'oversign_headers' does not belong "
     "to this filter"},
    {"empty list of another filter, at its section",
     LU "filter authres {\n\tsign_headers = {}\n}\n",
     "%s:3: filter authres: option 'sign_headers' does not belong to this "
     "filter"},
    {"dkim_sign option in dkim_verify",
     LUD "filter dkim_verify { max_signatures = 3 canonicalization = "
         "simple/simple }\n",
     "%s:4: filter dkim_verify: option 'canonicalization' does not belong "
     "to this filter"},
    /* dkim_verify */
    {"dns_error unknown", LU "filter dkim_verify {\n\tdns_error = ignore\n}\n",
     "%s:4: dns_error: unknown value 'ignore' (want tempfail or accept)"},
    {"max_signatures zero", LU "filter dkim_verify { max_signatures = 0 }\n",
     "%s:3: max_signatures: 0 out of range (1..50)"},
    {"max_signatures too many",
     LU "filter dkim_verify {\n\tmax_signatures = 51\n}\n",
     "%s:4: max_signatures: 51 out of range (1..50)"},
    {"max_signatures not a number",
     LU "filter dkim_verify { max_signatures = five }\n",
     "%s:3: max_signatures: invalid number 'five'"},
    {"min_key_bits below RFC 8301",
     LU "filter dkim_verify { min_key_bits = 1023 }\n",
     "%s:3: min_key_bits: 1023 out of range (1024..16384)"},
    {"min_key_bits too large",
     LU "filter dkim_verify { min_key_bits = 16385 }\n",
     "%s:3: min_key_bits: 16385 out of range (1024..16384)"},
    /* spf */
    {"spf on_fail tempfail", LUD "filter spf {\n\ton_fail = tempfail\n}\n",
     "%s:5: on_fail: unknown value 'tempfail' (want reject, tag or accept)"},
    {"spf on_softfail unknown", LUD "filter spf { on_softfail = drop }\n",
     "%s:4: on_softfail: unknown value 'drop' (want tag, reject or "
     "accept)"},
    {"spf on_permerror unknown", LUD "filter spf { on_permerror = yes }\n",
     "%s:4: on_permerror: unknown value 'yes' (want tag, reject or "
     "accept)"},
    {"spf on_temperror reject", LUD "filter spf { on_temperror = reject }\n",
     "%s:4: on_temperror: unknown value 'reject' (want tempfail or "
     "accept)"},
    {"spf check_helo not a boolean", LUD "filter spf { check_helo = maybe }\n",
     "%s:4: invalid boolean value for option 'check_helo'"},
    {"spf trusted_forwarders not a network",
     LUD "filter spf {\n\ttrusted_forwarders = {\"127.0.0.0/8\",\n"
         "\t\t\"mx.example.org\"}\n}\n",
     "%s:6: trusted_forwarders: mx.example.org: ..."},
    {"spf option in dkim_verify",
     LUD "filter dkim_verify {\n\ton_fail = tag\n}\n",
     "%s:5: filter dkim_verify: option 'on_fail' does not belong to this "
     "filter"},
    {"dkim_verify option in spf",
     LUD "filter spf {\n\tcheck_helo = yes\n\tdns_error = accept\n}\n",
     "%s:6: filter spf: option 'dns_error' does not belong to this "
     "filter"},
    /* authres */
    {"authserv_id not a host name",
     LU "filter authres { authserv_id = \"mx example\" }\n",
     "%s:3: authserv_id: invalid host name 'mx example'"},
    /* dns */
    {"forwarder a host name",
     LU "dns {\n\tforwarders = {\"127.0.0.1@53\",\n\t\t\"localhost\"}\n}\n",
     "%s:5: forwarders: localhost: not an IP address "
     "(want address or address@port)"},
    {"forwarder port zero", LU "dns { forwarders = {\"127.0.0.1@0\"} }\n",
     "%s:3: forwarders: 127.0.0.1@0: invalid port "
     "(want address or address@port)"},
    {"forwarder port too large", LU "dns { forwarders = {\"::1@65536\"} }\n",
     "%s:3: forwarders: ::1@65536: invalid port "
     "(want address or address@port)"},
    {"forwarder port empty", LU "dns { forwarders = {\"127.0.0.1@\"} }\n",
     "%s:3: forwarders: 127.0.0.1@: invalid port "
     "(want address or address@port)"},
    {"forwarder port with a unit",
     LU "dns { forwarders = {\"127.0.0.1@53s\"} }\n",
     "%s:3: forwarders: 127.0.0.1@53s: invalid port "
     "(want address or address@port)"},
    {"forwarder with a colon port",
     LU "dns { forwarders = {\"127.0.0.1:53\"} }\n",
     "%s:3: forwarders: 127.0.0.1:53: not an IP address "
     "(want address or address@port)"},
    {"forwarder in brackets", LU "dns { forwarders = {\"[::1]@53\"} }\n",
     "%s:3: forwarders: [::1]@53: not an IP address "
     "(want address or address@port)"},
    {"forwarder empty", LU "dns { forwarders = {\"\"} }\n",
     "%s:3: forwarders: : not an IP address "
     "(want address or address@port)"},
    {"dns timeout zero", LU "dns {\n\ttimeout = 0\n}\n",
     "%s:4: timeout: 0 out of range (1s..5m)"},
    {"dns timeout over 5m", LU "dns { timeout = 301 }\n",
     "%s:3: timeout: 301 out of range (1s..5m)"},
    {"dns twice", LU "dns { timeout = 2 }\ndns { timeout = 3 }\n",
     "%s:4: duplicate dns section"},
    {"trust anchor empty", LU "dns { trust_anchor = \"\" }\n",
     "%s:3: trust_anchor: empty path"},
    {"trust anchor missing, at the dns section",
     LU "dns {\n\tforwarders = {\"127.0.0.1\"}\n"
        "\ttrust_anchor = \"/nonexistent/root.key\"\n}\n",
     "%s:3: dns: trust anchor /nonexistent/root.key: "
     "No such file or directory"},
    {"nodefault zone with a space",
     LU "dns { nodefault_zones = {\"test.\", \"a b\"} }\n",
     "%s:3: nodefault_zones: invalid zone name 'a b'"},
    {"nodefault zone with an empty label",
     LU "dns { nodefault_zones = {\"a..test\"} }\n",
     "%s:3: nodefault_zones: invalid zone name 'a..test'"},
    {"nodefault zone the root", LU "dns { nodefault_zones = {\".\"} }\n",
     "%s:3: nodefault_zones: invalid zone name '.'"},
    {"dns option outside the section", LU "forwarders = {\"127.0.0.1\"}\n",
     "%s:3: no such option 'forwarders'"},
    {"internal network with host bits",
     LU "internal_networks = {\"127.0.0.1/8\"}\n",
     "%s:3: internal_networks: 127.0.0.1/8: ..."},
    /* dkim_sign */
    {"dkim_sign not last",
     LU "filter dkim_sign {\n" SIGN_TABLES "}\nfilter received {}\n",
     "%s:3: dkim_sign must be the last filter: it signs the final message"},
    {"dkim_sign without key_table",
     LU "filter dkim_sign {\n\tsigning_table = \"%D/signtable\"\n}\n",
     "%s:3: filter dkim_sign: no key_table"},
    {"dkim_sign without signing_table",
     LU "\nfilter dkim_sign {\n\tkey_table = \"%D/keytable\"\n}\n",
     "%s:4: filter dkim_sign: no signing_table"},
    {"key table error keeps its file and line",
     LU "filter dkim_sign {\n\tkey_table = \"%D/badkeytable\"\n"
        "\tsigning_table = \"%D/signtable\"\n}\n",
     "%s:3: filter dkim_sign: %D/badkeytable:2: ..."},
    {"key table missing",
     LU "filter dkim_sign {\n\tkey_table = \"%D/nonexistent\"\n"
        "\tsigning_table = \"%D/signtable\"\n}\n",
     "%s:3: filter dkim_sign: %D/nonexistent: ..."},
    {"resolver started, then a filter fails",
     LUD "filter dkim_verify {}\nfilter dkim_sign {\n"
         "\tkey_table = \"%D/nonexistent\"\n"
         "\tsigning_table = \"%D/signtable\"\n}\n",
     "%s:5: filter dkim_sign: %D/nonexistent: ..."},
    {"signing table error keeps its file and line",
     LU "filter dkim_sign {\n\tkey_table = \"%D/keytable\"\n"
        "\tsigning_table = \"%D/badsigntable\"\n}\n",
     "%s:3: filter dkim_sign: %D/badsigntable:2: ..."},
    {"sign_headers without from",
     LU "filter dkim_sign {\n" SIGN_TABLES
        "\tsign_headers = {to, subject}\n}\n",
     "%s:3: filter dkim_sign: sign_headers must include from "
     "(RFC 6376 5.4)"},
    {"sign_headers empty",
     LU "filter dkim_sign {\n" SIGN_TABLES "\tsign_headers = {}\n}\n",
     "%s:3: filter dkim_sign: sign_headers must include from "
     "(RFC 6376 5.4)"},
    {"sign_headers with a colon",
     LU "filter dkim_sign {\n" SIGN_TABLES
        "\tsign_headers = {from,\n\t\t\"x:y\"}\n}\n",
     "%s:7: sign_headers: invalid header field name 'x:y'"},
    {"oversign_headers with a space",
     LU "filter dkim_sign {\n" SIGN_TABLES
        "\toversign_headers = {\"reply to\"}\n}\n",
     "%s:6: oversign_headers: invalid header field name 'reply to'"},
    {"canonicalization one word",
     LU "filter dkim_sign {\n" SIGN_TABLES "\tcanonicalization = relaxed\n}\n",
     "%s:6: canonicalization: unknown value 'relaxed' (want simple/simple, "
     "simple/relaxed, relaxed/simple or relaxed/relaxed)"},
    {"missing_from unknown",
     LU "filter dkim_sign {\n" SIGN_TABLES "\tmissing_from = ignore\n}\n",
     "%s:6: missing_from: unknown value 'ignore' (want skip or reject)"},
    {"long_header_lines unknown",
     LU "filter dkim_sign {\n" SIGN_TABLES "\tlong_header_lines = cut\n}\n",
     "%s:6: long_header_lines: unknown value 'cut' (want fold or reject)"},
    {"key_table empty", LU "filter dkim_sign {\n\tkey_table = ''\n}\n",
     "%s:4: key_table: empty path"},
};

static void
check_bad(const struct bad_case *c, const char *path, const char *got,
          int *failed)
{
	char *want;
	size_t len;
	int prefix;

	want = expand(c->want, path);
	len = strlen(want);
	prefix = len > 3 && strcmp(want + len - 3, "...") == 0;
	if (prefix)
		len -= 3;
	if (got == NULL) {
		print_error("%s: got no error, want %s\n", c->name, want);
		*failed = 1;
	} else if (prefix ? strncmp(got, want, len) != 0
	                  : strcmp(got, want) != 0) {
		print_error("%s:\n  got  %s\n  want %s\n", c->name, got, want);
		*failed = 1;
	}
	free(want);
}

/* Load each case's text; every one must fail with its error. */
static void
run_bad_cases(const struct bad_case *cases, size_t n)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < n; i++) {
		const struct bad_case *c = &cases[i];
		char *path = write_temp(c->text);
		char *error = NULL;
		struct config *cfg = config_load(path, &error);

		check_bad(c, path, error, &failed);
		if (cfg != NULL)
			config_unref(&cfg);
		else
			free(error);
		unlink(path);
		free(path);
	}
	if (failed)
		fail();
}

static void
test_config_bad(void **state)
{
	run_bad_cases(bad_cases, ARRAY_LEN(bad_cases));
}

static void
test_config_missing_file(void **state)
{
	char *error = NULL;
	struct config *cfg = config_load("/nonexistent/postern.conf", &error);

	assert_null(cfg);
	assert_string_equal(error, "/nonexistent/postern.conf: cannot open: "
	                           "No such file or directory");
	free(error);
}

static void
test_config_nul_byte(void **state)
{
	static const char text[] = LU "workers = 4\0\n";
	char *path = unit_temp_file("test_config", text, sizeof(text) - 1);
	char *error = NULL, *want = xasprintf("%s:3: NUL byte", path);

	assert_null(config_load(path, &error));
	assert_string_equal(error, want);
	free(error);
	free(want);
	unlink(path);
	free(path);
}

static void
test_config_refcount(void **state)
{
	struct config *a = load_ok(LU), *b;

	assert_int_equal(a->refs, 1);
	b = a;
	config_ref(b);
	assert_int_equal(a->refs, 2);
	config_unref(&b);
	assert_null(b);
	assert_int_equal(a->refs, 1);
	config_unref(&a);
	assert_null(a);
	config_unref(&a); /* NULL is a no-op */
	assert_null(a);
}

static void
test_config_listener_find(void **state)
{
	struct config *cfg =
	    load_ok(LU "listener submission { address = \"127.0.0.1:2587\" "
	               "outbound = true }\n");
	const struct config_listener *l;

	l = config_listener_find(cfg, "submission");
	assert_non_null(l);
	assert_string_equal(l->name, "submission");
	assert_int_equal(netaddr_port(&l->addr), 2587);
	assert_int_equal(l->outbound, 1);
	l = config_listener_find(cfg, "smtp");
	assert_non_null(l);
	assert_int_equal(netaddr_port(&l->addr), 2525);
	assert_null(config_listener_find(cfg, "nope"));
	config_unref(&cfg);
}

/* What config_print_summary() writes to stdout; allocated. */
static char *
capture_summary(const struct config *cfg)
{
	struct unit_capture cap;
	char *text;

	unit_capture_start(&cap, STDOUT_FILENO);
	config_print_summary(cfg);
	text = unit_capture_end(&cap);
	assert_true(text[0] != '\0');
	return text;
}

/* Each of the n strings of want is in the summary out. */
static void
check_summary(const char *out, const char *const *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strstr(out, want[i]) == NULL) {
			print_error("summary:\n%s\nwant line: %s", out,
			            want[i]);
			fail();
		}
	}
}

static void
test_config_summary(void **state)
{
	static const char *const want[] = {
	    "hostname mx.example.org workers 4 drain_timeout 30s\n",
	    "log stderr level info trace none\n",
	    "listener smtp 127.0.0.1:2525 inbound backlog 128\n",
	    "upstream 127.0.0.1:10025 helo_name postern.example.org "
	    "client_identity auto\n",
	    "upstream timeouts connect 30s command 5m data 10m\n",
	    "limits command_line 512 text_line 1000 message_size 50m "
	    "spool_memory 1m\n",
	    "limits recipients 100 sessions 1000 sessions_per_client 20 "
	    "errors 10\n",
	    "limits idle_timeout 5m data_timeout 10m bare_line_ending reject\n",
	    "limits auth_failures 5 auth_lockout 15m auth_delay 1s "
	    "auth_delay_max 16s\n",
	    "dns forwarders {127.0.0.1@53} timeout 5s trust_anchor none "
	    "nodefault_zones none\n",
	    "xclient_networks {127.0.0.0/8, ::1/128}\n",
	    "internal_networks {127.0.0.0/8, ::1/128}\n",
	    "filters received dkim_verify spf dmarc spam authres\n",
	    "filter dkim_verify max_signatures 5 min_key_bits 1024 "
	    "dns_error tempfail\n",
	    "filter spf on_fail reject on_softfail tag on_permerror tag "
	    "on_temperror tempfail check_helo no trusted_forwarders none\n",
	    "filter dmarc on_reject reject on_quarantine tag psl_file builtin "
	    "record_file none\n",
	    "filter spam rules 1 plugins 0 match_limit 100000 max_size "
	    "1048576 tag_score 5.0 hold_score off reject_score 15.0 "
	    "outbound_tag_score off outbound_hold_score off "
	    "outbound_reject_score off subject_tag off\n",
	    "quarantine_dir /var/spool/postern/quarantine\n",
	    "filter authres authserv_id mx.example.org\n",
	};
	char *error = NULL, *out;
	struct config *cfg = config_load(CONTRIB_CONF, &error);

	if (cfg == NULL) {
		print_error("%s\n", error);
		fail();
	}
	out = capture_summary(cfg);
	check_summary(out, want, ARRAY_LEN(want));
	free(out);
	config_unref(&cfg);
}

/* The summary of a file with every new option set, and without DNS. */
/* The summary shows PROXY and AUTH settings only where they are on. */
static void
test_config_summary_proxy_auth(void **state)
{
	static const char *const with[] = {
	    "listener smtp proxy_protocol yes proxy_timeout 10s "
	    "proxy_networks {10.0.0.0/8, ::1/128}\n",
	    "listener smtp auth_without_tls yes\n",
	    "client_identity proxy\n",
	    "limits auth_failures 3 auth_lockout 1h auth_delay 0s "
	    "auth_delay_max 16s\n",
	};
	struct config *cfg = load_ok(
	    "listener smtp {\n\taddress = \"127.0.0.1:2525\"\n"
	    "\tproxy_protocol = yes\n\tproxy_timeout = 10s\n"
	    "\tproxy_networks = {\"10.0.0.0/8\", \"::1\"}\n"
	    "\tauth_without_tls = yes\n}\n"
	    "upstream { address = \"127.0.0.1:10025\" "
	    "client_identity = proxy }\n"
	    "limits { auth_failures = 3 auth_lockout = 1h auth_delay = 0 }\n");
	char *out = capture_summary(cfg);

	check_summary(out, with, ARRAY_LEN(with));
	free(out);
	config_unref(&cfg);
	cfg = load_ok(LU);
	out = capture_summary(cfg);
	if (strstr(out, "proxy_protocol") != NULL ||
	    strstr(out, "auth_without_tls") != NULL) {
		print_error("summary:\n%s\nwant no proxy or auth lines", out);
		fail();
	}
	free(out);
	config_unref(&cfg);
}

static void
test_config_summary_dns(void **state)
{
	static const char *const with[] = {
	    "dns forwarders {127.0.0.1@5353, ::1} timeout 30s "
	    "trust_anchor none nodefault_zones {test., invalid.}\n",
	    "filters dkim_verify dkim_sign\n",
	    "filter dkim_sign key_table ",
	    "xclient_networks {::1/128}\n",
	    "internal_networks {127.0.0.1/32, 127.0.0.0/8}\n",
	};
	struct config *cfg = load_ok(
	    LU
	    "xclient_networks = {\"IPv6:::1\"}\n"
	    "internal_networks = {\"127.0.0.1\", \"::ffff:127.0.0.0/104\"}\n"
	    "dns {\n\tforwarders = {\"127.0.0.1@5353\", \"::1\"}\n"
	    "\ttimeout = 30s\n\tnodefault_zones = {\"test.\", \"invalid.\"}\n"
	    "}\nfilter dkim_verify {}\nfilter dkim_sign {\n" SIGN_TABLES "}\n");
	char *out = capture_summary(cfg);

	check_summary(out, with, ARRAY_LEN(with));
	free(out);
	config_unref(&cfg);
	cfg = load_ok(LU);
	out = capture_summary(cfg);
	if (strstr(out, "dns none\n") == NULL ||
	    strstr(out, "filters none\n") == NULL ||
	    strstr(out, "\nxclient_networks none\n") == NULL ||
	    strstr(out, "\ninternal_networks none\n") == NULL ||
	    strstr(out, "\nfilter ") != NULL) {
		print_error("summary:\n%s\nwant dns, filters and networks none",
		            out);
		fail();
	}
	free(out);
	config_unref(&cfg);
}

/* The tls lines of the summary, with and without a tls section. */
static void
test_config_tls_summary(void **state)
{
	static const char *const tmpl[] = {
	    "tls certificate %D/cert.pem key %D/key.pem chain none "
	    "ca_file %D/cert.pem\n",
	    "tls verify_client optional min_version TLSv1.3 ciphers default "
	    "ciphersuites TLS_AES_128_GCM_SHA256 handshake_timeout 2m\n",
	    "tls served subject CN=postern.test not_after ",
	    "tls listeners smtp=starttls smtps=implicit\n",
	};
	char *want[ARRAY_LEN(tmpl)], *out;
	struct config *cfg;
	size_t i;

	cfg = load_ok(LU "listener smtps { address = \"127.0.0.1:465\" }\n"
	                 "tls {\n" TLS_PAIR "\tca_file = \"%D/cert.pem\"\n"
	                 "\tverify_client = optional\n"
	                 "\tmin_version = TLSv1.3\n"
	                 "\tciphersuites = \"TLS_AES_128_GCM_SHA256\"\n"
	                 "\thandshake_timeout = 2m\n}\n");
	out = capture_summary(cfg);
	for (i = 0; i < ARRAY_LEN(tmpl); i++)
		want[i] = expand(tmpl[i], "");
	check_summary(out, (const char *const *)want, ARRAY_LEN(want));
	for (i = 0; i < ARRAY_LEN(tmpl); i++)
		free(want[i]);
	free(out);
	config_unref(&cfg);
	cfg = load_ok(LU);
	out = capture_summary(cfg);
	if (strstr(out, "\ntls none\n") == NULL) {
		print_error("summary:\n%s\nwant tls none", out);
		fail();
	}
	free(out);
	config_unref(&cfg);
}

/* The milter section: addresses in the file's forms become libmilter's,
 * the other options reach struct config, bad ones are errors. */
static const struct {
	const char *address;
	const char *want; /* libmilter's form; NULL: an error */
} milter_addresses[] = {
    {"inet:127.0.0.1:8891", "inet:8891@127.0.0.1"},
    {"inet6:[::1]:8891", "inet6:8891@::1"},
    {"inet:8891@localhost", "inet:8891@localhost"},
    {"unix:/run/postern/milter", "unix:/run/postern/milter"},
    {"inet:127.0.0.1:0", NULL},
    {"inet:127.0.0.1:65536", NULL},
    {"inet:127.0.0.1:x", NULL},
    {"inet:127.0.0.1", NULL},
    {"inet6:[::1:8891", NULL},
    {"tcp:127.0.0.1:8891", NULL},
    {"unix:relative", NULL},
    {"", NULL},
};

static void
test_config_milter(void **state)
{
	struct config *cfg;
	char text[512], *path, *error = NULL;
	size_t i;

	for (i = 0; i < ARRAY_LEN(milter_addresses); i++) {
		snprintf(text, sizeof(text), LU "milter { address = \"%s\" }\n",
		         milter_addresses[i].address);
		path = write_temp(text);
		cfg = config_load(path, &error);
		if (milter_addresses[i].want == NULL) {
			if (cfg != NULL)
				fail_msg("%s: loaded, want an error",
				         milter_addresses[i].address);
			assert_non_null(strstr(error, "address"));
			free(error);
		} else {
			assert_non_null(cfg);
			assert_string_equal(cfg->milter->address,
			                    milter_addresses[i].want);
			config_unref(&cfg);
		}
		unlink(path);
		free(path);
	}
	cfg = load_ok(LU "milter {\n\taddress = \"inet:127.0.0.1:8891\"\n"
	                 "\toutbound_daemons = {\"submission\", \"smtps\"}\n"
	                 "\ton_error = accept\n\ttimeout = 2m\n"
	                 "\tsocket_mode = \"0600\"\n}\n");
	assert_int_equal(cfg->milter->socket_mode, 0600);
	assert_int_equal(cfg->milter->noutbound_daemons, 2);
	assert_string_equal(cfg->milter->outbound_daemons[1], "smtps");
	assert_int_equal(cfg->milter->on_error_accept, 1);
	assert_int_equal(cfg->milter->timeout, 120);
	config_unref(&cfg);
	cfg = load_ok(LU);
	assert_null(cfg->milter);
	config_unref(&cfg);
	/* Milter only: neither listener nor upstream. */
	cfg = load_ok("milter { address = \"unix:/tmp/m\" }\n");
	assert_int_equal(cfg->nlisteners, 0);
	assert_int_equal(cfg->upstream.addr.len, 0);
	config_unref(&cfg);
	/* ... and a milter holds in the MTA's queue: no quarantine_dir. */
	cfg = load_ok("quarantine_dir = \"/nonexistent/q\"\n"
	              "milter { address = \"unix:/tmp/m\" }\n"
	              "filter dmarc { on_quarantine = hold }\n");
	assert_int_equal(cfg->nlisteners, 0);
	config_unref(&cfg);
	cfg = load_ok(LU "milter { address = \"unix:/tmp/m\" }\n");
	assert_int_equal(cfg->milter->on_error_accept, 0);
	assert_int_equal(cfg->milter->socket_mode, 0660);
	assert_int_equal(cfg->milter->noutbound_daemons, 0);
	config_unref(&cfg);
}

static const struct bad_case milter_bad_cases[] = {
    {"proxy hold without quarantine_dir",
     "quarantine_dir = \"/nonexistent/q\"\n" LU
     "milter { address = \"unix:/tmp/m\" }\n"
     "filter dmarc { on_quarantine = hold }\n",
     "%s:5: filter dmarc: quarantine_dir /nonexistent/q: No such file or "
     "directory"},
    {"milter without address", LU "milter { on_error = accept }\n",
     "%s:3: milter: no address"},
    {"milter on_error unknown",
     LU "milter { address = \"unix:/tmp/m\"  on_error = drop }\n",
     "%s:3: on_error: unknown value 'drop' (want tempfail or accept)"},
    {"milter socket_mode not octal",
     LU "milter { address = \"unix:/tmp/m\"  socket_mode = \"0980\" }\n",
     "%s:3: socket_mode: 0980: want an octal mode such as 0660"},
    {"milter socket_mode too wide",
     LU "milter { address = \"unix:/tmp/m\"  socket_mode = \"1777\" }\n",
     "%s:3: socket_mode: 1777: want an octal mode such as 0660"},
    {"listener without upstream, with a milter",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "milter { address = \"unix:/tmp/m\" }\n",
     "%s: no upstream section"},
    {"milter twice",
     LU "milter { address = \"unix:/tmp/m\" }\n"
        "milter { address = \"unix:/tmp/n\" }\n",
     "%s:4: duplicate milter section"},
    {"metrics without address", LU "metrics { }\n",
     "%s:3: metrics: no address"},
    {"metrics twice",
     LU "metrics { address = \"127.0.0.1:9325\" }\n"
        "metrics { address = \"127.0.0.1:9326\" }\n",
     "%s:4: duplicate metrics section"},
    {"metrics allow not a network",
     LU "metrics { address = \"127.0.0.1:9325\"  allow = {\"300.1.2.3\"} }\n",
     "%s:3: allow: 300.1.2.3: not a numeric IP network"},
    {"metrics on a unix socket", LU "metrics { address = \"unix:/tmp/m\" }\n",
     "%s:3: metrics: address unix:/tmp/m: want HOST:PORT"},
    {"history twice", LU "history { }\nhistory { }\n",
     "%s:4: duplicate history section"},
    {"history empty path", LU "history { path = \"\" }\n",
     "%s:3: path: empty path"},
    {"history retention too short", LU "history { retention = 10s }\n",
     "%s:3: retention: 10s out of range (1m..3660d)"},
    {"history max_rows not a number", LU "history { max_rows = many }\n",
     "%s:3: max_rows: invalid number 'many'"},
};

static void
test_config_milter_bad(void **state)
{
	run_bad_cases(milter_bad_cases, ARRAY_LEN(milter_bad_cases));
}

/* dkim_verify without a dns section starts the resolver on the servers
 * of /etc/resolv.conf (libunbound reads it; nothing is sent). */
static void
test_config_dns_resolv_conf(void **state)
{
	static const char *const want[] = {"dns forwarders resolv.conf "};
	struct config *cfg;
	char *out;

	if (access("/etc/resolv.conf", R_OK) != 0)
		skip();
	cfg = load_ok(LU "filter dkim_verify {}\n");
	assert_non_null(cfg->dns);
	assert_int_equal(cfg->dns_conf.nforwarders, 0);
	assert_int_equal(cfg->dns_conf.timeout, 5);
	out = capture_summary(cfg);
	check_summary(out, want, ARRAY_LEN(want));
	free(out);
	config_unref(&cfg);
}

/* The upstream's TLS and source address options. */

/* A listener on line 1, the upstream's first line on line 2; the case
 * adds its options and the closing brace. */
#define LISTEN  "listener smtp { address = \"127.0.0.1:2525\"%s }\n"
#define UP_OPEN "upstream { address = \"127.0.0.1:10025\"\n"

struct upstream_case {
	const char *name;
	const char *text; /* %s: the source table's path */
	enum config_upstream_tls tls;
	int has_ctx;
	const char *verify_name;
	const char *source;          /* upstream's, "" none */
	const char *listener_source; /* "" none */
	size_t table_entries;        /* 0: no table */
};

static const struct upstream_case upstream_cases[] = {
    {"defaults",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN "}\n",
     CONFIG_UPSTREAM_TLS_NONE, 0, "127.0.0.1", "", "", 0},
    {"opportunistic",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "tls = opportunistic\n}\n",
     CONFIG_UPSTREAM_TLS_OPPORTUNISTIC, 1, "127.0.0.1", "", "", 0},
    {"required with a name",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "tls = required\nverify_name = \"mta.test\"\n}\n",
     CONFIG_UPSTREAM_TLS_REQUIRED, 1, "mta.test", "", "", 0},
    {"required over ipv6, default name",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"[::1]:10025\"\ntls = required\n}\n",
     CONFIG_UPSTREAM_TLS_REQUIRED, 1, "::1", "", "", 0},
    {"sources",
     "listener smtp { address = \"127.0.0.1:2525\"\n"
     "source_address = 127.0.0.3 }\n" UP_OPEN
     "source_address = \"127.0.0.2\"\nsource_table = \"%s\"\n}\n",
     CONFIG_UPSTREAM_TLS_NONE, 0, "127.0.0.1", "127.0.0.2", "127.0.0.3", 2},
};

static void
check_upstream_case(const struct upstream_case *c, const struct config *cfg)
{
	const struct config_upstream *u = &cfg->upstream;
	char ip[NETADDR_STRLEN];

	check_int(c->name, "tls", u->tls, c->tls);
	check_int(c->name, "ssl_ctx", u->ssl_ctx != NULL, c->has_ctx);
	check_str(c->name, "verify_name", u->verify_name, c->verify_name);
	check_str(c->name, "source",
	          u->source.ss.ss_family
	              ? netaddr_ip_str(&u->source, ip, sizeof(ip))
	              : "",
	          c->source);
	check_str(
	    c->name, "listener source",
	    cfg->listeners[0].source.ss.ss_family
	        ? netaddr_ip_str(&cfg->listeners[0].source, ip, sizeof(ip))
	        : "",
	    c->listener_source);
	check_int(c->name, "source table entries",
	          u->source_table
	              ? (long long)upstream_source_count(u->source_table)
	              : 0,
	          (long long)c->table_entries);
}

static void
test_config_upstream(void **state)
{
	const char table[] = "example.org 127.0.0.4\n.example.net 127.0.0.5\n";
	char *tpath = unit_temp_file("test_config", table, strlen(table));
	size_t i;
	int failed = 0;

	for (i = 0; i < ARRAY_LEN(upstream_cases); i++) {
		const struct upstream_case *c = &upstream_cases[i];
		char *text = expand(c->text, tpath);
		struct config *cfg = load_case(c->name, text, &failed);

		free(text);
		if (cfg == NULL)
			continue;
		check_upstream_case(c, cfg);
		config_unref(&cfg);
	}
	unlink(tpath);
	free(tpath);
	if (failed)
		fail();
}

static const struct bad_case upstream_bad_cases[] = {
    {"tls unknown",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "tls = maybe\n}\n",
     "%s:3: tls: unknown value 'maybe' (want none, opportunistic or "
     "required)"},
    {"verify_name with a space",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "verify_name = \"a b\"\n}\n",
     "%s:3: verify_name: invalid name 'a b'"},
    {"ca_file empty",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "ca_file = \"\"\n}\n",
     "%s:3: ca_file: empty path"},
    {"ca_file missing",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "tls = required\nca_file = \"/nonexistent/ca.pem\"\n}\n",
     "%s:2: upstream: ca_file: /nonexistent/ca.pem: ..."},
    {"tls to a unix socket",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"unix:/tmp/mta.sock\"\ntls = opportunistic\n}\n",
     "%s:2: upstream: tls needs an IP address, not a unix socket"},
    {"source_address a name",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "source_address = \"mail.example\"\n}\n",
     "%s:3: source_address: mail.example: not an IP address"},
    {"source_address with a port",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "source_address = \"127.0.0.2:25\"\n}\n",
     "%s:3: source_address: 127.0.0.2:25: not an IP address"},
    {"source_address of the other family",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "source_address = \"::1\"\n}\n",
     "%s:2: upstream: source_address ::1: address family differs from the "
     "upstream's"},
    {"listener source_address of the other family",
     "listener smtp { address = \"127.0.0.1:2525\"\nsource_address = ::1 }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:1: listener smtp: source_address ::1: address family differs from "
     "the upstream's"},
    {"listener source_address a name",
     "listener smtp { address = \"127.0.0.1:2525\"\n"
     "source_address = \"x.example\" }\n"
     "upstream { address = \"127.0.0.1:10025\" }\n",
     "%s:2: source_address: x.example: not an IP address"},
    {"source_table missing",
     "listener smtp { address = \"127.0.0.1:2525\" }\n" UP_OPEN
     "source_table = \"/nonexistent/sources\"\n}\n",
     "%s:2: source_table: /nonexistent/sources: No such file or directory"},
    {"source_table to a unix socket",
     "listener smtp { address = \"127.0.0.1:2525\" }\n"
     "upstream { address = \"unix:/tmp/mta.sock\"\n"
     "source_table = \"/nonexistent/sources\"\n}\n",
     "%s:2: upstream: source_table: the upstream is not reached over IP"},
};

static void
test_config_upstream_bad(void **state)
{
	run_bad_cases(upstream_bad_cases, ARRAY_LEN(upstream_bad_cases));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_contrib),
	    cmocka_unit_test(test_config_good),
	    cmocka_unit_test(test_config_bad),
	    cmocka_unit_test(test_config_missing_file),
	    cmocka_unit_test(test_config_nul_byte),
	    cmocka_unit_test(test_config_refcount),
	    cmocka_unit_test(test_config_listener_find),
	    cmocka_unit_test(test_config_summary),
	    cmocka_unit_test(test_config_filter_settings),
	    cmocka_unit_test(test_config_summary_dns),
	    cmocka_unit_test(test_config_summary_proxy_auth),
	    cmocka_unit_test(test_config_dns_resolv_conf),
	    cmocka_unit_test(test_config_milter),
	    cmocka_unit_test(test_config_milter_bad),
	    cmocka_unit_test(test_config_tls_summary),
	    cmocka_unit_test(test_config_upstream),
	    cmocka_unit_test(test_config_upstream_bad),
	};

	return cmocka_run_group_tests(tests, sign_setup, sign_teardown);
}
