#include <err.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>

#include "chunkq.h"
#include "config.h"
#include "copyread.h"
#include "profile.h"

#define SLOTS 4 /* chunks in flight: bounded memory */
#define CHUNK (1 << 20)

struct copy_reader {
	PGconn *conn;
	pthread_t thread;
	struct chunkq *queue;
	size_t chunk;		/* publish a slot once it holds this much */
	long consumer_delay_us; /* test knob: the consumer lags this much per chunk */
	int end;		/* PQgetCopyData's last result */
};

static void *reader_main(void *arg)
{
	struct copy_reader *r = arg;
	struct buf *slot = chunkq_slot(r->queue);
	int n;
	char *line;
	while ((n = PQgetCopyData(r->conn, &line, 0)) > 0) {
		buf_add(slot, line, (size_t)n);
		PQfreemem(line);
		if (slot->len >= r->chunk) {
			chunkq_publish(r->queue, false);
			slot = chunkq_slot(r->queue);
		}
	}
	r->end = n;
	chunkq_publish(r->queue, true);
	return NULL;
}

/*
 * Test knobs: a tiny chunk and a slow consumer make a table's end arrive
 * while every slot is pending, the case where the hand-off once lost rows
 * (tests/copyrace.bats). A bad or missing value leaves the default.
 */
static void set_knobs(struct copy_reader *r)
{
	r->chunk = (size_t)config_test_knob("BK_TEST_COPY_CHUNK", CHUNK, 1, CHUNK);
	r->consumer_delay_us = config_test_knob("BK_TEST_COPY_DELAY_US", 0, 0, 1000000);
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
	if (!r || !(r->queue = chunkq_new(SLOTS)))
		err(EX_SOFTWARE, "out of memory");
	r->conn = conn;
	set_knobs(r);
	if (pthread_create(&r->thread, NULL, reader_main, r) != 0) {
		chunkq_free(r->queue);
		free(r);
		return -1;
	}
	*reader = r;
	return 0;
}

const struct buf *copy_reader_next(struct copy_reader *r)
{
	double waited;
	lag(r);
	struct buf *chunk = chunkq_next(r->queue, &waited);
	prof_add_seconds(PROF_COPY_WAIT, waited);
	return chunk;
}

int copy_reader_finish(struct copy_reader *r)
{
	while (chunkq_next(r->queue, NULL)) /* a caller that stopped early drains the rest */
		;
	pthread_join(r->thread, NULL);
	int end = r->end;
	chunkq_free(r->queue);
	free(r);
	return end;
}
