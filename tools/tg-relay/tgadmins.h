/*
 * Relay admins from the bot's own Admin table (BK_ADMINS_FROM_DB=1): read
 * at start and then every period on a thread of their own, so a slow or
 * dead database never holds up the polling. A failed read leaves only
 * TELEGRAM_ADMIN_IDS (fail closed).
 */
#ifndef BK_TGADMINS_H
#define BK_TGADMINS_H

#include "tgguard.h"

struct tgadmins;

/* One read into g; returns 0 or a sysexits code (g then has no table admins). */
int tgadmins_read(struct guard *g);

/* Reads every period seconds until tgadmins_stop. NULL if no thread. */
struct tgadmins *tgadmins_start(struct guard *g, long period);
void tgadmins_stop(struct tgadmins *a);

#endif
