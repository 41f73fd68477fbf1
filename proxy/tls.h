/*
 * tls.h - TLS towards clients: postern's certificate and the sessions'
 * TLS bufferevents.
 *
 * A tls_server is the OpenSSL context one configuration generation
 * makes from its tls section; every session of that generation takes
 * its SSL from it, so a reload with new certificates reaches new
 * sessions only.  The SMTP side (STARTTLS, implicit TLS, what the
 * session forgets) is session_tls.c's; this module knows nothing of
 * SMTP.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>

struct bufferevent;
struct config_tls;
struct event_base;
struct filter_tls;

/*
 * Make the context for t: certificate, chain and key (which must
 * match), client certificate CAs and verification, the lowest
 * version, ciphers.  t is only read.  Returns NULL with an allocated
 * reason in *error_r.
 */
struct tls_server *tls_server_new(const struct config_tls *t, char **error_r);
/* Free *t and set it to NULL; sessions' SSLs keep the context alive. */
void tls_server_free(struct tls_server **t);

/* One line about the certificate in use ("subject ... not_after ...
 * sha256 ...") into buf; returns buf. */
char *tls_server_describe(const struct tls_server *t, char *buf, size_t size);

/*
 * A bufferevent that accepts a TLS handshake on the connected socket
 * fd, which it takes over (closed when the bufferevent is freed).
 * early_len octets at early (copied), already read from fd, are the
 * start of the TLS stream (0 for none).  The handshake starts when the
 * bufferevent is enabled; its end is reported as BEV_EVENT_CONNECTED.
 * Returns NULL with a static reason in *error_r; fd is then still the
 * caller's.
 */
struct bufferevent *tls_bufferevent_new(struct tls_server *t,
                                        struct event_base *base, int fd,
                                        const void *early, size_t early_len,
                                        const char **error_r);

/* 1 if bev is a TLS bufferevent, else 0. */
int tls_bufferevent_is_tls(struct bufferevent *bev);

/* The facts of bev's established TLS into *facts: version, cipher,
 * bits, and the client certificate's subject and issuer (RFC 2253)
 * only when one was sent and verified. */
void tls_facts(struct bufferevent *bev, struct filter_tls *facts);

/* Why bev's TLS failed, from OpenSSL's errors for it, into buf;
 * "connection closed" when OpenSSL has none.  Returns buf. */
char *tls_error_text(struct bufferevent *bev, char *buf, size_t size);

/* Send close_notify on bev's connection, without waiting; before the
 * bufferevent is freed. */
void tls_close_notify(struct bufferevent *bev);

/* OpenSSL's protocol version for a min_version word ("TLSv1.2"), or
 * -1; the words are tls_version_words[]. */
int tls_version_parse(const char *word);
extern const char *const tls_version_words[];
/* The word for an OpenSSL protocol version; "?" if none. */
const char *tls_version_name(int version);

/* 0 if OpenSSL takes the cipher list (TLS 1.2) or suites (TLS 1.3),
 * else -1. */
int tls_ciphers_check(const char *ciphers);
int tls_ciphersuites_check(const char *suites);

/* 0 if path holds at least one PEM certificate (or a private key for
 * tls_key_file_check), else -1 with a static reason. */
int tls_cert_file_check(const char *path, const char **reason_r);
int tls_key_file_check(const char *path, const char **reason_r);

#endif
