/*
 * smtp_data.c - the DATA stream decoder and encoder.
 *
 * Both are byte-level state machines whose whole state lives in their
 * struct, so input may be split at any octet (between CR and LF, after
 * a leading dot, ...) and gives the same output as in one piece.  This
 * is what keeps SMTP smuggling out: the only end of data is CRLF "."
 * CRLF, every other shape is content, and what goes upstream is
 * re-encoded so the upstream cannot find another boundary.
 *
 * Output is collected in a small buffer and handed to the sink in
 * batches.  Reporting the flags (bare CR/LF, long lines, NUL) and
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

#define OUTBUF_SIZE 4096

/* Batches output octets so the sink sees few, large calls. */
struct outbuf {
	smtp_data_sink_cb *sink;
	void *arg;
	size_t len;
	int failed;
	char buf[OUTBUF_SIZE];
};

static void
outbuf_flush(struct outbuf *o)
{
	if (o->len > 0 && !o->failed && o->sink(o->arg, o->buf, o->len) < 0)
		o->failed = 1;
	o->len = 0;
}

static void
outbuf_put(struct outbuf *o, const char *p, size_t n)
{
	if (o->len + n > sizeof(o->buf))
		outbuf_flush(o);
	if (n > sizeof(o->buf)) {
		if (!o->failed && o->sink(o->arg, p, n) < 0)
			o->failed = 1;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
outbuf_init(struct outbuf *o, smtp_data_sink_cb *sink, void *arg)
{
	o->sink = sink;
	o->arg = arg;
	o->len = 0;
	o->failed = 0;
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
 * Copy a run of ordinary octets (no CR or LF) at p; returns its length,
 * at least 1.  Used in DEC_TEXT so that long lines are not handled one
 * octet at a time.
 */
static size_t
dec_text_run(struct smtp_data_decoder *d, struct outbuf *o, const char *p,
             size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\r' && p[i] != '\n'; i++) {
		if (p[i] == '\0')
			d->flags |= SMTP_DATA_NUL;
	}
	outbuf_put(o, p, i);
	d->line_len += i;
	dec_check_long(d);
	return i;
}

/* DEC_TEXT: one octet or a run; returns octets consumed. */
static size_t
dec_text(struct smtp_data_decoder *d, struct outbuf *o, const char *p, size_t n)
{
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
	return dec_text_run(d, o, p, n);
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
	dec_check_long(d);
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
dec_step(struct smtp_data_decoder *d, struct outbuf *o, const char *p, size_t n)
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
		return dec_text(d, o, p, n);
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
	size_t i = 0;

	outbuf_init(&o, sink, arg);
	while (i < len && d->state != DEC_DONE)
		i += dec_step(d, &o, in + i, len - i);
	outbuf_flush(&o);

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

/* Copy ordinary octets (no CR or LF) at p; returns how many, >= 1. */
static size_t
enc_text_run(struct outbuf *o, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\r' && p[i] != '\n'; i++)
		;
	outbuf_put(o, p, i);
	return i;
}

/* Returns octets consumed, 0 when p must be read again. */
static size_t
enc_step(struct smtp_data_encoder *e, struct outbuf *o, const char *p, size_t n)
{
	switch (e->state) {
	case ENC_BOL:
		if (*p == '.')
			outbuf_put(o, ".", 1);
		e->state = ENC_TEXT;
		return 0;
	case ENC_TEXT:
		if (*p == '\r') {
			e->state = ENC_CR;
			return 1;
		}
		if (*p == '\n') {
			outbuf_put(o, "\r\n", 2);
			e->state = ENC_BOL;
			return 1;
		}
		return enc_text_run(o, p, n);
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
	size_t i = 0;

	outbuf_init(&o, sink, arg);
	while (i < len)
		i += enc_step(e, &o, in + i, len - i);
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
