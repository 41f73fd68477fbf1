/*
 * report_history.c - the history sink and its writer thread.
 *
 * The sink runs on the front ends' threads: it copies the record into
 * one allocation (the struct and its strings) and appends it to a ring
 * under a mutex, or drops it when the ring is full.  The writer thread
 * takes everything queued, inserts it in one SQL transaction, and once
 * in a while deletes what the retention and max_rows no longer keep.
 * When another process holds the database locked past the busy timeout
 * (a long `BEGIN EXCLUSIVE`, a backup), the writer keeps the batch and
 * tries again after a pause; the sinks go on queueing behind it up to
 * the queue's bound.  Other SQLite errors are logged and the batch lost
 * and counted: the history is a record for the postmaster, not the
 * mail itself.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filters/report_history.h"
#include "util/log.h"
#include "util/xalloc.h"

#define QUEUE_DEFAULT    10000
#define HISTORY_MODE     0640 /* a new database file */
#define BUSY_TIMEOUT_MS  5000
#define RETRY_MS         1000 /* pause before a locked-out batch again */
#define BATCH_DELAY_MS   100  /* gather records this long per transaction */
#define PRUNE_INTERVAL   300  /* seconds between retention passes */
#define DROP_LOG_SECONDS 60

/* A queued record: the struct, then its strings, in one block. */
struct hist_rec {
	struct report_txn r;
	struct report_dmarc d;
	char strings[];
};

struct report_history {
	sqlite3 *db;
	unsigned int retention;
	unsigned long max_rows;
	unsigned int retry_ms;

	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	struct hist_rec **ring;
	size_t size, head, count;
	unsigned long long queued, written; /* records, for flush */
	unsigned long long dropped;         /* the queue was full */
	unsigned long long lost;            /* database errors */
	unsigned long long retries; /* batches tried again after a lock */
	unsigned int flushers;      /* report_history_flush() callers */
	sqlite3_stmt *ts, *ds;      /* the inserts, prepared once */
	time_t drop_logged;
	int running, stopping;
	pthread_t thread;
	time_t pruned;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS txn ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " session_id TEXT, txn_id TEXT, front TEXT, listener TEXT,"
    " direction TEXT, client_ip TEXT, sender TEXT, sender_domain TEXT,"
    " queue_id TEXT, nrcpts INTEGER, size INTEGER, result TEXT,"
    " reason TEXT, filter TEXT, code INTEGER, ecode TEXT, text TEXT,"
    " upstream_code INTEGER, signatures INTEGER, dkim_pass INTEGER,"
    " dkim_fail INTEGER, spam_score REAL, elapsed REAL);"
    "CREATE INDEX IF NOT EXISTS txn_time ON txn(time);"
    "CREATE INDEX IF NOT EXISTS txn_domain ON txn(sender_domain, time);"
    "CREATE TABLE IF NOT EXISTS dmarc ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " txn_id TEXT, domain TEXT, policy_domain TEXT, policy TEXT,"
    " published_p TEXT, published_sp TEXT, adkim TEXT, aspf TEXT,"
    " pct INTEGER, fo TEXT, disposition TEXT, override TEXT,"
    " dkim TEXT, spf TEXT, rua TEXT, client_ip TEXT, envelope_from TEXT, spf_domain TEXT,"
    " spf_scope TEXT, spf_result TEXT, dkim_domain TEXT,"
    " dkim_selector TEXT, dkim_result TEXT, count INTEGER NOT NULL"
    " DEFAULT 1);"
    "CREATE INDEX IF NOT EXISTS dmarc_domain ON dmarc(domain, time);"
    "CREATE INDEX IF NOT EXISTS dmarc_time ON dmarc(time);";

static const char txn_insert_sql[] =
    "INSERT INTO txn (time, session_id, txn_id, front, listener,"
    " direction, client_ip, sender, sender_domain, queue_id, nrcpts,"
    " size, result, reason, filter, code, ecode, text, upstream_code,"
    " signatures, dkim_pass, dkim_fail, spam_score, elapsed) VALUES"
    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static const char dmarc_insert_sql[] =
    "INSERT INTO dmarc (time, txn_id, domain, policy_domain, policy,"
    " published_p, published_sp, adkim, aspf, pct, fo, disposition, override,"
    " dkim, spf, rua, client_ip, envelope_from, spf_domain, spf_scope,"
    " spf_result, dkim_domain, dkim_selector, dkim_result) VALUES"
    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/* Schema */

int
report_history_schema(struct sqlite3 *db, char **error_r)
{
	sqlite3_stmt *st;
	int version = 0;
	char *msg = NULL;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (version > REPORT_HISTORY_SCHEMA) {
		*error_r = xasprintf("schema version %d is newer than %d",
		                     version, REPORT_HISTORY_SCHEMA);
		return -1;
	}
	if (sqlite3_exec(db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, &msg) !=
	        SQLITE_OK) {
		*error_r = xasprintf("schema: %s", msg != NULL ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

struct report_history *
report_history_open(const struct report_history_opts *opts, char **error_r)
{
	struct report_history *h;
	sqlite3 *db = NULL;
	char *msg = NULL;
	int created = access(opts->path, F_OK) < 0;

	if (sqlite3_open_v2(opts->path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: %s", opts->path,
		                     db != NULL ? sqlite3_errmsg(db)
		                                : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	/* Senders and recipients are personal data: not for every local
	 * account.  SQLite gives the -wal and -shm files the same mode. */
	if (created && chmod(opts->path, HISTORY_MODE) < 0)
		log_warning("history: chmod %s: %s", opts->path,
		            strerror(errno));
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		*error_r = xasprintf("%s: %s", opts->path, msg);
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	if (report_history_schema(db, &msg) < 0) {
		*error_r = xasprintf("%s: %s", opts->path, msg);
		free(msg);
		sqlite3_close(db);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->db = db;
	h->retention = opts->retention;
	h->max_rows = opts->max_rows;
	h->retry_ms = RETRY_MS;
	h->size = opts->queue_max > 0 ? opts->queue_max : QUEUE_DEFAULT;
	h->ring = xcalloc(h->size, sizeof(*h->ring));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->done, NULL);
	return h;
}

void
report_history_set_timing(struct report_history *h,
                          unsigned int busy_timeout_ms, unsigned int retry_ms)
{
	sqlite3_busy_timeout(h->db, (int)busy_timeout_ms);
	h->retry_ms = retry_ms;
}

/* Copying a record */

static size_t
str_len(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* Copy s to *pos, return the copy (NULL stays NULL). */
static const char *
str_put(char **pos, const char *s)
{
	char *copy = *pos;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(copy, s, n);
	*pos += n;
	return copy;
}

static size_t
dmarc_len(const struct report_dmarc *d)
{
	return str_len(d->domain) + str_len(d->policy) +
	       str_len(d->disposition) + str_len(d->dkim) + str_len(d->spf) +
	       str_len(d->rua) + str_len(d->policy_domain) +
	       str_len(d->published_p) + str_len(d->published_sp) +
	       str_len(d->adkim) + str_len(d->aspf) + str_len(d->fo) +
	       str_len(d->override) + str_len(d->envelope_from) +
	       str_len(d->spf_domain) + str_len(d->spf_scope) +
	       str_len(d->spf_result) + str_len(d->dkim_domain) +
	       str_len(d->dkim_selector) + str_len(d->dkim_result);
}

static void
dmarc_copy(struct report_dmarc *to, const struct report_dmarc *d, char **pos)
{
	to->domain = str_put(pos, d->domain);
	to->policy = str_put(pos, d->policy);
	to->disposition = str_put(pos, d->disposition);
	to->dkim = str_put(pos, d->dkim);
	to->spf = str_put(pos, d->spf);
	to->rua = str_put(pos, d->rua);
	to->policy_domain = str_put(pos, d->policy_domain);
	to->published_p = str_put(pos, d->published_p);
	to->published_sp = str_put(pos, d->published_sp);
	to->adkim = str_put(pos, d->adkim);
	to->aspf = str_put(pos, d->aspf);
	to->pct = d->pct;
	to->fo = str_put(pos, d->fo);
	to->override = str_put(pos, d->override);
	to->envelope_from = str_put(pos, d->envelope_from);
	to->spf_domain = str_put(pos, d->spf_domain);
	to->spf_scope = str_put(pos, d->spf_scope);
	to->spf_result = str_put(pos, d->spf_result);
	to->dkim_domain = str_put(pos, d->dkim_domain);
	to->dkim_selector = str_put(pos, d->dkim_selector);
	to->dkim_result = str_put(pos, d->dkim_result);
}

static struct hist_rec *
rec_copy(const struct report_txn *r)
{
	size_t len = str_len(r->session_id) + str_len(r->txn_id) +
	             str_len(r->front) + str_len(r->listener) +
	             str_len(r->client_ip) + str_len(r->sender) +
	             str_len(r->sender_domain) + str_len(r->queue_id) +
	             str_len(r->filter) + str_len(r->ecode) + str_len(r->text);
	struct hist_rec *c;
	char *pos;

	if (r->dmarc != NULL)
		len += dmarc_len(r->dmarc);
	c = xmalloc(sizeof(*c) + len);
	c->r = *r;
	pos = c->strings;
	c->r.session_id = str_put(&pos, r->session_id);
	c->r.txn_id = str_put(&pos, r->txn_id);
	c->r.front = str_put(&pos, r->front);
	c->r.listener = str_put(&pos, r->listener);
	c->r.client_ip = str_put(&pos, r->client_ip);
	c->r.sender = str_put(&pos, r->sender);
	c->r.sender_domain = str_put(&pos, r->sender_domain);
	c->r.queue_id = str_put(&pos, r->queue_id);
	c->r.filter = str_put(&pos, r->filter);
	c->r.ecode = str_put(&pos, r->ecode);
	c->r.text = str_put(&pos, r->text);
	if (r->dmarc != NULL) {
		dmarc_copy(&c->d, r->dmarc, &pos);
		c->r.dmarc = &c->d;
	}
	return c;
}

/* The sink */

void
report_history_sink(void *arg, const struct report_txn *r)
{
	struct report_history *h = arg;
	struct hist_rec *c;
	unsigned long long dropped = 0;
	time_t now;

	if (r->result == REPORT_ABORTED && r->nrcpts == 0)
		return;
	c = rec_copy(r);
	pthread_mutex_lock(&h->lock);
	if (h->stopping) /* at exit: a late milter thread */
		h->dropped++;
	else if (h->count < h->size) {
		h->ring[(h->head + h->count) % h->size] = c;
		h->count++;
		h->queued++;
		c = NULL;
		/* The writer waits for a first record, then gathers more
		 * for a while; it is woken early when half the ring is
		 * used. */
		if (h->count == 1 || h->count == h->size / 2)
			pthread_cond_signal(&h->wake);
	} else {
		h->dropped++;
		now = time(NULL);
		if (now - h->drop_logged >= DROP_LOG_SECONDS) {
			h->drop_logged = now;
			dropped = h->dropped;
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (c == NULL)
		return;
	free(c);
	if (dropped > 0)
		log_warning(
		    "%s history queue full: record dropped dropped=%llu",
		    r->session_id != NULL ? r->session_id : "-", dropped);
}

void
report_history_register(struct report_history *h)
{
	report_add_sink(report_history_sink, h);
}

unsigned long long
report_history_dropped(struct report_history *h)
{
	unsigned long long n;

	pthread_mutex_lock(&h->lock);
	n = h->dropped;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void
report_history_counts(struct report_history *h,
                      struct report_history_counts *out)
{
	pthread_mutex_lock(&h->lock);
	out->dropped = h->dropped;
	out->lost = h->lost;
	out->retries = h->retries;
	pthread_mutex_unlock(&h->lock);
}

char *
report_history_prometheus(struct report_history *h)
{
	struct report_history_counts c;

	report_history_counts(h, &c);
	return xasprintf(
	    "# HELP postern_history_dropped_total History records dropped "
	    "because the queue was full.\n"
	    "# TYPE postern_history_dropped_total counter\n"
	    "postern_history_dropped_total %llu\n"
	    "# HELP postern_history_lost_total History records lost to "
	    "database errors.\n"
	    "# TYPE postern_history_lost_total counter\n"
	    "postern_history_lost_total %llu\n",
	    c.dropped, c.lost);
}

/* Writing */

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* SQLITE_OK when the statement ran to its end, else its error. */
static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
insert_txn(sqlite3_stmt *st, const struct report_txn *r)
{
	int i = 1;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)r->when);
	bind_text(st, i++, r->session_id);
	bind_text(st, i++, r->txn_id);
	bind_text(st, i++, r->front);
	bind_text(st, i++, r->listener);
	bind_text(st, i++, r->outbound ? "outbound" : "inbound");
	bind_text(st, i++, r->client_ip);
	bind_text(st, i++, r->sender);
	bind_text(st, i++, r->sender_domain);
	bind_text(st, i++, r->queue_id);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)r->nrcpts);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)r->size);
	bind_text(st, i++, report_result_name(r->result));
	bind_text(st, i++, report_reason_name(r->reason));
	bind_text(st, i++, r->filter);
	sqlite3_bind_int(st, i++, r->code);
	bind_text(st, i++, r->ecode);
	bind_text(st, i++, r->text);
	sqlite3_bind_int(st, i++, r->upstream_code);
	sqlite3_bind_int(st, i++, (int)r->signatures);
	sqlite3_bind_int(st, i++, (int)r->dkim_pass);
	sqlite3_bind_int(st, i++, (int)r->dkim_fail);
	if (r->spam_scored)
		sqlite3_bind_double(st, i++, r->spam_score);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_double(st, i, r->elapsed);
	return step_done(st);
}

static int
insert_dmarc(sqlite3_stmt *st, const struct report_txn *r)
{
	const struct report_dmarc *d = r->dmarc;
	int i = 1;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, i++, (sqlite3_int64)r->when);
	bind_text(st, i++, r->txn_id);
	bind_text(st, i++, d->domain);
	bind_text(st, i++, d->policy_domain);
	bind_text(st, i++, d->policy);
	bind_text(st, i++, d->published_p);
	bind_text(st, i++, d->published_sp);
	bind_text(st, i++, d->adkim);
	bind_text(st, i++, d->aspf);
	sqlite3_bind_int(st, i++, (int)d->pct);
	bind_text(st, i++, d->fo);
	bind_text(st, i++, d->disposition);
	bind_text(st, i++, d->override);
	bind_text(st, i++, d->dkim);
	bind_text(st, i++, d->spf);
	bind_text(st, i++, d->rua);
	bind_text(st, i++, r->client_ip);
	bind_text(st, i++, d->envelope_from);
	bind_text(st, i++, d->spf_domain);
	bind_text(st, i++, d->spf_scope);
	bind_text(st, i++, d->spf_result);
	bind_text(st, i++, d->dkim_domain);
	bind_text(st, i++, d->dkim_selector);
	bind_text(st, i, d->dkim_result);
	return step_done(st);
}

static int
insert_rec(sqlite3_stmt *ts, sqlite3_stmt *ds, const struct report_txn *r)
{
	int rc = insert_txn(ts, r);

	if (rc == SQLITE_OK && r->dmarc != NULL)
		rc = insert_dmarc(ds, r);
	return rc;
}

/* Another connection holds the lock: the same batch may go in later. */
static int
rc_locked(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Insert the batch in one SQL transaction.  SQLITE_OK, or the error
 * with SQLite's message in msg, after rolling back. */
static void
statements_free(struct report_history *h)
{
	sqlite3_finalize(h->ts);
	sqlite3_finalize(h->ds);
	h->ts = h->ds = NULL;
}

static int
write_batch(struct report_history *h, struct hist_rec **batch, size_t n,
            char *msg, size_t size)
{
	size_t i;
	int rc;

	rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	/* Prepared once: parsing two long INSERTs per batch cost more
	 * than the inserts. */
	if (rc == SQLITE_OK && h->ts == NULL)
		rc =
		    sqlite3_prepare_v2(h->db, txn_insert_sql, -1, &h->ts, NULL);
	if (rc == SQLITE_OK && h->ds == NULL)
		rc = sqlite3_prepare_v2(h->db, dmarc_insert_sql, -1, &h->ds,
		                        NULL);
	for (i = 0; i < n && rc == SQLITE_OK; i++)
		rc = insert_rec(h->ts, h->ds, &batch[i]->r);
	if (rc != SQLITE_OK) /* before ROLLBACK resets it */
		snprintf(msg, size, "%s", sqlite3_errmsg(h->db));
	if (h->ts != NULL)
		sqlite3_reset(h->ts);
	if (h->ds != NULL)
		sqlite3_reset(h->ds);
	if (rc != SQLITE_OK && !rc_locked(rc))
		statements_free(h); /* prepared again next time */
	if (rc == SQLITE_OK) {
		rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return rc;
		snprintf(msg, size, "%s", sqlite3_errmsg(h->db));
	}
	if (!sqlite3_get_autocommit(h->db))
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Pause before a locked-out batch is tried again, counted.  -1 when the
 * writer is stopping: it has had its last try. */
static int
retry_wait(struct report_history *h)
{
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += h->retry_ms / 1000;
	until.tv_nsec += (long)(h->retry_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->lock);
	if (h->stopping)
		ret = -1;
	else
		h->retries++;
	/* wake is signalled for every queued record: wait on. */
	while (ret == 0 && !h->stopping &&
	       pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* 1 when a table was missing and has been made again. */
static int
schema_lost(struct report_history *h)
{
	sqlite3_stmt *st;
	char *error = NULL;
	int tables = 0;

	if (sqlite3_prepare_v2(h->db,
	                       "SELECT count(*) FROM sqlite_master WHERE "
	                       "type = 'table' AND name IN ('txn', 'dmarc')",
	                       -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		tables = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (tables == 2)
		return 0;
	statements_free(h);
	if (report_history_schema(h->db, &error) < 0) {
		log_warning("history: tables missing, cannot make them: %s",
		            error);
		free(error);
		return 0;
	}
	log_warning("history: tables missing, made again");
	return 1;
}

/*
 * Write the batch, again after a pause for as long as another process
 * holds the database locked past the busy timeout (the batch waits
 * here, new records in the queue); at exit the batch gets one more
 * try.  Any other error loses the batch, counted.
 */
static void
write_kept(struct report_history *h, struct hist_rec **batch, size_t n)
{
	unsigned long long lost;
	unsigned int tries = 0;
	char msg[256] = "", why[512];
	int rc;

	while ((rc = write_batch(h, batch, n, msg, sizeof(msg))) != SQLITE_OK &&
	       rc_locked(rc)) {
		if (tries++ == 0)
			log_warning("history: database locked, batch of %zu "
			            "kept to try again: %s",
			            n, msg);
		if (retry_wait(h) < 0)
			break;
	}
	/* Someone dropped a table under us (sqlite3 by hand, a restore):
	 * the schema is made again and the batch tried once more, rather
	 * than every batch lost until a restart. */
	if ((rc & 0xff) == SQLITE_ERROR && schema_lost(h)) {
		rc = write_batch(h, batch, n, msg, sizeof(msg));
		tries++;
	}
	if (rc == SQLITE_OK) {
		if (tries > 0)
			log_info("history: batch of %zu written tries=%u", n,
			         tries + 1);
		return;
	}
	pthread_mutex_lock(&h->lock);
	h->lost += n;
	lost = h->lost;
	pthread_mutex_unlock(&h->lock);
	log_warning("history: batch lost records=%zu lost=%llu reason=\"%s\"",
	            n, lost, log_escape_str(why, sizeof(why), msg));
}

static void
exec_logged(struct report_history *h, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return;
	log_warning("history: %s", msg != NULL ? msg : "?");
	sqlite3_free(msg);
}

/* Delete what the retention and max_rows no longer keep. */
static void
prune(struct report_history *h, time_t now)
{
	char *sql;

	h->pruned = now;
	if (h->retention > 0) {
		sql = xasprintf("DELETE FROM txn WHERE time < %lld;"
		                "DELETE FROM dmarc WHERE time < %lld;",
		                (long long)now - h->retention,
		                (long long)now - h->retention);
		exec_logged(h, sql);
		free(sql);
	}
	if (h->max_rows > 0) {
		sql = xasprintf("DELETE FROM txn WHERE id <= (SELECT id FROM "
		                "txn ORDER BY id DESC LIMIT 1 OFFSET %lu);"
		                "DELETE FROM dmarc WHERE id <= (SELECT id FROM "
		                "dmarc ORDER BY id DESC LIMIT 1 OFFSET %lu);",
		                h->max_rows, h->max_rows);
		exec_logged(h, sql);
		free(sql);
	}
}

/* Records have come: gather more for BATCH_DELAY_MS, one transaction
 * for them all, unless the ring fills up, a flush waits or the writer
 * stops. */
static void
gather(struct report_history *h)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)BATCH_DELAY_MS * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	while (!h->stopping && h->flushers == 0 && h->count < h->size / 2 &&
	       pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT)
		;
}

/* Take what is queued (at most the ring's size) into batch. */
static size_t
take(struct report_history *h, struct hist_rec **batch)
{
	size_t n = 0;

	while (h->count > 0) {
		batch[n++] = h->ring[h->head];
		h->head = (h->head + 1) % h->size;
		h->count--;
	}
	return n;
}

static void *
writer(void *arg)
{
	struct report_history *h = arg;
	struct hist_rec **batch = xcalloc(h->size, sizeof(*batch));
	struct timespec until;
	size_t i, n;

	prune(h, time(NULL));
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->count == 0 && !h->stopping) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += PRUNE_INTERVAL;
			if (pthread_cond_timedwait(&h->wake, &h->lock,
			                           &until) == ETIMEDOUT)
				break;
		}
		if (h->count == 0 && h->stopping)
			break;
		if (h->count > 0)
			gather(h);
		n = take(h, batch);
		pthread_mutex_unlock(&h->lock);
		if (n > 0)
			write_kept(h, batch, n);
		for (i = 0; i < n; i++)
			free(batch[i]);
		if (time(NULL) - h->pruned >= PRUNE_INTERVAL)
			prune(h, time(NULL));
		pthread_mutex_lock(&h->lock);
		h->written += n;
		pthread_cond_broadcast(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	free(batch);
	return NULL;
}

void
report_history_start(struct report_history *h)
{
	pthread_mutex_lock(&h->lock);
	h->running = 1;
	pthread_mutex_unlock(&h->lock);
	if (pthread_create(&h->thread, NULL, writer, h) != 0)
		abort(); /* startup: no thread, no daemon */
}

void
report_history_flush(struct report_history *h)
{
	unsigned long long target;

	pthread_mutex_lock(&h->lock);
	target = h->queued;
	h->flushers++;
	pthread_cond_signal(&h->wake); /* no gathering: write it now */
	while (h->running && h->written < target)
		pthread_cond_wait(&h->done, &h->lock);
	h->flushers--;
	pthread_mutex_unlock(&h->lock);
}

void
report_history_stop(struct report_history *h)
{
	int running;

	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->stopping = 1;
	running = h->running;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (running)
		pthread_join(h->thread, NULL);
	pthread_mutex_lock(&h->lock);
	h->running = 0;
	while (h->count > 0) { /* never started: nothing was written */
		free(h->ring[h->head]);
		h->head = (h->head + 1) % h->size;
		h->count--;
	}
	pthread_mutex_unlock(&h->lock);
	statements_free(h);
	sqlite3_close(h->db);
	h->db = NULL;
}

void
report_history_close(struct report_history **hp)
{
	struct report_history *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	report_history_stop(h);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->done);
	free(h->ring);
	free(h);
}
