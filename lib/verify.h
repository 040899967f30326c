/*
 * Checking that a backup is whole (SPEC §5.4), in one streaming pass:
 * checksum, JSON, the structure of §4.2 / §4.3, row counts. bk-restore
 * walks the same way with a sink that loads the rows as they go by, so
 * that what it restores is exactly what was verified.
 */
#ifndef BK_VERIFY_H
#define BK_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jsonr.h"

/*
 * What to do with the rows. Every callback returns 0, or a sysexits code
 * (after saying what is wrong) that stops the walk. A NULL sink only
 * checks and counts.
 */
struct verify_sink {
	void *ud;
	/* The rows of key ("tickets", "raffle", "analytics") start; nested:
	 * inside the raffle object. NULL: check and count them only. */
	void *(*table_begin)(void *ud, const char *key, bool nested);
	/* Whether key is a column of t (an array there is then a value, not
	 * nested rows). */
	bool (*is_column)(void *ud, void *t, const char *key);
	int (*row_begin)(void *ud, void *t);
	/* One member of a row: first is the value's first token (already read,
	 * its text in r->tok); the callback consumes the rest of the value. */
	int (*field)(void *ud, void *t, const char *key, struct jsonr *r, int first);
	int (*row_end)(void *ud, void *t);
	int (*table_end)(void *ud, void *t);
	/* A Redis conversation (ttl NULL) or its TTL (value NULL, ttl the number's text). */
	int (*redis)(void *ud, const char *key, size_t klen, const char *value, size_t vlen,
		     const char *ttl);
};

struct verify_table {
	char *key;
	long long rows;
	bool nested;
};

struct verify_result {
	cJSON *meta;		/* the metadata object */
	cJSON *schema;		/* the schema object (format 1.1), or NULL */
	const char *id, *type;	/* in meta */
	struct verify_table *tables;
	int ntables;
	bool raffle_object;	/* data.raffle was there */
	long long redis_keys, redis_ttls;
	const char *checksum;	/* "ok" or "absent" */
	char sha256[65];
	char error[768];	/* what is wrong and where, when the result is EX_DATAERR */
};

/*
 * Verifies the backup at path ("-": stdin, which has no checksum file) and
 * passes its rows to sink. Returns 0, EX_DATAERR (res->error says why),
 * EX_NOINPUT, EX_IOERR, or the sink's code.
 */
int verify_backup(const char *path, const struct verify_sink *sink, struct verify_result *res);

/* The walk alone, over any reader: structure and row counts. */
int verify_stream(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res);

void verify_result_free(struct verify_result *res);

/* Rows counted for a key (0 when the backup has none). */
long long verify_rows(const struct verify_result *res, const char *key);

/* The backup's DDL, or NULL; and why a full backup has none (NULL: it has). */
const char *verify_ddl(const struct verify_result *res);
const char *verify_ddl_error(const struct verify_result *res);

/* {"id":...,"path":...,"ok":true,"type":...,"rows":{...},"redisKeys":N,"checksum":...} */
cJSON *verify_summary(const struct verify_result *res, const char *path, int rc);

#endif
