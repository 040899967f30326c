/*
 * Checking that a backup is whole (bk-verify(1)), in one streaming pass:
 * checksum, JSON, the structure (lib/bkfile.h), row counts. bk-restore
 * walks the same way with a sink that loads the rows as they go by, so
 * that what it restores is exactly what was verified.
 */
#ifndef BK_VERIFY_H
#define BK_VERIFY_H

#include <cjson/cJSON.h>

#include "bkfile.h"

/*
 * Verifies the backup at path ("-": stdin, which has no checksum file) and
 * passes its rows to sink. Returns 0, EX_DATAERR (res->error says why),
 * EX_NOINPUT, EX_IOERR, or the sink's code.
 */
int verify_backup(const char *path, const struct verify_sink *sink, struct verify_result *res);

/* The walk of bkfile_walk over any reader, then the counts checked. */
int verify_stream(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res);

/* The backup's DDL, or NULL; and why a full backup has none (NULL: it has). */
const char *verify_ddl(const struct verify_result *res);
const char *verify_ddl_error(const struct verify_result *res);

/* {"id":...,"path":...,"ok":true,"type":...,"rows":{...},"redisKeys":N,"checksum":...} */
cJSON *verify_summary(const struct verify_result *res, const char *path, int rc);

#endif
