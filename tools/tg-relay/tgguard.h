/*
 * Who may do what in the relay (SPEC §5.8, §8): the admin list, the
 * per-admin rate limit, and the pending restore confirmations. Time is
 * passed in, so the rules can be tested without waiting.
 */
#ifndef BK_TGGUARD_H
#define BK_TGGUARD_H

#include <stdbool.h>
#include <time.h>

#include "ids.h"

#define GUARD_ADMINS_MAX 64
#define GUARD_PENDING_MAX 32
#define GUARD_NONCE_LEN 16

struct guard_pending {
	char nonce[GUARD_NONCE_LEN + 1];	/* in the button's callback_data */
	long long user;				/* only this admin may answer */
	char chat[32];
	char id[ID_MAX + 1];			/* resolved backup id */
	unsigned skip;
	time_t created;
};

struct guard {
	long long admins[GUARD_ADMINS_MAX];
	int nadmins;
	int rate;				/* commands per minute per admin */
	time_t *hits;				/* nadmins rings of rate times */
	long confirm_seconds;
	struct guard_pending pending[GUARD_PENDING_MAX];
	int npending;
};

enum guard_verdict { GUARD_OK, GUARD_UNKNOWN, GUARD_OTHER_USER, GUARD_EXPIRED };

/* Parses "123, 456": every entry must be a positive integer (fail closed).
 * Returns 0, or -1 with *bad pointing at the first bad entry. */
int guard_init(struct guard *g, const char *admins, int rate, long confirm_seconds,
    const char **bad);
void guard_free(struct guard *g);

bool guard_is_admin(const struct guard *g, long long user);

/* Counts a command of an admin; false when over the rate in the last minute. */
bool guard_allow(struct guard *g, long long user, time_t now);

/* Records a confirmation to wait for; NULL when out of randomness. The
 * oldest pending one makes room when the table is full. */
const struct guard_pending *guard_add(struct guard *g, long long user,
    const char *chat, const char *id, unsigned skip, time_t now);

/*
 * Looks up the nonce of a pressed button. GUARD_OK: it was user's and in
 * time; it is removed (a replay finds nothing) and copied to *out.
 * GUARD_EXPIRED removes it too; GUARD_OTHER_USER leaves it for its admin.
 */
enum guard_verdict guard_take(struct guard *g, const char *nonce, long long user,
    time_t now, struct guard_pending *out);

#endif
