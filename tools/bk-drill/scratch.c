/*
 * The database a drill restores into: created and dropped on the server of
 * DATABASE_URL, or the empty one $BK_DRILL_DATABASE_URL names, emptied
 * again afterwards. Names are quoted by libpq; nothing here is live data.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "drill.h"
#include "fsafe.h"
#include "pg.h"
#include "xalloc.h"

/* head, the quoted name, tail: malloc'd. */
static char *with_ident(PGconn *conn, const char *head, const char *name, const char *tail)
{
	char *id = xnonnull(PQescapeIdentifier(conn, name, strlen(name)));
	char *sql = xasprintf("%s%s%s", head, id, tail);
	PQfreemem(id);
	return sql;
}

int scratch_create(PGconn *admin, const char *name)
{
	/* template0: nothing the server's template1 was given gets in the way of the DDL */
	char *sql = with_ident(admin, "CREATE DATABASE ", name, " TEMPLATE template0 ENCODING 'UTF8'");
	PGresult *r = PQexec(admin, sql);
	free(sql);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state && !strcmp(state, "42501")) {
			warnx("role \"%s\" may not create databases: grant it once, as a superuser: "
			      "psql -c 'ALTER ROLE \"%s\" CREATEDB' (or set BK_DRILL_DATABASE_URL "
			      "to an empty database kept for drills)",
			      ESC(PQuser(admin)), ESC(PQuser(admin)));
			rc = EX_NOPERM;
		} else {
			rc = pg_fail(admin, "cannot create the scratch database");
			if (rc != EX_UNAVAILABLE)
				rc = EX_CANTCREAT;
		}
	}
	PQclear(r);
	return rc;
}

int scratch_drop(PGconn *admin, const char *name)
{
	/* FORCE: a restore that a signal cut short may still hold a session there */
	char *sql = with_ident(admin, "DROP DATABASE IF EXISTS ", name, " WITH (FORCE)");
	int rc = pg_command(admin, sql);
	free(sql);
	return rc;
}

void scratch_sweep(PGconn *admin)
{
	char stale[32];
	snprintf(stale, sizeof stale, "%d", SCRATCH_STALE_SECONDS);
	const char *params[] = { stale };
	PGresult *r = PQexecParams(
		admin,
		"SELECT d.datname FROM pg_database d "
		"WHERE d.datname ~ '^bk_drill_[0-9]{1,10}_[0-9]{1,12}$' "
		"  AND d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
		"  AND split_part(d.datname, '_', 4)::bigint < extract(epoch FROM now()) - $1::int "
		"  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid) "
		"ORDER BY 1",
		1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		warnx("could not look for scratch databases left by killed drills: %s",
		      ESC(PQerrorMessage(admin)));
		PQclear(r);
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		if (scratch_drop(admin, name) == 0)
			warnx("dropped the scratch database \"%s\", left behind by a drill that was "
			      "killed",
			      ESC(name));
		else
			warnx("could not drop the scratch database \"%s\", left behind by a killed "
			      "drill: drop it by hand",
			      ESC(name));
	}
	PQclear(r);
}

int scratch_check_empty(PGconn *conn, const char *schema)
{
	const char *params[] = { schema };
	PGresult *r = PQexecParams(conn,
				   "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
				   "ON n.oid = c.relnamespace WHERE n.nspname = $1",
				   1, NULL, params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = pg_fail(conn, "cannot read the catalog of BK_DRILL_DATABASE_URL");
	else if (strcmp(PQgetvalue(r, 0, 0), "0")) {
		warnx("BK_DRILL_DATABASE_URL: schema \"%s\" of database \"%s\" is not empty "
		      "(%s tables, sequences or indexes): a drill needs an empty one, which it "
		      "empties again afterwards",
		      ESC(schema), ESC(PQdb(conn)), PQgetvalue(r, 0, 0));
		rc = EX_CANTCREAT;
	}
	PQclear(r);
	return rc;
}

int scratch_clear(PGconn *conn, const char *schema)
{
	char *drop = with_ident(conn, "DROP SCHEMA IF EXISTS ", schema, " CASCADE");
	char *create = with_ident(conn, "CREATE SCHEMA IF NOT EXISTS ", schema, "");
	int rc = pg_command(conn, "SET client_min_messages = warning");
	if (!rc)
		rc = pg_command(conn, drop);
	if (!rc)
		rc = pg_command(conn, create);
	free(drop);
	free(create);
	return rc;
}

/*
 * pg_dump's text as one simple query: its psql meta-commands (\restrict)
 * left out, CREATE SCHEMA made harmless for public, which every new
 * database has, and COMMENT ON SCHEMA left out (only the owner may).
 */
int scratch_ddl(PGconn *conn, const char *ddl)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "SET client_min_messages = warning;\nBEGIN;\n");
	for (const char *p = ddl; *p;) {
		size_t n = strcspn(p, "\n");
		if (*p == '\\' || !strncmp(p, "COMMENT ON SCHEMA ", 18))
			;
		else if (!strncmp(p, "CREATE SCHEMA ", 14) && strncmp(p, "CREATE SCHEMA IF ", 17)) {
			buf_adds(&sql, "CREATE SCHEMA IF NOT EXISTS ");
			buf_add(&sql, p + 14, n - 14);
		} else
			buf_add(&sql, p, n);
		buf_addc(&sql, '\n');
		p += n + (p[n] == '\n');
	}
	buf_adds(&sql, "COMMIT;\n");
	PGresult *r = PQexec(conn, buf_cstr(&sql));
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		rc = pg_fail(conn, "the backup's DDL");
		if (rc != EX_UNAVAILABLE)
			rc = EX_DATAERR; /* the schema of the backup does not build */
	}
	PQclear(r);
	buf_free(&sql);
	return rc;
}
