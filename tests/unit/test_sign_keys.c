/*
 * test_sign_keys.c - DKIM key table, signing table and name checks.
 *
 * Tables and keys are written to the scratch directory; keys are made
 * with OpenSSL at setup, plus copies of corpus keys ($CORPUS, default
 * ../shared/corpus) that DKIM must refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "sign/sign_keys.h"
#include "tests/unit/unit_sign.h"

/* Rows whose table or file must not exist. */
static const char MISSING[] = "(missing)";

/* A row's table text as path; for MISSING, no file there. */
static void
put_row(const char *path, const char *text)
{
	if (text == MISSING)
		unlink(path);
	else
		put_text(path, text);
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
	unit_write_file(unit_tmp("garbage.pem"), "not a key\n", 10, 0600);
	unit_write_file(unit_tmp("empty.pem"), "", 0, 0600);
	assert_int_equal(mkdir(unit_tmp("dir.pem"), 0700), 0);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa512);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ec);
}

static int
setup(void **state)
{
	umask(022);
	if (unit_tmpdir_make("test_sign_keys") < 0)
		return -1;
	make_keys();
	return 0;
}

static int
teardown(void **state)
{
	return unit_tmpdir_remove();
}

/*
 * Key table
 */

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
	EVP_PKEY *file = read_key(unit_tmp(c->file)), *kept;
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

	put_text(unit_tmp("kt.tab"), keytable_text);
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
			check_str(c->name, "path", k->path, unit_tmp(c->file));
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
	put_text(unit_tmp("st.tab"), "");
	st = sign_signtable_load(unit_tmp("st.tab"), kt, &error);
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

	put_text(unit_tmp("st.tab"), c->table);
	snprintf(spec, sizeof(spec), "%s%s", c->prefix, unit_tmp("st.tab"));
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

	put_text(unit_tmp("st.tab"), "* pct,any\n");
	st = sign_signtable_load(unit_tmp("st.tab"), kt, &error);
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
     "%K:2: %D/rsa-0644.pem: key file is readable by group or others (mode 0644); "
     "chmod 600"},
    {"key mode 0640", KEY_LINE_2("rsa-0640.pem"), NULL, NULL,
     "%K:2: %D/rsa-0640.pem: key file is readable by group or others (mode 0640); "
     "chmod 600"},
    {"key mode 0602", KEY_LINE_2("rsa-0602.pem"), NULL, NULL,
     "%K:2: %D/rsa-0602.pem: key file is writable by group or others (mode 0602); "
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

	put_row(unit_tmp("kt.tab"), c->keytable);
	spec = expand(c->kt_spec != NULL ? c->kt_spec : "%K");
	kt = sign_keytable_load(spec, &error);
	free(spec);
	if (kt != NULL && c->signtable != NULL) {
		put_row(unit_tmp("st.tab"),
		        strcmp(c->signtable, "ldap:") == 0 ? "" : c->signtable);
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
	return access(unit_tmp(name), F_OK) == 0;
}

static void
test_errors(void **state)
{
	const struct error_case *c;
	char *want;
	size_t i;

	if (unit_corpus_has("dkim/dkimpy/canonical.com-512.private"))
		copy_to_tmp(
		    unit_corpus_path("dkim/dkimpy/canonical.com-512.private"),
		    "corpus-512.pem", 0600);
	if (unit_corpus_has("dkim/dkimpy/ed25519test.key"))
		copy_to_tmp(unit_corpus_path("dkim/dkimpy/ed25519test.key"),
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
	unit_write_file(unit_tmp("kt.tab"), text, strlen(text), 0600);
	kt = sign_keytable_load(unit_tmp("kt.tab"), &error);
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
	put_text(unit_tmp("kt.tab"), KEY_LINE_2("rsa-0200.pem"));
	kt = sign_keytable_load(unit_tmp("kt.tab"), &error);
	assert_null(kt);
	want = expand("%K:2: %D/rsa-0200.pem: cannot open: Permission denied");
	check_str("unreadable key", "error", error, want);
	free(want);
	free(error);
}

/*
 * Name checks
 */

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
	    cmocka_unit_test(test_name_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
