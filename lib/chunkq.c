#include <pthread.h>
#include <stdlib.h>

#include "chunkq.h"
#include "profile.h"

struct chunkq {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int nslots;
	int filling;   /* the producer's slot */
	int next_read; /* the consumer's next slot */
	int held;      /* the slot the consumer has, or -1 */
	bool drained;  /* the consumer has given back the last chunk */
	struct slot {
		struct buf data;
		bool queued, last;
	} slot[];
};

struct chunkq *chunkq_new(int nslots)
{
	struct chunkq *q = calloc(1, sizeof *q + (size_t)nslots * sizeof q->slot[0]);
	if (!q)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->changed, NULL);
	q->nslots = nslots;
	q->held = -1;
	return q;
}

void chunkq_free(struct chunkq *q)
{
	if (!q)
		return;
	for (int i = 0; i < q->nslots; i++)
		buf_free(&q->slot[i].data);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->changed);
	free(q);
}

struct buf *chunkq_slot(struct chunkq *q)
{
	return &q->slot[q->filling].data; /* only the producer moves `filling` */
}

double chunkq_publish(struct chunkq *q, bool last)
{
	double since = prof_now();
	pthread_mutex_lock(&q->lock);
	q->slot[q->filling].queued = true;
	q->slot[q->filling].last = last;
	pthread_cond_broadcast(&q->changed);
	if (!last) {
		int next = (q->filling + 1) % q->nslots;
		/* a slot the consumer holds is still marked queued */
		while (q->slot[next].queued)
			pthread_cond_wait(&q->changed, &q->lock);
		q->slot[next].data.len = 0;
		q->filling = next;
	}
	pthread_mutex_unlock(&q->lock);
	return prof_now() - since;
}

struct buf *chunkq_next(struct chunkq *q, double *waited)
{
	double since = prof_now();
	struct buf *chunk = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->held >= 0) {
		struct slot *s = &q->slot[q->held];
		s->queued = false;
		q->held = -1;
		q->drained = s->last;
		pthread_cond_broadcast(&q->changed);
	}
	if (!q->drained) {
		while (!q->slot[q->next_read].queued)
			pthread_cond_wait(&q->changed, &q->lock);
		q->held = q->next_read;
		q->next_read = (q->next_read + 1) % q->nslots;
		chunk = &q->slot[q->held].data;
	}
	pthread_mutex_unlock(&q->lock);
	if (waited)
		*waited = prof_now() - since;
	return chunk;
}
