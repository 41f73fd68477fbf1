/*
 * spam_msg_relays.c - SpamAssassin's relay analysis: the Received
 * fields read into relays, as the X-Spam-Relays-* and ALL-TRUSTED
 * pseudo-headers show them (SpamAssassin 4.0's Received.pm and
 * PerMsgStatus.pm), for a SpamAssassin with no trusted_networks or
 * internal_networks configured.
 *
 * Each field (newest first) is matched against the formats of
 * spam_msg_relays_tab.c; one that names an IP address and a receiving
 * host becomes a relay "[ ip=... rdns=... helo=... by=... ident=...
 * envfrom=... intl=0|1 id=... auth=... msa=0 ]".  With no trust
 * configured, relays are trusted (and internal) from the newest on
 * while their address is private or the sender authenticated; the
 * first other one and all older ones are untrusted (and external).
 *
 * Looking up the fields is spam_msg.c's.  Nothing here fails: fields
 * not understood are left out, as SpamAssassin leaves them out.
 *
 * XXX SpamAssassin reads every Received field; only the newest
 * RELAYS_MAX are read here, each cut at SPAM_MSG_VALUE_MAX octets, so
 * a relay chain longer than that (or a field longer) ends early.
 * XXX SpamAssassin may see a decoded field as Perl characters, where
 * \s also matches Unicode spaces; here it is octets, so a field with
 * a no-break space between its words may be split differently.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "filters/spam_msg_relays_tab.h"
#include "util/xalloc.h"

#define RELAYS_MAX 100

/* The originating_ip_headers of SpamAssassin's default configuration
 * (10_default_prefs.cf). */
const char *const spam_msg_relays_origin[] = {
    "X-Yahoo-Post-IP",
    "X-Originating-IP",
    "X-Apparently-From",
    "X-SenderIP",
    "X-AOL-IP",
    "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
    NULL,
};

enum parse_result { PARSE_NONE = -1, PARSE_SKIP = 0, PARSE_RELAY = 1 };

/* One relay, being parsed. */
struct relay {
	struct spam_msg_buf f[RF_N];
	struct spam_msg_buf envfrom, auth;
	int has_envfrom;
};

/* The walk over the fields. */
struct walk {
	struct spam_msg_buf lists[SPAM_MSG_RELAYS_N];
	int pop_seen;      /* this line is a POP/IMAP fetch */
	char *qms_envfrom; /* qmail-scanner's, for the next field */
};

static pcre2_code *re_from, *re_local_for, *re_from_by, *re_bracket4;
static pcre2_code *re_date, *re_id, *re_helo, *re_ehlo, *re_by;
static pcre2_code *re_envfrom, *re_sub_helo, *re_sub_ident;
static pcre2_code *re_xmail_id, *re_xmail_from, *re_ip_lead, *re_ip_any;
static pcre2_code *re_ident_sm, *re_ident_at, *re_private, *re_v4mapped;
static pcre2_code *re_odd_rdns, *re_odd_helo, *re_odd_ip, *re_odd_by;
static pcre2_code *re_qmail, *re_guess_helo, *re_scope, *re_ip_bare;
static pthread_once_t relays_once = PTHREAD_ONCE_INIT;

/*
 * Setup
 */

static pcre2_code *
compile_opt(const char *re)
{
	return re != NULL ? spam_msg_re_compile(re, 0) : NULL;
}

static void
compile_rules(struct relays_rule *r)
{
	for (; r->re != NULL; r++) {
		r->cguard = compile_opt(r->guard);
		r->cre = spam_msg_re_compile(r->re, 0);
	}
}

static pcre2_code *
compile_ip(const char *before, const char *after)
{
	char *pat = xasprintf("%s(%s)%s", before, spam_msg_relays_ip, after);
	pcre2_code *re = spam_msg_re_compile(pat, 0);

	free(pat);
	return re;
}

static void
init_tables(void)
{
	struct relays_vendor *v;
	struct relays_auth *a;

	compile_rules(spam_msg_relays_webmail);
	for (v = spam_msg_relays_vendors; v->sel != NULL; v++) {
		v->csel = spam_msg_re_compile(v->sel, 0);
		compile_rules(v->rules);
	}
	compile_rules(spam_msg_relays_common);
	compile_rules(spam_msg_relays_qmail_alts);
	compile_rules(spam_msg_relays_rare);
	compile_rules(spam_msg_relays_upper);
	compile_rules(spam_msg_relays_paren);
	for (a = spam_msg_relays_auths; a->re != NULL; a++) {
		a->cguard = compile_opt(a->guard);
		a->cre = spam_msg_re_compile(a->re, 0);
	}
	re_qmail = spam_msg_re_compile(spam_msg_relays_qmail, 0);
	re_private = spam_msg_re_compile(spam_msg_relays_private, 0);
}

#define HELO_CHARS "-A-Za-z0-9.^+_&:=?!@%*$\\\\/"

static void
relays_init(void)
{
	init_tables();
	re_from = spam_msg_re_compile("^\\(?from ", PCRE2_CASELESS);
	re_local_for = spam_msg_re_compile("\\bwith local for\\b", 0);
	re_from_by =
	    spam_msg_re_compile("^from (\\S+) by [^\\s;]+ ?;", PCRE2_CASELESS);
	re_bracket4 = spam_msg_re_compile("^\\[[\\d.]+\\]$", 0);
	re_date = spam_msg_re_compile(
	    "[\\s;]+(?:(?:Mon|T(?:ue|hu)|Wed|Fri|S(?:at|un)), )?\\d+ "
	    "(?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec) \\d+ "
	    "\\d+:\\d+(?::\\d+)? \\S+$",
	    0);
	re_id = spam_msg_re_compile(" id <?([^\\s<>;]{3,})", 0);
	re_helo = spam_msg_re_compile(
	    "\\bhelo=([" HELO_CHARS "]+)(?:[^" HELO_CHARS "]|$)", 0);
	re_ehlo = spam_msg_re_compile(
	    "\\b(?:HELO|EHLO) ([" HELO_CHARS "]+)(?:[^" HELO_CHARS "]|$)", 0);
	re_by = spam_msg_re_compile(" by (\\S+)(?:[^-A-Za-z0-9;.]|$)", 0);
	re_envfrom = spam_msg_re_compile("(?:return-path:? |envelope-(?:sender"
	                                 "|from)[ =])(\\S+)\\b",
	                                 PCRE2_CASELESS);
	re_sub_helo = spam_msg_re_compile("helo=(\\S+)", 0);
	re_sub_ident = spam_msg_re_compile("ident=(\\S*)", 0);
	re_xmail_id = spam_msg_re_compile(" id <(\\S+)>", 0);
	re_xmail_from = spam_msg_re_compile(" from <(\\S+)>", 0);
	re_ip_lead = compile_ip("^", " ");
	re_ip_any = compile_ip("\\[", "\\]");
	re_ip_bare = compile_ip("", "");
	re_odd_ip = compile_ip(" \\[", "(?:\\.\\d+)?\\] ");
	re_ident_sm = spam_msg_re_compile("^IDENT:([^@]*)@", 0);
	re_ident_at = spam_msg_re_compile("^([^@]*)@", 0);
	re_v4mapped = spam_msg_re_compile(
	    "^0*:0*:(?:0*:)*ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$", PCRE2_CASELESS);
	re_scope = spam_msg_re_compile("%[A-Z0-9._~-]*\\z", PCRE2_CASELESS);
	re_odd_rdns = spam_msg_re_compile("^(\\S+) ", 0);
	re_odd_helo = spam_msg_re_compile(" \\((\\S+)\\) ", 0);
	re_odd_by = spam_msg_re_compile("by (\\S+) ", 0);
	re_guess_helo = spam_msg_re_compile("^(\\S+)[^-A-Za-z0-9.]", 0);
}

/*
 * Small helpers
 */

/* Perl's truth for a string: neither empty nor "0". */
static int
truthy(const struct spam_msg_buf *b)
{
	return b->len > 0 && !(b->len == 1 && b->s[0] == '0');
}

static void
set_span(struct spam_msg_buf *b, const struct spam_msg_span *g)
{
	b->len = 0;
	spam_msg_buf_add(b, "", 0);
	if (g->s != NULL)
		spam_msg_buf_add(b, g->s, g->len);
}

static void
set_str(struct spam_msg_buf *b, const char *s)
{
	b->len = 0;
	spam_msg_buf_adds(b, s);
}

static int
is(const struct spam_msg_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->s, s, b->len) == 0;
}

static int
match(const pcre2_code *re, const struct spam_msg_buf *b,
      struct spam_msg_span *g, int ng)
{
	return spam_msg_re_match(re, b->s != NULL ? b->s : "", b->len, 0, g,
	                         ng);
}

/* Whether re matches b, its first group (if any) into out. */
static int
take(const pcre2_code *re, const struct spam_msg_buf *b,
     struct spam_msg_buf *out)
{
	struct spam_msg_span g[2];

	if (!match(re, b, g, 2))
		return 0;
	if (out != NULL)
		set_span(out, &g[1]);
	return 1;
}

/* b without [from, from + n). */
static void
cut(struct spam_msg_buf *b, size_t from, size_t n)
{
	memmove(b->s + from, b->s + from + n, b->len - from - n + 1);
	b->len -= n;
}

static void
relay_init(struct relay *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < RF_N; i++)
		set_str(&r->f[i], "");
	set_str(&r->envfrom, "");
	set_str(&r->auth, "");
}

static void
relay_free(struct relay *r)
{
	int i;

	for (i = 0; i < RF_N; i++)
		spam_msg_buf_free(&r->f[i]);
	spam_msg_buf_free(&r->envfrom);
	spam_msg_buf_free(&r->auth);
}

/*
 * The line before the formats
 */

/* Runs of white space made one space, the ends trimmed, trailing
 * semicolons dropped. */
static void
squeeze(const char *in, size_t len, struct spam_msg_buf *out)
{
	size_t i;
	int sp = 0;

	spam_msg_buf_add(out, "", 0);
	for (i = 0; i < len; i++) {
		if (spam_msg_util_is_ws((unsigned char)in[i])) {
			sp = 1;
			continue;
		}
		if (sp && out->len > 0)
			spam_msg_buf_addc(out, ' ');
		sp = 0;
		spam_msg_buf_addc(out, in[i]);
	}
	while (out->len > 0 && out->s[out->len - 1] == ';') {
		out->len--;
		if (out->len > 0 && out->s[out->len - 1] == ' ')
			out->len--;
		out->s[out->len] = '\0';
	}
}

/* Handovers left out before any parsing: not "from", local ones, and
 * "from host by host;" with no address. */
static int
skipped_early(const struct spam_msg_buf *l)
{
	struct spam_msg_span g[2];
	struct spam_msg_buf h = {0};
	int skip;

	if (!match(re_from, l, g, 1) || match(re_local_for, l, g, 1))
		return 1;
	if (!match(re_from_by, l, g, 2))
		return 0;
	set_span(&h, &g[1]);
	skip = !take(re_bracket4, &h, NULL);
	spam_msg_buf_free(&h);
	return skip;
}

/* The date dropped, ")by" mended, then what any shape may say: id,
 * HELO name, receiving host. */
static void
prepare(struct spam_msg_buf *l, struct relay *r)
{
	struct spam_msg_span g[1];
	char *p;

	if (match(re_date, l, g, 1)) {
		l->len = (size_t)(g[0].s - l->s);
		l->s[l->len] = '\0';
	}
	p = strstr(l->s, ")by ");
	if (p != NULL) {
		size_t at = (size_t)(p - l->s) + 1;
		struct spam_msg_buf t = {0};

		spam_msg_buf_add(&t, l->s, at);
		spam_msg_buf_addc(&t, ' ');
		spam_msg_buf_add(&t, l->s + at, l->len - at);
		spam_msg_buf_free(l);
		*l = t;
	}
	take(re_id, l, &r->f[RF_ID]);
	if (!take(re_helo, l, &r->f[RF_HELO]))
		take(re_ehlo, l, &r->f[RF_HELO]);
	take(re_by, l, &r->f[RF_BY]);
}

static void
auth_found(const struct relays_auth *a, const struct spam_msg_span *g,
           struct spam_msg_buf *auth)
{
	struct spam_msg_buf t = {0};

	set_str(auth, "");
	switch (a->kind) {
	case RAU_GROUP:
		set_span(auth, &g[1]);
		break;
	case RAU_FIXED:
		set_str(auth, a->name);
		break;
	case RAU_GMAIL:
		spam_msg_buf_adds(auth, "GMail - transport=");
		spam_msg_buf_add(auth, g[1].s, g[1].len);
		spam_msg_buf_adds(auth, " cipher=");
		spam_msg_buf_add(auth, g[2].s, g[2].len);
		break;
	case RAU_GMX:
		spam_msg_buf_adds(auth, "GMX (");
		spam_msg_buf_add(auth, g[4].s, g[4].len);
		spam_msg_buf_adds(auth, " / ");
		spam_msg_buf_add(auth, g[3].s, g[3].len);
		spam_msg_buf_addc(auth, ')');
		break;
	case RAU_POSTFIX:
		set_span(&t, &g[1]);
		if (is(&t, "Postfix")) {
			set_str(auth, "Postfix");
			break;
		}
		spam_msg_buf_adds(auth, "Postfix (");
		spam_msg_buf_add(auth, t.s, t.len);
		spam_msg_buf_addc(auth, ')');
		break;
	}
	spam_msg_buf_free(&t);
}

static void
find_auth(const struct spam_msg_buf *l, struct spam_msg_buf *auth)
{
	const struct relays_auth *a;
	struct spam_msg_span g[5];

	for (a = spam_msg_relays_auths; a->re != NULL; a++) {
		if (a->cguard != NULL && !match(a->cguard, l, g, 1))
			continue;
		if (match(a->cre, l, g, 5)) {
			auth_found(a, g, auth);
			return;
		}
	}
}

/*
 * The formats
 */

/* Exim's "(helo=NAME ident=USER)": each taken out in turn. */
static void
exim_sub(struct relay *r)
{
	struct spam_msg_buf *sub = &r->f[RF_SUB];
	struct spam_msg_span g[2];

	if (match(re_sub_helo, sub, g, 2)) {
		set_span(&r->f[RF_HELO], &g[1]);
		cut(sub, (size_t)(g[0].s - sub->s), g[0].len);
	}
	if (match(re_sub_ident, sub, g, 2))
		set_span(&r->f[RF_IDENT], &g[1]);
}

/* "IDENT:user@host" or "user@host" in the reverse name (sendmail). */
static void
ident_from_rdns(struct relay *r)
{
	struct spam_msg_buf *rdns = &r->f[RF_RDNS];
	struct spam_msg_span g[2];

	if (match(re_ident_sm, rdns, g, 2)) {
		set_span(&r->f[RF_IDENT], &g[1]);
		cut(rdns, 0, g[0].len);
	}
	if (match(re_ident_at, rdns, g, 2)) {
		set_span(&r->f[RF_IDENT], &g[1]);
		cut(rdns, 0, g[0].len);
	}
}

static void
rule_flags(const struct relays_rule *rule, const struct spam_msg_buf *l,
           struct relay *r)
{
	struct spam_msg_buf *ident = &r->f[RF_IDENT];

	if (rule->g[RF_SUB] != 0)
		exim_sub(r);
	if (rule->flags & RL_IDENT_RDNS)
		ident_from_rdns(r);
	if ((rule->flags & RL_IDENT_AT) && truthy(ident) &&
	    ident->s[ident->len - 1] == '@')
		ident->s[--ident->len] = '\0';
	if (rule->flags & RL_NO_ID)
		set_str(&r->f[RF_ID], "");
	if (rule->flags & RL_XMAIL) {
		take(re_xmail_id, l, &r->f[RF_ID]);
		if (take(re_xmail_from, l, &r->envfrom))
			r->has_envfrom = 1;
	}
	if (rule->flags & RL_HOTMAIL)
		take(re_ip_lead, l, &r->f[RF_IP]);
	if (rule->flags & RL_NO_BY)
		set_str(&r->f[RF_BY], "");
	if ((rule->flags & RL_UNVERIFIED) && is(&r->f[RF_RDNS], "unverified"))
		set_str(&r->f[RF_RDNS], "");
}

/* The fields the rule's groups name, then its adjustments. */
static void
rule_apply(const struct relays_rule *rule, const struct spam_msg_buf *l,
           const struct spam_msg_span *g, struct relay *r)
{
	struct spam_msg_buf old = {0};
	int f;

	spam_msg_buf_add(&old, r->f[RF_RDNS].s, r->f[RF_RDNS].len);
	for (f = 1; f < RF_N; f++) {
		if (rule->g[f] != 0)
			set_span(&r->f[f], &g[rule->g[f]]);
	}
	if ((rule->flags & RL_SOFTDNS) && is(&r->f[RF_RDNS], "softdnserr")) {
		set_str(&r->f[RF_RDNS], "");
		spam_msg_buf_add(&r->f[RF_RDNS], old.s, old.len);
	}
	spam_msg_buf_free(&old);
	rule_flags(rule, l, r);
}

/* Exim's loose format: whatever bits are there; a relay once there is
 * an address and a receiving host. */
static int
exim_odd(const struct spam_msg_buf *l, struct relay *r)
{
	take(re_odd_rdns, l, &r->f[RF_RDNS]);
	take(re_odd_helo, l, &r->f[RF_HELO]);
	take(re_odd_ip, l, &r->f[RF_IP]);
	if (take(re_odd_by, l, &r->f[RF_BY]) && truthy(&r->f[RF_IP]))
		return RA_PARSED;
	return -1;
}

/* The first rule of the list that matches: its action, or -1. */
static int
rules_try(const struct relays_rule *rule, const struct spam_msg_buf *l,
          struct relay *r)
{
	struct spam_msg_span g[8];
	int guard;

	for (; rule->re != NULL; rule++) {
		if (rule->cguard != NULL) {
			guard = match(rule->cguard, l, g, 1);
			if (guard == ((rule->flags & RL_NOT_GUARD) != 0))
				continue;
		}
		if (!match(rule->cre, l, g, 8))
			continue;
		if (rule->act == RA_PARSED)
			rule_apply(rule, l, g, r);
		return rule->act;
	}
	if (rule->act == RA_EXIM_ODD)
		return exim_odd(l, r);
	return -1;
}

static int
vendor_try(const struct spam_msg_buf *l, struct relay *r)
{
	const struct relays_vendor *v;
	struct spam_msg_span g[1];

	for (v = spam_msg_relays_vendors; v->sel != NULL; v++) {
		if (match(v->csel, l, g, 1))
			return rules_try(v->rules, l, r);
	}
	return -1;
}

/* qmail's many shapes: one selector, then the best of four readings;
 * a relay even when none of them fits. */
static int
qmail_try(const struct spam_msg_buf *l, struct relay *r)
{
	struct spam_msg_span g[1];

	if (!match(re_qmail, l, g, 1))
		return -1;
	(void)rules_try(spam_msg_relays_qmail_alts, l, r);
	return RA_PARSED;
}

/* A "from " line: the formats in SpamAssassin's order. */
static int
from_try(const struct spam_msg_buf *l, struct relay *r)
{
	int act;

	if (take(re_envfrom, l, &r->envfrom))
		r->has_envfrom = 1;
	act = rules_try(spam_msg_relays_webmail, l, r);
	if (act < 0)
		act = vendor_try(l, r);
	if (act < 0)
		act = rules_try(spam_msg_relays_common, l, r);
	if (act < 0)
		act = qmail_try(l, r);
	if (act < 0)
		act = rules_try(spam_msg_relays_rare, l, r);
	if (act < 0 && !truthy(&r->f[RF_HELO]))
		take(re_guess_helo, l, &r->f[RF_HELO]);
	return act;
}

/*
 * One field
 */

/* The characters SpamAssassin will not have in a relay's words. */
static void
strip_chars(struct spam_msg_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++) {
		if (spam_msg_util_is_ws((unsigned char)b->s[i]) ||
		    strchr("#[]()<>|", b->s[i]) != NULL || b->s[i] == '\0')
			b->s[i] = '!';
	}
}

/* An envelope sender: angle brackets and blanks around it dropped. */
static void
clean_envfrom(struct spam_msg_buf *e)
{
	size_t i = 0;

	while (i < e->len && spam_msg_util_is_ws((unsigned char)e->s[i]))
		i++;
	while (i < e->len && e->s[i] == '<')
		i++;
	cut(e, 0, i);
	while (e->len > 0 &&
	       spam_msg_util_is_ws((unsigned char)e->s[e->len - 1]))
		e->len--;
	while (e->len > 0 && e->s[e->len - 1] == '>')
		e->len--;
	e->s[e->len] = '\0';
	strip_chars(e);
}

static void
finish_ip(struct spam_msg_buf *ip)
{
	struct spam_msg_span g[2];

	if (ip->len >= 5 && strncasecmp(ip->s, "ipv6:", 5) == 0)
		cut(ip, 0, 5);
	if (ip->len > 0 && ip->s[0] == '[')
		cut(ip, 0, 1);
	if (ip->len > 0 && ip->s[ip->len - 1] == ']')
		ip->s[--ip->len] = '\0';
	if (match(re_scope, ip, g, 1)) {
		ip->len = (size_t)(g[0].s - ip->s);
		ip->s[ip->len] = '\0';
	}
	if (match(re_v4mapped, ip, g, 2))
		cut(ip, 0, (size_t)(g[1].s - ip->s));
}

/* A parsed relay's words tidied as SpamAssassin tidies them. */
static void
finish(struct relay *r)
{
	struct spam_msg_buf *rdns = &r->f[RF_RDNS], *by = &r->f[RF_BY];
	static const int strip[] = {RF_IP, RF_RDNS, RF_HELO, RF_BY, RF_IDENT};
	size_t i;

	while (rdns->len > 0 && rdns->s[rdns->len - 1] == '.')
		rdns->s[--rdns->len] = '\0';
	if ((rdns->len == 7 && strcasecmp(rdns->s, "unknown") == 0) ||
	    (rdns->len > 0 && rdns->s[0] == '['))
		set_str(rdns, "");
	finish_ip(&r->f[RF_IP]);
	if (by->len > 0 && by->s[by->len - 1] == ';')
		by->s[--by->len] = '\0';
	for (i = 0; i < sizeof(strip) / sizeof(strip[0]); i++)
		strip_chars(&r->f[strip[i]]);
	if (r->has_envfrom)
		clean_envfrom(&r->envfrom);
}

/* After "from ", "FROM " or "(from ": the formats for it. */
static int
branch(struct spam_msg_buf *l, struct relay *r)
{
	if (l->len >= 5 && memcmp(l->s, "from ", 5) == 0) {
		cut(l, 0, 5);
		return from_try(l, r);
	}
	if (l->len >= 5 && memcmp(l->s, "FROM ", 5) == 0) {
		cut(l, 0, 5);
		return rules_try(spam_msg_relays_upper, l, r);
	}
	if (l->len >= 6 && memcmp(l->s, "(from ", 6) == 0) {
		cut(l, 0, 6);
		return rules_try(spam_msg_relays_paren, l, r);
	}
	return -1;
}

/* What the rest of the line yields when no format matched. */
static enum parse_result
fallback(const struct spam_msg_buf *l, struct relay *r)
{
	if (!truthy(&r->f[RF_IP]))
		take(re_ip_any, l, &r->f[RF_IP]);
	if (truthy(&r->f[RF_IP]) && truthy(&r->f[RF_BY]))
		return PARSE_RELAY;
	return PARSE_NONE;
}

/* parse_received_line(): one field's value into r. */
static enum parse_result
parse_line(struct walk *w, const char *in, size_t len, struct relay *r)
{
	struct spam_msg_buf l = {0};
	enum parse_result res = PARSE_SKIP;
	int act;

	squeeze(in, len, &l);
	if (skipped_early(&l))
		goto done;
	prepare(&l, r);
	find_auth(&l, &r->auth);
	act = branch(&l, r);
	if (act == RA_POP)
		w->pop_seen = 1;
	if (act == RA_QMAIL_SCANNER) {
		free(w->qms_envfrom);
		w->qms_envfrom = NULL;
		if (r->has_envfrom) {
			clean_envfrom(&r->envfrom);
			w->qms_envfrom = xstrdup(r->envfrom.s);
		}
	}
	if (act > RA_PARSED)
		goto done;
	res = act == RA_PARSED ? PARSE_RELAY : fallback(&l, r);
	if (res == PARSE_RELAY)
		finish(r);
done:
	spam_msg_buf_free(&l);
	return res;
}

/*
 * The walk
 */

static void
as_string(const struct relay *r, int intl, struct spam_msg_buf *out)
{
	char *s;

	s = xasprintf("[ ip=%s rdns=%s helo=%s by=%s ident=%s envfrom=%s "
	              "intl=%d id=%s auth=%s msa=0 ]",
	              r->f[RF_IP].s, r->f[RF_RDNS].s, r->f[RF_HELO].s,
	              r->f[RF_BY].s, r->f[RF_IDENT].s,
	              r->has_envfrom ? r->envfrom.s : "", intl, r->f[RF_ID].s,
	              r->auth.s);
	if (out->len > 0)
		spam_msg_buf_addc(out, ' ');
	spam_msg_buf_adds(out, s);
	free(s);
}

/* The trust walk of one line (parse_received_headers' loop body). */
static void
walk_line(struct walk *w, struct spam_msg_relays *res, int *trusted,
          const char *s, size_t len)
{
	struct relay r = {0};
	char *qms = w->qms_envfrom;
	enum parse_result pr;
	int t;

	w->qms_envfrom = NULL;
	w->pop_seen = 0;
	relay_init(&r);
	pr = parse_line(w, s, len, &r);
	if (w->pop_seen && *trusted) {
		/* a fetch seen in the trusted part: start afresh */
		w->lists[SPAM_MSG_RELAYS_TRUSTED].len = 0;
		w->lists[SPAM_MSG_RELAYS_INTERNAL].len = 0;
		w->lists[SPAM_MSG_RELAYS_EXTERNAL].len = 0;
	}
	if (pr != PARSE_RELAY) {
		res->last_trusted += *trusted;
		res->last_internal += *trusted;
		goto done;
	}
	if (qms != NULL && qms[0] != '\0' && strcmp(qms, "0") != 0) {
		set_str(&r.envfrom, qms);
		r.has_envfrom = 1;
	}
	if (*trusted && !truthy(&r.auth) &&
	    !take(re_private, &r.f[RF_IP], NULL))
		*trusted = 0;
	t = *trusted;
	res->last_trusted += t;
	res->last_internal += t;
	as_string(
	    &r, t,
	    &w->lists[t ? SPAM_MSG_RELAYS_TRUSTED : SPAM_MSG_RELAYS_UNTRUSTED]);
	as_string(
	    &r, t,
	    &w->lists[t ? SPAM_MSG_RELAYS_INTERNAL : SPAM_MSG_RELAYS_EXTERNAL]);
done:
	free(qms);
	relay_free(&r);
}

/* The synthetic field SpamAssassin makes of an originating-IP field:
 * "X-Originating-IP: ADDR" for the first address in it. */
static char *
origin_line(const struct spam_msg_buf *v)
{
	struct spam_msg_buf t = {0}, ip = {0};
	char *s = NULL;
	size_t n = v->len < SPAM_MSG_VALUE_MAX ? v->len : SPAM_MSG_VALUE_MAX;

	spam_msg_buf_add(&t, v->s != NULL ? v->s : "", n);
	if (take(re_ip_bare, &t, &ip))
		s = xasprintf("from X-Originating-IP: %s\n", ip.s);
	spam_msg_buf_free(&t);
	spam_msg_buf_free(&ip);
	return s;
}

struct spam_msg_relays *
spam_msg_relays_new(const struct spam_msg_buf *rcvd, size_t nrcvd,
                    const struct spam_msg_buf *origin, size_t norigin)
{
	struct spam_msg_relays *res = xcalloc(1, sizeof(*res));
	struct walk w = {0};
	size_t i, n;
	int trusted = 1;
	char *o;

	pthread_once(&relays_once, relays_init);
	res->last_trusted = res->last_internal = -1;
	for (i = 0; i < nrcvd && i < RELAYS_MAX; i++) {
		n = rcvd[i].len < SPAM_MSG_VALUE_MAX ? rcvd[i].len
		                                     : SPAM_MSG_VALUE_MAX;
		walk_line(&w, res, &trusted, rcvd[i].s != NULL ? rcvd[i].s : "",
		          n);
	}
	for (i = 0; i < norigin; i++) {
		o = origin_line(&origin[i]);
		if (o != NULL)
			walk_line(&w, res, &trusted, o, strlen(o));
		free(o);
	}
	free(w.qms_envfrom);
	for (i = 0; i < SPAM_MSG_RELAYS_N; i++) {
		spam_msg_buf_add(&w.lists[i], "", 0);
		res->str[i] = spam_msg_buf_take(&w.lists[i], &res->len[i]);
	}
	return res;
}

void
spam_msg_relays_free(struct spam_msg_relays **r)
{
	size_t i;

	if (*r == NULL)
		return;
	for (i = 0; i < SPAM_MSG_RELAYS_N; i++)
		free((*r)->str[i]);
	free(*r);
	*r = NULL;
}

int
spam_msg_relays_kind(const char *name)
{
	static const char *const relays[] = {
	    "X-Spam-Relays-Trusted", "X-Spam-Relays-Untrusted",
	    "X-Spam-Relays-Internal", "X-Spam-Relays-External"};
	static const char *const all[] = {"ALL-TRUSTED", "ALL-UNTRUSTED",
	                                  "ALL-INTERNAL", "ALL-EXTERNAL"};
	int i;

	for (i = 0; i < SPAM_MSG_RELAYS_N; i++) {
		if (strcasecmp(name, relays[i]) == 0)
			return i;
		if (strcmp(name, all[i]) == 0)
			return SPAM_MSG_RELAYS_N + i;
	}
	return -1;
}

/* get_all_hdrs_in_rcvd_index_range(): the trusted (internal) part ends
 * with the Received field after the last trusted relay; the untrusted
 * (external) part starts with it. */
void
spam_msg_relays_all_range(const struct spam_msg_relays *r, int kind,
                          const struct spam_msg_buf *hdrs, size_t n,
                          size_t *from_r, size_t *to_r)
{
	int which = kind - SPAM_MSG_RELAYS_N;
	int inner = which == SPAM_MSG_RELAYS_TRUSTED ||
	            which == SPAM_MSG_RELAYS_INTERNAL;
	long bound = (which == SPAM_MSG_RELAYS_TRUSTED ||
	                      which == SPAM_MSG_RELAYS_UNTRUSTED
	                  ? r->last_trusted
	                  : r->last_internal) +
	             1;
	long cur = -1;
	size_t i;

	*from_r = inner ? 0 : n;
	*to_r = n;
	for (i = 0; i < n; i++) {
		if (hdrs[i].len >= 9 &&
		    strncasecmp(hdrs[i].s, "Received:", 9) == 0)
			cur++;
		if (inner && cur == bound) {
			*to_r = i + 1;
			return;
		}
		if (!inner && cur >= bound) {
			*from_r = i;
			return;
		}
	}
}
