#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fnmatch.h>
#include <string.h>
#include <sysexits.h>

#include "bkfile.h"
#include "config.h"
#include "jsonw.h"
#include "progress.h"
#include "timefmt.h"
#include "verify_check.h"
#include "xalloc.h"
#include "zsrc.h"

#define META_MAX (1 << 20)	   /* metadata is small; a huge one is damage */
#define SCHEMA_MAX (64 << 20)	   /* per table, not per row: DDL up to 16 MB and the catalog */
#define TTL_MAX 9007199254740991LL /* 2^53 - 1 ms: anything Redis's PX takes */

/* The state of one walk. */
struct walk {
	struct jsonr *r;
	const struct verify_sink *sink;
	struct verify_result *res;
	struct buf key; /* the member name being handled */
	bool have_data, have_meta, have_redis;
	struct keyset members[2];	     /* of the row being read; [1]: rows nested in the raffle */
	struct keyset data_keys, redis_keys; /* members of data, of redis */
	struct buf table_rows;		     /* the first member of data that holds rows of a table */
	struct vschema schema;		     /* the backup's own column types, when it carries them */
	const struct vtable *vt[2];	     /* the table of the rows being read, per level */
	int guess[2];
};

static const char *tok_name(int t)
{
	static const char *const names[] = {
		"the end of the input",
		"an object",
		"'}'",
		"an array",
		"']'",
		"a member name",
		"a string",
		"a number",
		"true",
		"false",
		"null",
	};
	return t >= 0 && t <= JSONR_NULL ? names[t] : "invalid JSON";
}

__attribute__((format(printf, 2, 3))) static int bad(struct walk *w, const char *fmt, ...)
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

/*
 * The slot of key in res->index (open addressing, FNV-1a): it holds the
 * table's position + 1, or 0 where key would go. A backup may hold any
 * number of keys; a list scan per key would be quadratic.
 */
static size_t table_slot(const struct verify_result *res, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	size_t mask = res->index_cap - 1, i = (size_t)h & mask;
	while (res->index[i] && strcmp(res->tables[res->index[i] - 1].key, key))
		i = (i + 1) & mask;
	return i;
}

static void index_grow(struct verify_result *res)
{
	size_t cap = res->index_cap ? res->index_cap * 2 : 64;
	free(res->index);
	res->index = xcalloc(cap, sizeof *res->index);
	res->index_cap = cap;
	for (int i = 0; i < res->ntables; i++)
		res->index[table_slot(res, res->tables[i].key)] = i + 1;
}

/* A member name just read: NUL inside would cut it short everywhere after. */
static int name_ok(struct walk *w, const char *where)
{
	if (memchr(w->r->tok.data, '\0', w->r->tok.len))
		return bad(w, "%s: a member name holding \\u0000 (byte %llu)", where,
			   (unsigned long long)w->r->tok_at);
	return 0;
}

/* The value just started, against its column in the backup's own schema. */
static int check_value(struct walk *w, bool nested, const char *table, const char *key, int t)
{
	const struct vtable *vt = w->vt[nested];
	int col = vt ? vtable_column(vt, key, &w->guess[nested]) : -1;
	char why[200];
	if (col < 0)
		return 0;
	if (t == JSONR_NULL && vt->not_null[col])
		snprintf(why, sizeof why, "null in a NOT NULL column");
	else if (value_fits(vt->cols[col], t, w->r->tok.data, w->r->tok.len, why, sizeof why) == 0)
		return 0;
	return bad(w, "data.%s%s.%s: %s (byte %llu)", nested ? "raffle." : "", table, key, why,
		   (unsigned long long)w->r->tok_at);
}

static struct verify_table *count_table(struct walk *w, const char *key, bool nested)
{
	struct verify_result *res = w->res;
	if (2 * ((size_t)res->ntables + 1) > res->index_cap)
		index_grow(res);
	size_t slot = table_slot(res, key);
	if (res->index[slot])
		return &res->tables[res->index[slot] - 1];
	int n = res->ntables;
	if (n >= 8 && !(n & (n - 1))) /* 8, 16, 32...: doubled when full */
		res->tables = xrealloc(res->tables, 2 * (size_t)n * sizeof *res->tables);
	else if (n == 0)
		res->tables = xmalloc(8 * sizeof *res->tables);
	res->tables[n] = (struct verify_table){ .key = xstrdup(key), .nested = nested };
	res->index[slot] = n + 1;
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
static int walk_fields(struct walk *w, void *h, const char *table, bool nested, long long row, bool raffle)
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
		if (memchr(w->r->tok.data, '\0', w->r->tok.len)) /* where only on failure: rows are many */
			return name_ok(w, row_where(at, sizeof at, table, nested, row));
		if (!keyset_add(&w->members[nested], w->r->tok.data, w->r->tok.len))
			return bad(w, "%s: the member %s appears twice (byte %llu)",
				   row_where(at, sizeof at, table, nested, row), w->r->tok.data,
				   (unsigned long long)w->r->tok_at);
		w->key.len = 0;
		buf_add(&w->key, w->r->tok.data, w->r->tok.len + 1);
		const char *key = w->key.data;
		bool column = h && s->is_column && s->is_column(s->ud, h, key);
		t = jsonr_next(w->r);
		if (raffle && !column && t == JSONR_ARRAY) {
			int first = jsonr_peek(w->r);
			if (first == JSONR_OBJECT || first == JSONR_ARRAY_END) {
				char *child = xstrdup(key);
				rc = walk_rows(w, child, true);
				free(child);
				if (rc)
					return rc;
				continue;
			}
		}
		if (t == JSONR_ERROR || t == JSONR_END)
			return unexpected(w, t, row_where(at, sizeof at, table, nested, row), "a value");
		rc = check_value(w, nested, table, key, t);
		if (rc)
			return rc;
		if (h && s->field)
			rc = s->field(s->ud, h, key, w->r, t);
		else
			rc = jsonr_skip(w->r, t) < 0 ? EX_DATAERR : 0;
		if (rc) {
			if (rc == EX_DATAERR && w->r->error[0]) /* the JSON, not the sink */
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
	keyset_clear(&w->members[nested]);
	w->guess[nested] = 0;
	int rc = h && s->row_begin ? s->row_begin(s->ud, h) : 0;
	if (!rc)
		rc = walk_fields(w, h, key, nested, row, raffle);
	if (!rc && h && s->row_end)
		rc = s->row_end(s->ud, h);
	return rc;
}

/* An array of row objects (its '[' already read). */
/* The stored bytes read so far (compressed, when the input is). */
static uint64_t stored(const struct jsonr *r)
{
	return r->src ? r->src->stored : jsonr_offset(r);
}

/* Rows of a top-level table per metadata.rowCounts, for the progress line; -1 if not given. */
static long long expected_rows(const struct walk *w, const char *key, bool nested)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(w->res->meta, "rowCounts");
	const cJSON *n = nested ? NULL : cJSON_GetObjectItemCaseSensitive(c, key);
	return cJSON_IsNumber(n) ? (long long)n->valuedouble : -1;
}

static int walk_rows(struct walk *w, const char *key, bool nested)
{
	const struct verify_sink *s = w->sink;
	void *h = s && s->table_begin ? s->table_begin(s->ud, key, nested) : NULL;
	struct verify_table *vt = count_table(w, key, nested);
	w->vt[nested] = vschema_table(&w->schema, key);
	long long rows = vt->rows;
	int rc = 0;
	progress_table(key, expected_rows(w, key, nested));
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
		progress_update(rows, stored(w->r));
	}
	count_table(w, key, nested)->rows = rows; /* the array may have moved */
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
	w->vt[false] = vschema_table(&w->schema, strcmp(key, "raffle") ? "raffleAnalytics" : "raffles");
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
		int rc = name_ok(w, "data");
		if (rc)
			return rc;
		if (!keyset_add(&w->data_keys, w->r->tok.data, w->r->tok.len))
			return bad(w, "data.%s appears twice (byte %llu)", w->r->tok.data,
				   (unsigned long long)w->r->tok_at);
		char *key = xstrdup(w->r->tok.data);
		if (strcmp(key, "raffle") && strcmp(key, "analytics") && !w->table_rows.len)
			buf_add(&w->table_rows, key, strlen(key) + 1);
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

/* -2 (gone), -1 (no expiry) or a number of ms Redis's PX takes. */
static bool ttl_ok(const char *text)
{
	if (strpbrk(text, ".eE"))
		return false;
	errno = 0;
	char *end;
	long long ms = strtoll(text, &end, 10);
	return !errno && !*end && ms >= -2 && ms <= TTL_MAX;
}

/* The keys a backup may hold: those of its own pattern, else of BK_REDIS_PATTERN. */
static const char *redis_pattern(struct walk *w)
{
	const cJSON *redis = cJSON_GetObjectItemCaseSensitive(w->res->meta, "redis");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(redis, "pattern");
	return cJSON_IsString(p) ? p->valuestring : config_get("BK_REDIS_PATTERN", "conversation:*");
}

/* redis.conversations: key → string; redis.ttl: key → ms. */
static int walk_redis_map(struct walk *w, bool ttl)
{
	const char *where = ttl ? "redis.ttl" : "redis.conversations";
	const char *pattern = redis_pattern(w);
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
		int rc = name_ok(w, where);
		if (!rc && fnmatch(pattern, w->r->tok.data, 0))
			rc = bad(w,
				 "%s: the key \"%.100s\" does not match the backup's pattern \"%s\" "
				 "(byte %llu)",
				 where, w->r->tok.data, pattern, (unsigned long long)w->r->tok_at);
		if (rc)
			return rc;
		w->key.len = 0;
		buf_add(&w->key, w->r->tok.data, w->r->tok.len + 1);
		t = jsonr_next(w->r);
		if (t != (ttl ? JSONR_NUMBER : JSONR_STRING))
			return unexpected(w, t, where, ttl ? "a number (ms)" : "a string");
		if (ttl && !ttl_ok(w->r->tok.data))
			return bad(w, "%s: %.40s is not a TTL in ms (a whole number from -2 to %lld)", where,
				   w->r->tok.data, TTL_MAX);
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
		int rc = name_ok(w, "redis");
		if (!rc && !keyset_add(&w->redis_keys, w->r->tok.data, w->r->tok.len))
			rc = bad(w, "redis.%s appears twice", w->r->tok.data);
		if (rc)
			return rc;
		if (!strcmp(w->r->tok.data, "conversations"))
			rc = walk_redis_map(w, false);
		else if (!strcmp(w->r->tok.data, "ttl"))
			rc = walk_redis_map(w, true);
		else
			rc = jsonr_skip(w->r, jsonr_next(w->r)) < 0 ? unexpected(w, JSONR_ERROR, "redis", "")
								    : 0;
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
	if (json_text_holds_nul(text.data, text.len)) {
		buf_free(&text);
		return bad(w, "metadata: a string or name holding \\u0000");
	}
	w->res->meta = xnonnull(cJSON_ParseWithLength(text.data, text.len));
	buf_free(&text);
	const char *twice = json_duplicate_member(w->res->meta);
	if (twice)
		return bad(w, "metadata: the member %.100s appears twice", twice);
	return 0;
}

/*
 * The "schema" member (format 1.1): kept whole, since it is per table, not
 * per row; its column types check the rows that follow it.
 */
static int read_schema(struct walk *w)
{
	struct buf text = { 0 };
	int t = jsonr_next(w->r);
	if (t != JSONR_OBJECT)
		return unexpected(w, t, "schema", "an object");
	if (w->res->schema)
		return bad(w, "two schema objects");
	if (jsonr_capture(w->r, t, &text, SCHEMA_MAX) < 0) {
		buf_free(&text);
		return bad(w, "schema: %s", jsonr_error(w->r));
	}
	cJSON *schema = xnonnull(cJSON_ParseWithLength(text.data, text.len));
	bool nul = json_text_holds_nul(text.data, text.len);
	buf_free(&text);
	w->res->schema = schema;
	const char *twice = json_duplicate_member(schema);
	if (nul)
		return bad(w, "schema: a string or name holding \\u0000");
	if (twice)
		return bad(w, "schema: the member %.100s appears twice", twice);
	vschema_load(&w->schema, schema, w->res->meta);
	return 0;
}

/* Its shape: {"tables":{"T":{"columns":[{"name":..,"type":..},...]},...},"ddl":text|null} */
static int check_schema(struct walk *w)
{
	const cJSON *sch = w->res->schema, *tables = cJSON_GetObjectItemCaseSensitive(sch, "tables"), *t;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(w->res->meta, "version");
	if (!sch)
		return cJSON_IsString(version) && strcmp(version->valuestring, "1.0")
			       ? bad(w, "a format %.20s backup without its schema object",
				     version->valuestring)
			       : 0;
	if (!cJSON_IsObject(tables))
		return bad(w, "schema.tables is not an object");
	cJSON_ArrayForEach(t, tables)
	{
		const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t, "columns"), *c;
		if (!cJSON_IsArray(cols))
			return bad(w, "schema.tables.%s.columns is not an array", t->string);
		cJSON_ArrayForEach(c, cols) if (
			!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "name")) ||
			!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
				c, "type"))) return bad(w,
							"schema.tables.%s: a column without a name or type",
							t->string);
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
	if (!strcmp(res->type, "raffle") && w->table_rows.len)
		return bad(w,
			   "a raffle backup holding data.%s: it may hold only data.raffle and "
			   "data.analytics",
			   w->table_rows.data);
	static const char *const not_raffle[] = {
		"raffles",	  "raffle",	   "analytics",
		"walletUsers",	  "admins",	   "notificationPreferences",
		"dailyAnalytics", "dexDailyStats", "raffleAnalytics",
		"userActivities",
	};
	for (int i = 0; i < res->ntables; i++)
		for (size_t j = 0; res->tables[i].nested && j < sizeof not_raffle / sizeof *not_raffle; j++)
			if (!strcmp(res->tables[i].key, not_raffle[j]))
				return bad(w, "data.raffle.%s: a raffle backup holds only rows of its raffle",
					   res->tables[i].key);
	if (!strcmp(res->type, "full") && verify_rows(res, "raffle") + verify_rows(res, "analytics"))
		return bad(w, "a full backup holding data.raffle or data.analytics objects");
	return 0;
}

int bkfile_walk(struct jsonr *r, const struct verify_sink *sink, struct verify_result *res)
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
		} else if (name_ok(&w, "the backup")) {
			rc = EX_DATAERR;
		} else if (!strcmp(r->tok.data, "metadata")) {
			rc = w.have_meta ? bad(&w, "two metadata objects") : read_metadata(&w);
			w.have_meta = true;
		} else if (!strcmp(r->tok.data, "schema")) {
			rc = w.schema.tables ? bad(&w, "two schema objects") : read_schema(&w);
		} else if (!strcmp(r->tok.data, "data")) {
			rc = w.have_data ? bad(&w, "two data objects") : walk_data(&w);
		} else if (!strcmp(r->tok.data, "redis")) {
			rc = w.have_redis ? bad(&w, "two redis objects") : walk_redis(&w);
			w.have_redis = true;
		} else if (jsonr_skip(r, jsonr_next(r)) < 0) {
			rc = unexpected(&w, JSONR_ERROR, "the backup", "");
		}
	}
	if (!rc && (t = jsonr_next(r)) != JSONR_END)
		rc = unexpected(&w, t, "after the backup", "nothing");
	if (!rc)
		rc = check_metadata(&w);
	if (!rc)
		rc = check_schema(&w);
	buf_free(&w.key);
	for (int i = 0; i < 2; i++)
		keyset_free(&w.members[i]);
	keyset_free(&w.data_keys);
	keyset_free(&w.redis_keys);
	buf_free(&w.table_rows);
	vschema_free(&w.schema);
	return rc;
}

void verify_result_free(struct verify_result *res)
{
	for (int i = 0; i < res->ntables; i++)
		free(res->tables[i].key);
	free(res->tables);
	free(res->index);
	cJSON_Delete(res->meta);
	cJSON_Delete(res->schema);
	*res = (struct verify_result){ 0 };
}

long long verify_rows(const struct verify_result *res, const char *key)
{
	if (!res->index_cap)
		return 0;
	int at = res->index[table_slot(res, key)];
	return at ? res->tables[at - 1].rows : 0;
}

/* Reading the head: the metadata only, from the file's first bytes. */

int bkfile_read_meta(const void *head, size_t len, cJSON **meta)
{
	struct jsonr r;
	struct buf text = { 0 };
	int rc = -1, t;
	*meta = NULL;
	jsonr_init_mem(&r, head, len);
	if (jsonr_next(&r) == JSONR_OBJECT) {
		while ((t = jsonr_next(&r)) == JSONR_KEY && strcmp(r.tok.data, "metadata"))
			if (jsonr_skip(&r, jsonr_next(&r)) < 0)
				break;
		if (t == JSONR_KEY && (t = jsonr_next(&r)) == JSONR_OBJECT)
			rc = jsonr_capture(&r, t, &text, META_MAX) < 0 ? -2 : 0;
		if (!rc && json_text_holds_nul(text.data, text.len))
			rc = -2;
		/* a second metadata within the head: which one would a reader believe? */
		while (!rc && (t = jsonr_next(&r)) == JSONR_KEY) {
			if (!strcmp(r.tok.data, "metadata"))
				rc = -3;
			else if (jsonr_skip(&r, jsonr_next(&r)) < 0)
				break;
		}
	}
	if (!rc)
		*meta = xnonnull(cJSON_ParseWithLength(text.data, text.len));
	if (!rc && json_duplicate_member(*meta)) {
		cJSON_Delete(*meta);
		*meta = NULL;
		rc = -4;
	}
	buf_free(&text);
	jsonr_free(&r);
	return rc;
}

/* Keys and tables. */

static const char *const fixed_keys[][2] = {
	{ "Raffle", "raffles" },
	{ "Ticket", "tickets" },
	{ "BuyEvent", "buyEvents" },
	{ "WalletUser", "walletUsers" },
	{ "Admin", "admins" },
	{ "Winner", "winners" },
	{ "NotificationPreference", "notificationPreferences" },
	{ "ScheduledNotification", "scheduledNotifications" },
	{ "DailyAnalytics", "dailyAnalytics" },
	{ "DexDailyStats", "dexDailyStats" },
	{ "RaffleAnalytics", "raffleAnalytics" },
	{ "UserActivity", "userActivities" },
};

char *bkfile_table_key(const char *table)
{
	for (size_t i = 0; i < sizeof fixed_keys / sizeof *fixed_keys; i++)
		if (!strcmp(table, fixed_keys[i][0]))
			return xstrdup(fixed_keys[i][1]);
	size_t n = strlen(table);
	char *key = xmalloc(n + 3);
	memcpy(key, table, n + 1);
	key[0] = (char)tolower((unsigned char)key[0]);
	char last = n ? key[n - 1] : 's', before = n > 1 ? key[n - 2] : 'a';
	if (last == 'y' && !strchr("aeiou", before))
		strcpy(key + n - 1, "ies");
	else if (last == 'x' || ((last == 'h') && (before == 'c' || before == 's')))
		strcpy(key + n, "es");
	else if (last != 's')
		strcpy(key + n, "s");
	return key;
}

bool bkfile_fixed_table(const char *table)
{
	for (size_t i = 0; i < sizeof fixed_keys / sizeof *fixed_keys; i++)
		if (!strcmp(table, fixed_keys[i][0]))
			return true;
	return false;
}

bool bkfile_reserved_key(const char *key)
{
	static const char *const reserved[] = { "raffle", "analytics", "metadata", "data",
						"redis",  "schema",    NULL };
	for (const char *const *r = reserved; *r; r++)
		if (!strcmp(key, *r))
			return true;
	return false;
}

const char *bkfile_single_table(const char *key)
{
	if (!strcmp(key, "raffle"))
		return BKFILE_RAFFLE_TABLE;
	if (!strcmp(key, "analytics"))
		return BKFILE_ANALYTICS_TABLE;
	return NULL;
}

/* Writing: the frame around the rows, which dump_rows writes. */

static void put(struct out *out, const char *s)
{
	out_write(out, s, strlen(s));
}

void bkfile_write_head(struct out *out, const cJSON *meta, const cJSON *schema)
{
	char *head = xnonnull(cJSON_PrintUnformatted(meta));
	put(out, "{\"metadata\":");
	put(out, head);
	free(head);
	if (schema) {
		char *sch = xnonnull(cJSON_PrintUnformatted(schema));
		put(out, ",\n\"schema\":");
		put(out, sch);
		free(sch);
	}
	put(out, ",\n\"data\":{");
}

void bkfile_write_rows_begin(struct out *out, const char *key, const char *sep)
{
	struct buf b = { 0 };
	buf_adds(&b, sep);
	jsonw_key(&b, key);
	buf_addc(&b, '[');
	out_buf(out, &b);
	buf_free(&b);
}

void bkfile_write_rows_end(struct out *out)
{
	put(out, "\n]");
}

void bkfile_write_data_end(struct out *out)
{
	put(out, "}");
}

bool bkfile_write_raffle_begin(struct out *out, const struct buf *raffle)
{
	put(out, "\"raffle\":");
	out_write(out, raffle->data, raffle->len - 1); /* open: without its '}' */
	return raffle->len == 2;		       /* "{}": a raffle with no columns */
}

void bkfile_write_raffle_end(struct out *out, const struct buf *analytics)
{
	put(out, "},\n\"analytics\":");
	if (analytics->len)
		out_write(out, analytics->data, analytics->len);
	else
		put(out, "null");
	put(out, "}}\n");
}

static void copy_spool(FILE *from, struct out *out)
{
	char chunk[65536];
	size_t n;
	while (from && (n = fread(chunk, 1, sizeof chunk, from)) > 0)
		out_write(out, chunk, n);
}

void bkfile_write_redis(struct out *out, FILE *conversations, FILE *ttls)
{
	put(out, ",\n\"redis\":{\"conversations\":{");
	copy_spool(conversations, out);
	put(out, "},\n\"ttl\":{");
	copy_spool(ttls, out);
	put(out, "}}}\n");
}
