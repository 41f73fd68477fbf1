/*
 * spam_rules_atoms.c - the literal strings a regex cannot match
 * without: from /\bcheap (?:viagra|cialis)\b/i, "viagra" or "cialis".
 *
 * The pattern is parsed as PCRE2 reads it (escapes, classes, groups,
 * quantifiers, inline flags, /x), each part described either by the
 * exact set of strings it matches (when small) or by a set of strings
 * one of which every match contains; a sequence keeps its most
 * selective part, an alternation joins its branches.  All strings are
 * in lower case (ASCII), so that they hold for case-insensitive rules
 * and are looked for in lower-cased text.  Lookarounds, anchors and
 * optional parts require nothing.  A pattern this module cannot read
 * (backreferences, recursion, verbs, conditionals) gets no atoms: the
 * rule is always run.  Used by spam_rules_prefilter.c; like
 * SpamAssassin's Rule2XSBody, it only saves work, never changes a
 * result.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

#define ATOMS_EXACT_MAX 16  /* strings in an exact set */
#define ATOMS_SET_MAX   256 /* strings in a required set */
#define ATOMS_LEN_MAX   64  /* octets of one string */
#define ATOMS_DEPTH_MAX 64  /* group nesting */
#define ATOMS_CLASS_MAX 4   /* octets a class may be and stay exact */

/* What a part of a pattern is known to match. */
struct part {
	int exact; /* set: exactly the strings it matches */
	int open;  /* exact, but more may follow (x+): ends a run */
	int any;   /* nothing known */
	struct spam_atoms set;
};

struct parser {
	const char *s;
	size_t i;
	size_t len;
	int fail;
	int quote; /* inside \Q...\E */
	unsigned int depth;
};

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * Sets of strings
 */

void
spam_atoms_deinit(struct spam_atoms *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->s[i]);
	free(a->s);
	free(a->len);
	memset(a, 0, sizeof(*a));
}

static int
atoms_has(const struct spam_atoms *a, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		if (a->len[i] == len && memcmp(a->s[i], s, len) == 0)
			return 1;
	}
	return 0;
}

static void
atoms_add(struct spam_atoms *a, const char *s, size_t len)
{
	if (atoms_has(a, s, len))
		return;
	a->s = xreallocarray(a->s, a->n + 1, sizeof(*a->s));
	a->len = xreallocarray(a->len, a->n + 1, sizeof(*a->len));
	a->s[a->n] = xmalloc(len + 1);
	memcpy(a->s[a->n], s, len);
	a->s[a->n][len] = '\0';
	a->len[a->n++] = len;
}

static struct part
part_any(void)
{
	struct part p = {0, 0, 1, {0}};

	return p;
}

/* An exact set with no strings yet. */
static struct part
part_none(void)
{
	struct part p = {1, 0, 0, {0}};

	return p;
}

static struct part
part_empty(void)
{
	struct part p = {1, 0, 0, {0}};

	atoms_add(&p.set, "", 0);
	return p;
}

static struct part
part_char(unsigned char c)
{
	struct part p = {1, 0, 0, {0}};
	char ch = (char)lower(c);

	atoms_add(&p.set, &ch, 1);
	return p;
}

static void
part_free(struct part *p)
{
	spam_atoms_deinit(&p->set);
}

/* An exact set made a required one: any match holds one of them; one
 * that may be empty requires nothing. */
static void
weaken(struct part *p)
{
	size_t i;

	if (!p->exact)
		return;
	p->exact = 0;
	for (i = 0; i < p->set.n; i++) {
		if (p->set.len[i] == 0) {
			part_free(p);
			p->any = 1;
			return;
		}
	}
}

/* How selective a required set is: its shortest string. */
static size_t
quality(const struct part *p)
{
	size_t i, q = (size_t)-1;

	if (p->any || p->set.n == 0)
		return 0;
	for (i = 0; i < p->set.n; i++)
		q = p->set.len[i] < q ? p->set.len[i] : q;
	return q;
}

/* The better of two required sets; the other freed. */
static struct part
better(struct part a, struct part b)
{
	size_t qa = quality(&a), qb = quality(&b);

	if (qa > qb || (qa == qb && qa > 0 && a.set.n <= b.set.n)) {
		part_free(&b);
		return a;
	}
	part_free(&a);
	return b;
}

/* Every string of a followed by every string of b, or -1 when that
 * would be too many or too long. */
static int
cross(const struct part *a, const struct part *b, struct part *out)
{
	char buf[2 * ATOMS_LEN_MAX];
	size_t i, j;

	if (a->set.n * b->set.n > ATOMS_EXACT_MAX)
		return -1;
	for (i = 0; i < a->set.n; i++) {
		for (j = 0; j < b->set.n; j++) {
			if (a->set.len[i] + b->set.len[j] > ATOMS_LEN_MAX)
				return -1;
		}
	}
	*out = part_none();
	for (i = 0; i < a->set.n; i++) {
		for (j = 0; j < b->set.n; j++) {
			memcpy(buf, a->set.s[i], a->set.len[i]);
			memcpy(buf + a->set.len[i], b->set.s[j], b->set.len[j]);
			atoms_add(&out->set, buf,
			          a->set.len[i] + b->set.len[j]);
		}
	}
	return 0;
}

/*
 * Parsing
 */

static struct part parse_alt(struct parser *p, int x);

static int
peek(const struct parser *p, size_t k)
{
	return p->i + k < p->len ? (unsigned char)p->s[p->i + k] : -1;
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* \xHH or \x{HH}, after the x; -1 for a value over 0xff. */
static int
escape_hex(struct parser *p)
{
	int v = 0, n = 0, d;

	if (peek(p, 0) == '{') {
		p->i++;
		while ((d = hex(peek(p, 0))) >= 0 && v <= 0xff) {
			v = v * 16 + d;
			p->i++;
		}
		if (peek(p, 0) != '}')
			return -1;
		p->i++;
		return v <= 0xff ? v : -1;
	}
	while (n < 2 && (d = hex(peek(p, 0))) >= 0) {
		v = v * 16 + d;
		p->i++;
		n++;
	}
	return v;
}

/* The octet an escape stands for (after the backslash), -1 for a class
 * or an assertion (*empty_r set for an assertion), -2 for something
 * that ends the analysis. */
static int
escape(struct parser *p, int *empty_r)
{
	static const char *const lits = "tnrfea";
	static const char vals[] = {'\t', '\n', '\r', '\f', 0x1b, 0x07};
	int c = peek(p, 0), v;
	const char *q;

	*empty_r = 0;
	if (c < 0)
		return -2;
	p->i++;
	if ((q = strchr(lits, c)) != NULL && c != 0)
		return (unsigned char)vals[q - lits];
	if (c == 'x')
		return escape_hex(p);
	if (c == '0') {
		for (v = 0;
		     spam_rules_is_digit(peek(p, 0)) && peek(p, 0) < '8';)
			v = v * 8 + (p->s[p->i++] - '0');
		return v <= 0xff ? v : -2;
	}
	if (strchr("bBAzZGK", c) != NULL) {
		*empty_r = 1;
		return -1;
	}
	if (strchr("dDwWsShHvVNRXCpP", c) != NULL) {
		if ((c == 'p' || c == 'P') && peek(p, 0) == '{')
			while (peek(p, 0) >= 0 && p->s[p->i++] != '}')
				;
		return -1;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    spam_rules_is_digit(c))
		return -2; /* backreferences, \Q handled by the caller... */
	return c;
}

/* One item of a class ([:alpha:], an escape, a range, an octet) into
 * set; 1 when the class is too big to stay exact. */
static int
class_item(struct parser *p, int c, unsigned char *set, int *prev)
{
	int empty, end, i;

	if (c == '[' && peek(p, 0) == ':') {
		while (peek(p, 0) >= 0 &&
		       !(p->s[p->i] == ']' && p->s[p->i - 1] == ':'))
			p->i++;
		p->i++;
		return 1;
	}
	if (c == '\\') {
		/* an escaped '-' is itself, no range */
		c = escape(p, &empty);
		p->fail |= c == -2;
		*prev = c;
		if (c < 0)
			return 1;
		set[lower((unsigned char)c)] = 1;
		return 0;
	}
	end = peek(p, 0);
	if (c == '-' && *prev >= 0 && end != ']' && end >= 0) {
		p->i++;
		if (end - *prev > 8 || end == '\\')
			return 1;
		for (i = *prev; i <= end; i++)
			set[lower((unsigned char)i)] = 1;
		*prev = -1;
		return 0;
	}
	set[lower((unsigned char)c)] = 1;
	*prev = c;
	return 0;
}

/* The octets of a class as an exact set, any when too many. */
static struct part
class_part(const unsigned char *set)
{
	struct part r = part_none();
	int i, n = 0;

	for (i = 0; i < 256; i++) {
		char ch = (char)i;

		if (set[i] && ++n <= ATOMS_CLASS_MAX)
			atoms_add(&r.set, &ch, 1);
	}
	if (n > ATOMS_CLASS_MAX || n == 0) {
		part_free(&r);
		return part_any();
	}
	return r;
}

/* [...] after the [: exact when it is a few octets, else any. */
static struct part
parse_class(struct parser *p)
{
	unsigned char set[256] = {0};
	int neg = 0, c, prev = -1, big = 0, first = 1;

	if (peek(p, 0) == '^') {
		neg = 1;
		p->i++;
	}
	while ((c = peek(p, 0)) >= 0 && (c != ']' || first)) {
		p->i++;
		first = 0;
		big |= class_item(p, c, set, &prev);
	}
	if (peek(p, 0) != ']')
		p->fail = 1;
	p->i++;
	if (neg || big || p->fail)
		return part_any();
	return class_part(set);
}

/* A quantifier after an atom: its minimum and whether it may be more
 * than one (or -1 when there is none here). */
static int
parse_quant(struct parser *p, long *min_r, long *max_r)
{
	int c = peek(p, 0);
	size_t j;

	*max_r = -1;
	if (c == '*' || c == '+' || c == '?') {
		*min_r = c == '+';
		*max_r = c == '?' ? 1 : -1;
		p->i++;
	} else if (c == '{' && spam_rules_is_digit(peek(p, 1))) {
		j = p->i + 1;
		*min_r = strtol(p->s + j, NULL, 10);
		while (j < p->len &&
		       spam_rules_is_digit((unsigned char)p->s[j]))
			j++;
		*max_r = *min_r;
		if (j < p->len && p->s[j] == ',') {
			j++;
			*max_r = spam_rules_is_digit((unsigned char)p->s[j])
			             ? strtol(p->s + j, NULL, 10)
			             : -1;
			while (j < p->len &&
			       spam_rules_is_digit((unsigned char)p->s[j]))
				j++;
		}
		if (j >= p->len || p->s[j] != '}')
			return -1; /* a literal { */
		p->i = j + 1;
	} else {
		return -1;
	}
	if (peek(p, 0) == '?' || peek(p, 0) == '+')
		p->i++; /* lazy, possessive */
	return 0;
}

static void
skip_space(struct parser *p, int x)
{
	int c;

	while (!p->quote && (c = peek(p, 0)) >= 0) {
		if (c == '(' && peek(p, 1) == '?' && peek(p, 2) == '#') {
			/* a comment is nothing: x(?#c)+ repeats x */
			while (peek(p, 0) >= 0 && peek(p, 0) != ')')
				p->i++;
			p->i++;
		} else if (x && strchr(" \t\n\r\f\v", c) != NULL) {
			p->i++;
		} else if (x && c == '#') {
			while (peek(p, 0) >= 0 && peek(p, 0) != '\n')
				p->i++;
		} else {
			break;
		}
	}
}

/* Inline flags (?imsx-imsx) or (?flags:...) after "(?"; x updated.
 * Returns 1 for a group to parse, 0 for flags alone. */
static int
group_flags(struct parser *p, int *x)
{
	int on = 1, c;

	while ((c = peek(p, 0)) >= 0 && c != ')' && c != ':') {
		p->i++;
		if (c == '-')
			on = 0;
		else if (c == 'x')
			*x = on;
		else if (c == '^')
			*x = 0;
		else if (strchr("imsnJU", c) == NULL)
			p->fail = 1;
	}
	if (c < 0)
		p->fail = 1;
	p->i++;
	return c == ':';
}

/* The kind of group after "(": 0 plain, 1 empty (lookaround, comment),
 * 2 flags only, -1 unreadable; *x updated for flag groups. */
static int
group_kind(struct parser *p, int *x)
{
	int c;

	if (peek(p, 0) == '*')
		return -1; /* verbs */
	if (peek(p, 0) != '?')
		return 0;
	p->i++;
	c = peek(p, 0);
	if (c == ':' || c == '>' || c == '|') {
		p->i++;
		return 0;
	}
	if (c == '=' || c == '!') {
		p->i++;
		return 1;
	}
	if (c == '<' && (peek(p, 1) == '=' || peek(p, 1) == '!')) {
		p->i += 2;
		return 1;
	}
	if (c == '#') {
		while (peek(p, 0) >= 0 && peek(p, 0) != ')')
			p->i++;
		return 1;
	}
	if (c == '<' || c == '\'' || (c == 'P' && peek(p, 1) == '<')) {
		int end = c == '\'' ? '\'' : '>';

		p->i += c == 'P' ? 2 : 1;
		while (peek(p, 0) >= 0 && peek(p, 0) != end)
			p->i++;
		p->i++;
		return 0;
	}
	if (strchr("imsxnJU-^", c) != NULL)
		return group_flags(p, x) ? 0 : 2;
	return -1;
}

static struct part
parse_group(struct parser *p, int *x)
{
	int inner_x = *x, kind;
	struct part r;

	if (++p->depth > ATOMS_DEPTH_MAX) {
		p->fail = 1;
		return part_any();
	}
	kind = group_kind(p, &inner_x);
	if (kind == 2) {
		*x = inner_x; /* (?x) sets the rest of the enclosing group */
		p->depth--;
		return part_empty();
	}
	if (kind < 0) {
		p->fail = 1;
		return part_any();
	}
	if (kind == 1 && peek(p, 0) == ')') {
		r = part_empty();
	} else {
		r = parse_alt(p, inner_x);
	}
	if (peek(p, 0) != ')')
		p->fail = 1;
	p->i++;
	p->depth--;
	if (kind == 1) {
		part_free(&r);
		r = part_empty();
	}
	return r;
}

/* One atom, without its quantifier; inside \Q...\E each octet is
 * one (a quantifier after \E repeats the last). */
static struct part
parse_atom(struct parser *p, int *x)
{
	int c = peek(p, 0), v, empty;

	p->i++;
	if (p->quote && c == '\\' && peek(p, 0) == 'E') {
		p->i++;
		p->quote = 0;
		return part_empty();
	}
	if (p->quote)
		return part_char((unsigned char)c);
	switch (c) {
	case '(':
		return parse_group(p, x);
	case '[':
		return parse_class(p);
	case '.':
		return part_any();
	case '^':
	case '$':
		return part_empty();
	case '\\':
		if (peek(p, 0) == 'Q') {
			p->i++;
			p->quote = 1;
			return part_empty();
		}
		if (peek(p, 0) == 'E') {
			p->i++;
			return part_empty();
		}
		v = escape(p, &empty);
		if (v == -2)
			p->fail = 1;
		if (v >= 0)
			return part_char((unsigned char)v);
		return empty ? part_empty() : part_any();
	default:
		return part_char((unsigned char)c);
	}
}

/* x{min}: x repeated, exact while the set stays small; then open
 * when more may follow. */
static struct part
repeat(struct part a, long min, long max)
{
	struct part r = part_empty(), next;
	long i;

	for (i = 0; i < min && i < ATOMS_LEN_MAX; i++) {
		if (cross(&r, &a, &next) < 0) {
			part_free(&r);
			weaken(&a);
			return a;
		}
		part_free(&r);
		r = next;
	}
	part_free(&a);
	r.open = max != min;
	return r;
}

/* An atom with its quantifier: x? may be empty, x+ is x then more. */
static struct part
parse_piece(struct parser *p, int *x)
{
	struct part a = parse_atom(p, x);
	long min, max;

	if (p->quote) {
		/* quoted: no quantifier but after the \E */
		if (peek(p, 0) != '\\' || peek(p, 1) != 'E')
			return a;
		p->i += 2;
		p->quote = 0;
	}
	skip_space(p, *x);
	if (parse_quant(p, &min, &max) < 0 || (min == 1 && max == 1))
		return a;
	if (min == 0 && max == 1 && a.exact && a.set.n < ATOMS_EXACT_MAX) {
		atoms_add(&a.set, "", 0);
		return a;
	}
	if (min == 0) {
		part_free(&a);
		return part_any();
	}
	if (!a.exact)
		return a;
	return repeat(a, min, max);
}

/* Concatenation: exact runs joined, the most selective part kept. */
static struct part
parse_seq(struct parser *p, int *x)
{
	struct part run = part_empty(), best = part_any(), item, joined;
	int all_exact = 1;

	for (skip_space(p, *x);
	     peek(p, 0) >= 0 && !p->fail &&
	     (p->quote || (peek(p, 0) != '|' && peek(p, 0) != ')'));
	     skip_space(p, *x)) {
		item = parse_piece(p, x);
		if (item.exact && cross(&run, &item, &joined) == 0) {
			part_free(&run);
			run = joined;
			if (item.open) {
				/* x+: what follows is not next to it */
				all_exact = 0;
				weaken(&run);
				best = better(best, run);
				run = part_empty();
			}
			part_free(&item);
			continue;
		}
		all_exact = 0;
		weaken(&run);
		best = better(best, run);
		run = part_empty();
		if (item.exact && !item.open) {
			part_free(&run);
			run = item;
		} else {
			weaken(&item);
			best = better(best, item);
		}
	}
	if (all_exact) {
		part_free(&best);
		return run;
	}
	weaken(&run);
	return better(best, run);
}

/* Alternation: the union of the branches. */
static struct part
parse_alt(struct parser *p, int x)
{
	struct part r = parse_seq(p, &x), b;
	size_t i;

	while (peek(p, 0) == '|' && !p->fail) {
		p->i++;
		b = parse_seq(p, &x);
		if (!(r.exact && b.exact &&
		      r.set.n + b.set.n <= ATOMS_EXACT_MAX)) {
			weaken(&r);
			weaken(&b);
		}
		if (r.any || b.any || r.set.n + b.set.n > ATOMS_SET_MAX) {
			part_free(&r);
			part_free(&b);
			r = part_any();
			continue;
		}
		for (i = 0; i < b.set.n; i++)
			atoms_add(&r.set, b.set.s[i], b.set.len[i]);
		part_free(&b);
	}
	return r;
}

/* Whether a string holds a NUL (the automaton takes C strings). */
static int
has_nul(const struct spam_atoms *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		if (strlen(a->s[i]) != a->len[i])
			return 1;
	}
	return 0;
}

int
spam_atoms_extract(const char *re, unsigned int options, size_t min_len,
                   struct spam_atoms *out)
{
	struct parser p = {re, 0, strlen(re), 0, 0, 0};
	struct part r;

	memset(out, 0, sizeof(*out));
	r = parse_alt(&p,
	              (options & (PCRE2_EXTENDED | PCRE2_EXTENDED_MORE)) != 0);
	if (p.i < p.len)
		p.fail = 1; /* a stray ')' */
	weaken(&r);
	if (p.fail || r.any || quality(&r) < min_len || has_nul(&r.set)) {
		part_free(&r);
		return -1;
	}
	*out = r.set;
	return 0;
}
