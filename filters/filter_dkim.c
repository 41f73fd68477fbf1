/*
 * filter_dkim.c - DKIM verification with libopendkim.
 *
 * One DKIM_LIB per filter instance, shared by every worker (each message
 * gets its own handle).  Keys come from postern's resolver through
 * libopendkim's key lookup hook; a lookup that failed temporarily is
 * remembered per message so the signature reads as temperror rather
 * than as a missing key.  The message is fed as the client sent it:
 * header fields from the index, then the body from the spool.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "filters/filter.h"
#include "filters/filter_dkim.h"
#include "filters/filter_msg.h"
#include "util/dns.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xalloc.h"

#define DKIM_TEMPFAILS_MAX 16
#define DKIM_CHUNK         (64 * 1024)

struct dkim_verify_conf {
	DKIM_LIB *lib;
	struct dns *dns;
	unsigned int max_signatures;
	unsigned int min_key_bits;
	int tempfail_on_dns_error;
};

#define DKIM_FIELDS_MAX 50

/*
 * Per DKIM-Signature field: tags as written.  libopendkim keeps no
 * handle for a signature it gave up on early (an unknown a=, say) and
 * then reports a stale algorithm, so postern reads a= itself and finds
 * the field again by its b= value.
 */
struct dkim_sig_tags {
	char alg[32]; /* a= */
	char b[96];   /* the start of b=, folding removed */
};

/* Per message, reached from libopendkim's callbacks. */
struct dkim_verify_ctx {
	const struct dkim_verify_conf *conf;
	struct dkim_sig_tags tags[DKIM_FIELDS_MAX];
	size_t ntags;
	DKIM_SIGINFO *tempfailed[DKIM_TEMPFAILS_MAX];
	size_t ntempfailed;
};

/* Pick the key record: the one that says v=DKIM1, else the only one. */
static const unsigned char *
key_record_pick(const struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		const char *p = (const char *)a->data[i];

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "v=DKIM1", 7) == 0)
			return a->data[i];
	}
	return a->count == 1 ? a->data[0] : NULL;
}

static DKIM_CBSTAT
dkim_key_lookup_cb(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct dkim_verify_ctx *ctx = dkim_get_user_context(dkim);
	const unsigned char *sel = dkim_sig_getselector(sig);
	const unsigned char *dom = dkim_sig_getdomain(sig);
	const unsigned char *rec;
	struct dns_answer a;
	char name[600];
	DKIM_CBSTAT st = DKIM_CBSTAT_NOTFOUND;

	if (sel == NULL || dom == NULL ||
	    (size_t)snprintf(name, sizeof(name), "%s._domainkey.%s", sel,
	                     dom) >= sizeof(name))
		return DKIM_CBSTAT_NOTFOUND;
	dns_lookup(ctx->conf->dns, name, DNS_TYPE_TXT, &a);
	if (a.status == DNS_TEMPFAIL) {
		if (ctx->ntempfailed < DKIM_TEMPFAILS_MAX)
			ctx->tempfailed[ctx->ntempfailed++] = sig;
	} else if (a.status == DNS_OK) {
		rec = key_record_pick(&a);
		if (rec != NULL && strlen((const char *)rec) < buflen) {
			memcpy(buf, rec, strlen((const char *)rec) + 1);
			st = DKIM_CBSTAT_CONTINUE;
		}
	}
	dns_answer_free(&a);
	return st;
}

/* Copy tag `name` of a DKIM-Signature field value into buf, white
 * space removed; "" when absent. */
static void
tag_value(const char *value, const char *name, char *buf, size_t size)
{
	size_t nlen = strlen(name), n = 0;
	const char *p = value;

	buf[0] = '\0';
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			for (p += nlen + 1; *p != '\0' && *p != ';'; p++)
				if (!isspace((unsigned char)*p) && n + 1 < size)
					buf[n++] = *p;
			buf[n] = '\0';
			return;
		}
		p = strchr(p, ';');
		if (p == NULL)
			return;
		p++;
	}
}

static void
tags_record(struct dkim_verify_ctx *ctx, const char *field, size_t namelen)
{
	struct dkim_sig_tags *t;

	if (ctx->ntags >= DKIM_FIELDS_MAX)
		return;
	t = &ctx->tags[ctx->ntags++];
	tag_value(field + namelen + 1, "a", t->alg, sizeof(t->alg));
	tag_value(field + namelen + 1, "b", t->b, sizeof(t->b));
}

/* The field of the signature whose b= starts with sub; NULL if none. */
static const struct dkim_sig_tags *
tags_find(const struct dkim_verify_ctx *ctx, const char *sub)
{
	size_t i, len = strlen(sub);

	for (i = 0; len > 0 && i < ctx->ntags; i++) {
		if (strncmp(ctx->tags[i].b, sub, len) == 0)
			return &ctx->tags[i];
	}
	return NULL;
}

/* The algorithms RFC 6376 and 8463 define; anything else makes the
 * signature unusable. */
static int
sig_alg_known(const struct dkim_sig_tags *tags)
{
	return tags == NULL || strcmp(tags->alg, "rsa-sha256") == 0 ||
	       strcmp(tags->alg, "rsa-sha1") == 0 ||
	       strcmp(tags->alg, "ed25519-sha256") == 0;
}

/* a= as written, else libopendkim's name. */
static const char *
sig_alg_name(DKIM_SIGINFO *sig, const struct dkim_sig_tags *tags)
{
	if (tags != NULL && tags->alg[0] != '\0')
		return tags->alg;
	return (const char *)dkim_sig_getalgorithm(sig);
}

/* Look at no more than max_signatures signatures (RFC 6376 6.1). */
static DKIM_CBSTAT
dkim_prescreen_cb(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	struct dkim_verify_ctx *ctx = dkim_get_user_context(dkim);
	int i;

	for (i = (int)ctx->conf->max_signatures; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

static int
sig_tempfailed(const struct dkim_verify_ctx *ctx, const DKIM_SIGINFO *sig)
{
	size_t i;

	for (i = 0; i < ctx->ntempfailed; i++) {
		if (ctx->tempfailed[i] == sig)
			return 1;
	}
	return 0;
}

/* RFC 8601 result of one signature, with a reason for the non-passes. */
static const char *
sig_result(const struct dkim_verify_ctx *ctx, DKIM_SIGINFO *sig,
           const struct dkim_sig_tags *tags, const char **reason_r)
{
	int err = dkim_sig_geterror(sig);
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	unsigned int bits = 0;

	*reason_r = NULL;
	if (!sig_alg_known(tags)) {
		*reason_r = "unknown signature algorithm";
		return "permerror";
	}
	if (sig_tempfailed(ctx, sig) || err == DKIM_SIGERROR_KEYFAIL) {
		*reason_r = "key lookup failed";
		return "temperror";
	}
	if (DKIM_SIG_CHECK(sig)) {
		dkim_sig_getsignalg(sig, &alg);
		dkim_sig_getkeysize(sig, &bits);
		if (alg == DKIM_SIGN_RSASHA1) {
			*reason_r = "rsa-sha1 is not accepted (RFC 8301)";
			return "fail";
		}
		if (alg != DKIM_SIGN_ED25519SHA256 &&
		    bits < ctx->conf->min_key_bits) {
			*reason_r = "key too small";
			return "fail";
		}
		return "pass";
	}
	if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
		*reason_r = "body hash mismatch";
		return "fail";
	}
	*reason_r = dkim_sig_geterrorstr(err);
	switch (err) {
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_KEYTOOSMALL:
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_TIMESTAMPS:
	case DKIM_SIGERROR_MBSFAILED:
	case DKIM_SIGERROR_TOOLARGE_L:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_SUBDOMAIN:
		return "fail";
	default:
		return "permerror";
	}
}

static int
feed_header_cb(void *arg, const char *field, size_t len)
{
	DKIM *dkim = arg;
	DKIM_STAT st;

	st = dkim_header(dkim, (u_char *)(uintptr_t)field, len);
	return st == DKIM_STAT_OK ? 0 : 1;
}

/* The message as the client sent it: its own fields, then the body. */
static int
feed_message(DKIM *dkim, struct dkim_verify_ctx *ctx,
             const struct filter_txn *t, const char **error_r)
{
	size_t i, len, off = filter_msg_body_start(t);
	size_t end = spool_size(t->message);
	char *field, *buf;
	ssize_t n;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		field = filter_msg_field_dup(t, i, &len, error_r);
		if (field == NULL)
			return -1;
		if (filter_msg_field_is(t, i, "DKIM-Signature"))
			tags_record(ctx, field, t->fields[i].namelen);
		feed_header_cb(dkim, field, len);
		free(field);
	}
	if (dkim_eoh(dkim) != DKIM_STAT_OK)
		return 0; /* no signature, or none usable */
	buf = xmalloc(DKIM_CHUNK);
	while (off < end) {
		n = spool_read(t->message, off, buf, DKIM_CHUNK, error_r);
		if (n <= 0) {
			free(buf);
			return -1;
		}
		dkim_body(dkim, (u_char *)buf, (size_t)n);
		off += (size_t)n;
	}
	free(buf);
	dkim_eom(dkim, NULL);
	return 0;
}

static size_t
count_signatures(const struct filter_txn *t)
{
	size_t i, n = 0;

	for (i = 0; i < filter_msg_field_count(t); i++)
		n += filter_msg_field_is(t, i, "DKIM-Signature");
	return n;
}

/*
 * A tag value from the signature as a property value for
 * Authentication-Results: only characters that cannot start a comment,
 * a quoted string or a new result pass; anything else is '?'.
 */
static const char *
prop_token(char *buf, size_t size, const void *value)
{
	const unsigned char *v = value != NULL ? value : (const u_char *)"";
	size_t i;

	for (i = 0; v[i] != '\0' && i + 1 < size; i++)
		buf[i] = (isalnum(v[i]) || strchr(".-_+/=", v[i]) != NULL)
		             ? (char)v[i]
		             : '?';
	buf[i] = '\0';
	return buf;
}

/* Record one signature's result for Authentication-Results; returns
 * the result word. */
static const char *
record_one(DKIM *dkim, const struct dkim_verify_ctx *ctx, struct filter_txn *t,
           DKIM_SIGINFO *sig)
{
	const struct dkim_sig_tags *tags;
	const char *result, *reason;
	char props[600], d[256], sl[128], al[32], b[16], sub[16];
	size_t len = sizeof(sub) - 1;

	if (dkim_get_sigsubstring(dkim, sig, sub, &len) != DKIM_STAT_OK)
		len = 0;
	sub[len] = '\0';
	tags = tags_find(ctx, sub);
	result = sig_result(ctx, sig, tags, &reason);
	snprintf(props, sizeof(props),
	         "header.d=%s header.s=%s header.a=%s header.b=%s",
	         prop_token(d, sizeof(d), dkim_sig_getdomain(sig)),
	         prop_token(sl, sizeof(sl), dkim_sig_getselector(sig)),
	         prop_token(al, sizeof(al), sig_alg_name(sig, tags)),
	         prop_token(b, sizeof(b), sub));
	filter_txn_auth(t, "dkim", result, reason, props);
	return result;
}

/* Record every signature's result; returns the count of passes and
 * sets *temp_r when one was a temperror. */
static unsigned int
record_results(DKIM *dkim, struct dkim_verify_ctx *ctx, struct filter_txn *t,
               int *temp_r)
{
	DKIM_SIGINFO **sigs = NULL;
	const char *result;
	unsigned int passes = 0;
	int i, nsigs = 0;

	*temp_r = 0;
	if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK)
		return 0;
	for (i = 0; i < nsigs; i++) {
		if (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE)
			continue;
		result = record_one(dkim, ctx, t, sigs[i]);
		passes += strcmp(result, "pass") == 0;
		*temp_r |= strcmp(result, "temperror") == 0;
	}
	return passes;
}

static void
dkim_verify_eom(void *confp, struct filter_session *s, struct filter_txn *t,
                struct filter_verdict *v)
{
	struct dkim_verify_conf *conf = confp;
	struct dkim_verify_ctx ctx = {.conf = conf};
	const char *error = NULL;
	unsigned int passes;
	DKIM_STAT st;
	DKIM *dkim;
	int temp;
	char note[32];

	if (s->outbound)
		return;
	if (count_signatures(t) == 0) {
		filter_txn_auth(t, "dkim", "none", NULL, NULL);
		filter_txn_note(t, "dkim", "none");
		return;
	}
	dkim = dkim_verify(conf->lib, (const u_char *)t->id, NULL, &st);
	if (dkim == NULL) {
		log_warning("%s dkim verify: %s", t->id, dkim_getresultstr(st));
		filter_txn_auth(t, "dkim", "temperror", "verifier error", NULL);
		return;
	}
	dkim_set_user_context(dkim, &ctx);
	if (feed_message(dkim, &ctx, t, &error) < 0) {
		log_error("%s dkim verify: spool read failed: %s", t->id,
		          error);
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.3.0",
		                   "local error, try again later");
		dkim_free(dkim);
		return;
	}
	passes = record_results(dkim, &ctx, t, &temp);
	dkim_free(dkim);
	snprintf(note, sizeof(note), "%s",
	         passes ? "pass"
	         : temp ? "temperror"
	                : "fail");
	filter_txn_note(t, "dkim", note);
	if (passes == 0 && temp && conf->tempfail_on_dns_error)
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.4.3",
		                   "DKIM key lookup failed, try again later");
}

static void
dkim_verify_free(void *confp)
{
	struct dkim_verify_conf *conf = confp;

	dkim_close(conf->lib);
	free(conf);
}

static const struct filter_ops dkim_verify_ops = {
    .name = "dkim_verify",
    .hook = {[FILTER_PHASE_EOM] = dkim_verify_eom},
    .blocking = 1u << FILTER_PHASE_EOM,
    .free = dkim_verify_free,
};

int
filter_dkim_verify_add(struct filter_chain *chain,
                       const struct filter_dkim_verify_opts *opts,
                       const char **error_r)
{
	struct dkim_verify_conf *conf;
	unsigned int bits = opts->min_key_bits;
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;

	conf = xcalloc(1, sizeof(*conf));
	conf->lib = dkim_init(NULL, NULL);
	if (conf->lib == NULL) {
		free(conf);
		*error_r = "cannot initialize libopendkim";
		return -1;
	}
	conf->dns = opts->dns;
	conf->max_signatures = opts->max_signatures;
	conf->min_key_bits = opts->min_key_bits;
	conf->tempfail_on_dns_error = opts->tempfail_on_dns_error;
	dkim_options(conf->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	             sizeof(flags));
	dkim_options(conf->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits,
	             sizeof(bits));
	dkim_set_key_lookup(conf->lib, dkim_key_lookup_cb);
	dkim_set_prescreen(conf->lib, dkim_prescreen_cb);
	filter_chain_add(chain, &dkim_verify_ops, conf);
	return 0;
}
