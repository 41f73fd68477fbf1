/*
 * test_smtp_data.c - the DATA decoder and encoder.
 *
 * The decoder is where SMTP smuggling is stopped, so besides tables of
 * shapes it is checked on every split of its input and against a
 * simple line-based reference on random input.  The encoder gets the
 * same against its own reference.  Both have fast paths for plain CRLF
 * lines, so they are also run on a megabyte of mixed lines cut into
 * random chunks, and on bulk input that would expose a rescanning
 * (quadratic) search.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proxy/smtp_data.h"

#define LIMIT 1000

struct out {
	char *data;
	size_t len;
	size_t cap;
	size_t calls;
	int fail; /* the sink fails on this call (1-based), 0: never */
};

static int
out_sink(void *arg, const char *data, size_t len)
{
	struct out *o = arg;

	o->calls++;
	if (o->fail != 0 && o->calls == (size_t)o->fail)
		return -1;
	if (o->len + len + 1 > o->cap) {
		o->cap = (o->len + len + 1) * 2;
		o->data = realloc(o->data, o->cap);
		assert_non_null(o->data);
	}
	memcpy(o->data + o->len, data, len);
	o->len += len;
	o->data[o->len] = '\0';
	return 0;
}

static void
out_free(struct out *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}

/* C-style escape for failure messages. */
static const char *
esc(const char *p, size_t len, char *buf, size_t size)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			o += (size_t)snprintf(buf + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, size - o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static void
check_bytes(const char *name, const char *what, const char *got, size_t gotlen,
            const char *want, size_t wantlen)
{
	char g[2048], w[2048];

	if (gotlen == wantlen && memcmp(got, want, gotlen) == 0)
		return;
	print_error("%s: %s: got \"%s\", want \"%s\"\n", name, what,
	            esc(got, gotlen, g, sizeof(g)),
	            esc(want, wantlen, w, sizeof(w)));
	fail();
}

static void
check_num(const char *name, const char *what, long long got, long long want)
{
	if (got == want)
		return;
	print_error("%s: %s: got %lld, want %lld\n", name, what, got, want);
	fail();
}

struct decoded {
	struct out out;
	size_t consumed; /* octets consumed in total */
	int done;
	unsigned int flags;
	size_t lines;
};

/*
 * Decode in chunks ending at the offsets in cuts[] (ascending) and at
 * len.  Stops at the end of data like a session would, handing the
 * rest of the buffer to the next command.
 */
static void
decode_split(const char *in, size_t len, int prev_crlf, size_t limit,
             const size_t *cuts, size_t ncuts, struct decoded *res)
{
	struct smtp_data_decoder d;
	size_t start = 0, i;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	smtp_data_decoder_init(&d, limit, prev_crlf);
	for (i = 0; i <= ncuts && !res->done; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		n = smtp_data_decode(&d, in + start, end - start, &res->done,
		                     out_sink, &res->out);
		assert_true(n >= 0);
		assert_true((size_t)n <= end - start);
		if (!res->done)
			assert_int_equal((size_t)n, end - start);
		res->consumed += (size_t)n;
		start = end;
	}
	res->flags = d.flags;
	res->lines = d.lines;
}

static void
decode_whole(const char *in, size_t len, int prev_crlf, size_t limit,
             struct decoded *res)
{
	decode_split(in, len, prev_crlf, limit, NULL, 0, res);
}

static void
decode_bytewise(const char *in, size_t len, int prev_crlf, size_t limit,
                struct decoded *res)
{
	size_t *cuts = calloc(len + 1, sizeof(*cuts));
	size_t i;

	assert_non_null(cuts);
	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	decode_split(in, len, prev_crlf, limit, cuts, len > 0 ? len - 1 : 0,
	             res);
	free(cuts);
}

static void
check_same(const char *name, const char *how, const struct decoded *got,
           const struct decoded *want)
{
	char what[64];

	snprintf(what, sizeof(what), "%s output", how);
	check_bytes(name, what, got->out.data ? got->out.data : "",
	            got->out.len, want->out.data ? want->out.data : "",
	            want->out.len);
	snprintf(what, sizeof(what), "%s consumed", how);
	check_num(name, what, (long long)got->consumed,
	          (long long)want->consumed);
	snprintf(what, sizeof(what), "%s done", how);
	check_num(name, what, got->done, want->done);
	snprintf(what, sizeof(what), "%s flags", how);
	check_num(name, what, got->flags, want->flags);
	snprintf(what, sizeof(what), "%s lines", how);
	check_num(name, what, (long long)got->lines, (long long)want->lines);
}

/* Whole, one octet at a time, and every 2-way split agree. */
static void
check_all_splits(const char *name, const char *in, size_t len, int prev_crlf,
                 size_t limit, const struct decoded *whole)
{
	struct decoded res;
	char how[64];
	size_t cut;

	decode_bytewise(in, len, prev_crlf, limit, &res);
	check_same(name, "bytewise", &res, whole);
	out_free(&res.out);
	for (cut = 0; cut <= len; cut++) {
		decode_split(in, len, prev_crlf, limit, &cut, 1, &res);
		snprintf(how, sizeof(how), "split at %zu", cut);
		check_same(name, how, &res, whole);
		out_free(&res.out);
	}
}

/* What follows the end of data in every case: must not be consumed. */
#define NEXT "MAIL FROM:<a@b>\r\n"

struct decode_case {
	const char *name;
	const char *in; /* NEXT is appended */
	size_t inlen;   /* 0: strlen(in) */
	int prev_crlf;
	const char *out;
	size_t outlen; /* 0: strlen(out) */
	unsigned int flags;
	size_t lines;
	int done; /* 0: the input does not end the data */
};

#define LF   SMTP_DATA_BARE_LF
#define CR   SMTP_DATA_BARE_CR
#define LONG SMTP_DATA_LONG_LINE
#define NUL  SMTP_DATA_NUL

static const struct decode_case decode_cases[] = {
    {"plain message", "a\r\nb\r\n.\r\n", 0, 1, "a\r\nb\r\n", 0, 0, 2, 1},
    {"empty message", ".\r\n", 0, 1, "", 0, 0, 0, 1},
    {"empty lines only", "\r\n\r\n.\r\n", 0, 1, "\r\n\r\n", 0, 0, 2, 1},
    {"dot-stuffed line loses one dot", "a\r\n..b\r\n.\r\n", 0, 1, "a\r\n.b\r\n",
     0, 0, 2, 1},
    {"double dot line becomes a dot line", "a\r\n..\r\n.\r\n", 0, 1,
     "a\r\n.\r\n", 0, 0, 2, 1},
    {"unstuffed dot at first line", "..x\r\n.\r\n", 0, 1, ".x\r\n", 0, 0, 1, 1},
    {"dot in mid line kept", "a.b\r\n.\r\n", 0, 1, "a.b\r\n", 0, 0, 1, 1},
    {"dot then space is content", "a\r\n. \r\n.\r\n", 0, 1, "a\r\n \r\n", 0, 0,
     2, 1},

    /* Fake ends of data: content, flagged, the real end comes later. */
    {"LF.LF is content", "a\n.\nb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, LF, 3,
     1},
    {"LF.CRLF is content", "a\n.\r\nb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, LF,
     3, 1},
    {"CRLF.LF is content", "a\r\n.\nb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, LF,
     3, 1},
    {"CR.CR is content", "a\r.\rb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, CR, 3,
     1},
    {"CR.CRLF is content", "a\r.\r\nb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, CR,
     3, 1},
    {"CRLF.CR is content", "a\r\n.\rb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0, CR,
     3, 1},
    {"LF.CR is content", "a\n.\rb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0,
     LF | CR, 3, 1},
    {"CR.LF is content", "a\r.\nb\r\n.\r\n", 0, 1, "a\r\n.\r\nb\r\n", 0,
     CR | LF, 3, 1},
    {"CRLF.CRCRLF is content", "a\r\n.\r\r\nb\r\n.\r\n", 0, 1,
     "a\r\n.\r\n\r\nb\r\n", 0, CR, 4, 1},
    {"CRLF.LFLF is content", "a\r\n.\n\nb\r\n.\r\n", 0, 1,
     "a\r\n.\r\n\r\nb\r\n", 0, LF, 4, 1},
    {"LF.LF at start is content", ".\nb\r\n.\r\n", 0, 1, ".\r\nb\r\n", 0, LF, 2,
     1},
    {"CRLF.CR at start is content", ".\rb\r\n.\r\n", 0, 1, ".\r\nb\r\n", 0, CR,
     2, 1},
    {"LF..LF unstuffed after bare LF", "a\n..\nb\r\n.\r\n", 0, 1,
     "a\r\n.\r\nb\r\n", 0, LF, 3, 1},
    {"LF.x unstuffed after bare LF", "a\n.x\r\n.\r\n", 0, 1, "a\r\nx\r\n", 0,
     LF, 2, 1},
    {"bare LF alone", "a\nb\r\n.\r\n", 0, 1, "a\r\nb\r\n", 0, LF, 2, 1},
    {"bare CR alone", "a\rb\r\n.\r\n", 0, 1, "a\r\nb\r\n", 0, CR, 2, 1},
    {"CRCRLF is bare CR then CRLF", "a\r\r\nb\r\n.\r\n", 0, 1, "a\r\n\r\nb\r\n",
     0, CR, 3, 1},
    {"LFCRLF is bare LF then CRLF", "a\n\r\nb\r\n.\r\n", 0, 1, "a\r\n\r\nb\r\n",
     0, LF, 3, 1},

    /* Real ends right after a bare ending, and partial input. */
    {"LF.CRLF then .CRLF ends", "a\n.\r\n.\r\n", 0, 1, "a\r\n.\r\n", 0, LF, 2,
     1},
    {"CR then CRLF.CRLF ends", "a\r\r\n.\r\n", 0, 1, "a\r\n\r\n", 0, CR, 2, 1},
    {"no end of data yet", "a\r\n.\r", 0, 1, "a\r\n", 0, 0, 1, 0},
    {"pending dot", "a\r\n.", 0, 1, "a\r\n", 0, 0, 1, 0},
    {"pending CR", "a\r", 0, 1, "a", 0, 0, 0, 0},
    {"pending LF.CR", "a\n.\r", 0, 1, "a\r\n", 0, LF, 1, 0},

    /* prev_crlf = 0: DATA ended with a bare LF. */
    {"after bare LF, .CRLF is content", ".\r\n.\r\n", 0, 0, ".\r\n", 0, 0, 1,
     1},
    {"after bare LF, .LF is content", ".\nx\r\n.\r\n", 0, 0, ".\r\nx\r\n", 0,
     LF, 2, 1},
    {"after bare LF, empty line then end", "\r\n.\r\n", 0, 0, "\r\n", 0, 0, 1,
     1},
    {"after bare LF, stuffed dot", "..a\r\n.\r\n", 0, 0, ".a\r\n", 0, 0, 1, 1},

    /* NUL is kept and flagged. */
    {"NUL kept", "a\0b\r\n.\r\n", 8, 1, "a\0b\r\n", 5, NUL, 1, 1},
    {"NUL after dot", "a\r\n.\0\r\n.\r\n", 10, 1, "a\r\n\0\r\n", 6, NUL, 2, 1},
};

static void
run_decode_case(const struct decode_case *c, size_t limit)
{
	size_t inlen = c->inlen ? c->inlen : strlen(c->in);
	size_t outlen = c->outlen ? c->outlen : strlen(c->out);
	size_t full = inlen + strlen(NEXT);
	char *in = malloc(full);
	struct decoded res;

	assert_non_null(in);
	memcpy(in, c->in, inlen);
	memcpy(in + inlen, NEXT, strlen(NEXT));
	/* Without an end of data, NEXT is just more content. */
	if (!c->done)
		full = inlen;

	decode_whole(in, full, c->prev_crlf, limit, &res);
	check_bytes(c->name, "output", res.out.data ? res.out.data : "",
	            res.out.len, c->out, outlen);
	check_num(c->name, "done", res.done, c->done);
	check_num(c->name, "consumed", (long long)res.consumed,
	          (long long)inlen);
	check_num(c->name, "flags", res.flags, c->flags);
	check_num(c->name, "lines", (long long)res.lines, (long long)c->lines);
	check_all_splits(c->name, in, full, c->prev_crlf, limit, &res);
	out_free(&res.out);
	free(in);
}

static void
test_decode_shapes(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++)
		run_decode_case(&decode_cases[i], LIMIT);
}

static void
test_decode_stops_at_end(void **state)
{
	static const char in[] = "a\r\n.\r\nRSET\r\n";
	struct smtp_data_decoder d;
	struct out o = {0};
	int done = 0;
	ssize_t n;

	smtp_data_decoder_init(&d, LIMIT, 1);
	n = smtp_data_decode(&d, in, strlen(in), &done, out_sink, &o);
	check_num("stops at end", "consumed", n, 6);
	check_num("stops at end", "done", done, 1);

	/* Called again after the end: nothing more is taken. */
	n = smtp_data_decode(&d, in + 6, strlen(in) - 6, &done, out_sink, &o);
	check_num("again after end", "consumed", n, 0);
	check_num("again after end", "done", done, 1);
	check_bytes("stops at end", "output", o.data, o.len, "a\r\n", 3);
	out_free(&o);
}

struct long_case {
	const char *name;
	const char *in;
	size_t limit;
	unsigned int flags;
};

static const struct long_case long_cases[] = {
    {"CRLF line at limit", "12345678\r\n.\r\n", 10, 0},
    {"CRLF line at limit+1", "123456789\r\n.\r\n", 10, LONG},
    {"bare LF line at limit", "123456789\n.\r\n", 10, LF},
    {"bare LF line at limit+1", "1234567890\n.\r\n", 10, LF | LONG},
    {"bare CR line at limit", "123456789\rx\r\n.\r\n", 10, CR},
    {"bare CR line at limit+1", "1234567890\rx\r\n.\r\n", 10, CR | LONG},
    /* RFC 5321 4.5.3.1.6: the dot added for transparency does not
     * count toward the line limit. */
    {"stuffing dot not counted", "..2345678\r\n.\r\n", 10, 0},
    {"stuffed line at limit+1", "..23456789\r\n.\r\n", 10, LONG},
    {"stuffed dot line at limit", ".2345678\r\n.\r\n", 10, 0},
    {"second line at limit+1", "a\r\n123456789\r\n.\r\n", 10, LONG},
    {"unterminated line at limit+1", "12345678901", 10, LONG},
    {"unterminated line at limit", "1234567890", 10, 0},
    {"pending CR at limit", "123456789\r", 10, 0},
    {"end of data line is not content", "a\r\n.\r\n", 3, 0},
    {"end of data line with tiny limit", ".\r\n", 1, 0},
    {"lone dot line with tiny limit", ".\nx\r\n.\r\n", 1, LF | LONG},
    {"limit 0 means none", "1234567890123456789\r\n.\r\n", 0, 0},
};

static void
test_decode_long_lines(void **state)
{
	size_t i;
	struct decoded res;

	for (i = 0; i < sizeof(long_cases) / sizeof(long_cases[0]); i++) {
		const struct long_case *c = &long_cases[i];
		size_t len = strlen(c->in);

		decode_whole(c->in, len, 1, c->limit, &res);
		check_num(c->name, "flags", res.flags, c->flags);
		check_all_splits(c->name, c->in, len, 1, c->limit, &res);
		out_free(&res.out);
	}
}

static void
test_decode_batches_output(void **state)
{
	const size_t nlines = 2000;
	const char *line = "0123456789abcdefghijklmnopqrstuvwxyz.\r\n";
	size_t linelen = strlen(line), i;
	char *in = malloc(nlines * linelen + 3);
	struct decoded res;

	assert_non_null(in);
	for (i = 0; i < nlines; i++)
		memcpy(in + i * linelen, line, linelen);
	memcpy(in + nlines * linelen, ".\r\n", 3);
	decode_whole(in, nlines * linelen + 3, 1, LIMIT, &res);
	check_num("batches output", "done", res.done, 1);
	check_num("batches output", "output length", (long long)res.out.len,
	          (long long)(nlines * linelen));
	/* 78000 octets: a sink call per line would be 4000. */
	if (res.out.calls > 40) {
		print_error("sink calls: got %zu, want <= 40\n", res.out.calls);
		fail();
	}
	out_free(&res.out);
	free(in);
}

static void
test_decode_sink_failure(void **state)
{
	static const char in[] = "a\r\nb\r\n.\r\n";
	struct smtp_data_decoder d;
	struct out o = {.fail = 1};
	int done = 0;
	ssize_t n;

	smtp_data_decoder_init(&d, LIMIT, 1);
	n = smtp_data_decode(&d, in, strlen(in), &done, out_sink, &o);
	check_num("sink failure", "return", n, -1);
	out_free(&o);
}

/* Encoding. */

static void
encode_split(const char *in, size_t len, const size_t *cuts, size_t ncuts,
             struct out *o)
{
	struct smtp_data_encoder e;
	size_t start = 0, i;

	memset(o, 0, sizeof(*o));
	smtp_data_encoder_init(&e);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		assert_int_equal(
		    smtp_data_encode(&e, in + start, end - start, out_sink, o),
		    0);
		start = end;
	}
	assert_int_equal(smtp_data_encode_end(&e, out_sink, o), 0);
}

struct encode_case {
	const char *name;
	const char *in;
	const char *out;
};

static const struct encode_case encode_cases[] = {
    {"empty", "", ".\r\n"},
    {"one line", "a\r\n", "a\r\n.\r\n"},
    {"no final CRLF", "a", "a\r\n.\r\n"},
    {"leading dot doubled", ".a\r\n", "..a\r\n.\r\n"},
    {"lone dot doubled", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
    {"dot mid line kept", "a.\r\n", "a.\r\n.\r\n"},
    {"dot at end without CRLF", "a\r\n.", "a\r\n..\r\n.\r\n"},
    {"bare LF forced to CRLF", "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
    {"bare CR forced to CRLF", "a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
    {"CRCRLF", "a\r\r\n", "a\r\n\r\n.\r\n"},
    {"final CR", "a\r", "a\r\n.\r\n"},
    {"LF.CRLF smuggling shape", "a\n.\r\nMAIL", "a\r\n..\r\nMAIL\r\n.\r\n"},
    {"empty lines", "\r\n\r\n", "\r\n\r\n.\r\n"},
};

static void
test_encode_cases(void **state)
{
	size_t i, len, cut;
	struct out o, split;
	char how[64];

	for (i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
		const struct encode_case *c = &encode_cases[i];
		len = strlen(c->in);
		encode_split(c->in, len, NULL, 0, &o);
		check_bytes(c->name, "output", o.data, o.len, c->out,
		            strlen(c->out));
		for (cut = 0; cut <= len; cut++) {
			encode_split(c->in, len, &cut, 1, &split);
			snprintf(how, sizeof(how), "split at %zu", cut);
			check_bytes(c->name, how, split.data, split.len, o.data,
			            o.len);
			out_free(&split);
		}
		out_free(&o);
	}
}

/* The corpus pair: gmime's dot-stuffing test. */

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (f == NULL) {
		print_error("cannot open %s\n", path);
		fail();
	}
	do {
		if (len + 4096 > cap) {
			cap = (len + 4096) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*len_r = len;
	return buf;
}

/* LF -> CRLF; the result has room for a terminator after it. */
static char *
lf_to_crlf(const char *in, size_t len, size_t *len_r)
{
	char *out = malloc(len * 2 + 8);
	size_t o = 0, i;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	*len_r = o;
	return out;
}

static void
corpus_path(char *buf, size_t size, const char *file)
{
	const char *corpus = getenv("CORPUS");

	if (corpus == NULL || *corpus == '\0')
		corpus = "../shared/corpus";
	snprintf(buf, size, "%s/mail/gmime/dot-stuffing/%s", corpus, file);
}

static void
test_corpus_dot_stuffing(void **state)
{
	char path[4096];
	size_t rawin_len, rawout_len, in_len, want_len;
	char *rawin, *rawout, *in, *want;
	struct decoded res;
	struct out o;

	corpus_path(path, sizeof(path), "smtp-input.txt");
	rawin = read_file(path, &rawin_len);
	corpus_path(path, sizeof(path), "smtp-output.txt");
	rawout = read_file(path, &rawout_len);

	/*
	 * The files are stored with Unix LF line endings (they are text
	 * files in gmime's tree), while the wire form is CRLF: a bare LF
	 * would be flagged by the decoder.  Convert both to CRLF.
	 */
	in = lf_to_crlf(rawin, rawin_len, &in_len);
	want = lf_to_crlf(rawout, rawout_len, &want_len);
	memcpy(want + want_len, ".\r\n", 3);
	want_len += 3;

	encode_split(in, in_len, NULL, 0, &o);
	check_bytes("corpus encode", "output", o.data, o.len, want, want_len);
	out_free(&o);

	/* The encoder forces CRLF, so the LF file gives the same. */
	encode_split(rawin, rawin_len, NULL, 0, &o);
	check_bytes("corpus encode LF input", "output", o.data, o.len, want,
	            want_len);
	out_free(&o);

	decode_whole(want, want_len, 1, LIMIT, &res);
	check_bytes("corpus decode", "output", res.out.data, res.out.len, in,
	            in_len);
	check_num("corpus decode", "done", res.done, 1);
	check_num("corpus decode", "consumed", (long long)res.consumed,
	          (long long)want_len);
	check_num("corpus decode", "flags", res.flags, 0);
	out_free(&res.out);

	free(rawin);
	free(rawout);
	free(in);
	free(want);
}

/* Randomized comparison with a line-based reference decoder. */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/*
 * Whole-buffer decoder written the obvious way, one line at a time;
 * in must contain a CRLF "." CRLF that ends it.
 */
static void
reference_decode(const char *in, size_t len, int prev_crlf, size_t limit,
                 struct decoded *res)
{
	size_t pos = 0, i, eol, textlen;
	unsigned int bare;

	memset(res, 0, sizeof(*res));
	while (pos < len) {
		for (i = pos; i < len && in[i] != '\r' && in[i] != '\n'; i++)
			;
		assert_true(i < len);
		eol = in[i] == '\r' && i + 1 < len && in[i + 1] == '\n' ? 2 : 1;
		bare = eol == 2 ? 0 : in[i] == '\r' ? CR : LF;
		textlen = i - pos;
		if (textlen == 1 && in[pos] == '.' && !bare && prev_crlf) {
			res->done = 1;
			res->consumed = i + 2;
			return;
		}
		if (in[pos] == '.' && textlen > 1)
			out_sink(&res->out, in + pos + 1, textlen - 1);
		else
			out_sink(&res->out, in + pos, textlen);
		out_sink(&res->out, "\r\n", 2);
		if (memchr(in + pos, '\0', textlen) != NULL)
			res->flags |= NUL;
		/* A stuffing dot does not count (RFC 5321 4.5.3.1.6). */
		if (limit > 0 &&
		    textlen + eol - (in[pos] == '.' && textlen > 1) > limit)
			res->flags |= LONG;
		res->flags |= bare;
		res->lines++;
		prev_crlf = !bare;
		pos = i + eol;
	}
	fail_msg("reference: no end of data");
}

static void
random_input(char *buf, size_t len)
{
	static const char alphabet[] = "aaaaaa....\r\r\r\r\n\n\n\nx\0";
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = alphabet[rng() % (sizeof(alphabet) - 1)];
}

static void
random_cuts(size_t len, size_t *cuts, size_t *ncuts)
{
	size_t i, n = rng() % 6;

	for (i = 0; i < n; i++)
		cuts[i] = len > 0 ? rng() % (len + 1) : 0;
	/* insertion sort: the splitter wants ascending offsets */
	for (i = 1; i < n; i++) {
		size_t v = cuts[i], j = i;
		for (; j > 0 && cuts[j - 1] > v; j--)
			cuts[j] = cuts[j - 1];
		cuts[j] = v;
	}
	*ncuts = n;
}

static void
test_decode_random_vs_reference(void **state)
{
	char in[128], name[64];
	size_t iter, len, cuts[8], ncuts, limit;
	struct decoded want, got;
	int prev_crlf;

	for (iter = 0; iter < 20000; iter++) {
		len = rng() % 60;
		random_input(in, len);
		memcpy(in + len, "\r\n.\r\nQUIT\r\n", 11);
		len += 11;
		limit = rng() % 12;
		prev_crlf = (int)(rng() % 2);
		snprintf(name, sizeof(name), "random case %zu", iter);

		reference_decode(in, len, prev_crlf, limit, &want);
		random_cuts(len, cuts, &ncuts);
		decode_split(in, len, prev_crlf, limit, cuts, ncuts, &got);
		check_same(name, "random split", &got, &want);
		out_free(&got.out);
		decode_bytewise(in, len, prev_crlf, limit, &got);
		check_same(name, "bytewise", &got, &want);
		out_free(&got.out);
		out_free(&want.out);
	}
}

/* What decode(encode(x)) must give: every line ending CRLF, and a
 * final CRLF when x has content. */
static void
normalize(const char *in, size_t len, struct out *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	out_sink(o, "", 0);
	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			i++;
		if (in[i] == '\r' || in[i] == '\n')
			out_sink(o, "\r\n", 2);
		else
			out_sink(o, in + i, 1);
	}
	if (o->len > 0 &&
	    (o->len < 2 || memcmp(o->data + o->len - 2, "\r\n", 2) != 0))
		out_sink(o, "\r\n", 2);
}

static void
test_encode_decode_random_round_trip(void **state)
{
	char in[128], name[64];
	size_t iter, len, cuts[8], ncuts;
	struct out enc, want, enc2;
	struct decoded dec;

	for (iter = 0; iter < 20000; iter++) {
		len = rng() % 80;
		random_input(in, len);
		snprintf(name, sizeof(name), "round trip %zu", iter);

		encode_split(in, len, NULL, 0, &enc);
		random_cuts(len, cuts, &ncuts);
		encode_split(in, len, cuts, ncuts, &enc2);
		check_bytes(name, "split encode", enc2.data, enc2.len, enc.data,
		            enc.len);

		normalize(in, len, &want);
		decode_whole(enc.data, enc.len, 1, 0, &dec);
		check_bytes(name, "decoded", dec.out.data ? dec.out.data : "",
		            dec.out.len, want.data, want.len);
		check_num(name, "done", dec.done, 1);
		check_num(name, "consumed", (long long)dec.consumed,
		          (long long)enc.len);
		check_num(name, "flags", dec.flags & (LF | CR), 0);
		out_free(&enc);
		out_free(&enc2);
		out_free(&want);
		out_free(&dec.out);
	}
}

/* Whole-buffer encoder written the obvious way, one line at a time,
 * including what smtp_data_encode_end() adds. */
static void
reference_encode(const char *in, size_t len, struct out *o)
{
	size_t pos = 0, i;

	memset(o, 0, sizeof(*o));
	while (pos < len) {
		for (i = pos; i < len && in[i] != '\r' && in[i] != '\n'; i++)
			;
		if (i > pos && in[pos] == '.')
			out_sink(o, ".", 1);
		out_sink(o, in + pos, i - pos);
		out_sink(o, "\r\n", 2);
		if (i + 1 < len && in[i] == '\r' && in[i + 1] == '\n')
			i++;
		pos = i + 1;
	}
	out_sink(o, ".\r\n", 3);
}

static void
encode_bytewise(const char *in, size_t len, struct out *o)
{
	size_t *cuts = calloc(len + 1, sizeof(*cuts));
	size_t i;

	assert_non_null(cuts);
	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	encode_split(in, len, cuts, len > 0 ? len - 1 : 0, o);
	free(cuts);
}

static void
test_encode_random_vs_reference(void **state)
{
	char in[128], name[64];
	size_t iter, len, cuts[8], ncuts;
	struct out want, got;

	for (iter = 0; iter < 20000; iter++) {
		len = rng() % 80;
		random_input(in, len);
		snprintf(name, sizeof(name), "random encode %zu", iter);

		reference_encode(in, len, &want);
		random_cuts(len, cuts, &ncuts);
		encode_split(in, len, cuts, ncuts, &got);
		check_bytes(name, "random split", got.data, got.len, want.data,
		            want.len);
		out_free(&got);
		encode_bytewise(in, len, &got);
		check_bytes(name, "bytewise", got.data, got.len, want.data,
		            want.len);
		out_free(&got);
		out_free(&want);
	}
}

/* Long inputs: about 1 MB of mixed lines, cut into random chunks. */

#define BIG_SIZE (1024 * 1024)

struct big {
	char *data;
	size_t len;
	int bare; /* the last line ending was bare */
};

static void
big_add(struct big *b, const char *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Random text of up to max octets without CR or LF; mostly letters,
 * with dots, spaces and now and then a NUL. */
static void
big_text(struct big *b, size_t max)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz   ...";
	size_t n = max > 0 ? rng() % (max + 1) : 0, i;

	for (i = 0; i < n; i++) {
		if (rng() % 5000 == 0)
			b->data[b->len++] = '\0';
		else
			b->data[b->len++] =
			    alphabet[rng() % (sizeof(alphabet) - 1)];
	}
}

/* One line ending: mostly CRLF, sometimes bare LF, bare CR or CR CRLF. */
static void
big_eol(struct big *b)
{
	uint32_t r = rng() % 40;

	b->bare = r < 3;
	if (r == 0)
		big_add(b, "\n", 1);
	else if (r == 1)
		big_add(b, "\r", 1);
	else if (r == 2)
		big_add(b, "\r\r\n", 3);
	else
		big_add(b, "\r\n", 2);
}

/* One wire line of a random shape; never the end of data. */
static void
big_line(struct big *b)
{
	uint32_t r = rng() % 100;

	if (r < 5) {
		big_add(b, "..", 2);
		big_text(b, 60);
	} else if (r < 7) {
		big_add(b, ".x", 2); /* an unstuffed dot, dropped */
		big_text(b, 60);
	} else if (r < 8 && b->bare) {
		big_add(b, ".", 1); /* a lone dot after a bare ending */
	} else if (r < 12) {
		big_text(b, 1500); /* over the limit now and then */
	} else if (r >= 20) {
		big_text(b, 100);
	}
	big_eol(b);
}

/* Random text may make a "." CRLF line right after a CRLF, which would
 * end the message early. */
static void
big_fix_lone_dot(struct big *b, size_t start)
{
	if (b->len - start != 3 || memcmp(b->data + start, ".\r\n", 3) != 0)
		return;
	if (start == 0 || (start >= 2 && b->data[start - 2] == '\r' &&
	                   b->data[start - 1] == '\n'))
		b->data[start] = 'y';
}

static void
big_message(struct big *b, int wire)
{
	size_t start;

	b->data = malloc(BIG_SIZE + 4096);
	assert_non_null(b->data);
	b->len = 0;
	b->bare = 0;
	while (b->len < BIG_SIZE - 2000) {
		start = b->len;
		big_line(b);
		if (wire)
			big_fix_lone_dot(b, start);
	}
	if (wire)
		big_add(b, "\r\n.\r\nQUIT\r\n", 11);
}

/* Ascending cut offsets: small, medium and large chunks mixed. */
static size_t
big_cuts(size_t len, size_t *cuts, size_t max)
{
	static const size_t scale[] = {3, 200, 5000, 70000};
	size_t n = 0, pos = 0;

	while (n < max) {
		pos += 1 + rng() % scale[rng() % 4];
		if (pos >= len)
			break;
		cuts[n++] = pos;
	}
	return n;
}

static void
test_decode_long_input(void **state)
{
	size_t *cuts = calloc(BIG_SIZE, sizeof(*cuts));
	struct decoded want, got;
	struct big b;
	char name[64];
	int round;

	assert_non_null(cuts);
	for (round = 0; round < 8; round++) {
		snprintf(name, sizeof(name), "long input %d", round);
		big_message(&b, 1);
		reference_decode(b.data, b.len, 1, LIMIT, &want);
		/* The input ends where it should and has every shape. */
		check_num(name, "reference consumed", (long long)want.consumed,
		          (long long)(b.len - strlen("QUIT\r\n")));
		check_num(name, "reference flags", want.flags,
		          LF | CR | LONG | NUL);

		decode_whole(b.data, b.len, 1, LIMIT, &got);
		check_same(name, "whole", &got, &want);
		out_free(&got.out);
		decode_split(b.data, b.len, 1, LIMIT, cuts,
		             big_cuts(b.len, cuts, BIG_SIZE), &got);
		check_same(name, "random chunks", &got, &want);
		out_free(&got.out);
		out_free(&want.out);
		free(b.data);
	}
	free(cuts);
}

static void
test_encode_long_input(void **state)
{
	size_t *cuts = calloc(BIG_SIZE, sizeof(*cuts));
	struct out want, got;
	struct big b;
	char name[64];
	int round;

	assert_non_null(cuts);
	for (round = 0; round < 8; round++) {
		snprintf(name, sizeof(name), "long input %d", round);
		big_message(&b, 0);
		reference_encode(b.data, b.len, &want);

		encode_split(b.data, b.len, NULL, 0, &got);
		check_bytes(name, "whole", got.data, got.len, want.data,
		            want.len);
		out_free(&got);
		encode_split(b.data, b.len, cuts,
		             big_cuts(b.len, cuts, BIG_SIZE), &got);
		check_bytes(name, "random chunks", got.data, got.len, want.data,
		            want.len);
		out_free(&got);
		out_free(&want);
		free(b.data);
	}
	free(cuts);
}

/*
 * Three megabytes of short lines of one shape in one call: with only
 * bare LFs (or only bare CRs) the other octet is never found, which is
 * where a scanner that searched the rest of the input again at every
 * line would go quadratic.  Correctness is checked here; speed is for
 * `make bench`, never for a test.
 */
struct bulk_case {
	const char *name;
	const char *line;
	unsigned int flags;
};

static const struct bulk_case bulk_cases[] = {
    {"bare LF lines in bulk", "a\n", LF},
    {"bare CR lines in bulk", "a\r", CR},
    {"CRLF lines in bulk", "a\r\n", 0},
};

static void
test_bulk_line_shapes(void **state)
{
	const size_t nlines = 1000000;
	char *in = malloc(nlines * 3 + 8), *want = malloc(nlines * 3 + 8);
	size_t i, j, linelen, len;
	struct decoded res;
	struct out enc;

	assert_non_null(in);
	assert_non_null(want);
	for (i = 0; i < nlines; i++)
		memcpy(want + i * 3, "a\r\n", 3);
	for (i = 0; i < sizeof(bulk_cases) / sizeof(bulk_cases[0]); i++) {
		const struct bulk_case *c = &bulk_cases[i];
		linelen = strlen(c->line);
		for (j = 0; j < nlines; j++)
			memcpy(in + j * linelen, c->line, linelen);
		len = nlines * linelen;

		/* An empty line, then the end of data. */
		memcpy(in + len, "\r\n.\r\n", 5);
		memcpy(want + nlines * 3, "\r\n", 2);
		decode_whole(in, len + 5, 1, LIMIT, &res);
		check_bytes(c->name, "decoded", res.out.data, res.out.len, want,
		            nlines * 3 + 2);
		check_num(c->name, "done", res.done, 1);
		check_num(c->name, "lines", (long long)res.lines,
		          (long long)nlines + 1);
		check_num(c->name, "flags", res.flags, c->flags);
		out_free(&res.out);

		encode_split(in, len, NULL, 0, &enc);
		memcpy(want + nlines * 3, ".\r\n", 3);
		check_bytes(c->name, "encoded", enc.data, enc.len, want,
		            nlines * 3 + 3);
		out_free(&enc);
	}
	free(in);
	free(want);
}

struct batch_case {
	const char *name;
	const char *line;
};

static const struct batch_case encode_batch_cases[] = {
    {"plain lines", "0123456789abcdefghijklmnopqrstuvwxyz.\r\n"},
    {"every line dotted", ".123456789abcdefghijklmnopqrstuvwxyz.\r\n"},
    {"every line bare LF", "0123456789abcdefghijklmnopqrstuvwxyz.\n"},
};

static void
test_encode_batches_output(void **state)
{
	const size_t nlines = 2000;
	struct out o;
	char *in;
	size_t i, j, linelen;

	for (i = 0;
	     i < sizeof(encode_batch_cases) / sizeof(encode_batch_cases[0]);
	     i++) {
		const struct batch_case *c = &encode_batch_cases[i];
		linelen = strlen(c->line);
		in = malloc(nlines * linelen);
		assert_non_null(in);
		for (j = 0; j < nlines; j++)
			memcpy(in + j * linelen, c->line, linelen);
		encode_split(in, nlines * linelen, NULL, 0, &o);
		/* About 80000 octets: a sink call per line would be
		 * 2000 or more. */
		if (o.calls > 40) {
			print_error("%s: sink calls: got %zu, want <= 40\n",
			            c->name, o.calls);
			fail();
		}
		out_free(&o);
		free(in);
	}
}

static void
test_encode_sink_failure(void **state)
{
	static const char in[] = "a\r\n.b\r\n";
	struct smtp_data_encoder e;
	struct out o = {.fail = 1};

	smtp_data_encoder_init(&e);
	check_num("encode sink failure", "return",
	          smtp_data_encode(&e, in, strlen(in), out_sink, &o), -1);
	check_num("encode sink failure", "sink calls", (long long)o.calls, 1);
	out_free(&o);

	o.fail = 1;
	check_num("encode end sink failure", "return",
	          smtp_data_encode_end(&e, out_sink, &o), -1);
	out_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_shapes),
	    cmocka_unit_test(test_decode_stops_at_end),
	    cmocka_unit_test(test_decode_long_lines),
	    cmocka_unit_test(test_decode_batches_output),
	    cmocka_unit_test(test_decode_sink_failure),
	    cmocka_unit_test(test_encode_cases),
	    cmocka_unit_test(test_corpus_dot_stuffing),
	    cmocka_unit_test(test_decode_random_vs_reference),
	    cmocka_unit_test(test_encode_decode_random_round_trip),
	    cmocka_unit_test(test_encode_random_vs_reference),
	    cmocka_unit_test(test_decode_long_input),
	    cmocka_unit_test(test_encode_long_input),
	    cmocka_unit_test(test_bulk_line_shapes),
	    cmocka_unit_test(test_encode_batches_output),
	    cmocka_unit_test(test_encode_sink_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
