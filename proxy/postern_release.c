/*
 * postern_release.c - `postern release`: deliver held messages.
 *
 *   postern release [-c FILE] [-k] HELD...
 *
 * A held message (session_hold.c) is a file in quarantine_dir: the
 * envelope (Return-Path, X-Postern-Envelope-To per recipient,
 * X-Postern-Held) followed by the message as it would have been
 * delivered.  Release sends it to the configuration's upstream over a
 * plain SMTP session (EHLO, MAIL, RCPT, DATA, QUIT) with that envelope
 * and without the envelope fields, and removes the file once the
 * upstream has answered 250 to the final dot (-k keeps it).  Each file
 * is reported on its own line with the upstream's reply; the exit
 * status is 0 when every file went, 1 when one did not, 2 on a usage
 * or configuration error.  Blocking I/O with a timeout: this is a tool
 * for the postmaster, not part of the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proxy/config.h"
#include "proxy/postern_release.h"
#include "proxy/smtp_data.h"
#include "proxy/smtp_reply.h"
#include "util/xalloc.h"

#define RELEASE_TIMEOUT   120 /* seconds per read or write */
#define RELEASE_FILE_MAX  (1024 * 1024 * 1024)
#define RELEASE_RCPTS_MAX 1000

struct held {
	char *data; /* the whole file */
	size_t len;
	char *sender;
	char *rcpts[RELEASE_RCPTS_MAX];
	size_t nrcpts;
	size_t body; /* offset of the message after the envelope */
};

struct conn {
	int fd;
	char buf[4096];
	size_t have;
	struct smtp_reply reply;
};

static void
release_usage(void)
{
	fprintf(stderr, "usage: postern release [-c file] [-k] held-file...\n");
	exit(2);
}

/* The held file */

static char *
held_value(const char *line, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	const char *v, *end = line + len;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0)
		return NULL;
	for (v = line + nlen; v < end && (*v == ' ' || *v == '<'); v++)
		;
	while (end > v && (end[-1] == '>' || end[-1] == ' '))
		end--;
	return xstrndup(v, (size_t)(end - v));
}

/* Take the envelope fields off the top; 0, or -1 if there are none. */
static int
held_parse(struct held *h)
{
	size_t pos = 0, len;
	const char *line, *eol;
	char *v;

	while (pos < h->len) {
		line = h->data + pos;
		eol = memchr(line, '\n', h->len - pos);
		if (eol == NULL)
			break;
		len = (size_t)(eol - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if ((v = held_value(line, len, "Return-Path:")) != NULL) {
			free(h->sender);
			h->sender = v;
		} else if ((v = held_value(line, len,
		                           "X-Postern-Envelope-To:")) != NULL) {
			if (h->nrcpts == RELEASE_RCPTS_MAX) {
				free(v);
				return -1;
			}
			h->rcpts[h->nrcpts++] = v;
		} else if (strncasecmp(line, "X-Postern-Held:", 15) != 0) {
			break;
		}
		pos = (size_t)(eol - h->data) + 1;
	}
	h->body = pos;
	return h->sender != NULL && h->nrcpts > 0 ? 0 : -1;
}

static void
held_free(struct held *h)
{
	size_t i;

	free(h->data);
	free(h->sender);
	for (i = 0; i < h->nrcpts; i++)
		free(h->rcpts[i]);
	memset(h, 0, sizeof(*h));
}

static int
held_read(const char *path, struct held *h)
{
	FILE *f = fopen(path, "rb");
	size_t size = 65536, n;

	memset(h, 0, sizeof(*h));
	if (f == NULL)
		return -1;
	h->data = xmalloc(size);
	while ((n = fread(h->data + h->len, 1, size - h->len, f)) > 0) {
		h->len += n;
		if (h->len == size && size < RELEASE_FILE_MAX) {
			size *= 2;
			h->data = xrealloc(h->data, size);
		}
	}
	if (ferror(f) || h->len == size) {
		int err = ferror(f) ? EIO : EFBIG;

		fclose(f);
		errno = err;
		return -1;
	}
	fclose(f);
	return 0;
}

/* The SMTP session */

static int
conn_open(struct conn *c, const struct netaddr *a)
{
	struct timeval tv = {RELEASE_TIMEOUT, 0};

	memset(c, 0, sizeof(*c));
	smtp_reply_init(&c->reply);
	c->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return connect(c->fd, (const struct sockaddr *)&a->ss, a->len);
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	smtp_reply_deinit(&c->reply);
}

static int
conn_write(void *arg, const char *p, size_t len)
{
	struct conn *c = arg;
	ssize_t n;

	while (len > 0) {
		n = write(c->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line (without CRLF) into c->reply; 1 more, 0 done, -1 error. */
static int
conn_line(struct conn *c)
{
	const char *error;
	char *lf;
	size_t len;
	int rc;

	while ((lf = memchr(c->buf, '\n', c->have)) == NULL) {
		ssize_t n;

		if (c->have == sizeof(c->buf))
			return -1;
		n = read(c->fd, c->buf + c->have, sizeof(c->buf) - c->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	len = (size_t)(lf - c->buf);
	rc = smtp_reply_feed(&c->reply, c->buf,
	                     len > 0 && lf[-1] == '\r' ? len - 1 : len, &error);
	c->have -= len + 1;
	memmove(c->buf, lf + 1, c->have);
	return rc;
}

/* Read a reply; its code, or -1 if the connection failed. */
static int
conn_reply(struct conn *c)
{
	int rc;

	smtp_reply_reset(&c->reply);
	while ((rc = conn_line(c)) == 1)
		;
	return rc < 0 ? -1 : c->reply.code;
}

/* Send "verb arg" CRLF (arg may be NULL); the reply's code, or -1. */
static int
conn_command(struct conn *c, const char *verb, const char *arg)
{
	char line[1100];

	snprintf(line, sizeof(line), "%s%s\r\n", verb, arg != NULL ? arg : "");
	if (conn_write(c, line, strlen(line)) < 0)
		return -1;
	return conn_reply(c);
}

static int
conn_address(struct conn *c, const char *verb, const char *address)
{
	char arg[1040];

	snprintf(arg, sizeof(arg), "<%s>", address);
	return conn_command(c, verb, arg);
}

/* The transaction; the final reply's code, or -1. */
static int
release_send(struct conn *c, const struct config *cfg, const struct held *h)
{
	struct smtp_data_encoder enc;
	size_t i, ok = 0;

	if (conn_reply(c) != 220 ||
	    conn_command(c, "EHLO ", cfg->upstream.helo_name) != 250 ||
	    conn_address(c, "MAIL FROM:", h->sender) != 250)
		return c->reply.code > 0 ? c->reply.code : -1;
	for (i = 0; i < h->nrcpts; i++) {
		if (conn_address(c, "RCPT TO:", h->rcpts[i]) == 250)
			ok++;
		else
			fprintf(stderr, "postern release: RCPT <%s>: %.*s",
			        h->rcpts[i], (int)c->reply.rawlen,
			        c->reply.raw != NULL ? c->reply.raw : "");
	}
	if (ok == 0 || conn_command(c, "DATA", NULL) != 354)
		return c->reply.code > 0 ? c->reply.code : -1;
	smtp_data_encoder_init(&enc);
	if (smtp_data_encode(&enc, h->data + h->body, h->len - h->body,
	                     conn_write, c) < 0 ||
	    smtp_data_encode_end(&enc, conn_write, c) < 0)
		return -1;
	return conn_reply(c);
}

/* Release one file; 0 when the upstream took it. */
static int
release_one(const struct config *cfg, const char *path, int keep)
{
	struct held h;
	struct conn c;
	char summary[256] = "";
	int code;

	if (held_read(path, &h) < 0 || held_parse(&h) < 0) {
		printf("%s: not a held message (%s)\n", path,
		       errno != 0 ? strerror(errno) : "no envelope");
		held_free(&h);
		return -1;
	}
	if (conn_open(&c, &cfg->upstream.addr) < 0) {
		printf("%s: upstream: %s\n", path, strerror(errno));
		conn_close(&c);
		held_free(&h);
		return -1;
	}
	code = release_send(&c, cfg, &h);
	if (c.reply.code > 0)
		smtp_reply_summary(&c.reply, summary, sizeof(summary));
	(void)conn_command(&c, "QUIT", NULL);
	conn_close(&c);
	held_free(&h);
	printf("%s: %s upstream=\"%s\"\n", path,
	       code == 250 ? "released" : "not released",
	       code < 0 ? "connection failed" : summary);
	if (code != 250)
		return -1;
	if (!keep && unlink(path) < 0)
		fprintf(stderr, "postern release: %s: %s\n", path,
		        strerror(errno));
	return 0;
}

int
postern_release_main(int argc, char **argv, const char *default_config)
{
	const char *path = default_config;
	struct config *cfg;
	char *error = NULL;
	int ch, i, keep = 0, rc = 0;

	while ((ch = getopt(argc, argv, "c:k")) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'k')
			keep = 1;
		else
			release_usage();
	}
	if (optind >= argc)
		release_usage();
	cfg = config_load(path, &error);
	if (cfg == NULL) {
		fprintf(stderr, "postern release: %s\n", error);
		free(error);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		errno = 0;
		if (release_one(cfg, argv[i], keep) < 0)
			rc = 1;
	}
	config_unref(&cfg);
	return rc;
}
