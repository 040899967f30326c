/*
 * The relay's jobs: run a bk tool (fork/exec, never a shell), read its JSON,
 * and reply. Called on the relay's job thread with that thread's own Telegram
 * handle, so a restore that takes minutes does not stop the polling.
 */
#ifndef BK_TGJOB_H
#define BK_TGJOB_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "spawn.h"
#include "tg.h"
#include "tgcmd.h"

struct tgjob {
	struct tgcmd cmd;	/* validated: kind, arg, skip, days */
	char chat[32];		/* where to reply */
	long long user;		/* who asked, for the log */
	const char *bin_dir;
	struct tg *tg;
	long upload_limit;	/* bytes sendDocument may upload */
};

/* Runs the job and sends its reply; outcome gets "ok", "exit 75", ... */
void tgjob_run(const struct tgjob *job, char *outcome, size_t len);

/*
 * Runs bin_dir/tool with args (NULL-terminated, argv[0] added) and parses
 * its stdout as JSON into *json (NULL when it is not JSON). Returns the
 * exit status (127: could not run it); r keeps its output for the caller
 * to spawn_free.
 */
int tgjob_tool(const char *bin_dir, const char *tool, const char *const args[],
    cJSON **json, struct spawn_result *r);

/*
 * Finds backup id (or alias) with bk-list --json: *entry points into *list
 * (caller deletes *list; both may be NULL) and path gets its file. Without
 * a working bk-list a plain id is looked for as $BACKUP_DIR/<id>.json.
 * Returns 0, EX_NOINPUT when there is no such backup, or bk-list's failing
 * status (its stderr in *err, a malloc'd string, or NULL).
 */
int tgjob_find(const char *bin_dir, const char *id, cJSON **list,
    const cJSON **entry, char *path, size_t pathlen, char **err);

#endif
