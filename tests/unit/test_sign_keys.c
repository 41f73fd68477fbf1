/*
 * test_sign_keys.c - DKIM key table, signing table, key generation.
 *
 * Tables and keys are written to a temporary directory; keys are made
 * with OpenSSL at setup, plus the corpus keys ($CORPUS, default
 * ../shared/corpus) whose published DNS records are known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sign/sign_keys.h"
#include "util/xalloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/test_sign_keys.XXXXXX";
static const char *corpus;

/* Rows whose table or file must not exist. */
static const char MISSING[] = "(missing)";

/*
 * Helpers
 */

static void
check_int(const char *name, const char *what, long long got, long long want)
{
	if (got == want)
		return;
	print_error("%s: %s: got %lld, want %lld\n", name, what, got, want);
	fail();
}

static void
check_str(const char *name, const char *what, const char *got, const char *want)
{
	if (got == NULL && want == NULL)
		return;
	if (got != NULL && want != NULL && strcmp(got, want) == 0)
		return;
	print_error("%s: %s:\n  got  \"%s\"\n  want \"%s\"\n", name, what,
	            got ? got : "(null)", want ? want : "(null)");
	fail();
}

/* tmpdir/name in one of a few static buffers. */
static const char *
tmp(const char *name)
{
	static char bufs[8][512];
	static unsigned int next;
	char *b = bufs[next++ % ARRAY_LEN(bufs)];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
	return b;
}

/* Replace %D (tmpdir), %K (key table) and %S (signing table). */
static char *
expand(const char *fmt)
{
	char *out = xstrdup(""), *next;
	const char *p, *sub;

	for (p = fmt; *p != '\0'; p++) {
		sub = NULL;
		if (p[0] == '%' && p[1] == 'D')
			sub = tmpdir;
		else if (p[0] == '%' && p[1] == 'K')
			sub = tmp("kt.tab");
		else if (p[0] == '%' && p[1] == 'S')
			sub = tmp("st.tab");
		if (sub != NULL)
			next = xasprintf("%s%s", out, sub);
		else
			next = xasprintf("%s%c", out, *p);
		p += sub != NULL;
		free(out);
		out = next;
	}
	return out;
}

static void
put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* text with %D expanded, written to path (if text is not MISSING). */
static void
put_text(const char *path, const char *text)
{
	char *s;

	unlink(path);
	if (text == MISSING)
		return;
	s = expand(text);
	put_file(path, s, strlen(s), 0600);
	free(s);
}

static char *
read_text(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "r");
	char *buf = xmalloc(1 << 16);
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	if (len_r != NULL)
		*len_r = n;
	return buf;
}

enum pem_form { PKCS8, TRADITIONAL, PKCS8_ENC, TRADITIONAL_ENC, PUBLIC };

static void
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
	put_file(tmp(name), data, (size_t)n, mode);
	BIO_free(bio);
}

static EVP_PKEY *
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

/* An Ed25519 key from a file holding its base64 32-octet seed. */
static EVP_PKEY *
seed_key(const char *path)
{
	unsigned char seed[48];
	char *text = read_text(path, NULL);
	int n;

	text[strcspn(text, "\r\n")] = '\0';
	n = EVP_DecodeBlock(seed, (unsigned char *)text, (int)strlen(text));
	free(text);
	assert_int_equal(n, 33); /* 32 and one padding octet */
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

static const char *
corpus_path(const char *name)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/%s", corpus, name);
	return buf;
}

static int
corpus_has(const char *name)
{
	if (access(corpus_path(name), R_OK) == 0)
		return 1;
	print_message("corpus file %s missing, skipped\n", corpus_path(name));
	return 0;
}

static void
copy_to_tmp(const char *from, const char *name, mode_t mode)
{
	size_t len;
	char *text = read_text(from, &len);

	put_file(tmp(name), text, len, mode);
	free(text);
}

/*
 * Setup: the key files every test uses
 */

static void
make_keys(void)
{
	EVP_PKEY *rsa = EVP_RSA_gen(1024);
	EVP_PKEY *rsa512 = EVP_RSA_gen(512);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_true(rsa && rsa512 && ed && ec);
	put_key("rsa.pem", rsa, PKCS8, 0600);
	put_key("rsa-pkcs1.pem", rsa, TRADITIONAL, 0600);
	put_key("a:b.pem", rsa, PKCS8, 0600);
	put_key("with space.pem", rsa, PKCS8, 0400);
	put_key("rsa-0644.pem", rsa, PKCS8, 0644);
	put_key("rsa-0640.pem", rsa, PKCS8, 0640);
	put_key("rsa-0602.pem", rsa, PKCS8, 0602);
	put_key("rsa-0200.pem", rsa, PKCS8, 0200);
	put_key("rsa-enc.pem", rsa, PKCS8_ENC, 0600);
	put_key("rsa-enc-pkcs1.pem", rsa, TRADITIONAL_ENC, 0600);
	put_key("rsa-pub.pem", rsa, PUBLIC, 0600);
	put_key("rsa512.pem", rsa512, TRADITIONAL, 0600);
	put_key("ed.pem", ed, PKCS8, 0600);
	put_key("ec.pem", ec, PKCS8, 0600);
	put_file(tmp("garbage.pem"), "not a key\n", 10, 0600);
	put_file(tmp("empty.pem"), "", 0, 0600);
	assert_int_equal(mkdir(tmp("dir.pem"), 0700), 0);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa512);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ec);
}

static int
setup(void **state)
{
	corpus = getenv("CORPUS");
	if (corpus == NULL || *corpus == '\0')
		corpus = "../shared/corpus";
	umask(022);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	make_keys();
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static int
teardown(void **state)
{
	return nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Key table
 */

static struct sign_keytable *
load_kt(const char *name, const char *text)
{
	struct sign_keytable *kt;
	char *error = NULL;

	put_text(tmp("kt.tab"), text);
	kt = sign_keytable_load(tmp("kt.tab"), &error);
	if (kt == NULL) {
		print_error("%s: key table: %s\n", name, error);
		fail();
	}
	return kt;
}

struct key_case {
	const char *name; /* key name in the table below */
	const char *domain;
	const char *selector;
	const char *file;
	enum sign_alg alg;
	unsigned int bits;
};

static const char keytable_text[] =
    "# name  domain:selector:keyfile\n"
    "\n"
    "rsa      example.com:s1:%D/rsa.pem\n"
    "pkcs1\texample.com:s2:%D/rsa-pkcs1.pem   # comment\n"
    "ed       example.com:ed:%D/ed.pem\n"
    "pct      %:s_2024:%D/rsa.pem\n"
    "  colon  example.org:s3:%D/a:b.pem\n"
    "space    example.org:s4:%D/with space.pem\n"
    "mail._domainkey.example.net example.net:mail:%D/ed.pem\n";

static const struct key_case key_cases[] = {
    {"rsa", "example.com", "s1", "rsa.pem", SIGN_ALG_RSA_SHA256, 1024},
    {"pkcs1", "example.com", "s2", "rsa-pkcs1.pem", SIGN_ALG_RSA_SHA256, 1024},
    {"ed", "example.com", "ed", "ed.pem", SIGN_ALG_ED25519_SHA256, 256},
    {"pct", "%", "s_2024", "rsa.pem", SIGN_ALG_RSA_SHA256, 1024},
    {"colon", "example.org", "s3", "a:b.pem", SIGN_ALG_RSA_SHA256, 1024},
    {"space", "example.org", "s4", "with space.pem", SIGN_ALG_RSA_SHA256, 1024},
    {"mail._domainkey.example.net", "example.net", "mail", "ed.pem",
     SIGN_ALG_ED25519_SHA256, 256},
};

/* The kept PEM is PKCS#8 and holds the key of the file. */
static void
check_pem(const struct key_case *c, const struct sign_key *k)
{
	EVP_PKEY *file = read_key(tmp(c->file)), *kept;
	BIO *bio = BIO_new_mem_buf(k->pem, (int)k->pemlen);

	check_int(c->name, "pemlen", (long long)k->pemlen,
	          (long long)strlen((const char *)k->pem));
	assert_non_null(
	    strstr((const char *)k->pem, "-----BEGIN PRIVATE KEY-----\n"));
	kept = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(kept);
	check_int(c->name, "same key as the file", EVP_PKEY_eq(file, kept), 1);
	EVP_PKEY_free(kept);
	EVP_PKEY_free(file);
	BIO_free(bio);
}

static void
test_keytable_load(void **state)
{
	static const char *const specs[] = {"%K", "file:%K", "refile:%K"};
	struct sign_keytable *kt;
	const struct sign_key *k;
	const struct key_case *c;
	char *spec, *error = NULL;
	size_t i, j;

	put_text(tmp("kt.tab"), keytable_text);
	for (j = 0; j < ARRAY_LEN(specs); j++) {
		spec = expand(specs[j]);
		kt = sign_keytable_load(spec, &error);
		check_str(spec, "error", error, NULL);
		check_int(spec, "count", (long long)sign_keytable_count(kt),
		          ARRAY_LEN(key_cases));
		for (i = 0; i < ARRAY_LEN(key_cases); i++) {
			c = &key_cases[i];
			k = sign_keytable_find(kt, c->name);
			assert_non_null(k);
			check_str(c->name, "name", k->name, c->name);
			check_str(c->name, "domain", k->domain, c->domain);
			check_str(c->name, "selector", k->selector,
			          c->selector);
			check_str(c->name, "path", k->path, tmp(c->file));
			check_int(c->name, "alg", k->alg, c->alg);
			check_int(c->name, "bits", k->bits, c->bits);
			check_pem(c, k);
		}
		/* Key names are case-sensitive. */
		assert_null(sign_keytable_find(kt, "RSA"));
		assert_null(sign_keytable_find(kt, "nokey"));
		sign_keytable_free(&kt);
		assert_null(kt);
		free(spec);
	}
}

static void
test_keytable_empty(void **state)
{
	struct sign_keytable *kt = load_kt("empty", "# nothing\n\n");
	struct sign_signtable *st;
	struct sign_choice ch[1];
	char *error = NULL;

	check_int("empty", "count", (long long)sign_keytable_count(kt), 0);
	assert_null(sign_keytable_find(kt, "rsa"));
	put_text(tmp("st.tab"), "");
	st = sign_signtable_load(tmp("st.tab"), kt, &error);
	check_str("empty", "error", error, NULL);
	check_int("empty", "lookup", sign_signtable_lookup(st, "a@b.c", ch, 1),
	          0);
	sign_signtable_free(&st);
	sign_keytable_free(&kt);
}

/*
 * Signing table lookups
 */

static const char lookup_keys[] = "userhost   example.net:s:%D/rsa.pem\n"
                                  "host       example.net:s:%D/rsa.pem\n"
                                  "userparent example.net:s:%D/rsa.pem\n"
                                  "parent     example.net:s:%D/rsa.pem\n"
                                  "usercom    example.net:s:%D/rsa.pem\n"
                                  "com        example.net:s:%D/rsa.pem\n"
                                  "userany    example.net:s:%D/rsa.pem\n"
                                  "any        example.net:s:%D/rsa.pem\n"
                                  "pct        %:s:%D/rsa.pem\n"
                                  "pcted      %:ed:%D/ed.pem\n"
                                  "rsa        example.com:rsasel:%D/rsa.pem\n"
                                  "ed         example.com:edsel:%D/ed.pem\n";

/* Every step of OpenDKIM's order, for user "alice". */
#define ORDER_TABLE                                                            \
	"alice@mail.example.com  userhost\n"                                   \
	"mail.example.com        host\n"                                       \
	"alice@.example.com      userparent\n"                                 \
	".example.com            parent\n"                                     \
	"alice@.com              usercom\n"                                    \
	".com                    com\n"                                        \
	"alice@*                 userany\n"                                    \
	"*                       any\n"

struct lookup_case {
	const char *name;
	const char *prefix; /* "", "file:" or "refile:" */
	const char *table;
	const char *address;
	size_t max;
	const char *want; /* key/domain,... */
};

static const struct lookup_case lookup_cases[] = {
    {"user@host beats everything", "", ORDER_TABLE, "alice@mail.example.com", 4,
     "userhost/example.net"},
    {"host beats user@.parent", "", ORDER_TABLE, "bob@mail.example.com", 4,
     "host/example.net"},
    {"host beats user@.parent for that user", "",
     "alice@.example.com userparent\nmail.example.com host\n",
     "alice@mail.example.com", 4, "host/example.net"},
    {"user@.parent beats .parent", "", ORDER_TABLE, "alice@www.example.com", 4,
     "userparent/example.net"},
    {"nearest user@.parent first", "", ORDER_TABLE, "alice@a.b.example.com", 4,
     "userparent/example.net"},
    {".parent when no user@.parent", "", ORDER_TABLE, "bob@www.example.com", 4,
     "parent/example.net"},
    {"nearest .parent first", "", ".com com\n.example.com parent\n",
     "bob@a.b.example.com", 4, "parent/example.net"},
    {"user@.far parent beats .near parent", "",
     ".example.com parent\nalice@.com usercom\n", "alice@www.example.com", 4,
     "usercom/example.net"},
    {"host itself is no .parent", "", ORDER_TABLE, "bob@example.com", 4,
     "com/example.net"},
    {"user@* before *", "", ORDER_TABLE, "alice@example.org", 4,
     "userany/example.net"},
    {"* last", "", ORDER_TABLE, "bob@example.org", 4, "any/example.net"},
    {"address case ignored", "", ORDER_TABLE, "ALICE@Mail.Example.COM", 4,
     "userhost/example.net"},
    {"pattern case ignored", "", "Mail.EXAMPLE.com host\n",
     "bob@mail.example.com", 4, "host/example.net"},
    {"local part case ignored", "", "Alice@* userany\n", "aLiCe@example.org", 4,
     "userany/example.net"},
    {"no entry", "", "example.com host\n", "bob@example.org", 4, ""},
    {"no @", "", ORDER_TABLE, "example.com", 4, ""},
    {"empty local part", "", ORDER_TABLE, "@example.com", 4, ""},
    {"empty domain", "", ORDER_TABLE, "bob@", 4, ""},
    {"last @ splits", "", "example.com host\n", "\"a@b\"@example.com", 4,
     "host/example.net"},
    {"max 0", "", ORDER_TABLE, "alice@mail.example.com", 0, ""},
    {"% is the address domain, lowercased", "", "* pct\n",
     "bob@Sub.Example.ORG", 4, "pct/sub.example.org"},
    {"% left out for a bad domain", "", "* pct,host\n", "bob@exa;mple.com", 4,
     "host/example.net"},
    {"% left out for a one-label domain", "", "* pct\n", "bob@localhost", 4,
     ""},
    {"several keys in table order", "", "example.com rsa,ed\n",
     "bob@example.com", 4, "rsa/example.com,ed/example.com"},
    {"several % keys", "", "example.com ed,pct,pcted\n", "bob@example.com", 4,
     "ed/example.com,pct/example.com,pcted/example.com"},
    {"max cuts the list", "", "example.com rsa,ed\n", "bob@example.com", 1,
     "rsa/example.com"},
    {"signer column ignored", "", "example.com host @example.com\n",
     "bob@example.com", 4, "host/example.net"},
    {"comments and blank lines", "",
     "# head\n\n   \nexample.com host # tail\n#x any\n", "bob@example.com", 4,
     "host/example.net"},
    {"'#' inside a field is no comment", "", "a#b@example.com host\n",
     "a#b@example.com", 4, "host/example.net"},
    {"file: prefix is a plain table", "file:", ORDER_TABLE,
     "bob@www.example.com", 4, "parent/example.net"},
    {"refile: first match in file order",
     "refile:", "*@*.example.com parent\n*@mail.example.com host\n*\tany\n",
     "bob@mail.example.com", 4, "parent/example.net"},
    {"refile: later entry when earlier fail",
     "refile:", "*@example.org host\n*@*example.com userany\n* any\n",
     "bob@example.com", 4, "userany/example.net"},
    {"refile: whole address must match", "refile:", "*@example.com host\n",
     "bob@example.com.evil.test", 4, ""},
    {"refile: '*' spans '@' and dots", "refile:", "a*m host\n",
     "alice@example.com", 4, "host/example.net"},
    {"refile: backtracking", "refile:", "*@*.b.example host\n",
     "x@a.b.c.b.example", 4, "host/example.net"},
    {"refile: literal pattern", "refile:", "bob@example.com host\n",
     "bob@example.com", 4, "host/example.net"},
    {"refile: case ignored", "refile:", "*@Example.COM host\n",
     "BOB@example.com", 4, "host/example.net"},
    {"refile: empty-run '*'", "refile:", "bob*@example.com host\n",
     "bob@example.com", 4, "host/example.net"},
    {"refile: % and several keys", "refile:", "* pct,rsa\n", "bob@Example.ORG",
     4, "pct/example.org,rsa/example.com"},
};

static void
choices_text(char *buf, size_t size, const struct sign_choice *ch, size_t n)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s/%s",
		                        i > 0 ? "," : "", ch[i].key->name,
		                        ch[i].domain);
}

static void
run_lookup(const struct lookup_case *c, const struct sign_keytable *kt)
{
	struct sign_signtable *st;
	struct sign_choice ch[4];
	char spec[600], got[512], *error = NULL;
	size_t n;

	put_text(tmp("st.tab"), c->table);
	snprintf(spec, sizeof(spec), "%s%s", c->prefix, tmp("st.tab"));
	st = sign_signtable_load(spec, kt, &error);
	check_str(c->name, "load error", error, NULL);
	n = sign_signtable_lookup(st, c->address, ch, c->max);
	choices_text(got, sizeof(got), ch, n);
	check_str(c->name, c->address, got, c->want);
	sign_signtable_free(&st);
	assert_null(st);
}

static void
test_lookup(void **state)
{
	struct sign_keytable *kt = load_kt("lookup keys", lookup_keys);
	size_t i;

	for (i = 0; i < ARRAY_LEN(lookup_cases); i++)
		run_lookup(&lookup_cases[i], kt);
	sign_keytable_free(&kt);
}

/* The 512-octet bound on addresses, and long hostile domains. */
static void
test_lookup_bounds(void **state)
{
	struct sign_keytable *kt = load_kt("bounds keys", lookup_keys);
	struct sign_signtable *st;
	struct sign_choice ch[4];
	char addr[1024], got[512], *error = NULL;
	size_t n;

	put_text(tmp("st.tab"), "* pct,any\n");
	st = sign_signtable_load(tmp("st.tab"), kt, &error);
	check_str("bounds", "load error", error, NULL);

	memset(addr, 'a', sizeof(addr));
	memcpy(addr + 512 - 12, "@example.com", 13);
	n = sign_signtable_lookup(st, addr, ch, 4);
	choices_text(got, sizeof(got), ch, n);
	check_str("512 octets", "choices", got,
	          "pct/example.com,any/example.net");

	memset(addr, 'a', sizeof(addr));
	memcpy(addr + 513 - 12, "@example.com", 13);
	check_int("513 octets", "choices",
	          sign_signtable_lookup(st, addr, ch, 4), 0);

	/* A 300-octet domain: no "%" key, the fixed one still signs. */
	memcpy(addr, "bob@", 4);
	memset(addr + 4, 'x', 300);
	memcpy(addr + 304, ".com", 5);
	n = sign_signtable_lookup(st, addr, ch, 4);
	choices_text(got, sizeof(got), ch, n);
	check_str("300-octet domain", "choices", got, "any/example.net");
	sign_signtable_free(&st);
	sign_keytable_free(&kt);
}

/*
 * Errors
 */

struct error_case {
	const char *name;
	const char *keytable;  /* text, or MISSING */
	const char *kt_spec;   /* how to name it; NULL: "%K" */
	const char *signtable; /* NULL: load the key table only */
	const char *want;      /* %D, %K, %S expanded */
};

#define GOOD_KEYS                                                              \
	"rsa example.com:sel:%D/rsa.pem\ned example.com:ed:%D/ed.pem\n"

/* The second line's key file is name. */
#define KEY_LINE_2(name)                                                       \
	"ok example.com:sel:%D/rsa.pem\nbad example.com:sel:%D/" name "\n"

static const struct error_case error_cases[] = {
    {"key table missing", MISSING, NULL, NULL,
     "%K: cannot open: No such file or directory"},
    {"table type not supported", "", "dsn:mysql://u@h/db", NULL,
     "dsn:mysql://u@h/db: table type \"dsn\" is not supported "
     "(file: or refile: only)"},
    {"missing value", "# c\n\nk1\n", NULL, NULL,
     "%K:3: missing DOMAIN:SELECTOR:KEYFILE"},
    {"value with one colon", "k1 example.com:%D/rsa.pem\n", NULL, NULL,
     "%K:1: want DOMAIN:SELECTOR:KEYFILE"},
    {"bad domain", "k1 exa_mple.com:sel:%D/rsa.pem\n", NULL, NULL,
     "%K:1: bad domain \"exa_mple.com\": bad character"},
    {"one-label domain", "k1 localhost:sel:%D/rsa.pem\n", NULL, NULL,
     "%K:1: bad domain \"localhost\": needs at least two labels"},
    {"empty selector", "k1 example.com::%D/rsa.pem\n", NULL, NULL,
     "%K:1: bad selector \"\": empty label or bad character"},
    {"bad selector", "k1 example.com:s/l:%D/rsa.pem\n", NULL, NULL,
     "%K:1: bad selector \"s/l\": bad character"},
    {"inline key data", "k1 example.com:sel:MIIEvQIBADANBgkqhkiG9w0B\n", NULL,
     NULL,
     "%K:1: KEYFILE must be a path starting with '/' or '.' "
     "(no inline key data)"},
    {"comma in key name", "a,b example.com:sel:%D/rsa.pem\n", NULL, NULL,
     "%K:1: key name \"a,b\" holds ',' or '*'"},
    {"star in key name", "a* example.com:sel:%D/rsa.pem\n", NULL, NULL,
     "%K:1: key name \"a*\" holds ',' or '*'"},
    {"duplicate key name",
     "a example.com:s1:%D/rsa.pem\nb example.com:s2:%D/rsa.pem\n"
     "a example.com:s3:%D/ed.pem\n",
     NULL, NULL, "%K:3: duplicate key name \"a\" (also on line 1)"},
    {"key file missing", KEY_LINE_2("nope.pem"), NULL, NULL,
     "%K:2: %D/nope.pem: cannot open: No such file or directory"},
    {"key file is a directory", KEY_LINE_2("dir.pem"), NULL, NULL,
     "%K:2: %D/dir.pem: not a regular file"},
    {"key mode 0644", KEY_LINE_2("rsa-0644.pem"), NULL, NULL,
     "%K:2: %D/rsa-0644.pem: key file is readable by others (mode 0644); "
     "chmod 600"},
    {"key mode 0640", KEY_LINE_2("rsa-0640.pem"), NULL, NULL,
     "%K:2: %D/rsa-0640.pem: key file is readable by others (mode 0640); "
     "chmod 600"},
    {"key mode 0602", KEY_LINE_2("rsa-0602.pem"), NULL, NULL,
     "%K:2: %D/rsa-0602.pem: key file is writable by others (mode 0602); "
     "chmod 600"},
    {"RSA 512-bit key", KEY_LINE_2("rsa512.pem"), NULL, NULL,
     "%K:2: %D/rsa512.pem: RSA key of 512 bits; DKIM needs at least 1024 "
     "(RFC 8301)"},
    {"corpus RSA 512-bit key", KEY_LINE_2("corpus-512.pem"), NULL, NULL,
     "%K:2: %D/corpus-512.pem: RSA key of 512 bits; DKIM needs at least "
     "1024 (RFC 8301)"},
    {"EC P-256 key", KEY_LINE_2("ec.pem"), NULL, NULL,
     "%K:2: %D/ec.pem: EC key; DKIM signs with RSA or Ed25519 keys"},
    {"garbage key", KEY_LINE_2("garbage.pem"), NULL, NULL,
     "%K:2: %D/garbage.pem: no PEM private key found"},
    {"empty key file", KEY_LINE_2("empty.pem"), NULL, NULL,
     "%K:2: %D/empty.pem: no PEM private key found"},
    {"public key only", KEY_LINE_2("rsa-pub.pem"), NULL, NULL,
     "%K:2: %D/rsa-pub.pem: no PEM private key found"},
    {"raw Ed25519 seed (dkimpy format)", KEY_LINE_2("corpus-seed.key"), NULL,
     NULL, "%K:2: %D/corpus-seed.key: no PEM private key found"},
    {"encrypted PKCS#8", KEY_LINE_2("rsa-enc.pem"), NULL, NULL,
     "%K:2: %D/rsa-enc.pem: encrypted keys are not supported"},
    {"encrypted PKCS#1", KEY_LINE_2("rsa-enc-pkcs1.pem"), NULL, NULL,
     "%K:2: %D/rsa-enc-pkcs1.pem: encrypted keys are not supported"},
    {"signing table missing", GOOD_KEYS, NULL, MISSING,
     "%S: cannot open: No such file or directory"},
    {"signing table type", GOOD_KEYS, NULL, "ldap:",
     "ldap:%S: table type \"ldap\" is not supported "
     "(file: or refile: only)"},
    {"missing key name", GOOD_KEYS, NULL, "\n  example.com\n",
     "%S:2: missing key name"},
    {"unknown key name", GOOD_KEYS, NULL,
     "# c\nexample.com rsa\nexample.org rsa,nokey\n",
     "%S:3: unknown key name \"nokey\""},
    {"key names are case-sensitive", GOOD_KEYS, NULL, "example.com RSA\n",
     "%S:1: unknown key name \"RSA\""},
    {"empty key name", GOOD_KEYS, NULL, "example.com rsa,,ed\n",
     "%S:1: empty key name in \"rsa,,ed\""},
    {"trailing comma", GOOD_KEYS, NULL, "example.com rsa,\n",
     "%S:1: empty key name in \"rsa,\""},
    {"key named twice", GOOD_KEYS, NULL, "example.com rsa,ed,rsa\n",
     "%S:1: key \"rsa\" named twice"},
    {"wildcard in a plain table", GOOD_KEYS, NULL, "*@example.com rsa\n",
     "%S:1: '*' in \"*@example.com\" is a wildcard only in refile: tables "
     "(here only \"*\" and \"user@*\")"},
    {"star inside user@*", GOOD_KEYS, NULL, "a*@* rsa\n",
     "%S:1: '*' in \"a*@*\" is a wildcard only in refile: tables "
     "(here only \"*\" and \"user@*\")"},
    {"duplicate pattern, case ignored", GOOD_KEYS, NULL,
     "example.com rsa\nexample.org ed\nEXAMPLE.com ed\n",
     "%S:3: duplicate pattern \"example.com\" (also on line 1)"},
};

static const char *
error_got(const struct error_case *c)
{
	static char got[1024];
	struct sign_keytable *kt;
	struct sign_signtable *st = NULL;
	char *spec, *error = NULL;

	put_text(tmp("kt.tab"), c->keytable);
	spec = expand(c->kt_spec != NULL ? c->kt_spec : "%K");
	kt = sign_keytable_load(spec, &error);
	free(spec);
	if (kt != NULL && c->signtable != NULL) {
		put_text(tmp("st.tab"), strcmp(c->signtable, "ldap:") == 0
		                            ? ""
		                            : c->signtable);
		spec = expand(strcmp(c->signtable, "ldap:") == 0 ? "ldap:%S"
		                                                 : "%S");
		st = sign_signtable_load(spec, kt, &error);
		free(spec);
		if (st != NULL)
			check_str(c->name, "error", "(none)", c->want);
		assert_null(st);
	}
	if (kt != NULL && c->signtable == NULL)
		check_str(c->name, "error", "(none)", c->want);
	sign_keytable_free(&kt);
	snprintf(got, sizeof(got), "%s", error != NULL ? error : "(none)");
	free(error);
	return got;
}

/* Rows naming corpus copies run only if the corpus had the file. */
static int
row_files_exist(const struct error_case *c)
{
	const char *p = strstr(c->keytable, "corpus-");
	char name[64];

	if (p == NULL)
		return 1;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, "\n"), p);
	return access(tmp(name), F_OK) == 0;
}

static void
test_errors(void **state)
{
	const struct error_case *c;
	char *want;
	size_t i;

	if (corpus_has("dkim/dkimpy/canonical.com-512.private"))
		copy_to_tmp(
		    corpus_path("dkim/dkimpy/canonical.com-512.private"),
		    "corpus-512.pem", 0600);
	if (corpus_has("dkim/dkimpy/ed25519test.key"))
		copy_to_tmp(corpus_path("dkim/dkimpy/ed25519test.key"),
		            "corpus-seed.key", 0600);
	for (i = 0; i < ARRAY_LEN(error_cases); i++) {
		c = &error_cases[i];
		if (!row_files_exist(c))
			continue;
		want = expand(c->want);
		check_str(c->name, "error", error_got(c), want);
		free(want);
	}
}

static void
test_long_line(void **state)
{
	char text[5000], *error = NULL, *want;
	struct sign_keytable *kt;

	memset(text, 'x', sizeof(text) - 2);
	memcpy(text, "# ok\n", 5);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	put_file(tmp("kt.tab"), text, strlen(text), 0600);
	kt = sign_keytable_load(tmp("kt.tab"), &error);
	assert_null(kt);
	want = expand("%K:2: line longer than 4096 octets");
	check_str("long line", "error", error, want);
	free(want);
	free(error);
}

/* Needs a user to whom mode 0200 means something: root reads anyway. */
static void
test_unreadable_key(void **state)
{
	struct sign_keytable *kt;
	char *error = NULL, *want;

	if (geteuid() == 0)
		skip();
	put_text(tmp("kt.tab"), KEY_LINE_2("rsa-0200.pem"));
	kt = sign_keytable_load(tmp("kt.tab"), &error);
	assert_null(kt);
	want = expand("%K:2: %D/rsa-0200.pem: cannot open: Permission denied");
	check_str("unreadable key", "error", error, want);
	free(want);
	free(error);
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
	          sign_keygen(c->alg, c->bits, tmp(file), &txt, &error), 0);
	check_str(c->name, "error", error, NULL);
	check_int(c->name, "txt prefix",
	          strncmp(txt, c->want_prefix, strlen(c->want_prefix)), 0);
	assert_int_equal(stat(tmp(file), &st), 0);
	check_int(c->name, "mode", st.st_mode & 07777, 0600);
	pem = read_text(tmp(file), NULL);
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
	check_txt_key(c->name, txt, tmp(file));
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
	                             tmp("once.private"), &txt, &error),
	                 0);
	free(txt);
	before = read_text(tmp("once.private"), NULL);
	txt = sentinel;
	check_int("overwrite", "keygen",
	          sign_keygen(SIGN_ALG_ED25519_SHA256, 0, tmp("once.private"),
	                      &txt, &error),
	          -1);
	assert_null(txt);
	want = expand("%D/once.private: cannot create: File exists");
	check_str("overwrite", "error", error, want);
	after = read_text(tmp("once.private"), NULL);
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
		check_int(
		    c->name, "keygen",
		    sign_keygen(c->alg, c->bits, tmp(c->file), &txt, &error),
		    -1);
		assert_null(txt);
		want = expand(c->want);
		check_str(c->name, "error", error, want);
		check_int(c->name, "no file left",
		          access(tmp(c->file), F_OK) == 0, 0);
		free(want);
		free(error);
	}
}

/*
 * Corpus keys against their published records
 */

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
	char *text = read_text(corpus_path(c->record), NULL), *line = text, *p;

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
		pk = seed_key(corpus_path(c->key));
		put_key("corpus.pem", pk, PKCS8, 0600);
		EVP_PKEY_free(pk);
	} else {
		copy_to_tmp(corpus_path(c->key), "corpus.pem", 0600);
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
		if (!corpus_has(corpus_cases[i].key) ||
		    !corpus_has(corpus_cases[i].record))
			continue;
		run_corpus(&corpus_cases[i]);
		ran++;
	}
	if (ran == 0)
		skip();
}

/*
 * Zone-file lines and name checks
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

struct name_case {
	const char *name;
	int selector; /* check as a selector, else as a domain */
	int want;
	const char *want_error;
};

static const char label63[] =
    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc";
static const char label64[] =
    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd";

static const struct name_case name_cases[] = {
    {"example.com", 0, 0, NULL},
    {"a.b-c.d9", 0, 0, NULL},
    {"EXAMPLE.Com", 0, 0, NULL},
    {"localhost", 0, -1, "needs at least two labels"},
    {"exa_mple.com", 0, -1, "bad character"},
    {"-a.com", 0, -1, "label starts or ends with '-'"},
    {"a-.com", 0, -1, "label starts or ends with '-'"},
    {"a..com", 0, -1, "empty label or bad character"},
    {".com", 0, -1, "empty label or bad character"},
    {"example.com.", 0, -1, "empty label or bad character"},
    {"", 0, -1, "empty label or bad character"},
    {"exa mple.com", 0, -1, "bad character"},
    {"s1", 1, 0, NULL},
    {"2024-01._x", 1, 0, NULL},
    {"sel_1.sub", 1, 0, NULL},
    {"", 1, -1, "empty label or bad character"},
    {"s/1", 1, -1, "bad character"},
    {"s;1", 1, -1, "bad character"},
    {"-s", 1, -1, "label starts or ends with '-'"},
};

static void
check_name(const char *name, int selector, int want, const char *want_error)
{
	const char *error = NULL;
	int got = selector ? sign_selector_check(name, &error)
	                   : sign_domain_check(name, &error);

	check_int(name, selector ? "selector" : "domain", got, want);
	check_str(name, "error", got == 0 ? NULL : error, want_error);
}

static void
test_name_checks(void **state)
{
	char name[300];
	size_t i;

	for (i = 0; i < ARRAY_LEN(name_cases); i++)
		check_name(name_cases[i].name, name_cases[i].selector,
		           name_cases[i].want, name_cases[i].want_error);
	snprintf(name, sizeof(name), "%s.com", label63);
	check_name(name, 0, 0, NULL);
	snprintf(name, sizeof(name), "%s.com", label64);
	check_name(name, 0, -1, "label longer than 63 octets");
	/* 3 x 63 + 61 + 3 dots = 253 octets; one more is too long. */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label63, label63,
	         label63, label63);
	check_name(name, 0, 0, NULL);
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", label63, label63,
	         label63, label63);
	check_name(name, 0, -1, "longer than 253 octets");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keytable_load),
	    cmocka_unit_test(test_keytable_empty),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_lookup_bounds),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_unreadable_key),
	    cmocka_unit_test(test_keygen),
	    cmocka_unit_test(test_keygen_no_overwrite),
	    cmocka_unit_test(test_keygen_errors),
	    cmocka_unit_test(test_corpus_keys),
	    cmocka_unit_test(test_zone_line),
	    cmocka_unit_test(test_zone_line_split),
	    cmocka_unit_test(test_name_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
