/*
 * policy_key.h - client addresses as keys of the policy tables.
 *
 * policy_clients.c and policy_auth.c keep per-address counts in chained
 * hash tables; both key them the same way, so an IPv4 client and its
 * IPv4-mapped IPv6 form are one client.
 */
#ifndef POSTERN_POLICY_KEY_H
#define POSTERN_POLICY_KEY_H

#include <stddef.h>
#include <stdint.h>

struct netaddr;

#define POLICY_KEY_LEN 16

/* The 16-octet form of a into key: IPv6 as it is, IPv4 as IPv4-mapped
 * IPv6, any other family (unix sockets) all zero. */
void policy_key_make(const struct netaddr *a, uint8_t key[POLICY_KEY_LEN]);

/* The bucket of key among buckets (a power of two). */
size_t policy_key_hash(const uint8_t key[POLICY_KEY_LEN], size_t buckets);

#endif
