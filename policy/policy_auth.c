/*
 * policy_auth.c - AUTH failures per client address.
 *
 * A chained hash table keyed as policy_key.h says, as in
 * policy_clients.c.  An entry holds the failures since the window
 * opened and the time of the last one; it expires lockout seconds after
 * that.  Expired entries are reset when their address fails again and
 * swept from the whole table whenever it has doubled since the last
 * sweep, so memory follows the addresses that failed recently.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_auth.h"
#include "policy/policy_key.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

#define AUTH_BUCKETS    1024 /* a power of two */
#define AUTH_SWEEP_MIN  1024 /* entries before the first sweep */
#define AUTH_DELAY_BITS 16   /* doubling beyond this is the cap anyway */

struct auth_entry {
	struct auth_entry *next;
	uint8_t key[POLICY_KEY_LEN];
	unsigned int failures;
	time_t last;
};

struct policy_auth {
	struct auth_entry *buckets[AUTH_BUCKETS];
	size_t addresses;
	size_t next_sweep;
};

static struct auth_entry **
auth_slot(struct policy_auth *pa, const struct netaddr *addr)
{
	struct auth_entry **e;
	uint8_t key[POLICY_KEY_LEN];

	policy_key_make(addr, key);
	e = &pa->buckets[policy_key_hash(key, AUTH_BUCKETS)];
	while (*e != NULL && memcmp((*e)->key, key, 16) != 0)
		e = &(*e)->next;
	return e;
}

static const struct auth_entry *
auth_lookup(const struct policy_auth *pa, const struct netaddr *addr)
{
	const struct auth_entry *e;
	uint8_t key[POLICY_KEY_LEN];

	policy_key_make(addr, key);
	e = pa->buckets[policy_key_hash(key, AUTH_BUCKETS)];
	while (e != NULL && memcmp(e->key, key, 16) != 0)
		e = e->next;
	return e;
}

static int
auth_expired(const struct auth_entry *e, const struct policy_auth_limits *lim,
             time_t now)
{
	return now - e->last >= (time_t)lim->lockout;
}

static void
auth_sweep(struct policy_auth *pa, const struct policy_auth_limits *lim,
           time_t now)
{
	struct auth_entry **e, *dead;
	size_t i;

	for (i = 0; i < AUTH_BUCKETS; i++) {
		e = &pa->buckets[i];
		while (*e != NULL) {
			if (!auth_expired(*e, lim, now)) {
				e = &(*e)->next;
				continue;
			}
			dead = *e;
			*e = dead->next;
			free(dead);
			pa->addresses--;
		}
	}
	pa->next_sweep = pa->addresses * 2 > AUTH_SWEEP_MIN ? pa->addresses * 2
	                                                    : AUTH_SWEEP_MIN;
}

struct policy_auth *
policy_auth_new(void)
{
	struct policy_auth *pa = xcalloc(1, sizeof(*pa));

	pa->next_sweep = AUTH_SWEEP_MIN;
	return pa;
}

void
policy_auth_free(struct policy_auth **pap)
{
	struct policy_auth *pa = *pap;
	struct auth_entry *e, *next;
	size_t i;

	if (pa == NULL)
		return;
	for (i = 0; i < AUTH_BUCKETS; i++) {
		for (e = pa->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(pa);
	*pap = NULL;
}

unsigned int
policy_auth_locked(const struct policy_auth *pa, const struct netaddr *addr,
                   const struct policy_auth_limits *lim, time_t now)
{
	const struct auth_entry *e = auth_lookup(pa, addr);

	if (e == NULL || e->failures < lim->failures ||
	    auth_expired(e, lim, now))
		return 0;
	return (unsigned int)(e->last + (time_t)lim->lockout - now);
}

static unsigned int
auth_delay(const struct policy_auth_limits *lim, unsigned int failures)
{
	unsigned long long d = lim->delay;
	unsigned int shift = failures - 1;

	if (shift > AUTH_DELAY_BITS)
		shift = AUTH_DELAY_BITS;
	d <<= shift;
	return d > lim->delay_max ? lim->delay_max : (unsigned int)d;
}

unsigned int
policy_auth_failed(struct policy_auth *pa, const struct netaddr *addr,
                   const struct policy_auth_limits *lim, time_t now)
{
	struct auth_entry **slot, *e;

	if (pa->addresses >= pa->next_sweep)
		auth_sweep(pa, lim, now);
	slot = auth_slot(pa, addr);
	if (*slot == NULL) {
		e = xcalloc(1, sizeof(*e));
		policy_key_make(addr, e->key);
		*slot = e;
		pa->addresses++;
	}
	e = *slot;
	if (auth_expired(e, lim, now))
		e->failures = 0;
	if (e->failures < UINT_MAX)
		e->failures++;
	e->last = now;
	return auth_delay(lim, e->failures);
}

void
policy_auth_succeeded(struct policy_auth *pa, const struct netaddr *addr)
{
	struct auth_entry **slot = auth_slot(pa, addr), *e = *slot;

	if (e == NULL)
		return;
	*slot = e->next;
	free(e);
	pa->addresses--;
}

unsigned int
policy_auth_count(const struct policy_auth *pa, const struct netaddr *addr)
{
	const struct auth_entry *e = auth_lookup(pa, addr);

	return e != NULL ? e->failures : 0;
}

size_t
policy_auth_addresses(const struct policy_auth *pa)
{
	return pa->addresses;
}
