/*
 * sign_private.h - what sign_keys.c and sign_keygen.c share; included
 * only by the .c files of sign/.
 *
 * Keys are parsed the same way wherever they come from, and kept or
 * written as unencrypted PKCS#8 PEM, the form libopendkim takes.
 */
#ifndef POSTERN_SIGN_PRIVATE_H
#define POSTERN_SIGN_PRIVATE_H

#include <stddef.h>

#include <openssl/evp.h>

#define RSA_BITS_MIN 1024 /* RFC 8301 section 3.2 */

/*
 * The private key in len octets of PEM text (never asking for a
 * passphrase), or NULL; the caller frees it with EVP_PKEY_free().
 * OpenSSL's error queue is left empty.  Aborts when out of memory.
 */
EVP_PKEY *sign_pem_parse(const unsigned char *text, size_t len);

/*
 * pk as unencrypted PKCS#8 PEM, NUL-terminated and allocated, with its
 * length (without the NUL) in *len_r; NULL if OpenSSL fails.  It is key
 * material: the caller wipes it before freeing it.
 */
unsigned char *sign_pem_pkcs8(EVP_PKEY *pk, size_t *len_r);

#endif
