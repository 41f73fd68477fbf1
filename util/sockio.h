/*
 * sockio.h - writing to a bufferevent without a trip through the loop.
 *
 * SMTP is request and reply: nearly every write is one short reply to
 * an idle socket.  Handing it to the bufferevent costs an epoll_ctl to
 * watch for writability, a loop turn, the write, and another epoll_ctl.
 * Sending at once when nothing is queued saves all of that; only what
 * the socket does not take is queued, so order is kept.
 */
#ifndef POSTERN_SOCKIO_H
#define POSTERN_SOCKIO_H

#include <stddef.h>

struct bufferevent;

/* Write len octets: straight to the socket when the output buffer is
 * empty, the rest (or all, on EAGAIN or error) through the buffer; a
 * TLS bufferevent's octets always go through the buffer. */
void sockio_write(struct bufferevent *bev, const void *data, size_t len);

#endif
