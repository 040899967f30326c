#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bkfile.h"
#include "config.h"
#include "dump.h"
#include "progress.h"
#include "ids.h"
#include "jsonw.h"
#include "redisc.h"
#include "store.h"

/* Only the last BK_ACTIVITY_DAYS days of UserActivity (bk-backup(5)). */
static const char *where_for(const struct pg_table *t, long activity_days, char *sql, size_t n)
{
	if (strcmp(t->name, "UserActivity"))
		return NULL;
	for (int i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, "timestamp")) {
			snprintf(sql, n, "\"timestamp\" >= (now() AT TIME ZONE 'UTC') - interval '%ld days'",
				 activity_days);
			return sql;
		}
	return NULL;
}

static cJSON *new_metadata(const char *id, int64_t ms, PGconn *conn, const struct pg_schema *s,
			   long activity_days)
{
	cJSON *meta = dump_metadata(id, ms, "full", "bk-dump " BK_VERSION, conn, s);
	cJSON_AddNumberToObject(meta, "userActivityDays", (double)activity_days);
	cJSON *tables = cJSON_AddObjectToObject(meta, "tables");
	cJSON *counts = cJSON_AddObjectToObject(meta, "rowCounts");
	for (int i = 0; i < s->ntables; i++) {
		cJSON_AddStringToObject(tables, s->tables[i].key, s->tables[i].name);
		cJSON_AddNumberToObject(counts, s->tables[i].key, (double)s->tables[i].rows);
	}
	return meta;
}

static void add_redis_metadata(cJSON *meta, const struct redis_snapshot *snap, const char *pattern)
{
	cJSON *r = cJSON_AddObjectToObject(meta, "redis");
	cJSON_AddBoolToObject(r, "included", snap != NULL);
	cJSON_AddStringToObject(r, "pattern", pattern);
	cJSON_AddNumberToObject(r, "keys", snap ? (double)snap->keys : 0);
	if (snap && snap->skipped)
		cJSON_AddNumberToObject(r, "skippedNotStrings", (double)snap->skipped);
}

static int write_tables(PGconn *conn, const struct pg_schema *s, long days, struct out *out)
{
	struct dump_pair pair = { 0 };
	int rc = 0;
	for (int i = 0; !rc && i < s->ntables; i++) {
		const struct pg_table *t = &s->tables[i];
		char sql[256];
		long long rows;
		bkfile_write_rows_begin(out, t->key, i ? ",\n" : "\n");
		progress_table(t->name, t->rows);
		rc = dump_rows(conn, &pair, s, t, where_for(t, days, sql, sizeof sql), out, &rows);
		bkfile_write_rows_end(out);
		if (!rc && rows != t->rows) {
			warnx("%s: read %lld rows, counted %lld in the same snapshot", t->name, rows,
			      t->rows);
			rc = EX_SOFTWARE;
		}
	}
	dump_pair_close(&pair);
	bkfile_write_data_end(out);
	return rc;
}

static int snapshot_tables(PGconn *conn, struct pg_schema *s, long days, struct dump_ddl *ddl)
{
	int rc = dump_snapshot(conn);
	if (!rc)
		rc = pg_schema_load(conn, s);
	if (!rc)
		rc = dump_check_keys(s);
	if (!rc) /* the DDL is read while the tables are counted */
		dump_ddl_start(conn, s, ddl);
	for (int i = 0; !rc && i < s->ntables; i++) {
		char sql[256];
		rc = dump_count(conn, s, &s->tables[i], where_for(&s->tables[i], days, sql, sizeof sql),
				&s->tables[i].rows);
	}
	return rc;
}

static int read_redis(bool skip, struct redis_snapshot *snap, const char *pattern)
{
	if (skip)
		return 0;
	redisContext *ctx;
	int rc = redis_open(&ctx);
	if (!rc) {
		rc = redis_snapshot(ctx, pattern, snap);
		redisFree(ctx);
	}
	return rc;
}

int dump_full(const struct dump_options *opt, cJSON **meta)
{
	long days;
	const char *pattern = config_get("BK_REDIS_PATTERN", "conversation:*");
	int rc = config_get_long("BK_ACTIVITY_DAYS", 90, 0, 1000000, &days);
	PGconn *conn = NULL;
	struct pg_schema s = { 0 };
	struct redis_snapshot snap = { 0 };
	struct dump_ddl ddl = { 0 };
	*meta = NULL;
	if (!rc)
		rc = pg_connect(&conn);
	if (!rc)
		rc = snapshot_tables(conn, &s, days, &ddl);
	if (!rc)
		rc = read_redis(opt->no_redis, &snap, pattern);
	if (!rc) {
		char id[ID_MAX];
		int64_t ms;
		struct out out;
		dump_new_id(opt->dir, opt->id_prefix ? opt->id_prefix : "full", id, sizeof id, &ms);
		cJSON *schema = NULL;
		*meta = new_metadata(id, ms, conn, &s, days);
		add_redis_metadata(*meta, opt->no_redis ? NULL : &snap, pattern);
		rc = dump_schema(conn, &s, NULL, &ddl, *meta, &schema);
		if (!rc)
			rc = dump_open(&out, opt->dir, id, opt->output, opt->zlevel);
		if (!rc) {
			bkfile_write_head(&out, *meta, schema);
			rc = write_tables(conn, &s, days, &out);
			bkfile_write_redis(&out, opt->no_redis ? NULL : snap.values,
					   opt->no_redis ? NULL : snap.ttls);
			if (!rc) /* ends the snapshot: a failure here leaves no file either */
				rc = pg_command(conn, "COMMIT");
			rc = rc ? (out_discard(&out), rc) : dump_close(&out, *meta);
		}
		cJSON_Delete(schema);
	}
	if (rc && *meta) {
		cJSON_Delete(*meta);
		*meta = NULL;
	}
	dump_ddl_free(&ddl);
	redis_snapshot_free(&snap);
	pg_schema_free(&s);
	PQfinish(conn);
	return rc;
}
