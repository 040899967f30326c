/*
 * The relay's commands, parsed and validated before anything runs
 * (tg-relay(1), bk(7)). A pure function of the text: no I/O, no globals, so a
 * fuzzer can call it with any bytes.
 */
#ifndef BK_TGCMD_H
#define BK_TGCMD_H

#include <stdbool.h>

#include "groups.h"
#include "ids.h"

enum tgcmd_kind {
	TGCMD_NONE, /* not a command, or one for another bot: ignore */
	TGCMD_UNKNOWN,
	TGCMD_HELP, /* /help, /start */
	TGCMD_BACKUP,
	TGCMD_LIST,
	TGCMD_DOWNLOAD,
	TGCMD_RESTORE,
	TGCMD_RAFFLE,
	TGCMD_CLEANUP,
};

/* bk-restore's --skip-* groups: the table of lib/groups.h */
enum {
	TGCMD_SKIP_RAFFLES = GROUP_RAFFLES,
	TGCMD_SKIP_ANALYTICS = GROUP_ANALYTICS,
	TGCMD_SKIP_USERS = GROUP_USERS,
	TGCMD_SKIP_REDIS = GROUP_REDIS,
	TGCMD_SKIP_ALL = GROUP_SKIPPABLE,
};

struct tgcmd {
	enum tgcmd_kind kind;
	char name[32];	      /* "/backup", for logs; "/?" when unknown */
	char arg[ID_MAX + 1]; /* backup id or alias, or raffle id */
	unsigned skip;	      /* TGCMD_SKIP_* */
	long days;	      /* /backup_cleanup; 0 = the tool's default */
	bool csv;	      /* /backup_download <id> csv: the tables as CSV files */
	char error[160];      /* why the arguments were refused */
};

/*
 * Parses text such as "/backup_restore@MyBot full_1 --skip-redis".
 * A suffix naming another bot than botname (NULL: any) makes it TGCMD_NONE.
 * Returns 0, or -1 with kind set and error saying what is wrong.
 */
int tgcmd_parse(const char *text, const char *botname, struct tgcmd *cmd);

/* The option for one TGCMD_SKIP_* bit ("--skip-raffles"), NULL otherwise. */
const char *tgcmd_skip_option(unsigned bit);

/* The group's name for one TGCMD_SKIP_* bit ("raffles"), NULL otherwise. */
const char *tgcmd_skip_group(unsigned bit);

#endif
