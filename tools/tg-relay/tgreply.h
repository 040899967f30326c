/*
 * The relay's replies, built from the JSON the tools print, in the layout
 * of the original bot (SPEC §5.8). Plain text: nothing to escape, nothing
 * Telegram can refuse to parse. Each returns a malloc'd string (NULL when
 * out of memory) that the caller frees.
 */
#ifndef BK_TGREPLY_H
#define BK_TGREPLY_H

#include <cjson/cJSON.h>

/* "✅ Backup Created Successfully" with 📦 id, 📅 timestamp, 📊 type, 💾 size,
 * from bk-dump's or bk-raffle's metadata line. */
char *reply_backup_created(const cJSON *meta);

/* bk-raffle --ended style output: an array of metadata lines. */
char *reply_backups_created(const cJSON *metas);

/* bk-list --json: the newest max grouped as 🗂️ FULL / 📄 RAFFLE, then
 * "... and N more". */
char *reply_list(const cJSON *list, int max);

/* The warning shown with Confirm / Cancel; entry is bk-list's (may be NULL). */
char *reply_restore_warning(const char *id, const cJSON *entry, unsigned skip,
    long confirm_seconds);

/* bk-restore's summary. */
char *reply_restore_done(const cJSON *summary);

/* bk-clean's summary. */
char *reply_cleanup(const cJSON *summary);

/* A tool that failed: its exit status (75: busy, 66: not found, ...) and the
 * last line of its stderr, said plainly. */
char *reply_tool_failed(const char *what, int status, const char *err);

const char *reply_help(void);

/* The entry of a bk-list array that id names: an exact id, or an alias of
 * SPEC §4.1 (latest, full_latest, raffle_latest, raffle_<id>_latest). */
const cJSON *reply_find_backup(const cJSON *list, const char *id);

/* A string member, or fallback. */
const char *reply_str(const cJSON *obj, const char *name, const char *fallback);

#endif
