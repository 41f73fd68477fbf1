/*
 * test_sign_keygen.c - DKIM key generation, TXT records and zone-file
 * lines.
 *
 * Keys are generated into the scratch directory and loaded back; the
 * records of corpus keys ($CORPUS, default ../shared/corpus) are
 * compared with the ones their owners published.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sign/sign_keys.h"
#include "tests/unit/unit_sign.h"

static int
setup(void **state)
{
	umask(022);
	return unit_tmpdir_make("test_sign_keygen");
}

static int
teardown(void **state)
{
	return unit_tmpdir_remove();
}

/*
 * Key generation and TXT records
 */

/* The base64 after "p=" in a record or bare; decoded into out. */
static char *
p_value(const char *record)
{
	const char *p = strstr(record, " p=");

	if (p == NULL && strncmp(record, "p=", 2) == 0)
		p = record - 1;
	if (p != NULL)
		p += 3;
	else
		p = record;
	return xstrndup(p,
	                strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/="));
}

static size_t
b64_decode(const char *b64, unsigned char *out, size_t size)
{
	size_t len = strlen(b64);
	int n;

	assert_true(len / 4 * 3 <= size);
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	assert_true(n >= 0);
	while (len > 0 && b64[--len] == '=')
		n--;
	return (size_t)n;
}

/* Sign with the private key of path, verify with the published key. */
static void
check_sign_verify(const char *name, EVP_PKEY *priv, EVP_PKEY *pub)
{
	static const unsigned char msg[] = "DKIM-Signature: test";
	const EVP_MD *md = EVP_PKEY_get_base_id(priv) == EVP_PKEY_ED25519
	                       ? NULL
	                       : EVP_sha256();
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, priv), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)),
	                 1);
	EVP_MD_CTX_free(ctx);
	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	check_int(name, "published key verifies",
	          EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);
}

/* p= of txt is the public half of the key in path, in DKIM's form. */
static void
check_txt_key(const char *name, const char *txt, const char *path)
{
	EVP_PKEY *priv = read_key(path), *pub;
	unsigned char der[2048], *spki = NULL;
	const unsigned char *p = der;
	char *b64 = p_value(txt);
	size_t len = b64_decode(b64, der, sizeof(der));
	int n;

	if (EVP_PKEY_get_base_id(priv) == EVP_PKEY_ED25519) {
		check_int(name, "ed25519 p= octets", (long long)len, 32);
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der,
		                                  len);
	} else {
		n = i2d_PUBKEY(priv, &spki);
		check_int(name, "SPKI length", (long long)len, n);
		check_int(name, "SPKI bytes", memcmp(spki, der, len), 0);
		OPENSSL_free(spki);
		pub = d2i_PUBKEY(NULL, &p, (long)len);
	}
	assert_non_null(pub);
	check_sign_verify(name, priv, pub);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	free(b64);
}

struct keygen_case {
	const char *name;
	enum sign_alg alg;
	unsigned int bits;
	unsigned int want_bits;
	const char *want_prefix;
};

static const struct keygen_case keygen_cases[] = {
    {"rsa default", SIGN_ALG_RSA_SHA256, 0, 2048, "v=DKIM1; k=rsa; p=MII"},
    {"rsa 1024", SIGN_ALG_RSA_SHA256, 1024, 1024, "v=DKIM1; k=rsa; p=MIG"},
    {"ed25519", SIGN_ALG_ED25519_SHA256, 0, 256, "v=DKIM1; k=ed25519; p="},
    {"ed25519 256", SIGN_ALG_ED25519_SHA256, 256, 256,
     "v=DKIM1; k=ed25519; p="},
};

static void
run_keygen(const struct keygen_case *c, const char *file)
{
	struct sign_keytable *kt;
	const struct sign_key *k;
	char *txt = NULL, *error = NULL, *again, *table, *pem;
	struct stat st;

	check_int(c->name, "keygen",
	          sign_keygen(c->alg, c->bits, unit_tmp(file), &txt, &error),
	          0);
	check_str(c->name, "error", error, NULL);
	check_int(c->name, "txt prefix",
	          strncmp(txt, c->want_prefix, strlen(c->want_prefix)), 0);
	assert_int_equal(stat(unit_tmp(file), &st), 0);
	check_int(c->name, "mode", st.st_mode & 07777, 0600);
	pem = unit_read_file(unit_tmp(file), NULL);
	check_int(c->name, "PKCS#8",
	          strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	free(pem);

	table = xasprintf("k example.com:sel:%%D/%s\n", file);
	kt = load_kt(c->name, table);
	k = sign_keytable_find(kt, "k");
	check_int(c->name, "alg", k->alg, c->alg);
	check_int(c->name, "bits", k->bits, c->want_bits);
	again = sign_key_txt(k);
	check_str(c->name, "sign_key_txt", again, txt);
	check_txt_key(c->name, txt, unit_tmp(file));
	free(again);
	free(table);
	free(txt);
	sign_keytable_free(&kt);
}

static void
test_keygen(void **state)
{
	char file[64];
	size_t i;

	for (i = 0; i < ARRAY_LEN(keygen_cases); i++) {
		snprintf(file, sizeof(file), "gen%zu.private", i);
		run_keygen(&keygen_cases[i], file);
	}
}

static void
test_keygen_no_overwrite(void **state)
{
	static char sentinel[] = "unchanged";
	char *txt = NULL, *error = NULL, *before, *after, *want;

	assert_int_equal(sign_keygen(SIGN_ALG_ED25519_SHA256, 0,
	                             unit_tmp("once.private"), &txt, &error),
	                 0);
	free(txt);
	before = unit_read_file(unit_tmp("once.private"), NULL);
	txt = sentinel;
	check_int("overwrite", "keygen",
	          sign_keygen(SIGN_ALG_ED25519_SHA256, 0,
	                      unit_tmp("once.private"), &txt, &error),
	          -1);
	assert_null(txt);
	want = expand("%D/once.private: cannot create: File exists");
	check_str("overwrite", "error", error, want);
	after = unit_read_file(unit_tmp("once.private"), NULL);
	check_str("overwrite", "file", after, before);
	free(want);
	free(error);
	free(before);
	free(after);
}

struct keygen_error_case {
	const char *name;
	enum sign_alg alg;
	unsigned int bits;
	const char *file;
	const char *want;
};

static const struct keygen_error_case keygen_errors[] = {
    {"rsa 512", SIGN_ALG_RSA_SHA256, 512, "e1.private",
     "RSA keys for DKIM have 1024 to 4096 bits, not 512"},
    {"rsa 1023", SIGN_ALG_RSA_SHA256, 1023, "e2.private",
     "RSA keys for DKIM have 1024 to 4096 bits, not 1023"},
    {"rsa 8192", SIGN_ALG_RSA_SHA256, 8192, "e3.private",
     "RSA keys for DKIM have 1024 to 4096 bits, not 8192"},
    {"ed25519 with bits", SIGN_ALG_ED25519_SHA256, 2048, "e4.private",
     "Ed25519 keys have 256 bits, not 2048"},
    {"no such directory", SIGN_ALG_ED25519_SHA256, 0, "nodir/k.private",
     "%D/nodir/k.private: cannot create: No such file or directory"},
};

static void
test_keygen_errors(void **state)
{
	const struct keygen_error_case *c;
	char *txt, *error, *want;
	size_t i;

	for (i = 0; i < ARRAY_LEN(keygen_errors); i++) {
		c = &keygen_errors[i];
		txt = NULL;
		error = NULL;
		check_int(c->name, "keygen",
		          sign_keygen(c->alg, c->bits, unit_tmp(c->file), &txt,
		                      &error),
		          -1);
		assert_null(txt);
		want = expand(c->want);
		check_str(c->name, "error", error, want);
		check_int(c->name, "no file left",
		          access(unit_tmp(c->file), F_OK) == 0, 0);
		free(want);
		free(error);
	}
}

/*
 * Corpus keys against their published records
 */

/* An Ed25519 key from a file holding its base64 32-octet seed. */
static EVP_PKEY *
seed_key(const char *path)
{
	unsigned char seed[48];
	char *text = unit_read_file(path, NULL);
	int n;

	text[strcspn(text, "\r\n")] = '\0';
	n = EVP_DecodeBlock(seed, (unsigned char *)text, (int)strlen(text));
	free(text);
	assert_int_equal(n, 33); /* 32 and one padding octet */
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

struct corpus_case {
	const char *name;
	const char *key; /* PEM, or a base64 Ed25519 seed */
	int seed;
	const char *record; /* file with the TXT record */
	const char *line;   /* the record's line starts so; NULL: first */
	unsigned int bits;
};

static const struct corpus_case corpus_cases[] = {
    {"rfc8463 rsa", "dkim/rfc8463/test.football.example.com.rsa.private.pem", 0,
     "dkim/rfc8463/zone.txt", "test._domainkey", 1024},
    {"rfc8463 ed25519",
     "dkim/rfc8463/brisbane.football.example.com.ed25519.seed.b64", 1,
     "dkim/rfc8463/zone.txt", "brisbane._domainkey", 256},
    {"dkimpy test.private", "dkim/dkimpy/test.private", 0,
     "dkim/dkimpy/test.txt", NULL, 1024},
    {"dkimpy 1024", "dkim/dkimpy/1024_testkey.key", 0,
     "dkim/dkimpy/1024_testkey_wo_markers.pub.txt", NULL, 1024},
    {"dkimpy 2048", "dkim/dkimpy/2048_testkey.key", 0,
     "dkim/dkimpy/2048_testkey_wo_markers.pub.txt", NULL, 2048},
    {"dkimpy testfp", "dkim/dkimpy/testfp.key", 0, "dkim/dkimpy/testfp.pub",
     NULL, 2048},
    {"dkimpy ed25519", "dkim/dkimpy/ed25519test.key", 1,
     "dkim/dkimpy/ed25519test.dns", NULL, 256},
};

/* The p= value of the record in c->record. */
static char *
corpus_p(const struct corpus_case *c)
{
	char *text = unit_read_file(unit_corpus_path(c->record), NULL),
	     *line = text, *p;

	if (c->line != NULL) {
		line = strstr(text, c->line);
		assert_non_null(line);
	}
	line[strcspn(line, "\n")] = '\0';
	p = p_value(line);
	free(text);
	return p;
}

static void
run_corpus(const struct corpus_case *c)
{
	struct sign_keytable *kt;
	const struct sign_key *k;
	EVP_PKEY *pk;
	char *txt, *got, *want;

	if (c->seed) {
		pk = seed_key(unit_corpus_path(c->key));
		put_key("corpus.pem", pk, PKCS8, 0600);
		EVP_PKEY_free(pk);
	} else {
		copy_to_tmp(unit_corpus_path(c->key), "corpus.pem", 0600);
	}
	kt = load_kt(c->name, "k football.example.com:sel:%D/corpus.pem\n");
	k = sign_keytable_find(kt, "k");
	check_int(c->name, "bits", k->bits, c->bits);
	check_int(c->name, "alg", k->alg,
	          c->seed ? SIGN_ALG_ED25519_SHA256 : SIGN_ALG_RSA_SHA256);
	txt = sign_key_txt(k);
	got = p_value(txt);
	want = corpus_p(c);
	check_str(c->name, "p=", got, want);
	check_int(c->name, "k=",
	          strstr(txt, c->seed ? "; k=ed25519; " : "; k=rsa; ") != NULL,
	          1);
	free(txt);
	free(got);
	free(want);
	sign_keytable_free(&kt);
}

static void
test_corpus_keys(void **state)
{
	size_t i, ran = 0;

	for (i = 0; i < ARRAY_LEN(corpus_cases); i++) {
		if (!unit_corpus_has(corpus_cases[i].key) ||
		    !unit_corpus_has(corpus_cases[i].record))
			continue;
		run_corpus(&corpus_cases[i]);
		ran++;
	}
	if (ran == 0)
		skip();
}

/*
 * Zone-file lines
 */

struct zone_case {
	const char *name;
	const char *selector;
	const char *domain;
	const char *txt;
	const char *want;
};

static const struct zone_case zone_cases[] = {
    {"short", "sel", "example.com", "v=DKIM1; k=ed25519; p=abc",
     "sel._domainkey.example.com. IN TXT ( \"v=DKIM1; k=ed25519; p=abc\" )"},
    {"trailing dot kept single", "s1", "example.com.", "v=DKIM1",
     "s1._domainkey.example.com. IN TXT ( \"v=DKIM1\" )"},
    {"empty text", "s", "example.com", "",
     "s._domainkey.example.com. IN TXT ( \"\" )"},
};

static void
test_zone_line(void **state)
{
	const struct zone_case *c;
	char *got;
	size_t i;

	for (i = 0; i < ARRAY_LEN(zone_cases); i++) {
		c = &zone_cases[i];
		got = sign_key_zone_line(c->selector, c->domain, c->txt);
		check_str(c->name, "line", got, c->want);
		free(got);
	}
}

/* Split at 255 octets: the strings concatenate back to the text. */
static void
test_zone_line_split(void **state)
{
	static const size_t lens[] = {254, 255, 256, 510, 511, 765, 800};
	static const char head[] = "s._domainkey.example.com. IN TXT (";
	char txt[1024], joined[1024], name[32], *line, *p, *end = NULL;
	size_t i, j, n, strings, off;

	for (i = 0; i < ARRAY_LEN(lens); i++) {
		n = lens[i];
		snprintf(name, sizeof(name), "%zu octets", n);
		for (j = 0; j < n; j++)
			txt[j] = (char)('a' + j % 26);
		txt[n] = '\0';
		line = sign_key_zone_line("s", "example.com", txt);
		check_int(name, "head", strncmp(line, head, strlen(head)), 0);
		check_str(name, "tail", line + strlen(line) - 2, " )");
		strings = off = 0;
		for (p = strchr(line, '"'); p != NULL;
		     p = strchr(end + 1, '"')) {
			end = strchr(p + 1, '"');
			assert_non_null(end);
			check_int(name, "string at most 255",
			          end - p - 1 <= 255, 1);
			memcpy(joined + off, p + 1, (size_t)(end - p - 1));
			off += (size_t)(end - p - 1);
			strings++;
		}
		joined[off] = '\0';
		check_str(name, "joined", joined, txt);
		check_int(name, "strings", (long long)strings,
		          (long long)((n + 254) / 255));
		free(line);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keygen),
	    cmocka_unit_test(test_keygen_no_overwrite),
	    cmocka_unit_test(test_keygen_errors),
	    cmocka_unit_test(test_corpus_keys),
	    cmocka_unit_test(test_zone_line),
	    cmocka_unit_test(test_zone_line_split),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
