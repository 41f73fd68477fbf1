/*
 * xalloc.h - allocation helpers that abort the process when memory runs
 * out.  Running out of memory is not a condition postern recovers from:
 * a half-built session or reply is worse than a restart by the service
 * manager.  Everything else reports failure to the caller.
 */
#ifndef POSTERN_XALLOC_H
#define POSTERN_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* reallocarray() that aborts on overflow or exhaustion. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf() that aborts on failure; returns the new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
