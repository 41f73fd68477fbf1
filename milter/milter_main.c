/*
 * milter_main.c - libmilter's thread and the configuration it hands
 * to new milter connections.
 *
 * smfi_register(), smfi_setconn() and smfi_settimeout() run once, then
 * smfi_main() runs in a thread of its own until milter_stop() calls
 * smfi_stop().  The main thread keeps SIGTERM and SIGHUP (libevent):
 * see sigwait() below.
 * Reports start errors to the caller; smfi_main()'s end is logged.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "milter/milter.h"
#include "milter/milter_private.h"
#include "proxy/config.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* How long milter_finish() waits for smfi_main() to return. */
#define MILTER_STOP_WAIT 1

static pthread_mutex_t milter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *milter_cfg; /* current generation, one reference */
static pthread_t milter_thread;
static char *milter_conn_spec; /* smfi_setconn()'s argument */
static int milter_started;
static int milter_stopping; /* smfi_stop() called, not joined */

static char milter_name[] = "postern";

static struct smfiDesc milter_desc = {
    .xxfi_name = milter_name,
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
    .xxfi_connect = milter_connect,
    .xxfi_helo = milter_helo,
    .xxfi_envfrom = milter_envfrom,
    .xxfi_envrcpt = milter_envrcpt,
    .xxfi_header = milter_header,
    .xxfi_eoh = milter_eoh,
    .xxfi_body = milter_body,
    .xxfi_eom = milter_eom,
    .xxfi_abort = milter_abort,
    .xxfi_close = milter_close,
    .xxfi_negotiate = milter_negotiate,
};

struct config *
milter_config_get(void)
{
	struct config *cfg;

	pthread_mutex_lock(&milter_lock);
	cfg = milter_cfg;
	if (cfg != NULL)
		config_ref(cfg);
	pthread_mutex_unlock(&milter_lock);
	return cfg;
}

void
milter_set_config(struct config *cfg)
{
	struct config *old;

	if (!milter_started)
		return;
	config_ref(cfg);
	pthread_mutex_lock(&milter_lock);
	old = milter_cfg;
	milter_cfg = cfg;
	pthread_mutex_unlock(&milter_lock);
	config_unref(&old);
}

static void *
milter_thread_main(void *arg)
{
	int rc = smfi_main();

	if (rc != MI_SUCCESS)
		log_error("milter stopped with an error");
	else
		log_info("milter stopped");
	return NULL;
}

/*
 * libmilter answers the end of a message with one write per header
 * edit and one for the verdict.  With Nagle on, the second write waits
 * for the MTA's delayed ACK of the first: about 40 ms per message over
 * TCP (measured by make bench).  libmilter keeps its listening socket to
 * itself, so find it among ours (listening, TCP, on the milter's port)
 * and set TCP_NODELAY there: Linux hands it down to accepted sockets.
 */
static void
milter_nodelay(const char *conn)
{
	const char *at = strchr(conn, ':');
	long port = at != NULL ? strtol(at + 1, NULL, 10) : 0;
	struct netaddr a;
	socklen_t len;
	struct dirent *de;
	DIR *dir;
	int fd, on, found = 0;

	if (strncmp(conn, "inet", 4) != 0 || port <= 0 ||
	    (dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		fd = atoi(de->d_name);
		len = sizeof(on);
		if (de->d_name[0] == '.' || fd == dirfd(dir) ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 ||
		    !on)
			continue;
		a.len = sizeof(a.ss);
		if (getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0 ||
		    (a.ss.ss_family != AF_INET && a.ss.ss_family != AF_INET6) ||
		    netaddr_port(&a) != (unsigned long)port)
			continue;
		on = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) ==
		    0)
			found = 1;
	}
	closedir(dir);
	if (!found)
		log_warning("milter: listening socket not found: replies may "
		            "wait for delayed ACKs");
}

/* libmilter removes a stale unix socket only when asked to. */
static int
milter_open(const struct config_milter *m, char **error_r)
{
	char *conn = milter_conn_spec = xstrdup(m->address);
	int rc = smfi_setconn(conn);

	/* conn stays allocated until milter_finish(), in case libmilter
	 * keeps the pointer. */
	if (rc != MI_SUCCESS ||
	    smfi_settimeout((int)m->timeout) != MI_SUCCESS ||
	    smfi_opensocket(strncmp(conn, "unix:", 5) == 0) != MI_SUCCESS) {
		*error_r =
		    xasprintf("milter: cannot listen on %s", m->address_text);
		return -1;
	}
	/* The socket is made with the process umask; the MTA (another
	 * account) needs write permission to connect. */
	if (strncmp(conn, "unix:", 5) == 0 &&
	    chmod(conn + 5, (mode_t)m->socket_mode) < 0) {
		*error_r = xasprintf("milter: chmod %s: %s", conn + 5,
		                     strerror(errno));
		return -1;
	}
	milter_nodelay(conn);
	return 0;
}

/*
 * smfi_main() starts a thread that sigwait()s for SIGTERM, SIGHUP and
 * SIGINT and, on the first, stops the milter and ends.  postern's event
 * loop owns those signals (drain, reload), but Linux hands a process
 * signal to any thread able to take it when the main thread already
 * has one pending and is off the CPU: a SIGHUP and a SIGTERM in quick
 * succession stopped the milter while the loop never saw the SIGTERM
 * (a process stopped, sent SIGTERM and continued hung in 18 runs of
 * 20).  No libmilter call turns that thread off.
 *
 * XXX So postern defines sigwait(), and the dynamic linker binds
 * libmilter's call to it instead of the C library's.  A wait that
 * includes SIGTERM or SIGHUP (only libmilter's; postern never waits for
 * them) parks its thread for good with the signals still blocked, so
 * only the main thread ever takes them.  Any other wait is done with
 * sigwaitinfo(), as the C library does.
 */
int
sigwait(const sigset_t *set, int *sig)
{
	int n;

	if (sigismember(set, SIGTERM) == 1 || sigismember(set, SIGHUP) == 1) {
		for (;;)
			pause();
	}
	do
		n = sigwaitinfo(set, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	*sig = n;
	return 0;
}

int
milter_start(struct config *cfg, char **error_r)
{
	sigset_t all, old;
	int rc;

	if (milter_started) {
		*error_r = xstrdup("milter: already started");
		return -1;
	}
	if (smfi_register(milter_desc) != MI_SUCCESS) {
		*error_r = xstrdup("milter: smfi_register failed");
		return -1;
	}
	if (milter_open(cfg->milter, error_r) < 0)
		return -1;
	config_ref(cfg);
	milter_cfg = cfg;
	/* The milter's threads leave SIGTERM, SIGHUP and SIGINT to the
	 * main thread's libevent loop (and libmilter's own signal thread
	 * parks in sigwait() below). */
	sigemptyset(&all);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGINT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&milter_thread, NULL, milter_thread_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		config_unref(&milter_cfg);
		*error_r = xasprintf("milter: thread: %s", strerror(rc));
		return -1;
	}
	milter_started = 1;
	log_info("milter listening address=%s", cfg->milter->address_text);
	return 0;
}

/* smfi_stop() waits for libmilter's listener lock, which the listener
 * holds while it polls (up to about 5 s): it runs on a thread of its
 * own so that the event loop never waits. */
static void *
milter_stopper_main(void *arg)
{
	smfi_stop();
	return NULL;
}

int
milter_stop(void)
{
	pthread_t stopper;
	pthread_attr_t attr;

	if (!milter_started)
		return 0;
	milter_started = 0;
	milter_stopping = 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&stopper, &attr, milter_stopper_main, NULL) != 0)
		smfi_stop();
	pthread_attr_destroy(&attr);
	return 1;
}

void
milter_finish(void)
{
	struct timespec deadline;

	milter_stop();
	free(milter_conn_spec);
	milter_conn_spec = NULL;
	if (!milter_stopping)
		return;
	milter_stopping = 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += MILTER_STOP_WAIT;
	/* XXX libmilter's listener sees its stop flag only when its poll
	 * times out (about 5 s); postern does not wait that long: the
	 * process exits, ending the thread (and open milter connections,
	 * which the MTA treats per milter_default_action). */
	if (pthread_timedjoin_np(milter_thread, NULL, &deadline) != 0)
		log_debug("milter thread still in libmilter at exit");
	pthread_mutex_lock(&milter_lock);
	config_unref(&milter_cfg);
	pthread_mutex_unlock(&milter_lock);
}
