#include <ctype.h>
#include <err.h>
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

#include "store.h"
#include "verify.h"

#define META_MAX (1 << 20)	/* metadata is small; a huge one is damage */
#define SCHEMA_MAX (64 << 20)	/* per table, not per row: DDL up to 16 MB and the catalog */

/* The state of one walk. */
struct walk {
	struct jsonr *r;
	const struct verify_sink *sink;
	struct verify_result *res;
	struct buf key;		/* the member name being handled */
	bool have_data;
};

static const char *tok_name(int t)
{
	static const char *const names[] = {
		"the end of the input", "an object", "'}'", "an array", "']'", "a member name",
		"a string", "a number", "true", "false", "null",
	};
	return t >= 0 && t <= JSONR_NULL ? names[t] : "invalid JSON";
}

__attribute__((format(printf, 2, 3)))
static int bad(struct walk *w, const char *fmt, ...)
{
	struct verify_result *res = w->res;
	if (res->error[0])
		return EX_DATAERR;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof res->error, fmt, ap);
	va_end(ap);
	return EX_DATAERR;
}

/* A token that is not what the structure needs: JSON errors say so first. */
static int unexpected(struct walk *w, int t, const char *where, const char *wanted)
{
	if (t == JSONR_ERROR)
		return bad(w, "%s: invalid JSON: %s", where, jsonr_error(w->r));
	return bad(w, "%s: expected %s, found %s (byte %llu)", where, wanted, tok_name(t),
		   (unsigned long long)w->r->tok_at);
}

static struct verify_table *count_table(struct walk *w, const char *key, bool nested)
{
	struct verify_result *res = w->res;
	for (int i = 0; i < res->ntables; i++)
		if (!strcmp(res->tables[i].key, key))
			return &res->tables[i];
	res->tables = realloc(res->tables, (size_t)(res->ntables + 1) * sizeof *res->tables);
	if (!res->tables)
		err(70, "out of memory");
	res->tables[res->ntables] = (struct verify_table){ .key = strdup(key), .nested = nested };
	return &res->tables[res->ntables++];
}

static int walk_rows(struct walk *w, const char *key, bool nested);

/* "data.raffle.tickets row 3", for errors only: rows are many. */
static const char *row_where(char *at, size_t size, const char *key, bool nested, long long row)
{
	snprintf(at, size, "data.%s%s row %lld", nested ? "raffle." : "", key, row);
	return at;
}

/*
 * The members of one row (of key's table). In the raffle object (raffle true) an array of
 * objects under a name that is not a column holds the rows of a child table.
 */
static int walk_fields(struct walk *w, void *h, const char *table, bool nested, long long row,
		       bool raffle)
{
	const struct verify_sink *s = w->sink;
	char at[300];
	for (;;) {
		int t = jsonr_next(w->r), rc;
		if (t == JSONR_OBJECT_END)
			return 0;
		if (t != JSONR_KEY)
			return unexpected(w, t, row_where(at, sizeof at, table, nested, row),
					  "a member name");
		w->key.len = 0;
		buf_add(&w->key, w->r->tok.data, w->r->tok.len + 1);
		const char *key = w->key.data;
		bool column = h && s->is_column && s->is_column(s->ud, h, key);
		t = jsonr_next(w->r);
		if (raffle && !column && t == JSONR_ARRAY) {
			int first = jsonr_peek(w->r);
			if (first == JSONR_OBJECT || first == JSONR_ARRAY_END) {
				char *child = strdup(key);
				rc = walk_rows(w, child, true);
				free(child);
				if (rc)
					return rc;
				continue;
			}
		}
		if (t == JSONR_ERROR || t == JSONR_END)
			return unexpected(w, t, row_where(at, sizeof at, table, nested, row), "a value");
		if (h && s->field)
			rc = s->field(s->ud, h, key, w->r, t);
		else
			rc = jsonr_skip(w->r, t) < 0 ? EX_DATAERR : 0;
		if (rc) {
			if (rc == EX_DATAERR && w->r->error[0])	/* the JSON, not the sink */
				return bad(w, "%s: invalid JSON: %s",
					   row_where(at, sizeof at, table, nested, row), jsonr_error(w->r));
			return rc;
		}
	}
}

/* One row object (its '{' already read), counted under key. */
static int walk_row(struct walk *w, void *h, const char *key, bool nested, long long row, bool raffle)
{
	const struct verify_sink *s = w->sink;
	int rc = h && s->row_begin ? s->row_begin(s->ud, h) : 0;
	if (!rc)
		rc = walk_fields(w, h, key, nested, row, raffle);
	if (!rc && h && s->row_end)
		rc = s->row_end(s->ud, h);
	return rc;
}

/* An array of row objects (its '[' already read). */
static int walk_rows(struct walk *w, const char *key, bool nested)
{
	const struct verify_sink *s = w->sink;
	void *h = s && s->table_begin ? s->table_begin(s->ud, key, nested) : NULL;
	struct verify_table *vt = count_table(w, key, nested);
	long long rows = vt->rows;
	int rc = 0;
	for (;;) {
		int t = jsonr_next(w->r);
		if (t == JSONR_ARRAY_END)
			break;
		if (t != JSONR_OBJECT) {
			char at[300];
			rc = unexpected(w, t, row_where(at, sizeof at, key, nested, rows + 1),
					"an object (one row)");
			break;
		}
		rc = walk_row(w, h, key, nested, ++rows, false);
		if (rc)
			break;
	}
	count_table(w, key, nested)->rows = rows;	/* the array may have moved */
	if (!rc && h && s->table_end)
		rc = s->table_end(s->ud, h);
	return rc;
}

/* A single-row table in a raffle backup: data.raffle, data.analytics. */
static int walk_single(struct walk *w, const char *key, int t)
{
	const struct verify_sink *s = w->sink;
	struct verify_table *vt = count_table(w, key, false);
	if (t == JSONR_NULL)
		return 0;
	if (t != JSONR_OBJECT) {
		char where[64];
		snprintf(where, sizeof where, "data.%s", key);
		return unexpected(w, t, where, strcmp(key, "raffle") ? "an object or null" : "an object");
	}
	vt->rows++;
	void *h = s && s->table_begin ? s->table_begin(s->ud, key, false) : NULL;
	int rc = walk_row(w, h, key, false, 1, !strcmp(key, "raffle"));
	if (!rc && h && s->table_end)
		rc = s->table_end(s->ud, h);
	return rc;
}

static int walk_data(struct walk *w)
{
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT)
		return unexpected(w, t, "data", "an object");
	w->have_data = true;
	for (;;) {
		t = jsonr_next(w->r);
		if (t == JSONR_OBJECT_END)
			return 0;
		if (t != JSONR_KEY)
			return unexpected(w, t, "data", "a member name");
		char *key = strdup(w->r->tok.data);
		int rc;
		t = jsonr_next(w->r);
		if (!strcmp(key, "raffle") || !strcmp(key, "analytics")) {
			w->res->raffle_object |= !strcmp(key, "raffle");
			rc = walk_single(w, key, t);
		} else if (t == JSONR_ARRAY) {
			rc = walk_rows(w, key, false);
		} else {
			char where[200];
			snprintf(where, sizeof where, "data.%s", key);
			rc = unexpected(w, t, where, "an array of rows");
		}
		free(key);
		if (rc)
			return rc;
	}
}

/* redis.conversations: key → string; redis.ttl: key → ms. */
static int walk_redis_map(struct walk *w, bool ttl)
{
	const char *where = ttl ? "redis.ttl" : "redis.conversations";
	const struct verify_sink *s = w->sink;
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT)
		return unexpected(w, t, where, "an object");
	for (;;) {
		t = jsonr_next(w->r);
		if (t == JSONR_OBJECT_END)
			return 0;
		if (t != JSONR_KEY)
			return unexpected(w, t, where, "a member name");
		w->key.len = 0;
		buf_add(&w->key, w->r->tok.data, w->r->tok.len + 1);
		t = jsonr_next(w->r);
		if (t != (ttl ? JSONR_NUMBER : JSONR_STRING))
			return unexpected(w, t, where, ttl ? "a number (ms)" : "a string");
		if (ttl && (strchr(w->r->tok.data, '.') || strpbrk(w->r->tok.data, "eE")))
			return bad(w, "%s: %s is not a whole number of ms", where, w->r->tok.data);
		*(ttl ? &w->res->redis_ttls : &w->res->redis_keys) += 1;
		if (s && s->redis) {
			int rc = ttl ? s->redis(s->ud, w->key.data, w->key.len - 1, NULL, 0, w->r->tok.data)
				     : s->redis(s->ud, w->key.data, w->key.len - 1, w->r->tok.data,
						w->r->tok.len, NULL);
			if (rc)
				return rc;
		}
	}
}

static int walk_redis(struct walk *w)
{
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT)
		return unexpected(w, t, "redis", "an object");
	for (;;) {
		t = jsonr_next(w->r);
		if (t == JSONR_OBJECT_END)
			return 0;
		if (t != JSONR_KEY)
			return unexpected(w, t, "redis", "a member name");
		int rc;
		if (!strcmp(w->r->tok.data, "conversations"))
			rc = walk_redis_map(w, false);
		else if (!strcmp(w->r->tok.data, "ttl"))
			rc = walk_redis_map(w, true);
		else
			rc = jsonr_skip(w->r, jsonr_next(w->r)) < 0 ? unexpected(w, JSONR_ERROR, "redis", "") : 0;
		if (rc)
			return rc;
	}
}

static int read_metadata(struct walk *w)
{
	struct buf text = { 0 };
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT) {
		buf_free(&text);
		return unexpected(w, t, "metadata", "an object");
	}
	if (jsonr_capture(w->r, t, &text, META_MAX) < 0) {
		buf_free(&text);
		return bad(w, "metadata: %s", jsonr_error(w->r));
	}
	cJSON_Delete(w->res->meta);
	w->res->meta = cJSON_ParseWithLength(text.data, text.len);
	buf_free(&text);
	if (!w->res->meta)
		err(70, "out of memory");
	return 0;
}

/* The "schema" member (format 1.1): kept whole, it is per table, not per row. */
static int read_schema(struct walk *w)
{
	struct buf text = { 0 };
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT) {
		buf_free(&text);
		return unexpected(w, t, "schema", "an object");
	}
	if (w->res->schema)
		return bad(w, "two schema objects");
	if (jsonr_capture(w->r, t, &text, SCHEMA_MAX) < 0) {
		buf_free(&text);
		return bad(w, "schema: %s", jsonr_error(w->r));
	}
	w->res->schema = cJSON_ParseWithLength(text.data, text.len);
	buf_free(&text);
	if (!w->res->schema)
		err(70, "out of memory");
	return 0;
}

/* Its shape: {"tables":{"T":{"columns":[{"name":..,"type":..},...]},...},"ddl":text|null} */
static int check_schema(struct walk *w)
{
	const cJSON *sch = w->res->schema, *tables = cJSON_GetObjectItemCaseSensitive(sch, "tables"), *t;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(w->res->meta, "version");
	if (!sch)
		return cJSON_IsString(version) && strcmp(version->valuestring, "1.0") ?
			bad(w, "a format %.20s backup without its schema object", version->valuestring) : 0;
	if (!cJSON_IsObject(tables))
		return bad(w, "schema.tables is not an object");
	cJSON_ArrayForEach(t, tables) {
		const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t, "columns"), *c;
		if (!cJSON_IsArray(cols))
			return bad(w, "schema.tables.%s.columns is not an array", t->string);
		cJSON_ArrayForEach(c, cols)
			if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "name")) ||
			    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "type")))
				return bad(w, "schema.tables.%s: a column without a name or type", t->string);
	}
	const cJSON *ddl = cJSON_GetObjectItemCaseSensitive(sch, "ddl");
	if (ddl && !cJSON_IsString(ddl) && !cJSON_IsNull(ddl))
		return bad(w, "schema.ddl is not text");
	return 0;
}

static const char *meta_string(struct walk *w, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(w->res->meta, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int check_metadata(struct walk *w)
{
	struct verify_result *res = w->res;
	int64_t ms;
	if (!res->meta)
		return bad(w, "no metadata object");
	res->id = meta_string(w, "id");
	res->type = meta_string(w, "type");
	const char *ts = meta_string(w, "timestamp");
	if (!res->id || !*res->id)
		return bad(w, "metadata.id is missing or not a string");
	if (!res->type || (strcmp(res->type, "full") && strcmp(res->type, "raffle")))
		return bad(w, "metadata.type is not \"full\" or \"raffle\"");
	if (!ts || parse_iso_ms(ts, &ms) < 0)
		return bad(w, "metadata.timestamp is missing or not ISO 8601");
	if (!w->have_data)
		return bad(w, "no data object");
	if (!strcmp(res->type, "raffle") && !res->raffle_object)
		return bad(w, "a raffle backup without data.raffle");
	if (!strcmp(res->type, "full") && verify_rows(res, "raffle") + verify_rows(res, "analytics"))
		return bad(w, "a full backup holding data.raffle or data.analytics objects");
	return 0;
}

static int check_counts(struct walk *w)
{
	struct verify_result *res = w->res;
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(res->meta, "rowCounts"), *c;
	cJSON_ArrayForEach(c, counts) {
		if (!cJSON_IsNumber(c))
			return bad(w, "metadata.rowCounts.%s is not a number", c->string);
		long long have = verify_rows(res, c->string);
		if ((double)have != c->valuedouble)
			return bad(w, "data.%s%s holds %lld rows, metadata.rowCounts says %.0f",
				   strcmp(res->type, "raffle") || !strcmp(c->string, "raffle") ||
				   !strcmp(c->string, "analytics") ? "" : "raffle.",
				   c->string, have, c->valuedouble);
	}
	const cJSON *redis = cJSON_GetObjectItemCaseSensitive(res->meta, "redis");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(redis, "keys");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(redis, "included")) && cJSON_IsNumber(keys) &&
	    keys->valuedouble != (double)res->redis_keys)
		return bad(w, "redis.conversations holds %lld keys, metadata.redis.keys says %.0f",
			   res->redis_keys, keys->valuedouble);
	return 0;
}

int verify_stream(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res)
{
	struct walk w = { .r = r, .sink = sink, .res = res };
	int t = jsonr_next(r), rc = 0;
	if (t != JSONR_OBJECT)
		rc = unexpected(&w, t, "the backup", "a JSON object");
	while (!rc) {
		t = jsonr_next(r);
		if (t == JSONR_OBJECT_END)
			break;
		if (t != JSONR_KEY) {
			rc = unexpected(&w, t, "the backup", "a member name");
		} else if (!strcmp(r->tok.data, "metadata")) {
			rc = read_metadata(&w);
		} else if (!strcmp(r->tok.data, "data")) {
			rc = w.have_data ? bad(&w, "two data objects") : walk_data(&w);
		} else if (!strcmp(r->tok.data, "redis")) {
			rc = walk_redis(&w);
		} else if (!strcmp(r->tok.data, "schema")) {
			rc = read_schema(&w);
		} else if (jsonr_skip(r, jsonr_next(r)) < 0) {
			rc = unexpected(&w, JSONR_ERROR, "the backup", "");
		}
	}
	if (!rc && (t = jsonr_next(r)) != JSONR_END)
		rc = unexpected(&w, t, "after the backup", "nothing");
	if (!rc)
		rc = check_metadata(&w);
	if (!rc)
		rc = check_counts(&w);
	if (!rc)
		rc = check_schema(&w);
	buf_free(&w.key);
	return rc;
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
	FILE *f = fopen(sum, "r");
	if (!f)
		return errno == ENOENT ? 1 : -1;
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

static void digest_hex(EVP_MD_CTX *ctx, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(ctx, md, &n);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The checksum is checked even when the JSON is bad: a mismatch is the
 * better explanation of why. */
static int check_digest(struct jsonr *r, EVP_MD_CTX *ctx, const char *expect, int rc,
			struct verify_result *res)
{
	if (rc && rc != EX_DATAERR)
		return rc;	/* stopped by the sink: the digest does not matter */
	jsonr_drain(r);
	if (r->io_errno) {
		snprintf(res->error, sizeof res->error, "read error: %s", strerror(r->io_errno));
		return EX_IOERR;
	}
	digest_hex(ctx, res->sha256);
	if (strcmp(res->sha256, expect)) {
		char was[400];
		snprintf(was, sizeof was, "%.399s", res->error);
		snprintf(res->error, sizeof res->error,
			 "checksum mismatch: the file's SHA-256 is %.12s..., its .sha256 says %.12s...%s%.400s",
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
	int have = is_stdin ? 1 : read_expected(path, expect);
	if (have < 0) {
		snprintf(res->error, sizeof res->error, "%s.sha256 is unreadable or not sha256sum format", path);
		return EX_DATAERR;
	}
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
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

void verify_result_free(struct verify_result *res)
{
	for (int i = 0; i < res->ntables; i++)
		free(res->tables[i].key);
	free(res->tables);
	cJSON_Delete(res->meta);
	cJSON_Delete(res->schema);
	*res = (struct verify_result){ 0 };
}

long long verify_rows(const struct verify_result *res, const char *key)
{
	for (int i = 0; i < res->ntables; i++)
		if (!strcmp(res->tables[i].key, key))
			return res->tables[i].rows;
	return 0;
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
