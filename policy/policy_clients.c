/*
 * policy_clients.c - sessions per client address.
 *
 * A chained hash table keyed by the 16-octet form of the address
 * (IPv4 as IPv4-mapped IPv6).  Entries go away when their count drops
 * to zero, so memory follows the number of connected addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_clients.h"
#include "policy/policy_key.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

#define POLICY_BUCKETS 1024 /* a power of two */

struct client_entry {
	struct client_entry *next;
	uint8_t key[POLICY_KEY_LEN];
	unsigned int count;
};

struct policy_clients {
	struct client_entry *buckets[POLICY_BUCKETS];
	size_t addresses;
};

static struct client_entry **
client_find(struct policy_clients *pc, const uint8_t key[POLICY_KEY_LEN])
{
	struct client_entry **e;

	e = &pc->buckets[policy_key_hash(key, POLICY_BUCKETS)];
	while (*e != NULL && memcmp((*e)->key, key, 16) != 0)
		e = &(*e)->next;
	return e;
}

struct policy_clients *
policy_clients_new(void)
{
	return xcalloc(1, sizeof(struct policy_clients));
}

void
policy_clients_free(struct policy_clients **pcp)
{
	struct policy_clients *pc = *pcp;
	struct client_entry *e, *next;
	size_t i;

	if (pc == NULL)
		return;
	for (i = 0; i < POLICY_BUCKETS; i++) {
		for (e = pc->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(pc);
	*pcp = NULL;
}

int
policy_clients_enter(struct policy_clients *pc, const struct netaddr *addr,
                     unsigned int limit)
{
	struct client_entry **slot, *e;
	uint8_t key[POLICY_KEY_LEN];

	policy_key_make(addr, key);
	slot = client_find(pc, key);
	if (*slot == NULL) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, 16);
		*slot = e;
		pc->addresses++;
	}
	e = *slot;
	if (limit != 0 && e->count >= limit)
		return -1;
	e->count++;
	return 0;
}

void
policy_clients_leave(struct policy_clients *pc, const struct netaddr *addr)
{
	struct client_entry **slot, *e;
	uint8_t key[POLICY_KEY_LEN];

	policy_key_make(addr, key);
	slot = client_find(pc, key);
	e = *slot;
	if (e == NULL)
		return;
	if (e->count > 0)
		e->count--;
	if (e->count == 0) {
		*slot = e->next;
		free(e);
		pc->addresses--;
	}
}

unsigned int
policy_clients_count(const struct policy_clients *pc,
                     const struct netaddr *addr)
{
	const struct client_entry *e;
	uint8_t key[POLICY_KEY_LEN];

	policy_key_make(addr, key);
	e = pc->buckets[policy_key_hash(key, POLICY_BUCKETS)];
	while (e != NULL && memcmp(e->key, key, 16) != 0)
		e = e->next;
	return e != NULL ? e->count : 0;
}

size_t
policy_clients_addresses(const struct policy_clients *pc)
{
	return pc->addresses;
}
