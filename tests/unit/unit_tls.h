/*
 * unit_tls.h - certificate files for tests of the tls section.
 *
 * unit_tls_files_make() writes into a directory a self-signed P-256
 * certificate for postern.test (cert.pem), its key (key.pem), another
 * key that matches nothing (other.key) and a file with no PEM in it
 * (garbage.pem), made with OpenSSL at run time so no key lives in the
 * tree.
 */
#ifndef POSTERN_TESTS_UNIT_TLS_H
#define POSTERN_TESTS_UNIT_TLS_H

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/unit/unit.h"

static inline int
unit_tls_write_key(const char *path, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

static inline X509 *
unit_tls_self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                           (const unsigned char *)"postern.test", -1,
	                           -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static inline int
unit_tls_files_make(const char *dir)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *cert = key != NULL ? unit_tls_self_signed(key) : NULL;
	FILE *f;
	int rc = -1;

	if (cert == NULL || other == NULL)
		goto out;
	if (unit_tls_write_key(unit_path(dir, "key.pem"), key) < 0 ||
	    unit_tls_write_key(unit_path(dir, "other.key"), other) < 0)
		goto out;
	f = fopen(unit_path(dir, "cert.pem"), "w");
	if (f == NULL)
		goto out;
	PEM_write_X509(f, cert);
	if (fclose(f) != 0)
		goto out;
	unit_write_text(unit_path(dir, "garbage.pem"), "not a certificate\n");
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return rc;
}

#endif
