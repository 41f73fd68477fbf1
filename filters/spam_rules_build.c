/*
 * spam_rules_build.c - the definitions read made into the rule set.
 *
 * As SpamAssassin finishes parsing: facts take the place of eval:
 * tests of their names (and exist when only a score names them),
 * ReplaceTags rewrites the rules it is asked to (when the plugin is
 * loaded), rules without a score get 1.0 (0.01 for T_ rules, negative
 * with tflags nice), regexes are compiled, and meta rules are resolved
 * to rule indices and ordered so that each comes after the metas it
 * names.  Metas caught in a dependency cycle, and those that depend on
 * them, are dropped ("meta-cycle"), as SpamAssassin drops them.  A
 * rule postern cannot run stays in the set as a placeholder, so that
 * meta rules see it as SpamAssassin would see it (value 0); names no
 * rule defines become placeholders too and are counted.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

struct build {
	struct spam_load *ld;
	struct spam_ruleset *rs;
	size_t cap;
	struct spam_map names; /* rule name -> index, before sorting */
	const char **scored;   /* names rules_matching() sees, sorted */
	size_t nscored;
};

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static struct spam_rule *
rule_add(struct build *b, const char *name, int kind)
{
	struct spam_ruleset *rs = b->rs;
	struct spam_rule *r;

	if (rs->nrules == b->cap) {
		b->cap = b->cap == 0 ? 1024 : b->cap * 2;
		rs->rules =
		    xreallocarray(rs->rules, b->cap, sizeof(*rs->rules));
	}
	r = &rs->rules[rs->nrules];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->kind = kind;
	spam_map_set(&b->names, name, rs->nrules++);
	return r;
}

/* Conf/Parser.pm's fix_tests(): the score of a rule without one. */
static double
default_score(const struct spam_def *d)
{
	double score = strncmp(d->name, "T_", 2) == 0 ? 0.01 : 1.0;

	return spam_tflag(d->tflags, "nice") ? -score : score;
}

static double
def_score(const struct spam_def *d)
{
	return d->has_score ? d->score : default_score(d);
}

/* Placeholders SpamAssassin runs (an eval: test, a plugin's rule) are
 * ready for its metas at once, with value 0. */
static void
placeholder(struct build *b, const struct spam_def *d, const char *reason)
{
	struct spam_rule *r = rule_add(b, d->name, SPAM_RULE_PLACEHOLDER);
	int runs = strcmp(reason, "eval") == 0 ||
	           strcmp(reason, "plugin-type") == 0 ||
	           strcmp(reason, "header-modifier") == 0;

	r->score = def_score(d);
	if (runs && r->score != 0)
		r->flags |= SPAM_RF_RAN;
	spam_rules_skip(b->rs, reason);
}

/* A %{TAG} template (SpamAssassin 4's captured tags).
 * XXX Rules using templates are skipped ("capture"): filling them
 * needs the tags other rules capture, per message, and a regex
 * compiled per message.  SpamAssassin runs such a rule only when its
 * tags were captured; six T_ and __ stock rules use them. */
static int
has_template(const char *re)
{
	const char *p;

	for (p = re; (p = strstr(p, "%{")) != NULL; p++) {
		if ((p == re || p[-1] != '\\') && p[2] >= 'A' && p[2] <= 'Z')
			return 1;
	}
	return 0;
}

/* The definition's pattern compiled (after ReplaceTags, unless the
 * replaced one fails); the pattern used in *src_r, allocated. */
static pcre2_code *
def_compile(struct build *b, const struct spam_def *d, char **src_r)
{
	pcre2_code *re = NULL;
	char *replaced = NULL, err[160];

	if (d->replace && spam_load_plugin(b->ld, "ReplaceTags"))
		replaced = spam_replace_tags(b->ld, d->pat.re);
	if (replaced != NULL)
		re = spam_pattern_compile(replaced, d->pat.options, err,
		                          sizeof(err));
	if (re != NULL) {
		*src_r = replaced;
		return re;
	}
	free(replaced);
	re = spam_pattern_compile(d->pat.re, d->pat.options, err, sizeof(err));
	*src_r = re != NULL ? xstrdup(d->pat.re) : NULL;
	return re;
}

/* The rule for a regex definition, NULL when it is a placeholder. */
static struct spam_rule *
regex_rule(struct build *b, const struct spam_def *d)
{
	struct spam_rule *r;
	pcre2_code *re;
	char *src = NULL;
	size_t jit = 0;

	/* NOTE SpamAssassin runs regex rules flagged net (only eval:
	 * tests check the flag); postern, local only, does not. */
	if (spam_tflag(d->tflags, "net")) {
		placeholder(b, d, "net");
		return NULL;
	}
	if (d->pat.re != NULL && has_template(d->pat.re)) {
		placeholder(b, d, "capture");
		return NULL;
	}
	/* exists:Field has no pattern */
	re = d->pat.re != NULL ? def_compile(b, d, &src) : NULL;
	if (re == NULL && d->pat.re != NULL) {
		placeholder(b, d, "regex");
		return NULL;
	}
	r = rule_add(b, d->name, d->kind);
	r->re = re;
	if (re != NULL &&
	    pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit) == 0 && jit > 0)
		r->flags |= SPAM_RF_JIT;
	r->src = src;
	r->options = d->pat.options;
	if (d->kind == SPAM_RULE_HEADER) {
		r->hdr = xstrdup(d->hdr);
		r->form = d->form;
		r->unset = d->unset != NULL ? xstrdup(d->unset) : NULL;
		r->flags |= d->hflags & SPAM_HDR_NEG ? SPAM_RF_NEG : 0;
		r->flags |= d->hflags & SPAM_HDR_EXISTS ? SPAM_RF_EXISTS : 0;
	}
	return r;
}

static void
rule_settings(struct spam_rule *r, const struct spam_def *d)
{
	r->describe = xstrdup(d->describe != NULL ? d->describe : "");
	if (spam_tflag(d->tflags, "multiple")) {
		r->flags |= SPAM_RF_MULTIPLE;
		r->maxhits = spam_tflag_maxhits(d->tflags);
	}
	if (spam_tflag(d->tflags, "nosubject"))
		r->flags |= SPAM_RF_NOSUBJECT;
}

static void
def_build(struct build *b, const struct spam_def *d)
{
	int fact = spam_rules_is_fact(d->name);
	struct spam_rule *r;

	if (fact && (d->kind == SPAM_DEF_NONE ||
	             (d->kind == SPAM_DEF_SKIPPED && d->eval))) {
		r = rule_add(b, d->name, SPAM_RULE_FACT);
		/* a fact only a score line names scores 0 without one */
		r->score = d->kind == SPAM_DEF_NONE && !d->has_score ? 0
		           : d->has_score ? d->score_net
		                          : default_score(d);
		rule_settings(r, d);
		return;
	}
	if (d->kind == SPAM_DEF_NONE)
		return;
	if (d->kind == SPAM_DEF_SKIPPED) {
		placeholder(b, d,
		            d->eval && spam_tflag(d->tflags, "net") ? "net"
		                                                    : d->skip);
		return;
	}
	if (d->kind == SPAM_RULE_META)
		r = rule_add(b, d->name, SPAM_RULE_META);
	else
		r = regex_rule(b, d);
	if (r == NULL)
		return;
	r->score = def_score(d);
	rule_settings(r, d);
}

/*
 * Meta rules
 */

/* The names of tests and scores, which rules_matching() globs over. */
static void
scored_names(struct build *b)
{
	const struct spam_def *d;
	size_t i;

	b->scored = xcalloc(b->ld->ndefs + 1, sizeof(*b->scored));
	for (i = 0; i < b->ld->ndefs; i++) {
		d = &b->ld->defs[i];
		if (d->kind != SPAM_DEF_NONE || d->has_score)
			b->scored[b->nscored++] = d->name;
	}
	qsort(b->scored, b->nscored, sizeof(*b->scored), str_cmp);
}

static int
meta_name(void *ctx, const char *name, size_t *index_r, double *value_r)
{
	struct build *b = ctx;
	const struct spam_map_slot *slot;
	struct spam_rule *r;

	if (strcmp(name, "local_tests_only") == 0) {
		*value_r = 1; /* postern runs no network tests */
		return 0;
	}
	slot = spam_map_get(&b->names, name);
	if (slot != NULL) {
		*index_r = slot->value;
		return 1;
	}
	r = rule_add(b, name, SPAM_RULE_PLACEHOLDER);
	r->describe = xstrdup("");
	b->rs->meta_unknown++;
	*index_r = b->rs->nrules - 1;
	return 1;
}

static void
meta_compile(struct build *b, size_t i, const struct spam_def *d)
{
	struct spam_expr e;
	const char *error;
	char *text;

	text = spam_expr_expand(d->expr, d->name, b->scored, b->nscored);
	if (spam_expr_compile(text, meta_name, b, &e, &error) < 0) {
		b->rs->rules[i].kind = SPAM_RULE_PLACEHOLDER;
		spam_rules_skip(b->rs, "syntax");
	} else {
		b->rs->rules[i].meta = e;
	}
	free(text);
}

static void
metas_compile(struct build *b)
{
	const struct spam_map_slot *slot;
	const struct spam_def *d;
	size_t i, n = b->rs->nrules;

	scored_names(b);
	for (i = 0; i < n; i++) {
		if (b->rs->rules[i].kind != SPAM_RULE_META)
			continue;
		slot = spam_map_get(&b->ld->names, b->rs->rules[i].name);
		d = &b->ld->defs[slot->value];
		meta_compile(b, i, d);
	}
	free(b->scored);
	b->scored = NULL;
}

/* Meta-to-meta edges, reversed: the metas naming each rule, as
 * first[r] .. first[r + 1] in users. */
struct users {
	size_t *first;
	size_t *users;
};

static void
users_make(const struct spam_ruleset *rs, struct users *u)
{
	const struct spam_rule *r;
	size_t i, j, d, n = rs->nrules, total = 0, *fill;

	u->first = xcalloc(n + 2, sizeof(*u->first));
	for (i = 0; i < n; i++) {
		r = &rs->rules[i];
		for (j = 0; r->kind == SPAM_RULE_META && j < r->meta.ndeps; j++)
			u->first[r->meta.deps[j] + 1]++;
	}
	for (i = 0; i < n; i++) {
		total += u->first[i + 1];
		u->first[i + 1] = total;
	}
	u->users = xcalloc(total + 1, sizeof(*u->users));
	fill = xcalloc(n + 1, sizeof(*fill));
	for (i = 0; i < n; i++) {
		r = &rs->rules[i];
		for (j = 0; r->kind == SPAM_RULE_META && j < r->meta.ndeps;
		     j++) {
			d = r->meta.deps[j];
			u->users[u->first[d] + fill[d]++] = i;
		}
	}
	free(fill);
}

/* How many metas rule i names. */
static size_t
meta_deps(const struct spam_ruleset *rs, size_t i)
{
	const struct spam_rule *r = &rs->rules[i];
	size_t j, n = 0;

	for (j = 0; r->kind == SPAM_RULE_META && j < r->meta.ndeps; j++)
		n += rs->rules[r->meta.deps[j]].kind == SPAM_RULE_META;
	return n;
}

/* Kahn's algorithm, as SpamAssassin's compile_meta_rules() orders:
 * metas in order in rs->metas; those never freed (in a cycle, or
 * behind one) dropped. */
static void
metas_order(struct spam_ruleset *rs)
{
	size_t *pending = xcalloc(rs->nrules + 1, sizeof(*pending));
	size_t i, j, head, done;
	struct users u;

	users_make(rs, &u);
	rs->metas = xcalloc(rs->nrules + 1, sizeof(*rs->metas));
	for (i = 0; i < rs->nrules; i++) {
		pending[i] = meta_deps(rs, i);
		if (rs->rules[i].kind == SPAM_RULE_META && pending[i] == 0)
			rs->metas[rs->nmetas++] = i;
	}
	for (head = 0; head < rs->nmetas; head++) {
		done = rs->metas[head];
		for (j = u.first[done]; j < u.first[done + 1]; j++) {
			if (--pending[u.users[j]] == 0)
				rs->metas[rs->nmetas++] = u.users[j];
		}
	}
	for (i = 0; i < rs->nrules; i++) {
		if (rs->rules[i].kind == SPAM_RULE_META && pending[i] > 0) {
			rs->rules[i].kind = SPAM_RULE_PLACEHOLDER;
			spam_expr_deinit(&rs->rules[i].meta);
			spam_rules_skip(rs, "meta-cycle");
		}
	}
	free(u.first);
	free(u.users);
	free(pending);
}

/*
 * Sorting and run lists
 */

static const struct spam_rule *sort_rules;

static int
index_by_name(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return strcmp(sort_rules[x].name, sort_rules[y].name);
}

static int
index_by_field(const void *a, const void *b)
{
	const struct spam_rule *x = &sort_rules[*(const size_t *)a];
	const struct spam_rule *y = &sort_rules[*(const size_t *)b];
	int c = strcmp(x->hdr, y->hdr);

	if (c != 0)
		return c;
	if (x->form != y->form)
		return x->form < y->form ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Rules sorted by name; every index in meta rules and the meta order
 * mapped to the new places. */
static void
rules_sort(struct spam_ruleset *rs)
{
	size_t *order = xcalloc(rs->nrules + 1, sizeof(*order));
	size_t *where = xcalloc(rs->nrules + 1, sizeof(*where));
	struct spam_rule *sorted = xcalloc(rs->nrules + 1, sizeof(*sorted));
	struct spam_expr *e;
	size_t i, j;

	for (i = 0; i < rs->nrules; i++)
		order[i] = i;
	sort_rules = rs->rules;
	qsort(order, rs->nrules, sizeof(*order), index_by_name);
	for (i = 0; i < rs->nrules; i++) {
		sorted[i] = rs->rules[order[i]];
		where[order[i]] = i;
	}
	for (i = 0; i < rs->nrules; i++) {
		e = &sorted[i].meta;
		for (j = 0; j < e->nops; j++)
			if (e->ops[j].code == SPAM_OP_RULE)
				e->ops[j].rule = where[e->ops[j].rule];
		for (j = 0; j < e->ndeps; j++)
			e->deps[j] = where[e->deps[j]];
	}
	for (i = 0; i < rs->nmetas; i++)
		rs->metas[i] = where[rs->metas[i]];
	free(rs->rules);
	rs->rules = sorted;
	free(order);
	free(where);
}

static void
run_lists(struct spam_ruleset *rs)
{
	const struct spam_rule *r;
	size_t i, k;

	for (k = 0; k < SPAM_RULE_KINDS; k++)
		rs->run[k] = xcalloc(rs->nrules + 1, sizeof(*rs->run[k]));
	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		if (r->kind == SPAM_RULE_PLACEHOLDER)
			continue;
		rs->counts[r->kind]++;
		if (r->kind != SPAM_RULE_META)
			rs->run[r->kind][rs->nrun[r->kind]++] = i;
	}
	sort_rules = rs->rules;
	qsort(rs->run[SPAM_RULE_HEADER], rs->nrun[SPAM_RULE_HEADER],
	      sizeof(size_t), index_by_field);
	sort_rules = NULL;
}

/*
 * Prefilters
 */

/* The prefilter of one kind's rules, for those with atoms. */
static void
prefilter_make(struct spam_ruleset *rs, int kind)
{
	size_t n = rs->nrun[kind], i, k, m = 0;
	struct spam_atoms *sets = xcalloc(n + 1, sizeof(*sets));
	size_t *idx = xcalloc(n + 1, sizeof(*idx));
	struct spam_rule *r;

	for (k = 0; k < n; k++) {
		i = rs->run[kind][k];
		r = &rs->rules[i];
		/* [if-unset: text] matches text, not the field */
		if (r->src == NULL || r->unset != NULL ||
		    spam_atoms_extract(r->src, r->options, SPAM_ATOMS_MIN,
		                       &sets[m]) < 0)
			continue;
		r->flags |= SPAM_RF_ATOMS;
		idx[m++] = i;
	}
	if (m > 0)
		rs->pf[kind] = spam_prefilter_new(sets, idx, m);
	for (k = 0; k < m; k++)
		spam_atoms_deinit(&sets[k]);
	free(sets);
	free(idx);
}

static void
prefilters_make(struct spam_ruleset *rs)
{
	size_t i;

	prefilter_make(rs, SPAM_RULE_HEADER);
	prefilter_make(rs, SPAM_RULE_BODY);
	prefilter_make(rs, SPAM_RULE_RAWBODY);
	prefilter_make(rs, SPAM_RULE_URI);
	for (i = 0; i < rs->nrules; i++) {
		free(rs->rules[i].src);
		rs->rules[i].src = NULL;
	}
}

struct spam_ruleset *
spam_rules_build(struct spam_load *ld)
{
	struct build b = {.ld = ld};
	unsigned int limit = ld->opts->match_limit;
	size_t i;

	for (i = 0; spam_rules_fact_names[i] != NULL; i++)
		spam_load_def(ld, spam_rules_fact_names[i]);
	b.rs = xcalloc(1, sizeof(*b.rs));
	b.rs->match_limit = limit != 0 ? limit : SPAM_RULES_MATCH_LIMIT;
	b.rs->settings_ignored = ld->settings_ignored;
	b.rs->lines_bad = ld->lines_bad + ld->defs_bad;
	for (i = 0; i < ld->ndefs; i++)
		def_build(&b, &ld->defs[i]);
	metas_compile(&b);
	for (i = 0; i < b.rs->nrules; i++) {
		if (b.rs->rules[i].describe == NULL)
			b.rs->rules[i].describe = xstrdup("");
	}
	metas_order(b.rs);
	rules_sort(b.rs);
	run_lists(b.rs);
	prefilters_make(b.rs);
	spam_map_deinit(&b.names);
	return b.rs;
}
