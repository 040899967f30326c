#include <err.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg.h"
#include "tgrefuse.h"

#define QUEUE_MAX 256
#define SEEN_MAX 1024 /* users remembered; the oldest is forgotten first */
#define TEXT_MAX 256

struct refusal {
	char chat[32];
	char text[TEXT_MAX];
};

struct refuser {
	struct tg *tg;
	long period;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	volatile sig_atomic_t abort; /* stops a request in flight at close */
	struct refusal queue[QUEUE_MAX];
	int head, count;
	struct {
		long long key;
		time_t at;
	} seen[SEEN_MAX];
	int nseen;
	unsigned long dropped;
};

static void *sender(void *arg)
{
	struct refuser *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->count && !r->stopping)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->count)
			break;
		struct refusal one = r->queue[r->head];
		r->head = (r->head + 1) % QUEUE_MAX;
		r->count--;
		pthread_mutex_unlock(&r->lock);
		/* one attempt: a stranger is not worth a retry */
		bool failed = tg_send_text(r->tg, one.chat, one.text, NULL, NULL) != 0;
		pthread_mutex_lock(&r->lock);
		if (failed) {
			/* Telegram is refusing (429: the bot is over its rate) or away:
			 * the queued refusals would only take the admins' share */
			warnx("refusal to chat %s not sent: %s; %d queued refusals dropped", one.chat,
			      tg_error(r->tg), r->count);
			r->count = 0;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct refuser *refuser_open(const char *api_url, const char *token, long period)
{
	struct refuser *r = calloc(1, sizeof *r);
	if (!r || !(r->tg = tg_new(api_url, token))) {
		free(r);
		return NULL;
	}
	tg_set_retries(r->tg, 0, -1);
	tg_set_abort(r->tg, &r->abort);
	r->period = period;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, sender, r) != 0) {
		tg_free(r->tg);
		free(r);
		return NULL;
	}
	return r;
}

/* Whether key was refused within the period; if not, it is now. */
static bool seen_recently(struct refuser *r, long long key, time_t now)
{
	int oldest = 0;
	for (int i = 0; i < r->nseen; i++) {
		if (r->seen[i].key == key) {
			if (now - r->seen[i].at < r->period)
				return true;
			r->seen[i].at = now;
			return false;
		}
		if (r->seen[i].at < r->seen[oldest].at)
			oldest = i;
	}
	int slot = r->nseen < SEEN_MAX ? r->nseen++ : oldest;
	r->seen[slot].key = key;
	r->seen[slot].at = now;
	return false;
}

bool refuser_send(struct refuser *r, long long key, const char *chat, const char *text, time_t now)
{
	bool queued = false;
	pthread_mutex_lock(&r->lock);
	if (!seen_recently(r, key, now)) {
		if (r->count < QUEUE_MAX) {
			struct refusal *q = &r->queue[(r->head + r->count++) % QUEUE_MAX];
			snprintf(q->chat, sizeof q->chat, "%s", chat);
			snprintf(q->text, sizeof q->text, "%s", text);
			queued = true;
			pthread_cond_signal(&r->cond);
		} else if (r->dropped++ % 100 == 0) {
			warnx("refusal queue full: refusals dropped (%lu so far)", r->dropped);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return queued;
}

void refuser_close(struct refuser *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	r->count = 0; /* unsent refusals are not worth waiting for */
	r->abort = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	tg_free(r->tg);
	free(r);
}
