/*
 * test_config.c - tests for proxy/config.c.
 *
 * Good files (a minimal one, contrib/postern.conf and one-option
 * variants) load with the right values; bad files fail with the exact
 * "file:line: reason"; references count; the -t summary shows what was
 * loaded.  Each file is written to a temporary path.  Tests run from the
 * repository root, where contrib/postern.conf is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "filters/filter.h"
#include "proxy/config.h"
#include "util/log.h"
#include "util/netaddr.h"

#define CONTRIB_CONF "contrib/postern.conf"

/* A listener on line 1 and an upstream on line 2. */
#define LU                                                                     \
	"listener smtp { address = \"127.0.0.1:2525\" }\n"                     \
	"upstream { address = \"127.0.0.1:10025\" }\n"

static char *
write_temp(const char *text)
{
	char path[] = "/tmp/test_config.XXXXXX";
	size_t len = strlen(text);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return strdup(path);
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

static struct config *
load_ok(const char *text)
{
	char *error = NULL;
	struct config *cfg = load_text(text, &error);

	if (cfg == NULL) {
		print_error("load failed: %s\n", error);
		free(error);
		fail();
	}
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
	assert_int_equal(netlist_count(cfg->xclient_networks), 0);
	assert_int_equal(filter_chain_count(cfg->chain), 0);
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
	assert_int_equal(filter_chain_count(cfg->chain), 1);
	assert_string_equal(filter_chain_name(cfg->chain, 0), "received");
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

struct good_case {
	const char *name;
	const char *text;
	config_get_cb *get;
	unsigned long long want;
};

static const struct good_case good_cases[] = {
    {"duration without unit is seconds", LU "drain_timeout = 90\n", get_drain,
     90},
    {"duration in seconds", LU "drain_timeout = 45s\n", get_drain, 45},
    {"duration in minutes", LU "limits { idle_timeout = 3m }\n", get_idle, 180},
    {"duration in hours", LU "drain_timeout = 2h\n", get_drain, 7200},
    {"duration in days, the maximum", LU "drain_timeout = 7d\n", get_drain,
     604800},
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

	for (i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		char *error = NULL;
		struct config *cfg = load_text(c->text, &error);
		unsigned long long got;

		if (cfg == NULL) {
			print_error("%s: load failed: %s\n", c->name, error);
			free(error);
			failed = 1;
			continue;
		}
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

/* Bad files.  want is the whole error with %s for the file; a want
 * ending in "..." gives only the start, where the reason itself comes
 * from util/netaddr. */

struct bad_case {
	const char *name;
	const char *text;
	const char *want;
};

static const struct bad_case bad_cases[] = {
    /* durations */
    {"duration with an unknown unit", LU "drain_timeout = 30x\n",
     "%s:3: drain_timeout: invalid duration '30x' "
     "(want N, Ns, Nm, Nh or Nd)"},
    {"duration with a size unit", LU "drain_timeout = 5k\n",
     "%s:3: drain_timeout: invalid duration '5k' "
     "(want N, Ns, Nm, Nh or Nd)"},
    {"duration negative", LU "drain_timeout = -5s\n",
     "%s:3: drain_timeout: invalid duration '-5s' "
     "(want N, Ns, Nm, Nh or Nd)"},
    {"duration empty", LU "drain_timeout = \"\"\n",
     "%s:3: drain_timeout: invalid duration '' "
     "(want N, Ns, Nm, Nh or Nd)"},
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
     "(want auto, xclient, xforward or none)"},
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
};

/* want with its "%s" replaced by path. */
static void
want_expand(char *buf, size_t size, const char *tmpl, const char *path)
{
	const char *at = strstr(tmpl, "%s");

	assert_non_null(at);
	snprintf(buf, size, "%.*s%s%s", (int)(at - tmpl), tmpl, path, at + 2);
}

static void
check_bad(const struct bad_case *c, const char *path, const char *got,
          int *failed)
{
	char want[1024];
	size_t len;
	int prefix;

	want_expand(want, sizeof(want), c->want, path);
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
}

static void
test_config_bad(void **state)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
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
	char path[] = "/tmp/test_config.XXXXXX", want[64];
	int fd = mkstemp(path);
	char *error = NULL;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
	                 (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_null(config_load(path, &error));
	snprintf(want, sizeof(want), "%s:3: NUL byte", path);
	assert_string_equal(error, want);
	free(error);
	unlink(path);
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

/* Run config_print_summary() with stdout sent to a file; return the text. */
static char *
capture_summary(const struct config *cfg)
{
	char path[] = "/tmp/test_config.XXXXXX";
	static char buf[4096];
	int fd = mkstemp(path), saved = dup(1);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stdout);
	dup2(fd, 1);
	config_print_summary(cfg);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
	return buf;
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
	    "xclient_networks 2\n",
	    "filters received\n",
	};
	char *error = NULL;
	struct config *cfg = config_load(CONTRIB_CONF, &error);
	const char *out;
	size_t i;

	if (cfg == NULL) {
		print_error("%s\n", error);
		fail();
	}
	out = capture_summary(cfg);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(out, want[i]) == NULL) {
			print_error("summary:\n%s\nwant line: %s", out,
			            want[i]);
			fail();
		}
	}
	config_unref(&cfg);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
