/*
 * policy_psl.h - organizational domains from the public suffix list.
 *
 * DMARC (RFC 7489 3.2) aligns identifiers by their organizational
 * domain: the public suffix of a name plus one label, from the public
 * suffix list through libpsl (its built-in copy or a file).  Also turns
 * internationalized names into the A-labels DNS and the other
 * identifiers use.  A loaded list is read-only and may be shared by any
 * number of threads.  No DNS, no allocation the caller must free.
 */
#ifndef POSTERN_POLICY_PSL_H
#define POSTERN_POLICY_PSL_H

#include <stddef.h>

/* Longest domain name the functions below take or give, with its NUL. */
#define POLICY_PSL_DOMAIN_MAX 256

struct policy_psl;

/*
 * Load the list in file (the public_suffix_list.dat format), or
 * libpsl's built-in list when file is NULL.  file is not kept.  Returns
 * NULL with a static reason in *error_r when the file cannot be read or
 * holds no rules.
 */
struct policy_psl *policy_psl_new(const char *file, const char **error_r);

/* Free the list; *psl = NULL.  NULL *psl is a no-op. */
void policy_psl_free(struct policy_psl **psl);

/*
 * The organizational domain of domain (UTF-8 or A-labels, any case,
 * one trailing dot allowed), lowercased, into buf: the registrable
 * domain under the list's rules, unlisted top-level domains counting
 * as public suffixes ("*" rule).  Returns 0, or -1 when domain is NULL,
 * empty, has an empty label, is itself a public suffix, or the result
 * does not fit size.
 */
int policy_psl_org_domain(const struct policy_psl *psl, const char *domain,
                          char *buf, size_t size);

/*
 * domain as DNS names it: A-labels (IDNA2008 with UTS #46 mapping,
 * non-transitional), ASCII letters lowercased, a trailing dot removed,
 * into buf.  Returns 0, or -1 with a static reason in *error_r for a
 * name IDNA refuses, an empty label, a domain literal or a result that
 * does not fit size.
 */
int policy_psl_domain_ascii(const char *domain, char *buf, size_t size,
                            const char **error_r);

#endif
