/*
 * filter_spam.h - rule-based spam scoring at end of message.
 *
 * Scores each message with a SpamAssassin-language rule set
 * (spam_rules.h) over its decoded views (spam_msg.h), adding the facts
 * the filters before it stated (SPF_FAIL, DKIM_VALID, DMARC_REJECT ...),
 * and acts on the total against thresholds: tag it (X-Spam-Flag,
 * X-Spam-Status, an optional Subject prefix), hold it for review, or
 * reject it with 550 5.7.1.  Outbound mail has its own thresholds.  The
 * scan runs on the worker pool.  X-Spam-* fields of the names postern
 * writes that arrive with the message are removed first.
 */
#ifndef POSTERN_FILTER_SPAM_H
#define POSTERN_FILTER_SPAM_H

#include <stddef.h>

struct filter_chain;
struct filter_txn;
struct spam_ruleset;
struct spam_result;

#define FILTER_SPAM_OFF (-1.0) /* a threshold that never triggers */

/* Scores at or above which each action applies; FILTER_SPAM_OFF for
 * none.  The strongest action reached wins. */
struct filter_spam_thresholds {
	double tag;
	double hold;
	double reject;
};

enum filter_spam_action {
	FILTER_SPAM_NONE = 0,
	FILTER_SPAM_TAG,
	FILTER_SPAM_HOLD,
	FILTER_SPAM_REJECT,
};

struct filter_spam_opts {
	const char *const *rules; /* files or directories, in order */
	size_t nrules;
	const char *const *plugins; /* for ifplugin */
	size_t nplugins;
	unsigned int match_limit; /* 0: spam_rules' default */
	size_t max_size;          /* larger messages are not scanned */
	struct filter_spam_thresholds inbound;
	struct filter_spam_thresholds outbound;
	const char *subject_tag; /* prefix for tagged subjects; NULL: off */
};

struct filter_spam;

/* Load the rules.  NULL with an allocated reason when they cannot be
 * used at all (spam_rules_load()). */
struct filter_spam *filter_spam_new(const struct filter_spam_opts *opts,
                                    char **error_r);
void filter_spam_free(struct filter_spam **fs);

/* Append the filter; fs is handed over to the chain. */
void filter_spam_add(struct filter_chain *chain, struct filter_spam *fs);

const struct spam_ruleset *filter_spam_rules(const struct filter_spam *fs);
const struct filter_spam_thresholds *
filter_spam_thresholds(const struct filter_spam *fs, int outbound);

/* The action a total earns under th. */
enum filter_spam_action
filter_spam_decide(const struct filter_spam_thresholds *th, double score);
/* "none", "tag", "hold", "reject" */
const char *filter_spam_action_name(enum filter_spam_action a);

/*
 * The facts a transaction supports for scoring, from postern's own
 * results (t->auth) and the facts filters stated (t->facts).  Fills
 * facts[] with static names; returns the count (at most max).
 */
size_t filter_spam_facts(const struct filter_txn *t, const char **facts,
                         size_t max);

#endif
