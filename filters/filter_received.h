/*
 * filter_received.h - the Received header (RFC 5321 4.4).
 *
 * At end of message, prepends a trace header naming the client (HELO,
 * verified name, address), postern's host name, the protocol and the
 * transaction id, and the recipient when there is exactly one.
 */
#ifndef POSTERN_FILTER_RECEIVED_H
#define POSTERN_FILTER_RECEIVED_H

struct filter_chain;

/* Add the filter to chain.  hostname is copied. */
void filter_received_add(struct filter_chain *chain, const char *hostname);

#endif
