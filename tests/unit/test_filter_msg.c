/*
 * test_filter_msg.c - the header index and the outgoing message reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "tests/unit/unit_msg.h"
#include "util/spool.h"

static int
collect_field(void *arg, const char *field, size_t len)
{
	char *all = arg;

	assert_int_equal(strlen(field), len);
	strcat(all, field);
	strcat(all, "|");
	return 0;
}

/*
 * Each line shape against where Postfix's cleanup ends the header
 * section (filter_msg.c's header comment).
 */
struct index_case {
	const char *name;
	const char *msg;
	const char *error; /* NULL: indexed */
	size_t fields;
	const char *body; /* the message from body_offset on */
	const char *last; /* the last field as read, or NULL */
};

static const struct index_case index_cases[] = {
    {"plain headers and body", "A: 1\r\nB: 2\r\n\r\nbody\r\n", NULL, 2,
     "\r\nbody\r\n", "B: 2"},
    {"folded field stays one field",
     "Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\nhi\r\n", NULL, 2, "\r\nhi\r\n",
     "To: x"},
    {"no body, no empty line", "A: 1\r\nB: 2\r\n", NULL, 2, "", "B: 2"},
    {"last line without CRLF is a field", "A: 1\r\nB : 2", NULL, 2, "", "B: 2"},
    {"last line without CRLF starts the body", "A: 1\r\nbody", NULL, 1, "body",
     "A: 1"},
    {"empty line first: all body", "\r\nA: not a header\r\n", NULL, 0,
     "\r\nA: not a header\r\n", NULL},
    {"empty message", "", NULL, 0, "", NULL},
    {"a line with spaces starts the body", "A: 1\r\nnot a header\r\nB: 2\r\n",
     NULL, 1, "not a header\r\nB: 2\r\n", "A: 1"},
    {"a line without a colon starts the body", "A: 1\r\nNoColon\r\nB: 2\r\n",
     NULL, 1, "NoColon\r\nB: 2\r\n", "A: 1"},
    {"white space then colon starts the body", "A: 1\r\nX\r\n : v\r\n", NULL, 1,
     "X\r\n : v\r\n", "A: 1"},
    {"a control in the name starts the body", "A: 1\r\nX\x01Y: v\r\n", NULL, 1,
     "X\x01Y: v\r\n", "A: 1"},
    {"DEL in the name starts the body", "A: 1\r\nX\x7fY: v\r\n", NULL, 1,
     "X\x7fY: v\r\n", "A: 1"},
    {"a bare CR line is no empty line", "A: 1\r\n\rB: 2\r\n", NULL, 1,
     "\rB: 2\r\n", "A: 1"},
    {"white space only lines fold the open field",
     "A: 1\r\n \r\n\t\r\nB: 2\r\n\r\nb\r\n", NULL, 2, "\r\nb\r\n", "B: 2"},
    {"first line folded with a space is refused", " x\r\nA: 1\r\n\r\n",
     "message starts with a folded line", 0, NULL, NULL},
    {"first line folded with a tab is refused", "\tx\r\nA: 1\r\n\r\n",
     "message starts with a folded line", 0, NULL, NULL},
    {"first line of white space only is refused", " \r\nA: 1\r\n\r\n",
     "message starts with a folded line", 0, NULL, NULL},
    {"an empty name is refused (Exim: a field)", "A: 1\r\n: v\r\nB: 2\r\n\r\n",
     "malformed header field name", 0, NULL, NULL},
    {"an 8-bit name is refused (Exim: a field)",
     "A: 1\r\nN\xc3\xa4me: v\r\nB: 2\r\n", "malformed header field name", 0,
     NULL, NULL},
    {"an 8-bit first line is refused", "\xff: v\r\nB: 2\r\n",
     "malformed header field name", 0, NULL, NULL},
    {"VT before the colon is refused (Exim: a field)",
     "A: 1\r\nX\v: v\r\nB: 2\r\n", "malformed header field name", 0, NULL,
     NULL},
    {"FF after a space before the colon is refused",
     "A: 1\r\nX \f: v\r\nB: 2\r\n", "malformed header field name", 0, NULL,
     NULL},
    {"VT without a colon starts the body", "A: 1\r\nX\v\r\nB: 2\r\n", NULL, 1,
     "X\v\r\nB: 2\r\n", "A: 1"},
    {"a line starting with VT starts the body", "A: 1\r\n\vB: 2\r\n", NULL, 1,
     "\vB: 2\r\n", "A: 1"},
    {"space before the colon is normalized", "A: 1\r\nB : 2\r\n\r\n", NULL, 2,
     "\r\n", "B: 2"},
    {"tabs and spaces before the colon, folded",
     "B \t : x\r\n y\r\nC: 3\r\n\r\nb\r\n", NULL, 2, "\r\nb\r\n", "C: 3"},
    {"no space after the colon stays so", "A: 1\r\nB\t:x\r\n\r\n", NULL, 2,
     "\r\n", "B:x"},
    {"normalized field folded to the end", "A: 1\r\nB :\r\n x\r\n\ty\r\n", NULL,
     2, "", "B:\r\n x\r\n\ty"},
};

static void
check_index_case(const struct index_case *c)
{
	struct unit_msg f;
	const char *error = NULL;
	size_t n, len;
	int temporary = -1, r;
	char *last;

	unit_msg_init(&f, c->msg, 1 << 20);
	r = filter_msg_index(&f.t, &temporary, &error);
	check_int(c->name, "index", r, c->error == NULL ? 0 : -1);
	check_int(c->name, "temporary", temporary, 0);
	if (c->error != NULL) {
		check_str(c->name, "reason", error, c->error);
		unit_msg_deinit(&f);
		return;
	}
	n = filter_msg_field_count(&f.t);
	check_int(c->name, "fields", (long long)n, (long long)c->fields);
	check_str(c->name, "body", c->msg + filter_msg_body_offset(&f.t),
	          c->body);
	last = n == 0 ? NULL : filter_msg_field_dup(&f.t, n - 1, &len, &error);
	check_str(c->name, "last field", last, c->last);
	free(last);
	unit_msg_deinit(&f);
}

static void
test_index_cases(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(index_cases); i++)
		check_index_case(&index_cases[i]);
}

/* "Name :" reads as "Name:" through every accessor, and the reader
 * sends what the signer reads. */
static void
test_space_before_colon_everywhere(void **state)
{
	static const char msg[] =
	    "Authentication-Results \t: mx.example; dkim=pass\r\n"
	    "\tfolded\r\n"
	    "From : a@example.org\r\n"
	    "\r\n"
	    "Body.\r\n";
	static const char want[] =
	    "Authentication-Results: mx.example; dkim=pass\r\n"
	    "\tfolded\r\n"
	    "From: a@example.org\r\n"
	    "\r\n"
	    "Body.\r\n";
	struct unit_msg f;
	const char *error;
	char all[256] = "", *field, *out;
	size_t len;
	int temporary;

	unit_msg_init(&f, msg, 8);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 2);
	assert_int_equal(f.t.fields[0].namelen,
	                 strlen("Authentication-Results"));
	assert_int_equal(f.t.fields[1].namelen, strlen("From"));
	assert_true(filter_msg_field_is(&f.t, 0, "authentication-results"));
	assert_true(filter_msg_field_is(&f.t, 1, "From"));
	field = filter_msg_field_dup(&f.t, 0, &len, &error);
	assert_string_equal(field, "Authentication-Results: mx.example; "
	                           "dkim=pass\r\n\tfolded");
	assert_int_equal(len, strlen(field));
	free(field);
	assert_int_equal(
	    filter_msg_foreach_field(&f.t, collect_field, all, &error), 0);
	assert_string_equal(all, "Authentication-Results: mx.example; "
	                         "dkim=pass\r\n\tfolded|From: a@example.org|");
	out = unit_msg_read_all(&f.t, 5);
	assert_string_equal(out, want);
	free(out);
	assert_string_equal(msg + filter_msg_body_start(&f.t), "Body.\r\n");
	unit_msg_deinit(&f);
}

/* A field's colon at octet at (0-based) of its line. */
static char *
colon_at(size_t at)
{
	char *msg = xmalloc(at + 32);

	memset(msg, 'X', at);
	strcpy(msg + at, ": v\r\n\r\nbody\r\n");
	return msg;
}

static void
test_index_name_length(void **state)
{
	struct unit_msg f;
	const char *error = NULL;
	char *msg;
	int temporary;

	msg = colon_at(997);
	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 1);
	assert_int_equal(f.t.fields[0].namelen, 997);
	unit_msg_deinit(&f);
	free(msg);

	msg = colon_at(998);
	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), -1);
	assert_string_equal(error, "header field name too long");
	assert_int_equal(temporary, 0);
	unit_msg_deinit(&f);
	free(msg);

	/* Space before the colon counts too. */
	msg = colon_at(998);
	memset(msg + 10, ' ', 988);
	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), -1);
	assert_string_equal(error, "header field name too long");
	unit_msg_deinit(&f);
	free(msg);
}

/* A NUL would cut the "Name:" replacement short: refused.  In the
 * value of another field it is just an octet. */
static void
test_index_nul(void **state)
{
	static const char spaced[] = "A: 1\r\nB : x\0y\r\n\r\nbody\r\n";
	static const char plain[] = "A: 1\r\nB: x\0y\r\n\r\nbody\r\n";
	static const char named[] = "A: 1\r\nX\0Y: v\r\nB: 2\r\n";
	struct unit_msg f;
	const char *error = NULL;
	int temporary;

	unit_msg_init(&f, "", 1 << 20);
	assert_int_equal(spool_write(f.sp, spaced, sizeof(spaced) - 1, &error),
	                 0);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), -1);
	assert_string_equal(
	    error, "NUL in a header field with space before the colon");
	assert_int_equal(temporary, 0);
	unit_msg_deinit(&f);

	unit_msg_init(&f, "", 1 << 20);
	assert_int_equal(spool_write(f.sp, plain, sizeof(plain) - 1, &error),
	                 0);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 2);
	assert_int_equal(f.t.fields[1].len, strlen("B: x") + 4);
	unit_msg_deinit(&f);

	/* In a name, as for Postfix and Exim, it starts the body. */
	unit_msg_init(&f, "", 1 << 20);
	assert_int_equal(spool_write(f.sp, named, sizeof(named) - 1, &error),
	                 0);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 1);
	assert_int_equal(filter_msg_body_offset(&f.t), strlen("A: 1\r\n"));
	unit_msg_deinit(&f);
}

/* Indexing again forgets the first index, replacements included. */
static void
test_index_twice(void **state)
{
	struct unit_msg f;
	const char *error;
	char *out;
	int temporary;

	unit_msg_init(&f, "A : 1\r\nB: 2\r\n\r\nbody\r\n", 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	filter_msg_field_replace(&f.t, 1, "B: two");
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 2);
	out = unit_msg_read_all(&f.t, 64);
	assert_string_equal(out, "A: 1\r\nB: 2\r\n\r\nbody\r\n");
	free(out);
	unit_msg_deinit(&f);
}

static void
test_field_access_and_delete(void **state)
{
	static const char msg[] =
	    "Authentication-Results: mx.example; spf=pass\r\n"
	    "From: a@example.org\r\n"
	    "authentication-results: other; dkim=pass\r\n"
	    "Subject: hi\r\n there\r\n"
	    "\r\n"
	    "Body.\r\n";
	struct unit_msg f;
	const char *error;
	char *field, *out;
	size_t len;
	int temporary;

	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	assert_int_equal(filter_msg_field_count(&f.t), 4);
	assert_true(filter_msg_field_is(&f.t, 0, "authentication-results"));
	assert_true(filter_msg_field_is(&f.t, 2, "Authentication-Results"));
	assert_false(filter_msg_field_is(&f.t, 1, "Fro"));
	field = filter_msg_field_dup(&f.t, 3, &len, &error);
	assert_string_equal(field, "Subject: hi\r\n there");
	assert_int_equal(len, strlen(field));
	free(field);

	filter_msg_field_delete(&f.t, 0);
	assert_false(filter_msg_field_is(&f.t, 0, "Authentication-Results"));
	out = unit_msg_read_all(&f.t, 7);
	assert_string_equal(out, "From: a@example.org\r\n"
	                         "authentication-results: other; dkim=pass\r\n"
	                         "Subject: hi\r\n there\r\n"
	                         "\r\n"
	                         "Body.\r\n");
	free(out);
	unit_msg_deinit(&f);
}

static void
test_reader_places_added_headers(void **state)
{
	static const char msg[] = "From: a@example.org\r\n\r\nBody.\r\n";
	static const char want[] = "Received: second\r\n"
	                           "Received: first\r\n"
	                           "From: a@example.org\r\n"
	                           "X-Tag: one\r\n"
	                           "X-Tag: two\r\n\tfolded\r\n"
	                           "\r\n"
	                           "Body.\r\n";
	struct unit_msg f;
	const char *error;
	size_t chunk;
	int temporary;

	/* A memory limit of 8 puts the message in a file: both spool
	 * kinds must read the same. */
	for (chunk = 1; chunk <= 64; chunk = chunk * 2 + 1) {
		size_t limits[2] = {1 << 20, 8};
		int k;

		for (k = 0; k < 2; k++) {
			char *out;

			unit_msg_init(&f, msg, limits[k]);
			filter_txn_prepend_header(&f.t, "Received", "first");
			filter_txn_prepend_header(&f.t, "Received", "second");
			filter_txn_append_header(&f.t, "X-Tag", "one");
			filter_txn_append_header(&f.t, "X-Tag",
			                         "two\r\n\tfolded");
			assert_int_equal(
			    filter_msg_index(&f.t, &temporary, &error), 0);
			out = unit_msg_read_all(&f.t, chunk);
			if (strcmp(out, want) != 0) {
				print_error("chunk %zu spool %d: got \"%s\"\n",
				            chunk, k, out);
				fail();
			}
			free(out);
			unit_msg_deinit(&f);
		}
	}
}

static void
test_index_limits(void **state)
{
	struct unit_msg f;
	const char *error = NULL;
	char *msg, *p;
	size_t i;
	int temporary;

	msg = malloc((FILTER_MSG_FIELDS_MAX + 2) * 16 + 16);
	p = msg;
	for (i = 0; i < FILTER_MSG_FIELDS_MAX + 2; i++)
		p += sprintf(p, "X-F%zu: v\r\n", i);
	strcpy(p, "\r\nbody\r\n");
	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), -1);
	assert_string_equal(error, "too many header fields");
	assert_int_equal(temporary, 0);
	unit_msg_deinit(&f);
	free(msg);

	/* One field longer than the whole header limit. */
	msg = malloc(FILTER_MSG_HEADER_MAX + 64);
	memcpy(msg, "X-Big: ", 7);
	memset(msg + 7, 'a', FILTER_MSG_HEADER_MAX);
	strcpy(msg + 7 + FILTER_MSG_HEADER_MAX, "\r\n\r\nbody\r\n");
	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), -1);
	assert_string_equal(error, "header section too large");
	unit_msg_deinit(&f);
	free(msg);
}

static void
test_replace_and_foreach(void **state)
{
	static const char msg[] = "A: 1\r\nB: 2\r\n \r\nC: 3\r\n\r\nbody\r\n";
	struct unit_msg f;
	const char *error;
	char all[256] = "", *out;
	int temporary;

	unit_msg_init(&f, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
	filter_txn_prepend_header(&f.t, "P", "top");
	filter_txn_append_header(&f.t, "Z", "end");
	filter_msg_field_replace(&f.t, 1, "B: two\r\n\tfolded");
	filter_msg_field_delete(&f.t, 2);
	assert_int_equal(
	    filter_msg_foreach_field(&f.t, collect_field, all, &error), 0);
	assert_string_equal(all, "P: top|A: 1|B: two\r\n\tfolded|Z: end|");
	out = unit_msg_read_all(&f.t, 3);
	assert_string_equal(out, "P: top\r\nA: 1\r\nB: two\r\n\tfolded\r\n"
	                         "Z: end\r\n\r\nbody\r\n");
	free(out);
	assert_string_equal(msg + filter_msg_body_start(&f.t), "body\r\n");
	unit_msg_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_index_cases),
	    cmocka_unit_test(test_space_before_colon_everywhere),
	    cmocka_unit_test(test_index_name_length),
	    cmocka_unit_test(test_index_nul),
	    cmocka_unit_test(test_index_twice),
	    cmocka_unit_test(test_field_access_and_delete),
	    cmocka_unit_test(test_reader_places_added_headers),
	    cmocka_unit_test(test_index_limits),
	    cmocka_unit_test(test_replace_and_foreach),
	};

	return cmocka_run_group_tests_name("filter_msg", tests, NULL, NULL);
}
