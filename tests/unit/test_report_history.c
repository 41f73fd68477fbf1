/*
 * test_report_history.c - the history sink: records written and read
 * back from a temporary database, the DMARC rows, retention and
 * max_rows, a full queue, a database locked by another process, lost
 * batches, empty aborts left out, and the schema version.
 */
#include "unit.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "filters/report_history.h"

#define DAY 86400

static const struct report_dmarc dmarc_example = {
    .domain = "example.org",
    .policy = "reject",
    .disposition = "reject",
    .dkim = "fail",
    .spf = "pass",
    .rua = "mailto:d@example.org",
    .policy_domain = "example.org",
    .published_p = "reject",
    .published_sp = "quarantine",
    .adkim = "r",
    .aspf = "s",
    .pct = 100,
    .fo = "1",
    .envelope_from = "bounce.example.org",
    .spf_domain = "bounce.example.org",
    .spf_scope = "mfrom",
    .spf_result = "pass",
    .dkim_domain = "other.example",
    .dkim_selector = "sel",
    .dkim_result = "fail",
};

/* A record of the given time, sender domain and result. */
static struct report_txn
txn_make(time_t when, const char *sender, const char *domain,
         enum report_result result)
{
	struct report_txn r;

	memset(&r, 0, sizeof(r));
	r.when = when;
	r.session_id = "abcdef0123";
	r.txn_id = "abcdef0123.1";
	r.front = "proxy";
	r.listener = "smtp";
	r.client_ip = "192.0.2.7";
	r.sender = sender;
	r.sender_domain = domain;
	r.nrcpts = 2;
	r.size = 1234;
	r.result = result;
	r.code = result == REPORT_RELAYED ? 250 : 550;
	r.ecode = result == REPORT_RELAYED ? "2.0.0" : "5.7.1";
	r.text = "it is so";
	r.elapsed = 0.25;
	return r;
}

static struct report_history *
history_open(const char *name, unsigned int retention, unsigned long max_rows,
             size_t queue_max)
{
	struct report_history_opts o = {unit_tmp(name), retention, max_rows,
	                                queue_max};
	struct report_history *h;
	char *error = NULL;

	h = report_history_open(&o, &error);
	if (h == NULL) {
		print_error("open %s: %s\n", name, error);
		fail();
	}
	return h;
}

/* The text of the first column of the first row of sql, "" if none. */
static char *
query_text(const char *name, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *text = NULL;

	assert_int_equal(sqlite3_open(unit_tmp(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		text = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return text != NULL ? text : xstrdup("");
}

static long long
query_int(const char *name, const char *sql)
{
	char *text = query_text(name, sql);
	long long n = atoll(text);

	free(text);
	return n;
}

static void
check_query(const char *name, const char *file, const char *sql,
            const char *want)
{
	char *got = query_text(file, sql);

	check_str(name, sql, got, want);
	free(got);
}

/* Columns read back, as SQLite renders them as text. */
static const struct {
	const char *sql, *want;
} readback_cases[] = {
    {"SELECT count(*) FROM txn", "3"},
    {"SELECT count(*) FROM dmarc", "1"},
    {"SELECT group_concat(result, ',') FROM txn", "relayed,rejected,relayed"},
    {"SELECT sender || '|' || sender_domain || '|' || direction || '|' || "
     "listener || '|' || client_ip FROM txn WHERE id = 2",
     "x@spf.example|spf.example|inbound|smtp|192.0.2.7"},
    {"SELECT code || ' ' || ecode || ' ' || text || ' ' || reason || ' ' "
     "|| filter FROM txn WHERE id = 2",
     "550 5.7.1 it is so spf spf"},
    {"SELECT signatures || ',' || dkim_pass || ',' || dkim_fail || ',' || "
     "spam_score || ',' || nrcpts || ',' || size FROM txn WHERE id = 1",
     "2,1,0,3.5,2,1234"},
    {"SELECT quote(spam_score) || ' ' || quote(queue_id) FROM txn "
     "WHERE id = 2",
     "NULL NULL"},
    {"SELECT queue_id FROM txn WHERE id = 1", "4XyZ1"},
    {"SELECT domain || '|' || policy || '|' || disposition || '|' || dkim || "
     "'|' || spf || '|' || rua || '|' || client_ip FROM dmarc",
     "example.org|reject|reject|fail|pass|mailto:d@example.org|192.0.2.7"},
    {"SELECT published_sp || adkim || aspf || pct || fo || "
     "quote(override) || spf_scope || dkim_selector || dkim_result "
     "FROM dmarc",
     "quarantiners1001NULLmfromselfail"},
    {"SELECT txn_id FROM dmarc", "abcdef0123.1"},
};

static void
test_history_readback(void **state)
{
	struct report_history *h = history_open("readback.db", 0, 0, 0);
	time_t now = time(NULL);
	struct report_txn r[3];
	size_t i;

	r[0] = txn_make(now, "a@example.org", "example.org", REPORT_RELAYED);
	r[0].signatures = 2;
	r[0].dkim_pass = 1;
	r[0].spam_scored = 1;
	r[0].spam_score = 3.5;
	r[0].queue_id = "4XyZ1";
	r[1] = txn_make(now, "x@spf.example", "spf.example", REPORT_REJECTED);
	r[1].reason = REPORT_REASON_SPF;
	r[1].filter = "spf";
	r[2] = txn_make(now, "b@example.org", "example.org", REPORT_RELAYED);
	r[2].dmarc = &dmarc_example;
	report_history_start(h);
	for (i = 0; i < 3; i++)
		report_history_sink(h, &r[i]);
	report_history_flush(h);
	check_int("readback", "dropped", (long long)report_history_dropped(h),
	          0);
	report_history_close(&h);
	assert_null(h);
	for (i = 0; i < ARRAY_LEN(readback_cases); i++)
		check_query("readback", "readback.db", readback_cases[i].sql,
		            readback_cases[i].want);
	check_int("readback", "user_version",
	          query_int("readback.db", "PRAGMA user_version"),
	          REPORT_HISTORY_SCHEMA);
	check_query("readback", "readback.db", "PRAGMA journal_mode", "wal");
}

/* Rows kept by retention and max_rows, applied when the writer starts
 * (and every few minutes after). */
static const struct {
	const char *name;
	unsigned int retention;
	unsigned long max_rows;
	int age_days[6]; /* -1 ends */
	long long want_rows;
	const char *want_senders; /* kept, oldest first */
} retention_cases[] = {
    {"retention", 7 * DAY, 0, {30, 10, 8, 6, 0, -1}, 2, "s3,s4"},
    {"no retention", 0, 0, {30, 10, 0, -1}, 3, "s0,s1,s2"},
    {"max_rows", 0, 2, {5, 4, 3, 2, 1, -1}, 2, "s3,s4"},
    {"both", 3 * DAY, 3, {5, 2, 1, 1, 0, -1}, 3, "s2,s3,s4"},
};

static void
test_history_retention(void **state)
{
	struct report_history *h;
	struct report_txn r;
	char sender[8], file[32];
	time_t now = time(NULL);
	size_t i, j;

	for (i = 0; i < ARRAY_LEN(retention_cases); i++) {
		snprintf(file, sizeof(file), "retention%zu.db", i);
		h = history_open(file, 0, 0, 0);
		report_history_start(h);
		for (j = 0; retention_cases[i].age_days[j] >= 0; j++) {
			snprintf(sender, sizeof(sender), "s%zu", j);
			r = txn_make(
			    now - retention_cases[i].age_days[j] * DAY - 60,
			    sender, "example.org", REPORT_RELAYED);
			r.dmarc = &dmarc_example;
			report_history_sink(h, &r);
		}
		report_history_close(&h);
		/* A restart with the setting: the writer prunes first. */
		h = history_open(file, retention_cases[i].retention,
		                 retention_cases[i].max_rows, 0);
		report_history_start(h);
		report_history_flush(h);
		report_history_close(&h);
		check_int(retention_cases[i].name, "rows",
		          query_int(file, "SELECT count(*) FROM txn"),
		          retention_cases[i].want_rows);
		check_int(retention_cases[i].name, "dmarc rows",
		          query_int(file, "SELECT count(*) FROM dmarc"),
		          retention_cases[i].want_rows);
		check_query(retention_cases[i].name, file,
		            "SELECT group_concat(sender, ',') FROM "
		            "(SELECT sender FROM txn ORDER BY id)",
		            retention_cases[i].want_senders);
	}
}

static const struct {
	const char *name;
	size_t queue_max, sent;
	long long want_dropped, want_rows;
} queue_cases[] = {
    {"fits", 8, 8, 0, 8},
    {"full", 4, 10, 6, 4},
    {"one", 1, 3, 2, 1},
};

/* The writer is not started: the queue fills as if the disk stalled. */
static void
test_history_queue_full(void **state)
{
	struct report_history *h;
	struct report_txn r;
	char file[32];
	size_t i, j;

	for (i = 0; i < ARRAY_LEN(queue_cases); i++) {
		snprintf(file, sizeof(file), "queue%zu.db", i);
		h = history_open(file, 0, 0, queue_cases[i].queue_max);
		r = txn_make(time(NULL), "q@example.org", "example.org",
		             REPORT_RELAYED);
		for (j = 0; j < queue_cases[i].sent; j++)
			report_history_sink(h, &r);
		check_int(queue_cases[i].name, "dropped",
		          (long long)report_history_dropped(h),
		          queue_cases[i].want_dropped);
		report_history_start(h);
		report_history_flush(h);
		report_history_close(&h);
		check_int(queue_cases[i].name, "rows",
		          query_int(file, "SELECT count(*) FROM txn"),
		          queue_cases[i].want_rows);
	}
}

/* After stop (the daemon's exit), a late record is dropped, not
 * written, and what was queued before is written. */
static void
test_history_stop_drops(void **state)
{
	struct report_history *h = history_open("stop.db", 0, 0, 0);
	struct report_txn r = txn_make(time(NULL), "s@example.org",
	                               "example.org", REPORT_RELAYED);

	report_history_start(h);
	report_history_sink(h, &r);
	report_history_sink(h, &r);
	report_history_stop(h);
	report_history_sink(h, &r);
	check_int("stop", "dropped", (long long)report_history_dropped(h), 1);
	report_history_close(&h);
	check_int("stop", "rows",
	          query_int("stop.db", "SELECT count(*) FROM txn"), 2);
}

static void
test_history_schema_newer(void **state)
{
	struct report_history_opts o = {unit_tmp("newer.db"), 0, 0, 0};
	struct report_history *h;
	sqlite3 *db;
	char *error = NULL;

	assert_int_equal(sqlite3_open(o.path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	h = report_history_open(&o, &error);
	assert_null(h);
	assert_non_null(strstr(error, "schema version 99"));
	free(error);
	o.path = unit_tmp("no-such-dir/x.db");
	h = report_history_open(&o, &error);
	assert_null(h);
	assert_non_null(strstr(error, "no-such-dir"));
	free(error);
}

/* Aborts without an accepted recipient are not kept; aborts with one,
 * and refusals without any recipient, are. */
static void
test_history_empty_aborts(void **state)
{
	struct report_history *h = history_open("aborts.db", 0, 0, 0);
	time_t now = time(NULL);
	struct report_txn r[4];
	size_t i;

	r[0] = txn_make(now, "a@example.org", "example.org", REPORT_ABORTED);
	r[0].nrcpts = 0;
	r[1] = txn_make(now, "b@example.org", "example.org", REPORT_ABORTED);
	r[1].nrcpts = 1;
	r[2] = txn_make(now, "c@example.org", "example.org", REPORT_REJECTED);
	r[2].nrcpts = 0;
	r[3] = txn_make(now, "", "", REPORT_ABORTED);
	r[3].nrcpts = 0;
	report_history_start(h);
	for (i = 0; i < ARRAY_LEN(r); i++)
		report_history_sink(h, &r[i]);
	report_history_flush(h);
	check_int("aborts", "dropped", (long long)report_history_dropped(h), 0);
	report_history_close(&h);
	check_query("aborts", "aborts.db",
	            "SELECT group_concat(sender || ':' || result, ',') FROM "
	            "(SELECT sender, result FROM txn ORDER BY id)",
	            "b@example.org:aborted,c@example.org:rejected");
}

/* Run sql on the database name from a connection of the test's own,
 * as another process would. */
static void
exec_other(const char *name, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(unit_tmp(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Another connection of the test stands for another process. */
static sqlite3 *
lock_exclusive(const char *name)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(unit_tmp(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	                 SQLITE_OK);
	return db;
}

static void
unlock_exclusive(sqlite3 *db)
{
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
}

/* Wait until the writer has been locked out n times (bounded: a writer
 * that never retries fails the test rather than hanging it). */
static void
wait_retries(struct report_history *h, unsigned long long n)
{
	struct timespec pause = {0, 1000000};
	struct report_history_counts c;
	int i;

	for (i = 0; i < 30000; i++) {
		report_history_counts(h, &c);
		if (c.retries >= n)
			return;
		nanosleep(&pause, NULL);
	}
	print_error("writer retried %llu times, want %llu\n", c.retries, n);
	fail();
}

/*
 * A lock held past the busy timeout: the batch is kept and written once
 * the lock goes, records sent meanwhile queue behind it up to the
 * queue's bound (2 here) and the rest are dropped and counted.
 */
static void
test_history_locked_retry(void **state)
{
	struct report_history *h = history_open("locked.db", 0, 0, 2);
	struct report_txn r = txn_make(time(NULL), "l@example.org",
	                               "example.org", REPORT_RELAYED);
	struct report_history_counts c;
	sqlite3 *other;
	int i;

	report_history_set_timing(h, 20, 10);
	other = lock_exclusive("locked.db");
	report_history_start(h);
	report_history_sink(h, &r); /* the batch */
	wait_retries(h, 2);
	for (i = 0; i < 3; i++) /* two queue, one dropped */
		report_history_sink(h, &r);
	unlock_exclusive(other);
	report_history_flush(h);
	report_history_counts(h, &c);
	check_int("locked", "lost", (long long)c.lost, 0);
	check_int("locked", "dropped", (long long)c.dropped, 1);
	report_history_close(&h);
	check_int("locked", "rows",
	          query_int("locked.db", "SELECT count(*) FROM txn"), 3);
}

/* At exit the writer gives a locked-out batch one more try, then loses
 * it, counted, rather than hold up the daemon's exit. */
static void
test_history_locked_at_stop(void **state)
{
	struct report_history *h = history_open("stoplock.db", 0, 0, 0);
	struct report_txn r = txn_make(time(NULL), "l@example.org",
	                               "example.org", REPORT_RELAYED);
	struct report_history_counts c;
	sqlite3 *other;

	report_history_set_timing(h, 20, 10);
	other = lock_exclusive("stoplock.db");
	report_history_start(h);
	report_history_sink(h, &r);
	wait_retries(h, 1);
	report_history_stop(h);
	report_history_counts(h, &c);
	check_int("stop locked", "lost", (long long)c.lost, 1);
	unlock_exclusive(other);
	report_history_close(&h);
	check_int("stop locked", "rows",
	          query_int("stoplock.db", "SELECT count(*) FROM txn"), 0);
}

/* Other errors lose the batch at once, counted, and the counts are on
 * the metrics listener's text. */
static void
test_history_lost_counted(void **state)
{
	struct report_history *h = history_open("lost.db", 0, 0, 0);
	struct report_txn r = txn_make(time(NULL), "x@example.org",
	                               "example.org", REPORT_RELAYED);
	struct report_history_counts c;
	char *text;

	exec_other("lost.db", "CREATE TRIGGER refuse BEFORE INSERT ON txn "
	                      "BEGIN SELECT RAISE(ABORT, 'no'); END");
	report_history_start(h);
	report_history_sink(h, &r);
	report_history_sink(h, &r);
	report_history_flush(h);
	report_history_counts(h, &c);
	check_int("lost", "lost", (long long)c.lost, 2);
	check_int("lost", "retries", (long long)c.retries, 0);
	text = report_history_prometheus(h);
	check_int("lost", "lost line",
	          strstr(text, "\npostern_history_lost_total 2\n") != NULL, 1);
	check_int("lost", "dropped line",
	          strstr(text, "\npostern_history_dropped_total 0\n") != NULL,
	          1);
	check_int("lost", "type line",
	          strstr(text, "# TYPE postern_history_lost_total counter\n") !=
	              NULL,
	          1);
	free(text);
	report_history_close(&h);
}

/* A table dropped under the writer (by hand, say) is made again and
 * the batch written, rather than every batch lost until a restart. */
static void
test_history_table_dropped(void **state)
{
	struct report_history *h = history_open("dropped.db", 0, 0, 0);
	struct report_txn r = txn_make(time(NULL), "d@example.org",
	                               "example.org", REPORT_RELAYED);
	struct report_history_counts c;

	report_history_start(h);
	report_history_sink(h, &r);
	report_history_flush(h);
	exec_other("dropped.db", "DROP TABLE txn");
	report_history_sink(h, &r);
	report_history_sink(h, &r);
	report_history_flush(h);
	report_history_counts(h, &c);
	check_int("dropped", "lost", (long long)c.lost, 0);
	report_history_close(&h);
	check_int("dropped", "rows",
	          query_int("dropped.db", "SELECT count(*) FROM txn"), 2);
}

static int
setup(void **state)
{
	return unit_tmpdir_make("test_report_history");
}

static int
teardown(void **state)
{
	return unit_tmpdir_remove();
}

/* A new database is not for every local account; an existing one
 * keeps the mode its owner gave it. */
static void
test_history_file_mode(void **state)
{
	struct report_history *h = history_open("mode.db", 0, 0, 0);
	struct stat st;

	report_history_close(&h);
	assert_int_equal(stat(unit_tmp("mode.db"), &st), 0);
	check_int("new", "mode", (long long)(st.st_mode & 07777), 0640);
	assert_int_equal(chmod(unit_tmp("mode.db"), 0600), 0);
	h = history_open("mode.db", 0, 0, 0);
	report_history_close(&h);
	assert_int_equal(stat(unit_tmp("mode.db"), &st), 0);
	check_int("existing", "mode", (long long)(st.st_mode & 07777), 0600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_history_readback),
	    cmocka_unit_test(test_history_file_mode),
	    cmocka_unit_test(test_history_retention),
	    cmocka_unit_test(test_history_queue_full),
	    cmocka_unit_test(test_history_stop_drops),
	    cmocka_unit_test(test_history_empty_aborts),
	    cmocka_unit_test(test_history_locked_retry),
	    cmocka_unit_test(test_history_locked_at_stop),
	    cmocka_unit_test(test_history_lost_counted),
	    cmocka_unit_test(test_history_table_dropped),
	    cmocka_unit_test(test_history_schema_newer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
