#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "config.h"
#include "jsonw.h"
#include "redisc.h"

#define BATCH 500

/* A Redis error, scrubbed of the configuration's secrets (config_scrub). */
void redis_warn(const char *what, const char *why)
{
	char *msg = config_scrub(why);
	warnx("redis: %s: %s", what, msg);
	free(msg);
}

int redis_fail(redisContext *ctx, const char *what)
{
	redis_warn(what, ctx && ctx->err ? ctx->errstr : "no reply");
	return EX_UNAVAILABLE;
}

static int command_ok(redisContext *ctx, redisReply *r, const char *what)
{
	int ok = r && r->type != REDIS_REPLY_ERROR;
	if (r && !ok)
		redis_warn(what, r->str);
	else if (!r)
		redis_fail(ctx, what);
	freeReplyObject(r);
	return ok ? 0 : EX_UNAVAILABLE;
}

/* Splits redis://[[user]:password@]host[:port][/db]; url is modified. */
static int parse_tcp(char *url, char **user, char **pass, char **host, int *port, long *db)
{
	char *rest = url + strlen("redis://"), *at = strrchr(rest, '@');
	*user = *pass = NULL;
	if (at) {
		*at = '\0';
		char *colon = strchr(rest, ':');
		*pass = colon ? colon + 1 : rest;
		if (colon && colon > rest) {
			*colon = '\0';
			*user = rest;
		}
		rest = at + 1;
	}
	char *slash = strchr(rest, '/');
	if (slash) {
		*slash = '\0';
		if (slash[1] && parse_long(slash + 1, 0, 1 << 20, db) < 0)
			return -1;
	}
	char *colon = strrchr(rest, ':');
	long p = 6379;
	if (colon && !strchr(colon, ']')) {
		*colon = '\0';
		if (parse_long(colon + 1, 1, 65535, &p) < 0)
			return -1;
	}
	*port = (int)p;
	*host = *rest ? rest : "127.0.0.1";
	return 0;
}

int redis_open(redisContext **ctx)
{
	const char *url = config_get("REDIS_URL", "redis://127.0.0.1:6379/0");
	char *copy = strdup(url), *user = NULL, *pass = NULL, *host = NULL;
	int port = 0;
	long db = 0;
	struct timeval tv = { 10, 0 };
	*ctx = NULL;
	if (!strncmp(copy, "unix://", 7)) {
		char *q = strchr(copy + 7, '?');
		if (q && !strncmp(q, "?db=", 4) && parse_long(q + 4, 0, 1 << 20, &db) == 0)
			*q = '\0';
		*ctx = redisConnectUnixWithTimeout(copy + 7, tv);
	} else if (!strncmp(copy, "redis://", 8) && parse_tcp(copy, &user, &pass, &host, &port, &db) == 0) {
		*ctx = redisConnectWithTimeout(host, port, tv);
	} else {
		warnx("REDIS_URL: expected redis://[:password@]host[:port][/db] or unix:///path");
		free(copy);
		return EX_USAGE;
	}
	int rc = 0;
	if (!*ctx || (*ctx)->err)
		rc = redis_fail(*ctx, "cannot connect");
	if (!rc)
		redisSetTimeout(*ctx, tv);
	if (!rc && pass)
		rc = command_ok(*ctx,
				user ? redisCommand(*ctx, "AUTH %s %s", user, pass)
				     : redisCommand(*ctx, "AUTH %s", pass),
				"AUTH");
	if (!rc && db)
		rc = command_ok(*ctx, redisCommand(*ctx, "SELECT %ld", db), "SELECT");
	free(copy);
	if (rc) {
		redisFree(*ctx);
		*ctx = NULL;
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SCAN may return a key twice; the names are sorted and made unique. */
static int scan_keys(redisContext *ctx, const char *pattern, char ***keys, size_t *n)
{
	size_t cap = 0;
	char cursor[32] = "0";
	*keys = NULL;
	*n = 0;
	do {
		redisReply *r = redisCommand(ctx, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			return redis_fail(ctx, "SCAN");
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		redisReply *batch = r->element[1];
		for (size_t i = 0; i < batch->elements; i++) {
			if (*n == cap &&
			    !(*keys = realloc(*keys, (cap = cap ? cap * 2 : 256) * sizeof **keys)))
				err(EX_SOFTWARE, "out of memory");
			(*keys)[(*n)++] = strndup(batch->element[i]->str, batch->element[i]->len);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	if (*n == 0)
		return 0;
	qsort(*keys, *n, sizeof **keys, cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < *n; i++) {
		if (u && !strcmp((*keys)[u - 1], (*keys)[i]))
			free((*keys)[i]);
		else
			(*keys)[u++] = (*keys)[i];
	}
	*n = u;
	return 0;
}

/* GET and PTTL for keys[from..to), pipelined. */
static int read_batch(redisContext *ctx, char **keys, size_t from, size_t to, struct redis_snapshot *snap,
		      struct buf *b)
{
	for (size_t i = from; i < to; i++) {
		redisAppendCommand(ctx, "GET %s", keys[i]);
		redisAppendCommand(ctx, "PTTL %s", keys[i]);
	}
	for (size_t i = from; i < to; i++) {
		redisReply *value = NULL, *ttl = NULL;
		if (redisGetReply(ctx, (void **)&value) != REDIS_OK ||
		    redisGetReply(ctx, (void **)&ttl) != REDIS_OK) {
			freeReplyObject(value);
			return redis_fail(ctx, "GET");
		}
		if (value->type == REDIS_REPLY_STRING && ttl->type == REDIS_REPLY_INTEGER &&
		    ttl->integer != -2) {
			const char *sep = snap->keys++ ? "," : "";
			b->len = 0;
			buf_adds(b, sep);
			jsonw_key(b, keys[i]);
			jsonw_string(b, value->str, value->len);
			fwrite(b->data, 1, b->len, snap->values);
			b->len = 0;
			buf_adds(b, sep);
			jsonw_key(b, keys[i]);
			fprintf(snap->ttls, "%.*s%lld", (int)b->len, b->data, ttl->integer);
		} else if (value->type == REDIS_REPLY_ERROR) {
			snap->skipped++; /* WRONGTYPE: a hash or list, not a state */
		}
		freeReplyObject(value);
		freeReplyObject(ttl);
	}
	return 0;
}

int redis_snapshot(redisContext *ctx, const char *pattern, struct redis_snapshot *snap)
{
	*snap = (struct redis_snapshot){ .values = tmpfile(), .ttls = tmpfile() };
	if (!snap->values || !snap->ttls) {
		warn("cannot create a temporary file for the Redis states");
		return EX_IOERR;
	}
	char **keys;
	size_t n;
	int rc = scan_keys(ctx, pattern, &keys, &n);
	struct buf b = { 0 };
	for (size_t i = 0; !rc && i < n; i += BATCH)
		rc = read_batch(ctx, keys, i, i + BATCH < n ? i + BATCH : n, snap, &b);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	buf_free(&b);
	if (!rc && (fflush(snap->values) || fflush(snap->ttls))) {
		warn("cannot write the Redis states to a temporary file");
		rc = EX_IOERR;
	}
	rewind(snap->values);
	rewind(snap->ttls);
	return rc;
}

void redis_snapshot_free(struct redis_snapshot *snap)
{
	if (snap->values)
		fclose(snap->values);
	if (snap->ttls)
		fclose(snap->ttls);
	snap->values = snap->ttls = NULL;
}
