#include <err.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>

#include "bkfile.h"
#include "verify_check.h"
#include "xalloc.h"

void keyset_clear(struct keyset *k)
{
	k->bits = 0;
	k->names.len = 0;
	k->count = 0;
	if (k->index_cap)
		memset(k->index, 0, k->index_cap * sizeof *k->index);
}

static uint64_t fnv1a(const char *name, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
	return h;
}

/* The index slot holding name, or the empty one where it would go. */
static size_t index_slot(const struct keyset *k, const char *name, uint64_t h)
{
	size_t mask = k->index_cap - 1, i = (size_t)h & mask;
	while (k->index[i] && strcmp(k->names.data + k->index[i] - 1, name))
		i = (i + 1) & mask;
	return i;
}

static void index_grow(struct keyset *k)
{
	free(k->index);
	k->index_cap = k->index_cap ? k->index_cap * 2 : 4 * KEYSET_INDEX_FROM;
	k->index = xcalloc(k->index_cap, sizeof *k->index);
	for (size_t at = 0; at < k->names.len; at += strlen(k->names.data + at) + 1) {
		const char *s = k->names.data + at;
		k->index[index_slot(k, s, fnv1a(s, strlen(s)))] = at + 1;
	}
}

bool keyset_add(struct keyset *k, const char *name, size_t n)
{
	uint64_t h = fnv1a(name, n), bit = 1ULL << (h & 63);
	size_t slot = 0;
	if (k->count >= KEYSET_INDEX_FROM) {
		if (2 * (k->count + 1) > k->index_cap)
			index_grow(k);
		slot = index_slot(k, name, h);
		if (k->index[slot])
			return false;
		k->index[slot] = k->names.len + 1;
	} else if (k->bits & bit) {
		for (size_t at = 0; at < k->names.len; at += strlen(k->names.data + at) + 1)
			if (!strcmp(k->names.data + at, name))
				return false;
	}
	k->bits |= bit;
	k->count++;
	buf_add(&k->names, name, n);
	buf_addc(&k->names, '\0');
	return true;
}

void keyset_free(struct keyset *k)
{
	buf_free(&k->names);
	free(k->index);
	k->index = NULL;
	k->index_cap = 0;
}

bool json_text_holds_nul(const char *text, size_t n)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		if (memcmp(text + i, "\\u0000", 6))
			continue;
		size_t back = 0; /* an escape only after an even run of backslashes */
		while (back < i && text[i - back - 1] == '\\')
			back++;
		if (back % 2 == 0)
			return true;
	}
	return false;
}

const char *json_duplicate_member(const cJSON *v)
{
	const cJSON *a, *b;
	cJSON_ArrayForEach(a, v)
	{
		if (cJSON_IsObject(v))
			for (b = a->next; b; b = b->next)
				if (!strcmp(a->string, b->string))
					return a->string;
		const char *d = json_duplicate_member(a);
		if (d)
			return d;
	}
	return NULL;
}

static void add_column(struct vtable *t, const char *name, const cJSON *col)
{
	const cJSON *type = cJSON_IsString(col) ? col : cJSON_GetObjectItemCaseSensitive(col, "type");
	if (!name || !cJSON_IsString(type))
		return;
	const cJSON *nullable = cJSON_GetObjectItemCaseSensitive(col, "nullable");
	const cJSON *not_null = cJSON_GetObjectItemCaseSensitive(col, "notNull");
	t->names = realloc(t->names, (size_t)(t->ncols + 1) * sizeof *t->names);
	t->cols = realloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
	t->not_null = realloc(t->not_null, (size_t)(t->ncols + 1) * sizeof *t->not_null);
	if (!t->names || !t->cols || !t->not_null)
		err(EX_SOFTWARE, "out of memory");
	t->names[t->ncols] = strdup(name);
	t->cols[t->ncols] = value_col_of_type(type->valuestring);
	t->not_null[t->ncols] = cJSON_IsFalse(nullable) || cJSON_IsTrue(not_null);
	t->ncols++;
}

/* The key a table's rows have in data: metadata.tables says, else the naming rule of bk-backup(5). */
static char *key_of(const char *name, const cJSON *meta)
{
	const cJSON *k, *tables = cJSON_GetObjectItemCaseSensitive(meta, "tables");
	cJSON_ArrayForEach(k, tables) if (cJSON_IsString(k) &&
					  !strcmp(k->valuestring, name)) return strdup(k->string);
	return bkfile_table_key(name);
}

static void add_table(struct vschema *s, const char *name, const cJSON *table, const cJSON *meta)
{
	if (!name)
		return;
	s->tables = realloc(s->tables, (size_t)(s->ntables + 1) * sizeof *s->tables);
	if (!s->tables)
		err(EX_SOFTWARE, "out of memory");
	struct vtable *t = &s->tables[s->ntables++];
	*t = (struct vtable){ .key = key_of(name, meta) };
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(table, "columns"), *c;
	cJSON_ArrayForEach(c, cols)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
		add_column(t,
			   cJSON_IsObject(cols) ? c->string
			   : cJSON_IsString(n)	? n->valuestring
						: NULL,
			   c);
	}
}

void vschema_load(struct vschema *s, const cJSON *schema, const cJSON *meta)
{
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(schema, "tables"), *t;
	cJSON_ArrayForEach(t, tables)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
		add_table(s,
			  cJSON_IsObject(tables) ? t->string
			  : cJSON_IsString(n)	 ? n->valuestring
						 : NULL,
			  t, meta);
	}
}

void vschema_free(struct vschema *s)
{
	for (int i = 0; i < s->ntables; i++) {
		struct vtable *t = &s->tables[i];
		for (int j = 0; j < t->ncols; j++)
			free(t->names[j]);
		free(t->names);
		free(t->cols);
		free(t->not_null);
		free(t->key);
	}
	free(s->tables);
	*s = (struct vschema){ 0 };
}

const struct vtable *vschema_table(const struct vschema *s, const char *key)
{
	for (int i = 0; i < s->ntables; i++)
		if (!strcmp(s->tables[i].key, key))
			return &s->tables[i];
	return NULL;
}

int column_index(char *const *names, int n, const char *name, int *guess)
{
	int g = *guess;
	if (g < n && !strcmp(names[g], name))
		return *guess = g + 1, g;
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return *guess = i + 1, i;
	return -1;
}

int vtable_column(const struct vtable *t, const char *name, int *guess)
{
	return column_index(t->names, t->ncols, name, guess);
}
