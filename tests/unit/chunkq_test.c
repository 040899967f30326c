/*
 * The producer/consumer hand-off (lib/chunkq.c): every chunk arrives, in
 * order, whatever the consumer's lag and however few slots there are; in
 * particular the chunks still queued when the producer publishes its last.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunkq.h"

#include "check.h"

struct run {
	struct chunkq *q;
	int chunks;	 /* how many the producer sends, the last included */
	int dirty_slots; /* slots handed to the producer not empty */
};

/* Chunk k holds the text "k" repeated k % 7 + 1 times. */
static void *produce(void *arg)
{
	struct run *r = arg;
	for (int k = 0; k < r->chunks; k++) {
		struct buf *b = chunkq_slot(r->q);
		r->dirty_slots += b->len != 0;
		char text[16];
		int n = snprintf(text, sizeof text, "%d,", k);
		for (int i = 0; i <= k % 7; i++)
			buf_add(b, text, (size_t)n);
		chunkq_publish(r->q, k == r->chunks - 1);
	}
	return NULL;
}

static void lag(long us)
{
	struct timespec ts = { 0, us * 1000 };
	if (us)
		nanosleep(&ts, NULL);
}

static void one_run(int nslots, int chunks, long consumer_lag_us)
{
	struct run r = { .q = chunkq_new(nslots), .chunks = chunks };
	pthread_t producer;
	CHECK(pthread_create(&producer, NULL, produce, &r) == 0);
	int k = 0;
	struct buf *b;
	while ((lag(consumer_lag_us), b = chunkq_next(r.q, NULL))) {
		char want[256] = "", text[16];
		snprintf(text, sizeof text, "%d,", k);
		for (int i = 0; i <= k % 7; i++)
			strcat(want, text);
		if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0) {
			fprintf(stderr, "slots %d, chunks %d, lag %ld: chunk %d is '%.*s'\n", nslots, chunks,
				consumer_lag_us, k, (int)b->len, b->data);
			CHECK(0);
		}
		k++;
	}
	CHECK(k == chunks);
	CHECK(chunkq_next(r.q, NULL) == NULL); /* stays at its end */
	pthread_join(producer, NULL);
	CHECK(r.dirty_slots == 0);
	chunkq_free(r.q);
}

int main(void)
{
	for (int nslots = 2; nslots <= 5; nslots++)
		for (int chunks = 1; chunks <= 12; chunks++) {
			one_run(nslots, chunks, 0);
			one_run(nslots, chunks, 300); /* the producer ends while all slots are queued */
		}
	one_run(4, 20000, 0);
	return check_done("chunkq");
}
