/* bk-restore: restores all or part of a backup, in one transaction. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fsafe.h"
#include "bk-restore/restore.h"
#include "cli.h"
#include "config.h"
#include "progress.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-restore [--skip-raffles] [--skip-analytics] [--skip-users] [--skip-redis]\n"
		   "                  [--clean] [-n|--dry-run] [-y|--yes] [--no-safety-backup]\n"
		   "                  [--accept-loss TABLE[.COLUMN],...] [-w SECONDS]\n"
		   "                  [--progress | -q] ID|FILE|-\n"
		   "       bk-restore -h | --help | --version\n"
		   "\n"
		   "Verifies the backup, asks for confirmation, takes a safety backup of the\n"
		   "current state, then restores every selected table in one transaction\n"
		   "(all of it or nothing) and the Redis conversation states. Prints a JSON\n"
		   "summary. A backup value that would not land (a table or column the\n"
		   "database lacks, a type that cannot hold it) is refused (exit 77) before\n"
		   "anything changes, unless that loss is accepted with --accept-loss.\n"
		   "\n"
		   "  ID|FILE|-            a backup id or alias in $BACKUP_DIR, a path, or stdin\n"
		   "      --skip-raffles   leave Raffle and the tables referencing it alone\n"
		   "      --skip-analytics leave DailyAnalytics, DexDailyStats, RaffleAnalytics,\n"
		   "                       UserActivity alone\n"
		   "      --skip-users     leave WalletUser, Admin, NotificationPreference alone\n"
		   "      --skip-redis     leave Redis alone\n"
		   "      --clean          restored tables end with exactly the backup's rows\n"
		   "  -n, --dry-run        verify and print what would be restored; change nothing\n"
		   "  -y, --yes            do not ask for confirmation (required without a terminal)\n"
		   "      --no-safety-backup  do not take a full backup of the current state first\n"
		   "      --accept-loss LIST  restore even though these backup tables or\n"
		   "                       table.columns will not land (comma-separated; repeatable)\n"
		   "  -w, --wait SECONDS   wait up to SECONDS for the backup lock (default 0)\n"
		   "      --progress       show progress on stderr even when it is not a terminal\n"
		   "  -q, --quiet          no progress line (shown by default on a terminal)\n"
		   "  -h, --help           this help\n"
		   "      --version        the version\n");
}

enum {
	OPT_SKIP_RAFFLES = 256,
	OPT_SKIP_ANALYTICS,
	OPT_SKIP_USERS,
	OPT_SKIP_REDIS,
	OPT_CLEAN,
	OPT_NO_SAFETY,
	OPT_ACCEPT_LOSS,
	OPT_VERSION,
	OPT_PROGRESS
};

/* --accept-loss A,B --accept-loss C: every name, NULL-terminated. */
static void add_accepted(struct restore_options *opt, const char *list)
{
	size_t n = 0;
	while (opt->accept_loss && opt->accept_loss[n])
		n++;
	char *copy = strdup(list), *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		opt->accept_loss = realloc(opt->accept_loss, (n + 2) * sizeof *opt->accept_loss);
		if (!opt->accept_loss)
			err(EX_SOFTWARE, "out of memory");
		opt->accept_loss[n++] = strdup(item);
		opt->accept_loss[n] = NULL;
	}
	free(copy);
}

static void free_accepted(struct restore_options *opt)
{
	for (size_t i = 0; opt->accept_loss && opt->accept_loss[i]; i++)
		free(opt->accept_loss[i]);
	free(opt->accept_loss);
}

static int parse_args(int argc, char **argv, struct restore_options *opt, long *wait,
		      enum progress_mode *progress)
{
	static const struct option longopts[] = {
		{ "skip-raffles", no_argument, NULL, OPT_SKIP_RAFFLES },
		{ "skip-analytics", no_argument, NULL, OPT_SKIP_ANALYTICS },
		{ "skip-users", no_argument, NULL, OPT_SKIP_USERS },
		{ "skip-redis", no_argument, NULL, OPT_SKIP_REDIS },
		{ "clean", no_argument, NULL, OPT_CLEAN },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "yes", no_argument, NULL, 'y' },
		{ "no-safety-backup", no_argument, NULL, OPT_NO_SAFETY },
		{ "accept-loss", required_argument, NULL, OPT_ACCEPT_LOSS },
		{ "wait", required_argument, NULL, 'w' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "nyw:qh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SKIP_RAFFLES: opt->skip |= GROUP_RAFFLES; break;
		case OPT_SKIP_ANALYTICS: opt->skip |= GROUP_ANALYTICS; break;
		case OPT_SKIP_USERS: opt->skip |= GROUP_USERS; break;
		case OPT_SKIP_REDIS: opt->skip |= GROUP_REDIS; break;
		case OPT_CLEAN: opt->clean = true; break;
		case 'n': opt->dry_run = true; break;
		case 'y': opt->yes = true; break;
		case OPT_NO_SAFETY: opt->no_safety_backup = true; break;
		case OPT_ACCEPT_LOSS: add_accepted(opt, optarg); break;
		case OPT_PROGRESS: *progress = PROGRESS_ON; break;
		case 'q': *progress = PROGRESS_OFF; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, wait) < 0) {
				warnx("--wait: expected seconds from 0 to 86400, not '%s'", ESC(optarg));
				return EX_USAGE;
			}
			break;
		case 'h': usage(stdout); return -1;
		case OPT_VERSION: puts("bk-restore " BK_VERSION); return -1;
		default: return usage_error("bk-restore");
		}
	}
	if (optind != argc - 1)
		return usage_error("bk-restore");
	return 0;
}

/* Refusals that need nothing but the command line come first: no file is
 * read, no server is contacted. */
static int early_checks(const struct restore_options *opt, const char *arg)
{
	bool from_stdin = !strcmp(arg, "-");
	if (from_stdin && isatty(STDIN_FILENO)) {
		warnx("refusing to read a backup from a terminal; redirect standard input");
		return EX_USAGE;
	}
	if (!opt->yes && !opt->dry_run && !isatty(STDIN_FILENO)) {
		warnx("refusing to restore without confirmation: standard input is not a terminal "
		      "(use --yes to confirm)");
		return EX_NOPERM;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct restore_options opt = { 0 };
	long wait = 0;
	enum progress_mode progress = PROGRESS_AUTO;
	int lock = -1, rc = parse_args(argc, argv, &opt, &wait, &progress);
	if (rc) {
		free_accepted(&opt);
		return rc < 0 ? 0 : rc;
	}
	progress_setup("bk-restore", progress);
	const char *arg = argv[optind];
	char *path = NULL;
	rc = config_load();
	if (!rc)
		rc = opt.dry_run ? store_dir_read(&opt.dir) : store_dir(&opt.dir);
	if (!rc)
		rc = store_resolve(opt.dir, arg, &path);
	if (!rc)
		rc = early_checks(&opt, arg);
	/* a dry run writes nothing: no lock, and a read-only directory will do */
	if (!rc && !opt.dry_run)
		rc = store_lock(opt.dir, wait, &lock);
	cJSON *summary = NULL;
	if (!rc) {
		opt.path = path;
		rc = restore_run(&opt, &summary);
	}
	progress_finish();
	if (summary) {
		char *line = cJSON_PrintUnformatted(summary);
		puts(line);
		free(line);
		cJSON_Delete(summary);
	}
	free(path);
	free_accepted(&opt);
	return rc;
}
