#include <err.h>
#include <stdlib.h>
#include <sysexits.h>

#include "buf.h"

void buf_grow(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		err(EX_SOFTWARE, "out of memory"); /* nothing sensible to return to */
	b->data = p;
	b->cap = cap;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_shed(struct buf *b, size_t keep)
{
	if (b->cap > keep)
		buf_free(b);
}

const char *buf_cstr(struct buf *b)
{
	buf_addc(b, '\0');
	b->len--;
	return b->data;
}
