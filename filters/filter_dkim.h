/*
 * filter_dkim.h - DKIM verification (RFC 6376, 8301, 8463) with
 * libopendkim, and DKIM signing of outbound mail.
 *
 * dkim_verify: at end of message, on a worker, checks up to
 * max_signatures DKIM-Signature fields of inbound mail, fetching keys
 * through postern's resolver, and records one result per signature for
 * Authentication-Results.  rsa-sha1 signatures and keys under
 * min_key_bits count as fail.  When a key lookup failed temporarily and
 * nothing passed, the message is tempfailed unless told otherwise.
 *
 * dkim_sign: at end of message, on a worker, signs outbound mail whose
 * single From address has an entry in the signing table, with every key
 * that entry names, over exactly the message that will be sent.  It
 * must be the last filter that changes the message.
 */
#ifndef POSTERN_FILTER_DKIM_H
#define POSTERN_FILTER_DKIM_H

#include <stddef.h>

struct dns;
struct filter_chain;
struct sign_keytable;
struct sign_signtable;

struct filter_dkim_verify_opts {
	struct dns *dns;             /* kept; must outlive the chain */
	unsigned int max_signatures; /* checked per message, e.g. 5 */
	unsigned int min_key_bits;   /* 1024 */
	int tempfail_on_dns_error;   /* temperror and nothing passed */
};

/* Add the verifier.  Returns 0, or -1 with a static reason. */
int filter_dkim_verify_add(struct filter_chain *chain,
                           const struct filter_dkim_verify_opts *opts,
                           const char **error_r);

enum filter_dkim_from_policy {
	FILTER_DKIM_FROM_SKIP = 0, /* no or several From: send unsigned */
	FILTER_DKIM_FROM_REJECT,
};

enum filter_dkim_long_lines {
	FILTER_DKIM_LONG_FOLD = 0, /* fold header lines over 998 octets */
	FILTER_DKIM_LONG_REJECT,
};

struct filter_dkim_sign_opts {
	struct sign_keytable *keys;      /* handed over */
	struct sign_signtable *table;    /* handed over */
	int header_relaxed;              /* c= header part */
	int body_relaxed;                /* c= body part */
	const char *const *sign_headers; /* NULL: libopendkim's default */
	size_t nsign_headers;
	const char *const *oversign_headers;
	size_t noversign_headers;
	enum filter_dkim_from_policy from_policy;
	enum filter_dkim_long_lines long_lines;
};

/* Add the signer.  Returns 0, or -1 with a static reason (the tables
 * are freed then too). */
int filter_dkim_sign_add(struct filter_chain *chain,
                         struct filter_dkim_sign_opts *opts,
                         const char **error_r);

/*
 * Fold a header field ("Name: value", no final CRLF) so that no line is
 * longer than 998 octets, breaking before whitespace and aiming at 78.
 * Returns an allocated new text, NULL when no line is too long, or NULL
 * with *unfoldable_r set when a run without whitespace is over 998.
 */
char *filter_dkim_fold(const char *field, int *unfoldable_r);

#endif
