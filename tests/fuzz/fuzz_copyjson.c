/*
 * COPY text rows to JSON (lib/copyjson), as bk-dump and bk-raffle convert
 * what PostgreSQL sends. Rows come from the database, so they are well
 * formed in practice, but the converter must never read or write out of
 * bounds whatever the bytes, nor recurse without end on nested arrays.
 *
 * Input: byte 0 → number of columns (1..8); the next bytes one per column
 * → its kind (low 3 bits) and array element kind (next 3 bits); the rest is
 * one row of COPY text (tabs between fields).
 *
 * For text, boolean and text[] columns the output must also be valid JSON
 * whenever the row is valid UTF-8 without octal or hex escapes (which can
 * make any byte, as PostgreSQL never would in a UTF-8 database).
 */
#include "fuzz_util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copyjson.h"
#include "jsonr.h"

static bool safe_kind(enum col_kind k)
{
	return k == COL_STRING || k == COL_BOOL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int ncols = 1 + data[0] % 8;
	if (size < (size_t)ncols + 1)
		return 0;
	struct pg_column cols[8];
	char names[8][8];
	bool oracle = true;
	for (int i = 0; i < ncols; i++) {
		snprintf(names[i], sizeof names[i], "\"c%d\":", i);
		cols[i] = (struct pg_column){
			.name = names[i] + 1,
			.type = "fuzz",
			.kind = (enum col_kind)(data[1 + i] & 7),
			.elem_kind = (enum col_kind)((data[1 + i] >> 3) & 7),
			.json_key = names[i],
			.json_key_len = strlen(names[i]),
		};
		if (!safe_kind(cols[i].kind) && !(cols[i].kind == COL_ARRAY && safe_kind(cols[i].elem_kind)))
			oracle = false;
	}
	struct pg_table t = { .name = "Fuzz", .key = "fuzzes", .ncols = ncols, .cols = cols };
	const uint8_t *row = data + 1 + ncols;
	size_t len = size - 1 - (size_t)ncols;

	/* an exact-size copy: the converter gets (pointer, length), no NUL */
	char *copy = malloc(len ? len : 1);
	memcpy(copy, row, len);
	struct buf out = { 0 }, scratch = { 0 };
	int rc = copyjson_row(&t, copy, len, &out, &scratch);
	CHECK(rc == 0 || rc == -1);

	if (rc == 0 && oracle) {
		for (size_t i = 0; i + 1 < len && oracle; i++)
			if (copy[i] == '\\' &&
			    ((copy[i + 1] >= '0' && copy[i + 1] <= '7') || copy[i + 1] == 'x'))
				oracle = false;
		if (oracle && utf8_valid((const char *)row, len)) {
			char err[256];
			if (jsonr_validate(out.data, out.len, err, sizeof err) != 0) {
				fprintf(stderr, "invalid JSON (%s): %.*s\n", err, (int)out.len, out.data);
				abort();
			}
		}
	}

	/* the unescaper alone */
	scratch.len = 0;
	copy_unescape(copy, len, &scratch);
	CHECK(scratch.len <= len);

	buf_free(&out);
	buf_free(&scratch);
	free(copy);
	return 0;
}
