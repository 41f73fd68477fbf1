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
 *
 * The socket may be bound to a source address before it connects.  With
 * TLS configured, STARTTLS follows postern's first EHLO: libevent's
 * OpenSSL filter is put over the socket's bufferevent, the certificate
 * is judged once the handshake is done (upstream_tls.c), and EHLO is
 * sent again, so the client's identity and the mail travel under TLS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "proxy/config.h"
#include "proxy/proxy_proto.h"
#include "proxy/smtp_data.h"
#include "proxy/smtp_parse.h"
#include "proxy/upstream.h"
#include "proxy/upstream_tls.h"
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
	UP_WAITING,   /* a command is out, its reply not complete */
	UP_SENDING,   /* streaming the message */
	UP_HANDSHAKE, /* TLS handshake after STARTTLS */
	UP_DEAD,
};

typedef void up_step_cb(struct upstream *u, const struct smtp_reply *r);

struct upstream {
	struct event_base *base;
	const struct config_upstream *cfg;
	const struct filter_session *fs;
	struct bufferevent *bev;
	struct event *ev_fail;
	struct event *ev_reply; /* the whole reply's deadline */
	struct sockaddr_storage peer;
	enum upstream_state state;
	const char *fail_reason;
	struct netaddr source; /* bound to; ss_family 0: not bound */
	int tls;               /* STARTTLS succeeded */
	int tls_trusted;       /* and the certificate verified */
	int tls_failed;        /* failed for want of TLS */
	char why[300];         /* a failure reason made here */
	int secret;            /* the pending request is AUTH: its line is not
	                        * logged, and 334 answers it */
	int out_of_step; /* data followed a reply: failing, read no more */

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
static void up_fail_later(struct upstream *u, const char *reason);
static void up_event_cb(struct bufferevent *bev, short what, void *arg);

static void
up_timeouts(struct upstream *u, unsigned int rd, unsigned int wr)
{
	struct timeval r = {rd, 0}, w = {wr, 0};

	bufferevent_set_timeouts(u->bev, rd ? &r : NULL, wr ? &w : NULL);
}

/* A reply (a greeting, a TLS handshake) must be whole within seconds
 * of the command or the final dot: a read timeout restarts with every
 * octet, so an upstream dripping a reply could hold the session as long
 * as it liked.  While a deadline runs, reads have no timeout of their
 * own; its expiry is handled as libevent's timeouts are. */
static void
up_reply_deadline(struct upstream *u, unsigned int seconds)
{
	struct timeval t = {seconds, 0};

	evtimer_add(u->ev_reply, &t);
}

static void
up_reply_late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;

	up_event_cb(u->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, u);
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

/*
 * The reply to a command, or the final reply to a message: 2xx, 4xx or
 * 5xx, or 334 to AUTH.  Anything else (a 354 to MAIL, a 221 that is
 * not an answer to QUIT) leaves the upstream in a state postern cannot
 * know, so the connection is given up rather than the reply relayed.
 */
static void
up_step_deliver(struct upstream *u, const struct smtp_reply *r)
{
	int class = r->code / 100;
	char summary[200];

	if (r->code == 221 || (class != 2 && class != 4 && class != 5 &&
	                       !(u->secret && r->code == 334))) {
		snprintf(u->why, sizeof(u->why), "reply out of place: %s",
		         smtp_reply_summary(r, summary, sizeof(summary)));
		up_fail(u, u->why);
		return;
	}
	up_deliver(u, r);
}

static void
up_send(struct upstream *u, const char *line, up_step_cb *step)
{
	struct evbuffer *out = bufferevent_get_output(u->bev);
	char esc[128], buf[UP_LINE_MAX + 2];
	size_t len;

	log_trace(LOG_TRACE_UPSTREAM, "%s upstream send %s", u->fs->id,
	          u->secret ? "[credentials]"
	                    : log_escape_str(esc, sizeof(esc), line));
	smtp_reply_reset(&u->reply);
	u->step = step;
	u->state = UP_WAITING;
	/* Part of a line arrived while the connection was idle: it would
	 * be read as the start of this command's reply. */
	if (evbuffer_get_length(bufferevent_get_input(u->bev)) > 0) {
		up_fail_later(u, "unexpected data while idle");
		return;
	}
	len = strlen(line);
	if (len + 2 <= sizeof(buf)) {
		memcpy(buf, line, len);
		memcpy(buf + len, "\r\n", 2);
		sockio_write(u->bev, buf, len + 2);
	} else {
		evbuffer_add_printf(out, "%s\r\n", line);
	}
	up_timeouts(u, 0, u->cfg->command_timeout);
	up_reply_deadline(u, u->cfg->command_timeout);
}

static void
up_fail(struct upstream *u, const char *reason)
{
	upstream_reply_cb *cb = u->cb;

	if (u->state == UP_DEAD)
		return;
	u->state = UP_DEAD;
	u->cb = NULL;
	evtimer_del(u->ev_reply);
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
	char summary[200];

	if (u->state != UP_WAITING && u->state != UP_GREETING &&
	    u->state != UP_SENDING) {
		/* RFC 5321 3.8: a 421 may come at any time, when the
		 * upstream closes (its idle timeout, a shutdown). */
		snprintf(
		    u->why, sizeof(u->why), "%s: %s",
		    u->reply.code == 421 ? "closed by upstream"
		                         : "unexpected reply",
		    smtp_reply_summary(&u->reply, summary, sizeof(summary)));
		up_fail(u, u->why);
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
	/* Lockstep: nothing may follow a reply before our next command;
	 * anything that does would be taken for the answer to it.  A final
	 * reply still stands (a 250 after the final dot means the upstream
	 * has the message: telling the client otherwise would have it sent
	 * twice) and the connection ends once it is handled.  A reply that
	 * would have postern go on (a greeting, EHLO, a 354) ends it now:
	 * not one octet of a message goes to an upstream out of step. */
	if (evbuffer_get_length(in) > 0) {
		if (step != up_step_deliver) {
			up_fail(u, "unexpected data after a reply");
			return;
		}
		evbuffer_drain(in, evbuffer_get_length(in));
		u->out_of_step = 1;
		up_fail_later(u, "unexpected data after a reply");
	}
	u->state = u->state == UP_SENDING ? UP_DEAD : UP_IDLE;
	u->step = NULL;
	evtimer_del(u->ev_reply);
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
	struct evbuffer *in;
	char line[SMTP_REPLY_LINE_MAX + 3];
	struct evbuffer_ptr p;
	const char *error;
	size_t eol, n;
	int r;

	/* A reply may switch u->bev to TLS: the input is fetched anew
	 * each time, and nothing is read while the handshake runs. */
	while (u->state != UP_DEAD && u->state != UP_HANDSHAKE &&
	       !u->out_of_step) {
		in = bufferevent_get_input(u->bev);
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
static void up_tls_done(struct upstream *u);
static void up_tls_broken(struct upstream *u, short what);

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

	if (what & BEV_EVENT_CONNECTED) {
		if (u->state == UP_HANDSHAKE) {
			up_tls_done(u);
			return;
		}
		netaddr_tcp_nodelay(bufferevent_getfd(bev));
		u->state = UP_GREETING;
		return;
	}
	if (u->state == UP_HANDSHAKE) {
		up_tls_broken(u, what);
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
	snprintf(u->why, sizeof(u->why), "%s: %s",
	         u->state == UP_CONNECTING ? "connect failed"
	                                   : "connection error",
	         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	up_fail(u, u->why);
}

/* STARTTLS (RFC 3207) */

static int
up_tls_required(const struct upstream *u)
{
	return u->cfg->tls == CONFIG_UPSTREAM_TLS_REQUIRED;
}

/* TLS was required and could not be had: the session tells its client
 * so (upstream_failed_tls()). */
static void
up_tls_fail(struct upstream *u, const char *reason)
{
	u->tls_failed = 1;
	up_fail(u, reason);
}

/* Opportunistic TLS that did not happen is logged, then the session
 * goes on in clear. */
static void
up_tls_skipped(struct upstream *u, const char *reason)
{
	char esc[256];

	log_info("%s upstream tls=none reason=\"%s\"", u->fs->id,
	         log_escape_str(esc, sizeof(esc), reason));
}

/* The EHLO after STARTTLS, or after a refused one: the extensions
 * offered now are the ones that count (RFC 3207 4.2). */
static void
up_step_reehlo(struct upstream *u, const struct smtp_reply *r)
{
	if (r->code / 100 == 2)
		smtp_caps_parse(r, &u->caps);
	up_deliver(u, r);
}

static void
up_send_own_ehlo(struct upstream *u, up_step_cb *step)
{
	char line[UP_LINE_MAX];

	snprintf(line, sizeof(line), "EHLO %s", u->cfg->helo_name);
	up_send(u, line, step);
}

static void
up_tls_done(struct upstream *u)
{
	SSL *ssl = bufferevent_openssl_get_ssl(u->bev);
	char why[128], version[80], cipher[80];
	int verified;

	verified = upstream_tls_check_peer(ssl, why, sizeof(why));
	upstream_tls_describe(ssl, version, cipher, sizeof(version));
	log_info("%s upstream tls=%s cipher=%s verify=\"%s\" name=%s",
	         u->fs->id, version, cipher, why, u->cfg->verify_name);
	if (!verified && up_tls_required(u)) {
		snprintf(u->why, sizeof(u->why),
		         "upstream certificate not verified: %s", why);
		up_tls_fail(u, u->why);
		return;
	}
	u->tls = 1;
	u->tls_trusted = verified;
	up_send_own_ehlo(u, up_step_reehlo);
}

/* The handshake failed, timed out or the upstream closed during it. */
static void
up_tls_broken(struct upstream *u, short what)
{
	char err[160];
	unsigned long code = bufferevent_get_openssl_error(u->bev);

	if (what & BEV_EVENT_TIMEOUT)
		snprintf(err, sizeof(err), "timeout");
	else if (what & BEV_EVENT_EOF)
		snprintf(err, sizeof(err), "connection closed by upstream");
	else
		upstream_tls_error(code, err, sizeof(err));
	snprintf(u->why, sizeof(u->why), "TLS handshake failed: %s", err);
	up_tls_fail(u, u->why);
}

/* Put TLS under the connection: libevent's OpenSSL filter takes the
 * socket's bufferevent over and frees it with itself. */
static void
up_tls_start(struct upstream *u)
{
	SSL *ssl = upstream_tls_new(u->cfg->ssl_ctx, u->cfg->verify_name);
	struct bufferevent *tls;

	if (ssl == NULL) {
		up_tls_fail(u, "cannot make a TLS session");
		return;
	}
	bufferevent_set_timeouts(u->bev, NULL, NULL);
	bufferevent_setwatermark(u->bev, EV_WRITE, 0, 0);
	tls = bufferevent_openssl_filter_new(u->base, u->bev, ssl,
	                                     BUFFEREVENT_SSL_CONNECTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL)
		abort(); /* out of memory, as xmalloc() would */
	u->bev = tls;
	u->state = UP_HANDSHAKE;
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	bufferevent_setcb(tls, up_read_cb, up_write_cb, up_event_cb, u);
	bufferevent_setwatermark(tls, EV_WRITE, UP_CHUNK, 0);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	up_timeouts(u, 0, u->cfg->command_timeout);
	up_reply_deadline(u, u->cfg->command_timeout); /* the handshake */
}

static void
up_step_starttls(struct upstream *u, const struct smtp_reply *r)
{
	char summary[200];

	if (r->code == 220) {
		up_tls_start(u);
		return;
	}
	snprintf(u->why, sizeof(u->why), "upstream refused STARTTLS: %s",
	         smtp_reply_summary(r, summary, sizeof(summary)));
	if (up_tls_required(u)) {
		up_tls_fail(u, u->why);
		return;
	}
	up_tls_skipped(u, u->why);
	up_send_own_ehlo(u, up_step_reehlo);
}

/* After postern's first EHLO: STARTTLS when configured and offered. */
static void
up_starttls(struct upstream *u, const struct smtp_reply *ehlo)
{
	if (u->caps.flags & SMTP_CAP_STARTTLS) {
		up_send(u, "STARTTLS", up_step_starttls);
		return;
	}
	if (up_tls_required(u)) {
		up_tls_fail(u, "upstream does not offer STARTTLS");
		return;
	}
	up_tls_skipped(u, "upstream does not offer STARTTLS");
	up_deliver(u, ehlo);
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
		if (u->cfg->tls != CONFIG_UPSTREAM_TLS_NONE) {
			up_starttls(u, r);
			return;
		}
		up_deliver(u, r);
		return;
	}
	/* Without EHLO there is no STARTTLS. */
	if (up_tls_required(u)) {
		up_tls_fail(u, "upstream refused EHLO: no STARTTLS");
		return;
	}
	/* An SMTP-only upstream: fall back to HELO (RFC 5321 4.1.4). */
	snprintf(line, sizeof(line), "HELO %s", u->cfg->helo_name);
	up_send(u, line, up_step_helo_fallback);
}

static void
up_step_greeting(struct upstream *u, const struct smtp_reply *r)
{
	if (r->code != 220) {
		up_deliver(u, r);
		return;
	}
	up_send_own_ehlo(u, up_step_first_ehlo);
}

/* A non-blocking socket bound to the source address (any port), or -1
 * with the reason in u->why. */
static evutil_socket_t
up_bound_socket(struct upstream *u)
{
	struct netaddr a = u->source;
	char ip[NETADDR_STRLEN];
	evutil_socket_t fd;

	netaddr_set_port(&a, 0);
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a.ss, a.len) == 0)
		return fd;
	snprintf(u->why, sizeof(u->why), "bind to %s failed: %s",
	         netaddr_ip_str(&a, ip, sizeof(ip)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* client_identity proxy: a PROXY v2 header naming the client goes out
 * first, queued until the connection is up. */
static void
up_proxy_header(struct upstream *u)
{
	unsigned char hdr[PROXY_PROTO_V2_HEAD + 36];
	size_t n;

	n = proxy_proto_v2_build(hdr, sizeof(hdr), &u->fs->client,
	                         &u->fs->local);
	evbuffer_add(bufferevent_get_output(u->bev), hdr, n);
}

struct upstream *
upstream_connect_from(struct event_base *base,
                      const struct config_upstream *cfg,
                      const struct netaddr *source,
                      const struct filter_session *fs, upstream_reply_cb *cb,
                      upstream_lost_cb *lost_cb, void *arg)
{
	struct upstream *u;
	evutil_socket_t fd = -1;

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
	u->ev_reply = evtimer_new(base, up_reply_late_cb, u);
	if (source != NULL && source->ss.ss_family != 0) {
		u->source = *source;
		fd = up_bound_socket(u);
	}
	u->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(u->bev, up_read_cb, up_write_cb, up_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, UP_CHUNK, 0);
	bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	up_timeouts(u, cfg->connect_timeout, cfg->connect_timeout);
	/* The greeting arrives like a reply to a command we never sent,
	 * within the connect and a command's time. */
	u->step = up_step_greeting;
	up_reply_deadline(u, cfg->connect_timeout + cfg->command_timeout);
	memcpy(&u->peer, &cfg->addr.ss, cfg->addr.len);
	if (u->source.ss.ss_family != 0 && fd < 0)
		up_fail_later(u, u->why);
	else if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&u->peer,
	                                    (int)cfg->addr.len) < 0)
		up_fail_later(u, "connect failed");
	if (cfg->identity == CONFIG_IDENTITY_PROXY)
		up_proxy_header(u);
	return u;
}

struct upstream *
upstream_connect(struct event_base *base, const struct config_upstream *cfg,
                 const struct filter_session *fs, upstream_reply_cb *cb,
                 upstream_lost_cb *lost_cb, void *arg)
{
	return upstream_connect_from(base, cfg, NULL, fs, cb, lost_cb, arg);
}

/* The socket, under the TLS filter if there is one. */
static evutil_socket_t
up_fd(const struct upstream *u)
{
	struct bufferevent *under = bufferevent_get_underlying(u->bev);

	return bufferevent_getfd(under != NULL ? under : u->bev);
}

/* Best effort: a polite QUIT if the socket takes it now.  Under TLS
 * the filter encrypts it into the socket's output buffer at once, and
 * that is written out the same way. */
static void
up_quit(struct upstream *u)
{
	struct bufferevent *under = bufferevent_get_underlying(u->bev);
	evutil_socket_t fd = up_fd(u);
	int r;

	if (u->state != UP_IDLE || fd < 0)
		return;
	if (under == NULL) {
		r = (int)send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL);
	} else {
		/* libevent keeps a socket's output frozen at its start
		 * except while it writes itself; the buffer is freed next. */
		evbuffer_add(bufferevent_get_output(u->bev), "QUIT\r\n", 6);
		evbuffer_unfreeze(bufferevent_get_output(under), 1);
		r = evbuffer_write(bufferevent_get_output(under), fd);
	}
	if (r < 0)
		log_debug("%s upstream quit: %s", u->fs->id, strerror(errno));
}

void
upstream_free(struct upstream **up)
{
	struct upstream *u = *up;

	if (u == NULL)
		return;
	up_quit(u);
	bufferevent_free(u->bev);
	event_free(u->ev_fail);
	event_free(u->ev_reply);
	smtp_reply_deinit(&u->reply);
	smtp_reply_deinit(&u->last);
	free(u);
	*up = NULL;
}

static void
up_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *u = arg;

	upstream_free(&u);
}

void
upstream_free_later(struct upstream **up)
{
	static const struct timeval now = {0, 0};
	struct upstream *u = *up;

	if (u == NULL)
		return;
	*up = NULL;
	up_quit(u); /* now, while the session is there to log for */
	u->state = UP_DEAD;
	u->cb = NULL;
	u->lost_cb = NULL;
	bufferevent_disable(u->bev, EV_READ | EV_WRITE);
	evtimer_del(u->ev_reply);
	evtimer_del(u->ev_fail);
	evtimer_assign(u->ev_fail, u->base, up_free_cb, u);
	evtimer_add(u->ev_fail, &now);
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

int
upstream_tls(const struct upstream *u)
{
	return u->tls;
}

int
upstream_tls_trusted(const struct upstream *u)
{
	return u->tls_trusted;
}

int
upstream_failed_tls(const struct upstream *u)
{
	return u->tls_failed;
}

const struct netaddr *
upstream_source(const struct upstream *u)
{
	return &u->source;
}

char *
upstream_local_ip(const struct upstream *u, char *buf, size_t size)
{
	struct netaddr a;
	evutil_socket_t fd = up_fd(u);

	memset(&a, 0, sizeof(a));
	a.len = sizeof(a.ss);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	return netaddr_ip_str(&a, buf, size);
}

/* Start a request; fails it from the loop when the connection is gone
 * or busy (a broken invariant, reported rather than crashed on). */
static int
up_request(struct upstream *u, upstream_reply_cb *cb)
{
	u->cb = cb;
	u->secret = 0;
	if (u->out_of_step && u->state != UP_DEAD)
		return -1; /* its failure is on the way to cb */
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
	/* Postfix's XCLIENT takes SMTP or ESMTP only, not ESMTPA or
	 * ESMTPS: AUTH and TLS have their own attributes. */
	identity_attr(line, size, offered, "PROTO",
	              strcmp(verb, "XCLIENT") != 0              ? fs->proto
	              : strncasecmp(fs->proto, "ESMTP", 5) == 0 ? "ESMTP"
	                                                        : "SMTP");
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
	char summary[200];

	/* Postfix answers XCLIENT with a new greeting.  A refusal must not
	 * turn into a reply to the client's EHLO, nor let the session go
	 * on as postern's own address. */
	if (r->code / 100 != 2) {
		snprintf(u->why, sizeof(u->why), "upstream refused XCLIENT: %s",
		         smtp_reply_summary(r, summary, sizeof(summary)));
		up_fail(u, u->why);
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

void
upstream_secret(struct upstream *u, const char *line, upstream_reply_cb *cb)
{
	if (up_request(u, cb) < 0)
		return;
	u->secret = 1;
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
			up_timeouts(u, 0, u->cfg->data_timeout);
			up_reply_deadline(u, u->cfg->data_timeout);
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
