#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "tgfmt.h"
#include "timefmt.h"

void tgfmt_size(char *buf, size_t len, double bytes)
{
	static const char *units[] = { "Bytes", "KB", "MB", "GB", "TB", "PB" };
	size_t i = 0;
	if (!(bytes >= 1)) { /* also NaN and negatives */
		snprintf(buf, len, "0 Bytes");
		return;
	}
	while (bytes >= 1024 && i + 1 < sizeof units / sizeof *units) {
		bytes /= 1024;
		i++;
	}
	char num[64];
	snprintf(num, sizeof num, "%.2f", bytes);
	char *dot = strchr(num, '.');
	if (dot) { /* like the original's parseFloat(x.toFixed(2)) */
		char *end = num + strlen(num);
		while (end > dot && (end[-1] == '0' || end[-1] == '.'))
			*--end = '\0';
	}
	snprintf(buf, len, "%s %s", num, units[i]);
}

static int digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (!isdigit((unsigned char)**s))
			return -1;
		v = v * 10 + (**s - '0');
	}
	*out = v;
	return 0;
}

int tgfmt_date(char *buf, size_t len, const char *iso)
{
	static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm = { 0 };
	const char *s = iso ? iso : "";
	int y, mo, d, h, mi, sec = 0;
	long east;
	bool ok = digits(&s, 4, &y) == 0 && *s++ == '-' && digits(&s, 2, &mo) == 0 && *s++ == '-' &&
		  digits(&s, 2, &d) == 0 && (*s == 'T' || *s == ' ') && (s++, digits(&s, 2, &h)) == 0 &&
		  *s++ == ':' && digits(&s, 2, &mi) == 0;
	if (ok && *s == ':') {
		s++;
		ok = digits(&s, 2, &sec) == 0;
		if (ok && *s == '.')
			for (s++; isdigit((unsigned char)*s); s++)
				;
	}
	ok = ok && iso_zone(s, &east) == 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 &&
	     mi <= 59 && sec <= 60;
	if (!ok) {
		snprintf(buf, len, "%s", iso ? iso : "");
		return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm) - east;
	gmtime_r(&t, &tm);
	int h12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
	snprintf(buf, len, "%s %d, %d, %d:%02d %s", mon[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900, h12,
		 tm.tm_min, tm.tm_hour < 12 ? "AM" : "PM");
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp, min;
	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

char *tgfmt_utf8(const char *s, size_t n)
{
	char *out = malloc(n * 3 + 1), *o = out;
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, p + i, k);
			o += k;
			i += k;
		}
	}
	*o = '\0';
	return out;
}

static size_t units_at(unsigned char c)
{
	if ((c & 0xC0) == 0x80)
		return 0; /* continuation byte */
	return c >= 0xF0 ? 2 : 1;
}

size_t tgfmt_units(const char *s, size_t n)
{
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		u += units_at((unsigned char)s[i]);
	return u;
}

size_t tgfmt_chunk(const char *text, size_t limit)
{
	size_t units = 0, line_end = 0, space_end = 0;
	for (size_t i = 0; text[i]; i++) {
		size_t u = units_at((unsigned char)text[i]);
		if (u && units + u > limit) /* text[i] starts a character that no longer fits */
			return line_end ? line_end : space_end ? space_end : i ? i : 1;
		units += u;
		if (text[i] == '\n')
			line_end = i + 1;
		else if (text[i] == ' ')
			space_end = i + 1;
	}
	return strlen(text);
}

static const char md_special[] = "_*[]()~`>#+-=|{}.!\\";

/* Escapes s[0..n) with the given set of characters to escape. */
static void put_escaped(struct buf *o, const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] && strchr(set, s[i]))
			buf_add(o, "\\", 1);
		buf_add(o, s + i, 1);
	}
}

/* Hands the text to the caller: never NULL, as buf exits when out of memory. */
static char *finish(struct buf *o)
{
	buf_cstr(o);
	return o->data;
}

char *tgfmt_md_escape(const char *text)
{
	struct buf o = { 0 };
	put_escaped(&o, text, strlen(text), md_special);
	return finish(&o);
}

static bool word(char c)
{
	return isalnum((unsigned char)c) || (unsigned char)c >= 0x80;
}

/* A marker at s[i] can close: it follows text and does not start a word. */
static bool closer(const char *s, size_t i)
{
	return i > 0 && !isspace((unsigned char)s[i - 1]) && !word(s[i + 1]);
}

/* An opener at s[i] has a closer later on the same line (not right after it). */
static bool opener(const char *s, size_t i)
{
	char m = s[i];
	if ((i > 0 && word(s[i - 1])) || !s[i + 1] || isspace((unsigned char)s[i + 1]))
		return false;
	for (size_t j = i + 2; s[j] && s[j] != '\n'; j++)
		if (s[j] == m && closer(s, j))
			return true;
	return false;
}

/* `code`, ```pre``` and [text](url) spans at s: bytes consumed, 0 if none. */
static size_t span(struct buf *o, const char *s)
{
	if (!strncmp(s, "```", 3)) {
		const char *end = strstr(s + 3, "```");
		if (!end)
			return 0;
		buf_add(o, "```", 3);
		put_escaped(o, s + 3, (size_t)(end - s - 3), "`\\");
		buf_add(o, "```", 3);
		return (size_t)(end - s) + 3;
	}
	if (*s == '`') {
		size_t n = strcspn(s + 1, "`\n");
		if (s[1 + n] != '`' || n == 0)
			return 0;
		buf_add(o, "`", 1);
		put_escaped(o, s + 1, n, "\\");
		buf_add(o, "`", 1);
		return n + 2;
	}
	if (*s == '[') {
		size_t t = strcspn(s + 1, "]\n");
		if (t == 0 || strncmp(s + 1 + t, "](", 2))
			return 0;
		const char *url = s + t + 3;
		size_t u = strcspn(url, ") \n");
		if (u == 0 || url[u] != ')')
			return 0;
		buf_add(o, "[", 1);
		put_escaped(o, s + 1, t, md_special);
		buf_add(o, "](", 2);
		put_escaped(o, url, u, ")\\");
		buf_add(o, ")", 1);
		return (size_t)(url + u + 1 - s);
	}
	return 0;
}

char *tgfmt_markdown(const char *text)
{
	struct buf o = { 0 };
	bool open[3] = { false, false, false }; /* * _ ~ */
	static const char marks[] = "*_~";
	for (size_t i = 0; text[i];) {
		size_t n = span(&o, text + i);
		if (n) {
			i += n;
			continue;
		}
		const char *m = text[i] ? strchr(marks, text[i]) : NULL;
		if (m) {
			bool *is_open = &open[m - marks];
			if (*is_open ? closer(text, i) : opener(text, i)) {
				*is_open = !*is_open;
				buf_add(&o, text + i++, 1);
				continue;
			}
		}
		if (text[i] == '\n') /* markers pair within a line */
			open[0] = open[1] = open[2] = false;
		put_escaped(&o, text + i, 1, md_special);
		i++;
	}
	return finish(&o);
}
