/*
 * proxy_proto.h - the PROXY protocol header, versions 1 and 2.
 *
 * A load balancer in front of postern (haproxy, a cloud balancer) opens
 * each connection with a header naming the client it accepted: v1 is
 * one text line, v2 a binary block (haproxy's proxy-protocol.txt).  This
 * module parses such a header from the first octets of a connection and
 * builds a v2 header for postern's own connections to the upstream.  It
 * is pure: no I/O, no allocation, no logging.  The session decides who
 * may send a header and what to do with what it says.
 */
#ifndef POSTERN_PROXY_PROTO_H
#define POSTERN_PROXY_PROTO_H

#include <stddef.h>

#include "util/netaddr.h"

/* v1: "PROXY TCP6 " with two full IPv6 addresses, two ports, CRLF. */
#define PROXY_PROTO_V1_MAX 107
/* v2: the fixed part. */
#define PROXY_PROTO_V2_HEAD 16
/* v2: the most we read.  The format allows 65535 octets of addresses
 * and TLVs; haproxy sends 12 or 36 without TLVs, a few hundred with. */
#define PROXY_PROTO_V2_MAX (PROXY_PROTO_V2_HEAD + 4096)
/* Octets that tell v1 from v2 and from SMTP: a header is neither
 * before this many have arrived. */
#define PROXY_PROTO_SNIFF 12

struct proxy_proto_header {
	int version; /* 1 or 2 */
	/* 1: the header names no client (v2 LOCAL, v2 UNSPEC or UNIX,
	 * v1 UNKNOWN): the connection's own endpoints stand. */
	int local;
	struct netaddr src; /* the client, with its port, unless local */
	struct netaddr dst; /* where the client connected to */
	size_t len;         /* octets of the header, TLVs included */
};

/*
 * Parse the header at the start of buf (len octets so far).  Returns 0
 * with *hdr filled (hdr->len octets to drop from the input), 1 when more
 * input is needed to decide, -1 with a static reason in *error_r when
 * the input is not a valid header.  buf is only read.
 */
int proxy_proto_parse(const unsigned char *buf, size_t len,
                      struct proxy_proto_header *hdr, const char **error_r);

/*
 * Write a v2 PROXY header for a TCP connection from src to dst into buf
 * (size octets; PROXY_PROTO_V2_HEAD + 36 always suffice).  An
 * IPv4-mapped IPv6 address counts as IPv4.  When src is neither IPv4 nor
 * IPv6 the header is LOCAL; a dst of another family than src is sent as
 * the unspecified address, port 0.  Returns the octets written, or 0
 * when size is too small.
 */
size_t proxy_proto_v2_build(unsigned char *buf, size_t size,
                            const struct netaddr *src,
                            const struct netaddr *dst);

#endif
