#include <err.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "profile.h"

/* Nanoseconds per phase; the writer thread adds to some while the main thread adds to others. */
static _Atomic long long spent_ns[PROF_NPHASES];

double prof_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void prof_add_seconds(enum prof_phase phase, double seconds)
{
	atomic_fetch_add(&spent_ns[phase], (long long)(seconds * 1e9));
}

void prof_add(enum prof_phase phase, double since)
{
	prof_add_seconds(phase, prof_now() - since);
}

static atomic_int split_tables;

void prof_note_split(void)
{
	atomic_fetch_add(&split_tables, 1);
}

static double secs(enum prof_phase phase)
{
	return (double)atomic_load(&spent_ns[phase]) / 1e9;
}

void prof_report(void)
{
	const char *on = config_get("BK_PROFILE", NULL);
	if (!on || strcmp(on, "1") != 0)
		return;
	/*
	 * Hashing is the writer's when it writes directly, else the main
	 * thread's (inside converting) or, compressed, the compressor's.
	 */
	warnx("profile: main thread: count %.2f, waiting for COPY rows %.2f, "
	      "converting %.2f, waiting for the writer %.2f; hashing %.2f; writer thread: "
	      "writing %.2f (direct %.2f); fsync %.2f (seconds); tables read in two halves: %d",
	      secs(PROF_COUNT), secs(PROF_COPY_WAIT), secs(PROF_CONVERT) - secs(PROF_OUT_WAIT),
	      secs(PROF_OUT_WAIT), secs(PROF_HASH), secs(PROF_WRITE), secs(PROF_DIRECT), secs(PROF_SYNC),
	      atomic_load(&split_tables));
}
