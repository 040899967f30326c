/*
 * CSV files from the walk of a backup (lib/bkfile.h's sink). One file per
 * table, keyed like data: a table's handle holds its open temporary file,
 * its columns and the one row being read; nothing else grows with the rows.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "bkfile.h"
#include "fsafe.h"
#include "verify.h"
#include "verify_check.h"
#include "xalloc.h"

#include "export.h"

#define VALUE_MAX ((size_t)1 << 30) /* an array or object value, as JSON text */
#define KEEP_BYTES (64 << 10)	    /* what a value's buffer keeps after a big one */
#define LEFT_OUT_SHOWN 20	    /* members named on stderr per table */

/* One CSV file being written. */
struct xfile {
	char *key, *name, *tmp, *final;
	FILE *f;
	int fd;
	int rc;		  /* the error its callbacks return (an existing file) */
	bool header_done; /* the header line is written: the columns are fixed */
	long long rows;
	int ncols, cap, guess;
	char **cols;
	struct buf *vals; /* the current row's fields, already CSV-encoded */
	bool *present;
	bool *json;	 /* a json or jsonb column (the backup's schema says) */
	cJSON *left_out; /* names of members that are not columns of the header */
};

struct xctx {
	const char *dir;
	bool force;
	struct verify_result *res;
	struct vschema vs;
	bool vs_loaded;
	struct xfile **files;
	int nfiles;
	struct xfile *redis;
	struct buf line, scratch;
	bool said; /* a callback has said what is wrong */
};

/* s as one CSV field: quoted (quotes doubled) when always, or when it must be. */
static void csv_field(struct buf *b, const char *s, size_t n, bool always)
{
	bool quote = always || n == 0 || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[n - 1] == ' ';
	if (!quote) {
		buf_add(b, s, n);
		return;
	}
	buf_addc(b, '"');
	for (const char *p = s, *end = s + n; p < end;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		size_t run = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
		buf_add(b, p, run);
		if (q)
			buf_addc(b, '"');
		p += run;
	}
	buf_addc(b, '"');
}

/* A key as a file name: bytes other than letters, digits, _ and - as %XX. */
static char *file_name(const char *key)
{
	struct buf b = { 0 };
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '-') {
			buf_addc(&b, (char)*p);
		} else {
			char hex[4];
			snprintf(hex, sizeof hex, "%%%02X", *p);
			buf_adds(&b, hex);
		}
	}
	buf_add(&b, ".csv", 5);
	return b.data;
}

static void add_column(struct xfile *x, const char *name)
{
	if (x->ncols == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 16;
		x->cols = xrealloc(x->cols, (size_t)x->cap * sizeof *x->cols);
		x->vals = xrealloc(x->vals, (size_t)x->cap * sizeof *x->vals);
		x->present = xrealloc(x->present, (size_t)x->cap * sizeof *x->present);
		x->json = xrealloc(x->json, (size_t)x->cap * sizeof *x->json);
	}
	x->json[x->ncols] = false;
	x->cols[x->ncols] = xstrdup(name);
	x->vals[x->ncols] = (struct buf){ 0 };
	x->present[x->ncols++] = false;
}

static int column_of(struct xfile *x, const char *key)
{
	return column_index(x->cols, x->ncols, key, &x->guess);
}

/* Writes buf b to x's file (and empties it); EX_IOERR after saying so. */
static int put(struct xctx *c, struct xfile *x, struct buf *b)
{
	size_t n = b->len;
	b->len = 0;
	if (fwrite(b->data, 1, n, x->f) == n)
		return 0;
	warn("%s", ESC(x->tmp));
	c->said = true;
	return EX_IOERR;
}

static int write_header(struct xctx *c, struct xfile *x)
{
	for (int i = 0; i < x->ncols; i++) {
		if (i)
			buf_addc(&c->line, ',');
		csv_field(&c->line, x->cols[i], strlen(x->cols[i]), false);
	}
	buf_add(&c->line, "\r\n", 2);
	x->header_done = true;
	return put(c, x, &c->line);
}

/* The backup's own columns of key's table (format 1.1), or NULL. */
static const struct vtable *schema_table(struct xctx *c, const char *key, bool nested)
{
	if (!c->res->schema)
		return NULL;
	if (!c->vs_loaded)
		vschema_load(&c->vs, c->res->schema, c->res->meta);
	c->vs_loaded = true;
	if (!nested && bkfile_single_table(key)) /* data.raffle, data.analytics */
		key = !strcmp(key, "raffle") ? "raffles" : "raffleAnalytics";
	return vschema_table(&c->vs, key);
}

static struct xfile *file_new(struct xctx *c, const char *key)
{
	struct xfile *x = xcalloc(1, sizeof *x);
	x->key = xstrdup(key);
	x->name = file_name(key);
	x->fd = -1;
	if (asprintf(&x->final, "%s/%s", c->dir, x->name) < 0 ||
	    asprintf(&x->tmp, "%s/.%s.tmp-XXXXXX", c->dir, x->name) < 0)
		err(70, "out of memory");
	c->files = xrealloc(c->files, (size_t)(c->nfiles + 1) * sizeof *c->files);
	c->files[c->nfiles++] = x;
	return x;
}

/* Opens x's temporary file, unless its final name is taken (without --force). */
static int file_open(struct xctx *c, struct xfile *x)
{
	struct stat st;
	for (int i = 0; i < c->nfiles - 1; i++)
		if (!strcmp(c->files[i]->name, x->name)) {
			warnx("data.%s: a second table written to %s", ESC(x->key), ESC(x->name));
			return EX_DATAERR;
		}
	if (!c->force && lstat(x->final, &st) == 0) {
		warnx("%s exists: remove it, choose another directory, or use --force", ESC(x->final));
		return EX_CANTCREAT;
	}
	x->fd = mkostemp(x->tmp, O_CLOEXEC); /* 0600 */
	if (x->fd < 0) {
		warn("cannot create a file in %s", ESC(c->dir));
		return EX_CANTCREAT;
	}
	fsafe_tmp_track(x->tmp);
	x->f = fdopen(x->fd, "w");
	if (!x->f)
		err(70, "out of memory");
	return 0;
}

static void *table_begin(void *ud, const char *key, bool nested)
{
	struct xctx *c = ud;
	struct xfile *x = file_new(c, key);
	x->rc = file_open(c, x);
	c->said |= x->rc != 0;
	const struct vtable *vt = x->rc ? NULL : schema_table(c, key, nested);
	for (int i = 0; vt && i < vt->ncols; i++) {
		add_column(x, vt->names[i]);
		x->json[i] = vt->cols[i].kind == COL_JSON;
	}
	if (vt)
		x->rc = write_header(c, x);
	return x;
}

static bool is_column(void *ud, void *h, const char *key)
{
	(void)ud;
	return column_of(h, key) >= 0;
}

static int row_begin(void *ud, void *h)
{
	(void)ud;
	struct xfile *x = h;
	if (x->ncols) /* none yet before the first row: present is NULL */
		memset(x->present, 0, (size_t)x->ncols * sizeof *x->present);
	x->guess = 0;
	return x->rc;
}

/* A member the header has no column for: named once, left out. */
static void leave_out(struct xfile *x, const char *key)
{
	if (!x->left_out)
		x->left_out = cJSON_CreateArray();
	const cJSON *n;
	cJSON_ArrayForEach(n, x->left_out) if (!strcmp(n->valuestring, key)) return;
	if (cJSON_GetArraySize(x->left_out) < LEFT_OUT_SHOWN)
		warnx("%s, row %lld: the member \"%s\" is not a column of the header: left out", ESC(x->name),
		      x->rows + 1, ESC(key));
	cJSON_AddItemToArray(x->left_out, cJSON_CreateString(key));
}

/*
 * One value as a CSV field: null empty, a string always quoted, numbers as
 * written; arrays, objects and any value of a JSON column as JSON text
 * (a JSON column's "" is the JSON string "", not an empty text).
 */
static int encode(struct xctx *c, struct xfile *x, struct buf *v, struct jsonr *r, int first, bool json)
{
	switch (json && first != JSONR_NULL ? JSONR_OBJECT : first) {
	case JSONR_NULL: return 0;
	case JSONR_NUMBER: buf_add(v, r->tok.data, r->tok.len); return 0;
	case JSONR_TRUE: buf_adds(v, "true"); return 0;
	case JSONR_FALSE: buf_adds(v, "false"); return 0;
	case JSONR_STRING:
		if (memchr(r->tok.data, '\0', r->tok.len)) {
			warnx("%s, row %lld: a string holding \\u0000, which CSV cannot carry (byte %llu)",
			      ESC(x->name), x->rows + 1, (unsigned long long)r->tok_at);
			c->said = true;
			return EX_DATAERR;
		}
		csv_field(v, r->tok.data, r->tok.len, true);
		return 0;
	default: /* an array or object: its JSON text */
		c->scratch.len = 0;
		if (jsonr_capture(r, first, &c->scratch, VALUE_MAX) < 0)
			return EX_DATAERR;
		csv_field(v, c->scratch.data, c->scratch.len, true);
		buf_shed(&c->scratch, KEEP_BYTES);
		return 0;
	}
}

static int field(void *ud, void *h, const char *key, struct jsonr *r, int first)
{
	struct xctx *c = ud;
	struct xfile *x = h;
	int i = column_of(x, key);
	if (i < 0 && !x->header_done) { /* the first row names the columns */
		add_column(x, key);
		i = x->ncols - 1;
	}
	if (i < 0) {
		leave_out(x, key);
		return jsonr_skip(r, first) < 0 ? EX_DATAERR : 0;
	}
	x->vals[i].len = 0;
	x->present[i] = true;
	return encode(c, x, &x->vals[i], r, first, x->json[i]);
}

static int row_end(void *ud, void *h)
{
	struct xctx *c = ud;
	struct xfile *x = h;
	int rc = x->header_done ? 0 : write_header(c, x);
	for (int i = 0; !rc && i < x->ncols; i++) {
		if (i)
			buf_addc(&c->line, ',');
		if (x->present[i]) /* absent: empty, as null */
			buf_add(&c->line, x->vals[i].data, x->vals[i].len);
		buf_shed(&x->vals[i], KEEP_BYTES);
	}
	buf_add(&c->line, "\r\n", 2);
	x->rows++;
	return rc ? rc : put(c, x, &c->line);
}

/* Flushes, fsyncs and closes x's temporary file. */
static int file_close(struct xctx *c, struct xfile *x)
{
	if (!x->f)
		return 0;
	int rc = fflush(x->f) || ferror(x->f) || fsync(x->fd) < 0;
	rc |= fclose(x->f) != 0;
	x->f = NULL;
	if (rc) {
		warn("%s", ESC(x->tmp));
		c->said = true;
		return EX_IOERR;
	}
	return 0;
}

static int table_end(void *ud, void *h)
{
	struct xfile *x = h;
	return x->rc ? x->rc : file_close(ud, x);
}

/* redis.csv, with its header: key, value. */
static int redis_open(struct xctx *c)
{
	c->redis = table_begin(c, "redis", false);
	if (c->redis->rc)
		return c->redis->rc;
	add_column(c->redis, "key");
	add_column(c->redis, "value");
	return write_header(c, c->redis);
}

/* redis.conversations: key, value rows in redis.csv (TTLs are not exported). */
static int redis_row(void *ud, const char *key, size_t klen, const char *value, size_t vlen, const char *ttl)
{
	struct xctx *c = ud;
	int rc = ttl || c->redis ? 0 : redis_open(c);
	if (ttl || rc)
		return rc;
	if (memchr(value, '\0', vlen) || memchr(key, '\0', klen)) {
		warnx("redis.conversations: a string holding \\u0000, which CSV cannot carry");
		c->said = true;
		return EX_DATAERR;
	}
	csv_field(&c->line, key, klen, true);
	buf_addc(&c->line, ',');
	csv_field(&c->line, value, vlen, true);
	buf_add(&c->line, "\r\n", 2);
	c->redis->rows++;
	return put(c, c->redis, &c->line);
}

static const struct verify_sink sink = {
	.table_begin = table_begin,
	.is_column = is_column,
	.row_begin = row_begin,
	.field = field,
	.row_end = row_end,
	.table_end = table_end,
	.redis = redis_row,
};

/* Every temporary file removed: nothing of a failed export is left. */
static void discard(struct xctx *c)
{
	for (int i = 0; i < c->nfiles; i++) {
		struct xfile *x = c->files[i];
		if (x->f)
			fclose(x->f);
		x->f = NULL;
		if (x->fd >= 0) {
			unlink(x->tmp);
			fsafe_tmp_untrack(x->tmp);
		}
	}
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) < 0;
	if (fd >= 0)
		close(fd);
	if (rc)
		warn("%s", ESC(dir));
	return rc ? EX_IOERR : 0;
}

/* The files renamed into place, then the directory synced. */
static int commit(struct xctx *c)
{
	int rc = 0;
	for (int i = 0; !rc && i < c->nfiles; i++) {
		struct xfile *x = c->files[i];
		int r = c->force ? rename(x->tmp, x->final)
				 : renameat2(AT_FDCWD, x->tmp, AT_FDCWD, x->final, RENAME_NOREPLACE);
		if (r < 0 && !c->force && errno == EINVAL) /* a file system without it */
			r = rename(x->tmp, x->final);
		if (r < 0) {
			warn("%s", ESC(x->final));
			rc = errno == EEXIST ? EX_CANTCREAT : EX_IOERR;
			break;
		}
		fsafe_tmp_untrack(x->tmp);
		x->fd = -1;
	}
	if (rc)
		discard(c);
	return rc ? rc : sync_dir(c->dir);
}

static cJSON *summary_of(const struct xctx *c)
{
	cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "id", c->res->id);
	cJSON_AddStringToObject(o, "type", c->res->type);
	cJSON_AddStringToObject(o, "dir", c->dir);
	for (int i = 0; i < c->nfiles; i++) {
		struct xfile *x = c->files[i];
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "file", x->name);
		cJSON_AddStringToObject(f, x == c->redis ? "redis" : "table", x->key);
		cJSON_AddNumberToObject(f, "rows", (double)x->rows);
		cJSON_AddNumberToObject(f, "columns", x->ncols);
		if (x->left_out)
			cJSON_AddItemToObject(f, "leftOut", cJSON_Duplicate(x->left_out, true));
		cJSON_AddItemToArray(files, f);
	}
	cJSON_AddItemToObject(o, "files", files);
	return o;
}

static void ctx_free(struct xctx *c)
{
	for (int i = 0; i < c->nfiles; i++) {
		struct xfile *x = c->files[i];
		for (int j = 0; j < x->ncols; j++) {
			free(x->cols[j]);
			buf_free(&x->vals[j]);
		}
		free(x->cols);
		free(x->vals);
		free(x->present);
		free(x->json);
		cJSON_Delete(x->left_out);
		free(x->key);
		free(x->name);
		free(x->tmp);
		free(x->final);
		free(x);
	}
	free(c->files);
	vschema_free(&c->vs);
	buf_free(&c->line);
	buf_free(&c->scratch);
}

/* DIR as given, made 0700 when it does not exist. */
static int make_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		warn("cannot create the directory %s", ESC(dir));
		return EX_CANTCREAT;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		warnx("%s is not a directory", ESC(dir));
		return EX_CANTCREAT;
	}
	return 0;
}

/* A full backup without conversations still gets redis.csv (its header). */
static int redis_file(struct xctx *c)
{
	return c->redis || strcmp(c->res->type, "full") ? 0 : redis_open(c);
}

int export_csv(const char *path, const char *dir, bool force, cJSON **summary)
{
	struct verify_result res = { 0 };
	struct xctx c = { .dir = dir, .force = force, .res = &res };
	int rc = make_dir(dir);
	if (!rc) {
		struct verify_sink s = sink;
		s.ud = &c;
		rc = verify_backup(path, &s, &res);
		if (rc && !c.said)
			warnx("%s: %s", ESC(path), res.error[0] ? ESC(res.error) : "cannot be read");
	}
	if (!rc)
		rc = redis_file(&c);
	for (int i = 0; !rc && i < c.nfiles; i++)
		rc = file_close(&c, c.files[i]);
	if (!rc)
		rc = commit(&c);
	else
		discard(&c);
	if (!rc)
		*summary = summary_of(&c);
	ctx_free(&c);
	verify_result_free(&res);
	return rc;
}
