/*
 * test_policy_clients.c - sessions per client address.
 */
#include <stdio.h>

#include "policy/policy_clients.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"

static struct netaddr
ip(const char *s)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse_ip(s, &a), 0);
	return a;
}

static void
test_limit_per_address(void **state)
{
	struct policy_clients *pc = policy_clients_new();
	struct netaddr a = ip("192.0.2.1"), b = ip("192.0.2.2");

	assert_int_equal(policy_clients_enter(pc, &a, 2), 0);
	assert_int_equal(policy_clients_enter(pc, &a, 2), 0);
	/* The third session from a is refused and not counted. */
	assert_int_equal(policy_clients_enter(pc, &a, 2), -1);
	assert_int_equal(policy_clients_count(pc, &a), 2);
	/* Another address is not affected. */
	assert_int_equal(policy_clients_enter(pc, &b, 2), 0);
	assert_int_equal(policy_clients_addresses(pc), 2);
	policy_clients_leave(pc, &a);
	assert_int_equal(policy_clients_enter(pc, &a, 2), 0);
	policy_clients_free(&pc);
	assert_null(pc);
}

static void
test_mapped_ipv6_counts_as_ipv4(void **state)
{
	struct policy_clients *pc = policy_clients_new();
	struct netaddr v4 = ip("198.51.100.9"),
	               mapped = ip("::ffff:198.51.100.9");

	assert_int_equal(policy_clients_enter(pc, &v4, 1), 0);
	assert_int_equal(policy_clients_enter(pc, &mapped, 1), -1);
	assert_int_equal(policy_clients_count(pc, &mapped), 1);
	policy_clients_free(&pc);
}

static void
test_entries_go_away_at_zero(void **state)
{
	struct policy_clients *pc = policy_clients_new();
	struct netaddr a = ip("2001:db8::1");
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(policy_clients_enter(pc, &a, 0), 0);
	assert_int_equal(policy_clients_count(pc, &a), 5);
	for (i = 0; i < 5; i++)
		policy_clients_leave(pc, &a);
	assert_int_equal(policy_clients_count(pc, &a), 0);
	assert_int_equal(policy_clients_addresses(pc), 0);
	/* Leaving an address never seen is harmless. */
	policy_clients_leave(pc, &a);
	assert_int_equal(policy_clients_addresses(pc), 0);
	policy_clients_free(&pc);
}

static void
test_many_addresses(void **state)
{
	struct policy_clients *pc = policy_clients_new();
	char buf[64];
	struct netaddr a;
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "127.%d.%d.1", i / 256, i % 256);
		a = ip(buf);
		assert_int_equal(policy_clients_enter(pc, &a, 1), 0);
	}
	assert_int_equal(policy_clients_addresses(pc), 5000);
	a = ip("127.3.4.1");
	assert_int_equal(policy_clients_enter(pc, &a, 1), -1);
	policy_clients_free(&pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_per_address),
	    cmocka_unit_test(test_mapped_ipv6_counts_as_ipv4),
	    cmocka_unit_test(test_entries_go_away_at_zero),
	    cmocka_unit_test(test_many_addresses),
	};

	return cmocka_run_group_tests_name("policy_clients", tests, NULL, NULL);
}
