/* Time: now, and ISO 8601 timestamps written and read (the one parser). */
#ifndef BK_TIMEFMT_H
#define BK_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in epoch ms. */
int64_t now_ms(void);

/* Formats epoch ms as 2024-12-01T02:00:00.000Z (25 bytes with the NUL). */
void format_iso_ms(int64_t ms, char *out);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.frac][zone]" (or a space for the T) into
 * epoch ms: zone as iso_zone takes it. Impossible dates (Feb 30, Feb 29
 * outside leap years, hour 24) are refused. Returns 0 or -1.
 */
int parse_iso_ms(const char *s, int64_t *ms);

/* The same, of n bytes, into its parts: restore keeps the fraction's
 * digits as written (microseconds), which ms would round. */
struct iso_time {
	int64_t sec;	  /* epoch seconds, the offset applied */
	const char *frac; /* ".5" as written (in the input), or NULL */
	size_t frac_len;
	bool zone; /* an offset or Z was given */
};
int parse_iso(const char *s, size_t n, struct iso_time *t);

/*
 * The zone suffix of an ISO 8601 timestamp, the whole rest of the string:
 * "" (UTC), Z or z, +HH:MM, +HHMM, +HH (or -); hours 0-23, minutes 0-59.
 * *east gets seconds east of UTC. Returns 0 or -1.
 */
int iso_zone(const char *s, long *east);

#endif
