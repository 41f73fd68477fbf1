/*
 * spam_msg_relays_tab.c - the Received shapes spam_msg_relays.c knows,
 * as SpamAssassin 4.0's Received.pm (parse_received_line) tells them
 * apart: a pattern per MTA format, in the order SpamAssassin tries
 * them, with where in it the IP address, reverse DNS name, HELO name,
 * receiving host and ident are.
 *
 * Only data here; the matching is spam_msg_relays.c's.
 */
#include "filters/spam_msg_relays_tab.h"

/* An IPv4 octet, Constants.pm's IP_ADDRESS (IPv4, IPv6 and IPv4 in
 * IPv6, case ignored as there) and its LOCALHOST. */
#define OCT   "(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)"
#define V4    OCT "\\." OCT "\\." OCT "\\." OCT
#define H     "[a-f0-9]{1,4}"
#define Z     "0{1,4}"
#define V6PRE "(?:IPv6:|(?<![a-f0-9:]))"
#define IP                                                                     \
	"(?i:\\b(?<!:)" V4 "\\b|" V6PRE "(?:(?:(?:" H ":){6}|::(?:" H          \
	":){0,5}|(?:" H ":){1,5}:|" H "::(?:" H ":){1,4}|(?:" H ":){2}:(?:" H  \
	":){1,3}|(?:" H ":){3}:(?:" H ":){1,2}|(?:" H ":){4}:" H ":)" V4       \
	"|(?:" H ":){7}" H "|:(?::" H "){1,7}|(?:" H ":){1,7}:|" H ":(?::" H   \
	"){1,6}|(?:" H ":){2}(?::" H "){1,5}|(?:" H ":){3}(?::" H              \
	"){1,4}|(?:" H ":){4}(?::" H "){1,3}|(?:" H ":){5}(?::" H              \
	"){1,2}|(?:" H ":){6}:" H "|::)(?![a-f0-9:]))"
#define MAPPED                                                                 \
	"(?:(?:" Z ":){5}ffff:|::(?:" Z ":){0,4}ffff:|(?:" Z                   \
	":){1,4}:ffff:|" Z "::(?:" Z ":){1,3}ffff:|(?:" Z ":){2}:0{1,2}:"      \
	"ffff:|(?:" Z ":){3}:0:ffff:|(?:" Z ":){4}:ffff:)"
#define LOOP6                                                                  \
	"(?:" Z ":){7}0{0,3}1|:(?::" Z "){0,6}:0{0,3}1|" Z ":(?::" Z           \
	"){0,5}:0{0,3}1|(?:" Z ":){2}(?::" Z "){0,4}:0{0,3}1|(?:" Z            \
	":){3}(?::" Z "){0,3}:0{0,3}1|(?:" Z ":){4}(?::" Z                     \
	"){0,2}:0{0,3}1|(?:" Z ":){5}(?::" Z "){0,1}:0{0,3}1|(?:" Z            \
	":){6}:0{0,3}1"
#define LH                                                                     \
	"(?i:localhost(?:\\.localdomain)?|\\b(?<!:)127\\.0\\.0\\.1\\b|" V6PRE  \
	"(?:" MAPPED "127\\.0\\.0\\.1|" LOOP6 ")(?![a-f0-9:]))"
#define PRIV4                                                                  \
	"(?:10|127|169\\.254|172\\.(?:1[6-9]|2[0-9]|3[01])|192\\.168|"         \
	"100\\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))"

const char *const spam_msg_relays_ip = IP;
/* IP_PRIVATE: private, loopback, link-local and shared ranges. */
const char *const spam_msg_relays_private =
    "^(?i:" PRIV4 "\\..*|" V6PRE "(?:" MAPPED PRIV4
    "\\..*|fe[89ab][0-9a-f]:.*|" LOOP6 ")(?![a-f0-9:]))";

#define G(...) .g = {__VA_ARGS__}

/* Tried before the MTA-specific ones: webmail. */
struct relays_rule spam_msg_relays_webmail[] = {
    {.guard = " \\((?:SquirrelMail|NaSMail) authenticated user ",
     .re = "(" IP ")\\b(?![.-]).{10,80}by (\\S+) with HTTP",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.guard = "^(?=.*aol\\.com).*with HTTP \\(WebMailUI\\)",
     .re = "(" IP ") by (\\S+) \\(" IP "\\) with HTTP \\(WebMailUI\\)",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = NULL},
};

static struct relays_rule smtpsvc[] = {
    {.re = "^(\\S*) \\(\\[(" IP ")\\][^\\)]{0,40}\\) by (\\S+) with "
           "Microsoft SMTPSVC",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^mail pickup service by (\\S+) with Microsoft SMTPSVC$",
     .act = RA_SKIP},
    {.re = NULL},
};

static struct relays_rule exchange[] = {
    {.re = "^(\\S+) \\(\\[?(" IP ")(?:%[A-Z0-9._~-]*)?\\]?\\) by (\\S+) ",
     .flags = RL_NO_ID,
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = NULL},
};

static struct relays_rule xmail[] = {
    {.re = "^(\\S+) \\((\\[?" IP "\\]?)(?::\\d+)\\) by (\\S+)"
           "(?: \\(\\S+\\))? with \\[XMail",
     .flags = RL_XMAIL,
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = NULL},
};

static struct relays_rule ecelerity[] = {
    {.re = "^\\(\\[(" IP "):\\d+\\] helo=(\\S+)\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_HELO] = 2, [RF_BY] = 3)},
    {.re = "^\\S+ \\(\\[(" IP "):\\d+\\]\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = NULL},
};

static struct relays_rule exim[] = {
    {.re = "\\bwith local(?:-\\S+)? ", .act = RA_SKIP},
    {.re = "^\\[(" IP ")\\] \\((.*?)\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_SUB] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\(\\[(" IP ")\\](.*?)\\) by (\\S+) ",
     G([RF_RDNS] = 1, [RF_HELO] = 1, [RF_IP] = 2, [RF_SUB] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\[(" IP ")\\](:\\d+)? by (\\S+) ",
     G([RF_RDNS] = 1, [RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 4)},
    {.re = NULL, .act = RA_EXIM_ODD},
};

static struct relays_rule postfix[] = {
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((\\S+)\\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = NULL},
};

static struct relays_rule scalix[] = {
    {.re = "^(\\S+) \\( ?(" IP ")\\) by (\\S+)",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = NULL},
};

static struct relays_rule domino[] = {
    {.re = "^(\\S+) \\(\\[(" IP ")\\]\\) by (\\S+) \\(Lotus",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = NULL},
};

/* Only the first whose selector matches is tried. */
struct relays_vendor spam_msg_relays_vendors[] = {
    {.sel = " SMTPSVC", .rules = smtpsvc},
    {" with (?:Microsoft SMTP Server|mapi id) (?:\\([^\\)]+\\) )?"
     "\\d+\\.\\d+\\.\\d+\\.\\d+(?:$| )",
     exchange, NULL},
    {"\\[XMail ", xmail, NULL},
    {"\\(ecelerity\\b", ecelerity, NULL},
    {"Exim", exim, NULL},
    {" \\(Postfix\\) with", postfix, NULL},
    {"\\(Scalix SMTP Relay", scalix, NULL},
    {" \\(Lotus Domino ", domino, NULL},
    {NULL, NULL, NULL},
};

/* The common formats, before qmail's. */
struct relays_rule spam_msg_relays_common[] = {
    {.guard = "\\bwith HTTP\\b",
     .re = "^(" IP ") \\(\\[" IP "\\]\\) by (\\S+)",
     G([RF_IP] = 1, [RF_BY] = 2)},
    /* sendmail, unless it is qmail-ldap */
    {.guard = " by \\S+ \\(qmail-\\S+\\) with ",
     .flags = RL_NOT_GUARD | RL_IDENT_RDNS,
     .re = "^(\\S+) \\((\\S+) \\[(" IP ")\\].*\\) by (\\S+) \\(",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\) by (\\S+) with \\S+ \\(",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\(\\[(" IP ")\\] helo=(\\S+)\\) by (\\S+) with ",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_HELO] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\(<unknown\\S*>\\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\((\\S+\\.\\S+)\\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((\\S*)\\@\\[(" IP ")\\].*\\) by (\\S+) \\(",
     G([RF_HELO] = 1, [RF_IDENT] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "by (\\S+\\.hotmail\\.msn\\.com) ",
     .flags = RL_HOTMAIL,
     G([RF_BY] = 1)},
    {.re = "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((" IP ")\\) by (\\S+) "
           "\\(qpsmtpd\\/\\S+\\) with (?:ESMTP|SMTP)",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\(LHLO (\\S*)\\) \\((" IP ")\\) by (\\S+) with LMTP",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\[(" IP ")\\] by (\\S+) "
           "\\([^\\)]+\\) with (?:ESMTP|SMTP)",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\(\\[(" IP ")\\]\\) by (\\S+) via smtpd \\(for \\S+\\) "
           "with SMTP\\(",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = NULL},
};

/* qmail: the selector, then the first of these that matches. */
const char *const spam_msg_relays_qmail =
    "^\\S+( \\((?:HELO|EHLO) \\S*\\))? \\((\\S+\\@)?\\[?" IP "\\]?\\)"
    "( \\(envelope-sender <\\S+>\\))? by \\S+( \\(.+\\))* with (.* )?"
    "(SMTP|QMQP)(?! id )";

#define ENVS "( \\(envelope-sender <\\S+>\\))?"
struct relays_rule spam_msg_relays_qmail_alts[] = {
    {.re = "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\((\\S*)\\@\\[?(" IP
           ")\\]?\\)" ENVS " by (\\S+)",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IDENT] = 3, [RF_IP] = 4, [RF_BY] = 6)},
    {.re = "^(\\S+) \\((?:HELO|EHLO) ([^ \\(\\)]*)\\) \\(\\[?(" IP
           ")\\]?\\)" ENVS " by (\\S+)",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IP] = 3, [RF_BY] = 5)},
    {.re = "^(\\S+) \\((\\S*)\\@\\[?(" IP ")\\]?\\)" ENVS " by (\\S+)",
     G([RF_HELO] = 1, [RF_RDNS] = 1, [RF_IDENT] = 2, [RF_IP] = 3, [RF_BY] = 5)},
    {.re = "^(\\S+) \\(\\[?(" IP ")\\]?\\)" ENVS " by (\\S+)",
     G([RF_HELO] = 1, [RF_RDNS] = 1, [RF_IP] = 2, [RF_BY] = 4)},
    {.re = NULL},
};

/* After qmail's: rarer formats, then handovers to leave out. */
struct relays_rule spam_msg_relays_rare[] = {
    {.guard = " via HTTP$",
     .re = "^\\[(" IP ")\\] by (\\S+) via HTTP$",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^(\\S+) \\( \\[(" IP ")\\]\\).*? by (\\S+) ",
     G([RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\((\\S+) \\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\[(" IP ")\\] by (\\S+) ", G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^\\(\\[?(" IP ")\\]?\\) by (\\S+) ", G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^(\\S+) \\[(" IP ")\\] by (\\S+) \\[" IP "\\] with ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\[\\((" IP ")\\)\\] by (\\S+) \\(" IP "\\) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\(\\[(" IP ")\\]\\) by (\\S+) \\(",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\).*? by (\\S+)\\b",
     .flags = RL_SOFTDNS,
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\(\\[(" IP ")(?:[.:]\\d+)?\\]\\).*? by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\)(?: \\(authenticated "
           "bits=\\d+\\))? by (\\S+) \\(",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "with (?:POP3|IMAP)", .act = RA_POP},
    {.re = "^(\\S+) \\((?:HELO|EHLO) ([^\\)]*)\\) \\((\\S*@)?\\[?(" IP
           ")\\]?\\).* by (\\S+) ",
     .flags = RL_IDENT_AT,
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IDENT] = 3, [RF_IP] = 4, [RF_BY] = 5)},
    {.re = "^(\\S+) \\((\\S*@)?\\[?(" IP ")\\]?\\).* by (\\S+) ",
     .flags = RL_IDENT_AT,
     G([RF_RDNS] = 1, [RF_HELO] = 1, [RF_IDENT] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.guard = " with http for ",
     .re = "^\\[(" IP ")\\] by (\\S+) with http for ",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.guard = " via smap ",
     .re = "^(\\S+)\\((" IP ")\\) by (\\S+) via smap ",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+)\\((" IP "), (?:HELO|EHLO) (\\S*)\\) by (\\S+) via smap ",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_HELO] = 3, [RF_BY] = 4)},
    {.guard = " \\(Post",
     .re = "^\\[(" IP ")\\] by (\\S+) \\(Post",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.guard = " \\(ArGoSoft",
     .re = "^\\[(" IP ")\\] by (\\S+) \\(ArGoSoft",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^(" IP ") by (\\S+) \\((?:SMTPL|InterScan)\\b",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.guard = " with BSMTP", .re = "^\\S+ by \\S+ with BSMTP", .act = RA_SKIP},
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\) by (\\S+) with ",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((?:HELO|EHLO) (\\S*)\\) \\((?:(\\S+)\\@)?(" IP
           ").*?\\) by (\\S+) with ",
     G([RF_RDNS] = 1, [RF_HELO] = 2, [RF_IDENT] = 3, [RF_IP] = 4, [RF_BY] = 5)},
    {.re = "^\\[(" IP ")\\] \\((?:account \\S+ )?(?:HELO|EHLO) (\\S*)\\) "
           "by (\\S+) \\(",
     G([RF_IP] = 1, [RF_HELO] = 2, [RF_BY] = 3)},
    {.guard = " \\(CommuniGate Pro",
     .re = "^(\\S+) \\(\\[(" IP ")\\] verified\\) by (\\S+) \\(",
     G([RF_RDNS] = 1, [RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\(\\[(" IP ")\\]\\) by (\\S+) with ",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^([^\\d]\\S+) \\((" IP ")\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\S+ \\(\\S+\\) by \\S+ \\(Content Technologies ", .act = RA_SKIP},
    {.re = "^(\\S+) \\(\\[(" IP ")\\] \\[(\\S+)\\]\\) by (\\S+) with ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 4)},
    {.re = "^(" IP ") by (\\S+) with ", G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^(\\S+) \\((\\S+)\\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4)},
    {.re = "^\\[(" IP ")\\]\\S+ \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_HELO] = 2, [RF_BY] = 3)},
    {.re = "^(" IP ") \\((?:HELO|EHLO) (\\S*)\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_HELO] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\[(" IP ")\\] by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+)\\((" IP ")\\) by (\\S+) ",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\[(" IP ")\\] by (\\S+) \\(MailGate ",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^(\\S+) \\(unverified \\[(" IP ")\\]\\) by (\\S+) ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(" IP ") \\([A-Za-z][^\\)]+\\) by (\\S+) with ",
     G([RF_IP] = 1, [RF_BY] = 2)},
    {.re = "^\\[(" IP ")\\] \\(([^\\)]+)\\) by (\\S+) ",
     G([RF_IP] = 1, [RF_SUB] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+) \\((?:\\S+\\@)?(" IP ")\\) by (\\S+) with ",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^(\\S+)\\((" IP ")\\)(?:, claiming to be \"(\\S+)\")? via \\S+ "
           "by (\\S+),",
     G([RF_RDNS] = 1, [RF_IP] = 2, [RF_HELO] = 3, [RF_BY] = 4)},
    {.re = "^(\\S+) \\((\\S+)@(" IP ") with login\\) by "
           "(\\S+\\.yahoo\\.com) with SMTP",
     G([RF_HELO] = 1, [RF_IP] = 3, [RF_BY] = 4)},
    /* the synthetic one made of an X-Originating-IP field and the like */
    {.re = "^X-Originating-IP: (" IP ")$", .flags = RL_NO_BY, G([RF_IP] = 1)},
    {.re = "^\\S+ \\([^\\s\\@]+\\@" LH "\\) by \\S+ \\(", .act = RA_SKIP},
    {.re = "^\\S+ \\S+ by \\S+ with local-e?smtp ", .act = RA_SKIP},
    {.re = "^127\\.0\\.0\\.1 \\(AVG SMTP \\S+ \\[\\S+\\]\\)", .act = RA_SKIP},
    {.re = "^\\S+\\@\\S+ by \\S+ by uid \\S+ ", .act = RA_SKIP},
    {.re = "^\\S+\\@\\S+ by \\S+ ", .act = RA_SKIP},
    {.re = "^Unknown\\/Local \\(", .act = RA_SKIP},
    {.re = "^" LH " \\((?:\\S+\\@)?" LH "[\\)\\[]", .act = RA_SKIP},
    {.re = "^\\S+ \\((?:\\S+\\@)?" LH "\\) ", .act = RA_SKIP},
    {.re = "^\\S+ \\(\\S+\\@\\S+ \\[" LH "\\]\\) ", .act = RA_SKIP},
    {.re = "^\\(AUTH: \\S+\\) by \\S+ with ", .act = RA_SKIP},
    {.re = "^localhost \\(localhost \\[\\[UNIX: localhost\\]\\]\\) by ",
     .act = RA_SKIP},
    {.re = "^\\S+\\.amazon\\.com by \\S+\\.amazon\\.com with ESMTP "
           "\\(peer crosscheck: ",
     .act = RA_SKIP},
    {.re = "^[^\\.]+ by \\S+ with Novell_GroupWise", .act = RA_SKIP},
    {.re = "^no\\.name\\.available by \\S+ via smtpd \\(for ", .act = RA_SKIP},
    {.re = "^\\S+ by \\S+ \\(.{0,100}\\) with qmail-scanner",
     .act = RA_QMAIL_SCANNER},
    {.re = "^\\S+ by \\S+ with local", .act = RA_SKIP},
    {.re = "^\\S+ \\(\\[unix socket\\]\\) by \\S+ \\(Cyrus "
           "v[0-9]*?\\.[0-9]*?\\.[0-9]*?\\) with LMTPA",
     .act = RA_SKIP},
    {.re = "^\\S+ by \\S+ (?:with|via|for|\\()", .act = RA_SKIP},
    {.re = "^\\S+ (?:(?:with|via|for) \\S+|\\(unverified\\)) by\\b",
     .act = RA_SKIP},
    {.re = "^\\S+ \\(unknown\\) by \\S+ \\(SG\\) with \\b", .act = RA_SKIP},
    {.re = "^\\S+ \\(\\S+ \\[local\\]\\) by \\S+ \\(OpenSMTPD\\) with \\b",
     .act = RA_SKIP},
    {.re = "\\(LSMTP for", .act = RA_SKIP},
    {.re = "^\\(\\[" LH "\\]\\) with MailEnable ", .act = RA_SKIP},
    {.re = "^facebook\\.com \\([^\\)]+\\) by facebook\\.com with Thrift "
           "id \\S+$",
     .act = RA_SKIP},
    {.re = "^\\S+ named \\S+ by gmailapi\\.google\\.com with HTTPREST$",
     .act = RA_SKIP},
    {.re = "^\\S+ id \\S+$", .act = RA_SKIP},
    {.re = "^\\[<.*? \\(Jetsend", .act = RA_SKIP},
    {.re = NULL},
};

/* "FROM " in capitals: simta and Rockliffe. */
struct relays_rule spam_msg_relays_upper[] = {
    {.re = "^(\\S+) \\((\\S+) \\[(" IP ")\\]\\) BY (\\S+) (?:\\([^\\)]+\\) "
           "WITH SMTP )?ID <?(\\S+?)>?(?: FOR <[^>]+>)?$",
     .flags = RL_UNVERIFIED,
     G([RF_HELO] = 1, [RF_RDNS] = 2, [RF_IP] = 3, [RF_BY] = 4, [RF_ID] = 5)},
    {.re = NULL},
};

/* "(from ": Norton's gateway, command-line sendmail, jqueuemail. */
struct relays_rule spam_msg_relays_paren[] = {
    {.re = "^(\\S*) \\[(" IP ")\\]\\) by (\\S+) \\(NAVGW .*?\\) with ",
     G([RF_HELO] = 1, [RF_IP] = 2, [RF_BY] = 3)},
    {.re = "^\\S+\\@localhost\\) by \\S+ ", .act = RA_SKIP},
    {.re = "^[^\\s\\@]+\\@[^)]+\\) by \\S+\\(jqueuemail\\) id [^\\s;]+",
     .act = RA_SKIP},
    {.re = NULL},
};

/* How the sender authenticated, as far as the field tells. */
struct relays_auth spam_msg_relays_auths[] = {
    {.guard = " by ",
     .re = "(?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)"
           "(?: |;|$)",
     .kind = RAU_GROUP},
    {.guard = " by mx\\.google\\.com with ESMTPS id [a-z0-9]{1,4}sm"
              "[0-9]{2,9}[a-z]{3}\\.[0-9]{1,3}\\.[0-9]{4}\\."
              "(?:[0-6][0-9]\\.){4}[0-6][0-9]",
     .re = "\\(version=([^ ]+) cipher=([^\\)]+)\\)",
     .kind = RAU_GMAIL},
    {.re = "^from .*?(?:\\]\\)|\\)\\]) \\(AUTH: (LOGIN|PLAIN|DIGEST-MD5|"
           "CRAM-MD5) \\S+(?:, .*?)?\\) by ",
     .kind = RAU_GROUP},
    {.guard = "authenticated",
     .re = "^from .*?(?:\\](?: \\([^)]*\\))?\\)|\\)\\]) .*?\\(.*?"
           "authenticated.*?\\).*? by",
     .kind = RAU_FIXED,
     .name = "Sendmail"},
    {.re = "from \\S* \\((?:HELO|EHLO) (\\S*)\\) \\[(" IP ")\\] by "
           "(mail\\.gmx\\.(?:net|com)) \\([^\\)]+\\) with ((?:ESMTP|SMTP))",
     .kind = RAU_GMX},
    {.guard = " \\(authenticated as ",
     .re = "\\) by .+ \\(\\d{1,2}\\.\\d\\.\\d{3}(?:\\.\\d{1,3})?\\) "
           "\\(authenticated as .+\\) id ",
     .kind = RAU_FIXED,
     .name = "CriticalPath"},
    {.re = "\\) \\(Authenticated sender: \\S+\\) by \\S+ \\(([^\\)]+)\\) "
           "with ",
     .kind = RAU_POSTFIX},
    {.guard = "CommuniGate Pro (HTTP|SMTP|XIMSS|IMAP)",
     .re = " \\(account ",
     .kind = RAU_FIXED,
     .name = "Communigate"},
    {.re = " with Microsoft Exchange Server HTTP-DAV\\b",
     .kind = RAU_FIXED,
     .name = "HTTP-DAV"},
    {.guard = " by ",
     .re = "(?i) \\(via (HTTP.?)\\)(?: |;|$)",
     .kind = RAU_GROUP},
    {.re = NULL},
};
