/*
 * The relay's replies, built from the JSON the tools print, in the layout
 * of the original bot. Light markdown: ids in `code` spans (tap to copy),
 * which the sender turns into MarkdownV2 with tgfmt_markdown. Each returns
 * a malloc'd string (NULL when out of memory) that the caller frees.
 */
#ifndef BK_TGREPLY_H
#define BK_TGREPLY_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "store.h"

/* "✅ Backup Created Successfully" with 📦 id, 📅 timestamp, 📊 type, 💾 size,
 * from bk-dump's or bk-raffle's metadata line. */
char *reply_backup_created(const cJSON *meta);

/* bk-raffle --ended style output: an array of metadata lines. */
char *reply_backups_created(const cJSON *metas);

/* store_list's entries (newest first): the newest max grouped as 🗂️ FULL /
 * 📄 RAFFLE, then "... and N more" and the hint lines. */
char *reply_list(const struct backup_info *list, size_t n, int max);

/* The warning shown with Confirm / Cancel: only the groups the backup can
 * change (a raffle backup: raffles and analytics). */
char *reply_restore_warning(const char *id, const struct backup_info *info, unsigned skip,
			    long confirm_seconds);

/* bk-restore's summary. */
char *reply_restore_done(const cJSON *summary);

/* bk-clean's summary. */
char *reply_cleanup(const cJSON *summary);

/* A tool that failed: its exit status (75: busy, 66: not found, ...) and the
 * first line of its stderr (what failed), scrubbed by reply_scrub. */
char *reply_tool_failed(const char *what, int status, const char *err);

const char *reply_help(void);

/* config_scrub in place, in a buffer of size bytes (its end gives way
 * when a mask is longer than what it hides). */
void reply_scrub(char *text, size_t size);

/* A string member, or fallback. */
const char *reply_str(const cJSON *obj, const char *name, const char *fallback);

#endif
