#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "clean.h"
#include "ids.h"
#include "store.h"
#include "timefmt.h"

struct tally {
	double bytes;		/* freed, or that would be */
	int rc;
};

/* Removes path (unless dry), adding its size to the tally; -1 after saying why not. */
static int remove_file(const char *path, bool dry, struct tally *t)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		warn("%s", path);
		t->rc = EX_IOERR;
		return -1;
	}
	if (!dry && unlink(path) < 0) {
		warn("cannot remove %s", path);
		t->rc = EX_IOERR;
		return -1;
	}
	t->bytes += (double)st.st_size;
	return 0;
}

/*
 * What a killed writer leaves: ".<id>.json.tmp-XXXXXX" (out_open_path) or
 * "<id>.json.sha256.tmp-XXXXXX" (write_file_atomic), XXXXXX from mkstemp.
 */
static bool temp_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 11 || strncmp(name + n - 11, ".tmp-", 5))
		return false;
	for (size_t i = n - 6; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return false;
	char base[ID_MAX + 16], id[ID_MAX];
	const char *from = name + (*name == '.');
	size_t len = (size_t)(name + n - 11 - from);
	if (len >= sizeof base)
		return false;
	memcpy(base, from, len);
	base[len] = '\0';
	return (*name == '.' && id_of_file_name(base, ".json", id)) ||
	       id_of_file_name(base, ".json.sha256", id);
}

static void add_deleted(cJSON *deleted, const struct backup_info *b)
{
	const char *base = strrchr(b->path, '/') ? strrchr(b->path, '/') + 1 : b->path;
	char id[ID_MAX];
	/* the file's name, which is what goes, not what its metadata claims */
	snprintf(id, sizeof id, "%.*s", (int)(strlen(base) - 5), base);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "id", id);
	cJSON_AddStringToObject(d, "type", b->type);
	cJSON_AddStringToObject(d, "timestamp", b->timestamp);
	cJSON_AddNumberToObject(d, "size", (double)b->size);
	cJSON_AddItemToArray(deleted, d);
}

/* Keeps a corrupt backup, says so once here and once in the report. */
static void keep_corrupt(cJSON *corrupt, const struct backup_info *b)
{
	warnx("%s: %s; kept (cannot be dated by its metadata; see bk-verify)", b->path, b->error);
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "path", b->path);
	cJSON_AddStringToObject(c, "error", b->error);
	cJSON_AddItemToArray(corrupt, c);
}

/* Newest first: the first keep_last whole full backups stay whatever their age. */
static int clean_backups(const struct clean_options *opt, cJSON *report, struct tally *t)
{
	struct backup_info *list;
	size_t n;
	int rc = store_list(opt->dir, NULL, &list, &n);
	if (rc)
		return rc;
	int64_t cutoff = now_ms() - (int64_t)opt->days * 86400 * 1000;
	long full_kept = 0, kept = 0;
	cJSON *deleted = cJSON_AddArrayToObject(report, "deleted");
	cJSON *corrupt = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		bool full = !b->error && !strcmp(b->type, "full");
		char sum[4096];
		if (b->error)
			keep_corrupt(corrupt, b);
		if (b->error || (full && full_kept < opt->keep_last) || b->ts_ms >= cutoff) {
			full_kept += full;
			kept++;
			continue;
		}
		/* the backup first: a checksum left alone is an orphan the next run removes */
		snprintf(sum, sizeof sum, "%s.sha256", b->path);
		if (remove_file(b->path, opt->dry_run, t) < 0) {
			kept++;
			continue;
		}
		remove_file(sum, opt->dry_run, t);
		add_deleted(deleted, b);
	}
	cJSON_AddNumberToObject(report, "kept", (double)kept);
	cJSON_AddItemToObject(report, "corrupt", corrupt);
	store_list_free(list, n);
	return 0;
}

/* Stale temporary files, and checksum files whose backup is gone. */
static int clean_strays(const struct clean_options *opt, cJSON *report, struct tally *t)
{
	DIR *d = opendir(opt->dir);
	if (!d) {
		warn("cannot read the backup directory %s", opt->dir);
		return EX_IOERR;
	}
	long temps = 0, orphans = 0;
	int64_t stale = now_ms() - CLEAN_TEMP_AGE_MS;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[4096], id[ID_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", opt->dir, e->d_name);
		if (temp_name(e->d_name)) {
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    (int64_t)st.st_mtim.tv_sec * 1000 < stale &&
			    remove_file(path, opt->dry_run, t) == 0)
				temps++;
		} else if (id_of_file_name(e->d_name, ".json.sha256", id)) {
			char json[4096];
			snprintf(json, sizeof json, "%s/%s.json", opt->dir, id);
			/* in a dry run the backups that would go still have their file */
			if (lstat(json, &st) < 0 && errno == ENOENT && lstat(path, &st) == 0 &&
			    S_ISREG(st.st_mode) && remove_file(path, opt->dry_run, t) == 0)
				orphans++;
		}
	}
	closedir(d);
	cJSON_AddNumberToObject(report, "tempFilesRemoved", (double)temps);
	cJSON_AddNumberToObject(report, "orphanChecksumsRemoved", (double)orphans);
	return 0;
}

int clean_run(const struct clean_options *opt, cJSON **report)
{
	struct tally t = { 0 };
	*report = cJSON_CreateObject();
	int rc = clean_backups(opt, *report, &t);
	if (!rc)
		rc = clean_strays(opt, *report, &t);
	cJSON_AddNumberToObject(*report, "bytesFreed", t.bytes);
	cJSON_AddBoolToObject(*report, "dryRun", opt->dry_run);
	cJSON_AddNumberToObject(*report, "days", (double)opt->days);
	cJSON_AddNumberToObject(*report, "keepLast", (double)opt->keep_last);
	return rc ? rc : t.rc;
}
