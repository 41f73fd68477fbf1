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
struct ssl_ctx_st;
struct upstream_source;

enum config_identity {
	CONFIG_IDENTITY_AUTO = 0, /* XCLIENT if offered, else XFORWARD */
	CONFIG_IDENTITY_XCLIENT,  /* XCLIENT if offered, else nothing */
	CONFIG_IDENTITY_XFORWARD, /* XFORWARD if offered, else nothing */
	CONFIG_IDENTITY_NONE,
	CONFIG_IDENTITY_PROXY, /* a PROXY v2 header before the greeting */
};

enum config_upstream_tls {
	CONFIG_UPSTREAM_TLS_NONE = 0,
	CONFIG_UPSTREAM_TLS_OPPORTUNISTIC, /* STARTTLS when offered */
	CONFIG_UPSTREAM_TLS_REQUIRED,      /* STARTTLS, verified, or 4xx */
};

enum config_bare_eol {
	CONFIG_BARE_EOL_REJECT = 0,
	CONFIG_BARE_EOL_NORMALIZE,
};

/* TLS towards clients on a listener. */
enum config_tls_mode {
	CONFIG_TLS_NONE = 0,
	CONFIG_TLS_STARTTLS, /* offered after EHLO */
	CONFIG_TLS_IMPLICIT, /* handshake before the banner (port 465) */
};

enum config_tls_verify {
	CONFIG_TLS_VERIFY_NONE = 0, /* no client certificate asked for */
	CONFIG_TLS_VERIFY_OPTIONAL, /* asked for; if sent, must verify */
	CONFIG_TLS_VERIFY_REQUIRE,  /* no verified certificate, no TLS */
};

struct tls_server;

/* The tls section: postern's own certificate, towards clients. */
struct config_tls {
	char *certificate; /* PEM; may hold the chain after it */
	char *key;
	char *chain;   /* NULL: none beyond the certificate file */
	char *ca_file; /* client certificates' CAs; NULL: none */
	enum config_tls_verify verify_client;
	int min_version;                /* OpenSSL's TLS1_2_VERSION, ... */
	char *ciphers;                  /* TLS 1.2 and below; NULL: OpenSSL's */
	char *ciphersuites;             /* TLS 1.3; NULL: OpenSSL's */
	unsigned int handshake_timeout; /* seconds */
	struct tls_server *server;      /* the SSL_CTX made from the above */
};

struct config_listener {
	char *name; /* the section title */
	struct netaddr addr;
	int outbound; /* every session here is outbound */
	unsigned int backlog;
	enum config_tls_mode tls;
	/* Upstream connections of its sessions bind here; ss_family 0:
	 * the upstream's source_address. */
	struct netaddr
	    source; /* PROXY protocol: a v1 or v2 header comes first, from a
	             * peer in proxy_networks, within proxy_timeout seconds. */
	int proxy_protocol;
	struct netlist *proxy_networks; /* NULL unless proxy_protocol */
	unsigned int proxy_timeout;
	int auth_without_tls; /* offer AUTH on plain connections too */
};

/* The metrics listener (proxy/metrics.h), when configured. */
struct config_metrics {
	struct netaddr addr;   /* where it listens */
	char *address_text;    /* as the file wrote it */
	struct netlist *allow; /* peers served; others closed at accept */
};

/* The transaction history (filters/report_history.h), when configured. */
struct config_history {
	char *path;             /* the SQLite database */
	unsigned int retention; /* seconds rows are kept */
	unsigned long max_rows; /* 0: no limit */
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

	/* TLS towards the upstream (STARTTLS). */
	enum config_upstream_tls tls;
	char *ca_file;              /* NULL: the system's trust store */
	char *verify_name;          /* the certificate must name this */
	struct ssl_ctx_st *ssl_ctx; /* OpenSSL's SSL_CTX; NULL: tls none */

	/* Where upstream connections come from: the default source
	 * (ss_family 0: the kernel's choice) and per sender domain. */
	struct netaddr source;
	struct upstream_source *source_table; /* NULL: none */
	char *source_table_path;
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
	enum config_bare_eol
	    bare_eol; /* AUTH failures from one address: each failure reply
	               * waits auth_delay seconds, doubled per failure up to
	               * auth_delay_max; after auth_failures within auth_lockout
	               * seconds, AUTH from it is refused until auth_lockout has
	               * passed since the last one. */
	unsigned int auth_failures;
	unsigned int auth_lockout;
	unsigned int auth_delay;
	unsigned int auth_delay_max;
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

	struct config_milter *milter;   /* NULL: no milter section */
	struct config_metrics *metrics; /* NULL: no metrics section */
	struct config_history *history; /* NULL: no history section */
	struct config_tls *tls;         /* NULL: no tls section */

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

/* The file's word for a listener's TLS mode ("starttls"). */
const char *config_tls_mode_name(enum config_tls_mode mode);

/* Print a summary of the checked configuration (for -t) to stdout. */
void config_print_summary(const struct config *cfg);

#endif
