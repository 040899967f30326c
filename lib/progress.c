#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "profile.h"
#include "progress.h"

static struct {
	bool on;
	const char *tool;
	char table[64];
	long long expected, rows, rows_before; /* rows_before: of the tables done */
	uint64_t bytes, total_bytes;
	double start, table_start, drawn;
} p;

void progress_setup(const char *tool, enum progress_mode mode)
{
	p.tool = tool;
	p.on = mode == PROGRESS_ON || (mode == PROGRESS_AUTO && isatty(STDERR_FILENO));
	p.start = prof_now();
}

void progress_total_bytes(uint64_t n)
{
	p.total_bytes = n;
}

static void mmss(char *out, size_t n, double s)
{
	long t = s < 0 ? 0 : (long)(s + 0.5);
	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(double now)
{
	double secs = now - p.start, mb = (double)p.bytes / 1e6;
	double rate = secs > 0 ? mb / secs : 0;
	char rows[64], eta[32] = "";
	if (p.expected >= 0)
		snprintf(rows, sizeof rows, "%lld/%lld rows", p.rows, p.expected);
	else
		snprintf(rows, sizeof rows, "%lld rows", p.rows);
	/* by bytes when the whole size is known, else the table's by its rows */
	double left = -1;
	if (p.total_bytes && p.bytes && p.bytes <= p.total_bytes)
		left = secs * (double)(p.total_bytes - p.bytes) / (double)p.bytes;
	else if (p.expected > 0 && p.rows > 0 && p.rows <= p.expected)
		left = (now - p.table_start) * (double)(p.expected - p.rows) / (double)p.rows;
	if (left >= 0) {
		char t[24];
		mmss(t, sizeof t, left);
		snprintf(eta, sizeof eta, "  ETA %s", t);
	}
	fprintf(stderr, "\r%s: %-24.24s %s  %.1f MB  %.1f MB/s%s\033[K", p.tool, p.table, rows, mb, rate,
		eta);
	fflush(stderr);
	p.drawn = now;
}

void progress_table(const char *name, long long expected)
{
	if (!p.on)
		return;
	p.rows_before += p.rows;
	p.rows = 0;
	p.expected = expected;
	p.table_start = prof_now();
	snprintf(p.table, sizeof p.table, "%s", name);
	draw(prof_now());
}

void progress_update(long long rows, uint64_t bytes)
{
	if (!p.on)
		return;
	p.rows = rows;
	p.bytes = bytes;
	if ((rows & 255) != 0)
		return;
	double now = prof_now();
	if (now - p.drawn >= 0.1)
		draw(now);
}

void progress_clear(void)
{
	if (p.on)
		fputs("\r\033[K", stderr);
}

void progress_finish(void)
{
	if (!p.on)
		return;
	double secs = prof_now() - p.start, mb = (double)p.bytes / 1e6;
	fprintf(stderr, "\r\033[K%s: %lld rows, %.1f MB in %.1f s (%.1f MB/s)\n", p.tool,
		p.rows_before + p.rows, mb, secs, secs > 0 ? mb / secs : 0);
	p.on = false;
}
