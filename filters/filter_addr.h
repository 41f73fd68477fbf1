/*
 * filter_addr.h - mailboxes in message header fields (RFC 5322 3.4).
 *
 * Turns the value of an address header (From, Sender, Reply-To) into
 * the addr-specs it holds: display names, comments, quoted local parts,
 * groups, obsolete routes and UTF-8 (RFC 6532) are understood.  DKIM
 * signing and DMARC need the From domain; a From that does not parse is
 * reported as such, never guessed at.  Pure functions; no allocation.
 */
#ifndef POSTERN_FILTER_ADDR_H
#define POSTERN_FILTER_ADDR_H

#include <stddef.h>

#define FILTER_ADDR_LOCAL_MAX  256
#define FILTER_ADDR_DOMAIN_MAX 256

struct filter_mailbox {
	char local[FILTER_ADDR_LOCAL_MAX];   /* as written, quotes removed */
	char domain[FILTER_ADDR_DOMAIN_MAX]; /* lowercased (ASCII letters),
	                                        no trailing dot; a domain
	                                        literal keeps its brackets */
};

/*
 * Parse a header field value (after "Name:", folds allowed) as an
 * address-list.  Fills up to max mailboxes and returns how many the
 * value holds (which may exceed max), 0 for an empty list (a value of
 * only whitespace and comments) or groups without members, or -1 with a
 * static reason in *error_r when the value is not an address-list, a
 * mailbox has no domain, or a local part or domain does not fit the
 * struct.  out may be NULL to count only.  value is not kept.
 */
int filter_addr_parse_list(const char *value, struct filter_mailbox *out,
                           size_t max, const char **error_r);

#endif
