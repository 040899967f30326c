/* bk-drill: restores a backup into a scratch database and checks that every
 * table comes back whole. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "bk-drill/drill.h"
#include "cli.h"
#include "config.h"
#include "fsafe.h"
#include "progress.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-drill [ID|FILE]\n"
		   "       bk-drill -h | --help | --version\n"
		   "\n"
		   "Restores a full backup (default: the newest, full_latest) into a scratch\n"
		   "database it creates on the server of DATABASE_URL and drops afterwards\n"
		   "(also on failure, SIGINT or SIGTERM), or into the empty database of\n"
		   "BK_DRILL_DATABASE_URL, which it empties again. Then reads every table\n"
		   "back and compares its rows and checksum with the backup. The live\n"
		   "database and Redis are not touched. Prints a JSON summary on stdout and\n"
		   "a one-line verdict on stderr; exits 65 when a table does not come back\n"
		   "as the backup holds it.\n"
		   "\n"
		   "  ID|FILE        a backup id or alias in $BACKUP_DIR, or a path\n"
		   "  -h, --help     this help\n"
		   "      --version  the version\n");
}

enum { OPT_VERSION = 256 };

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return -1;
		case OPT_VERSION: puts("bk-drill " BK_VERSION); return -1;
		default: return usage_error("bk-drill");
		}
	}
	if (argc - optind > 1)
		return usage_error("bk-drill");
	return 0;
}

/* The one-line verdict, for the log and whoever watches. */
static void verdict(const cJSON *s, int rc)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(s, "backup");
	const cJSON *secs = cJSON_GetObjectItemCaseSensitive(s, "seconds");
	const cJSON *tables = cJSON_GetObjectItemCaseSensitive(s, "tables");
	const cJSON *diff = cJSON_GetObjectItemCaseSensitive(s, "differences");
	double rows = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, tables)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "rows");
		rows += cJSON_IsNumber(n) ? n->valuedouble : 0;
	}
	const char *name = cJSON_IsString(id) ? id->valuestring : "?";
	double took = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
	if (!rc)
		fprintf(stderr,
			"bk-drill: ok: %s restores faithfully (%d tables, %.0f rows, "
			"checksums equal) in %.1f s\n",
			name, cJSON_GetArraySize(tables), rows, took);
	else if (cJSON_IsNumber(diff) && diff->valueint > 0)
		fprintf(stderr,
			"bk-drill: FAILED: %s does not restore faithfully: %d of %d tables "
			"differ (above) (%.1f s)\n",
			name, diff->valueint, cJSON_GetArraySize(tables), took);
	else
		fprintf(stderr,
			"bk-drill: FAILED: %s could not be drilled (exit %d, above) "
			"(%.1f s)\n",
			name, rc, took);
}

int main(int argc, char **argv)
{
	int rc = parse_args(argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	progress_setup("bk-drill", PROGRESS_OFF);
	struct drill_options o = { 0 };
	char *path = NULL;
	rc = config_load();
	if (!rc)
		rc = store_dir_read(&o.dir);
	if (!rc)
		rc = store_resolve(o.dir, optind < argc ? argv[optind] : "full_latest", &path);
	cJSON *summary = NULL;
	if (!rc) {
		o.path = path;
		o.url = config_get("BK_DRILL_DATABASE_URL", NULL);
		o.test_fifo = config_get("BK_DRILL_TEST_FIFO", NULL);
		rc = drill_run(&o, &summary);
	}
	if (summary) {
		char *line = cJSON_PrintUnformatted(summary);
		puts(line);
		free(line);
		verdict(summary, rc);
		cJSON_Delete(summary);
	} else if (rc)
		fprintf(stderr, "bk-drill: FAILED: the drill could not run (exit %d, above)\n", rc);
	free(path);
	return rc;
}
