/*
 * test_tls.c - tests for proxy/tls.c.
 *
 * The words and lists OpenSSL takes, the file checks with their
 * reasons, the context's refusals (a key of another certificate), and a
 * real handshake over a socketpair: a client thread with plain OpenSSL
 * against the TLS bufferevent on a libevent loop, after which
 * tls_facts() must report what was negotiated, and the client
 * certificate only when it was asked for and verified.  Certificates
 * are made at run time (unit_tls.h) in a scratch directory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "filters/filter.h"
#include "proxy/config.h"
#include "proxy/tls.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_tls.h"

static int
tls_setup(void **state)
{
	if (unit_tmpdir_make("test_tls") < 0)
		return -1;
	return unit_tls_files_make(unit_tmpdir());
}

static int
tls_teardown(void **state)
{
	unit_tmpdir_remove();
	return 0;
}

static void
test_tls_versions(void **state)
{
	static const struct {
		const char *word;
		int want;
	} cases[] = {
	    {"TLSv1", TLS1_VERSION},
	    {"TLSv1.1", TLS1_1_VERSION},
	    {"TLSv1.2", TLS1_2_VERSION},
	    {"TLSv1.3", TLS1_3_VERSION},
	    {"SSLv3", -1},
	    {"tlsv1.2", -1},
	    {"", -1},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int got = tls_version_parse(cases[i].word);

		check_int(cases[i].word, "version", got, cases[i].want);
		if (got > 0)
			check_str(cases[i].word, "name", tls_version_name(got),
			          cases[i].word);
	}
	assert_string_equal(tls_version_name(0x0300), "?");
}

static void
test_tls_cipher_lists(void **state)
{
	static const struct {
		const char *list;
		int suites; /* TLS 1.3 suites, else TLS 1.2 ciphers */
		int want;
	} cases[] = {
	    {"ECDHE-RSA-AES128-GCM-SHA256", 0, 0},
	    {"ECDHE+AESGCM:ECDHE+CHACHA20", 0, 0},
	    {"NOPE", 0, -1},
	    {"", 0, -1},
	    {"TLS_AES_128_GCM_SHA256", 1, 0},
	    {"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", 1, 0},
	    {"TLS_NOPE", 1, -1},
	    {"ECDHE-RSA-AES128-GCM-SHA256", 1, -1},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int got = cases[i].suites
		              ? tls_ciphersuites_check(cases[i].list)
		              : tls_ciphers_check(cases[i].list);

		check_int(cases[i].list, "check", got, cases[i].want);
	}
}

static void
test_tls_file_checks(void **state)
{
	static const struct {
		const char *name;
		int key;          /* a key file, else a certificate file */
		const char *want; /* NULL: accepted */
	} cases[] = {
	    {"cert.pem", 0, NULL},
	    {"key.pem", 1, NULL},
	    {"key.pem", 0, "no PEM certificate in the file"},
	    {"cert.pem", 1,
	     "no PEM private key in the file (or it is encrypted)"},
	    {"garbage.pem", 0, "no PEM certificate in the file"},
	    {"missing.pem", 0, "cannot read the file"},
	    {"missing.pem", 1, "cannot read the file"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *path = unit_tmp(cases[i].name), *reason = NULL;
		int rc = cases[i].key ? tls_key_file_check(path, &reason)
		                      : tls_cert_file_check(path, &reason);

		check_int(cases[i].name, "rc", rc, cases[i].want ? -1 : 0);
		if (cases[i].want != NULL)
			check_str(cases[i].name, "reason", reason,
			          cases[i].want);
	}
}

/* A config_tls with paths in the scratch directory; names are kept in
 * static buffers until the next call. */
static struct config_tls
tls_conf(const char *cert, const char *key)
{
	static char c[UNIT_PATH_MAX], k[UNIT_PATH_MAX];
	struct config_tls t = {0};

	snprintf(c, sizeof(c), "%s", unit_tmp(cert));
	snprintf(k, sizeof(k), "%s", unit_tmp(key));
	t.certificate = c;
	t.key = k;
	t.min_version = TLS1_2_VERSION;
	t.handshake_timeout = 60;
	return t;
}

static void
test_tls_server_new_errors(void **state)
{
	struct config_tls t = tls_conf("cert.pem", "other.key");
	struct tls_server *srv;
	char *error = NULL, *want;
	char line[512], nope[] = "NOPE";

	srv = tls_server_new(&t, &error);
	assert_null(srv);
	want = xasprintf("key %s does not match certificate %s", t.key,
	                 t.certificate);
	assert_string_equal(error, want);
	free(want);
	free(error);

	t = tls_conf("cert.pem", "key.pem");
	t.ciphers = nope;
	assert_null(tls_server_new(&t, &error));
	assert_string_equal(error, "ciphers: no usable cipher in 'NOPE'");
	free(error);

	t = tls_conf("cert.pem", "key.pem");
	srv = tls_server_new(&t, &error);
	assert_non_null(srv);
	assert_null(error);
	tls_server_describe(srv, line, sizeof(line));
	assert_true(strncmp(line, "subject CN=postern.test not_after ", 34) ==
	            0);
	assert_non_null(strstr(line, " sha256 "));
	tls_server_free(&srv);
	assert_null(srv);
	tls_server_free(&srv); /* NULL is a no-op */
}

/* The client side of a handshake, in its own thread. */
struct tls_client {
	int fd;
	int with_cert;
	int connected; /* SSL_connect() succeeded */
};

static void *
tls_client_run(void *arg)
{
	struct tls_client *c = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char buf[16];

	if (c->with_cert) {
		SSL_CTX_use_certificate_file(ctx, unit_tmp("cert.pem"),
		                             SSL_FILETYPE_PEM);
		SSL_CTX_use_PrivateKey_file(ctx, unit_tmp("key.pem"),
		                            SSL_FILETYPE_PEM);
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, c->fd);
	c->connected = SSL_connect(ssl) == 1;
	/* Wait for the server to close: its facts are read before. */
	while (c->connected && SSL_read(ssl, buf, sizeof(buf)) > 0)
		;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(c->fd);
	return NULL;
}

struct tls_serve {
	struct event_base *base;
	short what; /* the event that ended the handshake */
};

static void
tls_serve_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tls_serve *sv = arg;

	sv->what = what;
	event_base_loopbreak(sv->base);
}

/* Handshake t's server with a client (with its certificate or not);
 * the server's facts into *facts.  With early, the server reads the
 * ClientHello itself first and hands it to tls_bufferevent_new(), as
 * after a PROXY header.  Returns the server's event. */
static short
tls_handshake_with(const struct config_tls *t, int with_cert, int early,
                   struct filter_tls *facts)
{
	struct tls_client client = {.with_cert = with_cert};
	struct tls_serve sv = {.base = event_base_new()};
	struct timeval limit = {10, 0};
	struct tls_server *srv;
	struct bufferevent *bev;
	const char *why;
	char *error = NULL, hello[4096];
	ssize_t nearly = 0;
	pthread_t th;
	int fds[2];

	srv = tls_server_new(t, &error);
	assert_non_null(srv);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	client.fd = fds[1];
	assert_int_equal(pthread_create(&th, NULL, tls_client_run, &client), 0);
	if (early) {
		nearly = recv(fds[0], hello, sizeof(hello), 0);
		assert_true(nearly > 0);
	}
	evutil_make_socket_nonblocking(fds[0]);
	bev = tls_bufferevent_new(srv, sv.base, fds[0], hello, (size_t)nearly,
	                          &why);
	assert_non_null(bev);
	assert_true(tls_bufferevent_is_tls(bev));
	bufferevent_setcb(bev, NULL, NULL, tls_serve_event_cb, &sv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	event_base_loopexit(sv.base, &limit);
	event_base_dispatch(sv.base);
	tls_facts(bev, facts);
	tls_close_notify(bev);
	bufferevent_free(bev);
	pthread_join(th, NULL);
	tls_server_free(&srv);
	event_base_free(sv.base);
	return sv.what;
}

static short
tls_handshake(const struct config_tls *t, int with_cert,
              struct filter_tls *facts)
{
	return tls_handshake_with(t, with_cert, 0, facts);
}

static void
test_tls_handshake_facts(void **state)
{
	struct config_tls t = tls_conf("cert.pem", "key.pem");
	struct filter_tls f;

	assert_true(tls_handshake(&t, 0, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.version, "TLSv1.3");
	assert_true(strncmp(f.cipher, "TLS_", 4) == 0);
	assert_true(f.bits == 128 || f.bits == 256);
	assert_string_equal(f.peer_subject, "");

	/* A certificate nobody asked for is not sent, so not recorded. */
	assert_true(tls_handshake(&t, 1, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.peer_subject, "");
}

/* The ClientHello read before TLS began (behind a PROXY header) is
 * replayed to OpenSSL. */
static void
test_tls_handshake_early_octets(void **state)
{
	struct config_tls t = tls_conf("cert.pem", "key.pem");
	struct filter_tls f;

	assert_true(tls_handshake_with(&t, 0, 1, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.version, "TLSv1.3");
	t.ca_file = t.certificate;
	t.verify_client = CONFIG_TLS_VERIFY_REQUIRE;
	assert_true(tls_handshake_with(&t, 1, 1, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.peer_subject, "CN=postern.test");
}

static void
test_tls_handshake_client_certificate(void **state)
{
	struct config_tls t = tls_conf("cert.pem", "key.pem");
	struct filter_tls f;

	/* The self-signed certificate is its own CA. */
	t.ca_file = t.certificate;
	t.verify_client = CONFIG_TLS_VERIFY_OPTIONAL;
	assert_true(tls_handshake(&t, 1, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.peer_subject, "CN=postern.test");
	assert_string_equal(f.peer_issuer, "CN=postern.test");

	assert_true(tls_handshake(&t, 0, &f) & BEV_EVENT_CONNECTED);
	assert_string_equal(f.peer_subject, "");

	t.verify_client = CONFIG_TLS_VERIFY_REQUIRE;
	assert_false(tls_handshake(&t, 0, &f) & BEV_EVENT_CONNECTED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_versions),
	    cmocka_unit_test(test_tls_cipher_lists),
	    cmocka_unit_test(test_tls_file_checks),
	    cmocka_unit_test(test_tls_server_new_errors),
	    cmocka_unit_test(test_tls_handshake_facts),
	    cmocka_unit_test(test_tls_handshake_early_octets),
	    cmocka_unit_test(test_tls_handshake_client_certificate),
	};

	return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
