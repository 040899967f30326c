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
#include "ids.h"
#include "store.h"
#include "verify.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-verify [-q] ID|FILE|- ...\n"
		   "       bk-verify -h | --help | --version\n"
		   "\n"
		   "Checks each backup: its SHA-256 against <file>.sha256 (when present),\n"
		   "that it is well-formed JSON with the structure of a full or raffle backup,\n"
		   "and that its row counts match its metadata. Reads in bounded memory.\n"
		   "Prints one JSON line per backup; exits 0 only when every backup is whole.\n"
		   "\n"
		   "  ID      a backup id in $BACKUP_DIR, or an alias (latest, raffle_latest, ...)\n"
		   "  FILE    a path (anything containing /); - reads standard input\n"
		   "  -q, --quiet   print nothing on stdout, only the exit status tells\n"
		   "  -h, --help    this help\n"
		   "      --version the version\n");
}

/* Ids are checked before any file is touched (SPEC §4.1). */
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
			      "letters, digits, _ and - only) nor a path", a);
			return EX_USAGE;
		}
	}
	return 0;
}

static int verify_one(const char *dir, const char *arg, bool quiet)
{
	char *path = NULL;
	struct verify_result res = { 0 };
	int rc = store_resolve(dir, arg, &path);
	if (rc)
		return rc;
	rc = verify_backup(path, NULL, &res);
	if (rc)
		warnx("%s: %s", arg, res.error[0] ? res.error : "cannot be read");
	if (!quiet) {
		cJSON *o = verify_summary(&res, path, rc);
		char *line = cJSON_PrintUnformatted(o);
		puts(line);
		fflush(stdout);
		free(line);
		cJSON_Delete(o);
	}
	verify_result_free(&res);
	free(path);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-verify " BK_VERSION); return 0;
		default: return usage_error("bk-verify");
		}
	}
	if (optind == argc)
		return usage_error("bk-verify");
	const char *dir;
	int rc = config_load();
	if (!rc)
		rc = check_args(argc - optind, argv + optind);
	if (!rc)
		rc = store_dir(&dir);
	for (int i = optind; !(rc && rc != EX_DATAERR && rc != EX_NOINPUT) && i < argc; i++) {
		int one = verify_one(dir, argv[i], quiet);
		if (one && !rc)
			rc = one;	/* the first failure decides the status; the rest are still checked */
	}
	return rc;
}
