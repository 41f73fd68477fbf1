/*
 * test_filter_chain.c - the filter chain, the transaction object and the
 * Received filter.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "filters/filter.h"
#include "filters/filter_received.h"
#include "util/workpool.h"
#include "tests/unit/unit.h"

/* A scripted filter: answers `action` and records that it ran. */
struct script {
	const char *name;
	enum filter_action action;
	char *trace; /* shared log of which filters ran, in order */
	pthread_t ran_on;
};

static void
script_hook(void *conf, struct filter_session *s, struct filter_txn *t,
            struct filter_verdict *v)
{
	struct script *sc = conf;

	strcat(sc->trace, sc->name);
	sc->ran_on = pthread_self();
	if (sc->action != FILTER_CONTINUE)
		filter_verdict_set(v, sc->action, 0, NULL, "by %s", sc->name);
}

static const struct filter_ops script_ops = {
    .name = "script",
    .hook =
        {[FILTER_PHASE_MAIL] = script_hook, [FILTER_PHASE_EOM] = script_hook},
};

static const struct filter_ops script_blocking_ops = {
    .name = "script-blocking",
    .hook = {[FILTER_PHASE_MAIL] = script_hook},
    .blocking = 1u << FILTER_PHASE_MAIL,
};

struct outcome {
	int calls;
	struct filter_verdict verdict;
	struct event_base *base;
};

static void
record_done(void *arg, const struct filter_verdict *v)
{
	struct outcome *o = arg;

	o->calls++;
	o->verdict = *v;
	if (o->base != NULL)
		event_base_loopbreak(o->base);
}

struct chain_case {
	const char *name;
	enum filter_action actions[3];
	const char *want_trace;
	enum filter_action want_action;
	const char *want_text;
};

static const struct chain_case chain_cases[] = {
    {"all continue runs every filter",
     {FILTER_CONTINUE, FILTER_CONTINUE, FILTER_CONTINUE},
     "abc",
     FILTER_CONTINUE,
     ""},
    {"reject in the middle stops the chain",
     {FILTER_CONTINUE, FILTER_REJECT, FILTER_CONTINUE},
     "ab",
     FILTER_REJECT,
     "by b"},
    {"tempfail first stops at once",
     {FILTER_TEMPFAIL, FILTER_CONTINUE, FILTER_CONTINUE},
     "a",
     FILTER_TEMPFAIL,
     "by a"},
    {"discard last",
     {FILTER_CONTINUE, FILTER_CONTINUE, FILTER_DISCARD},
     "abc",
     FILTER_DISCARD,
     "by c"},
    {"accept stops the chain",
     {FILTER_ACCEPT, FILTER_REJECT, FILTER_CONTINUE},
     "a",
     FILTER_ACCEPT,
     "by a"},
};

static void
test_chain_order_and_verdicts(void **state)
{
	static const char *names[] = {"a", "b", "c"};
	size_t i, j;

	for (i = 0; i < ARRAY_LEN(chain_cases); i++) {
		const struct chain_case *c = &chain_cases[i];
		struct filter_chain *chain = filter_chain_new();
		struct script sc[3];
		struct filter_session s;
		struct filter_txn t;
		struct outcome o = {0};
		char trace[16] = "";

		for (j = 0; j < 3; j++) {
			sc[j] =
			    (struct script){names[j], c->actions[j], trace, 0};
			filter_chain_add(chain, &script_ops, &sc[j]);
		}
		memset(&s, 0, sizeof(s));
		strcpy(s.id, "sess");
		filter_txn_init(&t, &s);
		filter_chain_run(chain, NULL, FILTER_PHASE_MAIL, &s, &t,
		                 record_done, &o);
		if (o.calls != 1 || strcmp(trace, c->want_trace) != 0 ||
		    o.verdict.action != c->want_action ||
		    strcmp(o.verdict.text, c->want_text) != 0) {
			print_error("%s: got calls=%d trace=%s action=%s "
			            "text=%s, want 1 %s %s %s\n",
			            c->name, o.calls, trace,
			            filter_action_name(o.verdict.action),
			            o.verdict.text, c->want_trace,
			            filter_action_name(c->want_action),
			            c->want_text);
			fail();
		}
		assert_int_equal(t.accepted, c->want_action == FILTER_ACCEPT);
		filter_txn_deinit(&t);
		filter_chain_free(&chain);
		assert_null(chain);
	}
}

static void
test_chain_accepted_txn_skips_later_phases(void **state)
{
	struct filter_chain *chain = filter_chain_new();
	char trace[16] = "";
	struct script sc = {"a", FILTER_REJECT, trace, 0};
	struct filter_session s = {0};
	struct filter_txn t;
	struct outcome o = {0};

	filter_chain_add(chain, &script_ops, &sc);
	filter_txn_init(&t, &s);
	t.accepted = 1;
	filter_chain_run(chain, NULL, FILTER_PHASE_EOM, &s, &t, record_done,
	                 &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.verdict.action, FILTER_CONTINUE);
	assert_string_equal(trace, "");
	filter_txn_deinit(&t);
	filter_chain_free(&chain);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void
test_chain_blocking_hook_runs_on_worker(void **state)
{
	struct filter_chain *chain = filter_chain_new();
	char trace[16] = "";
	struct script a = {"a", FILTER_CONTINUE, trace, 0};
	struct script b = {"b", FILTER_REJECT, trace, 0};
	struct filter_session s = {0};
	struct filter_txn t;
	struct outcome o = {0};
	struct workpool *pool;
	const char *error;
	struct event *guard;
	const struct timeval ten_seconds = {10, 0};

	o.base = event_base_new();
	pool = workpool_create(o.base, 2, &error);
	assert_non_null(pool);
	filter_chain_add(chain, &script_blocking_ops, &a);
	filter_chain_add(chain, &script_ops, &b);
	filter_txn_init(&t, &s);
	filter_chain_run(chain, pool, FILTER_PHASE_MAIL, &s, &t, record_done,
	                 &o);
	/* The blocking hook went to a worker: nothing decided yet. */
	assert_int_equal(o.calls, 0);
	/* A pending timer keeps the loop running until the verdict. */
	guard = evtimer_new(o.base, guard_cb, o.base);
	evtimer_add(guard, &ten_seconds);
	event_base_dispatch(o.base);
	event_free(guard);
	assert_int_equal(o.calls, 1);
	assert_string_equal(trace, "ab");
	assert_int_equal(o.verdict.action, FILTER_REJECT);
	assert_false(pthread_equal(a.ran_on, pthread_self()));
	assert_true(pthread_equal(b.ran_on, pthread_self()));
	workpool_destroy(&pool);
	event_base_free(o.base);
	filter_txn_deinit(&t);
	filter_chain_free(&chain);
}

static void
test_txn_headers_and_notes(void **state)
{
	struct filter_session s = {0};
	struct filter_txn t;

	strcpy(s.id, "abc");
	filter_txn_init(&t, &s);
	assert_string_equal(t.id, "abc.1");
	filter_txn_prepend_header(&t, "X-First", "1");
	filter_txn_prepend_header(&t, "X-Second", "2");
	filter_txn_append_header(&t, "X-A", "a");
	filter_txn_append_header(&t, "X-B", "b");
	/* The newest prepended header comes first; appended keep order. */
	assert_string_equal(t.prepend->name, "X-Second");
	assert_string_equal(t.prepend->next->name, "X-First");
	assert_string_equal(t.append->name, "X-A");
	assert_string_equal(t.append->next->name, "X-B");
	filter_txn_note(&t, "spf", "pass");
	filter_txn_note(&t, "dkim", "none");
	assert_string_equal(t.notes, "spf=pass dkim=none");
	filter_txn_add_rcpt(&t, "a@example.net");
	filter_txn_add_rcpt(&t, "b@example.net");
	assert_int_equal(t.nrcpts, 2);
	assert_string_equal(t.rcpts[1], "b@example.net");
	filter_txn_deinit(&t);
	filter_txn_init(&t, &s);
	assert_string_equal(t.id, "abc.2");
	filter_txn_deinit(&t);
}

static void
run_received(struct filter_session *s, struct filter_txn *t)
{
	struct filter_chain *chain = filter_chain_new();
	struct outcome o = {0};

	filter_received_add(chain, "mx.example.org");
	filter_chain_run(chain, NULL, FILTER_PHASE_EOM, s, t, record_done, &o);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.verdict.action, FILTER_CONTINUE);
	filter_chain_free(&chain);
}

static void
test_received_header(void **state)
{
	struct filter_session s = {0};
	struct filter_txn t;
	char want[256];

	strcpy(s.id, "s1");
	strcpy(s.helo, "client.example (evil)\r\nX-Injected: 1");
	strcpy(s.client_name, "unknown");
	strcpy(s.client_ip, "192.0.2.7");
	strcpy(s.proto, "ESMTP");
	filter_txn_init(&t, &s);
	filter_txn_add_rcpt(&t, "bob@example.net");
	run_received(&s, &t);
	assert_non_null(t.prepend);
	assert_string_equal(t.prepend->name, "Received");
	/* The client's HELO cannot break out of the comment or header. */
	snprintf(want, sizeof(want),
	         "from client.example??evil???X-Injected:?1 (unknown "
	         "[192.0.2.7])\r\n\tby mx.example.org (postern) with ESMTP "
	         "id s1.1\r\n\tfor <bob@example.net>;\r\n\t");
	assert_memory_equal(t.prepend->value, want, strlen(want));
	assert_null(strchr(t.prepend->value + strlen(want), '\n'));
	filter_txn_deinit(&t);
}

static void
test_received_utf8_and_many_rcpts(void **state)
{
	struct filter_session s = {0};
	struct filter_txn t;

	strcpy(s.id, "s2");
	strcpy(s.helo, "h.example");
	strcpy(s.client_name, "unknown");
	strcpy(s.client_ip, "::1");
	strcpy(s.proto, "ESMTP");
	filter_txn_init(&t, &s);
	t.smtputf8 = 1;
	filter_txn_add_rcpt(&t, "a@example.net");
	filter_txn_add_rcpt(&t, "b@example.net");
	run_received(&s, &t);
	assert_non_null(strstr(t.prepend->value, "with UTF8SMTP id s2.1;"));
	/* RFC 5321 4.1.3: an IPv6 address literal is tagged. */
	assert_non_null(strstr(t.prepend->value, "(unknown [IPv6:::1])"));
	assert_null(strstr(t.prepend->value, "for <"));
	filter_txn_deinit(&t);
}

static void
test_received_unavailable_client(void **state)
{
	struct filter_session s = {0};
	struct filter_txn t;

	/* What a trusted XCLIENT may say: no name, no address. */
	strcpy(s.id, "s3");
	strcpy(s.helo, "h.example");
	strcpy(s.client_name, "[TEMPUNAVAIL]");
	strcpy(s.client_ip, "[UNAVAILABLE]");
	strcpy(s.proto, "ESMTP");
	filter_txn_init(&t, &s);
	run_received(&s, &t);
	assert_memory_equal(t.prepend->value, "from h.example (unknown)\r\n",
	                    strlen("from h.example (unknown)\r\n"));
	filter_txn_deinit(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_order_and_verdicts),
	    cmocka_unit_test(test_chain_accepted_txn_skips_later_phases),
	    cmocka_unit_test(test_chain_blocking_hook_runs_on_worker),
	    cmocka_unit_test(test_txn_headers_and_notes),
	    cmocka_unit_test(test_received_header),
	    cmocka_unit_test(test_received_utf8_and_many_rcpts),
	    cmocka_unit_test(test_received_unavailable_client),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests_name("filter_chain", tests, NULL, NULL);
}
