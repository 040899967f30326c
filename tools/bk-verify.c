/* bk-verify: checks that backups are whole (checksum, JSON, structure, row counts). */
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
#include "fsafe.h"
#include "progress.h"
#include "ids.h"
#include "out.h"
#include "store.h"
#include "timefmt.h"
#include "verify.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-verify [-q | --progress] [--save-schema FILE] ID|FILE|- ...\n"
		   "       bk-verify -h | --help | --version\n"
		   "\n"
		   "Checks each backup: its SHA-256 against <file>.sha256 (when present),\n"
		   "that it is well-formed JSON with the structure of a full or raffle backup,\n"
		   "and that its row counts match its metadata. Reads in bounded memory, plain\n"
		   "JSON or zstd/gzip-compressed (told by the first bytes).\n"
		   "Prints one JSON line per backup; exits 0 only when every backup is whole.\n"
		   "\n"
		   "  ID      a backup id in $BACKUP_DIR, or an alias (latest, raffle_latest, ...)\n"
		   "  FILE    a path (anything containing /); - reads standard input\n"
		   "  -q, --quiet   print nothing on stdout, only the exit status tells; no progress\n"
		   "      --progress  progress on stderr even when it is not a terminal\n"
		   "      --save-schema FILE  write the backup's schema object (format 1.1:\n"
		   "                tables, migrations, DDL) to FILE, when it verifies\n"
		   "  -h, --help    this help\n"
		   "      --version the version\n");
}

/* Ids are checked before any file is touched (bk-backup(5)). */
static int check_args(int argc, char **argv)
{
	int stdin_seen = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-")) {
			if (stdin_seen++) {
				warnx("standard input can be read only once");
				return EX_USAGE;
			}
		} else if (!strchr(a, '/') && !id_is_alias(a) && !id_valid(a)) {
			warnx("%s: not a backup id (expected full_..., raffle_... or manual_..., "
			      "letters, digits, _ and - only) nor a path",
			      ESC(a));
			return EX_USAGE;
		}
	}
	return 0;
}

/* The schema object as JSON in FILE (0600, atomically); 66 when the backup has none. */
static int save_schema(const struct verify_result *res, const char *file)
{
	if (!res->schema) {
		warnx("%s: the backup has no schema object (format 1.0): nothing saved", file);
		return EX_NOINPUT;
	}
	char *text = cJSON_PrintUnformatted(res->schema);
	if (!text)
		err(EX_SOFTWARE, "out of memory");
	int rc = write_file_atomic(file, text, strlen(text));
	free(text);
	if (rc)
		warn("%s", file);
	return rc ? EX_CANTCREAT : 0;
}

static int verify_one(const char *dir, const char *arg, bool quiet, const char *schema_file)
{
	char *path = NULL;
	struct verify_result res = { 0 };
	int rc = store_resolve(dir, arg, &path);
	if (rc)
		return rc;
	rc = verify_backup(path, NULL, &res);
	if (rc)
		warnx("%s: %s", ESC(arg), res.error[0] ? ESC(res.error) : "cannot be read");
	else if (res.type && !strcmp(res.type, "full") && verify_ddl_error(&res))
		warnx("%s: no DDL to recreate the schema from: %s", ESC(arg), ESC(verify_ddl_error(&res)));
	/* the summary says whether the backup is whole; saving is another matter */
	int saved = !rc && schema_file ? save_schema(&res, schema_file) : 0;
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(res.meta, "timestamp");
	int64_t ms;
	bool future = !rc && cJSON_IsString(ts) && parse_iso_ms(ts->valuestring, &ms) == 0 &&
		      fsafe_future(ms, now_ms());
	if (future) /* whole, so not a failure; but no alias picks it, and bk-check alerts */
		warnx("%s: dated %s, in the future of this clock (over 5 minutes ahead): "
		      "check the clock",
		      ESC(arg), ESC(ts->valuestring));
	if (!quiet) {
		cJSON *o = verify_summary(&res, path, rc);
		if (future)
			cJSON_AddStringToObject(o, "warning", "dated in the future: check the clock");
		char *line = cJSON_PrintUnformatted(o);
		puts(line);
		fflush(stdout);
		free(line);
		cJSON_Delete(o);
	}
	verify_result_free(&res);
	free(path);
	return rc ? rc : saved;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "save-schema", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	bool quiet = false, progress = false;
	const char *schema_file = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'P': progress = true; break;
		case 'S': schema_file = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-verify " BK_VERSION); return 0;
		default: return usage_error("bk-verify");
		}
	}
	if (optind == argc)
		return usage_error("bk-verify");
	if (schema_file && argc - optind != 1) {
		warnx("--save-schema takes one backup");
		return usage_error("bk-verify");
	}
	const char *dir;
	int rc = config_load();
	if (!rc)
		rc = check_args(argc - optind, argv + optind);
	if (!rc)
		rc = store_dir_read(&dir);
	for (int i = optind; !(rc && rc != EX_DATAERR && rc != EX_NOINPUT) && i < argc; i++) {
		progress_setup("bk-verify", quiet ? PROGRESS_OFF : progress ? PROGRESS_ON : PROGRESS_AUTO);
		int one = verify_one(dir, argv[i], quiet, schema_file);
		progress_finish();
		if (one && !rc)
			rc = one; /* the first failure decides the status; the rest are still checked */
	}
	return rc;
}
