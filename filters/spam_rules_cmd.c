/*
 * spam_rules_cmd.c - the commands of SpamAssassin's rule files: rule
 * definitions and the settings that go with them.
 *
 * Follows Mail::SpamAssassin::Conf: header, body, rawbody, uri, full
 * and meta define rules, score (one value or four: score set 0 is the
 * first), describe and tflags set them, ReplaceTags' replace_* lines
 * collect tags (only with the plugin loaded, as SpamAssassin knows them
 * only then), and loadplugin, enable_compat, include and
 * require_version steer loading.  A rule line SpamAssassin would refuse
 * leaves an earlier definition of the name in place; eval: tests and
 * plugins' rule types (mimeheader, uri_detail, askdns) are kept as
 * skipped definitions so that meta rules find the names.  Every other
 * setting is counted and ignored.  Regexes are only taken apart here;
 * spam_rules_build.c compiles them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_rules_private.h"
#include "util/xalloc.h"

/*
 * Definitions
 */

/* SpamAssassin's IS_RULENAME and add_test()'s length limit. */
static int
rule_name_ok(const char *name)
{
	size_t i;

	if (!spam_rules_is_word((unsigned char)name[0]) ||
	    (name[0] >= '0' && name[0] <= '9'))
		return 0; /* [_a-zA-Z] first */
	for (i = 1; name[i] != '\0'; i++) {
		if (!spam_rules_is_word((unsigned char)name[i]))
			return 0;
	}
	return i <= SPAM_RULES_NAME_MAX;
}

static void
def_clear_test(struct spam_def *d)
{
	spam_pattern_deinit(&d->pat);
	free(d->hdr);
	free(d->unset);
	free(d->expr);
	d->hdr = d->unset = d->expr = NULL;
	d->form = SPAM_HDR_DECODED;
	d->hflags = 0;
	d->skip = NULL;
	d->eval = 0;
}

/* The definition of name to take a new test, or NULL (counted) when the
 * name is not one SpamAssassin takes. */
static struct spam_def *
def_for_test(struct spam_load *ld, const char *name)
{
	struct spam_def *d;

	if (!rule_name_ok(name)) {
		ld->defs_bad++;
		return NULL;
	}
	d = spam_load_def(ld, name);
	def_clear_test(d);
	return d;
}

/* A test line SpamAssassin refuses: the name keeps an earlier test; a
 * name without one is counted as skipped for reason. */
static void
def_refuse(struct spam_load *ld, const char *name, const char *reason)
{
	struct spam_def *d;

	if (!rule_name_ok(name)) {
		ld->defs_bad++;
		return;
	}
	d = spam_load_def(ld, name);
	if (d->kind == SPAM_DEF_NONE) {
		d->kind = SPAM_DEF_SKIPPED;
		d->skip = reason;
	}
}

static void
def_skipped(struct spam_load *ld, const char *name, const char *reason,
            int eval)
{
	struct spam_def *d = def_for_test(ld, name);

	if (d == NULL)
		return;
	d->kind = SPAM_DEF_SKIPPED;
	d->skip = reason;
	d->eval = eval;
}

/* "eval:name(args)" as Conf.pm takes it: 1 when text is an eval test
 * (*ok_r says whether its syntax is right), 0 when it is not one. */
static int
eval_test(const char *text, const char *prefix, int *ok_r)
{
	const char *fn;
	size_t n;

	if (strncmp(text, prefix, strlen(prefix)) != 0)
		return 0;
	fn = text + strlen(prefix);
	for (n = 0; spam_rules_is_word((unsigned char)fn[n]); n++)
		;
	*ok_r = n > 0 && fn[n] == '(' && fn[strlen(fn) - 1] == ')';
	return 1;
}

static int
def_eval(struct spam_load *ld, const char *name, const char *text, int rbl)
{
	int ok;

	if (!eval_test(text, "eval:", &ok) &&
	    !(rbl && eval_test(text, "rbleval:", &ok)))
		return 0;
	if (ok)
		def_skipped(ld, name, "eval", 1);
	else
		def_refuse(ld, name, "syntax");
	return 1;
}

static void
def_regex(struct spam_load *ld, const char *name, int kind, const char *text)
{
	struct spam_pattern p = {0};
	struct spam_def *d;
	const char *error;

	if (spam_pattern_parse(text, &p, &error) < 0) {
		def_refuse(ld, name, "regex");
		return;
	}
	d = def_for_test(ld, name);
	if (d == NULL) {
		spam_pattern_deinit(&p);
		return;
	}
	d->kind = kind;
	d->pat = p;
}

/*
 * Header tests: "Field[:mod[:mod]] =~ /re/flags [if-unset: text]",
 * "Field !~ ...", "exists:Field".
 */

/* The modifiers of a field as a form; -1 for one spam_msg does not
 * give, -2 for one SpamAssassin refuses.  :addr:raw is :addr
 * (SpamAssassin takes addresses from the raw field either way).
 * XXX :host, :domain, :ip, :revip, :first, :last and :name:raw (the
 * display name undecoded) have no spam_msg form; such rules are
 * skipped ("header-modifier"); one stock rule uses :name:raw. */
static int
header_form(const char *mods)
{
	static const char *const known[] = {"raw",    "addr", "name",  "host",
	                                    "domain", "ip",   "revip", "first",
	                                    "last",   NULL};
	int raw = 0, addr = 0, name = 0, other = 0;
	char buf[64], *s, *m;

	if (strlen(mods) >= sizeof(buf))
		return -2;
	strcpy(buf, mods);
	for (s = buf; (m = strsep(&s, ":")) != NULL;) {
		if (*m == '\0')
			continue;
		if (!spam_rules_in_list(known, m))
			return -2;
		raw |= strcmp(m, "raw") == 0;
		addr |= strcmp(m, "addr") == 0;
		name |= strcmp(m, "name") == 0;
		other |= !(strcmp(m, "raw") == 0 || strcmp(m, "addr") == 0 ||
		           strcmp(m, "name") == 0);
	}
	if (other || (name && raw))
		return -1;
	if (addr)
		return SPAM_HDR_ADDR;
	if (name)
		return SPAM_HDR_NAME;
	return raw ? SPAM_HDR_RAW : SPAM_HDR_DECODED;
}

/* Splits "Field:mods =~ pattern" at s: field and modifiers
 * NUL-terminated in place; returns the pattern, NULL when the line is
 * not a header test. */
static char *
header_split(char *s, char **mods_r, unsigned int *flags_r)
{
	size_t i = 0, nmods = 0;
	char *op;

	while (spam_rules_is_word((unsigned char)s[i]) || s[i] == '.' ||
	       s[i] == '-')
		i++;
	if (i == 0)
		return NULL;
	*mods_r = s + i;
	while (nmods < 2 && s[i] == ':' && s[i + 1] >= 'a' && s[i + 1] <= 'z') {
		for (i++; s[i] >= 'a' && s[i] <= 'z'; i++)
			;
		nmods++;
	}
	if (nmods == 0 && s[i] == ':')
		i++;
	op = spam_rules_skip_space(s + i);
	if ((op[0] != '=' && op[0] != '!') || op[1] != '~')
		return NULL;
	*flags_r = op[0] == '!' ? SPAM_HDR_NEG : 0;
	s[i] = '\0';
	op = spam_rules_skip_space(op + 2);
	return *op != '\0' ? op : NULL;
}

/* Takes " [if-unset: text]" off the end of pattern; the text or NULL. */
static char *
header_unset(char *pattern)
{
	size_t len = strlen(pattern);
	char *p, *start, *text;

	if (len == 0 || pattern[len - 1] != ']')
		return NULL;
	for (p = pattern + 1; (p = strstr(p, "[if-unset:")) != NULL; p++) {
		if (!spam_rules_is_space((unsigned char)p[-1]))
			continue;
		text = p + strlen("[if-unset:");
		if (!spam_rules_is_space((unsigned char)*text))
			continue;
		text = spam_rules_skip_space(text);
		if (text >= pattern + len - 1)
			continue;
		for (start = p; start > pattern &&
		                spam_rules_is_space((unsigned char)start[-1]);)
			start--;
		pattern[len - 1] = '\0';
		text = xstrdup(text);
		*start = '\0';
		return text;
	}
	return NULL;
}

static void
header_exists(struct spam_load *ld, const char *name, const char *field)
{
	struct spam_def *d;
	size_t i, len = strlen(field);

	for (i = 0; i < len; i++) {
		if (!spam_rules_is_word((unsigned char)field[i]) &&
		    field[i] != '.' && field[i] != '-' &&
		    !(field[i] == ':' && i == len - 1))
			break;
	}
	if (len == 0 || i < len || field[0] == ':') {
		def_refuse(ld, name, "syntax");
		return;
	}
	d = def_for_test(ld, name);
	if (d == NULL)
		return;
	d->kind = SPAM_RULE_HEADER;
	d->hdr = xstrndup(field, field[len - 1] == ':' ? len - 1 : len);
	d->hflags = SPAM_HDR_EXISTS;
}

static void
header_test(struct spam_load *ld, const char *name, char *text)
{
	struct spam_pattern p = {0};
	struct spam_def *d;
	char *mods, *pattern, *unset;
	unsigned int flags;
	const char *error;
	int form;

	pattern = header_split(text, &mods, &flags);
	form = pattern != NULL ? header_form(mods) : -2;
	if (form == -2) {
		def_refuse(ld, name, "syntax");
		return;
	}
	unset = header_unset(pattern);
	if (spam_pattern_parse(pattern, &p, &error) < 0) {
		free(unset);
		def_refuse(ld, name, "regex");
		return;
	}
	*mods = '\0';
	d = form == -1 ? NULL : def_for_test(ld, name);
	if (d == NULL) {
		spam_pattern_deinit(&p);
		free(unset);
		if (form == -1)
			def_skipped(ld, name, "header-modifier", 0);
		return;
	}
	d->kind = SPAM_RULE_HEADER;
	d->pat = p;
	d->hdr = xstrdup(text);
	d->form = (enum spam_hdr_form)form;
	d->hflags = flags;
	d->unset = unset;
}

/*
 * Commands
 */

/* "NAME rest": the name, and the rest in *rest_r; NULL when either is
 * missing. */
static char *
split_name(char *value, char **rest_r)
{
	char *name = spam_rules_next_word(&value);

	if (*name == '\0' || *value == '\0')
		return NULL;
	*rest_r = value;
	return name;
}

static int
cmd_header(struct spam_file *f, char *value)
{
	char *rest, *name = split_name(value, &rest);

	if (name == NULL || def_eval(f->ld, name, rest, 1))
		return 0;
	if (strncmp(rest, "exists:", 7) == 0)
		header_exists(f->ld, name, rest + 7);
	else
		header_test(f->ld, name, rest);
	return 0;
}

static int
cmd_regex(struct spam_file *f, char *value, int kind)
{
	char *rest, *name = split_name(value, &rest);

	if (name == NULL)
		return 0;
	if (kind != SPAM_RULE_URI && def_eval(f->ld, name, rest, 0))
		return 0;
	def_regex(f->ld, name, kind, rest);
	return 0;
}

static int
cmd_body(struct spam_file *f, char *value)
{
	return cmd_regex(f, value, SPAM_RULE_BODY);
}

static int
cmd_rawbody(struct spam_file *f, char *value)
{
	return cmd_regex(f, value, SPAM_RULE_RAWBODY);
}

static int
cmd_uri(struct spam_file *f, char *value)
{
	return cmd_regex(f, value, SPAM_RULE_URI);
}

static int
cmd_full(struct spam_file *f, char *value)
{
	return cmd_regex(f, value, SPAM_RULE_FULL);
}

/* Conf.pm's "**" check comes before the expression's own. */
static int
meta_starstar(const char *s)
{
	for (; (s = strchr(s, '*')) != NULL; s++) {
		if (s[1 + strspn(s + 1, " \t\n\r\f\v")] == '*')
			return 1;
	}
	return 0;
}

static int
cmd_meta(struct spam_file *f, char *value)
{
	char *rest, *name = split_name(value, &rest);
	struct spam_def *d;
	const char *error;

	if (name == NULL)
		return 0;
	if (meta_starstar(rest) || spam_expr_check(rest, &error) < 0) {
		def_refuse(f->ld, name, "syntax");
		return 0;
	}
	d = def_for_test(f->ld, name);
	if (d == NULL)
		return 0;
	d->kind = SPAM_RULE_META;
	d->expr = xstrdup(rest);
	return 0;
}

/* A plugin's own rule type (mimeheader, uri_detail, askdns). */
static int
cmd_plugin_rule(struct spam_file *f, char *value)
{
	char *name = spam_rules_next_word(&value);

	if (*name != '\0' && *value != '\0')
		def_skipped(f->ld, name, "plugin-type", 0);
	return 0;
}

/* Conf.pm's score number: -?\d+(\.\d+)?, maybe in parentheses
 * (relative to the score set before). */
static int
score_parse(const char *s, double *v_r, int *relative_r)
{
	char buf[64];
	size_t len = strlen(s), i = 0;

	*relative_r = len > 2 && s[0] == '(' && s[len - 1] == ')';
	if (*relative_r) {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	i = buf[0] == '-';
	if (!(buf[i] >= '0' && buf[i] <= '9'))
		return -1;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++;
	if (buf[i] == '.' && buf[i + 1] >= '0' && buf[i + 1] <= '9')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			;
	if (buf[i] != '\0')
		return -1;
	*v_r = strtod(buf, NULL);
	return 0;
}

static int
cmd_score(struct spam_file *f, char *value)
{
	char *name = spam_rules_next_word(&value), *w[5];
	int n = 0, i, relative = 0, rel;
	struct spam_def *d;
	double v[5];

	while (*value != '\0' && n < 5)
		w[n++] = spam_rules_next_word(&value);
	if (*name == '\0' || (n != 1 && n != 4)) {
		f->ld->lines_bad++;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (score_parse(w[i], &v[i], &rel) < 0) {
			f->ld->lines_bad++;
			return 0;
		}
		relative |= rel;
	}
	d = spam_load_def(f->ld, name);
	if (relative && !d->has_score) {
		f->ld->lines_bad++;
		return 0;
	}
	/* score set 0, the first of four, for rules; set 1, the second,
	 * for facts: those are results of network tests postern ran. */
	d->score = relative ? d->score + v[0] : v[0];
	d->score_net =
	    relative ? d->score_net + v[n == 4 ? 1 : 0] : v[n == 4 ? 1 : 0];
	d->has_score = 1;
	return 0;
}

/* "KEY value" settings (describe, tflags): the value, or NULL. */
static char *
key_value(struct spam_file *f, char *value, char **key_r)
{
	char *key = spam_rules_next_word(&value);

	if (*key == '\0' || *value == '\0') {
		f->ld->lines_bad++;
		return NULL;
	}
	*key_r = key;
	return value;
}

static int
cmd_describe(struct spam_file *f, char *value)
{
	char *name, *text = key_value(f, value, &name);
	struct spam_def *d;

	if (text == NULL)
		return 0;
	d = spam_load_def(f->ld, name);
	free(d->describe);
	d->describe = xstrdup(text);
	return 0;
}

static int
cmd_tflags(struct spam_file *f, char *value)
{
	char *name, *text = key_value(f, value, &name);
	struct spam_def *d;

	if (text == NULL)
		return 0;
	d = spam_load_def(f->ld, name);
	free(d->tflags);
	d->tflags = xstrdup(text);
	return 0;
}

static int
cmd_replace_kv(struct spam_file *f, char *value, struct spam_kv *kv)
{
	char *key, *text = key_value(f, value, &key);

	if (text != NULL)
		spam_kv_set(kv, key, text);
	return 0;
}

static int
cmd_replace_tag(struct spam_file *f, char *value)
{
	return cmd_replace_kv(f, value, &f->ld->tags);
}

static int
cmd_replace_pre(struct spam_file *f, char *value)
{
	return cmd_replace_kv(f, value, &f->ld->pre);
}

static int
cmd_replace_inter(struct spam_file *f, char *value)
{
	return cmd_replace_kv(f, value, &f->ld->inter);
}

static int
cmd_replace_post(struct spam_file *f, char *value)
{
	return cmd_replace_kv(f, value, &f->ld->post);
}

static int
cmd_replace_rules(struct spam_file *f, char *value)
{
	char *name;

	while (*(name = spam_rules_next_word(&value)) != '\0')
		spam_load_def(f->ld, name)->replace = 1;
	return 0;
}

static int
cmd_replace_start(struct spam_file *f, char *value)
{
	free(f->ld->replace_start);
	f->ld->replace_start = xstrdup(value);
	return 0;
}

static int
cmd_replace_end(struct spam_file *f, char *value)
{
	free(f->ld->replace_end);
	f->ld->replace_end = xstrdup(value);
	return 0;
}

static int
cmd_include(struct spam_file *f, char *value)
{
	return spam_load_include(f, value);
}

/* loadplugin NAME [FILE], as the .pre files have it */
static int
cmd_loadplugin(struct spam_file *f, char *value)
{
	char *name = spam_rules_next_word(&value);

	spam_map_set(&f->ld->plugins, spam_plugin_short(name), 0);
	return 0;
}

static int
cmd_enable_compat(struct spam_file *f, char *value)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

	if (n == 0 || n > 128 || value[n] != '\0')
		f->ld->lines_bad++;
	else
		spam_map_set(&f->ld->compat, value, 0);
	return 0;
}

static int
cmd_require_version(struct spam_file *f, char *value)
{
	if (strcmp(value, "@@VERSION@@") != 0 &&
	    strcmp(value, SPAM_RULES_SA_VERSION) != 0)
		f->skip_file = 1;
	return 0;
}

struct spam_cmd {
	const char *key;
	int (*run)(struct spam_file *f, char *value);
	const char *plugin; /* known only with this plugin loaded */
};

static const struct spam_cmd commands[] = {
    {"header", cmd_header, NULL},
    {"body", cmd_body, NULL},
    {"rawbody", cmd_rawbody, NULL},
    {"uri", cmd_uri, NULL},
    {"full", cmd_full, NULL},
    {"meta", cmd_meta, NULL},
    {"score", cmd_score, NULL},
    {"describe", cmd_describe, NULL},
    {"tflags", cmd_tflags, NULL},
    {"include", cmd_include, NULL},
    {"require_version", cmd_require_version, NULL},
    {"loadplugin", cmd_loadplugin, NULL},
    {"enable_compat", cmd_enable_compat, NULL},
    {"replace_tag", cmd_replace_tag, "ReplaceTags"},
    {"replace_pre", cmd_replace_pre, "ReplaceTags"},
    {"replace_inter", cmd_replace_inter, "ReplaceTags"},
    {"replace_post", cmd_replace_post, "ReplaceTags"},
    {"replace_rules", cmd_replace_rules, "ReplaceTags"},
    {"replace_start", cmd_replace_start, "ReplaceTags"},
    {"replace_end", cmd_replace_end, "ReplaceTags"},
    {"mimeheader", cmd_plugin_rule, "MIMEHeader"},
    {"uri_detail", cmd_plugin_rule, "URIDetail"},
    {"askdns", cmd_plugin_rule, "AskDNS"},
};

int
spam_cmd_run(struct spam_file *f, const char *key, char *value)
{
	const struct spam_cmd *c;
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		c = &commands[i];
		if (strcmp(c->key, key) != 0)
			continue;
		if (c->plugin != NULL && !spam_load_plugin(f->ld, c->plugin))
			break;
		if (*value == '\0') {
			f->ld->lines_bad++;
			return 0;
		}
		return c->run(f, value);
	}
	f->ld->settings_ignored++;
	return 0;
}
