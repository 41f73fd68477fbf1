/*
 * policy_dmarc.h - DMARC (RFC 7489) records, alignment and disposition.
 *
 * Pure logic: parses a DMARC record, picks the one record of a TXT
 * answer, decides alignment of the SPF and DKIM domains with the author
 * domain (relaxed: same organizational domain; strict: equal) and the
 * result and disposition of one evaluation, with pct= sampling driven
 * by a number the caller draws.  struct policy_dmarc_eval holds every
 * fact of one evaluation an aggregate report row needs (RFC 7489 7.2,
 * appendix C) and can be written as one JSON line.  DNS, the message
 * and what a disposition does are the caller's (filter_dmarc.c).
 */
#ifndef POSTERN_POLICY_DMARC_H
#define POSTERN_POLICY_DMARC_H

#include <stddef.h>
#include <time.h>

#include "policy/policy_psl.h"

/* p= and sp= values, and dispositions, in increasing severity. */
enum policy_dmarc_policy {
	POLICY_DMARC_NONE = 0,
	POLICY_DMARC_QUARANTINE,
	POLICY_DMARC_REJECT,
};

enum policy_dmarc_align {
	POLICY_DMARC_RELAXED = 0,
	POLICY_DMARC_STRICT,
};

enum policy_dmarc_result {
	POLICY_DMARC_RESULT_NONE = 0, /* no policy published */
	POLICY_DMARC_RESULT_PASS,
	POLICY_DMARC_RESULT_FAIL,
	POLICY_DMARC_RESULT_TEMPERROR, /* policy lookup failed for now */
	POLICY_DMARC_RESULT_PERMERROR, /* author domain unusable */
};

/* Outcome of policy discovery (RFC 7489 6.6.3). */
enum policy_dmarc_lookup {
	POLICY_DMARC_LOOKUP_NOT_FOUND = 0, /* no record: no DMARC */
	POLICY_DMARC_LOOKUP_FOUND,
	POLICY_DMARC_LOOKUP_UNUSABLE,  /* several records, or no valid p=
	                                  and no rua= (step 7.2) */
	POLICY_DMARC_LOOKUP_TEMPERROR, /* DNS failed for now */
	POLICY_DMARC_LOOKUP_PERMERROR, /* name unusable, DNS refused */
};

#define POLICY_DMARC_URIS_MAX 512 /* rua= or ruf= as written */
#define POLICY_DMARC_FO_MAX   16

struct policy_dmarc_record {
	enum policy_dmarc_policy p;
	enum policy_dmarc_policy sp; /* p when absent */
	int p_assumed;               /* p= or sp= missing or invalid, taken
	                                as none for rua= (6.6.3 step 7.1) */
	unsigned int pct;            /* 0..100, default 100 */
	enum policy_dmarc_align adkim, aspf; /* default relaxed */
	char rua[POLICY_DMARC_URIS_MAX];     /* "" when absent; cut at a
	                                        URI that does not fit */
	char ruf[POLICY_DMARC_URIS_MAX];
	char fo[POLICY_DMARC_FO_MAX]; /* "0" unless valid */
	unsigned long ri;             /* seconds, default 86400 */
};

/*
 * 1 if txt starts with the version tag v=DMARC1 (RFC 7489 6.3: the tag
 * name in any case, the value exactly), else 0: such TXT records are
 * discarded (6.6.3 step 2).
 */
int policy_dmarc_record_is(const char *txt);

/*
 * Parse a DMARC record into *r.  Unknown tags are ignored and invalid
 * values of optional tags replaced by their defaults (6.3).  Returns 0,
 * or -1 with a static reason in *error_r when txt is not a DMARC record
 * or has no valid p= (or an invalid sp=) and no valid rua= URI, when
 * DMARC does not apply (6.6.3 step 7.2).  txt is not kept.
 */
int policy_dmarc_record_parse(const char *txt, struct policy_dmarc_record *r,
                              const char **error_r);

/*
 * The index of the one DMARC record among the n TXT strings of an
 * answer into *index_r.  Returns the number of DMARC records: 0 (look
 * further), 1, or more (6.6.3 step 6: DMARC does not apply).
 */
size_t policy_dmarc_record_select(const char *const *txt, size_t n,
                                  size_t *index_r);

/*
 * 1 if domains a and b are aligned in mode: strict, equal (ASCII case
 * ignored, one trailing dot ignored); relaxed, the same organizational
 * domain, a name that is itself a public suffix counting as its own
 * (RFC 7489 3.1).  0 otherwise, or when either is NULL or empty.
 */
int policy_dmarc_aligned(const struct policy_psl *psl, const char *a,
                         const char *b, enum policy_dmarc_align mode);

#define POLICY_DMARC_DKIM_MAX   8  /* DKIM results kept per evaluation */
#define POLICY_DMARC_RESULT_LEN 16 /* "temperror" and the like */
#define POLICY_DMARC_SOURCE_MAX 128

struct policy_dmarc_dkim {
	char domain[POLICY_PSL_DOMAIN_MAX]; /* d= */
	char selector[64];                  /* s= */
	char result[POLICY_DMARC_RESULT_LEN];
};

/*
 * One evaluation of one message for one author domain.  The caller
 * fills the inputs through the functions below (or directly), then
 * policy_dmarc_evaluate() the rest.
 */
struct policy_dmarc_eval {
	/* Inputs */
	char source[POLICY_DMARC_SOURCE_MAX];      /* client address */
	char header_from[POLICY_PSL_DOMAIN_MAX];   /* "" when none */
	char envelope_from[POLICY_PSL_DOMAIN_MAX]; /* "" null sender */
	const char *from_problem; /* static; NULL or why the From fields
	                             make the result fail (no From,
	                             several, several domains, bad) */
	char spf_domain[POLICY_PSL_DOMAIN_MAX];
	char spf_scope[8];                        /* "mfrom" or "helo" */
	char spf_result[POLICY_DMARC_RESULT_LEN]; /* "none" if unchecked */
	struct policy_dmarc_dkim dkim[POLICY_DMARC_DKIM_MAX];
	size_t ndkim;
	enum policy_dmarc_lookup lookup;
	const char *lookup_problem;                /* static; NULL or why */
	char policy_domain[POLICY_PSL_DOMAIN_MAX]; /* where found */
	struct policy_dmarc_record record;         /* when found */

	/* Results */
	char org_domain[POLICY_PSL_DOMAIN_MAX]; /* of header_from */
	int spf_aligned;  /* SPF passed for an aligned domain */
	int dkim_aligned; /* a DKIM signature passed for one */
	enum policy_dmarc_result result;
	const char *reason; /* static; NULL or a word for the result */
	enum policy_dmarc_policy policy;      /* p= or sp= that applies */
	enum policy_dmarc_policy disposition; /* after pct= and overrides */
	const char *override; /* NULL, "sampled_out", "local_policy" */
};

/* Start an evaluation for author domain header_from ("" for none;
 * copied, cut to fit): no results, lookup NOT_FOUND, spf "none". */
void policy_dmarc_eval_init(struct policy_dmarc_eval *e,
                            const char *header_from);

/* Record postern's SPF result for domain in scope "mfrom" or "helo"
 * (copied, cut to fit). */
void policy_dmarc_eval_spf(struct policy_dmarc_eval *e, const char *domain,
                           const char *scope, const char *result);

/* Record one DKIM signature's result (copied, cut to fit); results past
 * POLICY_DMARC_DKIM_MAX are dropped unless a pass replaces a non-pass,
 * so a pass is never lost. */
void policy_dmarc_eval_dkim(struct policy_dmarc_eval *e, const char *domain,
                            const char *selector, const char *result);

/* Record the record found at domain (copied). */
void policy_dmarc_eval_found(struct policy_dmarc_eval *e, const char *domain,
                             const struct policy_dmarc_record *r);

/*
 * Compute the organizational domain, alignment, result, the policy
 * that applies (sp= when the record came from the organizational
 * domain and the author domain is another, else p=; 6.3) and the
 * disposition.  roll (0..99, drawn by the caller) samples pct=: a
 * failing message with roll >= pct gets the next milder policy (6.6.4)
 * and override "sampled_out".  A from_problem makes the result fail
 * whatever aligned; a lookup other than FOUND gives no disposition.
 */
void policy_dmarc_evaluate(struct policy_dmarc_eval *e,
                           const struct policy_psl *psl, unsigned int roll);

/* "pass", "fail", "none", "temperror", "permerror" */
const char *policy_dmarc_result_name(enum policy_dmarc_result r);
/* "none", "quarantine", "reject" */
const char *policy_dmarc_policy_name(enum policy_dmarc_policy p);

/*
 * The evaluation as one JSON object on one line, without a newline:
 * "time" (when), "id" (of the message, for the caller), the inputs,
 * the published policy (null when none was found) and the evaluated
 * one.  Non-ASCII and control octets in strings are escaped.
 * Allocated; the caller frees.
 */
char *policy_dmarc_eval_json(const struct policy_dmarc_eval *e, const char *id,
                             time_t when);

#endif
