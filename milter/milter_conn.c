/*
 * milter_conn.c - one milter connection up to the message: negotiation,
 * connect, HELO, MAIL, RCPT, abort and close.
 *
 * The MTA's facts (client address, name and port, HELO, {daemon_name},
 * {auth_authen}, the queue id i) fill the filter_session and filter_txn
 * the proxy would fill; the chain runs inline on libmilter's thread for
 * this connection; refusals become milter replies with postern's codes
 * and texts.  Leaves the message itself to milter_msg.c.  Logs one line
 * per connect, message and disconnect, session id first.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "milter/milter_private.h"
#include "proxy/config.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/spool.h"
#include "util/xalloc.h"

struct milter_conn *
milter_conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->cfg = milter_config_get();
	if (c->cfg == NULL) {
		free(c);
		return NULL;
	}
	filter_session_new_id(&c->fs);
	c->fs.listener = "milter";
	c->fs.hostname = c->cfg->hostname;
	c->fs.start = time(NULL);
	snprintf(c->fs.client_name, sizeof(c->fs.client_name), "unknown");
	snprintf(c->fs.proto, sizeof(c->fs.proto), "ESMTP");
	smfi_setpriv(ctx, c);
	return c;
}

sfsistat
milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                 unsigned long f2, unsigned long f3, unsigned long *pf0,
                 unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct milter_conn *c = milter_conn_get(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE);
	*pf1 = f1 & SMFIP_HDR_LEADSPC;
	*pf2 = 0;
	*pf3 = 0;
	c->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
	return SMFIS_CONTINUE;
}

static int
milter_daemon_outbound(const struct config_milter *m, const char *daemon)
{
	size_t i;

	for (i = 0; daemon != NULL && i < m->noutbound_daemons; i++) {
		if (strcmp(m->outbound_daemons[i], daemon) == 0)
			return 1;
	}
	return 0;
}

/* Outbound as in the proxy (internal_networks), or for a daemon listed
 * in outbound_daemons, or for an authenticated client. */
static void
milter_classify(SMFICTX *ctx, struct milter_conn *c)
{
	const char *auth = milter_macro(ctx, "{auth_authen}");

	if (auth != NULL && auth[0] != '\0')
		snprintf(c->fs.login, sizeof(c->fs.login), "%s", auth);
	c->fs.outbound =
	    netlist_match(c->cfg->internal_networks, &c->fs.client) ||
	    milter_daemon_outbound(c->cfg->milter,
	                           milter_macro(ctx, "{daemon_name}")) ||
	    c->fs.login[0] != '\0';
}

static void
milter_fill_client(struct milter_conn *c, const char *name,
                   const _SOCK_ADDR *sa)
{
	struct filter_session *fs = &c->fs;

	memset(&fs->client, 0, sizeof(fs->client));
	if (sa != NULL && sa->sa_family == AF_INET)
		fs->client.len = sizeof(struct sockaddr_in);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		fs->client.len = sizeof(struct sockaddr_in6);
	if (fs->client.len > 0) {
		memcpy(&fs->client.ss, sa, fs->client.len);
		netaddr_ip_str(&fs->client, fs->client_ip,
		               sizeof(fs->client_ip));
	} else {
		snprintf(fs->client_ip, sizeof(fs->client_ip), "unknown");
	}
	/* Postfix and Sendmail write an unverified name as "[address]". */
	if (name != NULL && name[0] != '\0' && name[0] != '[')
		snprintf(fs->client_name, sizeof(fs->client_name), "%s", name);
	else
		snprintf(fs->client_name, sizeof(fs->client_name), "unknown");
}

sfsistat
milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct milter_conn *c = milter_conn_get(ctx);
	char addr[NETADDR_STRLEN + 8], daemon[64];
	const char *d;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (c->connected) { /* Postfix after XCLIENT: a new client */
		milter_txn_abort(c);
		c->fs.helo[0] = '\0';
		c->fs.login[0] = '\0';
		memset(&c->fs.tls, 0, sizeof(c->fs.tls));
	}
	c->connected = 1;
	milter_fill_client(c, hostname, hostaddr);
	milter_classify(ctx, c);
	report_session("milter", c->fs.outbound);
	d = milter_macro(ctx, "{daemon_name}");
	log_escape_str(daemon, sizeof(daemon), d != NULL ? d : "-");
	if (c->fs.client.len > 0)
		netaddr_str(&c->fs.client, addr, sizeof(addr));
	else
		snprintf(addr, sizeof(addr), "unknown");
	log_info("%s connect client=%s listener=milter daemon=%s "
	         "direction=%s",
	         c->fs.id, addr, daemon,
	         c->fs.outbound ? "outbound" : "inbound");
	return milter_run_phase(ctx, c, FILTER_PHASE_CONNECT);
}

/* The MTA's TLS macros (Postfix sends them with HELO and MAIL; after
 * STARTTLS the client says HELO again). */
static void
milter_tls(SMFICTX *ctx, struct filter_tls *tls)
{
	static const struct {
		const char *macro;
		size_t off, size;
	} map[] = {
	    {"{tls_version}", offsetof(struct filter_tls, version),
	     sizeof(tls->version)},
	    {"{cipher}", offsetof(struct filter_tls, cipher),
	     sizeof(tls->cipher)},
	    {"{cert_subject}", offsetof(struct filter_tls, peer_subject),
	     sizeof(tls->peer_subject)},
	    {"{cert_issuer}", offsetof(struct filter_tls, peer_issuer),
	     sizeof(tls->peer_issuer)},
	};
	const char *v;
	size_t i;

	memset(tls, 0, sizeof(*tls));
	if (milter_macro(ctx, "{tls_version}") == NULL)
		return;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		v = milter_macro(ctx, map[i].macro);
		snprintf((char *)tls + map[i].off, map[i].size, "%s",
		         v != NULL ? v : "");
	}
	v = milter_macro(ctx, "{cipher_bits}");
	tls->bits = v != NULL ? atoi(v) : 0;
}

sfsistat
milter_helo(SMFICTX *ctx, char *helo)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	snprintf(c->fs.helo, sizeof(c->fs.helo), "%s", helo ? helo : "");
	milter_tls(ctx, &c->fs.tls);
	return milter_run_phase(ctx, c, FILTER_PHASE_HELO);
}

/* "<a@b>" to "a@b", bounded; "" for "<>". */
static void
milter_path(char *dst, size_t size, const char *arg)
{
	size_t len;

	if (arg == NULL)
		arg = "";
	len = strlen(arg);
	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	if (len >= size)
		len = size - 1;
	memcpy(dst, arg, len);
	dst[len] = '\0';
}

sfsistat
milter_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	char from[1024];

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	milter_txn_abort(c);
	milter_classify(ctx, c);
	if (milter_macro(ctx, "{tls_version}") != NULL)
		milter_tls(ctx, &c->fs.tls);
	snprintf(c->fs.proto, sizeof(c->fs.proto), "ESMTP%s%s",
	         c->fs.tls.version[0] ? "S" : "", c->fs.login[0] ? "A" : "");
	milter_path(from, sizeof(from), argv != NULL ? argv[0] : NULL);
	filter_txn_init(&c->txn, &c->fs);
	filter_txn_set_sender(&c->txn, from);
	c->in_txn = 1;
	gettimeofday(&c->start_txn, NULL);
	return milter_run_phase(ctx, c, FILTER_PHASE_MAIL);
}

sfsistat
milter_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	char to[1024];
	sfsistat rc;

	if (c == NULL || !c->in_txn)
		return SMFIS_TEMPFAIL;
	if (c->txn.nrcpts >= c->cfg->limits.recipients) {
		smfi_setreply(ctx, (char[]){"452"}, (char[]){"4.5.3"},
		              (char[]){"too many recipients"});
		milter_report_rcpt(c, 452, REPORT_REASON_LIMITS, NULL,
		                   "4.5.3 too many recipients");
		return SMFIS_TEMPFAIL;
	}
	milter_path(to, sizeof(to), argv != NULL ? argv[0] : NULL);
	free(c->txn.rcpt);
	c->txn.rcpt = xstrdup(to);
	rc = milter_run_phase(ctx, c, FILTER_PHASE_RCPT);
	if (rc == SMFIS_CONTINUE)
		filter_txn_add_rcpt(&c->txn, to);
	return rc;
}

sfsistat
milter_abort(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c != NULL)
		milter_txn_abort(c);
	return SMFIS_CONTINUE;
}

sfsistat
milter_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	struct filter_session fs;

	if (c == NULL) {
		/* libmilter ends a connection whose packets it cannot read
		 * before any callback of ours ran. */
		filter_session_new_id(&fs);
		log_warning("%s milter disconnect reason=protocol-error "
		            "before negotiation",
		            fs.id);
		return SMFIS_CONTINUE;
	}
	smfi_setpriv(ctx, NULL);
	milter_txn_abort(c);
	if (c->connected)
		log_info("%s disconnect reason=close messages=%u "
		         "duration=%.0fs",
		         c->fs.id, c->messages,
		         difftime(time(NULL), c->fs.start));
	else
		log_warning("%s milter disconnect reason=protocol-error "
		            "before connect",
		            c->fs.id);
	config_unref(&c->cfg);
	free(c);
	return SMFIS_CONTINUE;
}
