#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "copyjson.h"
#include "copyread.h"
#include "dump.h"
#include "progress.h"
#include "jsonw.h"
#include "profile.h"
#include "redisc.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

/* The schema's tables, for LOCK TABLE: "a"."b","a"."c" (NULL: none). */
static const char tables_sql[] =
	"SELECT string_agg(format('%I.%I', n.nspname, c.relname), ',' ORDER BY c.relname) "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " PG_SCHEMA_TABLES;

static int lock_tables(PGconn *conn, const char *list)
{
	if (!list || !*list)
		return 0;
	char *sql = xasprintf("LOCK TABLE %s IN ACCESS SHARE MODE", list);
	PGresult *r = PQexec(conn, sql);
	free(sql);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0
		 : state && !strcmp(state, "42P01")    ? -1 /* dropped meanwhile */
						       : pg_fail(conn, "locking the tables");
	PQclear(r);
	return rc;
}

static char *table_list(PGconn *conn, int *rc)
{
	PGresult *r = PQexec(conn, tables_sql);
	char *list = NULL;
	*rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		*rc = pg_fail(conn, "cannot read the catalog");
	else if (!PQgetisnull(r, 0, 0))
		list = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return list;
}

/*
 * row_security off, as pg_dump sets it: a table whose row-level security
 * policies would hide rows from this role makes the read fail, instead of
 * giving a backup that silently lacks those rows.
 *
 * Every table is locked (ACCESS SHARE, as pg_dump locks) before the
 * snapshot is taken: TRUNCATE and the ALTER TABLEs that rewrite a table
 * are not MVCC-safe, and a snapshot taken before one commits sees the
 * table empty. Locked first, such a command waits for the backup, or the
 * backup for it. The tables are listed outside the transaction, since the
 * listing query would take the snapshot; one dropped meanwhile makes it
 * start again, one created meanwhile is locked after the snapshot.
 */
int dump_snapshot(PGconn *conn)
{
	int rc = pg_command(conn, "SET row_security = off");
	for (int tries = 0; !rc; tries++) {
		char *before = table_list(conn, &rc), *after = NULL;
		if (!rc)
			rc = pg_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (!rc)
			rc = lock_tables(conn, before);
		if (!rc) /* the snapshot, with the tables locked */
			after = table_list(conn, &rc);
		if (!rc && after && (!before || strcmp(before, after)))
			rc = lock_tables(conn, after);
		free(before);
		free(after);
		if (rc != -1)
			return rc;
		rc = pg_command(conn, "ROLLBACK");
		if (!rc && tries == 5) {
			warnx("the database's tables keep being dropped while the backup starts: "
			      "try again once the migration is over");
			return EX_TEMPFAIL;
		}
	}
	return rc;
}

int dump_open(struct out *out, const char *dir, const char *id, const char *output, int zlevel)
{
	if (!output)
		return out_open_file(out, dir, id, zlevel);
	if (!strcmp(output, "-")) {
		if (isatty(STDOUT_FILENO)) {
			warnx("refusing to write a backup to a terminal; redirect stdout or use -o FILE");
			return EX_USAGE;
		}
		return out_open_fd(out, STDOUT_FILENO, zlevel);
	}
	return out_open_path(out, output, zlevel);
}

int dump_close(struct out *out, cJSON *meta)
{
	char sha[65];
	char *path = out->final_path ? strdup(out->final_path) : NULL;
	int rc = out_finish(out, sha);
	unsigned long long size = out->stored;
	if (!rc && path) {
		char *abs = realpath(path, NULL);
		cJSON_AddStringToObject(meta, "path", abs ? abs : path);
		cJSON_AddNumberToObject(meta, "size", (double)size);
		cJSON_AddStringToObject(meta, "sha256", sha);
		free(abs);
	}
	free(path);
	return rc;
}

cJSON *dump_metadata(const char *id, int64_t ms, const char *type, const char *tool, PGconn *conn,
		     const struct pg_schema *s)
{
	char ts[32];
	format_iso_ms(ms, ts);
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "id", id);
	cJSON_AddStringToObject(meta, "timestamp", ts);
	cJSON_AddStringToObject(meta, "type", type);
	cJSON_AddStringToObject(meta, "version", BK_FORMAT_VERSION);
	cJSON_AddStringToObject(meta, "tool", tool);
	cJSON_AddStringToObject(meta, "database", PQdb(conn));
	cJSON_AddStringToObject(meta, "schema", s->name);
	return meta;
}

void dump_new_id(const char *dir, const char *prefix, char *id, size_t size, int64_t *ms)
{
	*ms = now_ms();
	for (;; (*ms)++) { /* two backups in one millisecond get distinct ids */
		char path[4096];
		bool taken = false;
		snprintf(id, size, "%s_%lld", prefix, (long long)*ms);
		for (int i = 0; store_suffixes[i] && !taken; i++) { /* plain or compressed */
			snprintf(path, sizeof path, "%s/%s%s", dir, id, store_suffixes[i]);
			taken = access(path, F_OK) == 0;
		}
		if (!taken)
			return;
	}
}
