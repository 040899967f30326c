/* bk-list: the backups in the backup directory, newest first. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "store.h"
#include "tgfmt.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-list [--json | --table] [--type full|raffle] [--limit N]\n"
		   "       bk-list -h | --help | --version\n"
		   "\n"
		   "Lists the backups in $BACKUP_DIR, newest first by metadata timestamp:\n"
		   "a JSON array when stdout is not a terminal, a table when it is.\n"
		   "\n"
		   "  -j, --json            JSON array, even on a terminal\n"
		   "  -t, --table           aligned table, even off a terminal\n"
		   "  -T, --type TYPE       only full or only raffle backups\n"
		   "  -n, --limit N         at most N backups\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

static cJSON *entry_json(const struct backup_info *b)
{
	cJSON *e = cJSON_CreateObject();
	/* The id is the file's name: what the other tools are given. */
	char id[4096];
	const char *base = strrchr(b->path, '/') ? strrchr(b->path, '/') + 1 : b->path;
	snprintf(id, sizeof id, "%.*s", (int)strlen(base) - 5, base);
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddItemToObject(e, "type", b->type ? cJSON_CreateString(b->type) : cJSON_CreateNull());
	cJSON_AddItemToObject(e, "timestamp",
			      b->timestamp ? cJSON_CreateString(b->timestamp) : cJSON_CreateNull());
	cJSON_AddNumberToObject(e, "size", (double)b->size);
	cJSON_AddItemToObject(e, "raffleId",
			      b->raffle_id ? cJSON_CreateString(b->raffle_id) : cJSON_CreateNull());
	cJSON_AddBoolToObject(e, "checksum", b->checksum);
	cJSON_AddStringToObject(e, "path", b->path);
	cJSON_AddStringToObject(e, "status", b->error ? "corrupt" : "ok");
	if (b->error)
		cJSON_AddStringToObject(e, "error", b->error);
	return e;
}

static void print_json(const struct backup_info *list, size_t n)
{
	cJSON *all = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(all, entry_json(&list[i]));
	char *text = cJSON_Print(all);
	puts(text);
	free(text);
	cJSON_Delete(all);
}

static void print_table(const struct backup_info *list, size_t n)
{
	int w = 2;
	for (size_t i = 0; i < n; i++) {
		int len = (int)strlen(strrchr(list[i].path, '/') + 1) - 5;
		w = len > w ? len : w;
	}
	printf("%-*s  %-6s  %-24s  %10s  %-3s  %s\n", w, "ID", "TYPE", "TIMESTAMP", "SIZE", "SUM",
	       "STATUS");
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *b = &list[i];
		const char *base = strrchr(b->path, '/') + 1;
		char size[32];
		tgfmt_size(size, sizeof size, (double)b->size);	/* as the relay shows sizes */
		printf("%-*.*s  %-6s  %-24s  %10s  %-3s  %s\n", w, (int)strlen(base) - 5, base,
		       b->type ? b->type : "?", b->timestamp ? b->timestamp : "?", size,
		       b->checksum ? "yes" : "no", b->error ? b->error : "ok");
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "table", no_argument, NULL, 't' },
		{ "type", required_argument, NULL, 'T' },
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int as_table = isatty(STDOUT_FILENO), c;
	const char *type = NULL;
	long limit = -1;
	while ((c = getopt_long(argc, argv, "jtT:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': as_table = 0; break;
		case 't': as_table = 1; break;
		case 'T':
			if (strcmp(optarg, "full") && strcmp(optarg, "raffle"))
				errx(EX_USAGE, "--type: expected full or raffle, not '%s'", optarg);
			type = optarg;
			break;
		case 'n':
			if (parse_long(optarg, 0, 1000000000, &limit) < 0)
				errx(EX_USAGE, "--limit: expected a number, not '%s'", optarg);
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-list " BK_VERSION); return 0;
		default: return usage_error("bk-list");
		}
	}
	if (optind != argc)
		return usage_error("bk-list");

	const char *dir;
	struct backup_info *list = NULL;
	size_t n = 0;
	int rc = config_load();
	if (!rc)
		rc = store_dir(&dir);
	if (!rc)
		rc = store_list(dir, type, &list, &n);
	if (rc)
		return rc;
	size_t shown = limit >= 0 && (size_t)limit < n ? (size_t)limit : n;
	if (as_table)
		print_table(list, shown);
	else
		print_json(list, shown);
	store_list_free(list, n);
	return 0;
}
