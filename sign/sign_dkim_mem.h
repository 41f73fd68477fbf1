/*
 * sign_dkim_mem.h - the allocator postern gives libopendkim for signing,
 * which frees what libopendkim 2.11.0 leaves behind (sign_dkim_mem.c).
 */
#ifndef POSTERN_SIGN_DKIM_MEM_H
#define POSTERN_SIGN_DKIM_MEM_H

#include <stddef.h>

/* The allocations of one signing handle. */
struct sign_dkim_mem;

/*
 * A tracker for one handle, its closure for dkim_sign(); ed25519 says
 * the handle signs with Ed25519 (the algorithm whose key state leaks).
 * Aborts when out of memory, like xmalloc().
 */
struct sign_dkim_mem *sign_dkim_mem_new(int ed25519);

/*
 * After dkim_free() of its handle: free every block libopendkim left
 * allocated, then the tracker; *mp becomes NULL.  NULL is fine.
 */
void sign_dkim_mem_destroy(struct sign_dkim_mem **mp);

/* The blocks still allocated through m (for tests). */
size_t sign_dkim_mem_live(const struct sign_dkim_mem *m);

/* For dkim_init(): closure is a tracker, or NULL for the library's
 * own allocations (plain malloc and free). */
void *sign_dkim_mem_alloc(void *closure, size_t size);
void sign_dkim_mem_free(void *closure, void *p);

#endif
