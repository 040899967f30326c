#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "store.h"
#include "tgcmd.h"
#include "tgfmt.h"
#include "tgreply.h"

const char *reply_str(const cJSON *obj, const char *name, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : fallback;
}

static double num(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* open_memstream keeps the builders short; NULL when out of memory. */
static char *done(FILE *f, char **bufp)
{
	int rc = fclose(f); /* sets *bufp: read it only now */
	char *buf = *bufp;
	if (rc != 0 || !buf) {
		free(buf);
		return NULL;
	}
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

#define BUILDER(f, buf, len)                                                                                 \
	char *buf = NULL;                                                                                    \
	size_t len = 0;                                                                                      \
	FILE *f = open_memstream(&buf, &len);                                                                \
	if (!f)                                                                                              \
	return NULL

static void date_of(char *out, size_t len, const cJSON *obj)
{
	tgfmt_date(out, len, reply_str(obj, "timestamp", "unknown"));
}

static void size_of(char *out, size_t len, const cJSON *obj)
{
	tgfmt_size(out, len, num(obj, "size"));
}

static void created(FILE *f, const cJSON *meta)
{
	char date[64], size[32];
	const char *type = reply_str(meta, "type", "full");
	date_of(date, sizeof date, meta);
	size_of(size, sizeof size, meta);
	fprintf(f, "✅ %s Created Successfully\n\n", strcmp(type, "raffle") ? "Backup" : "Raffle Backup");
	fprintf(f, "📦 ID: `%s`\n", reply_str(meta, "id", "?"));
	if (!strcmp(type, "raffle"))
		fprintf(f, "🎟️ Raffle: `%s`\n", reply_str(meta, "raffleId", "?"));
	fprintf(f, "📅 Timestamp: %s UTC\n📊 Type: %s\n💾 Size: %s\n\n", date, type, size);
	fprintf(f, "Use /backup_download `%s` to download", reply_str(meta, "id", "?"));
}

char *reply_backup_created(const cJSON *meta)
{
	BUILDER(f, buf, len);
	created(f, meta);
	return done(f, &buf);
}

char *reply_backups_created(const cJSON *metas)
{
	BUILDER(f, buf, len);
	const cJSON *m;
	int n = 0;
	cJSON_ArrayForEach(m, metas)
	{
		fputs(n++ ? "\n\n" : "", f);
		created(f, m);
	}
	if (!n)
		fputs("ℹ️ No ended raffle needed a backup.", f);
	return done(f, &buf);
}

static void list_group(FILE *f, const struct backup_info *list, size_t n, const char *type, const char *title)
{
	int shown = 0;
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *e = &list[i];
		if (!e->type || strcmp(e->type, type))
			continue;
		char date[64], size[32];
		tgfmt_date(date, sizeof date, e->timestamp ? e->timestamp : "unknown");
		tgfmt_size(size, sizeof size, (double)e->size);
		if (!shown++)
			fprintf(f, "\n%s\n", title);
		fprintf(f, "• `%s`\n  📅 %s | 💾 %s%s\n", e->id, date, size,
			e->error ? " | ⚠️ corrupt" : "");
	}
}

char *reply_list(const struct backup_info *list, size_t n, int max)
{
	BUILDER(f, buf, len);
	if (n == 0) {
		fputs("📭 No backups found.", f);
		return done(f, &buf);
	}
	/* the newest max of all, whatever their type, shown by group */
	size_t shown = n < (size_t)max ? n : (size_t)max;
	fprintf(f, "📋 Available Backups (times in UTC)\n");
	list_group(f, list, shown, "full", "🗂️ FULL BACKUPS:");
	list_group(f, list, shown, "raffle", "📄 RAFFLE BACKUPS:");
	for (size_t i = 0; i < shown; i++) {
		const char *t = list[i].type ? list[i].type : "";
		if (strcmp(t, "full") && strcmp(t, "raffle"))
			fprintf(f, "\n• `%s` (%s)\n", list[i].id ? list[i].id : "?",
				list[i].error ? "⚠️ corrupt" : t);
	}
	if (n > shown)
		fprintf(f, "\n... and %zu more\n", n - shown);
	fputs("\nUse /backup_download <id> to download a backup\n"
	      "Use /backup_restore <id> to restore one",
	      f);
	return done(f, &buf);
}

/* A raffle backup holds one raffle's rows and its RaffleAnalytics row: only
 * those groups can change. */
static unsigned touched(const char *type)
{
	return type && !strcmp(type, "raffle") ? TGCMD_SKIP_RAFFLES | TGCMD_SKIP_ANALYTICS : TGCMD_SKIP_ALL;
}

static void groups(FILE *f, unsigned which, bool others)
{
	int n = 0;
	for (unsigned b = 1; b <= TGCMD_SKIP_REDIS; b <<= 1)
		if (which & b)
			fprintf(f, "%s%s", n++ ? ", " : "", tgcmd_skip_group(b));
	if (others)
		fprintf(f, "%sother tables", n ? ", " : "");
}

char *reply_restore_warning(const char *id, const struct backup_info *info, unsigned skip,
			    long confirm_seconds)
{
	BUILDER(f, buf, len);
	unsigned all = touched(info->type), restored = all & ~skip;
	bool raffle = all != TGCMD_SKIP_ALL;
	char date[64], size[32];
	tgfmt_date(date, sizeof date, info->timestamp ? info->timestamp : "unknown");
	tgfmt_size(size, sizeof size, (double)info->size);
	fprintf(f, "⚠️ Restore backup `%s`?\n\n", id);
	fprintf(f, "📅 %s UTC\n📊 Type: %s\n💾 Size: %s\n", date, info->type ? info->type : "?", size);
	if (raffle)
		fprintf(f, "🎟️ Raffle: `%s` (only its rows change)\n",
			info->raffle_id ? info->raffle_id : "?");
	fputs("♻️ Will restore: ", f);
	groups(f, restored, !raffle);
	if (skip & all) {
		fputs("\n⏭️ Skipping: ", f);
		groups(f, skip & all, false);
	}
	fprintf(f,
		"\n\nRows in the backup replace the current ones; a safety "
		"backup of the current state is taken first.\nConfirm within %ld "
		"seconds (the button, or type CONFIRM).",
		confirm_seconds);
	return done(f, &buf);
}

char *reply_restore_done(const cJSON *summary)
{
	BUILDER(f, buf, len);
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(summary, "tables"), *t;
	double rows = 0;
	cJSON_ArrayForEach(t, tables) rows += cJSON_IsNumber(t) ? t->valuedouble : 0;
	fprintf(f, "✅ Restore Completed\n\n📦 Backup: `%s`\n📊 Rows restored: %.0f\n",
		reply_str(summary, "backup", "?"), rows);
	cJSON_ArrayForEach(t, tables) if (cJSON_IsNumber(t) && t->string)
		fprintf(f, "  • %s: %.0f\n", t->string, t->valuedouble);
	fprintf(f, "🔑 Redis keys: %.0f\n", num(summary, "redisKeys"));
	const char *safety = reply_str(summary, "safetyBackup", NULL);
	if (safety)
		fprintf(f, "🛟 Safety backup: `%s`", safety);
	else
		fputs("🛟 Safety backup: none", f);
	return done(f, &buf);
}

char *reply_cleanup(const cJSON *summary)
{
	BUILDER(f, buf, len);
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(summary, "deleted"), *d;
	char freed[32];
	tgfmt_size(freed, sizeof freed, num(summary, "bytesFreed"));
	int n = cJSON_GetArraySize(del), i = 0;
	fprintf(f, "🧹 Cleanup Completed\n\n🗑️ Deleted: %d backup%s\n💾 Freed: %s\n", n,
		n == 1 ? "" : "s", freed);
	cJSON_ArrayForEach(d, del) if (i++ < 10) fprintf(f, "  • `%s`\n", reply_str(d, "id", "?"));
	if (n > 10)
		fprintf(f, "  ... and %d more\n", n - 10);
	fprintf(f, "🧽 Temporary files removed: %.0f", num(summary, "tempFilesRemoved"));
	return done(f, &buf);
}

/* The first line of a tool's stderr that says what failed (its "bk-x: "
 * prefix kept: it says which tool spoke); later lines are consequences
 * ("nothing has been changed"). */
static void first_line(char *out, size_t len, const char *err)
{
	const char *start = err;
	while (*start == '\n' || *start == '\r' || *start == ' ')
		start++;
	size_t n = strcspn(start, "\r\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, start, n);
	out[n] = '\0';
}

void reply_scrub(char *text, size_t size)
{
	char *clean = config_scrub(text);
	snprintf(text, size, "%s", clean); /* a mask longer than what it hides: the end gives way */
	free(clean);
}

char *reply_tool_failed(const char *what, int status, const char *err)
{
	BUILDER(f, buf, len);
	char line[400];
	first_line(line, sizeof line, err ? err : "");
	reply_scrub(line, sizeof line);
	const char *why;
	switch (status) {
	case 75: why = "⏳ Busy: another backup job holds the lock, try again in a few minutes."; break;
	case 66: why = "❓ Not found."; break;
	case 65: why = "💥 The backup is damaged or not a bk backup."; break;
	case 69: why = "🔌 The database or Redis is unreachable."; break;
	case 73:
	case 74: why = "💾 Cannot write the backup (disk full or permissions?)."; break;
	case 77: why = "⛔ Not allowed."; break;
	case 124: why = "⏰ Stopped: it ran longer than the relay's time limit."; break;
	case 127: why = "🧰 The tool is not installed next to the relay (or BK_BIN_DIR)."; break;
	default: why = "The tool failed."; break;
	}
	fprintf(f, "❌ %s failed\n\n%s", what, why);
	if (status != 75)
		fprintf(f, " (exit %d)", status);
	/* in a code span: what a tool prints is never taken for markup */
	for (char *p = line; *p; p++)
		if (*p == '`')
			*p = '\'';
	if (*line)
		fprintf(f, "\n`%s`", line);
	char *text = done(f, &buf);
	if (!text)
		return NULL;
	/* a tool may print anything: make sure Telegram accepts it */
	char *clean = tgfmt_utf8(text, strlen(text));
	free(text);
	return clean;
}

const char *reply_help(void)
{
	return "🤖 Backup Bot Commands\n\n"
	       "/backup - create a full backup\n"
	       "/backup_list - list the newest backups\n"
	       "/backup_download <id> - send a backup file\n"
	       "/backup_download <id> csv - send its tables as CSV files (tar.gz)\n"
	       "/backup_restore <id> [--skip-raffles] [--skip-analytics] "
	       "[--skip-users] [--skip-redis] - restore a backup (asks to confirm)\n"
	       "/backup_raffle <raffle_id> - back up one raffle\n"
	       "/backup_cleanup [days] - delete the backups no retention rule keeps; kept are "
	       "the newest full backup, the newest of each recent hour, day, week and month, "
	       "and all younger than days\n"
	       "/help or /adminhelp - this message\n\n"
	       "Backup ids look like `full_1701396000000` or `raffle_<id>_<ms>`; "
	       "`latest`, `full_latest`, `raffle_latest` and `raffle_<id>_latest` name the newest.";
}
