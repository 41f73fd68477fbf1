/*
 * config_build.c - turn the checked tree into a struct config.
 *
 * Copies every value of the tree config.c has parsed and checked into a
 * new struct config with one reference, and frees it again on the last
 * reference.  Starts the resolver when the file has a dns section or a
 * filter needs DNS.  Holds the table that maps a filter section's title
 * to the options it accepts and the constructor that adds the filter to
 * the chain; the chain is built in file order.  What can still fail here
 * is what the parser cannot know (the system host name, the resolver
 * starting, key files) or a filter refusing its section; errors go to
 * config_parse_error() like the parser's.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "filters/filter.h"
#include "filters/filter_authres.h"
#include "filters/filter_dkim.h"
#include "filters/filter_dmarc.h"
#include "filters/filter_received.h"
#include "filters/filter_spf.h"
#include "proxy/config.h"
#include "proxy/config_private.h"
#include "sign/sign_keys.h"
#include "util/dns.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* A NULL-terminated array of allocated strings; NULL is fine. */
static void
strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Words of the filters' enumerated options; see config_private.h. */

const char *const config_dns_error_words[] = {"tempfail", "accept", NULL};

const char *const config_canon_words[] = {"simple/simple", "simple/relaxed",
                                          "relaxed/simple", "relaxed/relaxed",
                                          NULL};

const char *const config_missing_from_words[] = {
    [FILTER_DKIM_FROM_SKIP] = "skip",
    [FILTER_DKIM_FROM_REJECT] = "reject",
    [FILTER_DKIM_FROM_REJECT + 1] = NULL,
};

const char *const config_long_lines_words[] = {
    [FILTER_DKIM_LONG_FOLD] = "fold",
    [FILTER_DKIM_LONG_REJECT] = "reject",
    [FILTER_DKIM_LONG_REJECT + 1] = NULL,
};

const char *const config_dmarc_action_words[] = {
    [FILTER_DMARC_ACCEPT] = "accept", [FILTER_DMARC_TAG] = "tag",
    [FILTER_DMARC_REJECT] = "reject", [FILTER_DMARC_HOLD] = "hold",
    [FILTER_DMARC_HOLD + 1] = NULL,
};

const char *const config_spf_action_words[] = {
    [FILTER_SPF_ACCEPT] = "accept",   [FILTER_SPF_TAG] = "tag",
    [FILTER_SPF_REJECT] = "reject",   [FILTER_SPF_TEMPFAIL] = "tempfail",
    [FILTER_SPF_TEMPFAIL + 1] = NULL,
};

const char *const config_spf_result_words[] = {"reject", "tag", "accept", NULL};

const char *const config_spf_temperror_words[] = {"tempfail", "accept", NULL};

/* Filters, by name. */

static int
filter_make_received(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                     char **settings_r, char **error_r)
{
	filter_received_add(chain, cfg->hostname);
	*settings_r = xstrdup("");
	return 0;
}

static int
filter_make_dkim_verify(struct filter_chain *chain, struct config *cfg,
                        cfg_t *sec, char **settings_r, char **error_r)
{
	const char *dns_error = cfg_getstr(sec, "dns_error"), *reason;
	struct filter_dkim_verify_opts o = {
	    .dns = cfg->dns,
	    .max_signatures = (unsigned int)cfg_getint(sec, "max_signatures"),
	    .min_key_bits = (unsigned int)cfg_getint(sec, "min_key_bits"),
	    .tempfail_on_dns_error =
	        config_word_index(config_dns_error_words, dns_error) == 0,
	};

	if (filter_dkim_verify_add(chain, &o, &reason) < 0) {
		*error_r = xstrdup(reason);
		return -1;
	}
	*settings_r = xasprintf("max_signatures %u min_key_bits %u "
	                        "dns_error %s",
	                        o.max_signatures, o.min_key_bits, dns_error);
	return 0;
}

static int
filter_make_authres(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                    char **settings_r, char **error_r)
{
	const char *id = cfg_getstr(sec, "authserv_id");

	if (id == NULL)
		id = cfg->hostname;
	filter_authres_add(chain, id);
	*settings_r = xasprintf("authserv_id %s", id);
	return 0;
}

/* dkim_sign's header lists: NULL when not set (the signer's default),
 * else the names lowercased, as libopendkim wants them. */
static char **
sign_field_list(cfg_t *sec, const char *name, size_t *n_r)
{
	cfg_opt_t *opt = cfg_getopt(sec, name);
	char **list;
	size_t i, j;

	*n_r = 0;
	if ((opt->flags & CFGF_MODIFIED) == 0)
		return NULL;
	*n_r = cfg_opt_size(opt);
	list = xcalloc(*n_r + 1, sizeof(*list));
	for (i = 0; i < *n_r; i++) {
		list[i] = xstrdup(cfg_opt_getnstr(opt, (unsigned int)i));
		for (j = 0; list[i][j] != '\0'; j++)
			list[i][j] = (char)tolower((unsigned char)list[i][j]);
	}
	return list;
}

/* "{a, b}" for the summary, "default" for NULL. */
static char *
sign_field_list_text(char *const *list)
{
	char *text, *more;
	size_t i;

	if (list == NULL)
		return xstrdup("default");
	text = xstrdup("{");
	for (i = 0; list[i] != NULL; i++) {
		more = xasprintf("%s%s%s", text, i > 0 ? ", " : "", list[i]);
		free(text);
		text = more;
	}
	more = xasprintf("%s}", text);
	free(text);
	return more;
}

/* The key table, then the signing table whose names must be in it;
 * their errors name their own file and line. */
static int
sign_tables_load(cfg_t *sec, struct filter_dkim_sign_opts *o, char **error_r)
{
	const char *keys = cfg_getstr(sec, "key_table");
	const char *table = cfg_getstr(sec, "signing_table");

	if (keys == NULL || table == NULL) {
		*error_r = xasprintf("no %s", keys == NULL ? "key_table"
		                                           : "signing_table");
		return -1;
	}
	o->keys = sign_keytable_load(keys, error_r);
	if (o->keys == NULL)
		return -1;
	o->table = sign_signtable_load(table, o->keys, error_r);
	if (o->table == NULL) {
		sign_keytable_free(&o->keys);
		return -1;
	}
	return 0;
}

static char *
sign_settings(cfg_t *sec, const struct filter_dkim_sign_opts *o, char **sign,
              char **over)
{
	char *sign_text = sign_field_list_text(sign);
	char *over_text = sign_field_list_text(over);
	char *s;

	s = xasprintf("key_table %s keys %zu signing_table %s "
	              "canonicalization %s sign_headers %s "
	              "oversign_headers %s missing_from %s "
	              "long_header_lines %s",
	              cfg_getstr(sec, "key_table"),
	              sign_keytable_count(o->keys),
	              cfg_getstr(sec, "signing_table"),
	              cfg_getstr(sec, "canonicalization"), sign_text, over_text,
	              config_missing_from_words[o->from_policy],
	              config_long_lines_words[o->long_lines]);
	free(sign_text);
	free(over_text);
	return s;
}

static int
sign_list_has(char *const *list, const char *name)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], name) == 0)
			return 1;
	}
	return 0;
}

static int
filter_make_dkim_sign(struct filter_chain *chain, struct config *cfg,
                      cfg_t *sec, char **settings_r, char **error_r)
{
	struct filter_dkim_sign_opts o = {0};
	char **sign = sign_field_list(sec, "sign_headers", &o.nsign_headers);
	char **over =
	    sign_field_list(sec, "oversign_headers", &o.noversign_headers);
	int canon = config_word_index(config_canon_words,
	                              cfg_getstr(sec, "canonicalization"));
	const char *reason;
	int rc = -1;

	/* RFC 6376 5.4: the From field MUST be signed. */
	if (sign != NULL && !sign_list_has(sign, "from")) {
		*error_r = xstrdup("sign_headers must include from "
		                   "(RFC 6376 5.4)");
		goto out;
	}
	if (sign_tables_load(sec, &o, error_r) < 0)
		goto out;
	o.header_relaxed = canon >> 1;
	o.body_relaxed = canon & 1;
	o.sign_headers = (const char *const *)sign;
	o.oversign_headers = (const char *const *)over;
	o.from_policy = (enum filter_dkim_from_policy)config_word_index(
	    config_missing_from_words, cfg_getstr(sec, "missing_from"));
	o.long_lines = (enum filter_dkim_long_lines)config_word_index(
	    config_long_lines_words, cfg_getstr(sec, "long_header_lines"));
	/* Now: the add hands the tables over. */
	*settings_r = sign_settings(sec, &o, sign, over);
	rc = filter_dkim_sign_add(chain, &o, &reason);
	if (rc < 0) {
		free(*settings_r);
		*settings_r = NULL;
		*error_r = xstrdup(reason);
	}
out:
	strv_free(sign);
	strv_free(over);
	return rc;
}

static int
filter_make_dmarc(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                  char **settings_r, char **error_r)
{
	const char *on_reject = cfg_getstr(sec, "on_reject");
	const char *on_quarantine = cfg_getstr(sec, "on_quarantine");
	struct filter_dmarc_opts o = {
	    .dns = cfg->dns,
	    .on_reject = (enum filter_dmarc_action)config_word_index(
	        config_dmarc_action_words, on_reject),
	    .on_quarantine = (enum filter_dmarc_action)config_word_index(
	        config_dmarc_action_words, on_quarantine),
	    .psl_file = cfg_getstr(sec, "psl_file"),
	    .record_file = cfg_getstr(sec, "record_file"),
	};
	const char *reason;

	if ((o.on_reject == FILTER_DMARC_HOLD ||
	     o.on_quarantine == FILTER_DMARC_HOLD) &&
	    config_quarantine_check(cfg, error_r) < 0)
		return -1;
	if (filter_dmarc_add(chain, &o, &reason) < 0) {
		/* errno says why the record file could not be opened. */
		if (strcmp(reason, "cannot open record_file") == 0)
			*error_r = xasprintf("record_file %s: %s",
			                     o.record_file, strerror(errno));
		else
			*error_r = xstrdup(reason);
		return -1;
	}
	*settings_r = xasprintf("on_reject %s on_quarantine %s psl_file %s "
	                        "record_file %s",
	                        on_reject, on_quarantine,
	                        o.psl_file != NULL ? o.psl_file : "builtin",
	                        o.record_file != NULL ? o.record_file : "none");
	return 0;
}

static enum filter_spf_action
spf_action(cfg_t *sec, const char *name)
{
	return (enum filter_spf_action)config_word_index(
	    config_spf_action_words, cfg_getstr(sec, name));
}

/* trusted_forwarders as a list (NULL when empty) and as text for the
 * summary; the parser checked every entry. */
static int
spf_trusted(cfg_t *sec, struct netlist **list_r, char **text_r, char **error_r)
{
	unsigned int i, n = cfg_size(sec, "trusted_forwarders");
	const char *s, *reason;
	char *more;

	*list_r = NULL;
	*text_r = xstrdup(n > 0 ? "{" : "none");
	for (i = 0; i < n; i++) {
		s = cfg_getnstr(sec, "trusted_forwarders", i);
		if (*list_r == NULL)
			*list_r = netlist_new();
		if (netlist_add(*list_r, s, &reason) < 0) {
			*error_r =
			    xasprintf("trusted_forwarders: %s: %s", s, reason);
			netlist_free(list_r);
			free(*text_r);
			return -1;
		}
		more = xasprintf("%s%s%s%s", *text_r, i > 0 ? ", " : "", s,
		                 i + 1 == n ? "}" : "");
		free(*text_r);
		*text_r = more;
	}
	return 0;
}

static int
filter_make_spf(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                char **settings_r, char **error_r)
{
	struct filter_spf_opts o = {
	    .dns = cfg->dns,
	    .on_fail = spf_action(sec, "on_fail"),
	    .on_softfail = spf_action(sec, "on_softfail"),
	    .on_permerror = spf_action(sec, "on_permerror"),
	    .on_temperror = spf_action(sec, "on_temperror"),
	    .check_helo = cfg_getbool(sec, "check_helo") ? 1 : 0,
	    .hostname = cfg->hostname,
	};
	const char *reason;
	char *trusted;

	if (spf_trusted(sec, &o.trusted, &trusted, error_r) < 0)
		return -1;
	*settings_r = xasprintf(
	    "on_fail %s on_softfail %s on_permerror %s on_temperror %s "
	    "check_helo %s trusted_forwarders %s",
	    config_spf_action_words[o.on_fail],
	    config_spf_action_words[o.on_softfail],
	    config_spf_action_words[o.on_permerror],
	    config_spf_action_words[o.on_temperror],
	    o.check_helo ? "yes" : "no", trusted);
	free(trusted);
	/* Now: the add hands the list over. */
	if (filter_spf_add(chain, &o, &reason) < 0) {
		free(*settings_r);
		*settings_r = NULL;
		*error_r = xstrdup(reason);
		return -1;
	}
	return 0;
}

static const char *const dkim_verify_options[] = {
    "max_signatures", "min_key_bits", "dns_error", NULL};
static const char *const authres_options[] = {"authserv_id", NULL};
static const char *const dkim_sign_options[] = {
    "key_table",        "signing_table", "canonicalization",  "sign_headers",
    "oversign_headers", "missing_from",  "long_header_lines", NULL};
static const char *const dmarc_options[] = {"on_reject", "on_quarantine",
                                            "psl_file", "record_file", NULL};
static const char *const spf_options[] = {"on_fail",
                                          "on_softfail",
                                          "on_permerror",
                                          "on_temperror",
                                          "check_helo",
                                          "trusted_forwarders",
                                          NULL};
static const char *const spam_options[] = {"rules",
                                           "plugins",
                                           "match_limit",
                                           "max_size",
                                           "tag_score",
                                           "hold_score",
                                           "reject_score",
                                           "outbound_tag_score",
                                           "outbound_hold_score",
                                           "outbound_reject_score",
                                           "subject_tag",
                                           NULL};
static const char *const no_options[] = {NULL};

static const struct filter_maker filter_makers[] = {
    {"received", no_options, 0, filter_make_received},
    {"dkim_verify", dkim_verify_options, FILTER_MAKER_DNS,
     filter_make_dkim_verify},
    {"spf", spf_options, FILTER_MAKER_DNS, filter_make_spf},
    {"dmarc", dmarc_options, FILTER_MAKER_DNS, filter_make_dmarc},
    {"spam", spam_options, 0, config_make_spam},
    {"authres", authres_options, 0, filter_make_authres},
    {"dkim_sign", dkim_sign_options, FILTER_MAKER_LAST, filter_make_dkim_sign},
};

const struct filter_maker *
filter_maker_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(filter_makers) / sizeof(filter_makers[0]); i++) {
		if (strcmp(filter_makers[i].name, name) == 0)
			return &filter_makers[i];
	}
	return NULL;
}

int
filter_maker_accepts(const struct filter_maker *m, const char *option)
{
	size_t i;

	for (i = 0; m->options[i] != NULL; i++) {
		if (strcmp(m->options[i], option) == 0)
			return 1;
	}
	return 0;
}

/* Building struct config from the checked tree. */

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].name);
		netlist_free(&c->listeners[i].proxy_networks);
	}
	free(c->listeners);
	free(c->upstream.helo_name);
	config_upstream_free(c);
	config_tls_free(&c->tls);
	netlist_free(&c->xclient_networks);
	netlist_free(&c->internal_networks);
	if (c->milter != NULL) {
		free(c->milter->address);
		free(c->milter->address_text);
		strv_free(c->milter->outbound_daemons);
		free(c->milter);
	}
	if (c->metrics != NULL) {
		free(c->metrics->address_text);
		netlist_free(&c->metrics->allow);
		free(c->metrics);
	}
	if (c->history != NULL) {
		free(c->history->path);
		free(c->history);
	}
	/* Filters keep the resolver: it goes after them. */
	filter_chain_free(&c->chain);
	dns_destroy(&c->dns);
	strv_free(c->filter_settings);
	strv_free(c->dns_conf.forwarders);
	strv_free(c->dns_conf.nodefault_zones);
	free(c->dns_conf.trust_anchor);
	free(c->hostname);
	free(c->spool_dir);
	free(c->quarantine_dir);
	free(c->pid_file);
	free(c->user);
	free(c->path);
	free(c);
}

static int
build_hostname(struct config_parse *p, struct config *c, cfg_t *root)
{
	char name[HOST_NAME_MAX + 1];

	if (cfg_getstr(root, "hostname") != NULL) {
		c->hostname = xstrdup(cfg_getstr(root, "hostname"));
		return 0;
	}
	if (gethostname(name, sizeof(name)) < 0) {
		config_parse_error(p, 0, "gethostname: %s; set hostname",
		                   strerror(errno));
		return -1;
	}
	name[sizeof(name) - 1] = '\0';
	if (!config_hostname_ok(name)) {
		config_parse_error(
		    p, 0, "system host name '%s' is invalid; set hostname",
		    name);
		return -1;
	}
	c->hostname = xstrdup(name);
	return 0;
}

static int
build_main(struct config_parse *p, struct config *c, cfg_t *root)
{
	if (build_hostname(p, c, root) < 0)
		return -1;
	c->workers = (unsigned int)cfg_getint(root, "workers");
	c->drain_timeout = (unsigned int)cfg_getint(root, "drain_timeout");
	c->spool_dir = xstrdup(cfg_getstr(root, "spool_dir"));
	c->quarantine_dir = xstrdup(cfg_getstr(root, "quarantine_dir"));
	if (cfg_getstr(root, "pid_file") != NULL)
		c->pid_file = xstrdup(cfg_getstr(root, "pid_file"));
	if (cfg_getstr(root, "user") != NULL)
		c->user = xstrdup(cfg_getstr(root, "user"));
	return 0;
}

static void
build_log(struct config *c, cfg_t *sec)
{
	unsigned int i;

	c->log_syslog =
	    config_word_index(config_target_words, cfg_getstr(sec, "target"));
	c->log_facility = log_facility_parse(cfg_getstr(sec, "facility"));
	c->log_level =
	    config_word_index(config_level_words, cfg_getstr(sec, "level"));
	for (i = 0; i < cfg_size(sec, "trace"); i++) {
		int w = config_word_index(config_trace_words,
		                          cfg_getnstr(sec, "trace", i));

		c->log_trace |= config_trace_bits[w];
	}
}

/* The address was checked while parsing; parse it again to keep it. */
static int
build_endpoint(struct config_parse *p, cfg_t *sec, struct netaddr *addr)
{
	const char *s = cfg_getstr(sec, "address"), *reason;

	if (netaddr_parse_endpoint(s, 0, addr, &reason) == 0)
		return 0;
	config_parse_error(p, config_section_line(sec), "address: %s: %s", s,
	                   reason);
	return -1;
}

/* PROXY protocol on a listener: only from the networks it names. */
static int
build_listener_proxy(struct config_parse *p, struct config_listener *l,
                     cfg_t *sec)
{
	unsigned int i, n = cfg_size(sec, "proxy_networks");
	const char *reason;

	l->proxy_protocol = cfg_getbool(sec, "proxy_protocol") ? 1 : 0;
	l->proxy_timeout = (unsigned int)cfg_getint(sec, "proxy_timeout");
	if (!l->proxy_protocol)
		return 0;
	if (n == 0) {
		config_parse_error(p, config_section_line(sec),
		                   "listener %s: proxy_protocol needs "
		                   "proxy_networks",
		                   l->name);
		return -1;
	}
	l->proxy_networks = netlist_new();
	for (i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, "proxy_networks", i);

		if (netlist_add(l->proxy_networks, s, &reason) < 0) {
			config_parse_error(p, config_section_line(sec),
			                   "proxy_networks: %s: %s", s, reason);
			return -1;
		}
	}
	return 0;
}

static int
build_listeners(struct config_parse *p, struct config *c, cfg_t *root)
{
	size_t i, n = cfg_size(root, "listener");

	c->listeners = xcalloc(n, sizeof(*c->listeners));
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(root, "listener", (unsigned int)i);
		struct config_listener *l = &c->listeners[i];

		l->name = xstrdup(cfg_title(sec));
		c->nlisteners++;
		if (build_endpoint(p, sec, &l->addr) < 0)
			return -1;
		l->outbound = cfg_getbool(sec, "outbound") ? 1 : 0;
		l->backlog = (unsigned int)cfg_getint(sec, "backlog");
		l->auth_without_tls =
		    cfg_getbool(sec, "auth_without_tls") ? 1 : 0;
		if (build_listener_proxy(p, l, sec) < 0)
			return -1;
	}
	return 0;
}

static int
build_upstream(struct config_parse *p, struct config *c, cfg_t *sec)
{
	struct config_upstream *u = &c->upstream;
	const char *helo;

	if (sec == NULL) { /* milter only: no upstream */
		u->helo_name = xstrdup(c->hostname);
		return 0;
	}
	helo = cfg_getstr(sec, "helo_name");
	if (build_endpoint(p, sec, &u->addr) < 0)
		return -1;
	u->helo_name = xstrdup(helo != NULL ? helo : c->hostname);
	u->identity = (enum config_identity)config_word_index(
	    config_identity_words, cfg_getstr(sec, "client_identity"));
	u->connect_timeout = (unsigned int)cfg_getint(sec, "connect_timeout");
	u->command_timeout = (unsigned int)cfg_getint(sec, "command_timeout");
	u->data_timeout = (unsigned int)cfg_getint(sec, "data_timeout");
	return 0;
}

static void
build_limits(struct config *c, cfg_t *sec)
{
	struct config_limits *l = &c->limits;

	l->command_line = (size_t)cfg_getint(sec, "command_line");
	l->text_line = (size_t)cfg_getint(sec, "text_line");
	l->message_size = (unsigned long long)cfg_getint(sec, "message_size");
	l->recipients = (unsigned int)cfg_getint(sec, "recipients");
	l->sessions = (unsigned int)cfg_getint(sec, "sessions");
	l->sessions_per_client =
	    (unsigned int)cfg_getint(sec, "sessions_per_client");
	l->errors = (unsigned int)cfg_getint(sec, "errors");
	l->idle_timeout = (unsigned int)cfg_getint(sec, "idle_timeout");
	l->data_timeout = (unsigned int)cfg_getint(sec, "data_timeout");
	l->spool_memory = (size_t)cfg_getint(sec, "spool_memory");
	l->bare_eol = (enum config_bare_eol)config_word_index(
	    config_bare_eol_words, cfg_getstr(sec, "bare_line_ending"));
	l->auth_failures = (unsigned int)cfg_getint(sec, "auth_failures");
	l->auth_lockout = (unsigned int)cfg_getint(sec, "auth_lockout");
	l->auth_delay = (unsigned int)cfg_getint(sec, "auth_delay");
	l->auth_delay_max = (unsigned int)cfg_getint(sec, "auth_delay_max");
}

static int
build_netlist(struct config_parse *p, cfg_t *root, const char *name,
              struct netlist **list)
{
	unsigned int i;
	const char *reason;

	*list = netlist_new();
	for (i = 0; i < cfg_size(root, name); i++) {
		const char *s = cfg_getnstr(root, name, i);

		if (netlist_add(*list, s, &reason) < 0) {
			config_parse_error(p, 0, "%s: %s: %s", name, s, reason);
			return -1;
		}
	}
	return 0;
}

static int
build_networks(struct config_parse *p, struct config *c, cfg_t *root)
{
	struct netlist **xclient = &c->xclient_networks;
	struct netlist **internal = &c->internal_networks;

	if (build_netlist(p, root, "xclient_networks", xclient) < 0)
		return -1;
	return build_netlist(p, root, "internal_networks", internal);
}

/* A copy of a string list option, NULL-terminated; NULL if empty. */
static char **
strings_copy(cfg_t *sec, const char *name, size_t *n_r)
{
	char **list;
	size_t i;

	*n_r = cfg_size(sec, name);
	if (*n_r == 0)
		return NULL;
	list = xcalloc(*n_r + 1, sizeof(*list));
	for (i = 0; i < *n_r; i++)
		list[i] = xstrdup(cfg_getnstr(sec, name, (unsigned int)i));
	return list;
}

static void
build_dns_conf(struct config_dns *d, cfg_t *sec)
{
	const char *anchor;

	d->timeout = CONFIG_DNS_TIMEOUT;
	if (sec == NULL)
		return;
	d->forwarders = strings_copy(sec, "forwarders", &d->nforwarders);
	d->nodefault_zones =
	    strings_copy(sec, "nodefault_zones", &d->nnodefault_zones);
	d->timeout = (unsigned int)cfg_getint(sec, "timeout");
	anchor = cfg_getstr(sec, "trust_anchor");
	if (anchor != NULL)
		d->trust_anchor = xstrdup(anchor);
}

/* The line of the first filter that needs DNS; 0 if none does. */
static int
dns_filter_line(cfg_t *root)
{
	unsigned int i;

	for (i = 0; i < cfg_size(root, "filter"); i++) {
		cfg_t *sec = cfg_getnsec(root, "filter", i);
		const struct filter_maker *m =
		    filter_maker_find(cfg_title(sec));

		if (m != NULL && (m->flags & FILTER_MAKER_DNS) != 0)
			return config_section_line(sec);
	}
	return 0;
}

static int
build_dns(struct config_parse *p, struct config *c, cfg_t *root)
{
	cfg_t *sec = cfg_size(root, "dns") > 0 ? cfg_getsec(root, "dns") : NULL;
	const struct config_dns *d = &c->dns_conf;
	struct dns_options o = {0};
	const char *reason;
	int line;

	build_dns_conf(&c->dns_conf, sec);
	/* A resolver is started for a dns section even when no filter
	 * uses it yet, so that its errors show up at once. */
	line = sec != NULL ? config_section_line(sec) : dns_filter_line(root);
	if (line == 0)
		return 0;
	/* dns_create() copies what these point to. */
	o.forwarders = (const char *const *)d->forwarders;
	o.nforwarders = d->nforwarders;
	o.timeout_ms = d->timeout * 1000;
	o.trust_anchor_file = d->trust_anchor;
	o.nodefault_zones = (const char *const *)d->nodefault_zones;
	o.nnodefault_zones = d->nnodefault_zones;
	c->dns = dns_create(&o, &reason);
	if (c->dns != NULL)
		return 0;
	config_parse_error(p, line, "%s", reason);
	return -1;
}

static int
build_chain(struct config_parse *p, struct config *c, cfg_t *root)
{
	unsigned int i, n = cfg_size(root, "filter");
	char *error;

	c->chain = filter_chain_new();
	c->filter_settings = xcalloc(n + 1, sizeof(*c->filter_settings));
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(root, "filter", i);
		const struct filter_maker *maker =
		    filter_maker_find(cfg_title(sec));

		if (maker == NULL) {
			config_parse_error(p, config_section_line(sec),
			                   "unknown filter '%s'",
			                   cfg_title(sec));
			return -1;
		}
		error = NULL;
		if (maker->add(c->chain, c, sec, &c->filter_settings[i],
		               &error) < 0) {
			config_parse_error(p, config_section_line(sec),
			                   "filter %s: %s", maker->name,
			                   error != NULL ? error
			                                 : "cannot be set up");
			free(error);
			return -1;
		}
	}
	return 0;
}

/* "inet:HOST:PORT" or "inet6:[HOST]:PORT" to libmilter's
 * "inet:PORT@HOST"; "PORT@HOST" forms and unix: are kept. */
static char *
milter_address(const char *text)
{
	const char *rest = strchr(text, ':') + 1, *port;
	int plen = (int)(rest - text), hostlen;
	char *end;
	long n;

	if (strncmp(text, "unix:", 5) == 0 || strchr(rest, '@') != NULL)
		return xstrdup(text);
	port = strrchr(rest, ':');
	if (port == NULL || port == rest)
		return NULL;
	n = strtol(port + 1, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return NULL;
	hostlen = (int)(port - rest);
	if (rest[0] == '[') {
		if (hostlen < 3 || port[-1] != ']')
			return NULL;
		rest++;
		hostlen -= 2;
	}
	return xasprintf("%.*s%ld@%.*s", plen, text, n, hostlen, rest);
}

static int
build_milter(struct config_parse *p, struct config *c, cfg_t *root)
{
	cfg_t *sec =
	    cfg_size(root, "milter") > 0 ? cfg_getsec(root, "milter") : NULL;
	struct config_milter *m;
	const char *text;

	if (sec == NULL)
		return 0;
	text = cfg_getstr(sec, "address");
	m = c->milter = xcalloc(1, sizeof(*m));
	m->address_text = xstrdup(text);
	m->address = milter_address(text);
	if (m->address == NULL) {
		config_parse_error(p, config_section_line(sec),
		                   "milter: address %s: bad port or host",
		                   text);
		return -1;
	}
	m->outbound_daemons =
	    strings_copy(sec, "outbound_daemons", &m->noutbound_daemons);
	m->on_error_accept =
	    config_word_index(config_dns_error_words,
	                      cfg_getstr(sec, "on_error")) == 1;
	m->timeout = (unsigned int)cfg_getint(sec, "timeout");
	(void)config_octal_mode(cfg_getstr(sec, "socket_mode"),
	                        &m->socket_mode); /* checked when parsed */
	return 0;
}

static int
build_metrics(struct config_parse *p, struct config *c, cfg_t *root)
{
	cfg_t *sec =
	    cfg_size(root, "metrics") > 0 ? cfg_getsec(root, "metrics") : NULL;
	struct config_metrics *m;
	const char *text, *reason;

	if (sec == NULL)
		return 0;
	text = cfg_getstr(sec, "address");
	m = c->metrics = xcalloc(1, sizeof(*m));
	m->address_text = xstrdup(text);
	if (netaddr_parse_endpoint(text, 0, &m->addr, &reason) < 0 ||
	    m->addr.ss.ss_family == AF_UNIX) {
		config_parse_error(p, config_section_line(sec),
		                   "metrics: address %s: %s", text,
		                   m->addr.ss.ss_family == AF_UNIX
		                       ? "want HOST:PORT"
		                       : reason);
		return -1;
	}
	if (build_netlist(p, sec, "allow", &m->allow) < 0)
		return -1;
	/* No allow list: the local host only. */
	if (netlist_count(m->allow) == 0 &&
	    (netlist_add(m->allow, "127.0.0.0/8", &reason) < 0 ||
	     netlist_add(m->allow, "::1", &reason) < 0))
		abort();
	return 0;
}

static void
build_history(struct config *c, cfg_t *root)
{
	cfg_t *sec =
	    cfg_size(root, "history") > 0 ? cfg_getsec(root, "history") : NULL;
	struct config_history *h;

	if (sec == NULL)
		return;
	h = c->history = xcalloc(1, sizeof(*h));
	h->path = xstrdup(cfg_getstr(sec, "path"));
	h->retention = (unsigned int)cfg_getint(sec, "retention");
	h->max_rows = (unsigned long)cfg_getint(sec, "max_rows");
}

struct config *
config_build(struct config_parse *p, cfg_t *root)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->refs = 1;
	c->path = xstrdup(p->path);
	if (build_main(p, c, root) < 0 || build_listeners(p, c, root) < 0 ||
	    build_upstream(p, c,
	                   cfg_size(root, "upstream") > 0
	                       ? cfg_getsec(root, "upstream")
	                       : NULL) < 0 ||
	    config_upstream_build(p, c, root) < 0 ||
	    config_tls_build(p, c, root) < 0 ||
	    build_networks(p, c, root) < 0 || build_dns(p, c, root) < 0 ||
	    build_chain(p, c, root) < 0 || build_milter(p, c, root) < 0 ||
	    build_metrics(p, c, root) < 0) {
		config_free(c);
		return NULL;
	}
	build_log(c, cfg_getsec(root, "log"));
	build_limits(c, cfg_getsec(root, "limits"));
	build_history(c, root);
	return c;
}
