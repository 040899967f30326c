/*
 * JSON values to COPY text, by column type. Values travel as text, so
 * PostgreSQL parses them itself: nothing is rounded on the way (a bigint
 * beyond 2^53 keeps every digit, a timestamp its milliseconds).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "restore_int.h"
#include "timefmt.h"
#include "value.h"

/* COPY text escaping; NUL cannot be stored in PostgreSQL text at all. */
static int copy_escape(const char *s, size_t n, struct buf *out, char *err, size_t errlen)
{
	if (n == 0) /* s may be the NULL data of an empty buffer (UBSan, fuzz_jsonr) */
		return 0;
	buf_grow(out, n + 8);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i], e;
		switch (c) {
		case '\\': e = '\\'; break;
		case '\n': e = 'n'; break;
		case '\r': e = 'r'; break;
		case '\t': e = 't'; break;
		case '\0':
			snprintf(err, errlen, "a string holding \\u0000, which PostgreSQL text cannot store");
			return -1;
		default: continue;
		}
		buf_add(out, s + run, i - run);
		buf_addc(out, '\\');
		buf_addc(out, e);
		run = i + 1;
	}
	buf_add(out, s + run, n - run);
	return 0;
}

/*
 * PostgreSQL reads "...+02:00" into a timestamp WITHOUT time zone by
 * dropping the offset: the wall time would be kept, the instant lost. The
 * offset is applied here instead (store.c's parse_iso, the one parser),
 * keeping the fraction's digits as written. Whatever else starts like a
 * date and is not one, offset or not, is refused: a timegm would shift it.
 */
int restore_timestamp_utc(const char *s, size_t n, struct buf *out)
{
	struct iso_time t;
	if (parse_iso(s, n, &t) < 0) {
		if (value_impossible_date(s, n))
			return -1;
		buf_add(out, s, n); /* "infinity", BC dates, ...: PostgreSQL decides */
		return 0;
	}
	time_t sec = (time_t)t.sec;
	struct tm tm;
	gmtime_r(&sec, &tm);
	char head[48];
	int len = snprintf(head, sizeof head, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
			   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	buf_add(out, head, (size_t)len);
	buf_add(out, t.frac, t.frac_len);
	return 0;
}

/* An element of an array literal: "quoted" with " and \ escaped. */
static void array_quote(const char *s, size_t n, struct buf *out)
{
	buf_addc(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_addc(out, '\\');
		buf_addc(out, s[i]);
	}
	buf_addc(out, '"');
}

/* A JSON array (its '[' read) as a PostgreSQL array literal, into lit. */
static int array_literal(struct jsonr *r, struct buf *lit, struct buf *tmp, char *err, size_t errlen)
{
	buf_addc(lit, '{');
	for (int n = 0;; n++) {
		int t = jsonr_next(r);
		if (t == JSONR_ARRAY_END)
			break;
		if (n)
			buf_addc(lit, ',');
		switch (t) {
		case JSONR_NULL: buf_adds(lit, "NULL"); break;
		case JSONR_TRUE: buf_adds(lit, "t"); break;
		case JSONR_FALSE: buf_adds(lit, "f"); break;
		case JSONR_NUMBER: buf_add(lit, r->tok.data, r->tok.len); break;
		case JSONR_STRING: array_quote(r->tok.data, r->tok.len, lit); break;
		case JSONR_ARRAY:
			if (array_literal(r, lit, tmp, err, errlen) < 0)
				return -1;
			break;
		case JSONR_OBJECT: /* json[] / jsonb[] */
			tmp->len = 0;
			if (jsonr_capture(r, t, tmp, (size_t)1 << 30) < 0)
				goto bad;
			array_quote(tmp->data, tmp->len, lit);
			break;
		default: goto bad;
		}
	}
	buf_addc(lit, '}');
	return 0;
bad:
	snprintf(err, errlen, "invalid JSON: %s", jsonr_error(r));
	return -1;
}

/*
 * Peak memory is about twice the largest value: the value is in at most two
 * buffers at once, and one of them is shed before a third is filled.
 */
#define SHED_AT (4u << 20)

static int string_value(enum col_kind kind, struct jsonr *r, struct buf *out, struct buf *scratch, char *err,
			size_t errlen)
{
	const char *s = r->tok.data;
	size_t n = r->tok.len;
	if (kind == COL_TIMESTAMP || kind == COL_TIMESTAMPTZ) {
		scratch->len = 0;
		if (restore_timestamp_utc(s, n, scratch) < 0) {
			snprintf(err, errlen, "\"%.*s\" is not a date that exists", (int)(n > 40 ? 40 : n),
				 s);
			return -1;
		}
		if (kind == COL_TIMESTAMPTZ) { /* checked; it goes in as written */
			int rc = copy_escape(s, n, out, err, errlen);
			buf_shed(&r->tok, SHED_AT);
			return rc;
		}
	} else if (kind == COL_JSON) { /* a JSON string stays a JSON string */
		scratch->len = 0;
		jsonw_string(scratch, s, n);
		buf_shed(&r->tok, SHED_AT);
	} else {
		int rc = copy_escape(s, n, out, err, errlen);
		buf_shed(&r->tok, SHED_AT);
		return rc;
	}
	int rc = copy_escape(scratch->data, scratch->len, out, err, errlen);
	buf_shed(scratch, SHED_AT);
	return rc;
}

int restore_value(enum col_kind kind, struct jsonr *r, int first, struct buf *out, struct buf *scratch,
		  char *err, size_t errlen)
{
	switch (first) {
	case JSONR_NULL: buf_add(out, "\\N", 2); return 0;
	case JSONR_TRUE:
	case JSONR_FALSE:
		if (kind == COL_BOOL)
			buf_addc(out, first == JSONR_TRUE ? 't' : 'f');
		else
			buf_adds(out, first == JSONR_TRUE ? "true" : "false");
		return 0;
	case JSONR_NUMBER:
		buf_add(out, r->tok.data, r->tok.len); /* as written: never through a double */
		return 0;
	case JSONR_STRING: return string_value(kind, r, out, scratch, err, errlen);
	case JSONR_ARRAY:
	case JSONR_OBJECT: {
		scratch->len = 0;
		if (kind == COL_JSON) {
			if (jsonr_capture(r, first, scratch, (size_t)1 << 30) < 0) {
				snprintf(err, errlen, "invalid JSON: %s", jsonr_error(r));
				return -1;
			}
		} else if (kind == COL_ARRAY && first == JSONR_ARRAY) {
			struct buf tmp = { 0 };
			int rc = array_literal(r, scratch, &tmp, err, errlen);
			buf_free(&tmp);
			if (rc < 0)
				return -1;
		} else {
			snprintf(err, errlen, "%s for a column that holds neither arrays nor JSON",
				 first == JSONR_ARRAY ? "an array" : "an object");
			return -1;
		}
		buf_shed(&r->tok, SHED_AT); /* its last string is in scratch now */
		int rc = copy_escape(scratch->data, scratch->len, out, err, errlen);
		buf_shed(scratch, SHED_AT);
		return rc;
	}
	default: snprintf(err, errlen, "invalid JSON: %s", jsonr_error(r)); return -1;
	}
}
