/*
 * spam_rules.c - loading a SpamAssassin rule set, and what it holds.
 *
 * spam_rules_load() reads the files (spam_rules_parse.c) and builds the
 * set (spam_rules_build.c); this file keeps the public side: counts,
 * skip reasons and the summary `postern -t` prints, the fact names,
 * and the name tables the other files share.  Scoring is in
 * spam_rules_score.c.  Loading fails only when a file cannot be read
 * or includes loop or nest too deep; the reason names the file and
 * line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

const char *const spam_rules_fact_names[] = {
    "SPF_PASS",
    "SPF_FAIL",
    "SPF_SOFTFAIL",
    "SPF_NEUTRAL",
    "SPF_NONE",
    "SPF_TEMPERROR",
    "SPF_PERMERROR",
    "SPF_HELO_PASS",
    "SPF_HELO_FAIL",
    "SPF_HELO_SOFTFAIL",
    "SPF_HELO_NEUTRAL",
    "SPF_HELO_NONE",
    "DKIM_SIGNED",
    "DKIM_VALID",
    "DKIM_VALID_AU",
    "DKIM_INVALID",
    "DMARC_PASS",
    "DMARC_REJECT",
    "DMARC_QUAR",
    "DMARC_NONE",
    "DMARC_MISSING",
    "MIME_TRUNCATED",
    NULL,
};

static const char *const kind_names[SPAM_RULE_KINDS] = {
    "header", "body", "rawbody", "uri", "full", "meta", "fact",
};

/*
 * Name tables
 */

static size_t
map_hash(const char *s)
{
	size_t h = 5381;

	for (; *s != '\0'; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

static struct spam_map_slot *
map_slot(const struct spam_map *map, const char *key)
{
	size_t i = map_hash(key) & (map->cap - 1);

	while (map->slots[i].key != NULL && strcmp(map->slots[i].key, key) != 0)
		i = (i + 1) & (map->cap - 1);
	return &map->slots[i];
}

static void
map_grow(struct spam_map *map)
{
	struct spam_map old = *map;
	size_t i;

	map->cap = old.cap == 0 ? 64 : old.cap * 2;
	map->slots = xcalloc(map->cap, sizeof(*map->slots));
	for (i = 0; i < old.cap; i++) {
		if (old.slots[i].key != NULL)
			*map_slot(map, old.slots[i].key) = old.slots[i];
	}
	free(old.slots);
}

void
spam_map_deinit(struct spam_map *map)
{
	size_t i;

	for (i = 0; i < map->cap; i++)
		free(map->slots[i].key);
	free(map->slots);
	memset(map, 0, sizeof(*map));
}

const struct spam_map_slot *
spam_map_get(const struct spam_map *map, const char *key)
{
	const struct spam_map_slot *slot;

	if (map->cap == 0)
		return NULL;
	slot = map_slot(map, key);
	return slot->key != NULL ? slot : NULL;
}

void
spam_map_set(struct spam_map *map, const char *key, size_t value)
{
	struct spam_map_slot *slot;

	if ((map->n + 1) * 2 > map->cap)
		map_grow(map);
	slot = map_slot(map, key);
	if (slot->key == NULL) {
		slot->key = xstrdup(key);
		map->n++;
	}
	slot->value = value;
}

void
spam_kv_deinit(struct spam_kv *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		free(kv->values[i]);
	free(kv->values);
	spam_map_deinit(&kv->index);
	memset(kv, 0, sizeof(*kv));
}

const char *
spam_kv_get(const struct spam_kv *kv, const char *key)
{
	const struct spam_map_slot *slot = spam_map_get(&kv->index, key);

	return slot != NULL ? kv->values[slot->value] : NULL;
}

void
spam_kv_set(struct spam_kv *kv, const char *key, const char *value)
{
	const struct spam_map_slot *slot = spam_map_get(&kv->index, key);

	if (slot != NULL) {
		free(kv->values[slot->value]);
		kv->values[slot->value] = xstrdup(value);
		return;
	}
	kv->values = xreallocarray(kv->values, kv->n + 1, sizeof(*kv->values));
	kv->values[kv->n] = xstrdup(value);
	spam_map_set(&kv->index, key, kv->n++);
}

/*
 * Loading
 */

struct spam_def *
spam_load_def(struct spam_load *ld, const char *name)
{
	const struct spam_map_slot *slot = spam_map_get(&ld->names, name);
	struct spam_def *d;

	if (slot != NULL)
		return &ld->defs[slot->value];
	if (ld->ndefs == ld->cap) {
		ld->cap = ld->cap == 0 ? 1024 : ld->cap * 2;
		ld->defs = xreallocarray(ld->defs, ld->cap, sizeof(*ld->defs));
	}
	d = &ld->defs[ld->ndefs];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->kind = SPAM_DEF_NONE;
	spam_map_set(&ld->names, name, ld->ndefs++);
	return d;
}

void
spam_load_deinit(struct spam_load *ld)
{
	struct spam_def *d;
	size_t i;

	for (i = 0; i < ld->ndefs; i++) {
		d = &ld->defs[i];
		free(d->name);
		spam_pattern_deinit(&d->pat);
		free(d->hdr);
		free(d->unset);
		free(d->expr);
		free(d->describe);
		free(d->tflags);
	}
	free(ld->defs);
	spam_map_deinit(&ld->names);
	spam_kv_deinit(&ld->tags);
	spam_kv_deinit(&ld->pre);
	spam_kv_deinit(&ld->inter);
	spam_kv_deinit(&ld->post);
	free(ld->replace_start);
	free(ld->replace_end);
	spam_map_deinit(&ld->files);
	spam_map_deinit(&ld->plugins);
	spam_map_deinit(&ld->compat);
	free(ld->error);
	memset(ld, 0, sizeof(*ld));
}

struct spam_ruleset *
spam_rules_load(const char *const *files, size_t nfiles,
                const struct spam_rules_opts *opts, char **error_r)
{
	static const struct spam_rules_opts none = {0};
	struct spam_load ld = {.opts = opts != NULL ? opts : &none};
	struct spam_ruleset *rs = NULL;
	size_t i;

	*error_r = NULL;
	for (i = 0; i < nfiles; i++) {
		if (spam_load_path(&ld, files[i]) < 0)
			break;
	}
	if (i == nfiles && ld.ndefs > SPAM_RULES_RULE_MAX)
		ld.error = xasprintf("more than %d rules", SPAM_RULES_RULE_MAX);
	if (ld.error == NULL)
		rs = spam_rules_build(&ld);
	if (rs == NULL) {
		*error_r = ld.error;
		ld.error = NULL;
	}
	spam_load_deinit(&ld);
	return rs;
}

void
spam_rules_free(struct spam_ruleset **rsp)
{
	struct spam_ruleset *rs = *rsp;
	struct spam_rule *r;
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		free(r->name);
		free(r->describe);
		pcre2_code_free(r->re);
		free(r->src);
		free(r->hdr);
		free(r->unset);
		spam_expr_deinit(&r->meta);
	}
	for (i = 0; i < SPAM_RULE_KINDS; i++) {
		free(rs->run[i]);
		spam_prefilter_free(&rs->pf[i]);
	}
	free(rs->metas);
	free(rs->rules);
	free(rs);
	*rsp = NULL;
}

/*
 * What the set holds
 */

size_t
spam_rules_find(const struct spam_ruleset *rs, const char *name)
{
	size_t lo = 0, hi = rs->nrules, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(rs->rules[mid].name, name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (size_t)-1;
}

int
spam_rules_is_fact(const char *name)
{
	size_t i;

	for (i = 0; spam_rules_fact_names[i] != NULL; i++) {
		if (strcmp(spam_rules_fact_names[i], name) == 0)
			return 1;
	}
	return 0;
}

void
spam_rules_skip(struct spam_ruleset *rs, const char *reason)
{
	size_t i;

	for (i = 0; i < rs->nskips; i++) {
		if (strcmp(rs->skips[i].reason, reason) == 0) {
			rs->skips[i].n++;
			return;
		}
	}
	if (rs->nskips == SPAM_SKIP_REASONS)
		return;
	rs->skips[rs->nskips].reason = reason;
	rs->skips[rs->nskips++].n = 1;
}

size_t
spam_rules_count(const struct spam_ruleset *rs, enum spam_rule_kind kind)
{
	if ((unsigned int)kind >= SPAM_RULE_KINDS)
		return 0;
	return rs->counts[kind];
}

size_t
spam_rules_skipped(const struct spam_ruleset *rs, const char *reason)
{
	size_t i, n = 0;

	for (i = 0; i < rs->nskips; i++) {
		if (reason == NULL || strcmp(rs->skips[i].reason, reason) == 0)
			n += rs->skips[i].n;
	}
	return n;
}

const char *
spam_rules_kind_name(enum spam_rule_kind kind)
{
	if ((unsigned int)kind >= SPAM_RULE_KINDS)
		return "unknown";
	return kind_names[kind];
}

void
spam_rules_each(const struct spam_ruleset *rs, spam_rules_each_cb *cb,
                void *arg)
{
	const struct spam_rule *r;
	size_t i;

	for (i = 0; i < rs->nrules; i++) {
		r = &rs->rules[i];
		if (r->kind != SPAM_RULE_PLACEHOLDER)
			cb(arg, r->name, (enum spam_rule_kind)r->kind, r->score,
			   r->describe);
	}
}

void
spam_rules_print_summary(const struct spam_ruleset *rs)
{
	size_t i;

	printf("spam rules:");
	for (i = 0; i < SPAM_RULE_KINDS; i++)
		printf(" %s %zu", kind_names[i], rs->counts[i]);
	printf("\nspam rules skipped:");
	for (i = 0; i < rs->nskips; i++)
		printf(" %s %zu", rs->skips[i].reason, rs->skips[i].n);
	if (rs->nskips == 0)
		printf(" none");
	printf("\nspam rules ignored: settings %zu bad-lines %zu "
	       "meta-unknown-rule %zu\n",
	       rs->settings_ignored, rs->lines_bad, rs->meta_unknown);
}
