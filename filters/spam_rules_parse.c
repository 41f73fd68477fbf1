/*
 * spam_rules_parse.c - SpamAssassin's rule files read line by line.
 *
 * Follows Mail::SpamAssassin::Conf::Parser: comments and "\#", the
 * lang prefix (postern reads as en_US), if/ifplugin/else/endif (as
 * SpamAssassin takes them, an else inside a false block stays false),
 * include relative to the including file, a directory standing for its
 * *.cf files in name order, and each file read once.  The commands on
 * the lines are spam_rules_cmd.c's.
 *
 * NOTE SpamAssassin processes an include even inside a false if block
 * and lets its end reset the block; postern skips it, as the block
 * says.
 *
 * Errors that stop loading (a file that cannot be read, an include
 * loop or nesting too deep) are "file:line: reason" in ld->error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

static int read_file(struct spam_load *ld, const char *path);

int
spam_rules_is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

char *
spam_rules_skip_space(char *s)
{
	while (spam_rules_is_space((unsigned char)*s))
		s++;
	return s;
}

/* The next white-space separated word of *sp, NUL-terminated in place;
 * *sp moves past the white space after it. */
char *
spam_rules_next_word(char **sp)
{
	char *s = *sp, *w = s;

	while (*s != '\0' && !spam_rules_is_space((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = spam_rules_skip_space(s);
	return w;
}

int
spam_rules_in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, s) == 0)
			return 1;
	}
	return 0;
}

static int
load_fail(struct spam_file *f, const char *reason)
{
	if (f->ld->error == NULL)
		f->ld->error = xasprintf("%s:%u: %s", f->path, f->line, reason);
	return -1;
}

static char *
include_path(const char *current, const char *value)
{
	const char *slash = strrchr(current, '/');

	if (value[0] == '/' || slash == NULL)
		return xstrdup(value);
	return xasprintf("%.*s/%s", (int)(slash - current), current, value);
}

int
spam_load_include(struct spam_file *f, const char *value)
{
	char *path, *inner;
	int r;

	if (f->ld->depth >= SPAM_RULES_INCLUDE_MAX)
		return load_fail(f, "include nesting too deep");
	path = include_path(f->path, value);
	r = read_file(f->ld, path);
	free(path);
	if (r < 0 && f->ld->error != NULL) {
		inner = f->ld->error;
		f->ld->error = NULL;
		load_fail(f, inner);
		free(inner);
	}
	return r;
}

/*
 * Conditionals
 */

static int
cond_push(struct spam_file *f, int truth)
{
	if (f->nifs == SPAM_RULES_IF_MAX)
		return load_fail(f, "if nesting too deep");
	f->ifs[f->nifs++] = f->skip;
	if (!truth)
		f->skip = 1;
	return 0;
}

static void
cond_else(struct spam_file *f)
{
	size_t i;

	if (f->nifs == 0) {
		f->ld->lines_bad++;
		return;
	}
	/* skipped anywhere further out: stays skipped (SpamAssassin bug
	 * 7848) */
	for (i = 0; i < f->nifs; i++) {
		if (f->ifs[i]) {
			f->skip = 1;
			return;
		}
	}
	f->skip = !f->skip;
}

/* Handles the conditional keywords; 1 when key was one. */
static int
conditional(struct spam_file *f, const char *key, const char *value, int *r)
{
	char *cond;

	*r = 0;
	if (strcmp(key, "endif") == 0) {
		if (*value != '\0' || f->nifs == 0)
			f->ld->lines_bad++;
		else
			f->skip = f->ifs[--f->nifs];
		return 1;
	}
	if (strcmp(key, "else") == 0) {
		if (*value != '\0')
			f->ld->lines_bad++;
		else
			cond_else(f);
		return 1;
	}
	if (strcmp(key, "if") != 0 && strcmp(key, "ifplugin") != 0)
		return 0;
	if (*value == '\0') {
		f->ld->lines_bad++;
		return 1;
	}
	if (key[2] == '\0') {
		*r = cond_push(f, spam_cond_eval(f->ld, value));
		return 1;
	}
	cond = xasprintf("plugin (%s)", value);
	*r = cond_push(f, spam_cond_eval(f->ld, cond));
	free(cond);
	return 1;
}

/*
 * Lines
 */

/* Comments off ('#' not after '\'), "\#" made '#', white space off both
 * ends, in place; returns where the line starts. */
static char *
line_clean(char *line)
{
	char *s, *d, *end;

	for (s = line; (s = strchr(s, '#')) != NULL; s++) {
		if (s == line || s[-1] != '\\') {
			*s = '\0';
			break;
		}
	}
	for (s = d = line; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] == '#')
			continue;
		*d++ = *s;
	}
	*d = '\0';
	s = spam_rules_skip_space(line);
	end = s + strlen(s);
	while (end > s && spam_rules_is_space((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* "lang xx rest": the rest when postern's language (en_US) starts with
 * xx, NULL when the line is for another language. */
static char *
line_lang(char *line)
{
	const char *lang = "en_US";
	char *s = line + 4, *code;
	size_t len;

	if (strncmp(line, "lang", 4) != 0 ||
	    !spam_rules_is_space((unsigned char)*s))
		return line;
	s = spam_rules_skip_space(s);
	code = s;
	while (*s != '\0' && !spam_rules_is_space((unsigned char)*s))
		s++;
	len = (size_t)(s - code);
	if (*s == '\0' || len == 0)
		return line;
	if (len > strlen(lang) || strncasecmp(code, lang, len) != 0)
		return NULL;
	return spam_rules_skip_space(s);
}

static int
line_run(struct spam_file *f, char *line)
{
	char *key, *value, *p;
	int r;

	line = line_clean(line);
	if (*line == '\0' || f->skip_file)
		return 0;
	line = line_lang(line);
	if (line == NULL)
		return 0;
	value = line;
	key = spam_rules_next_word(&value);
	for (p = key; *p != '\0'; p++) {
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		if (*p == '-')
			*p = '_';
	}
	if (conditional(f, key, value, &r))
		return r;
	if (f->skip)
		return 0;
	return spam_cmd_run(f, key, value);
}

static int
lines_run(struct spam_file *f, char *text, size_t len)
{
	char *line = text, *end = text + len, *nl;

	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		f->line++;
		if ((size_t)(nl - line) > SPAM_RULES_LINE_MAX ||
		    strlen(line) != (size_t)(nl - line))
			f->ld->lines_bad++;
		else if (line_run(f, line) < 0)
			return -1;
		line = nl + 1;
	}
	f->ld->lines_bad += f->nifs; /* left open */
	return 0;
}

/*
 * Files
 */

static char *
file_slurp(const char *path, size_t *len_r, int *errno_r)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	char *text;
	int fd;

	*errno_r = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SPAM_RULES_FILE_MAX) {
		*errno_r = fd < 0 ? errno : EFBIG;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size &&
	       (n = read(fd, text + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	text[len] = '\0';
	*len_r = len;
	return text;
}

/* Whether path (canonical) is being read, or was read before. */
static int
file_seen(struct spam_load *ld, const char *canon, int *loop_r)
{
	size_t i;

	*loop_r = 0;
	for (i = 0; i < ld->depth; i++) {
		if (strcmp(ld->stack[i], canon) == 0)
			*loop_r = 1;
	}
	return *loop_r || spam_map_get(&ld->files, canon) != NULL;
}

static int
read_file(struct spam_load *ld, const char *path)
{
	struct spam_file f = {.ld = ld, .path = path};
	char *text, *canon = realpath(path, NULL);
	size_t len;
	int r, err, loop;

	if (canon == NULL)
		canon = xstrdup(path);
	if (file_seen(ld, canon, &loop)) {
		free(canon);
		if (!loop)
			return 0; /* SpamAssassin reads a file once */
		ld->error = xasprintf("%s: include loop", path);
		return -1;
	}
	text = file_slurp(path, &len, &err);
	if (text == NULL) {
		ld->error = xasprintf("%s: cannot read: %s", path,
		                      err == EFBIG ? "not a file or too large"
		                                   : strerror(err));
		free(canon);
		return -1;
	}
	spam_map_set(&ld->files, canon, 0);
	ld->stack[ld->depth++] = canon;
	r = lines_run(&f, text, len);
	ld->depth--;
	free(canon);
	free(text);
	return r;
}

static int
name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	const char *first = "updates_spamassassin_org.cf";

	/* SpamAssassin's _reorder_dir(): the official channel first */
	if (strcmp(x, first) == 0 || strcmp(y, first) == 0)
		return strcmp(x, first) == 0 ? -1 : strcmp(y, first) == 0;
	return strcmp(x, y);
}

static int
is_cf(const char *dir, const char *name)
{
	size_t len = strlen(name);
	struct stat st;
	char *path;
	int r;

	if (len < 3 || strcasecmp(name + len - 3, ".cf") != 0)
		return 0;
	path = xasprintf("%s/%s", dir, name);
	r = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return r;
}

static int
read_dir(struct spam_load *ld, const char *dir)
{
	char **names = NULL, *path;
	size_t n = 0, i;
	struct dirent *e;
	DIR *d = opendir(dir);
	int r = 0;

	if (d == NULL) {
		ld->error =
		    xasprintf("%s: cannot read: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!is_cf(dir, e->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (r == 0)
			r = read_file(ld, path);
		free(path);
		free(names[i]);
	}
	free(names);
	return r;
}

int
spam_load_path(struct spam_load *ld, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return read_dir(ld, path);
	return read_file(ld, path);
}
