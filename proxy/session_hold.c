/*
 * session_hold.c - keep a held message in the quarantine directory.
 *
 * A filter may answer FILTER_HOLD: the message is neither delivered
 * nor refused but kept for the postmaster.  Postern writes it, as it
 * would have gone upstream, to a file of its own in quarantine_dir,
 * preceded by the envelope (Return-Path, one X-Postern-Envelope-To per
 * recipient) and an X-Postern-Held field naming the transaction and the
 * reason.  The file is written under a temporary name, synced and
 * renamed, on the worker pool; only then does the client hear 250, so
 * a held message is as safe as a delivered one.  The upstream
 * transaction is reset.  When the file cannot be written the client
 * gets 451 4.3.0 and keeps the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "proxy/config.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HOLD_BUF 16384

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
write_envelope(int fd, const struct session *s)
{
	const struct filter_txn *t = &s->txn;
	char *text;
	size_t i;
	int rc;

	text = xasprintf("Return-Path: <%s>\r\nX-Postern-Held: id=%s; "
	                 "filter=%s; %s\r\n",
	                 t->mail_from != NULL ? t->mail_from : "", t->id,
	                 s->verdict.filter != NULL ? s->verdict.filter : "-",
	                 s->verdict.text);
	rc = write_all(fd, text, strlen(text));
	free(text);
	for (i = 0; rc == 0 && i < t->nrcpts; i++) {
		text =
		    xasprintf("X-Postern-Envelope-To: <%s>\r\n", t->rcpts[i]);
		rc = write_all(fd, text, strlen(text));
		free(text);
	}
	return rc;
}

/* The message exactly as it would have gone upstream. */
static int
write_message(int fd, const struct session *s, const char **error_r)
{
	struct filter_msg_reader r;
	char *buf = xmalloc(HOLD_BUF);
	ssize_t n;
	int rc = 0;

	filter_msg_reader_init(&r, &s->txn);
	while (rc == 0 &&
	       (n = filter_msg_read(&r, buf, HOLD_BUF, error_r)) != 0) {
		if (n < 0)
			rc = -1;
		else if (write_all(fd, buf, (size_t)n) < 0) {
			*error_r = strerror(errno);
			rc = -1;
		}
	}
	free(buf);
	return rc;
}

/* On a worker: write tmp, sync, rename.  Sets hold_file or hold_error. */
static void
hold_work(struct session *s)
{
	const char *dir = s->cfg->quarantine_dir, *error = NULL;
	char *tmp, *path;
	int fd, rc;

	path =
	    xasprintf("%s/%lld.%s.eml", dir, (long long)time(NULL), s->txn.id);
	tmp = xasprintf("%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		s->hold_error = strerror(errno);
		goto out;
	}
	rc = write_envelope(fd, s);
	if (rc < 0)
		error = strerror(errno);
	if (rc == 0)
		rc = write_message(fd, s, &error);
	if (rc == 0 && fsync(fd) < 0) {
		error = strerror(errno);
		rc = -1;
	}
	if (close(fd) < 0 && rc == 0) {
		error = strerror(errno);
		rc = -1;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		error = strerror(errno);
		rc = -1;
	}
	if (rc < 0) {
		(void)unlink(tmp);
		s->hold_error = error != NULL ? error : "write failed";
		goto out;
	}
	s->hold_file = path;
	path = NULL;
out:
	free(tmp);
	free(path);
}

static void
hold_reset_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply == NULL && s->hold_file == NULL) {
		session_close_421(s, "4.4.2", "upstream-lost",
		                  SESSION_UPSTREAM_LOST);
		return;
	}
	/* Held safely: the client hears so even if the upstream is gone. */
	session_reply_verdict(s, &s->verdict);
	session_txn_reset(s);
	if (reply == NULL) {
		session_close_421(s, "4.4.2", "upstream-lost",
		                  SESSION_UPSTREAM_LOST);
		return;
	}
	session_resume(s);
}

static void
hold_done(struct session *s)
{
	char *result;

	if (s->hold_file == NULL) {
		log_error("%s quarantine %s: %s", s->fs.id,
		          s->cfg->quarantine_dir, s->hold_error);
		filter_verdict_set(&s->verdict, FILTER_TEMPFAIL, 451, "4.3.0",
		                   "local error holding the message, try "
		                   "again later");
		session_report(s, REPORT_TEMPFAILED, REPORT_REASON_LOCAL, NULL,
		               451, "4.3.0 local error holding the message", 0);
		session_log_txn(s, "tempfail-hold", "");
	} else {
		result = xasprintf("held filter=%s file=%s",
		                   s->verdict.filter != NULL ? s->verdict.filter
		                                             : "-",
		                   s->hold_file);
		session_report_verdict(s, &s->verdict);
		session_log_txn(s, result, "");
		free(result);
		s->messages++;
	}
	upstream_command(s->upstream, "RSET", 0, hold_reset_cb);
}

void
session_hold(struct session *s)
{
	free(s->hold_file);
	s->hold_file = NULL;
	s->hold_error = NULL;
	session_job(s, hold_work, hold_done);
}
