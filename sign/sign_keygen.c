/*
 * sign_keygen.c - DKIM public-key records and key generation.
 *
 * Gives the DNS TXT record of a loaded key and the zone-file line that
 * publishes it, and makes new keys for `postern keygen`: generated with
 * OpenSSL, written as PKCS#8 PEM to a new file of mode 0600, never over
 * an existing one.  Reading tables and keys is sign_keys.c's; choosing
 * names, files and output is left to the command line.  Errors are
 * allocated strings naming the file or the bad argument.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sign/sign_keys.h"
#include "sign/sign_private.h"
#include "util/xalloc.h"

#define RSA_BITS_MAX     4096 /* what RFC 8301 verifiers must handle */
#define RSA_BITS_DEFAULT 2048
#define TXT_STRING_MAX   255 /* RFC 1035 character-string */

static char *
base64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/*
 * Public-key records
 */

static char *
txt_rsa(EVP_PKEY *pk)
{
	unsigned char *der = NULL;
	char *b64, *txt;
	int n;

	n = i2d_PUBKEY(pk, &der);
	if (n <= 0) {
		ERR_clear_error();
		return NULL;
	}
	b64 = base64(der, (size_t)n);
	OPENSSL_free(der);
	txt = xasprintf("v=DKIM1; k=rsa; p=%s", b64);
	free(b64);
	return txt;
}

/* RFC 8463 section 4: p= is the bare 32-octet key, not an SPKI. */
static char *
txt_ed25519(EVP_PKEY *pk)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	char *b64, *txt;

	if (EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1) {
		ERR_clear_error();
		return NULL;
	}
	b64 = base64(raw, len);
	txt = xasprintf("v=DKIM1; k=ed25519; p=%s", b64);
	free(b64);
	return txt;
}

static char *
key_txt(EVP_PKEY *pk)
{
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519)
		return txt_ed25519(pk);
	return txt_rsa(pk);
}

char *
sign_key_txt(const struct sign_key *key)
{
	EVP_PKEY *pk = sign_pem_parse(key->pem, key->pemlen);
	char *txt;

	if (pk == NULL)
		return NULL;
	txt = key_txt(pk);
	EVP_PKEY_free(pk);
	return txt;
}

char *
sign_key_zone_line(const char *selector, const char *domain, const char *txt)
{
	size_t len = strlen(txt), dlen = strlen(domain), off, chunk, cap;
	const char *dot = dlen > 0 && domain[dlen - 1] == '.' ? "" : ".";
	char *out;

	cap =
	    strlen(selector) + dlen + len + 4 * (len / TXT_STRING_MAX + 1) + 64;
	out = xmalloc(cap);
	off = (size_t)snprintf(out, cap, "%s._domainkey.%s%s IN TXT (",
	                       selector, domain, dot);
	do {
		chunk = len < TXT_STRING_MAX ? len : TXT_STRING_MAX;
		off += (size_t)snprintf(out + off, cap - off, " \"%.*s\"",
		                        (int)chunk, txt);
		txt += chunk;
		len -= chunk;
	} while (len > 0);
	snprintf(out + off, cap - off, " )");
	return out;
}

/*
 * Key generation
 */

static int
write_all(int fd, const unsigned char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create path (0600, not over an existing file) holding data. */
static int
file_create(const char *path, const unsigned char *data, size_t len,
            char **error_r)
{
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	if (fd < 0) {
		*error_r =
		    xasprintf("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) == 0 && fsync(fd) == 0 && close(fd) == 0)
		return 0;
	err = errno;
	close(fd);
	unlink(path);
	*error_r = xasprintf("%s: cannot write: %s", path, strerror(err));
	return -1;
}

static EVP_PKEY *
keygen_pkey(enum sign_alg alg, unsigned int bits, char **error_r)
{
	EVP_PKEY *pk = NULL;

	if (alg == SIGN_ALG_ED25519_SHA256 && bits != 0 && bits != 256) {
		*error_r =
		    xasprintf("Ed25519 keys have 256 bits, not %u", bits);
		return NULL;
	}
	if (alg == SIGN_ALG_RSA_SHA256 &&
	    (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX)) {
		*error_r = xasprintf("RSA keys for DKIM have %d to %d bits, "
		                     "not %u",
		                     RSA_BITS_MIN, RSA_BITS_MAX, bits);
		return NULL;
	}
	if (alg == SIGN_ALG_RSA_SHA256)
		pk = EVP_RSA_gen(bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL) {
		ERR_clear_error();
		*error_r = xasprintf("cannot generate the key");
	}
	return pk;
}

int
sign_keygen(enum sign_alg alg, unsigned int bits, const char *keyfile,
            char **txt_r, char **error_r)
{
	EVP_PKEY *pk;
	unsigned char *pem = NULL;
	size_t pemlen = 0;
	char *txt = NULL;
	int ret = -1;

	*txt_r = NULL;
	if (alg == SIGN_ALG_RSA_SHA256 && bits == 0)
		bits = RSA_BITS_DEFAULT;
	pk = keygen_pkey(alg, bits, error_r);
	if (pk == NULL)
		return -1;
	pem = sign_pem_pkcs8(pk, &pemlen);
	txt = key_txt(pk);
	if (pem == NULL || txt == NULL) {
		*error_r = xasprintf("cannot encode the key");
		goto out;
	}
	if (file_create(keyfile, pem, pemlen, error_r) < 0)
		goto out;
	*txt_r = txt;
	txt = NULL;
	ret = 0;
out:
	if (pem != NULL)
		OPENSSL_cleanse(pem, pemlen);
	free(pem);
	free(txt);
	EVP_PKEY_free(pk);
	return ret;
}
