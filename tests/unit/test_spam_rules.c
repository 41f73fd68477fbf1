/*
 * test_spam_rules.c - SpamAssassin rule files: loading (kinds, skips,
 * scores, conditionals, include, ReplaceTags), meta expressions, and
 * scoring messages (header forms, multiple, facts, the match limit,
 * GTUBE), and Debian's stock rules against SpamAssassin's own counts.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_msg.h"
#include "filters/spam_rules.h"
#include "filters/spam_rules_private.h"
#include "tests/unit/unit.h"

#define SA_RULES   "/usr/share/spamassassin"
#define SA_PRE_DIR "/etc/spamassassin"

/* x * 1000, rounded, for comparing scores */
static long long
milli(double x)
{
	return (long long)(x * 1000 + (x >= 0 ? 0.5 : -0.5));
}

static const char *const kind_names[SPAM_RULE_KINDS] = {
    "header", "body", "rawbody", "uri", "full", "meta", "fact",
};

/* rules as the file rules.cf in the scratch directory, loaded */
static struct spam_ruleset *
load_text(const char *name, const char *rules, const char *const *plugins,
          char **error_r)
{
	struct spam_rules_opts o = {.plugins = plugins};
	const char *path = unit_tmp("rules.cf");
	struct spam_ruleset *rs;

	while (plugins != NULL && plugins[o.nplugins] != NULL)
		o.nplugins++;
	unit_write_text(path, rules);
	rs = spam_rules_load(&path, 1, &o, error_r);
	if (rs == NULL && error_r == NULL)
		print_error("%s: load failed\n", name);
	return rs;
}

static struct spam_ruleset *
load_ok(const char *name, const char *rules, const char *const *plugins)
{
	struct spam_ruleset *rs;
	char *error = NULL;

	rs = load_text(name, rules, plugins, &error);
	if (rs == NULL)
		print_error("%s: load: %s\n", name, error);
	free(error);
	assert_non_null(rs);
	return rs;
}

static const struct spam_rule *
rule_of(const struct spam_ruleset *rs, const char *name)
{
	size_t i = spam_rules_find(rs, name);

	return i == (size_t)-1 ? NULL : &rs->rules[i];
}

/* "header" ... for a rule that runs, "-" for a placeholder, NULL when
 * no rule has the name */
static const char *
kind_of(const struct spam_ruleset *rs, const char *name)
{
	const struct spam_rule *r = rule_of(rs, name);

	if (r == NULL)
		return NULL;
	return r->kind == SPAM_RULE_PLACEHOLDER ? "-" : kind_names[r->kind];
}

/*
 * Kinds and skip reasons
 */

struct count_case {
	const char *name;
	const char *rules;
	size_t kinds[SPAM_RULE_KINDS]; /* facts: 22 unless a rule is one */
	const char *skips;             /* "reason=n ...", all of them */
};

static const struct count_case count_cases[] = {
    {"one rule of each kind",
     "header H From =~ /x/\nbody B /x/i\nrawbody R m{x}\nuri U m!x!\n"
     "full F /x/s\nmeta M H && B\n",
     {1, 1, 1, 1, 1, 1, 22},
     ""},
    {"eval tests skipped, also of other kinds",
     "header A eval:check_foo()\nbody B eval:check_bar('1')\n"
     "rawbody C eval:x()\nfull D eval:y()\nheader E rbleval:check_rbl('a')\n",
     {0, 0, 0, 0, 0, 0, 22},
     "eval=5"},
    {"an eval with bad syntax is syntax",
     "body B eval:check foo\n",
     {0},
     "syntax=1"},
    {"uri takes no eval",
     "uri U eval:foo()\n",
     {0, 0, 0, 0, 0, 0, 22},
     "regex=1"},
    {"regexes postern or Perl refuse",
     "body A /(unclosed/\nbody B missing\nbody C /a/g\nbody D /a/o\n"
     "header E From =~ /x/q\nbody F /a/b/\nbody G /\\x{100}/\n"
     "body H m\\x\\\n",
     {0, 0, 0, 0, 0, 0, 22},
     "regex=8"},
    {"perl delimiters and modifiers taken",
     "body A m{a}i\nbody B m(b)\nbody C m<c>\nbody D m[d]\nbody E m,e,\n"
     "body F m|f|ismx\nbody G qr/g/\nbody H m!h!n\n",
     {0, 8, 0, 0, 0, 0, 22},
     ""},
    {"net tests skipped",
     "body N /x/\ntflags N net\nheader E eval:x()\n"
     "tflags E nice net\n",
     {0, 0, 0, 0, 0, 0, 22},
     "net=2"},
    {"plugin rule types with their plugin loaded",
     "mimeheader M Content-Type =~ /x/\nuri_detail U host =~ /x/\n"
     "askdns A _FROMDOMAIN_ TXT /x/\n",
     {0, 0, 0, 0, 0, 0, 22},
     "plugin-type=3"},
    {"meta syntax errors",
     "meta A B &&\nmeta C (B\nmeta D B C\nmeta E B + -1\nmeta F B ** 2\n"
     "meta G B / 0\nmeta H B / (B - B)\nmeta I $x\nmeta J A::B\n"
     "meta K B - - C\n",
     {0, 0, 0, 0, 0, 1, 22},
     "syntax=9"},
    {"meta cycle and what depends on it",
     "meta A B\nmeta B A\nmeta C A || D\nmeta D 1\nmeta E E\n",
     {0, 0, 0, 0, 0, 1, 22},
     "meta-cycle=4"},
    {"meta naming nothing is kept",
     "meta M NOPE && NADA\n",
     {0, 0, 0, 0, 0, 1, 22},
     ""},
    {"capture templates skipped",
     "body T /foo %{BAR}/\nbody U /\\%{BAR}/\n",
     {0, 1, 0, 0, 0, 0, 22},
     "capture=1"},
    {"header modifiers spam_msg lacks skipped",
     "header A From:first =~ /x/\nheader B From:addr:raw =~ /x/\n"
     "header C From:bogus =~ /x/\n",
     {1, 0, 0, 0, 0, 0, 22},
     "syntax=1 header-modifier=1"},
    {"later definitions replace earlier",
     "body A /x/\nheader A From =~ /y/\nmeta B 1\nbody B /z/\n",
     {1, 1, 0, 0, 0, 0, 22},
     ""},
    {"a refused definition keeps the earlier",
     "body A /x/\nbody A /y/q\n",
     {0, 1, 0, 0, 0, 0, 22},
     ""},
    {"a fact's eval: declares the fact; a meta keeps its kind",
     "header SPF_FAIL eval:check_for_spf_fail()\nmeta DKIM_INVALID 1\n",
     {0, 0, 0, 0, 0, 1, 21},
     ""},
    {"languages other than en skipped",
     "lang de body A /x/\nlang en body B /x/\nlang en_US body C /x/\n"
     "lang fr_FR body D /x/\n",
     {0, 2, 0, 0, 0, 0, 22},
     ""},
    {"comments and escaped hashes",
     "body A /a\\#b/ # comment\n# body B /x/\n"
     "  body C /c/  \n",
     {0, 2, 0, 0, 0, 0, 22},
     ""},
    {"bad rule names not taken", "body 1A /x/\nbody A-B /x/\n", {0}, ""},
};

static const char *const count_plugins[] = {"MIMEHeader", "URIDetail", "AskDNS",
                                            NULL};

/* "reason=n ..." of every skip reason */
static void
check_skips(const char *name, const struct spam_ruleset *rs, const char *want)
{
	char buf[256] = "", item[64];
	const char *reasons[] = {
	    "eval",       "net",     "plugin-type",     "regex", "syntax",
	    "meta-cycle", "capture", "header-modifier", NULL};
	size_t i, n;

	for (i = 0; reasons[i] != NULL; i++) {
		n = spam_rules_skipped(rs, reasons[i]);
		if (n == 0)
			continue;
		snprintf(item, sizeof(item), "%s%s=%zu", buf[0] ? " " : "",
		         reasons[i], n);
		strcat(buf, item);
	}
	check_str(name, "skips", buf, want);
}

static void
test_counts(void **state)
{
	const struct count_case *c;
	struct spam_ruleset *rs;
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(count_cases); i++) {
		c = &count_cases[i];
		rs = load_ok(c->name, c->rules, count_plugins);
		for (k = 0; k < SPAM_RULE_KINDS; k++) {
			size_t want = c->kinds[k];

			if (k == SPAM_RULE_FACT && want == 0)
				want = 22; /* every fact postern knows */
			check_int(c->name, kind_names[k],
			          (long long)spam_rules_count(rs, k),
			          (long long)want);
		}
		check_skips(c->name, rs, c->skips);
		spam_rules_free(&rs);
		assert_null(rs);
	}
}

/*
 * Scores, descriptions, flags
 */

struct score_case {
	const char *name;
	const char *rules;
	const char *rule;
	double score;
	const char *describe;
};

static const struct score_case score_cases[] = {
    {"one value", "body A /x/\nscore A 2.5\n", "A", 2.5, ""},
    {"four values: score set 0", "body A /x/\nscore A 0 1.5 2 3\n", "A", 0, ""},
    {"score before the rule", "score A -1.25\nbody A /x/\n", "A", -1.25, ""},
    {"the last score line wins", "body A /x/\nscore A 1\nscore A 3\n", "A", 3,
     ""},
    {"relative score", "body A /x/\nscore A 1\nscore A (0.5)\n", "A", 1.5, ""},
    {"relative without a score before is refused",
     "body A /x/\nscore A (0.5)\n", "A", 1, ""},
    {"no score: 1.0", "body A /x/\n", "A", 1, ""},
    {"no score, T_: 0.01", "body T_A /x/\n", "T_A", 0.01, ""},
    {"no score, nice: -1.0", "body A /x/\ntflags A nice\n", "A", -1, ""},
    {"no score for a sub-rule: 1.0", "body __A /x/\n", "__A", 1, ""},
    {"bad score values ignored",
     "body A /x/\nscore A 1 2\nscore A x\n"
     "score A +1\nscore A .5\n",
     "A", 1, ""},
    {"describe, later one wins",
     "body A /x/\ndescribe A first\ndescribe A Second text\n", "A", 1,
     "Second text"},
    {"fact without a score: 0", "meta M SPF_FAIL\n", "SPF_FAIL", 0, ""},
    {"fact scored by a score line", "score SPF_FAIL 3.5\n", "SPF_FAIL", 3.5,
     ""},
    {"fact declared by eval: gets the default",
     "header SPF_FAIL eval:check_for_spf_fail()\n", "SPF_FAIL", 1, ""},
};

static void
test_scores(void **state)
{
	const struct score_case *c;
	const struct spam_rule *r;
	struct spam_ruleset *rs;
	size_t i;

	for (i = 0; i < ARRAY_LEN(score_cases); i++) {
		c = &score_cases[i];
		rs = load_ok(c->name, c->rules, NULL);
		r = rule_of(rs, c->rule);
		assert_non_null(r);
		check_int(c->name, "score x1000", milli(r->score),
		          milli(c->score));
		check_str(c->name, "describe", r->describe, c->describe);
		spam_rules_free(&rs);
	}
}

#define TFLAG_BITS (SPAM_RF_MULTIPLE | SPAM_RF_NOSUBJECT)

static void
test_tflags(void **state)
{
	const char *rules =
	    "body A /x/\ntflags A multiple maxhits=3 nosubject\n"
	    "body B /x/\ntflags B nomultiple maxhits=2\n"
	    "body C /x/\ntflags C multiple,maxhits=7\n"
	    "body D /x/\ntflags D multiple maxhits=2x\n";
	struct spam_ruleset *rs = load_ok("tflags", rules, NULL);

	check_int("tflags A", "flags", rule_of(rs, "A")->flags & TFLAG_BITS,
	          SPAM_RF_MULTIPLE | SPAM_RF_NOSUBJECT);
	check_int("tflags A", "maxhits", rule_of(rs, "A")->maxhits, 3);
	check_int("tflags B", "flags", rule_of(rs, "B")->flags & TFLAG_BITS, 0);
	check_int("tflags C", "maxhits", rule_of(rs, "C")->maxhits, 7);
	check_int("tflags D", "maxhits", rule_of(rs, "D")->maxhits, 0);
	spam_rules_free(&rs);
}

/*
 * Conditionals
 */

struct cond_case {
	const char *name;
	const char *rules;
	const char *defined; /* "A B" rules that must exist */
	const char *absent;  /* rules that must not */
};

static const char *const cond_plugins[] = {
    "Mail::SpamAssassin::Plugin::ReplaceTags", "DKIM", NULL};

static const struct cond_case cond_cases[] = {
    {"ifplugin, full and short names",
     "ifplugin Mail::SpamAssassin::Plugin::DKIM\nbody A /x/\nendif\n"
     "ifplugin ReplaceTags\nbody B /x/\nendif\n"
     "ifplugin Mail::SpamAssassin::Plugin::SPF\nbody C /x/\nendif\n",
     "A B", "C"},
    {"if plugin() and its negation",
     "if plugin(Mail::SpamAssassin::Plugin::DKIM)\nbody A /x/\nendif\n"
     "if !plugin(Mail::SpamAssassin::Plugin::DKIM)\nbody B /x/\nendif\n"
     "if !(!plugin(Mail::SpamAssassin::Plugin::SPF))\nbody C /x/\nendif\n",
     "A", "B C"},
    {"else",
     "ifplugin Mail::SpamAssassin::Plugin::SPF\nbody A /x/\nelse\n"
     "body B /x/\nendif\n",
     "B", "A"},
    {"nested, else inside a false block stays false",
     "ifplugin Mail::SpamAssassin::Plugin::SPF\n"
     "ifplugin Mail::SpamAssassin::Plugin::DKIM\nbody A /x/\nelse\n"
     "body B /x/\nendif\nbody C /x/\nendif\nbody D /x/\n",
     "D", "A B C"},
    {"nested true blocks",
     "ifplugin DKIM\nif (version >= 3.004000)\nbody A /x/\nelse\nbody B /x/\n"
     "endif\nendif\n",
     "A", "B"},
    {"version comparisons",
     "if (version >= 4.000001)\nbody A /x/\nendif\n"
     "if (version > 4.000001)\nbody B /x/\nendif\n"
     "if (version < 4.000000)\nbody C /x/\nendif\n"
     "if !((version >= 3.003000))\nbody D /x/\nendif\n",
     "A", "B C D"},
    {"can(): features postern has, others false",
     "if can(Mail::SpamAssassin::Conf::feature_bug6558_free)\nbody A /x/\n"
     "endif\nif can(Mail::SpamAssassin::Conf::feature_get_host)\nbody B /x/\n"
     "endif\nif can(Mail::SpamAssassin::Conf::feature_nonesuch)\n"
     "body C /x/\nendif\nif can(Mail::SpamAssassin::Plugin::DKIM::has_arc)\n"
     "body D /x/\nendif\nif can(Mail::SpamAssassin::Plugin::SPF::"
     "has_check_for_spf_errors)\nbody E /x/\nendif\n",
     "A D", "B C E"},
    {"enable_compat and loadplugin lines",
     "enable_compat foo_bar\nloadplugin Mail::SpamAssassin::Plugin::SPF\n"
     "if can(Mail::SpamAssassin::Conf::compat_foo_bar)\nbody A /x/\nendif\n"
     "if !can(Mail::SpamAssassin::Conf::compat_other)\nbody B /x/\nendif\n"
     "ifplugin Mail::SpamAssassin::Plugin::SPF\nbody C /x/\nendif\n",
     "A B C", ""},
    {"a condition that does not parse is false",
     "if (version >=)\nbody A /x/\nendif\nbody B /x/\n", "B", "A"},
    {"stray else and endif are ignored", "endif\nelse\nbody A /x/\n", "A", ""},
    {"an unclosed if ends with its file", "if (0)\nbody A /x/\n", "", "A"},
    {"require_version of another release skips the rest",
     "body A /x/\nrequire_version 3.004006\nbody B /x/\n", "A", "B"},
};

static void
check_names(const char *name, const struct spam_ruleset *rs, const char *list,
            int want)
{
	char *copy = xstrdup(list), *s = copy, *w;

	while ((w = strsep(&s, " ")) != NULL) {
		if (*w == '\0')
			continue;
		if ((kind_of(rs, w) != NULL) != want) {
			print_error("%s: rule %s %s\n", name, w,
			            want ? "missing" : "defined");
			fail();
		}
	}
	free(copy);
}

static void
test_conditionals(void **state)
{
	const struct cond_case *c;
	struct spam_ruleset *rs;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cond_cases); i++) {
		c = &cond_cases[i];
		rs = load_ok(c->name, c->rules, cond_plugins);
		check_names(c->name, rs, c->defined, 1);
		check_names(c->name, rs, c->absent, 0);
		spam_rules_free(&rs);
	}
}

/*
 * Files: include, directories, errors
 */

static void
test_include(void **state)
{
	const char *top = unit_tmp("top.cf");
	struct spam_ruleset *rs;
	char *error = NULL;

	mkdir(unit_tmp("inc"), 0700);
	unit_write_text(unit_tmp("inc/a.cf"), "body A /x/\ninclude b.cf\n");
	unit_write_text(unit_tmp("inc/b.cf"), "body B /x/\nscore A 4\n");
	unit_write_text(top, "include inc/a.cf\nifplugin Nope\n"
	                     "include missing.cf\nendif\n");
	rs = spam_rules_load(&top, 1, NULL, &error);
	assert_non_null(rs);
	check_str("include relative", "A", kind_of(rs, "A"), "body");
	check_str("include relative", "B", kind_of(rs, "B"), "body");
	check_int("include relative", "score",
	          (long long)rule_of(rs, "A")->score, 4);
	spam_rules_free(&rs);

	/* a file included again is read once, as SpamAssassin does */
	unit_write_text(top, "include inc/b.cf\ninclude inc/b.cf\nscore A 1\n"
	                     "include inc/a.cf\n");
	rs = spam_rules_load(&top, 1, NULL, &error);
	assert_non_null(rs);
	check_int("include twice", "score", (long long)rule_of(rs, "A")->score,
	          1);
	spam_rules_free(&rs);
}

struct error_case {
	const char *name;
	const char *top;
	const char *other; /* other.cf */
	const char *error; /* what the reason contains */
};

static const struct error_case error_cases[] = {
    {"include loop, direct", "body A /x/\ninclude top.cf\n", "",
     "include loop"},
    {"include loop through another file", "include other.cf\n",
     "include top.cf\n", "other.cf:1: "},
    {"include of a missing file", "\n\ninclude nonesuch.cf\n", "",
     "top.cf:3: "},
    {"include nesting too deep", "include other.cf\n", "include d1/other.cf\n",
     "include nesting too deep"},
    {"if nesting too deep",
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n"
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n"
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n"
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n"
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n"
     "if 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\nif 1\n",
     "", "if nesting too deep"},
};

static void
test_load_errors(void **state)
{
	const struct error_case *c;
	struct spam_ruleset *rs;
	char top[UNIT_PATH_MAX], missing[UNIT_PATH_MAX], dir[UNIT_PATH_MAX];
	char file[UNIT_PATH_MAX + 16];
	const char *path = top;
	char *error;
	size_t i, d;

	snprintf(top, sizeof(top), "%s", unit_tmp("top.cf"));
	snprintf(missing, sizeof(missing), "%s", unit_tmp("nope.cf"));
	/* d1/other.cf includes d1/d1/other.cf ... twelve deep */
	snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
	for (d = 0; d < 12; d++) {
		strcat(dir, "/d1");
		mkdir(dir, 0700);
		snprintf(file, sizeof(file), "%s/other.cf", dir);
		unit_write_text(file, "include d1/other.cf\n");
	}
	for (i = 0; i < ARRAY_LEN(error_cases); i++) {
		c = &error_cases[i];
		unit_write_text(top, c->top);
		unit_write_text(unit_tmp("other.cf"), c->other);
		error = NULL;
		rs = spam_rules_load(&path, 1, NULL, &error);
		check_int(c->name, "loaded", rs != NULL, 0);
		if (error == NULL || strstr(error, c->error) == NULL) {
			print_error("%s: error \"%s\" lacks \"%s\"\n", c->name,
			            error ? error : "(null)", c->error);
			fail();
		}
		free(error);
	}
	error = NULL;
	path = missing;
	rs = spam_rules_load(&path, 1, NULL, &error);
	assert_null(rs);
	assert_non_null(strstr(error, "nope.cf: cannot read"));
	free(error);
}

static void
test_directory(void **state)
{
	const char *dir = unit_tmp("cfdir");
	struct spam_ruleset *rs;
	char *error = NULL;

	mkdir(dir, 0700);
	unit_write_text(unit_tmp("cfdir/20_b.cf"), "score A 2\nbody B /y/\n");
	unit_write_text(unit_tmp("cfdir/10_a.cf"), "body A /x/\nscore A 1\n");
	unit_write_text(unit_tmp("cfdir/30_c.pre"), "body C /x/\n");
	unit_write_text(unit_tmp("cfdir/40_d.CF"), "score B 5\n");
	rs = spam_rules_load(&dir, 1, NULL, &error);
	assert_non_null(rs);
	check_int("directory", "A score (20_b after 10_a)",
	          (long long)rule_of(rs, "A")->score, 2);
	check_int("directory", "B score (*.CF too)",
	          (long long)rule_of(rs, "B")->score, 5);
	check_int("directory", "C (not .cf)", kind_of(rs, "C") != NULL, 0);
	spam_rules_free(&rs);
}

/*
 * ReplaceTags
 */

static const char *const replace_rules =
    "replace_tag A (?:a|@)\nreplace_tag B (?:b|8)\nreplace_tag AB <A><B>\n"
    "replace_inter W1 \\W?\nreplace_post P2 {1,2}\nreplace_pre PR \\b\n"
    "body R1 /<A><B>c/i\nreplace_rules R1\n"
    "body R2 /<inter W1><A><B>/\nreplace_rules R2\n"
    "body R3 /<post P2><A><B>/\nreplace_rules R3\n"
    "body R4 /<AB>x/\nreplace_rules R4\n"
    "body R5 /<pre PR><A>z/\nreplace_rules R5\n"
    "body R6 /<A><NOPE>/\nreplace_rules R6\n"
    "body R7 /<A>/\n";

struct replace_case {
	const char *rule;
	const char *want; /* NULL: unchanged */
};

static const struct replace_case replace_cases[] = {
    {"R1", "(?:a|@)(?:b|8)c"},
    {"R2", "(?:a|@)\\W?(?:b|8)"},
    {"R3", "(?:a|@){1,2}(?:b|8){1,2}"},
    {"R4", "(?:a|@)(?:b|8)x"},
    {"R5", "\\b(?:a|@)z"},
    {"R6", "(?:a|@)<NOPE>"},
};

static void
test_replace_tags(void **state)
{
	struct spam_rules_opts o = {.plugins = cond_plugins, .nplugins = 2};
	struct spam_load ld = {.opts = &o};
	const struct replace_case *c;
	struct spam_def *d;
	char *got;
	size_t i;

	unit_write_text(unit_tmp("rules.cf"), replace_rules);
	assert_int_equal(spam_load_path(&ld, unit_tmp("rules.cf")), 0);
	for (i = 0; i < ARRAY_LEN(replace_cases); i++) {
		c = &replace_cases[i];
		d = spam_load_def(&ld, c->rule);
		got = spam_replace_tags(&ld, d->pat.re);
		check_str(c->rule, "replaced", got, c->want);
		free(got);
	}
	spam_load_deinit(&ld);
}

static void
test_replace_needs_plugin(void **state)
{
	const char *rules = "replace_tag A (?:a|@)\n"
	                    "body R /x<A>y/\nreplace_rules R\n";
	struct spam_ruleset *rs =
	    load_ok("replace without plugin", rules, NULL);

	/* unknown settings without the plugin; the rule keeps "<A>" */
	check_str("replace without plugin", "R", kind_of(rs, "R"), "body");
	check_int("replace without plugin", "settings ignored",
	          (long long)rs->settings_ignored, 2);
	spam_rules_free(&rs);
}

/*
 * Meta expressions
 */

struct expr_case {
	const char *expr;
	double a, b, c;
	double want;
};

static const struct expr_case expr_cases[] = {
    {"A && B", 1, 1, 0, 1},
    {"A && B", 2, 3, 0, 3}, /* Perl: the last operand */
    {"A && B", 0, 3, 0, 0},
    {"A || B", 0, 5, 0, 5},
    {"A || B", 4, 5, 0, 4},
    {"!A", 0, 0, 0, 1},
    {"!A", 7, 0, 0, 0},
    {"!!A", 7, 0, 0, 1},
    {"A && !(B || C)", 1, 0, 0, 1},
    {"A && !(B || C)", 1, 0, 1, 0},
    {"A + B > 2", 1, 2, 0, 1},
    {"A + B > 2", 1, 1, 0, 0},
    {"(A + B) * 2", 1, 2, 0, 6},
    {"A + B * 2", 1, 2, 0, 5},
    {"A - B - C", 10, 3, 2, 5},
    {"A / B", 3, 2, 0, 1.5},
    {"A / B", 3, 0, 0, 0}, /* division by zero: 0 */
    {"-A + 3", 1, 0, 0, 2},
    {"A +- B", 5, 2, 0, 3},
    {"!A * 2", 0, 0, 0, 2},
    {"A >= 2 && B <= 1 && C == 0", 2, 1, 0, 1},
    {"A != B", 1, 1, 0, 0},
    {"A ? B : C", 1, 2, 3, 2},
    {"A ? B : C", 0, 2, 3, 3},
    {"A ? B ? 7 : 8 : C", 1, 0, 3, 8},
    {"A < B < C", 1, 2, 3, 1}, /* chained, Perl 5.32 */
    {"A < B < C", 1, 3, 2, 0},
    {"A == B == C", 1, 1, 1, 1},
    {"A ^ B", 1, 3, 0, 2},
    {"A > 010", 9, 0, 0, 1}, /* an octal literal, as Perl reads it */
    {"()", 0, 0, 0, 0},
    {"(A || B) && (C || local_tests_only)", 1, 0, 0, 1},
    {"rules_matching(B*) > 1", 1, 1, 0, 0}, /* expanded by the builder */
    {"A+1", 1, 0, 0, 0},                    /* not valid: see below */
};

static int
abc(void *ctx, const char *name, size_t *index_r, double *value_r)
{
	if (strlen(name) == 1 && name[0] >= 'A' && name[0] <= 'C') {
		*index_r = (size_t)(name[0] - 'A');
		return 1;
	}
	*value_r = strcmp(name, "local_tests_only") == 0;
	return 0;
}

static void
test_expressions(void **state)
{
	const struct expr_case *c;
	struct spam_expr e;
	const char *error;
	double values[3];
	char name[80];
	size_t i;

	for (i = 0; i < ARRAY_LEN(expr_cases); i++) {
		c = &expr_cases[i];
		snprintf(name, sizeof(name), "%s with %g %g %g", c->expr, c->a,
		         c->b, c->c);
		if (strstr(c->expr, "rules_matching") != NULL ||
		    strcmp(c->expr, "A+1") == 0)
			continue;
		assert_int_equal(
		    spam_expr_compile(c->expr, abc, NULL, &e, &error), 0);
		values[0] = c->a;
		values[1] = c->b;
		values[2] = c->c;
		check_int(name, "value x1000",
		          milli(spam_expr_eval(&e, values, NULL)),
		          milli(c->want));
		spam_expr_deinit(&e);
	}
}

struct check_case {
	const char *expr;
	int valid;
};

static const struct check_case check_cases[] = {
    {"A && B", 1},
    {"rules_matching(__X_*) >= 2", 1},
    {"A +- B", 1},
    {"A+1", 0}, /* "+1" is one token, which SpamAssassin refuses */
    {"A > -1", 0},
    {"A B", 0},
    {"A &&", 0},
    {"(A", 0},
    {"A)", 0},
    {"", 0},
    {"A & B", 0}, /* "&" is no token: "A B" */
    {"A = B", 0},
    {"A -- B", 0},
    {"A / 0", 0},
    {"A / (B - B)", 0},
    {"A / (B + 1)", 1},
    {"0 && A / B", 1}, /* the division never happens */
    {"A > 09", 0},     /* Perl: illegal octal digit */
    {"$A", 0},
    {"A; B", 0},
    {"A::B", 0},
    {"A->B", 0},
    {"A ? B", 0},
    {"abs(A)", 0},
    {"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
     "A)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
     0}, /* nested too deep */
};

static void
test_expression_checks(void **state)
{
	const struct check_case *c;
	const char *error;
	size_t i;

	for (i = 0; i < ARRAY_LEN(check_cases); i++) {
		c = &check_cases[i];
		check_int(c->expr, "valid",
		          spam_expr_check(c->expr, &error) == 0, c->valid);
	}
}

/*
 * Scoring
 */

static void
score_text(const struct spam_ruleset *rs, const char *msg, const char *facts,
           enum spam_report report, struct spam_result *r)
{
	const char *list[8];
	char *copy = xstrdup(facts != NULL ? facts : ""), *s = copy, *w;
	struct spam_msg *m = spam_msg_new(msg, strlen(msg));
	size_t n = 0;

	while ((w = strsep(&s, " ")) != NULL && n < ARRAY_LEN(list)) {
		if (*w != '\0')
			list[n++] = w;
	}
	spam_rules_score(rs, m, list, n, report, r);
	spam_msg_free(&m);
	free(copy);
}

/* "A B:3 C" of the hits, with counts above 1 */
static char *
hits_text(const struct spam_result *r)
{
	char *out = xstrdup(""), *next;
	size_t i;

	for (i = 0; i < r->nhits; i++) {
		if (r->hits[i].count > 1)
			next = xasprintf("%s%s%s:%u", out, i ? " " : "",
			                 r->hits[i].name, r->hits[i].count);
		else
			next = xasprintf("%s%s%s", out, i ? " " : "",
			                 r->hits[i].name);
		free(out);
		out = next;
	}
	return out;
}

static const char *const msg_plain =
    "Received: from a.example by b.example\n"
    "Received: from c.example by d.example\n"
    "From: \"Alice Example\" <alice@example.org>\n"
    "To: bob@example.net\n"
    "Cc: carol@example.com\n"
    "Subject: Subject line here\n"
    "Message-Id: <abc123@example.org>\n"
    "X-Mailer: TestMailer 1.0\n"
    "\n"
    "The quick brown fox jumps over the lazy dog.\n"
    "foo and foo\n"
    "\n"
    "Second paragraph with foo, see http://www.example.com/path now.\n";

struct score_msg_case {
	const char *name;
	const char *rules;
	const char *facts;
	enum spam_report report;
	const char *hits;
	long long score; /* x1000 */
};

static const struct score_msg_case score_msg_cases[] = {
    /* header forms */
    {"decoded header", "header H Subject =~ /^Subject line/\nscore H 1\n", NULL,
     SPAM_REPORT_SCORED, "H", 1000},
    {"case matters unless /i",
     "header H Subject =~ /^subject/\nheader I Subject =~ /^subject/i\n", NULL,
     SPAM_REPORT_SCORED, "I", 1000},
    {"!~ hits an absent field, =~ /^$/ too",
     "header N X-Nope !~ /x/\nheader E X-Nope =~ /^$/\n"
     "header F Subject !~ /line/\n",
     NULL, SPAM_REPORT_SCORED, "E N", 2000},
    {"if-unset for an absent field",
     "header U X-Nope =~ /^none$/ [if-unset: none]\n"
     "header V Subject =~ /^none$/ [if-unset: none]\n",
     NULL, SPAM_REPORT_SCORED, "U", 1000},
    {"exists:",
     "header X exists:X-Mailer\nheader Y exists:X-Nope\n"
     "header Z exists:x-mailer:\n",
     NULL, SPAM_REPORT_SCORED, "X Z", 2000},
    {":addr and :name",
     "header A From:addr =~ /^alice\\@example\\.org$/\n"
     "header N From:name =~ /^Alice Example$/\n"
     "header R From:raw =~ /\"Alice/\n",
     NULL, SPAM_REPORT_SCORED, "A N R", 3000},
    {"pseudo-headers",
     "header T ToCc =~ /carol\\@example\\.com/\n"
     "header L ALL =~ /^X-Mailer: TestMailer/m\n"
     "header M MESSAGEID =~ /abc123/\n",
     NULL, SPAM_REPORT_SCORED, "L M T", 3000},
    {"header multiple counts each match",
     "header __R Received =~ /from/\ntflags __R multiple\n", NULL,
     SPAM_REPORT_ALL, "__R:2", 0},
    /* body, rawbody, uri, full */
    {"body per paragraph, the Subject first",
     "body B /quick brown fox/\nbody S /^Subject line/\n"
     "body NS /^Subject line/\ntflags NS nosubject\n"
     "body X /lazy dog\\. foo/\n",
     NULL, SPAM_REPORT_SCORED, "B S X", 3000},
    {"body paragraphs are separate", "body P /foo and foo Second/\n", NULL,
     SPAM_REPORT_SCORED, "", 0},
    {"tflags multiple over all paragraphs",
     "body M /foo/\ntflags M multiple\nscore M 0.5\n", NULL, SPAM_REPORT_SCORED,
     "M:3", 500},
    {"maxhits", "body M /foo/\ntflags M multiple maxhits=2\n", NULL,
     SPAM_REPORT_SCORED, "M:2", 1000},
    {"empty matches counted as Perl's m//g",
     "body __E /x*/\ntflags __E multiple\n", NULL, SPAM_REPORT_ALL, "__E:", 0},
    {"rawbody lines", "rawbody R /^foo and foo$/m\n", NULL, SPAM_REPORT_SCORED,
     "R", 1000},
    {"uri",
     "uri U /^http:\\/\\/www\\.example\\.com\\/path/\n"
     "uri V /nope/\n",
     NULL, SPAM_REPORT_SCORED, "U", 1000},
    {"full", "full F /^X-Mailer: TestMailer.*\\n\\nThe quick/m\n", NULL,
     SPAM_REPORT_SCORED, "F", 1000},
    /* scores and reports */
    {"sub-rules never score",
     "body __S /quick/\nscore __S 5\nbody T_A /quick/\n", NULL,
     SPAM_REPORT_SCORED, "T_A", 10},
    {"a zero score: not run, 0 for metas",
     "body Z /quick/\nscore Z 0\nmeta MZ Z\nmeta NZ !Z\n", NULL,
     SPAM_REPORT_SCORED, "NZ", 1000},
    {"report all: sub-rules and zero scores",
     "body Z /quick/\nscore Z 0\nbody __S /quick/\nmeta MZ Z\n", NULL,
     SPAM_REPORT_ALL, "Z __S", 0},
    {"negative scores", "body N /quick/\nscore N -2.5\nbody P /fox/\n", NULL,
     SPAM_REPORT_SCORED, "N P", -1500},
    /* meta rules */
    {"meta boolean",
     "body B /quick/\nbody N /nope/\nmeta M1 B && !N\nmeta M2 B && N\n"
     "meta M3 (N || B) && !(N && B)\n",
     NULL, SPAM_REPORT_SCORED, "B M1 M3", 3000},
    {"meta arithmetic on counts",
     "body __M /foo/\ntflags __M multiple\nmeta A (__M * 2 + 1) > 6\n"
     "meta B __M >= 4\nmeta C __M == 3 && __M - 1 == 2\n",
     NULL, SPAM_REPORT_SCORED, "A C", 2000},
    {"a meta is worth its value to other metas",
     "body __M /foo/\ntflags __M multiple\nmeta __V __M + 1\n"
     "meta W __V == 4\n",
     NULL, SPAM_REPORT_SCORED, "W", 1000},
    {"meta naming undefined and skipped rules",
     "body E eval:foo()\nmeta A !NOPE && !E\nmeta B NOPE || E\n", NULL,
     SPAM_REPORT_SCORED, "A", 1000},
    {"a true meta scored 0 leaves its metas unknown",
     "body B /quick/\nmeta __Z B\nscore __Z 0\nmeta MB __Z || 1\n"
     "meta __Y !B\nscore __Y 0\nmeta MY !__Y\n",
     NULL, SPAM_REPORT_SCORED, "B MY", 2000},
    {"rules_matching()",
     "body __X_1 /quick/\nbody __X_2 /fox/\nbody __X_3 /nope/\n"
     "meta XM rules_matching(__X_*) >= 2\n"
     "meta XN rules_matching(__X_?) >= 3\n",
     NULL, SPAM_REPORT_SCORED, "XM", 1000},
    /* facts */
    {"a fact scores its score and feeds metas",
     "score SPF_FAIL 2\nbody B /quick/\nmeta MF SPF_FAIL && B\n", "SPF_FAIL",
     SPAM_REPORT_SCORED, "B MF SPF_FAIL", 4000},
    {"a fact without a score feeds metas, unreported",
     "meta MF DKIM_VALID\nmeta MG !SPF_PASS\n", "DKIM_VALID",
     SPAM_REPORT_SCORED, "MF MG", 2000},
    {"a fact declared by eval:, unknown fact names ignored",
     "header DMARC_PASS eval:check_dmarc_pass()\nscore DMARC_PASS -1\n",
     "DMARC_PASS NOT_A_FACT", SPAM_REPORT_SCORED, "DMARC_PASS", -1000},
    {"a meta of a fact's name stays the meta",
     "meta DKIM_INVALID DKIM_SIGNED && !DKIM_VALID\n"
     "score DKIM_SIGNED 0.1\n",
     "DKIM_SIGNED DKIM_INVALID", SPAM_REPORT_SCORED, "DKIM_INVALID DKIM_SIGNED",
     1100},
    /* ReplaceTags */
    {"ReplaceTags rule",
     "replace_tag Q (?:q|k)\nbody R /<Q>uick/\nreplace_rules R\n", NULL,
     SPAM_REPORT_SCORED, "R", 1000},
};

static const char *const score_plugins[] = {"ReplaceTags", NULL};

static void
test_score_messages(void **state)
{
	const struct score_msg_case *c;
	struct spam_ruleset *rs;
	struct spam_result r;
	char *hits;
	size_t i;

	for (i = 0; i < ARRAY_LEN(score_msg_cases); i++) {
		c = &score_msg_cases[i];
		rs = load_ok(c->name, c->rules, score_plugins);
		score_text(rs, msg_plain, c->facts, c->report, &r);
		hits = hits_text(&r);
		if (strcmp(c->hits, "__E:") == 0)
			check_int(c->name, "empty matches > 60",
			          r.nhits == 1 && r.hits[0].count > 60, 1);
		else
			check_str(c->name, "hits", hits, c->hits);
		check_int(c->name, "score x1000", milli(r.score), c->score);
		check_int(c->name, "match limited", r.match_limited, 0);
		free(hits);
		spam_result_deinit(&r);
		assert_null(r.hits);
		spam_rules_free(&rs);
	}
}

static void
test_describe_in_hits(void **state)
{
	struct spam_ruleset *rs;
	struct spam_result r;

	rs = load_ok("describe",
	             "body B /quick/\ndescribe B Quick text\n"
	             "body C /fox/\nscore C 2\n",
	             NULL);
	score_text(rs, msg_plain, NULL, SPAM_REPORT_SCORED, &r);
	assert_int_equal(r.nhits, 2);
	check_str("describe", "B", r.hits[0].describe, "Quick text");
	check_str("describe", "C", r.hits[1].describe, "");
	check_int("describe", "C score", (long long)r.hits[1].score, 2);
	spam_result_deinit(&r);
	spam_rules_free(&rs);
}

static void
test_match_limit(void **state)
{
	struct spam_rules_opts o = {.match_limit = 10000};
	const char *path = unit_tmp("rules.cf");
	struct spam_ruleset *rs;
	struct spam_result r;
	char msg[256], *error = NULL;

	unit_write_text(path, "body BT /(a+)+$/\nbody OK /quick/\n"
	                      "header HT Subject !~ /(a+)+$/\n");
	rs = spam_rules_load(&path, 1, &o, &error);
	assert_non_null(rs);
	snprintf(msg, sizeof(msg), "Subject: %s\n\nquick %s\n",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
	score_text(rs, msg, NULL, SPAM_REPORT_SCORED, &r);
	check_int("catastrophic backtracking", "match limited", r.match_limited,
	          2);
	assert_int_equal(r.nhits, 1);
	check_str("catastrophic backtracking", "hit", r.hits[0].name, "OK");
	spam_result_deinit(&r);
	spam_rules_free(&rs);
}

/*
 * GTUBE and the stock rules
 */

static const char *const gtube_rule =
    "body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-ANTI-"
    "UBE-TEST-EMAIL\\*C\\.34X/\n"
    "describe GTUBE Generic Test for Unsolicited Bulk Email\n"
    "score GTUBE 1000\n";

static int
has_hit(const struct spam_result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhits; i++) {
		if (strcmp(r->hits[i].name, name) == 0)
			return 1;
	}
	return 0;
}

static void
score_file(const struct spam_ruleset *rs, const char *name,
           struct spam_result *r)
{
	char *msg;
	size_t len;
	struct spam_msg *m;

	msg = unit_read_file(unit_corpus_path(name), &len);
	m = spam_msg_new(msg, len);
	spam_rules_score(rs, m, NULL, 0, SPAM_REPORT_SCORED, r);
	spam_msg_free(&m);
	free(msg);
}

static void
test_gtube(void **state)
{
	const char *spam = "mail/spamassassin/sample-spam.txt";
	const char *ham = "mail/spamassassin/sample-nonspam.txt";
	struct spam_ruleset *rs;
	struct spam_result r;

	if (!unit_corpus_has(spam) || !unit_corpus_has(ham))
		return;
	rs = load_ok("gtube", gtube_rule, NULL);
	score_file(rs, spam, &r);
	check_int("gtube spam", "score >= 1000", r.score >= 1000, 1);
	assert_int_equal(r.nhits, 1);
	check_str("gtube spam", "hit", r.hits[0].name, "GTUBE");
	spam_result_deinit(&r);
	score_file(rs, ham, &r);
	check_int("gtube ham", "hits", (long long)r.nhits, 0);
	check_int("gtube ham", "score x1000", milli(r.score), 0);
	spam_result_deinit(&r);
	spam_rules_free(&rs);
}

/* Debian's stock rules as SpamAssassin reads them: the .pre files
 * (loadplugin, enable_compat), the rules, the site's .cf files. */
static struct spam_ruleset *
stock_load(void)
{
	const char *files[] = {SA_PRE_DIR "/init.pre",
	                       SA_PRE_DIR "/v310.pre",
	                       SA_PRE_DIR "/v312.pre",
	                       SA_PRE_DIR "/v320.pre",
	                       SA_PRE_DIR "/v330.pre",
	                       SA_PRE_DIR "/v340.pre",
	                       SA_PRE_DIR "/v341.pre",
	                       SA_PRE_DIR "/v342.pre",
	                       SA_PRE_DIR "/v343.pre",
	                       SA_PRE_DIR "/v400.pre",
	                       SA_PRE_DIR "/v401.pre",
	                       SA_RULES,
	                       SA_PRE_DIR};
	const char *use[ARRAY_LEN(files)];
	struct spam_ruleset *rs;
	char *error = NULL;
	size_t i, n = 0;

	if (access(SA_RULES "/50_scores.cf", R_OK) != 0) {
		print_message("%s missing, skipped\n", SA_RULES);
		return NULL;
	}
	for (i = 0; i < ARRAY_LEN(files); i++) {
		if (access(files[i], R_OK) == 0)
			use[n++] = files[i];
	}
	rs = spam_rules_load(use, n, NULL, &error);
	if (rs == NULL)
		print_error("stock rules: %s\n", error);
	free(error);
	assert_non_null(rs);
	return rs;
}

struct range {
	enum spam_rule_kind kind;
	size_t min, max; /* SpamAssassin 4.0.1 reads the number in the middle */
};

static const struct range stock_ranges[] = {
    {SPAM_RULE_HEADER, 740, 800}, /* 769 */
    {SPAM_RULE_BODY, 600, 645},   /* 622 */
    {SPAM_RULE_RAWBODY, 55, 62},  /* 58 */
    {SPAM_RULE_URI, 130, 150},    /* 144 */
    {SPAM_RULE_FULL, 3, 6},       /* 4 */
    {SPAM_RULE_META, 890, 950},   /* 921 */
    {SPAM_RULE_FACT, 18, 22},
};

static void
test_stock_rules(void **state)
{
	struct spam_ruleset *rs = stock_load();
	const struct range *g;
	struct spam_result r;
	size_t i, n;

	if (rs == NULL)
		return;
	spam_rules_print_summary(rs);
	for (i = 0; i < ARRAY_LEN(stock_ranges); i++) {
		g = &stock_ranges[i];
		n = spam_rules_count(rs, g->kind);
		if (n < g->min || n > g->max) {
			print_error("stock rules: %s %zu, want %zu..%zu\n",
			            kind_names[g->kind], n, g->min, g->max);
			fail();
		}
	}
	check_int("stock rules", "regex skips",
	          (long long)spam_rules_skipped(rs, "regex"), 0);
	check_int("stock rules", "syntax skips",
	          (long long)spam_rules_skipped(rs, "syntax"), 0);
	if (unit_corpus_has("mail/spamassassin/sample-spam.txt")) {
		/* GTUBE 1000, and NO_RECEIVED -0.001 as in SpamAssassin */
		score_file(rs, "mail/spamassassin/sample-spam.txt", &r);
		check_int("stock rules on gtube", "score > 999", r.score > 999,
		          1);
		check_int("stock rules on gtube", "GTUBE hit",
		          has_hit(&r, "GTUBE"), 1);
		spam_result_deinit(&r);
	}
	spam_rules_free(&rs);
}

static void
test_summary(void **state)
{
	struct spam_ruleset *rs;
	struct unit_capture cap;
	char *out;

	rs = load_ok("summary",
	             "body A /x/\nbody B eval:x()\nmeta M A\n"
	             "priority A 3\n",
	             NULL);
	unit_capture_start(&cap, 1);
	spam_rules_print_summary(rs);
	out = unit_capture_end(&cap);
	check_str("summary", "output", out,
	          "spam rules: header 0 body 1 rawbody 0 uri 0 full 0 meta 1 "
	          "fact 22\n"
	          "spam rules skipped: eval 1\n"
	          "spam rules ignored: settings 1 bad-lines 0 "
	          "meta-unknown-rule 0\n");
	free(out);
	spam_rules_free(&rs);
}

/*
 * Threads: one set, several scorers
 */

struct worker {
	const struct spam_ruleset *rs;
	double score;
	size_t nhits;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct spam_result r;
	int i;

	for (i = 0; i < 20; i++) {
		score_text(w->rs, msg_plain, "SPF_FAIL", SPAM_REPORT_ALL, &r);
		w->score = r.score;
		w->nhits = r.nhits;
		spam_result_deinit(&r);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct spam_ruleset *rs;
	struct worker w[4];
	pthread_t t[4];
	size_t i;

	rs = load_ok("threads",
	             "body __M /foo/\ntflags __M multiple\n"
	             "meta A __M > 2\nheader S Subject =~ /line/\n"
	             "score SPF_FAIL 1.5\nuri U /example/\n",
	             NULL);
	for (i = 0; i < 4; i++) {
		w[i].rs = rs;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		                 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		check_int("threads", "score x1000", milli(w[i].score), 4500);
		check_int("threads", "hits", (long long)w[i].nhits, 5);
	}
	spam_rules_free(&rs);
}

static int
group_setup(void **state)
{
	return unit_tmpdir_make("postern-test-spam-rules");
}

static int
group_teardown(void **state)
{
	unit_tmpdir_remove();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_scores),
	    cmocka_unit_test(test_tflags),
	    cmocka_unit_test(test_conditionals),
	    cmocka_unit_test(test_include),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_directory),
	    cmocka_unit_test(test_replace_tags),
	    cmocka_unit_test(test_replace_needs_plugin),
	    cmocka_unit_test(test_expressions),
	    cmocka_unit_test(test_expression_checks),
	    cmocka_unit_test(test_summary),
	    cmocka_unit_test(test_score_messages),
	    cmocka_unit_test(test_describe_in_hits),
	    cmocka_unit_test(test_match_limit),
	    cmocka_unit_test(test_gtube),
	    cmocka_unit_test(test_stock_rules),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests_name("spam_rules", tests, group_setup,
	                                   group_teardown);
}
