/*
 * unit_msg.h - what the filter tests share: a transaction of session
 * "test" whose message is spooled from a string, and the message read
 * back through the outgoing reader, as the next hop would get it.
 * Helpers are static inline, as in unit.h.
 */
#ifndef POSTERN_TESTS_UNIT_MSG_H
#define POSTERN_TESTS_UNIT_MSG_H

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "tests/unit/unit.h"
#include "util/spool.h"

struct unit_msg {
	struct filter_session s;
	struct filter_txn t;
	struct spool *sp;
};

/* msg spooled in /tmp (in memory up to memlimit octets) as m->t's
 * message, not yet indexed. */
static inline void
unit_msg_init(struct unit_msg *m, const char *msg, size_t memlimit)
{
	const char *error;

	memset(m, 0, sizeof(*m));
	strcpy(m->s.id, "test");
	filter_txn_init(&m->t, &m->s);
	m->sp = spool_new("/tmp", memlimit);
	assert_int_equal(spool_write(m->sp, msg, strlen(msg), &error), 0);
	m->t.message = m->sp;
}

static inline void
unit_msg_deinit(struct unit_msg *m)
{
	filter_txn_deinit(&m->t);
	spool_free(&m->sp);
}

/* The whole outgoing message of t, read chunk octets at a time;
 * allocated. */
static inline char *
unit_msg_read_all(const struct filter_txn *t, size_t chunk)
{
	struct filter_msg_reader r;
	size_t len = 0, cap = 4096;
	char *out = xmalloc(cap);
	const char *error;
	ssize_t n;

	filter_msg_reader_init(&r, t);
	for (;;) {
		if (len + chunk + 1 > cap) {
			cap = (len + chunk + 1) * 2;
			out = xrealloc(out, cap);
		}
		n = filter_msg_read(&r, out + len, chunk, &error);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	return out;
}

#endif
