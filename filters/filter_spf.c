/*
 * filter_spf.c - SPF (RFC 7208) with libspf2 on postern's resolver.
 *
 * At MAIL, on a worker, evaluates check_host() for the MAIL FROM
 * identity of inbound mail (the HELO identity for the null sender, and
 * the HELO identity as well when asked), records each result for
 * Authentication-Results and the log, and turns the MAIL FROM result
 * into a verdict by the configured policy.  At end of message the
 * recorded results become Received-SPF fields (RFC 7208 9.1), above the
 * Received field of the filters before.
 *
 * Each evaluation gets its own libspf2 server and DNS layer
 * (filter_spf_dns.c): libspf2 gives a DNS layer no per-request context,
 * so the evaluation's counts (RFC 7208's limits) live in a layer of its
 * own, and no libspf2 object is ever shared between workers.  A
 * permerror the layer found overrides libspf2's result; results libspf2
 * leaves unset (the record lookup itself failed) are derived here.
 * Outbound sessions, trusted forwarders and clients on this host are
 * not checked.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_spf.h"
#include "filters/filter_spf_private.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* The longest explanation that goes into a reply. */
#define SPF_EXP_MAX   200
#define SPF_FOLD_AT   78
#define SPF_FIELD     "Received-SPF"
#define SPF_PROP_MAX  300
#define SPF_PROP_MAIL "smtp.mailfrom="
#define SPF_PROP_HELO "smtp.helo="

/* For a fail without exp= (RFC 7208 6.2 lets the receiver choose); a
 * macro-string, where "%_" is a space. */
#define SPF_DEFAULT_EXPLANATION                                                \
	"domain%_of%_%{o}%_does%_not%_designate%_%{i}%_as%_permitted%_sender"

struct spf_conf {
	struct dns *dns;
	struct netlist *trusted;
	enum filter_spf_action on_fail;
	enum filter_spf_action on_softfail;
	enum filter_spf_action on_permerror;
	enum filter_spf_action on_temperror;
	int check_helo;
	char *hostname;
};

/* The client address as SPF sees it: an IPv4-mapped IPv6 address is
 * the IPv4 address. */
struct spf_client {
	int family;
	struct in_addr v4;
	struct in6_addr v6;
	char text[INET6_ADDRSTRLEN];
};

/* The outcome of one check_host(). */
struct spf_outcome {
	const char *result;        /* RFC 8601 word */
	const char *reason;        /* static text for the errors, else NULL */
	char exp[SPF_EXP_MAX + 1]; /* a fail's explanation, printable, or "" */
};

static const char *const spf_result_words[] = {
    [SPF_RESULT_INVALID] = NULL,          [SPF_RESULT_NEUTRAL] = "neutral",
    [SPF_RESULT_PASS] = "pass",           [SPF_RESULT_FAIL] = "fail",
    [SPF_RESULT_SOFTFAIL] = "softfail",   [SPF_RESULT_NONE] = "none",
    [SPF_RESULT_TEMPERROR] = "temperror", [SPF_RESULT_PERMERROR] = "permerror",
};

/* libspf2's messages.  Its errors are broken invariants (it aborts after
 * them anyway); the rest concern records from DNS and are debug output. */

static void __attribute__((noreturn))
spf_log_error_cb(const char *file, int line, const char *msg)
{
	char esc[256];

	log_error("spf libspf2 %s:%d: %s", file, line,
	          log_escape_str(esc, sizeof(esc), msg));
	abort();
}

static void
spf_log_debug_cb(const char *file, int line, const char *msg)
{
	char esc[256];

	log_trace(LOG_TRACE_FILTER, "spf libspf2 %s",
	          log_escape_str(esc, sizeof(esc), msg));
}

static pthread_once_t spf_log_once = PTHREAD_ONCE_INIT;

static void
spf_log_init(void)
{
	SPF_error_handler = spf_log_error_cb;
	SPF_warning_handler = spf_log_debug_cb;
	SPF_info_handler = spf_log_debug_cb;
	SPF_debug_handler = spf_log_debug_cb;
}

/* The client, or -1 when its address is unknown ([UNAVAILABLE]). */
static int
spf_client_get(const struct netaddr *a, struct spf_client *c)
{
	const struct sockaddr_in *sin = (const void *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const void *)&a->ss;

	memset(c, 0, sizeof(*c));
	if (a->ss.ss_family == AF_INET) {
		c->family = AF_INET;
		c->v4 = sin->sin_addr;
	} else if (a->ss.ss_family == AF_INET6 &&
	           IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		c->family = AF_INET;
		memcpy(&c->v4, &sin6->sin6_addr.s6_addr[12], sizeof(c->v4));
	} else if (a->ss.ss_family == AF_INET6) {
		c->family = AF_INET6;
		c->v6 = sin6->sin6_addr;
	} else {
		return -1;
	}
	inet_ntop(c->family,
	          c->family == AF_INET ? (const void *)&c->v4
	                               : (const void *)&c->v6,
	          c->text, sizeof(c->text));
	return 0;
}

static int
spf_client_loopback(const struct spf_client *c)
{
	if (c->family == AF_INET)
		return (ntohl(c->v4.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&c->v6);
}

/* Evaluating */

/* A fail's explanation when it is fit for a reply: short, printable. */
static void
spf_exp_copy(char *buf, size_t size, const char *exp)
{
	size_t i, len = exp != NULL ? strlen(exp) : 0;

	buf[0] = '\0';
	if (len == 0 || len >= size)
		return;
	for (i = 0; i < len; i++) {
		if (exp[i] < ' ' || exp[i] > '~')
			return;
	}
	memcpy(buf, exp, len + 1);
}

/* The first error libspf2 noted other than "not an SPF record": a
 * record that was found but did not compile. */
static SPF_errcode_t
spf_compile_error(SPF_response_t *resp)
{
	int i, n = SPF_response_messages(resp);
	SPF_error_t *e;

	for (i = 0; i < n; i++) {
		e = SPF_response_message(resp, i);
		if (SPF_error_errorp(e) && SPF_error_code(e) != SPF_E_NOT_SPF &&
		    SPF_error_code(e) != SPF_E_DNS_ERROR)
			return SPF_error_code(e);
	}
	return SPF_E_SUCCESS;
}

static void
spf_outcome_set(struct spf_outcome *out, SPF_response_t *resp,
                SPF_errcode_t err, const char *permerror)
{
	SPF_result_t r =
	    resp != NULL ? SPF_response_result(resp) : SPF_RESULT_INVALID;
	SPF_errcode_t code;

	memset(out, 0, sizeof(*out));
	if (permerror != NULL) {
		out->result = "permerror";
		out->reason = permerror;
		return;
	}
	if (r > SPF_RESULT_INVALID && r <= SPF_RESULT_PERMERROR) {
		out->result = spf_result_words[r];
		if (r == SPF_RESULT_TEMPERROR || r == SPF_RESULT_PERMERROR)
			out->reason = SPF_strerror(SPF_response_errcode(resp));
		if (r == SPF_RESULT_FAIL)
			spf_exp_copy(out->exp, sizeof(out->exp),
			             SPF_response_get_explanation(resp));
		return;
	}
	/* libspf2 sets no result when the record could not be had. */
	code = resp != NULL ? spf_compile_error(resp) : SPF_E_SUCCESS;
	if (err == SPF_E_DNS_ERROR || resp == NULL) {
		out->result = "temperror";
		out->reason = SPF_strerror(SPF_E_DNS_ERROR);
	} else if (code != SPF_E_SUCCESS) {
		out->result = "permerror";
		out->reason = SPF_strerror(code);
	} else {
		out->result = "none";
	}
}

static SPF_server_t *
spf_server_new(const struct spf_conf *conf, SPF_dns_server_t *layer)
{
	SPF_server_t *server = SPF_server_new_dns(layer, 0);
	SPF_response_t *resp = NULL;

	if (server == NULL)
		return NULL;
	SPF_server_set_rec_dom(server, conf->hostname);
	/* Per record; the layer counts over the whole evaluation. */
	SPF_server_set_max_dns_mech(server, FILTER_SPF_TERM_MAX);
	SPF_server_set_explanation(server, SPF_DEFAULT_EXPLANATION, &resp);
	if (resp != NULL)
		SPF_response_free(resp);
	return server;
}

/*
 * check_host() for the client c, HELO name helo and sender (NULL for
 * the HELO identity itself).
 */
static void
spf_evaluate(const struct spf_conf *conf, const struct spf_client *c,
             const char *helo, const char *sender, struct spf_outcome *out)
{
	SPF_dns_server_t *layer = filter_spf_dns_new(conf->dns);
	SPF_server_t *server = spf_server_new(conf, layer);
	SPF_response_t *resp = NULL;
	SPF_request_t *req;
	SPF_errcode_t err = SPF_E_NO_MEMORY;

	if (server == NULL || (req = SPF_request_new(server)) == NULL) {
		spf_outcome_set(out, NULL, err, NULL);
		if (server != NULL)
			SPF_server_free(server);
		SPF_dns_free(layer);
		return;
	}
	if (c->family == AF_INET)
		SPF_request_set_ipv4(req, c->v4);
	else
		SPF_request_set_ipv6(req, c->v6);
	SPF_request_set_helo_dom(req, helo);
	if (sender != NULL)
		SPF_request_set_env_from(req, sender);
	req->use_helo = sender == NULL;
	err = SPF_request_query_mailfrom(req, &resp);
	spf_outcome_set(out, resp, err, filter_spf_dns_permerror(layer));
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(server);
	SPF_dns_free(layer); /* a server made with a layer leaves it */
}

/* Recording */

/* A domain or HELO name as a property value: characters that cannot
 * start a comment, a quoted string or a new result; others become '?'. */
static const char *
spf_prop_clean(char *buf, size_t size, const char *value)
{
	const unsigned char *v = (const unsigned char *)value;
	size_t i;

	for (i = 0; v[i] != '\0' && i + 1 < size; i++)
		buf[i] =
		    isalnum(v[i]) || v[i] >= 0x80 || strchr(".-_", v[i]) != NULL
		        ? (char)v[i]
		        : '?';
	buf[i] = '\0';
	return buf;
}

static void
spf_record(struct filter_txn *t, const struct spf_outcome *o, const char *prop,
           const char *value, const char *note)
{
	char props[SPF_PROP_MAX], clean[SPF_PROP_MAX - 16], esc[SPF_PROP_MAX];

	snprintf(props, sizeof(props), "%s%s", prop,
	         spf_prop_clean(clean, sizeof(clean), value));
	filter_txn_auth(t, "spf", o->result, o->reason, props);
	filter_txn_note(t, note, o->result);
	log_trace(LOG_TRACE_FILTER, "%s spf %s%s result=%s reason=\"%s\"",
	          t->id, prop, log_escape_str(esc, sizeof(esc), clean),
	          o->result, o->reason != NULL ? o->reason : "");
}

static enum filter_spf_action
spf_policy(const struct spf_conf *conf, const char *result)
{
	if (strcmp(result, "fail") == 0)
		return conf->on_fail;
	if (strcmp(result, "softfail") == 0)
		return conf->on_softfail;
	if (strcmp(result, "permerror") == 0)
		return conf->on_permerror;
	if (strcmp(result, "temperror") == 0)
		return conf->on_temperror;
	return FILTER_SPF_ACCEPT;
}

static void
spf_verdict(const struct spf_conf *conf, const struct spf_outcome *o,
            struct filter_verdict *v)
{
	enum filter_spf_action act = spf_policy(conf, o->result);
	int permerror = strcmp(o->result, "permerror") == 0;

	/* RFC 7372 3.2: X.7.23 is a validation failure, X.7.24 an error
	 * in validating. */
	if (act == FILTER_SPF_REJECT && permerror)
		filter_verdict_set(
		    v, FILTER_REJECT, 550, "5.7.24", "SPF permanent error: %s",
		    o->reason != NULL ? o->reason : "bad record");
	else if (act == FILTER_SPF_REJECT && o->exp[0] != '\0')
		filter_verdict_set(v, FILTER_REJECT, 550, "5.7.23", "%s",
		                   o->exp);
	else if (act == FILTER_SPF_REJECT)
		filter_verdict_set(v, FILTER_REJECT, 550, "5.7.23",
		                   "SPF %s: sender not permitted", o->result);
	else if (act == FILTER_SPF_TEMPFAIL)
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.7.24",
		                   "SPF temporary error, try again later");
}

/* The domain of a sender address (RFC 7208 4.3: after the last '@'). */
static const char *
spf_sender_domain(const char *sender)
{
	const char *at = strrchr(sender, '@');

	return at != NULL ? at + 1 : sender;
}

/* Skipped: outbound, a trusted forwarder, a client of this host or of
 * unknown address.  Returns 1 (with a note) or 0. */
static int
spf_skip(const struct spf_conf *conf, const struct filter_session *s,
         struct filter_txn *t, struct spf_client *c)
{
	if (s->outbound)
		return 1;
	if (conf->trusted != NULL && netlist_match(conf->trusted, &s->client)) {
		filter_txn_note(t, "spf", "trusted");
		return 1;
	}
	if (spf_client_get(&s->client, c) < 0) {
		filter_txn_note(t, "spf", "noaddress");
		return 1;
	}
	/* libspf2 would answer pass for any domain here, which DMARC
	 * would then trust. */
	if (spf_client_loopback(c)) {
		filter_txn_note(t, "spf", "local");
		return 1;
	}
	return 0;
}

static void
spf_mail(void *confp, struct filter_session *s, struct filter_txn *t,
         struct filter_verdict *v)
{
	const struct spf_conf *conf = confp;
	int null = t->mail_from[0] == '\0';
	struct spf_outcome mail, helo;
	struct spf_client c;

	if (spf_skip(conf, s, t, &c))
		return;
	spf_evaluate(conf, &c, s->helo, null ? NULL : t->mail_from, &mail);
	if (null)
		spf_record(t, &mail, SPF_PROP_HELO, s->helo, "spf");
	else
		spf_record(t, &mail, SPF_PROP_MAIL,
		           spf_sender_domain(t->mail_from), "spf");
	if (conf->check_helo && !null) {
		spf_evaluate(conf, &c, s->helo, NULL, &helo);
		spf_record(t, &helo, SPF_PROP_HELO, s->helo, "spf_helo");
	}
	spf_verdict(conf, &mail, v);
}

/* Received-SPF */

/* The field value as it grows, folded before a word that would pass
 * column SPF_FOLD_AT. */
struct spf_field {
	char *s;
	size_t len;
	size_t cap;
	size_t col;
};

static void
field_add(struct spf_field *f, const char *text, size_t len)
{
	if (f->len + len + 1 > f->cap) {
		f->cap = (f->len + len + 1) * 2;
		f->s = xrealloc(f->s, f->cap);
	}
	memcpy(f->s + f->len, text, len);
	f->len += len;
	f->s[f->len] = '\0';
	f->col += len;
}

static void
field_word(struct spf_field *f, const char *word, size_t len)
{
	if (f->len > 0 && f->col + 1 + len > SPF_FOLD_AT) {
		field_add(f, "\r\n\t", 3);
		f->col = 8;
	} else if (f->len > 0) {
		field_add(f, " ", 1);
	}
	field_add(f, word, len);
}

/* Every space-separated word of text. */
static void
field_words(struct spf_field *f, const char *text)
{
	const char *sp;

	while (*text != '\0') {
		sp = strchr(text, ' ');
		if (sp == NULL)
			sp = text + strlen(text);
		if (sp > text)
			field_word(f, text, (size_t)(sp - text));
		text = *sp != '\0' ? sp + 1 : sp;
	}
}

static int
spf_atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
spf_dot_atom(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || s[0] == '.' || s[len - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] != '.' && !spf_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* key=value; (RFC 7208 9.1: dot-atom or quoted-string), with the
 * closing ';' unless last.  Octets that cannot be in a quoted-string
 * become '?'. */
static void
field_pair(struct spf_field *f, const char *key, const char *value, int last)
{
	size_t len = strlen(value), i, o;
	char *w = xmalloc(strlen(key) + 2 * len + 5);

	o = (size_t)sprintf(w, "%s=", key);
	if (spf_dot_atom(value)) {
		memcpy(w + o, value, len);
		o += len;
	} else {
		w[o++] = '"';
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)value[i];

			if (c == '"' || c == '\\')
				w[o++] = '\\';
			w[o++] = c < ' ' || c == 0x7f ? '?' : (char)c;
		}
		w[o++] = '"';
	}
	if (!last)
		w[o++] = ';';
	field_word(f, w, o);
	free(w);
}

/* Comment text: what may stand in a comment (no parentheses,
 * backslashes or controls); others become '?'. */
static char *
spf_comment_clean(char *s)
{
	unsigned char *p;

	for (p = (unsigned char *)s; *p != '\0'; p++) {
		if (*p < ' ' || *p == 0x7f || *p == '(' || *p == ')' ||
		    *p == '\\')
			*p = '?';
	}
	return s;
}

/* RFC 7208 9.1's comment for a result about identity id. */
static char *
spf_comment(const struct filter_auth *a, const char *id, const char *ip)
{
	const char *r = a->result, *why = a->reason ? a->reason : "unknown";
	char *c;

	if (strcmp(r, "pass") == 0)
		c = xasprintf("domain of %s designates %s as permitted sender",
		              id, ip);
	else if (strcmp(r, "fail") == 0)
		c = xasprintf("domain of %s does not designate %s as "
		              "permitted sender",
		              id, ip);
	else if (strcmp(r, "softfail") == 0)
		c = xasprintf("domain of transitioning %s does not designate "
		              "%s as permitted sender",
		              id, ip);
	else if (strcmp(r, "neutral") == 0)
		c = xasprintf("%s is neither permitted nor denied by domain "
		              "of %s",
		              ip, id);
	else if (strcmp(r, "permerror") == 0)
		c = xasprintf("permanent error in processing domain of %s: %s",
		              id, why);
	else if (strcmp(r, "temperror") == 0)
		c = xasprintf("error in processing during lookup of %s: %s", id,
		              why);
	else
		c = xasprintf("domain of %s does not designate permitted "
		              "sender hosts",
		              id);
	return spf_comment_clean(c);
}

/* The Received-SPF value for one recorded result; allocated. */
static char *
spf_received(const struct spf_conf *conf, const struct filter_session *s,
             const struct filter_txn *t, const struct spf_client *c,
             const struct filter_auth *a)
{
	int helo = a->props != NULL &&
	           strncmp(a->props, SPF_PROP_HELO, strlen(SPF_PROP_HELO)) == 0;
	const char *id = helo ? s->helo : t->mail_from;
	struct spf_field f = {.col = strlen(SPF_FIELD) + 2};
	char *comment = spf_comment(a, id, c->text);
	char *text = xasprintf("(%s: %s)", conf->hostname, comment);

	field_word(&f, a->result, strlen(a->result));
	field_words(&f, text);
	field_pair(&f, "client-ip", c->text, 0);
	field_pair(&f, "envelope-from", t->mail_from, 0);
	field_pair(&f, "helo", s->helo, 0);
	field_pair(&f, "receiver", conf->hostname, 0);
	field_pair(&f, "identity", helo ? "helo" : "mailfrom", 1);
	free(comment);
	free(text);
	return f.s;
}

static void
spf_eom(void *confp, struct filter_session *s, struct filter_txn *t,
        struct filter_verdict *v)
{
	const struct spf_conf *conf = confp;
	const struct filter_auth *a;
	struct spf_client c;
	char *value;

	if (spf_client_get(&s->client, &c) < 0)
		return;
	for (a = t->auth; a != NULL; a = a->next) {
		if (strcmp(a->method, "spf") != 0)
			continue;
		value = spf_received(conf, s, t, &c, a);
		filter_txn_prepend_header(t, SPF_FIELD, value);
		free(value);
	}
}

static void
spf_free(void *confp)
{
	struct spf_conf *conf = confp;

	netlist_free(&conf->trusted);
	free(conf->hostname);
	free(conf);
}

static const struct filter_ops spf_ops = {
    .name = "spf",
    .hook = {[FILTER_PHASE_MAIL] = spf_mail, [FILTER_PHASE_EOM] = spf_eom},
    .blocking = 1u << FILTER_PHASE_MAIL,
    .free = spf_free,
};

int
filter_spf_add(struct filter_chain *chain, struct filter_spf_opts *opts,
               const char **error_r)
{
	struct spf_conf *conf;

	if (opts->dns == NULL || opts->hostname == NULL) {
		netlist_free(&opts->trusted);
		*error_r = "spf needs the resolver and a host name";
		return -1;
	}
	pthread_once(&spf_log_once, spf_log_init);
	conf = xcalloc(1, sizeof(*conf));
	conf->dns = opts->dns;
	conf->trusted = opts->trusted;
	opts->trusted = NULL;
	conf->on_fail = opts->on_fail;
	conf->on_softfail = opts->on_softfail;
	conf->on_permerror = opts->on_permerror;
	conf->on_temperror = opts->on_temperror;
	conf->check_helo = opts->check_helo;
	conf->hostname = xstrdup(opts->hostname);
	filter_chain_add(chain, &spf_ops, conf);
	return 0;
}
