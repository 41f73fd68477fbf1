/*
 * policy_auth.h - slowing down and locking out AUTH guessers.
 *
 * Counts failed AUTH attempts per client address.  Each failure earns a
 * delay before its reply, doubling per failure; enough failures within
 * the lockout window lock the address out of AUTH until the window has
 * passed since its last failure.  A success forgets the address.
 * IPv4-mapped IPv6 addresses count as their IPv4 address.  Time is the
 * caller's, so the policy is pure and testable; the front end asks
 * before relaying AUTH and reports each outcome.
 */
#ifndef POSTERN_POLICY_AUTH_H
#define POSTERN_POLICY_AUTH_H

#include <stddef.h>
#include <time.h>

struct netaddr;
struct policy_auth;

struct policy_auth_limits {
	unsigned int failures;  /* failures that lock an address out */
	unsigned int lockout;   /* seconds: the window and the lockout */
	unsigned int delay;     /* seconds before the first failure reply */
	unsigned int delay_max; /* the doubling stops here */
};

struct policy_auth *policy_auth_new(void);
/* Free and set *pa to NULL; NULL is fine. */
void policy_auth_free(struct policy_auth **pa);

/* Seconds addr remains locked out at now, or 0 when it may try AUTH. */
unsigned int policy_auth_locked(const struct policy_auth *pa,
                                const struct netaddr *addr,
                                const struct policy_auth_limits *lim,
                                time_t now);

/* Count a failure of addr at now.  Returns the seconds to wait before
 * the failure reply.  lim is only read. */
unsigned int policy_auth_failed(struct policy_auth *pa,
                                const struct netaddr *addr,
                                const struct policy_auth_limits *lim,
                                time_t now);

/* addr authenticated: its failures are forgotten. */
void policy_auth_succeeded(struct policy_auth *pa, const struct netaddr *addr);

/* Failures counted for addr now (expired ones included until the next
 * failure or sweep). */
unsigned int policy_auth_count(const struct policy_auth *pa,
                               const struct netaddr *addr);

/* Addresses with failures on record. */
size_t policy_auth_addresses(const struct policy_auth *pa);

#endif
