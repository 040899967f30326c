/* bk-clean: deletes the backups no retention rule keeps (calendar, age, newest full, raffle history). */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "fsafe.h"
#include "bk-clean/clean.h"
#include "cli.h"
#include "config.h"
#include "s3.h"
#include "store.h"

#define DAYS_MAX 1000000L

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bk-clean [DAYS] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]\n"
		"                [--keep-monthly N] [--keep-last N] [--dry-run] [--wait SECONDS] [--remote]\n"
		"       bk-clean -h | --help | --version\n"
		"\n"
		"Deletes the backups in $BACKUP_DIR (and their .sha256 files) that no rule keeps.\n"
		"A backup stays when any rule keeps it:\n"
		"  newest full     the newest full backup that verifies (and --keep-last N of them)\n"
		"  hourly, daily, weekly, monthly\n"
		"                  the newest full backup of each of the newest N hours, days,\n"
		"                  ISO weeks, months (UTC) that have one, by metadata timestamp\n"
		"  age             younger than DAYS (default $BACKUP_RETENTION_DAYS, else 30)\n"
		"  after ID        a raffle backup whose preceding full backup ID stays\n"
		"Backups with unreadable metadata or dated in the future are kept.\n"
		"Removes temporary files left by killed writers (older than an hour)\n"
		"and checksum files whose backup is gone. Prints a JSON summary.\n"
		"\n"
		"      --keep-hourly N   hours to keep a full backup of (default $BK_KEEP_HOURLY, else 24)\n"
		"      --keep-daily N    days (default $BK_KEEP_DAILY, else 7)\n"
		"      --keep-weekly N   weeks (default $BK_KEEP_WEEKLY, else 4)\n"
		"      --keep-monthly N  months (default $BK_KEEP_MONTHLY, else 6); 0 turns a unit off\n"
		"  -k, --keep-last N     always keep the newest N full backups that verify (default 1)\n"
		"  -n, --dry-run         list each backup with the rules that keep it, on stderr,\n"
		"                        delete nothing (no lock)\n"
		"  -w, --wait SECONDS    wait up to SECONDS for the backup lock (default 0)\n"
		"  -r, --remote          the same in the bucket of $BK_S3_URL instead\n"
		"  -h, --help            this help\n"
		"      --version         the version\n");
}

/* The calendar's options and variables, in enum cal_unit's order. */
static const char *const keep_opt[CAL_UNITS] = { "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly" };
static const char *const keep_env[CAL_UNITS] = { "BK_KEEP_HOURLY", "BK_KEEP_DAILY", "BK_KEEP_WEEKLY",
						 "BK_KEEP_MONTHLY" };
static const long keep_default[CAL_UNITS] = { 24, 7, 4, 6 };
#define KEEP_MAX 1000000L
#define OPT_KEEP 256 /* + enum cal_unit */

static int parse_args(int argc, char **argv, struct clean_options *opt, long *wait, int *remote)
{
	static const struct option longopts[] = {
		{ "keep-last", required_argument, NULL, 'k' },
		{ "keep-hourly", required_argument, NULL, OPT_KEEP + CAL_HOURLY },
		{ "keep-daily", required_argument, NULL, OPT_KEEP + CAL_DAILY },
		{ "keep-weekly", required_argument, NULL, OPT_KEEP + CAL_WEEKLY },
		{ "keep-monthly", required_argument, NULL, OPT_KEEP + CAL_MONTHLY },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "wait", required_argument, NULL, 'w' },
		{ "remote", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "k:nw:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': *remote = 1; break;
		case 'k':
			if (parse_long(optarg, 0, 1000000, &opt->keep_last) < 0)
				errx(EX_USAGE, "--keep-last: expected a number of backups, not '%s'",
				     ESC(optarg));
			break;
		case OPT_KEEP + CAL_HOURLY:
		case OPT_KEEP + CAL_DAILY:
		case OPT_KEEP + CAL_WEEKLY:
		case OPT_KEEP + CAL_MONTHLY:
			if (parse_long(optarg, 0, KEEP_MAX, &opt->keep[c - OPT_KEEP]) < 0) {
				warnx("--%s: expected a number of backups (0 or more), not '%s'",
				      keep_opt[c - OPT_KEEP], ESC(optarg));
				return EX_USAGE;
			}
			break;
		case 'n': opt->dry_run = true; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'",
				     ESC(optarg));
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': puts("bk-clean " BK_VERSION); exit(0);
		default: return usage_error("bk-clean");
		}
	}
	if (argc - optind > 1)
		return usage_error("bk-clean");
	if (optind < argc && parse_long(argv[optind], 1, DAYS_MAX, &opt->days) < 0) {
		warnx("DAYS: expected a positive whole number of days, not '%s'", ESC(argv[optind]));
		return EX_USAGE;
	}
	return 0;
}

static int clean_bucket(const struct clean_options *opt)
{
	struct s3 *s;
	cJSON *report;
	int rc = s3_open(&s);
	if (rc)
		return rc;
	rc = clean_remote(opt, s, &report);
	char *line = cJSON_PrintUnformatted(report);
	puts(line);
	free(line);
	cJSON_Delete(report);
	s3_close(s);
	return rc;
}

/* The calendar's units the options left unset: from the environment, else the defaults. */
static int keep_from_env(struct clean_options *opt)
{
	for (int u = 0; u < CAL_UNITS; u++) {
		if (opt->keep[u] >= 0)
			continue;
		int rc = config_get_long(keep_env[u], keep_default[u], 0, KEEP_MAX, &opt->keep[u]);
		if (rc)
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct clean_options opt = { .keep_last = 1, .keep = { -1, -1, -1, -1 } };
	long wait = 0;
	int remote = 0;
	int rc = parse_args(argc, argv, &opt, &wait, &remote);
	if (!rc)
		rc = config_load();
	if (!rc && !opt.days)
		rc = config_get_long("BACKUP_RETENTION_DAYS", 30, 1, DAYS_MAX, &opt.days);
	if (!rc)
		rc = keep_from_env(&opt);
	if (!rc && remote)
		return clean_bucket(&opt);
	if (!rc)
		rc = opt.dry_run ? store_dir_read(&opt.dir) : store_dir(&opt.dir);
	int lock;
	/* a dry run changes nothing: it may look while a backup is being written */
	if (!rc && !opt.dry_run)
		rc = store_lock(opt.dir, wait, &lock);
	if (rc)
		return rc;
	cJSON *report;
	rc = clean_run(&opt, &report);
	char *line = cJSON_PrintUnformatted(report);
	puts(line);
	free(line);
	cJSON_Delete(report);
	return rc;
}
