/*
 * test_log.c - util/log.c: escaping of untrusted octets, level and
 * facility names, and the form, filtering and bounding of stderr lines
 * (fd 2 is pointed at a temporary file while a case runs).
 */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "util/log.h"
#include "tests/unit/unit.h"

static const struct escape_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t dstsize;
	const char *want;
} escape_cases[] = {
    {"plain text kept", "hello world", 0, 64, "hello world"},
    {"empty input", "", 0, 64, ""},
    {"space and tilde kept", " ~!#$%&'()*+,-./:;<>?@[]^_`{|}", 0, 64,
     " ~!#$%&'()*+,-./:;<>?@[]^_`{|}"},
    {"crlf and tab", "a\r\nb\t", 0, 64, "a\\x0d\\x0ab\\x09"},
    {"nul octet", "a\0b", 3, 64, "a\\x00b"},
    {"double quote", "say \"hi\"", 0, 64, "say \\x22hi\\x22"},
    {"equals sign", "key=value", 0, 64, "key\\x3dvalue"},
    {"backslash", "a\\b", 0, 64, "a\\x5cb"},
    {"del and 0xff", "\x7f\xff", 0, 64, "\\x7f\\xff"},
    {"utf-8 octets", "caf\xc3\xa9", 0, 64, "caf\\xc3\\xa9"},
    {"escape sequence", "\x1b[31mred", 0, 64, "\\x1b[31mred"},
    {"exact fit", "abcd", 0, 5, "abcd"},
    {"one octet too long", "abcde", 0, 5, "a..."},
    {"escape exactly fits", "ab\n", 0, 7, "ab\\x0a"},
    {"escape one short", "ab\n", 0, 6, "ab..."},
    {"escape never split", "a\nbcdef", 0, 7, "a..."},
    {"long input cut", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0, 16,
     "xxxxxxxxxxxx..."},
    {"len shorter than string", "abcdef", 3, 64, "abc"},
    {"dst of 4 holds only dots", "abcdef", 0, 4, "..."},
    {"dst of 3", "abcdef", 0, 3, ".."},
    {"dst of 2", "abcdef", 0, 2, "."},
    {"dst of 1", "abcdef", 0, 1, ""},
    {"dst of 1, empty input", "", 0, 1, ""},
};

static void
test_escape(void **state)
{
	char buf[128];
	size_t i, j, len;
	char *got;

	for (i = 0; i < ARRAY_LEN(escape_cases); i++) {
		const struct escape_case *c = &escape_cases[i];

		len = c->len != 0 ? c->len : strlen(c->in);
		memset(buf, '#', sizeof(buf));
		got = log_escape(buf, c->dstsize, c->in, len);
		if (got != buf)
			fail_msg("%s: got a pointer other than dst", c->name);
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, buf,
			         c->want);
		for (j = c->dstsize; j < sizeof(buf); j++) {
			if (buf[j] != '#')
				fail_msg("%s: got a write at offset %zu, past "
				         "dstsize %zu",
				         c->name, j, c->dstsize);
		}
	}
}

static void
test_escape_zero_dst(void **state)
{
	char buf[4] = "zzz";

	log_escape(buf, 0, "abc", 3);
	assert_string_equal(buf, "zzz");
	log_escape_str(buf, 0, "abc");
	assert_string_equal(buf, "zzz");
}

static const struct escape_str_case {
	const char *name;
	const char *in;
	size_t dstsize;
	const char *want;
} escape_str_cases[] = {
    {"short string", "rcpt=<a@b>", 64, "rcpt\\x3d<a@b>"},
    {"string as long as dst", "abcdefgh", 8, "abcd..."},
    {"string one shorter than dst", "abcdefg", 8, "abcdefg"},
    {"string much longer than dst", "0123456789012345678901234567890123456789",
     10, "012345..."},
};

static void
test_escape_str(void **state)
{
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_LEN(escape_str_cases); i++) {
		const struct escape_str_case *c = &escape_str_cases[i];

		log_escape_str(buf, c->dstsize, c->in);
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, buf,
			         c->want);
	}
}

static const struct name_case {
	const char *in;
	int want;
} level_cases[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warning", LOG_LEVEL_WARNING},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
    {"DEBUG", LOG_LEVEL_DEBUG},
    {"warn", -1},
    {"", -1},
    {"info ", -1},
    {"trace", -1},
    {"err", -1},
};

static const struct name_case facility_cases[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7}, {"MAIL", LOG_MAIL},     {"local8", -1},
    {"local", -1},          {"kern", -1},           {"", -1},
    {" mail", -1},
};

static void
test_level_parse(void **state)
{
	size_t i;
	int got;

	for (i = 0; i < ARRAY_LEN(level_cases); i++) {
		got = log_level_parse(level_cases[i].in);
		if (got != level_cases[i].want)
			fail_msg("level \"%s\": got %d, want %d",
			         level_cases[i].in, got, level_cases[i].want);
	}
}

static void
test_facility_parse(void **state)
{
	size_t i;
	int got;

	for (i = 0; i < ARRAY_LEN(facility_cases); i++) {
		got = log_facility_parse(facility_cases[i].in);
		if (got != facility_cases[i].want)
			fail_msg("facility \"%s\": got %d, want %d",
			         facility_cases[i].in, got,
			         facility_cases[i].want);
	}
}

static int
line_matches(const char *line, const char *severity, const char *msg)
{
	static const char stamp[] = "^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]"
	                            ":[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z ";
	char want[512];
	regex_t re;
	int ok;

	snprintf(want, sizeof(want), "%spostern\\[%ld\\]: %s: ", stamp,
	         (long)getpid(), severity);
	assert_int_equal(regcomp(&re, want, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&re, line, 0, NULL, 0) == 0;
	regfree(&re);
	/* The message follows the prefix unchanged, up to the newline. */
	if (ok) {
		line = strstr(line, ": ") + 2;
		line = strstr(line, ": ") + 2;
		ok = strcmp(line, msg) == 0;
	}
	return ok;
}

static void
test_stderr_line_form(void **state)
{
	struct unit_capture cap;
	char *out, *nl;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_INFO);
	unit_capture_start(&cap, STDERR_FILENO);
	log_info("session connect id=%d client=%s", 42, "[127.0.0.1]");
	out = unit_capture_end(&cap);

	nl = strchr(out, '\n');
	if (nl == NULL || nl[1] != '\0')
		fail_msg("got \"%s\", want exactly one line", out);
	*nl = '\0';
	if (!line_matches(out, "info",
	                  "session connect id=42 client=[127.0.0.1]"))
		fail_msg("got \"%s\", want \"<time> postern[%ld]: info: "
		         "session connect id=42 client=[127.0.0.1]\"",
		         out, (long)getpid());
	free(out);
}

/* Which severities reach stderr at each configured level. */
static const struct level_filter_case {
	const char *name;
	enum log_level level;
	int want[4]; /* error, warning, info, debug */
} level_filter_cases[] = {
    {"level error", LOG_LEVEL_ERROR, {1, 0, 0, 0}},
    {"level warning", LOG_LEVEL_WARNING, {1, 1, 0, 0}},
    {"level info", LOG_LEVEL_INFO, {1, 1, 1, 0}},
    {"level debug", LOG_LEVEL_DEBUG, {1, 1, 1, 1}},
};

static void
test_level_filter(void **state)
{
	static const char *const words[] = {"error", "warning", "info",
	                                    "debug"};
	char want[64];
	size_t i, s;
	struct unit_capture cap;
	int got;
	char *out;

	for (i = 0; i < ARRAY_LEN(level_filter_cases); i++) {
		const struct level_filter_case *c = &level_filter_cases[i];

		log_open("postern", 0, LOG_MAIL, c->level);
		unit_capture_start(&cap, STDERR_FILENO);
		log_error("event=e");
		log_warning("event=w");
		log_info("event=i");
		log_debug("event=d");
		out = unit_capture_end(&cap);
		for (s = 0; s < ARRAY_LEN(words); s++) {
			snprintf(want, sizeof(want), ": %s: event=%c\n",
			         words[s], words[s][0]);
			got = strstr(out, want) != NULL;
			if (got != c->want[s])
				fail_msg("%s, %s line: got %s, want %s",
				         c->name, words[s],
				         got ? "logged" : "dropped",
				         c->want[s] ? "logged" : "dropped");
		}
		free(out);
	}
}

static void
test_trace_mask(void **state)
{
	struct unit_capture cap;
	char *out;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_DEBUG);
	log_trace_mask = LOG_TRACE_SMTP | LOG_TRACE_CONFIG;
	unit_capture_start(&cap, STDERR_FILENO);
	log_trace(LOG_TRACE_SMTP, "trace smtp");
	log_trace(LOG_TRACE_FILTER, "trace filter");
	log_trace(LOG_TRACE_CONFIG, "trace config");
	out = unit_capture_end(&cap);
	log_trace_mask = 0;

	if (strstr(out, ": debug: trace smtp\n") == NULL)
		fail_msg("got \"%s\", want the smtp trace line", out);
	if (strstr(out, ": debug: trace config\n") == NULL)
		fail_msg("got \"%s\", want the config trace line", out);
	if (strstr(out, "trace filter") != NULL)
		fail_msg("got \"%s\", want no filter trace line", out);
	free(out);
}

static void
test_message_not_rewritten(void **state)
{
	static const char msg[] = "reject reason=\"bad = \\ thing\" UPPER";
	struct unit_capture cap;
	char *out, *nl;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_INFO);
	unit_capture_start(&cap, STDERR_FILENO);
	log_warning("%s", msg);
	out = unit_capture_end(&cap);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	if (!line_matches(out, "warning", msg))
		fail_msg("got \"%s\", want \"... warning: %s\"", out, msg);
	free(out);
}

static void
test_long_line_cut(void **state)
{
	static const size_t lens[] = {4000, 4096, 5000, 100000};
	size_t i, len;
	char *msg, *out;
	struct unit_capture cap;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_INFO);
	for (i = 0; i < ARRAY_LEN(lens); i++) {
		msg = malloc(lens[i] + 1);
		memset(msg, 'm', lens[i]);
		msg[lens[i]] = '\0';
		unit_capture_start(&cap, STDERR_FILENO);
		log_info("%s", msg);
		out = unit_capture_end(&cap);
		len = strlen(out);
		if (len > 4096 || len < 3000)
			fail_msg("message of %zu: got line of %zu octets, want "
			         "at most 4096",
			         lens[i], len);
		if (out[len - 1] != '\n' || strchr(out, '\n') != out + len - 1)
			fail_msg("message of %zu: got no single newline at the "
			         "end",
			         lens[i]);
		if (lens[i] > 4096 && strcmp(out + len - 4, "...\n") != 0)
			fail_msg("message of %zu: got line ending \"%s\", want "
			         "\"...\"",
			         lens[i], out + len - 4);
		if (lens[i] == 4000 && strstr(out, "...") != NULL)
			fail_msg("message of 4000: got \"...\", want whole "
			         "line");
		free(out);
		free(msg);
	}
}

#define THREAD_LINES 300

static void *
log_thread(void *arg)
{
	int i;

	for (i = 0; i < THREAD_LINES; i++)
		log_info("thread=%ld line=%d pad=%0200d", (long)(intptr_t)arg,
		         i, 0);
	return NULL;
}

static void
test_threads_do_not_interleave(void **state)
{
	pthread_t t[4];
	struct unit_capture cap;
	int lines = 0;
	char *out, *line, *next, msg[300];
	long i;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_INFO);
	unit_capture_start(&cap, STDERR_FILENO);
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, log_thread, (void *)(intptr_t)i);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	out = unit_capture_end(&cap);

	for (line = out; *line != '\0'; line = next) {
		long th;
		int n;

		next = strchr(line, '\n');
		assert_non_null(next);
		*next++ = '\0';
		if (sscanf(strstr(line, "thread="), "thread=%ld line=%d", &th,
		           &n) != 2)
			fail_msg("got mangled line \"%s\"", line);
		snprintf(msg, sizeof(msg), "thread=%ld line=%d pad=%0200d", th,
		         n, 0);
		if (!line_matches(line, "info", msg))
			fail_msg("got \"%s\", want \"... info: %s\"", line,
			         msg);
		lines++;
	}
	assert_int_equal(lines, 4 * THREAD_LINES);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_zero_dst),
	    cmocka_unit_test(test_escape_str),
	    cmocka_unit_test(test_level_parse),
	    cmocka_unit_test(test_facility_parse),
	    cmocka_unit_test(test_stderr_line_form),
	    cmocka_unit_test(test_level_filter),
	    cmocka_unit_test(test_trace_mask),
	    cmocka_unit_test(test_message_not_rewritten),
	    cmocka_unit_test(test_long_line_cut),
	    cmocka_unit_test(test_threads_do_not_interleave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
