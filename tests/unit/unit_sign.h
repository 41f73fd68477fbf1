/*
 * unit_sign.h - what the tests of sign/ share: key files written with
 * OpenSSL into the scratch directory of unit.h, key tables loaded from
 * there, and expected text in which "%D" stands for that directory,
 * "%K" for its key table kt.tab and "%S" for its signing table st.tab.
 * Helpers are static inline, as in unit.h.
 */
#ifndef POSTERN_TESTS_UNIT_SIGN_H
#define POSTERN_TESTS_UNIT_SIGN_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sign/sign_keys.h"
#include "tests/unit/unit.h"

/* fmt with %D, %K and %S replaced; allocated. */
static inline char *
expand(const char *fmt)
{
	const char *const values[] = {unit_tmpdir(), unit_tmp("kt.tab"),
	                              unit_tmp("st.tab")};

	return unit_expand(fmt, "DKS", values);
}

/* text with %D, %K and %S expanded, as path with mode 0600. */
static inline void
put_text(const char *path, const char *text)
{
	char *s = expand(text);

	unit_write_text(path, s);
	free(s);
}

/* How put_key() writes a key; the encrypted forms use "secret". */
enum pem_form { PKCS8, TRADITIONAL, PKCS8_ENC, TRADITIONAL_ENC, PUBLIC };

/* pk in form as name in the scratch directory, with mode. */
static inline void
put_key(const char *name, EVP_PKEY *pk, enum pem_form form, mode_t mode)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ok = 0;

	assert_non_null(bio);
	if (form == PKCS8)
		ok = PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL,
		                              NULL);
	else if (form == TRADITIONAL)
		ok = PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL,
		                                          0, NULL, NULL);
	else if (form == PKCS8_ENC)
		ok = PEM_write_bio_PKCS8PrivateKey(bio, pk, EVP_aes_128_cbc(),
		                                   "secret", 6, NULL, NULL);
	else if (form == TRADITIONAL_ENC)
		ok = PEM_write_bio_PrivateKey_traditional(
		    bio, pk, EVP_aes_128_cbc(), (const unsigned char *)"secret",
		    6, NULL, NULL);
	else
		ok = PEM_write_bio_PUBKEY(bio, pk);
	assert_int_equal(ok, 1);
	n = BIO_get_mem_data(bio, &data);
	unit_write_file(unit_tmp(name), data, (size_t)n, mode);
	BIO_free(bio);
}

/* The private key in the PEM file path. */
static inline EVP_PKEY *
read_key(const char *path)
{
	FILE *fp = fopen(path, "r");
	EVP_PKEY *pk;

	assert_non_null(fp);
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(pk);
	return pk;
}

/* A copy of the file from as name in the scratch directory, with
 * mode. */
static inline void
copy_to_tmp(const char *from, const char *name, mode_t mode)
{
	size_t len;
	char *text = unit_read_file(from, &len);

	unit_write_file(unit_tmp(name), text, len, mode);
	free(text);
}

/* text (%D, %K, %S expanded) as the key table, loaded; fails the test
 * with name if it does not load. */
static inline struct sign_keytable *
load_kt(const char *name, const char *text)
{
	struct sign_keytable *kt;
	char *error = NULL;

	put_text(unit_tmp("kt.tab"), text);
	kt = sign_keytable_load(unit_tmp("kt.tab"), &error);
	if (kt == NULL) {
		print_error("%s: key table: %s\n", name, error);
		fail();
	}
	return kt;
}

#endif
