/* Time: now, and ISO 8601 timestamps written and read (the one parser). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void format_iso_ms(int64_t ms, char *out)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 21, "%Y-%m-%dT%H:%M:%S", &tm);
	int frac = (int)(ms % 1000);
	out[n] = '.';
	out[n + 1] = (char)('0' + frac / 100);
	out[n + 2] = (char)('0' + frac / 10 % 10);
	out[n + 3] = (char)('0' + frac % 10);
	out[n + 4] = 'Z';
	out[n + 5] = '\0';
}

/* Days in month mon (1-12) of year: the Gregorian leap rule. */
static int month_days(int year, int mon)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return mon == 2 && leap ? 29 : days[mon - 1];
}

int iso_zone(const char *s, long *east)
{
	*east = 0;
	if (*s == '\0' || ((*s == 'Z' || *s == 'z') && s[1] == '\0'))
		return 0;
	if (*s != '+' && *s != '-')
		return -1;
	int sign = *s++ == '-' ? -1 : 1, d[4], n = 0;
	for (; n < 4 && *s; s++) { /* +HH, +HHMM or +HH:MM, and nothing after */
		if (n == 2 && *s == ':')
			continue;
		if (*s < '0' || *s > '9')
			return -1;
		d[n++] = *s - '0';
	}
	if (*s || (n != 2 && n != 4))
		return -1;
	int h = d[0] * 10 + d[1], m = n == 4 ? d[2] * 10 + d[3] : 0;
	if (h > 23 || m > 59)
		return -1;
	*east = sign * (h * 3600L + m * 60L);
	return 0;
}

int parse_iso(const char *s, size_t n, struct iso_time *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	char text[64];
	*t = (struct iso_time){ 0 };
	if (n >= sizeof text || n < 19 || memchr(s, '\0', n))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	for (size_t i = 0; i < 19; i++) { /* strptime would take "2024-1-2 3:4:5" too */
		char c = text[i];
		bool ok = shape[i] == 'd' ? c >= '0' && c <= '9' : c == shape[i] || (i == 10 && c == ' ');
		if (!ok)
			return -1;
	}
	struct tm tm = {
		.tm_year = atoi(text) - 1900,
		.tm_mon = atoi(text + 5) - 1,
		.tm_mday = atoi(text + 8),
		.tm_hour = atoi(text + 11),
		.tm_min = atoi(text + 14),
		.tm_sec = atoi(text + 17),
	};
	/* timegm would make 2024-02-30 March 1st: refused, not shifted; a leap
	 * second (:60) is the next minute's first, as PostgreSQL reads it */
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > month_days(tm.tm_year + 1900, tm.tm_mon + 1) || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	const char *p = text + 19;
	if (*p == '.') {
		t->frac = s + 19;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		t->frac_len = (size_t)(p - text) - 19;
		if (t->frac_len == 1)
			return -1; /* a dot without digits */
	}
	long offset;
	if (iso_zone(p, &offset) < 0)
		return -1;
	t->zone = *p != '\0';
	t->sec = (int64_t)timegm(&tm) - offset;
	return 0;
}

int parse_iso_ms(const char *s, int64_t *ms)
{
	struct iso_time t;
	if (parse_iso(s, strlen(s), &t) < 0)
		return -1;
	int64_t frac = 0, scale = 1000;
	for (size_t i = 1; i < t.frac_len && scale > 1; i++)
		frac += (t.frac[i] - '0') * (scale /= 10);
	*ms = t.sec * 1000 + frac;
	return 0;
}
