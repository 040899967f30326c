#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keep.h"

const char *const cal_unit_name[CAL_UNITS] = { "hourly", "daily", "weekly", "monthly" };

void cal_bucket(int64_t ms, enum cal_unit u, char out[CAL_KEY_MAX])
{
	static const char *const fmt[CAL_UNITS] = { "%Y-%m-%dT%H", "%Y-%m-%d", "%G-W%V", "%Y-%m" };
	/* floor: a time before 1970 still falls in its own second */
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, CAL_KEY_MAX, fmt[u], &tm))
		snprintf(out, CAL_KEY_MAX, "?");
}

__attribute__((format(printf, 2, 3))) static void add_why(struct keep_item *it, const char *fmt, ...)
{
	if (it->nwhy >= KEEP_WHY_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->why[it->nwhy++], KEEP_WHY_LEN, fmt, ap);
	va_end(ap);
}

static bool calendar_full(const struct keep_item *it)
{
	return it->kind == KEEP_FULL && !it->pinned;
}

/* restic's rule: newest first, a backup whose bucket differs from the last
 * one seen opens a new bucket and is kept, until N buckets are open. */
static void keep_calendar(const struct keep_policy *p, struct keep_item *items, size_t n)
{
	for (int u = 0; u < CAL_UNITS; u++) {
		char last[CAL_KEY_MAX] = "", key[CAL_KEY_MAX];
		long left = p->keep[u];
		for (size_t i = 0; i < n && left > 0; i++) {
			if (!calendar_full(&items[i]))
				continue;
			cal_bucket(items[i].ts_ms, (enum cal_unit)u, key);
			if (!strcmp(key, last))
				continue;
			strcpy(last, key);
			add_why(&items[i], "%s %s", cal_unit_name[u], key);
			left--;
		}
	}
}

/* A raffle backup restores its raffle on top of the full backup taken
 * before it: it stays while that full backup does. */
static void keep_raffles(struct keep_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (items[i].kind != KEEP_RAFFLE || items[i].pinned)
			continue;
		size_t j = i + 1;
		while (j < n && !calendar_full(&items[j]))
			j++;
		if (j < n && items[j].nwhy)
			add_why(&items[i], "after %s", items[j].id);
	}
}

void keep_decide(const struct keep_policy *p, struct keep_item *items, size_t n,
		 bool (*good)(size_t i, void *ctx), void *ctx)
{
	long want = p->keep_last > 0 ? p->keep_last : 1, found = 0;
	int64_t cutoff = p->now_ms - (int64_t)p->days * 86400 * 1000;
	for (size_t i = 0; i < n; i++)
		items[i].nwhy = 0;
	for (size_t i = 0; i < n; i++) {
		struct keep_item *it = &items[i];
		if (it->pinned)
			add_why(it, "%s", it->pinned);
		if (calendar_full(it) && found < want && good(i, ctx))
			add_why(it, "%s", found++ ? "keep-last" : "newest full");
	}
	keep_calendar(p, items, n);
	for (size_t i = 0; i < n; i++)
		if (items[i].ts_ms >= cutoff)
			add_why(&items[i], "age");
	keep_raffles(items, n);
}

void keep_why_line(const struct keep_item *item, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (int k = 0; k < item->nwhy && o < len; k++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", k ? ", " : "", item->why[k]);
}
