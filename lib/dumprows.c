/*
 * Reading a table's rows in the backup's snapshot: counted, then streamed
 * from COPY text into JSON objects. A large table is read in two halves at
 * once, over a second connection on the same snapshot: the server's COPY,
 * not the conversion, bounds a backup, and one server process uses one core.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "config.h"
#include "copyjson.h"
#include "copyread.h"
#include "dump.h"
#include "profile.h"
#include "progress.h"
#include "xalloc.h"

/* What reading table t failed of: 77 when it is this role's permissions
 * (no SELECT grant; row-level security that would hide rows). */
static int table_fail(PGconn *conn, PGresult *r, const struct pg_table *t)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int rc = pg_fail(conn, t->name);
	return state && !strcmp(state, "42501") ? EX_NOPERM : rc;
}

/* The table's columns, quoted, comma-separated. */
static void add_columns(PGconn *conn, const struct pg_table *t, struct buf *sql)
{
	for (int i = 0; i < t->ncols; i++) {
		char *col = PQescapeIdentifier(conn, t->cols[i].name, strlen(t->cols[i].name));
		if (i)
			buf_addc(sql, ',');
		buf_adds(sql, col);
		PQfreemem(col);
	}
}

static char *select_sql(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *what,
			const char *where)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "SELECT ");
	if (what)
		buf_adds(&sql, what);
	else
		add_columns(conn, t, &sql);
	char *from = pg_rows_from(conn, s, t);
	buf_adds(&sql, " FROM ");
	buf_adds(&sql, from);
	free(from);
	if (where) {
		buf_adds(&sql, " WHERE ");
		buf_adds(&sql, where);
	}
	buf_cstr(&sql);
	return sql.data;
}

/*
 * COPY of the rows: of the table itself when all its rows are wanted (the
 * server's cheapest path, as pg_dump takes, and its own rows only), of a
 * query otherwise.
 */
static char *copy_sql(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *where)
{
	struct buf sql = { 0 };
	buf_adds(&sql, "COPY ");
	if (where || t->partitioned) {
		char *select = select_sql(conn, s, t, NULL, where);
		buf_addc(&sql, '(');
		buf_adds(&sql, select);
		buf_addc(&sql, ')');
		free(select);
	} else {
		char *table = pg_qualified(conn, s, t->name);
		buf_adds(&sql, table);
		free(table);
		buf_adds(&sql, " (");
		add_columns(conn, t, &sql);
		buf_addc(&sql, ')');
	}
	buf_adds(&sql, " TO STDOUT");
	buf_cstr(&sql);
	return sql.data;
}

int dump_count(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *where,
	       long long *rows)
{
	char *sql = select_sql(conn, s, t, "count(*)", where);
	double since = prof_now();
	PGresult *r = PQexec(conn, sql);
	prof_add(PROF_COUNT, since);
	free(sql);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : table_fail(conn, r, t);
	if (!rc)
		*rows = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

/* Called with each row as a JSON object; rows counts the rows before it. */
typedef void row_fn(void *ctx, struct buf *json, long long rows);

/* One COPY being read: of the whole table, or of one half of it. */
struct source {
	PGconn *conn;
	char *sql;
	struct copy_reader *reader; /* once its COPY has started */
	bool done;		    /* its last chunk has been converted */
};

/*
 * Tables of at least this many blocks (8 kB each: 32 MB) are read in two
 * halves. BK_TEST_SPLIT_BLOCKS lowers it, so that the tests split small
 * tables too.
 */
#define SPLIT_BLOCKS 4096

/*
 * The second connection, in a transaction on this one's snapshot, the
 * settings pg_connect gives every session and row_security off as in
 * dump_snapshot. NULL (after a warning) if it cannot be had: the table is
 * then read in one piece.
 */
static PGconn *helper_open(PGconn *conn)
{
	PGresult *r = PQexec(conn, "SELECT pg_export_snapshot()");
	PGconn *helper = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && pg_connect(&helper) == 0) {
		const char *id = PQgetvalue(r, 0, 0);
		char *lit = PQescapeLiteral(helper, id, strlen(id));
		char *sql =
			xasprintf("SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
				  "SET TRANSACTION SNAPSHOT %s",
				  lit ? lit : "''");
		if (pg_command(helper, sql)) {
			PQfinish(helper);
			helper = NULL;
		}
		PQfreemem(lit);
		free(sql);
	}
	PQclear(r);
	if (!helper)
		warnx("no second connection: the backup goes on, reading each table over one connection "
		      "only");
	return helper;
}

/*
 * The helper's own lock on t, NOWAIT: this connection holds t already, so
 * the only thing that can stand in the way is a migration queued behind
 * it, and the helper waiting on that migration while the backup waits on
 * the helper would never end (pg_dump -j's workers lock NOWAIT for the
 * same reason). Refused, t is read in one piece; the savepoint keeps the
 * helper's transaction usable for the next table.
 */
static bool helper_lock(PGconn *helper, const struct pg_schema *s, const struct pg_table *t)
{
	char *name = pg_qualified(helper, s, t->name);
	char *sql = xasprintf("SAVEPOINT bk_split; LOCK TABLE ONLY %s IN ACCESS SHARE MODE NOWAIT; "
			      "RELEASE SAVEPOINT bk_split",
			      name);
	PGresult *r = PQexec(helper, sql);
	bool locked = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!locked) {
		r = PQexec(helper, "ROLLBACK TO SAVEPOINT bk_split; RELEASE SAVEPOINT bk_split");
		PQclear(r);
	}
	free(sql);
	free(name);
	return locked;
}

void dump_pair_close(struct dump_pair *pair)
{
	if (pair && pair->helper)
		PQfinish(pair->helper);
	if (pair)
		*pair = (struct dump_pair){ 0 };
}

/*
 * Where to cut t: half its blocks when it is large enough, the server can
 * scan a range of blocks (PostgreSQL 14's TID range scan) and a second
 * connection is had; else 0, one piece. A partitioned table's rows are its
 * partitions', which have no single range of blocks.
 */
static long split_at(PGconn *conn, struct dump_pair *pair, const struct pg_schema *s,
		     const struct pg_table *t)
{
	if (!pair || t->partitioned || PQserverVersion(conn) < 140000)
		return 0;
	char *name = pg_qualified(conn, s, t->name);
	const char *params[] = { name };
	PGresult *r = PQexecParams(
		conn, "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint", 1,
		NULL, params, NULL, NULL, 0);
	free(name);
	long blocks = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	if (blocks < config_test_knob("BK_TEST_SPLIT_BLOCKS", SPLIT_BLOCKS, 2, SPLIT_BLOCKS))
		return 0;
	if (!pair->tried) {
		pair->tried = true;
		pair->helper = helper_open(conn);
	}
	return pair->helper && helper_lock(pair->helper, s, t) ? blocks / 2 : 0;
}

/*
 * The COPY of each source. Cut at block `at`, the first half is read here
 * and the rest over the helper: every row version lives in one block, so
 * each row visible in the snapshot is in exactly one half.
 */
static int sources(PGconn *conn, struct dump_pair *pair, const struct pg_schema *s, const struct pg_table *t,
		   const char *where, struct source *src)
{
	long at = split_at(conn, pair, s, t);
	src[0] = (struct source){ .conn = conn };
	if (!at) {
		src[0].sql = copy_sql(conn, s, t, where);
		return 1;
	}
	src[1] = (struct source){ .conn = pair->helper };
	for (int i = 0; i < 2; i++) {
		char *cond = xasprintf("ctid %s '(%ld,0)'::tid%s%s%s", i ? ">=" : "<", at,
				       where ? " AND (" : "", where ? where : "", where ? ")" : "");
		src[i].sql = copy_sql(conn, s, t, cond);
		free(cond);
	}
	prof_note_split();
	return 2;
}

static int source_start(struct source *src, const struct pg_table *t)
{
	PGresult *res = PQexec(src->conn, src->sql);
	int rc = PQresultStatus(res) == PGRES_COPY_OUT ? 0 : table_fail(src->conn, res, t);
	PQclear(res);
	if (!rc && copy_reader_start(src->conn, &src->reader) < 0) {
		warnx("%s: cannot start a thread to read the rows", t->name);
		rc = EX_OSERR;
	}
	return rc;
}

/* Waits for the rest of a started COPY and its result; 0 if it ended well. */
static int source_finish(struct source *src, const struct pg_table *t)
{
	int rc = 0;
	if (src->reader) {
		int n = copy_reader_finish(src->reader);
		PGresult *r = PQgetResult(src->conn);
		if (n == -2 || PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = pg_fail(src->conn, t->name);
		PQclear(r);
		while ((r = PQgetResult(src->conn)))
			PQclear(r);
	}
	free(src->sql);
	return rc;
}

/* The rows of one chunk of COPY text, each to fn. */
static int convert_chunk(const struct pg_table *t, const struct buf *chunk, row_fn *fn, void *ctx,
			 long long *rows, struct buf *row, struct buf *scratch, int rc)
{
	const char *line = chunk->data, *end = chunk->data + chunk->len, *nl;
	for (; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line)); /* COPY text escapes newlines in data */
		row->len = 0;
		if (!rc && copyjson_row(t, line, (size_t)(nl - line), row, scratch) < 0) {
			warnx("%s: row %lld does not match the table's columns", t->name, *rows + 1);
			rc = EX_SOFTWARE;
		}
		fn(ctx, row, (*rows)++);
	}
	return rc;
}

/*
 * Converts the sources' chunks taking one from each in turn, so that the
 * same table gives the same bytes every time; each reader keeps its own
 * server busy a few chunks ahead meanwhile.
 */
static int convert_sources(const struct pg_table *t, struct source *src, int n, row_fn *fn, void *ctx,
			   long long *rows)
{
	struct buf row = { 0 }, scratch = { 0 };
	int rc = 0;
	for (int i = 0, live = n; live > 0; i = (i + 1) % n) {
		if (src[i].done)
			continue;
		const struct buf *chunk = copy_reader_next(src[i].reader);
		if (!chunk) {
			src[i].done = true;
			live--;
			continue;
		}
		double since = prof_now();
		rc = convert_chunk(t, chunk, fn, ctx, rows, &row, &scratch, rc);
		prof_add(PROF_CONVERT, since);
	}
	buf_free(&row);
	buf_free(&scratch);
	return rc;
}

static int copy_rows(PGconn *conn, struct dump_pair *pair, const struct pg_schema *s,
		     const struct pg_table *t, const char *where, row_fn *fn, void *ctx, long long *rows)
{
	struct source src[2];
	int n = sources(conn, pair, s, t, where, src), rc = 0;
	*rows = 0;
	for (int i = 0; i < n && !rc; i++)
		rc = source_start(&src[i], t);
	if (!rc)
		rc = convert_sources(t, src, n, fn, ctx, rows);
	for (int i = 0; i < n; i++) {
		int e = source_finish(&src[i], t);
		rc = rc ? rc : e;
	}
	return rc;
}

/* Rows go one to a line: "\n{...},\n{...}" */
static void row_to_out(void *ctx, struct buf *json, long long before)
{
	struct out *out = ctx;
	out_write(out, before ? ",\n" : "\n", before ? 2 : 1);
	out_buf(out, json);
	progress_update(before + 1, out->bytes);
}

int dump_rows(PGconn *conn, struct dump_pair *pair, const struct pg_schema *s, const struct pg_table *t,
	      const char *where, struct out *out, long long *rows)
{
	return copy_rows(conn, pair, s, t, where, row_to_out, out, rows);
}

static void first_to_buf(void *ctx, struct buf *json, long long before)
{
	if (!before)
		buf_add(ctx, json->data, json->len);
}

int dump_first_row(PGconn *conn, const struct pg_schema *s, const struct pg_table *t, const char *where,
		   struct buf *json, long long *rows)
{
	json->len = 0;
	return copy_rows(conn, NULL, s, t, where, first_to_buf, json, rows);
}
