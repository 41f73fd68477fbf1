/*
 * config_spam.c - build the spam filter from its section.
 *
 * Turns a `filter spam` section into filter_spam options: the rule
 * files and plugins, the thresholds (numbers or "off", checked by the
 * parser), the subject tag.  Loading the rules happens here, so a rule
 * file that cannot be read is a configuration error with its reason,
 * while rules postern cannot run are counted and shown by -t.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <confuse.h>

#include "filters/filter_spam.h"
#include "proxy/config.h"
#include "proxy/config_private.h"
#include "util/xalloc.h"

/* A list option as an array of borrowed strings (NULL when empty). */
static const char **
spam_list(cfg_t *sec, const char *name, size_t *n_r)
{
	unsigned int i, n = cfg_size(sec, name);
	const char **v = n > 0 ? xcalloc(n, sizeof(*v)) : NULL;

	for (i = 0; i < n; i++)
		v[i] = cfg_getnstr(sec, name, i);
	*n_r = n;
	return v;
}

/* Rule paths, a relative one taken from the configuration's directory;
 * allocated, as is the array. */
static char **
spam_rule_paths(cfg_t *sec, const char *conf_path, size_t *n_r)
{
	unsigned int i, n = cfg_size(sec, "rules");
	const char *slash = strrchr(conf_path, '/'), *p;
	int dirlen = slash != NULL ? (int)(slash - conf_path) : 1;
	const char *dir = slash != NULL ? conf_path : ".";
	char **v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++) {
		p = cfg_getnstr(sec, "rules", i);
		v[i] = p[0] == '/' ? xstrdup(p)
		                   : xasprintf("%.*s/%s", dirlen, dir, p);
	}
	*n_r = n;
	return v;
}

static double
spam_score(cfg_t *sec, const char *name)
{
	double d = FILTER_SPAM_OFF;

	/* The parser has checked the syntax. */
	(void)config_score_parse(cfg_getstr(sec, name), &d);
	return d;
}

static char *
spam_settings(cfg_t *sec, const struct filter_spam_opts *o)
{
	return xasprintf(
	    "rules %zu plugins %zu match_limit %u max_size %zu tag_score %s "
	    "hold_score %s reject_score %s outbound_tag_score %s "
	    "outbound_hold_score %s outbound_reject_score %s subject_tag %s",
	    o->nrules, o->nplugins, o->match_limit, o->max_size,
	    cfg_getstr(sec, "tag_score"), cfg_getstr(sec, "hold_score"),
	    cfg_getstr(sec, "reject_score"),
	    cfg_getstr(sec, "outbound_tag_score"),
	    cfg_getstr(sec, "outbound_hold_score"),
	    cfg_getstr(sec, "outbound_reject_score"),
	    o->subject_tag != NULL ? o->subject_tag : "off");
}

int
config_quarantine_check(const struct config *cfg, char **error_r)
{
	struct stat st;

	/* Without SMTP listeners only the milter holds, and a milter's
	 * hold goes to the MTA's own queue (smfi_quarantine). */
	if (cfg->nlisteners == 0)
		return 0;
	if (stat(cfg->quarantine_dir, &st) < 0) {
		*error_r = xasprintf("quarantine_dir %s: %s",
		                     cfg->quarantine_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("quarantine_dir %s: not a directory",
		                     cfg->quarantine_dir);
		return -1;
	}
	return 0;
}

/* Thresholds that are on must rise: tag <= hold <= reject. */
static int
spam_order(const struct filter_spam_thresholds *th, const char *prefix,
           char **error_r)
{
	const double v[3] = {th->tag, th->hold, th->reject};
	static const char *const name[3] = {"tag_score", "hold_score",
	                                    "reject_score"};
	int i, j;

	for (i = 0; i < 3; i++) {
		for (j = i + 1; j < 3; j++) {
			if (v[i] == FILTER_SPAM_OFF ||
			    v[j] == FILTER_SPAM_OFF || v[i] <= v[j])
				continue;
			*error_r =
			    xasprintf("%s%s %g is above %s%s %g", prefix,
			              name[i], v[i], prefix, name[j], v[j]);
			return -1;
		}
	}
	return 0;
}

/* The settings that make sense together, before the rules load. */
static int
spam_check(const struct config *cfg, const struct filter_spam_opts *o,
           char **error_r)
{
	if (o->nrules == 0) {
		*error_r = xstrdup("rules: no rule files given");
		return -1;
	}
	if (spam_order(&o->inbound, "", error_r) < 0 ||
	    spam_order(&o->outbound, "outbound_", error_r) < 0)
		return -1;
	if (o->inbound.hold != FILTER_SPAM_OFF ||
	    o->outbound.hold != FILTER_SPAM_OFF)
		return config_quarantine_check(cfg, error_r);
	return 0;
}

int
config_make_spam(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                 char **settings_r, char **error_r)
{
	struct filter_spam_opts o = {
	    .match_limit = (unsigned int)cfg_getint(sec, "match_limit"),
	    .max_size = (size_t)cfg_getint(sec, "max_size"),
	    .inbound = {spam_score(sec, "tag_score"),
	                spam_score(sec, "hold_score"),
	                spam_score(sec, "reject_score")},
	    .outbound = {spam_score(sec, "outbound_tag_score"),
	                 spam_score(sec, "outbound_hold_score"),
	                 spam_score(sec, "outbound_reject_score")},
	    .subject_tag = cfg_getstr(sec, "subject_tag"),
	};
	const char **plugins;
	char **rules;
	struct filter_spam *fs;
	size_t i;

	rules = spam_rule_paths(sec, cfg->path, &o.nrules);
	plugins = spam_list(sec, "plugins", &o.nplugins);
	o.rules = (const char *const *)rules;
	o.plugins = plugins;
	fs = spam_check(cfg, &o, error_r) < 0 ? NULL
	                                      : filter_spam_new(&o, error_r);
	if (fs != NULL) {
		*settings_r = spam_settings(sec, &o);
		cfg->spam = fs;
		filter_spam_add(chain, fs);
	}
	for (i = 0; i < o.nrules; i++)
		free(rules[i]);
	free(rules);
	free(plugins);
	return fs != NULL ? 0 : -1;
}
