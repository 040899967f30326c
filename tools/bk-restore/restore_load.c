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

#define FLUSH_AT (1 << 20)	/* COPY text sent in chunks of about 1 MB */
#define UNKNOWN_SHOWN 5	/* unknown keys named one by one; the rest are counted */

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
	return end_copy(c);
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
	buf_adds(&sql, rt->qname);
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
 * Whether rt's rows may go straight into the live table: a full backup (a
 * raffle backup's rows are checked for their raffle in the staged copy), no
 * --clean (which compares with the staged rows), not nested in a raffle
 * (its parent row comes after it), no column typed otherwise in the backup
 * (the loss check reads it staged), every table it references already final
 * (not restored, or loaded straight and done; not itself), and, under a lock
 * that keeps writers out until the commit, no live row.
 */
static int try_fast(struct rctx *c, struct rtable *rt)
{
	if (c->copying == rt) {	/* a table seen twice: its COPY's kind changes */
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
	for (int k = 0; k < c->s.nfkeys; k++) {
		const struct pg_fkey *f = &c->s.fkeys[k];
		if (strcmp(f->table, rt->t->name))
			continue;
		struct pg_table *pt = pg_schema_table(&c->s, f->ref_table);
		struct rtable *p = pt ? &c->rts[pt - c->s.tables] : NULL;
		if (p == rt || (p && p->selected && !(p->fast && p->done)))
			return 0;
	}
	int rc = end_copy(c);	/* the connection must be free for queries */
	char *sql;
	if (asprintf(&sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", rt->qname) < 0)
		err(EX_SOFTWARE, "out of memory");
	if (!rc)
		rc = pg_command(c->conn, sql);
	free(sql);
	if (rc)
		return rc;
	if (asprintf(&sql, "SELECT 1 FROM %s LIMIT 1", rt->qname) < 0)
		err(EX_SOFTWARE, "out of memory");
	PGresult *r = PQexec(c->conn, sql);
	free(sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = plan_fail(c, rt->t->name);
	else
		rt->fast = PQntuples(r) == 0;
	PQclear(r);
	return rc;
}

/* A key that is no live table is counted by the walk; check_losses names it. */
static void *table_begin(void *ud, const char *key, bool nested)
{
	struct rctx *c = ud;
	struct pg_table *t = table_for_key(c, key);
	if (!t) {
		if (c->unknown_keys++ < UNKNOWN_SHOWN)
			warnx("the backup's %s%s is not a table of the database",
			      nested ? "raffle." : "", ESC(key));
		return NULL;
	}
	struct rtable *rt = &c->rts[t - c->s.tables];
	/* a raffle backup's nested arrays: only tables hanging off Raffle */
	if (nested && (rt->group != GROUP_RAFFLES || !strcmp(t->name, "Raffle")) && !c->error[0]) {
		snprintf(c->error, sizeof c->error, "data.raffle.%s holds %s rows: a raffle backup "
			 "may hold only rows of its raffle", key, t->name);
		return NULL;
	}
	rt->in_backup = true;
	rt->nested |= nested || !strcmp(key, "analytics");
	/* the temporary table is made even for the fast path: a row lacking a
	 * column sends the rest there, and the merge reads it */
	if (rt->selected && !rt->prepared && prepare_table(c, rt))
		return NULL;	/* the error is the database's: load_finish reports it again */
	if (rt->selected && !c->fast_error)
		c->fast_error = try_fast(c, rt);
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
	if ((!rt->as_text[i] && value_fits(rt->vcols[i], first, r->tok.data, r->tok.len, why,
					   sizeof why) < 0) ||
	    restore_value(rt->t->cols[i].kind, r, first, &rt->vals[i], &c->scratch, why, sizeof why) < 0) {
		snprintf(c->error, sizeof c->error, "%s.%s, row %lld: %s (byte %llu)",
			 rt->t->name, key, rt->rows + 1, why, (unsigned long long)r->tok_at);
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
		if (rt->vals[i].len >= FLUSH_AT) {	/* a huge value: not copied once more */
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
		rc = end_copy(c);	/* its rows are in: children may now go straight */
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
