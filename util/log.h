/*
 * log.h - postern's logger.
 *
 * One function per severity.  The logger prefixes the severity word and
 * writes the line to stderr or syslog; the caller writes the message,
 * lowercase, event word first, then key=value pairs.  Session lines put
 * the session id first.  Anything that came from the network must go
 * through log_escape() before it is logged.
 *
 * Debug output is per subsystem (LOG_TRACE_*) and costs one test when off.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/time.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Debug subsystems, a bit mask. */
#define LOG_TRACE_SMTP     0x01u /* client-side protocol */
#define LOG_TRACE_UPSTREAM 0x02u /* upstream-side protocol */
#define LOG_TRACE_FILTER   0x04u /* filter chain */
#define LOG_TRACE_CONFIG   0x08u
#define LOG_TRACE_ALL      0xffu

extern unsigned int log_trace_mask;

/*
 * Set up logging.  ident is kept (not copied).  With use_syslog false
 * lines go to stderr with a timestamp; otherwise to syslog with the
 * given facility (LOG_MAIL etc.).  May be called again, e.g. on reload.
 */
void log_open(const char *ident, int use_syslog, int facility,
              enum log_level level);

/* Map "mail", "local0".."local7", "daemon" to a syslog facility; -1 if
 * unknown. */
int log_facility_parse(const char *name);

/* Map "error", "warning", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Debug line for subsystem bit(s) sub; a no-op unless enabled. */
#define log_trace(sub, ...)                                                    \
	do {                                                                   \
		if (log_trace_mask & (sub))                                    \
			log_debug(__VA_ARGS__);                                \
	} while (0)

/*
 * Copy the len octets at src into dst (size dstsize, always
 * NUL-terminated), escaping every octet outside printable ASCII,
 * backslash, double quote and '=' as \xHH, and ending with "..." when
 * the input does not fit.  Returns dst, so it can be used inline.
 */
char *log_escape(char *dst, size_t dstsize, const char *src, size_t len);

/* Seconds from start to now, for the elapsed= of log lines and
 * reports. */
double log_elapsed(const struct timeval *start);

/* log_escape() for a NUL-terminated string. */
char *log_escape_str(char *dst, size_t dstsize, const char *src);

#endif
