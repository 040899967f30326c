/*
 * The restore groups (bk-restore(1)): what bk-restore --skip-* and the relay's
 * /backup_restore --skip-* leave alone. One table, as bits.
 */
#ifndef BK_GROUPS_H
#define BK_GROUPS_H

enum {
	GROUP_RAFFLES = 1 << 0,
	GROUP_ANALYTICS = 1 << 1,
	GROUP_USERS = 1 << 2,
	GROUP_REDIS = 1 << 3,
	GROUP_SKIPPABLE = (1 << 4) - 1, /* every group an option names */
	GROUP_OTHER = 1 << 4,		/* never skipped: no option names it */
};

/* The group's name for one skippable bit ("raffles"), NULL otherwise. */
const char *group_name(unsigned bit);

/* Its option ("--skip-raffles"), NULL otherwise. */
const char *group_option(unsigned bit);

#endif
