/*
 * test_dns.c - util/dns.c against a real unbound that the test starts on
 * a free loopback port with local-data records: TXT joined from several
 * strings, raw A/AAAA/MX data, NXDOMAIN and NODATA, answers over the
 * bounds or that do not parse, bad names, lookups from many threads, a
 * forwarder that never answers (the lookup ends at its timeout), destroy
 * while lookups wait, libunbound's own "test." zone unless dropped, and
 * answers from the cache once the server is gone.  Nothing here reads
 * /etc/resolv.conf.  unit_unbound.h starts the server (UNBOUND names
 * its binary).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/dns.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_unbound.h"

#define KEY_LEN    1100 /* 4 strings of 255 octets and one of 80 */
#define SERVER_TTL 3600
#define LOOKUP_MS  3000
#define N_THREADS  8
#define PER_THREAD 60

struct rr {
	const char *data;
	size_t len;
};

struct lookup_case {
	const char *desc;
	const char *name;
	int type;
	enum dns_status want;
	size_t count;
	const struct rr *records; /* any order; NULL: count only */
};

static char dkim_key[KEY_LEN + 1];
static char label63[80];
static char name253[254];

static const struct rr rr_spf[] = {{"v=spf1 -all", 11}};
static const struct rr rr_dkim[] = {{dkim_key, KEY_LEN}};
static const struct rr rr_multi[] = {{"first", 5}, {"second", 6}};
static const struct rr rr_empty[] = {{"", 0}};
static const struct rr rr_a[] = {{"\x7f\x00\x00\x0a", 4}};
static const struct rr rr_aaaa[] = {{"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16}};
static const struct rr rr_mx[] = {{"\x00\x0a\x04mail\x07"
                                   "example\x04test\x00",
                                   21}};

static const struct lookup_case served_cases[] = {
    {"txt single string", "txt1.example.test", DNS_TYPE_TXT, DNS_OK, 1, rr_spf},
    {"txt name with final dot", "txt1.example.test.", DNS_TYPE_TXT, DNS_OK, 1,
     rr_spf},
    {"txt 1100-octet key from 255-octet strings", "sel._domainkey.example.test",
     DNS_TYPE_TXT, DNS_OK, 1, rr_dkim},
    {"txt two records", "multi.example.test", DNS_TYPE_TXT, DNS_OK, 2,
     rr_multi},
    {"txt one empty string", "empty.example.test", DNS_TYPE_TXT, DNS_OK, 1,
     rr_empty},
    {"txt without strings, refused by libunbound", "nostring.example.test",
     DNS_TYPE_TXT, DNS_TEMPFAIL, 0, NULL},
    {"a raw rdata", "host.example.test", DNS_TYPE_A, DNS_OK, 1, rr_a},
    {"aaaa raw rdata", "host.example.test", DNS_TYPE_AAAA, DNS_OK, 1, rr_aaaa},
    {"mx raw rdata, exchange uncompressed", "example.test", DNS_TYPE_MX, DNS_OK,
     1, rr_mx},
    {"cname followed to the a record", "alias.example.test", DNS_TYPE_A, DNS_OK,
     1, rr_a},
    {"64 records, the most allowed", "sixtyfour.example.test", DNS_TYPE_A,
     DNS_OK, 64, NULL},
    {"nxdomain", "nosuch.example.test", DNS_TYPE_TXT, DNS_NXDOMAIN, 0, NULL},
    {"nxdomain for a 63-octet label", label63, DNS_TYPE_TXT, DNS_NXDOMAIN, 0,
     NULL},
    {"nxdomain for a 253-octet name", name253, DNS_TYPE_TXT, DNS_NXDOMAIN, 0,
     NULL},
    {"nodata, the name has other types", "host.example.test", DNS_TYPE_MX,
     DNS_NODATA, 0, NULL},
    {"nodata, empty non-terminal", "ent.example.test", DNS_TYPE_A, DNS_NODATA,
     0, NULL},
    {"txt whose string overruns the rdata", "bad.example.test", DNS_TYPE_TXT,
     DNS_PERMFAIL, 0, NULL},
    {"65 records, over the bound", "many.example.test", DNS_TYPE_A,
     DNS_PERMFAIL, 0, NULL},
};

static struct unit_unbound server = {.pid = -1};
static struct dns *dns;

/* A UDP socket that is bound but never read: a forwarder that never
 * answers. */
static int silent_fd = -1;
static int silent_port;

/* -------------------------------------------------------- helpers */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Printable form of data for messages, cut at 40 octets. */
static const char *
show(const void *data, size_t len, char *buf, size_t size)
{
	const unsigned char *p = data;
	size_t i, o = 0;

	for (i = 0; i < len && i < 40 && o + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			buf[o++] = (char)p[i];
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
			                      p[i]);
	}
	snprintf(buf + o, size - o, "%s (%zu octets)", i < len ? "..." : "",
	         len);
	return buf;
}

static int
rr_find(const struct dns_answer *a, const struct rr *want, char *used)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		if (!used[i] && a->len[i] == want->len &&
		    memcmp(a->data[i], want->data, want->len) == 0 &&
		    a->data[i][want->len] == '\0') {
			used[i] = 1;
			return 0;
		}
	}
	return -1;
}

/* 0 when the lookup gave what c wants; else -1 and the reason in why. */
static int
check_answer(const struct lookup_case *c, int rc, const struct dns_answer *a,
             char *why, size_t size)
{
	char used[DNS_MAX_RECORDS] = {0}, b[256];
	size_t i;

	if (rc != 0 || a->status != c->want) {
		snprintf(why, size, "got rc %d status %s, want 0 %s", rc,
		         dns_status_name(a->status), dns_status_name(c->want));
		return -1;
	}
	if (a->count != c->count) {
		snprintf(why, size, "got %zu records, want %zu", a->count,
		         c->count);
		return -1;
	}
	if (c->want == DNS_OK && (a->ttl == 0 || a->ttl > SERVER_TTL)) {
		snprintf(why, size, "got ttl %u, want 1..%d", a->ttl,
		         SERVER_TTL);
		return -1;
	}
	for (i = 0; c->records != NULL && i < c->count; i++) {
		if (rr_find(a, &c->records[i], used) < 0) {
			snprintf(why, size, "got no record %s; first is %s",
			         show(c->records[i].data, c->records[i].len, b,
			              sizeof(b) / 2),
			         show(a->data[0], a->len[0], b + 128, 128));
			return -1;
		}
	}
	return 0;
}

static void
lookup_check(struct dns *d, const struct lookup_case *c)
{
	struct dns_answer a;
	char why[512];
	int rc;

	rc = dns_lookup(d, c->name, c->type, &a);
	if (check_answer(c, rc, &a, why, sizeof(why)) < 0)
		fail_msg("%s: %s", c->desc, why);
	dns_answer_free(&a);
}

static struct dns *
resolver_new(int port, unsigned int timeout_ms)
{
	static const char *const zones[] = {"test."};
	struct dns *d;

	d = unit_unbound_resolver(port, timeout_ms, zones, ARRAY_LEN(zones));
	if (d == NULL)
		fail();
	return d;
}

/* ----------------------------------------------------- the server */

static void
fill_names(void)
{
	size_t i, pos = 0;
	const char *head = "v=DKIM1; k=rsa; p=";

	memcpy(dkim_key, head, strlen(head));
	for (i = strlen(head); i < KEY_LEN; i++)
		dkim_key[i] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/"[i % 64];
	dkim_key[KEY_LEN] = '\0';

	memset(label63, 'l', 63);
	memcpy(label63 + 63, ".example.test", 14);

	/* Three 63-octet labels, then one making 253 with ".example.test". */
	for (i = 0; i < 3; i++) {
		memset(name253 + pos, 'a' + (int)i, 63);
		name253[pos + 63] = '.';
		pos += 64;
	}
	memset(name253 + pos, 'd', 253 - pos - 13);
	memcpy(name253 + 253 - 13, ".example.test", 14);
}

static void
write_key_record(FILE *f)
{
	size_t off;

	fprintf(f, "\tlocal-data: 'sel._domainkey.example.test. TXT");
	for (off = 0; off < KEY_LEN; off += 255)
		fprintf(f, " \"%.*s\"",
		        (int)(KEY_LEN - off < 255 ? KEY_LEN - off : 255),
		        dkim_key + off);
	fprintf(f, "'\n");
}

static void
write_records(FILE *f)
{
	int i;

	fprintf(f, "\tlocal-zone: \"example.test.\" static\n"
	           "\tlocal-data: \"example.test. SOA ns.example.test. "
	           "hostmaster.example.test. 1 3600 600 86400 300\"\n"
	           "\tlocal-data: 'txt1.example.test. TXT \"v=spf1 -all\"'\n"
	           "\tlocal-data: 'multi.example.test. TXT \"first\"'\n"
	           "\tlocal-data: 'multi.example.test. TXT \"second\"'\n"
	           "\tlocal-data: 'empty.example.test. TXT \"\"'\n"
	           "\tlocal-data: 'nostring.example.test. TYPE16 \\# 0'\n"
	           "\tlocal-data: 'bad.example.test. TYPE16 \\# 3 056162'\n"
	           "\tlocal-data: 'host.example.test. A 127.0.0.10'\n"
	           "\tlocal-data: 'host.example.test. AAAA ::1'\n"
	           "\tlocal-data: 'alias.example.test. CNAME "
	           "host.example.test.'\n"
	           "\tlocal-data: 'example.test. MX 10 mail.example.test.'\n"
	           "\tlocal-data: 'a.ent.example.test. A 127.0.0.11'\n");
	for (i = 0; i < 65; i++)
		fprintf(f, "\tlocal-data: 'many.example.test. A 127.0.1.%d'\n",
		        i);
	for (i = 0; i < 64; i++)
		fprintf(f,
		        "\tlocal-data: 'sixtyfour.example.test. A "
		        "127.0.2.%d'\n",
		        i);
	write_key_record(f);
}

static int
open_silent(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (silent_fd < 0 ||
	    bind(silent_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(silent_fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	silent_port = ntohs(sin.sin_port);
	return 0;
}

static int
group_setup(void **state)
{
	fill_names();
	if (unit_tmpdir_make("postern-test-dns") < 0 || open_silent() < 0)
		return -1;
	if (unit_unbound_start(&server, write_records) < 0)
		return -1;
	dns = resolver_new(server.port, LOOKUP_MS);
	return 0;
}

static int
group_teardown(void **state)
{
	dns_destroy(&dns);
	unit_unbound_stop(&server);
	if (silent_fd >= 0)
		close(silent_fd);
	unit_tmpdir_remove();
	return 0;
}

/* ---------------------------------------------------------- tests */

static void
test_served_records(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(served_cases); i++)
		lookup_check(dns, &served_cases[i]);
}

static void
test_bad_names(void **state)
{
	static const struct {
		const char *desc;
		const char *name;
		int type;
	} cases[] = {
	    {"empty name", "", DNS_TYPE_TXT},
	    {"null name", NULL, DNS_TYPE_TXT},
	    {"only the root dot", ".", DNS_TYPE_TXT},
	    {"empty label", "a..example.test", DNS_TYPE_TXT},
	    {"leading dot", ".example.test", DNS_TYPE_TXT},
	    {"two final dots", "example.test..", DNS_TYPE_TXT},
	    {"64-octet label",
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     ".example.test",
	     DNS_TYPE_TXT},
	    {"space", "a b.example.test", DNS_TYPE_TXT},
	    {"backslash escape", "a\\.b.example.test", DNS_TYPE_TXT},
	    {"8-bit octet", "caf\xc3\xa9.example.test", DNS_TYPE_TXT},
	    {"newline", "a\n.example.test", DNS_TYPE_TXT},
	    {"type 0", "txt1.example.test", 0},
	    {"type 65536", "txt1.example.test", 65536},
	};
	char name254[256];
	struct dns_answer a;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		rc = dns_lookup(dns, cases[i].name, cases[i].type, &a);
		if (rc != -1 || a.status != DNS_PERMFAIL || a.count != 0)
			fail_msg("%s: got rc %d status %s, want -1 permfail",
			         cases[i].desc, rc, dns_status_name(a.status));
		dns_answer_free(&a);
	}

	snprintf(name254, sizeof(name254), "%.192sd%s", name253, name253 + 192);
	rc = dns_lookup(dns, name254, DNS_TYPE_TXT, &a);
	if (rc != -1 || a.status != DNS_PERMFAIL)
		fail_msg("254-octet name: got rc %d status %s, want -1 "
		         "permfail",
		         rc, dns_status_name(a.status));
}

struct worker {
	size_t index;
	struct dns *d;
	atomic_int *failures;
	atomic_int *tempfails;
	char why[600];
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	const struct lookup_case *c;
	struct dns_answer a;
	char why[512];
	size_t i;
	int rc;

	for (i = 0; i < PER_THREAD; i++) {
		c = &served_cases[(w->index * 7 + i) % ARRAY_LEN(served_cases)];
		rc = dns_lookup(dns, c->name, c->type, &a);
		if (check_answer(c, rc, &a, why, sizeof(why)) < 0 &&
		    atomic_fetch_add(w->failures, 1) == 0)
			snprintf(w->why, sizeof(w->why), "%s: %s", c->desc,
			         why);
		dns_answer_free(&a);
	}
	return NULL;
}

static void
test_concurrent_lookups(void **state)
{
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	atomic_int failures = 0;
	unsigned long before, after, timeouts;
	size_t i;

	dns_stats(dns, &before, &timeouts);
	for (i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){.index = i, .failures = &failures};
		assert_int_equal(
		    pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < N_THREADS; i++) {
		if (w[i].why[0] != '\0')
			fail_msg("thread %zu, %d failures in all: %s", i,
			         atomic_load(&failures), w[i].why);
	}
	dns_stats(dns, &after, &timeouts);
	if (after - before != N_THREADS * PER_THREAD || timeouts != 0)
		fail_msg("got %lu queries %lu timeouts, want %d 0",
		         after - before, timeouts, N_THREADS * PER_THREAD);
}

/* A 1 ms timeout against the live server: answers and timeouts race
 * in every order; each lookup is right or a TEMPFAIL, never garbage. */
static void *
racer_main(void *arg)
{
	struct worker *w = arg;
	struct lookup_case c = served_cases[w->index % 3];
	struct dns_answer a;
	char why[512], name[64];
	size_t i;
	int rc;

	for (i = 0; i < PER_THREAD; i++) {
		if (i % 2 == 1) {
			snprintf(name, sizeof(name), "r%zu-%zu.example.test",
			         w->index, i);
			c = (struct lookup_case){
			    "fresh nxdomain", name, DNS_TYPE_A,
			    DNS_NXDOMAIN,     0,    NULL};
		}
		rc = dns_lookup(w->d, c.name, c.type, &a);
		if (rc == 0 && a.status == DNS_TEMPFAIL && a.count == 0)
			atomic_fetch_add(w->tempfails, 1);
		else if (check_answer(&c, rc, &a, why, sizeof(why)) < 0 &&
		         atomic_fetch_add(w->failures, 1) == 0)
			snprintf(w->why, sizeof(w->why), "%s: %s", c.desc, why);
		dns_answer_free(&a);
		c = served_cases[w->index % 3];
	}
	return NULL;
}

static void
test_timeouts_racing_answers(void **state)
{
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	atomic_int failures = 0, tempfails = 0;
	unsigned long queries, timeouts;
	struct dns *d = resolver_new(server.port, 1);
	size_t i;

	for (i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){.index = i,
		                       .d = d,
		                       .failures = &failures,
		                       .tempfails = &tempfails};
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &w[i]),
		                 0);
	}
	for (i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	dns_stats(d, &queries, &timeouts);
	dns_destroy(&d);
	for (i = 0; i < N_THREADS; i++) {
		if (w[i].why[0] != '\0')
			fail_msg("thread %zu, %d failures in all: %s", i,
			         atomic_load(&failures), w[i].why);
	}
	if (timeouts != (unsigned long)atomic_load(&tempfails))
		fail_msg("got %lu timeouts counted, want %d", timeouts,
		         atomic_load(&tempfails));
	print_message("%lu answered, %lu timed out\n",
	              (unsigned long)N_THREADS * PER_THREAD - timeouts,
	              timeouts);
}

static void
test_timeout_silent_forwarder(void **state)
{
	struct dns *d = resolver_new(silent_port, 500);
	unsigned long queries, timeouts;
	struct dns_answer a;
	double t0, took;
	int rc;

	t0 = now_ms();
	rc = dns_lookup(d, "txt1.example.test", DNS_TYPE_TXT, &a);
	took = now_ms() - t0;
	dns_stats(d, &queries, &timeouts);
	if (rc != 0 || a.status != DNS_TEMPFAIL)
		fail_msg("got rc %d status %s, want 0 tempfail", rc,
		         dns_status_name(a.status));
	if (took < 450 || took > 1500)
		fail_msg("got the answer after %.0f ms, want about 500", took);
	if (queries != 0 || timeouts != 1)
		fail_msg("got %lu queries %lu timeouts, want 0 1", queries,
		         timeouts);

	/* The query is still inside libunbound: destroy must not wait
	 * for it. */
	t0 = now_ms();
	dns_destroy(&d);
	took = now_ms() - t0;
	if (d != NULL || took > 1000)
		fail_msg("destroy: got %p after %.0f ms, want NULL within "
		         "1000",
		         (void *)d, took);
}

struct waiter {
	struct dns *d;
	int rc;
	struct dns_answer a;
	double took;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;
	double t0 = now_ms();

	w->rc = dns_lookup(w->d, "txt1.example.test", DNS_TYPE_TXT, &w->a);
	w->took = now_ms() - t0;
	return NULL;
}

static void
test_destroy_while_waiting(void **state)
{
	struct waiter w[4];
	pthread_t t[4];
	struct dns *d = resolver_new(silent_port, 20000);
	double t0, took;
	size_t i;

	for (i = 0; i < ARRAY_LEN(w); i++) {
		w[i] = (struct waiter){.d = d, .rc = 99};
		assert_int_equal(
		    pthread_create(&t[i], NULL, waiter_main, &w[i]), 0);
	}
	unit_sleep_ms(300);
	t0 = now_ms();
	dns_destroy(&d);
	took = now_ms() - t0;
	for (i = 0; i < ARRAY_LEN(w); i++)
		pthread_join(t[i], NULL);
	if (took > 2000)
		fail_msg("destroy took %.0f ms, want under 2000", took);
	for (i = 0; i < ARRAY_LEN(w); i++) {
		if (w[i].rc != 0 || w[i].a.status != DNS_TEMPFAIL ||
		    w[i].took > 2500)
			fail_msg("waiter %zu: got rc %d status %s after %.0f "
			         "ms, want 0 tempfail within 2500",
			         i, w[i].rc, dns_status_name(w[i].a.status),
			         w[i].took);
		dns_answer_free(&w[i].a);
	}
}

/* Without "test." in nodefault_zones, libunbound answers from its own
 * RFC 6761 zone and never asks the forwarder. */
static void
test_builtin_test_zone_without_nodefault(void **state)
{
	char fwd[64];
	const char *fwds[] = {fwd};
	struct dns_options opt = {
	    .forwarders = fwds, .nforwarders = 1, .timeout_ms = LOOKUP_MS};
	const char *error = NULL;
	struct dns_answer a;
	struct dns *d;
	int rc;

	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", server.port);
	d = dns_create(&opt, &error);
	assert_non_null(d);
	rc = dns_lookup(d, "txt1.example.test", DNS_TYPE_TXT, &a);
	dns_destroy(&d);
	if (rc != 0 || a.status != DNS_NXDOMAIN)
		fail_msg("got rc %d status %s, want 0 nxdomain", rc,
		         dns_status_name(a.status));
	dns_answer_free(&a);
}

static void
test_create_errors(void **state)
{
	static const struct {
		const char *desc;
		const char *forwarder;
		const char *anchor; /* "GARBAGE": a file that is not one */
	} cases[] = {
	    {"forwarder is a name", "dns.example.test", NULL},
	    {"forwarder port not a number", "127.0.0.1@port", NULL},
	    {"forwarder empty", "", NULL},
	    {"trust anchor missing", "127.0.0.1", "/nonexistent/root.key"},
	    {"trust anchor not an anchor", "127.0.0.1", "GARBAGE"},
	};
	const char *garbage = unit_tmp("anchor"), *fwds[1], *error;
	struct dns_options opt = {.forwarders = fwds, .nforwarders = 1};
	struct dns *d;
	size_t i;

	unit_write_text(garbage, "this is ( not a zone file\n");
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		fwds[0] = cases[i].forwarder;
		opt.trust_anchor_file = cases[i].anchor;
		if (opt.trust_anchor_file != NULL &&
		    strcmp(opt.trust_anchor_file, "GARBAGE") == 0)
			opt.trust_anchor_file = garbage;
		error = NULL;
		d = dns_create(&opt, &error);
		if (d != NULL || error == NULL || strncmp(error, "dns: ", 5))
			fail_msg("%s: got %p \"%s\", want NULL \"dns: ...\"",
			         cases[i].desc, (void *)d,
			         error ? error : "(null)");
	}
}

static void
test_status_names(void **state)
{
	static const struct {
		enum dns_status s;
		const char *want;
	} cases[] = {
	    {DNS_OK, "ok"},
	    {DNS_NXDOMAIN, "nxdomain"},
	    {DNS_NODATA, "nodata"},
	    {DNS_TEMPFAIL, "tempfail"},
	    {DNS_PERMFAIL, "permfail"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		assert_string_equal(dns_status_name(cases[i].s), cases[i].want);
}

/* Runs last: it stops the server. */
static void
test_cache_after_server_stops(void **state)
{
	static const struct lookup_case cached = {
	    "cached after the server stopped",
	    "sel._domainkey.example.test",
	    DNS_TYPE_TXT,
	    DNS_OK,
	    1,
	    rr_dkim};
	static const struct lookup_case gone = {
	    "not cached after the server stopped",
	    "txt1.example.test",
	    DNS_TYPE_MX,
	    DNS_TEMPFAIL,
	    0,
	    NULL};

	lookup_check(dns, &cached);
	unit_unbound_stop(&server);
	assert_false(unit_unbound_accepts(server.port));
	lookup_check(dns, &cached);
	lookup_check(dns, &gone);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_served_records),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_concurrent_lookups),
	    cmocka_unit_test(test_timeouts_racing_answers),
	    cmocka_unit_test(test_timeout_silent_forwarder),
	    cmocka_unit_test(test_destroy_while_waiting),
	    cmocka_unit_test(test_builtin_test_zone_without_nodefault),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_cache_after_server_stops),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
