/*
 * Refusals to people who are not the relay's admins, and to group chats:
 * sent from their own thread with no retries, at most one per user (or
 * chat) per period, dropped when the queue is full. A flood of strangers
 * under Telegram's 429s costs the admins nothing: their replies never wait
 * behind these.
 */
#ifndef BK_TGREFUSE_H
#define BK_TGREFUSE_H

#include <stdbool.h>
#include <time.h>

struct refuser;

/* period: seconds between two refusals to the same key. NULL: no memory. */
struct refuser *refuser_open(const char *api_url, const char *token, long period);

/*
 * Queues text for chat unless key (a user or chat id) was refused within
 * the period or the queue is full. Never blocks on the network. Returns
 * whether it was queued.
 */
bool refuser_send(struct refuser *r, long long key, const char *chat, const char *text, time_t now);

/* Drops what is not sent yet and stops the thread. */
void refuser_close(struct refuser *r);

#endif
