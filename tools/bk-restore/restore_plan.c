/*
 * Pass two of a restore: from the temporary tables into the live ones,
 * parents before children (the order comes from the catalog's foreign
 * keys), one INSERT ... SELECT per table.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "restore_int.h"
#include "timefmt.h"

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

static const char defaults_sql[] = "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) "
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

struct rtable *rt_named(struct rctx *c, const char *name)
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
		err(EX_SOFTWARE, "out of memory");
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
				err(EX_SOFTWARE, "out of memory");
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
		err(EX_SOFTWARE, "out of memory");
	buf_adds(b, prefix);
	buf_adds(b, q);
	PQfreemem(q);
}

/* s."col", or CAST(CAST(s."col" AS <backup type>) AS <live type>) when
 * it was loaded as text (numeric text "1.50" becomes an integer only so) */
static void add_value(struct rctx *c, struct rtable *rt, struct buf *b, int i)
{
	buf_adds(b, rt->as_text[i] ? " CAST(" : " ");
	if (rt->via[i])
		buf_adds(b, "CAST(");
	add_ident(c, b, "s.", rt->t->cols[i].name);
	if (rt->via[i]) {
		buf_adds(b, " AS ");
		buf_adds(b, rt->via[i]);
		buf_addc(b, ')');
	}
	if (rt->as_text[i]) {
		buf_adds(b, " AS ");
		buf_adds(b, rt->t->cols[i].type); /* format_type(): the catalog's own spelling */
		buf_addc(b, ')');
	}
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
			snprintf(pos, sizeof pos, "CASE WHEN substr(s._bk_absent, %d, 1) = '1' THEN (",
				 i + 1);
			buf_adds(b, pos);
			buf_adds(b, rt->defaults[i]); /* the catalog's own expression */
			buf_adds(b, ") ELSE");
			add_value(c, rt, b, i);
			buf_adds(b, " END");
		} else {
			add_value(c, rt, b, i);
		}
		add_ident(c, b, " AS ", name);
	}
	buf_adds(b, " FROM ");
	buf_adds(b, rt->tmp);
	buf_adds(b, " s) src");
}

/* a.k1 = b.k1 AND a.k2 = b.k2 */
static void add_match(struct rctx *c, struct rtable *rt, const struct ukey *k, struct buf *b, const char *a,
		      const char *bb)
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
		if (key) /* an UPDATE, not a DELETE: children of the row stay */
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
		buf_adds(&sql, ch->own);
		buf_adds(&sql, " ch JOIN ");
		buf_adds(&sql, rt->own);
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

/* Whether some live row matches a backup row on u under another primary
 * key, and `extra` (SQL over t and src, or NULL) holds for it: 1, 0, or -rc. */
static int replaced_exists(struct rctx *c, struct rtable *rt, const struct ukey *u, const char *join,
			   const char *extra)
{
	struct buf sql = { 0 };
	long long found = 0;
	buf_adds(&sql, "SELECT 1 FROM ");
	buf_adds(&sql, rt->own);
	buf_adds(&sql, " t ");
	buf_adds(&sql, join ? join : "");
	buf_adds(&sql, " JOIN ");
	add_source(c, rt, &sql);
	buf_adds(&sql, " ON ");
	add_other_row(c, rt, u, &sql);
	if (extra) {
		buf_adds(&sql, " WHERE ");
		buf_adds(&sql, extra);
	}
	buf_adds(&sql, " LIMIT 1");
	int rc = run(c, rt, &sql, &found);
	buf_free(&sql);
	return rc ? -rc : found > 0;
}

/* EXISTS (a live row of rt with src's primary key) */
static void add_pk_taken(struct rctx *c, struct rtable *rt, struct buf *b)
{
	buf_adds(b, "EXISTS (SELECT 1 FROM ");
	buf_adds(b, rt->own);
	buf_adds(b, " o WHERE ");
	add_match(c, rt, &rt->pk, b, "o.", "src.");
	buf_adds(b, ")");
}

/*
 * Before a live row found by the unique key u takes the backup row's
 * primary key: refused when the backup row would replace two live rows
 * (another has its primary key), or when the live row has children whose
 * foreign key does not follow an update (not ON UPDATE CASCADE).
 */
static int check_repoint(struct rctx *c, struct rtable *rt, const struct ukey *u)
{
	struct buf cond = { 0 };
	add_pk_taken(c, rt, &cond);
	int found = replaced_exists(c, rt, u, NULL, buf_cstr(&cond));
	buf_free(&cond);
	if (found > 0) {
		warnx("refused: a %s row of the backup has the primary key of one live row and a "
		      "unique key of another: restoring it would make a live row disappear "
		      "(change one of the live rows' keys first)",
		      rt->t->name);
		return EX_NOPERM;
	}
	for (int k = 0; !found && k < c->s.nfkeys; k++) {
		const struct pg_fkey *f = &c->s.fkeys[k];
		struct rtable *ch = rt_named(c, f->table);
		if (f->on_update == 'c' || strcmp(f->ref_table, rt->t->name) || !ch)
			continue;
		bool to_pk = false;
		for (int i = 0; i < rt->pk.n; i++)
			to_pk |= !strcmp(rt->t->cols[rt->pk.cols[i]].name, f->ref_column);
		if (!to_pk)
			continue;
		struct buf join = { 0 };
		buf_adds(&join, "JOIN ");
		buf_adds(&join, ch->own);
		buf_adds(&join, " ch ON ");
		add_ident(c, &join, "t.", f->ref_column);
		add_ident(c, &join, " = ch.", f->column);
		found = replaced_exists(c, rt, u, buf_cstr(&join), NULL);
		buf_free(&join);
		if (found > 0) {
			warnx("refused: a %s row of the backup replaces a live one with the same unique key "
			      "under another id, and that row has %s rows whose foreign key %s.%s is not "
			      "ON UPDATE CASCADE: they would be lost or block (change the live row's key "
			      "first, or make the foreign key ON UPDATE CASCADE)",
			      rt->t->name, ch->t->name, ch->t->name, f->column);
			return EX_NOPERM;
		}
	}
	return found < 0 ? -found : 0;
}

/*
 * The live row with the backup row's value of the unique key u, under
 * another primary key, becomes the backup's row: its primary key is
 * updated to the backup's (children follow through ON UPDATE CASCADE)
 * and the upsert that follows updates the rest in place. Nothing is
 * deleted, so nothing cascades.
 */
static int repoint(struct rctx *c, struct rtable *rt, const struct ukey *u)
{
	int rc = check_repoint(c, rt, u);
	if (rc)
		return rc;
	struct buf sql = { 0 };
	buf_adds(&sql, "UPDATE ");
	buf_adds(&sql, rt->own);
	buf_adds(&sql, " t SET ");
	for (int i = 0; i < rt->pk.n; i++) {
		const char *name = rt->t->cols[rt->pk.cols[i]].name;
		add_ident(c, &sql, i ? ", " : "", name);
		add_ident(c, &sql, " = src.", name);
	}
	buf_adds(&sql, " FROM ");
	add_source(c, rt, &sql);
	buf_adds(&sql, " WHERE ");
	add_other_row(c, rt, u, &sql);
	rc = run(c, rt, &sql, NULL);
	buf_free(&sql);
	return rc;
}

/*
 * A backup row replaces the live row with the same primary key (updated
 * in place) or the same value of another unique key (re-pointed, then
 * updated in place). A table without a primary key cannot re-point: the
 * live row is deleted, refused when that would cascade into a table this
 * restore does not give back.
 */
static int apply_table(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	long long live = 0;
	buf_adds(&sql, "SELECT 1 FROM ");
	buf_adds(&sql, rt->own);
	buf_adds(&sql, " LIMIT 1");
	int rc = run(c, rt, &sql, &live);
	if (!rc && live) {
		buf_adds(&sql, "ANALYZE ");
		buf_adds(&sql, rt->tmp);
		rc = run(c, rt, &sql, NULL);
	}
	for (int u = 0; !rc && live && u < rt->nuniq; u++) {
		if (rt->pk.n) {
			rc = repoint(c, rt, &rt->uniq[u]);
			continue;
		}
		rc = check_replace_cascade(c, rt, &rt->uniq[u]);
		if (rc)
			break;
		buf_adds(&sql, "DELETE FROM ");
		buf_adds(&sql, rt->own);
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

/* The UserActivity column the dump's window is on (bk-dump's where_for). */
static bool windowed(struct rctx *c, const struct rtable *rt)
{
	return c->activity_since && !strcmp(rt->t->name, "UserActivity") &&
	       col_index(rt->t, "timestamp") >= 0;
}

/* WHERE: the live rows of rt (as t) that --clean deletes: not in the
 * backup, and within what the backup could hold. */
static void add_clean_where(struct rctx *c, struct rtable *rt, struct buf *b)
{
	buf_adds(b, " WHERE true");
	if (rt->pk.n) {
		buf_adds(b, " AND NOT EXISTS (SELECT 1 FROM ");
		buf_adds(b, rt->tmp);
		buf_adds(b, " s WHERE ");
		add_match(c, rt, &rt->pk, b, "t.", "s.");
		buf_adds(b, ")");
	}
	if (windowed(c, rt)) {
		char *lit = PQescapeLiteral(c->conn, c->activity_since, strlen(c->activity_since));
		if (!lit)
			err(EX_SOFTWARE, "out of memory");
		buf_adds(b, " AND t.\"timestamp\" >= (");
		buf_adds(b, lit);
		buf_adds(b, "::timestamptz AT TIME ZONE 'UTC')");
		PQfreemem(lit);
	}
}

/* --clean: live rows that the backup does not hold go, children first. */
static int clean_table(struct rctx *c, struct rtable *rt)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "DELETE FROM ");
	buf_adds(&sql, rt->own);
	buf_adds(&sql, " t");
	add_clean_where(c, rt, &sql);
	int rc = run(c, rt, &sql, &rt->deleted);
	buf_free(&sql);
	return rc;
}

int plan_count_clean(struct rctx *c)
{
	for (int i = 0; i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		if (!rt_restored(rt))
			continue;
		struct buf sql = { 0 };
		buf_adds(&sql, "SELECT 1 FROM ");
		buf_adds(&sql, rt->own);
		buf_adds(&sql, " t");
		add_clean_where(c, rt, &sql);
		int rc = run(c, rt, &sql, &rt->deleted);
		buf_free(&sql);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * A full backup holds UserActivity rows of its last userActivityDays days
 * only: older live rows are history the backup never had, and --clean
 * keeps them. A backup without that metadata (older ones, the original
 * service's) is trusted as far as its own oldest row.
 */
int plan_clean_scope(struct rctx *c, const cJSON *meta)
{
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(meta, "userActivityDays");
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(meta, "timestamp");
	int64_t ms;
	char iso[96];
	if (cJSON_IsNumber(days) && cJSON_IsString(ts) && parse_iso_ms(ts->valuestring, &ms) == 0) {
		/* a window reaching before year 1 (BK_ACTIVITY_DAYS=1000000) held everything */
		double since = (double)ms / 1000 - days->valuedouble * 86400;
		if (since < -62135596800.0)
			return 0;
		time_t t = (time_t)since;
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		c->activity_since = strdup(iso);
	} else {
		struct rtable *rt = rt_named(c, "UserActivity");
		if (!rt || !rt_restored(rt) || col_index(rt->t, "timestamp") < 0)
			return 0;
		struct buf sql = { 0 };
		buf_adds(&sql,
			 "SELECT to_char(min(\"timestamp\"), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM ");
		buf_adds(&sql, rt->tmp);
		PGresult *r = PQexec(c->conn, buf_cstr(&sql));
		buf_free(&sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			PQclear(r);
			return plan_fail(c, "UserActivity");
		}
		/* no rows at all: nothing tells what it could hold, so nothing goes */
		c->activity_since = strdup(PQgetisnull(r, 0, 0) ? "infinity" : PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	if (!c->activity_since)
		err(EX_SOFTWARE, "out of memory");
	return 0;
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
		buf_adds(&sql, ch->own);
		buf_adds(&sql, " ch JOIN ");
		buf_adds(&sql, p->own);
		buf_adds(&sql, " p ON ");
		add_ident(c, &sql, "p.", f->ref_column);
		add_ident(c, &sql, " = ch.", f->column);
		buf_adds(&sql, " WHERE p.ctid IN (SELECT t.ctid FROM ");
		buf_adds(&sql, p->own);
		buf_adds(&sql, " t");
		add_clean_where(c, p, &sql);
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

/* Rows of rt whose column col is not raffle_id: 0, or a count > 0, or -1 (failed). */
static long long foreign_rows(struct rctx *c, struct rtable *rt, const char *col, const char *raffle_id)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "SELECT count(*) FROM ");
	buf_adds(&sql, rt->tmp);
	add_ident(c, &sql, " WHERE ", col);
	buf_adds(&sql, "::text IS DISTINCT FROM $1");
	const char *params[] = { raffle_id };
	PGresult *r = PQexecParams(c->conn, buf_cstr(&sql), 1, NULL, params, NULL, NULL, 0);
	buf_free(&sql);
	long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

/*
 * A raffle backup gives back one raffle: its row, the rows that point at
 * it, its analytics. A row of another raffle in it is refused (a crafted
 * or mixed-up file would otherwise write into raffles it does not hold).
 */
int plan_check_raffle(struct rctx *c, const char *raffle_id)
{
	for (int i = 0; raffle_id && i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		if (!rt_restored(rt))
			continue;
		const char *col = NULL;
		if (!strcmp(rt->t->name, "Raffle"))
			col = "id";
		for (int k = 0; !col && k < c->s.nfkeys; k++)
			if (!strcmp(c->s.fkeys[k].table, rt->t->name) &&
			    !strcmp(c->s.fkeys[k].ref_table, "Raffle"))
				col = c->s.fkeys[k].column;
		if (!col)
			continue;
		long long n = foreign_rows(c, rt, col, raffle_id);
		if (n < 0)
			return plan_fail(c, rt->t->name);
		if (n) {
			warnx("%s: %lld %s row%s of another raffle than %s (%s.%s): a raffle backup holds "
			      "only its raffle's rows; nothing has been changed",
			      c->opt->path, n, rt->t->name, n == 1 ? "" : "s", raffle_id, rt->t->name, col);
			return EX_DATAERR;
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
