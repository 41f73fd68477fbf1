/*
 * smtp_parse.h - parsing what an SMTP client sends (RFC 5321, 6531, 1869,
 * 3461, and Postfix's XCLIENT and XFORWARD).
 *
 * Every function works on one command line, already stripped of its
 * line ending, and modifies it in place: results point into the line.
 * Nothing here does I/O, allocates, or knows about sessions.  Errors come
 * back as -1 with a static reason in *error_r that is fit to follow an
 * SMTP reply code ("syntax error in parameters").
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stddef.h>

/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCALPART_MAX 64
#define SMTP_DOMAIN_MAX    255
#define SMTP_PATH_MAX      256
/* ESMTP parameters accepted on one MAIL or RCPT command. */
#define SMTP_PARAMS_MAX 16

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_XCLIENT,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
	SMTP_VERB_XFORWARD,
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *name; /* the verb as a static uppercase string */
	char *args;       /* after the verb and its separating space(s);
	                     "" when there are none */
};

/*
 * Split a command line (without CRLF, len octets, NUL-terminated at
 * len) into verb and arguments.  Verbs are case-insensitive.  A NUL
 * octet inside the line, or a line that does not start with a verb of
 * letters, is an error.  An unknown verb is not an error: verb is
 * SMTP_VERB_UNKNOWN and name is NULL.
 */
int smtp_cmd_parse(char *line, size_t len, struct smtp_cmd *cmd,
                   const char **error_r);

/*
 * HELO/EHLO argument: one token, a domain or an address literal
 * ("[1.2.3.4]", "[IPv6:::1]").  Underscores and a trailing dot are
 * tolerated since real clients send them.  Sets *name to the token.
 */
int smtp_parse_helo(char *args, char **name_r, const char **error_r);

struct smtp_param {
	char *keyword; /* as sent; compare case-insensitively */
	char *value;   /* NULL for a keyword without "=" */
};

struct smtp_path_cmd {
	char *address; /* mailbox without <>, source route dropped;
	                  "" for the null reverse-path */
	int utf8;      /* address has octets >= 0x80 (valid UTF-8) */
	size_t nparams;
	struct smtp_param params[SMTP_PARAMS_MAX];
};

/*
 * "FROM:<addr> PARAMS" as sent after MAIL.  "FROM:" is case-insensitive;
 * a space after the colon and a missing <> around a plain address are
 * tolerated (many clients do it).  The address must be a valid mailbox
 * (RFC 5321 4.1.2, UTF-8 per RFC 6531) or empty.
 */
int smtp_parse_mail(char *args, struct smtp_path_cmd *out,
                    const char **error_r);

/* "TO:<addr> PARAMS" as sent after RCPT.  The null path is refused;
 * "<postmaster>" without a domain is allowed. */
int smtp_parse_rcpt(char *args, struct smtp_path_cmd *out,
                    const char **error_r);

/* Find a parameter by keyword (case-insensitive); NULL if absent. */
const struct smtp_param *smtp_param_find(const struct smtp_path_cmd *cmd,
                                         const char *keyword);

/*
 * Value checks for the parameters postern understands.  Each returns 0
 * if the value is well formed, else -1 with *error_r.
 *   SIZE=digits (up to 20)          -> *size_r
 *   BODY=7BIT|8BITMIME
 *   RET=FULL|HDRS, ENVID=xtext (<= 100 octets)         (RFC 3461)
 *   NOTIFY=NEVER | list of SUCCESS,FAILURE,DELAY       (RFC 3461)
 *   ORCPT=addr-type;xtext (<= 500 octets)              (RFC 3461)
 */
int smtp_param_size(const char *value, unsigned long long *size_r,
                    const char **error_r);
int smtp_param_body(const char *value, const char **error_r);
int smtp_param_ret(const char *value, const char **error_r);
int smtp_param_envid(const char *value, const char **error_r);
int smtp_param_notify(const char *value, const char **error_r);
int smtp_param_orcpt(const char *value, const char **error_r);
/* REQUIRETLS takes no value (RFC 8689 2): value must be NULL. */
int smtp_param_requiretls(const char *value, const char **error_r);

/* 1 if s is well-formed xtext (RFC 3461 4), else 0. */
int smtp_xtext_valid(const char *s);

/*
 * Decode xtext ("a+2Bb" -> "a+b") into dst (size dstsize, NUL
 * terminated).  Returns 0, or -1 if s is not xtext or does not fit.
 */
int smtp_xtext_decode(const char *s, char *dst, size_t dstsize);

/*
 * Encode for XCLIENT/XFORWARD values: octets outside '!'..'~' and '+'
 * and '=' become "+HH".  Returns 0, or -1 if it does not fit.
 */
int smtp_xtext_encode(const char *s, char *dst, size_t dstsize);

/* XCLIENT or XFORWARD attributes as a trusted client sends them.  Absent
 * ones are NULL; "[UNAVAILABLE]" and "[TEMPUNAVAIL]" are kept as sent. */
struct smtp_xclient {
	char *name;
	char *addr;
	char *port;
	char *proto;
	char *helo;
	char *login;    /* XCLIENT only */
	char *destaddr; /* XCLIENT only */
	char *destport; /* XCLIENT only */
	char *ident;    /* XFORWARD only: the sender's queue id */
	char *source;   /* XFORWARD only: LOCAL or REMOTE */
};

/*
 * Parse "ATTR=xtext ..." (RFC-less but Postfix-documented XCLIENT);
 * values are xtext-decoded in place.  Unknown attributes and bad values
 * are errors.
 */
int smtp_parse_xclient(char *args, struct smtp_xclient *out,
                       const char **error_r);

/*
 * The same for XFORWARD (Postfix's XFORWARD_README): NAME ADDR PORT
 * PROTO HELO IDENT SOURCE.  PROTO may be any protocol word ("ESMTPS"),
 * not only SMTP or ESMTP; SOURCE is LOCAL or REMOTE.
 */
int smtp_parse_xforward(char *args, struct smtp_xclient *out,
                        const char **error_r);

/* 1 if s (NUL-terminated) is valid UTF-8 without overlongs or
 * surrogates, else 0. */
int smtp_utf8_valid(const char *s, size_t len);

#endif
