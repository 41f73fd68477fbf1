/*
 * smtp_data.c - the DATA stream decoder and encoder.
 *
 * Both are state machines whose whole state lives in their struct, so
 * input may be split at any octet (between CR and LF, after a leading
 * dot, ...) and gives the same output as in one piece.  This is what
 * keeps SMTP smuggling out: the only end of data is CRLF "." CRLF,
 * every other shape is content, and what goes upstream is re-encoded so
 * the upstream cannot find another boundary.
 *
 * Nearly every line is plain text ending in CRLF, which both directions
 * leave as it is: such lines are found with memchr() and passed through
 * in bulk, and only line starts with a dot, bare CRs and LFs and split
 * line endings take the octet-by-octet path.  Output goes to the sink in
 * large pieces.  Reporting the flags (bare CR/LF, long lines, NUL) and
 * acting on them is left to the caller; the only error is a failing
 * sink.
 */
#include <string.h>

#include "proxy/smtp_data.h"

enum decoder_state {
	DEC_BOL = 0,     /* line start after CRLF: "." may end the data */
	DEC_BOL_BARE,    /* line start after a bare LF or CR */
	DEC_TEXT,        /* inside a line */
	DEC_TEXT_CR,     /* inside a line, just after a CR */
	DEC_DOT,         /* "." at a DEC_BOL line start */
	DEC_DOT_CR,      /* "." CR at a DEC_BOL line start */
	DEC_DOT_BARE,    /* "." at a DEC_BOL_BARE line start */
	DEC_DOT_BARE_CR, /* "." CR at a DEC_BOL_BARE line start */
	DEC_DONE,
};

enum encoder_state {
	ENC_BOL = 0, /* at a line start: a "." must be doubled */
	ENC_TEXT,
	ENC_CR, /* a CR whose LF may follow in the next call */
};

/*
 * Output goes to the sink in large pieces: octets that pass through
 * unchanged (nearly all of a message) are remembered as a span of the
 * input and written straight from it; only small pieces are copied
 * into the buffer.
 */
#define OUTBUF_SIZE 16384

struct outbuf {
	smtp_data_sink_cb *sink;
	void *arg;
	int failed;
	const char *span; /* input octets passed through, not yet written */
	size_t span_len;
	size_t len;
	char buf[OUTBUF_SIZE];
};

static void
outbuf_write(struct outbuf *o, const char *p, size_t n)
{
	if (n > 0 && !o->failed && o->sink(o->arg, p, n) < 0)
		o->failed = 1;
}

static void
outbuf_copy(struct outbuf *o, const char *p, size_t n)
{
	if (o->len + n > sizeof(o->buf)) {
		outbuf_write(o, o->buf, o->len);
		o->len = 0;
	}
	if (n > sizeof(o->buf)) {
		outbuf_write(o, p, n);
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
outbuf_end_span(struct outbuf *o)
{
	if (o->span_len > 0)
		outbuf_copy(o, o->span, o->span_len);
	o->span_len = 0;
}

/* n octets of output that are the input at p, unchanged. */
static void
outbuf_pass(struct outbuf *o, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (o->span_len > 0 && o->span + o->span_len == p) {
		o->span_len += n;
		return;
	}
	outbuf_end_span(o);
	o->span = p;
	o->span_len = n;
}

/* n octets of output of our own (a line ending, a dot). */
static void
outbuf_put(struct outbuf *o, const char *p, size_t n)
{
	outbuf_end_span(o);
	outbuf_copy(o, p, n);
}

static void
outbuf_flush(struct outbuf *o)
{
	outbuf_end_span(o);
	outbuf_write(o, o->buf, o->len);
	o->len = 0;
}

static void
outbuf_init(struct outbuf *o, smtp_data_sink_cb *sink, void *arg)
{
	o->sink = sink;
	o->arg = arg;
	o->failed = 0;
	o->span = NULL;
	o->span_len = 0;
	o->len = 0;
}

/*
 * Where the next CR and the next LF are, from a position on, within one
 * call's input.  Each is searched for again only once the position has
 * passed it, so a call reads its input at most once looking for CRs
 * and once for LFs, whatever the line shapes: hostile input cannot
 * make it rescan.
 */
struct scan {
	const char *end;
	const char *cr; /* next CR at or after the position, or end */
	const char *lf; /* next LF likewise */
};

static const char *
scan_find(const char *p, const char *end, char c)
{
	const char *q;

	/* Line endings next to each other (CRLF, empty lines) are found
	 * without paying for memchr()'s setup. */
	if (p < end && *p == c)
		return p;
	if (end - p > 1 && p[1] == c)
		return p + 1;
	q = memchr(p, c, (size_t)(end - p));
	return q != NULL ? q : end;
}

static void
scan_init(struct scan *s, const char *in, size_t len)
{
	s->end = in + len;
	s->cr = scan_find(in, s->end, '\r');
	s->lf = scan_find(in, s->end, '\n');
}

static void
scan_to(struct scan *s, const char *p)
{
	if (s->cr < p)
		s->cr = scan_find(p, s->end, '\r');
	if (s->lf < p)
		s->lf = scan_find(p, s->end, '\n');
}

/* Whether the line from p is complete in the input and ends with its
 * only CR, followed by an LF. */
static int
scan_crlf_line(struct scan *s, const char *p)
{
	scan_to(s, p);
	return s->lf != s->end && s->lf - s->cr == 1;
}

/* Octets from p before the next CR or LF (or the end). */
static size_t
scan_text_len(struct scan *s, const char *p)
{
	scan_to(s, p);
	return (size_t)((s->cr < s->lf ? s->cr : s->lf) - p);
}

void
smtp_data_decoder_init(struct smtp_data_decoder *d, size_t line_limit,
                       int prev_crlf)
{
	d->line_limit = line_limit;
	d->line_len = 0;
	d->state = prev_crlf ? DEC_BOL : DEC_BOL_BARE;
	d->flags = 0;
	d->lines = 0;
}

static void
dec_check_long(struct smtp_data_decoder *d)
{
	if (d->line_limit > 0 && d->line_len > d->line_limit)
		d->flags |= SMTP_DATA_LONG_LINE;
}

/* Count one raw octet of the current line; a line_limit of 0 means no
 * limit. */
static void
dec_count(struct smtp_data_decoder *d)
{
	d->line_len++;
	dec_check_long(d);
}

/* A line has ended; its ending is always written as CRLF. */
static void
dec_eol(struct smtp_data_decoder *d, struct outbuf *o, unsigned int flag)
{
	outbuf_put(o, "\r\n", 2);
	d->flags |= flag;
	d->lines++;
	d->line_len = 0;
	d->state = flag != 0 ? DEC_BOL_BARE : DEC_BOL;
}

/*
 * DEC_TEXT fast path: whole lines that end in CRLF and hold no other CR
 * or LF are content as they are, so they pass through in bulk, up to a
 * line that starts with "." (dec_step must see it) or is not such a
 * line.  Returns octets consumed, 0 if the line at p is not one.
 */
static size_t
dec_crlf_lines(struct smtp_data_decoder *d, struct outbuf *o, struct scan *s,
               const char *p)
{
	const char *q = p;

	while (scan_crlf_line(s, q)) {
		d->line_len += (size_t)(s->lf + 1 - q);
		dec_check_long(d);
		d->line_len = 0;
		d->lines++;
		q = s->lf + 1;
		if (q == s->end || *q == '.') {
			d->state = DEC_BOL;
			break;
		}
	}
	outbuf_pass(o, p, (size_t)(q - p));
	return (size_t)(q - p);
}

/* DEC_TEXT: lines, one octet or a run; returns octets consumed. */
static size_t
dec_text(struct smtp_data_decoder *d, struct outbuf *o, struct scan *s,
         const char *p)
{
	size_t n = dec_crlf_lines(d, o, s, p);

	if (n > 0)
		return n;
	if (*p == '\r') {
		dec_count(d);
		d->state = DEC_TEXT_CR;
		return 1;
	}
	if (*p == '\n') {
		dec_count(d);
		dec_eol(d, o, SMTP_DATA_BARE_LF);
		return 1;
	}
	n = scan_text_len(s, p);
	outbuf_pass(o, p, n);
	d->line_len += n;
	dec_check_long(d);
	return n;
}

/*
 * A "." that started a line and is followed by c.  RFC 5321 4.5.2: a
 * line of a single period is never unstuffed, so a lone "." line that
 * is not the end of data (its line ending, or the one before it, was
 * bare) stays "." content.  Any other leading dot is dropped.  Returns
 * octets consumed (0: c is to be read again in the new state).
 */
static size_t
dec_dot(struct smtp_data_decoder *d, struct outbuf *o, char c)
{
	if (c == '\r') {
		d->line_len++;
		d->state = d->state == DEC_DOT ? DEC_DOT_CR : DEC_DOT_BARE_CR;
		return 1;
	}
	if (c == '\n') {
		dec_count(d);
		outbuf_put(o, ".", 1);
		dec_eol(d, o, SMTP_DATA_BARE_LF);
		return 1;
	}
	/* The dot is stuffing: not content, and not counted toward the
	 * line limit (RFC 5321 4.5.3.1.6). */
	d->line_len--;
	d->state = DEC_TEXT;
	return 0;
}

/* "." CR at a line start, followed by c.  Only CRLF "." CRLF ends the
 * data; returns octets consumed as dec_dot() does. */
static size_t
dec_dot_cr(struct smtp_data_decoder *d, struct outbuf *o, char c)
{
	if (c == '\n' && d->state == DEC_DOT_CR) {
		d->state = DEC_DONE;
		return 1;
	}
	outbuf_put(o, ".", 1);
	if (c == '\n') {
		dec_count(d);
		dec_eol(d, o, 0);
		return 1;
	}
	dec_check_long(d);
	dec_eol(d, o, SMTP_DATA_BARE_CR);
	return 0;
}

/* Process the octet(s) at p in the current state; returns the number
 * consumed, 0 when the state changed and p must be read again. */
static size_t
dec_step(struct smtp_data_decoder *d, struct outbuf *o, struct scan *s,
         const char *p)
{
	switch (d->state) {
	case DEC_BOL:
	case DEC_BOL_BARE:
		if (*p == '.') {
			/* Counted, but checked once we know the line is
			 * not the end of data. */
			d->line_len++;
			d->state = d->state == DEC_BOL ? DEC_DOT : DEC_DOT_BARE;
			return 1;
		}
		d->state = DEC_TEXT;
		return 0;
	case DEC_TEXT:
		return dec_text(d, o, s, p);
	case DEC_TEXT_CR:
		if (*p == '\n') {
			dec_count(d);
			dec_eol(d, o, 0);
			return 1;
		}
		dec_eol(d, o, SMTP_DATA_BARE_CR);
		return 0;
	case DEC_DOT:
	case DEC_DOT_BARE:
		return dec_dot(d, o, *p);
	default:
		return dec_dot_cr(d, o, *p);
	}
}

ssize_t
smtp_data_decode(struct smtp_data_decoder *d, const char *in, size_t len,
                 int *done, smtp_data_sink_cb *sink, void *arg)
{
	struct outbuf o;
	struct scan s;
	size_t i = 0;

	if (len == 0) {
		*done = d->state == DEC_DONE;
		return 0;
	}
	outbuf_init(&o, sink, arg);
	scan_init(&s, in, len);
	while (i < len && d->state != DEC_DONE)
		i += dec_step(d, &o, &s, in + i);
	outbuf_flush(&o);

	/* Every octet consumed before the end of data is content, so one
	 * search over them finds any NUL. */
	if ((d->flags & SMTP_DATA_NUL) == 0 && memchr(in, '\0', i) != NULL)
		d->flags |= SMTP_DATA_NUL;
	*done = d->state == DEC_DONE;
	if (o.failed)
		return -1;
	return (ssize_t)i;
}

void
smtp_data_encoder_init(struct smtp_data_encoder *e)
{
	e->state = ENC_BOL;
}

/* ENC_TEXT fast path, as dec_crlf_lines(): canonical lines pass
 * through up to one that starts with "." or is not a CRLF line. */
static size_t
enc_crlf_lines(struct smtp_data_encoder *e, struct outbuf *o, struct scan *s,
               const char *p)
{
	const char *q = p;

	while (scan_crlf_line(s, q)) {
		q = s->lf + 1;
		if (q == s->end || *q == '.') {
			e->state = ENC_BOL;
			break;
		}
	}
	outbuf_pass(o, p, (size_t)(q - p));
	return (size_t)(q - p);
}

/* ENC_TEXT: lines, one octet or a run; returns octets consumed. */
static size_t
enc_text(struct smtp_data_encoder *e, struct outbuf *o, struct scan *s,
         const char *p)
{
	size_t n = enc_crlf_lines(e, o, s, p);

	if (n > 0)
		return n;
	if (*p == '\r') {
		e->state = ENC_CR;
		return 1;
	}
	if (*p == '\n') {
		outbuf_put(o, "\r\n", 2);
		e->state = ENC_BOL;
		return 1;
	}
	n = scan_text_len(s, p);
	outbuf_pass(o, p, n);
	return n;
}

/* Returns octets consumed, 0 when p must be read again. */
static size_t
enc_step(struct smtp_data_encoder *e, struct outbuf *o, struct scan *s,
         const char *p)
{
	switch (e->state) {
	case ENC_BOL:
		if (*p == '.')
			outbuf_put(o, ".", 1);
		e->state = ENC_TEXT;
		return 0;
	case ENC_TEXT:
		return enc_text(e, o, s, p);
	default:
		/* A bare CR becomes CRLF too; c is then a new line. */
		outbuf_put(o, "\r\n", 2);
		e->state = ENC_BOL;
		return *p == '\n' ? 1 : 0;
	}
}

int
smtp_data_encode(struct smtp_data_encoder *e, const char *in, size_t len,
                 smtp_data_sink_cb *sink, void *arg)
{
	struct outbuf o;
	struct scan s;
	size_t i = 0;

	if (len == 0)
		return 0;
	outbuf_init(&o, sink, arg);
	scan_init(&s, in, len);
	while (i < len)
		i += enc_step(e, &o, &s, in + i);
	outbuf_flush(&o);
	return o.failed ? -1 : 0;
}

int
smtp_data_encode_end(struct smtp_data_encoder *e, smtp_data_sink_cb *sink,
                     void *arg)
{
	const char *tail = e->state == ENC_BOL ? ".\r\n" : "\r\n.\r\n";

	e->state = ENC_BOL;
	return sink(arg, tail, strlen(tail)) < 0 ? -1 : 0;
}
