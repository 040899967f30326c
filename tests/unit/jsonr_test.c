/* Unit tests of the streaming JSON reader (lib/jsonr.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonr.h"

#include "check.h"

static void valid(const char *doc)
{
	char err[256] = "";
	CHECKF(jsonr_validate(doc, strlen(doc), err, sizeof err) == 0, "valid: %s (%s)", doc, err);
}

static void invalid(const char *doc, const char *why)
{
	char err[256] = "";
	int rc = jsonr_validate(doc, strlen(doc), err, sizeof err);
	CHECKF(rc < 0, "invalid accepted: %s", doc);
	if (rc < 0 && why)
		CHECKF(strstr(err, why) != NULL, "%s: error '%s' lacks '%s'", doc, err, why);
}

static void test_grammar(void)
{
	valid("{}");
	valid("[]");
	valid(" \n\t{\"a\": [1, -0, 0.5, 1e10, -1.25E-3, true, false, null, \"x\"]}\r\n");
	valid("\"just a string\"");
	valid("12345678901234567890123456789");
	valid("[[[[]]]]");
	valid("{\"a\":{\"b\":{}}}");
	invalid("", "end of input");
	invalid("{", "end of input");
	invalid("{\"a\":1", "truncated");
	invalid("{\"a\" 1}", "':'");
	invalid("{\"a\":1,}", "member name");
	invalid("[1,]", "value");
	invalid("[1 2]", "','");
	invalid("{\"a\":1]", "unexpected");
	invalid("{} {}", "after the end");
	invalid("01", "number");
	invalid("1.", "digits");
	invalid("1e", "digits");
	invalid("-", "number");
	invalid("+1", "value");
	invalid(".5", "value");
	invalid("tru", "literal");
	invalid("nulll", "literal");
	invalid("NaN", "value");
	invalid("{a:1}", "member name");
	invalid("['x']", "value");
}

static void test_strings(void)
{
	valid("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u20AC\"");
	valid("\"\\ud83c\\udf89 party\"");
	valid("\"Zo\xc3\xab \xf0\x9f\x8e\x89 \xe6\x97\xa5\"");
	invalid("\"\\ud83c\"", "surrogate");
	invalid("\"\\udf89\"", "surrogate");
	invalid("\"\\ud83c\\u0041\"", "surrogate");
	invalid("\"\\x41\"", "escape");
	invalid("\"\\u12G4\"", "hex");
	invalid("\"tab\there\"", "control");
	invalid("\"line\nbreak\"", "control");
	invalid("\"\xc3\"", "UTF-8");
	invalid("\"\xc0\xaf\"", "UTF-8");	  /* overlong */
	invalid("\"\xed\xa0\x80\"", "UTF-8");	  /* surrogate in UTF-8 */
	invalid("\"\xf4\x90\x80\x80\"", "UTF-8"); /* beyond U+10FFFF */
	invalid("\"\xff\"", "UTF-8");
	invalid("\"unterminated", "unterminated");

	struct jsonr r;
	const char *doc = "[\"a\\u0000b\", \"\\ud83c\\udf89\", 9007199254740993, -1.50e+3]";
	jsonr_init_mem(&r, doc, strlen(doc));
	CHECKF(jsonr_next(&r) == JSONR_ARRAY, "array");
	CHECKF(jsonr_next(&r) == JSONR_STRING && r.tok.len == 3 && !memcmp(r.tok.data, "a\0b", 3),
	       "NUL kept in a string");
	CHECKF(jsonr_next(&r) == JSONR_STRING && !strcmp(r.tok.data, "\xf0\x9f\x8e\x89"),
	       "surrogate pair decoded: %s", r.tok.data);
	CHECKF(jsonr_next(&r) == JSONR_NUMBER && !strcmp(r.tok.data, "9007199254740993"),
	       "bigint text kept: %s", r.tok.data);
	CHECKF(jsonr_next(&r) == JSONR_NUMBER && !strcmp(r.tok.data, "-1.50e+3"), "number text kept");
	CHECKF(jsonr_next(&r) == JSONR_ARRAY_END, "array end");
	CHECKF(jsonr_next(&r) == JSONR_END, "end");
	CHECKF(jsonr_next(&r) == JSONR_END, "end stays");
	jsonr_free(&r);
}

static void test_skip_capture_peek(void)
{
	struct jsonr r;
	const char *doc = "{\"skip\": {\"x\": [1, {\"y\": \"z\"}]}, \"cap\": {\"k\": [true, null, "
			  "\"q\\\"\"], \"n\": 1.0},"
			  " \"last\": 7}";
	jsonr_init_mem(&r, doc, strlen(doc));
	CHECKF(jsonr_next(&r) == JSONR_OBJECT, "object");
	CHECKF(jsonr_next(&r) == JSONR_KEY && !strcmp(r.tok.data, "skip"), "key skip");
	CHECKF(jsonr_skip(&r, jsonr_next(&r)) == 0, "skip value");
	CHECKF(jsonr_next(&r) == JSONR_KEY && !strcmp(r.tok.data, "cap"), "key cap");
	CHECKF(jsonr_peek(&r) == JSONR_OBJECT, "peek object");
	struct buf out = { 0 };
	CHECKF(jsonr_capture(&r, jsonr_next(&r), &out, 1000) == 0, "capture");
	buf_cstr(&out);
	CHECKF(!strcmp(out.data, "{\"k\":[true,null,\"q\\\"\"],\"n\":1.0}"), "captured %s", out.data);
	CHECKF(jsonr_next(&r) == JSONR_KEY && !strcmp(r.tok.data, "last"), "key last");
	CHECKF(jsonr_peek(&r) == JSONR_NUMBER && jsonr_peek(&r) == JSONR_NUMBER, "peek twice");
	CHECKF(jsonr_next(&r) == JSONR_NUMBER && !strcmp(r.tok.data, "7"), "peeked number");
	CHECKF(jsonr_next(&r) == JSONR_OBJECT_END, "end object");
	CHECKF(jsonr_next(&r) == JSONR_END, "end");
	jsonr_free(&r);
	out.len = 0;
	jsonr_init_mem(&r, "[1,2,3,4,5,6]", 13);
	CHECKF(jsonr_capture(&r, jsonr_next(&r), &out, 4) < 0, "capture limit");
	jsonr_free(&r);
	buf_free(&out);
}

static void test_depth_and_offset(void)
{
	char deep[2 * JSONR_MAX_DEPTH + 10];
	memset(deep, '[', JSONR_MAX_DEPTH + 1);
	memset(deep + JSONR_MAX_DEPTH + 1, ']', JSONR_MAX_DEPTH + 1);
	deep[2 * JSONR_MAX_DEPTH + 2] = '\0';
	invalid(deep, "deeper");
	char err[256];
	jsonr_validate("{\"a\":1,\n \"b\":x}", 16, err, sizeof err);
	CHECKF(!strncmp(err, "byte 13:", 8), "offset in error: %s", err);
}

static size_t fed;
static void count_feed(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	(void)p;
	fed += n;
}

/* A document much larger than the window, with a string longer than it. */
static void test_fd(void)
{
	char path[] = "/tmp/jsonr_test.XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	FILE *f = fdopen(dup(fd), "w");
	fputs("{\"rows\":[", f);
	for (int i = 0; i < 100000; i++)
		fprintf(f, "%s{\"id\":%d,\"big\":18446744073709551615,\"s\":\"\\u00e9t\\u00e9 %d\"}",
			i ? "," : "", i, i);
	fputs("],\"long\":\"", f);
	for (int i = 0; i < 600000; i++)
		fputc('a' + i % 26, f);
	fputs("\"}\n", f);
	long size = ftell(f);
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	struct jsonr r;
	jsonr_init_fd(&r, fd);
	r.feed = count_feed;
	int t, rows = 0, depth = 0;
	size_t longest = 0;
	while ((t = jsonr_next(&r)) > 0) {
		if (t == JSONR_OBJECT && ++depth == 2)
			rows++;
		if (t == JSONR_OBJECT_END)
			depth--;
		if (t == JSONR_STRING && r.tok.len > longest)
			longest = r.tok.len;
	}
	CHECKF(t == JSONR_END, "fd document: %s", jsonr_error(&r));
	CHECKF(rows == 100000, "rows %d", rows);
	CHECKF(longest == 600000, "long string %zu", longest);
	CHECKF(fed == (size_t)size, "fed %zu of %ld", fed, size);
	jsonr_free(&r);

	/* the same file cut short */
	if (ftruncate(fd, size - 2) < 0) /* cut before the closing brace */
		perror("ftruncate");
	lseek(fd, 0, SEEK_SET);
	jsonr_init_fd(&r, fd);
	while ((t = jsonr_next(&r)) > 0)
		;
	CHECKF(t == JSONR_ERROR && strstr(jsonr_error(&r), "end of input"), "truncated fd: %s",
	       jsonr_error(&r));
	jsonr_free(&r);
	close(fd);
}

int main(void)
{
	test_grammar();
	test_strings();
	test_skip_capture_peek();
	test_depth_and_offset();
	test_fd();
	return check_done("jsonr");
}
