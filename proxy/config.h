/*
 * config.h - postern's configuration.
 *
 * One file, parsed with libconfuse, describes the listeners, the
 * upstream, the limits, logging, the resolver and the filter chain.  A
 * loaded configuration is immutable and reference counted: every session
 * keeps the generation it started with, so SIGHUP can swap in a new one
 * without disturbing open sessions.  Every error is reported as
 * "file:line: reason".
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>

#include "util/netaddr.h"

struct dns;
struct filter_chain;
struct filter_spam;
struct netlist;

enum config_identity {
	CONFIG_IDENTITY_AUTO = 0, /* XCLIENT if offered, else XFORWARD */
	CONFIG_IDENTITY_XCLIENT,  /* XCLIENT if offered, else nothing */
	CONFIG_IDENTITY_XFORWARD, /* XFORWARD if offered, else nothing */
	CONFIG_IDENTITY_NONE,
};

enum config_bare_eol {
	CONFIG_BARE_EOL_REJECT = 0,
	CONFIG_BARE_EOL_NORMALIZE,
};

struct config_listener {
	char *name; /* the section title */
	struct netaddr addr;
	int outbound; /* every session here is outbound */
	unsigned int backlog;
};

/* The milter front end (milter/milter.h), when configured. */
struct config_milter {
	char *address;           /* libmilter's "inet:PORT@HOST", ... */
	char *address_text;      /* as the file wrote it */
	char **outbound_daemons; /* {daemon_name} values: outbound */
	size_t noutbound_daemons;
	int on_error_accept;      /* postern fails: accept, else tempfail */
	unsigned int timeout;     /* seconds libmilter waits on the MTA */
	unsigned int socket_mode; /* permissions of a unix socket */
};

struct config_upstream {
	struct netaddr addr;
	char *helo_name; /* our EHLO name before XCLIENT */
	enum config_identity identity;
	unsigned int connect_timeout; /* seconds */
	unsigned int command_timeout;
	unsigned int data_timeout; /* for the final reply after "." */
};

struct config_limits {
	size_t command_line;             /* octets incl. CRLF, 512 */
	size_t text_line;                /* octets incl. CRLF, 1000 */
	unsigned long long message_size; /* octets, 0 = unlimited */
	unsigned int recipients;         /* per message */
	unsigned int sessions;           /* in total */
	unsigned int sessions_per_client;
	unsigned int errors;       /* before 421 and disconnect */
	unsigned int idle_timeout; /* seconds waiting for a command */
	unsigned int data_timeout; /* seconds between DATA octets */
	size_t spool_memory;       /* per message, then a file */
	enum config_bare_eol bare_eol;
};

/* The resolver's settings, as the file gave them. */
struct config_dns {
	char **forwarders;    /* "address" or "address@port" */
	size_t nforwarders;   /* 0: the servers of /etc/resolv.conf */
	unsigned int timeout; /* seconds per query */
	char *trust_anchor;   /* DNSSEC root key file; NULL: none */
	char **nodefault_zones;
	size_t nnodefault_zones;
};

struct config {
	int refs;
	char *path;

	char *hostname;       /* our name in banners and Received */
	unsigned int workers; /* worker threads for blocking filter work */
	unsigned int drain_timeout; /* seconds SIGTERM waits for sessions */
	char *spool_dir;
	char *quarantine_dir; /* held messages */
	char *pid_file;       /* NULL: none */
	char *user; /* run as this account after binding; NULL: stay */

	int log_syslog; /* 0: stderr */
	int log_facility;
	int log_level;          /* enum log_level */
	unsigned int log_trace; /* LOG_TRACE_* mask */

	struct config_listener *listeners;
	size_t nlisteners;

	struct config_upstream upstream;
	struct config_limits limits;

	struct netlist *xclient_networks;  /* may send us XCLIENT */
	struct netlist *internal_networks; /* their mail is outbound */

	struct config_milter *milter; /* NULL: no milter section */

	struct config_dns dns_conf;
	/* The resolver, when a dns section or a filter asks for it, else
	 * NULL.  Filters keep this pointer: it outlives the chain. */
	struct dns *dns;

	struct filter_chain *chain;
	/* The spam filter of the chain, or NULL; the chain owns it. */
	struct filter_spam *spam;
	/* Per filter of the chain, its settings in the file's words for
	 * the -t summary ("" for none); NULL-terminated. */
	char **filter_settings;
};

/*
 * Load and check the file at path.  Returns a configuration with one
 * reference, or NULL with "file:line: reason" (or "file: reason") in
 * *error_r, which the caller frees.
 */
struct config *config_load(const char *path, char **error_r);

void config_ref(struct config *cfg);
/* Drop a reference; frees on the last and sets *cfg to NULL. */
void config_unref(struct config **cfg);

/* Find a listener by name; NULL if absent. */
const struct config_listener *config_listener_find(const struct config *cfg,
                                                   const char *name);

/* Print a summary of the checked configuration (for -t) to stdout. */
void config_print_summary(const struct config *cfg);

#endif
