/*
 * tls.c - postern's OpenSSL context towards clients, and the TLS
 * bufferevents its sessions run on.
 *
 * Builds one SSL_CTX per configuration generation from the tls section
 * and checks at load what the parser could not: that the key matches
 * the certificate, that the chain and CA files hold certificates, that
 * OpenSSL takes the cipher lists.  Gives each session an SSL inside a
 * libevent bufferevent, and reads back what the handshake settled.
 * What SMTP does around TLS is session_tls.c's.  Errors are reasons
 * for the caller to report; nothing here logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "filters/filter.h"
#include "proxy/config.h"
#include "proxy/tls.h"
#include "util/xalloc.h"

struct tls_server {
	SSL_CTX *ctx;
};

const char *const tls_version_words[] = {"TLSv1", "TLSv1.1", "TLSv1.2",
                                         "TLSv1.3", NULL};
static const int tls_versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                   TLS1_3_VERSION};

int
tls_version_parse(const char *word)
{
	size_t i;

	for (i = 0; tls_version_words[i] != NULL; i++) {
		if (strcmp(tls_version_words[i], word) == 0)
			return tls_versions[i];
	}
	return -1;
}

const char *
tls_version_name(int version)
{
	size_t i;

	for (i = 0; tls_version_words[i] != NULL; i++) {
		if (tls_versions[i] == version)
			return tls_version_words[i];
	}
	return "?";
}

/* OpenSSL's queued errors, oldest first, into buf; the queue is
 * emptied.  "" if there were none. */
static void
tls_error_add(char *buf, size_t size, size_t *n, unsigned long e)
{
	const char *r = ERR_reason_error_string(e);

	/* An entry without a reason string adds nothing to the ones
	 * before it. */
	if (*n + 2 >= size || (r == NULL && *n > 0))
		return;
	*n += (size_t)snprintf(buf + *n, size - *n, "%s%s", *n > 0 ? "; " : "",
	                       r != NULL ? r : "unknown error");
	if (*n >= size)
		*n = size - 1;
}

static char *
tls_errors(char *buf, size_t size)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0)
		tls_error_add(buf, size, &n, e);
	return buf;
}

/* A context made only to ask OpenSSL whether it takes a list. */
static int
tls_list_check(const char *list, int suites)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int ok;

	if (ctx == NULL)
		return -1;
	ok = suites ? SSL_CTX_set_ciphersuites(ctx, list)
	            : SSL_CTX_set_cipher_list(ctx, list);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ok == 1 && list[0] != '\0' ? 0 : -1;
}

int
tls_ciphers_check(const char *ciphers)
{
	return tls_list_check(ciphers, 0);
}

int
tls_ciphersuites_check(const char *suites)
{
	return tls_list_check(suites, 1);
}

/* Open path for PEM reading; NULL with a reason. */
static BIO *
tls_pem_open(const char *path, const char **reason_r)
{
	BIO *b = BIO_new_file(path, "r");

	if (b == NULL) {
		ERR_clear_error();
		*reason_r = "cannot read the file";
	}
	return b;
}

/* The first PEM object of path: a private key or a certificate.
 * Returns 0, or -1 with a static reason. */
static int
tls_pem_check(const char *path, int key, const char **reason_r)
{
	BIO *b = tls_pem_open(path, reason_r);
	EVP_PKEY *k = NULL;
	X509 *x = NULL;

	if (b == NULL)
		return -1;
	if (key)
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	else
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (k == NULL && x == NULL) {
		*reason_r = key ? "no PEM private key in the file (or it is "
		                  "encrypted)"
		                : "no PEM certificate in the file";
		return -1;
	}
	EVP_PKEY_free(k);
	X509_free(x);
	return 0;
}

int
tls_cert_file_check(const char *path, const char **reason_r)
{
	return tls_pem_check(path, 0, reason_r);
}

int
tls_key_file_check(const char *path, const char **reason_r)
{
	return tls_pem_check(path, 1, reason_r);
}

/* Every certificate of a PEM chain file after the server's own. */
static int
tls_ctx_chain(SSL_CTX *ctx, const char *path, char **error_r)
{
	const char *reason;
	BIO *b = tls_pem_open(path, &reason);
	X509 *x;
	int n = 0;

	if (b == NULL) {
		*error_r = xasprintf("chain %s: %s", path, reason);
		return -1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			break;
		}
		n++;
	}
	BIO_free(b);
	ERR_clear_error();
	if (n > 0)
		return 0;
	*error_r = xasprintf("chain %s: no PEM certificate in the file", path);
	return -1;
}

/* OpenSSL refused a key for not being the certificate's: its last
 * error says so (the queue is left as it is). */
static int
tls_key_mismatch(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_X509 &&
	       (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
	        ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

static int
tls_ctx_identity(SSL_CTX *ctx, const struct config_tls *t, char **error_r)
{
	char why[256];

	if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1) {
		*error_r = xasprintf("certificate %s: %s", t->certificate,
		                     tls_errors(why, sizeof(why)));
		return -1;
	}
	if (t->chain != NULL && tls_ctx_chain(ctx, t->chain, error_r) < 0)
		return -1;
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 &&
	    !tls_key_mismatch()) {
		*error_r = xasprintf("key %s: %s", t->key,
		                     tls_errors(why, sizeof(why)));
		return -1;
	}
	if (tls_key_mismatch() || SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		*error_r = xasprintf("key %s does not match certificate %s",
		                     t->key, t->certificate);
		return -1;
	}
	return 0;
}

static int
tls_ctx_clients(SSL_CTX *ctx, const struct config_tls *t, char **error_r)
{
	STACK_OF(X509_NAME) * names;
	char why[256];
	int mode = SSL_VERIFY_NONE;

	if (t->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
			*error_r = xasprintf("ca_file %s: %s", t->ca_file,
			                     tls_errors(why, sizeof(why)));
			return -1;
		}
		/* The CAs named in the CertificateRequest. */
		names = SSL_load_client_CA_file(t->ca_file);
		if (names != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		ERR_clear_error();
	}
	if (t->verify_client == CONFIG_TLS_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (t->verify_client == CONFIG_TLS_VERIFY_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
}

static int
tls_ctx_protocol(SSL_CTX *ctx, const struct config_tls *t, char **error_r)
{
	static const unsigned char sid_ctx[] = "postern";

	SSL_CTX_set_min_proto_version(ctx, t->min_version);
	/* Renegotiation only lets a client make us work; compression
	 * leaks (CRIME).  A peer closing without close_notify is a hangup
	 * like any other: SMTP marks its own ends (QUIT, the final dot),
	 * so a truncation is seen there, and OpenSSL 3 would otherwise
	 * report it to libevent as an error. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	                             SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Resumed sessions with a verified client certificate need it. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (t->ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
		ERR_clear_error();
		*error_r =
		    xasprintf("ciphers: no usable cipher in '%s'", t->ciphers);
		return -1;
	}
	if (t->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
		ERR_clear_error();
		*error_r = xasprintf("ciphersuites: no usable suite in '%s'",
		                     t->ciphersuites);
		return -1;
	}
	return 0;
}

struct tls_server *
tls_server_new(const struct config_tls *t, char **error_r)
{
	struct tls_server *srv;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	*error_r = NULL;
	if (ctx == NULL) {
		*error_r = xasprintf("cannot make a TLS context: %s",
		                     tls_errors(why, sizeof(why)));
		return NULL;
	}
	if (tls_ctx_protocol(ctx, t, error_r) < 0 ||
	    tls_ctx_identity(ctx, t, error_r) < 0 ||
	    tls_ctx_clients(ctx, t, error_r) < 0) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->ctx = ctx;
	return srv;
}

void
tls_server_free(struct tls_server **tp)
{
	struct tls_server *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* An X509 name as RFC 2253 text into buf ("" on failure). */
static void
tls_name_text(const X509_NAME *name, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, buf, (int)size - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

char *
tls_server_describe(const struct tls_server *t, char *buf, size_t size)
{
	X509 *x = SSL_CTX_get0_certificate(t->ctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char subject[256], hex[2 * EVP_MAX_MD_SIZE + 1];
	struct tm tm;

	if (x == NULL) {
		snprintf(buf, size, "none");
		return buf;
	}
	tls_name_text(X509_get_subject_name(x), subject, sizeof(subject));
	X509_digest(x, EVP_sha256(), md, &mdlen);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	memset(&tm, 0, sizeof(tm));
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	snprintf(buf, size, "subject %s not_after %04d-%02d-%02d sha256 %s",
	         subject, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, hex);
	return buf;
}

/*
 * A filter BIO that hands OpenSSL some octets already read from the
 * socket (a ClientHello that came in one packet with a PROXY header)
 * before it reads the socket itself.
 */
struct tls_replay {
	unsigned char *buf;
	size_t len, off;
};

static int
tls_replay_read(BIO *b, char *out, int outl)
{
	struct tls_replay *r = BIO_get_data(b);
	size_t n;
	int ret;

	if (outl <= 0)
		return 0;
	if (r->off < r->len) {
		n = r->len - r->off < (size_t)outl ? r->len - r->off
		                                   : (size_t)outl;
		memcpy(out, r->buf + r->off, n);
		r->off += n;
		return (int)n;
	}
	ret = BIO_read(BIO_next(b), out, outl);
	BIO_clear_retry_flags(b);
	BIO_copy_next_retry(b);
	return ret;
}

static int
tls_replay_write(BIO *b, const char *in, int inl)
{
	int ret = BIO_write(BIO_next(b), in, inl);

	BIO_clear_retry_flags(b);
	BIO_copy_next_retry(b);
	return ret;
}

static long
tls_replay_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_replay *r = BIO_get_data(b);
	long left = (long)(r->len - r->off);

	if (BIO_next(b) == NULL)
		return 0;
	if (cmd == BIO_CTRL_PENDING)
		return left + BIO_ctrl(BIO_next(b), cmd, num, ptr);
	if (cmd == BIO_CTRL_EOF && left > 0)
		return 0;
	return BIO_ctrl(BIO_next(b), cmd, num, ptr);
}

static int
tls_replay_destroy(BIO *b)
{
	struct tls_replay *r = BIO_get_data(b);

	if (r != NULL) {
		free(r->buf);
		free(r);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *
tls_replay_method(void)
{
	/* Made once, on the loop thread; kept for the process. */
	static BIO_METHOD *m;

	if (m != NULL)
		return m;
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
	                 "postern replay");
	if (m == NULL)
		return NULL;
	BIO_meth_set_read(m, tls_replay_read);
	BIO_meth_set_write(m, tls_replay_write);
	BIO_meth_set_ctrl(m, tls_replay_ctrl);
	BIO_meth_set_destroy(m, tls_replay_destroy);
	return m;
}

/* Read early octets, then fd; write fd.  ssl takes the BIOs. */
static int
tls_ssl_set_replay(SSL *ssl, int fd, const void *early, size_t len)
{
	BIO_METHOD *m = tls_replay_method();
	BIO *replay = m != NULL ? BIO_new(m) : NULL;
	BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);
	struct tls_replay *r;

	if (replay == NULL || sock == NULL) {
		BIO_free(replay);
		BIO_free(sock);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->buf = xmalloc(len);
	memcpy(r->buf, early, len);
	r->len = len;
	BIO_set_data(replay, r);
	BIO_set_init(replay, 1);
	/* The socket BIO is both the chain's tail and the write BIO: one
	 * reference each, which SSL_free() drops. */
	BIO_up_ref(sock);
	BIO_push(replay, sock);
	SSL_set_bio(ssl, replay, sock);
	return 0;
}

struct bufferevent *
tls_bufferevent_new(struct tls_server *t, struct event_base *base, int fd,
                    const void *early, size_t early_len, const char **error_r)
{
	struct bufferevent *bev;
	SSL *ssl = SSL_new(t->ctx);

	if (ssl == NULL) {
		ERR_clear_error();
		*error_r = "cannot make an SSL";
		return NULL;
	}
	/* libevent takes the fd from a write BIO already set. */
	if (early_len > 0 &&
	    tls_ssl_set_replay(ssl, fd, early, early_len) < 0) {
		SSL_free(ssl);
		ERR_clear_error();
		*error_r = "cannot make a BIO";
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(
	    base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		/* XXX libevent 2.1 frees ssl on this path or not depending
		 * on where it failed; a leak beats a double free. */
		*error_r = "cannot make a TLS bufferevent";
		return NULL;
	}
	/* A client that closes without close_notify ends its session
	 * like a plain EOF: nothing more is coming either way. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
tls_bufferevent_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

void
tls_facts(struct bufferevent *bev, struct filter_tls *facts)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	const SSL_CIPHER *c;
	X509 *peer;

	memset(facts, 0, sizeof(*facts));
	if (ssl == NULL)
		return;
	snprintf(facts->version, sizeof(facts->version), "%s",
	         SSL_get_version(ssl));
	c = SSL_get_current_cipher(ssl);
	if (c != NULL) {
		snprintf(facts->cipher, sizeof(facts->cipher), "%s",
		         SSL_CIPHER_get_name(c));
		facts->bits = SSL_CIPHER_get_bits(c, NULL);
	}
	peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	tls_name_text(X509_get_subject_name(peer), facts->peer_subject,
	              sizeof(facts->peer_subject));
	tls_name_text(X509_get_issuer_name(peer), facts->peer_issuer,
	              sizeof(facts->peer_issuer));
}

char *
tls_error_text(struct bufferevent *bev, char *buf, size_t size)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		tls_error_add(buf, size, &n, e);
	ERR_clear_error();
	if (buf[0] == '\0')
		snprintf(buf, size, "connection closed");
	return buf;
}

void
tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return;
	/* One try: the socket is non-blocking and we do not wait for the
	 * client's close_notify. */
	SSL_shutdown(ssl);
	ERR_clear_error();
}
