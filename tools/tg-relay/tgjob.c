#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
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

/* No bk-list (or a broken one): a plain id names $BACKUP_DIR/<id>.json. */
static int find_file(const char *id, char *path, size_t pathlen)
{
	struct stat st;
	const char *dir = config_get("BACKUP_DIR", "./backups");
	if (!id_valid(id) || snprintf(path, pathlen, "%s/%s.json", dir, id) >= (int)pathlen)
		return EX_NOINPUT;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? 0 : EX_NOINPUT;
}

int tgjob_find(const char *bin_dir, const char *id, cJSON **list,
    const cJSON **entry, char *path, size_t pathlen, char **err)
{
	static const char *const args[] = { "--json", NULL };
	struct spawn_result r;
	*entry = NULL;
	*err = NULL;
	int st = tgjob_tool(bin_dir, "bk-list", args, list, &r);
	if (st == 0 && cJSON_IsArray(*list)) {
		spawn_free(&r);
		*entry = reply_find_backup(*list, id);
		const char *p = reply_str(*entry, "path", NULL);
		if (!*entry)
			return EX_NOINPUT;
		if (p && snprintf(path, pathlen, "%s", p) < (int)pathlen)
			return 0;
		return find_file(reply_str(*entry, "id", ""), path, pathlen);
	}
	cJSON_Delete(*list);
	*list = NULL;
	if (!id_is_alias(id) && find_file(id, path, pathlen) == 0) {
		spawn_free(&r);
		return 0;
	}
	*err = r.err;
	r.err = NULL;
	spawn_free(&r);
	return st == 0 ? EX_SOFTWARE : st;
}

static void reply(const struct tgjob *job, const char *text)
{
	if (!text)
		text = "❌ Out of memory while formatting the reply.";
	if (tg_send_text(job->tg, job->chat, text, NULL, NULL) != 0)
		warnx("reply to %s: %s", job->chat, tg_error(job->tg));
}

static void download(const struct tgjob *job, char *outcome, size_t len)
{
	char path[PATH_MAX], *err, size[32], text[PATH_MAX + 1024];
	cJSON *list = NULL;
	const cJSON *entry;
	struct stat st;
	int rc = tgjob_find(job->bin_dir, job->cmd.arg, &list, &entry, path,
	    sizeof path, &err);
	const char *id = entry ? reply_str(entry, "id", job->cmd.arg) : job->cmd.arg;
	if (rc == 0 && stat(path, &st) < 0)
		rc = EX_NOINPUT;
	if (rc == EX_NOINPUT) {
		snprintf(text, sizeof text, "❓ Backup %s not found. See /backup_list.", id);
		reply(job, text);
	} else if (rc != 0) {
		char *t = reply_tool_failed("Looking up the backup", rc, err);
		reply(job, t);
		free(t);
	} else if (st.st_size > job->upload_limit) {
		tgfmt_size(size, sizeof size, (double)st.st_size);
		snprintf(text, sizeof text, "📦 %s is %s, above Telegram's upload limit "
		    "for bots (50 MB).\nCopy it from the server instead: %s", id, size, path);
		reply(job, text);
		rc = EX_DATAERR;
	} else {
		char filename[ID_MAX + 8], caption[256];
		tgfmt_size(size, sizeof size, (double)st.st_size);
		snprintf(filename, sizeof filename, "%s.json", id);
		snprintf(caption, sizeof caption, "📦 %s\n💾 %s", id, size);
		rc = tg_send_document(job->tg, job->chat, path, filename, caption, NULL);
		if (rc != 0) {
			snprintf(text, sizeof text, "❌ Upload of %s failed: %s", id,
			    tg_error(job->tg));
			reply(job, text);
		}
	}
	snprintf(outcome, len, rc ? "failed (%d)" : "ok", rc);
	free(err);
	cJSON_Delete(list);
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
	reply(job, text);
	free(text);
	cJSON_Delete(json);
	spawn_free(&r);
}
