/* Streaming tables out of one snapshot into a backup (bk-backup(5)). */
#ifndef BK_DUMP_H
#define BK_DUMP_H

#include <pthread.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "out.h"
#include "pg.h"

/* The format written: 1.1 adds the "schema" member (1.0 files still restore). */
#define BK_FORMAT_VERSION "1.1"

/* Starts the one REPEATABLE READ READ ONLY transaction every table is read in. */
int dump_snapshot(PGconn *conn);

/*
 * A second connection on the snapshot, opened the first time a large table
 * is read (zeroed to start): dump_rows then reads the table's two halves at
 * once, one over each connection, taking a chunk of rows from each in turn.
 * Close with dump_pair_close.
 */
struct dump_pair {
	PGconn *helper;
	bool tried;
};
void dump_pair_close(struct dump_pair *pair);

/*
 * Rows of t matching where (an SQL condition with its values already quoted
 * by libpq, or NULL for all): counted, then streamed as JSON objects.
 */
int dump_count(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *where,
	       long long *rows);
int dump_rows(PGconn *conn, struct dump_pair *pair, const struct pg_schema *s, const struct pg_table *t,
	      const char *where, struct out *out, long long *rows);

/*
 * pair: NULL to read over conn alone. The first matching row as one JSON
 * object in json (emptied first); all are counted.
 */
int dump_first_row(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *where,
		   struct buf *json, long long *rows);

/* Where the backup goes: NULL = <dir>/<id>.json (.json.zst when zlevel, see
 * out.h), "-" = stdout, else a path. */
int dump_open(struct out *out, const char *dir, const char *id, const char *output, int zlevel);

/*
 * Finishes the output and adds path, size and sha256 to meta (not for
 * stdout). Returns 0 or EX_IOERR.
 */
int dump_close(struct out *out, cJSON *meta);

/* The metadata every backup starts with: id, timestamp, type, version, tool, database, schema. */
cJSON *dump_metadata(const char *id, int64_t ms, const char *type, const char *tool, PGconn *conn,
		     const struct pg_schema *s);

/* pg_dump --schema-only of the snapshot, running beside the dump. */
struct dump_ddl {
	pthread_t thread;
	bool started;
	char *argv[8];
	char **env;
	char *ddl; /* its output, once done */
	char *why; /* or why there is none */
};

/*
 * Exports the current snapshot and starts pg_dump --schema-only on it in a
 * thread, so that it runs while the tables are counted. A failure is kept
 * in d->why (the backup then goes on without the DDL). Free with dump_ddl_free.
 */
void dump_ddl_start(PGconn *conn, const struct pg_schema *s, struct dump_ddl *d);
void dump_ddl_free(struct dump_ddl *d); /* waits for pg_dump if it still runs */

/*
 * The "schema" member (format 1.1) for the tables named in only (NULL: every
 * table of s), read in the current snapshot; with ddl (started by
 * dump_ddl_start), also Prisma's applied migrations and the DDL from pg_dump
 * (when that failed, meta.ddlError says why and the backup goes on without
 * it). 0 or a sysexits code.
 */
int dump_schema(PGconn *conn, const struct pg_schema *s, const char *const *only, struct dump_ddl *ddl,
		cJSON *meta, cJSON **schema);

/* EX_DATAERR after saying which tables cannot have distinct backup keys, else 0. */
int dump_check_keys(const struct pg_schema *s);

/* The backup id for prefix and now, not yet taken in dir: prefix_<ms>. */
void dump_new_id(const char *dir, const char *prefix, char *id, size_t size, int64_t *ms);

struct dump_options {
	const char *dir;    /* the backup directory */
	const char *output; /* as for dump_open */
	bool no_redis;
	const char *id_prefix; /* "full" */
	int zlevel;	       /* zstd level, 0 for plain JSON (out.h) */
};

/*
 * A whole full backup: every table in one snapshot, then the Redis states.
 * On success *meta is the metadata object plus path, size and sha256.
 * Returns 0 or a sysexits code after saying what failed; no file is left.
 */
int dump_full(const struct dump_options *opt, cJSON **meta);

#endif
