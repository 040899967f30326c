/* PostgreSQL: connecting, and what the catalog says about the tables. */
#ifndef BK_PG_H
#define BK_PG_H

#include <stdbool.h>
#include <libpq-fe.h>

/* How a column's COPY text becomes JSON (and back). */
enum col_kind {
	COL_STRING,
	COL_NUMBER,
	COL_FLOAT,
	COL_BOOL,
	COL_TIMESTAMP,
	COL_TIMESTAMPTZ,
	COL_JSON,
	COL_ARRAY
};

struct pg_column {
	char *name;
	char *type; /* format_type(), e.g. "timestamp(3) without time zone" */
	enum col_kind kind;
	enum col_kind elem_kind; /* for COL_ARRAY */
	bool not_null, has_default;
	char *json_key; /* "name": as it goes in every row */
	size_t json_key_len;
};

struct pg_table {
	char *name; /* "SellEvent" */
	char *key;  /* "sellEvents": its name in a backup (bk-backup(5)) */
	int ncols;
	struct pg_column *cols;
	long long rows;	  /* filled by whoever counts them */
	bool partitioned; /* relkind 'p': its rows live in its partitions */
};

struct pg_fkey {
	char *table, *column; /* the referencing side (first column) */
	char *ref_table, *ref_column;
	char on_delete; /* confdeltype: a, r, c, n, d */
	char on_update; /* confupdtype: the same letters */
};

struct pg_schema {
	char *name; /* current_schema() */
	int ntables, nfkeys;
	struct pg_table *tables; /* sorted by name */
	struct pg_fkey *fkeys;
	char *key_error; /* two tables cannot have distinct backup keys, or NULL */
};

/*
 * Connects with $DATABASE_URL. A Prisma-style "?schema=NAME" parameter,
 * which libpq would refuse, is taken off and becomes the search_path.
 * The session speaks UTF-8, ISO dates and UTC. Returns 0, EX_USAGE when
 * DATABASE_URL is unset, or EX_UNAVAILABLE with libpq's reason.
 */
int pg_connect(PGconn **conn);

/*
 * From now on pg_connect connects to database dbname (NULL: the URL's own)
 * on DATABASE_URL's server, with schema (NULL: the URL's ?schema=) as its
 * search_path: how bk-drill points the restore at its scratch database.
 */
void pg_connect_to(const char *dbname, const char *schema);

/* Runs a statement that returns no rows; 0 or EX_UNAVAILABLE after saying why. */
int pg_command(PGconn *conn, const char *sql);

/* Reads every base table of the current schema but _prisma_migrations, with
 * its columns and the foreign keys between them. 0 or EX_UNAVAILABLE. */
int pg_schema_load(PGconn *conn, struct pg_schema *schema);
void pg_schema_free(struct pg_schema *schema);

/* The table whose name (else whose backup key) is name, or NULL. */
struct pg_table *pg_schema_table(const struct pg_schema *schema, const char *name);

/* Says what failed and maps it: connection gone → EX_UNAVAILABLE, else EX_SOFTWARE. */
int pg_fail(PGconn *conn, const char *what);

/* "quoted"."identifiers" for one table of the schema, malloc'd. */
char *pg_qualified(PGconn *conn, const struct pg_schema *schema, const char *table);

/*
 * The tables of the current schema a backup takes, as a condition on
 * pg_class c joined to pg_namespace n: base and partitioned tables, not
 * partitions (their rows are read through their parent). The one spelling
 * of it for the snapshot's locks, the schema and the DDL queries.
 */
#define PG_SCHEMA_TABLES "n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
/* Prisma's own table: locked with the others, but neither data nor schema */
#define PG_NOT_PRISMA "AND c.relname <> '_prisma_migrations' "

/*
 * What to read or change a table's own rows through, malloc'd: "ONLY
 * "schema"."Table"" for a table, so that a parent of inheritance children
 * (which are tables of their own, backed up under their own keys) is not
 * given their rows too, as pg_dump does; the plain name for a
 * partitioned table, whose rows are its partitions'.
 */
char *pg_rows_from(PGconn *conn, const struct pg_schema *schema, const struct pg_table *t);

#endif
