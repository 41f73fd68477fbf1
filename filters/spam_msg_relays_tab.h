/*
 * spam_msg_relays_tab.h - the Received formats table shared by
 * spam_msg_relays.c (the matching) and spam_msg_relays_tab.c (the data).
 */
#ifndef POSTERN_SPAM_MSG_RELAYS_TAB_H
#define POSTERN_SPAM_MSG_RELAYS_TAB_H

#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* What a Received field says about its relay. */
enum relays_field {
	RF_NONE = 0,
	RF_IP,
	RF_RDNS,
	RF_HELO,
	RF_BY,
	RF_IDENT,
	RF_SUB, /* Exim's "(helo=... ident=...)" comment, taken apart */
	RF_ID,
	RF_N
};

/* What to do when a rule matches. */
enum relays_act {
	RA_PARSED = 0,    /* the groups say it: done */
	RA_SKIP,          /* a handover to leave out */
	RA_POP,           /* a POP or IMAP fetch: leave out, restart */
	RA_QMAIL_SCANNER, /* leave out, its envelope sender to the next */
	RA_EXIM_ODD       /* (list end) Exim's loose format: take bits */
};

#define RL_NOT_GUARD  0x01  /* the rule applies unless guard matches */
#define RL_IDENT_RDNS 0x02  /* an "IDENT:user@" or "user@" before rdns */
#define RL_IDENT_AT   0x04  /* a "@" ending ident dropped */
#define RL_SOFTDNS    0x08  /* rdns "softdnserr" is no name */
#define RL_NO_ID      0x10  /* the id found earlier is no id */
#define RL_XMAIL      0x20  /* id and envelope sender in <...> */
#define RL_HOTMAIL    0x40  /* the IP address leads, if it is there */
#define RL_NO_BY      0x80  /* no receiving host */
#define RL_UNVERIFIED 0x100 /* rdns "unverified" is no name */

struct relays_rule {
	const char *guard; /* must match first (NULL: none) */
	const char *re;    /* NULL ends a list */
	uint8_t act;
	uint16_t flags;
	int8_t g[RF_N]; /* the group holding each field (0: not set) */
	pcre2_code *cguard, *cre;
};

/* MTA-specific rule lists: the first whose selector matches is the
 * only one tried. */
struct relays_vendor {
	const char *sel;
	struct relays_rule *rules;
	pcre2_code *csel;
};

enum relays_auth_kind {
	RAU_GROUP,   /* the first group */
	RAU_FIXED,   /* a fixed name */
	RAU_GMAIL,   /* "GMail - transport=$1 cipher=$2" */
	RAU_GMX,     /* "GMX ($4 / $3)" */
	RAU_POSTFIX, /* "Postfix", or "Postfix ($1)" when renamed */
};

struct relays_auth {
	const char *guard;
	const char *re; /* NULL ends the list */
	enum relays_auth_kind kind;
	const char *name;
	pcre2_code *cguard, *cre;
};

extern const char *const spam_msg_relays_ip;
extern const char *const spam_msg_relays_private;
extern struct relays_rule spam_msg_relays_webmail[];
extern struct relays_vendor spam_msg_relays_vendors[];
extern struct relays_rule spam_msg_relays_common[];
extern const char *const spam_msg_relays_qmail;
extern struct relays_rule spam_msg_relays_qmail_alts[];
extern struct relays_rule spam_msg_relays_rare[];
extern struct relays_rule spam_msg_relays_upper[];
extern struct relays_rule spam_msg_relays_paren[];
extern struct relays_auth spam_msg_relays_auths[];

#endif
