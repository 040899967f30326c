#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonr.h"
#include "jsonw.h"
#include "zsrc.h"

#define WINDOW_SIZE (256 * 1024)
#define MAX_TOKEN_DEFAULT ((size_t)512 << 20)

enum {
	ST_VALUE,	   /* a value: at the top, after ':' or after ',' in an array */
	ST_VALUE_OR_CLOSE, /* just after '[' */
	ST_KEY,		   /* after ',' in an object */
	ST_KEY_OR_CLOSE,   /* just after '{' */
	ST_AFTER,	   /* after a value inside a container: ',' or its end */
	ST_DONE,	   /* the top-level value is whole */
	ST_ENDED,
	ST_FAILED,
};

static void init(struct jsonr *r)
{
	*r = (struct jsonr){ .fd = -1, .peeked = -2, .max_token = MAX_TOKEN_DEFAULT };
}

static void init_src(struct jsonr *r)
{
	r->window_size = WINDOW_SIZE;
	r->window = malloc(WINDOW_SIZE);
	if (!r->window)
		abort();
	r->p = r->end = r->window_start = r->window;
}

void jsonr_init_fd(struct jsonr *r, int fd)
{
	init(r);
	r->fd = fd;
	if (!(r->src = malloc(sizeof *r->src)))
		abort();
	zsrc_init_fd(r->src, fd);
	init_src(r);
}

void jsonr_init_zmem(struct jsonr *r, const void *p, size_t n)
{
	init(r);
	if (!(r->src = malloc(sizeof *r->src)))
		abort();
	zsrc_init_mem(r->src, p, n);
	init_src(r);
}

const char *jsonr_stored_as(const struct jsonr *r)
{
	return zsrc_kind_name(r->src ? r->src->kind : ZSRC_PLAIN);
}

void jsonr_init_mem(struct jsonr *r, const void *p, size_t n)
{
	init(r);
	r->p = r->window_start = p;
	r->end = r->p + n;
	r->eof = true;
}

void jsonr_free(struct jsonr *r)
{
	if (r->src) {
		zsrc_free(r->src);
		free(r->src);
		r->src = NULL;
	}
	free(r->window);
	buf_free(&r->tok);
	r->window = NULL;
}

const char *jsonr_error(const struct jsonr *r)
{
	return r->error[0] ? r->error : "no error";
}

uint64_t jsonr_offset(const struct jsonr *r)
{
	return r->window_at + (uint64_t)(r->p - r->window_start);
}

__attribute__((format(printf, 2, 3))) static int fail(struct jsonr *r, const char *fmt, ...)
{
	if (r->state == ST_FAILED)
		return JSONR_ERROR;
	int n = snprintf(r->error, sizeof r->error, "byte %llu: ", (unsigned long long)jsonr_offset(r));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof r->error - (size_t)n, fmt, ap);
	va_end(ap);
	r->state = ST_FAILED;
	return JSONR_ERROR;
}

/* Refills an empty window. Returns false at the end of the input. */
static bool refill(struct jsonr *r)
{
	if (r->p < r->end)
		return true;
	if (r->eof)
		return false;
	r->window_at += (uint64_t)(r->end - r->window_start);
	r->src->feed = r->feed; /* the stored bytes, as they are read */
	r->src->feed_ctx = r->feed_ctx;
	ssize_t n = zsrc_read(r->src, r->window, r->window_size);
	if (n <= 0) {
		r->eof = true;
		r->p = r->end = r->window_start = r->window;
		if (n < 0) {
			r->io_errno = r->src->io_errno;
			fail(r, "%s", r->src->error);
		}
		return false;
	}
	r->p = r->window_start = r->window;
	r->end = r->window + n;
	return true;
}

/* The next byte without consuming it, or -1 at the end. */
static inline int peekc(struct jsonr *r)
{
	if (r->p == r->end && !refill(r))
		return -1;
	return *r->p;
}

static inline int getc_(struct jsonr *r)
{
	int c = peekc(r);
	if (c >= 0)
		r->p++;
	return c;
}

static void skip_ws(struct jsonr *r)
{
	for (;;) {
		while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
			r->p++;
		if (r->p < r->end || !refill(r))
			return;
	}
}

void jsonr_drain(struct jsonr *r)
{
	while (!r->eof) {
		r->p = r->end;
		refill(r);
	}
	r->p = r->end;
	if (r->src) { /* what could not be decoded is still hashed */
		r->src->feed = r->feed;
		r->src->feed_ctx = r->feed_ctx;
		zsrc_drain(r->src);
		r->io_errno = r->src->io_errno;
	}
}

static int too_long(struct jsonr *r)
{
	return fail(r, "a string or number longer than %zu bytes", r->max_token);
}

static int hex4(struct jsonr *r, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int c = getc_(r);
		int d = c >= '0' && c <= '9'		     ? c - '0'
			: (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10
							     : -1;
		if (d < 0)
			return fail(r, "\\u must be followed by four hex digits");
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_add(b, u, n);
}

/* After the backslash. */
static int escape(struct jsonr *r)
{
	int c = getc_(r);
	const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
	const char *e = c > 0 ? strchr(from, c) : NULL;
	if (e) {
		buf_addc(&r->tok, to[e - from]);
		return 0;
	}
	if (c != 'u')
		return fail(r, "invalid escape in a string");
	unsigned cp, lo;
	if (hex4(r, &cp) < 0)
		return -1;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return fail(r, "a lone low surrogate \\u%04X", cp);
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (getc_(r) != '\\' || getc_(r) != 'u')
			return fail(r, "a high surrogate not followed by a low one");
		if (hex4(r, &lo) < 0)
			return -1;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return fail(r, "a high surrogate not followed by a low one");
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	put_utf8(&r->tok, cp);
	return 0;
}

/* One multi-byte UTF-8 character whose lead byte is c (already consumed). */
static int utf8_char(struct jsonr *r, int c)
{
	int more;
	int lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		more = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		more = 2;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F; /* no surrogates in UTF-8 */
	} else if (c >= 0xF0 && c <= 0xF4) {
		more = 3;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else {
		return fail(r, "invalid UTF-8");
	}
	buf_addc(&r->tok, (char)c);
	for (int i = 0; i < more; i++) {
		int d = getc_(r);
		if (d < lo || d > hi)
			return fail(r, "invalid UTF-8");
		lo = 0x80;
		hi = 0xBF;
		buf_addc(&r->tok, (char)d);
	}
	return 0;
}

/* After the opening quote; the text goes to tok. */
static int scan_string(struct jsonr *r)
{
	r->tok.len = 0;
	for (;;) {
		const unsigned char *s = r->p;
		while (s < r->end && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
			s++;
		buf_add(&r->tok, r->p, (size_t)(s - r->p));
		r->p = s;
		if (r->tok.len > r->max_token)
			return too_long(r);
		if (r->p == r->end && refill(r))
			continue; /* the run went on past the window */
		int c = getc_(r);
		if (c == '"')
			break;
		if (c < 0)
			return r->state == ST_FAILED ? -1 : fail(r, "unterminated string");
		if (c == '\\') {
			if (escape(r) < 0)
				return -1;
		} else if (c < 0x20) {
			r->p--;
			return fail(r, "a control character (0x%02X) in a string", c);
		} else if (utf8_char(r, c) < 0) {
			return -1;
		}
	}
	buf_cstr(&r->tok);
	return 0;
}

static int digits(struct jsonr *r)
{
	int n = 0, c;
	while ((c = peekc(r)) >= '0' && c <= '9') {
		buf_addc(&r->tok, (char)c);
		r->p++;
		n++;
		if (r->tok.len > r->max_token)
			return too_long(r); /* callers' fail() then keeps this error */
	}
	return n;
}

static int scan_number(struct jsonr *r)
{
	r->tok.len = 0;
	int c = peekc(r);
	if (c == '-') {
		buf_addc(&r->tok, '-');
		r->p++;
		c = peekc(r);
	}
	if (c == '0') {
		buf_addc(&r->tok, '0');
		r->p++;
	} else if (c < '1' || c > '9' || digits(r) <= 0) {
		return fail(r, "invalid number");
	}
	if (peekc(r) == '.') {
		buf_addc(&r->tok, '.');
		r->p++;
		if (digits(r) <= 0)
			return fail(r, "invalid number: digits must follow '.'");
	}
	c = peekc(r);
	if (c == 'e' || c == 'E') {
		buf_addc(&r->tok, (char)c);
		r->p++;
		c = peekc(r);
		if (c == '+' || c == '-') {
			buf_addc(&r->tok, (char)c);
			r->p++;
		}
		if (digits(r) <= 0)
			return fail(r, "invalid number: digits must follow the exponent");
	}
	c = peekc(r);
	if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
		return fail(r, "invalid number"); /* 01, 1.2.3 */
	buf_cstr(&r->tok);
	return 0;
}

static int literal(struct jsonr *r, const char *word, int tok)
{
	for (const char *w = word; *w; w++)
		if (getc_(r) != *w)
			return fail(r, "invalid literal (expected %s)", word);
	int c = peekc(r);
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return fail(r, "invalid literal (expected %s)", word);
	return tok;
}

/* What may follow a complete value at the current depth. */
static void value_done(struct jsonr *r)
{
	r->state = r->depth ? ST_AFTER : ST_DONE;
}

static int open_container(struct jsonr *r, char c)
{
	if (r->depth == JSONR_MAX_DEPTH)
		return fail(r, "nested deeper than %d levels", JSONR_MAX_DEPTH);
	r->stack[r->depth++] = c;
	r->state = c == '{' ? ST_KEY_OR_CLOSE : ST_VALUE_OR_CLOSE;
	return c == '{' ? JSONR_OBJECT : JSONR_ARRAY;
}

static int close_container(struct jsonr *r, char c)
{
	char open = c == '}' ? '{' : '[';
	if (!r->depth || r->stack[r->depth - 1] != open)
		return fail(r, "unexpected '%c'", c);
	r->depth--;
	value_done(r);
	return c == '}' ? JSONR_OBJECT_END : JSONR_ARRAY_END;
}

static int scan_value(struct jsonr *r, int c)
{
	switch (c) {
	case '{':
	case '[': r->p++; return open_container(r, (char)c);
	case '"':
		r->p++;
		if (scan_string(r) < 0)
			return JSONR_ERROR;
		value_done(r);
		return JSONR_STRING;
	case 't': value_done(r); return literal(r, "true", JSONR_TRUE);
	case 'f': value_done(r); return literal(r, "false", JSONR_FALSE);
	case 'n': value_done(r); return literal(r, "null", JSONR_NULL);
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			if (scan_number(r) < 0)
				return JSONR_ERROR;
			value_done(r);
			return JSONR_NUMBER;
		}
		if (c < 0)
			return r->state == ST_FAILED ? JSONR_ERROR : fail(r, "unexpected end of input");
		return fail(r, "expected a value, found '%c'", c >= 0x20 && c < 0x7F ? c : '?');
	}
}

static int scan_key(struct jsonr *r, int c)
{
	if (c != '"')
		return c < 0 && r->state != ST_FAILED ? fail(r, "unexpected end of input")
						      : fail(r, "expected a member name in quotes");
	r->p++;
	if (scan_string(r) < 0)
		return JSONR_ERROR;
	skip_ws(r);
	if (getc_(r) != ':') {
		if (r->p > r->window_start)
			r->p--;
		return fail(r, "expected ':' after the member name \"%.40s\"", r->tok.data);
	}
	r->state = ST_VALUE;
	return JSONR_KEY;
}

static int scan(struct jsonr *r)
{
	if (r->state == ST_FAILED)
		return JSONR_ERROR;
	if (r->state == ST_ENDED)
		return JSONR_END;
	skip_ws(r);
	if (r->state == ST_FAILED)
		return JSONR_ERROR;
	r->tok_at = jsonr_offset(r);
	int c = peekc(r);
	switch (r->state) {
	case ST_VALUE: return scan_value(r, c);
	case ST_VALUE_OR_CLOSE:
		if (c == ']')
			return r->p++, close_container(r, ']');
		return scan_value(r, c);
	case ST_KEY: return scan_key(r, c);
	case ST_KEY_OR_CLOSE:
		if (c == '}')
			return r->p++, close_container(r, '}');
		return scan_key(r, c);
	case ST_AFTER:
		if (c == ',') {
			r->p++;
			r->state = r->stack[r->depth - 1] == '{' ? ST_KEY : ST_VALUE;
			return scan(r);
		}
		if (c == '}' || c == ']')
			return r->p++, close_container(r, (char)c);
		if (c < 0)
			return r->state == ST_FAILED ? JSONR_ERROR
						     : fail(r, "unexpected end of input (truncated?)");
		return fail(r, "expected ',' or '%c'", r->stack[r->depth - 1] == '{' ? '}' : ']');
	default: /* ST_DONE */
		if (c >= 0)
			return fail(r, "data after the end of the JSON document");
		if (r->state == ST_FAILED)
			return JSONR_ERROR;
		r->state = ST_ENDED;
		return JSONR_END;
	}
}

int jsonr_next(struct jsonr *r)
{
	if (r->peeked != -2) {
		int t = r->peeked;
		r->peeked = -2;
		return t;
	}
	return scan(r);
}

/*
 * A peeked token has been scanned already (its text sits in tok), so the
 * next jsonr_next only hands it over.
 */
int jsonr_peek(struct jsonr *r)
{
	if (r->peeked == -2)
		r->peeked = scan(r);
	return r->peeked;
}

int jsonr_skip(struct jsonr *r, int first)
{
	if (first == JSONR_ERROR)
		return -1;
	if (first != JSONR_OBJECT && first != JSONR_ARRAY)
		return 0;
	int depth = 1;
	while (depth) {
		int t = jsonr_next(r);
		if (t == JSONR_OBJECT || t == JSONR_ARRAY)
			depth++;
		else if (t == JSONR_OBJECT_END || t == JSONR_ARRAY_END)
			depth--;
		else if (t == JSONR_ERROR || t == JSONR_END)
			return -1;
	}
	return 0;
}

static void capture_token(struct jsonr *r, int t, struct buf *out, bool *need_comma)
{
	if (*need_comma && t != JSONR_OBJECT_END && t != JSONR_ARRAY_END)
		buf_addc(out, ',');
	*need_comma = true;
	switch (t) {
	case JSONR_OBJECT:
		buf_addc(out, '{');
		*need_comma = false;
		break;
	case JSONR_ARRAY:
		buf_addc(out, '[');
		*need_comma = false;
		break;
	case JSONR_OBJECT_END: buf_addc(out, '}'); break;
	case JSONR_ARRAY_END: buf_addc(out, ']'); break;
	case JSONR_KEY:
		jsonw_string(out, r->tok.data, r->tok.len);
		buf_addc(out, ':');
		*need_comma = false;
		break;
	case JSONR_STRING: jsonw_string(out, r->tok.data, r->tok.len); break;
	case JSONR_NUMBER: buf_add(out, r->tok.data, r->tok.len); break;
	case JSONR_TRUE: buf_adds(out, "true"); break;
	case JSONR_FALSE: buf_adds(out, "false"); break;
	default: buf_adds(out, "null"); break;
	}
}

int jsonr_capture(struct jsonr *r, int first, struct buf *out, size_t max)
{
	if (first == JSONR_ERROR || first == JSONR_END || first == JSONR_KEY)
		return -1;
	bool comma = false;
	int depth = first == JSONR_OBJECT || first == JSONR_ARRAY;
	capture_token(r, first, out, &comma);
	while (depth) {
		int t = jsonr_next(r);
		if (t == JSONR_ERROR || t == JSONR_END)
			return -1;
		if (t == JSONR_OBJECT || t == JSONR_ARRAY)
			depth++;
		else if (t == JSONR_OBJECT_END || t == JSONR_ARRAY_END)
			depth--;
		capture_token(r, t, out, &comma);
		if (out->len > max) {
			fail(r, "a value longer than %zu bytes", max);
			return -1;
		}
	}
	return 0;
}

int jsonr_validate(const void *p, size_t n, char *err, size_t errlen)
{
	struct jsonr r;
	jsonr_init_mem(&r, p, n);
	int t;
	while ((t = jsonr_next(&r)) > 0)
		;
	if (t < 0 && err && errlen)
		snprintf(err, errlen, "%s", jsonr_error(&r));
	jsonr_free(&r);
	return t < 0 ? -1 : 0;
}
