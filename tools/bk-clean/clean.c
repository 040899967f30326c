#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "clean.h"
#include "fsafe.h"
#include "ids.h"
#include "remote.h"
#include "s3.h"
#include "store.h"
#include "timefmt.h"
#include "verify.h"

struct tally {
	double bytes; /* freed, or that would be */
	int rc;
};

/* Removes path (unless dry), adding its size to the tally; -1 after saying why not. */
static int remove_file(const char *path, bool dry, struct tally *t)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		warn("%s", ESC(path));
		t->rc = EX_IOERR;
		return -1;
	}
	if (!dry && unlink(path) < 0) {
		warn("cannot remove %s", ESC(path));
		t->rc = EX_IOERR;
		return -1;
	}
	t->bytes += (double)st.st_size;
	return 0;
}

/* The backup id of "<id>.json[.zst|.gz].sha256": true when the name is one. */
static bool checksum_name(const char *name, char *id)
{
	size_t n = strlen(name);
	char base[ID_MAX + 16];
	if (n <= 7 || n - 7 >= sizeof base || strcmp(name + n - 7, ".sha256"))
		return false;
	memcpy(base, name, n - 7);
	base[n - 7] = '\0';
	return store_file_id(base, id) != 0;
}

static void add_deleted(cJSON *deleted, const struct backup_info *b)
{
	cJSON *d = cJSON_CreateObject();
	/* the file's name, which is what goes, not what its metadata claims */
	cJSON_AddStringToObject(d, "id", b->file_id);
	cJSON_AddStringToObject(d, "type", b->type);
	cJSON_AddStringToObject(d, "timestamp", b->timestamp);
	cJSON_AddNumberToObject(d, "size", (double)b->size);
	cJSON_AddItemToArray(deleted, d);
}

/* Keeps a corrupt backup, says so once here and once in the report. */
static void keep_corrupt(cJSON *corrupt, const struct backup_info *b)
{
	warnx("%s: %s; kept (cannot be dated by its metadata; see bk-verify)", ESC(b->path), b->error);
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "path", b->path);
	cJSON_AddStringToObject(c, "error", b->error);
	cJSON_AddItemToArray(corrupt, c);
}

/* Whether a full backup verifies whole (bk-verify's check): only those
 * count toward --keep-last, so a damaged newer one never costs a good one. */
static bool verifies(const struct backup_info *b, cJSON *damaged)
{
	struct verify_result res;
	int rc = verify_backup(b->path, NULL, &res);
	if (rc) {
		const char *why = res.error[0] ? res.error : "cannot be read";
		warnx("%s: %s; it does not count toward --keep-last", b->path, why);
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "path", b->path);
		cJSON_AddStringToObject(d, "error", why);
		cJSON_AddItemToArray(damaged, d);
	}
	verify_result_free(&res);
	return rc == 0;
}

/* Newest first: the first keep_last full backups that verify stay whatever
 * their age, and never fewer than one (the newest good one). */
static int clean_backups(const struct clean_options *opt, cJSON *report, struct tally *t)
{
	struct backup_info *list;
	size_t n;
	int rc = store_list(opt->dir, NULL, &list, &n);
	if (rc)
		return rc;
	int64_t cutoff = now_ms() - (int64_t)opt->days * 86400 * 1000;
	long full_kept = 0, kept = 0, want = opt->keep_last > 0 ? opt->keep_last : 1;
	cJSON *deleted = cJSON_AddArrayToObject(report, "deleted");
	cJSON *corrupt = cJSON_CreateArray(), *damaged = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		bool full = !b->error && !b->future && !strcmp(b->type, "full");
		bool good = full && full_kept < want && verifies(b, damaged);
		char sum[4096];
		if (b->error)
			keep_corrupt(corrupt, b);
		else if (b->future) /* kept, but it does not count as one of the newest */
			warnx("%s: dated %s, in the future of this clock: kept, and not counted by "
			      "--keep-last (check the clock, or the file)",
			      ESC(b->path), ESC(b->timestamp));
		if (b->error || good || b->ts_ms >= cutoff) {
			full_kept += good;
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
	cJSON_AddItemToObject(report, "damaged", damaged);
	store_list_free(list, n);
	return 0;
}

/* Stale temporary files, and checksum files whose backup is gone. */
static int clean_strays(const struct clean_options *opt, cJSON *report, struct tally *t)
{
	DIR *d = opendir(opt->dir);
	if (!d && errno == ENOENT && opt->dry_run) /* said by clean_backups */
		return 0;
	if (!d) {
		warn("cannot read the backup directory %s", ESC(opt->dir));
		return EX_IOERR;
	}
	long temps = 0, orphans = 0;
	int64_t stale = now_ms() - CLEAN_TEMP_AGE_MS;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[4096], id[ID_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", opt->dir, e->d_name);
		if (fsafe_temp_name(e->d_name, id)) {
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    (int64_t)st.st_mtim.tv_sec * 1000 < stale &&
			    remove_file(path, opt->dry_run, t) == 0)
				temps++;
		} else if (checksum_name(e->d_name, id)) {
			char json[4096]; /* the backup it vouches for: its name less .sha256 */
			snprintf(json, sizeof json, "%s/%.*s", opt->dir, (int)strlen(e->d_name) - 7,
				 e->d_name);
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

/* Deletes the objects of a remote backup: its last checksum first. */
static int delete_remote(struct s3 *s, const struct remote_backup *b)
{
	char stored[ID_MAX + 16], name[ID_MAX + 32];
	int rc = 0;
	remote_stored_name(b, stored, sizeof stored);
	if (b->encrypted) {
		snprintf(name, sizeof name, "%s.gpg.sha256", stored);
		rc = s3_delete(s, name);
		snprintf(name, sizeof name, "%s.gpg", stored);
		if (!rc)
			rc = s3_delete(s, name);
		/* the plain checksum goes too, unless a plain copy of the same name has it */
		long long size;
		if (!rc && s3_head(s, stored, &size, NULL) == EX_NOINPUT) {
			snprintf(name, sizeof name, "%s.sha256", stored);
			rc = s3_delete(s, name);
		}
		return rc;
	}
	snprintf(name, sizeof name, "%s.sha256", stored);
	rc = s3_delete(s, name);
	return rc ? rc : s3_delete(s, stored);
}

int clean_remote(const struct clean_options *opt, struct s3 *s, cJSON **report)
{
	struct remote_backup *list;
	size_t n;
	*report = cJSON_CreateObject();
	cJSON_AddStringToObject(*report, "remote", s3_where(s, NULL));
	cJSON *deleted = cJSON_AddArrayToObject(*report, "deleted");
	int rc = remote_list(s, NULL, &list, &n), first = 0;
	int64_t cutoff = now_ms() - (int64_t)opt->days * 86400 * 1000;
	long full_kept = 0, kept = 0;
	double bytes = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct remote_backup *b = &list[i];
		bool good_full = b->whole && !strcmp(b->type, "full");
		if ((good_full && full_kept < opt->keep_last) || b->ts_ms >= cutoff) {
			full_kept += good_full;
			kept++;
			continue;
		}
		int r = opt->dry_run ? 0 : delete_remote(s, b);
		if (r) {
			first = first ? first : r;
			kept++;
			continue;
		}
		char ts[32];
		format_iso_ms(b->ts_ms, ts);
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "id", b->id);
		cJSON_AddStringToObject(d, "type", b->type);
		cJSON_AddStringToObject(d, "timestamp", ts);
		cJSON_AddNumberToObject(d, "size", (double)b->size);
		cJSON_AddBoolToObject(d, "whole", b->whole);
		cJSON_AddItemToArray(deleted, d);
		bytes += (double)b->size;
	}
	if (!rc)
		free(list);
	cJSON_AddNumberToObject(*report, "kept", (double)kept);
	cJSON_AddNumberToObject(*report, "bytesFreed", bytes);
	cJSON_AddBoolToObject(*report, "dryRun", opt->dry_run);
	cJSON_AddNumberToObject(*report, "days", (double)opt->days);
	cJSON_AddNumberToObject(*report, "keepLast", (double)opt->keep_last);
	return rc ? rc : first;
}
