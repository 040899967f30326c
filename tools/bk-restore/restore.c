/*
 * A restore, in order: read and verify the whole backup into temporary
 * tables (nothing live changes); refuse what must be refused; confirm;
 * take the safety backup; apply everything in one transaction; commit;
 * then Redis.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "fsafe.h"
#include "dump.h"
#include "out.h"
#include "progress.h"
#include "restore_int.h"

static void rts_init(struct rctx *c)
{
	c->rts = calloc((size_t)c->s.ntables + 1, sizeof *c->rts);
	if (!c->rts)
		err(EX_SOFTWARE, "out of memory");
	for (int i = 0; i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		struct pg_table *t = &c->s.tables[i];
		size_t n = (size_t)t->ncols + 1;
		char *name = PQescapeIdentifier(c->conn, t->name, strlen(t->name));
		rt->t = t;
		rt->qname = pg_qualified(c->conn, &c->s, t->name);
		rt->own = pg_rows_from(c->conn, &c->s, t);
		if (!name || asprintf(&rt->tmp, "pg_temp.%s", name) < 0)
			err(EX_SOFTWARE, "out of memory");
		PQfreemem(name);
		rt->group = restore_group(&c->s, t->name);
		rt->selected = !(c->opt->skip & rt->group);
		rt->defaults = calloc(n, sizeof *rt->defaults);
		rt->absent_ever = calloc(n, sizeof *rt->absent_ever);
		rt->vals = calloc(n, sizeof *rt->vals);
		rt->present = calloc(n, sizeof *rt->present);
		rt->as_text = calloc(n, sizeof *rt->as_text);
		rt->via = calloc(n, sizeof *rt->via);
		rt->vcols = calloc(n, sizeof *rt->vcols);
		if (!rt->defaults || !rt->absent_ever || !rt->vals || !rt->present || !rt->as_text ||
		    !rt->via || !rt->vcols)
			err(EX_SOFTWARE, "out of memory");
		for (int j = 0; j < t->ncols; j++) {
			rt->vcols[j] = value_col_of_type(t->cols[j].type);
			rt->vcols[j].kind = t->cols[j].kind; /* the catalog's word (domains, enums) */
			if (t->cols[j].kind != COL_NUMBER)
				rt->vcols[j].int_bits = 0;
		}
	}
}

static void rts_free(struct rctx *c)
{
	for (int i = 0; c->rts && i < c->s.ntables; i++) {
		struct rtable *rt = &c->rts[i];
		for (int j = 0; j < rt->t->ncols; j++) {
			free(rt->defaults[j]);
			free(rt->via[j]);
			buf_free(&rt->vals[j]);
		}
		for (int u = 0; u < rt->nuniq; u++)
			free(rt->uniq[u].cols);
		for (int u = 0; u < rt->nunknown; u++)
			free(rt->unknown[u].name);
		free(rt->unknown);
		free(rt->uniq);
		free(rt->pk.cols);
		free(rt->defaults);
		free(rt->absent_ever);
		free(rt->vals);
		free(rt->present);
		free(rt->as_text);
		free(rt->via);
		free(rt->vcols);
		for (int k = 0; k < rt->nreadd; k++)
			free(rt->readd[k]);
		free(rt->readd);
		for (int k = 0; k < rt->nrebuild; k++)
			free(rt->rebuild[k]);
		free(rt->rebuild);
		free(rt->qname);
		free(rt->own);
		free(rt->tmp);
		buf_free(&rt->pending);
	}
	free(c->rts);
	cJSON_Delete(c->accepted);
	buf_free(&c->scratch);
	free(c->activity_since);
	triggers_free(c);
	if (c->redis_values)
		fclose(c->redis_values);
	if (c->redis_ttls)
		fclose(c->redis_ttls);
}

/* Pass one: verify the backup while its rows go into the temporary tables. */
static int load(struct rctx *c, struct verify_result *res)
{
	struct verify_sink sink = load_sink_ops;
	sink.ud = c;
	if (c->opt->skip & GROUP_REDIS)
		sink.redis = NULL;
	c->res = res;
	int rc = verify_backup(c->opt->path, &sink, res);
	if (!rc)
		rc = load_finish(c);
	if (!rc && c->error[0])
		rc = EX_DATAERR; /* refused by the sink on the way, the walk went on */
	if (rc == EX_DATAERR || rc == EX_NOINPUT || rc == EX_IOERR) {
		const char *why = res->error[0] ? res->error : c->error;
		if (*why)
			warnx("%s: %s", ESC(c->opt->path), ESC(why));
		if (rc == EX_DATAERR)
			warnx("the backup was not restored: nothing has been changed");
	}
	return rc;
}

static void print_counts(struct rctx *c)
{
	for (int i = 0; i < c->s.ntables; i++)
		if (rt_restored(&c->rts[i]))
			fprintf(stderr, "  %-24s %lld rows\n", c->rts[i].t->name, c->rts[i].rows);
}

/* --clean: what goes (in a dry run, what would), and what stays because
 * the backup could not have held it. */
static void print_clean(struct rctx *c)
{
	if (c->activity_since && strcmp(c->activity_since, "infinity"))
		fprintf(stderr,
			"bk-restore: --clean keeps UserActivity rows older than %s: the backup "
			"holds only its window of UserActivity\n",
			c->activity_since);
	else if (c->activity_since)
		fprintf(stderr, "bk-restore: --clean keeps every UserActivity row: the backup holds none\n");
	if (!c->opt->dry_run)
		return;
	fprintf(stderr, "bk-restore: --clean would delete these live rows that the backup does not hold:\n");
	for (int i = 0; i < c->s.ntables; i++)
		if (rt_restored(&c->rts[i]) && c->rts[i].deleted)
			fprintf(stderr, "  %-24s %lld rows\n", c->rts[i].t->name, c->rts[i].deleted);
}

/* On a terminal the operator types the backup's id (bk-restore(1)). */
static int confirm(struct rctx *c, const char *id)
{
	if (!isatty(STDIN_FILENO)) {
		warnx("refusing to restore without confirmation: standard input is not a terminal "
		      "(use --yes to confirm)");
		return EX_NOPERM;
	}
	progress_clear();
	fprintf(stderr, "bk-restore: about to restore %s into database \"%s\":\n", id, PQdb(c->conn));
	print_counts(c);
	fprintf(stderr,
		"Rows of the backup replace the live rows with the same keys%s.\n"
		"Type the backup id to go on: ",
		c->opt->clean ? "; rows the backup lacks are DELETED from these tables" : "");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	bool ok = n > 0 && !strcmp(line, id);
	free(line);
	if (!ok)
		warnx("not confirmed: nothing has been changed");
	return ok ? 0 : EX_NOPERM;
}

static int safety_backup(struct rctx *c, char **id)
{
	struct dump_options d = {
		.dir = c->opt->dir,
		.no_redis = c->opt->skip & GROUP_REDIS,
		.id_prefix = "full",
	};
	cJSON *meta = NULL;
	int rc = out_compress_config(NULL, &d.zlevel); /* $BK_COMPRESS, like bk-dump */
	if (!rc)
		rc = dump_full(&d, &meta);
	if (rc) {
		warnx("the safety backup failed: nothing has been changed");
		return rc;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, "id");
	*id = strdup(cJSON_IsString(v) ? v->valuestring : "?");
	fprintf(stderr, "bk-restore: safety backup %s taken\n", *id);
	cJSON_Delete(meta);
	return 0;
}

static cJSON *summary(struct rctx *c, const struct verify_result *res, const char *safety,
		      long long redis_keys, long long migrations)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "backup", res->id ? res->id : "");
	cJSON_AddStringToObject(o, "type", res->type ? res->type : "");
	cJSON_AddBoolToObject(o, "dryRun", c->opt->dry_run);
	cJSON_AddBoolToObject(o, "clean", c->opt->clean);
	cJSON *tables = cJSON_AddObjectToObject(o, "tables");
	for (int i = 0; i < c->s.ntables; i++)
		if (rt_restored(&c->rts[i]))
			cJSON_AddNumberToObject(tables, c->rts[i].t->name, (double)c->rts[i].rows);
	/* the tables that were empty and took their rows straight, unstaged */
	cJSON *fast = cJSON_AddArrayToObject(o, "copiedStraight");
	for (int i = 0; i < c->s.ntables; i++)
		if (rt_restored(&c->rts[i]) && c->rts[i].fast_rows)
			cJSON_AddItemToArray(fast, cJSON_CreateString(c->rts[i].t->name));
	if (c->opt->clean) {
		cJSON *deleted = cJSON_AddObjectToObject(o, "deleted");
		for (int i = 0; i < c->s.ntables; i++)
			if (rt_restored(&c->rts[i]))
				cJSON_AddNumberToObject(deleted, c->rts[i].t->name,
							(double)c->rts[i].deleted);
	}
	cJSON *skipped = cJSON_AddArrayToObject(o, "skipped");
	for (unsigned b = 1; b & GROUP_SKIPPABLE; b <<= 1)
		if (c->opt->skip & b)
			cJSON_AddItemToArray(skipped, cJSON_CreateString(group_name(b)));
	cJSON_AddNumberToObject(o, "redisKeys", (double)redis_keys);
	cJSON_AddItemToObject(o, "acceptedLosses",
			      c->accepted ? cJSON_Duplicate(c->accepted, true) : cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "prismaMigrations", (double)migrations);
	if (safety)
		cJSON_AddStringToObject(o, "safetyBackup", safety);
	else
		cJSON_AddNullToObject(o, "safetyBackup");
	return o;
}

/* Everything up to the commit; the caller rolls back unless this returns 0. */
static int restore_db(struct rctx *c, struct verify_result *res, char **safety, long long *migrations)
{
	/* temp_buffers can only change before the session's first temporary table */
	int rc = pg_command(c->conn, "SET temp_buffers = '1GB'");
	/* rows that row-level security would hide make a statement fail, rather
	 * than a table look empty or a merge miss them (as bk-dump reads) */
	if (!rc)
		rc = pg_command(c->conn, "SET row_security = off");
	if (!rc)
		rc = pg_command(c->conn, "BEGIN");
	if (!rc)
		rc = pg_schema_load(c->conn, &c->s);
	if (!rc) {
		rts_init(c);
		rc = plan_catalog(c);
	}
	if (!rc)
		rc = check_row_security(c);
	if (!rc)
		rc = triggers_off(c);
	if (!rc)
		rc = load(c, res);
	if (!rc && c->opt->clean && !strcmp(res->type, "raffle")) {
		warnx("--clean applies to full backups: a raffle backup holds one raffle, not the whole "
		      "table (restore it without --clean)");
		rc = EX_USAGE;
	}
	if (!rc)
		rc = check_losses(c);
	if (!rc && !strcmp(res->type, "raffle")) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(res->meta, "raffleId");
		rc = plan_check_raffle(c, cJSON_IsString(id) ? id->valuestring : NULL);
	}
	if (!rc && c->opt->clean)
		rc = plan_clean_scope(c, res->meta);
	if (!rc && c->opt->clean)
		rc = plan_check_clean(c);
	if (!rc && c->opt->clean && c->opt->dry_run)
		rc = plan_count_clean(c);
	if (!rc && !(c->opt->skip & GROUP_REDIS))
		rc = redis_check(c); /* before anything commits: Redis cannot roll back */
	if (!rc && c->opt->clean)
		print_clean(c);
	if (rc || c->opt->dry_run)
		return rc;
	if (!c->opt->yes)
		rc = confirm(c, res->id);
	if (!rc && !c->opt->no_safety_backup)
		rc = safety_backup(c, safety);
	if (!rc)
		rc = plan_apply(c);
	if (!rc)
		rc = load_restore_fkeys(c);
	if (!rc)
		rc = triggers_on(c);
	if (!rc)
		rc = plan_sequences(c);
	if (!rc)
		rc = plan_migrations(c, migrations);
	if (!rc)
		rc = pg_command(c->conn, "COMMIT");
	return rc;
}

int restore_run(const struct restore_options *opt, cJSON **out)
{
	struct rctx c = { .opt = opt };
	struct verify_result res = { 0 };
	char *safety = NULL;
	long long redis_keys = 0, migrations = 0;
	bool committed = false;
	*out = NULL;
	int rc = pg_connect(&c.conn);
	if (!rc) {
		rc = restore_db(&c, &res, &safety, &migrations);
		committed = !rc && !opt->dry_run;
		if (rc || opt->dry_run) {
			PGresult *r = PQexec(c.conn, "ROLLBACK");
			PQclear(r);
		}
	}
	if (!rc && opt->dry_run)
		redis_keys = opt->skip & GROUP_REDIS ? 0 : res.redis_keys;
	else if (!rc && !(opt->skip & GROUP_REDIS)) {
		rc = redis_apply(&c, &redis_keys);
		if (rc)
			warnx("the database has been restored and committed, but Redis has not been "
			      "(%lld keys set): run the same restore again once Redis is back",
			      redis_keys);
	}
	if (!rc || committed)
		*out = summary(&c, &res, safety, redis_keys, migrations);
	rts_free(&c);
	pg_schema_free(&c.s);
	PQfinish(c.conn);
	verify_result_free(&res);
	free(safety);
	return rc;
}
