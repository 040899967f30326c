#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "bkfile.h"
#include "jsonw.h"
#include "xalloc.h"
#include "timefmt.h"

#define META_MAX (1 << 20)	/* metadata is small; a huge one is damage */

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
	res->tables = xrealloc(res->tables, (size_t)(res->ntables + 1) * sizeof *res->tables);
	res->tables[res->ntables] = (struct verify_table){ .key = xstrdup(key), .nested = nested };
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
		char *key = xstrdup(w->r->tok.data);
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
	w->res->meta = xnonnull(cJSON_ParseWithLength(text.data, text.len));
	buf_free(&text);
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
		} else if (!strcmp(r->tok.data, "metadata")) {
			rc = read_metadata(&w);
		} else if (!strcmp(r->tok.data, "data")) {
			rc = w.have_data ? bad(&w, "two data objects") : walk_data(&w);
		} else if (!strcmp(r->tok.data, "redis")) {
			rc = walk_redis(&w);
		} else if (jsonr_skip(r, jsonr_next(r)) < 0) {
			rc = unexpected(&w, JSONR_ERROR, "the backup", "");
		}
	}
	if (!rc && (t = jsonr_next(r)) != JSONR_END)
		rc = unexpected(&w, t, "after the backup", "nothing");
	if (!rc)
		rc = check_metadata(&w);
	buf_free(&w.key);
	return rc;
}

void verify_result_free(struct verify_result *res)
{
	for (int i = 0; i < res->ntables; i++)
		free(res->tables[i].key);
	free(res->tables);
	cJSON_Delete(res->meta);
	*res = (struct verify_result){ 0 };
}

long long verify_rows(const struct verify_result *res, const char *key)
{
	for (int i = 0; i < res->ntables; i++)
		if (!strcmp(res->tables[i].key, key))
			return res->tables[i].rows;
	return 0;
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
	}
	if (!rc)
		*meta = xnonnull(cJSON_ParseWithLength(text.data, text.len));
	buf_free(&text);
	jsonr_free(&r);
	return rc;
}

/* Keys and tables. */

static const char *const fixed_keys[][2] = {
	{ "Raffle", "raffles" }, { "Ticket", "tickets" }, { "BuyEvent", "buyEvents" },
	{ "WalletUser", "walletUsers" }, { "Admin", "admins" }, { "Winner", "winners" },
	{ "NotificationPreference", "notificationPreferences" },
	{ "ScheduledNotification", "scheduledNotifications" },
	{ "DailyAnalytics", "dailyAnalytics" }, { "DexDailyStats", "dexDailyStats" },
	{ "RaffleAnalytics", "raffleAnalytics" }, { "UserActivity", "userActivities" },
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

void bkfile_write_head(struct out *out, const cJSON *meta)
{
	char *head = xnonnull(cJSON_PrintUnformatted(meta));
	put(out, "{\"metadata\":");
	put(out, head);
	put(out, ",\n\"data\":{");
	free(head);
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
	out_write(out, raffle->data, raffle->len - 1);	/* open: without its '}' */
	return raffle->len == 2;	/* "{}": a raffle with no columns */
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
