/*
 * config_tls.c - the tls section and the listeners' tls option.
 *
 * Checks each file the tls section names while it is parsed, so that
 * an unreadable certificate is reported on its own line; makes the
 * OpenSSL context (tls.c) when the configuration is built, which is
 * where a key that does not match its certificate is found; decides
 * each listener's TLS mode; prints it all for -t.  Errors go to
 * config_parse_error() like the parser's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "proxy/config.h"
#include "proxy/config_private.h"
#include "proxy/tls.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* RFC 8314 3.3: port 465 is implicit TLS. */
#define SUBMISSIONS_PORT 465

const char *const config_tls_mode_words[] = {
    [CONFIG_TLS_NONE] = "none",
    [CONFIG_TLS_STARTTLS] = "starttls",
    [CONFIG_TLS_IMPLICIT] = "implicit",
    [CONFIG_TLS_IMPLICIT + 1] = NULL,
};

const char *const config_tls_verify_words[] = {
    [CONFIG_TLS_VERIFY_NONE] = "none",
    [CONFIG_TLS_VERIFY_OPTIONAL] = "optional",
    [CONFIG_TLS_VERIFY_REQUIRE] = "require",
    [CONFIG_TLS_VERIFY_REQUIRE + 1] = NULL,
};

const char *
config_tls_mode_name(enum config_tls_mode mode)
{
	return config_tls_mode_words[mode];
}

/* Validators: each file is read now, so its line is known. */

/* A PEM file: the key option's holds a private key, the others'
 * certificates. */
static int
tls_file_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt), *reason;
	int rc;

	if (value == NULL)
		return 0;
	rc = strcmp(opt->name, "key") == 0
	         ? tls_key_file_check(value, &reason)
	         : tls_cert_file_check(value, &reason);
	if (rc == 0)
		return 0;
	cfg_error(cfg, "%s: %s: %s", opt->name, value, reason);
	return -1;
}

static int
tls_ciphers_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	int suites = strcmp(opt->name, "ciphersuites") == 0;

	if (value == NULL)
		return 0;
	if ((suites ? tls_ciphersuites_check(value)
	            : tls_ciphers_check(value)) == 0)
		return 0;
	cfg_error(cfg, "%s: no usable %s in '%s'", opt->name,
	          suites ? "suite" : "cipher", value);
	return -1;
}

/* At the closing brace: once, with a certificate and a key, and a CA
 * file when client certificates are asked for. */
static int
tls_section_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	struct config_parse *p = config_parse_current();
	cfg_t *sec = config_section_last(opt);
	int line = config_section_line(sec);
	const char *verify = cfg_getstr(sec, "verify_client");

	if (cfg_opt_size(opt) > 1) {
		config_parse_error(p, line, "duplicate tls section");
		return -1;
	}
	if (cfg_getstr(sec, "certificate") == NULL) {
		config_parse_error(p, line, "tls: no certificate");
		return -1;
	}
	if (cfg_getstr(sec, "key") == NULL) {
		config_parse_error(p, line, "tls: no key");
		return -1;
	}
	if (strcmp(verify, "none") != 0 && cfg_getstr(sec, "ca_file") == NULL) {
		config_parse_error(
		    p, line, "tls: verify_client %s needs ca_file", verify);
		return -1;
	}
	return 0;
}

static const struct {
	const char *path;
	cfg_validate_callback_t cb;
} tls_validators[] = {
    {"tls", tls_section_cb},
    {"tls|certificate", tls_file_check_cb},
    {"tls|key", tls_file_check_cb},
    {"tls|chain", tls_file_check_cb},
    {"tls|ca_file", tls_file_check_cb},
    {"tls|verify_client", config_enum_check_cb},
    {"tls|min_version", config_enum_check_cb},
    {"tls|ciphers", tls_ciphers_check_cb},
    {"tls|ciphersuites", tls_ciphers_check_cb},
    {"listener|tls", config_enum_check_cb},
};

void
config_tls_validators_set(cfg_t *root)
{
	size_t i;

	for (i = 0; i < sizeof(tls_validators) / sizeof(tls_validators[0]); i++)
		cfg_set_validate_func(root, tls_validators[i].path,
		                      tls_validators[i].cb);
}

/* Building. */

static char *
tls_str_copy(cfg_t *sec, const char *name)
{
	const char *v = cfg_getstr(sec, name);

	return v != NULL ? xstrdup(v) : NULL;
}

static int
tls_build_section(struct config_parse *p, struct config *c, cfg_t *sec)
{
	struct config_tls *t = xcalloc(1, sizeof(*t));
	char *error;

	c->tls = t;
	t->certificate = tls_str_copy(sec, "certificate");
	t->key = tls_str_copy(sec, "key");
	t->chain = tls_str_copy(sec, "chain");
	t->ca_file = tls_str_copy(sec, "ca_file");
	t->ciphers = tls_str_copy(sec, "ciphers");
	t->ciphersuites = tls_str_copy(sec, "ciphersuites");
	t->verify_client = (enum config_tls_verify)config_word_index(
	    config_tls_verify_words, cfg_getstr(sec, "verify_client"));
	t->min_version = tls_version_parse(cfg_getstr(sec, "min_version"));
	t->handshake_timeout =
	    (unsigned int)cfg_getint(sec, "handshake_timeout");
	t->server = tls_server_new(t, &error);
	if (t->server != NULL)
		return 0;
	config_parse_error(p, config_section_line(sec), "tls: %s", error);
	free(error);
	return -1;
}

/* Without a word: starttls when there is a tls section (implicit on
 * port 465), else none. */
static int
tls_build_listener(struct config_parse *p, struct config *c, cfg_t *sec,
                   struct config_listener *l)
{
	const char *word = cfg_getstr(sec, "tls");

	if (word == NULL) {
		if (c->tls == NULL)
			l->tls = CONFIG_TLS_NONE;
		else if (netaddr_port(&l->addr) == SUBMISSIONS_PORT)
			l->tls = CONFIG_TLS_IMPLICIT;
		else
			l->tls = CONFIG_TLS_STARTTLS;
		return 0;
	}
	l->tls = (enum config_tls_mode)config_word_index(config_tls_mode_words,
	                                                 word);
	if (l->tls == CONFIG_TLS_NONE || c->tls != NULL)
		return 0;
	config_parse_error(p, config_section_line(sec),
	                   "listener %s: tls = %s needs a tls section", l->name,
	                   word);
	return -1;
}

int
config_tls_build(struct config_parse *p, struct config *c, cfg_t *root)
{
	size_t i;

	if (cfg_size(root, "tls") > 0 &&
	    tls_build_section(p, c, cfg_getsec(root, "tls")) < 0)
		return -1;
	for (i = 0; i < c->nlisteners; i++) {
		cfg_t *sec = cfg_getnsec(root, "listener", (unsigned int)i);

		if (tls_build_listener(p, c, sec, &c->listeners[i]) < 0)
			return -1;
	}
	return 0;
}

void
config_tls_free(struct config_tls **tp)
{
	struct config_tls *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	tls_server_free(&t->server);
	free(t->certificate);
	free(t->key);
	free(t->chain);
	free(t->ca_file);
	free(t->ciphers);
	free(t->ciphersuites);
	free(t);
}

/* The summary. */

static const char *
or_word(const char *s, const char *word)
{
	return s != NULL ? s : word;
}

void
config_tls_print(const struct config *c)
{
	const struct config_tls *t = c->tls;
	char d[32], cert[512];
	size_t i;

	if (t == NULL) {
		printf("tls none\n");
		return;
	}
	printf("tls certificate %s key %s chain %s ca_file %s\n",
	       t->certificate, t->key, or_word(t->chain, "none"),
	       or_word(t->ca_file, "none"));
	printf("tls verify_client %s min_version %s ciphers %s "
	       "ciphersuites %s handshake_timeout %s\n",
	       config_tls_verify_words[t->verify_client],
	       tls_version_name(t->min_version), or_word(t->ciphers, "default"),
	       or_word(t->ciphersuites, "default"),
	       config_num_format(d, sizeof(d), NUM_DURATION,
	                         t->handshake_timeout));
	printf("tls served %s\n",
	       tls_server_describe(t->server, cert, sizeof(cert)));
	printf("tls listeners");
	for (i = 0; i < c->nlisteners; i++)
		printf(" %s=%s", c->listeners[i].name,
		       config_tls_mode_words[c->listeners[i].tls]);
	printf("\n");
}
