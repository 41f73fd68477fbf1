/*
 * test_spool.c - util/spool.c: memory-only spools, the move to an
 * unlinked file at the memory limit, positional reads across that
 * boundary, reset, and errors from an unusable spool directory.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/spool.h"
#include "tests/unit/unit.h"

#define MAX_CHUNKS 8

/* Octet i of every test message: not periodic in any small power of 2. */
static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) % 256);
}

static void
fill(unsigned char *buf, size_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(offset + i);
}

static size_t
dir_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Size of the spool's unlinked file, found through /proc/self/fd; -1 if
 * no such file is open.
 */
static off_t
spool_file_size(void)
{
	char link[300], target[PATH_MAX];
	struct dirent *de;
	struct stat st;
	off_t size = -1;
	ssize_t n;
	DIR *d;

	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, unit_tmpdir(), strlen(unit_tmpdir())) !=
		        0 ||
		    strstr(target, "/postern.") == NULL)
			continue;
		assert_int_equal(stat(link, &st), 0);
		size = st.st_size;
	}
	closedir(d);
	return size;
}

/* Read the whole spool back in steps of step octets and compare. */
static void
check_content(const char *name, const struct spool *sp, size_t want_size,
              size_t step)
{
	unsigned char *got, *want;
	const char *error = NULL;
	size_t off = 0;
	ssize_t n;

	got = malloc(want_size + step);
	want = malloc(want_size + 1);
	fill(want, 0, want_size);
	while ((n = spool_read(sp, off, got + off, step, &error)) > 0)
		off += (size_t)n;
	if (n < 0)
		fail_msg("%s: read at %zu got error \"%s\"", name, off, error);
	if (off != want_size)
		fail_msg("%s: step %zu read %zu octets, want %zu", name, step,
		         off, want_size);
	if (memcmp(got, want, want_size) != 0)
		fail_msg("%s: step %zu content differs", name, step);
	free(got);
	free(want);
}

static void
write_chunks(const char *name, struct spool *sp, const size_t *chunks)
{
	unsigned char *buf;
	const char *error = NULL;
	size_t i, off = spool_size(sp);

	for (i = 0; i < MAX_CHUNKS && chunks[i] != 0; i++) {
		buf = malloc(chunks[i]);
		fill(buf, off, chunks[i]);
		if (spool_write(sp, buf, chunks[i], &error) < 0)
			fail_msg("%s: write %zu got \"%s\", want ok", name,
			         chunks[i], error);
		free(buf);
		off += chunks[i];
		if (spool_size(sp) != off)
			fail_msg("%s: got size %zu, want %zu", name,
			         spool_size(sp), off);
	}
}

static const struct write_case {
	const char *name;
	size_t limit;
	size_t chunks[MAX_CHUNKS]; /* 0-terminated */
	size_t size;
	int on_disk;
} write_cases[] = {
    {"one small write stays in memory", 1024, {11}, 11, 0},
    {"many small writes stay in memory", 1024, {1, 2, 3, 500}, 506, 0},
    {"exactly the limit stays in memory", 100, {60, 40}, 100, 0},
    {"one past the limit goes to disk", 100, {60, 40, 1}, 101, 1},
    {"first write past the limit", 100, {101}, 101, 1},
    {"crossing mid-write", 100, {90, 20, 5}, 115, 1},
    {"memory growth beyond the first block",
     1 << 20,
     {5000, 5000, 70000},
     80000,
     0},
    {"large message on disk", 4096, {3000, 100000, 1, 65536}, 168537, 1},
    {"limit 0 goes to disk at once", 0, {1}, 1, 1},
    {"limit 0 without writes stays empty", 0, {0}, 0, 0},
};

static void
test_write_read(void **state)
{
	static const size_t steps[] = {1, 7, 100, 4096, 1 << 20};
	struct spool *sp;
	size_t i, j;

	for (i = 0; i < ARRAY_LEN(write_cases); i++) {
		const struct write_case *c = &write_cases[i];

		sp = spool_new(unit_tmpdir(), c->limit);
		write_chunks(c->name, sp, c->chunks);
		if (spool_on_disk(sp) != c->on_disk)
			fail_msg("%s: got on_disk %d, want %d", c->name,
			         spool_on_disk(sp), c->on_disk);
		for (j = 0; j < ARRAY_LEN(steps); j++)
			check_content(c->name, sp, c->size, steps[j]);
		if (dir_entries(unit_tmpdir()) != 0)
			fail_msg("%s: spool file left in the directory",
			         c->name);
		spool_free(&sp);
		assert_null(sp);
	}
}

static const struct read_case {
	const char *name;
	size_t offset;
	size_t len;
	ssize_t want;
} read_cases[] = {
    {"inside memory part", 10, 20, 20},
    {"across the boundary", 90, 20, 20},
    {"starting at the boundary", 100, 10, 10},
    {"inside the later part", 140, 10, 10},
    {"short read at the end", 145, 100, 5},
    {"at the end", 150, 10, 0},
    {"past the end", 1000, 10, 0},
    {"zero length", 50, 0, 0},
};

static void
run_read_cases(const char *what, size_t limit)
{
	static const size_t chunks[MAX_CHUNKS] = {100, 50};
	unsigned char got[256], want[256];
	const char *error = NULL;
	struct spool *sp;
	size_t i;
	ssize_t n;

	sp = spool_new(unit_tmpdir(), limit);
	write_chunks(what, sp, chunks);
	for (i = 0; i < ARRAY_LEN(read_cases); i++) {
		const struct read_case *c = &read_cases[i];

		memset(got, 0, sizeof(got));
		n = spool_read(sp, c->offset, got, c->len, &error);
		if (n != c->want)
			fail_msg("%s, %s: got %zd octets, want %zd", what,
			         c->name, n, c->want);
		fill(want, c->offset, (size_t)c->want);
		if (memcmp(got, want, (size_t)c->want) != 0)
			fail_msg("%s, %s: content differs", what, c->name);
	}
	spool_free(&sp);
}

static void
test_read_offsets(void **state)
{
	run_read_cases("in memory", 1000);
	run_read_cases("moved to disk", 100);
	run_read_cases("always on disk", 0);
}

static void
test_reset(void **state)
{
	static const size_t small[MAX_CHUNKS] = {10};
	static const size_t big[MAX_CHUNKS] = {150};
	unsigned char buf[16];
	const char *error = NULL;
	struct spool *sp;

	sp = spool_new(unit_tmpdir(), 100);
	write_chunks("memory before reset", sp, small);
	spool_reset(sp);
	assert_int_equal(spool_size(sp), 0);
	assert_int_equal(spool_read(sp, 0, buf, sizeof(buf), &error), 0);
	write_chunks("memory after reset", sp, small);
	check_content("memory after reset", sp, 10, 3);

	spool_reset(sp);
	write_chunks("disk before reset", sp, big);
	assert_int_equal(spool_on_disk(sp), 1);
	assert_int_equal(spool_file_size(), 150);
	spool_reset(sp);
	/* The disk space is given back, not just forgotten. */
	assert_int_equal(spool_file_size(), 0);
	assert_int_equal(spool_size(sp), 0);
	assert_int_equal(spool_read(sp, 0, buf, sizeof(buf), &error), 0);
	assert_int_equal(spool_read(sp, 140, buf, sizeof(buf), &error), 0);
	write_chunks("disk after reset", sp, small);
	check_content("disk after reset", sp, 10, 3);
	write_chunks("disk after reset", sp, big);
	check_content("disk after reset, grown", sp, 160, 64);
	spool_free(&sp);
	assert_int_equal(dir_entries(unit_tmpdir()), 0);
}

static const struct bad_dir_case {
	const char *name;
	const char *dir;
	const char *want_in_error;
} bad_dir_cases[] = {
    {"missing directory", "/nonexistent/postern-spool", "No such file"},
    {"directory is a file", "/dev/null", "Not a directory"},
};

static void
test_bad_dir(void **state)
{
	static const char data[] = "0123456789abcdef";
	char got[sizeof(data)];
	const char *error;
	struct spool *sp;
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad_dir_cases); i++) {
		const struct bad_dir_case *c = &bad_dir_cases[i];

		sp = spool_new(c->dir, 10);
		error = NULL;
		if (spool_write(sp, data, 8, &error) < 0)
			fail_msg("%s: write in memory got \"%s\", want ok",
			         c->name, error);
		if (spool_write(sp, data + 8, 8, &error) == 0)
			fail_msg("%s: write past limit got ok, want error",
			         c->name);
		if (error == NULL || strstr(error, c->want_in_error) == NULL)
			fail_msg("%s: got error \"%s\", want it to contain "
			         "\"%s\"",
			         c->name, error ? error : "(null)",
			         c->want_in_error);
		/* The failed write must not lose what was already there. */
		if (spool_size(sp) != 8 || spool_on_disk(sp))
			fail_msg("%s: got size %zu on_disk %d, want 8 and 0",
			         c->name, spool_size(sp), spool_on_disk(sp));
		assert_int_equal(spool_read(sp, 0, got, sizeof(got), &error),
		                 8);
		assert_memory_equal(got, data, 8);
		spool_free(&sp);
	}
}

static int
setup(void **state)
{
	return unit_tmpdir_make("test_spool");
}

static int
teardown(void **state)
{
	/* rmdir, not unit_tmpdir_remove(): a file left behind fails. */
	return rmdir(unit_tmpdir());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_read),
	    cmocka_unit_test(test_read_offsets),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_bad_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
