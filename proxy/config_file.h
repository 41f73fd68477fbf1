/*
 * config_file.h - read a configuration file for the parser.
 *
 * Reads the whole file and checks what libconfuse's lexer lets through
 * silently or reports at the wrong place: a NUL byte, a string or comment
 * left open, a brace never closed.  Knows nothing of options.
 */
#ifndef POSTERN_CONFIG_FILE_H
#define POSTERN_CONFIG_FILE_H

#include <stddef.h>

/* The largest configuration file read, in octets. */
#define CONFIG_FILE_MAX (1024 * 1024)

/*
 * Read the file at path.  Returns its text, NUL-terminated, with the
 * length in *len_r; the caller frees it.  On failure returns NULL with
 * "path:line: reason" (or "path: reason") in *error_r, which the caller
 * frees.
 */
char *config_file_read(const char *path, size_t *len_r, char **error_r);

#endif
