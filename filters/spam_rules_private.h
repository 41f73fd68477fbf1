/*
 * spam_rules_private.h - what the files of the spam rule module share.
 *
 *   spam_rules.c           the public side: load, counts, summary
 *   spam_rules_parse.c     files and lines, if/else/endif, include
 *   spam_rules_cmd.c       the commands: rules and their settings
 *   spam_rules_cond.c      if-line conditions, plugins and features
 *   spam_rules_expr.c      expressions: tokens, parsing, evaluation
 *   spam_rules_meta.c      rules_matching() and the checks of meta lines
 *   spam_rules_regex.c     Perl regexes taken apart, PCRE2 compiling
 *   spam_rules_replace.c   ReplaceTags
 *   spam_rules_build.c     the definitions made into the rule set
 *   spam_rules_atoms.c     literal strings every match of a regex holds
 *   spam_rules_prefilter.c which rules can match a text (Aho-Corasick)
 *   spam_rules_score.c     scoring a message
 *
 * Loading reads every line into one definition per rule name (later
 * lines replace earlier ones, as in SpamAssassin), then builds the
 * read-only set: regexes compiled, meta rules resolved to rule indices
 * and put in dependency order, prefilters made.  Included by those
 * files and the tests only.
 */
#ifndef POSTERN_SPAM_RULES_PRIVATE_H
#define POSTERN_SPAM_RULES_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filters/spam_msg.h"
#include "filters/spam_rules.h"

/* The SpamAssassin release whose behaviour the module follows. */
#define SPAM_RULES_SA_VERSION   "4.000001"
#define SPAM_RULES_SA_VERSION_N 4.000001
#define SPAM_RULES_PERL_VERSION 5.036000

#define SPAM_RULES_LINE_MAX    65536      /* octets; stock lines reach 10 K */
#define SPAM_RULES_FILE_MAX    (16 << 20) /* octets of one rule file */
#define SPAM_RULES_INCLUDE_MAX 10
#define SPAM_RULES_IF_MAX      64
#define SPAM_RULES_RULE_MAX    100000
#define SPAM_RULES_NAME_MAX    100 /* SpamAssassin's add_test() limit */
#define SPAM_RULES_MATCH_LIMIT 100000
#define SPAM_RULES_DEPTH_LIMIT 10000
#define SPAM_RULES_HEAP_LIMIT  (32 * 1024) /* KiB, interpreter only */
#define SPAM_RULES_JIT_STACK   (1024 * 1024)
#define SPAM_META_TOKENS_MAX   2048
#define SPAM_META_OPS_MAX      4096
#define SPAM_META_DEPTH_MAX    64
#define SPAM_META_STACK_MAX    128
#define SPAM_ATOMS_MIN         3 /* octets an atom needs to be worth it */

/*
 * Names to indices
 */

/* An open-addressing table from strings (copied) to indices. */
struct spam_map {
	struct spam_map_slot {
		char *key;
		size_t value;
	} * slots;
	size_t cap;
	size_t n;
};

void spam_map_deinit(struct spam_map *map);
/* The slot of key, NULL when it is absent. */
const struct spam_map_slot *spam_map_get(const struct spam_map *map,
                                         const char *key);
/* Sets key to value, replacing any value it had. */
void spam_map_set(struct spam_map *map, const char *key, size_t value);

/* Strings by name (ReplaceTags' tags, for one): later sets replace. */
struct spam_kv {
	struct spam_map index;
	char **values;
	size_t n;
};

void spam_kv_deinit(struct spam_kv *kv);
const char *spam_kv_get(const struct spam_kv *kv, const char *key);
void spam_kv_set(struct spam_kv *kv, const char *key, const char *value);

/*
 * Definitions as read
 */

/* What a definition is, besides the rule kinds it may have. */
#define SPAM_DEF_NONE    SPAM_RULE_KINDS       /* settings only */
#define SPAM_DEF_SKIPPED (SPAM_RULE_KINDS + 1) /* a test postern cannot run */

/* Header test options. */
#define SPAM_HDR_NEG    0x1 /* !~ */
#define SPAM_HDR_EXISTS 0x2 /* exists:NAME */

/* A regex rule's pattern: delimiters and modifiers taken off. */
struct spam_pattern {
	char *re;
	char *mods;           /* Perl modifiers as written, "" for none */
	unsigned int options; /* PCRE2 compile options for mods */
};

struct spam_def {
	char *name;
	int kind; /* enum spam_rule_kind or SPAM_DEF_* */
	/* SPAM_DEF_SKIPPED: why, static text; an eval: test (which a
	 * fact's name turns into the fact) */
	const char *skip;
	int eval;
	/* regex kinds */
	struct spam_pattern pat;
	/* SPAM_RULE_HEADER */
	char *hdr; /* field or pseudo-header name */
	enum spam_hdr_form form;
	unsigned int hflags;
	char *unset; /* [if-unset: ...] or NULL */
	/* SPAM_RULE_META */
	char *expr;
	/* settings, whichever line they came from */
	int has_score;
	double score;
	double score_net; /* score set 1: facts are network tests */
	char *describe;
	char *tflags;
	int replace; /* named by replace_rules */
};

/* Everything loading collects before the set is built. */
struct spam_load {
	const struct spam_rules_opts *opts;
	struct spam_def *defs;
	size_t ndefs;
	size_t cap;
	struct spam_map names; /* rule name -> defs index */
	/* ReplaceTags */
	struct spam_kv tags;
	struct spam_kv pre;
	struct spam_kv inter;
	struct spam_kv post;
	char *replace_start;
	char *replace_end;
	/* loadplugin and enable_compat lines (the .pre files) */
	struct spam_map plugins;
	struct spam_map compat;
	/* files read (SpamAssassin reads a file once) and being read */
	struct spam_map files;
	const char *stack[SPAM_RULES_INCLUDE_MAX + 1];
	size_t depth;
	/* statistics */
	size_t settings_ignored;
	size_t lines_bad; /* too long, NUL, broken if/else/endif */
	size_t defs_bad;  /* rule lines without a usable name */
	char *error;      /* set once: the load fails */
};

/* One file being read (spam_rules_parse.c). */
struct spam_file {
	struct spam_load *ld;
	const char *path;
	unsigned int line;
	int skip;                   /* inside a false if block */
	int skip_file;              /* require_version of another release */
	int ifs[SPAM_RULES_IF_MAX]; /* skip as it was before each if */
	size_t nifs;
};

/* Runs one line's command (key in lower case, "-" made "_", value
 * after it) for f (spam_rules_cmd.c).  Returns 0, or -1 when loading
 * must stop (ld->error set). */
int spam_cmd_run(struct spam_file *f, const char *key, char *value);
/* include value, relative to f's file.  Returns 0 or -1. */
int spam_load_include(struct spam_file *f, const char *value);
/* A plugin's name without "Mail::SpamAssassin::Plugin::". */
const char *spam_plugin_short(const char *name);

/* Reads path (a file or a directory of *.cf) into ld.  Returns 0, or -1
 * with ld->error set. */
int spam_load_path(struct spam_load *ld, const char *path);
void spam_load_deinit(struct spam_load *ld);
/* The definition of name, made empty (SPAM_DEF_NONE) if there is none. */
struct spam_def *spam_load_def(struct spam_load *ld, const char *name);
/* Whether a plugin is loaded (by the options or a loadplugin line);
 * name full or short. */
int spam_load_plugin(const struct spam_load *ld, const char *name);
/* SpamAssassin's can(Module::method) and has(): Conf features and the
 * has_* methods of loaded plugins that postern follows. */
int spam_load_can(const struct spam_load *ld, const char *method);

/*
 * Regexes (spam_rules_regex.c)
 */

/* Takes Perl's delimiters and modifiers off text as SpamAssassin's
 * compile_regexp() does.  Returns 0, or -1 with a static reason. */
int spam_pattern_parse(const char *text, struct spam_pattern *p,
                       const char **error_r);
void spam_pattern_deinit(struct spam_pattern *p);
/* The pattern compiled, with JIT when it can be; NULL and a reason
 * (in buf) when PCRE2 refuses it. */
pcre2_code *spam_pattern_compile(const char *re, unsigned int options,
                                 char *buf, size_t size);
/* Whether a tflags string has word as a word (Perl's /\bword\b/). */
int spam_tflag(const char *tflags, const char *word);
/* maxhits=N of a tflags string, 0 when absent. */
unsigned int spam_tflag_maxhits(const char *tflags);

/* ReplaceTags on one pattern (spam_rules_replace.c): the new pattern,
 * allocated, or NULL when nothing was replaced. */
char *spam_replace_tags(const struct spam_load *ld, const char *re);

/*
 * Prefiltering (spam_rules_atoms.c, spam_rules_prefilter.c)
 */

/* Strings, lower case, NUL-terminated and without NULs inside. */
struct spam_atoms {
	char **s;
	size_t *len;
	size_t n;
};

/* Strings one of which every match of re (compiled with options) holds,
 * each at least min_len octets.  Returns 0, or -1 when no such set is
 * known (the rule must always run). */
int spam_atoms_extract(const char *re, unsigned int options, size_t min_len,
                       struct spam_atoms *out);
void spam_atoms_deinit(struct spam_atoms *a);

struct spam_prefilter;

/* An automaton for n rules: rules[i] (an index kept as it is) has the
 * atoms sets[i] (copied). */
struct spam_prefilter *spam_prefilter_new(const struct spam_atoms *sets,
                                          const size_t *rules, size_t n);
void spam_prefilter_free(struct spam_prefilter **pf);
size_t spam_prefilter_atoms(const struct spam_prefilter *pf);
/* Scans text number text (counted from 1) for atoms: for every rule
 * with one, first[rule] is set to text if still 0, and last[rule] to
 * text.  seen[] (one per atom, zero at first) keeps the number of the
 * text each atom was last found in. */
void spam_prefilter_scan(const struct spam_prefilter *pf, const char *s,
                         size_t len, uint32_t text, uint32_t *seen,
                         uint32_t *first, uint32_t *last);

/*
 * Expressions (spam_rules_meta.c)
 */

/* Operations of a compiled expression, evaluated on a stack. */
enum spam_op_code {
	SPAM_OP_CONST = 0,
	SPAM_OP_RULE,
	SPAM_OP_NOT,
	SPAM_OP_NEG,
	SPAM_OP_MUL,
	SPAM_OP_DIV,
	SPAM_OP_ADD,
	SPAM_OP_SUB,
	SPAM_OP_LT,
	SPAM_OP_GT,
	SPAM_OP_LE,
	SPAM_OP_GE,
	SPAM_OP_EQ,
	SPAM_OP_NE,
	SPAM_OP_XOR,
	SPAM_OP_AND,
	SPAM_OP_OR,
	SPAM_OP_COND,
};

struct spam_op {
	enum spam_op_code code;
	size_t rule;  /* SPAM_OP_RULE */
	double value; /* SPAM_OP_CONST */
};

struct spam_expr {
	struct spam_op *ops;
	size_t nops;
	size_t *deps; /* rule indices named, each once */
	size_t ndeps;
};

/* How a name in an expression is resolved: 1 and an index for a rule,
 * 0 and a value for a constant. */
typedef int spam_expr_name_cb(void *ctx, const char *name, size_t *index_r,
                              double *value_r);

/* The tokens of an expression as SpamAssassin's lexer cuts them
 * (spam_rules_expr.c); shared with the checks and if lines
 * (spam_rules_meta.c, spam_rules_cond.c). */
enum spam_tok_type {
	SPAM_TOK_NUMISH = 0, /* [-+\d.]+ as lexed */
	SPAM_TOK_NUM,
	SPAM_TOK_NAME,
	SPAM_TOK_VALUE, /* a constant an if line's function call became */
	SPAM_TOK_LP,
	SPAM_TOK_RP,
	SPAM_TOK_OROR,
	SPAM_TOK_ANDAND,
	SPAM_TOK_XOR,
	SPAM_TOK_NOT,
	SPAM_TOK_GE,
	SPAM_TOK_GT,
	SPAM_TOK_LE,
	SPAM_TOK_LT,
	SPAM_TOK_EQ,
	SPAM_TOK_NE,
	SPAM_TOK_MUL,
	SPAM_TOK_DIV,
	SPAM_TOK_PLUS,
	SPAM_TOK_MINUS,
	SPAM_TOK_QUEST,
	SPAM_TOK_COLON,
	SPAM_TOK_END,
};

struct spam_tok {
	enum spam_tok_type type;
	const char *s;
	size_t len;
	double value; /* SPAM_TOK_NUM, SPAM_TOK_VALUE */
};

struct spam_toks {
	struct spam_tok *toks;
	size_t n;
	size_t cap;
};

/* Cuts text into toks (appended); -1 when there are too many. */
int spam_toks_lex(const char *text, struct spam_toks *l);
/* The [-+\d.]+ tokens made numbers or sign operators; -1 for one Perl
 * would not parse (signed_ok: "-1" is a number, as on if lines). */
int spam_toks_classify(struct spam_toks *l, int signed_ok);
/* Whether s is \d+(\.\d+)? (with a sign when signed_ok). */
int spam_toks_number(const char *s, size_t len, int signed_ok);
/* Parses the tokens into e, names resolved by cb.  Returns 0, or -1
 * with a static reason. */
int spam_toks_parse(struct spam_toks *l, spam_expr_name_cb *cb, void *ctx,
                    struct spam_expr *e, const char **error_r);

/* Compiles a meta rule's expression, the whole of text, as Perl would
 * take it.  Returns 0, or -1 with a static reason. */
int spam_expr_compile(const char *text, spam_expr_name_cb *cb, void *ctx,
                      struct spam_expr *e, const char **error_r);
void spam_expr_deinit(struct spam_expr *e);
/* The expression's value with rule i worth values[i]; *divzero_r set
 * to 1 (when not NULL) after a division by zero, which yields 0. */
double spam_expr_eval(const struct spam_expr *e, const double *values,
                      int *divzero_r);
/* SpamAssassin's is_meta_valid(): syntax, and no division by zero with
 * every rule 0.  Returns 0, or -1 with a static reason. */
int spam_expr_check(const char *text, const char **error_r);
/* An if line's condition; 1 true, 0 false (also when it does not
 * parse, as SpamAssassin takes it). */
int spam_cond_eval(const struct spam_load *ld, const char *text);
/* text with each rules_matching(GLOB) replaced by the sum of the names
 * matching it (but self), as SpamAssassin expands it; allocated. */
char *spam_expr_expand(const char *text, const char *self,
                       const char *const *names, size_t nnames);

/*
 * The compiled set
 */

#define SPAM_RULE_PLACEHOLDER SPAM_RULE_KINDS /* named by a meta only */

/* Rule flags */
#define SPAM_RF_MULTIPLE  0x01
#define SPAM_RF_NOSUBJECT 0x02
#define SPAM_RF_NEG       0x04 /* header !~ */
#define SPAM_RF_EXISTS    0x08 /* header exists: */
#define SPAM_RF_RAN       0x10 /* placeholder SpamAssassin would run */
#define SPAM_RF_ATOMS     0x20 /* runs only where its prefilter says */
#define SPAM_RF_JIT       0x40 /* its regex has JIT code */

struct spam_rule {
	char *name;
	char *describe; /* "" when none */
	int kind;       /* enum spam_rule_kind or SPAM_RULE_PLACEHOLDER */
	double score;
	unsigned int flags;
	unsigned int maxhits; /* 0: no limit */
	pcre2_code *re;
	char *src; /* the pattern compiled, while building */
	unsigned int options;
	char *hdr;
	enum spam_hdr_form form;
	char *unset;
	struct spam_expr meta;
};

struct spam_skip {
	const char *reason; /* static */
	size_t n;
};

#define SPAM_SKIP_REASONS 16

struct spam_ruleset {
	struct spam_rule *rules; /* sorted by name */
	size_t nrules;
	/* per kind, the rules to run; header rules by field */
	size_t *run[SPAM_RULE_KINDS];
	size_t nrun[SPAM_RULE_KINDS];
	/* per kind, the prefilter of the rules with atoms, or NULL */
	struct spam_prefilter *pf[SPAM_RULE_KINDS];
	/* meta rules in dependency order */
	size_t *metas;
	size_t nmetas;
	size_t counts[SPAM_RULE_KINDS];
	struct spam_skip skips[SPAM_SKIP_REASONS];
	size_t nskips;
	size_t meta_unknown; /* names metas use that nothing defines */
	size_t settings_ignored;
	size_t lines_bad;
	unsigned int match_limit;
};

/* Builds the set from what ld read; ld keeps nothing the set needs.
 * Returns NULL with ld->error set when it cannot. */
struct spam_ruleset *spam_rules_build(struct spam_load *ld);
/* Counts one skip for reason (static text). */
void spam_rules_skip(struct spam_ruleset *rs, const char *reason);
/* The index of the rule called name, or (size_t)-1. */
size_t spam_rules_find(const struct spam_ruleset *rs, const char *name);
/* Whether name is one of spam_rules_fact_names. */
int spam_rules_is_fact(const char *name);

/* Text helpers of the rule files' grammar (spam_rules_parse.c): ASCII
 * white space; skip it; the next word of *sp, NUL-terminated in place,
 * *sp moved past the white space after it; whether s is in the
 * NULL-terminated list. */
int spam_rules_is_space(int c);
char *spam_rules_skip_space(char *s);
char *spam_rules_next_word(char **sp);
int spam_rules_in_list(const char *const *list, const char *s);
/* [A-Za-z0-9_] and [0-9] (spam_rules_expr.c). */
int spam_rules_is_word(int c);
int spam_rules_is_digit(int c);

#endif
