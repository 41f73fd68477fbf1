/*
 * upstream_source.c - load and look up the source table.
 *
 * The file is read once, at configuration load; every line is checked
 * then (pattern syntax, address, address family, duplicates), so a bad
 * table stops a load or a reload instead of surprising a session.
 * Entries are kept sorted by pattern for a binary search.  Errors name
 * the file and line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/upstream_source.h"
#include "util/xalloc.h"

/* Longest pattern: a domain (RFC 5321 4.5.3.1.2) and its leading dot. */
#define SOURCE_PATTERN_MAX 256
/* Longest line kept; longer lines are errors. */
#define SOURCE_LINE_MAX 1024

struct source_entry {
	char *pattern; /* lower case */
	struct netaddr addr;
	unsigned int line;
};

struct upstream_source {
	struct source_entry *entries;
	size_t n;
};

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* "*", a domain, or ".domain": labels of letters, digits, '-', '_'. */
static int
pattern_ok(const char *p)
{
	size_t label = 0;

	if (strcmp(p, "*") == 0)
		return 1;
	if (*p == '.')
		p++;
	if (*p == '\0' || strlen(p) >= SOURCE_PATTERN_MAX)
		return 0;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* Cut a comment: '#' at the start or after white space. */
static void
line_uncomment(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct source_entry *ea = a, *eb = b;

	return strcmp(ea->pattern, eb->pattern);
}

/* Parse one line into e; 1 for an entry, 0 for none, -1 with why. */
static int
line_parse(char *line, int family, struct source_entry *e, const char **why_r)
{
	char *pattern, *addr, *extra, *save = NULL;

	line_uncomment(line);
	pattern = strtok_r(line, " \t\r\n", &save);
	if (pattern == NULL)
		return 0;
	addr = strtok_r(NULL, " \t\r\n", &save);
	extra = strtok_r(NULL, " \t\r\n", &save);
	*why_r = "want PATTERN ADDRESS";
	if (addr == NULL || extra != NULL)
		return -1;
	*why_r = "invalid domain pattern";
	if (!pattern_ok(pattern))
		return -1;
	*why_r = "not an IP address";
	if (netaddr_parse_ip(addr, &e->addr) < 0)
		return -1;
	*why_r = "address family differs from the upstream's";
	if (family != 0 && e->addr.ss.ss_family != family)
		return -1;
	e->pattern = xstrdup(pattern);
	lower(e->pattern);
	return 1;
}

/* The entries sorted; an error names the second of two duplicates. */
static int
table_sort(struct upstream_source *t, const char *path, char **error_r)
{
	size_t i;

	qsort(t->entries, t->n, sizeof(*t->entries), entry_cmp);
	for (i = 1; i < t->n; i++) {
		const struct source_entry *a = &t->entries[i - 1];
		const struct source_entry *b = &t->entries[i];

		if (strcmp(a->pattern, b->pattern) != 0)
			continue;
		*error_r = xasprintf("%s:%u: duplicate pattern '%s'", path,
		                     a->line > b->line ? a->line : b->line,
		                     a->pattern);
		return -1;
	}
	return 0;
}

static int
table_read(struct upstream_source *t, FILE *f, const char *path, int family,
           char **error_r)
{
	char line[SOURCE_LINE_MAX + 2];
	unsigned int lineno = 0;
	size_t cap = 0;
	const char *why;
	int r;

	while (fgets(line, sizeof(line), f) != NULL) {
		struct source_entry e = {0};

		lineno++;
		if (strlen(line) > SOURCE_LINE_MAX) {
			*error_r =
			    xasprintf("%s:%u: line too long", path, lineno);
			return -1;
		}
		r = line_parse(line, family, &e, &why);
		if (r < 0) {
			*error_r = xasprintf("%s:%u: %s", path, lineno, why);
			return -1;
		}
		if (r == 0)
			continue;
		e.line = lineno;
		if (t->n == cap) {
			cap = cap ? cap * 2 : 16;
			t->entries =
			    xreallocarray(t->entries, cap, sizeof(*t->entries));
		}
		t->entries[t->n++] = e;
	}
	if (ferror(f)) {
		*error_r = xasprintf("%s: read error", path);
		return -1;
	}
	return table_sort(t, path, error_r);
}

struct upstream_source *
upstream_source_load(const char *path, int family, char **error_r)
{
	struct upstream_source *t;
	FILE *f;

	*error_r = NULL;
	f = fopen(path, "r");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	if (table_read(t, f, path, family, error_r) < 0)
		upstream_source_free(&t);
	fclose(f);
	return t;
}

void
upstream_source_free(struct upstream_source **tp)
{
	struct upstream_source *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->entries[i].pattern);
	free(t->entries);
	free(t);
	*tp = NULL;
}

size_t
upstream_source_count(const struct upstream_source *t)
{
	return t->n;
}

const struct netaddr *
upstream_source_addr(const struct upstream_source *t, size_t i)
{
	return &t->entries[i].addr;
}

static const struct netaddr *
table_find(const struct upstream_source *t, const char *pattern)
{
	struct source_entry key = {.pattern = (char *)(uintptr_t)pattern};
	const struct source_entry *e;

	e = bsearch(&key, t->entries, t->n, sizeof(*t->entries), entry_cmp);
	return e != NULL ? &e->addr : NULL;
}

const struct netaddr *
upstream_source_lookup(const struct upstream_source *t, const char *domain)
{
	char name[SOURCE_PATTERN_MAX + 1];
	const struct netaddr *a;
	const char *p;

	if (domain[0] != '\0' && strlen(domain) < SOURCE_PATTERN_MAX) {
		snprintf(name, sizeof(name), "%s", domain);
		lower(name);
		a = table_find(t, name);
		/* The parents, nearest first: ".b.c" then ".c". */
		for (p = strchr(name, '.'); a == NULL && p != NULL;
		     p = strchr(p + 1, '.'))
			a = table_find(t, p);
		if (a != NULL)
			return a;
	}
	return table_find(t, "*");
}
