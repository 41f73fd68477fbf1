/*
 * xalloc.c - allocation helpers that abort on exhaustion.
 *
 * Each helper either returns usable memory or writes one line to stderr
 * and aborts; callers never check for NULL.  Size overflow in the array
 * helpers is treated like exhaustion.  Nothing here logs through log.c,
 * which itself allocates nothing, so there is no recursion on failure.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

static void __attribute__((noreturn)) xalloc_die(const char *what, size_t size)
{
	char line[128];
	int n;

	n = snprintf(line, sizeof(line), "postern: %s of %zu octets failed\n",
	             what, size);
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p;

	p = malloc(size == 0 ? 1 : size);
	if (p == NULL)
		xalloc_die("malloc", size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	p = calloc(nmemb, size);
	if (p == NULL)
		xalloc_die("calloc", nmemb * size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *p;

	p = realloc(ptr, size == 0 ? 1 : size);
	if (p == NULL)
		xalloc_die("realloc", size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > (size_t)-1 / size)
		xalloc_die("reallocarray (overflow)", (size_t)-1);
	return xrealloc(ptr, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	n = strnlen(s, n);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		xalloc_die("asprintf", 0);
	return p;
}
