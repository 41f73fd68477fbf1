/*
 * test_policy_auth.c - AUTH failure delays and lockouts in
 * policy/policy_auth.c.
 *
 * Each case is a script of steps at given times, for given addresses:
 * a failure with the delay it must earn, a lock check with the seconds
 * left it must give, a success.  Delays double and stop at the cap;
 * the lockout starts at the limit and ends lockout seconds after the
 * last failure; old failures expire; addresses are independent, and an
 * IPv4-mapped address is its IPv4 address.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy_auth.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"

enum step_kind { FAIL, LOCKED, OK, COUNT };

struct step {
	enum step_kind kind;
	const char *addr;
	time_t at;
	unsigned int want; /* delay, seconds locked, or count */
};

#define STEPS_MAX 12

struct auth_case {
	const char *name;
	struct policy_auth_limits lim;
	struct step steps[STEPS_MAX];
	size_t naddresses; /* want at the end */
};

#define A "192.0.2.1"
#define B "192.0.2.2"

static const struct auth_case auth_cases[] = {
    {"delays double up to the cap",
     {10, 600, 1, 4},
     {{FAIL, A, 100, 1},
      {FAIL, A, 101, 2},
      {FAIL, A, 102, 4},
      {FAIL, A, 103, 4},
      {COUNT, A, 103, 4}},
     1},
    {"no delay configured",
     {3, 600, 0, 0},
     {{FAIL, A, 100, 0}, {FAIL, A, 101, 0}, {LOCKED, A, 101, 0}},
     1},
    {"locked at the limit until lockout after the last failure",
     {3, 600, 1, 16},
     {{FAIL, A, 100, 1},
      {LOCKED, A, 100, 0},
      {FAIL, A, 110, 2},
      {FAIL, A, 120, 4},
      {LOCKED, A, 120, 600},
      {LOCKED, A, 719, 1},
      {LOCKED, A, 720, 0}},
     1},
    {"old failures expire",
     {3, 60, 1, 16},
     {{FAIL, A, 100, 1},
      {FAIL, A, 110, 2},
      {FAIL, A, 170, 1},
      {COUNT, A, 170, 1},
      {LOCKED, A, 170, 0}},
     1},
    {"success forgets the address",
     {3, 600, 1, 16},
     {{FAIL, A, 100, 1},
      {FAIL, A, 101, 2},
      {OK, A, 102, 0},
      {COUNT, A, 102, 0},
      {FAIL, A, 103, 1}},
     1},
    {"addresses are independent",
     {2, 600, 1, 16},
     {{FAIL, A, 100, 1},
      {FAIL, A, 101, 2},
      {FAIL, B, 102, 1},
      {LOCKED, A, 102, 599},
      {LOCKED, B, 102, 0}},
     2},
    {"ipv4-mapped is the ipv4 address",
     {2, 600, 1, 16},
     {{FAIL, A, 100, 1},
      {FAIL, "::ffff:" A, 101, 2},
      {LOCKED, A, 101, 600},
      {COUNT, "::ffff:" A, 101, 2}},
     1},
    {"ipv6 addresses",
     {1, 600, 2, 16},
     {{FAIL, "2001:db8::1", 100, 2},
      {LOCKED, "2001:db8::1", 100, 600},
      {LOCKED, "2001:db8::2", 100, 0}},
     1},
    {"unknown address is not locked",
     {1, 600, 1, 16},
     {{LOCKED, A, 100, 0}, {OK, B, 100, 0}},
     0},
};

static void
make_addr(const char *ip, struct netaddr *a)
{
	if (netaddr_parse_ip(ip, a) < 0)
		fail_msg("bad test address %s", ip);
}

static void
run_case(const struct auth_case *c)
{
	struct policy_auth *pa = policy_auth_new();
	char what[64];
	size_t i;

	for (i = 0; i < STEPS_MAX && c->steps[i].addr != NULL; i++) {
		const struct step *st = &c->steps[i];
		struct netaddr a;
		unsigned int got = 0;

		make_addr(st->addr, &a);
		if (st->kind == FAIL)
			got = policy_auth_failed(pa, &a, &c->lim, st->at);
		else if (st->kind == LOCKED)
			got = policy_auth_locked(pa, &a, &c->lim, st->at);
		else if (st->kind == COUNT)
			got = policy_auth_count(pa, &a);
		else
			policy_auth_succeeded(pa, &a);
		snprintf(what, sizeof(what), "step %zu", i + 1);
		check_int(c->name, what, got, st->want);
	}
	check_int(c->name, "addresses", (long long)policy_auth_addresses(pa),
	          (long long)c->naddresses);
	policy_auth_free(&pa);
	check_int(c->name, "freed", pa == NULL, 1);
}

static void
test_policy_auth_cases(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(auth_cases); i++)
		run_case(&auth_cases[i]);
}

/* Many addresses failing once: expired ones are swept, live ones kept. */
static void
test_policy_auth_sweep(void **state)
{
	const struct policy_auth_limits lim = {5, 60, 1, 16};
	struct policy_auth *pa = policy_auth_new();
	struct netaddr a;
	char ip[32];
	unsigned int i;

	for (i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 256, i % 256);
		make_addr(ip, &a);
		/* A new address every second: at most 60 are alive. */
		policy_auth_failed(pa, &a, &lim, (time_t)1000 + i);
	}
	if (policy_auth_addresses(pa) > 1100)
		fail_msg("sweep: got %zu addresses, want at most 1100",
		         policy_auth_addresses(pa));
	make_addr("10.0.11.183", &a); /* the last one, i = 2999 */
	check_int("sweep", "last kept", policy_auth_count(pa, &a), 1);
	policy_auth_free(&pa);
	policy_auth_free(&pa); /* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_auth_cases),
	    cmocka_unit_test(test_policy_auth_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
