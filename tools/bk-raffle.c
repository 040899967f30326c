/* bk-raffle: a backup of one raffle, or of every ended raffle not backed up since its end. */
#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bk-raffle/raffledump.h"
#include "cli.h"
#include "config.h"
#include "fsafe.h"
#include "out.h"
#include "pg.h"
#include "progress.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-raffle [--compress[=zstd|none]] [--wait SECONDS] [--progress | -q] RAFFLE_ID\n"
		   "       bk-raffle [--compress[=zstd|none]] [--wait SECONDS] [--progress | -q] --ended\n"
		   "       bk-raffle [--compress[=zstd|none]] [--wait SECONDS] --watch [--interval SECONDS]\n"
		   "       bk-raffle -h | --help | --version\n"
		   "\n"
		   "Backs up one raffle, with the rows of every table referencing it, into\n"
		   "$BACKUP_DIR/raffle_<raffleId>_<ms>.json (one consistent snapshot), with a\n"
		   ".sha256 file beside it, and prints its metadata as one JSON line.\n"
		   "\n"
		   "  -e, --ended           back up every raffle whose endTime has passed and\n"
		   "                        that has no raffle backup taken after its endTime,\n"
		   "                        winner drawn or not; one JSON line per backup made\n"
		   "      --watch           do what --ended does every --interval seconds until\n"
		   "                        SIGTERM or SIGINT (for a systemd service); the lock\n"
		   "                        is held only during a round\n"
		   "  -i, --interval SECONDS  between two rounds of --watch (default 15)\n"
		   "      --compress[=zstd|none]\n"
		   "                        write <id>.json.zst with zstd (default: $BK_COMPRESS,\n"
		   "                        none when unset; level $BK_COMPRESS_LEVEL, default 3)\n"
		   "  -w, --wait SECONDS    wait up to SECONDS for the backup lock (default 0)\n"
		   "      --progress        show progress on stderr even when it is not a terminal\n"
		   "  -q, --quiet           no progress line (shown by default on a terminal)\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

static void print_meta(cJSON *meta)
{
	char *line = cJSON_PrintUnformatted(meta);
	puts(line);
	fflush(stdout); /* cron and the relay read each backup as it is made */
	free(line);
}

/* Each ended raffle in its own snapshot; one failure does not stop the others. */
static int backup_ended(PGconn *conn, const struct pg_schema *s, const char *dir, int zlevel)
{
	char **ids;
	size_t n;
	int failed = 0, rc = raffle_ended(conn, s, dir, &ids, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		cJSON *meta;
		int one = raffle_backup(conn, s, dir, ids[i], zlevel, &meta);
		if (!one)
			print_meta(meta);
		cJSON_Delete(meta);
		if (one == EX_UNAVAILABLE) /* the database is gone: the rest would fail too */
			rc = one;
		else if (one && one != EX_NOINPUT && !failed) /* NOINPUT: deleted since */
			failed = one;
	}
	raffle_ids_free(ids, n);
	return rc ? rc : failed;
}

static int run(const char *raffle_id, const char *compress, long wait)
{
	const char *dir;
	int lock = -1, zlevel = 0;
	PGconn *conn = NULL;
	struct pg_schema s = { 0 };
	int rc = config_load();
	if (!rc)
		rc = out_compress_config(compress, &zlevel);
	if (!rc)
		rc = store_dir(&dir);
	if (!rc)
		rc = store_lock(dir, wait, &lock);
	if (!rc) /* the lock is ours: no live writer owns a temporary file */
		fsafe_sweep_temps(dir, "raffle_");
	if (!rc)
		rc = pg_connect(&conn);
	if (!rc)
		rc = pg_schema_load(conn, &s);
	if (!rc && raffle_id) {
		cJSON *meta;
		rc = raffle_backup(conn, &s, dir, raffle_id, zlevel, &meta);
		if (!rc)
			print_meta(meta);
		cJSON_Delete(meta);
	} else if (!rc) {
		rc = backup_ended(conn, &s, dir, zlevel);
	}
	pg_schema_free(&s);
	PQfinish(conn);
	if (lock >= 0)
		close(lock); /* --watch holds nothing between rounds */
	return rc;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * --watch: a round of --ended every interval seconds, each with its own lock
 * and connection, so that nothing is held between rounds and a round that
 * fails (lock busy, database restarting) is simply tried again.
 */
static int watch(const char *compress, long wait, long interval)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop) {
		int rc = run(NULL, compress, wait);
		if (rc)
			warnx("--watch: this round failed (exit %d); next in %ld s", rc, interval);
		for (long ms = interval * 1000; ms > 0 && !stop; ms -= 100)
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ended", no_argument, NULL, 'e' },	      { "compress", optional_argument, NULL, 'Z' },
		{ "progress", no_argument, NULL, 'P' },	      { "quiet", no_argument, NULL, 'q' },
		{ "wait", required_argument, NULL, 'w' },     { "watch", no_argument, NULL, 'W' },
		{ "interval", required_argument, NULL, 'i' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	      { 0 },
	};
	bool ended = false, watching = false;
	const char *compress = NULL;
	enum progress_mode progress = PROGRESS_AUTO;
	long wait = 0, interval = 15;
	int c;
	while ((c = getopt_long(argc, argv, "ew:i:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': ended = true; break;
		case 'Z': compress = optarg ? optarg : "zstd"; break;
		case 'P': progress = PROGRESS_ON; break;
		case 'q': progress = PROGRESS_OFF; break;
		case 'W': watching = ended = true; break;
		case 'i':
			if (parse_long(optarg, 1, 86400, &interval) < 0)
				errx(EX_USAGE, "--interval: expected seconds from 1 to 86400, not '%s'",
				     optarg);
			break;
		case 'w':
			if (parse_long(optarg, 0, 86400, &wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'",
				     ESC(optarg));
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-raffle " BK_VERSION); return 0;
		default: return usage_error("bk-raffle");
		}
	}
	if (argc - optind != (ended ? 0 : 1)) {
		if (ended)
			warnx("--ended and --watch take no raffle id");
		return usage_error("bk-raffle");
	}
	const char *raffle_id = ended ? NULL : argv[optind];
	/* before any file or query is touched (bk(7)) */
	if (raffle_id && !raffle_backup_id_valid(raffle_id)) {
		warnx("%s: not a raffle id (letters, digits, _ and - only, at most %d)", ESC(raffle_id),
		      RAFFLE_ID_BACKUP_MAX);
		return EX_USAGE;
	}
	progress_setup("bk-raffle", progress);
	int rc = watching ? watch(compress, wait, interval) : run(raffle_id, compress, wait);
	progress_finish();
	return rc;
}
