/*
 * postern_score.c - `postern score`: score messages from files.
 *
 *   postern score [-c FILE | -r RULES... [-p PLUGIN...]] [-F FACT...]
 *                 [-o] [-a | -l | -q] [-n REPEAT] MESSAGE...
 *
 * Runs the rules of a configuration's spam filter (-c), or rule files
 * named directly (-r, with -p for the plugins ifplugin treats as
 * loaded), over message files and prints each total with the rules hit,
 * as `spamassassin -t` does.  -F states a fact (SPF_FAIL ...) the other
 * filters would have established; -o judges with the outbound
 * thresholds.  -a prints every rule hit, sub-rules included, in a form
 * for scripts; -l lists the rules loaded; -q prints only the scoring
 * rate (with -n REPEAT, for benchmarks).  Exit 0, or 2 on a usage or
 * load error or an unreadable message.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "filters/filter_spam.h"
#include "filters/spam_msg.h"
#include "filters/spam_rules.h"
#include "proxy/config.h"
#include "proxy/postern_score.h"
#include "util/xalloc.h"

#define SCORE_LIST_MAX 256
#define SCORE_FILE_MAX (64 * 1024 * 1024)

enum score_output { OUT_REPORT, OUT_ALL, OUT_LIST, OUT_QUIET };

struct score_args {
	const char *config;
	const char *rules[SCORE_LIST_MAX];
	size_t nrules;
	const char *plugins[SCORE_LIST_MAX];
	size_t nplugins;
	const char *facts[SCORE_LIST_MAX];
	size_t nfacts;
	int outbound;
	enum score_output out;
	unsigned long repeat;
};

struct score_ctx {
	struct config *cfg;            /* with -c */
	struct spam_ruleset *own;      /* with -r */
	const struct spam_ruleset *rs; /* either */
	struct filter_spam_thresholds th;
	unsigned long scored;
	double seconds;
};

static void
score_usage(void)
{
	fprintf(stderr,
	        "usage: postern score [-c file | -r rules... [-p plugin...]] "
	        "[-F fact...] [-o]\n"
	        "                     [-a | -l | -q] [-n repeat] message...\n");
	exit(2);
}

static void
list_add(const char **list, size_t *n, const char *s)
{
	if (*n >= SCORE_LIST_MAX) {
		fprintf(stderr, "postern score: too many -r, -p or -F\n");
		exit(2);
	}
	list[(*n)++] = s;
}

/* A fact postern knows, or exit 2: a typo must not score nothing. */
static void
fact_check(const char *name)
{
	size_t i;

	for (i = 0; spam_rules_fact_names[i] != NULL; i++) {
		if (strcmp(spam_rules_fact_names[i], name) == 0)
			return;
	}
	fprintf(stderr, "postern score: unknown fact '%s' (known:", name);
	for (i = 0; spam_rules_fact_names[i] != NULL; i++)
		fprintf(stderr, " %s", spam_rules_fact_names[i]);
	fprintf(stderr, ")\n");
	exit(2);
}

static void
score_parse(int argc, char **argv, struct score_args *a)
{
	char *end;
	int ch;

	memset(a, 0, sizeof(*a));
	a->repeat = 1;
	while ((ch = getopt(argc, argv, "c:r:p:F:oalqn:h")) != -1) {
		switch (ch) {
		case 'c':
			a->config = optarg;
			break;
		case 'r':
			list_add(a->rules, &a->nrules, optarg);
			break;
		case 'p':
			list_add(a->plugins, &a->nplugins, optarg);
			break;
		case 'F':
			fact_check(optarg);
			list_add(a->facts, &a->nfacts, optarg);
			break;
		case 'o':
			a->outbound = 1;
			break;
		case 'a':
			a->out = OUT_ALL;
			break;
		case 'l':
			a->out = OUT_LIST;
			break;
		case 'q':
			a->out = OUT_QUIET;
			break;
		case 'n':
			errno = 0;
			a->repeat = strtoul(optarg, &end, 10);
			if (*end != '\0' || errno != 0 || a->repeat == 0)
				score_usage();
			break;
		default:
			score_usage();
		}
	}
	if ((a->config != NULL) == (a->nrules > 0))
		score_usage(); /* exactly one source of rules */
}

/* Rules and thresholds from -c or from -r. */
static int
score_load(const struct score_args *a, struct score_ctx *c)
{
	struct spam_rules_opts ro = {a->plugins, a->nplugins, 0};
	static const struct filter_spam_thresholds dflt = {5.0, FILTER_SPAM_OFF,
	                                                   15.0};
	char *error = NULL;

	if (a->config != NULL) {
		c->cfg = config_load(a->config, &error);
		if (c->cfg != NULL && c->cfg->spam == NULL)
			error = xasprintf("%s: no spam filter", a->config);
		if (error == NULL) {
			c->rs = filter_spam_rules(c->cfg->spam);
			c->th =
			    *filter_spam_thresholds(c->cfg->spam, a->outbound);
		}
	} else {
		c->own = spam_rules_load(a->rules, a->nrules, &ro, &error);
		c->rs = c->own;
		c->th = dflt;
	}
	if (error == NULL)
		return 0;
	fprintf(stderr, "postern score: %s\n", error);
	free(error);
	return -1;
}

/* The message in path, or NULL with errno set.  Beyond SCORE_FILE_MAX
 * octets the rest is not read, as postern would never take it. */
static char *
file_read(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	size_t len = 0, n, size = 65536;
	struct stat st;
	char *buf;

	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) < 0)
		st.st_mode = 0;
	if (!S_ISREG(st.st_mode)) {
		fclose(f);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return NULL;
	}
	buf = xmalloc(size);
	while ((n = fread(buf + len, 1, size - len, f)) > 0) {
		len += n;
		if (len == size && size < SCORE_FILE_MAX) {
			size *= 2;
			buf = xrealloc(buf, size);
		} else if (len == size) {
			break; /* the rest is beyond what postern would take */
		}
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	*len_r = len;
	return buf;
}

static void
print_report(const char *path, const struct spam_result *r,
             const struct score_ctx *c)
{
	enum filter_spam_action act = filter_spam_decide(&c->th, r->score);
	size_t i;

	printf("%s: score=%.1f required=", path, r->score);
	if (c->th.tag == FILTER_SPAM_OFF)
		printf("off");
	else
		printf("%.1f", c->th.tag);
	printf(" action=%s\n", filter_spam_action_name(act));
	printf(" pts rule name              description\n"
	       "---- ---------------------- "
	       "--------------------------------------------------\n");
	for (i = 0; i < r->nhits; i++) {
		double pts = r->hits[i].score;

		/* Four columns, as spamassassin -t: 1000, 99.9, -0.1 */
		printf(pts >= 99.95 || pts <= -9.95 ? "%4.0f" : "%4.1f", pts);
		printf(" %-22s %s\n", r->hits[i].name, r->hits[i].describe);
	}
}

/* Kinds by name, for -a (the rule set knows them; hits do not). */
struct kind_map {
	const char **names;
	enum spam_rule_kind *kinds;
	size_t n, size;
};

static void
kind_collect(void *arg, const char *name, enum spam_rule_kind kind,
             double score, const char *describe)
{
	struct kind_map *m = arg;

	if (m->n == m->size) {
		m->size = m->size ? m->size * 2 : 1024;
		m->names = xreallocarray(m->names, m->size, sizeof(*m->names));
		m->kinds = xreallocarray(m->kinds, m->size, sizeof(*m->kinds));
	}
	m->names[m->n] = name;
	m->kinds[m->n++] = kind;
}

/* The kind of a rule; the walk gives names in order, so bisect. */
static const char *
kind_of(const struct kind_map *m, const char *name)
{
	size_t lo = 0, hi = m->n, mid;
	int cmp;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(m->names[mid], name);
		if (cmp == 0)
			return spam_rules_kind_name(m->kinds[mid]);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return "unknown";
}

static void
print_all(const char *path, const struct spam_result *r,
          const struct kind_map *m)
{
	size_t i;

	printf("message %s score=%.3f match_limited=%u\n", path, r->score,
	       r->match_limited);
	for (i = 0; i < r->nhits; i++)
		printf("hit %s kind=%s score=%g count=%u\n", r->hits[i].name,
		       kind_of(m, r->hits[i].name), r->hits[i].score,
		       r->hits[i].count);
}

static void
print_rule(void *arg, const char *name, enum spam_rule_kind kind, double score,
           const char *describe)
{
	printf("rule %s kind=%s score=%g\n", name, spam_rules_kind_name(kind),
	       score);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Score one file repeat times; print per the output mode. */
static int
score_file(const char *path, const struct score_args *a, struct score_ctx *c,
           const struct kind_map *m)
{
	enum spam_report rep =
	    a->out == OUT_ALL ? SPAM_REPORT_ALL : SPAM_REPORT_SCORED;
	struct spam_result r;
	struct spam_msg *msg;
	const char *facts[SCORE_LIST_MAX + 1];
	unsigned long i;
	size_t nfacts;
	double t0;
	size_t len;
	char *data = file_read(path, &len);

	if (data == NULL) {
		fprintf(stderr, "postern score: %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	memcpy(facts, a->facts, a->nfacts * sizeof(facts[0]));
	for (i = 0; i < a->repeat; i++) {
		t0 = now_seconds();
		msg = spam_msg_new(data, len);
		nfacts = a->nfacts;
		if (spam_msg_truncated(msg))
			facts[nfacts++] = "MIME_TRUNCATED";
		spam_rules_score(c->rs, msg, facts, nfacts, rep, &r);
		spam_msg_free(&msg);
		c->seconds += now_seconds() - t0;
		c->scored++;
		if (i + 1 == a->repeat && a->out == OUT_REPORT)
			print_report(path, &r, c);
		else if (i + 1 == a->repeat && a->out == OUT_ALL)
			print_all(path, &r, m);
		spam_result_deinit(&r);
	}
	free(data);
	return 0;
}

int
postern_score_main(int argc, char **argv)
{
	struct score_ctx c = {0};
	struct kind_map m = {0};
	struct score_args a;
	int i, rc = 0;

	score_parse(argc, argv, &a);
	if (a.out != OUT_LIST && optind >= argc)
		score_usage();
	if (score_load(&a, &c) < 0)
		return 2;
	if (a.out == OUT_LIST)
		spam_rules_each(c.rs, print_rule, NULL);
	if (a.out == OUT_ALL)
		spam_rules_each(c.rs, kind_collect, &m);
	for (i = optind; a.out != OUT_LIST && i < argc; i++) {
		if (score_file(argv[i], &a, &c, &m) < 0)
			rc = 2;
	}
	if (a.out == OUT_QUIET)
		printf("scored=%lu seconds=%.3f rate=%.1f\n", c.scored,
		       c.seconds, c.seconds > 0 ? c.scored / c.seconds : 0.0);
	free(m.names);
	free(m.kinds);
	spam_rules_free(&c.own);
	if (c.cfg != NULL)
		config_unref(&c.cfg);
	return rc;
}
