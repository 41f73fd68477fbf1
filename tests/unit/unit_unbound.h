/*
 * unit_unbound.h - what the tests against a real DNS server share: an
 * unbound started in the foreground on a free loopback port, serving
 * only the local zones and records its test writes into the config,
 * waited for until it accepts, stopped at the end; and a resolver of
 * util/dns.h that forwards to it.  The config, pid file and the
 * server's log go in the scratch directory of unit.h, which must exist.
 * Helpers are static inline, as in unit.h.
 *
 * UNBOUND names the server binary (default /usr/sbin/unbound).
 */
#ifndef POSTERN_TESTS_UNIT_UNBOUND_H
#define POSTERN_TESTS_UNIT_UNBOUND_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "util/dns.h"
#include "tests/unit/unit.h"

#define UNIT_UNBOUND_BIN "/usr/sbin/unbound"

/* A running server; pid -1 when there is none. */
struct unit_unbound {
	pid_t pid;
	int port;
};

/* Writes the test's local zones and records, one "\tname: value" line
 * each, into the server: clause of the config. */
typedef void (*unit_unbound_records_cb)(FILE *f);

/*
 * Whether a socket of type can be bound to 127.0.0.1:port or, with
 * connect_to, connect to it.
 */
static inline int
unit_unbound_probe(int type, int port, int connect_to)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const struct sockaddr *sa = (const struct sockaddr *)&sin;
	int fd = socket(AF_INET, type, 0), rc;

	if (fd < 0)
		return 0;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect_to ? connect(fd, sa, sizeof(sin))
	                : bind(fd, sa, sizeof(sin));
	close(fd);
	return rc == 0;
}

/* Whether something accepts TCP on 127.0.0.1:port. */
static inline int
unit_unbound_accepts(int port)
{
	return unit_unbound_probe(SOCK_STREAM, port, 1);
}

/* Below the ephemeral range, so no outgoing socket takes it meanwhile.
 * Returns -1 when none is found. */
static inline int
unit_unbound_free_port(void)
{
	int i, port;

	srand((unsigned int)getpid() ^ (unsigned int)time(NULL));
	for (i = 0; i < 200; i++) {
		port = 20000 + rand() % 12000;
		if (unit_unbound_probe(SOCK_DGRAM, port, 0) &&
		    unit_unbound_probe(SOCK_STREAM, port, 0))
			return port;
	}
	return -1;
}

/* "." static: nothing outside the local zones is ever recursed for.
 * Returns 0 or -1. */
static inline int
unit_unbound_write_config(const char *path, int port,
                          unit_unbound_records_cb records)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f,
	        "server:\n"
	        "\tinterface: 127.0.0.1\n\tport: %d\n\tdo-ip6: no\n"
	        "\tso-reuseport: no\n\tdo-not-query-localhost: no\n"
	        "\tchroot: \"\"\n\tusername: \"\"\n\tdirectory: \"%s\"\n"
	        "\tpidfile: \"%s/unbound.pid\"\n\tdo-daemonize: no\n"
	        "\tuse-syslog: no\n\tlogfile: \"\"\n\tverbosity: 1\n"
	        "\tnum-threads: 1\n\tmodule-config: \"iterator\"\n"
	        "\tlocal-zone: \".\" static\n"
	        "\tlocal-zone: \"test.\" nodefault\n",
	        port, unit_tmpdir(), unit_tmpdir());
	records(f);
	fprintf(f, "remote-control:\n\tcontrol-enable: no\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* In the child: the server in the foreground, its output to logpath. */
static inline void
unit_unbound_exec(const char *conf, const char *logpath)
{
	const char *bin = getenv("UNBOUND");
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (bin == NULL)
		bin = UNIT_UNBOUND_BIN;
	execl(bin, bin, "-d", "-c", conf, (char *)NULL);
	_exit(127);
}

/* Ready once its TCP port accepts (it opens UDP with it): asking it
 * through libunbound too early would mark the server down.  Returns 0,
 * or -1 when it exited or is not ready after 10 s. */
static inline int
unit_unbound_wait_ready(struct unit_unbound *u)
{
	int i, status;

	for (i = 0; i < 200; i++) {
		if (waitpid(u->pid, &status, WNOHANG) == u->pid) {
			u->pid = -1;
			return -1;
		}
		if (unit_unbound_accepts(u->port))
			return 0;
		unit_sleep_ms(50);
	}
	return -1;
}

static inline void
unit_unbound_print_log(void)
{
	FILE *f = fopen(unit_tmp("unbound.log"), "r");
	char line[512];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		print_error("unbound: %s", line);
	fclose(f);
}

/* SIGTERM, SIGKILL after 5 s.  No-op when there is no server: pid -1,
 * or 0 in a struct never started (kill(0) would hit the test itself). */
static inline void
unit_unbound_stop(struct unit_unbound *u)
{
	int i;

	if (u->pid <= 0)
		return;
	kill(u->pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(u->pid, NULL, WNOHANG) == u->pid)
			break;
		unit_sleep_ms(50);
	}
	if (i == 100) {
		kill(u->pid, SIGKILL);
		waitpid(u->pid, NULL, 0);
	}
	u->pid = -1;
}

/* Start a server with the local data that records writes and wait until
 * it accepts.  Returns 0, or -1 after printing why (and its log) with
 * no server left running. */
static inline int
unit_unbound_start(struct unit_unbound *u, unit_unbound_records_cb records)
{
	const char *conf = unit_tmp("unbound.conf");

	u->pid = -1;
	u->port = unit_unbound_free_port();
	if (u->port < 0 ||
	    unit_unbound_write_config(conf, u->port, records) < 0) {
		print_error("unbound: no free port or no config\n");
		return -1;
	}
	u->pid = fork();
	if (u->pid == 0)
		unit_unbound_exec(conf, unit_tmp("unbound.log"));
	if (u->pid < 0 || unit_unbound_wait_ready(u) < 0) {
		unit_unbound_stop(u);
		unit_unbound_print_log();
		print_error("unbound did not start on 127.0.0.1:%d\n", u->port);
		return -1;
	}
	return 0;
}

/* A resolver forwarding to 127.0.0.1@port that asks it about zones too
 * (libunbound answers those itself unless told not to).  NULL after
 * printing why. */
static inline struct dns *
unit_unbound_resolver(int port, unsigned int timeout_ms,
                      const char *const *zones, size_t nzones)
{
	char fwd[64];
	const char *fwds[] = {fwd};
	struct dns_options opt = {
	    .forwarders = fwds,
	    .nforwarders = 1,
	    .timeout_ms = timeout_ms,
	    .nodefault_zones = zones,
	    .nnodefault_zones = nzones,
	};
	const char *error = NULL;
	struct dns *d;

	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", port);
	d = dns_create(&opt, &error);
	if (d == NULL)
		print_error("dns_create: got %s, want a resolver\n", error);
	return d;
}

#endif
