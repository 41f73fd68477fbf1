/*
 * sign_dkim_mem.c - the allocator postern gives libopendkim for signing.
 *
 * XXX libopendkim 2.11.0 (Debian 12) frees neither the signature buffer
 * nor the decoded key of an Ed25519 signing handle: about 700 octets
 * per signature, for as long as the daemon runs.  Its API has no way to
 * reach them, so every allocation of a signing handle goes through a
 * tracker (the closure libopendkim passes back to the allocator) that
 * lists the live blocks.  When libopendkim frees the handle's key state
 * the tracker takes the decoded key from it and frees that too; after
 * dkim_free() the blocks still listed are freed.  Reading the key state
 * needs its layout, which is that version's (struct dkim_crypto in
 * libopendkim's dkim-types.h, OpenSSL build): with any other version
 * the tracker only frees the listed blocks.  RSA handles leak nothing
 * and are left alone.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <opendkim/dkim.h>

#include "sign/sign_dkim_mem.h"
#include "util/xalloc.h"

/* The version whose Ed25519 key state leaks, and its layout. */
#define LEAKY_VERSION 0x020B0000u

struct leaky_key_state {
	unsigned char pad;
	int keysize;
	size_t inlen;
	size_t outlen;
	EVP_PKEY *pkey;
	void *rsa; /* NULL for Ed25519 */
	void *bio; /* freed by libopendkim after signing */
	unsigned char *in;
	unsigned char *out; /* the signature: a block of outlen octets */
};

struct mem_block {
	struct mem_block *prev, *next;
	size_t size;
};

/* The header, rounded up so the caller's block stays aligned. */
#define HEADER                                                                 \
	((sizeof(struct mem_block) + alignof(max_align_t) - 1) &               \
	 ~(alignof(max_align_t) - 1))

struct sign_dkim_mem {
	struct mem_block head; /* circular list of live blocks */
	size_t live;
	int free_key; /* Ed25519 on the version that leaks its key */
};

static struct mem_block *
block_of(void *p)
{
	return (struct mem_block *)(void *)((char *)p - HEADER);
}

static void *
block_data(struct mem_block *b)
{
	return (char *)b + HEADER;
}

struct sign_dkim_mem *
sign_dkim_mem_new(int ed25519)
{
	struct sign_dkim_mem *m = xcalloc(1, sizeof(*m));

	m->head.next = m->head.prev = &m->head;
	m->free_key = ed25519 && dkim_libversion() == LEAKY_VERSION;
	return m;
}

static int
mem_owns(const struct sign_dkim_mem *m, const void *p, size_t size)
{
	const struct mem_block *b;

	for (b = m->head.next; b != &m->head; b = b->next) {
		if ((const char *)b + HEADER == (const char *)p)
			return b->size == size;
	}
	return 0;
}

/* The block being freed is the handle's key state: its signature
 * buffer is ours and of the recorded length, its key is set and it
 * holds no RSA key.  Then the key is the one libopendkim forgets. */
static void
key_state_release(struct sign_dkim_mem *m, struct mem_block *b)
{
	struct leaky_key_state *ks = block_data(b);

	if (!m->free_key || b->size != sizeof(*ks))
		return;
	if (ks->pkey == NULL || ks->rsa != NULL || ks->out == NULL ||
	    !mem_owns(m, ks->out, ks->outlen))
		return;
	EVP_PKEY_free(ks->pkey);
	ks->pkey = NULL;
}

void *
sign_dkim_mem_alloc(void *closure, size_t size)
{
	struct sign_dkim_mem *m = closure;
	struct mem_block *b;

	if (m == NULL)
		return malloc(size);
	if (size > SIZE_MAX - HEADER)
		return NULL;
	b = malloc(HEADER + size);
	if (b == NULL)
		return NULL;
	b->size = size;
	b->prev = &m->head;
	b->next = m->head.next;
	m->head.next->prev = b;
	m->head.next = b;
	m->live++;
	return block_data(b);
}

static void
block_free(struct sign_dkim_mem *m, struct mem_block *b)
{
	b->prev->next = b->next;
	b->next->prev = b->prev;
	m->live--;
	free(b);
}

void
sign_dkim_mem_free(void *closure, void *p)
{
	struct sign_dkim_mem *m = closure;
	struct mem_block *b;

	if (m == NULL || p == NULL) {
		free(p);
		return;
	}
	b = block_of(p);
	key_state_release(m, b);
	block_free(m, b);
}

size_t
sign_dkim_mem_live(const struct sign_dkim_mem *m)
{
	return m->live;
}

void
sign_dkim_mem_destroy(struct sign_dkim_mem **mp)
{
	struct sign_dkim_mem *m = *mp;

	if (m == NULL)
		return;
	while (m->head.next != &m->head)
		block_free(m, m->head.next);
	free(m);
	*mp = NULL;
}
