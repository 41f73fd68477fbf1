/*
 * sign_keys.h - DKIM signing keys and the tables that choose them.
 *
 * The key table and the signing table have OpenDKIM's formats and
 * meaning, so OpenDKIM users can bring theirs:
 *
 *   key table:      NAME  DOMAIN:SELECTOR:/path/to/key.private
 *   signing table:  PATTERN  NAME[,NAME...]
 *
 * DOMAIN may be "%": the domain of the address that was looked up.  A
 * signing table is looked up with the From address: "user@host", then
 * "host", then "user@.parent" for every parent domain from the nearest
 * up, then ".parent" likewise, then "user@*", then "*"; the first entry
 * that matches wins.  For user@a.example.com that is user@a.example.com,
 * a.example.com, user@.example.com, user@.com, .example.com, .com,
 * user@*, *.  In a table read with the "refile:" prefix the patterns are
 * wildcards ('*' matches any run of characters) matched against the
 * whole address and tried in file order.  "file:" names a plain table
 * explicitly; OpenDKIM's other table types are refused.
 *
 * Lines are whitespace-separated fields; '#' at the start of a line or
 * after white space begins a comment.  A key table's KEYFILE is the rest
 * of its line and must be a path (starting with '/' or '.'), not inline
 * key data.  A signing table's third column (OpenDKIM's signer identity
 * for i=) is accepted and ignored.  Naming several keys in one entry,
 * comma-separated, is postern's extension: one message can then carry an
 * RSA-SHA256 and an Ed25519-SHA256 signature of the same domain.  Key
 * names are case-sensitive and contain no ',' or '*'; addresses and
 * patterns are compared case-insensitively (ASCII), local part included.
 *
 * Keys are read and checked at load time: a key file that cannot be
 * read, is readable or writable by group or others, is encrypted, holds
 * no RSA or Ed25519 key, or an RSA key under 1024 bits, is an error
 * naming the table line and the file, never a surprise while mail flows.
 * Loaded tables are read-only and may be used from any thread.  Knows
 * nothing of sessions or of how signatures are made.
 */
#ifndef POSTERN_SIGN_KEYS_H
#define POSTERN_SIGN_KEYS_H

#include <stddef.h>

enum sign_alg {
	SIGN_ALG_RSA_SHA256 = 0,
	SIGN_ALG_ED25519_SHA256,
};

struct sign_key {
	char *name;   /* the key table's first column */
	char *domain; /* "%" or a domain */
	char *selector;
	char *path;
	enum sign_alg alg;
	unsigned int bits;  /* RSA modulus size; 256 for Ed25519 */
	unsigned char *pem; /* the key as unencrypted PKCS#8 PEM (re-encoded
	                       from the file), NUL-terminated, as
	                       libopendkim's dkim_sign() wants it */
	size_t pemlen;      /* without the NUL */
};

struct sign_keytable;
struct sign_signtable;

/*
 * Read a key table ("file:" or "refile:" prefix allowed; both are plain
 * tables here) and every key it names.  Returns NULL with an allocated
 * "file:line: reason", "file:line: keyfile: reason" or "file: reason"
 * in *error_r.
 */
struct sign_keytable *sign_keytable_load(const char *path, char **error_r);
/* Frees the table, wipes the key material, sets *kt to NULL. */
void sign_keytable_free(struct sign_keytable **kt);
size_t sign_keytable_count(const struct sign_keytable *kt);
/* The key called name, or NULL; points into kt. */
const struct sign_key *sign_keytable_find(const struct sign_keytable *kt,
                                          const char *name);

/*
 * Read a signing table ("refile:" prefix for wildcard patterns) whose
 * key names must all be in kt (kept, must outlive the table).  Returns
 * NULL with an allocated "file:line: reason" (or "file: reason") in
 * *error_r.  A plain table may not hold a pattern twice, nor a '*'
 * other than in "*" and "user@*".
 */
struct sign_signtable *sign_signtable_load(const char *path,
                                           const struct sign_keytable *kt,
                                           char **error_r);
void sign_signtable_free(struct sign_signtable **st);

/* What to sign with, for one key of a matching entry. */
struct sign_choice {
	const struct sign_key *key; /* points into the key table */
	char domain[256];           /* the d= domain, "%" replaced */
};

/*
 * Look up address (user@domain, as in the From header; the last '@'
 * splits it; at most 512 octets).  Fills up to max choices in the
 * entry's order and returns how many (0: no entry, do not sign).  A key
 * whose domain is "%" is left out when the address's domain is not a
 * valid DKIM domain (sign_domain_check()); the domain is lowercased.
 */
size_t sign_signtable_lookup(const struct sign_signtable *st,
                             const char *address, struct sign_choice *choices,
                             size_t max);

/*
 * Generate a key for `postern keygen`: write the private key as PKCS#8
 * PEM to keyfile (created with mode 0600, never overwriting) and put the
 * DNS TXT record text ("v=DKIM1; k=rsa; p=...") into an allocated
 * *txt_r.  bits is for RSA (2048 if 0; 1024 to 4096, the sizes RFC 8301
 * verifiers must handle); 0 or 256 for Ed25519.  Returns 0, or -1 with
 * an allocated reason in *error_r.
 */
int sign_keygen(enum sign_alg alg, unsigned int bits, const char *keyfile,
                char **txt_r, char **error_r);

/*
 * The public-key TXT record text for a loaded key: "v=DKIM1; k=rsa;
 * p=<base64 SubjectPublicKeyInfo>" or "v=DKIM1; k=ed25519; p=<base64 of
 * the 32-octet key>" (RFC 8463); allocated.  NULL only if OpenSSL
 * fails on a key it parsed at load time.
 */
char *sign_key_txt(const struct sign_key *key);

/*
 * The zone-file line publishing txt (from sign_keygen() or
 * sign_key_txt(), so free of '"' and '\\'):
 * SELECTOR._domainkey.DOMAIN. IN TXT ( "..." "..." ), the text split
 * into strings of at most 255 octets (RFC 1035 character-strings);
 * allocated.
 */
char *sign_key_zone_line(const char *selector, const char *domain,
                         const char *txt);

/*
 * Whether domain is usable as d= (RFC 6376 domain-name: at least two
 * labels of letters, digits and inner '-', at most 253 octets), and
 * selector as s= (the same, one label is enough, '_' allowed).  Return
 * 0, or -1 with a static reason in *error_r.
 */
int sign_domain_check(const char *domain, const char **error_r);
int sign_selector_check(const char *selector, const char **error_r);

#endif
