#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bkfile.h"
#include "config.h"
#include "fsafe.h"
#include "ids.h"
#include "store.h"
#include "zsrc.h"
#include "timefmt.h"
#include "xalloc.h"

#define HEAD_BYTES (64 * 1024)

/*
 * $BACKUP_DIR as an absolute path, so that every message names the place
 * whatever the working directory ("./backups" of the wrong directory is
 * the usual mistake). Not resolved further: a symbolic link stays as named.
 */
static const char *backup_dir(void)
{
	static char *abs;
	const char *dir = config_get("BACKUP_DIR", "./backups");
	if (!abs) {
		char cwd[4096];
		while (dir[0] == '.' && dir[1] == '/' && dir[2])
			for (dir += 2; *dir == '/'; dir++)
				;
		if (dir[0] == '/' || !getcwd(cwd, sizeof cwd))
			abs = xstrdup(dir);
		else
			abs = xasprintf("%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", dir);
	}
	return abs;
}

/* Makes dir 0700; made by root in another user's directory, it is that user's. */
static int make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		slash[slash == parent] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	if (fd >= 0) {
		rc = fsafe_give(fd, slash ? parent : ".");
		close(fd);
	}
	free(parent);
	return rc < 0 ? (errno = EPERM, -1) : 0;
}

int store_dir(const char **dir)
{
	*dir = backup_dir();
	if (make_dir(*dir) < 0) {
		warn("cannot create the backup directory %s", ESC(*dir));
		return EX_CANTCREAT;
	}
	struct stat st;
	if (stat(*dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		warnx("%s: not a directory (BACKUP_DIR)", ESC(*dir));
		return EX_CANTCREAT;
	}
	return fsafe_owner_check(*dir);
}

int store_dir_read(const char **dir)
{
	struct stat st;
	*dir = backup_dir();
	if (stat(*dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		warnx("%s: not a directory (BACKUP_DIR)", ESC(*dir));
		return EX_NOINPUT;
	}
	return 0;
}

/* A reader in the wrong directory: says where it looked. EX_NOINPUT. */
static int no_backup_dir(const char *dir)
{
	warnx("no backups in %s (BACKUP_DIR); run from the bot's directory or set BACKUP_DIR", ESC(dir));
	return EX_NOINPUT;
}

int store_lock(const char *dir, long wait_seconds, int *fd)
{
	return store_lock_named(dir, ".bk.lock", wait_seconds, fd);
}

int store_lock_named(const char *dir, const char *name, long wait_seconds, int *fd)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	const char *why;
	*fd = fsafe_open(path, O_RDWR | O_CREAT, 0600, &why);
	if (*fd >= 0 && fsafe_give(*fd, dir) < 0) {
		close(*fd);
		return EX_CANTCREAT;
	}
	if (*fd < 0) {
		if (why)
			warnx("the lock file %s is %s, not a regular file: remove it", ESC(path), why);
		else
			warn("cannot open the lock file %s", ESC(path));
		return EX_CANTCREAT;
	}
	for (long tries = wait_seconds * 10;; tries--) {
		if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK || tries <= 0)
			break;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	warnx("another bk job holds the lock %s; try again later (or use --wait SECONDS)", ESC(path));
	close(*fd);
	*fd = -1;
	return EX_TEMPFAIL;
}

const char *const store_suffixes[] = { ".json", ".json.zst", ".json.gz", NULL };

size_t store_file_id(const char *name, char *id)
{
	for (int i = 0; store_suffixes[i]; i++)
		if (id_of_file_name(name, store_suffixes[i], id))
			return strlen(store_suffixes[i]);
	return 0;
}

static char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (cJSON_IsNumber(v)) { /* raffle ids written as numbers */
		char *s;
		return asprintf(&s, "%.0f", v->valuedouble) < 0 ? NULL : s;
	}
	return NULL;
}

static void read_metadata(const char *head, size_t len, struct backup_info *info)
{
	cJSON *meta;
	int rc = bkfile_read_meta(head, len, &meta);
	if (rc == -1) {
		info->error = xstrdup("no metadata object at the start of the file");
		return;
	}
	if (rc == -3 || rc == -4) { /* verify and restore refuse it too */
		info->error =
			xstrdup(rc == -3 ? "two metadata objects" : "a member of the metadata appears twice");
		return;
	}
	if (rc < 0) {
		info->error = xstrdup("metadata is not valid JSON");
		return;
	}
	info->id = json_str(meta, "id");
	info->type = json_str(meta, "type");
	info->timestamp = json_str(meta, "timestamp");
	info->raffle_id = json_str(meta, "raffleId");
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(meta, "rowCounts"), *c;
	if (cJSON_IsObject(counts)) {
		info->rows = 0;
		cJSON_ArrayForEach(c, counts)
		{
			if (cJSON_IsNumber(c) && c->valuedouble >= 0)
				info->rows += (long long)c->valuedouble;
		}
	}
	cJSON_Delete(meta);
	if (!info->id || !info->type || !info->timestamp)
		info->error = xstrdup("metadata lacks id, type or timestamp");
	else if (parse_iso_ms(info->timestamp, &info->ts_ms) < 0)
		info->error = xstrdup("metadata timestamp is not ISO 8601");
}

/* A backup that was cut short does not end with the closing brace. */
static bool ends_whole(int fd, off_t size)
{
	char tail[64];
	off_t at = size > (off_t)sizeof tail ? size - (off_t)sizeof tail : 0;
	ssize_t n = pread(fd, tail, sizeof tail, at);
	while (n > 0 &&
	       (tail[n - 1] == '\n' || tail[n - 1] == ' ' || tail[n - 1] == '\r' || tail[n - 1] == '\t'))
		n--;
	return n > 0 && tail[n - 1] == '}';
}

int backup_info_read(const char *path, struct backup_info *info)
{
	*info = (struct backup_info){ .path = xstrdup(path), .stored_as = "json", .rows = -1 };
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char fid[ID_MAX];
	info->file_id = xstrdup(store_file_id(base, fid) ? fid : base);
	char sum[4096];
	snprintf(sum, sizeof sum, "%s.sha256", path);
	const char *why;
	info->checksum = fsafe_regular(sum, &why) == 0;
	int fd = fsafe_open(path, O_RDONLY, 0, &why);
	struct stat st;
	if (fd < 0 && errno == EACCES && lstat(path, &st) == 0 && st.st_uid != geteuid()) {
		/* what root wrote before it handed its files over: say how to fix it */
		char owner[64], self[64];
		info->size = st.st_size;
		info->ts_ms = (int64_t)st.st_mtim.tv_sec * 1000;
		info->error = xasprintf("permission denied: owned by %s; give it to %s "
					"(sudo chown %s: %s)",
					fsafe_user(st.st_uid, owner, sizeof owner),
					fsafe_user(geteuid(), self, sizeof self), self, ESC(path));
		return 0;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		info->error = xstrdup(why ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	info->size = st.st_size;
	info->ts_ms = (int64_t)st.st_mtim.tv_sec * 1000;
	int64_t now = now_ms();
	char *head = xmalloc(HEAD_BYTES);
	struct zsrc z;
	zsrc_init_fd(&z, fd);
	size_t n = 0;
	ssize_t got = 1;
	while (n < HEAD_BYTES && (got = zsrc_read(&z, head + n, HEAD_BYTES - n)) > 0)
		n += (size_t)got;
	info->stored_as = zsrc_kind_name(z.kind);
	if (got < 0 && n == 0)
		info->error = xstrdup(z.error);
	else
		read_metadata(head, n, info);
	/* a compressed file is checked whole by bk-verify: here only its head is read */
	if (!info->error && got < 0)
		info->error = xstrdup(z.error);
	if (!info->error && z.kind == ZSRC_PLAIN && !ends_whole(fd, st.st_size))
		info->error = xstrdup("truncated: the file does not end its JSON object");
	zsrc_free(&z);
	info->future = !info->error && fsafe_future(info->ts_ms, now);
	free(head);
	close(fd);
	return 0;
}

void backup_info_free(struct backup_info *info)
{
	free(info->id);
	free(info->type);
	free(info->timestamp);
	free(info->raffle_id);
	free(info->path);
	free(info->file_id);
	free(info->error);
}

static int newest_first(const void *a, const void *b)
{
	const struct backup_info *x = a, *y = b;
	if (x->ts_ms != y->ts_ms)
		return x->ts_ms < y->ts_ms ? 1 : -1;
	return strcmp(y->path, x->path);
}

int store_list(const char *dir, const char *type, struct backup_info **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d && errno == ENOENT) /* the wrong directory, or nothing was ever backed up */
		return no_backup_dir(dir);
	if (!d) {
		warn("cannot read the backup directory %s", ESC(dir));
		return EX_IOERR;
	}
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char id[ID_MAX];
		if (!store_file_id(e->d_name, id))
			continue;
		struct backup_info info;
		char path[4096];
		const char *why;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (fsafe_regular(path, &why) < 0) {
			if (why)
				fsafe_skip(path, why);
			continue;
		}
		backup_info_read(path, &info);
		if (type && (!info.type || strcmp(info.type, type))) {
			backup_info_free(&info);
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*list = xrealloc(*list, cap * sizeof **list);
		}
		(*list)[(*n)++] = info;
	}
	closedir(d);
	if (*n)
		qsort(*list, *n, sizeof **list, newest_first);
	return 0;
}

void store_list_free(struct backup_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		backup_info_free(&list[i]);
	free(list);
}

/* latest, full_latest, raffle_latest, raffle_<id>_latest: the newest whole match */
static int resolve_alias(const char *dir, const char *alias, char **path)
{
	const char *type = strncmp(alias, "raffle_", 7) ? "full" : "raffle";
	char raffle[ID_MAX] = "";
	if (strcmp(alias, "raffle_latest") && !strcmp(type, "raffle"))
		snprintf(raffle, sizeof raffle, "%.*s", (int)(strlen(alias) - 14), alias + 7);
	struct backup_info *list;
	size_t n;
	int rc = store_list(dir, type, &list, &n);
	if (rc)
		return rc;
	*path = NULL;
	for (size_t i = 0; i < n && !*path; i++) {
		if (list[i].error || (*raffle && (!list[i].raffle_id || strcmp(list[i].raffle_id, raffle))))
			continue;
		if (list[i].future)
			warnx("%s: dated %s, in the future of this clock: skipped by %s "
			      "(check the clock, or the file)",
			      ESC(list[i].path), ESC(list[i].timestamp), alias);
		else
			*path = xstrdup(list[i].path);
	}
	store_list_free(list, n);
	if (!*path) {
		warnx("%s: no such backup in %s", alias, ESC(dir));
		return EX_NOINPUT;
	}
	return 0;
}

int store_resolve(const char *dir, const char *arg, char **path)
{
	if (!strcmp(arg, "-") || strchr(arg, '/')) {
		*path = xstrdup(arg);
		if (strcmp(arg, "-") && access(arg, R_OK) < 0) {
			warn("%s", ESC(arg));
			free(*path);
			*path = NULL; /* callers free it whatever the result */
			return EX_NOINPUT;
		}
		return 0;
	}
	if (id_is_alias(arg))
		return resolve_alias(dir, arg, path);
	if (!id_valid(arg)) {
		warnx("%s: not a backup id (expected full_..., raffle_... or manual_..., "
		      "letters, digits, _ and - only)",
		      ESC(arg));
		return EX_USAGE;
	}
	/* <id>.json, then .json.zst, .json.gz: the first name present (whatever
	 * it is, so that a symlink under the first name is refused, not skipped) */
	*path = NULL;
	const char *why = NULL;
	int rc = -1;
	for (int i = 0; store_suffixes[i]; i++) {
		free(*path);
		*path = xasprintf("%s/%s%s", dir, arg, store_suffixes[i]);
		if ((rc = fsafe_regular(*path, &why)) == 0 || why)
			break;
	}
	struct stat st;
	if (rc < 0 && !why && stat(dir, &st) < 0 && errno == ENOENT) {
		free(*path);
		*path = NULL;
		return no_backup_dir(dir);
	}
	if (rc < 0) {
		if (why)
			warnx("%s: %s in %s, not a regular file: refused", arg, why, ESC(dir));
		else
			warnx("%s: no such backup in %s (see bk-list)", arg, ESC(dir));
		free(*path);
		*path = NULL; /* callers free it whatever the result */
		return EX_NOINPUT;
	}
	return 0;
}
