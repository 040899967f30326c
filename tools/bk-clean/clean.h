/* Retention: deleting old backups and what killed writers left (bk-clean(1)). */
#ifndef BK_CLEAN_H
#define BK_CLEAN_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "keep.h"

/* Temporary files younger than this may belong to a writer still at work. */
#define CLEAN_TEMP_AGE_MS (3600 * 1000LL)

struct clean_options {
	const char *dir;      /* the backup directory (the caller holds its lock) */
	long days;	      /* delete backups whose metadata timestamp is older */
	long keep_last;	      /* but never the newest keep_last full backups */
	long keep[CAL_UNITS]; /* nor the newest full backup of the newest N hours, days, weeks, months */
	bool dry_run;	      /* report what would go, remove nothing */
};

/*
 * Deletes the backups that no rule of keep_decide keeps (the age rule is
 * opt->days), with their .sha256 files, the
 * .sha256 files whose backup is gone, and temporary files of backups and
 * checksums older than CLEAN_TEMP_AGE_MS. A backup whose metadata cannot be
 * read is kept (and reported): it cannot be dated, and it may be the one
 * piece of evidence the operator needs. Nothing else in the directory is
 * touched. *report is the JSON summary, made even on failure.
 * Returns 0, or EX_IOERR when a file could not be removed (the rest still is).
 */
int clean_run(const struct clean_options *opt, cJSON **report);

struct s3;

/*
 * The same retention for the bucket of BK_S3_URL (opt->dir unused), where
 * a full backup is good when whole (its checksum object is there; the
 * bucket's copies are not read back). A backup's last checksum object goes first, so one that
 * is half deleted is no longer whole and the next run finishes it.
 * Returns 0 or the first failure's code (the rest is still tried).
 */
int clean_remote(const struct clean_options *opt, struct s3 *s, cJSON **report);

#endif
