/*
 * postern_release.h - the `postern release` command (postern_release.c).
 */
#ifndef POSTERN_POSTERN_RELEASE_H
#define POSTERN_POSTERN_RELEASE_H

/* argv[0] is "release"; default_config is used without -c.  Returns
 * the exit status. */
int postern_release_main(int argc, char **argv, const char *default_config);

#endif
