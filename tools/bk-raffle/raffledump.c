#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <unistd.h>

#include "fsafe.h"
#include "bkfile.h"
#include "dump.h"
#include "progress.h"
#include "ids.h"
#include "jsonw.h"
#include "raffledump.h"
#include "store.h"
#include "timefmt.h"

/* The two tables a raffle backup names (bk-backup(5)); every other one is found from the catalog. */
static const char raffle_table[] = BKFILE_RAFFLE_TABLE, analytics_table[] = BKFILE_ANALYTICS_TABLE;

/* A table with a foreign key to Raffle, and what picks this raffle's rows. */
struct child {
	const struct pg_table *t;
	struct buf where;
	long long rows;
};

struct raffle_rows {
	struct buf raffle;    /* the raffle row as a JSON object */
	struct buf analytics; /* its RaffleAnalytics row, or empty */
	const struct pg_table *analytics_t;
	struct child *kids;
	int nkids;
};

bool raffle_backup_id_valid(const char *raffle_id)
{
	return raffle_id_valid(raffle_id) && strlen(raffle_id) <= RAFFLE_ID_BACKUP_MAX;
}

static char *quoted_id(PGconn *conn, const char *name)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name)), *copy;
	if (!q || !(copy = strdup(q)))
		err(EX_SOFTWARE, "out of memory");
	PQfreemem(q);
	return copy;
}

/* "fk" = 'rid', or through a subquery when the key references another column. */
static void add_condition(PGconn *conn, const struct pg_schema *s, const struct pg_fkey *fk,
			  const char *literal, struct buf *where)
{
	char *col = quoted_id(conn, fk->column);
	if (where->len)
		buf_adds(where, " OR ");
	buf_adds(where, col);
	if (!strcmp(fk->ref_column, "id")) {
		buf_adds(where, " = ");
		buf_adds(where, literal);
	} else {
		char *ref = quoted_id(conn, fk->ref_column), *raffle = pg_qualified(conn, s, raffle_table);
		buf_adds(where, " IN (SELECT ");
		buf_adds(where, ref);
		buf_adds(where, " FROM ");
		buf_adds(where, raffle);
		buf_adds(where, " WHERE \"id\" = ");
		buf_adds(where, literal);
		buf_addc(where, ')');
		free(ref);
		free(raffle);
	}
	buf_cstr(where);
	free(col);
}

/*
 * Every table with a foreign key to Raffle, in catalog order, one entry per
 * table (several keys to Raffle are ORed). RaffleAnalytics has its own place
 * in the backup (data.analytics), so it is never nested as well.
 */
static void find_children(PGconn *conn, const struct pg_schema *s, const char *literal,
			  struct raffle_rows *rr)
{
	rr->kids = calloc((size_t)s->nfkeys + 1, sizeof *rr->kids);
	if (!rr->kids)
		err(EX_SOFTWARE, "out of memory");
	for (int i = 0; i < s->nfkeys; i++) {
		const struct pg_fkey *fk = &s->fkeys[i];
		const struct pg_table *t = pg_schema_table(s, fk->table);
		if (strcmp(fk->ref_table, raffle_table) || !t || !strcmp(t->name, raffle_table) ||
		    !strcmp(t->name, analytics_table))
			continue;
		int k = 0;
		while (k < rr->nkids && rr->kids[k].t != t)
			k++;
		if (k == rr->nkids)
			rr->kids[rr->nkids++].t = t;
		add_condition(conn, s, fk, literal, &rr->kids[k].where);
	}
}

static void more_than_one(const char *table, long long rows)
{
	if (rows > 1)
		warnx("%s: %lld rows for one raffle; the backup keeps the first", table, rows);
}

static int read_rows(PGconn *conn, const struct pg_schema *s, const char *raffle_id, struct raffle_rows *rr)
{
	const struct pg_table *raffle = pg_schema_table(s, raffle_table);
	if (!raffle) {
		warnx("database: no table \"%s\" in schema %s", raffle_table, s->name);
		return EX_SOFTWARE;
	}
	char *literal = PQescapeLiteral(conn, raffle_id, strlen(raffle_id)), *where;
	if (!literal || asprintf(&where, "\"id\" = %s", literal) < 0)
		err(EX_SOFTWARE, "out of memory");
	long long n;
	int rc = dump_first_row(conn, s, raffle, where, &rr->raffle, &n);
	if (!rc && n == 0) {
		warnx("%s: no such raffle", ESC(raffle_id));
		rc = EX_NOINPUT;
	}
	if (!rc)
		more_than_one(raffle_table, n);
	free(where);
	find_children(conn, s, literal, rr);
	for (int k = 0; !rc && k < rr->nkids; k++)
		rc = dump_count(conn, s, rr->kids[k].t, rr->kids[k].where.data, &rr->kids[k].rows);

	/* RaffleAnalytics has no foreign key in Prisma's schema: by its raffleId column */
	const struct pg_table *a = pg_schema_table(s, analytics_table);
	for (int i = 0; !rc && a && i < a->ncols; i++)
		if (!strcmp(a->cols[i].name, "raffleId")) {
			rr->analytics_t = a;
			if (asprintf(&where, "\"raffleId\" = %s", literal) < 0)
				err(EX_SOFTWARE, "out of memory");
			rc = dump_first_row(conn, s, a, where, &rr->analytics, &n);
			if (!rc)
				more_than_one(analytics_table, n);
			free(where);
		}
	PQfreemem(literal);
	return rc;
}

/*
 * Whether a winner had been drawn when the snapshot was taken, and how long
 * after the raffle's end it was taken: what an admin asks of a raffle-end
 * backup (was it before the draw? how late?).
 */
static void add_end(cJSON *meta, int64_t ms, const struct raffle_rows *rr)
{
	bool drawn = false;
	for (int k = 0; k < rr->nkids; k++)
		if (!strcmp(rr->kids[k].t->name, "Winner") && rr->kids[k].rows > 0)
			drawn = true;
	cJSON_AddBoolToObject(meta, "winnerDrawn", drawn);
	cJSON *row = cJSON_ParseWithLength(rr->raffle.data, rr->raffle.len);
	const cJSON *end = cJSON_GetObjectItemCaseSensitive(row, "endTime");
	int64_t end_ms;
	if (cJSON_IsString(end) && parse_iso_ms(end->valuestring, &end_ms) == 0) {
		char iso[32];
		format_iso_ms(end_ms, iso);
		cJSON_AddStringToObject(meta, "raffleEndTime", iso);
		cJSON_AddBoolToObject(meta, "raffleEnded", end_ms < ms);
		if (end_ms < ms)
			cJSON_AddNumberToObject(meta, "secondsAfterEnd", (double)(ms - end_ms) / 1000.0);
	}
	cJSON_Delete(row);
}

static cJSON *new_metadata(const char *id, int64_t ms, const char *raffle_id, PGconn *conn,
			   const struct pg_schema *s, const struct raffle_rows *rr)
{
	cJSON *meta = dump_metadata(id, ms, "raffle", "bk-raffle " BK_VERSION, conn, s);
	cJSON_AddStringToObject(meta, "raffleId", raffle_id);
	cJSON *tables = cJSON_AddObjectToObject(meta, "tables");
	cJSON *counts = cJSON_AddObjectToObject(meta, "rowCounts");
	cJSON_AddStringToObject(tables, "raffle", raffle_table);
	cJSON_AddNumberToObject(counts, "raffle", 1);
	for (int k = 0; k < rr->nkids; k++) {
		cJSON_AddStringToObject(tables, rr->kids[k].t->key, rr->kids[k].t->name);
		cJSON_AddNumberToObject(counts, rr->kids[k].t->key, (double)rr->kids[k].rows);
	}
	if (rr->analytics_t)
		cJSON_AddStringToObject(tables, "analytics", analytics_table);
	cJSON_AddNumberToObject(counts, "analytics", rr->analytics.len ? 1 : 0);
	add_end(meta, ms, rr);
	return meta;
}

/* {"metadata":..., "data":{"raffle":{columns, "tickets":[...], ...}, "analytics":...}} */
static int write_backup(PGconn *conn, const struct pg_schema *s, const cJSON *meta, const cJSON *schema,
			struct raffle_rows *rr, struct out *out)
{
	bkfile_write_head(out, meta, schema);
	bool first = bkfile_write_raffle_begin(out, &rr->raffle);
	int rc = 0;
	for (int k = 0; !rc && k < rr->nkids; k++) {
		long long rows;
		bkfile_write_rows_begin(out, rr->kids[k].t->key, first ? "" : ",");
		first = false;
		progress_table(rr->kids[k].t->name, rr->kids[k].rows);
		rc = dump_rows(conn, NULL, s, rr->kids[k].t, rr->kids[k].where.data, out, &rows);
		bkfile_write_rows_end(out);
		if (!rc && rows != rr->kids[k].rows) {
			warnx("%s: read %lld rows, counted %lld in the same snapshot", rr->kids[k].t->name,
			      rows, rr->kids[k].rows);
			rc = EX_SOFTWARE;
		}
	}
	bkfile_write_raffle_end(out, &rr->analytics);
	return rc;
}

static void raffle_rows_free(struct raffle_rows *rr)
{
	for (int k = 0; k < rr->nkids; k++)
		buf_free(&rr->kids[k].where);
	free(rr->kids);
	buf_free(&rr->raffle);
	buf_free(&rr->analytics);
}

static int write_file(PGconn *conn, const struct pg_schema *s, const char *dir, const char *raffle_id,
		      int zlevel, struct raffle_rows *rr, cJSON **meta)
{
	char prefix[ID_MAX], id[ID_MAX];
	int64_t ms;
	struct out out;
	snprintf(prefix, sizeof prefix, "raffle_%s", raffle_id);
	dump_new_id(dir, prefix, id, sizeof id, &ms);
	*meta = new_metadata(id, ms, raffle_id, conn, s, rr);
	/* the schema of the tables it holds: no DDL, a raffle backup restores into a live schema */
	const char **held = calloc((size_t)rr->nkids + 3, sizeof *held);
	if (!held)
		err(EX_SOFTWARE, "out of memory");
	int n = 0;
	held[n++] = raffle_table;
	for (int k = 0; k < rr->nkids; k++)
		held[n++] = rr->kids[k].t->name;
	if (rr->analytics_t)
		held[n++] = analytics_table;
	cJSON *schema = NULL;
	int rc = dump_schema(conn, s, held, NULL, *meta, &schema);
	free(held);
	if (!rc)
		rc = dump_open(&out, dir, id, NULL, zlevel);
	if (!rc) {
		rc = write_backup(conn, s, *meta, schema, rr, &out);
		rc = rc ? (out_discard(&out), rc) : dump_close(&out, *meta);
	}
	cJSON_Delete(schema);
	return rc;
}

int raffle_backup(PGconn *conn, const struct pg_schema *s, const char *dir, const char *raffle_id, int zlevel,
		  cJSON **meta)
{
	*meta = NULL;
	if (!raffle_backup_id_valid(raffle_id)) {
		warnx("raffle %.40s: its id cannot name a backup file (letters, digits, _ and -, "
		      "at most %d)",
		      raffle_id, RAFFLE_ID_BACKUP_MAX);
		return EX_DATAERR;
	}
	struct raffle_rows rr = { 0 };
	int rc = dump_check_keys(s);
	if (!rc)
		rc = dump_snapshot(conn);
	if (!rc)
		rc = read_rows(conn, s, raffle_id, &rr);
	if (!rc)
		rc = write_file(conn, s, dir, raffle_id, zlevel, &rr, meta);
	raffle_rows_free(&rr);
	if (rc && *meta) {
		cJSON_Delete(*meta);
		*meta = NULL;
	}
	/* read only: ending it either way changes nothing; a dead connection is already reported */
	PQclear(PQexec(conn, rc ? "ROLLBACK" : "COMMIT"));
	return rc;
}

/* Is there a whole raffle backup of rid taken after end_ms? */
static bool backed_up_after(const struct backup_info *list, size_t n, const char *rid, int64_t end_ms)
{
	for (size_t i = 0; i < n; i++)
		if (!list[i].error && list[i].raffle_id && !strcmp(list[i].raffle_id, rid) &&
		    list[i].ts_ms > end_ms)
			return true;
	return false;
}

/*
 * Ended by our clock, which also dates the backups, so that the next run
 * sees them as taken after the end. Whether a winner was drawn does not
 * matter: the bot draws right after the end, and a raffle whose winner
 * came first must still get its one raffle-end backup.
 */
static char *ended_sql(PGconn *conn, const struct pg_schema *s)
{
	if (!pg_schema_table(s, raffle_table)) {
		warnx("database: no table \"%s\" in schema %s", raffle_table, s->name);
		return NULL;
	}
	char *raffle = pg_qualified(conn, s, raffle_table), *sql;
	if (asprintf(&sql,
		     "SELECT r.\"id\", (extract(epoch FROM r.\"endTime\") * 1000)::bigint FROM %s r "
		     "WHERE r.\"endTime\" < timestamp 'epoch' + $1::bigint * interval '1 millisecond' "
		     "ORDER BY r.\"endTime\", r.\"id\"",
		     raffle) < 0)
		err(EX_SOFTWARE, "out of memory");
	free(raffle);
	return sql;
}

int raffle_ended(PGconn *conn, const struct pg_schema *s, const char *dir, char ***ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	char *sql = ended_sql(conn, s), now[32];
	if (!sql)
		return EX_SOFTWARE;
	snprintf(now, sizeof now, "%lld", (long long)now_ms());
	const char *params[1] = { now };
	PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	free(sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_fail(conn, "cannot find the ended raffles");
	}
	struct backup_info *list;
	size_t nlist;
	int rc = store_list(dir, "raffle", &list, &nlist);
	*ids = calloc((size_t)PQntuples(r) + 1, sizeof **ids);
	if (!*ids)
		err(EX_SOFTWARE, "out of memory");
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		const char *rid = PQgetvalue(r, i, 0);
		/* ids that cannot name a file are kept: raffle_backup reports them */
		if (!backed_up_after(list, nlist, rid, atoll(PQgetvalue(r, i, 1))))
			(*ids)[(*n)++] = strdup(rid);
	}
	store_list_free(list, nlist);
	PQclear(r);
	return rc;
}

void raffle_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
