/*
 * Where a backup's time goes, for make bench: seconds per phase, summed
 * over the threads that spend them. With BK_PROFILE=1 in the environment
 * the tool prints them on stderr when it is done; otherwise they cost a
 * clock read per chunk (1 MB) and are never shown.
 */
#ifndef BK_PROFILE_H
#define BK_PROFILE_H

enum prof_phase {
	PROF_COUNT,	/* count(*) of each table, for the metadata */
	PROF_COPY_WAIT, /* the converter waiting for the server's COPY rows */
	PROF_CONVERT,	/* COPY text to JSON (includes PROF_OUT_WAIT) */
	PROF_OUT_WAIT,	/* the converter waiting for the writer thread */
	PROF_HASH,	/* SHA-256 */
	PROF_WRITE,	/* write(2) */
	PROF_DIRECT,	/* the part of PROF_WRITE that went straight to the disk (O_DIRECT) */
	PROF_SYNC,	/* fsync of the file and its directory */
	PROF_NPHASES
};

double prof_now(void); /* a monotonic clock, in seconds */

/* Adds the time since `since` (a prof_now value) to the phase. */
void prof_add(enum prof_phase phase, double since);

/* Adds seconds measured elsewhere to the phase. */
void prof_add_seconds(enum prof_phase phase, double seconds);

/* Counts a table read in two halves at once (dump_rows). */
void prof_note_split(void);

/* Prints "TOOL: profile: ..." on stderr when BK_PROFILE=1. */
void prof_report(void);

#endif
