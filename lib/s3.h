/*
 * Off-site copies in S3-compatible object storage (bk-push(1)): one bucket
 * and prefix from BK_S3_URL, requests signed with SigV4 by libcurl, S3's
 * XML answers read with expat. Objects are named relative to the prefix.
 */
#ifndef BK_S3_H
#define BK_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_PART_MIN (5L << 20) /* S3 refuses smaller parts but the last */
#define S3_PART_DEFAULT (8L << 20)

struct s3;

/* One object under the prefix. */
struct s3_object {
	const char *name; /* relative to the prefix */
	long long size;
	int64_t mtime_ms; /* LastModified */
	const char *etag;
};

/*
 * Reads BK_S3_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION, AWS_ENDPOINT_URL, BK_S3_PATH_STYLE, BK_S3_PART_SIZE. Returns 0
 * with *s, or EX_USAGE after saying what is missing or malformed.
 */
int s3_open(struct s3 **s);
void s3_close(struct s3 *s);

/* s3://bucket/prefix/name, for messages and reports (never a credential). */
const char *s3_where(struct s3 *s, const char *name);

/* Set from a signal handler: transfers stop at once (s3_* return EX_TEMPFAIL). */
void s3_interrupt(void);
bool s3_interrupted(void);

/*
 * Every call below retries 5xx answers and network errors with backoff,
 * within a bound, and returns 0 or a sysexits code after saying what failed:
 * EX_UNAVAILABLE (unreachable, or the service kept failing), EX_NOPERM
 * (access denied, bad signature or key), EX_NOINPUT (no such object or
 * bucket; quiet for s3_head and s3_get_small), EX_TEMPFAIL (interrupted).
 */

/* Size and ETag of name; EX_NOINPUT, quietly, when it is not there. */
int s3_head(struct s3 *s, const char *name, long long *size, char etag[128]);

/* A small object (at most max bytes) into b, NUL-terminated; EX_NOINPUT quietly. */
struct buf;
int s3_get_small(struct s3 *s, const char *name, struct buf *b, size_t max);

/*
 * Streams an object to sink, which returns 0 or a sysexits code that stops
 * the transfer. A transfer cut short is resumed where it stopped (Range).
 */
int s3_get(struct s3 *s, const char *name, int (*sink)(void *ud, const void *p, size_t n), void *ud,
	   long long *size);

int s3_put_small(struct s3 *s, const char *name, const void *p, size_t n);
int s3_delete(struct s3 *s, const char *name);

/*
 * Uploads what read gives (0 at the end, -1 with errno on error) as name:
 * one PUT when it fits in one part, else a multipart upload of parts of
 * BK_S3_PART_SIZE read into one buffer (the memory used), aborted if
 * anything fails or the upload is interrupted. Then checks that the object
 * the bucket holds has the size sent and the ETag it answered.
 * *bytes gets the size. EX_IOERR when read fails.
 */
int s3_upload(struct s3 *s, const char *name, long (*read)(void *ud, void *p, size_t n), void *ud,
	      long long *bytes);

/* Calls fn for every object under the prefix (ListObjectsV2, every page). */
int s3_list(struct s3 *s, int (*fn)(void *ud, const struct s3_object *o), void *ud);

/*
 * Aborts the multipart uploads left open under the prefix (by killed pushes):
 * those of name (NULL: of every object) started more than min_age_ms ago.
 * *aborted counts them. s3 services without ListMultipartUploads: 0, none.
 */
int s3_abort_stale(struct s3 *s, const char *name, int64_t min_age_ms, long *aborted);

#endif
