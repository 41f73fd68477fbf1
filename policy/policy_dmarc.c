/*
 * policy_dmarc.c - DMARC (RFC 7489) records, alignment and disposition.
 *
 * Parses records by the grammar of RFC 7489 6.4, leniently where 6.3
 * asks for it (unknown tags ignored, bad optional values defaulted),
 * decides alignment through the public suffix list, and turns one
 * evaluation's facts into a result, a disposition and a JSON line.
 * No I/O: policy discovery in DNS and acting on the disposition are the
 * filter's.  Errors are static strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_dmarc.h"
#include "policy/policy_psl.h"
#include "util/xalloc.h"

#define DMARC_PCT_DEFAULT 100
#define DMARC_RI_DEFAULT  86400UL
#define DMARC_RI_DIGITS   32 /* RFC 7489 6.4: 1*32DIGIT */

/* One tag of a record: name and value, white space trimmed. */
struct dmarc_tag {
	const char *name;
	size_t namelen;
	const char *value;
	size_t valuelen;
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The text [start, end) less white space on both sides. */
static void
trim(const char **start, const char **end)
{
	while (*start < *end && is_wsp(**start))
		(*start)++;
	while (*end > *start && is_wsp((*end)[-1]))
		(*end)--;
}

/*
 * The next tag from *p (which advances past it and its ';').  Returns
 * 1 for a tag, 0 at the end; empty segments are skipped and a segment
 * without '=' is a tag with an empty name, which nothing matches.
 */
static int
tag_next(const char **p, struct dmarc_tag *tag)
{
	const char *start, *end, *eq;

	for (;;) {
		if (**p == '\0')
			return 0;
		start = *p;
		end = strchr(start, ';');
		if (end == NULL)
			end = start + strlen(start);
		*p = *end == ';' ? end + 1 : end;
		trim(&start, &end);
		if (start < end)
			break;
	}
	eq = memchr(start, '=', (size_t)(end - start));
	tag->name = start;
	tag->namelen = 0;
	tag->value = end;
	if (eq != NULL) {
		tag->value = eq + 1;
		trim(&tag->name, &eq);
		tag->namelen = (size_t)(eq - tag->name);
	}
	trim(&tag->value, &end);
	tag->valuelen = (size_t)(end - tag->value);
	return 1;
}

/* Tag names and the ABNF's literal values are case-insensitive
 * (RFC 5234 2.3). */
static int
tag_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

int
policy_dmarc_record_is(const char *txt)
{
	struct dmarc_tag tag;
	const char *p = txt;

	/* The value must match exactly (6.3 "v"). */
	return tag_next(&p, &tag) && tag_is(tag.name, tag.namelen, "v") &&
	       tag.valuelen == 6 && memcmp(tag.value, "DMARC1", 6) == 0;
}

/* Values */

static int
policy_parse(const char *s, size_t len, enum policy_dmarc_policy *p)
{
	if (tag_is(s, len, "none"))
		*p = POLICY_DMARC_NONE;
	else if (tag_is(s, len, "quarantine"))
		*p = POLICY_DMARC_QUARANTINE;
	else if (tag_is(s, len, "reject"))
		*p = POLICY_DMARC_REJECT;
	else
		return -1;
	return 0;
}

/* An unsigned decimal of 1..maxdigits digits and at most max. */
static int
number_parse(const char *s, size_t len, size_t maxdigits, unsigned long max,
             unsigned long *n)
{
	size_t i;

	if (len == 0 || len > maxdigits)
		return -1;
	*n = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (*n > (max - (unsigned long)(s[i] - '0')) / 10)
			return -1;
		*n = *n * 10 + (unsigned long)(s[i] - '0');
	}
	return 0;
}

/* fo= (6.4 dmarc-fo): options 0, 1, d, s separated by ':'; kept
 * without white space, or -1. */
static int
fo_parse(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = 0;
	int want_option = 1;

	for (i = 0; i < len; i++) {
		/* "d" and "s" in any case */
		char c =
		    s[i] == 'D' || s[i] == 'S' ? (char)(s[i] | 0x20) : s[i];

		if (is_wsp(s[i]))
			continue;
		if (want_option ? strchr("01ds", c) == NULL : c != ':')
			return -1;
		if (n + 1 >= size)
			return -1;
		buf[n++] = c;
		want_option = c == ':';
	}
	if (want_option)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* One DMARC URI (6.4 dmarc-uri: a URI, then optionally "!" and a
 * size): only the scheme is checked (RFC 3986 3.1), which is what
 * 6.6.3 step 7 needs to know. */
static int
uri_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return 0;
	for (i = 1; i < len && s[i] != ':'; i++) {
		char c = (char)(s[i] | 0x20);

		if (!((c >= 'a' && c <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("+-.", s[i]) != NULL))
			return 0;
	}
	return i + 1 < len && s[i] == ':';
}

/* 1 if the comma-separated list has a valid URI. */
static int
uris_valid(const char *s, size_t len)
{
	const char *end = s + len, *start, *stop;

	for (start = s; start < end; start = stop + 1) {
		const char *uend;

		stop = memchr(start, ',', (size_t)(end - start));
		if (stop == NULL)
			stop = end;
		uend = stop;
		trim(&start, &uend);
		if (uri_valid(start, (size_t)(uend - start)))
			return 1;
	}
	return 0;
}

/* Keep a URI list; one too long for buf is cut after the last whole
 * URI that fits. */
static void
uris_copy(const char *s, size_t len, char *buf, size_t size)
{
	const char *comma;

	while (len >= size) {
		comma = memrchr(s, ',', len);
		len = comma != NULL ? (size_t)(comma - s) : 0;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
}

/* The record */

/* What a record said, before the fallback rules. */
struct dmarc_parse {
	int p_valid;  /* p= present and valid */
	int sp_seen;  /* sp= present */
	int sp_valid; /* and valid */
	int rua_valid;
	unsigned int seen; /* bit per tag: the first occurrence counts */
};

enum dmarc_tag_id {
	TAG_P,
	TAG_SP,
	TAG_PCT,
	TAG_ADKIM,
	TAG_ASPF,
	TAG_RUA,
	TAG_RUF,
	TAG_FO,
	TAG_RI,
	TAG_UNKNOWN,
};

static const char *const dmarc_tag_names[] = {
    [TAG_P] = "p",         [TAG_SP] = "sp",     [TAG_PCT] = "pct",
    [TAG_ADKIM] = "adkim", [TAG_ASPF] = "aspf", [TAG_RUA] = "rua",
    [TAG_RUF] = "ruf",     [TAG_FO] = "fo",     [TAG_RI] = "ri",
};

static enum dmarc_tag_id
tag_id(const struct dmarc_tag *tag)
{
	int i;

	for (i = 0; i < TAG_UNKNOWN; i++) {
		if (tag_is(tag->name, tag->namelen, dmarc_tag_names[i]))
			return (enum dmarc_tag_id)i;
	}
	return TAG_UNKNOWN;
}

static void
align_parse(const struct dmarc_tag *tag, enum policy_dmarc_align *a)
{
	if (tag_is(tag->value, tag->valuelen, "s"))
		*a = POLICY_DMARC_STRICT;
	else
		*a = POLICY_DMARC_RELAXED; /* "r", or a bad value: default */
}

static void
record_tag(struct policy_dmarc_record *r, struct dmarc_parse *st,
           enum dmarc_tag_id id, const struct dmarc_tag *tag)
{
	const char *v = tag->value;
	size_t len = tag->valuelen;
	unsigned long n;

	switch (id) {
	case TAG_P:
		st->p_valid = policy_parse(v, len, &r->p) == 0;
		break;
	case TAG_SP:
		st->sp_seen = 1;
		st->sp_valid = policy_parse(v, len, &r->sp) == 0;
		break;
	case TAG_PCT:
		if (number_parse(v, len, 3, 100, &n) == 0)
			r->pct = (unsigned int)n;
		break;
	case TAG_ADKIM:
		align_parse(tag, &r->adkim);
		break;
	case TAG_ASPF:
		align_parse(tag, &r->aspf);
		break;
	case TAG_RUA:
		st->rua_valid = uris_valid(v, len);
		uris_copy(v, len, r->rua, sizeof(r->rua));
		break;
	case TAG_RUF:
		uris_copy(v, len, r->ruf, sizeof(r->ruf));
		break;
	case TAG_FO:
		if (fo_parse(v, len, r->fo, sizeof(r->fo)) < 0)
			strcpy(r->fo, "0");
		break;
	case TAG_RI:
		if (number_parse(v, len, DMARC_RI_DIGITS, (unsigned long)-1,
		                 &n) == 0)
			r->ri = n;
		break;
	case TAG_UNKNOWN:
		break;
	}
}

static void
record_defaults(struct policy_dmarc_record *r)
{
	memset(r, 0, sizeof(*r));
	r->pct = DMARC_PCT_DEFAULT;
	strcpy(r->fo, "0");
	r->ri = DMARC_RI_DEFAULT;
}

int
policy_dmarc_record_parse(const char *txt, struct policy_dmarc_record *r,
                          const char **error_r)
{
	struct dmarc_parse st = {0};
	struct dmarc_tag tag;
	enum dmarc_tag_id id;
	const char *p = txt;

	record_defaults(r);
	if (!policy_dmarc_record_is(txt)) {
		*error_r = "not a DMARC1 record";
		return -1;
	}
	tag_next(&p, &tag); /* v=DMARC1 */
	while (tag_next(&p, &tag)) {
		id = tag_id(&tag);
		if (id != TAG_UNKNOWN && (st.seen & (1u << id)) != 0)
			continue;
		st.seen |= 1u << id;
		record_tag(r, &st, id, &tag);
	}
	if (!st.sp_seen)
		r->sp = r->p;
	if (st.p_valid && (!st.sp_seen || st.sp_valid))
		return 0;

	/* RFC 7489 6.6.3 step 7. */
	if (!st.rua_valid) {
		*error_r = st.p_valid ? "invalid sp= tag and no rua= tag"
		                      : "no valid p= tag and no rua= tag";
		return -1;
	}
	r->p = r->sp = POLICY_DMARC_NONE;
	r->p_assumed = 1;
	return 0;
}

size_t
policy_dmarc_record_select(const char *const *txt, size_t n, size_t *index_r)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++) {
		if (!policy_dmarc_record_is(txt[i]))
			continue;
		if (count++ == 0)
			*index_r = i;
	}
	return count;
}

/* Alignment */

/* Length of domain less one trailing dot. */
static size_t
domain_len(const char *d)
{
	size_t len = strlen(d);

	return len > 0 && d[len - 1] == '.' ? len - 1 : len;
}

static int
domain_equal(const char *a, const char *b)
{
	size_t len = domain_len(a);

	return len > 0 && len == domain_len(b) && strncasecmp(a, b, len) == 0;
}

/* The organizational domain of d, or d itself (lowercased) when it is
 * a public suffix or not a name libpsl takes. */
static void
org_or_self(const struct policy_psl *psl, const char *d, char *buf, size_t size)
{
	size_t len = domain_len(d), i;

	if (policy_psl_org_domain(psl, d, buf, size) == 0)
		return;
	if (len >= size)
		len = size - 1;
	for (i = 0; i < len; i++)
		buf[i] =
		    (char)((d[i] >= 'A' && d[i] <= 'Z') ? d[i] | 0x20 : d[i]);
	buf[len] = '\0';
}

int
policy_dmarc_aligned(const struct policy_psl *psl, const char *a, const char *b,
                     enum policy_dmarc_align mode)
{
	char orga[POLICY_PSL_DOMAIN_MAX], orgb[POLICY_PSL_DOMAIN_MAX];

	if (a == NULL || b == NULL || domain_len(a) == 0 || domain_len(b) == 0)
		return 0;
	if (mode == POLICY_DMARC_STRICT)
		return domain_equal(a, b);
	org_or_self(psl, a, orga, sizeof(orga));
	org_or_self(psl, b, orgb, sizeof(orgb));
	return strcmp(orga, orgb) == 0;
}

/* Evaluation */

/* Copy s into buf, cut to fit. */
static void
copy_cut(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s != NULL ? s : "");
}

void
policy_dmarc_eval_init(struct policy_dmarc_eval *e, const char *header_from)
{
	memset(e, 0, sizeof(*e));
	copy_cut(e->header_from, sizeof(e->header_from), header_from);
	strcpy(e->spf_scope, "mfrom");
	strcpy(e->spf_result, "none");
	record_defaults(&e->record);
}

void
policy_dmarc_eval_spf(struct policy_dmarc_eval *e, const char *domain,
                      const char *scope, const char *result)
{
	copy_cut(e->spf_domain, sizeof(e->spf_domain), domain);
	copy_cut(e->spf_scope, sizeof(e->spf_scope), scope);
	copy_cut(e->spf_result, sizeof(e->spf_result), result);
}

void
policy_dmarc_eval_dkim(struct policy_dmarc_eval *e, const char *domain,
                       const char *selector, const char *result)
{
	struct policy_dmarc_dkim *d = NULL;
	size_t i;

	if (e->ndkim < POLICY_DMARC_DKIM_MAX) {
		d = &e->dkim[e->ndkim++];
	} else if (strcmp(result, "pass") == 0) {
		for (i = 0; i < e->ndkim && d == NULL; i++) {
			if (strcmp(e->dkim[i].result, "pass") != 0)
				d = &e->dkim[i];
		}
	}
	if (d == NULL)
		return;
	copy_cut(d->domain, sizeof(d->domain), domain);
	copy_cut(d->selector, sizeof(d->selector), selector);
	copy_cut(d->result, sizeof(d->result), result);
}

void
policy_dmarc_eval_found(struct policy_dmarc_eval *e, const char *domain,
                        const struct policy_dmarc_record *r)
{
	e->lookup = POLICY_DMARC_LOOKUP_FOUND;
	copy_cut(e->policy_domain, sizeof(e->policy_domain), domain);
	e->record = *r;
}

static void
eval_alignment(struct policy_dmarc_eval *e, const struct policy_psl *psl)
{
	const struct policy_dmarc_record *r = &e->record;
	size_t i;

	e->spf_aligned =
	    strcmp(e->spf_result, "pass") == 0 &&
	    policy_dmarc_aligned(psl, e->spf_domain, e->header_from, r->aspf);
	e->dkim_aligned = 0;
	for (i = 0; i < e->ndkim && !e->dkim_aligned; i++)
		e->dkim_aligned =
		    strcmp(e->dkim[i].result, "pass") == 0 &&
		    policy_dmarc_aligned(psl, e->dkim[i].domain, e->header_from,
		                         r->adkim);
}

static void
eval_result(struct policy_dmarc_eval *e)
{
	switch (e->lookup) {
	case POLICY_DMARC_LOOKUP_FOUND:
		e->result = e->spf_aligned || e->dkim_aligned
		                ? POLICY_DMARC_RESULT_PASS
		                : POLICY_DMARC_RESULT_FAIL;
		break;
	case POLICY_DMARC_LOOKUP_TEMPERROR:
		e->result = POLICY_DMARC_RESULT_TEMPERROR;
		e->reason = e->lookup_problem ? e->lookup_problem
		                              : "policy lookup failed";
		break;
	case POLICY_DMARC_LOOKUP_PERMERROR:
		e->result = POLICY_DMARC_RESULT_PERMERROR;
		e->reason = e->lookup_problem ? e->lookup_problem
		                              : "policy lookup refused";
		break;
	default:
		e->result = POLICY_DMARC_RESULT_NONE;
		e->reason = e->lookup_problem ? e->lookup_problem
		                              : "no policy published";
		break;
	}
	/* A message whose author cannot be told is never a pass (RFC 7489
	 * 6.6.1); its domains' policies still apply. */
	if (e->from_problem != NULL) {
		e->result = POLICY_DMARC_RESULT_FAIL;
		e->reason = e->from_problem;
	}
}

void
policy_dmarc_evaluate(struct policy_dmarc_eval *e, const struct policy_psl *psl,
                      unsigned int roll)
{
	const struct policy_dmarc_record *r = &e->record;

	org_or_self(psl, e->header_from, e->org_domain, sizeof(e->org_domain));
	eval_alignment(e, psl);
	eval_result(e);
	e->policy = POLICY_DMARC_NONE;
	e->disposition = POLICY_DMARC_NONE;
	e->override = NULL;
	if (e->lookup != POLICY_DMARC_LOOKUP_FOUND)
		return;

	/* 6.3 sp=: for subdomains, when the record came from the
	 * organizational domain rather than the author domain itself. */
	e->policy =
	    domain_equal(e->policy_domain, e->header_from) ? r->p : r->sp;
	if (e->result != POLICY_DMARC_RESULT_FAIL)
		return;
	e->disposition = e->policy;
	/* 6.6.4: messages not sampled get the next milder policy. */
	if (e->policy != POLICY_DMARC_NONE && roll >= r->pct) {
		e->disposition = (enum policy_dmarc_policy)(e->policy - 1);
		e->override = "sampled_out";
	}
}

const char *
policy_dmarc_result_name(enum policy_dmarc_result r)
{
	static const char *const names[] = {
	    [POLICY_DMARC_RESULT_NONE] = "none",
	    [POLICY_DMARC_RESULT_PASS] = "pass",
	    [POLICY_DMARC_RESULT_FAIL] = "fail",
	    [POLICY_DMARC_RESULT_TEMPERROR] = "temperror",
	    [POLICY_DMARC_RESULT_PERMERROR] = "permerror",
	};

	return (size_t)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

const char *
policy_dmarc_policy_name(enum policy_dmarc_policy p)
{
	static const char *const names[] = {
	    [POLICY_DMARC_NONE] = "none",
	    [POLICY_DMARC_QUARANTINE] = "quarantine",
	    [POLICY_DMARC_REJECT] = "reject",
	};

	return (size_t)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

/* JSON */

struct json {
	char *s;
	size_t len;
	size_t cap;
};

static void
json_add(struct json *j, const char *s, size_t n)
{
	if (j->len + n + 1 > j->cap) {
		j->cap = (j->len + n + 1) * 2;
		j->s = xrealloc(j->s, j->cap);
	}
	memcpy(j->s + j->len, s, n);
	j->len += n;
	j->s[j->len] = '\0';
}

static void
json_raw(struct json *j, const char *s)
{
	json_add(j, s, strlen(s));
}

/* A string value; NULL is null.  Octets outside printable ASCII are
 * escaped, so the line is ASCII whatever DNS or the message held. */
static void
json_str(struct json *j, const char *s)
{
	char esc[8];

	if (s == NULL) {
		json_raw(j, "null");
		return;
	}
	json_raw(j, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			json_add(j, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			json_raw(j, esc);
		} else {
			json_add(j, s, 1);
		}
	}
	json_raw(j, "\"");
}

/* ,"key": */
static void
json_key(struct json *j, const char *key, int first)
{
	json_raw(j, first ? "\"" : ",\"");
	json_raw(j, key);
	json_raw(j, "\":");
}

static void
json_kv(struct json *j, const char *key, const char *value, int first)
{
	json_key(j, key, first);
	json_str(j, value);
}

static void
json_num(struct json *j, const char *key, unsigned long long n)
{
	char buf[32];

	json_key(j, key, 0);
	snprintf(buf, sizeof(buf), "%llu", n);
	json_raw(j, buf);
}

static void
json_published(struct json *j, const struct policy_dmarc_eval *e)
{
	const struct policy_dmarc_record *r = &e->record;

	json_key(j, "policy_published", 0);
	if (e->lookup != POLICY_DMARC_LOOKUP_FOUND) {
		json_raw(j, "null");
		return;
	}
	json_raw(j, "{");
	json_kv(j, "domain", e->policy_domain, 1);
	json_kv(j, "p", policy_dmarc_policy_name(r->p), 0);
	json_kv(j, "sp", policy_dmarc_policy_name(r->sp), 0);
	json_num(j, "pct", r->pct);
	json_kv(j, "adkim", r->adkim == POLICY_DMARC_STRICT ? "s" : "r", 0);
	json_kv(j, "aspf", r->aspf == POLICY_DMARC_STRICT ? "s" : "r", 0);
	json_kv(j, "fo", r->fo, 0);
	json_kv(j, "rua", r->rua, 0);
	json_kv(j, "ruf", r->ruf, 0);
	json_num(j, "ri", r->ri);
	json_raw(j, "}");
}

static void
json_evaluated(struct json *j, const struct policy_dmarc_eval *e)
{
	json_key(j, "policy_evaluated", 0);
	json_raw(j, "{");
	json_kv(j, "disposition", policy_dmarc_policy_name(e->disposition), 1);
	json_kv(j, "dkim", e->dkim_aligned ? "pass" : "fail", 0);
	json_kv(j, "spf", e->spf_aligned ? "pass" : "fail", 0);
	json_kv(j, "reason", e->override, 0);
	json_raw(j, "}");
}

static void
json_auth(struct json *j, const struct policy_dmarc_eval *e)
{
	size_t i;

	json_key(j, "auth_results", 0);
	json_raw(j, "{\"spf\":{");
	json_kv(j, "domain", e->spf_domain, 1);
	json_kv(j, "scope", e->spf_scope, 0);
	json_kv(j, "result", e->spf_result, 0);
	json_raw(j, "},\"dkim\":[");
	for (i = 0; i < e->ndkim; i++) {
		json_raw(j, i > 0 ? ",{" : "{");
		json_kv(j, "domain", e->dkim[i].domain, 1);
		json_kv(j, "selector", e->dkim[i].selector, 0);
		json_kv(j, "result", e->dkim[i].result, 0);
		json_raw(j, "}");
	}
	json_raw(j, "]}");
}

char *
policy_dmarc_eval_json(const struct policy_dmarc_eval *e, const char *id,
                       time_t when)
{
	struct json j = {NULL, 0, 0};
	char buf[48];

	snprintf(buf, sizeof(buf), "{\"time\":%lld", (long long)when);
	json_raw(&j, buf);
	json_kv(&j, "id", id, 0);
	json_kv(&j, "source_ip", e->source, 0);
	json_kv(&j, "header_from", e->header_from, 0);
	json_kv(&j, "envelope_from", e->envelope_from, 0);
	json_kv(&j, "org_domain", e->org_domain, 0);
	json_kv(&j, "result", policy_dmarc_result_name(e->result), 0);
	json_kv(&j, "reason", e->reason, 0);
	json_kv(&j, "policy", policy_dmarc_policy_name(e->policy), 0);
	json_published(&j, e);
	json_evaluated(&j, e);
	json_auth(&j, e);
	json_raw(&j, "}");
	return j.s;
}
