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
#include "xalloc.h"

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

/* What keep_decide asks of a local full backup: whether it verifies. */
struct local_ctx {
	const struct backup_info *list;
	cJSON *damaged;
};

static bool local_good(size_t i, void *ctx)
{
	struct local_ctx *c = ctx;
	return verifies(&c->list[i], c->damaged);
}

static void policy_of(const struct clean_options *opt, struct keep_policy *p)
{
	memcpy(p->keep, opt->keep, sizeof p->keep);
	p->days = opt->days;
	p->keep_last = opt->keep_last;
	p->now_ms = now_ms();
}

/* The rules of one backup, for the report and the dry run's table. */
static void add_backup(cJSON *backups, const char *id, const char *type, const char *ts,
		       const struct keep_item *it, bool dry)
{
	cJSON *o = cJSON_CreateObject(), *why = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "type", type ? type : "?");
	cJSON_AddStringToObject(o, "timestamp", ts ? ts : "?");
	for (int k = 0; k < it->nwhy; k++)
		cJSON_AddItemToArray(why, cJSON_CreateString(it->why[k]));
	cJSON_AddItemToObject(o, "keep", why);
	cJSON_AddItemToArray(backups, o);
	if (dry) {
		char line[KEEP_WHY_MAX * (KEEP_WHY_LEN + 2)];
		keep_why_line(it, line, sizeof line);
		/* an unreadable backup's timestamp is the file's to say: escaped */
		fprintf(stderr, "%-6s %-40s %-24s %s\n", it->nwhy ? "keep" : "delete", ESC(id),
			ts ? ESC(ts) : "?", it->nwhy ? line : "no rule keeps it");
	}
}

static void item_of(const struct backup_info *b, struct keep_item *it)
{
	it->id = b->file_id;
	it->ts_ms = b->ts_ms;
	it->kind = b->error			? KEEP_OTHER
		   : !strcmp(b->type, "full")	? KEEP_FULL
		   : !strcmp(b->type, "raffle") ? KEEP_RAFFLE
						: KEEP_OTHER;
	it->pinned = b->error ? "unreadable" : b->future ? "future" : NULL;
}

/* Newest first: keep_decide says what stays; the rest goes. */
static int clean_backups(const struct clean_options *opt, cJSON *report, struct tally *t)
{
	struct backup_info *list;
	size_t n;
	int rc = store_list(opt->dir, NULL, &list, &n);
	if (rc)
		return rc;
	struct keep_item *items = xcalloc(n ? n : 1, sizeof *items);
	long kept = 0;
	cJSON *deleted = cJSON_AddArrayToObject(report, "deleted");
	cJSON *corrupt = cJSON_CreateArray(), *damaged = cJSON_CreateArray();
	cJSON *backups = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		item_of(b, &items[i]);
		if (b->error)
			keep_corrupt(corrupt, b);
		else if (b->future) /* kept, but it does not count as one of the newest */
			warnx("%s: dated %s, in the future of this clock: kept, and not counted by "
			      "--keep-last (check the clock, or the file)",
			      ESC(b->path), ESC(b->timestamp));
	}
	struct keep_policy p;
	struct local_ctx ctx = { list, damaged };
	policy_of(opt, &p);
	keep_decide(&p, items, n, local_good, &ctx);
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		char sum[4096];
		add_backup(backups, b->file_id, b->type, b->timestamp, &items[i], opt->dry_run);
		if (items[i].nwhy) {
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
	cJSON_AddItemToObject(report, "backups", backups);
	free(items);
	store_list_free(list, n);
	return 0;
}

/* The settings in the report, the same locally and in the bucket. */
static void add_settings(cJSON *report, const struct clean_options *opt)
{
	static const char *const names[CAL_UNITS] = { "keepHourly", "keepDaily", "keepWeekly",
						      "keepMonthly" };
	cJSON_AddBoolToObject(report, "dryRun", opt->dry_run);
	cJSON_AddNumberToObject(report, "days", (double)opt->days);
	cJSON_AddNumberToObject(report, "keepLast", (double)opt->keep_last);
	for (int u = 0; u < CAL_UNITS; u++)
		cJSON_AddNumberToObject(report, names[u], (double)opt->keep[u]);
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
	add_settings(*report, opt);
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

/* A backup whose push did not finish (no checksum object) is no full backup to keep. */
static enum keep_kind remote_kind(const struct remote_backup *b)
{
	if (!strcmp(b->type, "full"))
		return b->whole ? KEEP_FULL : KEEP_OTHER;
	return !strcmp(b->type, "raffle") ? KEEP_RAFFLE : KEEP_OTHER;
}

static bool remote_good(size_t i, void *ctx)
{
	return ((const struct remote_backup *)ctx)[i].whole;
}

int clean_remote(const struct clean_options *opt, struct s3 *s, cJSON **report)
{
	struct remote_backup *list;
	struct keep_item *items = NULL;
	size_t n;
	*report = cJSON_CreateObject();
	cJSON_AddStringToObject(*report, "remote", s3_where(s, NULL));
	cJSON *deleted = cJSON_AddArrayToObject(*report, "deleted");
	cJSON *backups = cJSON_CreateArray();
	int rc = remote_list(s, NULL, &list, &n), first = 0;
	if (!rc)
		items = xcalloc(n ? n : 1, sizeof *items);
	long kept = 0;
	double bytes = 0;
	if (!rc) {
		struct keep_policy p;
		policy_of(opt, &p);
		for (size_t i = 0; i < n; i++) {
			items[i].id = list[i].id;
			items[i].ts_ms = list[i].ts_ms;
			items[i].kind = remote_kind(&list[i]);
		}
		keep_decide(&p, items, n, remote_good, list);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		const struct remote_backup *b = &list[i];
		char ts[32];
		format_iso_ms(b->ts_ms, ts);
		add_backup(backups, b->id, b->type, ts, &items[i], opt->dry_run);
		if (items[i].nwhy) {
			kept++;
			continue;
		}
		int r = opt->dry_run ? 0 : delete_remote(s, b);
		if (r) {
			first = first ? first : r;
			kept++;
			continue;
		}
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "id", b->id);
		cJSON_AddStringToObject(d, "type", b->type);
		cJSON_AddStringToObject(d, "timestamp", ts);
		cJSON_AddNumberToObject(d, "size", (double)b->size);
		cJSON_AddBoolToObject(d, "whole", b->whole);
		cJSON_AddItemToArray(deleted, d);
		bytes += (double)b->size;
	}
	if (!rc) {
		free(items);
		free(list);
	}
	cJSON_AddNumberToObject(*report, "kept", (double)kept);
	cJSON_AddItemToObject(*report, "backups", backups);
	cJSON_AddNumberToObject(*report, "bytesFreed", bytes);
	add_settings(*report, opt);
	return rc ? rc : first;
}
