/*
 * sign_keys.c - DKIM key table and signing table.
 *
 * Reads OpenDKIM-style key and signing tables (see sign_keys.h), loads
 * and checks every key with OpenSSL at startup, and answers "which keys
 * sign mail from this address" without locks or allocation.  Making new
 * keys and their DNS records is sign_keygen.c's; making and checking
 * signatures is left to the signer, command-line handling to the daemon.
 * Errors are allocated "file:line: reason" strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sign/sign_keys.h"
#include "sign/sign_private.h"
#include "util/xalloc.h"

#define TABLE_LINE_MAX 4096
#define KEY_FILE_MAX   65536
#define ADDRESS_MAX    512
#define DOMAIN_MAX     253
#define LABEL_MAX      63

struct kt_entry {
	struct sign_key key;
	int line;
};

struct sign_keytable {
	struct kt_entry *v;
	size_t n;
};

struct st_entry {
	char *pattern; /* lowercased */
	const struct sign_key **keys;
	size_t nkeys;
	int line;
};

struct sign_signtable {
	struct st_entry *v;
	size_t n;
	int wildcards; /* "refile:": glob patterns in file order */
};

/* One table file being read, for the line number in messages. */
struct table_reader {
	const char *path; /* without the "file:" or "refile:" prefix */
	FILE *fp;
	char *buf;
	size_t cap;
	int line;
	char **error_r;
};

/*
 * Small helpers
 */

static void
ascii_lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

static char *
skip_space(char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/* The next whitespace-separated field of *p, NUL-terminated, or NULL. */
static char *
field_next(char **p)
{
	char *start = skip_space(*p), *end = start;

	if (*start == '\0')
		return NULL;
	while (*end != '\0' && !is_space(*end))
		end++;
	if (*end != '\0')
		*end++ = '\0';
	*p = end;
	return start;
}

static BIO *
xbio_new(const BIO_METHOD *method)
{
	BIO *bio = BIO_new(method);

	if (bio == NULL)
		abort();
	return bio;
}

/*
 * DNS names
 */

static int
dns_name_check(const char *name, int underscore, size_t min_labels,
               const char **error_r)
{
	static const char ldh[] = "abcdefghijklmnopqrstuvwxyz"
	                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
	size_t len, labels = 0;
	const char *p = name;

	if (strnlen(name, DOMAIN_MAX + 1) > DOMAIN_MAX) {
		*error_r = "longer than 253 octets";
		return -1;
	}
	for (;; p += len + 1) {
		len = strspn(p, ldh);
		while (underscore && p[len] == '_')
			len += 1 + strspn(p + len + 1, ldh);
		if (len == 0 || len > LABEL_MAX) {
			*error_r = len == 0 ? "empty label or bad character"
			                    : "label longer than 63 octets";
			return -1;
		}
		if (p[0] == '-' || p[len - 1] == '-') {
			*error_r = "label starts or ends with '-'";
			return -1;
		}
		labels++;
		if (p[len] != '.')
			break;
	}
	if (p[len] != '\0') {
		*error_r = "bad character";
		return -1;
	}
	if (labels < min_labels) {
		*error_r = "needs at least two labels";
		return -1;
	}
	return 0;
}

int
sign_domain_check(const char *domain, const char **error_r)
{
	return dns_name_check(domain, 0, 2, error_r);
}

/*
 * NOTE: RFC 6376's selector ABNF has no '_', but DNS serves such names
 * and verifiers query s= verbatim; OpenDKIM tables in use carry them.
 */
int
sign_selector_check(const char *selector, const char **error_r)
{
	return dns_name_check(selector, 1, 1, error_r);
}

/*
 * Table files
 */

static int __attribute__((format(printf, 2, 3)))
table_error(struct table_reader *tr, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (tr->line > 0)
		*tr->error_r =
		    xasprintf("%s:%d: %s", tr->path, tr->line, reason);
	else
		*tr->error_r = xasprintf("%s: %s", tr->path, reason);
	return -1;
}

/* Strip the "file:" or "refile:" prefix; refuse OpenDKIM's others. */
static const char *
table_path(const char *spec, int *wildcards_r, char **error_r)
{
	size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyz");

	*wildcards_r = 0;
	if (n == 0 || spec[n] != ':')
		return spec;
	if (n == 4 && strncmp(spec, "file", n) == 0)
		return spec + n + 1;
	if (n == 6 && strncmp(spec, "refile", n) == 0) {
		*wildcards_r = 1;
		return spec + n + 1;
	}
	*error_r = xasprintf("%s: table type \"%.*s\" is not supported "
	                     "(file: or refile: only)",
	                     spec, (int)n, spec);
	return NULL;
}

static int
table_open(struct table_reader *tr, const char *spec, int *wildcards_r,
           char **error_r)
{
	memset(tr, 0, sizeof(*tr));
	tr->error_r = error_r;
	tr->path = table_path(spec, wildcards_r, error_r);
	if (tr->path == NULL)
		return -1;
	tr->fp = fopen(tr->path, "re");
	if (tr->fp == NULL)
		return table_error(tr, "cannot open: %s", strerror(errno));
	return 0;
}

static void
table_close(struct table_reader *tr)
{
	if (tr->fp != NULL)
		fclose(tr->fp);
	free(tr->buf);
	tr->fp = NULL;
	tr->buf = NULL;
}

/* Remove the comment and surrounding white space; may return "". */
static char *
line_clean(char *s)
{
	char *p, *end;

	for (p = s; *p != '\0'; p++) {
		if (*p == '#' && (p == s || is_space(p[-1]))) {
			*p = '\0';
			break;
		}
	}
	end = p;
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	return skip_space(s);
}

/* The next line with content: 1, 0 at the end, -1 with the error set. */
static int
table_next(struct table_reader *tr, char **line_r)
{
	ssize_t n;

	for (;;) {
		n = getline(&tr->buf, &tr->cap, tr->fp);
		if (n < 0 && ferror(tr->fp))
			return table_error(tr, "read error: %s",
			                   strerror(errno));
		if (n < 0)
			return 0;
		tr->line++;
		if (n > TABLE_LINE_MAX)
			return table_error(tr, "line longer than %d octets",
			                   TABLE_LINE_MAX);
		if (strlen(tr->buf) != (size_t)n)
			return table_error(tr, "NUL octet in line");
		*line_r = line_clean(tr->buf);
		if (**line_r != '\0')
			return 1;
	}
}

/*
 * Keys
 */

/* Never prompt on the terminal for a passphrase. */
static int
pem_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

EVP_PKEY *
sign_pem_parse(const unsigned char *text, size_t len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pk;

	if (bio == NULL)
		abort(); /* out of memory, as in xmalloc() */
	pk = PEM_read_bio_PrivateKey(bio, NULL, pem_no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return pk;
}

unsigned char *
sign_pem_pkcs8(EVP_PKEY *pk, size_t *len_r)
{
	BIO *bio = xbio_new(BIO_s_secmem());
	unsigned char *out = NULL;
	char *data;
	long n;

	if (PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(bio, &data);
		out = xmalloc((size_t)n + 1);
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
		*len_r = (size_t)n;
	}
	BIO_free(bio);
	ERR_clear_error();
	return out;
}

static void
key_clear(struct sign_key *key)
{
	free(key->name);
	free(key->domain);
	free(key->selector);
	free(key->path);
	if (key->pem != NULL)
		OPENSSL_cleanse(key->pem, key->pemlen);
	free(key->pem);
	memset(key, 0, sizeof(*key));
}

static int
key_file_mode(const struct stat *st, char *why, size_t whylen)
{
	unsigned int mode = (unsigned int)st->st_mode & 07777;

	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -1;
	}
	/* OpenDKIM refuses such keys too unless told otherwise. */
	if ((st->st_mode & (S_IRGRP | S_IROTH)) != 0) {
		snprintf(
		    why, whylen,
		    "key file is readable by group or others (mode %04o); chmod 600",
		    mode);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(
		    why, whylen,
		    "key file is writable by group or others (mode %04o); chmod 600",
		    mode);
		return -1;
	}
	return 0;
}

static int
read_all(int fd, unsigned char *buf, size_t max, size_t *len_r)
{
	size_t len = 0;
	ssize_t n;

	while (len < max) {
		n = read(fd, buf + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_r = len;
	return 0;
}

static unsigned char *
key_fd_read(int fd, size_t *len_r, char *why, size_t whylen)
{
	unsigned char *text;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(why, whylen, "cannot stat: %s", strerror(errno));
		return NULL;
	}
	if (key_file_mode(&st, why, whylen) < 0)
		return NULL;
	if (st.st_size > KEY_FILE_MAX) {
		snprintf(why, whylen, "larger than %d octets", KEY_FILE_MAX);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	if (read_all(fd, text, (size_t)st.st_size, len_r) < 0) {
		snprintf(why, whylen, "read error: %s", strerror(errno));
		free(text);
		return NULL;
	}
	text[*len_r] = '\0';
	return text;
}

/* The checked key file's text, NUL-terminated (wipe it after use). */
static unsigned char *
key_file_read(const char *path, size_t *len_r, char *why, size_t whylen)
{
	unsigned char *text;
	int fd;

	/* O_NONBLOCK: a FIFO must not hang startup; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	text = key_fd_read(fd, len_r, why, whylen);
	close(fd);
	return text;
}

static int
key_type(EVP_PKEY *pk, struct sign_key *key, char *why, size_t whylen)
{
	const char *type;
	int bits;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < RSA_BITS_MIN) {
			snprintf(why, whylen,
			         "RSA key of %d bits; DKIM needs at least %d "
			         "(RFC 8301)",
			         bits, RSA_BITS_MIN);
			return -1;
		}
		key->alg = SIGN_ALG_RSA_SHA256;
		key->bits = (unsigned int)bits;
		return 0;
	case EVP_PKEY_ED25519:
		key->alg = SIGN_ALG_ED25519_SHA256;
		key->bits = 256;
		return 0;
	default:
		type = EVP_PKEY_get0_type_name(pk);
		snprintf(why, whylen,
		         "%s key; DKIM signs with RSA or Ed25519 keys",
		         type != NULL ? type : "unknown");
		return -1;
	}
}

/* Read, check and keep key->path's key.  Sets why on failure. */
static int
key_load(struct sign_key *key, char *why, size_t whylen)
{
	unsigned char *text;
	EVP_PKEY *pk = NULL;
	size_t len = 0;
	int ret = -1;

	text = key_file_read(key->path, &len, why, whylen);
	if (text == NULL)
		return -1;
	if (strstr((char *)text, "ENCRYPTED") != NULL) {
		snprintf(why, whylen, "encrypted keys are not supported");
		goto out;
	}
	pk = sign_pem_parse(text, len);
	if (pk == NULL) {
		snprintf(why, whylen, "no PEM private key found");
		goto out;
	}
	if (key_type(pk, key, why, whylen) < 0)
		goto out;
	key->pem = sign_pem_pkcs8(pk, &key->pemlen);
	if (key->pem == NULL) {
		snprintf(why, whylen, "cannot re-encode the key");
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_free(pk);
	OPENSSL_cleanse(text, len);
	free(text);
	return ret;
}

/*
 * Key table
 */

/* Split "DOMAIN:SELECTOR:KEYFILE" into key; the path may hold ':'. */
static int
keytable_value(struct table_reader *tr, struct sign_key *key, char *value)
{
	char *selector, *path;
	const char *error;

	selector = strchr(value, ':');
	path = selector != NULL ? strchr(selector + 1, ':') : NULL;
	if (path == NULL)
		return table_error(tr, "want DOMAIN:SELECTOR:KEYFILE");
	*selector++ = '\0';
	*path++ = '\0';
	if (strcmp(value, "%") != 0 && sign_domain_check(value, &error) < 0)
		return table_error(tr, "bad domain \"%.100s\": %s", value,
		                   error);
	if (sign_selector_check(selector, &error) < 0)
		return table_error(tr, "bad selector \"%.100s\": %s", selector,
		                   error);
	if (path[0] != '/' && path[0] != '.')
		return table_error(tr, "KEYFILE must be a path starting with "
		                       "'/' or '.' (no inline key data)");
	key->domain = xstrdup(value);
	key->selector = xstrdup(selector);
	key->path = xstrdup(path);
	return 0;
}

static int
keytable_line(struct sign_keytable *kt, struct table_reader *tr, char *line)
{
	struct sign_key key;
	char why[256], *name = field_next(&line);

	memset(&key, 0, sizeof(key));
	line = skip_space(line);
	if (*line == '\0')
		return table_error(tr, "missing DOMAIN:SELECTOR:KEYFILE");
	if (strpbrk(name, ",*") != NULL)
		return table_error(tr, "key name \"%.100s\" holds ',' or '*'",
		                   name);
	if (keytable_value(tr, &key, line) < 0) {
		key_clear(&key);
		return -1;
	}
	if (key_load(&key, why, sizeof(why)) < 0) {
		table_error(tr, "%s: %s", key.path, why);
		key_clear(&key);
		return -1;
	}
	key.name = xstrdup(name);
	kt->v = xreallocarray(kt->v, kt->n + 1, sizeof(*kt->v));
	kt->v[kt->n].key = key;
	kt->v[kt->n].line = tr->line;
	kt->n++;
	return 0;
}

static int
kt_entry_cmp(const void *a, const void *b)
{
	const struct kt_entry *x = a, *y = b;

	return strcmp(x->key.name, y->key.name);
}

/* Sort for sign_keytable_find(); a name given twice is an error. */
static int
keytable_sort(struct sign_keytable *kt, struct table_reader *tr)
{
	const struct kt_entry *a, *b;
	size_t i;

	if (kt->n > 1)
		qsort(kt->v, kt->n, sizeof(*kt->v), kt_entry_cmp);
	for (i = 1; i < kt->n; i++) {
		a = &kt->v[i - 1];
		b = &kt->v[i];
		if (strcmp(a->key.name, b->key.name) != 0)
			continue;
		tr->line = a->line > b->line ? a->line : b->line;
		return table_error(tr,
		                   "duplicate key name \"%s\" "
		                   "(also on line %d)",
		                   a->key.name,
		                   a->line < b->line ? a->line : b->line);
	}
	return 0;
}

struct sign_keytable *
sign_keytable_load(const char *path, char **error_r)
{
	struct table_reader tr;
	struct sign_keytable *kt;
	char *line;
	int wildcards, r;

	/* OpenDKIM configs often say "refile:" for a plain key table. */
	if (table_open(&tr, path, &wildcards, error_r) < 0)
		return NULL;
	kt = xcalloc(1, sizeof(*kt));
	while ((r = table_next(&tr, &line)) > 0) {
		if (keytable_line(kt, &tr, line) < 0) {
			r = -1;
			break;
		}
	}
	if (r == 0)
		r = keytable_sort(kt, &tr);
	table_close(&tr);
	if (r < 0)
		sign_keytable_free(&kt);
	return kt;
}

void
sign_keytable_free(struct sign_keytable **ktp)
{
	struct sign_keytable *kt = *ktp;
	size_t i;

	if (kt == NULL)
		return;
	for (i = 0; i < kt->n; i++)
		key_clear(&kt->v[i].key);
	free(kt->v);
	free(kt);
	*ktp = NULL;
}

size_t
sign_keytable_count(const struct sign_keytable *kt)
{
	return kt->n;
}

const struct sign_key *
sign_keytable_find(const struct sign_keytable *kt, const char *name)
{
	struct kt_entry want, *e;

	if (kt->n == 0)
		return NULL;
	want.key.name = (char *)(uintptr_t)name;
	e = bsearch(&want, kt->v, kt->n, sizeof(*kt->v), kt_entry_cmp);
	return e != NULL ? &e->key : NULL;
}

/*
 * Signing table
 */

static void
st_entry_clear(struct st_entry *e)
{
	free(e->pattern);
	free(e->keys);
	memset(e, 0, sizeof(*e));
}

/* In a plain table '*' is literal except in "*" and "user@*". */
static int
pattern_check(struct table_reader *tr, const char *pattern)
{
	const char *star = strchr(pattern, '*');
	size_t len = strlen(pattern);

	if (star == NULL)
		return 0;
	if (star == pattern + len - 1 && (len == 1 || star[-1] == '@'))
		return 0;
	return table_error(tr,
	                   "'*' in \"%.100s\" is a wildcard only in "
	                   "refile: tables (here only \"*\" and "
	                   "\"user@*\")",
	                   pattern);
}

/* Resolve the comma-separated names into e->keys. */
static int
entry_keys(struct st_entry *e, const struct sign_keytable *kt,
           struct table_reader *tr, const char *names)
{
	char *copy = xstrdup(names), *p = copy, *name;
	const struct sign_key *key;
	size_t i;
	int ret = -1;

	e->keys = xreallocarray(NULL, strlen(names) / 2 + 1, sizeof(*e->keys));
	while ((name = strsep(&p, ",")) != NULL) {
		if (*name == '\0') {
			table_error(tr, "empty key name in \"%.100s\"", names);
			goto out;
		}
		key = sign_keytable_find(kt, name);
		if (key == NULL) {
			table_error(tr, "unknown key name \"%.100s\"", name);
			goto out;
		}
		for (i = 0; i < e->nkeys && e->keys[i] != key; i++)
			;
		if (i < e->nkeys) {
			table_error(tr, "key \"%.100s\" named twice", name);
			goto out;
		}
		e->keys[e->nkeys++] = key;
	}
	ret = 0;
out:
	free(copy);
	return ret;
}

static int
signtable_line(struct sign_signtable *st, const struct sign_keytable *kt,
               struct table_reader *tr, char *line)
{
	struct st_entry e;
	char *pattern = field_next(&line), *names = field_next(&line);

	/* A third column, OpenDKIM's signer identity (i=), is ignored. */
	if (names == NULL)
		return table_error(tr, "missing key name");
	if (!st->wildcards && pattern_check(tr, pattern) < 0)
		return -1;
	memset(&e, 0, sizeof(e));
	e.pattern = xstrdup(pattern);
	ascii_lower(e.pattern);
	e.line = tr->line;
	if (entry_keys(&e, kt, tr, names) < 0) {
		st_entry_clear(&e);
		return -1;
	}
	st->v = xreallocarray(st->v, st->n + 1, sizeof(*st->v));
	st->v[st->n++] = e;
	return 0;
}

static int
st_entry_cmp(const void *a, const void *b)
{
	const struct st_entry *x = a, *y = b;

	return strcmp(x->pattern, y->pattern);
}

/* Sort a plain table for lookups; a pattern given twice is an error. */
static int
signtable_sort(struct sign_signtable *st, struct table_reader *tr)
{
	const struct st_entry *a, *b;
	size_t i;

	if (st->n > 1)
		qsort(st->v, st->n, sizeof(*st->v), st_entry_cmp);
	for (i = 1; i < st->n; i++) {
		a = &st->v[i - 1];
		b = &st->v[i];
		if (strcmp(a->pattern, b->pattern) != 0)
			continue;
		tr->line = a->line > b->line ? a->line : b->line;
		return table_error(tr,
		                   "duplicate pattern \"%.100s\" "
		                   "(also on line %d)",
		                   a->pattern,
		                   a->line < b->line ? a->line : b->line);
	}
	return 0;
}

struct sign_signtable *
sign_signtable_load(const char *path, const struct sign_keytable *kt,
                    char **error_r)
{
	struct table_reader tr;
	struct sign_signtable *st;
	char *line;
	int wildcards, r;

	if (table_open(&tr, path, &wildcards, error_r) < 0)
		return NULL;
	st = xcalloc(1, sizeof(*st));
	st->wildcards = wildcards;
	while ((r = table_next(&tr, &line)) > 0) {
		if (signtable_line(st, kt, &tr, line) < 0) {
			r = -1;
			break;
		}
	}
	if (r == 0 && !st->wildcards)
		r = signtable_sort(st, &tr);
	table_close(&tr);
	if (r < 0)
		sign_signtable_free(&st);
	return st;
}

void
sign_signtable_free(struct sign_signtable **stp)
{
	struct sign_signtable *st = *stp;
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++)
		st_entry_clear(&st->v[i]);
	free(st->v);
	free(st);
	*stp = NULL;
}

/*
 * Lookup
 */

static const struct st_entry *
flat_find(const struct sign_signtable *st, const char *key)
{
	struct st_entry want;

	if (st->n == 0)
		return NULL;
	want.pattern = (char *)(uintptr_t)key;
	return bsearch(&want, st->v, st->n, sizeof(*st->v), st_entry_cmp);
}

/* OpenDKIM's order; addr is lowercased, addr[userlen] is its '@'. */
static const struct st_entry *
flat_match(const struct sign_signtable *st, const char *addr, size_t userlen)
{
	const char *host = addr + userlen + 1, *p;
	const struct st_entry *e;
	char key[ADDRESS_MAX + 3];

	if ((e = flat_find(st, addr)) != NULL ||
	    (e = flat_find(st, host)) != NULL)
		return e;
	for (p = strchr(host, '.'); p != NULL; p = strchr(p + 1, '.')) {
		snprintf(key, sizeof(key), "%.*s@%s", (int)userlen, addr, p);
		if ((e = flat_find(st, key)) != NULL)
			return e;
	}
	for (p = strchr(host, '.'); p != NULL; p = strchr(p + 1, '.')) {
		if ((e = flat_find(st, p)) != NULL)
			return e;
	}
	snprintf(key, sizeof(key), "%.*s@*", (int)userlen, addr);
	if ((e = flat_find(st, key)) != NULL)
		return e;
	return flat_find(st, "*");
}

/* '*' matches any run of characters; everything else itself. */
static int
glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static const struct st_entry *
glob_first(const struct sign_signtable *st, const char *addr)
{
	size_t i;

	for (i = 0; i < st->n; i++) {
		if (glob_match(st->v[i].pattern, addr))
			return &st->v[i];
	}
	return NULL;
}

static size_t
entry_choices(const struct st_entry *e, const char *host,
              struct sign_choice *choices, size_t max)
{
	const struct sign_key *key;
	const char *domain, *error;
	size_t i, n = 0;
	int host_ok = sign_domain_check(host, &error) == 0;

	for (i = 0; i < e->nkeys && n < max; i++) {
		key = e->keys[i];
		domain = strcmp(key->domain, "%") == 0 ? host : key->domain;
		if (domain == host && !host_ok)
			continue;
		choices[n].key = key;
		snprintf(choices[n].domain, sizeof(choices[n].domain), "%s",
		         domain);
		n++;
	}
	return n;
}

size_t
sign_signtable_lookup(const struct sign_signtable *st, const char *address,
                      struct sign_choice *choices, size_t max)
{
	char addr[ADDRESS_MAX + 1];
	const struct st_entry *e;
	const char *at;
	size_t len = strnlen(address, ADDRESS_MAX + 1);

	if (len > ADDRESS_MAX || max == 0)
		return 0;
	memcpy(addr, address, len + 1);
	ascii_lower(addr);
	at = strrchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0')
		return 0;
	if (st->wildcards)
		e = glob_first(st, addr);
	else
		e = flat_match(st, addr, (size_t)(at - addr));
	return e != NULL ? entry_choices(e, at + 1, choices, max) : 0;
}
