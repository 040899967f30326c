#include <ctype.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "config.h"
#include "fsafe.h"
#include "jsonw.h"
#include "bkfile.h"
#include "pg.h"
#include "xalloc.h"

/* Query parameters of Prisma's URLs that libpq does not know (it would
 * refuse the whole URL): taken off; schema= becomes the search_path. */
static const char *const prisma_params[] = { "schema",	  "connection_limit",	  "pool_timeout",
					     "pgbouncer", "statement_cache_size", "socket_timeout",
					     "sslaccept", "sslidentity",	  NULL };

static bool prisma_param(const char *p, size_t n)
{
	size_t k = strcspn(p, "=");
	for (int i = 0; prisma_params[i]; i++)
		if (k < n && k == strlen(prisma_params[i]) && !strncmp(p, prisma_params[i], k))
			return true;
	return false;
}

/* Drops Prisma's parameters from a URI's query, returning schema's value (malloc'd) or NULL. */
static char *take_prisma_params(char *url)
{
	char *q = strchr(url, '?');
	if (!q || (strncmp(url, "postgres://", 11) && strncmp(url, "postgresql://", 13)))
		return NULL;
	char *p = q + 1, *found = NULL;
	while (*p) {
		char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (prisma_param(p, n)) {
			if (n > 7 && !strncmp(p, "schema=", 7)) {
				free(found);
				found = strndup(p + 7, n - 7);
			}
			memmove(p, amp ? amp + 1 : p + n, strlen(amp ? amp + 1 : p + n) + 1);
			continue;
		}
		p += amp ? n + 1 : n;
	}
	size_t len = strlen(url);
	while (len && (url[len - 1] == '&' || url[len - 1] == '?'))
		url[--len] = '\0';
	return found;
}

int pg_command(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : pg_fail(conn, sql);
}

int pg_fail(PGconn *conn, const char *what)
{
	char *msg = config_scrub(PQerrorMessage(conn));
	size_t n = strlen(msg);
	while (n && isspace((unsigned char)msg[n - 1]))
		n--;
	msg[n] = '\0';
	/* line by line, escaped: the server may quote a backup's values, and
	 * what they hold must not reach the operator's terminal as control codes */
	char *rest, *line = strtok_r(msg, "\n", &rest);
	warnx("database: %s: %s", ESC(what), line ? ESC(line) : "");
	while ((line = strtok_r(NULL, "\n", &rest)))
		fprintf(stderr, "    %s\n", ESC(line));
	free(msg);
	return PQstatus(conn) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
}

/* A URL libpq cannot even parse is a configuration error (64), not an
 * unreachable server; its message is scrubbed, for libpq quotes it whole. */
static int check_dsn(const char *dsn)
{
	const char *auth = strstr(dsn, "://");
	if (auth && (!strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13))) {
		size_t n = strcspn(auth + 3, "/?"), at = 0;
		for (size_t i = 0; i < n; i++)
			at += auth[3 + i] == '@';
		if (at > 1) {
			warnx("DATABASE_URL is malformed: '@' appears twice before the host; "
			      "write an '@' of the password as %%40");
			return EX_USAGE;
		}
	}
	char *why = NULL;
	PQconninfoOption *o = PQconninfoParse(dsn, &why);
	PQconninfoFree(o);
	if (o)
		return 0;
	char *msg = config_scrub(why ? why : "out of memory");
	warnx("DATABASE_URL is malformed: %.*s (percent-encode special characters of the password)",
	      (int)strcspn(msg, "\n"), msg);
	free(msg);
	PQfreemem(why);
	return EX_USAGE;
}

/* The quoted name in a server message: 'database "raffle" does not exist'. */
static void quoted(const char *msg, const char *after, char *out, size_t len)
{
	const char *p = strstr(msg, after);
	*out = '\0';
	if (p && (p = strchr(p + strlen(after), '"')))
		snprintf(out, len, "%.*s", (int)strcspn(p + 1, "\""), p + 1);
}

/*
 * Why a connection failed, in the terms of DATABASE_URL: an option libpq
 * refuses is a configuration error (64); a server that answers but has no
 * such database or user, or refuses the password, is named as such (69,
 * as for a server that does not answer: nothing can be done there).
 */
static int connect_failed(PGconn *conn)
{
	char *msg = config_scrub(PQerrorMessage(conn));
	char where[512], name[256];
	const char *host = PQhost(conn), *port = PQport(conn);
	snprintf(where, sizeof where, "%s:%s", host && *host ? host : "localhost",
		 port && *port ? port : "5432");
	int rc = EX_UNAVAILABLE;
	if (strstr(msg, "invalid ") && strstr(msg, " value")) {
		warnx("DATABASE_URL is malformed: %.*s", (int)strcspn(msg, "\n"), msg);
		rc = EX_USAGE;
	} else if (strstr(msg, "database \"") && strstr(msg, "\" does not exist")) {
		quoted(msg, "database ", name, sizeof name);
		warnx("database %s does not exist on %s; create it (sudo -u postgres createdb -O %s %s) "
		      "or fix DATABASE_URL",
		      ESC(name), ESC(where), ESC(PQuser(conn)), ESC(name));
	} else if (strstr(msg, "role \"") && strstr(msg, "\" does not exist")) {
		quoted(msg, "role ", name, sizeof name);
		warnx("user %s does not exist on %s; create it (sudo -u postgres createuser -P %s) "
		      "or fix DATABASE_URL",
		      ESC(name), ESC(where), ESC(name));
	} else if (strstr(msg, "password authentication failed")) {
		warnx("%s refuses the password of user %s; fix the password in DATABASE_URL "
		      "(percent-encoded), or reset it (ALTER ROLE ... PASSWORD)",
		      ESC(where), ESC(PQuser(conn)));
	} else if (strstr(msg, "no password supplied")) {
		warnx("%s asks a password of user %s; put it in DATABASE_URL", ESC(where), ESC(PQuser(conn)));
	} else {
		warnx("cannot connect to the database: %.*s", (int)strcspn(msg, "\n"), msg);
	}
	free(msg);
	return rc;
}

/* A schema= that names no schema would show an empty database: refused. */
static int schema_exists(PGconn *conn, const char *schema)
{
	PGresult *r = PQexec(conn, "SELECT current_schema() IS NOT NULL");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	bool found = ok && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (!ok)
		return pg_fail(conn, "SELECT current_schema()");
	if (found)
		return 0;
	warnx("schema %s (?schema= of DATABASE_URL) does not exist in database %s; create it "
	      "(bk-recover does) or fix DATABASE_URL",
	      ESC(schema), ESC(PQdb(conn)));
	return EX_UNAVAILABLE;
}

static char *override_db, *override_schema;

void pg_connect_to(const char *dbname, const char *schema)
{
	free(override_db);
	free(override_schema);
	override_db = dbname ? xstrdup(dbname) : NULL;
	override_schema = schema ? xstrdup(schema) : NULL;
}

/* The URL's connection, with pg_connect_to's database in place of its own. */
static PGconn *connect_dsn(const char *dsn)
{
	if (!override_db)
		return PQconnectdb(dsn);
	/* a later "dbname" overrides what the expanded first one says */
	const char *const keys[] = { "dbname", "dbname", NULL };
	const char *const vals[] = { dsn, override_db, NULL };
	return PQconnectdbParams(keys, vals, 1);
}

int pg_connect(PGconn **conn)
{
	const char *url = config_get("DATABASE_URL", NULL);
	*conn = NULL;
	if (!url) {
		warnx("DATABASE_URL is not set (environment or .env)");
		return EX_USAGE;
	}
	char *dsn = strdup(url);
	char *schema = take_prisma_params(dsn);
	if (check_dsn(dsn)) {
		free(dsn);
		free(schema);
		return EX_USAGE;
	}
	if (override_schema) {
		free(schema);
		schema = xstrdup(override_schema);
	}
	*conn = connect_dsn(dsn);
	free(dsn);
	if (PQstatus(*conn) != CONNECTION_OK) {
		int rc = connect_failed(*conn);
		PQfinish(*conn);
		*conn = NULL;
		free(schema);
		return rc;
	}
	PQsetClientEncoding(*conn, "UTF8");
	int rc = pg_command(*conn, "SET DateStyle = ISO; SET TimeZone = 'UTC'; "
				   "SET IntervalStyle = iso_8601; SET extra_float_digits = 1");
	if (!rc && schema) {
		char *id = PQescapeIdentifier(*conn, schema, strlen(schema));
		char sql[512];
		snprintf(sql, sizeof sql, "SET search_path = %s", id ? id : "public");
		PQfreemem(id);
		rc = pg_command(*conn, sql);
	}
	/* a scratch database's schema (pg_connect_to) is made after connecting */
	if (!rc && schema && !override_schema)
		rc = schema_exists(*conn, schema);
	free(schema);
	return rc;
}

static enum col_kind kind_of(const char *typname, const char *category)
{
	if (!strcmp(typname, "float4") || !strcmp(typname, "float8") || !strcmp(typname, "numeric"))
		return COL_FLOAT; /* may print NaN or Infinity: checked per value */
	if (!strcmp(typname, "timestamp"))
		return COL_TIMESTAMP;
	if (!strcmp(typname, "timestamptz"))
		return COL_TIMESTAMPTZ;
	if (!strcmp(typname, "json") || !strcmp(typname, "jsonb"))
		return COL_JSON;
	if (!strcmp(typname, "money"))
		return COL_STRING;
	switch (*category) {
	case 'N': return COL_NUMBER;
	case 'B': return COL_BOOL;
	case 'A': return COL_ARRAY;
	default: return COL_STRING;
	}
}

static const char columns_sql[] =
	"SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, "
	"       t.typcategory, coalesce(e.typname, ''), coalesce(e.typcategory, ''), "
	"       a.attnotnull, a.atthasdef OR a.attidentity <> '', c.relkind = 'p' "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
	"     AND a.attgenerated = '' "
	"JOIN pg_type t ON t.oid = a.atttypid "
	"LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
	"WHERE " PG_SCHEMA_TABLES PG_NOT_PRISMA "ORDER BY c.relname COLLATE \"C\", a.attnum";

static const char fkeys_sql[] =
	"SELECT c.relname, a.attname, p.relname, pa.attname, k.confdeltype, k.confupdtype "
	"FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
	"JOIN pg_class p ON p.oid = k.confrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
	"JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1] "
	"WHERE k.contype = 'f' AND n.nspname = current_schema() "
	"ORDER BY c.relname COLLATE \"C\", k.conname";

static void add_column(struct pg_schema *s, PGresult *r, int row)
{
	const char *table = PQgetvalue(r, row, 0);
	struct pg_table *t = s->ntables ? &s->tables[s->ntables - 1] : NULL;
	if (!t || strcmp(t->name, table)) {
		s->tables = realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *s->tables);
		if (!s->tables)
			err(EX_SOFTWARE, "out of memory");
		t = &s->tables[s->ntables++];
		*t = (struct pg_table){ .name = strdup(table), /* key: assign_keys */
					.partitioned = *PQgetvalue(r, row, 9) == 't' };
	}
	t->cols = realloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
	if (!t->cols)
		err(EX_SOFTWARE, "out of memory");
	t->cols[t->ncols++] = (struct pg_column){
		.name = strdup(PQgetvalue(r, row, 1)),
		.type = strdup(PQgetvalue(r, row, 2)),
		.kind = kind_of(PQgetvalue(r, row, 3), PQgetvalue(r, row, 4)),
		.elem_kind = kind_of(PQgetvalue(r, row, 5), PQgetvalue(r, row, 6)),
		.not_null = *PQgetvalue(r, row, 7) == 't',
		.has_default = *PQgetvalue(r, row, 8) == 't',
	};
	struct buf key = { 0 };
	jsonw_key(&key, PQgetvalue(r, row, 1));
	t->cols[t->ncols - 1].json_key_len = key.len;
	t->cols[t->ncols - 1].json_key = (char *)buf_cstr(&key);
}

static bool key_taken(const struct pg_schema *s, const char *key)
{
	for (int i = 0; i < s->ntables; i++)
		if (s->tables[i].key && !strcmp(s->tables[i].key, key))
			return true;
	return false;
}

/*
 * Backup keys, injectively (bk-backup(5)): the bot's twelve tables keep theirs;
 * every other table, in name order, takes its lower-camel plural, or its
 * own name when that plural is reserved or already taken. A table whose
 * name is taken too gets no key, and s->key_error says which tables clash.
 */
static void assign_keys(struct pg_schema *s)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < s->ntables; i++) {
			struct pg_table *t = &s->tables[i];
			if (bkfile_fixed_table(t->name) != !pass)
				continue;
			char *key = bkfile_table_key(t->name);
			if (bkfile_reserved_key(key) || key_taken(s, key)) {
				free(key);
				key = strdup(t->name);
			}
			if (!pass || (!bkfile_reserved_key(key) && !key_taken(s, key))) {
				t->key = key;
				continue;
			}
			const struct pg_table *other = NULL;
			for (int j = 0; j < s->ntables && !other; j++)
				if (s->tables[j].key && !strcmp(s->tables[j].key, key))
					other = &s->tables[j];
			if (!s->key_error &&
			    asprintf(&s->key_error,
				     "tables \"%s\"%s%s%s cannot both have a distinct key in a backup "
				     "(\"%s\" is %s): rename one of them",
				     t->name, other ? " and \"" : "", other ? other->name : "",
				     other ? "\"" : "", key, other ? "taken" : "reserved") < 0)
				err(EX_SOFTWARE, "out of memory");
			free(key);
			t->key = strdup("");
		}
}

int pg_schema_load(PGconn *conn, struct pg_schema *s)
{
	*s = (struct pg_schema){ 0 };
	PGresult *r = PQexec(conn, "SELECT current_schema()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQgetisnull(r, 0, 0)) {
		PQclear(r);
		return pg_fail(conn, "cannot find the current schema");
	}
	s->name = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = PQexec(conn, columns_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_fail(conn, "cannot read the catalog");
	}
	for (int i = 0; i < PQntuples(r); i++)
		add_column(s, r, i);
	PQclear(r);
	assign_keys(s);
	r = PQexec(conn, fkeys_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_fail(conn, "cannot read the foreign keys");
	}
	s->nfkeys = PQntuples(r);
	s->fkeys = calloc((size_t)s->nfkeys + 1, sizeof *s->fkeys);
	for (int i = 0; i < s->nfkeys; i++)
		s->fkeys[i] = (struct pg_fkey){
			.table = strdup(PQgetvalue(r, i, 0)),
			.column = strdup(PQgetvalue(r, i, 1)),
			.ref_table = strdup(PQgetvalue(r, i, 2)),
			.ref_column = strdup(PQgetvalue(r, i, 3)),
			.on_delete = *PQgetvalue(r, i, 4),
			.on_update = *PQgetvalue(r, i, 5),
		};
	PQclear(r);
	return 0;
}

void pg_schema_free(struct pg_schema *s)
{
	for (int i = 0; i < s->ntables; i++) {
		struct pg_table *t = &s->tables[i];
		for (int j = 0; j < t->ncols; j++) {
			free(t->cols[j].name);
			free(t->cols[j].type);
			free(t->cols[j].json_key);
		}
		free(t->cols);
		free(t->name);
		free(t->key);
	}
	for (int i = 0; i < s->nfkeys; i++) {
		free(s->fkeys[i].table);
		free(s->fkeys[i].column);
		free(s->fkeys[i].ref_table);
		free(s->fkeys[i].ref_column);
	}
	free(s->fkeys);
	free(s->tables);
	free(s->name);
	free(s->key_error);
	*s = (struct pg_schema){ 0 };
}

struct pg_table *pg_schema_table(const struct pg_schema *s, const char *name)
{
	for (int i = 0; i < s->ntables; i++)
		if (!strcmp(s->tables[i].name, name))
			return &s->tables[i];
	for (int i = 0; i < s->ntables; i++)
		if (*s->tables[i].key && !strcmp(s->tables[i].key, name))
			return &s->tables[i];
	return NULL;
}

char *pg_qualified(PGconn *conn, const struct pg_schema *s, const char *table)
{
	char *ns = PQescapeIdentifier(conn, s->name, strlen(s->name));
	char *t = PQescapeIdentifier(conn, table, strlen(table));
	char *q = NULL;
	if (!ns || !t || asprintf(&q, "%s.%s", ns, t) < 0)
		err(EX_SOFTWARE, "out of memory");
	PQfreemem(ns);
	PQfreemem(t);
	return q;
}

char *pg_rows_from(PGconn *conn, const struct pg_schema *s, const struct pg_table *t)
{
	char *q = pg_qualified(conn, s, t->name);
	if (t->partitioned) /* its rows are its partitions' */
		return q;
	char *only = xasprintf("ONLY %s", q);
	free(q);
	return only;
}
