/*
 * spam_rules_meta.c - meta rules before they are compiled: SpamAssassin's
 * rules_matching(GLOB) expanded, and is_meta_valid()'s checks.
 *
 * A meta line is refused (and an earlier definition of the name kept)
 * when it holds Perl code characters, a token SpamAssassin's lexer
 * would not take, a syntax error, or a division by zero with every
 * rule 0.  Compiling and evaluating are spam_rules_expr.c's.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

/* Finds the next rules_matching(GLOB) from s: its start and end, the
 * glob in glob (NUL-terminated). */
static const char *
matching_find(const char *text, const char *s, const char **end_r, char *glob,
              size_t size)
{
	const char *key = "rules_matching(", *g, *e;
	size_t n;

	for (; (s = strstr(s, key)) != NULL; s++) {
		if (s > text && spam_rules_is_word((unsigned char)s[-1]))
			continue;
		g = s + strlen(key);
		g += strspn(g, " \t\n\r\f\v");
		n = strspn(g, "_abcdefghijklmnopqrstuvwxyz"
		              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*?");
		if (n == 0 || n > 128 || n >= size ||
		    spam_rules_is_digit((unsigned char)*g))
			continue;
		e = g + n + strspn(g + n, " \t\n\r\f\v");
		if (*e != ')')
			continue;
		memcpy(glob, g, n);
		glob[n] = '\0';
		*end_r = e + 1;
		return s;
	}
	return NULL;
}

static char *
matching_sum(const char *glob, const char *self, const char *const *names,
             size_t nnames)
{
	char *sum = xstrdup(" ("), *next;
	size_t i, found = 0;

	for (i = 0; i < nnames; i++) {
		if (strcmp(names[i], self) == 0 ||
		    fnmatch(glob, names[i], 0) != 0)
			continue;
		next = xasprintf("%s%s%s", sum, found++ ? "+" : "", names[i]);
		free(sum);
		sum = next;
	}
	next = xasprintf("%s%s) ", sum, found ? "" : "0");
	free(sum);
	return next;
}

char *
spam_expr_expand(const char *text, const char *self, const char *const *names,
                 size_t nnames)
{
	char *out = xstrdup(""), *sum, *next, glob[130];
	const char *s = text, *at, *end;

	while ((at = matching_find(text, s, &end, glob, sizeof(glob))) !=
	       NULL) {
		sum = names != NULL ? matching_sum(glob, self, names, nnames)
		                    : xstrdup(" 0 ");
		next = xasprintf("%s%.*s%s", out, (int)(at - s), s, sum);
		free(out);
		free(sum);
		out = next;
		s = end;
	}
	next = xasprintf("%s%s", out, s);
	free(out);
	return next;
}

/* is_meta_valid()'s check of each token: a rule name, a number or one
 * or two punctuation characters. */
static int
tokens_valid(const struct spam_toks *l)
{
	const struct spam_tok *t;
	size_t i;

	for (i = 0; i < l->n; i++) {
		t = &l->toks[i];
		if (t->type == SPAM_TOK_NAME) {
			if (t->len > 128 || memchr(t->s, ':', t->len) != NULL ||
			    spam_rules_is_digit((unsigned char)t->s[0]))
				return 0;
		} else if (t->type == SPAM_TOK_NUMISH) {
			if (!spam_toks_number(t->s, t->len, 0) &&
			    !(t->len <= 2 && strspn(t->s, "+-.") == t->len))
				return 0;
		}
	}
	return 1;
}

static int
zero_cb(void *ctx, const char *name, size_t *index_r, double *value_r)
{
	*value_r = 0;
	return 0;
}

int
spam_expr_check(const char *text, const char **error_r)
{
	struct spam_expr e;
	struct spam_toks l = {0};
	char *flat;
	int r = -1, divzero;

	/* Perl code has no place in a meta rule (SpamAssassin bug 7557) */
	if (strstr(text, "::") != NULL || strstr(text, "->") != NULL ||
	    strpbrk(text, "$@%;{}") != NULL) {
		*error_r = "invalid character";
		return -1;
	}
	flat = spam_expr_expand(text, "", NULL, 0);
	*error_r = "invalid token";
	if (spam_toks_lex(flat, &l) == 0 && tokens_valid(&l) &&
	    spam_toks_classify(&l, 0) == 0 &&
	    spam_toks_parse(&l, zero_cb, NULL, &e, error_r) == 0) {
		spam_expr_eval(&e, NULL, &divzero);
		*error_r = "division by zero possible";
		r = divzero ? -1 : 0;
		spam_expr_deinit(&e);
	}
	free(l.toks);
	free(flat);
	return r;
}
