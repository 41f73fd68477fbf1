/*
 * config_build.c - turn the checked tree into a struct config.
 *
 * Copies every value of the tree config.c has parsed and checked into a
 * new struct config with one reference, and frees it again on the last
 * reference.  Holds the table that maps a filter section's title to the
 * constructor that adds the filter to the chain; the chain is built in
 * file order.  What can still fail here is what the parser cannot know
 * (the system host name) or a filter refusing its section; errors go to
 * config_parse_error() like the parser's.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "filters/filter.h"
#include "filters/filter_received.h"
#include "proxy/config.h"
#include "proxy/config_private.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* Filters, by name.  A constructor may read its section's options. */

struct filter_maker {
	const char *name;
	int (*add)(struct filter_chain *chain, const struct config *cfg,
	           cfg_t *sec, const char **error_r);
};

static int
filter_make_received(struct filter_chain *chain, const struct config *cfg,
                     cfg_t *sec, const char **error_r)
{
	filter_received_add(chain, cfg->hostname);
	return 0;
}

static const struct filter_maker filter_makers[] = {
    {"received", filter_make_received},
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

/* Building struct config from the checked tree. */

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		free(c->listeners[i].name);
	free(c->listeners);
	free(c->upstream.helo_name);
	netlist_free(&c->xclient_networks);
	filter_chain_free(&c->chain);
	free(c->hostname);
	free(c->spool_dir);
	free(c->pid_file);
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
	if (cfg_getstr(root, "pid_file") != NULL)
		c->pid_file = xstrdup(cfg_getstr(root, "pid_file"));
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
	}
	return 0;
}

static int
build_upstream(struct config_parse *p, struct config *c, cfg_t *sec)
{
	struct config_upstream *u = &c->upstream;
	const char *helo = cfg_getstr(sec, "helo_name");

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
}

static int
build_xclient(struct config_parse *p, struct config *c, cfg_t *root)
{
	unsigned int i;
	const char *reason;

	c->xclient_networks = netlist_new();
	for (i = 0; i < cfg_size(root, "xclient_networks"); i++) {
		const char *s = cfg_getnstr(root, "xclient_networks", i);

		if (netlist_add(c->xclient_networks, s, &reason) < 0) {
			config_parse_error(p, 0, "xclient_networks: %s: %s", s,
			                   reason);
			return -1;
		}
	}
	return 0;
}

static int
build_chain(struct config_parse *p, struct config *c, cfg_t *root)
{
	unsigned int i;
	const char *reason = "cannot be set up";

	c->chain = filter_chain_new();
	for (i = 0; i < cfg_size(root, "filter"); i++) {
		cfg_t *sec = cfg_getnsec(root, "filter", i);
		const struct filter_maker *maker =
		    filter_maker_find(cfg_title(sec));

		if (maker == NULL) {
			config_parse_error(p, config_section_line(sec),
			                   "unknown filter '%s'",
			                   cfg_title(sec));
			return -1;
		}
		if (maker->add(c->chain, c, sec, &reason) < 0) {
			config_parse_error(p, config_section_line(sec),
			                   "filter %s: %s", maker->name,
			                   reason);
			return -1;
		}
	}
	return 0;
}

struct config *
config_build(struct config_parse *p, cfg_t *root)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->refs = 1;
	c->path = xstrdup(p->path);
	if (build_main(p, c, root) < 0 || build_listeners(p, c, root) < 0 ||
	    build_upstream(p, c, cfg_getsec(root, "upstream")) < 0 ||
	    build_xclient(p, c, root) < 0 || build_chain(p, c, root) < 0) {
		config_free(c);
		return NULL;
	}
	build_log(c, cfg_getsec(root, "log"));
	build_limits(c, cfg_getsec(root, "limits"));
	return c;
}
