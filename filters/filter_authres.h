/*
 * filter_authres.h - the Authentication-Results header (RFC 8601).
 *
 * At end of message this filter removes every Authentication-Results
 * field that claims postern's authserv-id (a forgery, or a stale one from
 * an earlier pass), then prepends one field with the results the other
 * filters recorded in the transaction (filter_txn_auth), or "none".
 * Place it after the checking filters and before signing.
 */
#ifndef POSTERN_FILTER_AUTHRES_H
#define POSTERN_FILTER_AUTHRES_H

#include <stddef.h>

struct filter_chain;

/* Add the filter; authserv_id is copied. */
void filter_authres_add(struct filter_chain *chain, const char *authserv_id);

/*
 * The authserv-id of an Authentication-Results field value (the text
 * after "Authentication-Results:"), CFWS skipped, into buf.  Returns 0,
 * or -1 if the value does not start with one.
 */
int filter_authres_servid(const char *value, char *buf, size_t size);

/*
 * Compose the field value for authserv_id and the results list (NULL:
 * "none"), folded on result boundaries to keep lines short.  Returns an
 * allocated string without a final CRLF.
 */
struct filter_auth;
char *filter_authres_compose(const char *authserv_id,
                             const struct filter_auth *results);

#endif
