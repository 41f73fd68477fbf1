/*
 * spam_msg_private.h - what the spam_msg_*.c files share: the parsed
 * message tree, growable buffers, and the steps each file provides.
 *
 * The limits are SpamAssassin 4.0's where it has one (Constants.pm,
 * Conf.pm defaults), and postern's own where it has none.
 */
#ifndef POSTERN_SPAM_MSG_PRIVATE_H
#define POSTERN_SPAM_MSG_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filters/spam_msg.h"

/* SpamAssassin's MAX_BODY_LINE_LENGTH, MAX_HEADER_KEY_LENGTH,
 * MAX_HEADER_VALUE_LENGTH, MAX_HEADER_LENGTH and MAX_URI_LENGTH. */
#define SPAM_MSG_LINE_MAX  2048
#define SPAM_MSG_KEY_MAX   256
#define SPAM_MSG_VALUE_MAX 8192
#define SPAM_MSG_ALL_MAX   65536
#define SPAM_MSG_URI_MAX   8192
/* body_part_scan_size and rawbody_part_scan_size, SpamAssassin's
 * defaults: each part's text is cut near this size. */
#define SPAM_MSG_BODY_SCAN    50000
#define SPAM_MSG_RAWBODY_SCAN 500000
/* MIME nesting (SpamAssassin's subparse default). */
#define SPAM_MSG_DEPTH_MAX 20
/* Postern's own bounds: parts in the whole message (SpamAssassin stops
 * at 1000 per multipart), header fields per part, rendered text per
 * message, URIs kept. */
#define SPAM_MSG_PARTS_MAX  1000
#define SPAM_MSG_FIELDS_MAX 1000 /* header fields kept per part */
#define SPAM_MSG_TEXT_MAX   (4 * 1024 * 1024)
#define SPAM_MSG_URIS_MAX   1000

/* PCRE2 match limit for the regexes of this module. */
#define SPAM_MSG_MATCH_LIMIT 200000

/* A growable octet string, always NUL-terminated once used. */
struct spam_msg_buf {
	char *s;
	size_t len;
	size_t cap;
};

void spam_msg_buf_add(struct spam_msg_buf *b, const char *s, size_t n);
void spam_msg_buf_addc(struct spam_msg_buf *b, char c);
void spam_msg_buf_adds(struct spam_msg_buf *b, const char *s);
/* The text (NUL-terminated, "" for an unused buffer), handed over; the
 * buffer is empty again. */
char *spam_msg_buf_take(struct spam_msg_buf *b, size_t *len_r);
void spam_msg_buf_free(struct spam_msg_buf *b);

/* A run of octets inside some other string. */
struct spam_msg_span {
	const char *s;
	size_t len;
};

/* One header field as SpamAssassin stores it. */
struct spam_msg_field {
	char *name; /* as written, blanks before the colon removed */
	size_t name_len;
	char *raw; /* the value after the colon, folds and newline kept */
	size_t raw_len;
	char *dec; /* decoded value, built on first use (NULL until) */
	size_t dec_len;
};

struct spam_msg_fields {
	struct spam_msg_field *v;
	size_t n;
	size_t cap;
};

/* A node of the MIME tree: a leaf, a multipart or a message/rfc822
 * part (its one kid the message's body); the root also holds the
 * top-level header fields. */
struct spam_msg_node {
	struct spam_msg_fields fields; /* the root's only */
	char *type;    /* lowercased media type, never NULL ("": skip) */
	char *charset; /* or NULL */
	char *name;    /* attachment name, or NULL */
	struct _GMimeObject *part; /* a leaf's GMimePart (kept by the
	                              tree's message), or NULL */
	char *text; /* a leaf's content when GMime has no part for it */
	size_t text_len;
	int leaf;
	struct spam_msg_node *kids; /* children, in order */
	struct spam_msg_node *last_kid;
	struct spam_msg_node *next;
};

/* The whole parse: the root, its header text, counters. */
struct spam_msg_tree {
	struct spam_msg_node *root;
	char *pristine_hdr; /* the header section as received */
	size_t pristine_hdr_len;
	size_t nparts; /* nodes made, against SPAM_MSG_PARTS_MAX */
	int truncated; /* the walk stopped at a depth or part bound */
	struct _GMimeMessage *gmime; /* owned; NULL if GMime found none */
};

/* spam_msg_mime.c: parse data with GMime into t (always succeeds). */
void spam_msg_mime_parse(struct spam_msg_tree *t, const char *data, size_t len);
void spam_msg_mime_free(struct spam_msg_tree *t);
/* The leaves of the tree, depth first (parts with an empty type left
 * out); allocated array. */
struct spam_msg_node **spam_msg_mime_leaves(const struct spam_msg_tree *t,
                                            size_t *n_r);
/* The part's content with its Content-Transfer-Encoding undone (by
 * GMime), CRLF made LF; allocated, NUL-terminated. */
char *spam_msg_mime_decode(struct spam_msg_node *n, size_t *len_r);
/* The decoded value of the last field called name (its length in
 * *len_r if not NULL), or NULL. */
const char *spam_msg_mime_last(struct spam_msg_node *n, const char *name,
                               size_t *len_r);
/* Fill f->dec if not done yet. */
void spam_msg_mime_field_decode(struct spam_msg_field *f);
/* Whether the field is called name (ASCII case ignored). */
int spam_msg_mime_field_is(const struct spam_msg_field *f, const char *name,
                           size_t len);

/* spam_msg_body.c: the body view (HTML parts' links added to uris as
 * "uri\0uri\0...") and the rawbody view; allocated arrays. */
struct spam_text *spam_msg_body_build(struct spam_msg_tree *tree,
                                      struct spam_msg_buf *uris, size_t *n_r);
struct spam_text *spam_msg_body_raw(struct spam_msg_tree *tree, size_t *n_r);

/* spam_msg_util.c: SpamAssassin's small helpers. */
/* Compile one of our own patterns (aborts if it does not compile). */
pcre2_code *spam_msg_re_compile(const char *pattern, uint32_t flags);
/* Match re against s from off; fills up to ng groups (unset groups
 * get s == NULL).  Returns 1 on a match, 0 otherwise. */
int spam_msg_re_match(const pcre2_code *re, const char *s, size_t len,
                      size_t off, struct spam_msg_span *g, int ng);
/* url_encode(): %21-%7E decoded, controls, 8-bit octets, '"', '%',
 * '<' and '>' %-encoded; in a Perl character string (wide: UTF-8
 * characters, not octets) U+0080-U+00FF are encoded as one %XX and
 * higher ones kept. */
char *spam_msg_util_url_encode(const char *s, size_t len, int wide,
                               size_t *len_r);
/* Lines (split /^/m): spans into s; allocated array. */
struct spam_msg_span *spam_msg_util_lines(const char *s, size_t len,
                                          size_t *n_r);
int spam_msg_util_is_ws(unsigned char c);
/* Length of the Unicode white space character (UTF-8, beyond ASCII:
 * U+0085, U+00A0, U+2000..U+200A ...) at s, or 0. */
size_t spam_msg_util_uni_space(const char *s, size_t len);
/* Whether s holds one or more octets, all ASCII digits. */
int spam_msg_util_all_digits(const char *s, size_t len);
/* is_fqdn_valid($host, 1) */
int spam_msg_util_fqdn_valid(const char *host, size_t len);
/* is_domain_valid(): the last label is a known TLD. */
int spam_msg_util_domain_valid(const char *dom, size_t len);
/* Whether s is in the TLD list (spam_msg_tlds.c); lowercase ASCII. */
int spam_msg_tlds_known(const char *s, size_t len);
/* The TLDs joined with '|', for a regex. */
void spam_msg_tlds_alternation(struct spam_msg_buf *b);

/* spam_msg_charset.c: _normalize() and header decoding, to UTF-8. */
char *spam_msg_charset_normalize(const char *s, size_t len, const char *charset,
                                 int insist, size_t *len_r, int *decoded_r);
char *spam_msg_charset_decode_header(const char *s, size_t len,
                                     const char *field, size_t *len_r);
void spam_msg_charset_init(void);
/* GMime's parser options for this module: fallback charsets UTF-8,
 * then Windows-1252 (shared, read-only). */
struct _GMimeParserOptions *spam_msg_charset_parser_options(void);
/* s with each B-encoded word that holds base64 padding re-encoded as
 * a Q word, around a GMime bug (see spam_msg_charset.c); allocated. */
char *spam_msg_charset_fix_words(const char *s);

/* spam_msg_html.c: render an HTML part into text, adding the URIs it
 * links to uris (each a '0' or '1' for the wide flag of
 * spam_msg_uri_from_html(), its length as a size_t, its octets). */
struct spam_msg_html_out {
	struct spam_msg_buf text;
	struct spam_msg_buf uris;
	int wide; /* text holds characters above U+00FF */
};
void spam_msg_html_render(const char *s, size_t len, int chars,
                          struct spam_msg_html_out *out);
/* spam_msg_target.c: r (rlen octets) resolved against base (a C
 * string, "" for none), as HTML.pm's target_uri; allocated. */
char *spam_msg_target_uri(const char *base, const char *r, size_t rlen,
                          size_t *len_r);
/* HTML entity by name (spam_msg_entities.c): code point, or 0. */
unsigned int spam_msg_entities_find(const char *name, size_t len,
                                    int semicolon);

/* spam_msg_canon.c: lists of strings, and a URI's variants. */
struct spam_msg_str {
	char *s;
	size_t len;
};

struct spam_msg_strlist {
	struct spam_msg_str *v;
	size_t n;
	size_t cap;
};

void spam_msg_canon_push(struct spam_msg_strlist *l, const char *s, size_t len);
void spam_msg_canon_free(struct spam_msg_strlist *l);
/* uri_list_canonicalize for one URI: it (cleaned) and its variants,
 * redirect targets with theirs, appended to out without repeats; wide:
 * the URI is a Perl character string. */
void spam_msg_canon_all(const char *uri, size_t len, int wide,
                        struct spam_msg_strlist *out);

/* spam_msg_domain.c: whether uri names an IP address or a valid host
 * with a known TLD. */
int spam_msg_domain_check(const char *uri, size_t len);

/* spam_msg_uri.c: the uri view. */
struct spam_msg_uris {
	struct spam_text *v;
	size_t n;
	size_t cap;
	void *seen; /* lookup of what v holds */
};
void spam_msg_uri_from_text(struct spam_msg_uris *u,
                            const struct spam_text *lines, size_t n);
/* wide: the link is a Perl character string (see spam_msg_uri.c). */
void spam_msg_uri_from_html(struct spam_msg_uris *u, const char *uri,
                            size_t len, int wide);
void spam_msg_uri_free(struct spam_msg_uris *u);
void spam_msg_uri_init(void);

/* spam_msg_addr.c: the addresses (or the display names) in a raw
 * field value, each handed to cb in order (s is not kept). */
typedef void spam_msg_addr_cb(void *arg, const char *s, size_t len);
void spam_msg_addr_parse(const char *value, size_t len, int want_name,
                         spam_msg_addr_cb *cb, void *arg);

/* UTF-8 helpers (spam_msg_charset.c). */
size_t spam_msg_utf8_put(char *out, unsigned int cp);
/* The code point at s (up to len octets) in *cp_r and its length, or
 * 0 when s does not start with a valid sequence (strict: no overlong
 * forms, surrogates or non-characters). */
size_t spam_msg_utf8_get(const char *s, size_t len, unsigned int *cp_r);

/* spam_msg_relays.c: SpamAssassin's relay analysis of the Received
 * fields, with no trusted_networks configured. */
enum spam_msg_relays_which {
	SPAM_MSG_RELAYS_TRUSTED,
	SPAM_MSG_RELAYS_UNTRUSTED,
	SPAM_MSG_RELAYS_INTERNAL,
	SPAM_MSG_RELAYS_EXTERNAL,
	SPAM_MSG_RELAYS_N
};
struct spam_msg_relays {
	char *str[SPAM_MSG_RELAYS_N]; /* X-Spam-Relays-* texts */
	size_t len[SPAM_MSG_RELAYS_N];
	long last_trusted; /* last_trusted_relay_index */
	long last_internal;
};
/* The fields (originating_ip_headers) whose last value may add a
 * relay; NULL-terminated. */
extern const char *const spam_msg_relays_origin[];
/* rcvd: the Received values as get_header() gives them (decoded,
 * newest first); origin: the last value of each spam_msg_relays_origin
 * field present, in that order.  Both only read.  Never NULL. */
struct spam_msg_relays *spam_msg_relays_new(const struct spam_msg_buf *rcvd,
                                            size_t nrcvd,
                                            const struct spam_msg_buf *origin,
                                            size_t norigin);
void spam_msg_relays_free(struct spam_msg_relays **r);
/* X-Spam-Relays-Trusted... (case ignored): 0..3 (a which);
 * ALL-TRUSTED...: 4..7; anything else: -1. */
int spam_msg_relays_kind(const char *name);
/* For ALL-TRUSTED and the like (kind 4..7): the run [*from_r, *to_r)
 * of hdrs (one field each, "Name: value", in order) it is made of. */
void spam_msg_relays_all_range(const struct spam_msg_relays *r, int kind,
                               const struct spam_msg_buf *hdrs, size_t n,
                               size_t *from_r, size_t *to_r);

#endif
