/*
 * filter_received.c - the Received trace header (RFC 5321 4.4).
 *
 * Prepends one Received header at end of message.  Everything in it that
 * the client chose (the HELO name) is reduced to safe characters first,
 * since it lands inside a header comment.  Never rejects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/filter.h"
#include "filters/filter_received.h"
#include "util/xalloc.h"

#define SMTP_FOR_MAX 300

struct received_conf {
	char *hostname;
};

/* One octet is safe in the header comment; inside a quoted string
 * (a certificate name) spaces are too, but not '"'. */
static int
received_safe(unsigned char c, int quoted)
{
	if (c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\')
		return 0;
	return quoted ? c != '"' : c != ' ';
}

/* Copy src into dst, replacing what could break the header or its
 * comment syntax with '?'. */
static void
received_clean(char *dst, size_t size, const char *src, int quoted)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] =
		    received_safe((unsigned char)src[i], quoted) ? src[i] : '?';
	dst[i] = '\0';
}

static void
received_sanitize(char *dst, size_t size, const char *src)
{
	received_clean(dst, size, src, 0);
}

/*
 * The TLS clause, in Postfix's words so that log and header parsers
 * know it: "(using TLSv1.3 with cipher NAME (256/256 bits))", then the
 * client certificate when one was verified.  "" without TLS.
 *
 * NOTE: Postfix writes used/algorithm bits; filter_tls has the used
 * bits only, which equal the algorithm's for every cipher OpenSSL 3
 * still offers.
 */
static void
received_tls(char *buf, size_t size, const struct filter_tls *tls)
{
	char cipher[64], subject[256], issuer[256];
	int n;

	buf[0] = '\0';
	if (tls->version[0] == '\0')
		return;
	received_sanitize(cipher, sizeof(cipher), tls->cipher);
	n = snprintf(buf, size, "\r\n\t(using %s with cipher %s (%d/%d bits))",
	             tls->version, cipher, tls->bits, tls->bits);
	if (tls->peer_subject[0] == '\0' || n < 0 || (size_t)n >= size)
		return;
	received_clean(subject, sizeof(subject), tls->peer_subject, 1);
	received_clean(issuer, sizeof(issuer), tls->peer_issuer, 1);
	snprintf(buf + n, size - (size_t)n,
	         "\r\n\t(Client \"%s\", Issuer \"%s\" (verified OK))", subject,
	         issuer);
}

static const char *
received_protocol(const struct filter_session *s, const struct filter_txn *t)
{
	/* RFC 6531 3.7.3: UTF8SMTP and friends for SMTPUTF8 sessions. */
	if (!t->smtputf8)
		return s->proto;
	if (strcmp(s->proto, "ESMTPS") == 0)
		return "UTF8SMTPS";
	if (strcmp(s->proto, "ESMTPA") == 0)
		return "UTF8SMTPA";
	if (strcmp(s->proto, "ESMTPSA") == 0)
		return "UTF8SMTPSA";
	return "UTF8SMTP";
}

static void
received_eom(void *confp, struct filter_session *s, struct filter_txn *t,
             struct filter_verdict *v)
{
	struct received_conf *conf = confp;
	char helo[256], name[256], date[64], forpart[SMTP_FOR_MAX];
	char value[2560], addr[NETADDR_STRLEN + 16], tls[700];
	struct tm tm;
	time_t now = time(NULL);

	received_sanitize(helo, sizeof(helo), s->helo[0] ? s->helo : "unknown");
	/* XCLIENT's [UNAVAILABLE] and [TEMPUNAVAIL] read as unknown. */
	received_sanitize(name, sizeof(name),
	                  s->client_name[0] == '[' ? "unknown"
	                                           : s->client_name);
	/* RFC 5321 4.1.3: IPv6 address literals carry the "IPv6:" tag. */
	if (s->client_ip[0] == '[' || s->client_ip[0] == '\0')
		addr[0] = '\0';
	else
		snprintf(addr, sizeof(addr), " [%s%s]",
		         strchr(s->client_ip, ':') != NULL ? "IPv6:" : "",
		         s->client_ip);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);

	/* Name the recipient only when there is one: more would disclose
	 * the other recipients of a Bcc. */
	forpart[0] = '\0';
	if (t->nrcpts == 1 && strlen(t->rcpts[0]) < SMTP_FOR_MAX - 16)
		snprintf(forpart, sizeof(forpart), "\r\n\tfor <%s>",
		         t->rcpts[0]);

	received_tls(tls, sizeof(tls), &s->tls);

	snprintf(value, sizeof(value),
	         "from %s (%s%s)%s\r\n\tby %s (postern) with %s id %s%s;"
	         "\r\n\t%s",
	         helo, name, addr, tls, conf->hostname, received_protocol(s, t),
	         t->id, forpart, date);
	filter_txn_prepend_header(t, "Received", value);
	filter_txn_note(t, "received", "added");
}

static void
received_free(void *confp)
{
	struct received_conf *conf = confp;

	free(conf->hostname);
	free(conf);
}

static const struct filter_ops received_ops = {
    .name = "received",
    .hook = {[FILTER_PHASE_EOM] = received_eom},
    .free = received_free,
};

void
filter_received_add(struct filter_chain *chain, const char *hostname)
{
	struct received_conf *conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->hostname = xstrdup(hostname);
	filter_chain_add(chain, &received_ops, conf);
}
