/*
 * Pass one of a restore: the backup's rows, as they stream by, go into
 * temporary tables with plain COPY (the fastest way into PostgreSQL), one
 * per live table, typed like it. Nothing live changes in this pass, so a
 * backup found damaged halfway only costs a ROLLBACK.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "restore_int.h"

#define FLUSH_AT (1 << 20)	/* COPY text sent in chunks of about 1 MB */

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
	buf_adds(&sql, rt->tmp);
	buf_adds(&sql, " (");
	for (int i = 0; i < rt->t->ncols; i++) {
		add_ident(c, &sql, "", rt->t->cols[i].name);
		buf_addc(&sql, ',');
	}
	buf_adds(&sql, "_bk_absent) FROM STDIN");
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

int load_finish(struct rctx *c)
{
	for (int i = 0; i < c->s.ntables; i++) {
		int rc = flush(c, &c->rts[i]);
		if (rc)
			return rc;
	}
	return end_copy(c);
}

/* CREATE TEMP TABLE ... AS ... WITH NO DATA: the live types, none of the
 * constraints (a missing NOT NULL value must reach the default). */
int load_prepare(struct rctx *c)
{
	for (int i = 0; i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		if (!rt->selected)
			continue;
		char *sql;
		if (asprintf(&sql, "CREATE TEMP TABLE %s ON COMMIT DROP AS "
				   "SELECT *, NULL::text AS _bk_absent FROM %s WITH NO DATA",
			     rt->tmp, rt->qname) < 0)
			err(70, "out of memory");
		int rc = pg_command(c->conn, sql);
		free(sql);
		if (rc)
			return rc;
	}
	return 0;
}

static struct pg_table *table_for_key(struct rctx *c, const char *key)
{
	const char *single = bkfile_single_table(key);
	return pg_schema_table(&c->s, single ? single : key);
}

static void *table_begin(void *ud, const char *key, bool nested)
{
	struct rctx *c = ud;
	struct pg_table *t = table_for_key(c, key);
	if (!t) {
		warnx("the backup's %s%s is not a table of the database: ignored",
		      nested ? "raffle." : "", key);
		return NULL;
	}
	struct rtable *rt = &c->rts[t - c->s.tables];
	rt->in_backup = true;
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
	if (i < 0)
		return jsonr_skip(r, first) < 0 ? EX_DATAERR : 0;
	char why[256];
	rt->vals[i].len = 0;
	if (restore_value(rt->t->cols[i].kind, r, first, &rt->vals[i], &c->scratch, why, sizeof why) < 0) {
		snprintf(c->error, sizeof c->error, "%s row %lld, column %s: %s (byte %llu)",
			 rt->t->name, rt->rows + 1, key, why, (unsigned long long)r->tok_at);
		return EX_DATAERR;
	}
	rt->present[i] = true;
	return 0;
}

/* The row in column order; _bk_absent marks the columns it lacked
 * ('1' at their position), which take the column's default later. */
static int row_end(void *ud, void *h)
{
	struct rctx *c = ud;
	struct rtable *rt = h;
	int n = rt->t->ncols;
	bool lacking = false;
	for (int i = 0; i < n; i++) {
		if (rt->present[i])
			buf_add(&rt->pending, rt->vals[i].data, rt->vals[i].len);
		else {
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
	return rt->pending.len >= FLUSH_AT ? flush(c, rt) : 0;
}

static int table_end(void *ud, void *h)
{
	return flush(ud, h);
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
