/*
 * report_history.h - the history: every ended transaction, and every
 * DMARC evaluation, as rows of an SQLite database that `postern report`
 * reads (proxy/postern_report.c).
 *
 * The sink copies the record into a bounded queue and returns; a writer
 * thread of its own inserts the queue in batches (one SQL transaction
 * each, WAL journal, busy timeout) and deletes rows older than the
 * retention.  A batch the database refuses because another process
 * holds it locked is kept and tried again; meanwhile the queue fills.
 * When the queue is full records are dropped and counted, with a log
 * line at most once a minute: the daemon never waits for the disk.
 * Records of other database errors are lost, and counted too.
 */
#ifndef POSTERN_REPORT_HISTORY_H
#define POSTERN_REPORT_HISTORY_H

#include <stddef.h>
#include <time.h>

#include "filters/report.h"

/* The schema version, in PRAGMA user_version. */
#define REPORT_HISTORY_SCHEMA 1

struct report_history_opts {
	const char *path;       /* the database; copied */
	unsigned int retention; /* seconds rows are kept; 0: forever */
	unsigned long max_rows; /* transactions kept at most; 0: no limit */
	size_t queue_max;       /* records waiting at most; 0: default */
};

struct report_history;

/* Open (creating) the database and its schema; the writer is not yet
 * running.  NULL with a reason in *error_r (allocated, the caller
 * frees it). */
struct report_history *
report_history_open(const struct report_history_opts *opts, char **error_r);

/* For tests, before report_history_start(): how long SQLite waits for
 * another connection's lock (default 5000 ms) and the pause before a
 * batch locked out past that is tried again (default 1000 ms). */
void report_history_set_timing(struct report_history *h,
                               unsigned int busy_timeout_ms,
                               unsigned int retry_ms);

/* Start the writer thread.  Records queued before are kept. */
void report_history_start(struct report_history *h);

/* The sink (report.h): queue a copy of r, or drop and count it.  An
 * aborted transaction without any accepted recipient (MAIL, then RSET
 * or QUIT) is not kept: it tells the postmaster nothing, and a client
 * repeating it must not push real rows out.  Thread-safe; never waits
 * for the writer. */
void report_history_sink(void *h, const struct report_txn *r);

/* Register the sink with report_add_sink(). */
void report_history_register(struct report_history *h);

/* Wait until the writer has written every record queued so far (for
 * tests and shutdown); returns at once when it is not running. */
void report_history_flush(struct report_history *h);

/* Records dropped because the queue was full. */
unsigned long long report_history_dropped(struct report_history *h);

/* Records not written, and how often a locked database was waited for. */
struct report_history_counts {
	unsigned long long dropped; /* the queue was full */
	unsigned long long lost;    /* database errors; a lock at exit */
	unsigned long long retries; /* batches tried again after a lock */
};

void report_history_counts(struct report_history *h,
                           struct report_history_counts *out);

/* The dropped and lost counts in the Prometheus text format, for the
 * metrics listener.  Returns a string the caller frees. */
char *report_history_prometheus(struct report_history *h);

/* Stop the writer after it has written the queue and close the
 * database; records sent to the sink afterwards are dropped and
 * counted.  For the daemon's exit, where a milter thread may still end
 * a transaction: h stays allocated. */
void report_history_stop(struct report_history *h);

/* report_history_stop(), then free *hp and set it to NULL. */
void report_history_close(struct report_history **hp);

/*
 * Create the schema in an open sqlite3 handle if missing.  0, or -1 with
 * a reason (allocated) in *error_r: a database of a newer schema.
 */
struct sqlite3;
int report_history_schema(struct sqlite3 *db, char **error_r);

#endif
