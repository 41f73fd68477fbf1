/*
 * test_policy_psl.c - organizational domains and A-labels.
 *
 * The public suffix list's own test cases (corpus dmarc/psl, both the
 * tests.txt and the test_psl.txt form) run through
 * policy_psl_org_domain() with the list of the same commit, loaded from
 * the corpus so the expectations match its rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_psl.h"
#include "tests/unit/unit.h"

#define PSL_DIR  "dmarc/psl"
#define PSL_LIST PSL_DIR "/public_suffix_list.dat"

/* Cases in each file of the corpus's commit (PROVENANCE.txt). */
#define PSL_CASES 78

static struct policy_psl *corpus_psl;

static int
setup(void **state)
{
	const char *error = NULL;

	if (!unit_corpus_has(PSL_LIST))
		return 0;
	corpus_psl = policy_psl_new(unit_corpus_path(PSL_LIST), &error);
	if (corpus_psl == NULL)
		print_error("%s: %s\n", unit_corpus_path(PSL_LIST), error);
	return corpus_psl != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	policy_psl_free(&corpus_psl);
	return 0;
}

/* "null" stands for NULL in both files. */
static const char *
null_word(const char *s)
{
	return strcmp(s, "null") == 0 ? NULL : s;
}

/* Run one case; the name says file, line and input. */
static void
check_case(const char *file, unsigned int line, const char *input,
           const char *want)
{
	char got[POLICY_PSL_DOMAIN_MAX], name[600];
	int rc;

	snprintf(name, sizeof(name), "%s:%u %s", file, line,
	         input ? input : "(null)");
	rc = policy_psl_org_domain(corpus_psl, input, got, sizeof(got));
	check_str(name, "organizational domain", rc == 0 ? got : NULL, want);
}

/* "input expected" lines; "//" comments and blank lines skipped. */
static unsigned int
run_tests_txt(char *text)
{
	char *line, *save = NULL, input[512], want[512];
	unsigned int lineno = 0, cases = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (strncmp(line, "//", 2) == 0 || line[0] == '\0')
			continue;
		if (sscanf(line, "%511s %511s", input, want) != 2)
			continue;
		check_case("tests.txt", lineno, null_word(input),
		           null_word(want));
		cases++;
	}
	return cases;
}

/* One argument of checkPublicSuffix(): 'text' or null; *p advances. */
static int
js_arg(const char **p, char *buf, size_t size)
{
	const char *s = *p + strspn(*p, " ,"), *end;

	if (strncmp(s, "null", 4) == 0) {
		*p = s + 4;
		snprintf(buf, size, "null");
		return 0;
	}
	if (*s != '\'' || (end = strchr(s + 1, '\'')) == NULL ||
	    (size_t)(end - s) > size)
		return -1;
	snprintf(buf, size, "%.*s", (int)(end - s - 1), s + 1);
	*p = end + 1;
	return 0;
}

static unsigned int
run_test_psl_txt(char *text)
{
	static const char call[] = "checkPublicSuffix(";
	char *line, *save = NULL, input[512], want[512];
	unsigned int lineno = 0, cases = 0;
	const char *p;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (strncmp(line, call, sizeof(call) - 1) != 0)
			continue;
		p = line + sizeof(call) - 1;
		if (js_arg(&p, input, sizeof(input)) < 0 ||
		    js_arg(&p, want, sizeof(want)) < 0) {
			print_error("test_psl.txt:%u: cannot parse\n", lineno);
			fail();
		}
		check_case("test_psl.txt", lineno, null_word(input),
		           null_word(want));
		cases++;
	}
	return cases;
}

static void
test_corpus_tests_txt(void **state)
{
	char *text;

	if (corpus_psl == NULL || !unit_corpus_has(PSL_DIR "/tests.txt"))
		skip();
	text = unit_read_file(unit_corpus_path(PSL_DIR "/tests.txt"), NULL);
	check_int("tests.txt", "cases run", run_tests_txt(text), PSL_CASES);
	free(text);
}

static void
test_corpus_test_psl_txt(void **state)
{
	char *text;

	if (corpus_psl == NULL || !unit_corpus_has(PSL_DIR "/test_psl.txt"))
		skip();
	text = unit_read_file(unit_corpus_path(PSL_DIR "/test_psl.txt"), NULL);
	check_int("test_psl.txt", "cases run", run_test_psl_txt(text),
	          PSL_CASES);
	free(text);
}

/* Names DMARC meets that the corpus does not cover. */
struct org_case {
	const char *name;
	const char *domain;
	const char *want; /* NULL: -1 */
};

static const struct org_case org_cases[] = {
    {"trailing dot", "mail.example.com.", "example.com"},
    {"two trailing dots", "example.com..", NULL},
    {"empty label inside", "a..example.com", NULL},
    {"empty string", "", NULL},
    {"lone dot", ".", NULL},
    {"test TLD (unlisted, * rule)", "a.b.sender.test", "sender.test"},
    {"two-level suffix", "www.bbc.co.uk", "bbc.co.uk"},
    {"the suffix itself", "co.uk", NULL},
    {"uppercase UTF-8 label", "WWW.食狮.公司.CN", "食狮.公司.cn"},
    {"private suffix (github.io)", "user.github.io", "user.github.io"},
};

static void
test_org_cases(void **state)
{
	struct policy_psl *psl = corpus_psl;
	const char *error = NULL;
	char got[POLICY_PSL_DOMAIN_MAX];
	size_t i;
	int rc;

	if (psl == NULL)
		psl = policy_psl_new(NULL, &error);
	assert_non_null(psl);
	for (i = 0; i < ARRAY_LEN(org_cases); i++) {
		const struct org_case *c = &org_cases[i];

		rc = policy_psl_org_domain(psl, c->domain, got, sizeof(got));
		check_str(c->name, "organizational domain",
		          rc == 0 ? got : NULL, c->want);
	}
	if (psl != corpus_psl)
		policy_psl_free(&psl);
}

static void
test_org_too_small(void **state)
{
	struct policy_psl *psl;
	const char *error = NULL;
	char got[32];

	psl = policy_psl_new(NULL, &error);
	assert_non_null(psl);
	check_int("buffer of 11 for example.com (12 with NUL)", "rc",
	          policy_psl_org_domain(psl, "www.example.com", got, 11), -1);
	check_int("buffer of 12", "rc",
	          policy_psl_org_domain(psl, "www.example.com", got, 12), 0);
	check_str("buffer of 12", "domain", got, "example.com");
	policy_psl_free(&psl);
}

static void
test_builtin_list(void **state)
{
	struct policy_psl *psl;
	const char *error = NULL;
	char got[POLICY_PSL_DOMAIN_MAX];

	psl = policy_psl_new(NULL, &error);
	assert_non_null(psl);
	assert_int_equal(
	    policy_psl_org_domain(psl, "a.b.example.co.uk", got, sizeof(got)),
	    0);
	check_str("built-in list", "a.b.example.co.uk", got, "example.co.uk");
	policy_psl_free(&psl);
	assert_null(psl);
	policy_psl_free(&psl); /* NULL is fine */
}

static void
test_bad_file(void **state)
{
	const char *error = NULL;
	struct policy_psl *psl;

	psl = policy_psl_new("/nonexistent/psl.dat", &error);
	assert_null(psl);
	check_str("missing file", "error", error,
	          "cannot load the public suffix list");
}

struct ascii_case {
	const char *name;
	const char *domain;
	const char *want; /* NULL: -1 */
	const char *error;
};

static const struct ascii_case ascii_cases[] = {
    {"ASCII lowercased", "Mail.Example.ORG", "mail.example.org", NULL},
    {"trailing dot removed", "example.org.", "example.org", NULL},
    {"U-label", "bücher.example", "xn--bcher-kva.example", NULL},
    {"uppercase U-label (UTS 46 mapping)", "BÜCHER.example",
     "xn--bcher-kva.example", NULL},
    {"CJK", "食狮.公司.cn", "xn--85x722f.xn--55qx5d.cn", NULL},
    {"A-label kept", "xn--bcher-kva.example", "xn--bcher-kva.example", NULL},
    {"domain literal", "[192.0.2.1]", NULL, "domain literal"},
    {"empty label", "a..example", NULL, "empty label or name too long"},
    {"empty", "", NULL, "empty label or name too long"},
    {"invalid UTF-8", "\xff\xfe.example", NULL,
     "not a valid internationalized domain name"},
};

static void
test_domain_ascii(void **state)
{
	char got[POLICY_PSL_DOMAIN_MAX];
	const char *error;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(ascii_cases); i++) {
		const struct ascii_case *c = &ascii_cases[i];

		error = NULL;
		rc = policy_psl_domain_ascii(c->domain, got, sizeof(got),
		                             &error);
		check_str(c->name, "A-labels", rc == 0 ? got : NULL, c->want);
		check_str(c->name, "error", rc == 0 ? NULL : error, c->error);
	}
}

static void
test_domain_ascii_too_long(void **state)
{
	char got[32];
	const char *error = NULL;

	check_int("8 octets for example.org", "rc",
	          policy_psl_domain_ascii("example.org", got, 8, &error), -1);
	check_int("12 octets for example.org", "rc",
	          policy_psl_domain_ascii("example.org", got, 12, &error), 0);
	check_int("8 octets for bücher.example", "rc",
	          policy_psl_domain_ascii("bücher.example", got, 8, &error),
	          -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus_tests_txt),
	    cmocka_unit_test(test_corpus_test_psl_txt),
	    cmocka_unit_test(test_org_cases),
	    cmocka_unit_test(test_org_too_small),
	    cmocka_unit_test(test_builtin_list),
	    cmocka_unit_test(test_bad_file),
	    cmocka_unit_test(test_domain_ascii),
	    cmocka_unit_test(test_domain_ascii_too_long),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
