/*
 * COPY text rows to JSON objects, by column type. PostgreSQL sends plain
 * COPY text fastest; building JSON on the server costs about 3x (the README's Benchmark).
 */
#ifndef BK_COPYJSON_H
#define BK_COPYJSON_H

#include <stddef.h>

#include "buf.h"
#include "pg.h"

/*
 * Appends {"column": value, ...} for one COPY text row of t's columns (the
 * row without its newline). scratch is working space kept between calls.
 * Returns 0, or -1 when the row does not hold one field per column.
 */
int copyjson_row(const struct pg_table *t, const char *row, size_t len, struct buf *out, struct buf *scratch);

/* Undoes COPY text escaping (\n, \t, \\, \ooo, \xhh, ...) into out. */
void copy_unescape(const char *s, size_t n, struct buf *out);

/* One value of the given kind, from its unescaped text form, as JSON. */
int copyjson_value(enum col_kind kind, enum col_kind elem_kind, const char *s, size_t n, struct buf *out);

#endif
