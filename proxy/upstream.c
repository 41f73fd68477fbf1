/*
 * upstream.c - the session's SMTP client towards the upstream MTA.
 *
 * A small state machine: connect, greeting, EHLO, then one request at a
 * time.  Requests that take several commands (XCLIENT then EHLO,
 * XFORWARD then MAIL, DATA then the message) run as a chain of steps,
 * each fed the reply to the previous command.  Replies are kept
 * verbatim.  Every failure (refused, reset, timeout, a reply that does
 * not parse) kills the connection and is reported once: to the pending
 * request if there is one, else through the lost callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "proxy/config.h"
#include "proxy/smtp_data.h"
#include "proxy/smtp_parse.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/sockio.h"
#include "util/xalloc.h"

#define UP_CHUNK     (64 * 1024)  /* spool read size */
#define UP_HIGHWATER (256 * 1024) /* stop encoding above this */
#define UP_LINE_MAX  1100

enum upstream_state {
	UP_CONNECTING,
	UP_GREETING,
	UP_IDLE,
	UP_WAITING, /* a command is out, its reply not complete */
	UP_SENDING, /* streaming the message */
	UP_DEAD,
};

typedef void up_step_cb(struct upstream *u, const struct smtp_reply *r);

struct upstream {
	struct event_base *base;
	const struct config_upstream *cfg;
	const struct filter_session *fs;
	struct bufferevent *bev;
	struct event *ev_fail;
	struct sockaddr_storage peer;
	enum upstream_state state;
	const char *fail_reason;

	struct smtp_reply reply; /* being read */
	struct smtp_reply last;  /* the one handed out */
	struct smtp_caps caps;

	up_step_cb *step;      /* gets the reply to the command out */
	upstream_reply_cb *cb; /* the pending request */
	upstream_lost_cb *lost_cb;
	void *arg;

	char mail_line[UP_LINE_MAX]; /* MAIL waiting behind XFORWARD */

	/* Message streaming. */
	struct filter_msg_reader reader;
	struct smtp_data_encoder enc;
};

static void up_fail(struct upstream *u, const char *reason);

static void
up_timeouts(struct upstream *u, unsigned int rd, unsigned int wr)
{
	struct timeval r = {rd, 0}, w = {wr, 0};

	bufferevent_set_timeouts(u->bev, rd ? &r : NULL, wr ? &w : NULL);
}

/* Hand the reply to the pending request; the request is over. */
static void
up_deliver(struct upstream *u, const struct smtp_reply *r)
{
	upstream_reply_cb *cb = u->cb;

	u->cb = NULL;
	if (cb != NULL)
		cb(u->arg, r, NULL);
}

static void
up_step_deliver(struct upstream *u, const struct smtp_reply *r)
{
	up_deliver(u, r);
}

static void
up_send(struct upstream *u, const char *line, up_step_cb *step)
{
	struct evbuffer *out = bufferevent_get_output(u->bev);
	char esc[128], buf[UP_LINE_MAX + 2];
	size_t len;

	log_trace(LOG_TRACE_UPSTREAM, "%s upstream send %s", u->fs->id,
	          log_escape_str(esc, sizeof(esc), line));
	smtp_reply_reset(&u->reply);
	u->step = step;
	u->state = UP_WAITING;
	len = strlen(line);
	if (len + 2 <= sizeof(buf)) {
		memcpy(buf, line, len);
		memcpy(buf + len, "\r\n", 2);
		sockio_write(u->bev, buf, len + 2);
	} else {
		evbuffer_add_printf(out, "%s\r\n", line);
	}
	up_timeouts(u, u->cfg->command_timeout, u->cfg->command_timeout);
}

static void
up_fail(struct upstream *u, const char *reason)
{
	upstream_reply_cb *cb = u->cb;

	if (u->state == UP_DEAD)
		return;
	u->state = UP_DEAD;
	u->cb = NULL;
	bufferevent_disable(u->bev, EV_READ | EV_WRITE);
	log_trace(LOG_TRACE_UPSTREAM, "%s upstream failed: %s", u->fs->id,
	          reason);
	if (cb != NULL)
		cb(u->arg, NULL, reason);
	else if (u->lost_cb != NULL)
		u->lost_cb(u->arg, reason);
}

static void
up_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;

	up_fail(u, u->fail_reason);
}

/* Fail from the loop, not from inside the caller's call. */
static void
up_fail_later(struct upstream *u, const char *reason)
{
	static const struct timeval now = {0, 0};

	u->fail_reason = reason;
	evtimer_add(u->ev_fail, &now);
}

/* A complete reply arrived. */
static void
up_reply_complete(struct upstream *u)
{
	struct evbuffer *in = bufferevent_get_input(u->bev);
	struct smtp_reply tmp;
	up_step_cb *step = u->step;
	static char reason[300];
	char summary[200];

	if (u->state != UP_WAITING && u->state != UP_GREETING &&
	    u->state != UP_SENDING) {
		snprintf(
		    reason, sizeof(reason), "unexpected reply \"%s\"",
		    smtp_reply_summary(&u->reply, summary, sizeof(summary)));
		up_fail(u, reason);
		return;
	}
	/* Lockstep: nothing may follow a reply before our next command.
	 * Anything that does would be taken for the answer to it. */
	if (evbuffer_get_length(in) > 0) {
		up_fail(u, "unexpected data after a reply");
		return;
	}
	if (u->state == UP_SENDING) {
		/* A reply in the middle of the message: the upstream gave
		 * up on it.  A refusal is its final word; anything else
		 * cannot be, since it never saw the end of the message. */
		if (u->reply.code / 100 != 4 && u->reply.code / 100 != 5) {
			up_fail(u, "reply before the end of the message");
			return;
		}
		step = up_step_deliver;
	}
	u->state = u->state == UP_SENDING ? UP_DEAD : UP_IDLE;
	u->step = NULL;
	up_timeouts(u, 0, u->cfg->command_timeout);

	tmp = u->last;
	u->last = u->reply;
	u->reply = tmp;
	smtp_reply_reset(&u->reply);
	if (step != NULL)
		step(u, &u->last);
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[SMTP_REPLY_LINE_MAX + 3];
	struct evbuffer_ptr p;
	const char *error;
	size_t eol, n;
	int r;

	while (u->state != UP_DEAD) {
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > SMTP_REPLY_LINE_MAX + 2)
				up_fail(u, "reply line too long");
			return;
		}
		n = (size_t)p.pos;
		if (n + eol > sizeof(line)) {
			up_fail(u, "reply line too long");
			return;
		}
		evbuffer_remove(in, line, n + eol);
		line[n] = '\0';
		r = smtp_reply_feed(&u->reply, line, n, &error);
		if (r < 0) {
			up_fail(u, error);
			return;
		}
		if (r == 0)
			up_reply_complete(u);
	}
}

static void up_pump(struct upstream *u);

static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	struct upstream *u = arg;

	if (u->state == UP_SENDING)
		up_pump(u);
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct upstream *u = arg;
	static char reason[128];

	if (what & BEV_EVENT_CONNECTED) {
		netaddr_tcp_nodelay(bufferevent_getfd(bev));
		u->state = UP_GREETING;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		up_fail(u, u->state == UP_CONNECTING ? "connect timeout"
		                                     : "timeout");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		up_fail(u, "connection closed by upstream");
		return;
	}
	snprintf(reason, sizeof(reason), "%s: %s",
	         u->state == UP_CONNECTING ? "connect failed"
	                                   : "connection error",
	         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	up_fail(u, reason);
}

/* Connection set-up */

static void
up_step_helo_fallback(struct upstream *u, const struct smtp_reply *r)
{
	memset(&u->caps, 0, sizeof(u->caps));
	up_deliver(u, r);
}

static void
up_step_first_ehlo(struct upstream *u, const struct smtp_reply *r)
{
	char line[UP_LINE_MAX];

	if (r->code / 100 == 2) {
		smtp_caps_parse(r, &u->caps);
		up_deliver(u, r);
		return;
	}
	/* An SMTP-only upstream: fall back to HELO (RFC 5321 4.1.4). */
	snprintf(line, sizeof(line), "HELO %s", u->cfg->helo_name);
	up_send(u, line, up_step_helo_fallback);
}

static void
up_step_greeting(struct upstream *u, const struct smtp_reply *r)
{
	char line[UP_LINE_MAX];

	if (r->code != 220) {
		up_deliver(u, r);
		return;
	}
	snprintf(line, sizeof(line), "EHLO %s", u->cfg->helo_name);
	up_send(u, line, up_step_first_ehlo);
}

struct upstream *
upstream_connect(struct event_base *base, const struct config_upstream *cfg,
                 const struct filter_session *fs, upstream_reply_cb *cb,
                 upstream_lost_cb *lost_cb, void *arg)
{
	struct upstream *u;

	u = xcalloc(1, sizeof(*u));
	u->base = base;
	u->cfg = cfg;
	u->fs = fs;
	u->cb = cb;
	u->lost_cb = lost_cb;
	u->arg = arg;
	u->state = UP_CONNECTING;
	smtp_reply_init(&u->reply);
	smtp_reply_init(&u->last);
	u->ev_fail = evtimer_new(base, up_fail_cb, u);
	u->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(u->bev, up_read_cb, up_write_cb, up_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, UP_CHUNK, 0);
	bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	up_timeouts(u, cfg->connect_timeout, cfg->connect_timeout);
	/* The greeting arrives like a reply to a command we never sent. */
	u->step = up_step_greeting;
	memcpy(&u->peer, &cfg->addr.ss, cfg->addr.len);
	if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&u->peer,
	                               (int)cfg->addr.len) < 0)
		up_fail_later(u, "connect failed");
	return u;
}

void
upstream_free(struct upstream **up)
{
	struct upstream *u = *up;
	evutil_socket_t fd;

	if (u == NULL)
		return;
	if (u->state == UP_IDLE) {
		/* Best effort: a polite QUIT if the socket takes it now. */
		fd = bufferevent_getfd(u->bev);
		if (fd >= 0 && send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL) < 0)
			log_debug("%s upstream quit: %s", u->fs->id,
			          strerror(errno));
	}
	bufferevent_free(u->bev);
	event_free(u->ev_fail);
	smtp_reply_deinit(&u->reply);
	smtp_reply_deinit(&u->last);
	free(u);
	*up = NULL;
}

const struct smtp_caps *
upstream_caps(const struct upstream *u)
{
	return &u->caps;
}

int
upstream_alive(const struct upstream *u)
{
	return u->state != UP_DEAD;
}

/* Start a request; fails it from the loop when the connection is gone
 * or busy (a broken invariant, reported rather than crashed on). */
static int
up_request(struct upstream *u, upstream_reply_cb *cb)
{
	u->cb = cb;
	if (u->state == UP_IDLE)
		return 0;
	if (u->state != UP_DEAD)
		log_error("%s upstream request while busy", u->fs->id);
	u->state = UP_IDLE;
	up_fail_later(u, "upstream connection not usable");
	return -1;
}

/* Client identity */

static int
identity_xclient(const struct upstream *u)
{
	return (u->cfg->identity == CONFIG_IDENTITY_AUTO ||
	        u->cfg->identity == CONFIG_IDENTITY_XCLIENT) &&
	       (u->caps.flags & SMTP_CAP_XCLIENT);
}

static int
identity_xforward(const struct upstream *u)
{
	if (identity_xclient(u))
		return 0;
	return (u->cfg->identity == CONFIG_IDENTITY_AUTO ||
	        u->cfg->identity == CONFIG_IDENTITY_XFORWARD) &&
	       (u->caps.flags & SMTP_CAP_XFORWARD);
}

/* Append " ATTR=value" when the upstream knows ATTR. */
static void
identity_attr(char *line, size_t size, const char *offered, const char *attr,
              const char *value)
{
	char enc[600];
	size_t n = strlen(line);

	if (!smtp_caps_has_word(offered, attr))
		return;
	if (value == NULL || value[0] == '\0')
		value = "[UNAVAILABLE]";
	if (value[0] != '[' && smtp_xtext_encode(value, enc, sizeof(enc)) < 0)
		return;
	snprintf(line + n, size - n, " %s=%s", attr,
	         value[0] == '[' ? value : enc);
}

static void
identity_line(const struct upstream *u, const char *verb, const char *offered,
              char *line, size_t size)
{
	const struct filter_session *fs = u->fs;
	char addr[NETADDR_STRLEN + 8], port[16];

	snprintf(line, size, "%s", verb);
	if (fs->client.ss.ss_family == AF_INET6)
		snprintf(addr, sizeof(addr), "IPv6:%s", fs->client_ip);
	else if (fs->client.ss.ss_family == AF_INET)
		snprintf(addr, sizeof(addr), "%s", fs->client_ip);
	else /* XCLIENT said [UNAVAILABLE] or [TEMPUNAVAIL]: pass it on */
		snprintf(addr, sizeof(addr), "%s",
		         fs->client_ip[0] == '[' ? fs->client_ip : "");
	/* No client has port 0: it stands for "not known". */
	if (netaddr_port(&fs->client) == 0)
		snprintf(port, sizeof(port), "%s", "[UNAVAILABLE]");
	else
		snprintf(port, sizeof(port), "%u", netaddr_port(&fs->client));
	identity_attr(
	    line, size, offered, "NAME",
	    strcmp(fs->client_name, "unknown") == 0 ? NULL : fs->client_name);
	identity_attr(line, size, offered, "ADDR", addr);
	identity_attr(line, size, offered, "PORT", port);
	identity_attr(line, size, offered, "PROTO", fs->proto);
	identity_attr(line, size, offered, "HELO", fs->helo);
	if (fs->login[0] != '\0')
		identity_attr(line, size, offered, "LOGIN", fs->login);
	if (strcmp(verb, "XFORWARD") == 0)
		identity_attr(line, size, offered, "SOURCE",
		              fs->outbound ? "LOCAL" : "REMOTE");
}

static const char *
up_client_helo(const struct upstream *u)
{
	return u->fs->helo[0] ? u->fs->helo : u->cfg->helo_name;
}

static void
up_step_ehlo(struct upstream *u, const struct smtp_reply *r)
{
	char line[UP_LINE_MAX];

	if (r->code / 100 == 2) {
		smtp_caps_parse(r, &u->caps);
		up_deliver(u, r);
		return;
	}
	if (r->code / 100 != 5) {
		up_deliver(u, r);
		return;
	}
	/* An SMTP-only upstream (RFC 5321 4.1.4): HELO, no extensions. */
	snprintf(line, sizeof(line), "HELO %s", up_client_helo(u));
	up_send(u, line, up_step_helo_fallback);
}

static void
up_send_ehlo(struct upstream *u)
{
	char line[UP_LINE_MAX];

	snprintf(line, sizeof(line), "EHLO %s", up_client_helo(u));
	up_send(u, line, up_step_ehlo);
}

static void
up_step_xclient(struct upstream *u, const struct smtp_reply *r)
{
	static char reason[300];
	char summary[200];

	/* Postfix answers XCLIENT with a new greeting.  A refusal must not
	 * turn into a reply to the client's EHLO, nor let the session go
	 * on as postern's own address. */
	if (r->code / 100 != 2) {
		snprintf(reason, sizeof(reason),
		         "upstream refused XCLIENT: \"%s\"",
		         smtp_reply_summary(r, summary, sizeof(summary)));
		up_fail(u, reason);
		return;
	}
	up_send_ehlo(u);
}

void
upstream_hello(struct upstream *u, upstream_reply_cb *cb)
{
	char line[UP_LINE_MAX];

	if (up_request(u, cb) < 0)
		return;
	if (identity_xclient(u)) {
		identity_line(u, "XCLIENT", u->caps.xclient, line,
		              sizeof(line));
		up_send(u, line, up_step_xclient);
		return;
	}
	up_send_ehlo(u);
}

static void
up_step_xforward(struct upstream *u, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		up_deliver(u, r);
		return;
	}
	up_send(u, u->mail_line, up_step_deliver);
}

void
upstream_command(struct upstream *u, const char *line, int is_mail,
                 upstream_reply_cb *cb)
{
	char xf[UP_LINE_MAX];

	if (up_request(u, cb) < 0)
		return;
	if (is_mail && identity_xforward(u)) {
		snprintf(u->mail_line, sizeof(u->mail_line), "%s", line);
		identity_line(u, "XFORWARD", u->caps.xforward, xf, sizeof(xf));
		up_send(u, xf, up_step_xforward);
		return;
	}
	up_send(u, line, up_step_deliver);
}

/* The message */

static int
up_sink(void *arg, const char *data, size_t len)
{
	struct upstream *u = arg;

	return evbuffer_add(bufferevent_get_output(u->bev), data, len);
}

static void
up_pump(struct upstream *u)
{
	struct evbuffer *out = bufferevent_get_output(u->bev);
	char buf[UP_CHUNK];
	const char *error;
	ssize_t n;

	while (evbuffer_get_length(out) < UP_HIGHWATER) {
		n = filter_msg_read(&u->reader, buf, sizeof(buf), &error);
		if (n < 0) {
			log_error("%s spool read failed: %s", u->fs->id, error);
			up_fail(u, "local spool read error");
			return;
		}
		if (n == 0) {
			smtp_data_encode_end(&u->enc, up_sink, u);
			u->state = UP_WAITING;
			u->step = up_step_deliver;
			up_timeouts(u, u->cfg->data_timeout,
			            u->cfg->data_timeout);
			return;
		}
		smtp_data_encode(&u->enc, buf, (size_t)n, up_sink, u);
	}
}

static void
up_step_data(struct upstream *u, const struct smtp_reply *r)
{
	/* Only 354 opens the message; a 2xx here would read as a delivery
	 * of a message the upstream never saw. */
	if (r->code != 354 && r->code / 100 != 4 && r->code / 100 != 5) {
		up_fail(u, "unexpected reply to DATA");
		return;
	}
	if (r->code != 354) {
		up_deliver(u, r);
		return;
	}
	u->state = UP_SENDING;
	up_timeouts(u, 0, u->cfg->data_timeout);
	smtp_data_encoder_init(&u->enc);
	up_pump(u);
}

void
upstream_data(struct upstream *u, const struct filter_txn *txn,
              upstream_reply_cb *cb)
{
	if (up_request(u, cb) < 0)
		return;
	filter_msg_reader_init(&u->reader, txn);
	up_send(u, "DATA", up_step_data);
}
