/* Time: now, and ISO 8601 timestamps written and read (the one parser). */
#include <stdbool.h>
#include <stdint.h>
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
	for (; n < 4 && *s; s++) {	/* +HH, +HHMM or +HH:MM, and nothing after */
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

int parse_iso_ms(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p || tm.tm_mday > month_days(tm.tm_year + 1900, tm.tm_mon + 1))
		return -1;
	int64_t frac = 0, scale = 1000;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1)
				frac += (*p - '0') * (scale /= 10);
		}
	}
	long offset;
	if (iso_zone(p, &offset) < 0)
		return -1;
	*ms = ((int64_t)timegm(&tm) - offset) * 1000 + frac;
	return 0;
}
