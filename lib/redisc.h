/* Redis: connecting by REDIS_URL, and reading the conversation states. */
#ifndef BK_REDISC_H
#define BK_REDISC_H

#include <stdio.h>
#include <hiredis/hiredis.h>

/*
 * Connects to $REDIS_URL (default redis://127.0.0.1:6379/0):
 * redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N].
 * Returns 0, or EX_UNAVAILABLE / EX_USAGE after saying why.
 */
int redis_open(redisContext **ctx);

/* Says what failed; returns EX_UNAVAILABLE. */
int redis_fail(redisContext *ctx, const char *what);

/* "redis: what: why" on stderr, why scrubbed of secrets (config_scrub). */
void redis_warn(const char *what, const char *why);

struct redis_snapshot {
	FILE *values; /* "key":"value" pairs, comma separated: a JSON object body */
	FILE *ttls;   /* "key":ms pairs; -1 for a key that never expires */
	long keys;    /* string keys taken */
	long skipped; /* matching keys that are not strings */
};

/*
 * Finds the keys matching pattern with SCAN (never KEYS), then reads each
 * value and remaining TTL, writing them as JSON into two temporary files so
 * that memory holds the key names only. Returns 0 or EX_UNAVAILABLE/EX_IOERR.
 */
int redis_snapshot(redisContext *ctx, const char *pattern, struct redis_snapshot *snap);
void redis_snapshot_free(struct redis_snapshot *snap);

#endif
