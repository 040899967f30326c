/*
 * Who may do what in the relay (tg-relay(1), bk(7)): the admin list, the
 * per-admin rate limit, and the pending restore confirmations. Time is
 * passed in, so the rules can be tested without waiting.
 */
#ifndef BK_TGGUARD_H
#define BK_TGGUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "ids.h"

#define GUARD_ADMINS_MAX 64
#define GUARD_PENDING_MAX 32
#define GUARD_NONCE_LEN 16
#define GUARD_SLOTS_MAX 256 /* (admin, command) pairs with a rate window */

struct guard_pending {
	char nonce[GUARD_NONCE_LEN + 1]; /* in the button's callback_data */
	long long user;			 /* only this admin may answer */
	char chat[32];
	char id[ID_MAX + 1]; /* resolved backup id */
	unsigned skip;
	time_t created;
};

struct guard_slot {
	long long user;
	int kind;
	time_t *ring; /* the last `rate` times, oldest first */
};

struct guard {
	long long admins[GUARD_ADMINS_MAX]; /* TELEGRAM_ADMIN_IDS */
	int nadmins;
	long long *db_admins; /* the bot's Admin table, if read */
	int ndb;
	pthread_mutex_t lock; /* db_admins change on another thread */
	int rate;	      /* one command per admin per minute */
	int global_rate;      /* all commands per minute */
	struct guard_slot slots[GUARD_SLOTS_MAX];
	int nslots;
	time_t *global; /* the last global_rate times */
	long confirm_seconds;
	struct guard_pending pending[GUARD_PENDING_MAX];
	int npending;
};

enum guard_verdict { GUARD_OK, GUARD_UNKNOWN, GUARD_OTHER_USER, GUARD_EXPIRED };

/* Parses "123, 456": every entry must be a positive integer (fail closed).
 * Returns 0, or -1 with *bad pointing at the first bad entry. admins NULL:
 * no static admins (the Admin table names them; until then, nobody).
 * The global bound is 4 times rate. */
int guard_init(struct guard *g, const char *admins, int rate, long confirm_seconds, const char **bad);
void guard_free(struct guard *g);

bool guard_is_admin(struct guard *g, long long user);

/* The admins read from the bot's Admin table (n = 0: none, e.g. the
 * database is down: only the static ones remain). Copies ids. */
void guard_set_db_admins(struct guard *g, const long long *ids, int n);

/*
 * Counts a command (kind: the command, e.g. enum tgcmd_kind) of an admin;
 * false when that admin sent `rate` of that command in the last minute, or
 * every admin together global_rate commands.
 */
bool guard_allow(struct guard *g, long long user, int kind, time_t now);

/* Records a confirmation to wait for; NULL when out of randomness. The
 * oldest pending one makes room when the table is full. */
const struct guard_pending *guard_add(struct guard *g, long long user, const char *chat, const char *id,
				      unsigned skip, time_t now);

/*
 * Looks up the nonce of a pressed button. GUARD_OK: it was user's and in
 * time; it is removed (a replay finds nothing) and copied to *out.
 * GUARD_EXPIRED removes it too; GUARD_OTHER_USER leaves it for its admin.
 */
enum guard_verdict guard_take(struct guard *g, const char *nonce, long long user, time_t now,
			      struct guard_pending *out);

/* A typed CONFIRM or CANCEL: the newest confirmation user waits for, taken
 * as guard_take does (GUARD_OK, GUARD_EXPIRED or GUARD_UNKNOWN). */
enum guard_verdict guard_take_newest(struct guard *g, long long user, time_t now, struct guard_pending *out);

#endif
