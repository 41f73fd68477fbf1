/*
 * spam_rules_replace.c - the ReplaceTags plugin: <A>, <inter W1>,
 * <post P2>... in a rule's regex replaced by the replace_tag,
 * replace_inter, replace_pre and replace_post values.
 *
 * Follows Mail::SpamAssassin::Plugin::ReplaceTags step by step, quirks
 * included, since the stock rules are written against it: the pattern
 * is cut at every <...>; a pre value goes before the first tag in each
 * piece, a post value after every tag, an inter value into each empty
 * piece between two adjacent tags; a tag with a value is replaced by
 * it, and the whole is done again (six passes at most) while a value
 * brought in new tags.  replace_start and replace_end are regexes as
 * there.  Leaves compiling the result to the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

#define REPLACE_PASSES 6
#define REPLACE_MAX    (1 << 20) /* octets of a pattern being built */
#define REPLACE_TAGS   100000    /* tags replaced for one rule */

struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};

static void
sbuf_add(struct sbuf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

/* The patterns of one replacement run. */
struct replace {
	const struct spam_load *ld;
	const char *start;
	const char *end;
	pcre2_code *any;  /* (START.+?END) */
	pcre2_code *name; /* START(.+?)END */
	pcre2_match_data *md;
	char **parts;
	size_t nparts;
	size_t cap;
	size_t tags;  /* tags replaced so far */
	int overflow; /* past REPLACE_MAX or REPLACE_TAGS */
};

static pcre2_code *
re_make(const char *a, const char *mid, const char *b)
{
	char *text = xasprintf("%s%s%s", a, mid, b), err[8];
	pcre2_code *re = spam_pattern_compile(text, 0, err, sizeof(err));

	free(text);
	return re;
}

/* Whether re matches s from offset; the match in *so_r, *eo_r. */
static int
re_find(struct replace *r, pcre2_code *re, const char *s, size_t offset,
        size_t *so_r, size_t *eo_r)
{
	PCRE2_SIZE *ov;

	if (pcre2_match(re, (PCRE2_SPTR)s, strlen(s), offset, 0, r->md, NULL) <
	    0)
		return 0;
	ov = pcre2_get_ovector_pointer(r->md);
	*so_r = ov[0];
	*eo_r = ov[1];
	return 1;
}

/* The first group of the last match, allocated. */
static char *
re_group(struct replace *r, const char *s)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);

	if (pcre2_get_ovector_count(r->md) < 2 || ov[2] == PCRE2_UNSET)
		return xstrdup("");
	return xstrndup(s + ov[2], ov[3] - ov[2]);
}

/* s with the first match of START<word> (.+?)END taken out: the name
 * in it, allocated, or NULL. */
static char *
take_modifier(struct replace *r, char **s, const char *word)
{
	char *mid = xasprintf("%s (.+?)", word), *name, *rest;
	pcre2_code *re = re_make(r->start, mid, r->end);
	size_t so, eo;

	free(mid);
	if (re == NULL || !re_find(r, re, *s, 0, &so, &eo)) {
		pcre2_code_free(re);
		return NULL;
	}
	name = re_group(r, *s);
	rest = xasprintf("%.*s%s", (int)so, *s, *s + eo);
	free(*s);
	*s = rest;
	pcre2_code_free(re);
	return name;
}

static void
part_add(struct replace *r, const char *s, size_t len)
{
	if (r->nparts == r->cap) {
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->parts = xreallocarray(r->parts, r->cap, sizeof(*r->parts));
	}
	r->parts[r->nparts++] = xstrndup(s, len);
}

/* Perl's split /(<[^<>]+>)/: text and tags in turn, trailing empty
 * pieces dropped. */
static void
split_tags(struct replace *r, const char *s)
{
	const char *p = s, *lt, *gt;

	r->nparts = r->cap = 0;
	r->parts = NULL;
	while ((lt = strchr(p, '<')) != NULL) {
		gt = lt + 1 + strcspn(lt + 1, "<>");
		if (*gt != '>' || gt == lt + 1) {
			p = lt + 1;
			continue;
		}
		part_add(r, s, (size_t)(lt - s));
		part_add(r, lt, (size_t)(gt + 1 - lt));
		s = p = gt + 1;
	}
	part_add(r, s, strlen(s));
	while (r->nparts > 0 && r->parts[r->nparts - 1][0] == '\0')
		free(r->parts[--r->nparts]);
}

/* Each match of re in *s (the first only unless global) with value
 * before it (pre) or after it. */
static void
wrap_matches(struct replace *r, pcre2_code *re, char **s, const char *value,
             int before, int global)
{
	struct sbuf b = {0};
	size_t offset = 0, so, eo;

	sbuf_add(&b, "", 0);
	while (offset <= strlen(*s) && re_find(r, re, *s, offset, &so, &eo)) {
		sbuf_add(&b, *s + offset, so - offset);
		if (before)
			sbuf_add(&b, value, strlen(value));
		sbuf_add(&b, *s + so, eo - so);
		if (!before)
			sbuf_add(&b, value, strlen(value));
		offset = eo > so ? eo : eo + 1;
		if (eo == so && so < strlen(*s))
			sbuf_add(&b, *s + so, 1);
		if (!global)
			break;
	}
	if (offset < strlen(*s))
		sbuf_add(&b, *s + offset, strlen(*s) - offset);
	free(*s);
	*s = b.s;
}

/* Every "<name>" in *s replaced by value: the usual tag delimiters,
 * without a regex. */
static void
replace_literal(char **s, const char *name, const char *value)
{
	char *tag = xasprintf("<%s>", name), *p = *s, *at;
	struct sbuf b = {0};

	sbuf_add(&b, "", 0);
	while ((at = strstr(p, tag)) != NULL) {
		sbuf_add(&b, p, (size_t)(at - p));
		sbuf_add(&b, value, strlen(value));
		p = at + strlen(tag);
	}
	sbuf_add(&b, p, strlen(p));
	free(tag);
	free(*s);
	*s = b.s;
}

/* Whether name is plain text in a regex. */
static int
plain(const char *name)
{
	return strpbrk(name, "\\^$.[]|()?*+{}") == NULL;
}

/* Every START<name>END in *s replaced by value (<name> a regex, as
 * ReplaceTags interpolates it). */
static void
replace_all(struct replace *r, char **s, const char *name, const char *value)
{
	struct sbuf b = {0};
	size_t offset = 0, so, eo;
	pcre2_code *re;

	if (strcmp(r->start, "<") == 0 && strcmp(r->end, ">") == 0 &&
	    plain(name)) {
		replace_literal(s, name, value);
		return;
	}
	re = re_make(r->start, name, r->end);
	if (re == NULL)
		return;
	sbuf_add(&b, "", 0);
	while (offset <= strlen(*s) && re_find(r, re, *s, offset, &so, &eo)) {
		sbuf_add(&b, *s + offset, so - offset);
		sbuf_add(&b, value, strlen(value));
		if (eo == so && so < strlen(*s))
			sbuf_add(&b, *s + so, 1);
		offset = eo > so ? eo : eo + 1;
	}
	if (offset < strlen(*s))
		sbuf_add(&b, *s + offset, strlen(*s) - offset);
	free(*s);
	*s = b.s;
	pcre2_code_free(re);
}

/* Perl truth of a setting's value: set, not "" and not "0". */
static const char *
truthy(const char *v)
{
	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 ? v : NULL;
}

/* Perl's /<[^>]+>/ */
static int
has_tag(const char *s)
{
	const char *lt, *gt;

	for (lt = s; (lt = strchr(lt, '<')) != NULL; lt++) {
		gt = strchr(lt + 1, '>');
		if (gt != NULL && gt > lt + 1)
			return 1;
	}
	return 0;
}

/* One tag piece replaced; whether its value holds a new tag. */
static int
replace_part(struct replace *r, char **part)
{
	const char *value;
	size_t so, eo;
	char *name;
	int again;

	if (!re_find(r, r->name, *part, 0, &so, &eo))
		return 0;
	name = re_group(r, *part);
	value = truthy(name) ? truthy(spam_kv_get(&r->ld->tags, name)) : NULL;
	again = 0;
	if (value != NULL) {
		replace_all(r, part, name, value);
		again = has_tag(value);
	}
	free(name);
	return again;
}

/* One pass over s; whether another is due. */
static int
replace_pass(struct replace *r, char **s)
{
	char *pre = take_modifier(r, s, "pre");
	char *post = take_modifier(r, s, "post");
	char *inter = take_modifier(r, s, "inter");
	const char *v;
	struct sbuf b = {0};
	size_t i, total = 0;
	int again = 0;

	split_tags(r, *s);
	for (i = 0; i < r->nparts && !r->overflow; i++) {
		v = pre != NULL ? truthy(spam_kv_get(&r->ld->pre, pre)) : NULL;
		if (v != NULL)
			wrap_matches(r, r->any, &r->parts[i], v, 1, 0);
		v = post != NULL ? truthy(spam_kv_get(&r->ld->post, post))
		                 : NULL;
		if (v != NULL)
			wrap_matches(r, r->any, &r->parts[i], v, 0, 1);
		v = inter != NULL ? truthy(spam_kv_get(&r->ld->inter, inter))
		                  : NULL;
		if (v != NULL && r->parts[i][0] == '\0') {
			free(r->parts[i]);
			r->parts[i] = xstrdup(v);
		}
		again |= replace_part(r, &r->parts[i]);
		total += strlen(r->parts[i]);
		r->overflow = total > REPLACE_MAX || ++r->tags > REPLACE_TAGS;
	}
	sbuf_add(&b, "", 0);
	for (i = 0; i < r->nparts; i++) {
		sbuf_add(&b, r->parts[i], strlen(r->parts[i]));
		free(r->parts[i]);
	}
	free(r->parts);
	free(*s);
	*s = b.s;
	free(pre);
	free(post);
	free(inter);
	return again && !r->overflow;
}

char *
spam_replace_tags(const struct spam_load *ld, const char *re)
{
	struct replace r = {.ld = ld};
	/* SpamAssassin works on the pattern after "(?aa)", so its first
	 * piece is never empty */
	char *s = xasprintf("(?aa)%s", re), *out = NULL, *any;
	int passes = 0;

	r.start = ld->replace_start != NULL ? ld->replace_start : "<";
	r.end = ld->replace_end != NULL ? ld->replace_end : ">";
	any = xasprintf("(%s.+?%s)", r.start, r.end);
	r.any = re_make(any, "", "");
	free(any);
	r.name = re_make(r.start, "(.+?)", r.end);
	r.md = pcre2_match_data_create(4, NULL);
	if (r.any != NULL && r.name != NULL && r.md != NULL) {
		while (replace_pass(&r, &s) && ++passes < REPLACE_PASSES)
			;
		/* a pattern grown past bounds is left as it was */
		if (!r.overflow && strcmp(s + 5, re) != 0)
			out = xstrdup(s + 5);
	}
	pcre2_code_free(r.any);
	pcre2_code_free(r.name);
	pcre2_match_data_free(r.md);
	free(s);
	return out;
}
