/*
 * smtp_data.h - the DATA stream: decoding what the client sends and
 * encoding what goes upstream (RFC 5321 4.1.1.4, 4.5.2).
 *
 * The decoder turns raw client octets into the canonical message: CRLF
 * line endings, dot-stuffing undone.  Only CRLF "." CRLF ends the
 * message; LF.LF, LF.CRLF, CRLF.LF, CR.CR, CR.CRLF and every other
 * shape are content.  Bare LF and bare CR are always turned into CRLF in
 * the output and counted in the flags, so the caller may reject the
 * message (the default) or accept the normalized form.  A lone "." line
 * that does not end the message (it follows a bare line ending) is kept
 * as "." content.  Lines over the limit are kept and flagged.
 *
 * The encoder does the reverse for the upstream: it forces CRLF line
 * endings again, doubles every leading dot and ends with CRLF "." CRLF,
 * so the upstream can never see another message boundary than we did.
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stddef.h>
#include <sys/types.h>

#define SMTP_DATA_BARE_LF   0x01u /* an LF without a CR before it */
#define SMTP_DATA_BARE_CR   0x02u /* a CR without an LF after it */
#define SMTP_DATA_LONG_LINE 0x04u /* a line over the limit */
#define SMTP_DATA_NUL       0x08u /* a NUL octet */

/* Output function: len octets of output.  Returns 0, or -1 to stop
 * decoding with an error (e.g. the spool is full). */
typedef int smtp_data_sink_cb(void *arg, const char *data, size_t len);

struct smtp_data_decoder {
	size_t line_limit;  /* octets including CRLF, e.g. 1000 */
	size_t line_len;    /* raw octets on the current line so far */
	int state;          /* private */
	unsigned int flags; /* SMTP_DATA_* seen so far */
	size_t lines;       /* lines decoded */
};

/*
 * Start decoding right after the 354 reply.  prev_crlf says whether the
 * DATA command itself ended with CRLF (1) or a bare LF (0): only after a
 * CRLF can an immediate ".\r\n" end the message.
 */
void smtp_data_decoder_init(struct smtp_data_decoder *d, size_t line_limit,
                            int prev_crlf);

/*
 * Decode up to len octets of client input.  Output goes to sink.  Sets
 * *done to 1 when the final CRLF.CRLF has been consumed; octets after it
 * are not consumed (a pipelining client's next command).  Returns the
 * number of input octets consumed, or -1 if the sink failed.
 */
ssize_t smtp_data_decode(struct smtp_data_decoder *d, const char *in,
                         size_t len, int *done, smtp_data_sink_cb *sink,
                         void *arg);

struct smtp_data_encoder {
	int state; /* private */
};

void smtp_data_encoder_init(struct smtp_data_encoder *e);

/* Encode canonical content; output to sink.  Returns 0 or -1 (sink). */
int smtp_data_encode(struct smtp_data_encoder *e, const char *in, size_t len,
                     smtp_data_sink_cb *sink, void *arg);

/* Finish: a CRLF if the content did not end with one, then ".\r\n". */
int smtp_data_encode_end(struct smtp_data_encoder *e, smtp_data_sink_cb *sink,
                         void *arg);

#endif
