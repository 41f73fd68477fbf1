/*
 * filter_dmarc.c - DMARC (RFC 7489) at end of message.
 *
 * On a worker, for inbound mail: reads the author domains from the
 * From fields of the header index, finds each domain's policy in DNS
 * (_dmarc.<domain>, then _dmarc.<organizational domain>), takes the SPF
 * and DKIM results the earlier filters recorded in the transaction
 * (postern's own, never a header's claim), and lets policy_dmarc decide
 * result and disposition.  A message with no From, several From fields
 * or several author domains fails, under the strictest policy of its
 * domains.  The disposition becomes a 550, an X-Postern-DMARC header or
 * nothing, as configured; every evaluation goes to the log and, if
 * configured, as a JSON line to the record file for aggregate reports.
 * The parsing and the decisions are policy_dmarc's; DNS is util/dns's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filters/filter.h"
#include "filters/filter_addr.h"
#include "filters/filter_dmarc.h"
#include "filters/filter_msg.h"
#include "filters/report.h"
#include "policy/policy_dmarc.h"
#include "policy/policy_psl.h"
#include "util/dns.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DMARC_HEADER "X-Postern-DMARC"
/* Author domains evaluated per message: two DNS lookups each. */
#define DMARC_DOMAINS_MAX 4
/* Mailboxes read per From field; a longer list is a problem anyway. */
#define DMARC_MAILBOXES_MAX 16

struct dmarc_conf {
	struct dns *dns;
	struct policy_psl *psl;
	enum filter_dmarc_action on_reject;
	enum filter_dmarc_action on_quarantine;
	int record_fd; /* -1: no record file */
};

/* The author domains of a message, as A-labels. */
struct dmarc_authors {
	char domain[DMARC_DOMAINS_MAX][POLICY_PSL_DOMAIN_MAX];
	size_t ndomains;
	const char *problem; /* why the result must be fail; static */
};

/* Authors */

static void
authors_problem(struct dmarc_authors *a, const char *problem)
{
	if (a->problem == NULL)
		a->problem = problem;
}

static void
authors_add(struct dmarc_authors *a, const char *domain)
{
	char ascii[POLICY_PSL_DOMAIN_MAX];
	const char *error;
	size_t i;

	if (policy_psl_domain_ascii(domain, ascii, sizeof(ascii), &error) < 0) {
		authors_problem(a, "From domain is not a DNS name");
		return;
	}
	for (i = 0; i < a->ndomains; i++) {
		if (strcmp(a->domain[i], ascii) == 0)
			return;
	}
	if (a->ndomains < DMARC_DOMAINS_MAX)
		memcpy(a->domain[a->ndomains++], ascii, strlen(ascii) + 1);
}

/* The mailboxes of From field i.  -1 on a spool read error. */
static int
authors_field(const struct filter_txn *t, size_t i, struct dmarc_authors *a,
              const char **error_r)
{
	struct filter_mailbox mb[DMARC_MAILBOXES_MAX];
	size_t len, j;
	char *field;
	int n;

	field = filter_msg_field_dup(t, i, &len, error_r);
	if (field == NULL)
		return -1;
	n = filter_addr_parse_list(field + t->fields[i].namelen + 1, mb,
	                           DMARC_MAILBOXES_MAX, error_r);
	free(field);
	/* XXX A From that does not parse names no domain whose policy
	 * could apply, so the message fails without a disposition and is
	 * only tagged; guessing a domain out of it would let the sender
	 * choose which policy applies. */
	if (n < 0)
		authors_problem(a, "From does not parse");
	else if (n == 0)
		authors_problem(a, "no author in From");
	for (j = 0; n > 0 && j < (size_t)n && j < DMARC_MAILBOXES_MAX; j++)
		authors_add(a, mb[j].domain);
	return 0;
}

/*
 * RFC 7489 6.6.1: one From field with one author domain, or the result
 * is fail.  Returns -1 only on a spool read error.
 */
static int
authors_collect(const struct filter_txn *t, struct dmarc_authors *a,
                const char **error_r)
{
	size_t i, nfrom = 0;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (!filter_msg_field_is(t, i, "From"))
			continue;
		nfrom++;
		if (authors_field(t, i, a, error_r) < 0)
			return -1;
	}
	if (nfrom == 0)
		a->problem = "no From field";
	else if (nfrom > 1)
		a->problem = "several From fields";
	else if (a->ndomains > 1)
		authors_problem(a, "several author domains");
	return 0;
}

/* Postern's own SPF and DKIM results */

/* The domain of an address or a domain (smtp.mailfrom may be either). */
static const char *
address_domain(const char *s)
{
	const char *at = strrchr(s, '@');

	return at != NULL ? at + 1 : s;
}

static void
auth_dkim(struct policy_dmarc_eval *e, const struct filter_auth *a)
{
	char d[POLICY_PSL_DOMAIN_MAX], s[64];

	filter_auth_prop(a->props, "header.d", d, sizeof(d));
	filter_auth_prop(a->props, "header.s", s, sizeof(s));
	if (d[0] != '\0')
		policy_dmarc_eval_dkim(e, d, s, a->result);
}

/*
 * The SPF result DMARC uses is the MAIL FROM identity's; with the null
 * sender, SPF checked the HELO identity instead (RFC 7208 2.4, RFC
 * 7489 4.1).
 */
static void
auth_fill(struct policy_dmarc_eval *e, const struct filter_txn *t)
{
	const struct filter_auth *a, *mfrom = NULL, *helo = NULL;
	char v[POLICY_PSL_DOMAIN_MAX + FILTER_ADDR_LOCAL_MAX];
	int null_sender = t->mail_from == NULL || t->mail_from[0] == '\0';

	for (a = t->auth; a != NULL; a = a->next) {
		if (a->props == NULL)
			continue;
		if (strcmp(a->method, "dkim") == 0)
			auth_dkim(e, a);
		if (strcmp(a->method, "spf") != 0)
			continue;
		if (mfrom == NULL && strstr(a->props, "smtp.mailfrom=") != NULL)
			mfrom = a;
		if (helo == NULL && strstr(a->props, "smtp.helo=") != NULL)
			helo = a;
	}
	if (mfrom != NULL) {
		filter_auth_prop(mfrom->props, "smtp.mailfrom", v, sizeof(v));
		policy_dmarc_eval_spf(e, address_domain(v), "mfrom",
		                      mfrom->result);
	} else if (helo != NULL && null_sender) {
		filter_auth_prop(helo->props, "smtp.helo", v, sizeof(v));
		policy_dmarc_eval_spf(e, v, "helo", helo->result);
	}
}

/* Policy discovery (RFC 7489 6.6.3) */

/* The one DMARC record of an answer into e.  Returns 1 when discovery
 * ends here, 0 to look further. */
static int
discover_answer(struct policy_dmarc_eval *e, const struct dns_answer *a,
                const char *domain)
{
	struct policy_dmarc_record r;
	const char *txt[DNS_MAX_RECORDS], *error;
	size_t i, n = a->count < DNS_MAX_RECORDS ? a->count : DNS_MAX_RECORDS;

	for (i = 0; i < n; i++)
		txt[i] = (const char *)a->data[i];
	switch (policy_dmarc_record_select(txt, n, &i)) {
	case 0:
		return 0;
	case 1:
		break;
	default:
		e->lookup = POLICY_DMARC_LOOKUP_UNUSABLE;
		e->lookup_problem = "several DMARC records";
		return 1;
	}
	if (policy_dmarc_record_parse(txt[i], &r, &error) < 0) {
		e->lookup = POLICY_DMARC_LOOKUP_UNUSABLE;
		e->lookup_problem = error;
		return 1;
	}
	policy_dmarc_eval_found(e, domain, &r);
	return 1;
}

static int
discover_at(const struct dmarc_conf *conf, struct policy_dmarc_eval *e,
            const char *domain)
{
	struct dns_answer a;
	char name[POLICY_PSL_DOMAIN_MAX + 8];
	int done = 1;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	dns_lookup(conf->dns, name, DNS_TYPE_TXT, &a);
	switch (a.status) {
	case DNS_OK:
		done = discover_answer(e, &a, domain);
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		done = 0;
		break;
	case DNS_TEMPFAIL:
		e->lookup = POLICY_DMARC_LOOKUP_TEMPERROR;
		e->lookup_problem = "policy lookup failed";
		break;
	case DNS_PERMFAIL:
		e->lookup = POLICY_DMARC_LOOKUP_PERMERROR;
		e->lookup_problem = "policy lookup refused";
		break;
	}
	dns_answer_free(&a);
	return done;
}

static void
discover(const struct dmarc_conf *conf, struct policy_dmarc_eval *e)
{
	char org[POLICY_PSL_DOMAIN_MAX];

	if (discover_at(conf, e, e->header_from))
		return;
	if (policy_psl_org_domain(conf->psl, e->header_from, org,
	                          sizeof(org)) == 0 &&
	    strcmp(org, e->header_from) != 0)
		discover_at(conf, e, org);
}

/* Evaluation and recording */

static struct policy_dmarc_eval *
evaluate_one(const struct dmarc_conf *conf, const struct filter_txn *t,
             const char *domain, const char *problem)
{
	struct policy_dmarc_eval *e = xmalloc(sizeof(*e));
	const char *mail_from = t->mail_from != NULL ? t->mail_from : "";

	policy_dmarc_eval_init(e, domain);
	e->from_problem = problem;
	snprintf(e->source, sizeof(e->source), "%s", t->session->client_ip);
	snprintf(e->envelope_from, sizeof(e->envelope_from), "%s",
	         mail_from[0] != '\0' ? address_domain(mail_from) : "");
	auth_fill(e, t);
	if (domain[0] != '\0')
		discover(conf, e);
	policy_dmarc_evaluate(e, conf->psl, arc4random_uniform(100));
	return e;
}

/* What the local settings make of the disposition; the evaluation then
 * says what was done, for the report (override "local_policy").  A
 * held message counts as quarantined.  Returns 1 when the setting says
 * hold. */
static int
local_policy(const struct dmarc_conf *conf, struct policy_dmarc_eval *e)
{
	enum filter_dmarc_action act;
	enum policy_dmarc_policy done;

	if (e->disposition == POLICY_DMARC_NONE)
		return 0;
	act = e->disposition == POLICY_DMARC_REJECT ? conf->on_reject
	                                            : conf->on_quarantine;
	done = act == FILTER_DMARC_REJECT ? POLICY_DMARC_REJECT
	       : act == FILTER_DMARC_TAG || act == FILTER_DMARC_HOLD
	           ? POLICY_DMARC_QUARANTINE
	           : POLICY_DMARC_NONE;
	if (done != e->disposition) {
		e->disposition = done;
		e->override = "local_policy";
	}
	return act == FILTER_DMARC_HOLD;
}

static void
record_write(const struct dmarc_conf *conf, const struct filter_txn *t,
             const struct policy_dmarc_eval *e)
{
	char *json, *line;
	size_t len;
	ssize_t n;

	if (conf->record_fd < 0)
		return;
	json = policy_dmarc_eval_json(e, t->id, time(NULL));
	line = xasprintf("%s\n", json);
	free(json);
	len = strlen(line);
	/* One write() to an O_APPEND file: lines from several workers do
	 * not interleave. */
	n = write(conf->record_fd, line, len);
	if (n < 0 || (size_t)n != len)
		log_warning("%s dmarc record file: %s", t->id,
		            n < 0 ? strerror(errno) : "short write");
	free(line);
}

static void
record(const struct dmarc_conf *conf, struct filter_txn *t,
       const struct policy_dmarc_eval *e)
{
	const char *result = policy_dmarc_result_name(e->result);
	char props[POLICY_PSL_DOMAIN_MAX + 16];

	snprintf(props, sizeof(props), "header.from=%s", e->header_from);
	filter_txn_auth(t, "dmarc", result, e->reason,
	                e->header_from[0] != '\0' ? props : NULL);
	log_info("%s dmarc from=%s result=%s policy=%s disposition=%s "
	         "spf=%s dkim=%s source=%s%s%s",
	         t->session->id,
	         e->header_from[0] != '\0' ? e->header_from : "-", result,
	         e->lookup == POLICY_DMARC_LOOKUP_FOUND
	             ? policy_dmarc_policy_name(e->policy)
	             : "-",
	         policy_dmarc_policy_name(e->disposition),
	         e->spf_aligned ? "pass" : "fail",
	         e->dkim_aligned ? "pass" : "fail", e->source,
	         e->override != NULL ? " override=" : "",
	         e->override != NULL ? e->override : "");
	record_write(conf, t, e);
}

/* The evaluation kept for the history: one block, freed with t. */
struct dmarc_kept {
	struct report_dmarc r;
	char domain[POLICY_PSL_DOMAIN_MAX];
	char policy_domain[POLICY_PSL_DOMAIN_MAX];
	char envelope_from[POLICY_PSL_DOMAIN_MAX];
	char spf_domain[POLICY_PSL_DOMAIN_MAX];
	char spf_scope[8];
	char spf_result[POLICY_DMARC_RESULT_LEN];
	char dkim_domain[POLICY_PSL_DOMAIN_MAX];
	char dkim_selector[64];
	char dkim_result[POLICY_DMARC_RESULT_LEN];
	char rua[POLICY_DMARC_URIS_MAX];
	char fo[POLICY_DMARC_FO_MAX];
};

/* The DKIM result a report row shows: the first aligned pass (the one
 * that made DMARC pass), else the first signature, else none. */
static const struct policy_dmarc_dkim *
kept_dkim(const struct dmarc_conf *conf, const struct policy_dmarc_eval *e)
{
	size_t i;

	for (i = 0; i < e->ndkim; i++)
		if (strcmp(e->dkim[i].result, "pass") == 0 &&
		    policy_dmarc_aligned(conf->psl, e->dkim[i].domain,
		                         e->header_from, e->record.adkim))
			return &e->dkim[i];
	return e->ndkim > 0 ? &e->dkim[0] : NULL;
}

static void
keep(const struct dmarc_conf *conf, struct filter_txn *t,
     const struct policy_dmarc_eval *e)
{
	struct dmarc_kept *k = xcalloc(1, sizeof(*k));
	const struct policy_dmarc_dkim *d = kept_dkim(conf, e);
	int found = e->lookup == POLICY_DMARC_LOOKUP_FOUND;

	snprintf(k->domain, sizeof(k->domain), "%s", e->header_from);
	snprintf(k->policy_domain, sizeof(k->policy_domain), "%s",
	         e->policy_domain);
	snprintf(k->envelope_from, sizeof(k->envelope_from), "%s",
	         e->envelope_from);
	snprintf(k->spf_domain, sizeof(k->spf_domain), "%s", e->spf_domain);
	snprintf(k->spf_scope, sizeof(k->spf_scope), "%s", e->spf_scope);
	snprintf(k->spf_result, sizeof(k->spf_result), "%s", e->spf_result);
	if (d != NULL) {
		snprintf(k->dkim_domain, sizeof(k->dkim_domain), "%s",
		         d->domain);
		snprintf(k->dkim_selector, sizeof(k->dkim_selector), "%s",
		         d->selector);
		snprintf(k->dkim_result, sizeof(k->dkim_result), "%s",
		         d->result);
	}
	snprintf(k->rua, sizeof(k->rua), "%s", found ? e->record.rua : "");
	k->r.domain = k->domain;
	k->r.policy = found ? policy_dmarc_policy_name(e->policy) : "";
	k->r.disposition = policy_dmarc_policy_name(e->disposition);
	k->r.dkim = e->dkim_aligned ? "pass" : "fail";
	k->r.spf = e->spf_aligned ? "pass" : "fail";
	k->r.rua = k->rua[0] != '\0' ? k->rua : NULL;
	k->r.policy_domain = k->policy_domain;
	k->r.published_p = found ? policy_dmarc_policy_name(e->record.p) : "";
	k->r.published_sp = found ? policy_dmarc_policy_name(e->record.sp) : "";
	k->r.adkim = e->record.adkim == POLICY_DMARC_STRICT ? "s" : "r";
	k->r.aspf = e->record.aspf == POLICY_DMARC_STRICT ? "s" : "r";
	k->r.pct = found ? e->record.pct : 100;
	snprintf(k->fo, sizeof(k->fo), "%s", found ? e->record.fo : "0");
	k->r.fo = k->fo;
	k->r.override = e->override;
	k->r.envelope_from = k->envelope_from;
	k->r.spf_domain = k->spf_domain;
	k->r.spf_scope = k->spf_scope;
	k->r.spf_result = k->spf_result;
	k->r.dkim_domain = k->dkim_domain;
	k->r.dkim_selector = k->dkim_selector;
	k->r.dkim_result = k->dkim_result;
	free(t->dmarc_report);
	t->dmarc_report = k;
}

const struct report_dmarc *
filter_dmarc_report(const struct filter_txn *t)
{
	const struct dmarc_kept *k = t->dmarc_report;

	return k != NULL ? &k->r : NULL;
}

/* The filter */

/* Headers of ours in the message are not ours: a sender's forgery. */
static void
delete_forged(struct filter_txn *t)
{
	size_t i;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (filter_msg_field_is(t, i, DMARC_HEADER))
			filter_msg_field_delete(t, i);
	}
}

/* The fact scoring filters see (spam_rules.h): the published policy of
 * the strictest failing evaluation, else pass or missing. */
static void
state_fact(struct filter_txn *t, struct policy_dmarc_eval *const *ev, size_t n)
{
	static const char *const by_policy[] = {
	    [POLICY_DMARC_NONE] = "DMARC_NONE",
	    [POLICY_DMARC_QUARANTINE] = "DMARC_QUAR",
	    [POLICY_DMARC_REJECT] = "DMARC_REJECT",
	};
	const struct policy_dmarc_eval *fail = NULL;
	int pass = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		pass |= ev[i]->result == POLICY_DMARC_RESULT_PASS;
		if (ev[i]->result == POLICY_DMARC_RESULT_FAIL &&
		    (fail == NULL || ev[i]->policy > fail->policy))
			fail = ev[i];
	}
	if (fail != NULL)
		filter_txn_fact(t, by_policy[fail->policy]);
	else if (pass)
		filter_txn_fact(t, "DMARC_PASS");
	else if (n > 0 && ev[0]->result == POLICY_DMARC_RESULT_NONE)
		filter_txn_fact(t, "DMARC_MISSING");
}

/* The index of the strictest disposition, the first of equals. */
static size_t
strictest(struct policy_dmarc_eval *const *ev, size_t n)
{
	size_t i, w = 0;

	for (i = 1; i < n; i++)
		if (ev[i]->disposition > ev[w]->disposition)
			w = i;
	return w;
}

/* Act on the strictest disposition of the evaluations. */
static void
act(struct filter_txn *t, struct policy_dmarc_eval *const *ev, size_t n,
    unsigned int hold, struct filter_verdict *v)
{
	const struct policy_dmarc_eval *worst = ev[0];
	size_t i, w = 0;
	int failed = 0;

	for (i = 0; i < n; i++) {
		if (ev[i]->disposition > worst->disposition) {
			worst = ev[i];
			w = i;
		}
		failed |= ev[i]->result == POLICY_DMARC_RESULT_FAIL;
	}
	state_fact(t, ev, n);
	filter_txn_note(t, "dmarc",
	                policy_dmarc_result_name(
	                    failed ? POLICY_DMARC_RESULT_FAIL : worst->result));
	if (worst->disposition == POLICY_DMARC_REJECT)
		filter_verdict_set(v, FILTER_REJECT, 550, "5.7.1",
		                   "DMARC policy of %s rejects the message",
		                   worst->header_from);
	else if (worst->disposition == POLICY_DMARC_QUARANTINE) {
		filter_txn_prepend_header(t, DMARC_HEADER, "quarantine");
		if (hold & (1u << w))
			filter_verdict_set(v, FILTER_HOLD, 250, "2.7.0",
			                   "message held for review (DMARC "
			                   "policy of %s)",
			                   worst->header_from);
	} else if (failed)
		filter_txn_prepend_header(t, DMARC_HEADER, "fail");
}

static void
dmarc_eom(void *confp, struct filter_session *s, struct filter_txn *t,
          struct filter_verdict *v)
{
	const struct dmarc_conf *conf = confp;
	struct policy_dmarc_eval *ev[DMARC_DOMAINS_MAX];
	struct dmarc_authors a;
	const char *error = NULL;
	unsigned int hold = 0;
	size_t i, n;

	if (s->outbound)
		return;
	delete_forged(t);
	if (authors_collect(t, &a, &error) < 0) {
		log_error("%s dmarc: spool read failed: %s", t->id, error);
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.3.0",
		                   "local error, try again later");
		return;
	}
	n = a.ndomains > 0 ? a.ndomains : 1;
	for (i = 0; i < n; i++) {
		ev[i] = evaluate_one(conf, t, a.ndomains > 0 ? a.domain[i] : "",
		                     a.problem);
		if (local_policy(conf, ev[i]))
			hold |= 1u << i;
		record(conf, t, ev[i]);
	}
	act(t, ev, n, hold, v);
	keep(conf, t, ev[strictest(ev, n)]);
	for (i = 0; i < n; i++)
		free(ev[i]);
}

static void
dmarc_free(void *confp)
{
	struct dmarc_conf *conf = confp;

	policy_psl_free(&conf->psl);
	if (conf->record_fd >= 0)
		close(conf->record_fd);
	free(conf);
}

static const struct filter_ops dmarc_ops = {
    .name = "dmarc",
    .hook = {[FILTER_PHASE_EOM] = dmarc_eom},
    .blocking = 1u << FILTER_PHASE_EOM,
    .free = dmarc_free,
};

int
filter_dmarc_add(struct filter_chain *chain,
                 const struct filter_dmarc_opts *opts, const char **error_r)
{
	struct dmarc_conf *conf;

	if (opts->dns == NULL) {
		*error_r = "no resolver";
		return -1;
	}
	conf = xcalloc(1, sizeof(*conf));
	conf->dns = opts->dns;
	conf->on_reject = opts->on_reject;
	conf->on_quarantine = opts->on_quarantine;
	conf->record_fd = -1;
	conf->psl = policy_psl_new(opts->psl_file, error_r);
	if (conf->psl == NULL) {
		dmarc_free(conf);
		return -1;
	}
	if (opts->record_file != NULL) {
		conf->record_fd =
		    open(opts->record_file,
		         O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (conf->record_fd < 0) {
			int saved = errno;

			*error_r = "cannot open record_file";
			dmarc_free(conf);
			errno = saved;
			return -1;
		}
	}
	filter_chain_add(chain, &dmarc_ops, conf);
	return 0;
}
