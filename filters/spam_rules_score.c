/*
 * spam_rules_score.c - one message scored with a rule set.
 *
 * Runs the rules as SpamAssassin's Check plugin runs them: header
 * rules on the field's text, body rules on each paragraph, rawbody
 * rules on each raw line, uri rules on each URI, full rules on the
 * whole message; a rule hits once, or with tflags multiple once per
 * match over all of its texts, up to maxhits.  A rule whose score is 0
 * is not run and, as in SpamAssassin, gives its meta rules 0.
 *
 * Meta rules follow SpamAssassin's readiness too: a meta is evaluated
 * once every rule it names has run (rules that do not run count as 0
 * at the end, metas do not); a meta whose score is 0 and whose value
 * is true stays unknown to the metas naming it, which then do not
 * hit.  A hit meta is worth its value to other metas (1 if that is not
 * positive), a rule with tflags multiple its count, a fact 1.
 *
 * Facts hold when the caller says so, whatever their score (their
 * SpamAssassin counterparts are network tests, which -L leaves out).
 * SPAM_REPORT_ALL also runs zero-score rules, for the report only
 * (they still give their metas 0).  Rules skipped at loading (eval:
 * tests above all) count as not hit: XXX SpamAssassin's eval tests
 * (body length, relays, freemail...) are code postern does not have;
 * metas built on them differ.
 *
 * The rule set is only read; each call has its own PCRE2 match data,
 * match context (the limits) and JIT stack, so calls may run on
 * several threads at once.  A match that runs into a limit counts as
 * no match (and not as a hit of a !~ rule).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

#define ST_READY     0x01 /* run: known to meta rules */
#define ST_HIT       0x02 /* matched, for the report */
#define ST_EVALUATED 0x04 /* meta rules */
#define ST_LIMITED   0x08

struct scan {
	const struct spam_ruleset *rs;
	struct spam_msg *m;
	enum spam_report report;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
	double *value;
	unsigned int *count;
	unsigned char *state;
	/* the first and last text (from 1) where the prefilter found one
	 * of a rule's atoms, 0 when none */
	uint32_t *first;
	uint32_t *last;
	uint32_t *seen; /* atoms found, per kind */
};

static void
scan_init(struct scan *sc, const struct spam_ruleset *rs, struct spam_msg *m,
          enum spam_report report)
{
	size_t n = rs->nrules + 1, atoms = 1, k;

	memset(sc, 0, sizeof(*sc));
	for (k = 0; k < SPAM_RULE_KINDS; k++) {
		if (rs->pf[k] != NULL &&
		    spam_prefilter_atoms(rs->pf[k]) > atoms)
			atoms = spam_prefilter_atoms(rs->pf[k]);
	}
	sc->first = xcalloc(n, sizeof(*sc->first));
	sc->last = xcalloc(n, sizeof(*sc->last));
	sc->seen = xcalloc(atoms, sizeof(*sc->seen));
	sc->rs = rs;
	sc->m = m;
	sc->report = report;
	sc->value = xcalloc(n, sizeof(*sc->value));
	sc->count = xcalloc(n, sizeof(*sc->count));
	sc->state = xcalloc(n, sizeof(*sc->state));
	sc->md = pcre2_match_data_create(1, NULL);
	sc->mc = pcre2_match_context_create(NULL);
	sc->js = pcre2_jit_stack_create(32 * 1024, SPAM_RULES_JIT_STACK, NULL);
	if (sc->md == NULL || sc->mc == NULL || sc->js == NULL) {
		/* as xalloc.h: memory exhaustion is not recovered from */
		fputs("postern: pcre2 allocation failed\n", stderr);
		abort();
	}
	pcre2_set_match_limit(sc->mc, rs->match_limit);
	pcre2_set_depth_limit(sc->mc, SPAM_RULES_DEPTH_LIMIT);
	pcre2_set_heap_limit(sc->mc, SPAM_RULES_HEAP_LIMIT);
	pcre2_jit_stack_assign(sc->mc, NULL, sc->js);
}

static void
scan_deinit(struct scan *sc)
{
	pcre2_jit_stack_free(sc->js);
	pcre2_match_context_free(sc->mc);
	pcre2_match_data_free(sc->md);
	free(sc->value);
	free(sc->count);
	free(sc->state);
	free(sc->first);
	free(sc->last);
	free(sc->seen);
}

/*
 * Matching
 */

/* One match from start; JIT's fast path when the rule has JIT code
 * and the options let it (not PCRE2_ANCHORED). */
static int
match_one(struct scan *sc, const struct spam_rule *r, const char *s, size_t len,
          size_t start, uint32_t opts)
{
	if ((r->flags & SPAM_RF_JIT) && opts == 0)
		return pcre2_jit_match(r->re, (PCRE2_SPTR)s, len, start, 0,
		                       sc->md, sc->mc);
	return pcre2_match(r->re, (PCRE2_SPTR)s, len, start, opts, sc->md,
	                   sc->mc);
}

/* Matches of r in s, at most max, counted as Perl's m//g finds them
 * (after an empty match, a non-empty one at the same place first). */
static unsigned int
match_count(struct scan *sc, const struct spam_rule *r, const char *s,
            size_t len, unsigned int max, int *limited)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
	uint32_t opts = 0;
	size_t start = 0;
	unsigned int n = 0;
	int rc;

	while (n < max && start <= len) {
		rc = match_one(sc, r, s, len, start, opts);
		if (rc == PCRE2_ERROR_NOMATCH && opts != 0) {
			start++;
			opts = 0;
			continue;
		}
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			*limited = 1;
			break;
		}
		n++;
		start = ov[1];
		opts = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED
		                      : 0;
	}
	return n;
}

/* Whether rule r runs: a score, or a report of everything. */
static int
runs(const struct scan *sc, const struct spam_rule *r)
{
	return r->score != 0 || sc->report == SPAM_REPORT_ALL;
}

static unsigned int
hits_max(const struct spam_rule *r)
{
	if (!(r->flags & SPAM_RF_MULTIPLE))
		return 1;
	return r->maxhits != 0 ? r->maxhits : UINT_MAX;
}

static void
record(struct scan *sc, size_t i, unsigned int count, int limited)
{
	const struct spam_rule *r = &sc->rs->rules[i];

	if (r->score != 0) {
		sc->state[i] |= ST_READY;
		sc->value[i] = count;
	}
	if (count > 0) {
		sc->state[i] |= ST_HIT;
		sc->count[i] = count;
	}
	if (limited)
		sc->state[i] |= ST_LIMITED;
}

/* A rule over texts from .. to-1 (body paragraphs, lines, URIs). */
static void
run_texts(struct scan *sc, size_t i, const struct spam_text *t, size_t from,
          size_t to)
{
	const struct spam_rule *r = &sc->rs->rules[i];
	unsigned int max = hits_max(r), count = 0;
	size_t j = from;
	int limited = 0;

	if (r->kind == SPAM_RULE_BODY && (r->flags & SPAM_RF_NOSUBJECT) &&
	    j == 0)
		j = 1; /* the Subject comes first */
	for (; j < to && count < max; j++)
		count +=
		    match_count(sc, r, t[j].s, t[j].len, max - count, &limited);
	record(sc, i, count, limited);
}

/* The rules of a kind over its texts; those with atoms only over the
 * texts from the first to the last the prefilter found one in
 * (elsewhere they cannot match). */
static void
run_kind(struct scan *sc, int kind, const struct spam_text *t, size_t n)
{
	const struct spam_ruleset *rs = sc->rs;
	const struct spam_prefilter *pf = rs->pf[kind];
	const struct spam_rule *r;
	size_t k, i;

	if (pf != NULL) {
		memset(sc->seen, 0,
		       spam_prefilter_atoms(pf) * sizeof(*sc->seen));
		for (k = 0; k < n && k < UINT32_MAX - 1; k++)
			spam_prefilter_scan(pf, t[k].s, t[k].len,
			                    (uint32_t)k + 1, sc->seen,
			                    sc->first, sc->last);
	}
	for (k = 0; k < rs->nrun[kind]; k++) {
		i = rs->run[kind][k];
		r = &rs->rules[i];
		if (!runs(sc, r))
			continue;
		if (!(r->flags & SPAM_RF_ATOMS))
			run_texts(sc, i, t, 0, n);
		else if (sc->first[i] == 0)
			record(sc, i, 0, 0);
		else
			run_texts(sc, i, t, sc->first[i] - 1, sc->last[i]);
	}
}

static void
run_header(struct scan *sc, size_t i, const struct spam_text *t, int present,
           int cannot)
{
	const struct spam_rule *r = &sc->rs->rules[i];
	const char *s = "";
	size_t len = 0;
	unsigned int count = 0;
	int limited = 0;

	if (r->flags & SPAM_RF_EXISTS) {
		record(sc, i, present, 0);
		return;
	}
	if (present) {
		s = t->s;
		len = t->len;
	} else if (r->unset != NULL) {
		s = r->unset;
		len = strlen(s);
	}
	if (!cannot)
		count = match_count(sc, r, s, len, hits_max(r), &limited);
	if (r->flags & SPAM_RF_NEG)
		count = count == 0 && !limited;
	record(sc, i, count, limited);
}

/* Header rules, grouped by field so that each is fetched once; the
 * prefilter scans each field's text, numbered from 1 as it comes, and
 * a rule with atoms runs only if it found one in its field. */
static void
run_headers(struct scan *sc)
{
	const struct spam_ruleset *rs = sc->rs;
	const struct spam_prefilter *pf = rs->pf[SPAM_RULE_HEADER];
	const struct spam_rule *r, *prev = NULL;
	struct spam_text t = {"", 0};
	uint32_t field = 0;
	size_t k, i;
	int present = 0, ret;

	if (pf != NULL)
		memset(sc->seen, 0,
		       spam_prefilter_atoms(pf) * sizeof(*sc->seen));
	for (k = 0; k < rs->nrun[SPAM_RULE_HEADER]; k++) {
		i = rs->run[SPAM_RULE_HEADER][k];
		r = &rs->rules[i];
		if (!runs(sc, r))
			continue;
		/* exact names: the pseudo-header MESSAGEID is not the
		 * field MessageID */
		if (prev == NULL || prev->form != r->form ||
		    strcmp(prev->hdr, r->hdr) != 0) {
			ret = spam_msg_header(sc->m, r->hdr, r->form, &t);
			present = ret > 0 || t.len > 0;
			prev = r;
			if (pf != NULL && field < UINT32_MAX - 1)
				spam_prefilter_scan(pf, t.s, t.len, ++field,
				                    sc->seen, sc->first,
				                    sc->last);
		}
		run_header(sc, i, &t, present,
		           (r->flags & SPAM_RF_ATOMS) && sc->last[i] != field);
	}
}

static void
run_facts(struct scan *sc, const char *const *facts, size_t nfacts)
{
	const struct spam_ruleset *rs = sc->rs;
	size_t k, i;

	for (i = 0; i < rs->nrules; i++) {
		if (rs->rules[i].kind == SPAM_RULE_FACT ||
		    (rs->rules[i].flags & SPAM_RF_RAN))
			sc->state[i] |= ST_READY;
	}
	for (k = 0; k < nfacts; k++) {
		i = spam_rules_find(rs, facts[k]);
		if (i == (size_t)-1 || rs->rules[i].kind != SPAM_RULE_FACT)
			continue;
		sc->value[i] = 1;
		sc->count[i] = 1;
		sc->state[i] |= ST_HIT;
	}
}

/*
 * Meta rules
 */

/* Whether meta rule i can be evaluated: every rule it names has run;
 * at the end (final), every rule but a meta counts as run. */
static int
meta_ready(const struct scan *sc, size_t i, int final)
{
	const struct spam_ruleset *rs = sc->rs;
	const struct spam_expr *e = &rs->rules[i].meta;
	size_t j, d;

	for (j = 0; j < e->ndeps; j++) {
		d = e->deps[j];
		if (sc->state[d] & ST_READY)
			continue;
		if (!final || rs->rules[d].kind == SPAM_RULE_META)
			return 0;
	}
	return 1;
}

static void
meta_eval(struct scan *sc, size_t i)
{
	const struct spam_rule *r = &sc->rs->rules[i];
	double v = spam_expr_eval(&r->meta, sc->value, NULL);

	sc->state[i] |= ST_EVALUATED;
	if (v == 0) {
		sc->state[i] |= ST_READY;
		return;
	}
	if (r->score == 0) {
		/* SpamAssassin's got_hit() ignores it: not even ready */
		if (sc->report == SPAM_REPORT_ALL)
			sc->state[i] |= ST_HIT;
		sc->count[i] = 1;
		return;
	}
	sc->state[i] |= ST_READY | ST_HIT;
	sc->value[i] = v > 0 ? v : 1;
	sc->count[i] = 1;
}

/* SpamAssassin's do_meta_tests(): first as rules become ready, then at
 * the end (finish) for the metas with a score still pending. */
static void
run_metas(struct scan *sc)
{
	const struct spam_ruleset *rs = sc->rs;
	size_t k, i;

	for (k = 0; k < rs->nmetas; k++) {
		i = rs->metas[k];
		if (meta_ready(sc, i, 0))
			meta_eval(sc, i);
	}
	for (k = 0; k < rs->nmetas; k++) {
		i = rs->metas[k];
		if (!(sc->state[i] & ST_EVALUATED) && rs->rules[i].score != 0 &&
		    meta_ready(sc, i, 1))
			meta_eval(sc, i);
	}
}

/*
 * The result
 */

static int
reported(const struct scan *sc, size_t i)
{
	const struct spam_rule *r = &sc->rs->rules[i];

	if (!(sc->state[i] & ST_HIT) || r->kind == SPAM_RULE_PLACEHOLDER)
		return 0;
	if (sc->report == SPAM_REPORT_ALL)
		return 1;
	return r->score != 0 && strncmp(r->name, "__", 2) != 0;
}

static void
result_fill(const struct scan *sc, struct spam_result *res)
{
	const struct spam_ruleset *rs = sc->rs;
	const struct spam_rule *r;
	struct spam_hit *h;
	size_t i, n = 0;

	for (i = 0; i < rs->nrules; i++) {
		n += reported(sc, i);
		res->match_limited += (sc->state[i] & ST_LIMITED) != 0;
	}
	res->hits = xcalloc(n + 1, sizeof(*res->hits));
	for (i = 0; i < rs->nrules; i++) {
		if (!reported(sc, i))
			continue;
		r = &rs->rules[i];
		h = &res->hits[res->nhits++];
		h->name = r->name;
		h->describe = r->describe;
		h->score = r->score;
		h->count = sc->count[i];
		if (r->score != 0 && strncmp(r->name, "__", 2) != 0)
			res->score += r->score;
	}
}

void
spam_rules_score(const struct spam_ruleset *rs, struct spam_msg *m,
                 const char *const *facts, size_t nfacts,
                 enum spam_report report, struct spam_result *r)
{
	const struct spam_text *t;
	struct spam_text full;
	struct scan sc;
	size_t n;

	memset(r, 0, sizeof(*r));
	scan_init(&sc, rs, m, report);
	run_facts(&sc, facts, nfacts);
	run_headers(&sc);
	t = spam_msg_body(m, &n);
	run_kind(&sc, SPAM_RULE_BODY, t, n);
	t = spam_msg_uris(m, &n);
	run_kind(&sc, SPAM_RULE_URI, t, n);
	t = spam_msg_rawbody(m, &n);
	run_kind(&sc, SPAM_RULE_RAWBODY, t, n);
	full = spam_msg_full(m);
	run_kind(&sc, SPAM_RULE_FULL, &full, 1);
	run_metas(&sc);
	result_fill(&sc, r);
	scan_deinit(&sc);
}

void
spam_result_deinit(struct spam_result *r)
{
	free(r->hits);
	memset(r, 0, sizeof(*r));
}
