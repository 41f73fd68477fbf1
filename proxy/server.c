/*
 * server.c - listeners, signals, reload and drain.
 *
 * Listening sockets are matched to the configuration by address, so a
 * reload keeps the sockets it can and opens new ones before it closes
 * old ones: a reload that cannot bind is refused whole and the running
 * configuration stays.  Accepted connections become sessions; the
 * server only counts them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "milter/milter.h"
#include "policy/policy_auth.h"
#include "policy/policy_clients.h"
#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "util/log.h"
#include "util/workpool.h"
#include "util/xalloc.h"

struct server_listener {
	struct server_listener *next;
	struct server *srv;
	struct evconnlistener *evl;
	struct netaddr addr;
	const struct config_listener *cl;     /* in srv->cfg */
	const struct config_listener *old_cl; /* while a reload decides */
	int reused;
};

static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
                   struct sockaddr *sa, int salen, void *arg)
{
	struct server_listener *sl = arg;

	session_new(sl->srv, sl->cl, fd, sa, salen);
}

static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct server_listener *sl = arg;
	int err = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: the kernel keeps the connection queued;
	 * we try again on the next readiness. */
	log_warning("accept failed listener=%s: %s", sl->cl->name,
	            evutil_socket_error_to_string(err));
}

static int
listener_socket(const struct netaddr *a, unsigned int backlog, char *error,
                size_t size)
{
	char str[NETADDR_STRLEN];
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "[::]:25" must not also take 0.0.0.0:25 from another listener. */
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	    listen(fd, (int)backlog) < 0)
		goto fail;
	return fd;
fail:
	snprintf(error, size, "cannot listen on %s: %s",
	         netaddr_str(a, str, sizeof(str)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static struct server_listener *
listener_find(struct server_listener *list, const struct netaddr *a)
{
	for (; list != NULL; list = list->next) {
		if (list->addr.len == a->len &&
		    memcmp(&list->addr.ss, &a->ss, a->len) == 0)
			return list;
	}
	return NULL;
}

static void
listener_free(struct server_listener *sl)
{
	evconnlistener_free(sl->evl);
	free(sl);
}

/*
 * Build the listener list for cfg, reusing sockets from srv->listeners.
 * Returns the new list (old unused entries stay in srv->listeners for
 * the caller to free), or NULL with a reason after closing what it
 * opened.
 */
static struct server_listener *
listeners_open(struct server *srv, const struct config *cfg, char *error,
               size_t size)
{
	struct server_listener *list = NULL, *sl, **pp, *next;
	size_t i;
	int fd;

	for (i = 0; i < cfg->nlisteners; i++) {
		const struct config_listener *cl = &cfg->listeners[i];

		sl = listener_find(srv->listeners, &cl->addr);
		if (sl != NULL) {
			for (pp = &srv->listeners; *pp != sl; pp = &(*pp)->next)
				;
			*pp = sl->next; /* taken over by the new list */
			sl->reused = 1;
			sl->old_cl = sl->cl;
		} else {
			fd = listener_socket(&cl->addr, cl->backlog, error,
			                     size);
			if (fd < 0)
				goto fail;
			sl = xcalloc(1, sizeof(*sl));
			sl->srv = srv;
			sl->addr = cl->addr;
			/* Backlog 0: the socket already listens with ours. */
			sl->evl = evconnlistener_new(
			    srv->base, listener_accept_cb, sl,
			    LEV_OPT_CLOSE_ON_FREE, 0, fd);
			evconnlistener_set_error_cb(sl->evl, listener_error_cb);
			sl->reused = 0;
		}
		sl->cl = cl;
		sl->next = list;
		list = sl;
	}
	return list;
fail:
	/* Give reused sockets back as they were, close the new ones. */
	for (sl = list; sl != NULL; sl = next) {
		next = sl->next;
		if (sl->reused) {
			sl->cl = sl->old_cl;
			sl->next = srv->listeners;
			srv->listeners = sl;
		} else {
			listener_free(sl);
		}
	}
	return NULL;
}

static void
listeners_free(struct server_listener **list)
{
	struct server_listener *sl, *next;

	for (sl = *list; sl != NULL; sl = next) {
		next = sl->next;
		listener_free(sl);
	}
	*list = NULL;
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	if (sig == SIGHUP) {
		server_reload(srv);
		return;
	}
	log_info("signal %s: draining sessions=%u",
	         sig == SIGTERM ? "term" : "int", srv->nsessions);
	server_drain(srv);
}

static void
server_drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	log_warning("drain timeout: closing sessions=%u", srv->nsessions);
	event_base_loopbreak(srv->base);
}

int
server_init(struct server *srv, struct config *cfg, char **error_r)
{
	char error[512];
	const char *werr;

	memset(srv, 0, sizeof(*srv));
	TAILQ_INIT(&srv->sessions);
	srv->base = event_base_new();
	if (srv->base == NULL) {
		*error_r = xstrdup("cannot create the event loop");
		return -1;
	}
	srv->cfg = cfg;
	config_ref(cfg);
	srv->clients = policy_clients_new();
	srv->auth = policy_auth_new();
	srv->listeners = listeners_open(srv, cfg, error, sizeof(error));
	if (srv->listeners == NULL && cfg->nlisteners > 0) {
		*error_r = xstrdup(error);
		return -1;
	}
	srv->pool = workpool_create(srv->base, cfg->workers, &werr);
	if (srv->pool == NULL) {
		*error_r = xasprintf("cannot start workers: %s", werr);
		return -1;
	}
	srv->ev_term = evsignal_new(srv->base, SIGTERM, server_signal_cb, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, server_signal_cb, srv);
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, server_signal_cb, srv);
	srv->ev_drain = evtimer_new(srv->base, server_drain_timeout_cb, srv);
	event_add(srv->ev_term, NULL);
	event_add(srv->ev_int, NULL);
	event_add(srv->ev_hup, NULL);
	return 0;
}

int
server_run(struct server *srv)
{
	event_base_dispatch(srv->base);
	return srv->exit_code;
}

void
server_deinit(struct server *srv)
{
	struct session *sess;

	listeners_free(&srv->listeners);
	milter_finish();
	/* Workers finish first: their done callbacks still need the
	 * sessions they worked for. */
	if (srv->pool != NULL)
		workpool_destroy(&srv->pool);
	while ((sess = TAILQ_FIRST(&srv->sessions)) != NULL)
		session_shutdown(sess);
	if (srv->ev_term != NULL) {
		event_free(srv->ev_term);
		event_free(srv->ev_int);
		event_free(srv->ev_hup);
		event_free(srv->ev_drain);
	}
	policy_clients_free(&srv->clients);
	policy_auth_free(&srv->auth);
	config_unref(&srv->cfg);
	if (srv->base != NULL)
		event_base_free(srv->base);
}

static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
same_netlist(const struct netlist *a, const struct netlist *b)
{
	char x[NETADDR_STRLEN + 8], y[NETADDR_STRLEN + 8];
	size_t i;

	if (netlist_count(a) != netlist_count(b))
		return 0;
	for (i = 0; i < netlist_count(a); i++)
		if (strcmp(netlist_get(a, i, x, sizeof(x)),
		           netlist_get(b, i, y, sizeof(y))) != 0)
			return 0;
	return 1;
}

/*
 * What a reload reads but cannot apply, said rather than dropped in
 * silence.  XXX the worker pool, the metrics listener and the history
 * writer are made once at startup (jobs in flight hold the pool; the
 * other two run threads of their own that hold what they were started
 * with), and libmilter listens once per process.
 */
static void
reload_restart_only(const struct config *old, const struct config *new)
{
	const struct config_metrics *om = old->metrics, *nm = new->metrics;
	const struct config_history *oh = old->history, *nh = new->history;

	if (new->workers != old->workers)
		log_warning("reload: workers=%u takes effect at restart",
		            new->workers);
	if (new->milter != NULL &&
	    (old->milter == NULL ||
	     strcmp(new->milter->address, old->milter->address) != 0))
		log_warning("reload: milter address=%s takes effect at restart",
		            new->milter->address_text);
	if ((om == NULL) != (nm == NULL) ||
	    (om != NULL && (!same_text(om->address_text, nm->address_text) ||
	                    !same_netlist(om->allow, nm->allow))))
		log_warning("reload: metrics section changed, takes effect at "
		            "restart");
	if ((oh == NULL) != (nh == NULL) ||
	    (oh != NULL &&
	     (!same_text(oh->path, nh->path) ||
	      oh->retention != nh->retention || oh->max_rows != nh->max_rows)))
		log_warning("reload: history section changed, takes effect at "
		            "restart");
}

void
server_reload(struct server *srv)
{
	struct server_listener *list;
	struct config *cfg;
	char *error = NULL, buf[512], why[1024];

	if (srv->draining)
		return;
	cfg = config_load(srv->cfg->path, &error);
	if (cfg == NULL) {
		log_error("reload refused config=running reason=\"%s\"",
		          log_escape_str(why, sizeof(why), error));
		free(error);
		return;
	}
	list = listeners_open(srv, cfg, buf, sizeof(buf));
	if (list == NULL && cfg->nlisteners > 0) {
		log_error("reload refused config=running reason=\"%s\"",
		          log_escape_str(why, sizeof(why), buf));
		config_unref(&cfg);
		return;
	}
	listeners_free(&srv->listeners); /* the ones no longer wanted */
	srv->listeners = list;
	reload_restart_only(srv->cfg, cfg);
	/* XXX libmilter listens once per process: a new milter section or
	 * address takes effect at restart (reload_restart_only() says
	 * so); the filters of a new generation reach the milter at once,
	 * and a removed section stops it. */
	if (cfg->milter != NULL)
		milter_set_config(cfg);
	else if (milter_stop())
		log_info("reload: milter section removed, milter stopping");
	config_unref(&srv->cfg);
	srv->cfg = cfg;
	log_open("postern", cfg->log_syslog || srv->detached, cfg->log_facility,
	         (enum log_level)cfg->log_level);
	log_trace_mask = cfg->log_trace;
	log_info("reload done config=%s listeners=%zu sessions=%u", cfg->path,
	         cfg->nlisteners, srv->nsessions);
}

void
server_drain(struct server *srv)
{
	struct session *s, *next;
	struct timeval tv = {srv->cfg->drain_timeout, 0};

	if (srv->draining)
		return;
	srv->draining = 1;
	listeners_free(&srv->listeners);
	milter_stop();
	if (srv->nsessions == 0) {
		event_base_loopbreak(srv->base);
		return;
	}
	evtimer_add(srv->ev_drain, &tv);
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_drain(s);
	}
}

void
server_session_gone(struct server *srv)
{
	if (srv->draining && srv->nsessions == 0)
		event_base_loopbreak(srv->base);
}
