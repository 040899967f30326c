#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config.h"
#include "tgguard.h"

int guard_init(struct guard *g, const char *admins, int rate, long confirm_seconds,
    const char **bad)
{
	memset(g, 0, sizeof *g);
	g->rate = rate > 0 ? rate : 1;
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
		if (parse_long(word, 1, 9007199254740991L, &v) < 0)	/* 2^53-1 */
			return -1;
		g->admins[g->nadmins++] = v;
		p += n;
		p += strcspn(p, ",");
	}
	if (g->nadmins == 0)
		return -1;
	g->hits = calloc((size_t)g->nadmins * (size_t)g->rate, sizeof *g->hits);
	return g->hits ? 0 : -1;
}

void guard_free(struct guard *g)
{
	free(g->hits);
	g->hits = NULL;
}

static int admin_index(const struct guard *g, long long user)
{
	for (int i = 0; i < g->nadmins; i++)
		if (g->admins[i] == user)
			return i;
	return -1;
}

bool guard_is_admin(const struct guard *g, long long user)
{
	return admin_index(g, user) >= 0;
}

bool guard_allow(struct guard *g, long long user, time_t now)
{
	int i = admin_index(g, user);
	if (i < 0)
		return false;
	/* the ring holds the last `rate` commands, oldest first */
	time_t *ring = g->hits + (size_t)i * (size_t)g->rate;
	if (ring[0] != 0 && now - ring[0] < 60)
		return false;
	memmove(ring, ring + 1, (size_t)(g->rate - 1) * sizeof *ring);
	ring[g->rate - 1] = now;
	return true;
}

static void drop(struct guard *g, int i)
{
	memmove(&g->pending[i], &g->pending[i + 1],
	    (size_t)(g->npending - i - 1) * sizeof *g->pending);
	g->npending--;
}

const struct guard_pending *guard_add(struct guard *g, long long user,
    const char *chat, const char *id, unsigned skip, time_t now)
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

enum guard_verdict guard_take(struct guard *g, const char *nonce, long long user,
    time_t now, struct guard_pending *out)
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
