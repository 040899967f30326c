/* bk-restore's value passes (tools/bk-restore/), linked in by the Makefile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk-restore/restore_int.h"
#include "value.h"

#include "check.h"

/* What restore writes into a timestamp column: UTC, the fraction as written. */
static void test_restore_timestamps(void)
{
	const char *cases[][2] = {
		{ "2024-12-01T04:00:00.5+02:00", "2024-12-01 02:00:00.5" },
		{ "2024-12-01T04:00:00.123456+0200", "2024-12-01 02:00:00.123456" },
		{ "2024-12-01T00:00:00-05", "2024-12-01 05:00:00" },
		{ "2024-12-01T02:00:00.000Z", "2024-12-01 02:00:00.000" },
		{ "2024-12-01 02:00:00", "2024-12-01 02:00:00" },
		{ "2024-03-01T00:30:00+01:00", "2024-02-29 23:30:00" },
		{ "infinity", "infinity" },
		{ "2024-12-01", "2024-12-01" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct buf b = { 0 };
		CHECK(restore_timestamp_utc(cases[i][0], strlen(cases[i][0]), &b) == 0);
		CHECK(!strcmp(buf_cstr(&b), cases[i][1]));
		buf_free(&b);
	}
	const char *refused[] = {
		"2024-02-30T10:00:00+01:00",  "2024-02-30T10:00:00Z", "2024-02-30T10:00:00",
		"2024-02-30 10:00:00 +01:00", "2024-02-30",	      "2023-02-29T23:00:00-01:00",
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		struct buf b = { 0 };
		CHECK(restore_timestamp_utc(refused[i], strlen(refused[i]), &b) < 0 && b.len == 0);
		buf_free(&b);
	}
}

/* value_fits: the one check verify and restore make of a value against its column. */
static void test_value_fits(void)
{
	char why[200];
	struct value_col big = value_col_of_type("bigint"), i32 = value_col_of_type("integer");
	CHECK(big.kind == COL_NUMBER && big.int_bits == 64 && i32.int_bits == 32);
	CHECK(value_fits(big, JSONR_NUMBER, "9223372036854775807", 19, why, sizeof why) == 0);
	CHECK(value_fits(big, JSONR_NUMBER, "-9223372036854775808", 20, why, sizeof why) == 0);
	CHECK(value_fits(big, JSONR_NUMBER, "9223372036854775808", 19, why, sizeof why) < 0);
	CHECK(value_fits(big, JSONR_NUMBER, "00000000000000000000001", 23, why, sizeof why) == 0);
	CHECK(value_fits(big, JSONR_NUMBER, "1.5", 3, why, sizeof why) < 0);
	CHECK(value_fits(big, JSONR_NUMBER, "1e3", 3, why, sizeof why) < 0);
	CHECK(value_fits(big, JSONR_STRING, "abc", 3, why, sizeof why) < 0);
	CHECK(value_fits(big, JSONR_OBJECT, "", 0, why, sizeof why) < 0 && strstr(why, "an object"));
	CHECK(value_fits(big, JSONR_TRUE, "", 0, why, sizeof why) < 0);
	CHECK(value_fits(big, JSONR_NULL, "", 0, why, sizeof why) == 0);
	CHECK(value_fits(i32, JSONR_NUMBER, "2147483648", 10, why, sizeof why) < 0);
	struct value_col ts = value_col_of_type("timestamp(3) without time zone");
	CHECK(ts.kind == COL_TIMESTAMP);
	CHECK(value_col_of_type("timestamp with time zone").kind == COL_TIMESTAMPTZ);
	CHECK(value_fits(ts, JSONR_STRING, "2024-02-29T00:00:00Z", 20, why, sizeof why) == 0);
	CHECK(value_fits(ts, JSONR_STRING, "2024-02-30T00:00:00Z", 20, why, sizeof why) < 0);
	CHECK(value_fits(ts, JSONR_NUMBER, "5", 1, why, sizeof why) < 0);
	struct value_col text = value_col_of_type("text"), arr = value_col_of_type("text[]");
	CHECK(value_fits(text, JSONR_NUMBER, "5", 1, why, sizeof why) == 0);
	CHECK(value_fits(text, JSONR_ARRAY, "", 0, why, sizeof why) < 0);
	CHECK(arr.kind == COL_ARRAY && value_fits(arr, JSONR_ARRAY, "", 0, why, sizeof why) == 0);
	CHECK(value_fits(value_col_of_type("jsonb"), JSONR_OBJECT, "", 0, why, sizeof why) == 0);
	CHECK(value_fits(value_col_of_type("boolean"), JSONR_NUMBER, "1", 1, why, sizeof why) < 0);
}

int main(void)
{
	test_restore_timestamps();
	test_value_fits();
	return check_done("restore");
}
