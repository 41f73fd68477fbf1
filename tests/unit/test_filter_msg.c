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

struct index_case {
	const char *name;
	const char *msg;
	size_t fields;
	const char *body; /* the message from body_offset on */
};

static const struct index_case index_cases[] = {
    {"plain headers and body", "A: 1\r\nB: 2\r\n\r\nbody\r\n", 2,
     "\r\nbody\r\n"},
    {"folded field stays one field",
     "Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\nhi\r\n", 2, "\r\nhi\r\n"},
    {"no body, no empty line", "A: 1\r\nB: 2\r\n", 2, ""},
    {"empty line first: all body", "\r\nA: not a header\r\n", 0,
     "\r\nA: not a header\r\n"},
    {"a non-field line starts the body", "A: 1\r\nnot a header\r\nB: 2\r\n", 1,
     "not a header\r\nB: 2\r\n"},
    {"continuation before any field is body", " x\r\nA: 1\r\n\r\n", 0,
     " x\r\nA: 1\r\n\r\n"},
    {"space before the colon is not a field name", "A: 1\r\nB : 2\r\n\r\n", 1,
     "B : 2\r\n\r\n"},
    {"empty message", "", 0, ""},
};

static void
test_index_cases(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(index_cases); i++) {
		const struct index_case *c = &index_cases[i];
		struct unit_msg f;
		const char *error = NULL;
		int temporary;
		size_t off;

		unit_msg_init(&f, c->msg, 1 << 20);
		assert_int_equal(filter_msg_index(&f.t, &temporary, &error), 0);
		off = filter_msg_body_offset(&f.t);
		if (filter_msg_field_count(&f.t) != c->fields ||
		    strcmp(c->msg + off, c->body) != 0) {
			print_error("%s: got %zu fields, body \"%s\"; want "
			            "%zu, \"%s\"\n",
			            c->name, filter_msg_field_count(&f.t),
			            c->msg + off, c->fields, c->body);
			fail();
		}
		unit_msg_deinit(&f);
	}
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

static int
collect_field(void *arg, const char *field, size_t len)
{
	char *all = arg;

	assert_int_equal(strlen(field), len);
	strcat(all, field);
	strcat(all, "|");
	return 0;
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
	    cmocka_unit_test(test_field_access_and_delete),
	    cmocka_unit_test(test_reader_places_added_headers),
	    cmocka_unit_test(test_index_limits),
	    cmocka_unit_test(test_replace_and_foreach),
	};

	return cmocka_run_group_tests_name("filter_msg", tests, NULL, NULL);
}
