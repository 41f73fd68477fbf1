/*
 * workpool.h - a small pool of worker threads for blocking filter work.
 *
 * A job's work function runs on a worker thread; its done function then
 * runs on the event loop thread that owns the pool.  Between submit and
 * done the job's argument belongs to the worker: the loop must not touch
 * it.  This is how DNS, signing and big regex scans stay off the loop.
 */
#ifndef POSTERN_WORKPOOL_H
#define POSTERN_WORKPOOL_H

#include <stddef.h>

struct event_base;
struct workpool;

typedef void workpool_work_cb(void *arg);
typedef void workpool_done_cb(void *arg);

/*
 * Start nthreads workers posting completions to base.  The process must
 * have called evthread_use_pthreads() before base was created.  Returns
 * NULL with a reason in *error_r if threads cannot be started.
 */
struct workpool *workpool_create(struct event_base *base, unsigned nthreads,
                                 const char **error_r);

/*
 * Queue a job.  work(arg) runs on a worker, then done(arg) on the loop.
 * Jobs start in submission order.  Never fails (the queue is unbounded;
 * sessions bound how much they submit).
 */
void workpool_submit(struct workpool *pool, workpool_work_cb *work,
                     workpool_done_cb *done, void *arg);

/* Jobs submitted whose done function has not yet run. */
size_t workpool_pending(const struct workpool *pool);

/*
 * Wait for every queued job to finish, run the remaining done functions,
 * stop the threads and free the pool; sets *pool to NULL.
 */
void workpool_destroy(struct workpool **pool);

#endif
