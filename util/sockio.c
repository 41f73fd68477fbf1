/*
 * sockio.c - direct writes for request-reply traffic (see sockio.h).
 *
 * An error other than EAGAIN is left for the bufferevent to meet: the
 * data is queued and the bufferevent's own write reports it through the
 * owner's event callback, like any other write failure.
 */
#include <errno.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "util/sockio.h"

void
sockio_write(struct bufferevent *bev, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	const char *p = data;
	ssize_t n;

	/* A TLS bufferevent's socket carries records, never our text. */
	if (evbuffer_get_length(out) == 0 && fd >= 0 &&
	    (bufferevent_get_enabled(bev) & EV_WRITE) &&
	    bufferevent_openssl_get_ssl(bev) == NULL) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	if (len > 0)
		bufferevent_write(bev, p, len);
}
