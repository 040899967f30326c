/* bk-drill's insides: the drill (drill.c), the scratch database
 * (scratch.c), the per-table checksums (digest.c). */
#ifndef BK_DRILL_H
#define BK_DRILL_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "verify.h"

struct drill_options {
	const char *path;      /* the backup file */
	const char *dir;       /* the backup directory */
	const char *url;       /* $BK_DRILL_DATABASE_URL, or NULL: a scratch database */
	const char *test_fifo; /* $BK_DRILL_TEST_FIFO: tests only */
};

/*
 * Restores the backup into a scratch database, reads it back and compares.
 * *summary gets the JSON summary when the drill ran (ok or not). Returns 0
 * when every table came back with the backup's rows and checksum, else a
 * sysexits code after saying why; the scratch database is gone either way.
 */
int drill_run(const struct drill_options *o, cJSON **summary);

/* digest.c: per backup key, the rows and their checksum. */
struct dtable {
	char *key;
	long long rows;
	unsigned char sum[32]; /* sum mod 2^256 of the rows' SHA-256 */
};

struct digest {
	struct dtable **t;
	int n;
	void *row; /* EVP_MD_CTX of the row being read */
};

/* Verifies the backup at path and digests its tables into d (emptied
 * first). 0, or verify_backup's code with res->error saying why. */
int digest_backup(const char *path, struct digest *d, struct verify_result *res);
const struct dtable *digest_find(const struct digest *d, const char *key);
void digest_hex(const struct dtable *t, char *hex); /* 65 bytes */
void digest_free(struct digest *d);

/* scratch.c: the database the drill restores into. */
/* CREATE DATABASE name; 0, EX_NOPERM (no CREATEDB: says how to grant it),
 * EX_CANTCREAT or EX_UNAVAILABLE. */
int scratch_create(PGconn *admin, const char *name);
/* DROP DATABASE ... WITH (FORCE); 0 or a code after saying why. */
int scratch_drop(PGconn *admin, const char *name);
/*
 * Drops the scratch databases that drills killed with SIGKILL left behind:
 * named bk_drill_<pid>_<time>, owned by this role, made over
 * SCRATCH_STALE_SECONDS ago by the name's time, and with no session
 * connected (a drill's restore holds one from start to end). Says so for
 * each; a failure is only said, the drill goes on.
 */
#define SCRATCH_STALE_SECONDS 600
void scratch_sweep(PGconn *admin);
/* $BK_DRILL_DATABASE_URL's database: EX_CANTCREAT unless schema holds nothing. */
int scratch_check_empty(PGconn *conn, const char *schema);
/* ... and emptied again afterwards: DROP SCHEMA CASCADE, CREATE SCHEMA. */
int scratch_clear(PGconn *conn, const char *schema);
/* Runs the backup's DDL (pg_dump's text) on conn, in one transaction. */
int scratch_ddl(PGconn *conn, const char *ddl);

#endif
