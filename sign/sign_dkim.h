/*
 * sign_dkim.h - making DKIM signatures with libopendkim.
 *
 * A signer holds the libopendkim library handle and the choice of
 * signed and oversigned header fields.  One message is signed with one
 * or more keys at once: the caller feeds the header fields and the body
 * exactly as they will be sent, and gets one DKIM-Signature value per
 * key.  Knows nothing of sessions or transactions; thread-safe for
 * separate messages.
 */
#ifndef POSTERN_SIGN_DKIM_H
#define POSTERN_SIGN_DKIM_H

#include <stddef.h>

struct sign_choice;

struct sign_dkim_opts {
	int header_relaxed; /* c=relaxed/... else simple */
	int body_relaxed;   /* c=.../relaxed else simple */
	/* Lower-case field names; NULL: a default set. */
	const char *const *sign_headers;
	size_t nsign_headers;
	const char *const *oversign_headers;
	size_t noversign_headers;
};

struct sign_dkim;
struct sign_dkim_msg;

/* Returns NULL with a static reason in *error_r. */
struct sign_dkim *sign_dkim_create(const struct sign_dkim_opts *opts,
                                   const char **error_r);
void sign_dkim_destroy(struct sign_dkim **sd);

/* 1 when this libopendkim can make Ed25519 signatures. */
int sign_dkim_has_ed25519(const struct sign_dkim *sd);

/*
 * Start signing a message (id for libopendkim's logs) with each of the n
 * choices (kept; must outlive the message).  NULL with an allocated
 * reason in *error_r.
 */
struct sign_dkim_msg *sign_dkim_begin(struct sign_dkim *sd, const char *id,
                                      const struct sign_choice *choices,
                                      size_t n, char **error_r);

/* One header field without its final CRLF. 0 or -1 (*error_r
 * allocated). */
int sign_dkim_header(struct sign_dkim_msg *m, const char *field, size_t len,
                     char **error_r);
/* The header section is complete. */
int sign_dkim_eoh(struct sign_dkim_msg *m, char **error_r);
/* Body octets (CRLF lines), in any chunking. */
int sign_dkim_body(struct sign_dkim_msg *m, const char *data, size_t len,
                   char **error_r);

/*
 * Finish: values[i] gets the allocated value of the DKIM-Signature field
 * for choice i (the text after "DKIM-Signature: ", folded).  Returns 0,
 * or -1 with *error_r allocated (values then untouched).
 */
int sign_dkim_end(struct sign_dkim_msg *m, char **values, char **error_r);

void sign_dkim_msg_free(struct sign_dkim_msg **m);

#endif
