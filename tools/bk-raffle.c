/* bk-raffle: a backup of one raffle, or of every ended raffle without a winner yet. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "bk-raffle/raffledump.h"
#include "cli.h"
#include "config.h"
#include "pg.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-raffle [--wait SECONDS] RAFFLE_ID\n"
		   "       bk-raffle [--wait SECONDS] --ended\n"
		   "       bk-raffle -h | --help | --version\n"
		   "\n"
		   "Backs up one raffle, with the rows of every table referencing it, into\n"
		   "$BACKUP_DIR/raffle_<raffleId>_<ms>.json (one consistent snapshot), with a\n"
		   ".sha256 file beside it, and prints its metadata as one JSON line.\n"
		   "\n"
		   "  -e, --ended           back up every raffle whose endTime has passed, that\n"
		   "                        has no winner and no raffle backup taken after its\n"
		   "                        endTime; one JSON line per backup made\n"
		   "  -w, --wait SECONDS    wait up to SECONDS for the backup lock (default 0)\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

static void print_meta(cJSON *meta)
{
	char *line = cJSON_PrintUnformatted(meta);
	puts(line);
	fflush(stdout);	/* cron and the relay read each backup as it is made */
	free(line);
}

/* Each ended raffle in its own snapshot; one failure does not stop the others. */
static int backup_ended(PGconn *conn, const struct pg_schema *s, const char *dir)
{
	char **ids;
	size_t n;
	int failed = 0, rc = raffle_ended(conn, s, dir, &ids, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		cJSON *meta;
		int one = raffle_backup(conn, s, dir, ids[i], &meta);
		if (!one)
			print_meta(meta);
		cJSON_Delete(meta);
		if (one == EX_UNAVAILABLE)	/* the database is gone: the rest would fail too */
			rc = one;
		else if (one && one != EX_NOINPUT && !failed)	/* NOINPUT: deleted since */
			failed = one;
	}
	raffle_ids_free(ids, n);
	return rc ? rc : failed;
}

static int run(const char *raffle_id, long wait)
{
	const char *dir;
	int lock;
	PGconn *conn = NULL;
	struct pg_schema s = { 0 };
	int rc = config_load();
	if (!rc)
		rc = store_dir(&dir);
	if (!rc)
		rc = store_lock(dir, wait, &lock);
	if (!rc)
		rc = pg_connect(&conn);
	if (!rc)
		rc = pg_schema_load(conn, &s);
	if (!rc && raffle_id) {
		cJSON *meta;
		rc = raffle_backup(conn, &s, dir, raffle_id, &meta);
		if (!rc)
			print_meta(meta);
		cJSON_Delete(meta);
	} else if (!rc) {
		rc = backup_ended(conn, &s, dir);
	}
	pg_schema_free(&s);
	PQfinish(conn);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ended", no_argument, NULL, 'e' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	bool ended = false;
	long wait = 0;
	int c;
	while ((c = getopt_long(argc, argv, "ew:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': ended = true; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, &wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'", optarg);
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-raffle " BK_VERSION); return 0;
		default: return usage_error("bk-raffle");
		}
	}
	if (argc - optind != (ended ? 0 : 1)) {
		if (ended)
			warnx("--ended takes no raffle id");
		return usage_error("bk-raffle");
	}
	const char *raffle_id = ended ? NULL : argv[optind];
	/* before any file or query is touched (SPEC §8) */
	if (raffle_id && !raffle_backup_id_valid(raffle_id)) {
		warnx("%s: not a raffle id (letters, digits, _ and - only, at most %d)",
		      raffle_id, RAFFLE_ID_BACKUP_MAX);
		return EX_USAGE;
	}
	return run(raffle_id, wait);
}
