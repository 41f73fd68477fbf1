/*
 * spam_rules_prefilter.c - which rules of a kind can match a text at
 * all, found in one pass over the text.
 *
 * Each rule with atoms (spam_rules_atoms.c) can only match a text that
 * holds one of them; an Aho-Corasick automaton over every atom of the
 * rules of a kind finds, in one pass over the text (folded to lower
 * case by the automaton's octet classes), the atoms present and so the
 * rules worth running.  The automaton works on classes of the octets
 * the atoms use; the root has a transition table, the other states
 * their trie edges and failure links, which keeps it small enough for
 * the CPU's caches (a full table for the stock body rules is 5 MB).
 * It is built once with the rule set and only read when scanning.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

#define NO_STATE UINT32_MAX

struct spam_prefilter {
	unsigned char cls[256]; /* octet -> class, 0: in no atom */
	size_t ncls;
	uint32_t *root;   /* the root's transitions by class, 0: stay */
	uint32_t *efirst; /* the children of s: edges efirst[s]..[s+1] */
	unsigned char *ecls;
	uint32_t *eto;
	uint32_t *fail;
	int32_t *atom;  /* the atom ending at a state, -1 */
	uint32_t *link; /* next state on the failure chain with an atom */
	size_t nstates;
	size_t natoms;
	size_t *first; /* the rules of atom a: rules[first[a]..first[a+1]) */
	size_t *rules;
};

struct pf_build {
	struct spam_prefilter *pf;
	struct spam_map atoms; /* atom -> index */
	char **text;           /* atoms by index */
	size_t *count;         /* rules per atom */
	uint32_t *next;        /* the trie, nstates * ncls, NO_STATE */
	size_t cap;
};

static uint32_t
state_new(struct pf_build *b)
{
	struct spam_prefilter *pf = b->pf;
	size_t i;

	if (pf->nstates == b->cap) {
		b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->next =
		    xreallocarray(b->next, b->cap * pf->ncls, sizeof(*b->next));
		pf->atom = xreallocarray(pf->atom, b->cap, sizeof(*pf->atom));
	}
	for (i = 0; i < pf->ncls; i++)
		b->next[pf->nstates * pf->ncls + i] = NO_STATE;
	pf->atom[pf->nstates] = -1;
	return (uint32_t)pf->nstates++;
}

/* Octet classes: one per octet the atoms use, upper case folded. */
static void
classes_make(struct spam_prefilter *pf, const struct pf_build *b)
{
	size_t i, j;
	unsigned char c;

	pf->ncls = 1;
	for (i = 0; i < pf->natoms; i++) {
		for (j = 0; b->text[i][j] != '\0'; j++) {
			c = (unsigned char)b->text[i][j];
			if (pf->cls[c] == 0)
				pf->cls[c] = (unsigned char)pf->ncls++;
		}
	}
	for (c = 'A'; c <= 'Z'; c++)
		pf->cls[c] = pf->cls[c - 'A' + 'a'];
}

static void
trie_add(struct pf_build *b, const char *atom, size_t index)
{
	struct spam_prefilter *pf = b->pf;
	uint32_t s = 0, n;
	size_t at;

	for (; *atom != '\0'; atom++) {
		at = s * pf->ncls + pf->cls[(unsigned char)*atom];
		if (b->next[at] == NO_STATE) {
			n = state_new(b); /* may move b->next */
			b->next[at] = n;
		}
		s = b->next[at];
	}
	pf->atom[s] = (int32_t)index;
}

/* The failure link of t, reached from s (not the root) by class c. */
static uint32_t
fail_of(const struct pf_build *b, uint32_t s, size_t c, uint32_t t)
{
	const struct spam_prefilter *pf = b->pf;
	size_t k = pf->ncls;
	uint32_t f = pf->fail[s];

	while (f != 0 && b->next[f * k + c] == NO_STATE)
		f = pf->fail[f];
	f = b->next[f * k + c];
	return f != NO_STATE && f != t ? f : 0;
}

/* Failure links and output links, breadth first. */
static void
links_make(struct pf_build *b)
{
	struct spam_prefilter *pf = b->pf;
	uint32_t *queue = xcalloc(pf->nstates + 1, sizeof(*queue));
	size_t head = 0, tail = 0, c, k = pf->ncls;
	uint32_t s, t, f;

	pf->fail = xcalloc(pf->nstates + 1, sizeof(*pf->fail));
	pf->link = xcalloc(pf->nstates + 1, sizeof(*pf->link));
	for (c = 0; c < k; c++) {
		if (b->next[c] != NO_STATE)
			queue[tail++] = b->next[c];
	}
	while (head < tail) {
		s = queue[head++];
		for (c = 0; c < k; c++) {
			t = b->next[s * k + c];
			if (t == NO_STATE)
				continue;
			f = fail_of(b, s, c, t);
			pf->fail[t] = f;
			pf->link[t] = pf->atom[f] >= 0 ? f : pf->link[f];
			queue[tail++] = t;
		}
	}
	free(queue);
}

/* The trie's edges kept compact: the root's as a table, the others as
 * lists per state. */
static void
edges_make(struct pf_build *b)
{
	struct spam_prefilter *pf = b->pf;
	size_t s, c, e = 0, k = pf->ncls;
	uint32_t t;

	pf->root = xcalloc(k, sizeof(*pf->root));
	for (c = 0; c < k; c++)
		pf->root[c] = b->next[c] == NO_STATE ? 0 : b->next[c];
	pf->efirst = xcalloc(pf->nstates + 1, sizeof(*pf->efirst));
	pf->ecls = xcalloc(pf->nstates + 1, sizeof(*pf->ecls));
	pf->eto = xcalloc(pf->nstates + 1, sizeof(*pf->eto));
	for (s = 0; s < pf->nstates; s++) {
		pf->efirst[s] = (uint32_t)e;
		for (c = 0; s > 0 && c < k; c++) {
			t = b->next[s * k + c];
			if (t == NO_STATE)
				continue;
			pf->ecls[e] = (unsigned char)c;
			pf->eto[e++] = t;
		}
	}
	pf->efirst[pf->nstates] = (uint32_t)e;
}

/* Atoms made indices; count per atom in b->count. */
static void
atoms_index(struct pf_build *b, const struct spam_atoms *sets, size_t n)
{
	const struct spam_map_slot *slot;
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < sets[i].n; j++) {
			slot = spam_map_get(&b->atoms, sets[i].s[j]);
			if (slot == NULL) {
				spam_map_set(&b->atoms, sets[i].s[j],
				             b->pf->natoms);
				b->text =
				    xreallocarray(b->text, b->pf->natoms + 1,
				                  sizeof(*b->text));
				b->count =
				    xreallocarray(b->count, b->pf->natoms + 1,
				                  sizeof(*b->count));
				b->text[b->pf->natoms] = sets[i].s[j];
				b->count[b->pf->natoms++] = 0;
				slot = spam_map_get(&b->atoms, sets[i].s[j]);
			}
			b->count[slot->value]++;
		}
	}
}

static void
rules_index(struct pf_build *b, const struct spam_atoms *sets,
            const size_t *rules, size_t n)
{
	struct spam_prefilter *pf = b->pf;
	size_t i, j, a, *fill;

	pf->first = xcalloc(pf->natoms + 1, sizeof(*pf->first));
	for (a = 0; a < pf->natoms; a++)
		pf->first[a + 1] = pf->first[a] + b->count[a];
	pf->rules = xcalloc(pf->first[pf->natoms] + 1, sizeof(*pf->rules));
	fill = xcalloc(pf->natoms + 1, sizeof(*fill));
	for (i = 0; i < n; i++) {
		for (j = 0; j < sets[i].n; j++) {
			a = spam_map_get(&b->atoms, sets[i].s[j])->value;
			pf->rules[pf->first[a] + fill[a]++] = rules[i];
		}
	}
	free(fill);
}

struct spam_prefilter *
spam_prefilter_new(const struct spam_atoms *sets, const size_t *rules, size_t n)
{
	struct pf_build b = {0};
	size_t i;

	b.pf = xcalloc(1, sizeof(*b.pf));
	atoms_index(&b, sets, n);
	classes_make(b.pf, &b);
	state_new(&b);
	for (i = 0; i < b.pf->natoms; i++)
		trie_add(&b, b.text[i], i);
	links_make(&b);
	edges_make(&b);
	rules_index(&b, sets, rules, n);
	spam_map_deinit(&b.atoms);
	free(b.text);
	free(b.count);
	free(b.next);
	return b.pf;
}

void
spam_prefilter_free(struct spam_prefilter **pfp)
{
	struct spam_prefilter *pf = *pfp;

	if (pf == NULL)
		return;
	free(pf->root);
	free(pf->efirst);
	free(pf->ecls);
	free(pf->eto);
	free(pf->fail);
	free(pf->atom);
	free(pf->link);
	free(pf->first);
	free(pf->rules);
	free(pf);
	*pfp = NULL;
}

size_t
spam_prefilter_atoms(const struct spam_prefilter *pf)
{
	return pf->natoms;
}

/* The state after st on an octet of class c (not 0). */
static uint32_t
step(const struct spam_prefilter *pf, uint32_t st, unsigned char c)
{
	uint32_t e;

	for (; st != 0; st = pf->fail[st]) {
		for (e = pf->efirst[st]; e < pf->efirst[st + 1]; e++) {
			if (pf->ecls[e] == c)
				return pf->eto[e];
		}
	}
	return pf->root[c];
}

/* Atom a found in text: its rules marked. */
static void
atom_found(const struct spam_prefilter *pf, size_t a, uint32_t text,
           uint32_t *first, uint32_t *last)
{
	size_t r, rule;

	for (r = pf->first[a]; r < pf->first[a + 1]; r++) {
		rule = pf->rules[r];
		if (first[rule] == 0)
			first[rule] = text;
		last[rule] = text;
	}
}

void
spam_prefilter_scan(const struct spam_prefilter *pf, const char *s, size_t len,
                    uint32_t text, uint32_t *seen, uint32_t *first,
                    uint32_t *last)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint32_t st = 0, t;
	unsigned char c;
	size_t a;

	for (; p < end; p++) {
		/* an octet in no atom: no partial match survives it */
		c = pf->cls[*p];
		st = c == 0 ? 0 : step(pf, st, c);
		t = pf->atom[st] >= 0 ? st : pf->link[st];
		for (; t != 0; t = pf->link[t]) {
			a = (size_t)pf->atom[t];
			if (seen[a] != text) {
				seen[a] = text;
				atom_found(pf, a, text, first, last);
			}
		}
	}
}
