/*
 * filter_msg.h - the message at end of data, as filters see it and as
 * it leaves postern.
 *
 * The front end indexes the spooled message's header section once
 * (filter_msg_index) before the end-of-message filters run.  Filters then
 * read header fields by index and may mark fields deleted (forged
 * Authentication-Results, for example).  The reader produces the
 * message exactly as it will go upstream: prepended headers, the
 * client's fields less the deleted ones, appended headers, the body.
 * Whatever signs the message and whatever sends it use the same reader,
 * so a signature always covers the bytes that are sent.
 */
#ifndef POSTERN_FILTER_MSG_H
#define POSTERN_FILTER_MSG_H

#include <stddef.h>
#include <sys/types.h>

struct filter_header;
struct filter_txn;

/* Bounds on what a client may send in a header section. */
#define FILTER_MSG_FIELDS_MAX 1000
#define FILTER_MSG_HEADER_MAX (1024 * 1024)

struct filter_field {
	size_t offset;  /* of the field's first octet in the spool */
	size_t len;     /* the field with its folds and final CRLF */
	size_t namelen; /* octets of the name, without white space before
	                   the colon */
	int deleted;
	char *replacement; /* new text of the whole field, no final CRLF */
};

/*
 * Index the header section of t->message.  The section ends at the
 * first empty line, or at the first line that is neither a field nor a
 * continuation (that line starts the body).  A field written "Name :"
 * is normalized to "Name:".  Returns 0, or -1 with a static reason in
 * *error_r: a message over the limits ("too many header fields",
 * "header section too large"), one whose header section downstream MTAs
 * would read differently ("message starts with a folded line",
 * "malformed header field name", "header field name too long", a NUL in
 * a field that needs normalizing), or a spool read error, for which
 * *temporary_r is set to 1.
 */
int filter_msg_index(struct filter_txn *t, int *temporary_r,
                     const char **error_r);

size_t filter_msg_field_count(const struct filter_txn *t);

/* 1 if field i is named name (case-insensitive) and not deleted. */
int filter_msg_field_is(const struct filter_txn *t, size_t i, const char *name);

/*
 * Field i as allocated text without its final CRLF ("Name: value" with
 * folds kept), NUL-terminated, *len_r set.  NULL with *error_r on a
 * spool read error.  The caller frees.
 */
char *filter_msg_field_dup(const struct filter_txn *t, size_t i, size_t *len_r,
                           const char **error_r);

/* Mark field i deleted: the reader leaves it out. */
void filter_msg_field_delete(struct filter_txn *t, size_t i);

/* Replace the whole text of field i ("Name: value", folds as CRLF WSP,
 * no final CRLF); copied.  Reads of the field return the new text. */
void filter_msg_field_replace(struct filter_txn *t, size_t i, const char *text);

/* Offset of the end of the header section in the spool: the empty line
 * that separates the body, if any. */
size_t filter_msg_body_offset(const struct filter_txn *t);

/* Offset of the body proper: after that empty line. */
size_t filter_msg_body_start(const struct filter_txn *t);

typedef int filter_msg_field_cb(void *arg, const char *field, size_t len);

/*
 * Call cb for every header field of the outgoing message, in order
 * (prepended, the message's own less deleted ones, appended), each
 * without its final CRLF.  Stops when cb returns non-zero and returns
 * that; -1 with *error_r on a spool read error; 0 when all were seen.
 */
int filter_msg_foreach_field(const struct filter_txn *t,
                             filter_msg_field_cb *cb, void *arg,
                             const char **error_r);

struct filter_msg_reader {
	const struct filter_txn *txn;
	int stage;
	const struct filter_header *header; /* prepend/append list walk */
	size_t field;                       /* index walk */
	size_t pos;                         /* within the current part */
};

void filter_msg_reader_init(struct filter_msg_reader *r,
                            const struct filter_txn *t);

/*
 * Copy the next octets of the outgoing message into buf.  Returns the
 * number copied, 0 at the end, -1 with *error_r on a spool read error.
 */
ssize_t filter_msg_read(struct filter_msg_reader *r, char *buf, size_t size,
                        const char **error_r);

#endif
