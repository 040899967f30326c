/*
 * Whether a backup's value can land in a column: the one check that
 * bk-verify (against the backup's own schema) and bk-restore (against the
 * live one) both make, so that a backup verify calls whole restores.
 */
#ifndef BK_VALUE_H
#define BK_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "pg.h"

/* A column as far as the check needs it. */
struct value_col {
	enum col_kind kind;
	int int_bits; /* 16, 32, 64 for smallint, integer, bigint; 0 otherwise */
};

/* From format_type() text ("bigint", "timestamp(3) without time zone", "text[]"). */
struct value_col value_col_of_type(const char *type);

/*
 * first: the value's first token (JSONR_*), text/len: its text for a
 * scalar. Returns 0, or -1 with why ("a string in a number column", "a
 * number out of bigint's range") in why.
 */
int value_fits(struct value_col col, int first, const char *text, size_t len, char *why, size_t whylen);

/* Whether s starts with a calendar date that does not exist ("2024-02-30..."). */
bool value_impossible_date(const char *s, size_t n);

#endif
