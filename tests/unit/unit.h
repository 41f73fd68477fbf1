/*
 * unit.h - what the unit tests share: table sizes, "got X, want Y"
 * checks, the corpus ($CORPUS, default ../shared/corpus), a scratch
 * directory per test program, files written and read back, and a
 * descriptor captured in a temporary file.
 *
 * Included instead of <cmocka.h>.  Every helper is static inline, so a
 * test program compiles only what it uses and needs nothing linked.  A
 * helper that finds its own setup broken (a file that cannot be made or
 * read) fails the running test; checks print the case's name, what was
 * checked, and what was got and wanted.
 */
#ifndef POSTERN_TESTS_UNIT_H
#define POSTERN_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define UNIT_CORPUS_DEFAULT "../shared/corpus"
#define UNIT_PATH_MAX       512

/*
 * Checks
 */

static inline void
check_int(const char *name, const char *what, long long got, long long want)
{
	if (got == want)
		return;
	print_error("%s: %s: got %lld, want %lld\n", name, what, got, want);
	fail();
}

/* NULL equals only NULL. */
static inline void
check_str(const char *name, const char *what, const char *got, const char *want)
{
	if (got == NULL && want == NULL)
		return;
	if (got != NULL && want != NULL && strcmp(got, want) == 0)
		return;
	print_error("%s: %s: got \"%s\", want \"%s\"\n", name, what,
	            got ? got : "(null)", want ? want : "(null)");
	fail();
}

static inline void
unit_sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * Paths: the corpus and the scratch directory
 */

/* dir/name in one of a few static buffers, so several can be in use. */
static inline const char *
unit_path(const char *dir, const char *name)
{
	static char bufs[8][UNIT_PATH_MAX];
	static unsigned int next;
	char *b = bufs[next++ % ARRAY_LEN(bufs)];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/* $CORPUS, or ../shared/corpus (from the repository root) when it is
 * unset or empty. */
static inline const char *
unit_corpus(void)
{
	const char *corpus = getenv("CORPUS");

	if (corpus == NULL || *corpus == '\0')
		return UNIT_CORPUS_DEFAULT;
	return corpus;
}

/* name in the corpus, as unit_path(). */
static inline const char *
unit_corpus_path(const char *name)
{
	return unit_path(unit_corpus(), name);
}

/* Whether the corpus has a readable name; says so when it has not. */
static inline int
unit_corpus_has(const char *name)
{
	if (access(unit_corpus_path(name), R_OK) == 0)
		return 1;
	print_message("corpus file %s missing, skipped\n",
	              unit_corpus_path(name));
	return 0;
}

/* The test program's scratch directory; "" until unit_tmpdir_make(). */
static inline char *
unit_tmpdir(void)
{
	static char dir[128];

	return dir;
}

/* The six letters mkstemp(3) and mkdtemp(3) replace. */
#define UNIT_TEMPLATE "X" "X" "X" "X" "X" "X"

/* Make the scratch directory /tmp/<name>.<unique>.  Returns 0 or -1. */
static inline int
unit_tmpdir_make(const char *name)
{
	char *dir = unit_tmpdir();

	snprintf(dir, 128, "/tmp/%s.%s", name, UNIT_TEMPLATE);
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static inline int
unit_remove_one(const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
	return remove(path);
}

/* Remove the scratch directory and everything in it.  Returns 0 or -1. */
static inline int
unit_tmpdir_remove(void)
{
	return nftw(unit_tmpdir(), unit_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* name in the scratch directory, as unit_path(). */
static inline const char *
unit_tmp(const char *name)
{
	return unit_path(unit_tmpdir(), name);
}

/*
 * tmpl with each "%c" whose c is in keys replaced by the value at c's
 * index in values; any other text, other '%' included, is copied.
 * Allocated.
 */
static inline char *
unit_expand(const char *tmpl, const char *keys, const char *const *values)
{
	size_t len = 0, cap = strlen(tmpl) + 1, vlen;
	char *out = xmalloc(cap);
	const char *t, *k;

	for (t = tmpl; *t != '\0'; t++) {
		k = t[0] == '%' && t[1] != '\0' ? strchr(keys, t[1]) : NULL;
		vlen = k != NULL ? strlen(values[k - keys]) : 1;
		if (len + vlen + 1 > cap) {
			cap = (len + vlen + 1) * 2;
			out = xrealloc(out, cap);
		}
		if (k == NULL) {
			out[len++] = *t;
			continue;
		}
		memcpy(out + len, values[k - keys], vlen);
		len += vlen;
		t++;
	}
	out[len] = '\0';
	return out;
}

/*
 * Files
 */

/* Everything from offset 0 of fd, NUL-terminated; allocated. */
static inline char *
unit_fd_read(int fd, size_t *len_r)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	ssize_t n;

	for (;;) {
		n = pread(fd, buf + len, cap - len - 1, (off_t)len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	buf[len] = '\0';
	if (len_r != NULL)
		*len_r = len;
	return buf;
}

/* The whole of path, NUL-terminated, its length in *len_r (if not
 * NULL); allocated. */
static inline char *
unit_read_file(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	char *text;

	if (fd < 0)
		print_error("%s: cannot open\n", path);
	assert_true(fd >= 0);
	text = unit_fd_read(fd, len_r);
	close(fd);
	return text;
}

/* len octets of data as path, replacing any file there, with mode. */
static inline void
unit_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* text as path with mode 0600, replacing any file there. */
static inline void
unit_write_text(const char *path, const char *text)
{
	unit_write_file(path, text, strlen(text), 0600);
}

/* A new file /tmp/<name>.<unique> (mode 0600) holding len octets of
 * data; returns its path, allocated. */
static inline char *
unit_temp_file(const char *name, const void *data, size_t len)
{
	char *path = xasprintf("/tmp/%s.%s", name, UNIT_TEMPLATE);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), len);
	assert_int_equal(close(fd), 0);
	return path;
}

/*
 * Capturing a descriptor
 */

/* What fd was while captured, and the unlinked file it goes to. */
struct unit_capture {
	int fd;
	int saved;
	int file;
};

/* Point fd (1 or 2, say) at an unlinked temporary file. */
static inline void
unit_capture_start(struct unit_capture *c, int fd)
{
	char path[] = "/tmp/postern-capture." UNIT_TEMPLATE;

	fflush(NULL);
	c->fd = fd;
	c->file = mkstemp(path);
	assert_true(c->file >= 0);
	unlink(path);
	c->saved = dup(fd);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->file, fd) >= 0);
}

/* Point fd back and return what was written to it, NUL-terminated;
 * allocated. */
static inline char *
unit_capture_end(struct unit_capture *c)
{
	char *text;

	fflush(NULL);
	dup2(c->saved, c->fd);
	close(c->saved);
	text = unit_fd_read(c->file, NULL);
	close(c->file);
	return text;
}

#endif
