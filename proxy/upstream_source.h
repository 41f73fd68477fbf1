/*
 * upstream_source.h - the source table: which local address the
 * upstream connection of a sender domain comes from.
 *
 * A domain that signs its mail can have a dedicated sending address, so
 * its reputation is its own.  The table is a text file of lines
 *
 *   PATTERN  ADDRESS
 *
 * where PATTERN is a domain ("example.org"), a leading-dot pattern for
 * every subdomain of a domain (".example.org"), or "*" for any domain,
 * and ADDRESS is an IPv4 or IPv6 address of this host.  '#' at the start
 * of a line or after white space begins a comment; empty lines are
 * skipped.  A domain is looked up as itself, then as ".parent" for each
 * parent from the nearest up, then as "*"; the first entry found wins.
 * Domains compare case-insensitively (ASCII).  A loaded table is
 * read-only and may be used from any thread.  Knows nothing of sessions
 * or sockets.
 */
#ifndef POSTERN_UPSTREAM_SOURCE_H
#define POSTERN_UPSTREAM_SOURCE_H

#include <stddef.h>

#include "util/netaddr.h"

struct upstream_source;

/*
 * Read the table at path.  Every address must be of family (AF_INET or
 * AF_INET6, the upstream's); 0 accepts both.  Returns the table, or NULL
 * with an allocated "path:line: reason" in *error_r.
 */
struct upstream_source *upstream_source_load(const char *path, int family,
                                             char **error_r);

/* Free the table and set *t to NULL; NULL is fine. */
void upstream_source_free(struct upstream_source **t);

/* The number of entries. */
size_t upstream_source_count(const struct upstream_source *t);

/* Entry i's address (i below the count), for checks and listings. */
const struct netaddr *upstream_source_addr(const struct upstream_source *t,
                                           size_t i);

/*
 * The address for mail from domain (no '@'; "" for the null sender,
 * which only "*" matches), or NULL when no entry matches.  The result
 * belongs to the table.
 */
const struct netaddr *upstream_source_lookup(const struct upstream_source *t,
                                             const char *domain);

#endif
