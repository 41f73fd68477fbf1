/*
 * server.h - the daemon: listeners, the session table, signals.
 *
 * The server owns the event loop, the worker pool, the current
 * configuration generation and the listening sockets.  SIGHUP loads a
 * new generation and reconciles the listeners (sockets whose address did
 * not change stay open); sessions keep the generation they started
 * with.  SIGTERM stops accepting and lets open sessions finish, up to
 * the drain timeout.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <sys/queue.h>

struct config;
struct event;
struct event_base;
struct policy_auth;
struct policy_clients;
struct session;
struct workpool;
struct server_listener;

TAILQ_HEAD(session_list, session);

struct server {
	struct event_base *base;
	struct config *cfg; /* current generation, one reference */
	struct workpool *pool;
	struct policy_clients *clients;
	struct policy_auth *auth; /* AUTH failures per address */
	struct server_listener *listeners;
	struct session_list sessions;
	unsigned int nsessions;
	int draining;
	int exit_code;
	int detached; /* stderr is /dev/null: always log to syslog */
	struct event *ev_term, *ev_int, *ev_hup, *ev_drain;
};

/*
 * Set up the loop, workers and listeners for cfg (a reference is taken).
 * Returns 0, or -1 with an allocated reason in *error_r.
 */
int server_init(struct server *srv, struct config *cfg, char **error_r);

/* Run the loop until drained; returns the exit code. */
int server_run(struct server *srv);

void server_deinit(struct server *srv);

/* Load cfg_path again and swap it in; keeps the old one on error. */
void server_reload(struct server *srv);

/* Stop accepting; close idle sessions; exit when none remain. */
void server_drain(struct server *srv);

/* A session ended and freed itself. */
void server_session_gone(struct server *srv);

#endif
