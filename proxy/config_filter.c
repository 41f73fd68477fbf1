/*
 * config_filter.c - check the filter sections of the configuration.
 *
 * All filter sections share one grammar holding every filter's options
 * (see config_cfg_new() in config.c), so these validators make sure a
 * section sets only options its filter owns (config_build.c's table),
 * check the values of the filters' string options, and check each
 * section as it closes: a known filter, and the filter that must come
 * last coming last.  Numbers, enumerated words, host names and paths
 * are checked by config.c's validators, which the other sections use
 * too; building the filters is config_build.c's.  Errors go to
 * config_parse_error() with the offending line.
 */
#include <stdio.h>
#include <string.h>

#include <confuse.h>

#include "proxy/config_private.h"

/*
 * Every filter section has every filter's options, so one set in a
 * section of a filter that does not take it is an error.  Unknown
 * filters are reported when their section closes.
 */
static int
filter_option_foreign(cfg_t *sec, cfg_opt_t *opt, int line)
{
	const struct filter_maker *m = filter_maker_find(cfg_title(sec));

	if (m == NULL || filter_maker_accepts(m, opt->name))
		return 0;
	config_parse_error(config_parse_current(), line,
	                   "filter %s: option '%s' does not belong to this "
	                   "filter",
	                   m->name, opt->name);
	return 1;
}

/* A header field name (RFC 5322 3.6.8: printable ASCII but ':'). */
static int
field_name_check_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *value = config_opt_last_str(opt);
	size_t len, i;

	if (value == NULL)
		return 0;
	len = strlen(value);
	for (i = 0; i < len; i++) {
		if (value[i] <= ' ' || value[i] >= 127 || value[i] == ':')
			break;
	}
	if (len > 0 && len <= CONFIG_NAME_MAX && i == len)
		return 0;
	cfg_error(cfg, "%s: invalid header field name '%s'", opt->name, value);
	return -1;
}

/* Checks of the filter options' values, after filter_option_foreign();
 * numbers were checked by config.c's num_cb() while parsing. */
static const struct {
	const char *name;
	cfg_validate_callback_t cb;
} filter_option_checks[] = {
    {"dns_error", config_enum_check_cb},
    {"authserv_id", config_hostname_check_cb},
    {"key_table", config_path_check_cb},
    {"signing_table", config_path_check_cb},
    {"canonicalization", config_enum_check_cb},
    {"sign_headers", field_name_check_cb},
    {"oversign_headers", field_name_check_cb},
    {"missing_from", config_enum_check_cb},
    {"long_header_lines", config_enum_check_cb},
    {"on_fail", config_enum_check_cb},
    {"on_softfail", config_enum_check_cb},
    {"on_permerror", config_enum_check_cb},
    {"on_temperror", config_enum_check_cb},
    {"trusted_forwarders", config_cidr_check_cb},
    {"on_reject", config_enum_check_cb},
    {"on_quarantine", config_enum_check_cb},
    {"psl_file", config_path_check_cb},
    {"record_file", config_path_check_cb},
    {"rules", config_path_check_cb},
    {"tag_score", config_score_check_cb},
    {"hold_score", config_score_check_cb},
    {"reject_score", config_score_check_cb},
    {"outbound_tag_score", config_score_check_cb},
    {"outbound_hold_score", config_score_check_cb},
    {"outbound_reject_score", config_score_check_cb},
};

/* Set as the validator of every filter option, to name its line. */
static int
filter_option_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	size_t i;

	if (filter_option_foreign(cfg, opt, cfg->line))
		return -1;
	for (i = 0;
	     i < sizeof(filter_option_checks) / sizeof(filter_option_checks[0]);
	     i++) {
		if (strcmp(filter_option_checks[i].name, opt->name) == 0)
			return filter_option_checks[i].cb(cfg, opt);
	}
	return 0;
}

/* libconfuse runs no validator for an empty list ("x = {}"), so at the
 * end of the section every option set (libconfuse marks it modified)
 * is checked once more. */
static int
filter_options_check(cfg_t *sec)
{
	unsigned int i;

	for (i = 0; i < cfg_num(sec); i++) {
		cfg_opt_t *opt = cfg_getnopt(sec, i);

		if ((opt->flags & CFGF_MODIFIED) == 0 ||
		    strcmp(opt->name, CONFIG_SECTION_LINE) == 0)
			continue;
		if (filter_option_foreign(sec, opt, config_section_line(sec)))
			return -1;
	}
	return 0;
}

static int
filter_done_cb(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = config_section_last(opt), *prev;
	const struct filter_maker *m;

	if (filter_maker_find(cfg_title(sec)) == NULL) {
		config_parse_error(config_parse_current(),
		                   config_section_line(sec),
		                   "unknown filter '%s'", cfg_title(sec));
		return -1;
	}
	if (filter_options_check(sec) < 0)
		return -1;
	if (cfg_opt_size(opt) < 2)
		return 0;
	prev = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 2);
	m = filter_maker_find(cfg_title(prev));
	if ((m->flags & FILTER_MAKER_LAST) == 0)
		return 0;
	config_parse_error(config_parse_current(), config_section_line(prev),
	                   "%s must be the last filter: it signs the final "
	                   "message",
	                   m->name);
	return -1;
}

void
config_filter_validators_set(cfg_t *root)
{
	cfg_opt_t *opt;
	char path[64];

	cfg_set_validate_func(root, "filter", filter_done_cb);
	for (opt = cfg_getopt(root, "filter")->subopts; opt->name != NULL;
	     opt++) {
		if (strcmp(opt->name, CONFIG_SECTION_LINE) == 0)
			continue;
		snprintf(path, sizeof(path), "filter|%s", opt->name);
		cfg_set_validate_func(root, path, filter_option_cb);
	}
}
