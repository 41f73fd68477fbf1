/*
 * config_print.c - the summary of a configuration that -t prints.
 *
 * Writes every value of a loaded struct config to stdout, one line per
 * group, in the words and units the file uses, so that a test or an
 * administrator can see what postern made of the file.  Reports no
 * errors: the configuration was checked when it was loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_spam.h"
#include "filters/spam_rules.h"
#include "proxy/config.h"
#include "proxy/config_private.h"
#include "proxy/upstream_source.h"
#include "util/log.h"
#include "util/netaddr.h"

/* For the summary only; log_facility_parse() decides what is valid. */
static const char *const facility_words[] = {
    "mail",   "daemon", "local0", "local1", "local2", "local3",
    "local4", "local5", "local6", "local7", NULL};

static const char *
facility_name(int facility)
{
	size_t i;

	for (i = 0; facility_words[i] != NULL; i++) {
		if (log_facility_parse(facility_words[i]) == facility)
			return facility_words[i];
	}
	return "?";
}

static void
print_main(const struct config *c)
{
	char d[32];

	printf("config %s\n", c->path);
	printf("hostname %s workers %u drain_timeout %s\n", c->hostname,
	       c->workers,
	       config_num_format(d, sizeof(d), NUM_DURATION, c->drain_timeout));
	printf("spool_dir %s pid_file %s user %s\n", c->spool_dir,
	       c->pid_file != NULL ? c->pid_file : "none",
	       c->user != NULL ? c->user : "(unchanged)");
	printf("quarantine_dir %s\n", c->quarantine_dir);
}

static void
print_log(const struct config *c)
{
	size_t i;

	printf("log %s", config_target_words[c->log_syslog ? 1 : 0]);
	if (c->log_syslog)
		printf(" facility %s", facility_name(c->log_facility));
	printf(" level %s trace", config_level_words[c->log_level]);
	if (c->log_trace == 0)
		printf(" none");
	for (i = 0; config_trace_words[i] != NULL; i++) {
		if (c->log_trace == LOG_TRACE_ALL &&
		    config_trace_bits[i] != LOG_TRACE_ALL)
			continue;
		if ((c->log_trace & config_trace_bits[i]) ==
		    config_trace_bits[i])
			printf(" %s", config_trace_words[i]);
	}
	printf("\n");
}

static void print_networks(const char *word, const struct netlist *list);

/*
 * A source address this host cannot send from is not an error: a
 * floating address (keepalived, say) may come later.  Until it does,
 * connections from it fail and the client gets a 4xx; -t says so.
 */
static void
warn_not_local(const char *what, const struct netaddr *a)
{
	char ip[NETADDR_STRLEN];

	if (netaddr_is_local(a) == 0)
		return;
	fprintf(stderr,
	        "postern: warning: %s %s: not usable on this host now "
	        "(%s); connections from it will fail\n",
	        what, netaddr_ip_str(a, ip, sizeof(ip)), strerror(errno));
}

/* PROXY protocol and AUTH, only when a listener uses them. */
static void
print_listener_extra(const struct config_listener *l)
{
	char t[32], a[NETADDR_STRLEN];

	if (l->proxy_protocol) {
		printf("listener %s proxy_protocol yes proxy_timeout %s ",
		       l->name,
		       config_num_format(t, sizeof(t), NUM_DURATION,
		                         l->proxy_timeout));
		print_networks("proxy_networks", l->proxy_networks);
	}
	if (l->auth_without_tls)
		printf("listener %s auth_without_tls yes\n", l->name);
	if (l->source.ss.ss_family != 0) {
		printf("listener %s source_address %s\n", l->name,
		       netaddr_ip_str(&l->source, a, sizeof(a)));
		warn_not_local("source_address", &l->source);
	}
}

static void
print_listeners(const struct config *c)
{
	char a[NETADDR_STRLEN];
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		const struct config_listener *l = &c->listeners[i];

		printf("listener %s %s %s backlog %u\n", l->name,
		       netaddr_str(&l->addr, a, sizeof(a)),
		       l->outbound ? "outbound" : "inbound", l->backlog);
		print_listener_extra(l);
	}
}

/* TLS and source addresses, only when set. */
static void
print_upstream_extra(const struct config_upstream *u)
{
	char a[NETADDR_STRLEN];
	size_t i;

	if (u->tls != CONFIG_UPSTREAM_TLS_NONE)
		printf("upstream tls %s ca_file %s verify_name %s\n",
		       config_upstream_tls_words[u->tls],
		       u->ca_file ? u->ca_file : "(system)", u->verify_name);
	if (u->source.ss.ss_family != 0) {
		printf("upstream source_address %s\n",
		       netaddr_ip_str(&u->source, a, sizeof(a)));
		warn_not_local("source_address", &u->source);
	}
	if (u->source_table == NULL)
		return;
	printf("upstream source_table %s entries %zu\n", u->source_table_path,
	       upstream_source_count(u->source_table));
	for (i = 0; i < upstream_source_count(u->source_table); i++)
		warn_not_local("source_table address",
		               upstream_source_addr(u->source_table, i));
}

static void
print_upstream(const struct config *c)
{
	const struct config_upstream *u = &c->upstream;
	char a[NETADDR_STRLEN], t1[32], t2[32], t3[32];

	if (u->addr.len == 0) {
		printf("upstream none\n");
		return;
	}
	printf("upstream %s helo_name %s client_identity %s\n",
	       netaddr_str(&u->addr, a, sizeof(a)), u->helo_name,
	       config_identity_words[u->identity]);
	printf(
	    "upstream timeouts connect %s command %s data %s\n",
	    config_num_format(t1, sizeof(t1), NUM_DURATION, u->connect_timeout),
	    config_num_format(t2, sizeof(t2), NUM_DURATION, u->command_timeout),
	    config_num_format(t3, sizeof(t3), NUM_DURATION, u->data_timeout));
	print_upstream_extra(u);
}

static void
print_limits(const struct config *c)
{
	const struct config_limits *l = &c->limits;
	char s1[32], s2[32], s3[32], s4[32], t1[32], t2[32];

	printf(
	    "limits command_line %s text_line %s message_size %s "
	    "spool_memory %s\n",
	    config_num_format(s1, sizeof(s1), NUM_SIZE, l->command_line),
	    config_num_format(s2, sizeof(s2), NUM_SIZE, l->text_line),
	    l->message_size == 0
	        ? "unlimited"
	        : config_num_format(s3, sizeof(s3), NUM_SIZE, l->message_size),
	    config_num_format(s4, sizeof(s4), NUM_SIZE, l->spool_memory));
	printf("limits recipients %u sessions %u sessions_per_client %u "
	       "errors %u\n",
	       l->recipients, l->sessions, l->sessions_per_client, l->errors);
	printf("limits idle_timeout %s data_timeout %s bare_line_ending %s\n",
	       config_num_format(t1, sizeof(t1), NUM_DURATION, l->idle_timeout),
	       config_num_format(t2, sizeof(t2), NUM_DURATION, l->data_timeout),
	       config_bare_eol_words[l->bare_eol]);
	printf(
	    "limits auth_failures %u auth_lockout %s auth_delay %s "
	    "auth_delay_max %s\n",
	    l->auth_failures,
	    config_num_format(t1, sizeof(t1), NUM_DURATION, l->auth_lockout),
	    config_num_format(t2, sizeof(t2), NUM_DURATION, l->auth_delay),
	    config_num_format(s1, sizeof(s1), NUM_DURATION, l->auth_delay_max));
}

/* " {a, b}", or " none_word" for an empty list. */
static void
print_list(char *const *list, size_t n, const char *none_word)
{
	size_t i;

	if (n == 0) {
		printf(" %s", none_word);
		return;
	}
	printf(" {");
	for (i = 0; i < n; i++)
		printf("%s%s", i > 0 ? ", " : "", list[i]);
	printf("}");
}

static void
print_dns(const struct config *c)
{
	const struct config_dns *d = &c->dns_conf;
	char t[32];

	if (c->dns == NULL) {
		printf("dns none\n");
		return;
	}
	printf("dns forwarders");
	print_list(d->forwarders, d->nforwarders, "resolv.conf");
	printf(" timeout %s trust_anchor %s nodefault_zones",
	       config_num_format(t, sizeof(t), NUM_DURATION, d->timeout),
	       d->trust_anchor != NULL ? d->trust_anchor : "none");
	print_list(d->nodefault_zones, d->nnodefault_zones, "none");
	printf("\n");
}

/* "word {127.0.0.0/8, ::1/128}", or "word none" for an empty list. */
static void
print_networks(const char *word, const struct netlist *list)
{
	char a[NETADDR_STRLEN];
	size_t i, n = netlist_count(list);

	printf("%s", word);
	if (n == 0)
		printf(" none");
	for (i = 0; i < n; i++)
		printf("%s%s", i > 0 ? ", " : " {",
		       netlist_get(list, i, a, sizeof(a)));
	printf("%s\n", n > 0 ? "}" : "");
}

static void
print_milter(const struct config *c)
{
	const struct config_milter *m = c->milter;
	char t[32];

	if (m == NULL)
		return;
	printf("milter %s (%s) outbound_daemons", m->address_text, m->address);
	print_list(m->outbound_daemons, m->noutbound_daemons, "none");
	printf(" on_error %s timeout %s socket_mode %04o\n",
	       config_dns_error_words[m->on_error_accept ? 1 : 0],
	       config_num_format(t, sizeof(t), NUM_DURATION, m->timeout),
	       m->socket_mode);
}

static void
print_metrics(const struct config *c)
{
	const struct config_metrics *m = c->metrics;

	if (m == NULL)
		return;
	printf("metrics %s ", m->address_text);
	print_networks("allow", m->allow);
}

static void
print_history(const struct config *c)
{
	const struct config_history *h = c->history;
	char t[32];

	if (h == NULL)
		return;
	printf("history %s retention=%s max_rows=%lu\n", h->path,
	       config_num_format(t, sizeof(t), NUM_DURATION, h->retention),
	       h->max_rows);
}

static void
print_filters(const struct config *c)
{
	size_t i, n = filter_chain_count(c->chain);

	print_networks("xclient_networks", c->xclient_networks);
	print_networks("internal_networks", c->internal_networks);
	printf("filters");
	if (n == 0)
		printf(" none");
	for (i = 0; i < n; i++)
		printf(" %s", filter_chain_name(c->chain, i));
	printf("\n");
	for (i = 0; i < n; i++) {
		const char *settings = c->filter_settings[i];

		if (settings != NULL && settings[0] != '\0')
			printf("filter %s %s\n", filter_chain_name(c->chain, i),
			       settings);
	}
	if (c->spam != NULL)
		spam_rules_print_summary(filter_spam_rules(c->spam));
}

void
config_print_summary(const struct config *cfg)
{
	print_main(cfg);
	print_log(cfg);
	print_listeners(cfg);
	print_upstream(cfg);
	print_limits(cfg);
	print_dns(cfg);
	print_milter(cfg);
	print_metrics(cfg);
	print_history(cfg);
	config_tls_print(cfg);
	print_filters(cfg);
	fflush(stdout);
}
