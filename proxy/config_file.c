/*
 * config_file.c - read a configuration file and check its lexical shape.
 *
 * libconfuse's lexer lets a double-quoted string, a comment or a section
 * run on to the end of the file (at best "premature end of file" on the
 * last line, at worst no error at all), and stops reading at a NUL byte.
 * This module reads the file and finds strings, comments and braces first,
 * so that an unterminated one is reported at the line where it opens.
 * Everything else - tokens, options, values - is config.c's, through
 * libconfuse.  Errors are allocated "file:line: reason" strings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config_file.h"
#include "util/xalloc.h"

#define SCAN_DEPTH_MAX 8 /* sections hold lists: 2 is enough */

static void __attribute__((format(printf, 4, 5)))
file_error(const char *path, char **error_r, int line, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		*error_r = xasprintf("%s:%d: %s", path, line, reason);
	else
		*error_r = xasprintf("%s: %s", path, reason);
}

static size_t
count_lines(const char *text, size_t len)
{
	size_t n = 1;
	const char *nl;

	while ((nl = memchr(text, '\n', len)) != NULL) {
		n++;
		len -= (size_t)(nl + 1 - text);
		text = nl + 1;
	}
	return n;
}

/*
 * No value of ours spans lines, so a string must end on its line (a
 * backslash-newline continues it, as libconfuse allows).  t[len] is the
 * NUL config_file_read() put there, so t[i + 1] is always readable.
 */

/* Index after the quoted string at t[i], or 0 if it does not end. */
static size_t
scan_string(const char *t, size_t len, size_t i, int *line)
{
	char quote = t[i++];

	for (; i < len && t[i] != '\n'; i++) {
		if (t[i] == quote)
			return i + 1;
		if (t[i] != '\\' || i + 1 == len)
			continue;
		if (t[++i] == '\n')
			(*line)++;
	}
	return 0;
}

/* Index after the C comment at t[i], or 0 if it does not end. */
static size_t
scan_comment(const char *t, size_t len, size_t i, int *line)
{
	for (i += 2; i + 1 < len; i++) {
		if (t[i] == '*' && t[i + 1] == '/')
			return i + 2;
		if (t[i] == '\n')
			(*line)++;
	}
	return 0;
}

/* Index after the token-ish thing at t[i], or 0 if unterminated. */
static size_t
scan_one(const char *t, size_t len, size_t i, int *line)
{
	const char *nl;

	if (t[i] == '\n') {
		(*line)++;
		return i + 1;
	}
	if (t[i] == '"' || t[i] == '\'')
		return scan_string(t, len, i, line);
	if (t[i] == '/' && t[i + 1] == '*')
		return scan_comment(t, len, i, line);
	if (t[i] == '#' || (t[i] == '/' && t[i + 1] == '/')) {
		nl = memchr(t + i, '\n', len - i);
		return nl != NULL ? (size_t)(nl - t) : len;
	}
	return i + 1;
}

/* Lines of the braces still open, innermost last. */
struct scan_braces {
	int line[SCAN_DEPTH_MAX];
	int depth;
};

static int
scan_brace(const char *path, char **error_r, struct scan_braces *b, char c,
           int line)
{
	if (c == '}' && b->depth > 0)
		b->depth--;
	if (c != '{')
		return 0;
	if (b->depth == SCAN_DEPTH_MAX) {
		file_error(path, error_r, line, "braces nested too deeply");
		return -1;
	}
	b->line[b->depth++] = line;
	return 0;
}

static int
file_scan(const char *path, char **error_r, const char *text, size_t len)
{
	struct scan_braces braces = {.depth = 0};
	size_t i = 0, next;
	int line = 1, start;

	while (i < len) {
		start = line;
		if (scan_brace(path, error_r, &braces, text[i], line) < 0)
			return -1;
		next = scan_one(text, len, i, &line);
		if (next == 0) {
			file_error(path, error_r, start, "unterminated %s",
			           text[i] == '/' ? "comment" : "string");
			return -1;
		}
		i = next;
	}
	/* libconfuse takes the end of the file as the end of a section. */
	if (braces.depth > 0) {
		file_error(path, error_r, braces.line[braces.depth - 1],
		           "unclosed '{'");
		return -1;
	}
	return 0;
}

char *
config_file_read(const char *path, size_t *len_r, char **error_r)
{
	char *text = xmalloc(CONFIG_FILE_MAX + 1);
	const char *nul;
	FILE *fp;
	size_t len;
	int err;

	*error_r = NULL;
	fp = fopen(path, "r");
	if (fp == NULL) {
		file_error(path, error_r, 0, "cannot open: %s",
		           strerror(errno));
		free(text);
		return NULL;
	}
	len = fread(text, 1, CONFIG_FILE_MAX + 1, fp);
	err = ferror(fp) ? errno : 0;
	fclose(fp);
	text[len < CONFIG_FILE_MAX ? len : CONFIG_FILE_MAX] = '\0';
	if (err != 0)
		file_error(path, error_r, 0, "cannot read: %s", strerror(err));
	else if (len > CONFIG_FILE_MAX)
		file_error(path, error_r, 0, "larger than %d octets",
		           CONFIG_FILE_MAX);
	else if ((nul = memchr(text, '\0', len)) != NULL)
		file_error(path, error_r,
		           (int)count_lines(text, (size_t)(nul - text)),
		           "NUL byte");
	else
		file_scan(path, error_r, text, len);
	if (*error_r != NULL) {
		free(text);
		return NULL;
	}
	*len_r = len;
	return text;
}
