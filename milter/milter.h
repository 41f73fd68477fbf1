/*
 * milter.h - postern as a milter (Sendmail's mail filter protocol, on
 * libmilter), for an MTA that keeps port 25 itself.
 *
 * Each milter connection from the MTA runs the same filter chain as an
 * SMTP proxy session, on libmilter's own thread for that connection
 * (the chain runs with no worker pool), and turns the chain's verdicts
 * and header edits into milter replies and actions.  libmilter runs in
 * one thread of its own; postern's main thread keeps its signals and
 * tells the milter when the configuration changes or the daemon stops.
 * Errors starting the listener are returned; errors on one milter
 * connection end that connection only, with a log line.
 */
#ifndef POSTERN_MILTER_H
#define POSTERN_MILTER_H

struct config;

/*
 * Start libmilter on cfg->milter in a thread of its own (cfg must have
 * a milter section).  Once per process: libmilter keeps global state.
 * Returns 0, or -1 with an allocated reason in *error_r.
 */
int milter_start(struct config *cfg, char **error_r);

/* A new configuration generation: connections from now on use it (a
 * reference is taken); open ones keep theirs.  No-op when not started. */
void milter_set_config(struct config *cfg);

/* Stop accepting milter connections; returns at once, 1 when the
 * milter was running, 0 (nothing done) when not. */
int milter_stop(void);

/* Stop, wait a little for libmilter's thread, drop the configuration.
 * At exit. */
void milter_finish(void);

#endif
