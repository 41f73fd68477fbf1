/*
 * spam_rules_regex.c - Perl regexes of SpamAssassin rules for PCRE2.
 *
 * Takes off the delimiters (/re/, m{re}, m!re!, qr<re>...) and the
 * modifiers as Mail::SpamAssassin::Util::compile_regexp() does, with
 * its checks (no unescaped delimiter, no (?{code})), and maps the
 * modifiers Perl accepts to PCRE2 options.  SpamAssassin compiles with
 * /aa and matches octets, so the patterns are compiled without UTF:
 * \w, \d, \s and case folding are ASCII, as there.  Perl refuses the
 * modifiers g, o and c inside a pattern (and SpamAssassin then drops
 * the rule); so does this.  Also the tflags helpers.
 *
 * XXX Perl folds the case of Latin-1 letters in octet strings under
 * /aa (\xe4 /i matches \xc4); PCRE2's default tables fold ASCII only.
 * Stock rules spell such letters out in both cases, so this is left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

/* The closing delimiter for text's opening one; its length in *skip_r.
 * 0 when text has none SpamAssassin takes. */
static char
delim_open(const char *text, size_t *skip_r)
{
	const char *open = "{(<[", *close = "})>]", *p;
	size_t i;

	if (text[0] == '/') {
		*skip_r = 1;
		return '/';
	}
	if (text[0] == 'm')
		i = 1;
	else if (text[0] == 'q' && text[1] == 'r')
		i = 2;
	else
		return 0;
	if (text[i] == '\0' || spam_rules_is_word((unsigned char)text[i]) ||
	    text[i] == '\\')
		return 0;
	*skip_r = i + 1;
	p = strchr(open, text[i]);
	return p != NULL ? close[p - open] : text[i];
}

/* Whether re holds delim not escaped by a backslash (pairs of
 * backslashes taken out first, as SpamAssassin does). */
static int
delim_unescaped(const char *re, char delim)
{
	size_t i, n = 0;
	char *s = xmalloc(strlen(re) + 1);
	int found = 0;

	for (i = 0; re[i] != '\0'; i++) {
		if (re[i] == '\\' && re[i + 1] == '\\')
			i++;
		else
			s[n++] = re[i];
	}
	s[n] = '\0';
	for (i = 0; i < n && !found; i++)
		found = s[i] == delim && (i == 0 || s[i - 1] != '\\');
	free(s);
	return found;
}

/* Perl's inline modifiers as PCRE2 options; -1 for those Perl refuses
 * or warns about (SpamAssassin takes a warning as failure). */
static int
mods_options(const char *mods, unsigned int *options_r)
{
	unsigned int o = 0, charset = 0, x = 0;
	const char *m;

	for (m = mods; *m != '\0'; m++) {
		switch (*m) {
		case 'i':
			o |= PCRE2_CASELESS;
			break;
		case 'm':
			o |= PCRE2_MULTILINE;
			break;
		case 's':
			o |= PCRE2_DOTALL;
			break;
		case 'n':
			o |= PCRE2_NO_AUTO_CAPTURE;
			break;
		case 'x':
			x++;
			break;
		case 'p':
			break;
		case 'a':
			charset |= 1;
			break;
		case 'd':
			charset |= 2;
			break;
		case 'l':
			charset |= 4;
			break;
		case 'u':
			charset |= 8;
			break;
		default:
			return -1;
		}
	}
	if (charset & (charset - 1))
		return -1; /* "a" and "d"... are mutually exclusive */
	if (x == 1)
		o |= PCRE2_EXTENDED;
	else if (x > 1)
		o |= PCRE2_EXTENDED_MORE;
	*options_r = o;
	return 0;
}

int
spam_pattern_parse(const char *text, struct spam_pattern *p,
                   const char **error_r)
{
	size_t skip, len = strlen(text), end;
	char delim = delim_open(text, &skip);

	if (delim == 0) {
		*error_r = "missing regexp delimiters";
		return -1;
	}
	/* the last delimiter followed only by [a-df-z]* ends it */
	for (end = len; end > skip; end--) {
		char c = text[end - 1];

		if (!(c >= 'a' && c <= 'z' && c != 'e'))
			break;
	}
	if (end <= skip || text[end - 1] != delim) {
		*error_r = "invalid end delimiter/mods";
		return -1;
	}
	p->re = xstrndup(text + skip, end - 1 - skip);
	p->mods = xstrdup(text + end);
	if (strstr(p->re, "(?{") != NULL || strstr(p->re, "(??{") != NULL)
		*error_r = "eval (?{}) found";
	else if (strchr("})]", delim) == NULL && delim_unescaped(p->re, delim))
		*error_r = "unquoted delimiter found";
	else if (mods_options(p->mods, &p->options) < 0)
		*error_r = "invalid modifiers";
	else
		return 0;
	spam_pattern_deinit(p);
	return -1;
}

void
spam_pattern_deinit(struct spam_pattern *p)
{
	free(p->re);
	free(p->mods);
	p->re = p->mods = NULL;
	p->options = 0;
}

pcre2_code *
spam_pattern_compile(const char *re, unsigned int options, char *buf,
                     size_t size)
{
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	PCRE2_SIZE offset;
	pcre2_code *code;
	int err;

	if (cc == NULL) {
		snprintf(buf, size, "out of memory");
		return NULL;
	}
	/* Perl's newline is LF alone; \K in lookarounds as Perl allows */
	pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
	pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALLOW_LOOKAROUND_BSK);
	code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	                     options | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &err,
	                     &offset, cc);
	pcre2_compile_context_free(cc);
	if (code == NULL) {
		char msg[160];

		pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(buf, size, "%s at offset %zu", msg, (size_t)offset);
		return NULL;
	}
	/* without JIT the interpreter runs it, within the same limits */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return code;
}

/*
 * tflags
 */

/* Where word starts in s as a Perl \bword\b, or NULL. */
static const char *
word_find(const char *s, const char *word)
{
	size_t len = strlen(word);
	const char *p;

	for (p = s; (p = strstr(p, word)) != NULL; p++) {
		if (p > s && spam_rules_is_word((unsigned char)p[-1]) &&
		    spam_rules_is_word((unsigned char)word[0]))
			continue;
		if (spam_rules_is_word((unsigned char)p[len]) &&
		    spam_rules_is_word((unsigned char)word[len - 1]))
			continue;
		return p;
	}
	return NULL;
}

int
spam_tflag(const char *tflags, const char *word)
{
	return tflags != NULL && word_find(tflags, word) != NULL;
}

unsigned int
spam_tflag_maxhits(const char *tflags)
{
	const char *p;
	unsigned long n = 0;
	size_t i;

	if (tflags == NULL)
		return 0;
	for (p = tflags; (p = word_find(p, "maxhits")) != NULL; p++) {
		if (p[7] != '=' || !(p[8] >= '0' && p[8] <= '9'))
			continue;
		for (i = 8, n = 0; p[i] >= '0' && p[i] <= '9'; i++)
			n = n < 100000000 ? n * 10 + (unsigned long)(p[i] - '0')
			                  : n;
		if (!spam_rules_is_word((unsigned char)p[i]))
			return (unsigned int)n;
	}
	return 0;
}
