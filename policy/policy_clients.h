/*
 * policy_clients.h - admission policy for client connections.
 *
 * Counts open sessions per client address so a single address cannot
 * take every session slot.  IPv4-mapped IPv6 addresses count as their
 * IPv4 address; unix-socket clients share one slot key.  The front end
 * asks before it greets and tells when the session ends.
 */
#ifndef POSTERN_POLICY_CLIENTS_H
#define POSTERN_POLICY_CLIENTS_H

#include <stddef.h>

struct netaddr;
struct policy_clients;

struct policy_clients *policy_clients_new(void);
void policy_clients_free(struct policy_clients **pc);

/*
 * Count a new session from addr.  Returns 0 when it is admitted (and
 * counted), -1 when addr already holds limit sessions (not counted).
 * limit 0 means no limit.
 */
int policy_clients_enter(struct policy_clients *pc, const struct netaddr *addr,
                         unsigned int limit);

/* The session admitted by policy_clients_enter() for addr ended. */
void policy_clients_leave(struct policy_clients *pc,
                          const struct netaddr *addr);

/* Sessions counted for addr now. */
unsigned int policy_clients_count(const struct policy_clients *pc,
                                  const struct netaddr *addr);

/* Distinct addresses with at least one session. */
size_t policy_clients_addresses(const struct policy_clients *pc);

#endif
