/* Restoring a backup into the live database and Redis (bk-restore(1)): what
 * bk-restore.c calls. The passes' insides are in restore_int.h. */
#ifndef BK_RESTORE_H
#define BK_RESTORE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "groups.h"

struct restore_options {
	const char *path; /* the backup file, or "-" */
	const char *dir;  /* the backup directory (for the safety backup) */
	unsigned skip;	  /* GROUP_* bits */
	bool dry_run, clean, yes, no_safety_backup;
	char **accept_loss; /* "Table" or "Table.column", NULL-terminated (may be NULL) */
};

/*
 * Verifies and restores. On success *summary is the JSON summary:
 * {"backup":id,"type":...,"dryRun":b,"tables":{"Raffle":n,...},
 *  "redisKeys":n,"acceptedLosses":["Table.column",...],"prismaMigrations":n,
 *  "safetyBackup":id|null}.
 * A value of the backup that would not land (restore_check.c) is refused
 * with EX_NOPERM before anything changes, unless opt->accept_loss names it.
 * Returns 0 or a sysexits code after saying what went wrong; unless the
 * code says the database was committed (only a Redis failure after the
 * commit), the database is as it was before.
 */
int restore_run(const struct restore_options *opt, cJSON **summary);

#endif
