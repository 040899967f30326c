/*
 * bk-export's work: a backup's tables as CSV files (RFC 4180), written while
 * the backup is read (the walk of lib/bkfile.c), one row in memory at a time,
 * into temporary files that are renamed into place only when the whole
 * backup has been read and verified.
 */
#ifndef BK_EXPORT_H
#define BK_EXPORT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/*
 * Exports the backup at path ("-": stdin) into dir (created 0700 when
 * missing): <key>.csv per table, redis.csv for a full backup's Redis
 * conversations. Existing files are refused unless force. On success
 * *summary gets {"id","type","dir","files":[...]}. Returns 0, EX_DATAERR
 * (a bad or truncated backup: no CSV is left), EX_CANTCREAT, EX_IOERR,
 * EX_NOINPUT, after saying why.
 */
int export_csv(const char *path, const char *dir, bool force, cJSON **summary);

#endif
