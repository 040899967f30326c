/* bk-drill's table checksum (tools/bk-drill/digest.c), linked in by the
 * Makefile: what counts (every value, exactly) and what does not (spacing,
 * escapes, the order of the rows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk-drill/drill.h"

#include "check.h"

static char dir[] = "/tmp/bk-drill-test.XXXXXX";

/* The checksum of data.tickets of a backup whose tickets are rows (JSON
 * array text); rows gets their number. "" when the backup does not verify. */
static const char *sum_of(const char *rows, long long *n, char *hex)
{
	char path[256];
	snprintf(path, sizeof path, "%s/b.json", dir);
	FILE *f = fopen(path, "w");
	fprintf(f,
		"{\"metadata\":{\"id\":\"full_1\",\"type\":\"full\","
		"\"timestamp\":\"2024-01-01T00:00:00.000Z\"},\n\"data\":{\"tickets\":%s}}",
		rows);
	fclose(f);
	struct digest d = { 0 };
	struct verify_result res = { 0 };
	hex[0] = '\0';
	*n = -1;
	if (digest_backup(path, &d, &res) == 0) {
		const struct dtable *t = digest_find(&d, "tickets");
		if (t) {
			digest_hex(t, hex);
			*n = t->rows;
		}
	}
	digest_free(&d);
	verify_result_free(&res);
	unlink(path);
	return hex;
}

static int same(const char *a, const char *b)
{
	char ha[65], hb[65];
	long long na, nb;
	sum_of(a, &na, ha);
	sum_of(b, &nb, hb);
	return ha[0] && hb[0] && na == nb && !strcmp(ha, hb);
}

static void test_what_does_not_count(void)
{
	const char *base = "[{\"id\":\"A1\",\"n\":9007199254740993,\"j\":{\"k\":[1,true,null]}},"
			   "{\"id\":\"B2\",\"n\":2,\"j\":null}]";
	/* spacing, escapes, and the rows in another order */
	CHECK(same(base, "[ {\"id\":\"B2\", \"n\":2, \"j\":null},\n"
			 "  {\"id\":\"\\u0041\\u0031\", \"n\" : 9007199254740993,"
			 " \"j\":{ \"k\":[ 1 ,true, null ]}} ]"));
	char hex[65];
	long long n;
	CHECK(strlen(sum_of(base, &n, hex)) == 64 && n == 2);
	CHECK(strlen(sum_of("[]", &n, hex)) == 64 && n == 0);
	CHECK(!strcmp(hex, "0000000000000000000000000000000000000000000000000000000000000000"));
}

static void test_what_counts(void)
{
	const char *row = "[{\"id\":\"A1\",\"n\":9007199254740993,\"s\":\"x\"}]";
	CHECK(same(row, row));
	/* a bigint beyond a double's 53 bits: exact */
	CHECK(!same(row, "[{\"id\":\"A1\",\"n\":9007199254740992,\"s\":\"x\"}]"));
	/* a number as written, a string is no number, null is no absent member */
	CHECK(!same("[{\"n\":1.5}]", "[{\"n\":1.50}]"));
	CHECK(!same("[{\"n\":1}]", "[{\"n\":\"1\"}]"));
	CHECK(!same("[{\"n\":null,\"s\":\"x\"}]", "[{\"s\":\"x\"}]"));
	/* which member holds which value */
	CHECK(!same("[{\"a\":\"x\",\"b\":\"y\"}]", "[{\"a\":\"y\",\"b\":\"x\"}]"));
	/* a value cannot move to the next member: lengths are part of it */
	CHECK(!same("[{\"a\":\"xy\",\"b\":\"z\"}]", "[{\"a\":\"x\",\"b\":\"yz\"}]"));
	/* a row twice is not the row once, nor nothing (a sum, not an XOR) */
	CHECK(!same("[{\"a\":1},{\"a\":1}]", "[{\"a\":1}]"));
	CHECK(!same("[{\"a\":1},{\"a\":1}]", "[{\"a\":2},{\"a\":2}]"));
	char hex[65];
	long long n;
	sum_of("[{\"a\":1},{\"a\":1}]", &n, hex);
	CHECK(n == 2 && strcmp(hex, "0000000000000000000000000000000000000000000000000000000000000000"));
	/* text exactly: another Unicode form is another value */
	CHECK(!same("[{\"s\":\"\\u00e9\"}]", "[{\"s\":\"e\\u0301\"}]"));
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_what_does_not_count();
	test_what_counts();
	rmdir(dir);
	return check_done("drill");
}
