/*
 * Progress of a long job on stderr, one line redrawn in place (like pv):
 * the table, its rows done of the count the metadata gives, MB, rate and
 * an ETA; then a one-line summary. Drawn only when stderr is a terminal,
 * unless forced (--progress); -q silences it. One job per process, so the
 * state is the process's, like lib/profile.
 */
#ifndef BK_PROGRESS_H
#define BK_PROGRESS_H

#include <stdint.h>

enum progress_mode { PROGRESS_AUTO, PROGRESS_ON, PROGRESS_OFF };

/* Turns it on (per mode) for tool, e.g. "bk-dump"; the clock starts. */
void progress_setup(const char *tool, enum progress_mode mode);

/* The whole job's size in bytes (e.g. the backup file), for the ETA; 0: unknown. */
void progress_total_bytes(uint64_t n);

/* A new table begins; expected rows, or -1 when unknown. */
void progress_table(const char *name, long long expected);

/* rows of the current table done; bytes of the whole job so far. Cheap:
 * redraws at most ten times a second. */
void progress_update(long long rows, uint64_t bytes);

/* Clears the line (before a question to the operator); the next update redraws it. */
void progress_clear(void);

/* Clears the line and prints "TOOL: N rows, X MB in S s (R MB/s)" when on. */
void progress_finish(void);

#endif
