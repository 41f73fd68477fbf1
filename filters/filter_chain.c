/*
 * filter_chain.c - running the filters of one phase in order.
 *
 * Hooks that do not block run straight away on the loop; hooks a filter
 * marks blocking go to the worker pool, and the chain resumes with the
 * next filter when the worker is done.  The first verdict other than
 * FILTER_CONTINUE ends the phase.  The chain never looks at the verdict's
 * meaning beyond that: what a reject means on the wire is the front
 * end's business.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "util/log.h"
#include "util/workpool.h"
#include "util/xalloc.h"

struct filter_entry {
	const struct filter_ops *ops;
	void *conf;
};

struct filter_chain {
	struct filter_entry *filters;
	size_t count;
};

/* One phase in progress for one transaction. */
struct filter_run {
	struct filter_chain *chain;
	struct workpool *pool;
	enum filter_phase phase;
	struct filter_session *session;
	struct filter_txn *txn;
	filter_chain_done_cb *done;
	void *arg;
	size_t next; /* index of the filter to ask next */
	struct filter_verdict verdict;
};

struct filter_chain *
filter_chain_new(void)
{
	return xcalloc(1, sizeof(struct filter_chain));
}

void
filter_chain_free(struct filter_chain **chainp)
{
	struct filter_chain *chain = *chainp;
	size_t i;

	if (chain == NULL)
		return;
	for (i = 0; i < chain->count; i++) {
		if (chain->filters[i].ops->free != NULL)
			chain->filters[i].ops->free(chain->filters[i].conf);
	}
	free(chain->filters);
	free(chain);
	*chainp = NULL;
}

void
filter_chain_add(struct filter_chain *chain, const struct filter_ops *ops,
                 void *conf)
{
	chain->filters = xreallocarray(chain->filters, chain->count + 1,
	                               sizeof(*chain->filters));
	chain->filters[chain->count].ops = ops;
	chain->filters[chain->count].conf = conf;
	chain->count++;
}

size_t
filter_chain_count(const struct filter_chain *chain)
{
	return chain->count;
}

const char *
filter_chain_name(const struct filter_chain *chain, size_t i)
{
	return i < chain->count ? chain->filters[i].ops->name : NULL;
}

static void
run_finish(struct filter_run *run)
{
	if (run->verdict.action == FILTER_ACCEPT && run->txn != NULL)
		run->txn->accepted = 1;
	run->done(run->arg, &run->verdict);
	free(run);
}

static void
run_hook(struct filter_run *run)
{
	const struct filter_entry *f = &run->chain->filters[run->next];

	memset(&run->verdict, 0, sizeof(run->verdict));
	run->verdict.filter = f->ops->name;
	f->ops->hook[run->phase](f->conf, run->session, run->txn,
	                         &run->verdict);
	run->next++;
}

static void
run_work_cb(void *arg)
{
	run_hook(arg);
}

static void run_step(struct filter_run *run);

static void
run_resume_cb(void *arg)
{
	struct filter_run *run = arg;

	if (run->verdict.action != FILTER_CONTINUE) {
		run_finish(run);
		return;
	}
	run_step(run);
}

static void
run_step(struct filter_run *run)
{
	const struct filter_entry *f;

	for (; run->next < run->chain->count;) {
		f = &run->chain->filters[run->next];
		if (f->ops->hook[run->phase] == NULL) {
			run->next++;
			continue;
		}
		if ((f->ops->blocking & (1u << run->phase)) &&
		    run->pool != NULL) {
			log_trace(LOG_TRACE_FILTER,
			          "%s filter=%s phase=%d queued",
			          run->session->id, f->ops->name, run->phase);
			workpool_submit(run->pool, run_work_cb, run_resume_cb,
			                run);
			return;
		}
		run_hook(run);
		if (run->verdict.action != FILTER_CONTINUE)
			break;
	}
	if (run->verdict.action == FILTER_CONTINUE)
		run->verdict.filter = NULL;
	run_finish(run);
}

void
filter_chain_run(struct filter_chain *chain, struct workpool *pool,
                 enum filter_phase phase, struct filter_session *s,
                 struct filter_txn *t, filter_chain_done_cb *done, void *arg)
{
	struct filter_run *run;

	run = xcalloc(1, sizeof(*run));
	run->chain = chain;
	run->pool = pool;
	run->phase = phase;
	run->session = s;
	run->txn = t;
	run->done = done;
	run->arg = arg;
	if (chain == NULL) {
		run_finish(run);
		return;
	}
	if (t != NULL && t->accepted)
		run->next = chain->count;
	run_step(run);
}
