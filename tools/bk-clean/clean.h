/* Retention: deleting old backups and what killed writers left (SPEC §5.6). */
#ifndef BK_CLEAN_H
#define BK_CLEAN_H

#include <stdbool.h>
#include <cjson/cJSON.h>

/* Temporary files younger than this may belong to a writer still at work. */
#define CLEAN_TEMP_AGE_MS (3600 * 1000LL)

struct clean_options {
	const char *dir;	/* the backup directory (the caller holds its lock) */
	long days;		/* delete backups whose metadata timestamp is older */
	long keep_last;		/* but never the newest keep_last full backups */
	bool dry_run;		/* report what would go, remove nothing */
};

/*
 * Deletes backups older than opt->days with their .sha256 files, the
 * .sha256 files whose backup is gone, and temporary files of backups and
 * checksums older than CLEAN_TEMP_AGE_MS. A backup whose metadata cannot be
 * read is kept (and reported): it cannot be dated, and it may be the one
 * piece of evidence the operator needs. Nothing else in the directory is
 * touched. *report is the JSON summary, made even on failure.
 * Returns 0, or EX_IOERR when a file could not be removed (the rest still is).
 */
int clean_run(const struct clean_options *opt, cJSON **report);

#endif
