/*
 * metrics.c - the metrics listener on libmicrohttpd.
 *
 * Requests are answered on libmicrohttpd's own polling thread: the
 * answers are built from the counters under their short lock and never
 * touch the event loop.  Errors reported: a bind failure at start.
 *
 * The thread serves at most CONN_LIMIT connections, so a peer holding
 * idle ones could lock the scraper out: peers outside allow are closed
 * as they are accepted, before they can send a byte; one address holds
 * at most PER_IP_LIMIT connections; and a connection idle for
 * IDLE_TIMEOUT seconds is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include <microhttpd.h>

#include "filters/report_history.h"
#include "filters/report_stats.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

#define CONN_LIMIT   64
#define PER_IP_LIMIT 8
#define IDLE_TIMEOUT 10 /* seconds; a scrape takes milliseconds */

struct metrics {
	struct MHD_Daemon *daemon;
	struct report_stats *stats;
	struct report_history *history; /* NULL: no history section */
	struct netlist *allow;
};

static enum MHD_Result
metrics_send(struct MHD_Connection *conn, unsigned int status, const char *type,
             char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The accept policy: a peer outside allow is closed as it is
 * accepted, before it can hold a connection slot. */
static enum MHD_Result
metrics_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct metrics *m = cls;
	struct netaddr a;

	if (addr == NULL || addrlen > sizeof(a.ss))
		return MHD_NO;
	memset(&a, 0, sizeof(a));
	a.len = addrlen;
	memcpy(&a.ss, addr, addrlen);
	return netlist_match(m->allow, &a) ? MHD_YES : MHD_NO;
}

/* libmicrohttpd's own unescaping turns "/metrics%00x" into "/metrics"
 * for a handler reading C strings; a path holding an escaped NUL is
 * left escaped, so it matches nothing and gets 404. */
static size_t
metrics_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	if (strstr(s, "%00") != NULL)
		return strlen(s);
	return MHD_http_unescape(s);
}

/* The counters, and the history's when it is configured. */
static char *
metrics_text(const struct metrics *m)
{
	char *text = report_stats_prometheus(m->stats), *hist, *all;

	if (m->history == NULL)
		return text;
	hist = report_history_prometheus(m->history);
	all = xasprintf("%s%s", text, hist);
	free(text);
	free(hist);
	return all;
}

static char *
metrics_page(struct report_stats *st)
{
	struct report_stats_summary *s = xmalloc(sizeof(*s));
	char *page;

	report_stats_summary(st, time(NULL), s);
	page = metrics_page_render(s);
	free(s);
	return page;
}

static enum MHD_Result
metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version,
                const char *upload_data, size_t *upload_data_size,
                void **req_cls)
{
	struct metrics *m = cls;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return metrics_send(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                    "text/plain",
		                    xstrdup("method not allowed\n"));
	if (strcmp(url, "/metrics") == 0)
		return metrics_send(conn, MHD_HTTP_OK,
		                    "text/plain; version=0.0.4; charset=utf-8",
		                    metrics_text(m));
	if (strcmp(url, "/status.json") == 0)
		return metrics_send(conn, MHD_HTTP_OK, "application/json",
		                    report_stats_json(m->stats, time(NULL)));
	if (strcmp(url, "/") == 0 || strcmp(url, "/status") == 0)
		return metrics_send(conn, MHD_HTTP_OK,
		                    "text/html; charset=utf-8",
		                    metrics_page(m->stats));
	return metrics_send(conn, MHD_HTTP_NOT_FOUND, "text/plain",
	                    xstrdup("not found\n"));
}

static struct netlist *
allow_copy(const struct netlist *from)
{
	struct netlist *to = netlist_new();
	char buf[NETADDR_STRLEN + 8];
	const char *reason;
	size_t i;

	for (i = 0; i < netlist_count(from); i++)
		if (netlist_add(to, netlist_get(from, i, buf, sizeof(buf)),
		                &reason) < 0)
			abort(); /* it came from a netlist */
	return to;
}

/* Every configured listener has its series from the start, at zero. */
static void
register_listeners(const struct config *cfg, struct report_stats *st)
{
	size_t i;

	for (i = 0; i < cfg->nlisteners; i++)
		report_stats_listener(st, cfg->listeners[i].name);
	if (cfg->milter != NULL)
		report_stats_listener(st, "milter");
}

struct metrics *
metrics_start(const struct config *cfg, struct report_stats *st,
              struct report_history *history, const char **error_r)
{
	const struct config_metrics *cm = cfg->metrics;
	struct metrics *m = xcalloc(1, sizeof(*m));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;

	if (cm->addr.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	register_listeners(cfg, st);
	m->stats = st;
	m->history = history;
	m->allow = allow_copy(cm->allow);
	m->daemon = MHD_start_daemon(
	    flags, (uint16_t)netaddr_port(&cm->addr), metrics_accept, m,
	    metrics_handler, m, MHD_OPTION_SOCK_ADDR, &cm->addr.ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT,
	    MHD_OPTION_UNESCAPE_CALLBACK, metrics_unescape, NULL,
	    MHD_OPTION_END);
	if (m->daemon == NULL) {
		*error_r = "cannot listen (address in use or not local?)";
		netlist_free(&m->allow);
		free(m);
		return NULL;
	}
	return m;
}

void
metrics_stop(struct metrics **mp)
{
	struct metrics *m = *mp;

	if (m == NULL)
		return;
	MHD_stop_daemon(m->daemon);
	netlist_free(&m->allow);
	free(m);
	*mp = NULL;
}
