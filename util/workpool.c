/*
 * workpool.c - worker threads whose results come back to the event loop.
 *
 * Jobs wait in a FIFO queue guarded by the pool mutex; a worker takes
 * one, runs its work function unlocked, appends it to the done list and
 * makes the pool's event active, which wakes the loop thread (libevent's
 * pthread support makes event_active() safe from any thread).  The loop
 * side then runs the done functions.  Only the loop thread submits, runs
 * done functions and destroys, so the pending count needs no lock.  What
 * a job does, and with what memory, is the caller's business.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "util/workpool.h"
#include "util/xalloc.h"

struct workpool_job {
	workpool_work_cb *work;
	workpool_done_cb *done;
	void *arg;
	struct workpool_job *next;
};

struct workpool_list {
	struct workpool_job *head;
	struct workpool_job **tail;
	size_t count;
};

struct workpool {
	struct event_base *base;
	struct event *ev;

	pthread_mutex_t lock;
	pthread_cond_t work_cond; /* queue not empty, or stopping */
	pthread_cond_t done_cond; /* done list not empty */
	struct workpool_list queue;
	struct workpool_list finished;
	int stopping;

	pthread_t *threads;
	unsigned int nthreads;

	/* Loop thread only. */
	size_t pending;
	int in_done;
	int destroy_deferred;
};

static void
workpool_list_init(struct workpool_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
	l->count = 0;
}

static void
workpool_list_push(struct workpool_list *l, struct workpool_job *job)
{
	job->next = NULL;
	*l->tail = job;
	l->tail = &job->next;
	l->count++;
}

static struct workpool_job *
workpool_list_pop(struct workpool_list *l)
{
	struct workpool_job *job = l->head;

	if (job == NULL)
		return NULL;
	l->head = job->next;
	if (l->head == NULL)
		l->tail = &l->head;
	l->count--;
	return job;
}

static void *
workpool_thread(void *arg)
{
	struct workpool *pool = arg;
	struct workpool_job *job;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->queue.head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->work_cond, &pool->lock);
		job = workpool_list_pop(&pool->queue);
		if (job == NULL)
			break;
		pthread_mutex_unlock(&pool->lock);

		job->work(job->arg);

		pthread_mutex_lock(&pool->lock);
		workpool_list_push(&pool->finished, job);
		pthread_cond_signal(&pool->done_cond);
		/* The pool, and so ev, outlives every worker: see destroy. */
		event_active(pool->ev, 0, 0);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Run one finished job's done function on the calling (loop) thread. */
static void
workpool_run_done(struct workpool *pool, struct workpool_job *job)
{
	workpool_done_cb *done = job->done;
	void *arg = job->arg;

	free(job);
	pool->pending--;
	if (done != NULL)
		done(arg);
}

static void workpool_finish(struct workpool *pool);

static void
workpool_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workpool *pool = arg;
	struct workpool_job *job;
	size_t n;

	/* Only what had finished on entry: busy workers must not starve
	 * the rest of the loop. */
	pthread_mutex_lock(&pool->lock);
	n = pool->finished.count;
	pthread_mutex_unlock(&pool->lock);

	pool->in_done = 1;
	while (n-- > 0 && !pool->destroy_deferred) {
		pthread_mutex_lock(&pool->lock);
		job = workpool_list_pop(&pool->finished);
		pthread_mutex_unlock(&pool->lock);
		workpool_run_done(pool, job);
	}
	pool->in_done = 0;
	if (pool->destroy_deferred)
		workpool_finish(pool);
}

static void
workpool_stop_threads(struct workpool *pool)
{
	unsigned int i;

	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->work_cond);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
}

static void
workpool_free(struct workpool *pool)
{
	if (pool->ev != NULL)
		event_free(pool->ev);
	pthread_cond_destroy(&pool->done_cond);
	pthread_cond_destroy(&pool->work_cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

static int
workpool_start_threads(struct workpool *pool, unsigned int nthreads)
{
	sigset_t all, old;
	int ret = 0;

	/* Signals belong to the loop thread; workers inherit this mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; pool->nthreads < nthreads; pool->nthreads++) {
		if (pthread_create(&pool->threads[pool->nthreads], NULL,
		                   workpool_thread, pool) != 0) {
			ret = -1;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

struct workpool *
workpool_create(struct event_base *base, unsigned nthreads,
                const char **error_r)
{
	struct workpool *pool;

	if (nthreads == 0) {
		*error_r = "worker pool needs at least one thread";
		return NULL;
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work_cond, NULL);
	pthread_cond_init(&pool->done_cond, NULL);
	workpool_list_init(&pool->queue);
	workpool_list_init(&pool->finished);
	pool->threads = xcalloc(nthreads, sizeof(*pool->threads));

	pool->ev = event_new(base, -1, EV_PERSIST, workpool_event_cb, pool);
	if (pool->ev == NULL) {
		*error_r = "cannot create the worker pool event";
		workpool_free(pool);
		return NULL;
	}
	if (workpool_start_threads(pool, nthreads) < 0) {
		*error_r = "cannot start worker threads";
		workpool_stop_threads(pool);
		workpool_free(pool);
		return NULL;
	}
	return pool;
}

void
workpool_submit(struct workpool *pool, workpool_work_cb *work,
                workpool_done_cb *done, void *arg)
{
	struct workpool_job *job;

	job = xmalloc(sizeof(*job));
	job->work = work;
	job->done = done;
	job->arg = arg;

	pool->pending++;
	pthread_mutex_lock(&pool->lock);
	workpool_list_push(&pool->queue, job);
	pthread_cond_signal(&pool->work_cond);
	pthread_mutex_unlock(&pool->lock);
}

size_t
workpool_pending(const struct workpool *pool)
{
	return pool->pending;
}

/*
 * Run done functions as jobs finish until none is pending; a done
 * function may submit more, which are waited for too.
 */
static void
workpool_finish(struct workpool *pool)
{
	struct workpool_job *job;

	pool->in_done = 1;
	while (pool->pending > 0) {
		pthread_mutex_lock(&pool->lock);
		while (pool->finished.head == NULL)
			pthread_cond_wait(&pool->done_cond, &pool->lock);
		job = workpool_list_pop(&pool->finished);
		pthread_mutex_unlock(&pool->lock);
		workpool_run_done(pool, job);
	}
	workpool_stop_threads(pool);
	workpool_free(pool);
}

void
workpool_destroy(struct workpool **poolp)
{
	struct workpool *pool = *poolp;

	if (pool == NULL)
		return;
	/* From inside a done function: the event callback finishes the
	 * job once that function returns. */
	if (pool->in_done) {
		pool->destroy_deferred = 1;
		*poolp = NULL;
		return;
	}
	/* *poolp stays valid meanwhile: done functions may still submit. */
	workpool_finish(pool);
	*poolp = NULL;
}
