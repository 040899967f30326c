#include <stdint.h>

#include "jsonw.h"

static const char hex[] = "0123456789abcdef";

/* 1 for the bytes a JSON string cannot hold as they are */
static const unsigned char needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,		1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1,
};

/* Whether any of 8 bytes is below 0x20, a quote or a backslash (SWAR). */
static inline int word_needs_escape(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t quote = v ^ (ones * '"'), slash = v ^ (ones * '\\');
	uint64_t low = (v - ones * 0x20) & ~v;
	uint64_t q = (quote - ones) & ~quote, b = (slash - ones) & ~slash;
	return ((low | q | b) & highs) != 0;
}

void jsonw_string(struct buf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n + 2)
		buf_grow(b, n + 2);
	buf_addc(b, '"');
	size_t run = 0, i = 0; /* s[run..i) needs no escaping: copied in one go */
	while (i < n) {
		uint64_t v;
		if (n - i >= 8 && (memcpy(&v, s + i, 8), !word_needs_escape(v))) {
			i += 8;
			continue;
		}
		unsigned char c = (unsigned char)s[i++];
		if (!needs_escape[c])
			continue;
		buf_add(b, s + run, i - 1 - run);
		run = i;
		switch (c) {
		case '"': buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			buf_add(b, u, 6);
		}
		}
	}
	buf_add(b, s + run, n - run);
	buf_addc(b, '"');
}

void jsonw_key(struct buf *b, const char *key)
{
	jsonw_string(b, key, strlen(key));
	buf_addc(b, ':');
}
