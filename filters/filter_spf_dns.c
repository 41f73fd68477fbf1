/*
 * filter_spf_dns.c - libspf2's DNS layer on postern's resolver.
 *
 * libspf2 asks its DNS layer one name and type at a time and expects a
 * blocking answer; this layer asks dns_lookup() (the caller is on a
 * worker) and turns the answer into libspf2's record set.  On the way
 * it does what libspf2 leaves out, for the one evaluation it serves:
 *
 * - RFC 7208 4.6.4's limits over the whole evaluation.  A lookup is a
 *   term's when it is an MX or PTR lookup, an A or AAAA lookup that is
 *   not of the next name of the last MX or PTR answer (libspf2 looks
 *   those up right after, in order), or a TXT lookup finding an SPF
 *   record other than the first (include: and redirect=; exp= finds
 *   none).  More than 10 terms, or more than 2 of them finding nothing
 *   (void lookups), is a permerror.
 * - The syntax of each SPF record (filter_spf_record.c); a bad one is
 *   a permerror, and libspf2 gets the others in a form it reads right.
 * - TXT only (RFC 7208 3.1): a type SPF (99) query is answered "no
 *   data" without asking.
 * - At most 10 PTR names (4.6.4: the rest are ignored, where libspf2
 *   would give permerror).
 *
 * Once the evaluation is a permerror, every lookup is answered "not
 * found" without asking, so libspf2 finishes quickly; the caller reads
 * the reason.  A DNS failure is an answer (TRY_AGAIN), never an error
 * of the layer's own.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter_spf_private.h"
#include "util/dns.h"
#include "util/log.h"
#include "util/xalloc.h"

#define SPF_DNS_NAME_MAX 256

struct spf_dns_hook {
	struct dns *dns;
	unsigned int terms;
	unsigned int voids;
	unsigned int records; /* lookups that found an SPF record */
	int found_spf;        /* the answer being made has an SPF record */
	const char *permerror;
	/* The names of the last MX or PTR answer, whose addresses libspf2
	 * asks for next; next is the one expected now. */
	char pending[FILTER_SPF_ADDR_MAX][SPF_DNS_NAME_MAX];
	size_t npending;
	size_t next;
};

static void
spf_dns_permerror(struct spf_dns_hook *h, const char *reason)
{
	if (h->permerror == NULL)
		h->permerror = reason;
}

static SPF_dns_rr_t *
rr_new(SPF_dns_server_t *layer, const char *name, ns_type type,
       unsigned int ttl, SPF_dns_stat_t herrno)
{
	SPF_dns_rr_t *rr =
	    SPF_dns_rr_new_init(layer, name, type, (int)ttl, herrno);

	if (rr == NULL)
		abort(); /* out of memory, as xmalloc() would */
	return rr;
}

static SPF_dns_stat_t
herrno_of(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return NETDB_SUCCESS;
	case DNS_NXDOMAIN:
		return HOST_NOT_FOUND;
	case DNS_NODATA:
		return NO_DATA;
	default:
		return TRY_AGAIN;
	}
}

/*
 * The uncompressed wire-format name at p (len octets) as text without
 * the final dot.  Returns 0, or -1 for a name that does not parse, the
 * root, or a label with a dot or an octet outside printable ASCII
 * (which could not be looked up again or compared as text).
 */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t size)
{
	size_t pos = 0, o = 0, n, i;

	for (;;) {
		if (pos >= len)
			return -1;
		n = p[pos++];
		if (n == 0)
			break;
		if (n > 63 || n > len - pos || o + n + 2 > size)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < n; i++) {
			if (p[pos + i] <= ' ' || p[pos + i] >= 0x7f ||
			    p[pos + i] == '.')
				return -1;
			out[o++] = (char)p[pos + i];
		}
		pos += n;
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* Append len octets and a NUL as the next record; TRY_AGAIN when
 * libspf2 has no memory for it. */
static void
rr_add(SPF_dns_rr_t *rr, const void *data, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len + 1) != SPF_E_SUCCESS) {
		rr->herrno = TRY_AGAIN;
		return;
	}
	memcpy(rr->rr[rr->num_rr], data, len);
	((char *)rr->rr[rr->num_rr])[len] = '\0';
	rr->num_rr++;
}

static void
rr_add_name(SPF_dns_rr_t *rr, const unsigned char *p, size_t len)
{
	char name[SPF_DNS_NAME_MAX];

	if (wire_name(p, len, name, sizeof(name)) == 0)
		rr_add(rr, name, strlen(name));
}

static void
rr_add_spf(struct spf_dns_hook *h, SPF_dns_rr_t *rr, const char *p, size_t len)
{
	const char *error;
	char *rec = filter_spf_record_normalize(p, len, &error);

	h->found_spf = 1;
	if (rec == NULL) {
		spf_dns_permerror(h, error);
		return;
	}
	rr_add(rr, rec, strlen(rec));
	free(rec);
}

/*
 * XXX libspf2 1.2.10 stops expanding a macro-string at its first space
 * ("%{i} is %{d}" gives "192.0.2.1%is%{d}"), which spoils every
 * explanation (RFC 7208 6.2).  So a TXT record that is not an SPF
 * record reaches it with each space written as the macro "%_".
 */
static void
rr_add_txt(struct spf_dns_hook *h, SPF_dns_rr_t *rr, const unsigned char *p,
           size_t len)
{
	char *text;
	size_t i, o = 0;

	if (filter_spf_record_is_spf((const char *)p, len)) {
		rr_add_spf(h, rr, (const char *)p, len);
		return;
	}
	text = xmalloc(2 * len + 1);
	for (i = 0; i < len; i++) {
		if (p[i] == ' ') {
			memcpy(text + o, "%_", 2);
			o += 2;
		} else {
			text[o++] = (char)p[i];
		}
	}
	rr_add(rr, text, o);
	free(text);
}

static void
rr_add_record(struct spf_dns_hook *h, SPF_dns_rr_t *rr, ns_type type,
              const unsigned char *p, size_t len)
{
	switch (type) {
	case ns_t_a:
		if (len == sizeof(struct in_addr))
			rr_add(rr, p, len);
		break;
	case ns_t_aaaa:
		if (len == sizeof(struct in6_addr))
			rr_add(rr, p, len);
		break;
	case ns_t_txt:
		rr_add_txt(h, rr, p, len);
		break;
	case ns_t_mx: /* preference, then the exchange */
		if (len > 2)
			rr_add_name(rr, p + 2, len - 2);
		break;
	case ns_t_ptr:
		if (rr->num_rr < FILTER_SPF_ADDR_MAX)
			rr_add_name(rr, p, len);
		break;
	default:
		break;
	}
}

SPF_dns_rr_t *
filter_spf_dns_rr(SPF_dns_server_t *layer, const char *name, ns_type type,
                  const struct dns_answer *a)
{
	SPF_dns_rr_t *rr =
	    rr_new(layer, name, type, a->ttl, herrno_of(a->status));
	struct spf_dns_hook *h = layer->hook;
	size_t i;

	h->found_spf = 0;
	if (a->status != DNS_OK)
		return rr;
	for (i = 0; i < a->count && rr->herrno == NETDB_SUCCESS; i++)
		rr_add_record(h, rr, type, a->data[i], a->len[i]);
	if (rr->num_rr == 0 && rr->herrno == NETDB_SUCCESS)
		rr->herrno = NO_DATA;
	return rr;
}

/* Counting */

/* Whether a lookup about to be asked is a term's (see the top). */
static int
lookup_is_term(struct spf_dns_hook *h, const char *name, ns_type type)
{
	if (type == ns_t_mx || type == ns_t_ptr)
		return 1;
	if (type != ns_t_a && type != ns_t_aaaa)
		return 0;
	if (h->next < h->npending &&
	    strcasecmp(h->pending[h->next], name) == 0) {
		h->next++;
		return 0;
	}
	h->npending = h->next = 0;
	return 1;
}

static void
pending_set(struct spf_dns_hook *h, const SPF_dns_rr_t *rr)
{
	int i;

	h->npending = h->next = 0;
	for (i = 0; i < rr->num_rr && h->npending < FILTER_SPF_ADDR_MAX; i++)
		snprintf(h->pending[h->npending++], SPF_DNS_NAME_MAX, "%s",
		         rr->rr[i]->mx);
}

static void
count_answer(struct spf_dns_hook *h, ns_type type, int term,
             enum dns_status status, const SPF_dns_rr_t *rr)
{
	if (type == ns_t_txt && h->found_spf && ++h->records > 1 &&
	    ++h->terms > FILTER_SPF_TERM_MAX)
		spf_dns_permerror(h, "more than 10 DNS-querying terms");
	if (term && (status == DNS_NXDOMAIN || status == DNS_NODATA) &&
	    ++h->voids > FILTER_SPF_VOID_MAX)
		spf_dns_permerror(h, "more than 2 void lookups");
	if (type == ns_t_mx || type == ns_t_ptr)
		pending_set(h, rr);
}

static int
type_supported(ns_type type)
{
	return type == ns_t_a || type == ns_t_aaaa || type == ns_t_mx ||
	       type == ns_t_ptr || type == ns_t_txt;
}

static SPF_dns_rr_t *
spf_dns_lookup_cb(SPF_dns_server_t *layer, const char *name, ns_type type,
                  int should_cache)
{
	struct spf_dns_hook *h = layer->hook;
	struct dns_answer a;
	SPF_dns_rr_t *rr;
	char esc[128];
	int term;

	if (type == ns_t_spf)
		return rr_new(layer, name, type, 0, NO_DATA);
	if (h->permerror != NULL || !type_supported(type))
		return rr_new(layer, name, type, 0, HOST_NOT_FOUND);
	term = lookup_is_term(h, name, type);
	if (term && ++h->terms > FILTER_SPF_TERM_MAX) {
		spf_dns_permerror(h, "more than 10 DNS-querying terms");
		return rr_new(layer, name, type, 0, HOST_NOT_FOUND);
	}
	/* A name that cannot be a DNS name (RFC 7208 4.3: malformed)
	 * exists nowhere. */
	if (dns_lookup(h->dns, name, type, &a) < 0) {
		dns_answer_free(&a);
		return rr_new(layer, name, type, 0, HOST_NOT_FOUND);
	}
	rr = filter_spf_dns_rr(layer, name, type, &a);
	count_answer(h, type, term, a.status, rr);
	log_trace(LOG_TRACE_FILTER,
	          "spf dns name=%s type=%d status=%s records=%d term=%d "
	          "terms=%u voids=%u",
	          log_escape_str(esc, sizeof(esc), name), (int)type,
	          dns_status_name(a.status), rr->num_rr, term, h->terms,
	          h->voids);
	dns_answer_free(&a);
	return rr;
}

static void
spf_dns_destroy_cb(SPF_dns_server_t *layer)
{
	free(layer->hook);
	free(layer);
}

SPF_dns_server_t *
filter_spf_dns_new(struct dns *d)
{
	SPF_dns_server_t *layer = xcalloc(1, sizeof(*layer));
	struct spf_dns_hook *h = xcalloc(1, sizeof(*h));

	h->dns = d;
	layer->destroy = spf_dns_destroy_cb;
	layer->lookup = spf_dns_lookup_cb;
	layer->name = "postern";
	layer->hook = h;
	return layer;
}

unsigned int
filter_spf_dns_terms(const SPF_dns_server_t *layer)
{
	const struct spf_dns_hook *h = layer->hook;

	return h->terms;
}

unsigned int
filter_spf_dns_voids(const SPF_dns_server_t *layer)
{
	const struct spf_dns_hook *h = layer->hook;

	return h->voids;
}

const char *
filter_spf_dns_permerror(const SPF_dns_server_t *layer)
{
	const struct spf_dns_hook *h = layer->hook;

	return h->permerror;
}
