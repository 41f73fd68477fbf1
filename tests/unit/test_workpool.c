/*
 * test_workpool.c - util/workpool.c: work runs on worker threads, done
 * functions on the loop thread, every job completes, jobs start in
 * order, and destroy copes with pending jobs and with being called from
 * a done function.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "util/workpool.h"
#include "tests/unit/unit.h"

#define MAX_JOBS 2000

struct job {
	size_t index;
	pthread_t work_thread;
	pthread_t done_thread;
	atomic_int work_ran;
	int done_ran;
	int done_saw_work; /* work had finished when done ran */
	unsigned int sleep_ms;
};

static struct event_base *base;
static pthread_t loop_thread;
static int timed_out;

/* Order in which work functions started, for the FIFO check. */
static atomic_size_t start_seq;
static size_t start_order[MAX_JOBS];

static void
job_work(void *arg)
{
	struct job *job = arg;

	start_order[atomic_fetch_add(&start_seq, 1)] = job->index;
	job->work_thread = pthread_self();
	if (job->sleep_ms != 0)
		unit_sleep_ms(job->sleep_ms);
	atomic_store(&job->work_ran, 1);
}

static void
job_done(void *arg)
{
	struct job *job = arg;

	job->done_thread = pthread_self();
	job->done_saw_work = atomic_load(&job->work_ran);
	job->done_ran++;
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	timed_out = 1;
}

/* Run the loop while busy(arg) says so, failing after 10 s. */
static void
run_while(int (*busy)(const void *), const void *arg)
{
	struct timeval tv = {10, 0};
	struct event *timer;

	timed_out = 0;
	timer = evtimer_new(base, timeout_cb, NULL);
	evtimer_add(timer, &tv);
	while (busy(arg) && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(timer);
	if (timed_out)
		fail_msg("got the loop still waiting after 10 s, want done");
}

static int
pool_busy(const void *pool)
{
	return workpool_pending(pool) > 0;
}

static void
run_until_idle(struct workpool *pool)
{
	run_while(pool_busy, pool);
}

static struct job *
jobs_new(size_t n, unsigned int sleep)
{
	struct job *jobs;
	size_t i;

	jobs = calloc(n, sizeof(*jobs));
	assert_non_null(jobs);
	for (i = 0; i < n; i++) {
		jobs[i].index = i;
		jobs[i].sleep_ms = sleep;
	}
	atomic_store(&start_seq, 0);
	return jobs;
}

static void
check_jobs(const char *name, const struct job *jobs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct job *j = &jobs[i];

		if (!atomic_load(&j->work_ran))
			fail_msg("%s: job %zu work did not run", name, i);
		if (j->done_ran != 1)
			fail_msg("%s: job %zu got %d done calls, want 1", name,
			         i, j->done_ran);
		if (!j->done_saw_work)
			fail_msg("%s: job %zu done ran before its work", name,
			         i);
		if (pthread_equal(j->work_thread, loop_thread))
			fail_msg("%s: job %zu work ran on the loop thread, "
			         "want a worker",
			         name, i);
		if (!pthread_equal(j->done_thread, loop_thread))
			fail_msg("%s: job %zu done ran off the loop thread",
			         name, i);
	}
}

static const struct run_case {
	const char *name;
	unsigned int threads;
	size_t jobs;
	unsigned int sleep_ms;
} run_cases[] = {
    {"one job, one thread", 1, 1, 0},
    {"one job, four threads", 4, 1, 0},
    {"many quick jobs, one thread", 1, 500, 0},
    {"many quick jobs, four threads", 4, MAX_JOBS, 0},
    {"slow jobs, more jobs than threads", 3, 12, 5},
};

static void
test_jobs_complete(void **state)
{
	struct workpool *pool;
	const char *error = NULL;
	struct job *jobs;
	size_t i;

	for (i = 0; i < ARRAY_LEN(run_cases); i++) {
		const struct run_case *c = &run_cases[i];
		size_t k;

		pool = workpool_create(base, c->threads, &error);
		if (pool == NULL)
			fail_msg("%s: create got \"%s\", want a pool", c->name,
			         error);
		jobs = jobs_new(c->jobs, c->sleep_ms);
		for (k = 0; k < c->jobs; k++)
			workpool_submit(pool, job_work, job_done, &jobs[k]);
		if (workpool_pending(pool) != c->jobs)
			fail_msg("%s: got %zu pending, want %zu", c->name,
			         workpool_pending(pool), c->jobs);
		run_until_idle(pool);
		check_jobs(c->name, jobs, c->jobs);
		workpool_destroy(&pool);
		assert_null(pool);
		free(jobs);
	}
}

static void
test_fifo_start_order(void **state)
{
	struct workpool *pool;
	const char *error = NULL;
	struct job *jobs;
	size_t i, n = 300;

	pool = workpool_create(base, 1, &error);
	assert_non_null(pool);
	jobs = jobs_new(n, 0);
	for (i = 0; i < n; i++)
		workpool_submit(pool, job_work, job_done, &jobs[i]);
	run_until_idle(pool);
	for (i = 0; i < n; i++) {
		if (start_order[i] != i)
			fail_msg("start %zu: got job %zu, want job %zu", i,
			         start_order[i], i);
	}
	workpool_destroy(&pool);
	free(jobs);
}

static const struct destroy_case {
	const char *name;
	unsigned int threads;
	size_t jobs;
	unsigned int sleep_ms;
} destroy_cases[] = {
    {"no jobs at all", 2, 0, 0},
    {"queued slow jobs", 2, 20, 5},
    {"many quick jobs", 4, 1000, 0},
    {"more threads than jobs", 8, 2, 1},
};

static void
test_destroy_pending(void **state)
{
	struct workpool *pool;
	const char *error = NULL;
	struct job *jobs;
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(destroy_cases); i++) {
		const struct destroy_case *c = &destroy_cases[i];

		pool = workpool_create(base, c->threads, &error);
		assert_non_null(pool);
		jobs = jobs_new(c->jobs, c->sleep_ms);
		for (k = 0; k < c->jobs; k++)
			workpool_submit(pool, job_work, job_done, &jobs[k]);
		/* No loop iteration: destroy itself must finish them. */
		workpool_destroy(&pool);
		assert_null(pool);
		check_jobs(c->name, jobs, c->jobs);
		/* A late activation must not reach the freed pool. */
		event_base_loop(base, EVLOOP_NONBLOCK);
		free(jobs);
	}
}

/* A done function that destroys the pool it runs from. */
static struct workpool *self_pool;
static int destroy_done_calls;

static void
destroy_done(void *arg)
{
	job_done(arg);
	destroy_done_calls++;
	workpool_destroy(&self_pool);
}

static int
self_pool_alive(const void *unused)
{
	return self_pool != NULL;
}

static void
test_destroy_from_done(void **state)
{
	const char *error = NULL;
	struct job *jobs;
	size_t i, n = 10;

	self_pool = workpool_create(base, 2, &error);
	assert_non_null(self_pool);
	jobs = jobs_new(n, 2);
	for (i = 0; i < n; i++)
		workpool_submit(self_pool, job_work, destroy_done, &jobs[i]);
	destroy_done_calls = 0;
	run_while(self_pool_alive, NULL);
	assert_null(self_pool);
	check_jobs("destroy from done", jobs, n);
	assert_int_equal(destroy_done_calls, n);
	free(jobs);
}

/* Done functions that submit a follow-up job, as a filter chain does. */
struct chain {
	struct workpool *pool;
	struct job jobs[5];
	size_t next;
};

static void
chain_work(void *arg)
{
	struct chain *ch = arg;

	job_work(&ch->jobs[ch->next]);
}

static void
chain_done(void *arg)
{
	struct chain *ch = arg;

	job_done(&ch->jobs[ch->next]);
	if (++ch->next < ARRAY_LEN(ch->jobs))
		workpool_submit(ch->pool, chain_work, chain_done, ch);
}

static void
test_done_submits_more(void **state)
{
	static const char *const modes[] = {"loop runs the chain",
	                                    "destroy runs the chain"};
	struct chain ch;
	const char *error = NULL;
	size_t m;

	for (m = 0; m < ARRAY_LEN(modes); m++) {
		memset(&ch, 0, sizeof(ch));
		ch.pool = workpool_create(base, 2, &error);
		assert_non_null(ch.pool);
		workpool_submit(ch.pool, chain_work, chain_done, &ch);
		if (m == 0)
			run_until_idle(ch.pool);
		workpool_destroy(&ch.pool);
		if (ch.next != ARRAY_LEN(ch.jobs))
			fail_msg("%s: got %zu links run, want %zu", modes[m],
			         ch.next, ARRAY_LEN(ch.jobs));
		check_jobs(modes[m], ch.jobs, ARRAY_LEN(ch.jobs));
	}
}

static void
test_create_zero_threads(void **state)
{
	const char *error = NULL;

	assert_null(workpool_create(base, 0, &error));
	assert_non_null(error);
}

static void
test_null_done(void **state)
{
	struct workpool *pool;
	const char *error = NULL;
	struct job *jobs;

	pool = workpool_create(base, 1, &error);
	assert_non_null(pool);
	jobs = jobs_new(1, 0);
	workpool_submit(pool, job_work, NULL, &jobs[0]);
	run_until_idle(pool);
	assert_int_equal(atomic_load(&jobs[0].work_ran), 1);
	workpool_destroy(&pool);
	free(jobs);
}

static int
setup(void **state)
{
	if (evthread_use_pthreads() < 0)
		return -1;
	base = event_base_new();
	loop_thread = pthread_self();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	event_base_free(base);
	libevent_global_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jobs_complete),
	    cmocka_unit_test(test_fifo_start_order),
	    cmocka_unit_test(test_destroy_pending),
	    cmocka_unit_test(test_destroy_from_done),
	    cmocka_unit_test(test_done_submits_more),
	    cmocka_unit_test(test_create_zero_threads),
	    cmocka_unit_test(test_null_done),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
