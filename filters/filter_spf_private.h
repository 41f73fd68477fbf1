/*
 * filter_spf_private.h - what the SPF filter's files share: libspf2's
 * DNS layer on postern's resolver (filter_spf_dns.c) and the record
 * syntax check (filter_spf_record.c); included by filter_spf.c and the
 * tests only.
 *
 * One layer serves one SPF evaluation.  It answers libspf2's TXT, A,
 * AAAA, MX and PTR lookups with dns_lookup() and keeps what libspf2
 * does not: RFC 7208's limits over the whole evaluation (4.6.4: 10
 * DNS-querying terms, 2 void lookups; libspf2 counts terms per record
 * and voids not at all) and the syntax of every SPF record it hands
 * over (4.6: a syntax error anywhere is a permerror).  Once one is
 * broken, every later lookup is answered "not found" without asking
 * DNS, and the caller reports permerror with the layer's reason.
 */
#ifndef POSTERN_FILTER_SPF_PRIVATE_H
#define POSTERN_FILTER_SPF_PRIVATE_H

#include <stddef.h>

#include <netinet/in.h>

#include <spf2/spf.h>

struct dns;
struct dns_answer;

/* RFC 7208 4.6.4 */
#define FILTER_SPF_TERM_MAX 10 /* DNS-querying terms */
#define FILTER_SPF_VOID_MAX 2  /* of them finding nothing */
#define FILTER_SPF_ADDR_MAX 10 /* address lookups per MX or PTR */

/*
 * A new layer asking d (kept; must outlive the layer).  Free it with
 * SPF_dns_free(), after the server it was given to (a server made by
 * SPF_server_new_dns() does not free its layer).  Never NULL (aborts
 * when out of memory).
 */
SPF_dns_server_t *filter_spf_dns_new(struct dns *d);

/* DNS-querying terms and void lookups the layer has counted so far. */
unsigned int filter_spf_dns_terms(const SPF_dns_server_t *layer);
unsigned int filter_spf_dns_voids(const SPF_dns_server_t *layer);

/* Why the evaluation is a permerror whatever libspf2 says (a limit
 * exceeded, a record's syntax), static text; NULL while nothing is. */
const char *filter_spf_dns_permerror(const SPF_dns_server_t *layer);

/*
 * The answer a to name/type as libspf2's record set, allocated by
 * libspf2 for it to free: DNS_OK with usable records is NETDB_SUCCESS,
 * NXDOMAIN is HOST_NOT_FOUND, NODATA (or no usable record) is NO_DATA,
 * and any failure is TRY_AGAIN (RFC 7208 5: an error other than
 * NXDOMAIN ends in temperror).  Records that do not parse (an A record
 * not 4 octets, a name with an empty or dotted label) are left out, as
 * is an SPF record with a syntax error (noted in the layer); at most
 * FILTER_SPF_ADDR_MAX PTR names are kept.
 */
SPF_dns_rr_t *filter_spf_dns_rr(SPF_dns_server_t *layer, const char *name,
                                ns_type type, const struct dns_answer *a);

/* Whether a TXT record is an SPF record: "v=spf1" alone or before a
 * space (RFC 7208 4.5). */
int filter_spf_record_is_spf(const char *rec, size_t len);

/*
 * Check the SPF record rec (len octets, any octets) against RFC 7208's
 * ABNF and return it as libspf2 reads it right: terms one space apart,
 * unknown modifiers left out, redirect= last or, beside an "all"
 * mechanism, left out.  Allocated; NULL with a static reason in
 * *error_r for a syntax error.
 */
char *filter_spf_record_normalize(const char *rec, size_t len,
                                  const char **error_r);

#endif
