/*
 * spool.h - where a message lives between DATA and the upstream.
 *
 * A spool keeps the message in memory up to a limit, then moves it to an
 * unlinked temporary file in the spool directory, so a 50 MB message
 * costs 50 MB of disk, not of memory.  Writes append; reads are
 * positional, so a filter on a worker thread and the loop may read the
 * same finished spool.  I/O errors are returned, never fatal.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

struct spool;

/* dir is copied.  memory_limit 0 means always use a file. */
struct spool *spool_new(const char *dir, size_t memory_limit);
void spool_free(struct spool **sp);

/* Append len octets.  Returns 0, or -1 with a reason in *error_r
 * (strerror text, static or thread-local). */
int spool_write(struct spool *sp, const void *data, size_t len,
                const char **error_r);

/* Drop the content, keep the spool for the next message. */
void spool_reset(struct spool *sp);

/* Octets written so far. */
size_t spool_size(const struct spool *sp);

/* 1 if the content moved to a temporary file. */
int spool_on_disk(const struct spool *sp);

/*
 * Copy up to len octets starting at offset into buf.  Returns the number
 * copied (0 at the end), or -1 with *error_r set.
 */
ssize_t spool_read(const struct spool *sp, size_t offset, void *buf, size_t len,
                   const char **error_r);

#endif
