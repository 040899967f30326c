#include <stdio.h>
#include <string.h>

#include "jsonr.h"
#include "timefmt.h"
#include "value.h"

struct value_col value_col_of_type(const char *type)
{
	struct value_col c = { .kind = COL_STRING };
	size_t n = strlen(type);
	if (n > 2 && !strcmp(type + n - 2, "[]"))
		c.kind = COL_ARRAY;
	else if (!strcmp(type, "smallint"))
		c = (struct value_col){ COL_NUMBER, 16 };
	else if (!strcmp(type, "integer"))
		c = (struct value_col){ COL_NUMBER, 32 };
	else if (!strcmp(type, "bigint"))
		c = (struct value_col){ COL_NUMBER, 64 };
	else if (!strncmp(type, "numeric", 7) || !strcmp(type, "real") || !strcmp(type, "double precision"))
		c.kind = COL_FLOAT;
	else if (!strcmp(type, "boolean"))
		c.kind = COL_BOOL;
	else if (!strncmp(type, "timestamp", 9))
		c.kind = strstr(type, "with time zone") && !strstr(type, "without") ? COL_TIMESTAMPTZ
										    : COL_TIMESTAMP;
	else if (!strcmp(type, "json") || !strcmp(type, "jsonb"))
		c.kind = COL_JSON;
	return c;
}

/* A whole number within bits: the digits compared as text, never through a double. */
static bool int_in_range(const char *s, size_t n, int bits)
{
	static const char *const max[] = { "32767", "2147483647", "9223372036854775807" };
	static const char *const min[] = { "32768", "2147483648", "9223372036854775808" };
	int b = bits == 16 ? 0 : bits == 32 ? 1 : 2;
	bool neg = n && *s == '-';
	s += neg;
	n -= neg;
	while (n > 1 && *s == '0')
		s++, n--;
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	const char *lim = neg ? min[b] : max[b];
	size_t ln = strlen(lim);
	return n < ln || (n == ln && memcmp(s, lim, n) <= 0);
}

bool value_impossible_date(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-dd";
	for (size_t i = 0; i < 10; i++)
		if (i >= n || (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != '-'))
			return false;
	char midnight[20];
	struct iso_time t;
	snprintf(midnight, sizeof midnight, "%.10sT00:00:00", s);
	return parse_iso(midnight, 19, &t) < 0;
}

static const char *tok_kind(int t)
{
	switch (t) {
	case JSONR_STRING: return "a string";
	case JSONR_NUMBER: return "a number";
	case JSONR_TRUE:
	case JSONR_FALSE: return "a boolean";
	case JSONR_ARRAY: return "an array";
	case JSONR_OBJECT: return "an object";
	default: return "a value";
	}
}

static const char *kind_name(struct value_col c)
{
	switch (c.kind) {
	case COL_NUMBER:
		return c.int_bits == 16	  ? "smallint"
		       : c.int_bits == 32 ? "integer"
		       : c.int_bits == 64 ? "bigint"
					  : "number";
	case COL_FLOAT: return "number";
	case COL_BOOL: return "boolean";
	case COL_TIMESTAMP:
	case COL_TIMESTAMPTZ: return "timestamp";
	case COL_ARRAY: return "array";
	case COL_JSON: return "json";
	default: return "text";
	}
}

int value_fits(struct value_col col, int first, const char *text, size_t len, char *why, size_t whylen)
{
	bool ok = true;
	if (first == JSONR_NULL || col.kind == COL_JSON)
		return 0;
	switch (col.kind) {
	case COL_NUMBER:
		ok = first == JSONR_NUMBER || first == JSONR_STRING;
		if (ok && col.int_bits && !int_in_range(text, len, col.int_bits)) {
			snprintf(why, whylen, "%.*s%s is not a whole number within %s's range",
				 (int)(len > 40 ? 40 : len), text, len > 40 ? "..." : "", kind_name(col));
			return -1;
		}
		break;
	case COL_FLOAT: ok = first == JSONR_NUMBER || first == JSONR_STRING; break;
	case COL_BOOL: ok = first == JSONR_TRUE || first == JSONR_FALSE || first == JSONR_STRING; break;
	case COL_TIMESTAMP:
	case COL_TIMESTAMPTZ:
		ok = first == JSONR_STRING;
		if (ok && value_impossible_date(text, len)) {
			snprintf(why, whylen, "\"%.*s\" is not a date that exists",
				 (int)(len > 40 ? 40 : len), text);
			return -1;
		}
		break;
	case COL_ARRAY: ok = first == JSONR_ARRAY || first == JSONR_STRING; break;
	default: ok = first != JSONR_ARRAY && first != JSONR_OBJECT;
	}
	if (!ok)
		snprintf(why, whylen, "%s in a %s column", tok_kind(first), kind_name(col));
	return ok ? 0 : -1;
}
