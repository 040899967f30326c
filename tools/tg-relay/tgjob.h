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
	struct tgcmd cmd; /* validated: kind, arg, skip, days */
	char chat[32];	  /* where to reply */
	long long user;	  /* who asked, for the log */
	const char *bin_dir;
	struct tg *tg;
	long upload_limit; /* bytes sendDocument may upload */
	long time_limit;   /* seconds each tool it runs may take */
};

/* Runs the job and sends its reply; outcome gets "ok", "exit 75", ... */
void tgjob_run(const struct tgjob *job, char *outcome, size_t len);

/*
 * Runs job->bin_dir/tool with args (NULL-terminated, argv[0] added), for
 * job->time_limit seconds at most, and parses its stdout as JSON into
 * *json (NULL when it is not JSON). Returns the exit status (127: could
 * not run it; 124: stopped at the time limit, as timeout(1) says it); r
 * keeps its output for the caller to spawn_free.
 */
int tgjob_tool(const struct tgjob *job, const char *tool, const char *const args[], cJSON **json,
	       struct spawn_result *r);

/* Sends text as MarkdownV2 (tgfmt_markdown: ids in `code` spans); if
 * Telegram cannot parse it, as plain text. Returns tg_send_text's code. */
int tgjob_say(struct tg *tg, const char *chat, const char *text, const cJSON *markup);

/* tgjob_say to the job's chat; a failure is logged. */
void tgjob_reply(const struct tgjob *job, const char *text);

#endif
