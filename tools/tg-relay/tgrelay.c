#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "profile.h"
#include "store.h"
#include "tg.h"
#include "tgadmins.h"
#include "tgfmt.h"
#include "tgguard.h"
#include "tgjob.h"
#include "tgrefuse.h"
#include "tgreply.h"
#include "tgrelay.h"
#include "tgstate.h"

#define GROUP_REFUSAL "❌ Admin commands must be used in private messages."
#define STRANGER_REFUSAL "⛔ Sorry, only the bot's administrators may use backup commands."

struct relay {
	struct relay_config cfg;
	struct tg *poll;	    /* getUpdates: no retries, stops on signal */
	struct tg *talk;	    /* the main thread's replies */
	struct tg *work;	    /* the job thread's replies and uploads */
	struct refuser *refuser;    /* strangers and groups: own thread, no retries */
	struct tgadmins *db_admins; /* BK_ADMINS_FROM_DB: the Admin table's reader */
	struct guard guard;
	char state_path[PATH_MAX];
	char bin_dir[PATH_MAX];
	char botname[128];
	long long offset;
	/* one job at a time, on its own thread */
	pthread_t thread;
	bool running;
	atomic_bool finished;
	struct tgjob job;
	double job_start; /* prof_now() when the running job began */
};

/* Whole seconds of the monotonic clock: the guard's and refuser's time. */
static time_t now(void)
{
	return (time_t)prof_now();
}

/* An id Telegram sends as a JSON number: integral and exact in a double. */
static bool get_id(const cJSON *obj, const char *name, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble ||
	    v->valuedouble > 9007199254740991.0 || v->valuedouble < -9007199254740991.0)
		return false;
	*out = (long long)v->valuedouble;
	return true;
}

/* A reply from the main thread (the job thread has its own handle). */
static void say(struct relay *r, const char *chat, const char *text, const cJSON *markup)
{
	if (tgjob_say(r->talk, chat, text, markup) != 0)
		warnx("reply to chat %s: %s", chat, tg_error(r->talk));
}

static void edit(struct relay *r, const char *chat, long long message_id, const char *text)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "chat_id", chat);
	cJSON_AddNumberToObject(p, "message_id", (double)message_id);
	cJSON_AddStringToObject(p, "text", text);
	if (tg_call(r->talk, "editMessageText", p, 0, NULL) != 0)
		warnx("edit message in chat %s: %s", chat, tg_error(r->talk));
	cJSON_Delete(p);
}

static void *job_main(void *arg)
{
	struct relay *r = arg;
	char outcome[128];
	tgjob_run(&r->job, outcome, sizeof outcome);
	warnx("user %lld: %s: %s (%.1f s)", r->job.user, r->job.cmd.name, outcome, prof_now() - r->job_start);
	atomic_store(&r->finished, true);
	return NULL;
}

/* Joins the job thread once it is done (or, if wait, when it is). */
static void reap(struct relay *r, bool wait)
{
	if (r->running && (wait || atomic_load(&r->finished))) {
		pthread_join(r->thread, NULL);
		r->running = false;
	}
}

/* Starts cmd on the job thread, or says busy. ack: the "⏳ ..." message. */
static const char *start_job(struct relay *r, const struct tgcmd *cmd, const char *chat, long long user,
			     const char *ack)
{
	reap(r, false);
	if (r->running) {
		char text[256];
		snprintf(text, sizeof text,
			 "⏳ Busy: %s is still running. Try again when "
			 "it has finished.",
			 r->job.cmd.name);
		say(r, chat, text, NULL);
		return "busy";
	}
	r->job = (struct tgjob){ .cmd = *cmd,
				 .user = user,
				 .bin_dir = r->bin_dir,
				 .tg = r->work,
				 .upload_limit = r->cfg.upload_limit,
				 .time_limit = r->cfg.job_timeout };
	snprintf(r->job.chat, sizeof r->job.chat, "%s", chat);
	r->job_start = prof_now();
	if (ack)
		say(r, chat, ack, NULL);
	atomic_store(&r->finished, false);
	if (pthread_create(&r->thread, NULL, job_main, r) != 0) {
		say(r, chat, "❌ Cannot start the job (out of resources).", NULL);
		return "cannot start a thread";
	}
	r->running = true;
	return "started";
}

static cJSON *keyboard(const char *nonce)
{
	char yes[32], no[32];
	snprintf(yes, sizeof yes, "rc:%s", nonce);
	snprintf(no, sizeof no, "rx:%s", nonce);
	cJSON *markup = cJSON_CreateObject();
	cJSON *rows = cJSON_AddArrayToObject(markup, "inline_keyboard");
	cJSON *row = cJSON_CreateArray();
	cJSON_AddItemToArray(rows, row);
	const char *labels[2][2] = { { "✅ Confirm", yes }, { "❌ Cancel", no } };
	for (int i = 0; i < 2; i++) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "text", labels[i][0]);
		cJSON_AddStringToObject(b, "callback_data", labels[i][1]);
		cJSON_AddItemToArray(row, b);
	}
	return markup;
}

/*
 * /backup_restore: nothing runs yet, the admin gets Confirm / Cancel. The
 * backup is found in-process by the store's resolver (the one bk-restore
 * uses), which never opens anything but a regular file: nothing here can
 * hang the polling.
 */
static const char *ask_restore(struct relay *r, const struct tgcmd *cmd, const char *chat, long long user)
{
	const char *dir, *outcome = "asked to confirm";
	char *path = NULL, text[ID_MAX + 400];
	struct backup_info info = { 0 };
	int rc = store_dir(&dir);
	if (!rc)
		rc = store_resolve(dir, cmd->arg, &path);
	if (!rc)
		backup_info_read(path, &info);
	const char *id = info.id && id_is_alias(cmd->arg) ? info.id : cmd->arg;
	const struct guard_pending *p =
		rc || info.error ? NULL : guard_add(&r->guard, user, chat, id, cmd->skip, now());
	if (rc == EX_NOINPUT || rc == EX_USAGE) {
		snprintf(text, sizeof text, "❓ Backup `%s` not found. See /backup_list.", id);
		say(r, chat, text, NULL);
		outcome = "not found";
	} else if (!rc && info.error) {
		snprintf(text, sizeof text,
			 "💥 Backup `%s` is damaged (%s): nothing to "
			 "restore from it.",
			 id, info.error);
		say(r, chat, text, NULL);
		outcome = "damaged";
	} else if (rc || !p) {
		say(r, chat,
		    "❌ Cannot look up the backup (BACKUP_DIR unreadable, or out "
		    "of resources).",
		    NULL);
		outcome = "lookup failed";
	} else {
		char *warning = reply_restore_warning(id, &info, cmd->skip, r->cfg.confirm_seconds);
		cJSON *markup = keyboard(p->nonce);
		say(r, chat, warning ? warning : "⚠️ Restore?", markup);
		cJSON_Delete(markup);
		free(warning);
	}
	free(path);
	backup_info_free(&info);
	return outcome;
}

/* In-process, with the listing code bk-list uses: regular files only. */
static const char *list_backups(struct relay *r, const char *chat)
{
	const char *dir;
	struct backup_info *list = NULL;
	size_t n = 0;
	int rc = store_dir(&dir);
	if (!rc)
		rc = store_list(dir, NULL, &list, &n);
	char *text = rc ? NULL : reply_list(list, n, 10);
	say(r, chat,
	    text ? text
	    : rc ? "❌ Cannot read the backup directory "
		   "(BACKUP_DIR)."
		 : "❌ Out of memory.",
	    NULL);
	free(text);
	store_list_free(list, n);
	return rc ? "failed" : "ok";
}

static const char *run_command(struct relay *r, const struct tgcmd *cmd, const char *chat, long long user)
{
	char ack[256];
	switch (cmd->kind) {
	case TGCMD_HELP: say(r, chat, reply_help(), NULL); return "ok";
	case TGCMD_LIST: return list_backups(r, chat);
	case TGCMD_RESTORE: return ask_restore(r, cmd, chat, user);
	case TGCMD_BACKUP: return start_job(r, cmd, chat, user, "⏳ Creating full backup...");
	case TGCMD_RAFFLE:
		snprintf(ack, sizeof ack, "⏳ Creating backup of raffle %s...", cmd->arg);
		return start_job(r, cmd, chat, user, ack);
	case TGCMD_CLEANUP: return start_job(r, cmd, chat, user, "🧹 Cleaning up old backups...");
	case TGCMD_DOWNLOAD:
		/* the CSV export reads the whole backup first: say it has begun */
		snprintf(ack, sizeof ack, "⏳ Exporting %s as CSV...", cmd->arg);
		return start_job(r, cmd, chat, user, cmd->csv ? ack : NULL);
	default: return "ignored";
	}
}

/* "CONFIRM" or "CANCEL" typed instead of pressing the button. */
static int typed_answer(const char *text)
{
	char word[16];
	size_t skip = strspn(text, " \t\r\n"), n = strcspn(text + skip, " \t\r\n");
	if (n == 0 || n >= sizeof word || text[skip + n + strspn(text + skip + n, " \t\r\n")])
		return 0;
	memcpy(word, text + skip, n);
	word[n] = '\0';
	return !strcasecmp(word, "confirm") ? 1 : !strcasecmp(word, "cancel") ? -1 : 0;
}

static const char *settle(struct relay *r, enum guard_verdict v, const struct guard_pending *p, bool confirm,
			  long long user, const char *chat, long long message_id, const char **outcome);

static void on_typed(struct relay *r, int answer, long long user, const char *chat)
{
	struct guard_pending p;
	const char *outcome;
	enum guard_verdict v = guard_take_newest(&r->guard, user, now(), &p);
	settle(r, v, &p, answer > 0, user, chat, 0, &outcome);
	warnx("user %lld: typed %s: %s", user, answer > 0 ? "CONFIRM" : "CANCEL", outcome);
}

/* Strangers and groups: one refusal per user (or chat) per period, sent
 * by the refuser's thread; nothing runs, and the admins never wait. */
static const char *refuse(struct relay *r, long long key, const char *chat, const char *text, const char *why)
{
	return refuser_send(r->refuser, key, chat, text, now()) ? why : "ignored (refused lately)";
}

static void on_message(struct relay *r, const cJSON *msg)
{
	const char *text = reply_str(msg, "text", NULL);
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(msg, "chat");
	long long user, chat_id;
	char chat[32], reply[256];
	struct tgcmd cmd;
	if (!text || !get_id(from, "id", &user) || !get_id(ch, "id", &chat_id))
		return;
	snprintf(chat, sizeof chat, "%lld", chat_id);
	/* a private chat's id is its user's: anything else is a group or channel */
	bool private = !strcmp(reply_str(ch, "type", ""), "private") && chat_id == user;
	int rc = tgcmd_parse(text, r->botname, &cmd);
	if (cmd.kind == TGCMD_NONE) {
		int answer = private ? typed_answer(text) : 0;
		if (answer && guard_is_admin(&r->guard, user))
			on_typed(r, answer, user, chat);
		return;
	}
	double t0 = prof_now();
	const char *outcome;
	if (!private) {
		outcome = refuse(r, chat_id, chat, GROUP_REFUSAL, "refused: not a private chat");
	} else if (!guard_is_admin(&r->guard, user)) {
		outcome = refuse(r, user, chat, STRANGER_REFUSAL, "refused: not an admin");
	} else if (!guard_allow(&r->guard, user, cmd.kind, now())) {
		snprintf(reply, sizeof reply,
			 "🐢 Too many commands: at most %d %s a minute "
			 "(and %d of all commands). Try again shortly.",
			 r->guard.rate, cmd.name, r->guard.global_rate);
		say(r, chat, reply, NULL);
		outcome = "refused: rate limit";
	} else if (rc < 0) {
		snprintf(reply, sizeof reply, "❌ %s\nSee /help.", cmd.error);
		say(r, chat, reply, NULL);
		outcome = "refused: invalid arguments";
	} else {
		outcome = run_command(r, &cmd, chat, user);
	}
	warnx("user %lld in chat %s: %s: %s (%.1f s)", user, chat, cmd.name, outcome, prof_now() - t0);
}

static void answer(struct relay *r, const char *id, const char *text)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "callback_query_id", id);
	cJSON_AddStringToObject(p, "text", text);
	if (tg_call(r->talk, "answerCallbackQuery", p, 0, NULL) != 0)
		warnx("answerCallbackQuery: %s", tg_error(r->talk));
	cJSON_Delete(p);
}

/*
 * Carries out what guard_take said of a pending restore: a button (message_id:
 * the warning to edit) or a typed answer (message_id 0). Returns the toast.
 */
static const char *settle(struct relay *r, enum guard_verdict v, const struct guard_pending *p, bool confirm,
			  long long user, const char *chat, long long message_id, const char **outcome)
{
	char text[400];
	bool edit_it = message_id && *chat;
	switch (v) {
	case GUARD_UNKNOWN:
		if (*chat)
			say(r, chat,
			    "⌛ This confirmation has expired or was "
			    "already used: nothing was restored.",
			    NULL);
		return *outcome = "expired or replayed", "Expired or already used.";
	case GUARD_OTHER_USER:
		if (*chat)
			say(r, chat,
			    "⛔ Only the admin who asked for this restore "
			    "can confirm or cancel it: nothing was restored.",
			    NULL);
		return *outcome = "refused: another admin's confirmation",
		       "Only the admin who asked can confirm.";
	case GUARD_EXPIRED:
		snprintf(text, sizeof text,
			 "⌛ Restore of %s was not confirmed within %ld "
			 "seconds: nothing was restored.",
			 p->id, r->guard.confirm_seconds);
		if (edit_it)
			edit(r, chat, message_id, text);
		else
			say(r, p->chat, text, NULL);
		return *outcome = "too late", "Too late: nothing was restored.";
	case GUARD_OK: break;
	}
	if (!confirm) {
		snprintf(text, sizeof text,
			 "❌ Restore of %s cancelled: nothing was "
			 "restored.",
			 p->id);
		if (edit_it)
			edit(r, chat, message_id, text);
		else
			say(r, p->chat, text, NULL);
		return *outcome = "cancelled", "Cancelled.";
	}
	struct tgcmd cmd = { .kind = TGCMD_RESTORE, .skip = p->skip };
	snprintf(cmd.name, sizeof cmd.name, "/backup_restore");
	snprintf(cmd.arg, sizeof cmd.arg, "%s", p->id);
	snprintf(text, sizeof text, "⏳ Restoring %s...", p->id);
	reap(r, false);
	if (!r->running && edit_it)
		edit(r, chat, message_id, text);
	else if (!r->running)
		say(r, p->chat, text, NULL);
	*outcome = start_job(r, &cmd, p->chat, user, NULL);
	return strcmp(*outcome, "busy") ? "Restoring..." : "Busy: try again later.";
}

/* A pressed Confirm or Cancel: returns the toast and does what it says. */
static const char *decide(struct relay *r, const char *data, long long user, const char *chat,
			  long long message_id, const char **outcome)
{
	struct guard_pending p;
	bool confirm = !strncmp(data, "rc:", 3);
	if (!confirm && strncmp(data, "rx:", 3))
		return *outcome = "unknown button", "Unknown button.";
	enum guard_verdict v = guard_take(&r->guard, data + 3, user, now(), &p);
	return settle(r, v, &p, confirm, user, chat, message_id, outcome);
}

static void on_callback(struct relay *r, const cJSON *cq)
{
	const char *id = reply_str(cq, "id", NULL), *data = reply_str(cq, "data", "");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cq, "message");
	long long user, chat_id, message_id = 0;
	char chat[32] = "";
	const char *outcome = "refused: not an admin", *toast = "Not allowed.";
	if (!id || !get_id(cJSON_GetObjectItemCaseSensitive(cq, "from"), "id", &user))
		return;
	if (get_id(cJSON_GetObjectItemCaseSensitive(msg, "chat"), "id", &chat_id))
		snprintf(chat, sizeof chat, "%lld", chat_id);
	if (!get_id(msg, "message_id", &message_id))
		message_id = 0;
	if (guard_is_admin(&r->guard, user))
		toast = decide(r, data, user, chat, message_id, &outcome);
	answer(r, id, toast); /* always, or the button spins on the admin's screen */
	warnx("user %lld: button: %s", user, outcome);
}

static void on_update(struct relay *r, const cJSON *u)
{
	const cJSON *v;
	if ((v = cJSON_GetObjectItemCaseSensitive(u, "message")) && cJSON_IsObject(v))
		on_message(r, v);
	else if ((v = cJSON_GetObjectItemCaseSensitive(u, "callback_query")) && cJSON_IsObject(v))
		on_callback(r, v);
	/* anything else (edits, channel posts, ...) is not for us */
}

/* Whether an update comes from an admin: only those can run anything. */
static bool from_admin(struct relay *r, const cJSON *u)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(u, "message");
	if (!cJSON_IsObject(v))
		v = cJSON_GetObjectItemCaseSensitive(u, "callback_query");
	long long user;
	return cJSON_IsObject(v) && get_id(cJSON_GetObjectItemCaseSensitive(v, "from"), "id", &user) &&
	       guard_is_admin(&r->guard, user);
}

/*
 * Saves the offset before an admin's update is handled: at most once, never
 * twice. Anyone else's can at worst be refused again after a crash, so it
 * costs no fsync: a flood of strangers does not become a flood of writes.
 */
static void on_batch(struct relay *r, const cJSON *updates)
{
	const cJSON *u;
	cJSON_ArrayForEach(u, updates)
	{
		long long id;
		if (!get_id(u, "update_id", &id) || id < r->offset)
			continue;
		r->offset = id + 1;
		if (from_admin(r, u) && tgstate_save(r->state_path, r->offset) < 0) {
			warn("%s: cannot save the offset; update %lld skipped", r->state_path, id);
			continue;
		}
		on_update(r, u);
	}
}

static int poll_once(struct relay *r, cJSON **updates)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "offset", (double)r->offset);
	cJSON_AddNumberToObject(p, "timeout", (double)r->cfg.poll_timeout);
	cJSON *allowed = cJSON_AddArrayToObject(p, "allowed_updates");
	cJSON_AddItemToArray(allowed, cJSON_CreateString("message"));
	cJSON_AddItemToArray(allowed, cJSON_CreateString("callback_query"));
	int rc = tg_call(r->poll, "getUpdates", p, r->cfg.poll_timeout, updates);
	cJSON_Delete(p);
	return rc;
}

static void pause_s(double secs, volatile sig_atomic_t *stop)
{
	for (; secs > 0 && !*stop; secs -= 0.1)
		nanosleep(&(struct timespec){ 0, 100000000L }, NULL);
}

/* getMe: who we are, so that "/cmd@OtherBot" in a group is left alone. */
static int hello(struct relay *r, volatile sig_atomic_t *stop)
{
	double backoff = r->cfg.retry_delay_ms / 1000.0;
	while (!*stop) {
		cJSON *me = NULL;
		int rc = tg_call(r->poll, "getMe", NULL, 0, &me);
		if (rc == 0) {
			snprintf(r->botname, sizeof r->botname, "%s", reply_str(me, "username", ""));
			cJSON_Delete(me);
			warnx("polling as @%s", r->botname);
			return 0;
		}
		warnx("%s", tg_error(r->poll));
		if (rc != EX_UNAVAILABLE && rc != EX_TEMPFAIL)
			return EX_NOPERM; /* the token is wrong: retrying will not help */
		pause_s(backoff, stop);
		backoff = backoff < 30 ? backoff * 2 + 0.01 : 60;
	}
	return 0;
}

int relay_run(struct relay *r, volatile sig_atomic_t *stop)
{
	tg_set_abort(r->poll, stop);
	int rc = hello(r, stop);
	double first = r->cfg.retry_delay_ms / 1000.0, backoff = first;
	while (rc == 0 && !*stop) {
		cJSON *updates = NULL;
		reap(r, false);
		int st = poll_once(r, &updates);
		if (st == 0 && cJSON_IsArray(updates)) {
			backoff = first;
			on_batch(r, updates);
		} else if (!*stop) {
			warnx("%s; polling again in %.0f s",
			      st ? tg_error(r->poll) : "getUpdates: result is not an array", backoff);
			pause_s(backoff, stop);
			backoff = backoff < 30 ? backoff * 2 + 0.01 : 60;
		}
		cJSON_Delete(updates);
	}
	if (r->running)
		warnx("waiting for %s to finish", r->job.cmd.name);
	reap(r, true);
	return rc;
}

int relay_open(struct relay **out, const struct relay_config *cfg)
{
	const char *bad;
	struct relay *r = calloc(1, sizeof *r);
	*out = r;
	if (!r)
		return EX_OSERR;
	r->cfg = *cfg;
	if (guard_init(&r->guard, cfg->admins, cfg->rate, cfg->confirm_seconds, &bad) < 0) {
		warnx("TELEGRAM_ADMIN_IDS: %s", bad && *bad ? "expected comma-separated "
							      "numeric Telegram user ids"
							    : "no admins configured: refusing to start");
		return EX_USAGE;
	}
	if (cfg->admins_from_db) {
		/* the first read before polling; then each period on its own thread */
		int st = tgadmins_read(&r->guard);
		warnx("admins from the Admin table: %s", st ? "none for now (database "
							      "unreachable)"
							    : "read");
		if (!(r->db_admins = tgadmins_start(&r->guard, cfg->admins_period)))
			return EX_OSERR;
	}
	snprintf(r->state_path, sizeof r->state_path, "%s", cfg->state_path);
	snprintf(r->bin_dir, sizeof r->bin_dir, "%s", cfg->bin_dir);
	r->cfg.state_path = r->state_path;
	r->cfg.bin_dir = r->bin_dir;
	if (tgstate_load(r->state_path, &r->offset) < 0) {
		warn("%s: cannot read the offset (remove the file to start afresh)", r->state_path);
		return errno == EINVAL ? EX_DATAERR : EX_IOERR;
	}
	r->poll = tg_new(cfg->api_url, cfg->token);
	r->talk = tg_new(cfg->api_url, cfg->token);
	r->work = tg_new(cfg->api_url, cfg->token);
	r->refuser = refuser_open(cfg->api_url, cfg->token, cfg->refusal_period);
	if (!r->poll || !r->talk || !r->work || !r->refuser)
		return EX_OSERR;
	tg_set_retries(r->poll, 0, -1);
	tg_set_retries(r->talk, 3, -1);
	return 0;
}

void relay_close(struct relay *r)
{
	if (!r)
		return;
	reap(r, true);
	tgadmins_stop(r->db_admins);
	refuser_close(r->refuser);
	tg_free(r->poll);
	tg_free(r->talk);
	tg_free(r->work);
	guard_free(&r->guard);
	free(r);
}
