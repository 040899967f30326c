/*
 * A bounded queue of byte chunks from one producer thread to one consumer
 * thread: the hand-off of both pipelines of a backup (the COPY reader to
 * the converter, the converter to the hashing writer). Memory is bounded
 * by the number of slots; a slot is either the producer's (being filled),
 * queued, or the consumer's (being read), never two of these at once.
 */
#ifndef BK_CHUNKQ_H
#define BK_CHUNKQ_H

#include <stdbool.h>

#include "buf.h"

struct chunkq;

/* A queue of nslots (at least 2) chunks; NULL if out of memory. */
struct chunkq *chunkq_new(int nslots);
void chunkq_free(struct chunkq *q);

/* Producer: the empty slot it fills. */
struct buf *chunkq_slot(struct chunkq *q);

/*
 * Producer: queues the slot it filled. Unless last, waits for the next slot
 * to be free and empties it; after the last the producer touches no slot.
 * Returns the seconds spent waiting.
 */
double chunkq_publish(struct chunkq *q, bool last);

/*
 * Consumer: gives back the chunk it had, then waits for the next. NULL once
 * the last chunk has been given back. The chunk is the consumer's until
 * the next call. *waited (if not NULL) gets the seconds spent waiting.
 */
struct buf *chunkq_next(struct chunkq *q, double *waited);

#endif
