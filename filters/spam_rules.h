/*
 * spam_rules.h - SpamAssassin rule files, compiled, and scoring with them.
 *
 * Reads rule files in SpamAssassin's language (header, body, rawbody,
 * uri, full, meta, score, describe, tflags, if/ifplugin/else/endif,
 * include) into an immutable rule set whose regexes are compiled once
 * with PCRE2 and its JIT, with a match limit so that no rule can hang a
 * session.  A rule postern cannot run (an eval: test, a plugin's rule
 * type, a regex PCRE2 refuses, a meta naming a rule that does not
 * exist) is skipped and counted by kind and reason, never fatal.
 *
 * The results of postern's other filters are rules too: "facts" such
 * as SPF_FAIL or DKIM_VALID that the caller states true or false for
 * each message.  A rule file gives them scores and descriptions like
 * any rule (`score SPF_FAIL 0.9`), and meta rules may use them; an
 * `eval:` definition of a fact's name is taken as declaring the fact.
 *
 * Scoring uses score set 0 (no network tests, no Bayes), as
 * `spamassassin -L` with Bayes off does.  A rule set is read-only once
 * loaded and may score messages on several threads at once.
 */
#ifndef POSTERN_SPAM_RULES_H
#define POSTERN_SPAM_RULES_H

#include <stddef.h>

struct spam_msg;

enum spam_rule_kind {
	SPAM_RULE_HEADER = 0,
	SPAM_RULE_BODY,
	SPAM_RULE_RAWBODY,
	SPAM_RULE_URI,
	SPAM_RULE_FULL,
	SPAM_RULE_META,
	SPAM_RULE_FACT, /* a result of another filter */
	SPAM_RULE_KINDS
};

struct spam_ruleset;

/* Settings for loading; zero means the default. */
struct spam_rules_opts {
	/* Plugin names (as in `ifplugin Mail::SpamAssassin::Plugin::SPF`
	 * or the short form "SPF") that ifplugin and `if plugin(...)`
	 * treat as loaded.  Rules inside a block for a plugin that is not
	 * loaded are left out, as SpamAssassin leaves them out. */
	const char *const *plugins;
	size_t nplugins;
	/* PCRE2 match limit per match; default 100000. */
	unsigned int match_limit;
};

/*
 * Load the rule files in order (later files override scores and
 * descriptions, as SpamAssassin's do).  An entry naming a directory
 * stands for every *.cf file in it, sorted by name.  Returns NULL with
 * an allocated "file:line: reason" only for errors that make the whole
 * set unusable (a file that cannot be read, an include loop or
 * nesting too deep); everything else is a counted skip.
 */
struct spam_ruleset *spam_rules_load(const char *const *files, size_t nfiles,
                                     const struct spam_rules_opts *opts,
                                     char **error_r);
void spam_rules_free(struct spam_ruleset **rs);

/* Rules loaded of a kind (rules with score 0 included); rules skipped
 * for a reason ("eval", "plugin-type", "regex", "syntax",
 * "meta-unknown-rule", ...; NULL: all skips). */
size_t spam_rules_count(const struct spam_ruleset *rs,
                        enum spam_rule_kind kind);
size_t spam_rules_skipped(const struct spam_ruleset *rs, const char *reason);

/* One line per kind and one per skip reason, "spam rules: ..." to
 * stdout, for `postern -t`. */
void spam_rules_print_summary(const struct spam_ruleset *rs);

/* "header", "body", "rawbody", "uri", "full", "meta", "fact". */
const char *spam_rules_kind_name(enum spam_rule_kind kind);

/* Call cb for every rule loaded, in name order (for `postern score
 * -l` and the comparison with SpamAssassin). */
typedef void spam_rules_each_cb(void *arg, const char *name,
                                enum spam_rule_kind kind, double score,
                                const char *describe);
void spam_rules_each(const struct spam_ruleset *rs, spam_rules_each_cb *cb,
                     void *arg);

/* The fact names postern knows, NULL-terminated: SPF_PASS, SPF_FAIL,
 * SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE, SPF_TEMPERROR, SPF_PERMERROR,
 * SPF_HELO_PASS, SPF_HELO_FAIL, SPF_HELO_SOFTFAIL, SPF_HELO_NEUTRAL,
 * SPF_HELO_NONE, DKIM_SIGNED, DKIM_VALID, DKIM_VALID_AU, DKIM_INVALID,
 * DMARC_PASS, DMARC_REJECT, DMARC_QUAR, DMARC_NONE, DMARC_MISSING;
 * and MIME_TRUNCATED, the message's MIME structure was too deep or had
 * too many parts to be read whole (the caller asks spam_msg). */
extern const char *const spam_rules_fact_names[];

struct spam_hit {
	const char *name;     /* kept by the rule set */
	const char *describe; /* "" when the rules give none */
	double score;         /* the rule's score (not times count) */
	unsigned int count;   /* matches counted (tflags multiple) */
};

struct spam_result {
	double score;          /* sum of the scores of the rules hit */
	struct spam_hit *hits; /* sorted by name, as X-Spam-Status lists */
	size_t nhits;
	/* Rules that ran out of the match limit (counted as no match). */
	unsigned int match_limited;
};

/* Which hits spam_rules_score() reports. */
enum spam_report {
	SPAM_REPORT_SCORED = 0, /* rules with a non-zero score, no "__" */
	SPAM_REPORT_ALL,        /* every rule that matched, sub-rules too */
};

/*
 * Score message m with the rule set.  facts names the facts that hold
 * for this message (every other fact is false).  Fills *r, which
 * spam_result_deinit() frees.
 */
void spam_rules_score(const struct spam_ruleset *rs, struct spam_msg *m,
                      const char *const *facts, size_t nfacts,
                      enum spam_report report, struct spam_result *r);
void spam_result_deinit(struct spam_result *r);

#endif
