#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config.h"
#include "tgguard.h"

int guard_init(struct guard *g, const char *admins, int rate, long confirm_seconds, const char **bad)
{
	memset(g, 0, sizeof *g);
	pthread_mutex_init(&g->lock, NULL);
	g->rate = rate > 0 ? rate : 1;
	g->global_rate = g->rate * 4;
	g->confirm_seconds = confirm_seconds;
	*bad = admins;
	for (const char *p = admins; p && *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			break;
		char word[32];
		long v;
		*bad = p;
		if (n >= sizeof word || g->nadmins == GUARD_ADMINS_MAX)
			return -1;
		memcpy(word, p, n);
		word[n] = '\0';
		if (parse_long(word, 1, 9007199254740991L, &v) < 0) /* 2^53-1 */
			return -1;
		g->admins[g->nadmins++] = v;
		p += n;
		p += strcspn(p, ",");
	}
	if (admins && g->nadmins == 0)
		return -1;
	g->global = calloc((size_t)g->global_rate, sizeof *g->global);
	return g->global ? 0 : -1;
}

void guard_free(struct guard *g)
{
	for (int i = 0; i < g->nslots; i++)
		free(g->slots[i].ring);
	g->nslots = 0;
	free(g->global);
	free(g->db_admins);
	g->global = NULL;
	g->db_admins = NULL;
	pthread_mutex_destroy(&g->lock);
}

bool guard_is_admin(struct guard *g, long long user)
{
	for (int i = 0; i < g->nadmins; i++)
		if (g->admins[i] == user)
			return true;
	bool found = false;
	pthread_mutex_lock(&g->lock);
	for (int i = 0; i < g->ndb && !found; i++)
		found = g->db_admins[i] == user;
	pthread_mutex_unlock(&g->lock);
	return found;
}

void guard_set_db_admins(struct guard *g, const long long *ids, int n)
{
	long long *copy = n > 0 ? malloc((size_t)n * sizeof *copy) : NULL;
	if (copy)
		memcpy(copy, ids, (size_t)n * sizeof *copy);
	pthread_mutex_lock(&g->lock);
	free(g->db_admins);
	g->db_admins = copy;
	g->ndb = copy ? n : 0; /* out of memory: nobody from the table (fail closed) */
	pthread_mutex_unlock(&g->lock);
}

/* A ring of the last n times, oldest first: is there room for one more now? */
static bool ring_full(const time_t *ring, time_t now)
{
	return ring[0] != 0 && now - ring[0] < 60;
}

static void ring_push(time_t *ring, int n, time_t now)
{
	memmove(ring, ring + 1, (size_t)(n - 1) * sizeof *ring);
	ring[n - 1] = now;
}

/* The window of (user, kind); the least recently used one is reused. */
static time_t *slot_ring(struct guard *g, long long user, int kind)
{
	int lru = 0;
	for (int i = 0; i < g->nslots; i++) {
		if (g->slots[i].user == user && g->slots[i].kind == kind)
			return g->slots[i].ring;
		if (g->slots[i].ring[g->rate - 1] < g->slots[lru].ring[g->rate - 1])
			lru = i;
	}
	struct guard_slot *s = &g->slots[lru];
	if (g->nslots < GUARD_SLOTS_MAX) {
		s = &g->slots[g->nslots];
		if (!(s->ring = calloc((size_t)g->rate, sizeof *s->ring)))
			return NULL;
		g->nslots++;
	} else {
		memset(s->ring, 0, (size_t)g->rate * sizeof *s->ring);
	}
	s->user = user;
	s->kind = kind;
	return s->ring;
}

bool guard_allow(struct guard *g, long long user, int kind, time_t now)
{
	if (!guard_is_admin(g, user))
		return false;
	time_t *ring = slot_ring(g, user, kind);
	if (!ring || ring_full(ring, now) || ring_full(g->global, now))
		return false;
	ring_push(ring, g->rate, now);
	ring_push(g->global, g->global_rate, now);
	return true;
}

static void drop(struct guard *g, int i)
{
	memmove(&g->pending[i], &g->pending[i + 1], (size_t)(g->npending - i - 1) * sizeof *g->pending);
	g->npending--;
}

const struct guard_pending *guard_add(struct guard *g, long long user, const char *chat, const char *id,
				      unsigned skip, time_t now)
{
	unsigned char rnd[GUARD_NONCE_LEN / 2];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return NULL;
	if (g->npending == GUARD_PENDING_MAX)
		drop(g, 0);
	struct guard_pending *p = &g->pending[g->npending++];
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(p->nonce + 2 * i, 3, "%02x", rnd[i]);
	p->user = user;
	snprintf(p->chat, sizeof p->chat, "%s", chat);
	snprintf(p->id, sizeof p->id, "%s", id);
	p->skip = skip;
	p->created = now;
	return p;
}

enum guard_verdict guard_take(struct guard *g, const char *nonce, long long user, time_t now,
			      struct guard_pending *out)
{
	for (int i = 0; i < g->npending; i++) {
		struct guard_pending *p = &g->pending[i];
		if (strcmp(p->nonce, nonce) != 0)
			continue;
		if (now - p->created > g->confirm_seconds) {
			*out = *p;
			drop(g, i);
			return GUARD_EXPIRED;
		}
		if (p->user != user)
			return GUARD_OTHER_USER;
		*out = *p;
		drop(g, i);
		return GUARD_OK;
	}
	return GUARD_UNKNOWN;
}

enum guard_verdict guard_take_newest(struct guard *g, long long user, time_t now, struct guard_pending *out)
{
	for (int i = g->npending - 1; i >= 0; i--) {
		if (g->pending[i].user != user)
			continue;
		*out = g->pending[i];
		drop(g, i);
		return now - out->created > g->confirm_seconds ? GUARD_EXPIRED : GUARD_OK;
	}
	return GUARD_UNKNOWN;
}
