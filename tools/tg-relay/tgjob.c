#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "fsafe.h"
#include "store.h"
#include "tgfmt.h"
#include "tgjob.h"
#include "tgreply.h"
#include "xalloc.h"

extern char **environ;

/* The tools print one JSON document; tolerate log lines before it. */
static cJSON *parse_output(const char *out, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(out, len);
	if (doc || len == 0)
		return doc;
	const char *end = out + len;
	while (end > out && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *start = end;
	while (start > out && start[-1] != '\n')
		start--;
	return cJSON_ParseWithLength(start, (size_t)(end - start));
}

int tgjob_tool(const struct tgjob *job, const char *tool, const char *const args[], cJSON **json,
	       struct spawn_result *r)
{
	char path[PATH_MAX];
	const char *argv[16] = { tool };
	size_t n = 1;
	*json = NULL;
	for (; args && args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if (snprintf(path, sizeof path, "%s/%s", job->bin_dir, tool) >= (int)sizeof path ||
	    spawn_run(path, (char *const *)argv, environ, job->time_limit, r) < 0) {
		memset(r, 0, sizeof *r);
		r->err = strdup(strerror(errno));
		r->status = 127;
		return 127;
	}
	if (r->timed_out) {
		free(r->err);
		r->err = xasprintf("%s stopped after %ld s (BK_JOB_TIMEOUT)", tool, job->time_limit);
		r->status = 124;
	}
	if (r->status == 0)
		*json = parse_output(r->out, r->out_len);
	return r->status;
}

void tgjob_reply(const struct tgjob *job, const char *text)
{
	if (tgjob_say(job->tg, job->chat, text, NULL) != 0)
		warnx("reply to %s: %s", job->chat, tg_error(job->tg));
}

int tgjob_say(struct tg *tg, const char *chat, const char *text, const cJSON *markup)
{
	if (!text)
		text = "❌ Out of memory while formatting the reply.";
	char *md = tgfmt_markdown(text);
	int rc = md ? tg_send_text(tg, chat, md, "MarkdownV2", markup) : EX_DATAERR;
	free(md);
	if (rc == EX_DATAERR) { /* Telegram could not parse it: the plain text */
		char *plain = strdup(text), *o = plain;
		for (const char *p = text; plain && *p; p++)
			if (*p != '`')
				*o++ = *p;
		if (plain)
			*o = '\0';
		rc = tg_send_text(tg, chat, plain ? plain : text, NULL, markup);
		free(plain);
	}
	return rc;
}

/* The backup to send: resolved and described by the store, like bk-list
 * would; a damaged one is not sent. Returns 0 with *fd open, or says why not. */
static int open_backup(const struct tgjob *job, struct backup_info *info, int *fd, struct stat *st)
{
	const char *dir;
	char *path = NULL, text[ID_MAX + 400];
	*fd = -1;
	int rc = store_dir(&dir);
	if (!rc)
		rc = store_resolve(dir, job->cmd.arg, &path);
	if (!rc) {
		backup_info_read(path, info);
		const char *why;
		if (!info->error && ((*fd = fsafe_open(path, O_RDONLY, 0, &why)) < 0 || fstat(*fd, st) < 0))
			rc = EX_NOINPUT; /* gone, or replaced by a symlink since */
	}
	free(path);
	/* an alias is shown as the id it named; an id as typed, whatever the
	 * (maybe damaged) file says of itself */
	const char *id = info->id && id_is_alias(job->cmd.arg) ? info->id : job->cmd.arg;
	if (rc == EX_NOINPUT || rc == EX_USAGE) {
		snprintf(text, sizeof text, "❓ Backup `%s` not found. See /backup_list.", id);
		tgjob_reply(job, text);
		return EX_NOINPUT;
	}
	if (!rc && info->error) {
		snprintf(text, sizeof text, "💥 Backup `%s` is damaged (%s): not sent.", id, info->error);
		tgjob_reply(job, text);
		return EX_DATAERR;
	}
	if (rc)
		tgjob_reply(job, "❌ Cannot read the backup directory (BACKUP_DIR).");
	return rc;
}

/* A plain backup over the upload limit may have a compressed copy beside
 * it (<id>.json.zst, .json.gz): the smallest regular one replaces it (path,
 * *fd and *st then describe the copy). */
static void smaller_copy(char *path, size_t pathlen, int *fd, struct stat *st)
{
	static const char *const exts[] = { ".zst", ".gz" };
	char plain[PATH_MAX];
	size_t n = strlen(path);
	if (n < 5 || strcmp(path + n - 5, ".json") || n >= sizeof plain)
		return;
	memcpy(plain, path, n + 1);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		char alt[PATH_MAX];
		struct stat ast;
		const char *why;
		if (snprintf(alt, sizeof alt, "%s%s", plain, exts[i]) >= (int)sizeof alt ||
		    strlen(alt) >= pathlen)
			continue;
		int afd = fsafe_open(alt, O_RDONLY, 0, &why);
		if (afd < 0)
			continue;
		if (fstat(afd, &ast) == 0 && ast.st_size < st->st_size) {
			close(*fd);
			*fd = afd;
			*st = ast;
			snprintf(path, pathlen, "%s", alt);
		} else {
			close(afd);
		}
	}
}

static void download(const struct tgjob *job, char *outcome, size_t len)
{
	struct backup_info info = { 0 };
	struct stat st;
	char size[32], text[PATH_MAX + 1024], path[PATH_MAX];
	int fd, rc = open_backup(job, &info, &fd, &st);
	const char *id = info.id && id_is_alias(job->cmd.arg) ? info.id : job->cmd.arg;
	snprintf(path, sizeof path, "%s", info.path ? info.path : "");
	if (!rc && st.st_size > job->upload_limit)
		smaller_copy(path, sizeof path, &fd, &st);
	if (!rc && st.st_size > job->upload_limit) {
		tgfmt_size(size, sizeof size, (double)st.st_size);
		snprintf(text, sizeof text,
			 "📦 `%s` is %s, above Telegram's upload limit "
			 "for bots (50 MB).\nCopy it from the server instead: %s",
			 id, size, path);
		tgjob_reply(job, text);
		rc = EX_DATAERR;
	} else if (!rc) {
		char filename[ID_MAX + 8], caption[256];
		tgfmt_size(size, sizeof size, (double)st.st_size);
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		char sid[ID_MAX]; /* <id>.json, .json.zst or .json.gz, as stored */
		size_t suffix = store_file_id(base, sid);
		snprintf(filename, sizeof filename, "%s%s", id,
			 suffix ? base + strlen(base) - suffix : ".json");
		snprintf(caption, sizeof caption, "📦 %s\n💾 %s", id, size);
		rc = tg_send_document_fd(job->tg, job->chat, fd, filename, caption, NULL);
		if (rc != 0) {
			snprintf(text, sizeof text, "❌ Upload of `%s` failed: %s", id, tg_error(job->tg));
			tgjob_reply(job, text);
		}
	}
	if (fd >= 0)
		close(fd);
	snprintf(outcome, len, rc ? "failed (%d)" : "ok", rc);
	backup_info_free(&info);
}

/* The relay's temporary directory for a CSV export: removed with all it holds
 * (the export's directory, its files, the archive: two levels at most). */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
			continue;
		/* d_type may be DT_UNKNOWN: a directory then shows as EISDIR */
		if (e->d_type == DT_DIR || (unlink(p) < 0 && errno == EISDIR))
			remove_tree(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* A tool that failed: its status and stderr (token scrubbed) in the reply. */
static void reply_failed(const struct tgjob *job, const char *what, int st, const char *err)
{
	char *text = reply_tool_failed(what, st, err);
	if (text)
		tg_scrub_token(job->tg, text);
	tgjob_reply(job, text);
	free(text);
}

/* tar, run without a shell: the system's, at a fixed place. */
static int run_tar(const struct tgjob *job, const char *tarball, const char *tmp, const char *id)
{
	static const char *const paths[] = { "/usr/bin/tar", "/bin/tar" };
	const char *tar = NULL;
	for (size_t i = 0; !tar && i < sizeof paths / sizeof paths[0]; i++)
		if (access(paths[i], X_OK) == 0)
			tar = paths[i];
	char *const argv[] = { "tar", "-czf", (char *)tarball, "-C", (char *)tmp, (char *)id, NULL };
	struct spawn_result r;
	if (!tar || spawn_run(tar, argv, environ, job->time_limit, &r) < 0) {
		tgjob_reply(job, "❌ CSV export: cannot run tar (/usr/bin/tar).");
		return 127;
	}
	int st = r.status;
	if (st)
		reply_failed(job, "CSV export (tar)", st, r.err);
	spawn_free(&r);
	return st;
}

/* bk-export of the backup at path into <tmp>/<id>/, packed as tarball. */
static int csv_pack(const struct tgjob *job, const char *tmp, const char *id, const char *path,
		    const char *tarball)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s/%s", tmp, id) >= (int)sizeof dir) {
		reply_failed(job, "CSV export", EX_SOFTWARE, "the temporary directory's name is too long");
		return EX_SOFTWARE;
	}
	const char *args[] = { "--csv", dir, "--quiet", "--", path, NULL };
	cJSON *json;
	struct spawn_result r;
	int st = tgjob_tool(job, "bk-export", args, &json, &r);
	if (st)
		reply_failed(job, "CSV export", st, r.err);
	cJSON_Delete(json);
	spawn_free(&r);
	return st ? st : run_tar(job, tarball, tmp, id);
}

/* Sends the archive if it fits; else its size and the command that makes it. */
static int csv_send(const struct tgjob *job, const char *id, const char *tarball)
{
	char size[32], text[ID_MAX * 2 + 400], filename[ID_MAX + 16], caption[ID_MAX + 64];
	struct stat st;
	const char *why;
	int fd = fsafe_open(tarball, O_RDONLY, 0, &why), rc;
	if (fd < 0 || fstat(fd, &st) < 0) {
		tgjob_reply(job, "❌ CSV export: the archive cannot be read.");
		if (fd >= 0)
			close(fd);
		return EX_IOERR;
	}
	tgfmt_size(size, sizeof size, (double)st.st_size);
	if (st.st_size > job->upload_limit) {
		snprintf(text, sizeof text,
			 "📦 The CSV export of `%s` is %s (tar.gz), above Telegram's "
			 "upload limit for bots (50 MB).\nMake it on the server instead: "
			 "bk-export --csv DIR %s",
			 id, size, id);
		tgjob_reply(job, text);
		close(fd);
		return EX_DATAERR;
	}
	snprintf(filename, sizeof filename, "%s.csv.tar.gz", id);
	snprintf(caption, sizeof caption, "📊 %s as CSV\n💾 %s", id, size);
	rc = tg_send_document_fd(job->tg, job->chat, fd, filename, caption, NULL);
	if (rc != 0) {
		snprintf(text, sizeof text, "❌ Upload of `%s` failed: %s", id, tg_error(job->tg));
		tgjob_reply(job, text);
	}
	close(fd);
	return rc;
}

/*
 * /backup_download <id> csv: bk-export into a temporary directory of its
 * own ($TMPDIR, else /tmp), a tar.gz of it, sent when it fits; the directory
 * is removed whatever happens.
 */
static void download_csv(const struct tgjob *job, char *outcome, size_t len)
{
	struct backup_info info = { 0 };
	struct stat st;
	char tmp[PATH_MAX] = "", tarball[PATH_MAX];
	int fd, rc = open_backup(job, &info, &fd, &st);
	if (fd >= 0)
		close(fd);
	/* the name the file has in BACKUP_DIR (validated), never what it says of itself */
	const char *id = info.file_id && id_valid(info.file_id) ? info.file_id : job->cmd.arg;
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	if (!rc &&
	    (snprintf(tmp, sizeof tmp, "%s/bk-csv-XXXXXX", base) >= (int)sizeof tmp || !mkdtemp(tmp))) {
		tgjob_reply(job, "❌ CSV export: cannot create a temporary directory ($TMPDIR).");
		tmp[0] = '\0';
		rc = EX_CANTCREAT;
	}
	if (!rc && snprintf(tarball, sizeof tarball, "%s/%s.csv.tar.gz", tmp, id) >= (int)sizeof tarball)
		rc = EX_CANTCREAT;
	if (!rc)
		rc = csv_pack(job, tmp, id, info.path, tarball);
	if (!rc)
		rc = csv_send(job, id, tarball);
	if (tmp[0])
		remove_tree(tmp);
	snprintf(outcome, len, rc ? "failed (%d)" : "ok", rc);
	backup_info_free(&info);
}

/* The tool's argv for a command (after argv[0]); argument were validated. */
static const char *tool_args(const struct tgjob *job, const char *args[], char *days)
{
	size_t n = 0;
	switch (job->cmd.kind) {
	case TGCMD_BACKUP: args[n] = NULL; return "bk-dump";
	case TGCMD_RAFFLE:
		args[n++] = job->cmd.arg;
		args[n] = NULL;
		return "bk-raffle";
	case TGCMD_CLEANUP:
		if (job->cmd.days > 0) {
			snprintf(days, 24, "%ld", job->cmd.days);
			args[n++] = days;
		}
		args[n] = NULL;
		return "bk-clean";
	case TGCMD_RESTORE:
		args[n++] = job->cmd.arg;
		for (unsigned b = 1; b <= TGCMD_SKIP_REDIS; b <<= 1)
			if (job->cmd.skip & b)
				args[n++] = tgcmd_skip_option(b);
		args[n++] = "--yes"; /* the admin confirmed in Telegram */
		args[n] = NULL;
		return "bk-restore";
	default: return NULL;
	}
}

static char *success_text(enum tgcmd_kind kind, const cJSON *json)
{
	switch (kind) {
	case TGCMD_RESTORE: return reply_restore_done(json);
	case TGCMD_CLEANUP: return reply_cleanup(json);
	default: return cJSON_IsArray(json) ? reply_backups_created(json) : reply_backup_created(json);
	}
}

static const char *what(enum tgcmd_kind kind)
{
	switch (kind) {
	case TGCMD_BACKUP: return "Backup";
	case TGCMD_RAFFLE: return "Raffle backup";
	case TGCMD_CLEANUP: return "Cleanup";
	case TGCMD_RESTORE: return "Restore";
	default: return "Command";
	}
}

void tgjob_run(const struct tgjob *job, char *outcome, size_t len)
{
	if (job->cmd.kind == TGCMD_DOWNLOAD) {
		(job->cmd.csv ? download_csv : download)(job, outcome, len);
		return;
	}
	const char *args[12];
	char days[24];
	const char *tool = tool_args(job, args, days);
	if (!tool) {
		snprintf(outcome, len, "nothing to run");
		return;
	}
	cJSON *json;
	struct spawn_result r;
	int st = tgjob_tool(job, tool, args, &json, &r);
	char *text;
	if (st == 0 && json) {
		text = success_text(job->cmd.kind, json);
		snprintf(outcome, len, "ok");
	} else {
		text = reply_tool_failed(what(job->cmd.kind), st ? st : EX_SOFTWARE,
					 st ? r.err : "the tool's output is not JSON");
		snprintf(outcome, len, "%s exit %d", tool, st);
	}
	if (st != 0 && text)
		tg_scrub_token(job->tg, text);
	tgjob_reply(job, text);
	free(text);
	cJSON_Delete(json);
	spawn_free(&r);
}
