/*
 * What bk-verify refuses beyond the structure of a backup, so that a
 * backup it calls whole is one bk-restore can restore: member names with
 * NUL, members twice, values their column's type cannot hold (when the
 * backup carries its schema). Used by verify.c's walk only.
 */
#ifndef BK_VERIFY_CHECK_H
#define BK_VERIFY_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "value.h"

/*
 * The member names of one object, to find one given twice: a row's few
 * columns through a 64-bit filter and a look along the names when it says
 * "maybe"; past KEYSET_INDEX_FROM names (data's tables, Redis keys: any
 * number) through a hash index, so that n names cost O(n), not O(n^2).
 */
#define KEYSET_INDEX_FROM 16
struct keyset {
	uint64_t bits;
	struct buf names; /* NUL-separated */
	size_t count;
	size_t *index;	  /* offset + 1 of a name in names, or 0; open addressing */
	size_t index_cap; /* a power of two, or 0 while there are few names */
};
void keyset_clear(struct keyset *k);
/* false when name was already in the set */
bool keyset_add(struct keyset *k, const char *name, size_t n);
void keyset_free(struct keyset *k);

/* Whether compact JSON text (from jsonr_capture) holds a \u0000 escape. */
bool json_text_holds_nul(const char *text, size_t n);

/* The name of a member given twice in an object anywhere inside v, or NULL. */
const char *json_duplicate_member(const cJSON *v);

/* The column types of a backup's schema member, by table key. */
struct vtable {
	char *key;
	int ncols;
	char **names;
	struct value_col *cols;
	bool *not_null;
};
struct vschema {
	int ntables;
	struct vtable *tables;
};

/*
 * Reads the schema member: "tables" an object (table name → table) or an
 * array of tables with "name"; each table's "columns" an array of
 * {"name","type","nullable"|"notNull"} or an object name → {"type",...}.
 * Table names become keys through metadata.tables when it names them.
 */
void vschema_load(struct vschema *s, const cJSON *schema, const cJSON *meta);
void vschema_free(struct vschema *s);
const struct vtable *vschema_table(const struct vschema *s, const char *key);
/* The index of name among n names, or -1; *guess (the index after the
 * last hit) makes rows that keep the column order cost one comparison. */
int column_index(char *const *names, int n, const char *name, int *guess);
/* column_index over the table's column names. */
int vtable_column(const struct vtable *t, const char *name, int *guess);

#endif
