/* Which backups stay: the rules of bk-clean, decided on metadata alone. */
#ifndef BK_KEEP_H
#define BK_KEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The calendar's units, finest first (the order restic's forget uses). */
enum cal_unit { CAL_HOURLY, CAL_DAILY, CAL_WEEKLY, CAL_MONTHLY, CAL_UNITS };

/* "hourly", "daily", "weekly", "monthly". */
extern const char *const cal_unit_name[CAL_UNITS];

#define CAL_KEY_MAX 24

/*
 * The bucket of the UTC time ms in unit u: 2026-12-01T05, 2026-11-30,
 * 2026-W49 (the ISO 8601 week and its year, which at New Year may differ
 * from the calendar year: 2027-01-01 is in 2026-W53), 2026-11.
 */
void cal_bucket(int64_t ms, enum cal_unit u, char out[CAL_KEY_MAX]);

enum keep_kind { KEEP_FULL, KEEP_RAFFLE, KEEP_OTHER };

#define KEEP_WHY_MAX 7
#define KEEP_WHY_LEN 96

struct keep_item {
	const char *id;
	int64_t ts_ms; /* the metadata's timestamp */
	enum keep_kind kind;
	const char *pinned; /* kept whatever the rules say, and why ("unreadable"), or NULL */
	/* out: the rules that keep it; none: it goes */
	int nwhy;
	char why[KEEP_WHY_MAX][KEEP_WHY_LEN];
};

struct keep_policy {
	long keep[CAL_UNITS]; /* the newest N buckets of each unit, 0: none */
	long days;	      /* the age rule: younger than this stays */
	long keep_last;	      /* the newest N good full backups stay (never fewer than one) */
	int64_t now_ms;
};

/*
 * Decides items[0..n), newest first. good(i, ctx) says whether full backup i
 * is whole; it is asked only until keep_last good ones are found (it may be
 * costly: reading the backup). The rules, any of which keeps a backup:
 *   newest full, keep-last   the newest keep_last good full backups;
 *   hourly/daily/weekly/monthly KEY   the newest full backup of each of the
 *                            newest N buckets of that unit (pinned ones are
 *                            in no bucket);
 *   age                      younger than days;
 *   after ID                 a raffle backup whose preceding full backup ID
 *                            is kept: the two restore the raffle's moment;
 *   the pinned reason.
 */
void keep_decide(const struct keep_policy *p, struct keep_item *items, size_t n,
		 bool (*good)(size_t i, void *ctx), void *ctx);

/* The rules that keep item as one line, "newest full, daily 2026-11-30", or "". */
void keep_why_line(const struct keep_item *item, char *out, size_t len);

#endif
