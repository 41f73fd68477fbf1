/*
 * spam_rules_cond.c - the conditions of if and ifplugin lines.
 *
 * Evaluated as SpamAssassin's Conf::Parser does: plugin(NAME) is true
 * for a plugin loaded (by the options or a loadplugin line; full or
 * short names), can(Module::method) and has() for the Conf features and
 * plugin methods of SpamAssassin 4.0.1 that postern follows (and
 * compat_ flags of enable_compat lines), version is 4.000001,
 * perl_version 5.036, local_tests_only 1.  A condition that does not
 * parse is false.
 */
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

#define SA_PLUGIN_PREFIX "Mail::SpamAssassin::Plugin::"

const char *
spam_plugin_short(const char *name)
{
	if (strncmp(name, SA_PLUGIN_PREFIX, strlen(SA_PLUGIN_PREFIX)) == 0)
		return name + strlen(SA_PLUGIN_PREFIX);
	return name;
}

int
spam_load_plugin(const struct spam_load *ld, const char *name)
{
	const char *want = spam_plugin_short(name);
	const struct spam_map_slot *slot;
	size_t i;

	/* renamed or removed in 4.x, as Conf/Parser.pm takes them */
	if (strcmp(want, "Dmarc") == 0)
		want = "DMARC";
	else if (strcmp(want, "WhiteListSubject") == 0)
		want = "WelcomeListSubject";
	else if (strcmp(want, "RaciallyCharged") == 0)
		return 1;
	for (i = 0; i < ld->opts->nplugins; i++) {
		if (strcmp(spam_plugin_short(ld->opts->plugins[i]), want) == 0)
			return 1;
	}
	slot = spam_map_get(&ld->plugins, want);
	return slot != NULL;
}

/*
 * Conf's features in SpamAssassin 4.0.1, but those whose syntax postern
 * does not run: feature_get_host and feature_header_first_last (:host,
 * :first...).  With feature_capture_rules, rules may name captures
 * (PCRE2 takes them); the rules using %{TAG} templates are skipped.
 */
static const char *const conf_features[] = {
    "feature_originating_ip_headers",
    "feature_dns_local_ports_permit_avoid",
    "feature_bayes_auto_learn_on_error",
    "feature_uri_host_listed",
    "feature_yesno_takes_args",
    "feature_bug6558_free",
    "feature_edns",
    "feature_dns_query_restriction",
    "feature_registryboundaries",
    "feature_geodb",
    "feature_dns_block_rule",
    "feature_compile_regexp",
    "feature_meta_rules_matching",
    "feature_subjprefix",
    "feature_bayes_stopwords",
    "feature_blocklist_welcomelist",
    "feature_welcomelist_blocklist",
    "feature_header_address_parser",
    "feature_local_tests_only",
    "feature_header_match_many",
    "feature_capture_rules",
    "has_tflags_nosubject",
    "has_tflags_nolog",
    "perl_min_version_5010000",
    NULL,
};

/* The has_* methods of SpamAssassin 4.0.1's plugins, "Plugin::method". */
static const char *const plugin_methods[] = {
    "HashBL::has_hashbl_bodyre",
    "HashBL::has_hashbl_bodyre_num",
    "HashBL::has_hashbl_emails",
    "HashBL::has_hashbl_uris",
    "HashBL::has_hashbl_ignore",
    "HashBL::has_hashbl_email_regex",
    "HashBL::has_hashbl_email_welcomelist",
    "HashBL::has_hashbl_email_whitelist",
    "HashBL::has_hashbl_tag",
    "HashBL::has_hashbl_sha256",
    "HashBL::has_hashbl_attachments",
    "HashBL::has_hashbl_email_domain",
    "HashBL::has_hashbl_email_domain_alias",
    "URIDetail::has_host_key",
    "OLEVBMacro::has_olemacro_redirect_uri",
    "OLEVBMacro::has_olemacro_mhtml_uri",
    "OLEVBMacro::has_olertfobject",
    "Pyzor::has_fork",
    "Pyzor::has_perl",
    "DNSEval::has_tflags_domains_only",
    "DNSEval::has_tflags_ips_only",
    "DecodeShortURLs::has_short_url",
    "DecodeShortURLs::has_autoclean",
    "DecodeShortURLs::has_short_url_code",
    "DecodeShortURLs::has_user_agent",
    "DecodeShortURLs::has_get",
    "DecodeShortURLs::has_clear",
    "DecodeShortURLs::has_timeout",
    "DecodeShortURLs::has_max_redirections",
    "DecodeShortURLs::has_short_url_redir",
    "MIMEHeader::has_all_header",
    "MIMEHeader::has_tflags_range",
    "MIMEHeader::has_tflags_concat",
    "MIMEHeader::has_tflags_multiple",
    "MIMEHeader::has_capture_rules",
    "URIDNSBL::has_tflags_domains_only",
    "URIDNSBL::has_subtest_for_ranges",
    "URIDNSBL::has_uridnsbl_for_a",
    "URIDNSBL::has_uridnsbl_a_ns",
    "URIDNSBL::has_tflags_notrim",
    "URIDNSBL::has_uridnsbl_skip_mailto",
    "AskDNS::has_tag_header",
    "ASN::has_asn_lookup_ipv6",
    "ASN::has_asn_geodb",
    "ASN::has_check_asn",
    "ASN::has_check_asn_tag",
    "SPF::has_check_for_spf_errors",
    "SPF::has_check_spf_skipped_noenvfrom",
    "BodyEval::has_check_body_length",
    "BodyEval::has_plaintext_body_sig_ratio",
    "DKIM::has_arc",
    "MIMEEval::has_check_for_ascii_text_illegal",
    "MIMEEval::has_check_abundant_unicode_ratio",
    "MIMEEval::has_check_qp_ratio",
    "Razor2::has_fork",
    NULL,
};

int
spam_load_can(const struct spam_load *ld, const char *method)
{
	const char *conf = "Mail::SpamAssassin::Conf::";
	const char *rest, *sep;
	char plugin[128];

	if (strncmp(method, conf, strlen(conf)) == 0) {
		rest = method + strlen(conf);
		return spam_rules_in_list(conf_features, rest) ||
		       (strncmp(rest, "compat_", 7) == 0 &&
		        spam_map_get(&ld->compat, rest + 7) != NULL);
	}
	if (strncmp(method, SA_PLUGIN_PREFIX, strlen(SA_PLUGIN_PREFIX)) != 0)
		return 0;
	rest = method + strlen(SA_PLUGIN_PREFIX);
	sep = strstr(rest, "::");
	if (sep == NULL || (size_t)(sep - rest) >= sizeof(plugin))
		return 0;
	memcpy(plugin, rest, (size_t)(sep - rest));
	plugin[sep - rest] = '\0';
	return spam_load_plugin(ld, plugin) &&
	       spam_rules_in_list(plugin_methods, rest);
}

static int
cond_name(void *ctx, const char *name, size_t *index_r, double *value_r)
{
	if (strcmp(name, "version") == 0)
		*value_r = SPAM_RULES_SA_VERSION_N;
	else if (strcmp(name, "perl_version") == 0)
		*value_r = SPAM_RULES_PERL_VERSION;
	else if (strcmp(name, "local_tests_only") == 0)
		*value_r = 1;
	else
		*value_r = 0; /* a class name: a string, 0 as a number */
	return 0;
}

/* plugin(X), can(X) and has(X) made constants. */
static void
cond_calls(const struct spam_load *ld, struct spam_toks *l)
{
	struct spam_tok *t = l->toks;
	char arg[256];
	size_t i, j;

	for (i = j = 0; i < l->n; i++, j++) {
		t[j] = t[i];
		if (t[i].type != SPAM_TOK_NAME || i + 3 >= l->n ||
		    t[i + 1].type != SPAM_TOK_LP ||
		    t[i + 2].type != SPAM_TOK_NAME ||
		    t[i + 3].type != SPAM_TOK_RP || t[i + 2].len >= sizeof(arg))
			continue;
		memcpy(arg, t[i + 2].s, t[i + 2].len);
		arg[t[i + 2].len] = '\0';
		t[j].type = SPAM_TOK_VALUE;
		if (t[i].len == 6 && strncmp(t[i].s, "plugin", 6) == 0)
			t[j].value = spam_load_plugin(ld, arg);
		else if ((t[i].len == 3 && strncmp(t[i].s, "can", 3) == 0) ||
		         (t[i].len == 3 && strncmp(t[i].s, "has", 3) == 0))
			t[j].value = spam_load_can(ld, arg);
		else {
			t[j].type = SPAM_TOK_NAME;
			continue;
		}
		i += 3;
	}
	l->n = j;
}

int
spam_cond_eval(const struct spam_load *ld, const char *text)
{
	struct spam_expr e;
	struct spam_toks l = {0};
	const char *error;
	int r = 0;

	if (spam_toks_lex(text, &l) == 0 && spam_toks_classify(&l, 1) == 0) {
		cond_calls(ld, &l);
		if (spam_toks_parse(&l, cond_name, NULL, &e, &error) == 0) {
			r = spam_expr_eval(&e, NULL, NULL) != 0;
			spam_expr_deinit(&e);
		}
	}
	free(l.toks);
	return r;
}
