/*
 * policy_psl.c - organizational domains from the public suffix list.
 *
 * Wraps libpsl: the list is loaded once (libpsl's built-in copy or a
 * file) and only read afterwards, which libpsl allows from any thread.
 * Names are checked and lowercased here before libpsl sees them, since
 * it wants lowercase input and reads a trailing dot or an empty label
 * in ways DMARC has no use for.  Internationalized names become
 * A-labels with libidn2.  Errors are static strings.
 */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <libpsl.h>

#include "policy/policy_psl.h"
#include "util/xalloc.h"

struct policy_psl {
	const psl_ctx_t *ctx;
	psl_ctx_t *owned; /* NULL for libpsl's built-in list */
};

struct policy_psl *
policy_psl_new(const char *file, const char **error_r)
{
	struct policy_psl *psl = xcalloc(1, sizeof(*psl));

	if (file == NULL) {
		psl->ctx = psl_builtin();
		/* A libpsl built without a list: the distribution's file. */
		if (psl->ctx == NULL)
			psl->ctx = psl->owned = psl_latest(NULL);
	} else {
		psl->ctx = psl->owned = psl_load_file(file);
	}
	if (psl->ctx == NULL || psl_suffix_count(psl->ctx) <= 0) {
		*error_r = file != NULL ? "cannot load the public suffix list"
		                        : "libpsl has no public suffix list";
		policy_psl_free(&psl);
		return NULL;
	}
	return psl;
}

void
policy_psl_free(struct policy_psl **psl)
{
	if (*psl == NULL)
		return;
	psl_free((*psl)->owned);
	free(*psl);
	*psl = NULL;
}

/* Copy domain into buf lowercased (ASCII letters), one trailing dot
 * removed; -1 for an empty name or label or one that does not fit.
 * Sets *ascii_r when every octet is ASCII. */
static int
domain_copy_lower(const char *domain, char *buf, size_t size, int *ascii_r)
{
	size_t len = strlen(domain), i;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= size || domain[len - 1] == '.')
		return -1;
	*ascii_r = 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c == '.' && (i == 0 || domain[i - 1] == '.'))
			return -1;
		if (c >= 0x80)
			*ascii_r = 0;
		buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	buf[len] = '\0';
	return 0;
}

/* The registrable domain of lower (lowercase) into buf. */
static int
org_domain_lookup(const struct policy_psl *psl, const char *lower, char *buf,
                  size_t size)
{
	const char *reg = psl_registrable_domain(psl->ctx, lower);

	if (reg == NULL || strlen(reg) >= size)
		return -1;
	memmove(buf, reg, strlen(reg) + 1);
	return 0;
}

int
policy_psl_org_domain(const struct policy_psl *psl, const char *domain,
                      char *buf, size_t size)
{
	char lower[POLICY_PSL_DOMAIN_MAX], *utf8 = NULL;
	int ascii, rc;

	if (domain == NULL ||
	    domain_copy_lower(domain, lower, sizeof(lower), &ascii) < 0)
		return -1;
	if (ascii)
		return org_domain_lookup(psl, lower, buf, size);

	/* Non-ASCII letters have case too (RFC 5891 5.2 maps them). */
	if (psl_str_to_utf8lower(lower, "utf-8", NULL, &utf8) != PSL_SUCCESS)
		return -1;
	rc = org_domain_lookup(psl, utf8, buf, size);
	psl_free_string(utf8);
	return rc;
}

int
policy_psl_domain_ascii(const char *domain, char *buf, size_t size,
                        const char **error_r)
{
	char lower[POLICY_PSL_DOMAIN_MAX], *alabel = NULL;
	int ascii, rc;

	if (domain_copy_lower(domain, lower, sizeof(lower), &ascii) < 0) {
		*error_r = "empty label or name too long";
		return -1;
	}
	if (lower[0] == '[') {
		*error_r = "domain literal";
		return -1;
	}
	if (ascii && strlen(lower) >= size) {
		*error_r = "name too long";
		return -1;
	}
	if (ascii) {
		memcpy(buf, lower, strlen(lower) + 1);
		return 0;
	}
	rc = idn2_to_ascii_8z(lower, &alabel, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		*error_r = "not a valid internationalized domain name";
		return -1;
	}
	rc = 0;
	if (domain_copy_lower(alabel, buf, size, &ascii) < 0) {
		*error_r = "empty label or name too long";
		rc = -1;
	}
	idn2_free(alabel);
	return rc;
}
