/* bk-export: a backup's tables as CSV files, read from the backup file alone. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "bk-export/export.h"
#include "cli.h"
#include "config.h"
#include "fsafe.h"
#include "ids.h"
#include "progress.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-export --csv DIR [-f | --force] [--progress | -q] ID|FILE|-\n"
		   "       bk-export -h | --help | --version\n"
		   "\n"
		   "Writes one CSV file (RFC 4180: a header row, UTF-8, CRLF line ends) per\n"
		   "table of the backup into DIR, <key>.csv, and the Redis conversation states\n"
		   "of a full backup into redis.csv (key, value). Reads the backup file alone,\n"
		   "plain JSON or zstd/gzip-compressed, in bounded memory; no database is needed.\n"
		   "The backup is verified as it is read: the files appear only when all of it\n"
		   "is whole. Prints a JSON summary (the files, rows per file).\n"
		   "\n"
		   "A null is an empty field, a string is always quoted (an empty string is\n"
		   "\"\"), numbers keep every digit, arrays and objects are their JSON text.\n"
		   "\n"
		   "  ID|FILE|-        a backup id or alias in $BACKUP_DIR, a path, or stdin\n"
		   "      --csv DIR    write the CSV files into DIR (created 0700 if missing)\n"
		   "  -f, --force      replace files of the same names in DIR\n"
		   "      --progress   show progress on stderr even when it is not a terminal\n"
		   "  -q, --quiet      no progress line (shown by default on a terminal)\n"
		   "  -h, --help       this help\n"
		   "      --version    the version\n");
}

/* The backup to read: an id or alias through $BACKUP_DIR, a path, or "-". */
static int resolve(const char *arg, char **path)
{
	const char *dir;
	struct stat st;
	if (strcmp(arg, "-") && !strchr(arg, '/') && !id_is_alias(arg) && !id_valid(arg)) {
		warnx("%s: not a backup id (expected full_..., raffle_... or manual_..., "
		      "letters, digits, _ and - only) nor a path",
		      ESC(arg));
		return EX_USAGE;
	}
	int rc = store_dir_read(&dir);
	if (!rc)
		rc = store_resolve(dir, arg, path);
	if (!rc && strcmp(*path, "-") && stat(*path, &st) < 0) {
		warn("%s", ESC(*path));
		free(*path);
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	return rc;
}

static int export_one(const char *arg, const char *dir, bool force)
{
	char *path = NULL;
	cJSON *summary = NULL;
	int rc = resolve(arg, &path);
	if (!rc)
		rc = export_csv(path, dir, force, &summary);
	if (!rc) {
		char *line = cJSON_PrintUnformatted(summary);
		puts(line);
		free(line);
		cJSON_Delete(summary);
	}
	free(path);
	return rc;
}

enum { OPT_CSV = 256, OPT_PROGRESS, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "force", no_argument, NULL, 'f' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	const char *dir = NULL;
	bool force = false, quiet = false, progress = false;
	int c;
	while ((c = getopt_long(argc, argv, "fqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CSV: dir = optarg; break;
		case 'f': force = true; break;
		case OPT_PROGRESS: progress = true; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: puts("bk-export " BK_VERSION); return 0;
		default: return usage_error("bk-export");
		}
	}
	if (!dir || !*dir) {
		warnx("--csv DIR is required (the only format)");
		return usage_error("bk-export");
	}
	if (argc - optind != 1) {
		warnx(optind == argc ? "a backup id or file is required" : "one backup at a time");
		return usage_error("bk-export");
	}
	int rc = config_load();
	if (rc)
		return rc;
	progress_setup("bk-export", quiet ? PROGRESS_OFF : progress ? PROGRESS_ON : PROGRESS_AUTO);
	rc = export_one(argv[optind], dir, force);
	progress_finish();
	return rc;
}
