/*
 * Pass one of a restore: the backup's rows, as they stream by, go into
 * temporary tables with plain COPY (the fastest way into PostgreSQL), one
 * per live table, typed like it. Only tables that are empty in the live
 * database (checked under a lock) take their rows straight, with no
 * staging: nothing of theirs can be lost. All of it is one transaction, so
 * a backup found damaged halfway only costs a ROLLBACK.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fsafe.h"
#include "restore_int.h"

#define FLUSH_AT (1 << 20) /* COPY text sent in chunks of about 1 MB */
#define REBUILD_ROWS 10000 /* from this many rows, a table's indexes are built after its load */
#define UNKNOWN_SHOWN 5	   /* unknown keys named one by one; the rest are counted */

static int rebuild_indexes(struct rctx *c, struct rtable *rt);

static int end_copy(struct rctx *c)
{
	struct rtable *rt = c->copying;
	if (!rt)
		return 0;
	c->copying = NULL;
	int rc = 0;
	if (PQputCopyEnd(c->conn, NULL) != 1)
		rc = plan_fail(c, rt->t->name);
	PGresult *r;
	while ((r = PQgetResult(c->conn))) {
		if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = plan_fail(c, rt->t->name);
		PQclear(r);
	}
	return rc;
}

static int start_copy(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "COPY ");
	buf_adds(&sql, rt->fast ? rt->qname : rt->tmp);
	buf_adds(&sql, " (");
	for (int i = 0; i < rt->t->ncols; i++)
		add_ident(c, &sql, i ? "," : "", rt->t->cols[i].name);
	buf_adds(&sql, rt->fast ? ") FROM STDIN" : ",_bk_absent) FROM STDIN");
	PGresult *r = PQexec(c->conn, buf_cstr(&sql));
	buf_free(&sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok)
		return plan_fail(c, rt->t->name);
	c->copying = rt;
	return 0;
}

/* Sends what rt has pending; one COPY is open at a time, so another
 * table's COPY is ended first (the raffle object nests its children). */
static int flush(struct rctx *c, struct rtable *rt)
{
	int rc = 0;
	if (!rt->pending.len)
		return 0;
	if (c->copying != rt) {
		rc = end_copy(c);
		if (!rc)
			rc = start_copy(c, rt);
	}
	if (!rc && PQputCopyData(c->conn, rt->pending.data, (int)rt->pending.len) != 1)
		rc = plan_fail(c, rt->t->name);
	rt->pending.len = 0;
	return rc;
}

/*
 * A value too big to copy once more: what is pending goes first, then the
 * value itself in chunks, so that neither rt->pending nor libpq's output
 * buffer holds a second copy (a COPY stream may be cut anywhere). The
 * value's buffer is then freed, not kept at its size for the next rows.
 */
static int send_direct(struct rctx *c, struct rtable *rt, struct buf *v)
{
	int rc = flush(c, rt);
	if (!rc && c->copying != rt) {
		rc = end_copy(c);
		if (!rc)
			rc = start_copy(c, rt);
	}
	for (size_t at = 0; !rc && at < v->len; at += FLUSH_AT) {
		size_t k = v->len - at < FLUSH_AT ? v->len - at : FLUSH_AT;
		if (PQputCopyData(c->conn, v->data + at, (int)k) != 1)
			rc = plan_fail(c, rt->t->name);
	}
	buf_free(v);
	return rc;
}

int load_finish(struct rctx *c)
{
	if (c->unknown_keys > UNKNOWN_SHOWN)
		warnx("... and %lld more keys of the backup that are not tables of the database: ignored",
		      c->unknown_keys - UNKNOWN_SHOWN);
	for (int i = 0; i < c->s.ntables; i++) {
		int rc = flush(c, &c->rts[i]);
		if (rc)
			return rc;
	}
	int rc = end_copy(c);
	for (int i = 0; !rc && i < c->s.ntables; i++) /* a table whose end never came */
		rc = rebuild_indexes(c, &c->rts[i]);
	return rc;
}

/* The backup's type name as the server spells it (to_regtype: a name the
 * backup gives is never put into SQL as such), or NULL. */
static char *regtype(struct rctx *c, const char *type)
{
	PGresult *r = PQexecParams(c->conn, "SELECT to_regtype($1)::text", 1, NULL,
				   (const char *const[]){ type }, NULL, NULL, 0);
	char *name = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		name = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return name;
}

/*
 * CREATE TEMP TABLE ... AS ... WITH NO DATA: the live types, none of the
 * constraints (a missing NOT NULL value must reach the default). Made when
 * the backup's rows for the table begin, after its schema has been read: a
 * column the backup types otherwise (and that would not simply widen) is
 * loaded as text, so that the check can name it before anything fails.
 */
static int prepare_table(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	int rc = end_copy(c);
	buf_adds(&sql, "CREATE TEMP TABLE ");
	buf_adds(&sql, rt->tmp);
	buf_adds(&sql, " ON COMMIT DROP AS SELECT *, NULL::text AS _bk_absent FROM ");
	buf_adds(&sql, rt->own);
	buf_adds(&sql, " WITH NO DATA");
	for (int i = 0; i < rt->t->ncols; i++) {
		rt->as_text[i] = type_changed(c, rt, i);
		if (!rt->as_text[i])
			continue;
		if (!rc)
			rt->via[i] = regtype(c, backup_type(c, rt, i));
		buf_adds(&sql, "; ALTER TABLE ");
		buf_adds(&sql, rt->tmp);
		add_ident(c, &sql, " ALTER COLUMN ", rt->t->cols[i].name);
		buf_adds(&sql, " TYPE text");
	}
	if (!rc)
		rc = pg_command(c->conn, buf_cstr(&sql));
	buf_free(&sql);
	rt->prepared = !rc;
	return rc;
}

/* The live table for a backup key: by the name the metadata gives it
 * (keys may be renamed, bk-backup(5)), else by name or derived key. */
static struct pg_table *table_for_key(struct rctx *c, const char *key)
{
	const char *single = bkfile_single_table(key);
	if (single)
		return pg_schema_table(&c->s, single);
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(c->res->meta, "tables");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(tables, key);
	struct pg_table *t = cJSON_IsString(name) ? pg_schema_table(&c->s, name->valuestring) : NULL;
	return t ? t : pg_schema_table(&c->s, key);
}

/*
 * Whether rt's foreign keys may be dropped for the load and put back once
 * every row is in (one check of all rows instead of one per row, and no
 * wait for the referenced tables' rows, which may come later in the file):
 * this role owns the table, and no safety backup is taken meanwhile (its
 * reads would wait for the lock that dropping takes, held until the commit),
 * and it is no dry run (which ends before the keys would be put back).
 */
static bool may_drop_fkeys(struct rctx *c, struct rtable *rt)
{
	if (!c->opt->no_safety_backup || c->opt->dry_run) /* a dry run checks as it loads */
		return false;
	const char *params[] = { rt->qname };
	PGresult *r = PQexecParams(
		c->conn, "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = $1::regclass", 1,
		NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		  !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return ok;
}

/* SELECT set_config('search_path', path, true): 0, or -1 when it failed. */
static int set_search_path(struct rctx *c, const char *path)
{
	const char *params[] = { path };
	PGresult *r = PQexecParams(c->conn, "SELECT set_config('search_path', $1, true)", 1, NULL, params,
				   NULL, NULL, 0);
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

/* What drops rt's foreign keys, and what puts each back. */
static const char fkeys_sql[] =
	"SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', $1::text, conname), "
	"format('ALTER TABLE %s ADD CONSTRAINT %I %s', $1::text, conname, pg_get_constraintdef(oid)) "
	"FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'f' ORDER BY conname";

/*
 * What drops rt's indexes, and what builds each again: plain indexes, and
 * the primary and unique keys they back, but none that a foreign key uses,
 * that is the replica identity or clustered, in a tablespace of its own,
 * or commented on (what pg_get_indexdef and pg_get_constraintdef do not
 * give back).
 */
static const char indexes_sql[] =
	"SELECT CASE WHEN k.oid IS NULL THEN format('DROP INDEX %s', i.indexrelid::regclass) "
	"  ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', $1::text, k.conname) END, "
	"CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid) "
	"  ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', $1::text, k.conname, "
	"    pg_get_constraintdef(k.oid)) END "
	"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
	"LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
	"  AND k.contype IN ('p', 'u', 'x') "
	"WHERE i.indrelid = $1::text::regclass AND i.indisvalid AND i.indisready "
	"  AND NOT i.indisreplident AND NOT i.indisclustered AND ic.reltablespace = 0 "
	"  AND (k.oid IS NULL OR k.contype IN ('p', 'u')) "
	"  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' "
	"    AND f.conindid = i.indexrelid) "
	"  AND obj_description(i.indexrelid, 'pg_class') IS NULL "
	"  AND (k.oid IS NULL OR obj_description(k.oid, 'pg_constraint') IS NULL) "
	"ORDER BY ic.relname";

/*
 * Pairs of statements (drop, put back) about rt from one of the queries
 * above, with every name in them schema-qualified (with only pg_catalog in
 * the search_path, pg_get_*def qualify): an unqualified name would find the
 * restore's temporary table of the same name.
 */
static PGresult *catalog_statements(struct rctx *c, struct rtable *rt, const char *sql)
{
	PGresult *r = PQexec(c->conn, "SELECT current_setting('search_path')");
	char *saved = PQresultStatus(r) == PGRES_TUPLES_OK ? strdup(PQgetvalue(r, 0, 0)) : NULL;
	PQclear(r);
	if (!saved || set_search_path(c, "pg_catalog") < 0) {
		free(saved);
		return NULL;
	}
	const char *params[] = { rt->qname };
	r = PQexecParams(c->conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (set_search_path(c, saved) < 0 && PQresultStatus(r) == PGRES_TUPLES_OK) {
		PQclear(r);
		r = NULL;
	}
	free(saved);
	return r;
}

/* Runs the drops of sql, keeping in *back (n) what undoes each. */
static int drop_keeping(struct rctx *c, struct rtable *rt, const char *sql, char ***back, int *n)
{
	PGresult *r = catalog_statements(c, rt, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, rt->t->name);
	}
	int rows = PQntuples(r), rc = 0;
	if (!(*back = calloc((size_t)rows + 1, sizeof **back)))
		err(EX_SOFTWARE, "out of memory");
	for (int i = 0; !rc && i < rows; i++) {
		rc = pg_command(c->conn, PQgetvalue(r, i, 0));
		if (!rc && !((*back)[(*n)++] = strdup(PQgetvalue(r, i, 1))))
			err(EX_SOFTWARE, "out of memory");
	}
	PQclear(r);
	return rc;
}

/* Runs what back holds (n statements), then forgets it. */
static int put_back(struct rctx *c, struct rtable *rt, char **back, int *n)
{
	int rc = 0;
	for (int k = 0; k < *n; k++) {
		if (!rc && pg_command(c->conn, back[k]))
			rc = plan_fail(c, rt->t->name);
		free(back[k]);
	}
	*n = 0;
	return rc;
}

int load_restore_fkeys(struct rctx *c)
{
	int rc = 0;
	for (int i = 0; !rc && i < c->s.ntables; i++)
		rc = put_back(c, &c->rts[i], c->rts[i].readd, &c->rts[i].nreadd);
	return rc;
}

/* Builds rt's dropped indexes again, each in one pass over its rows. */
static int rebuild_indexes(struct rctx *c, struct rtable *rt)
{
	int rc = end_copy(c);
	return rc ? rc : put_back(c, rt, rt->rebuild, &rt->nrebuild);
}

/* The rows the backup's metadata gives for key, or 0. */
static double counted_rows(struct rctx *c, const char *key)
{
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(c->res->meta, "rowCounts");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(counts, key);
	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

/*
 * Whether rt's rows may go straight into the live table: a full backup (a
 * raffle backup's rows are checked for their raffle in the staged copy), no
 * --clean (which compares with the staged rows), not nested in a raffle
 * (its parent row comes after it), no column typed otherwise in the backup
 * (the loss check reads it staged), every table it references already final
 * (not restored, or loaded straight and done) or its foreign keys dropped
 * until every row is in (may_drop_fkeys), and, under a lock that keeps
 * writers out until the commit, no live row.
 */
static int try_fast(struct rctx *c, struct rtable *rt, const char *key)
{
	if (c->copying == rt) { /* a table seen twice: its COPY's kind changes */
		int rc = end_copy(c);
		if (rc)
			return rc;
	}
	rt->fast = false;
	/* the metadata as read so far (it comes first in a backup bk wrote) */
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(c->res->meta, "type");
	if (c->opt->clean || rt->nested || rt->rows || getenv("BK_RESTORE_NO_FAST") ||
	    !cJSON_IsString(type) || strcmp(type->valuestring, "full"))
		return 0;
	for (int i = 0; i < rt->t->ncols; i++)
		if (rt->as_text[i])
			return 0;
	bool waits = false; /* for rows of a table it references */
	for (int k = 0; k < c->s.nfkeys; k++) {
		const struct pg_fkey *f = &c->s.fkeys[k];
		if (strcmp(f->table, rt->t->name))
			continue;
		struct pg_table *pt = pg_schema_table(&c->s, f->ref_table);
		struct rtable *p = pt ? &c->rts[pt - c->s.tables] : NULL;
		waits |= p == rt || (p && p->selected && !(p->fast && p->done));
	}
	int rc = end_copy(c); /* the connection must be free for queries */
	if (rc || (waits && (rt->readd || !may_drop_fkeys(c, rt))))
		return rc;
	char *sql;
	if (asprintf(&sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", rt->qname) < 0)
		err(EX_SOFTWARE, "out of memory");
	if (!rc)
		rc = pg_command(c->conn, sql);
	free(sql);
	if (rc)
		return rc;
	if (asprintf(&sql, "SELECT 1 FROM %s LIMIT 1", rt->own) < 0)
		err(EX_SOFTWARE, "out of memory");
	PGresult *r = PQexec(c->conn, sql);
	free(sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = plan_fail(c, rt->t->name);
	else
		rt->fast = PQntuples(r) == 0;
	PQclear(r);
	if (!rc && rt->fast && waits)
		rc = drop_keeping(c, rt, fkeys_sql, &rt->readd, &rt->nreadd);
	/* a big table: its indexes are built once after its rows, not row by row */
	if (!rc && rt->fast && !rt->rebuild && counted_rows(c, key) >= REBUILD_ROWS && may_drop_fkeys(c, rt))
		rc = drop_keeping(c, rt, indexes_sql, &rt->rebuild, &rt->nrebuild);
	return rc;
}

/* A key that is no live table is counted by the walk; check_losses names it. */
static void *table_begin(void *ud, const char *key, bool nested)
{
	struct rctx *c = ud;
	struct pg_table *t = table_for_key(c, key);
	if (!t) {
		if (c->unknown_keys++ < UNKNOWN_SHOWN)
			warnx("the backup's %s%s is not a table of the database", nested ? "raffle." : "",
			      ESC(key));
		return NULL;
	}
	struct rtable *rt = &c->rts[t - c->s.tables];
	/* a raffle backup's nested arrays: only tables hanging off Raffle */
	if (nested && (rt->group != GROUP_RAFFLES || !strcmp(t->name, "Raffle")) && !c->error[0]) {
		snprintf(c->error, sizeof c->error,
			 "data.raffle.%s holds %s rows: a raffle backup "
			 "may hold only rows of its raffle",
			 key, t->name);
		return NULL;
	}
	rt->in_backup = true;
	rt->nested |= nested || !strcmp(key, "analytics");
	/* the temporary table is made even for the fast path: a row lacking a
	 * column sends the rest there, and the merge reads it */
	if (rt->selected && !rt->prepared && prepare_table(c, rt))
		return NULL; /* the error is the database's: load_finish reports it again */
	if (rt->selected && !c->fast_error)
		c->fast_error = try_fast(c, rt, key);
	return rt->selected ? rt : NULL;
}

static int column_of(struct rtable *rt, const char *key)
{
	int n = rt->t->ncols, g = rt->guess;
	if (g < n && !strcmp(rt->t->cols[g].name, key))
		return rt->guess = g + 1, g;
	for (int i = 0; i < n; i++)
		if (!strcmp(rt->t->cols[i].name, key))
			return rt->guess = i + 1, i;
	return -1;
}

static bool is_column(void *ud, void *h, const char *key)
{
	(void)ud;
	return column_of(h, key) >= 0;
}

static int row_begin(void *ud, void *h)
{
	(void)ud;
	struct rtable *rt = h;
	memset(rt->present, 0, (size_t)rt->t->ncols * sizeof *rt->present);
	rt->guess = 0;
	return 0;
}

/* Keys that are not columns (the original bot's nested relations) are skipped. */
static int field(void *ud, void *h, const char *key, struct jsonr *r, int first)
{
	struct rctx *c = ud;
	struct rtable *rt = h;
	int i = column_of(rt, key);
	if (i < 0) {
		note_unknown(rt, key, r, first);
		return jsonr_skip(r, first) < 0 ? EX_DATAERR : 0;
	}
	char why[256];
	rt->vals[i].len = 0;
	/* a column typed otherwise in the backup goes through the backup's type:
	 * whether that is a loss is the comparison's to say, not the live type's */
	if ((!rt->as_text[i] &&
	     value_fits(rt->vcols[i], first, r->tok.data, r->tok.len, why, sizeof why) < 0) ||
	    restore_value(rt->t->cols[i].kind, r, first, &rt->vals[i], &c->scratch, why, sizeof why) < 0) {
		snprintf(c->error, sizeof c->error, "%s.%s, row %lld: %s (byte %llu)", rt->t->name, key,
			 rt->rows + 1, why, (unsigned long long)r->tok_at);
		return EX_DATAERR;
	}
	rt->present[i] = true;
	return 0;
}

/* A row straight into the live table: every column, as COPY text. */
static int row_end_fast(struct rctx *c, struct rtable *rt)
{
	int n = rt->t->ncols;
	bool sent = false;
	for (int i = 0; i < n; i++) {
		if (rt->vals[i].len >= FLUSH_AT) { /* a huge value: not copied once more */
			int rc = send_direct(c, rt, &rt->vals[i]);
			if (rc)
				return rc;
			sent = true;
		} else {
			buf_add(&rt->pending, rt->vals[i].data, rt->vals[i].len);
		}
		buf_addc(&rt->pending, i + 1 < n ? '\t' : '\n');
	}
	rt->rows++;
	rt->fast_rows++;
	return sent || rt->pending.len >= FLUSH_AT ? flush(c, rt) : 0;
}

/* The row in column order; _bk_absent marks the columns it lacked
 * ('1' at their position), which take the column's default later. */
static int row_end(void *ud, void *h)
{
	struct rctx *c = ud;
	struct rtable *rt = h;
	int n = rt->t->ncols;
	bool lacking = false, sent = false;
	if (c->fast_error)
		return c->fast_error;
	if (rt->fast) {
		bool whole = true;
		for (int i = 0; i < n; i++)
			whole &= rt->present[i];
		if (whole)
			return row_end_fast(c, rt);
		/* a lacking column needs its default: the rest is staged and merged */
		int rc = flush(c, rt);
		if (!rc)
			rc = end_copy(c);
		rt->fast = false;
		if (rc)
			return rc;
	}
	for (int i = 0; i < n; i++) {
		if (rt->present[i] && rt->vals[i].len >= FLUSH_AT) {
			int rc = send_direct(c, rt, &rt->vals[i]);
			if (rc)
				return rc;
			sent = true;
		} else if (rt->present[i]) {
			buf_add(&rt->pending, rt->vals[i].data, rt->vals[i].len);
		} else {
			buf_add(&rt->pending, "\\N", 2);
			lacking = rt->absent_ever[i] = true;
		}
		buf_addc(&rt->pending, '\t');
	}
	if (lacking)
		for (int i = 0; i < n; i++)
			buf_addc(&rt->pending, rt->present[i] ? '0' : '1');
	else
		buf_add(&rt->pending, "\\N", 2);
	buf_addc(&rt->pending, '\n');
	rt->rows++;
	/* a row sent in part is finished now: another table's COPY may come next */
	return sent || rt->pending.len >= FLUSH_AT ? flush(c, rt) : 0;
}

static int table_end(void *ud, void *h)
{
	struct rctx *c = ud;
	struct rtable *rt = h;
	if (c->fast_error)
		return c->fast_error;
	int rc = flush(c, rt);
	if (!rc && rt->fast)
		rc = end_copy(c); /* its rows are in: children may now go straight */
	if (!rc)		  /* before any merge, which needs its keys */
		rc = rebuild_indexes(c, rt);
	rt->done = true;
	return rc;
}

const struct verify_sink load_sink_ops = {
	.table_begin = table_begin,
	.is_column = is_column,
	.row_begin = row_begin,
	.field = field,
	.row_end = row_end,
	.table_end = table_end,
	.redis = redis_spool,
};
