/*
 * test_sign_dkim_mem.c - the allocator given to libopendkim for signing
 * (sign/sign_dkim_mem.c): the tracker's bookkeeping, and many Ed25519
 * and RSA signatures in a row.  Under `make check-asan` LeakSanitizer
 * fails this test if a signature leaves anything allocated, which
 * libopendkim 2.11.0 alone does for Ed25519.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sign/sign_dkim.h"
#include "sign/sign_dkim_mem.h"
#include "sign/sign_keys.h"
#include "tests/unit/unit.h"

/* Blocks freed in any order, and those never freed, all go. */
static void
test_mem_tracks_blocks(void **state)
{
	struct sign_dkim_mem *m = sign_dkim_mem_new(0);
	void *a, *b, *c;

	(void)state;
	a = sign_dkim_mem_alloc(m, 10);
	b = sign_dkim_mem_alloc(m, 64);
	c = sign_dkim_mem_alloc(m, 1);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal((uintptr_t)b % _Alignof(max_align_t), 0);
	memset(b, 0xa5, 64);
	check_int("three", "live", (long long)sign_dkim_mem_live(m), 3);
	sign_dkim_mem_free(m, b);
	sign_dkim_mem_free(m, NULL);
	check_int("one freed", "live", (long long)sign_dkim_mem_live(m), 2);
	sign_dkim_mem_destroy(&m); /* a and c with it */
	assert_null(m);
	sign_dkim_mem_destroy(&m);
	/* The library's own allocations: plain malloc and free. */
	a = sign_dkim_mem_alloc(NULL, 16);
	assert_non_null(a);
	sign_dkim_mem_free(NULL, a);
}

/* A fresh key of alg as PKCS#8 PEM, as sign_keys.c keeps it. */
static void
key_make(struct sign_key *k, enum sign_alg alg)
{
	EVP_PKEY *pkey =
	    alg == SIGN_ALG_ED25519_SHA256
	        ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	        : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	assert_non_null(pkey);
	assert_int_equal(
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	memset(k, 0, sizeof(*k));
	k->name = strdup(alg == SIGN_ALG_ED25519_SHA256 ? "ed" : "rsa");
	k->domain = strdup("example.org");
	k->selector = strdup("s1");
	k->alg = alg;
	k->bits = alg == SIGN_ALG_ED25519_SHA256 ? 256 : 2048;
	k->pem = (unsigned char *)strndup(data, (size_t)n);
	k->pemlen = (size_t)n;
	BIO_free(bio);
	EVP_PKEY_free(pkey);
}

static void
key_free(struct sign_key *k)
{
	free(k->name);
	free(k->domain);
	free(k->selector);
	free(k->pem);
}

static const char *const fields[] = {
    "From: a@example.org",
    "To: b@example.net",
    "Subject: again",
};

/* One message signed with both keys; checks each signature's a=. */
static void
sign_one(struct sign_dkim *sd, const struct sign_choice *choices)
{
	static const char body[] = "Hello.\r\n";
	char *values[2] = {NULL, NULL}, *error = NULL;
	struct sign_dkim_msg *m;
	size_t i;

	m = sign_dkim_begin(sd, "test", choices, 2, &error);
	assert_non_null(m);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		assert_int_equal(
		    sign_dkim_header(m, fields[i], strlen(fields[i]), &error),
		    0);
	assert_int_equal(sign_dkim_eoh(m, &error), 0);
	assert_int_equal(sign_dkim_body(m, body, strlen(body), &error), 0);
	if (sign_dkim_end(m, values, &error) < 0) {
		print_error("sign: %s\n", error);
		fail();
	}
	assert_non_null(strstr(values[0], "a=ed25519-sha256;"));
	assert_non_null(strstr(values[1], "a=rsa-sha256;"));
	free(values[0]);
	free(values[1]);
	sign_dkim_msg_free(&m);
}

static void
test_signatures_leave_nothing(void **state)
{
	struct sign_dkim_opts opts = {1, 1, NULL, 0, NULL, 0};
	struct sign_choice choices[2];
	struct sign_key ed, rsa;
	struct sign_dkim *sd;
	const char *reason = NULL;
	int i;

	(void)state;
	sd = sign_dkim_create(&opts, &reason);
	assert_non_null(sd);
	if (!sign_dkim_has_ed25519(sd))
		skip();
	key_make(&ed, SIGN_ALG_ED25519_SHA256);
	key_make(&rsa, SIGN_ALG_RSA_SHA256);
	choices[0].key = &ed;
	choices[1].key = &rsa;
	snprintf(choices[0].domain, sizeof(choices[0].domain), "example.org");
	snprintf(choices[1].domain, sizeof(choices[1].domain), "example.org");
	for (i = 0; i < 50; i++)
		sign_one(sd, choices);
	sign_dkim_destroy(&sd);
	key_free(&ed);
	key_free(&rsa);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mem_tracks_blocks),
	    cmocka_unit_test(test_signatures_leave_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
