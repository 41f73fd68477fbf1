/*
 * session_proxy.c - the PROXY protocol header before the session.
 *
 * On a listener with proxy_protocol the first octets are a v1 or v2
 * header naming the real client (proxy_proto.c parses it).  It is read
 * straight from the socket, peeking first and taking only the octets
 * that belong to it, so whatever follows (a TLS ClientHello on an
 * implicit-TLS listener, early SMTP) stays in the socket for the
 * session's own reader.  Nothing is sent before the header; a bad one,
 * end of file or an error closes the connection with a log line, and
 * the session's idle timer (proxy_timeout) ends a slow one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/config.h"
#include "proxy/proxy_proto.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "util/log.h"
#include "util/xalloc.h"

static void
proxy_stop(struct session *s)
{
	if (s->ev_proxy != NULL)
		event_del(s->ev_proxy);
}

static void
proxy_refuse(struct session *s, const char *reason, const char *close_reason)
{
	proxy_stop(s);
	log_warning("%s proxy refused client=%s reason=\"%s\"", s->fs.id,
	            s->fs.client_ip, reason);
	session_close(s, close_reason);
}

/* The header is complete: its client is the session's client. */
static void
proxy_apply(struct session *s, const struct proxy_proto_header *h)
{
	char src[NETADDR_STRLEN];

	proxy_stop(s);
	if (!h->local) {
		s->peer = h->src;
		s->fs.local = h->dst;
	}
	log_info("%s proxy version=%d command=%s via=%s client=%s", s->fs.id,
	         h->version, h->local ? "local" : "proxy", s->fs.client_ip,
	         netaddr_str(&s->peer, src, sizeof(src)));
	bufferevent_enable(s->bev, EV_READ);
	session_start(s);
}

/* Take n octets off the socket into the header buffer: 0, or -1. */
static int
proxy_take(struct session *s, int fd, size_t n)
{
	ssize_t got;

	do
		got = recv(fd, s->proxy_buf + s->proxy_len, n, MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)n)
		return -1;
	s->proxy_len += n;
	return 0;
}

static void
proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	size_t room = PROXY_PROTO_V2_MAX - s->proxy_len;
	struct proxy_proto_header h;
	const char *error;
	ssize_t n;
	int r;

	if (s->closing) {
		proxy_stop(s);
		return;
	}
	n = recv(fd, s->proxy_buf + s->proxy_len, room,
	         MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		proxy_refuse(s, n == 0 ? "end of file" : strerror(errno),
		             n == 0 ? "proxy-eof" : "error");
		return;
	}
	r = proxy_proto_parse(s->proxy_buf, s->proxy_len + (size_t)n, &h,
	                      &error);
	if (r < 0) {
		proxy_refuse(s, error, "proxy-error");
		return;
	}
	/* Octets peeked before the header is complete are all header;
	 * once it is, only its remainder is taken. */
	if (proxy_take(s, fd, r == 1 ? (size_t)n : h.len - s->proxy_len) < 0) {
		proxy_refuse(s, "read error", "error");
		return;
	}
	if (r == 0)
		proxy_apply(s, &h);
}

void
session_proxy_begin(struct session *s, int fd)
{
	/* The bufferevent must not read ahead of the header. */
	bufferevent_disable(s->bev, EV_READ);
	s->proxy_buf = xmalloc(PROXY_PROTO_V2_MAX);
	s->proxy_len = 0;
	s->ev_proxy =
	    event_new(s->srv->base, fd, EV_READ | EV_PERSIST, proxy_read_cb, s);
	event_add(s->ev_proxy, NULL);
}

void
session_proxy_free(struct session *s)
{
	if (s->ev_proxy != NULL)
		event_free(s->ev_proxy);
	s->ev_proxy = NULL;
	free(s->proxy_buf);
	s->proxy_buf = NULL;
}
