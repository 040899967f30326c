/* Restoring a backup into the live database and Redis (SPEC §5.5). */
#ifndef BK_RESTORE_H
#define BK_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "jsonr.h"
#include "pg.h"

/* The groups of SPEC §5.5, as bits for restore_options.skip. */
enum {
	GROUP_RAFFLES = 1 << 0,
	GROUP_ANALYTICS = 1 << 1,
	GROUP_USERS = 1 << 2,
	GROUP_REDIS = 1 << 3,
	GROUP_OTHER = 1 << 4,	/* never skipped: no option names it */
};

struct restore_options {
	const char *path;	/* the backup file, or "-" */
	const char *dir;	/* the backup directory (for the safety backup) */
	unsigned skip;		/* GROUP_* bits */
	bool dry_run, clean, yes, no_safety_backup;
};

/*
 * Verifies and restores. On success *summary is the JSON summary:
 * {"backup":id,"type":...,"dryRun":b,"tables":{"Raffle":n,...},
 *  "redisKeys":n,"safetyBackup":id|null}.
 * Returns 0 or a sysexits code after saying what went wrong; unless the
 * code says the database was committed (only a Redis failure after the
 * commit), the database is as it was before.
 */
int restore_run(const struct restore_options *opt, cJSON **summary);

/* The group a table belongs to (GROUP_*), from its name and foreign keys. */
unsigned restore_group(const struct pg_schema *s, const char *table);

/*
 * One JSON value (first token already read) as a field of COPY text for a
 * column of the given kind, appended to out: strings escaped, numbers as
 * written, timestamps with an offset converted to UTC for columns without
 * a time zone, arrays as array literals, anything into json columns as JSON
 * text, null as \N. Returns 0, or -1 with why in err.
 */
int restore_value(enum col_kind kind, struct jsonr *r, int first, struct buf *out,
		  struct buf *scratch, char *err, size_t errlen);

/* "2024-12-01T04:00:00.5+02:00" → "2024-12-01 02:00:00.5" for a timestamp
 * column; text that does not start like a date is appended unchanged for
 * PostgreSQL to judge. -1 (nothing appended) for a date that does not
 * exist, whatever its offset: 2024-02-30T10:00:00+01:00. */
int restore_timestamp_utc(const char *s, size_t n, struct buf *out);

#endif
