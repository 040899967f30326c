/*
 * The Redis half of a restore. Values are spooled to a temporary file while
 * the backup streams by (memory holds none of them), and SET only after the
 * database has committed: Redis cannot join the PostgreSQL transaction.
 */
#include <err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "redisc.h"
#include "restore_int.h"

#define DEFAULT_TTL_MS 3600000LL /* the original bot's one hour */
#define PIPELINE 256

static void put_chunk(FILE *f, const char *p, size_t n)
{
	uint32_t len = (uint32_t)n;
	fwrite(&len, sizeof len, 1, f);
	fwrite(p, 1, n, f);
}

/* A chunk into b (NUL-terminated); false at the end of the file. */
static bool get_chunk(FILE *f, struct buf *b)
{
	uint32_t len;
	if (fread(&len, sizeof len, 1, f) != 1)
		return false;
	b->len = 0;
	buf_grow(b, len + 1);
	if (fread(b->data, 1, len, f) != len)
		return false;
	b->len = len;
	buf_cstr(b);
	return true;
}

int redis_spool(void *ud, const char *key, size_t klen, const char *value, size_t vlen, const char *ttl)
{
	struct rctx *c = ud;
	FILE **f = ttl ? &c->redis_ttls : &c->redis_values;
	if (!*f && !(*f = tmpfile())) {
		warn("cannot create a temporary file for the Redis values");
		return EX_CANTCREAT;
	}
	put_chunk(*f, key, klen);
	if (ttl)
		put_chunk(*f, ttl, strlen(ttl));
	else
		put_chunk(*f, value, vlen);
	return ferror(*f) ? (warnx("cannot write the Redis spool file"), EX_IOERR) : 0;
}

struct ttl {
	char *key;
	size_t klen;
	long long ms;
};

static int by_key(const void *a, const void *b)
{
	const struct ttl *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int d = memcmp(x->key, y->key, n);
	return d ? d : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Only the TTLs are held in memory: a key and a number per conversation. */
static struct ttl *load_ttls(FILE *f, size_t *n)
{
	struct ttl *list = NULL;
	size_t cap = 0;
	struct buf k = { 0 }, v = { 0 };
	*n = 0;
	if (f)
		rewind(f);
	while (f && get_chunk(f, &k) && get_chunk(f, &v)) {
		if (*n == cap && !(list = realloc(list, (cap = cap ? cap * 2 : 64) * sizeof *list)))
			err(EX_SOFTWARE, "out of memory");
		list[*n].key = malloc(k.len + 1);
		if (!list[*n].key)
			err(EX_SOFTWARE, "out of memory");
		memcpy(list[*n].key, k.data, k.len + 1);
		list[*n].klen = k.len;
		list[(*n)++].ms = strtoll(v.data, NULL, 10);
	}
	buf_free(&k);
	buf_free(&v);
	if (*n)
		qsort(list, *n, sizeof *list, by_key);
	return list;
}

static int read_replies(redisContext *ctx, int n)
{
	for (int i = 0; i < n; i++) {
		redisReply *reply;
		if (redisGetReply(ctx, (void **)&reply) != REDIS_OK)
			return redis_fail(ctx, "SET");
		bool bad = reply->type == REDIS_REPLY_ERROR;
		if (bad)
			redis_warn("SET", reply->str);
		freeReplyObject(reply);
		if (bad)
			return EX_UNAVAILABLE;
	}
	return 0;
}

static int send_all(redisContext *ctx, FILE *values, struct ttl *ttls, size_t nttl, long long *set)
{
	struct buf k = { 0 }, v = { 0 };
	int queued = 0, rc = 0;
	rewind(values);
	while (!rc && get_chunk(values, &k) && get_chunk(values, &v)) {
		struct ttl probe = { .key = k.data, .klen = k.len }, *t;
		t = nttl ? bsearch(&probe, ttls, nttl, sizeof *ttls, by_key) : NULL;
		long long ms = t ? t->ms : DEFAULT_TTL_MS;
		if (ms == -1)
			redisAppendCommand(ctx, "SET %b %b", k.data, k.len, v.data, v.len);
		else if (ms > 0)
			redisAppendCommand(ctx, "SET %b %b PX %lld", k.data, k.len, v.data, v.len, ms);
		else
			continue; /* it had expired when the backup was taken */
		(*set)++;
		if (++queued == PIPELINE) {
			rc = read_replies(ctx, queued);
			queued = 0;
		}
	}
	if (!rc)
		rc = read_replies(ctx, queued);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* The TYPE replies of n queued keys (names in keys, NUL-separated): a key
 * that holds a hash, a list, ... is not one a conversation SET may replace. */
static int read_types(redisContext *ctx, int n, const struct buf *keys)
{
	int rc = 0;
	const char *key = keys->data;
	for (int i = 0; i < n; i++, key += strlen(key) + 1) {
		redisReply *reply;
		if (redisGetReply(ctx, (void **)&reply) != REDIS_OK)
			return redis_fail(ctx, "TYPE");
		bool string = reply->type == REDIS_REPLY_STATUS &&
			      (!strcmp(reply->str, "string") || !strcmp(reply->str, "none"));
		if (!rc && !string) {
			warnx("the backup's Redis key \"%.200s\" is a %s in Redis, not a string: refused, "
			      "nothing has been changed (delete or rename that key first)",
			      key,
			      reply->type == REDIS_REPLY_STATUS ? reply->str : "key that cannot be read");
			rc = EX_DATAERR;
		}
		freeReplyObject(reply);
	}
	return rc;
}

/* Before the database commits: Redis answers, and every key the backup sets
 * is a string or absent there. */
int redis_check(struct rctx *c)
{
	if (!c->redis_values)
		return 0;
	redisContext *ctx;
	int rc = redis_open(&ctx);
	if (rc) {
		warnx("Redis is checked before the database is restored: nothing has been changed "
		      "(or --skip-redis)");
		return rc;
	}
	struct buf k = { 0 }, v = { 0 }, names = { 0 };
	int queued = 0;
	rewind(c->redis_values);
	while (!rc && get_chunk(c->redis_values, &k) && get_chunk(c->redis_values, &v)) {
		redisAppendCommand(ctx, "TYPE %b", k.data, k.len);
		buf_add(&names, k.data, k.len + 1);
		if (++queued == PIPELINE) {
			rc = read_types(ctx, queued, &names);
			queued = 0;
			names.len = 0;
		}
	}
	if (!rc)
		rc = read_types(ctx, queued, &names);
	buf_free(&k);
	buf_free(&v);
	buf_free(&names);
	redisFree(ctx);
	return rc;
}

int redis_apply(struct rctx *c, long long *set)
{
	*set = 0;
	if (!c->redis_values)
		return 0;
	redisContext *ctx;
	int rc = redis_open(&ctx);
	if (rc)
		return rc;
	size_t nttl;
	struct ttl *ttls = load_ttls(c->redis_ttls, &nttl);
	rc = send_all(ctx, c->redis_values, ttls, nttl, set);
	for (size_t i = 0; i < nttl; i++)
		free(ttls[i].key);
	free(ttls);
	redisFree(ctx);
	return rc;
}
