#include <ctype.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "remote.h"
#include "store.h"

struct collect {
	struct remote_backup *list;
	size_t n, cap;
	/* checksum objects, matched with their backups afterwards */
	char (*sums)[ID_MAX + 32];
	size_t nsums, capsums;
};

/* full_<ms>, raffle_<raffleId>_<ms>: what the id says of the backup. */
static void from_id(struct remote_backup *b, int64_t mtime)
{
	const char *us = strrchr(b->id, '_'), *p;
	b->type = !strncmp(b->id, "full_", 5) ? "full" : !strncmp(b->id, "raffle_", 7) ? "raffle" : "manual";
	b->ts_ms = mtime;
	for (p = us + 1; *p && isdigit((unsigned char)*p); p++)
		;
	if (!*p && p - us > 1 && p - us < 18)
		b->ts_ms = strtoll(us + 1, NULL, 10);
	if (!strcmp(b->type, "raffle") && us > b->id + 7)
		snprintf(b->raffle_id, sizeof b->raffle_id, "%.*s", (int)(us - b->id - 7), b->id + 7);
}

/* The id and stored suffix of "<id><suffix>[.gpg]"; false for any other name. */
static bool backup_name(const char *name, char *id, const char **stored, bool *gpg)
{
	char base[ID_MAX + 32];
	size_t n = strlen(name);
	if (n >= sizeof base)
		return false;
	memcpy(base, name, n + 1);
	*gpg = n > 4 && !strcmp(base + n - 4, ".gpg");
	if (*gpg)
		base[n - 4] = '\0';
	for (int i = 0; store_suffixes[i]; i++)
		if (id_of_file_name(base, store_suffixes[i], id)) {
			*stored = store_suffixes[i];
			return true;
		}
	return false;
}

static int collect_fn(void *ud, const struct s3_object *o)
{
	struct collect *c = ud;
	char id[ID_MAX];
	const char *stored;
	bool gpg;
	size_t n = strlen(o->name);
	if (backup_name(o->name, id, &stored, &gpg)) {
		if (c->n == c->cap &&
		    !(c->list = realloc(c->list, (c->cap = c->cap * 2 + 16) * sizeof *c->list)))
			err(EX_SOFTWARE, "out of memory");
		struct remote_backup *b = &c->list[c->n++];
		*b = (struct remote_backup){ .size = o->size, .encrypted = gpg, .stored = stored };
		snprintf(b->id, sizeof b->id, "%s", id);
		from_id(b, o->mtime_ms);
	} else if (n > 7 && n < sizeof *c->sums && !strcmp(o->name + n - 7, ".sha256")) {
		if (c->nsums == c->capsums &&
		    !(c->sums = realloc(c->sums, (c->capsums = c->capsums * 2 + 16) * sizeof *c->sums)))
			err(EX_SOFTWARE, "out of memory");
		snprintf(c->sums[c->nsums++], sizeof *c->sums, "%s", o->name);
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool has_sum(const struct collect *c, const struct remote_backup *b, const char *suffix)
{
	char name[ID_MAX + 32];
	snprintf(name, sizeof name, "%s%s%s", b->id, b->stored, suffix);
	return c->nsums && bsearch(name, c->sums, c->nsums, sizeof *c->sums, by_name) != NULL;
}

static int newest_first(const void *a, const void *b)
{
	const struct remote_backup *x = a, *y = b;
	if (x->ts_ms != y->ts_ms)
		return x->ts_ms < y->ts_ms ? 1 : -1;
	return strcmp(y->id, x->id);
}

int remote_list(struct s3 *s, const char *type, struct remote_backup **list, size_t *n)
{
	struct collect c = { 0 };
	int rc = s3_list(s, collect_fn, &c);
	if (c.nsums) /* qsort of NULL, even of nothing, is undefined */
		qsort(c.sums, c.nsums, sizeof *c.sums, by_name);
	size_t kept = 0;
	for (size_t i = 0; !rc && i < c.n; i++) {
		struct remote_backup *b = &c.list[i];
		b->plain_sum = has_sum(&c, b, ".sha256");
		b->whole = b->encrypted ? has_sum(&c, b, ".gpg.sha256") && b->plain_sum : b->plain_sum;
		if (!type || !strcmp(type, b->type))
			c.list[kept++] = *b;
	}
	free(c.sums);
	if (rc) {
		free(c.list);
		return rc;
	}
	if (kept)
		qsort(c.list, kept, sizeof *c.list, newest_first);
	*list = c.list;
	*n = kept;
	return 0;
}

void remote_stored_name(const struct remote_backup *b, char *name, size_t len)
{
	snprintf(name, len, "%s%s", b->id, b->stored);
}

void remote_object(const struct remote_backup *b, char *name, size_t len)
{
	snprintf(name, len, "%s%s%s", b->id, b->stored, b->encrypted ? ".gpg" : "");
}

const char *remote_compression(const struct remote_backup *b)
{
	return !strcmp(b->stored, ".json.zst") ? "zstd" : !strcmp(b->stored, ".json.gz") ? "gzip" : "none";
}

int remote_resolve(struct s3 *s, const char *arg, struct remote_backup *b)
{
	bool alias = id_is_alias(arg);
	if (!alias && !id_valid(arg)) {
		warnx("%s: not a backup id (expected full_..., raffle_... or manual_..., "
		      "letters, digits, _ and - only) or alias",
		      arg);
		return EX_USAGE;
	}
	char raffle[ID_MAX] = "";
	const char *type = !alias ? NULL : strncmp(arg, "raffle_", 7) ? "full" : "raffle";
	if (alias && strcmp(arg, "raffle_latest") && !strcmp(type, "raffle"))
		snprintf(raffle, sizeof raffle, "%.*s", (int)(strlen(arg) - 14), arg + 7);
	struct remote_backup *list;
	size_t n;
	int rc = remote_list(s, type, &list, &n);
	if (rc)
		return rc;
	bool found = false;
	for (size_t i = 0; i < n && !(found && b->whole); i++) {
		/* an id under two names (pushed plain, then compressed): a whole one */
		if (alias ? list[i].whole && (!*raffle || !strcmp(list[i].raffle_id, raffle))
			  : !strcmp(list[i].id, arg) && (!found || list[i].whole))
			found = true, *b = list[i];
	}
	free(list);
	if (!found) {
		warnx("%s: no such backup in %s (see bk-list --remote)", arg, s3_where(s, NULL));
		return EX_NOINPUT;
	}
	return 0;
}

int sha256_line(const char *line, char *hex)
{
	for (int i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)line[i]))
			return -1;
		hex[i] = (char)tolower((unsigned char)line[i]);
	}
	hex[64] = '\0';
	return line[64] == ' ' || line[64] == '\t' || line[64] == '\n' || line[64] == '\0' ? 0 : -1;
}
