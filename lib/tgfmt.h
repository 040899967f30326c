/* Text for Telegram: sizes, dates, MarkdownV2, UTF-8, 4096-character chunks. */
#ifndef BK_TGFMT_H
#define BK_TGFMT_H

#include <stddef.h>

#define TG_TEXT_MAX 4096 /* Telegram's limit on one message, in UTF-16 units */

/* "0 Bytes", "512 Bytes", "1.5 KB", "2.45 MB": base 1024, at most two
 * decimals, trailing zeros dropped (as the original bot printed them). */
void tgfmt_size(char *buf, size_t len, double bytes);

/* ISO 8601 ("2024-12-01T02:00:00.000Z", "+01:00" offsets too) to
 * "Dec 1, 2024, 2:00 AM" in UTC. Returns 0, or -1 (buf gets the input). */
int tgfmt_date(char *buf, size_t len, const char *iso);

/* A copy of s[0..n) with every invalid UTF-8 sequence and NUL replaced by
 * U+FFFD, so that Telegram accepts it. NULL when out of memory. */
char *tgfmt_utf8(const char *s, size_t n);

/* Length in UTF-16 code units (what Telegram counts) of valid UTF-8 text. */
size_t tgfmt_units(const char *s, size_t n);

/*
 * Byte length of the first chunk of text that fits in limit UTF-16 units:
 * whole lines when possible, else cut at a space, else at a character
 * boundary. Returns strlen(text) when it all fits, 0 only for "".
 */
size_t tgfmt_chunk(const char *text, size_t limit);

/* Every MarkdownV2 special character escaped: text shows literally. */
char *tgfmt_md_escape(const char *text);

/*
 * Light markdown (*bold*, _italic_, `code`, ```pre```, [text](url)) to valid
 * MarkdownV2: markers that open and close on the same line stay markup (an
 * opener must start a word and a closer end one, so full_1701_2 is text),
 * every other special character is escaped.
 */
char *tgfmt_markdown(const char *text);

#endif
