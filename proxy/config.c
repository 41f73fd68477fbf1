/*
 * config.c - parse and check postern's configuration file.
 *
 * Declares the file's grammar to libconfuse and checks every value while
 * it is parsed, so that an error names the line of the offending value.
 * config_load() reads the file, parses it here and hands the checked tree
 * to config_build() (config_build.c), which makes the immutable,
 * reference-counted struct config; the summary for -t is in
 * config_print.c.  Knows filters only by name and by the options each
 * accepts (config_build.c's table); binding sockets, opening the log,
 * writing the pid file and starting the resolver are others' job.
 * Every error is one allocated string, "file:line: reason", or "file:
 * reason" when no line applies (a missing section, an unreadable file).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <confuse.h>

#include "proxy/config.h"
#include "proxy/config_file.h"
#include "proxy/config_private.h"
#include "proxy/tls.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

#define CONFIG_REASON_MAX 512

#define KIB 1024L
#define MIB (1024L * KIB)
#define GIB (1024L * MIB)

#define DURATION_MAX (7L * 86400)

/*
 * libconfuse callbacks carry no user pointer, so they find the load in
 * progress here.  libconfuse's lexer is not reentrant, so loads never
 * overlap; thread-local only keeps other threads from ever seeing it.
 */
static _Thread_local struct config_parse *config_parsing;

/* Errors. */

static void __attribute__((format(printf, 3, 0)))
parse_verror(struct config_parse *p, int line, const char *fmt, va_list ap)
{
	char reason[CONFIG_REASON_MAX];

	if (p->error != NULL)
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (line > 0)
		p->error = xasprintf("%s:%d: %s", p->path, line, reason);
	else
		p->error = xasprintf("%s: %s", p->path, reason);
}

void __attribute__((format(printf, 3, 4)))
config_parse_error(struct config_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_verror(p, line, fmt, ap);
	va_end(ap);
}

struct config_parse *
config_parse_current(void)
{
	return config_parsing;
}

/* libconfuse's own errors and those our callbacks raise by cfg_error();
 * cfg->line is the line being parsed. */
static void __attribute__((format(printf, 2, 0)))
config_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	if (config_parsing != NULL)
		parse_verror(config_parsing, cfg->line, fmt, ap);
}

/* Numbers: counts, sizes (binary units) and durations (seconds). */

struct num_spec {
	const char *section; /* "root" for top-level options */
	const char *name;
	enum num_kind kind;
	long min, max;
};

static const struct num_spec num_specs[] = {
    {"root", "workers", NUM_COUNT, 1, 64},
    {"root", "drain_timeout", NUM_DURATION, 1, DURATION_MAX},
    {"listener", "backlog", NUM_COUNT, 1, 65535},
    {"listener", "proxy_timeout", NUM_DURATION, 1, 5 * 60},
    {"upstream", "connect_timeout", NUM_DURATION, 1, DURATION_MAX},
    {"upstream", "command_timeout", NUM_DURATION, 1, DURATION_MAX},
    {"upstream", "data_timeout", NUM_DURATION, 1, DURATION_MAX},
    /* RFC 5321 4.5.3.1.4 and 4.5.3.1.6: the least a server must take. */
    {"limits", "command_line", NUM_SIZE, 512, 64 * KIB},
    {"limits", "text_line", NUM_SIZE, 1000, 1000000},
    {"limits", "message_size", NUM_SIZE, 0, 1024 * GIB},
    {"limits", "recipients", NUM_COUNT, 1, 100000},
    {"limits", "sessions", NUM_COUNT, 1, 1000000},
    {"limits", "sessions_per_client", NUM_COUNT, 1, 1000000},
    {"limits", "errors", NUM_COUNT, 1, 1000},
    {"limits", "idle_timeout", NUM_DURATION, 1, DURATION_MAX},
    {"limits", "data_timeout", NUM_DURATION, 1, DURATION_MAX},
    {"limits", "spool_memory", NUM_SIZE, 0, 1 * GIB},
    {"limits", "auth_failures", NUM_COUNT, 1, 1000},
    {"limits", "auth_lockout", NUM_DURATION, 1, DURATION_MAX},
    {"limits", "auth_delay", NUM_DURATION, 0, 60},
    {"limits", "auth_delay_max", NUM_DURATION, 0, 5 * 60},
    {"dns", "timeout", NUM_DURATION, 1, 5 * 60},
    {"milter", "timeout", NUM_DURATION, 1, DURATION_MAX},
    {"tls", "handshake_timeout", NUM_DURATION, 1, 60 * 60},
    {"history", "retention", NUM_DURATION, 60, 10L * 366 * 86400},
    {"history", "max_rows", NUM_COUNT, 0, 1000000000},
    /* Filters share one section grammar; see config_filter.c. */
    {"filter", "max_signatures", NUM_COUNT, 1, 50},
    /* RFC 8301 3.2: verifiers must not accept keys under 1024 bits. */
    {"filter", "min_key_bits", NUM_COUNT, 1024, 16384},
    {"filter", "match_limit", NUM_COUNT, 1000, 100000000},
    {"filter", "max_size", NUM_SIZE, 0, 1 * GIB},
};

static const struct {
	const char *word;
	const char *hint;
} num_kind_text[] = {
    [NUM_COUNT] = {"number", ""},
    [NUM_SIZE] = {"size", " (want N, Nk, Nm or Ng)"},
    [NUM_DURATION] = {"duration", " (want N, Ns, Nm, Nh, Nd or Nw)"},
};

static const struct num_spec *
num_spec_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(num_specs) / sizeof(num_specs[0]); i++) {
		if (strcmp(num_specs[i].section, section) == 0 &&
		    strcmp(num_specs[i].name, name) == 0)
			return &num_specs[i];
	}
	return NULL;
}

/* Unit letters, the largest of each kind first (config_num_format
 * writes the first that divides exactly). */
static const struct {
	enum num_kind kind;
	char letter;
	long mult;
} num_units[] = {
    {NUM_SIZE, 'g', GIB},
    {NUM_SIZE, 'm', MIB},
    {NUM_SIZE, 'k', KIB},
    {NUM_DURATION, 'd', 86400},
    {NUM_DURATION, 'h', 3600},
    {NUM_DURATION, 'm', 60},
    {NUM_DURATION, 's', 1},
    /* Read, never written: after 's', which divides everything. */
    {NUM_DURATION, 'w', 7 * 86400},
};

/* Multiplier of a unit letter ('\0' for none); 0 if not allowed.  Size
 * units take either case; "M" for minutes would be a guess. */
static long
num_unit(enum num_kind kind, char letter)
{
	size_t i;

	if (letter == '\0')
		return 1;
	if (kind == NUM_SIZE)
		letter = (char)tolower((unsigned char)letter);
	for (i = 0; i < sizeof(num_units) / sizeof(num_units[0]); i++) {
		if (num_units[i].kind == kind && num_units[i].letter == letter)
			return num_units[i].mult;
	}
	return 0;
}

/* Digits and an optional unit letter.  Overflow gives LONG_MAX, which
 * every range rejects.  Returns 0, or -1 on bad syntax. */
static int
num_parse(const char *s, enum num_kind kind, long *out)
{
	long n = 0, mult;
	int overflow = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (LONG_MAX - (*s - '0')) / 10)
			overflow = 1;
		else
			n = n * 10 + (*s - '0');
	}
	mult = num_unit(kind, *s);
	if (mult == 0 || (*s != '\0' && s[1] != '\0'))
		return -1;
	*out = overflow || n > LONG_MAX / mult ? LONG_MAX : n * mult;
	return 0;
}

/* Format n in the largest unit that divides it exactly. */
char *
config_num_format(char *buf, size_t size, enum num_kind kind,
                  unsigned long long n)
{
	size_t i;

	for (i = 0; i < sizeof(num_units) / sizeof(num_units[0]); i++) {
		unsigned long long mult = (unsigned long long)num_units[i].mult;

		if (num_units[i].kind != kind || n == 0 || n % mult != 0)
			continue;
		snprintf(buf, size, "%llu%c", n / mult, num_units[i].letter);
		return buf;
	}
	snprintf(buf, size, kind == NUM_DURATION ? "%llus" : "%llu", n);
	return buf;
}

static int
num_cb(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	const struct num_spec *spec = num_spec_find(cfg->name, opt->name);
	char lo[32], hi[32];
	long n;

	if (spec == NULL) {
		cfg_error(cfg, "%s: no range defined", opt->name);
		return -1;
	}
	if (num_parse(value, spec->kind, &n) < 0) {
		cfg_error(cfg, "%s: invalid %s '%s'%s", opt->name,
		          num_kind_text[spec->kind].word, value,
		          num_kind_text[spec->kind].hint);
		return -1;
	}
	if (n < spec->min || n > spec->max) {
		cfg_error(
		    cfg, "%s: %s out of range (%s..%s)", opt->name, value,
		    config_num_format(lo, sizeof(lo), spec->kind, spec->min),
		    config_num_format(hi, sizeof(hi), spec->kind, spec->max));
		return -1;
	}
	*(long *)result = n;
	return 0;
}

/* Words: each value's index is the enum it stands for. */

const char *const config_target_words[] = {"stderr", "syslog", NULL};

const char *const config_level_words[] = {
    [LOG_LEVEL_ERROR] = "error",  [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_INFO] = "info",    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_DEBUG + 1] = NULL,
};

const char *const config_trace_words[] = {"smtp",   "upstream", "filter",
                                          "config", "all",      NULL};
const unsigned int config_trace_bits[] = {LOG_TRACE_SMTP, LOG_TRACE_UPSTREAM,
                                          LOG_TRACE_FILTER, LOG_TRACE_CONFIG,
                                          LOG_TRACE_ALL};

const char *const config_identity_words[] = {
    [CONFIG_IDENTITY_AUTO] = "auto",
    [CONFIG_IDENTITY_XCLIENT] = "xclient",
    [CONFIG_IDENTITY_XFORWARD] = "xforward",
    [CONFIG_IDENTITY_NONE] = "none",
    [CONFIG_IDENTITY_PROXY] = "proxy",
    [CONFIG_IDENTITY_PROXY + 1] = NULL,
};

const char *const config_bare_eol_words[] = {
    [CONFIG_BARE_EOL_REJECT] = "reject",
    [CONFIG_BARE_EOL_NORMALIZE] = "normalize",
    [CONFIG_BARE_EOL_NORMALIZE + 1] = NULL,
};

struct enum_spec {
	const char *section;
	const char *name;
	const char *const *words;
	const char *want;
};

static const struct enum_spec enum_specs[] = {
    {"log", "target", config_target_words, "stderr or syslog"},
    {"log", "level", config_level_words, "error, warning, info or debug"},
    {"log", "trace", config_trace_words,
     "smtp, upstream, filter, config or all"},
    {"upstream", "client_identity", config_identity_words,
     "auto, xclient, xforward, none or proxy"},
    {"upstream", "tls", config_upstream_tls_words,
     "none, opportunistic or required"},
    {"limits", "bare_line_ending", config_bare_eol_words,
     "reject or normalize"},
    {"filter", "dns_error", config_dns_error_words, "tempfail or accept"},
    {"milter", "on_error", config_dns_error_words, "tempfail or accept"},
    {"tls", "verify_client", config_tls_verify_words,
     "none, optional or require"},
    {"tls", "min_version", tls_version_words,
     "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3"},
    {"listener", "tls", config_tls_mode_words, "none, starttls or implicit"},
    {"filter", "canonicalization", config_canon_words,
     "simple/simple, simple/relaxed, relaxed/simple or relaxed/relaxed"},
    {"filter", "missing_from", config_missing_from_words, "skip or reject"},
    {"filter", "long_header_lines", config_long_lines_words, "fold or reject"},
    {"filter", "on_fail", config_spf_result_words, "reject, tag or accept"},
    {"filter", "on_softfail", config_spf_result_words, "tag, reject or accept"},
    {"filter", "on_permerror", config_spf_result_words,
     "tag, reject or accept"},
    {"filter", "on_temperror", config_spf_temperror_words,
     "tempfail or accept"},
    {"filter", "on_reject", config_dmarc_action_words,
     "reject, hold, tag or accept"},
    {"filter", "on_quarantine", config_dmarc_action_words,
     "tag, hold, reject or accept"},
};

int
config_word_index(const char *const *words, const char *s)
{
	int i;

	for (i = 0; words[i] != NULL; i++) {
		if (strcmp(words[i], s) == 0)
			return i;
	}
	return -1;
}

const char *
config_opt_last_str(cfg_opt_t *opt)
{
	unsigned int n = cfg_opt_size(opt);

	return n > 0 ? cfg_opt_getnstr(opt, n - 1) : NULL;
}

int
config_enum_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	size_t i;

	if (value == NULL)
		return 0;
	for (i = 0; i < sizeof(enum_specs) / sizeof(enum_specs[0]); i++) {
		const struct enum_spec *spec = &enum_specs[i];

		if (strcmp(spec->section, cfg->name) != 0 ||
		    strcmp(spec->name, opt->name) != 0)
			continue;
		if (config_word_index(spec->words, value) >= 0)
			return 0;
		cfg_error(cfg, "%s: unknown value '%s' (want %s)", opt->name,
		          value, spec->want);
		return -1;
	}
	cfg_error(cfg, "%s: no values defined", opt->name);
	return -1;
}

static int
facility_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (log_facility_parse(value) >= 0)
		return 0;
	cfg_error(cfg,
	          "%s: unknown syslog facility '%s' "
	          "(want mail, daemon or local0..local7)",
	          opt->name, value);
	return -1;
}

/* Strings. */

int
config_hostname_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CONFIG_NAME_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == len;
}

int
config_hostname_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (config_hostname_ok(value))
		return 0;
	cfg_error(cfg, "%s: invalid host name '%s'", opt->name, value);
	return -1;
}

int
config_path_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	if (config_opt_last_str(opt)[0] != '\0')
		return 0;
	cfg_error(cfg, "%s: empty path", opt->name);
	return -1;
}

int
config_score_parse(const char *s, double *score_r)
{
	char *end;
	double d;

	if (strcmp(s, "off") == 0) {
		*score_r = -1.0;
		return 0;
	}
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(d >= -1000.0) ||
	    !(d <= 100000.0))
		return -1;
	*score_r = d;
	return 0;
}

/* A spam threshold: a number, or "off". */
int
config_score_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	double d;

	if (value == NULL || config_score_parse(value, &d) == 0)
		return 0;
	cfg_error(cfg, "%s: invalid score '%s' (want a number or off)",
	          opt->name, value);
	return -1;
}

/* The account postern runs as must exist when the file is read. */
static int
user_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (getpwnam(value) != NULL)
		return 0;
	cfg_error(cfg, "%s: unknown user '%s'", opt->name, value);
	return -1;
}

int
config_cidr_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt), *reason;
	struct netlist *scratch;
	int rc;

	if (value == NULL)
		return 0;
	scratch = netlist_new();
	rc = netlist_add(scratch, value, &reason);
	netlist_free(&scratch);
	if (rc == 0)
		return 0;
	cfg_error(cfg, "%s: %s: %s", opt->name, value, reason);
	return -1;
}

/* A DNS name: labels of 1..63 letters, digits, '-' or '_', an optional
 * final dot. */
static int
zone_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > 254)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

static int
zone_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (value == NULL || zone_name_ok(value))
		return 0;
	cfg_error(cfg, "%s: invalid zone name '%s'", opt->name, value);
	return -1;
}

/* Addresses. */

/* "address" or "address@port", as libunbound takes a forwarder. */
static int
forwarder_parse(const char *s, const char **reason_r)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *at = strchr(s, '@');
	size_t len = at != NULL ? (size_t)(at - s) : strlen(s);
	long port;

	*reason_r = "not an IP address";
	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 &&
	    inet_pton(AF_INET6, addr, bin) != 1)
		return -1;
	*reason_r = "invalid port";
	if (at != NULL && (num_parse(at + 1, NUM_COUNT, &port) < 0 ||
	                   port < 1 || port > 65535))
		return -1;
	return 0;
}

static int
forwarder_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt), *reason;

	if (value == NULL || forwarder_parse(value, &reason) == 0)
		return 0;
	cfg_error(cfg, "%s: %s: %s (want address or address@port)", opt->name,
	          value, reason);
	return -1;
}

static int
same_endpoint(const struct netaddr *a, const struct netaddr *b)
{
	return netaddr_ip_equal(a, b) && netaddr_port(a) == netaddr_port(b);
}

/* Another listener already parsed with address a, or NULL. */
static cfg_t *
listener_with_address(cfg_t *self, const struct netaddr *a)
{
	cfg_opt_t *opt = cfg_getopt(config_parsing->root, "listener");
	unsigned int i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		cfg_t *sec = cfg_opt_getnsec(opt, i);
		const char *s = cfg_getstr(sec, "address"), *reason;
		struct netaddr b;

		if (sec == self || s == NULL ||
		    netaddr_parse_endpoint(s, 0, &b, &reason) < 0)
			continue;
		if (same_endpoint(a, &b))
			return sec;
	}
	return NULL;
}

static int
listener_address_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt), *reason;
	struct netaddr a;
	cfg_t *other;

	if (netaddr_parse_endpoint(value, 0, &a, &reason) < 0) {
		cfg_error(cfg, "address: %s: %s", value, reason);
		return -1;
	}
	if (a.ss.ss_family != AF_INET && a.ss.ss_family != AF_INET6) {
		cfg_error(cfg, "address: %s: a listener needs ip:port", value);
		return -1;
	}
	other = listener_with_address(cfg, &a);
	if (other != NULL) {
		cfg_error(cfg, "address: %s already used by listener %s", value,
		          cfg_title(other));
		return -1;
	}
	return 0;
}

static int
upstream_address_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt), *reason;
	struct netaddr a;

	if (netaddr_parse_endpoint(value, 0, &a, &reason) == 0)
		return 0;
	cfg_error(cfg, "address: %s: %s", value, reason);
	return -1;
}

/* Sections. */

/*
 * libconfuse keeps no line for a section and validates a section at its
 * closing brace.  So every section has a hidden list option whose default
 * ("{0}") libconfuse parses when it creates the section at the opening
 * brace; this parse callback stores the line there, and errors about a
 * whole section point at its start.
 */
static int
section_line_cb(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	if (strcmp(value, "0") != 0) {
		cfg_error(cfg, "no such option '%s'", opt->name);
		return -1;
	}
	*(long *)result = cfg->line;
	return 0;
}

int
config_section_line(cfg_t *sec)
{
	return (int)cfg_getnint(sec, CONFIG_SECTION_LINE, 0);
}

cfg_t *
config_section_last(cfg_opt_t *opt)
{
	return cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
}

/* Sections allowed once are declared CFGF_MULTI so that a second one is
 * an error here rather than silently merged into the first. */
static int
section_single_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_size(opt) <= 1)
		return 0;
	config_parse_error(config_parsing,
	                   config_section_line(config_section_last(opt)),
	                   "duplicate %s section", opt->name);
	return -1;
}

static int
listener_done_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = config_section_last(opt);

	if (cfg_getstr(sec, "address") != NULL)
		return 0;
	config_parse_error(config_parsing, config_section_line(sec),
	                   "listener %s: no address", cfg_title(sec));
	return -1;
}

/* A section given once, with an address (upstream, milter). */
static int
single_with_address_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = config_section_last(opt);

	if (section_single_cb(cfg, opt) < 0)
		return -1;
	if (cfg_getstr(sec, "address") != NULL)
		return 0;
	config_parse_error(config_parsing, config_section_line(sec),
	                   "%s: no address", cfg_opt_name(opt));
	return -1;
}

static int
limits_done_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = config_section_last(opt);
	long sessions = cfg_getint(sec, "sessions");
	long per_client = cfg_getint(sec, "sessions_per_client");

	if (section_single_cb(cfg, opt) < 0)
		return -1;
	if (per_client <= sessions)
		return 0;
	config_parse_error(
	    config_parsing, config_section_line(sec),
	    "limits: sessions_per_client %ld exceeds sessions %ld", per_client,
	    sessions);
	return -1;
}

/* libmilter's socket syntax: inet:PORT@HOST, inet6:PORT@HOST or
 * unix:PATH; the file may also write inet:HOST:PORT and
 * inet6:[HOST]:PORT, which config_build.c converts. */
/* An octal file mode, as chmod(1) takes it: "0660". */
int
config_octal_mode(const char *text, unsigned int *mode_r)
{
	char *end;
	unsigned long v;

	if (text == NULL || *text < '0' || *text > '7')
		return -1;
	v = strtoul(text, &end, 8);
	if (*end != '\0' || v > 0777)
		return -1;
	*mode_r = (unsigned int)v;
	return 0;
}

static int
milter_mode_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	unsigned int mode;

	if (value == NULL || config_octal_mode(value, &mode) == 0)
		return 0;
	cfg_error(cfg, "socket_mode: %s: want an octal mode such as 0660",
	          value);
	return -1;
}

static int
milter_address_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (value == NULL)
		return 0;
	if (strncmp(value, "unix:", 5) == 0 && value[5] == '/' &&
	    strlen(value) < 100)
		return 0;
	if ((strncmp(value, "inet:", 5) == 0 ||
	     strncmp(value, "inet6:", 6) == 0) &&
	    strlen(value) < 300 && strpbrk(value, ":@") != NULL)
		return 0;
	cfg_error(cfg,
	          "address: %s: want inet:HOST:PORT, "
	          "inet6:[HOST]:PORT or unix:/PATH",
	          value);
	return -1;
}

/* The grammar. */

static cfg_t *
config_cfg_new(void)
{
	/* libconfuse wants a writable string for list defaults. */
	char line_default[] = "{0}";
	cfg_opt_t log_opts[] = {CFG_STR("target", "stderr", CFGF_NONE),
	                        CFG_STR("facility", "mail", CFGF_NONE),
	                        CFG_STR("level", "info", CFGF_NONE),
	                        CFG_STR_LIST("trace", NULL, CFGF_NONE),
	                        CFG_INT_LIST_CB(CONFIG_SECTION_LINE,
	                                        line_default, CFGF_NONE,
	                                        section_line_cb),
	                        CFG_END()};
	cfg_opt_t listener_opts[] = {
	    CFG_STR("address", NULL, CFGF_NODEFAULT),
	    CFG_BOOL("outbound", cfg_false, CFGF_NONE),
	    CFG_INT_CB("backlog", 128, CFGF_NONE, num_cb),
	    CFG_STR("tls", NULL, CFGF_NODEFAULT),
	    CFG_BOOL("proxy_protocol", cfg_false, CFGF_NONE),
	    CFG_STR_LIST("proxy_networks", NULL, CFGF_NONE),
	    CFG_INT_CB("proxy_timeout", 5, CFGF_NONE, num_cb),
	    CFG_BOOL("auth_without_tls", cfg_false, CFGF_NONE),
	    CFG_STR("source_address", NULL, CFGF_NODEFAULT),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t upstream_opts[] = {
	    CFG_STR("address", NULL, CFGF_NODEFAULT),
	    CFG_STR("helo_name", NULL, CFGF_NODEFAULT),
	    CFG_STR("client_identity", "auto", CFGF_NONE),
	    CFG_INT_CB("connect_timeout", 30, CFGF_NONE, num_cb),
	    CFG_INT_CB("command_timeout", 5 * 60, CFGF_NONE, num_cb),
	    CFG_INT_CB("data_timeout", 10 * 60, CFGF_NONE, num_cb),
	    CFG_STR("tls", "none", CFGF_NONE),
	    CFG_STR("ca_file", NULL, CFGF_NODEFAULT),
	    CFG_STR("verify_name", NULL, CFGF_NODEFAULT),
	    CFG_STR("source_address", NULL, CFGF_NODEFAULT),
	    CFG_STR("source_table", NULL, CFGF_NODEFAULT),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t limits_opts[] = {
	    CFG_INT_CB("command_line", 512, CFGF_NONE, num_cb),
	    CFG_INT_CB("text_line", 1000, CFGF_NONE, num_cb),
	    CFG_INT_CB("message_size", 50 * MIB, CFGF_NONE, num_cb),
	    CFG_INT_CB("recipients", 100, CFGF_NONE, num_cb),
	    CFG_INT_CB("sessions", 1000, CFGF_NONE, num_cb),
	    CFG_INT_CB("sessions_per_client", 20, CFGF_NONE, num_cb),
	    CFG_INT_CB("errors", 10, CFGF_NONE, num_cb),
	    CFG_INT_CB("idle_timeout", 5 * 60, CFGF_NONE, num_cb),
	    CFG_INT_CB("data_timeout", 10 * 60, CFGF_NONE, num_cb),
	    CFG_INT_CB("spool_memory", 1 * MIB, CFGF_NONE, num_cb),
	    CFG_STR("bare_line_ending", "reject", CFGF_NONE),
	    CFG_INT_CB("auth_failures", 5, CFGF_NONE, num_cb),
	    CFG_INT_CB("auth_lockout", 15 * 60, CFGF_NONE, num_cb),
	    CFG_INT_CB("auth_delay", 1, CFGF_NONE, num_cb),
	    CFG_INT_CB("auth_delay_max", 16, CFGF_NONE, num_cb),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t milter_opts[] = {
	    CFG_STR("address", NULL, CFGF_NODEFAULT),
	    CFG_STR_LIST("outbound_daemons", NULL, CFGF_NONE),
	    CFG_STR("on_error", "tempfail", CFGF_NONE),
	    CFG_INT_CB("timeout", 5 * 60, CFGF_NONE, num_cb),
	    CFG_STR("socket_mode", "0660", CFGF_NONE),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t metrics_opts[] = {CFG_STR("address", NULL, CFGF_NODEFAULT),
	                            CFG_STR_LIST("allow", NULL, CFGF_NONE),
	                            CFG_INT_LIST_CB(CONFIG_SECTION_LINE,
	                                            line_default, CFGF_NONE,
	                                            section_line_cb),
	                            CFG_END()};
	cfg_opt_t history_opts[] = {
	    CFG_STR("path", "/var/lib/postern/history.db", CFGF_NONE),
	    CFG_INT_CB("retention", 30 * 86400, CFGF_NONE, num_cb),
	    CFG_INT_CB("max_rows", 0, CFGF_NONE, num_cb),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t dns_opts[] = {
	    CFG_STR_LIST("forwarders", NULL, CFGF_NONE),
	    CFG_INT_CB("timeout", CONFIG_DNS_TIMEOUT, CFGF_NONE, num_cb),
	    CFG_STR("trust_anchor", NULL, CFGF_NODEFAULT),
	    CFG_STR_LIST("nodefault_zones", NULL, CFGF_NONE),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	/* The options of every filter; each filter's entry in
	 * config_build.c says which are its own. */
	cfg_opt_t filter_opts[] = {
	    CFG_INT_CB("max_signatures", 5, CFGF_NONE, num_cb),
	    CFG_INT_CB("min_key_bits", 1024, CFGF_NONE, num_cb),
	    CFG_STR("dns_error", "tempfail", CFGF_NONE),
	    CFG_STR("authserv_id", NULL, CFGF_NODEFAULT),
	    CFG_STR("key_table", NULL, CFGF_NODEFAULT),
	    CFG_STR("signing_table", NULL, CFGF_NODEFAULT),
	    CFG_STR("canonicalization", "relaxed/relaxed", CFGF_NONE),
	    CFG_STR_LIST("sign_headers", NULL, CFGF_NONE),
	    CFG_STR_LIST("oversign_headers", NULL, CFGF_NONE),
	    CFG_STR("missing_from", "skip", CFGF_NONE),
	    CFG_STR("long_header_lines", "fold", CFGF_NONE),
	    CFG_STR("on_fail", "reject", CFGF_NONE),
	    CFG_STR("on_softfail", "tag", CFGF_NONE),
	    CFG_STR("on_permerror", "tag", CFGF_NONE),
	    CFG_STR("on_temperror", "tempfail", CFGF_NONE),
	    CFG_BOOL("check_helo", cfg_false, CFGF_NONE),
	    CFG_STR_LIST("trusted_forwarders", NULL, CFGF_NONE),
	    CFG_STR("on_reject", "reject", CFGF_NONE),
	    CFG_STR("on_quarantine", "tag", CFGF_NONE),
	    CFG_STR("psl_file", NULL, CFGF_NODEFAULT),
	    CFG_STR("record_file", NULL, CFGF_NODEFAULT),
	    CFG_STR_LIST("rules", NULL, CFGF_NONE),
	    CFG_STR_LIST("plugins", NULL, CFGF_NONE),
	    CFG_INT_CB("match_limit", 100000, CFGF_NONE, num_cb),
	    CFG_INT_CB("max_size", 1 * MIB, CFGF_NONE, num_cb),
	    CFG_STR("tag_score", "5.0", CFGF_NONE),
	    CFG_STR("hold_score", "off", CFGF_NONE),
	    CFG_STR("reject_score", "15.0", CFGF_NONE),
	    CFG_STR("outbound_tag_score", "off", CFGF_NONE),
	    CFG_STR("outbound_hold_score", "off", CFGF_NONE),
	    CFG_STR("outbound_reject_score", "off", CFGF_NONE),
	    CFG_STR("subject_tag", NULL, CFGF_NODEFAULT),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t tls_opts[] = {
	    CFG_STR("certificate", NULL, CFGF_NODEFAULT),
	    CFG_STR("key", NULL, CFGF_NODEFAULT),
	    CFG_STR("chain", NULL, CFGF_NODEFAULT),
	    CFG_STR("ca_file", NULL, CFGF_NODEFAULT),
	    CFG_STR("verify_client", "none", CFGF_NONE),
	    CFG_STR("min_version", "TLSv1.2", CFGF_NONE),
	    CFG_STR("ciphers", NULL, CFGF_NODEFAULT),
	    CFG_STR("ciphersuites", NULL, CFGF_NODEFAULT),
	    CFG_INT_CB("handshake_timeout", 60, CFGF_NONE, num_cb),
	    CFG_INT_LIST_CB(CONFIG_SECTION_LINE, line_default, CFGF_NONE,
	                    section_line_cb),
	    CFG_END()};
	cfg_opt_t opts[] = {
	    CFG_STR("hostname", NULL, CFGF_NODEFAULT),
	    CFG_INT_CB("workers", 4, CFGF_NONE, num_cb),
	    CFG_INT_CB("drain_timeout", 30, CFGF_NONE, num_cb),
	    CFG_STR("spool_dir", "/var/tmp", CFGF_NONE),
	    CFG_STR("quarantine_dir", "/var/spool/postern/quarantine",
	            CFGF_NONE),
	    CFG_STR("pid_file", NULL, CFGF_NODEFAULT),
	    CFG_STR("user", NULL, CFGF_NODEFAULT),
	    CFG_SEC("log", log_opts, CFGF_MULTI),
	    CFG_SEC("listener", listener_opts,
	            CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_SEC("upstream", upstream_opts, CFGF_MULTI),
	    CFG_SEC("limits", limits_opts, CFGF_MULTI),
	    CFG_STR_LIST("xclient_networks", NULL, CFGF_NONE),
	    CFG_STR_LIST("internal_networks", NULL, CFGF_NONE),
	    CFG_SEC("dns", dns_opts, CFGF_MULTI),
	    CFG_SEC("milter", milter_opts, CFGF_MULTI),
	    CFG_SEC("metrics", metrics_opts, CFGF_MULTI),
	    CFG_SEC("history", history_opts, CFGF_MULTI),
	    CFG_SEC("tls", tls_opts, CFGF_MULTI),
	    CFG_SEC("filter", filter_opts,
	            CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	    CFG_END()};
	cfg_t *root = cfg_init(opts, CFGF_NONE);

	if (root == NULL)
		abort(); /* out of memory, as xmalloc() would */
	return root;
}

static const struct {
	const char *path;
	cfg_validate_callback_t cb;
} config_validators[] = {
    {"hostname", config_hostname_check_cb},
    {"spool_dir", config_path_check_cb},
    {"quarantine_dir", config_path_check_cb},
    {"pid_file", config_path_check_cb},
    {"user", user_check_cb},
    {"xclient_networks", config_cidr_check_cb},
    {"internal_networks", config_cidr_check_cb},
    {"log", section_single_cb},
    {"log|target", config_enum_check_cb},
    {"log|facility", facility_check_cb},
    {"log|level", config_enum_check_cb},
    {"log|trace", config_enum_check_cb},
    {"listener", listener_done_cb},
    {"listener|address", listener_address_cb},
    {"listener|proxy_networks", config_cidr_check_cb},
    {"upstream", single_with_address_cb},
    {"upstream|address", upstream_address_cb},
    {"upstream|helo_name", config_hostname_check_cb},
    {"upstream|client_identity", config_enum_check_cb},
    {"limits", limits_done_cb},
    {"limits|bare_line_ending", config_enum_check_cb},
    {"dns", section_single_cb},
    {"milter", single_with_address_cb},
    {"milter|address", milter_address_cb},
    {"milter|on_error", config_enum_check_cb},
    {"milter|socket_mode", milter_mode_cb},
    {"metrics", single_with_address_cb},
    {"metrics|allow", config_cidr_check_cb},
    {"history", section_single_cb},
    {"history|path", config_path_check_cb},
    {"dns|forwarders", forwarder_check_cb},
    {"dns|trust_anchor", config_path_check_cb},
    {"dns|nodefault_zones", zone_check_cb},
};

static void
config_set_validators(cfg_t *root)
{
	size_t i;

	for (i = 0;
	     i < sizeof(config_validators) / sizeof(config_validators[0]); i++)
		cfg_set_validate_func(root, config_validators[i].path,
		                      config_validators[i].cb);
	config_filter_validators_set(root);
	config_tls_validators_set(root);
	config_upstream_validators_set(root);
}

/* Parsing. */

static int
config_check_sections(struct config_parse *p, cfg_t *root)
{
	static const char *const optional[] = {"log", "limits"};
	size_t i;

	/* A milter-only postern needs neither. */
	if (cfg_size(root, "listener") == 0 && cfg_size(root, "milter") == 0) {
		config_parse_error(p, 0, "no listener section");
		return -1;
	}
	if (cfg_size(root, "upstream") == 0 && cfg_size(root, "listener") > 0) {
		config_parse_error(p, 0, "no upstream section");
		return -1;
	}
	/* An absent section is made empty, so it holds the defaults. */
	for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		cfg_opt_t *opt = cfg_getopt(root, optional[i]);

		if (cfg_opt_size(opt) == 0 &&
		    cfg_setopt(root, opt, NULL) == NULL)
			abort();
	}
	return 0;
}

static cfg_t *
config_parse_text(struct config_parse *p, const char *text)
{
	cfg_t *root = config_cfg_new();
	int rc;

	cfg_set_error_function(root, config_cfg_error);
	config_set_validators(root);

	p->root = root;
	config_parsing = p;
	rc = cfg_parse_buf(root, text) == CFG_SUCCESS ? 0 : -1;
	if (rc == 0)
		rc = config_check_sections(p, root);
	config_parsing = NULL;
	p->root = NULL;

	if (rc < 0) {
		if (p->error == NULL)
			config_parse_error(p, 0, "parse error");
		cfg_free(root);
		return NULL;
	}
	return root;
}

struct config *
config_load(const char *path, char **error_r)
{
	struct config_parse p = {.path = path};
	struct config *c = NULL;
	cfg_t *root = NULL;
	char *text;
	size_t len;

	*error_r = NULL;
	text = config_file_read(path, &len, &p.error);
	if (text == NULL)
		goto out;
	root = config_parse_text(&p, text);
	if (root == NULL)
		goto out;
	c = config_build(&p, root);
out:
	if (root != NULL)
		cfg_free(root);
	free(text);
	if (c == NULL)
		*error_r =
		    p.error != NULL ? p.error : xasprintf("%s: error", path);
	else
		free(p.error);
	return c;
}

/* Life cycle. */

void
config_ref(struct config *cfg)
{
	__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
}

void
config_unref(struct config **cfgp)
{
	struct config *c = *cfgp;

	if (c == NULL)
		return;
	*cfgp = NULL;
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	config_free(c);
}

const struct config_listener *
config_listener_find(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nlisteners; i++) {
		if (strcmp(cfg->listeners[i].name, name) == 0)
			return &cfg->listeners[i];
	}
	return NULL;
}
