/* bk-restore's insides, shared by its passes (restore*.c) and fuzz_jsonr. */
#ifndef BK_RESTORE_INT_H
#define BK_RESTORE_INT_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "jsonr.h"
#include "pg.h"
#include "restore.h"
#include "value.h"
#include "verify.h"

struct ukey { /* a unique key: column indexes */
	int n;
	int *cols;
};

/* A member of the backup's rows that is not a column of the live table. */
struct unknown_member {
	char *name;
	bool value;  /* some row holds a value there (not null, not empty) */
	bool scalar; /* ... and one that is no nested relation (objects) */
};

/* One live table and what the backup holds for it. */
struct rtable {
	struct pg_table *t;
	char *qname; /* "schema"."Table" */
	char *own;   /* its own rows: "ONLY schema.Table" (pg_rows_from) */
	char *tmp;   /* pg_temp."Table": same name, so errors name the table */
	unsigned group;
	bool selected;		 /* its group is being restored */
	bool in_backup;		 /* the backup has rows (maybe zero) for it */
	bool nested;		 /* in a raffle backup, beside the raffle row */
	long long rows;		 /* rows loaded into tmp */
	long long applied;	 /* rows inserted or updated */
	long long deleted;	 /* --clean: rows deleted, or that would be (--dry-run) */
	char **defaults;	 /* per column: default expression, or NULL */
	struct value_col *vcols; /* per column: what value_fits checks */
	bool *absent_ever;	 /* per column: some row lacked it */
	struct ukey pk;		 /* n == 0: no primary key */
	int nuniq;
	struct ukey *uniq; /* other unique keys */
	/* the row being read */
	struct buf *vals;
	bool *present;
	struct buf pending; /* COPY text not yet sent */
	/* The fast path: the live table was empty (under a lock), so rows are
	 * COPYed straight into it; a row lacking a column turns it off. */
	bool fast;
	long long fast_rows; /* rows COPYed straight into the live table */
	/* Its foreign keys, dropped while it loads straight before the tables
	 * they reference: the ALTER TABLE ... ADD CONSTRAINT that puts each back. */
	char **readd;
	int nreadd;
	/* Its indexes (and the key constraints they back), dropped while a big
	 * table loads straight and built once after its rows: what builds each. */
	char **rebuild;
	int nrebuild;
	bool done; /* its rows in the backup have all been read */
	int nunknown;
	struct unknown_member *unknown;
	bool prepared; /* its temporary table exists */
	bool *as_text; /* per column: typed otherwise in the backup, loaded as text */
	char **via;    /* ... and the backup's type it goes through (to_regtype), or NULL */
	int guess;     /* where the next member's column probably is */
};

struct rctx {
	const struct restore_options *opt;
	PGconn *conn;
	struct pg_schema s;
	struct rtable *rts;		 /* parallel to s.tables */
	struct rtable *copying;		 /* whose COPY is open on conn */
	int fast_error;			 /* a failure while choosing the fast path */
	const struct verify_result *res; /* the backup being read: metadata, schema */
	cJSON *accepted;		 /* the losses accepted with --accept-loss, as they happened */
	struct buf scratch;
	char *activity_since;	/* ISO: the oldest UserActivity the backup could hold, or NULL */
	FILE *redis_values;	/* spooled conversations: [len][key][len][value] */
	FILE *redis_ttls;	/* [len][key][ms as text, NUL-terminated] */
	long long unknown_keys; /* keys of the backup that name no table */
	char **retrigger;	/* ALTER TABLE ... ENABLE TRIGGER: what triggers_on runs */
	int nretrigger;
	char error[512];
};

/* Whether the restore gives rt back: its group is selected and the backup has it. */
static inline bool rt_restored(const struct rtable *rt)
{
	return rt->selected && rt->in_backup;
}

/* restore_load.c: the sink that COPYs rows into temporary tables. */

int load_finish(struct rctx *c); /* ends any open COPY */
/* Puts back the foreign keys dropped for the load (once every row is in):
 * each is checked against all the rows at once. */
int load_restore_fkeys(struct rctx *c);
extern const struct verify_sink load_sink_ops;

/* restore_plan.c: catalog, order, and the statements that apply the rows. */
int plan_catalog(struct rctx *c);
int plan_check_clean(struct rctx *c);
int plan_check_raffle(struct rctx *c, const char *raffle_id);
int plan_apply(struct rctx *c);
/* --clean: what the backup could hold (its UserActivity window), then the
 * rows --clean deletes, counted into rt->deleted without deleting them. */
int plan_clean_scope(struct rctx *c, const cJSON *meta);
int plan_count_clean(struct rctx *c);
int plan_fail(struct rctx *c, const char *what);
/* The live table of that name, or NULL. */
struct rtable *rt_named(struct rctx *c, const char *name);
/* prefix and then name as a quoted identifier, appended to b */
void add_ident(struct rctx *c, struct buf *b, const char *prefix, const char *name);
/* The group a table belongs to (GROUP_*), from its name and foreign keys. */
unsigned restore_group(const struct pg_schema *s, const char *table);

/*
 * restore_value.c: one JSON value (first token already read) as a field of COPY text for a
 * column of the given kind, appended to out: strings escaped, numbers as
 * written, timestamps with an offset converted to UTC for columns without
 * a time zone, arrays as array literals, anything into json columns as JSON
 * text, null as \N. Returns 0, or -1 with why in err.
 */
int restore_value(enum col_kind kind, struct jsonr *r, int first, struct buf *out, struct buf *scratch,
		  char *err, size_t errlen);

/* restore_value.c: "2024-12-01T04:00:00.5+02:00" → "2024-12-01 02:00:00.5" for a timestamp
 * column; text that does not start like a date is appended unchanged for
 * PostgreSQL to judge. -1 (nothing appended) for a date that does not
 * exist, whatever its offset: 2024-02-30T10:00:00+01:00. */
int restore_timestamp_utc(const char *s, size_t n, struct buf *out);

/* restore_check.c: what of the backup would not land, refused unless accepted. */
int check_losses(struct rctx *c);
/* restore_triggers.c: the tables' own triggers off while rows are written
 * (77, naming them, on a table this role does not own), then back on. */
int triggers_off(struct rctx *c);
int triggers_on(struct rctx *c);
void triggers_free(struct rctx *c);
/* 77, naming them, when row-level security would hide rows of a selected
 * table from this role (it would look emptier than it is). */
int check_row_security(struct rctx *c);
bool type_changed(const struct rctx *c, const struct rtable *rt, int col);
/* The backup's type of a live column, or NULL when the backup does not say. */
const char *backup_type(const struct rctx *c, const struct rtable *rt, int col);
void note_unknown(struct rtable *rt, const char *key, struct jsonr *r, int first);
int plan_sequences(struct rctx *c);
int plan_migrations(struct rctx *c, long long *rows);

/* restore_redis.c */
int redis_spool(void *ud, const char *key, size_t klen, const char *value, size_t vlen, const char *ttl);
int redis_check(struct rctx *c);
int redis_apply(struct rctx *c, long long *set);

#endif
