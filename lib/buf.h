/* A growable byte buffer, for one row or one message at a time. */
#ifndef BK_BUF_H
#define BK_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *data;
	size_t len, cap;
};

/* Makes room for n more bytes; aborts the process only if malloc fails. */
void buf_grow(struct buf *b, size_t n);
void buf_free(struct buf *b);
/* Frees b's memory when it holds more than keep bytes: after one huge value,
 * a buffer reused for every value must not keep its size. */
void buf_shed(struct buf *b, size_t keep);

static inline void buf_add(struct buf *b, const void *p, size_t n)
{
	/* nothing to add: an empty buffer may still have no data at all, and
	 * memcpy to NULL + 0 is undefined (UBSan, found by fuzz_jsonr) */
	if (n == 0)
		return;
	if (b->cap - b->len < n)
		buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void buf_addc(struct buf *b, char c)
{
	if (b->cap == b->len)
		buf_grow(b, 1);
	b->data[b->len++] = c;
}

static inline void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* NUL-terminates without counting the NUL in len. */
const char *buf_cstr(struct buf *b);

#endif
