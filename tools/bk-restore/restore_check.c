/*
 * A restore never loses data silently (bk-restore(1)): once the backup has been
 * read into the temporary tables, and before anything live changes, every
 * value of the backup that would not land is named (a table or column the
 * database lacks, a type that cannot hold it, a NOT NULL column without a
 * default that the backup has no values for), and the restore is refused
 * unless the operator accepted each of those losses by name.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fsafe.h"
#include "restore_int.h"

void note_unknown(struct rtable *rt, const char *key, struct jsonr *r, int first)
{
	bool value = first != JSONR_NULL, scalar = first != JSONR_OBJECT;
	if (first == JSONR_ARRAY) {
		int next = jsonr_peek(r);
		value = next != JSONR_ARRAY_END;
		scalar = next != JSONR_OBJECT; /* an array of rows: a nested relation */
	}
	struct unknown_member *u = NULL;
	for (int i = 0; i < rt->nunknown && !u; i++)
		if (!strcmp(rt->unknown[i].name, key))
			u = &rt->unknown[i];
	if (!u) {
		rt->unknown = realloc(rt->unknown, (size_t)(rt->nunknown + 1) * sizeof *rt->unknown);
		if (!rt->unknown)
			err(EX_SOFTWARE, "out of memory");
		u = &rt->unknown[rt->nunknown++];
		*u = (struct unknown_member){ .name = strdup(key) };
	}
	u->value |= value;
	u->scalar |= value && scalar;
}

struct losses {
	struct buf text;  /* "Raffle.memo (no such column), ..." */
	struct buf names; /* "Raffle.memo,..." for --accept-loss */
	int n;
};

static bool accepted(const struct rctx *c, const char *table, const char *key, const char *column)
{
	for (char **a = c->opt->accept_loss; a && *a; a++) {
		size_t n = strlen(table), k = key ? strlen(key) : 0;
		if (!strcmp(*a, table) || (key && !strcmp(*a, key)))
			return true;
		if (column &&
		    ((!strncmp(*a, table, n) && (*a)[n] == '.' && !strcmp(*a + n + 1, column)) ||
		     (key && !strncmp(*a, key, k) && (*a)[k] == '.' && !strcmp(*a + k + 1, column))))
			return true;
	}
	return false;
}

/* A loss: accepted (and remembered for the summary), or added to the refusal. */
static bool loss(struct rctx *c, struct losses *l, const char *table, const char *key, const char *column,
		 const char *why)
{
	struct buf name = { 0 }; /* names from the backup, escaped: they reach a terminal */
	buf_adds(&name, ESC(table));
	if (column) {
		buf_addc(&name, '.');
		buf_adds(&name, ESC(column));
	}
	bool ok = accepted(c, table, key, column);
	if (ok) {
		cJSON_AddItemToArray(c->accepted, cJSON_CreateString(buf_cstr(&name)));
		warnx("accepted loss: %s (%s)", name.data, why);
	} else {
		buf_adds(&l->text, l->n ? ", " : "");
		buf_add(&l->text, name.data, name.len);
		buf_adds(&l->text, " (");
		buf_adds(&l->text, why);
		buf_addc(&l->text, ')');
		buf_adds(&l->names, l->n++ ? "," : "");
		buf_add(&l->names, name.data, name.len);
	}
	buf_free(&name);
	return ok;
}

/* The backup's name for the table under key: metadata.tables, else its schema, else the key. */
static const char *backup_table_name(const struct verify_result *res, const char *key)
{
	const cJSON *m =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(res->meta, "tables"), key);
	if (cJSON_IsString(m))
		return m->valuestring;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(res->schema, "tables"))
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key");
		if (cJSON_IsString(k) && !strcmp(k->valuestring, key))
			return t->string;
	}
	return key;
}

/* The backup's description of a table (format 1.1), or NULL. */
static const cJSON *backup_table(const struct verify_result *res, const struct pg_table *t)
{
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(res->schema, "tables"), *bt;
	cJSON_ArrayForEach(bt, tables)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(bt, "key");
		if (!strcmp(bt->string, t->name) || (cJSON_IsString(k) && !strcmp(k->valuestring, t->key)))
			return bt;
	}
	return NULL;
}

static unsigned missing_group(const struct rctx *c, const char *name, bool nested)
{
	if (nested)
		return GROUP_RAFFLES;
	unsigned g = restore_group(&c->s, name);
	const cJSON *fk, *bt = cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(c->res->schema, "tables"), name);
	cJSON_ArrayForEach(fk, cJSON_GetObjectItemCaseSensitive(bt, "foreignKeys"))
	{
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(fk, "references");
		if (g == GROUP_OTHER && cJSON_IsString(ref) && !strcmp(ref->valuestring, "Raffle"))
			g = GROUP_RAFFLES;
	}
	return g;
}

static bool live_has(const struct rctx *c, const char *key, const char *name)
{
	if (!strcmp(key, "raffle"))
		return pg_schema_table(&c->s, "Raffle");
	if (!strcmp(key, "analytics"))
		return pg_schema_table(&c->s, "RaffleAnalytics");
	return pg_schema_table(&c->s, name) || pg_schema_table(&c->s, key);
}

/* Tables of the backup, with rows, that the database does not have. */
static void missing_tables(struct rctx *c, struct losses *l)
{
	const struct verify_result *res = c->res;
	for (int i = 0; i < res->ntables; i++) {
		const struct verify_table *vt = &res->tables[i];
		const char *name = backup_table_name(res, vt->key);
		if (!vt->rows || live_has(c, vt->key, name) ||
		    (c->opt->skip & missing_group(c, name, vt->nested)))
			continue;
		char why[96];
		snprintf(why, sizeof why, "no such table; %lld row%s", vt->rows, vt->rows == 1 ? "" : "s");
		loss(c, l, name, strcmp(name, vt->key) ? vt->key : NULL, NULL, why);
	}
}

static int live_column(const struct pg_table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (!strcmp(t->cols[i].name, name))
			return i;
	return -1;
}

/* "character varying(40)" → 40; no length → -1 (unlimited). */
static long type_len(const char *type, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(type, base, n))
		return -2;
	if (!type[n])
		return -1;
	return type[n] == '(' ? strtol(type + n + 1, NULL, 10) : -2;
}

/* Whether every value of type from fits type to unchanged. */
static bool widens(const char *from, const char *to)
{
	static const char *const ladder[][4] = {
		{ "smallint", "integer", "bigint", "numeric" },
		{ "real", "double precision", NULL, NULL },
		{ "json", "jsonb", NULL, NULL },
	};
	if (!strcmp(from, to))
		return true;
	for (size_t i = 0; i < sizeof ladder / sizeof *ladder; i++) {
		int a = -1, b = -1;
		for (int j = 0; j < 4 && ladder[i][j]; j++) {
			if (!strcmp(from, ladder[i][j]))
				a = j;
			if (!strcmp(to, ladder[i][j]))
				b = j;
		}
		if (a >= 0 && b >= a)
			return true;
	}
	static const char *const texts[] = { "character varying", "character", "text" };
	long f = -2, t = -2;
	for (int i = 0; i < 3; i++) {
		if (f == -2)
			f = type_len(from, texts[i]);
		if (t == -2)
			t = type_len(to, texts[i]);
	}
	if (f != -2 && t != -2)
		return t == -1 || (f >= 0 && t >= f);
	const char *fz = strstr(from, " without time zone"), *tz = strstr(to, " without time zone");
	if (!strncmp(from, "timestamp", 9) && fz && !strncmp(to, "timestamp", 9) && tz) {
		long fp = from[9] == '(' ? strtol(from + 10, NULL, 10) : 6;
		long tp = to[9] == '(' ? strtol(to + 10, NULL, 10) : 6;
		return tp >= fp;
	}
	return false;
}

const char *backup_type(const struct rctx *c, const struct rtable *rt, int col)
{
	const cJSON *bc;
	cJSON_ArrayForEach(bc, cJSON_GetObjectItemCaseSensitive(backup_table(c->res, rt->t), "columns"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(bc, "name");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(bc, "type");
		if (cJSON_IsString(name) && cJSON_IsString(type) &&
		    !strcmp(name->valuestring, rt->t->cols[col].name))
			return type->valuestring;
	}
	return NULL;
}

bool type_changed(const struct rctx *c, const struct rtable *rt, int col)
{
	const char *type = backup_type(c, rt, col);
	return type && !widens(type, rt->t->cols[col].type);
}

/* With the backup's schema: its columns the live table lacks or types differently. */
static void described_columns(struct rctx *c, struct losses *l, struct rtable *rt, const cJSON *bt)
{
	const cJSON *col;
	cJSON_ArrayForEach(col, cJSON_GetObjectItemCaseSensitive(bt, "columns"))
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(col, "name")->valuestring;
		const char *type = cJSON_GetObjectItemCaseSensitive(col, "type")->valuestring;
		int i = live_column(rt->t, name);
		if (i < 0) {
			bool held = false; /* a column that is null in every row loses nothing */
			for (int u = 0; u < rt->nunknown; u++)
				held |= !strcmp(rt->unknown[u].name, name) && rt->unknown[u].value;
			if (held)
				loss(c, l, rt->t->name, rt->t->key, name, "no such column");
		} else if (!widens(type, rt->t->cols[i].type)) {
			char why[300];
			snprintf(why, sizeof why, "%s in the backup, %s in the database", type,
				 rt->t->cols[i].type);
			loss(c, l, rt->t->name, rt->t->key, name, why);
		}
	}
}

/* Values of the backup's rows that no column of the live table takes. */
static void column_losses(struct rctx *c, struct losses *l, struct rtable *rt)
{
	const cJSON *bt = backup_table(c->res, rt->t);
	if (bt)
		described_columns(c, l, rt, bt);
	else /* format 1.0: members holding values that are not nested relations */
		for (int u = 0; u < rt->nunknown; u++)
			if (rt->unknown[u].scalar)
				loss(c, l, rt->t->name, rt->t->key, rt->unknown[u].name, "no such column");
}

/* A NOT NULL column without a default that some row of the backup lacks, or -1. */
static int unfillable(const struct rtable *rt)
{
	for (int i = 0; i < rt->t->ncols; i++)
		if (rt->absent_ever[i] && rt->t->cols[i].not_null && !rt->t->cols[i].has_default &&
		    !rt->defaults[i])
			return i;
	return -1;
}

int check_row_security(struct rctx *c)
{
	PGresult *r = PQexec(c->conn,
			     "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
			     "WHERE n.nspname = current_schema() AND c.relrowsecurity "
			     "  AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')) "
			     "  AND NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles "
			     "           WHERE rolname = current_user) "
			     "ORDER BY 1");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, "row-level security");
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const struct rtable *rt = rt_named(c, PQgetvalue(r, i, 0));
		if (!rt || !rt->selected)
			continue;
		warnx("row-level security on %s would hide rows from role \"%s\": restore as the "
		      "table's owner or a role with BYPASSRLS (nothing has been changed)",
		      ESC(rt->t->name), ESC(PQuser(c->conn)));
		rc = EX_NOPERM;
	}
	PQclear(r);
	return rc;
}

int check_losses(struct rctx *c)
{
	struct losses l = { 0 };
	c->accepted = cJSON_CreateArray();
	missing_tables(c, &l);
	for (int i = 0; i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		if (!rt_restored(rt) || !rt->rows)
			continue;
		column_losses(c, &l, rt);
		int col = unfillable(rt);
		if (col < 0)
			continue;
		/* its rows cannot go in: only the whole table can be given up */
		char why[300];
		snprintf(why, sizeof why,
			 "column %s is NOT NULL without a default and the backup "
			 "has no values for it: accepting leaves the table out",
			 rt->t->cols[col].name);
		if (loss(c, &l, rt->t->name, rt->t->key, NULL, why))
			rt->selected = false;
	}
	int rc = 0;
	if (l.n) {
		warnx("refused: the backup holds data that would not land in database \"%s\": %s. Nothing "
		      "has "
		      "been changed. %s, or restore anyway, losing exactly %s, with --accept-loss %s",
		      PQdb(c->conn), buf_cstr(&l.text),
		      c->s.ntables ? "Create what is missing first"
				   : "The database has no tables: create the schema first (bk-recover "
				     "does, from the backup's own DDL)",
		      l.n == 1 ? "this" : "these", buf_cstr(&l.names));
		rc = EX_NOPERM;
	}
	buf_free(&l.text);
	buf_free(&l.names);
	return rc;
}

static const char owned_sql[] =
	"SELECT c.relname, a.attname, s.oid::regclass::text, pg_sequence_last_value(s.oid)::text "
	"FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
	"JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid "
	"WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
	"  AND d.deptype IN ('a', 'i') AND s.relkind = 'S' AND n.nspname = current_schema()";

/* The sequence value the backup recorded for table.column, or NULL. */
static const char *backup_sequence(const struct verify_result *res, const struct pg_table *t,
				   const char *column)
{
	const cJSON *seq;
	cJSON_ArrayForEach(seq, cJSON_GetObjectItemCaseSensitive(backup_table(res, t), "sequences"))
	{
		const cJSON *col = cJSON_GetObjectItemCaseSensitive(seq, "column");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(seq, "lastValue");
		if (cJSON_IsString(col) && !strcmp(col->valuestring, column) && cJSON_IsString(v))
			return v->valuestring;
	}
	return NULL;
}

static bool integer_type(const char *type)
{
	return !strcmp(type, "smallint") || !strcmp(type, "integer") || !strcmp(type, "bigint");
}

/*
 * Sequences owned by restored columns (SERIAL, identity) move, in the same
 * transaction, to the backup's value and at least the column's maximum, so
 * the next INSERT does not collide with a restored row. A merge never moves
 * one back: the live value counts too.
 */
static int set_sequence(struct rctx *c, struct rtable *rt, PGresult *r, int row)
{
	const char *column = PQgetvalue(r, row, 1), *seq = PQgetvalue(r, row, 2);
	int i = live_column(rt->t, column);
	if (i < 0 || !integer_type(rt->t->cols[i].type))
		return 0;
	const char *params[] = {
		seq,
		backup_sequence(c->res, rt->t, column),
		c->opt->clean || PQgetisnull(r, row, 3) ? NULL : PQgetvalue(r, row, 3),
	};
	struct buf sql = { 0 };
	buf_adds(&sql, "SELECT setval($1::regclass, v) FROM (SELECT greatest($2::bigint, $3::bigint, "
		       "(SELECT max(");
	add_ident(c, &sql, "", column);
	buf_adds(&sql, ")::bigint FROM ");
	buf_adds(&sql, rt->qname);
	buf_adds(&sql, ")) AS v) x WHERE v IS NOT NULL");
	PGresult *set = PQexecParams(c->conn, buf_cstr(&sql), 3, NULL, params, NULL, NULL, 0);
	buf_free(&sql);
	int ok = PQresultStatus(set) == PGRES_TUPLES_OK;
	PQclear(set);
	return ok ? 0 : plan_fail(c, seq);
}

int plan_sequences(struct rctx *c)
{
	PGresult *r = PQexec(c->conn, owned_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, "reading the sequences");
	}
	int rc = 0;
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct pg_table *t = pg_schema_table(&c->s, PQgetvalue(r, i, 0));
		if (t && !strcmp(t->name, PQgetvalue(r, i, 0)) && rt_restored(&c->rts[t - c->s.tables]))
			rc = set_sequence(c, &c->rts[t - c->s.tables], r, i);
	}
	PQclear(r);
	return rc;
}

/*
 * Prisma's applied migrations go back into an empty _prisma_migrations (a
 * database just built from the backup's DDL), so that the bot's next
 * `prisma migrate deploy` finds it migrated. A table that has rows is the
 * live history: left alone.
 */
int plan_migrations(struct rctx *c, long long *rows)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(c->res->schema, "prismaMigrations");
	*rows = 0;
	if (!cJSON_IsArray(m) || !cJSON_GetArraySize(m))
		return 0;
	char *table = pg_qualified(c->conn, &c->s, "_prisma_migrations"), *sql;
	PGresult *r = PQexecParams(c->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL,
				   (const char *const[]){ table }, NULL, NULL, 0);
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && *PQgetvalue(r, 0, 0) == 't';
	PQclear(r);
	char *json = cJSON_PrintUnformatted(m);
	if (!json || asprintf(&sql,
			      "INSERT INTO %s SELECT * FROM json_populate_recordset(NULL::%s, $1) "
			      "WHERE NOT EXISTS (SELECT 1 FROM %s)",
			      table, table, table) < 0)
		err(EX_SOFTWARE, "out of memory");
	int rc = 0;
	if (exists) {
		r = PQexecParams(c->conn, sql, 1, NULL, (const char *const[]){ json }, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_COMMAND_OK)
			*rows = atoll(PQcmdTuples(r));
		else
			rc = plan_fail(c, "_prisma_migrations");
		PQclear(r);
	}
	free(json);
	free(sql);
	free(table);
	return rc;
}
