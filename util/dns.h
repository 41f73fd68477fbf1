/*
 * dns.h - postern's one resolver, on libunbound.
 *
 * Everything that needs DNS (DKIM keys, SPF, DMARC, DNS lists) asks this
 * module.  One libunbound context, with its cache, is owned by a
 * dedicated resolver thread; callers on worker threads submit a query
 * and block on it with a per-query timeout, so a slow or dead DNS server
 * costs a worker at most that long and never stalls the event loop.
 * Forwarders, the timeout and an optional DNSSEC trust anchor come from
 * the configuration; nothing here reads /etc/resolv.conf unless no
 * forwarder is configured.  Knows nothing of mail.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>

/* RR types used by postern. */
#define DNS_TYPE_A    1
#define DNS_TYPE_PTR  12
#define DNS_TYPE_MX   15
#define DNS_TYPE_TXT  16
#define DNS_TYPE_AAAA 28

/* Bounds of one answer; a larger one is DNS_PERMFAIL. */
#define DNS_MAX_RECORDS 64
#define DNS_MAX_RDATA   65536 /* octets, all records together */

struct dns_options {
	const char *const *forwarders; /* "127.0.0.1@5353", "::1"; none:
	                                  /etc/resolv.conf */
	size_t nforwarders;
	unsigned int timeout_ms;       /* per query; 0: 5000 */
	const char *trust_anchor_file; /* DNSSEC root key; NULL: none */
	/* Zones whose built-in local answers (RFC 6761 names such as
	 * "test.") are dropped so they resolve through the forwarders. */
	const char *const *nodefault_zones;
	size_t nnodefault_zones;
};

enum dns_status {
	DNS_OK = 0,   /* data present */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_NODATA,   /* the name exists, no records of the type */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, network trouble */
	DNS_PERMFAIL, /* REFUSED/FORMERR, bogus DNSSEC, a bad name, an
	                 answer over the bounds or that does not parse */
};

struct dns_answer {
	enum dns_status status;
	int secure;   /* DNSSEC-validated */
	size_t count; /* records */
	/* Each record's RDATA: raw wire form (names uncompressed) for
	 * most types; for TXT, the character-strings concatenated (RFC
	 * 6376 3.6.2.2, RFC 7208 3.3).  Each is followed by a NUL that
	 * len does not count. */
	unsigned char **data;
	size_t *len;
	unsigned int ttl;
};

struct dns;

/*
 * Start the resolver thread (it blocks every signal but faults).  opt
 * and the strings it points to are copied.  Forwarders are "address" or
 * "address@port", IPv4 or IPv6; with any, resolution is forward-only.
 * Returns NULL with a static or thread-local reason in *error_r (a
 * forwarder that does not parse, a trust anchor that cannot be read or
 * loaded, no /etc/resolv.conf, no thread).
 */
struct dns *dns_create(const struct dns_options *opt, const char **error_r);

/*
 * Fail every query still waiting with DNS_TEMPFAIL, wait for those
 * dns_lookup() calls to return, stop the thread, free; *d = NULL.  May
 * run while other threads are inside dns_lookup(), not before they have
 * entered it.  NULL *d is a no-op.
 */
void dns_destroy(struct dns **d);

/*
 * Look up name/type (class IN) and wait for the answer, at most the
 * configured timeout.  Blocks: call from worker threads only; any number
 * at once.  name is copied.  Fills *answer (release with
 * dns_answer_free()) and returns 0; a timeout or failure is an answer
 * with DNS_TEMPFAIL or DNS_PERMFAIL, not -1.  Returns -1 only for a name
 * that cannot be a DNS name (empty, a label empty or over 63 octets, over
 * 253 octets, a backslash, a control, space or 8-bit octet) or a type
 * outside 1..65535; *answer is then DNS_PERMFAIL too.
 */
int dns_lookup(struct dns *d, const char *name, int type,
               struct dns_answer *answer);

/* Free what *answer holds and zero it; a zeroed answer is fine. */
void dns_answer_free(struct dns_answer *answer);

/* "ok", "nxdomain", "nodata", "tempfail", "permfail" */
const char *dns_status_name(enum dns_status s);

/* Queries answered from the network or cache, and lookups that timed
 * out, so far. */
void dns_stats(struct dns *d, unsigned long *queries, unsigned long *timeouts);

#endif
