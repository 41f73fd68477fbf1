/*
 * upstream_tls.h - OpenSSL for postern's connections to the upstream.
 *
 * Makes the client SSL_CTX a configuration generation keeps (a reload
 * makes a new one), and, per connection, the SSL object set up to check
 * the upstream's certificate against a name or an IP address, and the
 * outcome of that check in words for the log.  Knows nothing of SMTP or
 * of bufferevents: upstream.c runs STARTTLS.
 */
#ifndef POSTERN_UPSTREAM_TLS_H
#define POSTERN_UPSTREAM_TLS_H

#include <stddef.h>

struct ssl_ctx_st;
struct ssl_st;

/*
 * A client context: TLS 1.2 and up, the certificates of ca_file (PEM)
 * as trust anchors, or the system's default store when ca_file is NULL.
 * Returns it, or NULL with an allocated reason in *error_r.
 */
struct ssl_ctx_st *upstream_tls_ctx_new(const char *ca_file, char **error_r);

/* Free a context made above; NULL is fine. */
void upstream_tls_ctx_free(struct ssl_ctx_st *ctx);

/*
 * A new SSL for one connection: SNI and the name the certificate must
 * match are name (an IP address is matched against the certificate's IP
 * addresses, and sends no SNI).  The handshake itself never fails on
 * the certificate: the caller judges it with upstream_tls_check_peer().
 * Returns NULL when OpenSSL cannot make one.
 */
struct ssl_st *upstream_tls_new(struct ssl_ctx_st *ctx, const char *name);

/*
 * After the handshake: 1 when the certificate chains to a trust anchor
 * and names the expected peer, else 0 with the reason in why (size
 * octets).
 */
int upstream_tls_check_peer(struct ssl_st *ssl, char *why, size_t size);

/* The protocol ("TLSv1.3") and cipher ("TLS_AES_256_GCM_SHA384") of an
 * established connection into version and cipher, size octets each. */
void upstream_tls_describe(struct ssl_st *ssl, char *version, char *cipher,
                           size_t size);

/* OpenSSL error err (0: the last one queued in this thread) in words
 * into buf, for a failed handshake; "unknown error" when there is
 * none.  Returns buf. */
const char *upstream_tls_error(unsigned long err, char *buf, size_t size);

/* 1 if name is a valid verify_name: a host name or an IP address. */
int upstream_tls_name_ok(const char *name);

#endif
