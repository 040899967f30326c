#include <string.h>

#include "copyjson.h"
#include "jsonw.h"

void copy_unescape(const char *s, size_t n, struct buf *out)
{
	buf_grow(out, n);
	const char *end = s + n;
	while (s < end) {
		const char *bs = memchr(s, '\\', (size_t)(end - s));
		if (!bs) {
			buf_add(out, s, (size_t)(end - s));
			return;
		}
		buf_add(out, s, (size_t)(bs - s));
		s = bs + 1;
		if (s >= end)
			return;
		char c = *s++;
		switch (c) {
		case 'b': buf_addc(out, '\b'); break;
		case 'f': buf_addc(out, '\f'); break;
		case 'n': buf_addc(out, '\n'); break;
		case 'r': buf_addc(out, '\r'); break;
		case 't': buf_addc(out, '\t'); break;
		case 'v': buf_addc(out, '\v'); break;
		case 'x': {
			int v = 0, k = 0;
			for (; k < 2 && s < end && strchr("0123456789abcdefABCDEF", *s); k++, s++)
				v = v * 16 + (*s <= '9' ? *s - '0' : (*s | 32) - 'a' + 10);
			if (k)
				buf_addc(out, (char)v);
			else
				buf_addc(out, 'x');
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0';
				for (int k = 0; k < 2 && s < end && *s >= '0' && *s <= '7'; k++)
					v = v * 8 + (*s++ - '0');
				buf_addc(out, (char)v);
			} else {
				buf_addc(out, c);
			}
		}
	}
}

/* "2024-12-01 02:00:00.1" (+00) -> "2024-12-01T02:00:00.100Z"; else a plain string */
static void timestamp_json(const char *s, size_t n, struct buf *out, int with_zone)
{
	if (with_zone && n > 3 && !memcmp(s + n - 3, "+00", 3))
		n -= 3;
	size_t dot = 19;
	if (n < 19 || s[4] != '-' || s[10] != ' ' || (n > 19 && s[19] != '.') ||
	    memchr(s, ' ', n) != s + 10 || (with_zone && memchr(s + 19, '+', n - 19)) ||
	    memchr(s + 19, '-', n - 19)) {
		jsonw_string(out, s, n); /* infinity, BC, years past 9999 */
		return;
	}
	buf_grow(out, n + 8);
	buf_addc(out, '"');
	buf_add(out, s, 10);
	buf_addc(out, 'T');
	buf_add(out, s + 11, 8);
	size_t digits = n > dot ? n - dot - 1 : 0;
	buf_addc(out, '.');
	buf_add(out, s + dot + 1, digits);
	for (; digits < 3; digits++)
		buf_addc(out, '0');
	buf_add(out, "Z\"", 2);
}

static int is_plain_number(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z' && (s[i] | 32) != 'e')
			return 0; /* NaN, Infinity: not JSON numbers */
	return n > 0;
}

/* text: working space for one element, shared by all the elements of a value */
static int array_json(enum col_kind elem, const char **p, const char *end, struct buf *out, struct buf *text);

int copyjson_value(enum col_kind kind, enum col_kind elem, const char *s, size_t n, struct buf *out)
{
	switch (kind) {
	case COL_NUMBER:
	case COL_FLOAT:
		if (is_plain_number(s, n))
			buf_add(out, s, n);
		else
			jsonw_string(out, s, n);
		return 0;
	case COL_BOOL: buf_adds(out, n && *s == 't' ? "true" : "false"); return 0;
	case COL_TIMESTAMP:
	case COL_TIMESTAMPTZ: timestamp_json(s, n, out, kind == COL_TIMESTAMPTZ); return 0;
	case COL_JSON: buf_add(out, s, n); return 0;
	case COL_ARRAY: {
		const char *p = s;
		size_t mark = out->len;
		struct buf text = { 0 };
		int ok = n && *s == '{' && array_json(elem, &p, s + n, out, &text) == 0 && p == s + n;
		buf_free(&text);
		if (ok)
			return 0;
		out->len = mark; /* bounds like [0:1]={...}: keep the literal */
		jsonw_string(out, s, n);
		return 0;
	}
	default: jsonw_string(out, s, n); return 0;
	}
}

/* One element of an array literal: quoted, or bare up to , or } */
static int element_json(enum col_kind elem, const char **p, const char *end, struct buf *out,
			struct buf *text)
{
	const char *s = *p;
	if (*s == '{')
		return array_json(elem, p, end, out, text);
	text->len = 0;
	int quoted = *s == '"';
	if (quoted) {
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\' && s + 1 < end)
				s++;
			buf_addc(text, *s);
		}
		if (s >= end)
			return -1;
		s++;
	} else {
		const char *e = s;
		while (e < end && *e != ',' && *e != '}')
			e++;
		while (e > s && e[-1] == ' ')
			e--;
		buf_add(text, s, (size_t)(e - s));
		s = e;
		while (s < end && *s == ' ')
			s++;
	}
	*p = s;
	if (!quoted && text->len == 4 && !strncasecmp(text->data, "NULL", 4))
		buf_adds(out, "null");
	else
		copyjson_value(elem == COL_ARRAY ? COL_STRING : elem, COL_STRING,
			       text->data ? text->data : "", text->len, out);
	return 0;
}

static int array_json(enum col_kind elem, const char **p, const char *end, struct buf *out, struct buf *text)
{
	const char *s = *p + 1; /* past { */
	buf_addc(out, '[');
	if (s < end && *s == '}') {
		*p = s + 1;
		buf_addc(out, ']');
		return 0;
	}
	for (;;) {
		if (s >= end || element_json(elem, &s, end, out, text) < 0)
			return -1;
		if (s < end && *s == ',') {
			buf_addc(out, ',');
			s++;
			continue;
		}
		if (s < end && *s == '}') {
			*p = s + 1;
			buf_addc(out, ']');
			return 0;
		}
		return -1;
	}
}

int copyjson_row(const struct pg_table *t, const char *row, size_t len, struct buf *out, struct buf *scratch)
{
	const char *end = row + len, *field = row;
	buf_addc(out, '{');
	for (int i = 0; i < t->ncols; i++) {
		if (field > end)
			return -1;
		const char *tab = memchr(field, '\t', (size_t)(end - field));
		const char *fend = tab ? tab : end;
		size_t n = (size_t)(fend - field);
		const struct pg_column *c = &t->cols[i];
		if (i)
			buf_addc(out, ',');
		buf_add(out, c->json_key, c->json_key_len);
		if (n == 2 && field[0] == '\\' && field[1] == 'N') {
			buf_add(out, "null", 4);
		} else if (!memchr(field, '\\', n)) {
			copyjson_value(c->kind, c->elem_kind, field, n, out);
		} else {
			scratch->len = 0;
			copy_unescape(field, n, scratch);
			copyjson_value(c->kind, c->elem_kind, scratch->data, scratch->len, out);
		}
		field = fend + 1;
		if (!tab && i + 1 < t->ncols)
			return -1;
		if (tab && i + 1 == t->ncols)
			return -1;
	}
	buf_addc(out, '}');
	return 0;
}
