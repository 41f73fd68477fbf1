/*
 * policy_key.c - client addresses as keys of the policy tables.
 */
#include <netinet/in.h>
#include <string.h>

#include "policy/policy_key.h"
#include "util/netaddr.h"

void
policy_key_make(const struct netaddr *a, uint8_t key[POLICY_KEY_LEN])
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(key, 0, POLICY_KEY_LEN);
	if (a->ss.ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)&a->ss;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
	} else if (a->ss.ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)&a->ss;
		memcpy(key, &sin6->sin6_addr, 16);
	}
}

size_t
policy_key_hash(const uint8_t key[POLICY_KEY_LEN], size_t buckets)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < POLICY_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (buckets - 1);
}
