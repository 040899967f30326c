#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	int rc = fclose(f);	/* sets *bufp: read it only now */
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

#define BUILDER(f, buf, len) \
	char *buf = NULL; size_t len = 0; FILE *f = open_memstream(&buf, &len); \
	if (!f) return NULL

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
	fprintf(f, "✅ %s Created Successfully\n\n", strcmp(type, "raffle") ?
	    "Backup" : "Raffle Backup");
	fprintf(f, "📦 ID: %s\n", reply_str(meta, "id", "?"));
	if (!strcmp(type, "raffle"))
		fprintf(f, "🎟️ Raffle: %s\n", reply_str(meta, "raffleId", "?"));
	fprintf(f, "📅 Timestamp: %s UTC\n📊 Type: %s\n💾 Size: %s", date, type, size);
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
	cJSON_ArrayForEach(m, metas) {
		fputs(n++ ? "\n\n" : "", f);
		created(f, m);
	}
	if (!n)
		fputs("ℹ️ No ended raffle needed a backup.", f);
	return done(f, &buf);
}

static void list_group(FILE *f, const cJSON *list, const char *type,
    const char *title, int *budget)
{
	const cJSON *e;
	int shown = 0;
	cJSON_ArrayForEach(e, list) {
		if (*budget <= 0)
			break;
		if (strcmp(reply_str(e, "type", ""), type))
			continue;
		char date[64], size[32];
		date_of(date, sizeof date, e);
		size_of(size, sizeof size, e);
		if (!shown++)
			fprintf(f, "\n%s\n", title);
		fprintf(f, "• %s\n  📅 %s | 💾 %s%s\n", reply_str(e, "id", "?"), date, size,
		    !strcmp(reply_str(e, "status", "ok"), "corrupt") ? " | ⚠️ corrupt" : "");
		(*budget)--;
	}
}

char *reply_list(const cJSON *list, int max)
{
	BUILDER(f, buf, len);
	int total = cJSON_GetArraySize(list);
	if (total == 0) {
		fputs("📭 No backups found.", f);
		return done(f, &buf);
	}
	/* the newest max of all, whatever their type, shown by group */
	cJSON *newest = cJSON_CreateArray();
	const cJSON *e;
	int n = 0;
	cJSON_ArrayForEach(e, list)
		if (n++ < max)
			cJSON_AddItemReferenceToArray(newest, (cJSON *)e);
	int budget = max;
	fprintf(f, "📋 Available Backups (times in UTC)\n");
	list_group(f, newest, "full", "🗂️ FULL BACKUPS:", &budget);
	list_group(f, newest, "raffle", "📄 RAFFLE BACKUPS:", &budget);
	cJSON_ArrayForEach(e, newest) {
		const char *t = reply_str(e, "type", "");
		if (strcmp(t, "full") && strcmp(t, "raffle") && budget-- > 0)
			fprintf(f, "\n• %s (%s)\n", reply_str(e, "id", "?"), t);
	}
	cJSON_Delete(newest);
	if (total > max)
		fprintf(f, "\n... and %d more", total - max);
	return done(f, &buf);
}

static void groups(FILE *f, unsigned skip, int skipped)
{
	static const char *always = "other tables";
	int n = 0;
	for (unsigned b = 1; b <= TGCMD_SKIP_REDIS; b <<= 1)
		if (!(skip & b) == !skipped)
			fprintf(f, "%s%s", n++ ? ", " : "", tgcmd_skip_group(b));
	if (!skipped)
		fprintf(f, "%s%s", n++ ? ", " : "", always);
}

char *reply_restore_warning(const char *id, const cJSON *entry, unsigned skip,
    long confirm_seconds)
{
	BUILDER(f, buf, len);
	fprintf(f, "⚠️ Restore backup %s?\n\n", id);
	if (entry) {
		char date[64], size[32];
		date_of(date, sizeof date, entry);
		size_of(size, sizeof size, entry);
		fprintf(f, "📅 %s UTC\n📊 Type: %s\n💾 Size: %s\n", date,
		    reply_str(entry, "type", "?"), size);
	}
	fputs("♻️ Will restore: ", f);
	groups(f, skip, 0);
	if (skip) {
		fputs("\n⏭️ Skipping: ", f);
		groups(f, skip, 1);
	}
	fprintf(f, "\n\nRows in the backup replace the current ones; a safety "
	    "backup of the current state is taken first.\nConfirm within %ld "
	    "seconds.", confirm_seconds);
	return done(f, &buf);
}

char *reply_restore_done(const cJSON *summary)
{
	BUILDER(f, buf, len);
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(summary, "tables"), *t;
	double rows = 0;
	cJSON_ArrayForEach(t, tables)
		rows += cJSON_IsNumber(t) ? t->valuedouble : 0;
	fprintf(f, "✅ Restore Completed\n\n📦 Backup: %s\n📊 Rows restored: %.0f\n",
	    reply_str(summary, "backup", "?"), rows);
	cJSON_ArrayForEach(t, tables)
		if (cJSON_IsNumber(t) && t->string)
			fprintf(f, "  • %s: %.0f\n", t->string, t->valuedouble);
	fprintf(f, "🔑 Redis keys: %.0f\n", num(summary, "redisKeys"));
	fprintf(f, "🛟 Safety backup: %s", reply_str(summary, "safetyBackup", "none"));
	return done(f, &buf);
}

char *reply_cleanup(const cJSON *summary)
{
	BUILDER(f, buf, len);
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(summary, "deleted"), *d;
	char freed[32];
	tgfmt_size(freed, sizeof freed, num(summary, "bytesFreed"));
	int n = cJSON_GetArraySize(del), i = 0;
	fprintf(f, "🧹 Cleanup Completed\n\n🗑️ Deleted: %d backup%s\n💾 Freed: %s\n",
	    n, n == 1 ? "" : "s", freed);
	cJSON_ArrayForEach(d, del)
		if (i++ < 10)
			fprintf(f, "  • %s\n", reply_str(d, "id", "?"));
	if (n > 10)
		fprintf(f, "  ... and %d more\n", n - 10);
	fprintf(f, "🧽 Temporary files removed: %.0f", num(summary, "tempFilesRemoved"));
	return done(f, &buf);
}

/* The last non-empty line of a tool's stderr, without its "bk-x: " prefix
 * kept out: the prefix says which tool spoke. */
static void last_line(char *out, size_t len, const char *err)
{
	const char *end = err + strlen(err);
	while (end > err && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > err && start[-1] != '\n')
		start--;
	size_t n = (size_t)(end - start);
	if (n >= len)
		n = len - 1;
	memcpy(out, start, n);
	out[n] = '\0';
}

char *reply_tool_failed(const char *what, int status, const char *err)
{
	BUILDER(f, buf, len);
	char line[400];
	last_line(line, sizeof line, err ? err : "");
	const char *why;
	switch (status) {
	case 75: why = "⏳ Busy: another backup job holds the lock, try again in a few minutes."; break;
	case 66: why = "❓ Not found."; break;
	case 65: why = "💥 The backup is damaged or not a bk backup."; break;
	case 69: why = "🔌 The database or Redis is unreachable."; break;
	case 73: case 74: why = "💾 Cannot write the backup (disk full or permissions?)."; break;
	case 77: why = "⛔ Not allowed."; break;
	case 127: why = "🧰 The tool is not installed next to the relay (or BK_BIN_DIR)."; break;
	default: why = "The tool failed."; break;
	}
	fprintf(f, "❌ %s failed\n\n%s", what, why);
	if (status != 75)
		fprintf(f, " (exit %d)", status);
	if (*line)
		fprintf(f, "\n%s", line);
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
	    "/backup_restore <id> [--skip-raffles] [--skip-analytics] "
	    "[--skip-users] [--skip-redis] - restore a backup (asks to confirm)\n"
	    "/backup_raffle <raffle_id> - back up one raffle\n"
	    "/backup_cleanup [days] - delete backups older than days\n"
	    "/help - this message\n\n"
	    "Backup ids look like full_1701396000000 or raffle_<id>_<ms>; "
	    "latest, full_latest, raffle_latest and raffle_<id>_latest name the newest.";
}

static int alias_match(const cJSON *e, const char *id)
{
	const char *type = reply_str(e, "type", "");
	if (!strcmp(reply_str(e, "status", "ok"), "corrupt"))
		return 0;
	if (!strcmp(id, "latest") || !strcmp(id, "full_latest"))
		return !strcmp(type, "full");
	if (strcmp(type, "raffle"))
		return 0;
	if (!strcmp(id, "raffle_latest"))
		return 1;
	/* raffle_<raffleId>_latest */
	size_t n = strlen(id) - strlen("raffle_") - strlen("_latest");
	const char *rid = reply_str(e, "raffleId", "");
	return strlen(rid) == n && !strncmp(rid, id + strlen("raffle_"), n);
}

const cJSON *reply_find_backup(const cJSON *list, const char *id)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
		if (!strcmp(reply_str(e, "id", ""), id))
			return e;
	if (!id_is_alias(id))
		return NULL;
	cJSON_ArrayForEach(e, list)	/* newest first: the first match */
		if (alias_match(e, id))
			return e;
	return NULL;
}
