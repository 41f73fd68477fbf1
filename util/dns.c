/*
 * dns.c - postern's resolver: one libunbound context on its own thread.
 *
 * The resolver thread owns the ub_ctx: it alone calls ub_resolve_async(),
 * ub_process() and ub_cancel(), so libunbound's callbacks run there and a
 * query it has cancelled can never call back later.  dns_lookup() puts a
 * query on the submit list under d->lock, wakes the thread through an
 * eventfd and waits on the query's condition variable until the answer
 * comes or the deadline passes.  A waiter that gives up marks the query
 * abandoned and never touches it again; from then on the resolver thread
 * owns it, cancels it and frees it.  A query that is done belongs to its
 * waiter, which frees it.
 *
 * Answers are copied out of libunbound's result into a struct dns_answer,
 * TXT character-strings joined, bounded in records and octets.  What the
 * records mean is the callers' business (DKIM, SPF, DMARC, DNS lists).
 * Only trouble of the resolver thread itself is logged, as warnings;
 * every per-query failure is a status in the answer.  libunbound writes
 * its own errors (a trust anchor that does not parse) to stderr.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "util/dns.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DNS_CLASS_IN           1
#define DNS_RCODE_NOERROR      0
#define DNS_RCODE_SERVFAIL     2
#define DNS_RCODE_NXDOMAIN     3
#define DNS_DEFAULT_TIMEOUT_MS 5000u
#define DNS_NAME_MAX           253 /* text form, without the final dot */
#define DNS_LABEL_MAX          63

struct dns_query {
	struct dns *d;
	/* The submit list, then the running list (resolver thread). */
	struct dns_query *prev, *next;
	char *name;
	int type;
	int async_id;

	/* Under d->lock. */
	int done;
	int abandoned;
	struct dns_answer answer;
	pthread_cond_t cond;
};

struct dns {
	struct ub_ctx *ctx;
	pthread_t thread;
	int wake_fd;
	unsigned int timeout_ms;

	pthread_mutex_t lock;
	pthread_condattr_t condattr; /* CLOCK_MONOTONIC */
	pthread_cond_t idle;         /* users dropped to 0 while stopping */
	struct dns_query *submit_head, *submit_tail;
	unsigned int users; /* threads inside dns_lookup() */
	int stopping;       /* fail every query; no new ones */
	int quit;           /* the resolver thread exits */
	unsigned long queries, timeouts;

	/* Resolver thread only. */
	struct dns_query *running;
	int ub_broken; /* libunbound's result pipe failed */
};

static _Thread_local char dns_error_buf[256];

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_PERMFAIL:
		return "permfail";
	}
	return "unknown";
}

void
dns_answer_free(struct dns_answer *answer)
{
	size_t i;

	for (i = 0; i < answer->count; i++)
		free(answer->data[i]);
	free(answer->data);
	free(answer->len);
	memset(answer, 0, sizeof(*answer));
}

/* ---------------------------------------------------------- answers */

/*
 * TXT RDATA is one or more length-prefixed character-strings; callers
 * want them joined (RFC 6376 3.6.2.2, RFC 7208 3.3).  The result is
 * never longer than the RDATA, so len + 1 octets hold it and its NUL.
 */
static int
dns_txt_join(const unsigned char *rdata, size_t len, unsigned char **out,
             size_t *out_len)
{
	unsigned char *buf = xmalloc(len + 1);
	size_t pos = 0, n = 0, slen;

	while (pos < len) {
		slen = rdata[pos++];
		if (slen > len - pos) {
			free(buf);
			return -1;
		}
		memcpy(buf + n, rdata + pos, slen);
		n += slen;
		pos += slen;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static void
dns_rdata_copy(const unsigned char *rdata, size_t len, unsigned char **out,
               size_t *out_len)
{
	unsigned char *buf = xmalloc(len + 1);

	memcpy(buf, rdata, len);
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
}

/*
 * Copy the records of r into a.  -1 when there are more than
 * DNS_MAX_RECORDS or DNS_MAX_RDATA octets, or a TXT record does not
 * parse; a is then partly filled and must be freed.
 */
static int
dns_answer_copy(struct dns_answer *a, const struct ub_result *r)
{
	size_t n = 0, i, total = 0;

	while (r->data[n] != NULL) {
		if (++n > DNS_MAX_RECORDS)
			return -1;
	}
	a->data = xcalloc(n, sizeof(*a->data));
	a->len = xcalloc(n, sizeof(*a->len));
	a->count = n;
	for (i = 0; i < n; i++) {
		const unsigned char *rd = (const unsigned char *)r->data[i];
		size_t len;

		if (r->len[i] < 0)
			return -1;
		len = (size_t)r->len[i];
		total += len;
		if (total > DNS_MAX_RDATA)
			return -1;
		if (r->qtype != DNS_TYPE_TXT) {
			dns_rdata_copy(rd, len, &a->data[i], &a->len[i]);
			continue;
		}
		if (dns_txt_join(rd, len, &a->data[i], &a->len[i]) < 0)
			return -1;
	}
	return 0;
}

static enum dns_status
dns_rcode_status(int rcode)
{
	switch (rcode) {
	case DNS_RCODE_NOERROR:
		return DNS_OK;
	case DNS_RCODE_NXDOMAIN:
		return DNS_NXDOMAIN;
	case DNS_RCODE_SERVFAIL:
		return DNS_TEMPFAIL;
	default:
		return DNS_PERMFAIL; /* FORMERR, NOTIMP, REFUSED, ... */
	}
}

static void
dns_answer_fill(struct dns_answer *a, int err, const struct ub_result *r)
{
	memset(a, 0, sizeof(*a));
	if (err != 0 || r == NULL) {
		a->status = DNS_TEMPFAIL;
		return;
	}
	a->secure = r->secure;
	a->ttl = r->ttl > 0 ? (unsigned int)r->ttl : 0;
	a->status = r->bogus ? DNS_PERMFAIL : dns_rcode_status(r->rcode);
	if (a->status != DNS_OK)
		return;
	if (!r->havedata || r->data == NULL || r->data[0] == NULL) {
		a->status = DNS_NODATA;
		return;
	}
	/* NOTE: an answer over the bounds or with a TXT record that does
	 * not parse is refused whole: a part of an RRset could change what
	 * an SPF or DKIM check concludes. */
	if (dns_answer_copy(a, r) < 0) {
		dns_answer_free(a);
		a->status = DNS_PERMFAIL;
	}
}

/* ---------------------------------------------------------- queries */

static struct dns_query *
dns_query_new(struct dns *d, const char *name, int type)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->d = d;
	q->name = xstrdup(name);
	q->type = type;
	if (pthread_cond_init(&q->cond, &d->condattr) != 0)
		abort();
	return q;
}

static void
dns_query_free(struct dns_query *q)
{
	dns_answer_free(&q->answer);
	pthread_cond_destroy(&q->cond);
	free(q->name);
	free(q);
}

static void
dns_wake(struct dns *d)
{
	uint64_t one = 1;
	ssize_t n;

	/* Only EAGAIN (counter saturated) can fail here: already awake. */
	n = write(d->wake_fd, &one, sizeof(one));
	(void)n;
}

/*
 * Hand q, whose answer is filled, to its waiter; or free it when the
 * waiter has given up.  The caller has unlinked q from every list.
 */
static void
dns_query_complete(struct dns *d, struct dns_query *q, int answered)
{
	pthread_mutex_lock(&d->lock);
	if (answered)
		d->queries++;
	if (q->abandoned) {
		pthread_mutex_unlock(&d->lock);
		dns_query_free(q);
		return;
	}
	q->done = 1;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&d->lock);
}

static void
dns_query_fail(struct dns *d, struct dns_query *q, enum dns_status status)
{
	dns_answer_free(&q->answer);
	q->answer.status = status;
	dns_query_complete(d, q, 0);
}

/* ------------------------------------------------- resolver thread */

static void
dns_running_link(struct dns *d, struct dns_query *q)
{
	q->prev = NULL;
	q->next = d->running;
	if (d->running != NULL)
		d->running->prev = q;
	d->running = q;
}

static void
dns_running_unlink(struct dns *d, struct dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		d->running = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

/* libunbound's callback, run by ub_process() on the resolver thread. */
static void
dns_ub_cb(void *arg, int err, struct ub_result *result)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;

	dns_running_unlink(d, q);
	dns_answer_fill(&q->answer, err, result);
	ub_resolve_free(result);
	dns_query_complete(d, q, 1);
}

static int
dns_query_abandoned(struct dns *d, struct dns_query *q)
{
	int abandoned;

	pthread_mutex_lock(&d->lock);
	abandoned = q->abandoned;
	pthread_mutex_unlock(&d->lock);
	return abandoned;
}

static void
dns_thread_start(struct dns *d, struct dns_query *q, int stopping)
{
	int r;

	q->prev = q->next = NULL;
	if (stopping || d->ub_broken || dns_query_abandoned(d, q)) {
		dns_query_fail(d, q, DNS_TEMPFAIL);
		return;
	}
	r = ub_resolve_async(d->ctx, q->name, q->type, DNS_CLASS_IN, q,
	                     dns_ub_cb, &q->async_id);
	if (r == UB_SYNTAX) {
		dns_query_fail(d, q, DNS_PERMFAIL);
		return;
	}
	if (r != UB_NOERROR) {
		log_warning("dns: cannot start query: %s", ub_strerror(r));
		dns_query_fail(d, q, DNS_TEMPFAIL);
		return;
	}
	dns_running_link(d, q);
}

/*
 * Cancel the running queries whose waiters gave up, or all of them when
 * stopping or when libunbound cannot answer any more.  ub_cancel() from
 * this thread guarantees the callback never comes.
 */
static void
dns_thread_sweep(struct dns *d, int stopping)
{
	struct dns_query *q, *next;
	int all = stopping || d->ub_broken;

	for (q = d->running; q != NULL; q = next) {
		next = q->next;
		if (!all && !dns_query_abandoned(d, q))
			continue;
		(void)ub_cancel(d->ctx, q->async_id);
		dns_running_unlink(d, q);
		dns_query_fail(d, q, DNS_TEMPFAIL);
	}
}

/* Start what was submitted, sweep; returns 1 when the thread must end. */
static int
dns_thread_work(struct dns *d)
{
	struct dns_query *q, *next;
	int stopping, quit;

	pthread_mutex_lock(&d->lock);
	q = d->submit_head;
	d->submit_head = d->submit_tail = NULL;
	stopping = d->stopping;
	quit = d->quit;
	pthread_mutex_unlock(&d->lock);

	for (; q != NULL; q = next) {
		next = q->next;
		dns_thread_start(d, q, stopping);
	}
	dns_thread_sweep(d, stopping);
	return quit;
}

static void
dns_thread_process(struct dns *d)
{
	int r = ub_process(d->ctx);

	if (r == UB_NOERROR)
		return;
	log_warning("dns: resolver stopped answering: %s", ub_strerror(r));
	d->ub_broken = 1;
}

static void
dns_thread_wait(struct dns *d)
{
	struct pollfd pfd[2];
	nfds_t n = 1;
	uint64_t count;
	ssize_t r;

	pfd[0].fd = d->wake_fd;
	pfd[0].events = POLLIN;
	if (!d->ub_broken) {
		pfd[1].fd = ub_fd(d->ctx);
		pfd[1].events = POLLIN;
		n = 2;
	}
	if (poll(pfd, n, -1) < 0) {
		if (errno != EINTR) {
			log_warning("dns: poll: %s", strerror(errno));
			usleep(100000);
		}
		return;
	}
	if (n == 2 && pfd[1].revents != 0)
		dns_thread_process(d);
	if (pfd[0].revents != 0) {
		r = read(d->wake_fd, &count, sizeof(count));
		(void)r;
	}
}

static void *
dns_thread_main(void *arg)
{
	struct dns *d = arg;

	while (!dns_thread_work(d))
		dns_thread_wait(d);
	return NULL;
}

/* ---------------------------------------------------------- creation */

static const char *
dns_ub_error(const char *what, const char *arg, int r)
{
	snprintf(dns_error_buf, sizeof(dns_error_buf), "dns: %s %s: %s", what,
	         arg, ub_strerror(r));
	return dns_error_buf;
}

static int
dns_ctx_forwarders(struct ub_ctx *ctx, const struct dns_options *opt,
                   const char **error_r)
{
	size_t i;
	int r;

	if (opt->nforwarders == 0) {
		r = ub_ctx_resolvconf(ctx, NULL);
		if (r != UB_NOERROR)
			*error_r =
			    dns_ub_error("cannot read", "/etc/resolv.conf", r);
		return r == UB_NOERROR ? 0 : -1;
	}
	for (i = 0; i < opt->nforwarders; i++) {
		/* "address@port"; ub_ctx_set_fwd() makes "." forward-only,
		 * so nothing ever goes to the root servers. */
		r = ub_ctx_set_fwd(ctx, opt->forwarders[i]);
		if (r != UB_NOERROR) {
			*error_r = dns_ub_error("bad forwarder",
			                        opt->forwarders[i], r);
			return -1;
		}
	}
	return 0;
}

static int
dns_ctx_anchor(struct ub_ctx *ctx, const char *file, const char **error_r)
{
	FILE *f;
	int r;

	if (file == NULL)
		return 0;
	f = fopen(file, "r");
	if (f == NULL) {
		snprintf(dns_error_buf, sizeof(dns_error_buf),
		         "dns: trust anchor %s: %s", file, strerror(errno));
		*error_r = dns_error_buf;
		return -1;
	}
	fclose(f);
	r = ub_ctx_add_ta_file(ctx, file);
	if (r != UB_NOERROR) {
		*error_r = dns_ub_error("trust anchor", file, r);
		return -1;
	}
	return 0;
}

/*
 * Removing a zone finalizes the context, which is when libunbound loads
 * the trust anchor; removing one that does not exist is how a bad anchor
 * fails dns_create() instead of every query (there is no public
 * finalize call).
 */
static int
dns_ctx_zones(struct ub_ctx *ctx, const struct dns_options *opt,
              const char **error_r)
{
	size_t i;
	int r;

	for (i = 0; i < opt->nnodefault_zones; i++) {
		r = ub_ctx_zone_remove(ctx, opt->nodefault_zones[i]);
		if (r != UB_NOERROR) {
			*error_r =
			    dns_ub_error("zone", opt->nodefault_zones[i], r);
			return -1;
		}
	}
	r = ub_ctx_zone_remove(ctx, "postern-none.invalid.");
	if (r != UB_NOERROR) {
		*error_r = dns_ub_error("cannot start", "libunbound", r);
		return -1;
	}
	return 0;
}

static struct ub_ctx *
dns_ctx_new(const struct dns_options *opt, const char **error_r)
{
	struct ub_ctx *ctx = ub_ctx_create();

	if (ctx == NULL) {
		*error_r = "dns: cannot create a libunbound context";
		return NULL;
	}
	/* Threads, not a forked process: postern is already threaded.
	 * A local forwarder (127.0.0.1) is the usual setup for a mail
	 * server, and libunbound skips localhost unless told.  With one
	 * forwarder, a restart of it must not leave it marked down for
	 * the infra cache's TTL. */
	if (ub_ctx_async(ctx, 1) != UB_NOERROR ||
	    ub_ctx_set_option(ctx, "do-not-query-localhost:", "no") != 0 ||
	    ub_ctx_set_option(ctx, "infra-keep-probing:", "yes") != 0) {
		*error_r = "dns: cannot set libunbound options";
		goto fail;
	}
	if (dns_ctx_forwarders(ctx, opt, error_r) < 0 ||
	    dns_ctx_anchor(ctx, opt->trust_anchor_file, error_r) < 0 ||
	    dns_ctx_zones(ctx, opt, error_r) < 0)
		goto fail;
	return ctx;
fail:
	ub_ctx_delete(ctx);
	return NULL;
}

static int
dns_thread_create(struct dns *d, const char **error_r)
{
	sigset_t all, old;
	int r;

	/* The thread, and libunbound's own that it starts, must leave
	 * every signal to the main thread's event loop; faults stay
	 * deliverable so that a crash is reported where it happens. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&d->thread, NULL, dns_thread_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		*error_r = "dns: cannot create the resolver thread";
		return -1;
	}
	return 0;
}

static void
dns_free(struct dns *d)
{
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	pthread_cond_destroy(&d->idle);
	pthread_condattr_destroy(&d->condattr);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct dns *
dns_create(const struct dns_options *opt, const char **error_r)
{
	struct dns *d = xcalloc(1, sizeof(*d));

	d->timeout_ms =
	    opt->timeout_ms != 0 ? opt->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&d->condattr);
	pthread_condattr_setclock(&d->condattr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->idle, &d->condattr);
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->wake_fd < 0) {
		*error_r = "dns: cannot create an eventfd";
		goto fail;
	}
	d->ctx = dns_ctx_new(opt, error_r);
	if (d->ctx == NULL || dns_thread_create(d, error_r) < 0)
		goto fail;
	return d;
fail:
	dns_free(d);
	return NULL;
}

void
dns_destroy(struct dns **dp)
{
	struct dns *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;

	/* First every waiter gets its TEMPFAIL and leaves; only then may
	 * the thread, which frees what they abandoned, end. */
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	dns_wake(d);
	while (d->users > 0)
		pthread_cond_wait(&d->idle, &d->lock);
	d->quit = 1;
	dns_wake(d);
	pthread_mutex_unlock(&d->lock);

	pthread_join(d->thread, NULL);
	dns_free(d);
}

/* ----------------------------------------------------------- lookups */

/* Printable ASCII without backslash (no escapes), labels of 1 to 63
 * octets, 253 in all, one optional final dot. */
static int
dns_name_valid(const char *name)
{
	size_t len, i, label = 0;

	if (name == NULL)
		return 0;
	len = strnlen(name, DNS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c <= ' ' || c >= 0x7f || c == '\\' ||
		    ++label > DNS_LABEL_MAX)
			return 0;
	}
	return label > 0;
}

static void
dns_deadline(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Queue q for the resolver thread; 0, or -1 when stopping. */
static int
dns_submit(struct dns *d, struct dns_query *q)
{
	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	d->users++;
	q->next = NULL;
	if (d->submit_tail != NULL)
		d->submit_tail->next = q;
	else
		d->submit_head = q;
	d->submit_tail = q;
	pthread_mutex_unlock(&d->lock);
	dns_wake(d);
	return 0;
}

/*
 * Wait for q until the deadline; returns 1 when the answer was moved to
 * *answer (q is then the caller's to free), 0 when q was abandoned to
 * the resolver thread.
 */
static int
dns_wait(struct dns *d, struct dns_query *q, const struct timespec *deadline,
         struct dns_answer *answer)
{
	int r = 0, got;

	pthread_mutex_lock(&d->lock);
	while (!q->done && r == 0)
		r = pthread_cond_timedwait(&q->cond, &d->lock, deadline);
	got = q->done;
	if (got) {
		*answer = q->answer;
		memset(&q->answer, 0, sizeof(q->answer));
	} else {
		q->abandoned = 1;
		d->timeouts++;
		/* Wake before leaving: once users is 0, d may be freed. */
		dns_wake(d);
	}
	if (--d->users == 0 && d->stopping)
		pthread_cond_signal(&d->idle);
	pthread_mutex_unlock(&d->lock);
	return got;
}

int
dns_lookup(struct dns *d, const char *name, int type, struct dns_answer *answer)
{
	struct dns_query *q;
	struct timespec deadline;

	memset(answer, 0, sizeof(*answer));
	answer->status = DNS_TEMPFAIL;
	if (!dns_name_valid(name) || type <= 0 || type > 0xffff) {
		answer->status = DNS_PERMFAIL;
		return -1;
	}
	dns_deadline(&deadline, d->timeout_ms);
	q = dns_query_new(d, name, type);
	if (dns_submit(d, q) < 0) {
		dns_query_free(q);
		return 0;
	}
	if (dns_wait(d, q, &deadline, answer))
		dns_query_free(q);
	return 0;
}

void
dns_stats(struct dns *d, unsigned long *queries, unsigned long *timeouts)
{
	pthread_mutex_lock(&d->lock);
	*queries = d->queries;
	*timeouts = d->timeouts;
	pthread_mutex_unlock(&d->lock);
}
