/*
 * What verification adds to the walk of lib/bkfile.c: the checksum of
 * <id>.json.sha256, the row and key counts against metadata.rowCounts and
 * metadata.redis.keys, and the summary bk-verify prints.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fsafe.h"
#include "out.h"
#include "progress.h"
#include "verify.h"

__attribute__((format(printf, 2, 3))) static int bad(struct verify_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
	return EX_DATAERR;
}

static int check_counts(struct verify_result *res)
{
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(res->meta, "rowCounts"), *c;
	cJSON_ArrayForEach(c, counts)
	{
		if (!cJSON_IsNumber(c))
			return bad(res, "metadata.rowCounts.%s is not a number", c->string);
		long long have = verify_rows(res, c->string);
		if ((double)have != c->valuedouble)
			return bad(res, "data.%s%s holds %lld rows, metadata.rowCounts says %.0f",
				   strcmp(res->type, "raffle") || !strcmp(c->string, "raffle") ||
						   !strcmp(c->string, "analytics")
					   ? ""
					   : "raffle.",
				   c->string, have, c->valuedouble);
	}
	const cJSON *redis = cJSON_GetObjectItemCaseSensitive(res->meta, "redis");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(redis, "keys");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(redis, "included")) && cJSON_IsNumber(keys) &&
	    keys->valuedouble != (double)res->redis_keys)
		return bad(res, "redis.conversations holds %lld keys, metadata.redis.keys says %.0f",
			   res->redis_keys, keys->valuedouble);
	return 0;
}

int verify_stream(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res)
{
	int rc = bkfile_walk(r, sink, res);
	return rc ? rc : check_counts(res);
}

static void sha_feed(void *ctx, const void *p, size_t n)
{
	EVP_DigestUpdate(ctx, p, n);
}

/* The expected digest from <path>.sha256: 0, 1 when absent, -1 when unreadable. */
static int read_expected(const char *path, char *hex)
{
	char sum[4096], line[256];
	snprintf(sum, sizeof sum, "%s.sha256", path);
	const char *why;
	int fd = fsafe_open(sum, O_RDONLY, 0, &why);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT && !why ? 1 : -1;
	}
	bool ok = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	for (int i = 0; ok && i < 64; i++)
		ok = isxdigit((unsigned char)line[i]);
	if (!ok || (line[64] != ' ' && line[64] != '\t'))
		return -1;
	for (int i = 0; i < 64; i++)
		hex[i] = (char)tolower((unsigned char)line[i]);
	hex[64] = '\0';
	return 0;
}

/* The checksum is checked even when the JSON is bad: a mismatch is the
 * better explanation of why. */
static int check_digest(struct jsonr *r, EVP_MD_CTX *ctx, const char *expect, int rc,
			struct verify_result *res)
{
	if (rc && rc != EX_DATAERR)
		return rc; /* stopped by the sink: the digest does not matter */
	jsonr_drain(r);
	if (r->io_errno) {
		snprintf(res->error, sizeof res->error, "read error: %s", strerror(r->io_errno));
		return EX_IOERR;
	}
	out_digest_hex(ctx, res->sha256);
	if (strcmp(res->sha256, expect)) {
		char was[400];
		snprintf(was, sizeof was, "%.399s", res->error);
		snprintf(res->error, sizeof res->error,
			 "checksum mismatch: the file's SHA-256 is %.12s..., its .sha256 says "
			 "%.12s...%s%.400s",
			 res->sha256, expect, was[0] ? "; " : "", was);
		return EX_DATAERR;
	}
	return rc;
}

int verify_backup(const char *path, const struct verify_sink *sink, struct verify_result *res)
{
	*res = (struct verify_result){ .checksum = "absent" };
	bool is_stdin = !strcmp(path, "-");
	char expect[65];
	/* O_NONBLOCK: a FIFO without a writer must not stop us before fstat */
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(res->error, sizeof res->error, "%s", strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	struct stat st;
	if (!is_stdin && (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))) {
		snprintf(res->error, sizeof res->error, "not a backup file (a directory)");
		close(fd);
		return EX_NOINPUT;
	}
	if (!is_stdin)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	/* Only a regular file has a checksum: a pipe or device named on the command
	 * line is read as a stream, never hashed as a file of unknown end. */
	int have = is_stdin || !S_ISREG(st.st_mode) ? 1 : read_expected(path, expect);
	if (have < 0) {
		snprintf(res->error, sizeof res->error,
			 "%s.sha256 is unreadable, not a regular file "
			 "or not sha256sum format",
			 ESC(path));
		close(fd);
		return EX_DATAERR;
	}
	if (!is_stdin && S_ISREG(st.st_mode))
		progress_total_bytes((uint64_t)st.st_size);
	struct jsonr r;
	jsonr_init_fd(&r, fd);
	EVP_MD_CTX *ctx = NULL;
	if (have == 0) {
		ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		r.feed = sha_feed;
		r.feed_ctx = ctx;
	}
	int rc = verify_stream(&r, sink, res);
	if (r.io_errno)
		rc = EX_IOERR;
	if (ctx) {
		rc = check_digest(&r, ctx, expect, rc, res);
		if (!rc)
			res->checksum = "ok";
		EVP_MD_CTX_free(ctx);
	}
	jsonr_free(&r);
	if (!is_stdin)
		close(fd);
	return rc;
}

const char *verify_ddl(const struct verify_result *res)
{
	const cJSON *ddl = cJSON_GetObjectItemCaseSensitive(res->schema, "ddl");
	return cJSON_IsString(ddl) ? ddl->valuestring : NULL;
}

const char *verify_ddl_error(const struct verify_result *res)
{
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(res->meta, "ddlError");
	if (cJSON_IsString(why))
		return why->valuestring;
	if (!res->schema)
		return "a format 1.0 backup: it does not describe its schema";
	if (!verify_ddl(res) && !strcmp(res->type, "full"))
		return "the schema object holds no DDL";
	return NULL;
}

/* "schema":{"tables":N,"ddl":bool}, and "ddlError" when a full backup has no DDL. */
static void add_schema_summary(cJSON *o, const struct verify_result *res)
{
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(res->schema, "tables");
	if (res->schema) {
		cJSON *s = cJSON_AddObjectToObject(o, "schema");
		cJSON_AddNumberToObject(s, "tables", cJSON_GetArraySize(tables));
		cJSON_AddBoolToObject(s, "ddl", verify_ddl(res) != NULL);
	} else {
		cJSON_AddNullToObject(o, "schema");
	}
	const char *why = verify_ddl_error(res);
	if (why && !strcmp(res->type, "full"))
		cJSON_AddStringToObject(o, "ddlError", why);
}

cJSON *verify_summary(const struct verify_result *res, const char *path, int rc)
{
	cJSON *o = cJSON_CreateObject();
	if (res->id)
		cJSON_AddStringToObject(o, "id", res->id);
	else
		cJSON_AddNullToObject(o, "id");
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddBoolToObject(o, "ok", rc == 0);
	if (rc) {
		cJSON_AddStringToObject(o, "error", res->error[0] ? res->error : "cannot be read");
		return o;
	}
	cJSON_AddStringToObject(o, "type", res->type);
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(res->meta, "timestamp");
	if (cJSON_IsString(ts))
		cJSON_AddStringToObject(o, "timestamp", ts->valuestring);
	cJSON *rows = cJSON_AddObjectToObject(o, "rows");
	for (int i = 0; i < res->ntables; i++)
		cJSON_AddNumberToObject(rows, res->tables[i].key, (double)res->tables[i].rows);
	cJSON_AddNumberToObject(o, "redisKeys", (double)res->redis_keys);
	add_schema_summary(o, res);
	cJSON_AddStringToObject(o, "checksum", res->checksum);
	if (res->sha256[0])
		cJSON_AddStringToObject(o, "sha256", res->sha256);
	return o;
}
