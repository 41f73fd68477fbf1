/*
 * metrics.c - the metrics listener on libmicrohttpd.
 *
 * Requests are answered on libmicrohttpd's own polling thread: the
 * answers are built from the counters under their short lock and never
 * touch the event loop.  Errors reported: a bind failure at start.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include <microhttpd.h>

#include "filters/report_stats.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

struct metrics {
	struct MHD_Daemon *daemon;
	struct report_stats *stats;
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

static int
metrics_allowed(const struct metrics *m, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	struct netaddr a;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return 0;
	memset(&a, 0, sizeof(a));
	if (ci->client_addr->sa_family == AF_INET6)
		a.len = sizeof(struct sockaddr_in6);
	else
		a.len = sizeof(struct sockaddr_in);
	memcpy(&a.ss, ci->client_addr, a.len);
	return netlist_match(m->allow, &a);
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

	if (!metrics_allowed(m, conn))
		return metrics_send(conn, MHD_HTTP_FORBIDDEN, "text/plain",
		                    xstrdup("forbidden\n"));
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return metrics_send(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                    "text/plain",
		                    xstrdup("method not allowed\n"));
	if (strcmp(url, "/metrics") == 0)
		return metrics_send(conn, MHD_HTTP_OK,
		                    "text/plain; version=0.0.4; charset=utf-8",
		                    report_stats_prometheus(m->stats));
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

struct metrics *
metrics_start(const struct config_metrics *cm, struct report_stats *st,
              const char **error_r)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;

	if (cm->addr.ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->stats = st;
	m->allow = allow_copy(cm->allow);
	m->daemon = MHD_start_daemon(
	    flags, (uint16_t)netaddr_port(&cm->addr), NULL, NULL,
	    metrics_handler, m, MHD_OPTION_SOCK_ADDR, &cm->addr.ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
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
