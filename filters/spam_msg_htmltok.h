/*
 * spam_msg_htmltok.h - HTML split into tags and text the way Perl's
 * HTML::Parser 3.81 splits it with SpamAssassin's options (non-strict
 * comments, marked sections on, entities decoded in text and
 * attribute values), for spam_msg_html.c.
 */
#ifndef POSTERN_SPAM_MSG_HTMLTOK_H
#define POSTERN_SPAM_MSG_HTMLTOK_H

#include <stddef.h>

#include "filters/spam_msg_private.h"

enum spam_msg_htmltok_kind {
	SPAM_MSG_HTMLTOK_START = 0,
	SPAM_MSG_HTMLTOK_END,
	SPAM_MSG_HTMLTOK_TEXT,
};

/* An attribute: name lowercased, value entity-decoded (UTF-8; wide
 * when a character above U+00FF was decoded into it). */
struct spam_msg_htmltok_attr {
	char *name;
	char *value;
	size_t value_len;
	int wide;
};

struct spam_msg_htmltok {
	enum spam_msg_htmltok_kind kind;
	char *tag; /* lowercased (START, END) */
	struct spam_msg_htmltok_attr *attrs;
	size_t nattrs;
	const char *text; /* TEXT: entity-decoded unless CDATA */
	size_t text_len;
	int wide; /* TEXT: holds a character above U+00FF */
};

/* Called for each token; tokens and their strings live until the
 * callback returns. */
typedef void spam_msg_htmltok_cb(void *arg, const struct spam_msg_htmltok *tok);
/* Asked once the input is used up: text to parse after it (a closing
 * tag), or NULL to end the document. */
typedef const char *spam_msg_htmltok_more_cb(void *arg);

/* Split s (len octets, NUL-terminated; chars: UTF-8 characters rather
 * than octets) into tokens. */
void spam_msg_htmltok_run(const char *s, size_t len, int chars,
                          spam_msg_htmltok_cb *cb,
                          spam_msg_htmltok_more_cb *more, void *arg);

/* spam_msg_entities.c: entities decoded (HTML::Parser's
 * decode_entities); prefix: also
 * "&notit" as "&not" + "it", as text gets.  Appends UTF-8 to out;
 * returns whether a character above U+00FF was produced. */
int spam_msg_htmltok_entities(const char *s, size_t len, int prefix, int chars,
                              struct spam_msg_buf *out);

/* spam_msg_entities.c: U+0080-U+00FF made single octets, as an octet
 * (not character) Perl string holds them; b holds UTF-8 with nothing
 * above U+00FF. */
void spam_msg_entities_latin1(struct spam_msg_buf *b);

#endif
