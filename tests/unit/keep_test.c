/* Unit tests of bk-clean's rules (tools/bk-clean/keep.c): UTC buckets across
 * hour, day, month, year and ISO week boundaries; restic's newest-per-bucket
 * over two hundred days of hourly backups; the raffle rule; keep-last asking
 * good() no further than it needs; pinned backups in no bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk-clean/keep.h"

#include "check.h"

#define H (3600 * 1000LL)
#define NOW 1796103000000LL /* 2026-12-01T05:30:00Z, a Tuesday */

static void bucket_is(int64_t ms, enum cal_unit u, const char *want, int line)
{
	char got[CAL_KEY_MAX];
	cal_bucket(ms, u, got);
	if (!strcmp(got, want))
		passed++;
	else {
		failed++;
		fprintf(stderr, "FAIL line %d: %lld %s: %s, not %s\n", line, (long long)ms, cal_unit_name[u],
			got, want);
	}
}
#define BUCKET(ms, u, want) bucket_is(ms, u, want, __LINE__)

static void test_buckets(void)
{
	BUCKET(NOW, CAL_HOURLY, "2026-12-01T05");
	BUCKET(NOW, CAL_DAILY, "2026-12-01");
	BUCKET(NOW, CAL_WEEKLY, "2026-W49");
	BUCKET(NOW, CAL_MONTHLY, "2026-12");
	/* the last millisecond of an hour, of a day, of a year */
	BUCKET(NOW + 30 * 60 * 1000 - 1, CAL_HOURLY, "2026-12-01T05");
	BUCKET(NOW + 30 * 60 * 1000, CAL_HOURLY, "2026-12-01T06");
	BUCKET(1798761599999LL, CAL_DAILY, "2026-12-31");
	BUCKET(1798761599999LL, CAL_MONTHLY, "2026-12");
	BUCKET(1798761600000LL, CAL_DAILY, "2027-01-01");
	BUCKET(1798761600000LL, CAL_MONTHLY, "2027-01");
	BUCKET(1798761600000LL, CAL_HOURLY, "2027-01-01T00");
	/* ISO weeks: 2027-01-01 (a Friday) to Sunday 01-03 are in 2026's week 53 */
	BUCKET(1798761599999LL, CAL_WEEKLY, "2026-W53");
	BUCKET(1798761600000LL, CAL_WEEKLY, "2026-W53");
	BUCKET(1798977600000LL, CAL_WEEKLY, "2026-W53");
	BUCKET(1799020800000LL - 1, CAL_WEEKLY, "2026-W53");
	BUCKET(1799020800000LL, CAL_WEEKLY, "2027-W01");
	/* Monday 2024-12-30 opens 2025's week 1; the Sunday before is 2024-W52 */
	BUCKET(1735516800000LL, CAL_WEEKLY, "2025-W01");
	BUCKET(1735516799999LL, CAL_WEEKLY, "2024-W52");
	BUCKET(1735516800000LL, CAL_MONTHLY, "2024-12");
	/* 2020 had 53 weeks too: 2021-01-03 is in its last */
	BUCKET(1609632000000LL, CAL_WEEKLY, "2020-W53");
	/* leap day, and a month boundary in a leap year */
	BUCKET(1709164800000LL, CAL_DAILY, "2024-02-29");
	BUCKET(1709251199999LL, CAL_MONTHLY, "2024-02");
	BUCKET(1709251200000LL, CAL_MONTHLY, "2024-03");
	/* before 1970: floor, not truncation */
	BUCKET(-1, CAL_DAILY, "1969-12-31");
	BUCKET(-1, CAL_HOURLY, "1969-12-31T23");
	BUCKET(0, CAL_WEEKLY, "1970-W01");
}

static bool all_good(size_t i, void *ctx)
{
	(void)i;
	(*(int *)ctx)++;
	return true;
}

static bool has_why(const struct keep_item *it, const char *why)
{
	for (int k = 0; k < it->nwhy; k++)
		if (!strcmp(it->why[k], why))
			return true;
	return false;
}

/* The item dated exactly at ms, or NULL. */
static struct keep_item *at(struct keep_item *items, size_t n, int64_t ms)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].ts_ms == ms)
			return &items[i];
	return NULL;
}

/* 2026-11-DD HH:00Z as epoch ms. */
static int64_t nov(int day, int hour)
{
	return 1793491200000LL + (int64_t)(day - 1) * 24 * H + hour * H;
}

static void test_hourly_for_200_days(void)
{
	size_t n = 200 * 24;
	struct keep_item *items = calloc(n, sizeof *items);
	int64_t newest = NOW - 30 * 60 * 1000; /* 05:00 */
	for (size_t i = 0; i < n; i++) {
		items[i].id = "full";
		items[i].ts_ms = newest - (int64_t)i * H;
		items[i].kind = KEEP_FULL;
	}
	struct keep_policy p = { .keep = { 24, 7, 4, 6 }, .days = 1, .keep_last = 1, .now_ms = NOW };
	int asked = 0;
	keep_decide(&p, items, n, all_good, &asked);
	CHECKF(asked == 1, "good() asked %d times for keep-last 1", asked);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		kept += items[i].nwhy > 0;
	/* 24 hours (also 2 days, 1 week, 2 months), 5 more days, 2 more weeks, 4 more months */
	CHECKF(kept == 35, "kept %zu of %zu hourly backups, not 35", kept, n);
	CHECKF(has_why(&items[0], "newest full") && has_why(&items[0], "hourly 2026-12-01T05") &&
		       has_why(&items[0], "daily 2026-12-01") && has_why(&items[0], "weekly 2026-W49") &&
		       has_why(&items[0], "monthly 2026-12") && has_why(&items[0], "age"),
	       "newest: %d rules", items[0].nwhy);
	CHECKF(has_why(&items[23], "hourly 2026-11-30T06") && has_why(&items[23], "age"), "24th hour");
	CHECKF(items[24].nwhy == 0, "25th hour kept by %s", items[24].why[0]);
	struct keep_item *it = at(items, n, nov(30, 23));
	CHECKF(it && has_why(it, "daily 2026-11-30") && has_why(it, "monthly 2026-11"), "11-30 23:00");
	it = at(items, n, nov(29, 23)); /* a Sunday: the last of its week */
	CHECKF(it && has_why(it, "daily 2026-11-29") && has_why(it, "weekly 2026-W48"), "11-29 23:00");
	it = at(items, n, nov(25, 23));
	CHECKF(it && it->nwhy == 1 && has_why(it, "daily 2026-11-25"), "the 7th day");
	it = at(items, n, nov(24, 23));
	CHECKF(it && it->nwhy == 0, "the 8th day kept");
	it = at(items, n, nov(22, 23));
	CHECKF(it && it->nwhy == 1 && has_why(it, "weekly 2026-W47"), "week 47");
	it = at(items, n, nov(15, 23));
	CHECKF(it && has_why(it, "weekly 2026-W46"), "week 46");
	it = at(items, n, nov(8, 23));
	CHECKF(it && it->nwhy == 0, "week 45 kept");
	it = at(items, n, nov(1, 0) - H); /* 2026-10-31T23:00 */
	CHECKF(it && it->nwhy == 1 && has_why(it, "monthly 2026-10"), "October");
	it = at(items, n, nov(1, 0));
	CHECKF(it && it->nwhy == 0, "the first hour of November kept");
	CHECKF(has_why(&items[n - 1], "") == false && items[n - 1].nwhy == 0, "the oldest kept");
	/* the sixth month is July; June is not kept */
	size_t months = 0;
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < items[i].nwhy; k++)
			months += !strncmp(items[i].why[k], "monthly ", 8);
	CHECKF(months == 6, "%zu monthly", months);
	/* 0 turns a unit off; days alone keeps what it kept before */
	struct keep_policy off = { .days = 30, .keep_last = 1, .now_ms = NOW };
	keep_decide(&off, items, n, all_good, &asked);
	kept = 0;
	for (size_t i = 0; i < n; i++)
		kept += items[i].nwhy > 0;
	CHECKF(kept == 30 * 24, "age 30 alone kept %zu", kept);
	free(items);
}

/* good() false for the newest two: the third is the newest full, and the
 * damaged ones are still kept by the calendar. */
static bool third_good(size_t i, void *ctx)
{
	(*(int *)ctx)++;
	return i >= 3;
}

static void test_keep_last_and_pinned(void)
{
	struct keep_item items[6] = {
		{ .id = "full_future", .ts_ms = NOW + 48 * H, .kind = KEEP_FULL, .pinned = "future" },
		{ .id = "full_a", .ts_ms = nov(1, 3), .kind = KEEP_FULL },
		{ .id = "full_b", .ts_ms = nov(1, 2), .kind = KEEP_FULL },
		{ .id = "full_c", .ts_ms = nov(1, 1), .kind = KEEP_FULL },
		{ .id = "full_d", .ts_ms = nov(1, 0), .kind = KEEP_FULL },
		{ .id = "bad", .ts_ms = 0, .kind = KEEP_OTHER, .pinned = "unreadable" },
	};
	struct keep_policy p = { .keep = { 1, 0, 0, 0 }, .days = 1, .keep_last = 2, .now_ms = NOW };
	int asked = 0;
	keep_decide(&p, items, 6, third_good, &asked);
	CHECKF(has_why(&items[0], "future") && has_why(&items[0], "age"), "future: %d", items[0].nwhy);
	/* the pinned future one takes no bucket: the hour of full_a is the newest */
	CHECKF(items[1].nwhy == 1 && has_why(&items[1], "hourly 2026-11-01T03"), "full_a");
	CHECKF(items[2].nwhy == 0, "full_b (damaged) kept");
	CHECKF(has_why(&items[3], "newest full") && has_why(&items[4], "keep-last"), "c, d");
	CHECKF(asked == 4, "good() asked %d times", asked);
	CHECKF(items[5].nwhy == 1 && has_why(&items[5], "unreadable"), "unreadable");
	char line[256];
	keep_why_line(&items[1], line, sizeof line);
	CHECKF(!strcmp(line, "hourly 2026-11-01T03"), "%s", line);
	keep_why_line(&items[2], line, sizeof line);
	CHECKF(!strcmp(line, ""), "%s", line);
}

static void test_raffles(void)
{
	struct keep_item items[] = {
		{ .id = "raffle_new", .ts_ms = nov(20, 5), .kind = KEEP_RAFFLE },
		{ .id = "full_kept", .ts_ms = nov(20, 0), .kind = KEEP_FULL },
		{ .id = "raffle_mid", .ts_ms = nov(10, 5), .kind = KEEP_RAFFLE },
		{ .id = "raffle_mid2", .ts_ms = nov(10, 4), .kind = KEEP_RAFFLE },
		{ .id = "full_gone", .ts_ms = nov(10, 0), .kind = KEEP_FULL },
		{ .id = "raffle_kept_monthly", .ts_ms = nov(1, 5) - 24 * H, .kind = KEEP_RAFFLE },
		{ .id = "full_oct", .ts_ms = nov(1, 0) - 24 * H, .kind = KEEP_FULL },
		{ .id = "raffle_first", .ts_ms = nov(1, 0) - 48 * H, .kind = KEEP_RAFFLE },
	};
	size_t n = sizeof items / sizeof items[0];
	struct keep_policy p = { .keep = { 0, 0, 0, 2 }, .days = 1, .keep_last = 1, .now_ms = NOW };
	int asked = 0;
	keep_decide(&p, items, n, all_good, &asked);
	CHECKF(has_why(&items[0], "after full_kept") && items[0].nwhy == 1, "raffle_new");
	CHECKF(has_why(&items[1], "newest full") && has_why(&items[1], "monthly 2026-11"), "full_kept");
	CHECKF(items[2].nwhy == 0 && items[3].nwhy == 0 && items[4].nwhy == 0, "after full_gone");
	CHECKF(has_why(&items[5], "after full_oct") && has_why(&items[6], "monthly 2026-10"), "oct");
	CHECKF(items[7].nwhy == 0, "raffle_first: no full before it");
	/* the age rule keeps raffle backups whatever came before them */
	p.days = 30;
	keep_decide(&p, items, n, all_good, &asked);
	CHECKF(items[4].nwhy == 1 && has_why(&items[4], "age"), "age keeps full_gone");
	/* and a full backup kept by age keeps the raffle backups after it */
	CHECKF(items[2].nwhy == 2 && has_why(&items[2], "age") && has_why(&items[2], "after full_gone"),
	       "raffle_mid: %d", items[2].nwhy);
	CHECKF(items[7].nwhy == 0, "raffle_first");
}

int main(void)
{
	test_buckets();
	test_hourly_for_200_days();
	test_keep_last_and_pinned();
	test_raffles();
	return check_done("keep_test");
}
