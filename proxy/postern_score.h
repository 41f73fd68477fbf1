/*
 * postern_score.h - the `postern score` command (postern_score.c).
 */
#ifndef POSTERN_POSTERN_SCORE_H
#define POSTERN_POSTERN_SCORE_H

/* argv[0] is "score".  Returns the exit status. */
int postern_score_main(int argc, char **argv);

#endif
