/*
 * Reading JSON a token at a time. Backups are far larger than memory should
 * be, and cJSON turns numbers into doubles (a bigint beyond 2^53 would lose
 * digits), so bk-verify and bk-restore pull tokens from a fixed-size buffer:
 * memory is bounded by the largest single string or number.
 *
 * The reader is strict (RFC 8259): structure, string escapes, surrogate
 * pairs, UTF-8, the number grammar, nothing after the top-level value.
 * Tokens come out only in an order that is valid JSON so far.
 */
#ifndef BK_JSONR_H
#define BK_JSONR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum jsonr_tok {
	JSONR_ERROR = -1, /* see jsonr_error() */
	JSONR_END = 0,	  /* the document is whole and nothing follows it */
	JSONR_OBJECT,
	JSONR_OBJECT_END,
	JSONR_ARRAY,
	JSONR_ARRAY_END,
	JSONR_KEY,    /* a member name: text in tok */
	JSONR_STRING, /* decoded UTF-8 in tok (may hold NUL bytes: use tok.len) */
	JSONR_NUMBER, /* its text as written, in tok */
	JSONR_TRUE,
	JSONR_FALSE,
	JSONR_NULL,
};

#define JSONR_MAX_DEPTH 512

struct zsrc;

struct jsonr {
	/* where bytes come from: a descriptor or memory through a decompressing
	 * source (plain, zstd or gzip: lib/zsrc.h), or one block of JSON */
	int fd;
	struct zsrc *src;
	const unsigned char *p, *end; /* unread part of the window */
	unsigned char *window;
	size_t window_size;
	uint64_t window_at; /* offset in the stream of the window's first byte */
	const unsigned char *window_start;
	bool eof;
	int io_errno; /* a read failed (the error says so too) */

	/* called with every stored byte read, in order (e.g. to hash the file):
	 * the compressed bytes when the input is compressed */
	void (*feed)(void *ctx, const void *p, size_t n);
	void *feed_ctx;

	struct buf tok;	  /* the current token's text, NUL-terminated */
	uint64_t tok_at;  /* byte offset where the current token starts */
	size_t max_token; /* longest string or number accepted */

	int depth;
	char stack[JSONR_MAX_DEPTH]; /* '{' or '[' */
	int state;
	int peeked; /* a token read ahead by jsonr_peek, or -2 */
	char error[256];
};

/* Reads from fd (not closed by jsonr_free): plain JSON, or zstd or gzip
 * compressed JSON, told by the first bytes. */
void jsonr_init_fd(struct jsonr *r, int fd);
/* Reads n bytes of JSON at p (which must stay valid). */
void jsonr_init_mem(struct jsonr *r, const void *p, size_t n);
/* The same, plain or compressed like jsonr_init_fd. */
void jsonr_init_zmem(struct jsonr *r, const void *p, size_t n);

/* What the input is stored as: "json", "zstd" or "gzip" (known after the first token). */
const char *jsonr_stored_as(const struct jsonr *r);
void jsonr_free(struct jsonr *r);

/* The next token. After JSONR_ERROR or JSONR_END it keeps returning that. */
int jsonr_next(struct jsonr *r);

/* The token jsonr_next will return, without consuming it. For the text of
 * a peeked key or string, call jsonr_next. */
int jsonr_peek(struct jsonr *r);

/*
 * Consumes the rest of a value whose first token (just returned by
 * jsonr_next) is first: nothing more for a scalar, up to the matching end
 * for an object or array. Returns 0 or -1 (error set).
 */
int jsonr_skip(struct jsonr *r, int first);

/*
 * The same, writing the value as compact JSON into out (numbers as written,
 * strings re-escaped). Fails when out would grow beyond max bytes.
 */
int jsonr_capture(struct jsonr *r, int first, struct buf *out, size_t max);

/* "byte 1234: expected ',' or '}' after a member" */
const char *jsonr_error(const struct jsonr *r);

/* Offset just past what has been consumed. */
uint64_t jsonr_offset(const struct jsonr *r);

/* Reads and throws away the rest of the input, still feeding it (hashing). */
void jsonr_drain(struct jsonr *r);

/* Whether n bytes at p are exactly one valid JSON document: 0 or -1.
 * A pure function, for fuzzers. err (may be NULL) gets the reason. */
int jsonr_validate(const void *p, size_t n, char *err, size_t errlen);

#endif
