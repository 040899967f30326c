/*
 * The backup file format (man/bk-backup.5): one JSON object,
 *   {"metadata":{...},
 *   "data":{"<key>":[rows...], ...},
 *   "redis":{"conversations":{...},"ttl":{...}}}
 * written here by bk-dump and bk-raffle, read here by a streaming walk that
 * bk-verify, bk-restore, bk-list and bk-clean share. A change to the format
 * belongs in this file (and the man page) first.
 */
#ifndef BK_BKFILE_H
#define BK_BKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "jsonr.h"
#include "out.h"

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
	int (*redis)(void *ud, const char *key, size_t klen, const char *value, size_t vlen, const char *ttl);
};

struct verify_table {
	char *key;
	long long rows;
	bool nested;
};

struct verify_result {
	cJSON *meta;	       /* the metadata object */
	cJSON *schema;	       /* the schema object (format 1.1), or NULL */
	const char *id, *type; /* in meta */
	struct verify_table *tables;
	int ntables;
	int *index; /* hash of tables by key (bkfile.c) */
	size_t index_cap;
	bool raffle_object; /* data.raffle was there */
	long long redis_keys, redis_ttls;
	const char *checksum; /* "ok" or "absent" */
	char sha256[65];
	char error[768]; /* what is wrong and where, when the result is EX_DATAERR */
};

/* Frees what a walk gathered (the metadata, the tables). */
void verify_result_free(struct verify_result *res);

/* Rows counted for a key (0 when the backup has none). */
long long verify_rows(const struct verify_result *res, const char *key);

/*
 * Walks one backup from r: its structure (metadata, data, redis, in any
 * order, unknown members skipped), passing rows to sink and counting them.
 * Checks what the format requires of the metadata (id, type, timestamp)
 * but not the counts (verify_stream does). Returns 0, EX_DATAERR
 * (res->error says why) or the sink's code.
 */
int bkfile_walk(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res);

/*
 * The metadata object of a backup whose first len bytes are at head, without
 * reading the rest: 0 with *meta set, -1 when no metadata object is found
 * there (other members first, or not a backup), -2 when it is not valid JSON
 * (or holds \u0000), -3 when a second metadata object follows within len,
 * -4 when a member of the metadata is given twice.
 */
int bkfile_read_meta(const void *head, size_t len, cJSON **meta);

/* Keys and tables: data.<key> holds the rows of a table. */
#define BKFILE_RAFFLE_TABLE "Raffle"		 /* data.raffle in a raffle backup */
#define BKFILE_ANALYTICS_TABLE "RaffleAnalytics" /* data.analytics there */

/* The backup key of a table name: fixed for the bot's twelve, else
 * lower-camel plural ("AuditLog" -> "auditLogs"). Malloc'd. */
char *bkfile_table_key(const char *table);

/* Whether the table is one of the bot's twelve, whose keys are fixed. */
bool bkfile_fixed_table(const char *table);

/* Names that mean something else in a backup (raffle, analytics, metadata,
 * data, redis, schema): never a table's key (pg.c then keys it by name). */
bool bkfile_reserved_key(const char *key);

/* The table of a raffle backup's single-row member ("raffle", "analytics"),
 * or NULL for a key that names its table by bkfile_table_key. */
const char *bkfile_single_table(const char *key);

/*
 * Writing, in this order (rows in between come from dump_rows):
 *   full:   head, { rows_begin, rows..., rows_end } per table, data_end, redis
 *   raffle: head, raffle_begin, { rows_begin, rows..., rows_end } per child
 *           table, raffle_end
 */
/* {"metadata":<meta>,\n"schema":<schema>,\n"data":{ (no schema member when NULL) */
void bkfile_write_head(struct out *out, const cJSON *meta, const cJSON *schema);
/* sep (",\n" between a full backup's tables, "," between a raffle's
 * children, "" or "\n" first), then "<key>":[ */
void bkfile_write_rows_begin(struct out *out, const char *key, const char *sep);
void bkfile_write_rows_end(struct out *out); /* \n] */
void bkfile_write_data_end(struct out *out); /* } */
/* "raffle":<the raffle row, left open>; returns whether it has no member yet. */
bool bkfile_write_raffle_begin(struct out *out, const struct buf *raffle);
/* Closes the raffle row, then "analytics":<row or null>, data and the file. */
void bkfile_write_raffle_end(struct out *out, const struct buf *analytics);
/* ,\n"redis":{"conversations":{<spool>},\n"ttl":{<spool>}}} and the file's
 * end. A spool (NULL: empty) holds the members already written as JSON. */
void bkfile_write_redis(struct out *out, FILE *conversations, FILE *ttls);

#endif
