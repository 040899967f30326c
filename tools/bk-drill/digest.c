/*
 * The checksum of a table: every row of the backup (or of the backup read
 * back from the scratch database) as the sequence of its JSON tokens, each
 * tagged with its kind and length (strings decoded, numbers as written), so
 * that formatting does not count but every value does; SHA-256 of that per
 * row, and the rows' digests added modulo 2^256, so that the order the rows
 * come in does not count either. Streaming: one row's digest at a time.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/evp.h>

#include "drill.h"
#include "fsafe.h"
#include "xalloc.h"

const struct dtable *digest_find(const struct digest *d, const char *key)
{
	for (int i = 0; i < d->n; i++)
		if (!strcmp(d->t[i]->key, key))
			return d->t[i];
	return NULL;
}

static void *table_begin(void *ud, const char *key, bool nested)
{
	struct digest *d = ud;
	(void)nested; /* a full backup has none; raffle backups are refused */
	struct dtable *t = (struct dtable *)digest_find(d, key);
	if (t)
		return t;
	d->t = xrealloc(d->t, (size_t)(d->n + 1) * sizeof *d->t);
	t = xcalloc(1, sizeof *t);
	t->key = xstrdup(key);
	d->t[d->n++] = t;
	return t;
}

static bool is_column(void *ud, void *t, const char *key)
{
	(void)ud, (void)t, (void)key;
	return true;
}

static int row_begin(void *ud, void *t)
{
	struct digest *d = ud;
	(void)t;
	EVP_DigestInit_ex(d->row, EVP_sha256(), NULL);
	return 0;
}

/* One token: its tag, and for a name, string or number its length and bytes. */
static void feed(EVP_MD_CTX *row, int tok, const struct jsonr *r)
{
	static const char tags[] = "?{}[]ksntfz";
	char head[32];
	int n;
	if (tok == JSONR_KEY || tok == JSONR_STRING || tok == JSONR_NUMBER)
		n = snprintf(head, sizeof head, "%c%zu:", tags[tok], r->tok.len);
	else
		n = snprintf(head, sizeof head, "%c", tags[tok]);
	EVP_DigestUpdate(row, head, (size_t)n);
	if (tok == JSONR_KEY || tok == JSONR_STRING || tok == JSONR_NUMBER)
		EVP_DigestUpdate(row, r->tok.data, r->tok.len);
}

static int field(void *ud, void *t, const char *key, struct jsonr *r, int first)
{
	struct digest *d = ud;
	(void)t;
	char head[32];
	int n = snprintf(head, sizeof head, "k%zu:", strlen(key));
	EVP_DigestUpdate(d->row, head, (size_t)n);
	EVP_DigestUpdate(d->row, key, strlen(key));
	int depth = 0, tok = first;
	for (;;) {
		if (tok == JSONR_ERROR || tok == JSONR_END) {
			warnx("%s", ESC(jsonr_error(r)));
			return EX_DATAERR;
		}
		feed(d->row, tok, r);
		if (tok == JSONR_OBJECT || tok == JSONR_ARRAY)
			depth++;
		else if (tok == JSONR_OBJECT_END || tok == JSONR_ARRAY_END)
			depth--;
		if (depth == 0)
			return 0;
		tok = jsonr_next(r);
	}
}

static int row_end(void *ud, void *tp)
{
	struct digest *d = ud;
	struct dtable *t = tp;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(d->row, md, &len);
	unsigned carry = 0;
	for (int i = 31; i >= 0; i--) { /* big-endian addition */
		carry += (unsigned)t->sum[i] + md[i];
		t->sum[i] = (unsigned char)carry;
		carry >>= 8;
	}
	t->rows++;
	return 0;
}

int digest_backup(const char *path, struct digest *d, struct verify_result *res)
{
	digest_free(d);
	d->row = xnonnull(EVP_MD_CTX_new());
	struct verify_sink sink = {
		.ud = d,
		.table_begin = table_begin,
		.is_column = is_column,
		.row_begin = row_begin,
		.field = field,
		.row_end = row_end,
	};
	return verify_backup(path, &sink, res);
}

void digest_hex(const struct dtable *t, char *hex)
{
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", t->sum[i]);
	hex[64] = '\0';
}

void digest_free(struct digest *d)
{
	for (int i = 0; i < d->n; i++) {
		free(d->t[i]->key);
		free(d->t[i]);
	}
	free(d->t);
	EVP_MD_CTX_free(d->row);
	*d = (struct digest){ 0 };
}
