/*
 * spool.c - a message buffer that moves to an unlinked file when large.
 *
 * Content stays in a growing memory buffer until a write would take it
 * past memory_limit; then a temporary file is made in the spool
 * directory, unlinked at once (nothing is left behind by a crash), the
 * buffered octets are copied to it and every later write goes there.
 * Writes use pwrite and reads pread at explicit offsets, so the file
 * position never matters and concurrent readers of a finished spool do
 * not disturb each other.  Errors come back as strerror text in a
 * thread-local buffer, valid until the next spool error on that thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/spool.h"

/* What mkostemp(3) replaces with a unique name. */
#define SPOOL_TEMPLATE "X" "X" "X" "X" "X" "X"
#include "util/xalloc.h"

#define SPOOL_MEM_MIN 4096

struct spool {
	char *dir;
	size_t memory_limit;
	char *mem;
	size_t mem_alloc;
	size_t size;
	int fd; /* -1 while in memory */
};

static _Thread_local char spool_errbuf[256];

static const char *
spool_strerror(const char *what, int err)
{
	char tmp[128];
	const char *msg;

	msg = strerror_r(err, tmp, sizeof(tmp));
	snprintf(spool_errbuf, sizeof(spool_errbuf), "%s: %s", what, msg);
	return spool_errbuf;
}

struct spool *
spool_new(const char *dir, size_t memory_limit)
{
	struct spool *sp;

	sp = xcalloc(1, sizeof(*sp));
	sp->dir = xstrdup(dir);
	sp->memory_limit = memory_limit;
	sp->fd = -1;
	return sp;
}

void
spool_free(struct spool **sp)
{
	if (*sp == NULL)
		return;
	if ((*sp)->fd >= 0)
		close((*sp)->fd);
	free((*sp)->mem);
	free((*sp)->dir);
	free(*sp);
	*sp = NULL;
}

static int
spool_pwrite_all(int fd, const void *data, size_t len, size_t offset)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		offset += (size_t)n;
	}
	return 0;
}

static int
spool_to_disk(struct spool *sp, const char **error_r)
{
	char *path;
	int fd;

	/* mkostemp(3) fills in the six-letter suffix. */
	path = xasprintf("%s/postern.%s", sp->dir, SPOOL_TEMPLATE);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		*error_r = spool_strerror("cannot create spool file", errno);
		free(path);
		return -1;
	}
	/* Unlinked at once: the file lives only as long as the fd. */
	unlink(path);
	free(path);

	if (spool_pwrite_all(fd, sp->mem, sp->size, 0) < 0) {
		*error_r = spool_strerror("cannot write spool file", errno);
		close(fd);
		return -1;
	}
	sp->fd = fd;
	free(sp->mem);
	sp->mem = NULL;
	sp->mem_alloc = 0;
	return 0;
}

static void
spool_mem_append(struct spool *sp, const void *data, size_t len)
{
	size_t want = sp->size + len, alloc = sp->mem_alloc;

	if (want > alloc) {
		if (alloc < SPOOL_MEM_MIN)
			alloc = SPOOL_MEM_MIN;
		while (alloc < want && alloc <= SIZE_MAX / 2)
			alloc *= 2;
		/* Callers only get here with want <= memory_limit. */
		if (alloc > sp->memory_limit)
			alloc = sp->memory_limit;
		sp->mem = xrealloc(sp->mem, alloc);
		sp->mem_alloc = alloc;
	}
	memcpy(sp->mem + sp->size, data, len);
	sp->size = want;
}

int
spool_write(struct spool *sp, const void *data, size_t len,
            const char **error_r)
{
	if (len == 0)
		return 0;
	if (len > (size_t)INT64_MAX - sp->size) {
		*error_r = spool_strerror("spool write", EFBIG);
		return -1;
	}
	if (sp->fd < 0 && sp->size + len <= sp->memory_limit) {
		spool_mem_append(sp, data, len);
		return 0;
	}
	if (sp->fd < 0 && spool_to_disk(sp, error_r) < 0)
		return -1;
	if (spool_pwrite_all(sp->fd, data, len, sp->size) < 0) {
		*error_r = spool_strerror("cannot write spool file", errno);
		return -1;
	}
	sp->size += len;
	return 0;
}

void
spool_reset(struct spool *sp)
{
	sp->size = 0;
	free(sp->mem);
	sp->mem = NULL;
	sp->mem_alloc = 0;
	/* Keep the file for the next message; if it cannot be emptied,
	 * drop it and start over in memory. */
	if (sp->fd >= 0 && ftruncate(sp->fd, 0) < 0) {
		close(sp->fd);
		sp->fd = -1;
	}
}

size_t
spool_size(const struct spool *sp)
{
	return sp->size;
}

int
spool_on_disk(const struct spool *sp)
{
	return sp->fd >= 0;
}

static ssize_t
spool_pread_all(int fd, char *buf, size_t len, size_t offset,
                const char **error_r)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, buf + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r =
			    spool_strerror("cannot read spool file", errno);
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t
spool_read(const struct spool *sp, size_t offset, void *buf, size_t len,
           const char **error_r)
{
	if (offset >= sp->size)
		return 0;
	if (len > sp->size - offset)
		len = sp->size - offset;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (sp->fd < 0) {
		memcpy(buf, sp->mem + offset, len);
		return (ssize_t)len;
	}
	return spool_pread_all(sp->fd, buf, len, offset, error_r);
}
