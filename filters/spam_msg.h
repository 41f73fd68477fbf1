/*
 * spam_msg.h - one message decoded into the views spam rules read.
 *
 * SpamAssassin's rule kinds each look at a different rendering of the
 * message.  This module parses the message once with GMime (MIME
 * structure, transfer encodings, RFC 2047 words, addresses; broken
 * MIME tolerated: a missing closing boundary, a wrong charset, bad
 * base64), renders it as SpamAssassin does, and hands out those
 * renderings, built on first use and kept until spam_msg_free():
 *
 *   header   the fields by name, decoded (RFC 2047 words to UTF-8,
 *            folds joined) or raw, or reduced to the addresses or the
 *            display names in them (one per line); several fields of
 *            one name joined, each ending in "\n", as SpamAssassin
 *            does
 *   body     the text a reader sees: text parts decoded from base64 or
 *            quoted-printable, converted to UTF-8, HTML turned into
 *            text, nested multiparts walked; the Subject comes first;
 *            split into paragraphs as SpamAssassin splits it
 *   rawbody  the text parts decoded but not rendered (HTML kept), in
 *            lines
 *   uri      every URI found in text and HTML parts, canonicalized
 *   full     the whole message as received
 *
 * The message is never changed.  Nothing here fails for any input: a
 * message with no recognizable structure gives a text body or empty
 * views.  One spam_msg belongs to one thread at a time; different
 * ones may be made and used on several threads at once.
 */
#ifndef POSTERN_SPAM_MSG_H
#define POSTERN_SPAM_MSG_H

#include <stddef.h>

struct spam_msg;

/* A view: a run of octets, not NUL-terminated for the matcher's sake
 * (s[len] is a NUL all the same). */
struct spam_text {
	const char *s;
	size_t len;
};

enum spam_hdr_form {
	SPAM_HDR_DECODED = 0, /* header NAME =~ ...        */
	SPAM_HDR_RAW,         /* header NAME:raw =~ ...    */
	SPAM_HDR_ADDR,        /* header NAME:addr =~ ...   */
	SPAM_HDR_NAME,        /* header NAME:name =~ ...   */
};

/*
 * Decode a message: data is the whole message, header and body, with
 * CRLF or LF line ends, len octets (copied).  Never NULL.
 */
struct spam_msg *spam_msg_new(const char *data, size_t len);
void spam_msg_free(struct spam_msg **m);

/*
 * The fields called name (case-insensitive) in the given form, joined
 * as SpamAssassin joins them.  Besides field names, name may be one of
 * SpamAssassin's pseudo-headers: "ALL" (every field, "Name: value\n"),
 * "ToCc" (To and Cc), "MESSAGEID" (Message-Id and its relatives),
 * "EnvelopeFrom" and others it synthesizes where this module can.
 * Returns 0 and an empty text when there is no such field.
 */
int spam_msg_header(struct spam_msg *m, const char *name,
                    enum spam_hdr_form form, struct spam_text *text_r);

/* The body paragraphs, the raw body lines, the URIs: arrays owned by
 * m; *n_r receives the count. */
const struct spam_text *spam_msg_body(struct spam_msg *m, size_t *n_r);
const struct spam_text *spam_msg_rawbody(struct spam_msg *m, size_t *n_r);
const struct spam_text *spam_msg_uris(struct spam_msg *m, size_t *n_r);

/* 1 when the MIME walk stopped at its bounds (nesting deeper than 20,
 * more than 1000 parts): the views lack what lies beyond. */
int spam_msg_truncated(struct spam_msg *m);

/* The whole message as given to spam_msg_new(). */
struct spam_text spam_msg_full(const struct spam_msg *m);

#endif
