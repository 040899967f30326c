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

int tgjob_tool(const char *bin_dir, const char *tool, const char *const args[],
    cJSON **json, struct spawn_result *r)
{
	char path[PATH_MAX];
	const char *argv[16] = { tool };
	size_t n = 1;
	*json = NULL;
	for (; args && args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if (snprintf(path, sizeof path, "%s/%s", bin_dir, tool) >= (int)sizeof path ||
	    spawn_run(path, (char *const *)argv, environ, r) < 0) {
		memset(r, 0, sizeof *r);
		r->err = strdup(strerror(errno));
		r->status = 127;
		return 127;
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
	if (rc == EX_DATAERR) {	/* Telegram could not parse it: the plain text */
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
static int open_backup(const struct tgjob *job, struct backup_info *info, int *fd,
    struct stat *st)
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
		if (!info->error && ((*fd = fsafe_open(path, O_RDONLY, 0, &why)) < 0 ||
				     fstat(*fd, st) < 0))
			rc = EX_NOINPUT;	/* gone, or replaced by a symlink since */
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
		snprintf(text, sizeof text, "💥 Backup `%s` is damaged (%s): not sent.", id,
		    info->error);
		tgjob_reply(job, text);
		return EX_DATAERR;
	}
	if (rc)
		tgjob_reply(job, "❌ Cannot read the backup directory (BACKUP_DIR).");
	return rc;
}

static void download(const struct tgjob *job, char *outcome, size_t len)
{
	struct backup_info info = { 0 };
	struct stat st;
	char size[32], text[PATH_MAX + 1024];
	int fd, rc = open_backup(job, &info, &fd, &st);
	const char *id = info.id && id_is_alias(job->cmd.arg) ? info.id : job->cmd.arg;
	if (!rc && st.st_size > job->upload_limit) {
		tgfmt_size(size, sizeof size, (double)st.st_size);
		snprintf(text, sizeof text, "📦 `%s` is %s, above Telegram's upload limit "
		    "for bots (50 MB).\nCopy it from the server instead: %s", id, size, info.path);
		tgjob_reply(job, text);
		rc = EX_DATAERR;
	} else if (!rc) {
		char filename[ID_MAX + 8], caption[256];
		tgfmt_size(size, sizeof size, (double)st.st_size);
		snprintf(filename, sizeof filename, "%s.json", id);
		snprintf(caption, sizeof caption, "📦 %s\n💾 %s", id, size);
		rc = tg_send_document_fd(job->tg, job->chat, fd, filename, caption, NULL);
		if (rc != 0) {
			snprintf(text, sizeof text, "❌ Upload of `%s` failed: %s", id,
			    tg_error(job->tg));
			tgjob_reply(job, text);
		}
	}
	if (fd >= 0)
		close(fd);
	snprintf(outcome, len, rc ? "failed (%d)" : "ok", rc);
	backup_info_free(&info);
}

/* The tool's argv for a command (after argv[0]); argument were validated. */
static const char *tool_args(const struct tgjob *job, const char *args[], char *days)
{
	size_t n = 0;
	switch (job->cmd.kind) {
	case TGCMD_BACKUP:
		args[n] = NULL;
		return "bk-dump";
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
		args[n++] = "--yes";	/* the admin confirmed in Telegram */
		args[n] = NULL;
		return "bk-restore";
	default:
		return NULL;
	}
}

static char *success_text(enum tgcmd_kind kind, const cJSON *json)
{
	switch (kind) {
	case TGCMD_RESTORE:
		return reply_restore_done(json);
	case TGCMD_CLEANUP:
		return reply_cleanup(json);
	default:
		return cJSON_IsArray(json) ? reply_backups_created(json) :
		    reply_backup_created(json);
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
		download(job, outcome, len);
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
	int st = tgjob_tool(job->bin_dir, tool, args, &json, &r);
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
