/*
 * The "schema" member of a format 1.1 backup (bk-backup(5)): what the tables
 * looked like in the backup's snapshot, read from the catalog once per
 * backup (a few queries, whatever the number of rows), and the DDL that
 * recreates them, from pg_dump run on the same exported snapshot.
 */
#include <err.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "dump.h"
#include "spawn.h"

extern char **environ;

/* Per table: columns, keys, foreign keys, owned sequences; one JSON object. */
static const char tables_sql[] =
	"WITH t AS (SELECT c.oid, c.relname FROM pg_class c "
	"  JOIN pg_namespace n ON n.oid = c.relnamespace "
	"  WHERE " PG_SCHEMA_TABLES PG_NOT_PRISMA
	"  AND ($1::text[] IS NULL OR c.relname = ANY ($1::text[]))), "
	"act(c, name) AS (VALUES ('a', 'NO ACTION'), ('r', 'RESTRICT'), ('c', 'CASCADE'), "
	"  ('n', 'SET NULL'), ('d', 'SET DEFAULT')) "
	"SELECT coalesce(json_object_agg(t.relname, json_build_object("
	" 'columns', (SELECT coalesce(json_agg(json_build_object('name', a.attname, "
	"    'type', format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull, "
	"    'default', CASE WHEN a.attidentity <> '' THEN 'GENERATED ' || CASE a.attidentity "
	"      WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END || ' AS IDENTITY' "
	"      ELSE pg_get_expr(d.adbin, d.adrelid) END) ORDER BY a.attnum), '[]') "
	"    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
	"    AND d.adnum = a.attnum WHERE a.attrelid = t.oid AND a.attnum > 0 "
	"    AND NOT a.attisdropped AND a.attgenerated = ''), "
	" 'primaryKey', (SELECT json_agg(a.attname ORDER BY k.ord) FROM pg_index i "
	"    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord) "
	"    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n "
	"    WHERE i.indrelid = t.oid AND i.indisprimary), "
	" 'uniqueKeys', (SELECT coalesce(json_agg(u.cols ORDER BY u.name), '[]') FROM ("
	"    SELECT ic.relname AS name, json_agg(a.attname ORDER BY k.ord) AS cols "
	"    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
	"    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord) "
	"    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n "
	"    WHERE i.indrelid = t.oid AND i.indisunique AND NOT i.indisprimary "
	"    AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts "
	"    GROUP BY ic.relname) u), "
	" 'foreignKeys', (SELECT coalesce(json_agg(json_build_object('name', f.conname, "
	"    'columns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(f.conkey) "
	"      WITH ORDINALITY k(n, ord) JOIN pg_attribute a ON a.attrelid = f.conrelid "
	"      AND a.attnum = k.n), "
	"    'references', (SELECT relname FROM pg_class WHERE oid = f.confrelid), "
	"    'referencedColumns', (SELECT json_agg(a.attname ORDER BY k.ord) "
	"      FROM unnest(f.confkey) WITH ORDINALITY k(n, ord) JOIN pg_attribute a "
	"      ON a.attrelid = f.confrelid AND a.attnum = k.n), "
	"    'onDelete', (SELECT name FROM act WHERE act.c = f.confdeltype), "
	"    'onUpdate', (SELECT name FROM act WHERE act.c = f.confupdtype)) "
	"    ORDER BY f.conname), '[]') FROM pg_constraint f "
	"    WHERE f.conrelid = t.oid AND f.contype = 'f'), "
	" 'sequences', (SELECT coalesce(json_agg(json_build_object('column', a.attname, "
	"    'name', s.relname, 'lastValue', pg_sequence_last_value(s.oid)::text) "
	"    ORDER BY a.attnum), '[]') FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
	"    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
	"    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass "
	"    AND d.refobjid = t.oid AND d.deptype IN ('a', 'i') AND s.relkind = 'S') "
	") ORDER BY t.relname), '{}') FROM t";

static cJSON *query_json(PGconn *conn, const char *sql, int nparams, const char *const *params, int *rc)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	cJSON *v = NULL;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		*rc = pg_fail(conn, "reading the schema");
	else if (!PQgetisnull(r, 0, 0) && !(v = cJSON_Parse(PQgetvalue(r, 0, 0))))
		err(EX_SOFTWARE, "out of memory");
	PQclear(r);
	return v;
}

/* Prisma's applied migrations, every column; NULL when there is no such table. */
static cJSON *read_migrations(PGconn *conn, const struct pg_schema *s, int *rc)
{
	char *table = pg_qualified(conn, s, "_prisma_migrations"), *sql;
	if (asprintf(&sql, "SELECT coalesce(json_agg(m), '[]') FROM %s m", table) < 0)
		err(EX_SOFTWARE, "out of memory");
	/* looked up first: the query above cannot even be planned without the table */
	PGresult *r = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL,
				   (const char *const[]){ table }, NULL, NULL, 0);
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && *PQgetvalue(r, 0, 0) == 't';
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		*rc = pg_fail(conn, "looking for _prisma_migrations");
	PQclear(r);
	cJSON *v = NULL;
	if (!*rc && exists)
		v = query_json(conn, sql, 0, NULL, rc);
	free(sql);
	free(table);
	return v;
}

/* The pg_dump to run: $BK_PG_DUMP, else the first on $PATH, else PostgreSQL's newest. */
static char *find_pg_dump(void)
{
	const char *named = getenv("BK_PG_DUMP");
	if (named && *named)
		return strdup(named);
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL, *found = NULL;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p;
		if (asprintf(&p, "%s/pg_dump", d) < 0)
			err(EX_SOFTWARE, "out of memory");
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	for (int v = 30; !found && v >= 10; v--) {
		char p[64];
		snprintf(p, sizeof p, "/usr/lib/postgresql/%d/bin/pg_dump", v);
		if (access(p, X_OK) == 0)
			found = strdup(p);
	}
	return found;
}

/* The environment for pg_dump: ours without PG* variables, plus the
 * connection's own settings as libpq's variables (never in argv). */
static char **pg_environ(PGconn *conn)
{
	size_t n = 0, cap = 16;
	char **env = malloc(cap * sizeof *env);
	PQconninfoOption *opts = PQconninfo(conn), *o;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PG", 2)) {
			if (n + 2 >= cap && !(env = realloc(env, (cap *= 2) * sizeof *env)))
				err(EX_SOFTWARE, "out of memory");
			env[n++] = strdup(*e);
		}
	for (o = opts; o && o->keyword; o++) {
		if (!o->envvar || !o->val || !*o->val || !strcmp(o->envvar, "PGSERVICE"))
			continue;
		if (n + 2 >= cap && !(env = realloc(env, (cap *= 2) * sizeof *env)))
			err(EX_SOFTWARE, "out of memory");
		if (asprintf(&env[n++], "%s=%s", o->envvar, o->val) < 0)
			err(EX_SOFTWARE, "out of memory");
	}
	PQconninfoFree(opts);
	env[n] = NULL;
	return env;
}

static void free_environ(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

/* The first line of what pg_dump said, for the metadata. */
static char *first_line(const char *what, const char *text)
{
	char *s;
	size_t n = text ? strcspn(text, "\n") : 0;
	if (asprintf(&s, "%s%s%.*s", what, n ? ": " : "", (int)(n > 300 ? 300 : n), text ? text : "") < 0)
		err(EX_SOFTWARE, "out of memory");
	return s;
}

static void *ddl_thread(void *arg)
{
	struct dump_ddl *d = arg;
	struct spawn_result res = { 0 };
	if (spawn_run(d->argv[0], d->argv, d->env, 0, &res) < 0)
		d->why = first_line("cannot run pg_dump", strerror(errno));
	else if (res.status && res.err && strstr(res.err, "statement timeout"))
		/* its --lock-wait-timeout: what the operator sees must say why */
		d->why = strdup(
			"pg_dump could not lock a table within a second: a migration (ALTER TABLE, "
			"TRUNCATE, DROP) was waiting for this backup; the next backup will have the DDL");
	else if (res.status)
		d->why = first_line("pg_dump failed", res.err);
	else if (res.out_len >= SPAWN_OUT_MAX)
		d->why = strdup("pg_dump: the DDL is larger than 16 MB");
	else
		d->ddl = strdup(res.out);
	spawn_free(&res);
	return NULL;
}

/*
 * pg_dump --schema-only on the exported snapshot (so it sees the same
 * instant), in a thread: it runs while the tables are counted.
 */
void dump_ddl_start(PGconn *conn, const struct pg_schema *s, struct dump_ddl *d)
{
	*d = (struct dump_ddl){ 0 };
	PGresult *r = PQexec(conn, "SELECT pg_export_snapshot()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		d->why = first_line("cannot export the snapshot", PQerrorMessage(conn));
		PQclear(r);
		return;
	}
	char *pg_dump = find_pg_dump();
	if (!pg_dump) {
		d->why = strdup("pg_dump not found (install postgresql-client, or set BK_PG_DUMP)");
		PQclear(r);
		return;
	}
	char *snap_arg, *schema_arg;
	if (asprintf(&snap_arg, "--snapshot=%s", PQgetvalue(r, 0, 0)) < 0 ||
	    asprintf(&schema_arg, "--schema=%s", s->name) < 0)
		err(EX_SOFTWARE, "out of memory");
	PQclear(r);
	/*
	 * The backup holds every table already, so pg_dump can only wait on a
	 * migration queued behind the backup, which waits for the backup,
	 * which waits for pg_dump: after a second it gives up instead, and
	 * the backup goes on without the DDL (meta.ddlError says why).
	 */
	char *argv[] = { pg_dump,	    "--lock-wait-timeout=1s",
			 "--schema-only",   "--no-owner",
			 "--no-privileges", snap_arg,
			 schema_arg,	    NULL };
	memcpy(d->argv, argv, sizeof argv);
	d->env = pg_environ(conn);
	if ((errno = pthread_create(&d->thread, NULL, ddl_thread, d)) != 0) {
		d->why = first_line("cannot start a thread for pg_dump", strerror(errno));
		return;
	}
	d->started = true;
}

/* Waits for pg_dump: then d->ddl, or d->why. */
static void ddl_wait(struct dump_ddl *d)
{
	if (d->started)
		pthread_join(d->thread, NULL);
	d->started = false;
}

void dump_ddl_free(struct dump_ddl *d)
{
	ddl_wait(d);
	for (int i = 0; d->argv[i]; i++)
		if (i == 0 || i >= 5) /* 1 to 4 are literals */
			free(d->argv[i]);
	if (d->env)
		free_environ(d->env);
	free(d->ddl);
	free(d->why);
	*d = (struct dump_ddl){ 0 };
}

int dump_schema(PGconn *conn, const struct pg_schema *s, const char *const *only, struct dump_ddl *ddl,
		cJSON *meta, cJSON **schema)
{
	struct buf list = { 0 };
	int rc = 0;
	if (only) { /* a text[] literal; table names are quoted in it */
		buf_addc(&list, '{');
		for (const char *const *t = only; *t; t++) {
			buf_adds(&list, t == only ? "\"" : ",\"");
			for (const char *c = *t; *c; c++) {
				if (*c == '"' || *c == '\\')
					buf_addc(&list, '\\');
				buf_addc(&list, *c);
			}
			buf_addc(&list, '"');
		}
		buf_addc(&list, '}');
	}
	const char *params[] = { only ? buf_cstr(&list) : NULL };
	*schema = cJSON_CreateObject();
	cJSON_AddStringToObject(*schema, "name", s->name);
	cJSON *tables = query_json(conn, tables_sql, 1, params, &rc);
	buf_free(&list);
	if (tables)
		cJSON_AddItemToObject(*schema, "tables", tables);
	for (int i = 0; !rc && i < s->ntables; i++) { /* the key each table's rows have */
		cJSON *t = cJSON_GetObjectItemCaseSensitive(tables, s->tables[i].name);
		if (t)
			cJSON_AddStringToObject(t, "key", s->tables[i].key);
	}
	if (!rc && ddl) {
		cJSON *m = read_migrations(conn, s, &rc);
		cJSON_AddItemToObject(*schema, "prismaMigrations", m ? m : cJSON_CreateNull());
		ddl_wait(ddl);
		const char *text = rc ? NULL : ddl->ddl;
		cJSON_AddItemToObject(*schema, "ddl", text ? cJSON_CreateString(text) : cJSON_CreateNull());
		if (!rc && ddl->why) {
			warnx("the backup holds no DDL: %s", ddl->why);
			cJSON_AddStringToObject(meta, "ddlError", ddl->why);
		}
	}
	if (rc) {
		cJSON_Delete(*schema);
		*schema = NULL;
	}
	return rc;
}

int dump_check_keys(const struct pg_schema *s)
{
	if (!s->key_error)
		return 0;
	warnx("%s; no backup was written", s->key_error);
	return EX_DATAERR;
}
