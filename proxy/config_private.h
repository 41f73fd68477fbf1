/*
 * config_private.h - what config.c, config_filter.c, config_build.c and
 * config_print.c share; included by nothing else.
 *
 * The parser (config.c) owns the load in progress, the word tables of
 * the enumerated options and the number formats; the checks of the
 * filter sections (config_filter.c) use its validators; the builder
 * (config_build.c) owns the filter table and the struct config's memory;
 * the printer (config_print.c) only reads.
 */
#ifndef POSTERN_CONFIG_PRIVATE_H
#define POSTERN_CONFIG_PRIVATE_H

#include <stddef.h>

#include <confuse.h>

struct config;

/* One load in progress. */
struct config_parse {
	const char *path; /* as the caller gave it, for messages */
	cfg_t *root;
	char *error; /* the first error; later ones are only consequences */
};

/*
 * Record "path:line: reason" (or "path: reason" if line is 0) in
 * p->error, unless an error is already there: later ones are only
 * consequences of the first.
 */
void __attribute__((format(printf, 3, 4)))
config_parse_error(struct config_parse *p, int line, const char *fmt, ...);

/* The load in progress while libconfuse runs the validators, else
 * NULL. */
struct config_parse *config_parse_current(void);

/* Hidden option of every section, holding the line it starts on. */
#define CONFIG_SECTION_LINE "__section_line"

/* The line a section starts on, for errors about the whole section. */
int config_section_line(cfg_t *sec);
/* The section just closed: the last of opt's. */
cfg_t *config_section_last(cfg_opt_t *opt);

/* The value just parsed: a list's validator runs after every element
 * and again at the closing brace; NULL for an empty list. */
const char *config_opt_last_str(cfg_opt_t *opt);

/*
 * Validators (cfg_validate_callback_t) of config.c that the filter
 * options share: a word of the option's table, a host name
 * (config_hostname_ok()), a non-empty path.  Each reports by
 * cfg_error() and returns 0 or -1.
 */
int config_enum_check_cb(cfg_t *cfg, cfg_opt_t *opt);
int config_hostname_check_cb(cfg_t *cfg, cfg_opt_t *opt);
int config_path_check_cb(cfg_t *cfg, cfg_opt_t *opt);
int config_score_check_cb(cfg_t *cfg, cfg_opt_t *opt);
/* A spam threshold: a number into *score_r, or "off" as -1 (see
 * FILTER_SPAM_OFF).  Returns 0, or -1 on bad syntax. */
int config_score_parse(const char *s, double *score_r);
/* An octal file mode up to 0777 ("0660") into *mode_r: 0, or -1. */
int config_octal_mode(const char *text, unsigned int *mode_r);
/* A list element that is an address or CIDR network (netlist_add()). */
int config_cidr_check_cb(cfg_t *cfg, cfg_opt_t *opt);

/* Set the validators of the filter sections and of their options on a
 * new tree (config_filter.c). */
void config_filter_validators_set(cfg_t *root);

/* config_tls.c: validators of the tls section and of listeners' tls
 * option; the build of both once the listeners are built (the TLS
 * context, each listener's mode): 0, or -1 with the reason recorded in
 * p; config_tls_free() frees the section; config_tls_print() writes
 * the -t lines.  The words of the two enumerated options. */
void config_tls_validators_set(cfg_t *root);
int config_tls_build(struct config_parse *p, struct config *c, cfg_t *root);
struct config_tls;
void config_tls_free(struct config_tls **t);
void config_tls_print(const struct config *c);
extern const char *const config_tls_mode_words[];
extern const char *const config_tls_verify_words[];

/* config_upstream.c: validators of the upstream's tls and source
 * options and of listeners' source_address; then, once listeners and
 * the upstream address are built, build those options into c (the TLS
 * context, source addresses, source table): 0, or -1 with the reason
 * recorded in p.  config_upstream_free() frees what the build made. */
void config_upstream_validators_set(cfg_t *root);
int config_upstream_build(struct config_parse *p, struct config *c,
                          cfg_t *root);
void config_upstream_free(struct config *c);

/* The longest host name or header field name. */
#define CONFIG_NAME_MAX 255

/* A host name we accept: 1..255 of letters, digits, '.', '-', '_'. */
int config_hostname_ok(const char *s);

/* Seconds per DNS query when the file does not say. */
#define CONFIG_DNS_TIMEOUT 5

/* Numbers: counts, sizes (binary units) and durations (seconds). */
enum num_kind {
	NUM_COUNT = 0,
	NUM_SIZE,
	NUM_DURATION,
};

/* Format n into buf in the largest unit that divides it; returns buf. */
char *config_num_format(char *buf, size_t size, enum num_kind kind,
                        unsigned long long n);

/* Words of the enumerated options, NULL-terminated; each word's index
 * is the value it stands for.  config_trace_bits[] parallels
 * config_trace_words[]. */
extern const char *const config_target_words[];
extern const char *const config_level_words[];
extern const char *const config_trace_words[];
extern const unsigned int config_trace_bits[];
extern const char *const config_identity_words[];
extern const char *const config_bare_eol_words[];
extern const char *const config_upstream_tls_words[];
/* The filters' enumerated options, defined in config_build.c next to
 * the filters' enums they stand for; canonicalization's index is
 * 2 * (header relaxed) + (body relaxed). */
extern const char *const config_dns_error_words[];
extern const char *const config_canon_words[];
extern const char *const config_missing_from_words[];
extern const char *const config_long_lines_words[];
/* spf: config_spf_action_words[] maps every action to its enum; the
 * other two are the words each option accepts. */
extern const char *const config_spf_action_words[];
extern const char *const config_spf_result_words[];
extern const char *const config_spf_temperror_words[];
extern const char *const config_dmarc_action_words[];

/* The index of s in words, or -1. */
int config_word_index(const char *const *words, const char *s);

/*
 * A filter the file may name: the options its section accepts and the
 * constructor that adds it to the chain.  add() reads sec and what
 * cfg holds so far (hostname, dns), and returns 0 with the filter's
 * settings for the summary (allocated, "" for none) in *settings_r, or
 * -1 with an allocated reason in *error_r.  The table is in
 * config_build.c.
 */
struct filter_chain;

#define FILTER_MAKER_DNS  (1u << 0) /* needs the resolver */
#define FILTER_MAKER_LAST (1u << 1) /* must be the last filter */

struct filter_maker {
	const char *name;
	const char *const *options; /* NULL-terminated */
	unsigned int flags;         /* FILTER_MAKER_* */
	int (*add)(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
	           char **settings_r, char **error_r);
};

/* A filter may hold messages: quarantine_dir must be a directory.
 * Returns 0, or -1 with an allocated reason. */
int config_quarantine_check(const struct config *cfg, char **error_r);

/* The spam filter's maker (config_spam.c). */
int config_make_spam(struct filter_chain *chain, struct config *cfg, cfg_t *sec,
                     char **settings_r, char **error_r);

/* The filter of that name, or NULL. */
const struct filter_maker *filter_maker_find(const char *name);
/* 1 if a section of filter m may set option, else 0. */
int filter_maker_accepts(const struct filter_maker *m, const char *option);

/*
 * Make a struct config with one reference from the checked tree root.
 * Returns NULL with the reason recorded in p.  root is only read.
 */
struct config *config_build(struct config_parse *p, cfg_t *root);

/* Free c and everything it holds, whatever its reference count. */
void config_free(struct config *c);

#endif
