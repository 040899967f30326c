#include "jsonw.h"

static const char hex[] = "0123456789abcdef";

/* 1 for the bytes a JSON string cannot hold as they are */
static const unsigned char needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1,
};

void jsonw_string(struct buf *b, const char *s, size_t n)
{
	buf_grow(b, n + 2);
	buf_addc(b, '"');
	size_t run = 0;	/* bytes that need no escaping, copied in one go */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape[c])
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
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
