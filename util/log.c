/*
 * log.c - severity-tagged log lines to stderr or syslog.
 *
 * The logger adds the timestamp (stderr only), the ident and pid, and
 * the severity word; the message is the caller's and is never rewritten,
 * only cut with "..." at LOG_LINE_MAX octets.  Each line is built in a
 * local buffer and handed to the kernel in one write(2), so lines from
 * worker threads do not interleave.  log_escape() makes network input
 * safe to log; deciding what to escape is the caller's job.  Failures to
 * write a log line are ignored: there is nowhere to report them.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include "util/log.h"

#define LOG_LINE_MAX 4096

unsigned int log_trace_mask;

/*
 * Written by log_open() on the loop thread at startup and reload, read
 * by every thread; a reload races only with lines logged at that moment.
 */
static const char *log_ident = "postern";
static int log_use_syslog;
static enum log_level log_max_level = LOG_LEVEL_INFO;

static const char *const log_level_words[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

static const int log_level_prio[] = {
    [LOG_LEVEL_ERROR] = LOG_ERR,
    [LOG_LEVEL_WARNING] = LOG_WARNING,
    [LOG_LEVEL_INFO] = LOG_INFO,
    [LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

static const struct {
	const char *name;
	int facility;
} log_facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

void
log_open(const char *ident, int use_syslog, int facility, enum log_level level)
{
	if (log_use_syslog)
		closelog();
	log_ident = ident != NULL ? ident : "postern";
	log_use_syslog = use_syslog;
	log_max_level = level;
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
}

int
log_facility_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]);
	     i++) {
		if (strcasecmp(name, log_facilities[i].name) == 0)
			return log_facilities[i].facility;
	}
	return -1;
}

int
log_level_parse(const char *name)
{
	int i;

	for (i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcasecmp(name, log_level_words[i]) == 0)
			return i;
	}
	return -1;
}

/* Bytes an snprintf-style call added to a buffer with room left. */
static size_t
log_clamp(int n, size_t room)
{
	if (n < 0)
		return 0;
	if ((size_t)n >= room)
		return room > 0 ? room - 1 : 0;
	return (size_t)n;
}

static size_t
log_stderr_prefix(char *buf, size_t size, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	n += log_clamp(snprintf(buf + n, size - n, ".%03ldZ %s[%ld]: %s: ",
	                        ts.tv_nsec / 1000000L, log_ident,
	                        (long)getpid(), log_level_words[level]),
	               size - n);
	return n;
}

static void
log_write_line(const char *buf, size_t len)
{
	ssize_t n;

	do {
		n = write(STDERR_FILENO, buf, len);
	} while (n < 0 && errno == EINTR);
}

static void __attribute__((format(printf, 2, 0)))
log_vline(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n, room;
	int saved_errno = errno, m;

	if (level > log_max_level)
		return;

	/* One octet stays free for the newline. */
	room = sizeof(line) - 1;
	if (log_use_syslog)
		n = log_clamp(
		    snprintf(line, room, "%s: ", log_level_words[level]), room);
	else
		n = log_stderr_prefix(line, room, level);
	m = vsnprintf(line + n, room - n, fmt, ap);
	if (m >= 0 && (size_t)m >= room - n) {
		n = room - 1;
		memcpy(line + n - 3, "...", 3);
	} else if (m > 0) {
		n += (size_t)m;
	}
	line[n] = '\0';

	if (log_use_syslog) {
		syslog(log_level_prio[level], "%s", line);
	} else {
		line[n++] = '\n';
		log_write_line(line, n);
	}
	errno = saved_errno;
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

void
log_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

static int
log_escape_keep(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e && c != '\\' && c != '"' && c != '=';
}

char *
log_escape(char *dst, size_t dstsize, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o, need, limit;
	unsigned char c;

	if (dstsize == 0)
		return dst;

	need = 0;
	for (i = 0; i < len && need < dstsize; i++)
		need += log_escape_keep((unsigned char)src[i]) ? 1 : 4;

	/* When it does not all fit, stop early enough to add "...". */
	limit = need < dstsize ? dstsize - 1 : (dstsize > 4 ? dstsize - 4 : 0);
	o = 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (log_escape_keep(c)) {
			if (o + 1 > limit)
				break;
			dst[o++] = (char)c;
			continue;
		}
		if (o + 4 > limit)
			break;
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0x0f];
	}
	if (i < len) {
		need = dstsize - 1 - o < 3 ? dstsize - 1 - o : 3;
		memcpy(dst + o, "...", need);
		o += need;
	}
	dst[o] = '\0';
	return dst;
}

char *
log_escape_str(char *dst, size_t dstsize, const char *src)
{
	/* Any string at least dstsize long cannot fit, whatever its tail. */
	return log_escape(dst, dstsize, src, strnlen(src, dstsize));
}

double
log_elapsed(const struct timeval *start)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_usec - start->tv_usec) / 1e6;
}
