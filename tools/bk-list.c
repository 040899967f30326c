/* bk-list: the backups in the backup directory, newest first. */
#include <err.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "fsafe.h"
#include "config.h"
#include "remote.h"
#include "s3.h"
#include "store.h"
#include "tgfmt.h"
#include "timefmt.h"

#define FUTURE_WHY "dated in the future (over 5 minutes ahead of this clock): check the clock"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-list [--json | --table] [--type full|raffle] [--limit N] [--remote]\n"
		   "       bk-list -h | --help | --version\n"
		   "\n"
		   "Lists the backups in $BACKUP_DIR, newest first by metadata timestamp:\n"
		   "a JSON array when stdout is not a terminal (sizes in bytes), a table\n"
		   "when it is (age, rows, raffle, size in KiB/MiB/GiB, compression).\n"
		   "A missing $BACKUP_DIR is an error (66): it is never created.\n"
		   "\n"
		   "  -j, --json            JSON array, even on a terminal\n"
		   "  -t, --table           aligned table, even off a terminal\n"
		   "  -T, --type TYPE       only full or only raffle backups\n"
		   "  -n, --limit N         at most N backups\n"
		   "  -r, --remote          the backups in the bucket of $BK_S3_URL instead\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

/* Sizes in binary units, as they are counted: 512 B, 47.1 KiB, 3.4 MiB, 1.2 GiB. */
static void size_iec(char *buf, size_t len, double bytes)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t i = 0;
	while (bytes >= 1024 && i + 1 < sizeof units / sizeof *units) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes < 0 ? 0 : bytes, units[i]);
}

static cJSON *entry_json(const struct backup_info *b)
{
	cJSON *e = cJSON_CreateObject();
	/* The id is the file's name: what the other tools are given. */
	cJSON_AddStringToObject(e, "id", b->file_id);
	cJSON_AddItemToObject(e, "type", b->type ? cJSON_CreateString(b->type) : cJSON_CreateNull());
	cJSON_AddItemToObject(e, "timestamp",
			      b->timestamp ? cJSON_CreateString(b->timestamp) : cJSON_CreateNull());
	cJSON_AddNumberToObject(e, "size", (double)b->size);
	cJSON_AddItemToObject(e, "rows",
			      b->rows >= 0 ? cJSON_CreateNumber((double)b->rows) : cJSON_CreateNull());
	cJSON_AddItemToObject(e, "raffleId",
			      b->raffle_id ? cJSON_CreateString(b->raffle_id) : cJSON_CreateNull());
	cJSON_AddBoolToObject(e, "checksum", b->checksum);
	cJSON_AddStringToObject(e, "compression", strcmp(b->stored_as, "json") ? b->stored_as : "none");
	cJSON_AddStringToObject(e, "path", b->path);
	cJSON_AddStringToObject(e, "status", b->error ? "corrupt" : b->future ? "future" : "ok");
	if (b->error)
		cJSON_AddStringToObject(e, "error", b->error);
	else if (b->future)
		cJSON_AddStringToObject(e, "error", FUTURE_WHY);
	return e;
}

/* A backup in the bucket, with the fields of a local one. */
static cJSON *remote_json(struct s3 *s, const struct remote_backup *b)
{
	char ts[32], object[ID_MAX + 16];
	cJSON *e = cJSON_CreateObject();
	format_iso_ms(b->ts_ms, ts);
	remote_object(b, object, sizeof object);
	cJSON_AddStringToObject(e, "id", b->id);
	cJSON_AddStringToObject(e, "type", b->type);
	cJSON_AddStringToObject(e, "timestamp", ts);
	cJSON_AddNumberToObject(e, "size", (double)b->size);
	cJSON_AddItemToObject(e, "raffleId",
			      b->raffle_id[0] ? cJSON_CreateString(b->raffle_id) : cJSON_CreateNull());
	cJSON_AddBoolToObject(e, "checksum", b->whole);
	cJSON_AddStringToObject(e, "path", s3_where(s, object));
	cJSON_AddBoolToObject(e, "encrypted", b->encrypted);
	cJSON_AddStringToObject(e, "compression", remote_compression(b));
	/* no checksum object: its push did not finish (or is under way) */
	cJSON_AddStringToObject(e, "status", b->whole ? "ok" : "incomplete");
	return e;
}

static int list_remote(const char *type, long limit, int as_table)
{
	struct s3 *s;
	struct remote_backup *list;
	size_t n;
	int rc = s3_open(&s);
	if (!rc)
		rc = remote_list(s, type, &list, &n);
	if (rc) {
		s3_close(s);
		return rc;
	}
	size_t shown = limit >= 0 && (size_t)limit < n ? (size_t)limit : n;
	if (as_table) {
		printf("%-32s  %-6s  %-24s  %10s  %-3s  %-3s  %s\n", "ID", "TYPE", "TIMESTAMP", "SIZE", "SUM",
		       "GPG", "STATUS");
		for (size_t i = 0; i < shown; i++) {
			char size[32], ts[32];
			size_iec(size, sizeof size, (double)list[i].size);
			format_iso_ms(list[i].ts_ms, ts);
			printf("%-32s  %-6s  %-24s  %10s  %-3s  %-3s  %s\n", list[i].id, list[i].type, ts,
			       size, list[i].whole ? "yes" : "no", list[i].encrypted ? "yes" : "no",
			       list[i].whole ? "ok" : "incomplete");
		}
	} else {
		cJSON *all = cJSON_CreateArray();
		for (size_t i = 0; i < shown; i++)
			cJSON_AddItemToArray(all, remote_json(s, &list[i]));
		char *text = cJSON_Print(all);
		puts(text);
		free(text);
		cJSON_Delete(all);
	}
	free(list);
	s3_close(s);
	return 0;
}

static void print_json(const struct backup_info *list, size_t n)
{
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(all, entry_json(&list[i]));
	char *text = cJSON_Print(all);
	puts(text);
	free(text);
	cJSON_Delete(all);
}

/* How long ago: "45 s ago", "12 min ago", "3 h ago" (up to two days), "2 d ago". */
static void age_text(char *buf, size_t len, int64_t ts_ms, int64_t now)
{
	int64_t s = (now - ts_ms) / 1000;
	const char *fmt = s < 0 ? "in %lld %s" : "%lld %s ago";
	s = s < 0 ? -s : s;
	if (s < 60)
		snprintf(buf, len, fmt, (long long)s, "s");
	else if (s < 3600)
		snprintf(buf, len, fmt, (long long)(s / 60), "min");
	else if (s < 48 * 3600)
		snprintf(buf, len, fmt, (long long)(s / 3600), "h");
	else
		snprintf(buf, len, fmt, (long long)(s / 86400), "d");
}

/* "2026-11-26 15:57" in UTC, as the metadata says (its timestamp, to the minute). */
static void time_text(char *buf, size_t len, int64_t ts_ms)
{
	char iso[32];
	format_iso_ms(ts_ms, iso);
	snprintf(buf, len, "%.10s %.5s", iso, iso + 11);
}

static int width(const struct backup_info *list, size_t n, int min, bool raffle)
{
	int w = min;
	for (size_t i = 0; i < n; i++) {
		const char *s = raffle ? list[i].raffle_id : list[i].file_id;
		int len = s ? (int)strlen(s) : 0;
		w = len > w ? len : w;
	}
	return w;
}

/*
 * For a person: what, how old, how big. Local backups are never encrypted
 * (bk-push encrypts the copy it uploads), so the table has no such column;
 * --remote shows it.
 */
static void print_table(const struct backup_info *list, size_t n)
{
	int w = width(list, n, 2, false), rw = width(list, n, 6, true);
	int64_t now = now_ms();
	printf("%-*s  %-6s  %-11s  %-16s  %9s  %-*s  %10s  %-10s  %-3s  %s\n", w, "ID", "KIND", "AGE",
	       "TIME (UTC)", "ROWS", rw, "RAFFLE", "SIZE", "COMPRESSED", "SUM", "STATUS");
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		char size[32], age[32], when[32], rows[32];
		size_iec(size, sizeof size, (double)b->size);
		age_text(age, sizeof age, b->ts_ms, now);
		time_text(when, sizeof when, b->ts_ms);
		snprintf(rows, sizeof rows, b->rows < 0 ? "?" : "%lld", b->rows);
		printf("%-*s  %-6s  %-11s  %-16s  %9s  %-*s  %10s  %-10s  %-3s  %s\n", w, b->file_id,
		       b->type ? b->type : "?", age, when, rows, rw, b->raffle_id ? b->raffle_id : "-", size,
		       strcmp(b->stored_as, "json") ? b->stored_as : "no", b->checksum ? "yes" : "no",
		       b->error	   ? b->error
		       : b->future ? FUTURE_WHY
				   : "ok");
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	  { "table", no_argument, NULL, 't' },
		{ "type", required_argument, NULL, 'T' }, { "limit", required_argument, NULL, 'n' },
		{ "remote", no_argument, NULL, 'r' },	  { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	  { 0 },
	};
	int as_table = isatty(STDOUT_FILENO), c, remote = 0;
	const char *type = NULL;
	long limit = -1;
	while ((c = getopt_long(argc, argv, "jtT:n:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': remote = 1; break;
		case 'j': as_table = 0; break;
		case 't': as_table = 1; break;
		case 'T':
			if (strcmp(optarg, "full") && strcmp(optarg, "raffle"))
				errx(EX_USAGE, "--type: expected full or raffle, not '%s'", ESC(optarg));
			type = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000000, &limit) < 0)
				errx(EX_USAGE, "--limit: expected a number, not '%s'", ESC(optarg));
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-list " BK_VERSION); return 0;
		default: return usage_error("bk-list");
		}
	}
	if (optind != argc)
		return usage_error("bk-list");

	const char *dir;
	struct backup_info *list = NULL;
	size_t n = 0;
	int rc = config_load();
	if (!rc && remote)
		return list_remote(type, limit, as_table);
	if (!rc)
		rc = store_dir_read(&dir);
	if (!rc)
		rc = store_list(dir, type, &list, &n);
	if (rc)
		return rc;
	size_t shown = limit >= 0 && (size_t)limit < n ? (size_t)limit : n;
	if (as_table)
		print_table(list, shown);
	else
		print_json(list, shown);
	store_list_free(list, n);
	return 0;
}
