/*
 * smtp_reply.h - SMTP replies: reading the upstream's, writing our own.
 *
 * An upstream reply is read one line at a time and kept verbatim, so it
 * can be relayed to the client unchanged, queue id and all.  EHLO
 * replies are turned into a capability set.  Replies are bounded in
 * line count and size; anything else is a protocol error of the peer.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_LINE_MAX  1000 /* octets, without CRLF; RFC says 512 */
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_SIZE_MAX  16384

struct smtp_reply {
	int code;       /* 0 until the first line arrived */
	char ecode[16]; /* "2.1.0" when the first line has one, else "" */
	size_t nlines;
	char *raw; /* every line as received, each ending in CRLF */
	size_t rawlen;
	size_t rawsize; /* allocated */
	int complete;
};

void smtp_reply_init(struct smtp_reply *r);
/* Forget the content, keep the buffer. */
void smtp_reply_reset(struct smtp_reply *r);
void smtp_reply_deinit(struct smtp_reply *r);

/*
 * Add one line (without its line ending, len octets).  Returns 1 while
 * more lines are expected ("250-"), 0 when the reply is complete
 * ("250 " or "250" alone), -1 with *error_r if the line is malformed:
 * not three digits in 200..599, a code different from the first line's,
 * a bad separator, a NUL, over the limits.
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
                    const char **error_r);

/*
 * Text of line i (0-based) after "NNN-" or "NNN ", without CRLF, copied
 * into buf; returns buf, or NULL if i is out of range.
 */
char *smtp_reply_line(const struct smtp_reply *r, size_t i, char *buf,
                      size_t size);

/* First line of the reply for a log: "250 2.0.0 Ok: queued as X",
 * escaped and bounded by log_escape(); returns buf. */
char *smtp_reply_summary(const struct smtp_reply *r, char *buf, size_t size);

/*
 * The whole reply as one line for reports: "550 5.1.1 first line next
 * line", the code and the enhanced code once, then every line's text
 * (its repeated enhanced code left out) joined by spaces.  Octets that
 * are not printable ASCII become '?'; bounded by size.  Returns buf.
 */
char *smtp_reply_text(const struct smtp_reply *r, char *buf, size_t size);

/* Extensions an EHLO reply may offer. */
#define SMTP_CAP_PIPELINING 0x0001u
#define SMTP_CAP_SIZE       0x0002u
#define SMTP_CAP_8BITMIME   0x0004u
#define SMTP_CAP_ENHANCED   0x0008u /* ENHANCEDSTATUSCODES */
#define SMTP_CAP_SMTPUTF8   0x0010u
#define SMTP_CAP_DSN        0x0020u
#define SMTP_CAP_XCLIENT    0x0040u
#define SMTP_CAP_XFORWARD   0x0080u
#define SMTP_CAP_STARTTLS   0x0100u
#define SMTP_CAP_AUTH       0x0200u
#define SMTP_CAP_CHUNKING   0x0400u
#define SMTP_CAP_REQUIRETLS 0x0800u
#define SMTP_CAP_BINARYMIME 0x1000u

struct smtp_caps {
	unsigned int flags;
	unsigned long long size; /* SIZE value, 0 if none or unlimited */
	char xclient[128];       /* attribute names after XCLIENT */
	char xforward[128];      /* attribute names after XFORWARD */
	char auth[128];          /* mechanisms after AUTH */
};

/* Read the capabilities of a complete 250 EHLO reply (line 0 is the
 * greeting and is skipped).  Unknown keywords are ignored. */
void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps);

/* 1 if the space-separated list (e.g. caps->xclient) holds word,
 * case-insensitively, else 0. */
int smtp_caps_has_word(const char *list, const char *word);

/*
 * Format one of postern's own replies into buf: "code ecode text\r\n".
 * text may hold '\n' to make a multi-line reply; each line then gets the
 * code and enhanced code.  ecode may be NULL.  Returns the length
 * written, or -1 if it does not fit (buf is then left truncated).
 */
int smtp_reply_format(char *buf, size_t size, int code, const char *ecode,
                      const char *text);

#endif
