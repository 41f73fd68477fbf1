/*
 * filter_authres.c - the Authentication-Results header (RFC 8601).
 *
 * At end of message, removes every Authentication-Results field whose
 * authserv-id is ours (RFC 8601 5: a field claiming our id that we did
 * not add is a forgery, or a stale one from an earlier pass) and
 * prepends one with the results the checking filters recorded in the
 * transaction.  The results' content is the recording filters' business;
 * this module only quotes and neutralizes it for the header syntax.
 * Never rejects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/filter_authres.h"
#include "filters/filter_msg.h"
#include "util/xalloc.h"

#define AUTHRES_SERVID_MAX    256
#define AUTHRES_COMMENT_DEPTH 32
#define AUTHRES_FIELD         "Authentication-Results"

struct authres_conf {
	char *servid;
};

/* A growing string for the composed value. */
struct authres_str {
	char *s;
	size_t len;
	size_t cap;
};

/* Parsing the authserv-id */

/* CFWS before the id; line breaks are skipped like spaces, since only
 * the id matters here.  NULL when nothing follows, or for an
 * unterminated or too deep comment. */
static const char *
authres_skip_cfws(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '(') {
			if (++depth > AUTHRES_COMMENT_DEPTH)
				return NULL;
		} else if (*p == ')' && depth > 0) {
			depth--;
		} else if (*p == '\\' && depth > 0) {
			if (*++p == '\0')
				return NULL;
		} else if (depth == 0 && strchr(" \t\r\n", *p) == NULL) {
			return p;
		}
	}
	return NULL;
}

/* RFC 2045 5.1 token octets; octets over 0x7f pass too, for UTF-8 ids
 * (RFC 8616 3). */
static int
authres_is_token(unsigned char c)
{
	return c > 0x20 && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A quoted-string id at p (on the '"'), unquoted into buf. */
static int
authres_servid_quoted(const char *p, char *buf, size_t size)
{
	size_t len = 0;

	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return -1;
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == '\\' && *++p == '\0')
			return -1;
		if (len + 1 >= size)
			return -1;
		buf[len++] = *p;
	}
	buf[len] = '\0';
	return len > 0 ? 0 : -1;
}

int
filter_authres_servid(const char *value, char *buf, size_t size)
{
	const char *p;
	size_t len = 0;

	if (size == 0 || (p = authres_skip_cfws(value)) == NULL)
		return -1;
	if (*p == '"')
		return authres_servid_quoted(p, buf, size);

	/* The id ends at the first octet that cannot be in a token, not
	 * only at CFWS or ';': whatever a lenient reader downstream could
	 * take for our id counts as a claim to it. */
	while (authres_is_token((unsigned char)p[len]))
		len++;
	if (len == 0 || len >= size)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 0;
}

/* Composing */

static void
authres_add(struct authres_str *str, const char *s, size_t n)
{
	if (str->len + n + 1 > str->cap) {
		str->cap = (str->len + n + 1) * 2;
		str->s = xrealloc(str->s, str->cap);
	}
	memcpy(str->s + str->len, s, n);
	str->len += n;
	str->s[str->len] = '\0';
}

static void
authres_adds(struct authres_str *str, const char *s)
{
	authres_add(str, s, strlen(s));
}

/*
 * Add text that came from a check (a DNS answer, a signature tag), with
 * control characters replaced so it cannot break the header; inside a
 * quoted-string, quotes and backslashes are escaped as well.
 */
static void
authres_add_clean(struct authres_str *str, const char *s, int quoted)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f) {
			authres_add(str, "?", 1);
			continue;
		}
		if (quoted && (c == '"' || c == '\\'))
			authres_add(str, "\\", 1);
		authres_add(str, s, 1);
	}
}

static void
authres_add_result(struct authres_str *str, const struct filter_auth *a)
{
	authres_add_clean(str, a->method, 0);
	authres_adds(str, "=");
	authres_add_clean(str, a->result, 0);
	if (a->reason != NULL) {
		authres_adds(str, " reason=\"");
		authres_add_clean(str, a->reason, 1);
		authres_adds(str, "\"");
	}
	if (a->props != NULL && a->props[0] != '\0') {
		authres_adds(str, " ");
		authres_add_clean(str, a->props, 0);
	}
}

char *
filter_authres_compose(const char *authserv_id,
                       const struct filter_auth *results)
{
	struct authres_str str = {NULL, 0, 0};
	const struct filter_auth *a;

	authres_add_clean(&str, authserv_id, 0);
	/* RFC 8601 2.2: "none" when no method produced a result. */
	if (results == NULL) {
		authres_adds(&str, "; none");
		return str.s;
	}
	for (a = results; a != NULL; a = a->next) {
		authres_adds(&str, ";\r\n\t");
		authres_add_result(&str, a);
	}
	return str.s;
}

/* The filter */

/* 1 if field i claims our authserv-id. */
static int
authres_field_ours(const struct authres_conf *conf, const struct filter_txn *t,
                   size_t i)
{
	char id[AUTHRES_SERVID_MAX], *field;
	const char *error, *colon;
	size_t len;
	int ours;

	/* On a spool read error the field stays: the reader that sends
	 * the message meets the same error and nothing leaves. */
	field = filter_msg_field_dup(t, i, &len, &error);
	if (field == NULL)
		return 0;
	colon = memchr(field, ':', len);
	ours = colon != NULL &&
	       filter_authres_servid(colon + 1, id, sizeof(id)) == 0 &&
	       strcasecmp(id, conf->servid) == 0;
	free(field);
	return ours;
}

static void
authres_eom(void *confp, struct filter_session *s, struct filter_txn *t,
            struct filter_verdict *v)
{
	struct authres_conf *conf = confp;
	size_t i, removed = 0;
	char *value, num[32];

	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (!filter_msg_field_is(t, i, AUTHRES_FIELD) ||
		    !authres_field_ours(conf, t, i))
			continue;
		filter_msg_field_delete(t, i);
		removed++;
	}

	/* Our own outbound mail was not checked: there is nothing to
	 * report, and a forged claim of ours still goes. */
	if (!s->outbound) {
		value = filter_authres_compose(conf->servid, t->auth);
		filter_txn_prepend_header(t, AUTHRES_FIELD, value);
		free(value);
		filter_txn_note(t, "authres", "added");
	}
	if (removed > 0) {
		snprintf(num, sizeof(num), "%zu", removed);
		filter_txn_note(t, "authres_removed", num);
	}
}

static void
authres_free(void *confp)
{
	struct authres_conf *conf = confp;

	free(conf->servid);
	free(conf);
}

static const struct filter_ops authres_ops = {
    .name = "authres",
    .hook = {[FILTER_PHASE_EOM] = authres_eom},
    .free = authres_free,
};

void
filter_authres_add(struct filter_chain *chain, const char *authserv_id)
{
	struct authres_conf *conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->servid = xstrdup(authserv_id);
	filter_chain_add(chain, &authres_ops, conf);
}
