#include <err.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "copyread.h"

#define SLOTS 4			/* chunks in flight: bounded memory */
#define CHUNK (1 << 20)

struct copy_reader {
	PGconn *conn;
	size_t chunk;		/* publish a slot once it holds this much */
	long consumer_delay_us;	/* test knob: the consumer lags this much per chunk */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct buf slot[SLOTS];
	bool full[SLOTS], last[SLOTS];
	int next_read;		/* the consumer's slot */
	int held;		/* the slot the consumer has, or -1 */
	int end;		/* PQgetCopyData's last result */
	bool drained;		/* the consumer has had the last chunk */
};

/*
 * Hands slot i to the consumer and, unless it was the last, waits for slot
 * i + 1 to be free and empties it. After the last chunk the reader touches
 * no slot again: the next one may still hold a chunk the consumer has not
 * taken, or be the one it is reading.
 */
static int publish(struct copy_reader *r, int i, bool last)
{
	pthread_mutex_lock(&r->lock);
	r->full[i] = true;
	r->last[i] = last;
	pthread_cond_broadcast(&r->changed);
	if (!last) {
		i = (i + 1) % SLOTS;
		while (r->full[i])
			pthread_cond_wait(&r->changed, &r->lock);
		r->slot[i].len = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return i;
}

static void *reader_main(void *arg)
{
	struct copy_reader *r = arg;
	int i = 0, n;
	char *line;
	while ((n = PQgetCopyData(r->conn, &line, 0)) > 0) {
		buf_add(&r->slot[i], line, (size_t)n);
		PQfreemem(line);
		if (r->slot[i].len >= r->chunk)
			i = publish(r, i, false);
	}
	r->end = n;
	publish(r, i, true);
	return NULL;
}

/*
 * Test knobs: a tiny chunk and a slow consumer make a table's end arrive
 * while every slot is pending, the case where the hand-off once lost rows
 * (tests/copyrace.bats). A bad or missing value leaves the default.
 */
static void set_knobs(struct copy_reader *r)
{
	const char *v;
	long n;
	r->chunk = CHUNK;
	if ((v = config_get("BK_TEST_COPY_CHUNK", NULL)) && parse_long(v, 1, CHUNK, &n) == 0)
		r->chunk = (size_t)n;
	if ((v = config_get("BK_TEST_COPY_DELAY_US", NULL)) && parse_long(v, 0, 1000000, &n) == 0)
		r->consumer_delay_us = n;
}

static void lag(const struct copy_reader *r)
{
	struct timespec ts = { r->consumer_delay_us / 1000000, r->consumer_delay_us % 1000000 * 1000 };
	if (r->consumer_delay_us > 0)
		nanosleep(&ts, NULL);
}

int copy_reader_start(PGconn *conn, struct copy_reader **reader)
{
	struct copy_reader *r = calloc(1, sizeof *r);
	if (!r)
		err(70, "out of memory");
	r->conn = conn;
	r->held = -1;
	set_knobs(r);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
		free(r);
		return -1;
	}
	*reader = r;
	return 0;
}

const struct buf *copy_reader_next(struct copy_reader *r)
{
	if (r->drained)
		return NULL;
	lag(r);
	pthread_mutex_lock(&r->lock);
	if (r->held >= 0) {	/* done with the previous chunk */
		bool was_last = r->last[r->held];
		r->full[r->held] = false;
		r->held = -1;
		pthread_cond_broadcast(&r->changed);
		if (was_last) {
			r->drained = true;
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
	}
	while (!r->full[r->next_read])
		pthread_cond_wait(&r->changed, &r->lock);
	r->held = r->next_read;
	r->next_read = (r->next_read + 1) % SLOTS;
	pthread_mutex_unlock(&r->lock);
	return &r->slot[r->held];
}

int copy_reader_finish(struct copy_reader *r)
{
	while (copy_reader_next(r))	/* a caller that stopped early drains the rest */
		;
	pthread_join(r->thread, NULL);
	int end = r->end;
	for (int i = 0; i < SLOTS; i++)
		buf_free(&r->slot[i]);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->changed);
	free(r);
	return end;
}
