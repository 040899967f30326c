/*
 * Pass two of a restore: from the temporary tables into the live ones,
 * parents before children (the order comes from the catalog's foreign
 * keys), one INSERT ... SELECT per table.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "restore_int.h"

/* pg_fail, but a refusal by a live server means the backup's data does not
 * fit (a constraint, a type): EX_DATAERR, not EX_SOFTWARE. */
int plan_fail(struct rctx *c, const char *what)
{
	int rc = pg_fail(c->conn, what);
	return rc == EX_SOFTWARE ? EX_DATAERR : rc;
}

static const char *const users_group[] = { "WalletUser", "Admin", "NotificationPreference", NULL };
static const char *const analytics_group[] = {
	"DailyAnalytics", "DexDailyStats", "RaffleAnalytics", "UserActivity", NULL,
};

static bool listed(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

unsigned restore_group(const struct pg_schema *s, const char *table)
{
	if (listed(users_group, table))
		return GROUP_USERS;
	if (listed(analytics_group, table))
		return GROUP_ANALYTICS;
	if (!strcmp(table, "Raffle"))
		return GROUP_RAFFLES;
	for (int i = 0; i < s->nfkeys; i++)
		if (!strcmp(s->fkeys[i].table, table) && !strcmp(s->fkeys[i].ref_table, "Raffle"))
			return GROUP_RAFFLES;
	return GROUP_OTHER;
}

static const char keys_sql[] =
	"SELECT c.relname, i.indexrelid::bigint, i.indisprimary, a.attname "
	"FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
	"JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
	"WHERE n.nspname = current_schema() AND i.indisunique AND i.indisvalid "
	"  AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts "
	"ORDER BY c.relname, i.indisprimary DESC, i.indexrelid, k.ord";

static const char defaults_sql[] =
	"SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) "
	"FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
	"WHERE n.nspname = current_schema() AND a.attgenerated = ''";

static int col_index(const struct pg_table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return i;
	return -1;
}

static struct rtable *rt_named(struct rctx *c, const char *name)
{
	for (int i = 0; i < c->s.ntables; i++)
		if (!strcmp(c->s.tables[i].name, name))
			return &c->rts[i];
	return NULL;
}

static void add_key_column(struct ukey *k, int col)
{
	k->cols = realloc(k->cols, (size_t)(k->n + 1) * sizeof *k->cols);
	if (!k->cols)
		err(70, "out of memory");
	k->cols[k->n++] = col;
}

static void read_keys(struct rctx *c, PGresult *r)
{
	const char *last = "";
	for (int i = 0; i < PQntuples(r); i++) {
		struct rtable *rt = rt_named(c, PQgetvalue(r, i, 0));
		int col = rt ? col_index(rt->t, PQgetvalue(r, i, 3)) : -1;
		if (col < 0)
			continue;
		bool primary = *PQgetvalue(r, i, 2) == 't';
		const char *index = PQgetvalue(r, i, 1);
		if (!primary && strcmp(index, last)) {
			rt->uniq = realloc(rt->uniq, (size_t)(rt->nuniq + 1) * sizeof *rt->uniq);
			if (!rt->uniq)
				err(70, "out of memory");
			rt->uniq[rt->nuniq++] = (struct ukey){ 0 };
		}
		last = index;
		add_key_column(primary ? &rt->pk : &rt->uniq[rt->nuniq - 1], col);
	}
}

/* Primary and unique keys (plain columns, no predicate) and defaults. */
int plan_catalog(struct rctx *c)
{
	PGresult *r = PQexec(c->conn, keys_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, "reading the unique keys");
	}
	read_keys(c, r);
	PQclear(r);
	r = PQexec(c->conn, defaults_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, "reading the column defaults");
	}
	for (int i = 0; i < PQntuples(r); i++) {
		struct rtable *rt = rt_named(c, PQgetvalue(r, i, 0));
		int col = rt ? col_index(rt->t, PQgetvalue(r, i, 1)) : -1;
		if (col >= 0)
			rt->defaults[col] = strdup(PQgetvalue(r, i, 2));
	}
	PQclear(r);
	return 0;
}

/* The tables to restore, parents before children (Kahn's algorithm; a
 * cycle, which Prisma schemas do not have, is broken in name order). */
static int order(struct rctx *c, struct rtable **out)
{
	int n = 0, total = 0;
	bool *done = calloc((size_t)c->s.ntables, sizeof *done);
	for (int i = 0; i < c->s.ntables; i++)
		if (rt_restored(&c->rts[i]))
			total++;
		else
			done[i] = true;
	while (n < total) {
		int pick = -1;
		for (int i = 0; i < c->s.ntables && pick < 0; i++) {
			if (done[i])
				continue;
			bool ready = true;
			for (int k = 0; k < c->s.nfkeys && ready; k++) {
				const struct pg_fkey *f = &c->s.fkeys[k];
				struct rtable *p = rt_named(c, f->ref_table);
				ready = strcmp(f->table, c->s.tables[i].name) || !p || p == &c->rts[i] ||
					done[p - c->rts];
			}
			if (ready)
				pick = i;
		}
		for (int i = 0; pick < 0 && i < c->s.ntables; i++)
			if (!done[i])
				pick = i;
		done[pick] = true;
		out[n++] = &c->rts[pick];
	}
	free(done);
	return n;
}

void add_ident(struct rctx *c, struct buf *b, const char *prefix, const char *name)
{
	char *q = PQescapeIdentifier(c->conn, name, strlen(name));
	if (!q)
		err(70, "out of memory");
	buf_adds(b, prefix);
	buf_adds(b, q);
	PQfreemem(q);
}

/* (SELECT <value or default> AS "col", ... FROM pg_temp."T" s) src */
static void add_source(struct rctx *c, struct rtable *rt, struct buf *b)
{
	buf_adds(b, "(SELECT ");
	for (int i = 0; i < rt->t->ncols; i++) {
		const char *name = rt->t->cols[i].name;
		if (i)
			buf_addc(b, ',');
		if (rt->absent_ever[i] && rt->defaults[i]) {
			char pos[64];
			snprintf(pos, sizeof pos, "CASE WHEN substr(s._bk_absent, %d, 1) = '1' THEN (", i + 1);
			buf_adds(b, pos);
			buf_adds(b, rt->defaults[i]);	/* the catalog's own expression */
			buf_adds(b, ") ELSE");
			add_ident(c, b, " s.", name);
			buf_adds(b, " END");
		} else {
			add_ident(c, b, "s.", name);
		}
		add_ident(c, b, " AS ", name);
	}
	buf_adds(b, " FROM ");
	buf_adds(b, rt->tmp);
	buf_adds(b, " s) src");
}

/* a.k1 = b.k1 AND a.k2 = b.k2 */
static void add_match(struct rctx *c, struct rtable *rt, const struct ukey *k, struct buf *b,
		      const char *a, const char *bb)
{
	for (int i = 0; i < k->n; i++) {
		const char *name = rt->t->cols[k->cols[i]].name;
		buf_adds(b, i ? " AND " : "");
		add_ident(c, b, a, name);
		buf_adds(b, " = ");
		add_ident(c, b, bb, name);
	}
}

/* t and src share the unique key u, but not the primary key: another row. */
static void add_other_row(struct rctx *c, struct rtable *rt, const struct ukey *u, struct buf *b)
{
	add_match(c, rt, u, b, "t.", "src.");
	if (rt->pk.n) {
		buf_adds(b, " AND NOT (");
		add_match(c, rt, &rt->pk, b, "t.", "src.");
		buf_adds(b, ")");
	}
}

static int run(struct rctx *c, struct rtable *rt, struct buf *sql, long long *affected)
{
	PGresult *r = PQexec(c->conn, buf_cstr(sql));
	int st = PQresultStatus(r);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (ok && affected)
		*affected = st == PGRES_TUPLES_OK ? PQntuples(r) : atoll(PQcmdTuples(r));
	PQclear(r);
	sql->len = 0;
	return ok ? 0 : plan_fail(c, rt->t->name);
}

static void add_insert(struct rctx *c, struct rtable *rt, struct buf *b, bool upsert)
{
	buf_adds(b, "INSERT INTO ");
	buf_adds(b, rt->qname);
	buf_adds(b, " SELECT * FROM ");
	add_source(c, rt, b);
	if (!upsert || !rt->pk.n)
		return;
	buf_adds(b, " ON CONFLICT (");
	for (int i = 0; i < rt->pk.n; i++)
		add_ident(c, b, i ? "," : "", rt->t->cols[rt->pk.cols[i]].name);
	buf_adds(b, ") DO ");
	if (rt->pk.n == rt->t->ncols) {
		buf_adds(b, "NOTHING");
		return;
	}
	buf_adds(b, "UPDATE SET ");
	for (int i = 0, n = 0; i < rt->t->ncols; i++) {
		bool key = false;
		for (int k = 0; k < rt->pk.n; k++)
			key |= rt->pk.cols[k] == i;
		if (key)	/* an UPDATE, not a DELETE: children of the row stay */
			continue;
		add_ident(c, b, n++ ? "," : "", rt->t->cols[i].name);
		add_ident(c, b, " = EXCLUDED.", rt->t->cols[i].name);
	}
}

/*
 * Replacing a live row found by another unique key deletes it: refused when
 * ON DELETE CASCADE would take rows of a table this restore does not give
 * back (the rule --clean follows too).
 */
static int check_replace_cascade(struct rctx *c, struct rtable *rt, const struct ukey *u)
{
	int rc = 0;
	for (int k = 0; !rc && k < c->s.nfkeys; k++) {
		const struct pg_fkey *f = &c->s.fkeys[k];
		struct rtable *ch = rt_named(c, f->table);
		if (f->on_delete != 'c' || strcmp(f->ref_table, rt->t->name) || !ch || rt_restored(ch))
			continue;
		struct buf sql = { 0 };
		long long found = 0;
		buf_adds(&sql, "SELECT 1 FROM ");
		buf_adds(&sql, ch->qname);
		buf_adds(&sql, " ch JOIN ");
		buf_adds(&sql, rt->qname);
		buf_adds(&sql, " t ON ");
		add_ident(c, &sql, "t.", f->ref_column);
		add_ident(c, &sql, " = ch.", f->column);
		buf_adds(&sql, " JOIN ");
		add_source(c, rt, &sql);
		buf_adds(&sql, " ON ");
		add_other_row(c, rt, u, &sql);
		buf_adds(&sql, " LIMIT 1");
		rc = run(c, rt, &sql, &found);
		buf_free(&sql);
		if (!rc && found) {
			warnx("refused: a %s row of the backup replaces a live one with the same unique "
			      "key under another id, and deleting that row would delete %s rows through "
			      "ON DELETE CASCADE, and %s is not being restored (restore its group too, "
			      "or change the live row's key first)",
			      rt->t->name, ch->t->name, ch->t->name);
			rc = EX_NOPERM;
		}
	}
	return rc;
}

/*
 * A backup row replaces the live row with the same primary key (updated
 * in place) or the same value of another unique key (that row is deleted
 * first, unless it is the very row the primary key matches).
 */
static int apply_table(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	long long live = 0;
	buf_adds(&sql, "SELECT 1 FROM ");
	buf_adds(&sql, rt->qname);
	buf_adds(&sql, " LIMIT 1");
	int rc = run(c, rt, &sql, &live);
	if (!rc && live) {
		buf_adds(&sql, "ANALYZE ");
		buf_adds(&sql, rt->tmp);
		rc = run(c, rt, &sql, NULL);
	}
	for (int u = 0; !rc && live && u < rt->nuniq; u++) {
		rc = check_replace_cascade(c, rt, &rt->uniq[u]);
		if (rc)
			break;
		buf_adds(&sql, "DELETE FROM ");
		buf_adds(&sql, rt->qname);
		buf_adds(&sql, " t USING ");
		add_source(c, rt, &sql);
		buf_adds(&sql, " WHERE ");
		add_other_row(c, rt, &rt->uniq[u], &sql);
		rc = run(c, rt, &sql, NULL);
	}
	if (!rc) {
		add_insert(c, rt, &sql, live);
		rc = run(c, rt, &sql, &rt->applied);
	}
	buf_free(&sql);
	return rc;
}

/* --clean: live rows that the backup does not hold go, children first. */
static int clean_table(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "DELETE FROM ");
	buf_adds(&sql, rt->qname);
	buf_adds(&sql, " t");
	if (rt->pk.n) {
		buf_adds(&sql, " WHERE NOT EXISTS (SELECT 1 FROM ");
		buf_adds(&sql, rt->tmp);
		buf_adds(&sql, " s WHERE ");
		add_match(c, rt, &rt->pk, &sql, "t.", "s.");
		buf_adds(&sql, ")");
	}
	int rc = run(c, rt, &sql, NULL);
	buf_free(&sql);
	return rc;
}

/*
 * --clean is refused when deleting the rows a restored table does not
 * get back would cascade into a table that is not being restored.
 */
int plan_check_clean(struct rctx *c)
{
	for (int k = 0; k < c->s.nfkeys; k++) {
		const struct pg_fkey *f = &c->s.fkeys[k];
		struct rtable *p = rt_named(c, f->ref_table), *ch = rt_named(c, f->table);
		if (f->on_delete != 'c' || !p || !ch || !rt_restored(p) || !p->pk.n || rt_restored(ch))
			continue;
		struct buf sql = { 0 };
		long long n = 0;
		buf_adds(&sql, "SELECT count(*) FROM ");
		buf_adds(&sql, ch->qname);
		buf_adds(&sql, " ch JOIN ");
		buf_adds(&sql, p->qname);
		buf_adds(&sql, " p ON ");
		add_ident(c, &sql, "p.", f->ref_column);
		add_ident(c, &sql, " = ch.", f->column);
		buf_adds(&sql, " WHERE NOT EXISTS (SELECT 1 FROM ");
		buf_adds(&sql, p->tmp);
		buf_adds(&sql, " s WHERE ");
		add_match(c, p, &p->pk, &sql, "p.", "s.");
		buf_adds(&sql, ")");
		PGresult *r = PQexec(c->conn, buf_cstr(&sql));
		buf_free(&sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			PQclear(r);
			return plan_fail(c, ch->t->name);
		}
		n = atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (n) {
			warnx("--clean refused: deleting the %s rows that the backup does not hold would "
			      "delete %lld %s row%s through ON DELETE CASCADE, and %s is not being restored "
			      "(restore its group too, or restore without --clean)",
			      p->t->name, n, ch->t->name, n == 1 ? "" : "s", ch->t->name);
			return EX_NOPERM;
		}
	}
	return 0;
}

int plan_apply(struct rctx *c)
{
	struct rtable **list = calloc((size_t)c->s.ntables + 1, sizeof *list);
	int n = order(c, list), rc = 0;
	for (int i = n - 1; c->opt->clean && !rc && i >= 0; i--)
		rc = clean_table(c, list[i]);
	for (int i = 0; !rc && i < n; i++)
		rc = apply_table(c, list[i]);
	free(list);
	return rc;
}
