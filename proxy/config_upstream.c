/*
 * config_upstream.c - the upstream's TLS and source address options.
 *
 * Checks, while the file is parsed, the options that say how postern
 * reaches the upstream beyond its address: tls, ca_file, verify_name,
 * source_address (of the upstream section and of each listener) and
 * source_table; then builds what they stand for into the struct
 * config: the client SSL_CTX of this generation (a reload makes a new
 * one), the source addresses and the loaded source table.  What only
 * the whole file can tell (a source address of the wrong family, TLS
 * towards a unix socket) is an error at build time, naming the
 * section's line.  The grammar itself is config.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "proxy/config.h"
#include "proxy/config_private.h"
#include "proxy/upstream_source.h"
#include "proxy/upstream_tls.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

const char *const config_upstream_tls_words[] = {
    [CONFIG_UPSTREAM_TLS_NONE] = "none",
    [CONFIG_UPSTREAM_TLS_OPPORTUNISTIC] = "opportunistic",
    [CONFIG_UPSTREAM_TLS_REQUIRED] = "required",
    [CONFIG_UPSTREAM_TLS_REQUIRED + 1] = NULL,
};

static int
source_address_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	struct netaddr a;

	if (value == NULL || netaddr_parse_ip(value, &a) == 0)
		return 0;
	cfg_error(cfg, "source_address: %s: not an IP address", value);
	return -1;
}

static int
verify_name_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);

	if (value == NULL || upstream_tls_name_ok(value))
		return 0;
	cfg_error(cfg, "verify_name: invalid name '%s'", value);
	return -1;
}

void
config_upstream_validators_set(cfg_t *root)
{
	cfg_set_validate_func(root, "upstream|tls", config_enum_check_cb);
	cfg_set_validate_func(root, "upstream|ca_file", config_path_check_cb);
	cfg_set_validate_func(root, "upstream|verify_name", verify_name_cb);
	cfg_set_validate_func(root, "upstream|source_address",
	                      source_address_cb);
	cfg_set_validate_func(root, "upstream|source_table",
	                      config_path_check_cb);
	cfg_set_validate_func(root, "listener|source_address",
	                      source_address_cb);
}

/* Parse sec's source_address into a (checked when parsed); family 0
 * when absent.  It must be of the upstream's family. */
static int
source_build(struct config_parse *p, cfg_t *sec, const char *what, int family,
             struct netaddr *a)
{
	const char *s = cfg_getstr(sec, "source_address");

	memset(a, 0, sizeof(*a));
	if (s == NULL)
		return 0;
	if (netaddr_parse_ip(s, a) == 0 && a->ss.ss_family == family)
		return 0;
	config_parse_error(p, config_section_line(sec),
	                   "%s: source_address %s: %s", what, s,
	                   family == AF_INET || family == AF_INET6
	                       ? "address family differs from the upstream's"
	                       : "the upstream is not reached over IP");
	return -1;
}

/* Every listener's own source_address, after the upstream's address
 * is known. */
static int
listeners_source_build(struct config_parse *p, struct config *c, cfg_t *root)
{
	char what[300];
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		struct config_listener *l = &c->listeners[i];

		snprintf(what, sizeof(what), "listener %s", l->name);
		if (source_build(
		        p, cfg_getnsec(root, "listener", (unsigned int)i), what,
		        c->upstream.addr.ss.ss_family, &l->source) < 0)
			return -1;
	}
	return 0;
}

/* The upstream as written ("127.0.0.1", "::1"): verify_name's
 * default. */
static char *
default_verify_name(const struct config_upstream *u)
{
	char ip[NETADDR_STRLEN];

	return xstrdup(netaddr_ip_str(&u->addr, ip, sizeof(ip)));
}

static int
tls_build(struct config_parse *p, struct config_upstream *u, cfg_t *sec)
{
	const char *ca = cfg_getstr(sec, "ca_file");
	const char *name = cfg_getstr(sec, "verify_name");
	char *error = NULL;
	int family = u->addr.ss.ss_family;

	u->tls = (enum config_upstream_tls)config_word_index(
	    config_upstream_tls_words, cfg_getstr(sec, "tls"));
	if (ca != NULL)
		u->ca_file = xstrdup(ca);
	u->verify_name = name != NULL ? xstrdup(name) : default_verify_name(u);
	if (u->tls == CONFIG_UPSTREAM_TLS_NONE)
		return 0;
	if (family != AF_INET && family != AF_INET6) {
		config_parse_error(p, config_section_line(sec),
		                   "upstream: tls needs an IP address, not a "
		                   "unix socket");
		return -1;
	}
	u->ssl_ctx = upstream_tls_ctx_new(u->ca_file, &error);
	if (u->ssl_ctx != NULL)
		return 0;
	config_parse_error(p, config_section_line(sec), "upstream: %s", error);
	free(error);
	return -1;
}

static int
source_table_build(struct config_parse *p, struct config_upstream *u,
                   cfg_t *sec)
{
	const char *path = cfg_getstr(sec, "source_table");
	int family = u->addr.ss.ss_family;
	char *error = NULL;

	if (path == NULL)
		return 0;
	if (family != AF_INET && family != AF_INET6) {
		config_parse_error(p, config_section_line(sec),
		                   "upstream: source_table: the upstream is "
		                   "not reached over IP");
		return -1;
	}
	u->source_table_path = xstrdup(path);
	u->source_table = upstream_source_load(path, family, &error);
	if (u->source_table != NULL)
		return 0;
	config_parse_error(p, config_section_line(sec), "source_table: %s",
	                   error);
	free(error);
	return -1;
}

int
config_upstream_build(struct config_parse *p, struct config *c, cfg_t *root)
{
	struct config_upstream *u = &c->upstream;
	cfg_t *sec;

	if (cfg_size(root, "upstream") == 0)
		return 0; /* milter only */
	sec = cfg_getsec(root, "upstream");
	if (tls_build(p, u, sec) < 0 ||
	    source_build(p, sec, "upstream", u->addr.ss.ss_family, &u->source) <
	        0 ||
	    source_table_build(p, u, sec) < 0 ||
	    listeners_source_build(p, c, root) < 0)
		return -1;
	return 0;
}

void
config_upstream_free(struct config *c)
{
	struct config_upstream *u = &c->upstream;

	upstream_tls_ctx_free(u->ssl_ctx);
	u->ssl_ctx = NULL;
	free(u->ca_file);
	free(u->verify_name);
	upstream_source_free(&u->source_table);
	free(u->source_table_path);
}
