/*
 * filter_spf.h - SPF (RFC 7208) with libspf2 on postern's resolver.
 *
 * At MAIL, on a worker, checks the MAIL FROM identity (the HELO
 * identity for the null sender) of inbound mail, with RFC 7208's limits
 * over the whole evaluation (10 DNS-querying terms, 2 void lookups,
 * both counted by postern's DNS layer: libspf2 counts terms per record
 * and voids not at all) and its record syntax.  The result goes into
 * the transaction for Authentication-Results and DMARC, as "spf" with
 * the property smtp.mailfrom=DOMAIN, or smtp.helo=NAME for the HELO
 * identity; with check_helo a second result for the HELO name follows
 * the MAIL FROM one.  A Received-SPF header per result is prepended at
 * end of message, so the filter should come after "received".  What a
 * result does (reject, tag, tempfail) is the policy below.  Outbound
 * sessions, trusted forwarders and clients on 127.0.0.0/8 or ::1 are
 * not checked (libspf2 would pass the last for any domain).
 */
#ifndef POSTERN_FILTER_SPF_H
#define POSTERN_FILTER_SPF_H

struct dns;
struct filter_chain;
struct netlist;

enum filter_spf_action {
	FILTER_SPF_ACCEPT = 0, /* record only */
	FILTER_SPF_TAG,        /* record; later filters may score it */
	FILTER_SPF_REJECT,     /* 550 5.7.23 (fail), 550 5.7.24 (permerror) */
	FILTER_SPF_TEMPFAIL,   /* 451 4.7.24 */
};

struct filter_spf_opts {
	struct dns *dns;                     /* kept */
	struct netlist *trusted;             /* handed over; may be NULL */
	enum filter_spf_action on_fail;      /* default REJECT */
	enum filter_spf_action on_softfail;  /* default TAG */
	enum filter_spf_action on_permerror; /* default TAG */
	enum filter_spf_action on_temperror; /* default TEMPFAIL */
	int check_helo;                      /* also check HELO for non-null
	                                        senders (record only) */
	const char *hostname; /* receiver, for Received-SPF; copied */
};

/* Add the filter.  0, or -1 with a static reason (trusted freed). */
int filter_spf_add(struct filter_chain *chain, struct filter_spf_opts *opts,
                   const char **error_r);

#endif
