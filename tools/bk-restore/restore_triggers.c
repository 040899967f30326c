/*
 * The live tables' own triggers (not the ones PostgreSQL makes for foreign
 * keys) are off while the restore writes rows, as pg_restore
 * --disable-triggers has them: a trigger that stamps a time, counts rows
 * or logs a change would otherwise alter or add to what the backup holds.
 * Each is turned off by name inside the restore's transaction and turned
 * back on as it was (ALWAYS or not) before the commit; a rollback puts
 * them back as well. Only a table's owner may do that, so for another
 * role the restore is refused before anything is written.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fsafe.h"
#include "restore_int.h"
#include "xalloc.h"

static const char triggers_sql[] =
	"SELECT c.relname, t.tgname, t.tgenabled, pg_has_role(c.relowner, 'USAGE') "
	"FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A') "
	"ORDER BY 1, 2";

/* "ALTER TABLE <table> <verb> TRIGGER <name>", malloc'd. */
static char *alter(struct rctx *c, const struct rtable *rt, const char *verb, const char *name)
{
	char *trigger = xnonnull(PQescapeIdentifier(c->conn, name, strlen(name)));
	char *sql = xasprintf("ALTER TABLE %s %s TRIGGER %s", rt->qname, verb, trigger);
	PQfreemem(trigger);
	return sql;
}

/* Turns off one trigger and remembers how to turn it back on. */
static int turn_off(struct rctx *c, const struct rtable *rt, const char *name, bool always)
{
	char *off = alter(c, rt, "DISABLE", name);
	int rc = pg_command(c->conn, off); /* says why */
	free(off);
	if (rc)
		return rc;
	c->retrigger = xrealloc(c->retrigger, (size_t)(c->nretrigger + 1) * sizeof *c->retrigger);
	c->retrigger[c->nretrigger++] = alter(c, rt, always ? "ENABLE ALWAYS" : "ENABLE", name);
	return 0;
}

int triggers_off(struct rctx *c)
{
	PGresult *r = PQexec(c->conn, triggers_sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return plan_fail(c, "the tables' triggers");
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r); i++) { /* the refusals first: nothing is turned off then */
		const struct rtable *rt = rt_named(c, PQgetvalue(r, i, 0));
		if (!rt || !rt->selected || *PQgetvalue(r, i, 3) == 't')
			continue;
		warnx("trigger %s on %s would fire for every restored row, and only the table's owner "
		      "may turn it off for the restore: restore as the owner (nothing has been changed)",
		      ESC(PQgetvalue(r, i, 1)), ESC(rt->t->name));
		rc = EX_NOPERM;
	}
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		const struct rtable *rt = rt_named(c, PQgetvalue(r, i, 0));
		if (rt && rt->selected)
			rc = turn_off(c, rt, PQgetvalue(r, i, 1), *PQgetvalue(r, i, 2) == 'A');
	}
	PQclear(r);
	return rc;
}

int triggers_on(struct rctx *c)
{
	int rc = 0;
	for (int i = 0; !rc && i < c->nretrigger; i++)
		rc = pg_command(c->conn, c->retrigger[i]); /* says why */
	return rc;
}

void triggers_free(struct rctx *c)
{
	for (int i = 0; i < c->nretrigger; i++)
		free(c->retrigger[i]);
	free(c->retrigger);
	c->retrigger = NULL;
	c->nretrigger = 0;
}
