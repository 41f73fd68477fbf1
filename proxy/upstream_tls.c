/*
 * upstream_tls.c - the client side of TLS towards the upstream.
 *
 * The context is made once per configuration generation; each
 * connection gets an SSL whose verification parameters name the peer
 * it must be (X509_VERIFY_PARAM_set1_host or set1_ip_asc).  The
 * handshake runs with SSL_VERIFY_NONE so that a bad certificate does
 * not end it with an opaque alert: the outcome is read afterwards with
 * SSL_get_verify_result() and judged by upstream.c, which never sends a
 * byte of the session's mail before it has.  Errors are returned as
 * words, never logged here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/upstream_tls.h"
#include "util/xalloc.h"

static int
is_ip(const char *name)
{
	unsigned char bin[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, bin) == 1 ||
	       inet_pton(AF_INET6, name, bin) == 1;
}

int
upstream_tls_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 255)
		return 0;
	if (is_ip(name))
		return 1;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == len;
}

const char *
upstream_tls_error(unsigned long err, char *buf, size_t size)
{
	if (err == 0)
		err = ERR_peek_last_error();
	if (err == 0) {
		snprintf(buf, size, "unknown error");
		return buf;
	}
	ERR_error_string_n(err, buf, size);
	return buf;
}

SSL_CTX *
upstream_tls_ctx_new(const char *ca_file, char **error_r)
{
	char why[256];
	SSL_CTX *ctx;
	int ok;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		*error_r = xasprintf("TLS context: %s",
		                     upstream_tls_error(0, why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* An upstream closing without close_notify has hung up (see
	 * tls_ctx_protocol). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file != NULL)
		ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		*error_r = xasprintf("ca_file: %s: %s",
		                     ca_file ? ca_file : "(system default)",
		                     upstream_tls_error(0, why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
upstream_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *
upstream_tls_new(SSL_CTX *ctx, const char *name)
{
	X509_VERIFY_PARAM *param;
	SSL *ssl = SSL_new(ctx);
	int ok;

	if (ssl == NULL)
		return NULL;
	param = SSL_get0_param(ssl);
	if (is_ip(name)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, name);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
		    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(param, name, 0) == 1 &&
		     SSL_set_tlsext_host_name(ssl, name) == 1;
	}
	if (ok != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int
upstream_tls_check_peer(SSL *ssl, char *why, size_t size)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	long result = SSL_get_verify_result(ssl);

	if (peer == NULL) {
		snprintf(why, size, "no certificate");
		return 0;
	}
	X509_free(peer);
	if (result != X509_V_OK) {
		snprintf(why, size, "%s",
		         X509_verify_cert_error_string(result));
		return 0;
	}
	snprintf(why, size, "ok");
	return 1;
}

void
upstream_tls_describe(SSL *ssl, char *version, char *cipher, size_t size)
{
	snprintf(version, size, "%s", SSL_get_version(ssl));
	snprintf(cipher, size, "%s", SSL_get_cipher_name(ssl));
}
