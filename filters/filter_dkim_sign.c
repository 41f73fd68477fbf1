/*
 * filter_dkim_sign.c - DKIM signing of outbound mail.
 *
 * Decides whether to sign (outbound session, exactly one From field
 * with exactly one mailbox, an entry in the signing table), makes the
 * header section fit RFC 5322's 998-octet line limit, then has
 * sign/sign_dkim.c sign what filter_msg's walk yields: the same fields
 * and body the upstream will get.  The signatures are prepended last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_addr.h"
#include "filters/filter_dkim.h"
#include "filters/filter_msg.h"
#include "sign/sign_dkim.h"
#include "sign/sign_keys.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xalloc.h"

#define SIGN_CHOICES_MAX 8
#define SIGN_LINE_MAX    998 /* RFC 5322 2.1.1, without CRLF */
#define SIGN_LINE_AIM    78
#define SIGN_CHUNK       (64 * 1024)

struct dkim_sign_conf {
	struct sign_dkim *sd;
	struct sign_keytable *keys;
	struct sign_signtable *table;
	enum filter_dkim_from_policy from_policy;
	enum filter_dkim_long_lines long_lines;
};

/* Folding */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Where to break line[0..len): before a WSP, aiming at SIGN_LINE_AIM,
 * never past SIGN_LINE_MAX, never leaving a blank first piece.  0 if no
 * such place exists. */
static size_t
fold_point(const char *line, size_t len)
{
	size_t i, best = 0, first_text = 0;

	while (first_text < len && is_wsp(line[first_text]))
		first_text++;
	for (i = first_text + 1; i < len && i <= SIGN_LINE_MAX; i++) {
		if (!is_wsp(line[i]))
			continue;
		if (i <= SIGN_LINE_AIM || best == 0)
			best = i;
		if (i > SIGN_LINE_AIM)
			break;
	}
	return best;
}

/* Append line[0..len) to out, folded; -1 if it cannot be. */
static int
fold_line(char **out, size_t *outlen, const char *line, size_t len)
{
	size_t at;

	while (len > SIGN_LINE_MAX) {
		at = fold_point(line, len);
		if (at == 0)
			return -1;
		*out = xrealloc(*out, *outlen + at + 3);
		memcpy(*out + *outlen, line, at);
		memcpy(*out + *outlen + at, "\r\n", 2);
		*outlen += at + 2;
		line += at;
		len -= at;
	}
	*out = xrealloc(*out, *outlen + len + 1);
	memcpy(*out + *outlen, line, len);
	*outlen += len;
	(*out)[*outlen] = '\0';
	return 0;
}

char *
filter_dkim_fold(const char *field, int *unfoldable_r)
{
	const char *line = field, *crlf;
	char *out = NULL;
	size_t outlen = 0, len;
	int long_line = 0;

	*unfoldable_r = 0;
	for (;;) {
		crlf = strstr(line, "\r\n");
		len = crlf != NULL ? (size_t)(crlf - line) : strlen(line);
		long_line |= len > SIGN_LINE_MAX;
		if (fold_line(&out, &outlen, line, len) < 0) {
			free(out);
			*unfoldable_r = 1;
			return NULL;
		}
		if (crlf == NULL)
			break;
		out = xrealloc(out, outlen + 3);
		memcpy(out + outlen, "\r\n", 3);
		outlen += 2;
		line = crlf + 2;
	}
	if (!long_line) {
		free(out);
		return NULL;
	}
	return out;
}

/* Fold the message's own fields (or, with `reject`, refuse long
 * ones); -1 if one cannot be (reason set). */
static int
fold_fields(struct filter_txn *t, enum filter_dkim_long_lines policy,
            const char **error_r)
{
	size_t i, len;
	char *field, *folded;
	int unfoldable;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (t->fields[i].deleted)
			continue;
		field = filter_msg_field_dup(t, i, &len, error_r);
		if (field == NULL)
			return -1;
		folded = filter_dkim_fold(field, &unfoldable);
		free(field);
		if (unfoldable ||
		    (folded != NULL && policy == FILTER_DKIM_LONG_REJECT)) {
			free(folded);
			*error_r = "header line over 998 octets";
			return -1;
		}
		if (folded != NULL) {
			filter_msg_field_replace(t, i, folded);
			free(folded);
		}
	}
	return 0;
}

/* The From address */

/*
 * The single author address of the message into addr.  Returns 0, or -1
 * with a reason for the log: none, several fields, several mailboxes,
 * or a From that does not parse.
 */
static int
author_address(const struct filter_txn *t, char *addr, size_t size,
               const char **why_r)
{
	struct filter_mailbox mb[2];
	size_t i, len, at = 0, nfrom = 0;
	const char *error;
	char *field;
	int n;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (filter_msg_field_is(t, i, "From")) {
			at = i;
			nfrom++;
		}
	}
	if (nfrom != 1) {
		*why_r = nfrom == 0 ? "no-from" : "several-from";
		return -1;
	}
	field = filter_msg_field_dup(t, at, &len, &error);
	if (field == NULL) {
		*why_r = "spool-error";
		return -1;
	}
	n = filter_addr_parse_list(field + t->fields[at].namelen + 1, mb, 2,
	                           &error);
	free(field);
	if (n != 1) {
		*why_r = n < 0 ? "bad-from" : "several-authors";
		return -1;
	}
	snprintf(addr, size, "%s@%s", mb[0].local, mb[0].domain);
	return 0;
}

/* Signing */

struct feed {
	struct sign_dkim_msg *m;
	char *error;
};

static int
feed_field_cb(void *arg, const char *field, size_t len)
{
	struct feed *f = arg;

	return sign_dkim_header(f->m, field, len, &f->error) < 0 ? 1 : 0;
}

static int
feed_body(struct feed *f, const struct filter_txn *t)
{
	size_t off = filter_msg_body_start(t), end = spool_size(t->message);
	const char *error;
	char *buf = xmalloc(SIGN_CHUNK);
	ssize_t n;
	int r = 0;

	while (r == 0 && off < end) {
		n = spool_read(t->message, off, buf, SIGN_CHUNK, &error);
		if (n <= 0) {
			f->error = xstrdup(n < 0 ? error : "short spool read");
			r = -1;
			break;
		}
		r = sign_dkim_body(f->m, buf, (size_t)n, &f->error);
		off += (size_t)n;
	}
	free(buf);
	return r;
}

/* Sign with the choices; prepend the signatures.  -1: *error_r set
 * (allocated). */
static int
sign_message(struct dkim_sign_conf *conf, struct filter_txn *t,
             const struct sign_choice *choices, size_t n, char **error_r)
{
	struct feed f = {0};
	char *values[SIGN_CHOICES_MAX];
	const char *serror = NULL;
	size_t i;
	int r;

	f.m = sign_dkim_begin(conf->sd, t->id, choices, n, error_r);
	if (f.m == NULL)
		return -1;
	r = filter_msg_foreach_field(t, feed_field_cb, &f, &serror);
	if (r == 0)
		r = sign_dkim_eoh(f.m, &f.error);
	if (r == 0)
		r = feed_body(&f, t);
	if (r == 0)
		r = sign_dkim_end(f.m, values, &f.error);
	sign_dkim_msg_free(&f.m);
	if (r != 0) {
		*error_r = f.error != NULL ? f.error : xstrdup(serror);
		return -1;
	}
	/* Prepended in reverse so the first key's signature is on top. */
	for (i = n; i-- > 0;) {
		filter_txn_prepend_header(t, "DKIM-Signature", values[i]);
		free(values[i]);
	}
	return 0;
}

static void
note_signed(struct filter_txn *t, const struct sign_choice *c, size_t n)
{
	char buf[256];
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < sizeof(buf); i++)
		used += (size_t)snprintf(
		    buf + used, sizeof(buf) - used, "%s%s/%s/%s", i ? "," : "",
		    c[i].domain, c[i].key->selector,
		    c[i].key->alg == SIGN_ALG_RSA_SHA256 ? "rsa" : "ed25519");
	filter_txn_note(t, "dkim_signed", buf);
}

static void
dkim_sign_eom(void *confp, struct filter_session *s, struct filter_txn *t,
              struct filter_verdict *v)
{
	struct dkim_sign_conf *conf = confp;
	struct sign_choice choices[SIGN_CHOICES_MAX];
	char addr[FILTER_ADDR_LOCAL_MAX + FILTER_ADDR_DOMAIN_MAX + 2];
	const char *why;
	char *error = NULL;
	size_t n;

	if (!s->outbound)
		return;
	if (author_address(t, addr, sizeof(addr), &why) < 0) {
		log_info("%s dkim-sign skipped reason=%s", s->id, why);
		filter_txn_note(t, "dkim_sign", why);
		if (conf->from_policy == FILTER_DKIM_FROM_REJECT)
			filter_verdict_set(v, FILTER_REJECT, 550, "5.6.0",
			                   "message must have one From "
			                   "address (RFC 5322 3.6.2)");
		return;
	}
	n = sign_signtable_lookup(conf->table, addr, choices, SIGN_CHOICES_MAX);
	if (n == 0) {
		filter_txn_note(t, "dkim_sign", "no-key");
		return;
	}
	if (fold_fields(t, conf->long_lines, &why) < 0) {
		log_info("%s dkim-sign refused reason=\"%s\"", s->id, why);
		filter_verdict_set(v, FILTER_REJECT, 550, "5.6.0",
		                   "%s; cannot sign", why);
		return;
	}
	if (sign_message(conf, t, choices, n, &error) < 0) {
		log_error("%s dkim-sign failed: %s", s->id, error);
		free(error);
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.3.0",
		                   "local error signing, try again later");
		return;
	}
	note_signed(t, choices, n);
}

static void
dkim_sign_free(void *confp)
{
	struct dkim_sign_conf *conf = confp;

	sign_dkim_destroy(&conf->sd);
	sign_signtable_free(&conf->table);
	sign_keytable_free(&conf->keys);
	free(conf);
}

static const struct filter_ops dkim_sign_ops = {
    .name = "dkim_sign",
    .hook = {[FILTER_PHASE_EOM] = dkim_sign_eom},
    .blocking = 1u << FILTER_PHASE_EOM,
    .free = dkim_sign_free,
};

int
filter_dkim_sign_add(struct filter_chain *chain,
                     struct filter_dkim_sign_opts *opts, const char **error_r)
{
	struct sign_dkim_opts so = {
	    .header_relaxed = opts->header_relaxed,
	    .body_relaxed = opts->body_relaxed,
	    .sign_headers = opts->sign_headers,
	    .nsign_headers = opts->nsign_headers,
	    .oversign_headers = opts->oversign_headers,
	    .noversign_headers = opts->noversign_headers,
	};
	struct dkim_sign_conf *conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->sd = sign_dkim_create(&so, error_r);
	conf->keys = opts->keys;
	conf->table = opts->table;
	conf->from_policy = opts->from_policy;
	conf->long_lines = opts->long_lines;
	opts->keys = NULL;
	opts->table = NULL;
	if (conf->sd == NULL) {
		dkim_sign_free(conf);
		return -1;
	}
	filter_chain_add(chain, &dkim_sign_ops, conf);
	return 0;
}
