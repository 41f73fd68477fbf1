/*
 * postern.c - the postern command: check a configuration, or run the
 * daemon.
 *
 *   postern [-c FILE] -t        check FILE, print a summary, exit 0 or 1
 *   postern [-c FILE] [-f] [-d] run (in the foreground with -f; -d adds
 *                               debug output of every subsystem)
 *   postern keygen -d DOMAIN -s SELECTOR [-t rsa|ed25519] [-b BITS]
 *                  [-D DIR]     make a DKIM key and print its DNS record
 *   postern score [-c FILE | -r RULES...] [options] MESSAGE...
 *                               score messages with the spam rules
 *                               (postern_score.c)
 *   postern release [-c FILE] [-k] HELD...
 *                               deliver held messages to the upstream
 *                               (postern_release.c)
 *   postern report [dmarc] [-c FILE] [options]
 *                               reports from the history database
 *                               (postern_report.c)
 *
 * Startup problems (bad configuration, a port we cannot bind) are fatal
 * here, with a reason naming the file or address; nothing after startup
 * ends the process except a signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "filters/report_stats.h"
#include "milter/milter.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "filters/report_history.h"
#include "proxy/postern_release.h"
#include "proxy/postern_report.h"
#include "proxy/postern_score.h"
#include "proxy/server.h"
#include "sign/sign_keys.h"
#include "util/log.h"
#include "util/xalloc.h"

#define POSTERN_VERSION "0.1"
#define DEFAULT_CONFIG  "/etc/postern/postern.conf"

static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: postern [-c file] [-t] [-f] [-d]\n"
	        "  -c file  configuration file (default " DEFAULT_CONFIG ")\n"
	        "  -t       check the configuration and exit\n"
	        "  -f       stay in the foreground\n"
	        "  -d       debug output for every subsystem\n"
	        "  -V       print the version\n"
	        "       postern keygen|score|release|report ...  "
	        "(see README, RUNNING IT)\n");
}

/* Each session holds two sockets; let as many as the hard limit in. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warning("cannot raise the file limit: %s",
			            strerror(errno));
	}
}

static int
write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

static int
check_config(const char *path)
{
	struct config *cfg;
	char *error = NULL;

	cfg = config_load(path, &error);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", error);
		free(error);
		return 1;
	}
	printf("postern: configuration %s is valid\n", path);
	config_print_summary(cfg);
	config_unref(&cfg);
	return 0;
}

/*
 * Detach before any thread exists (the resolver and the workers start
 * with the configuration; fork keeps only the calling thread).  The
 * parent waits for the child's word on a pipe and exits with it, so
 * startup errors still reach the terminal.  Returns the pipe's write
 * end in the child; never returns in the parent.
 */
static int
detach(void)
{
	char buf[1024];
	ssize_t n, len = 0;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "postern: cannot detach: %s\n",
		        strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		return p[1];
	}
	close(p[1]);
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(p[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = '\0';
	if (strncmp(buf, "ok\n", 3) == 0) {
		fputs(buf + 3, stderr);
		exit(0);
	}
	fprintf(stderr, "%s", len > 0 ? buf : "postern: startup failed\n");
	exit(1);
}

/* Tell the waiting parent how startup went; stdio goes to /dev/null. */
static void
detach_report(int fd, const char *text)
{
	int null = open("/dev/null", O_RDWR);

	if (write(fd, text, strlen(text)) < 0)
		log_warning("startup report lost: %s", strerror(errno));
	close(fd);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

static void
startup_failed(int report_fd, const char *error)
{
	char *text = xasprintf("postern: %s\n", error);

	if (report_fd >= 0)
		detach_report(report_fd, text);
	else
		fputs(text, stderr);
	free(text);
}

/*
 * Become cfg->user once the listeners are bound.  glibc applies the
 * change to every thread.  Returns 0, or -1 with an allocated reason.
 */
static int
drop_privileges(const char *user, char **error_r)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL) {
		*error_r = xasprintf("unknown user %s", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		*error_r =
		    xasprintf("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		*error_r = xasprintf("could become root again after %s", user);
		return -1;
	}
	return 0;
}

/* The counters live as long as the process: reloads keep them. */
static struct report_stats *stats;

/* The metrics listener, when configured: 0, or -1 after logging. */
static int
start_metrics(const struct config *cfg, struct report_history *history,
              struct metrics **m_r, int report_fd)
{
	const char *reason;
	char *error;

	if (cfg->metrics == NULL)
		return 0;
	*m_r = metrics_start(cfg, stats, history, &reason);
	if (*m_r != NULL) {
		log_info("metrics listening address=%s",
		         cfg->metrics->address_text);
		return 0;
	}
	error =
	    xasprintf("metrics: %s: %s", cfg->metrics->address_text, reason);
	log_error("startup failed: %s", error);
	startup_failed(report_fd, error);
	free(error);
	return -1;
}

/* The history, when configured: opened after the privileges are
 * dropped, so its files belong to the daemon's user.  0, or -1 after
 * logging. */
static int
start_history(const struct config *cfg, struct report_history **h_r,
              int report_fd)
{
	struct report_history_opts opts = {0};
	char *error = NULL, *text;

	if (cfg->history == NULL)
		return 0;
	opts.path = cfg->history->path;
	opts.retention = cfg->history->retention;
	opts.max_rows = cfg->history->max_rows;
	*h_r = report_history_open(&opts, &error);
	if (*h_r != NULL) {
		report_history_register(*h_r);
		report_history_start(*h_r);
		log_info("history path=%s", opts.path);
		return 0;
	}
	text = xasprintf("history: %s", error);
	log_error("startup failed: %s", text);
	startup_failed(report_fd, text);
	free(text);
	free(error);
	return -1;
}

static int
run(const char *path, int foreground, int debug)
{
	struct metrics *metrics = NULL;
	struct report_history *history = NULL;
	struct server srv;
	struct config *cfg;
	char *error = NULL;
	int code, report_fd = foreground ? -1 : detach();
	int to_syslog;

	cfg = config_load(path, &error);
	if (cfg == NULL) {
		startup_failed(report_fd, error);
		free(error);
		return 1;
	}
	/* Detached, stderr is /dev/null: syslog is the only place left. */
	to_syslog = (cfg->log_syslog || report_fd >= 0) && !debug;
	log_open("postern", to_syslog, cfg->log_facility,
	         debug ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level);
	log_trace_mask = debug ? LOG_TRACE_ALL : cfg->log_trace;
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	evthread_use_pthreads();
	stats = report_stats_new(REPORT_STATS_DOMAINS);
	report_stats_register(stats);
	if (server_init(&srv, cfg, &error) < 0) {
		log_error("startup failed: %s", error);
		startup_failed(report_fd, error);
		free(error);
		server_deinit(&srv);
		config_unref(&cfg);
		return 1;
	}
	config_unref(&cfg); /* the server holds its own reference */
	srv.detached = report_fd >= 0;
	if (srv.cfg->pid_file != NULL && write_pid_file(srv.cfg->pid_file) < 0)
		log_warning("cannot write pid file %s: %s", srv.cfg->pid_file,
		            strerror(errno));
	if (srv.cfg->user != NULL &&
	    drop_privileges(srv.cfg->user, &error) < 0) {
		log_error("startup failed: %s", error);
		startup_failed(report_fd, error);
		free(error);
		server_deinit(&srv);
		return 1;
	}
	/* Before the milter's thread: sinks are registered before any
	 * transaction can end. */
	if (start_history(srv.cfg, &history, report_fd) < 0) {
		server_deinit(&srv);
		return 1;
	}
	if (srv.cfg->milter != NULL && milter_start(srv.cfg, &error) < 0) {
		log_error("startup failed: %s", error);
		startup_failed(report_fd, error);
		free(error);
		server_deinit(&srv);
		return 1;
	}
	if (start_metrics(srv.cfg, history, &metrics, report_fd) < 0) {
		server_deinit(&srv);
		return 1;
	}
	if (report_fd >= 0)
		detach_report(report_fd,
		              srv.cfg->log_syslog
		                  ? "ok\n"
		                  : "ok\npostern: detached; logging to "
		                    "syslog (log target stderr needs "
		                    "-f)\n");
	log_info("start version=%s config=%s listeners=%zu workers=%u",
	         POSTERN_VERSION, path, srv.cfg->nlisteners, srv.cfg->workers);
	code = server_run(&srv);
	metrics_stop(&metrics);
	log_info("stop sessions=%u", srv.nsessions);
	if (srv.cfg->pid_file != NULL)
		unlink(srv.cfg->pid_file);
	server_deinit(&srv);
	/* After the sessions: the writer writes what they queued.  Not
	 * freed: a milter thread may still be ending a transaction (see
	 * milter_finish()), and the sink must stay to drop it. */
	if (history != NULL) {
		struct report_history_counts n;

		report_history_stop(history);
		report_history_counts(history, &n);
		log_info("history closed dropped=%llu lost=%llu retries=%llu",
		         n.dropped, n.lost, n.retries);
	}
	return code;
}

static void
keygen_usage(void)
{
	fprintf(stderr, "usage: postern keygen -d domain -s selector "
	                "[-t rsa|ed25519] [-b bits] [-D dir]\n");
}

static int
keygen_main(int argc, char **argv)
{
	const char *domain = NULL, *selector = NULL, *dir = ".", *why;
	enum sign_alg alg = SIGN_ALG_RSA_SHA256;
	unsigned long bits = 0;
	char *path, *line, *end, *txt = NULL, *error = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt(argc, argv, "d:s:t:b:D:")) != -1) {
		switch (c) {
		case 'd':
			domain = optarg;
			break;
		case 's':
			selector = optarg;
			break;
		case 't':
			if (strcmp(optarg, "ed25519") == 0)
				alg = SIGN_ALG_ED25519_SHA256;
			else if (strcmp(optarg, "rsa") != 0) {
				keygen_usage();
				return 2;
			}
			break;
		case 'b':
			bits = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || bits > 65536) {
				keygen_usage();
				return 2;
			}
			break;
		case 'D':
			dir = optarg;
			break;
		default:
			keygen_usage();
			return 2;
		}
	}
	if (domain == NULL || selector == NULL || optind != argc) {
		keygen_usage();
		return 2;
	}
	if (sign_domain_check(domain, &why) < 0 ||
	    sign_selector_check(selector, &why) < 0) {
		fprintf(stderr, "postern keygen: %s\n", why);
		return 2;
	}
	path = xasprintf("%s/%s.private", dir, selector);
	rc = sign_keygen(alg, (unsigned int)bits, path, &txt, &error);
	if (rc < 0) {
		fprintf(stderr, "postern keygen: %s\n", error);
		free(error);
		free(path);
		return 1;
	}
	fprintf(stderr, "postern keygen: wrote %s\n", path);
	line = sign_key_zone_line(selector, domain, txt);
	printf("%s\n", line);
	free(line);
	free(txt);
	free(path);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	int c, test = 0, foreground = 0, debug = 0;

	log_open("postern", 0, LOG_MAIL, LOG_LEVEL_INFO);
	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return keygen_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "score") == 0)
		return postern_score_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "release") == 0)
		return postern_release_main(argc - 1, argv + 1, DEFAULT_CONFIG);
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return postern_report_main(argc - 1, argv + 1, DEFAULT_CONFIG);
	while ((c = getopt(argc, argv, "c:tfdVh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'd':
			debug = 1;
			foreground = 1;
			break;
		case 'V':
			printf("postern %s\n", POSTERN_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (test)
		return check_config(path);
	return run(path, foreground, debug);
}
