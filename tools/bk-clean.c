/* bk-clean: deletes backups older than the retention period, keeping the newest full ones. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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
	fprintf(f, "usage: bk-clean [DAYS] [--keep-last N] [--dry-run] [--wait SECONDS] [--remote]\n"
		   "       bk-clean -h | --help | --version\n"
		   "\n"
		   "Deletes the backups in $BACKUP_DIR (and their .sha256 files) whose metadata\n"
		   "timestamp is older than DAYS (default $BACKUP_RETENTION_DAYS, else 30), but\n"
		   "never the newest N full backups that verify (never fewer than one);\n"
		   "removes temporary files left by killed writers (older than an hour)\n"
		   "and checksum files whose backup is gone.\n"
		   "Prints a JSON summary. Backups with unreadable metadata are kept.\n"
		   "\n"
		   "  -k, --keep-last N     always keep the newest N full backups that verify (default 1)\n"
		   "  -n, --dry-run         say what would be deleted, delete nothing (no lock)\n"
		   "  -w, --wait SECONDS    wait up to SECONDS for the backup lock (default 0)\n"
		   "  -r, --remote          the same in the bucket of $BK_S3_URL instead\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

static int parse_args(int argc, char **argv, struct clean_options *opt, long *wait, int *remote)
{
	static const struct option longopts[] = {
		{ "keep-last", required_argument, NULL, 'k' },
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
				errx(EX_USAGE, "--keep-last: expected a number of backups, not '%s'", ESC(optarg));
			break;
		case 'n': opt->dry_run = true; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'", ESC(optarg));
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

int main(int argc, char **argv)
{
	struct clean_options opt = { .keep_last = 1 };
	long wait = 0;
	int remote = 0;
	int rc = parse_args(argc, argv, &opt, &wait, &remote);
	if (!rc)
		rc = config_load();
	if (!rc && !opt.days)
		rc = config_get_long("BACKUP_RETENTION_DAYS", 30, 1, DAYS_MAX, &opt.days);
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
