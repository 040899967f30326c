/* bk-dump: a full backup of the database and the Redis conversation states. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "dump.h"
#include "fsafe.h"
#include "out.h"
#include "profile.h"
#include "progress.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-dump [-o FILE|-] [--compress[=zstd|none]] [--no-redis] [--wait SECONDS]\n"
		   "               [--progress | -q]\n"
		   "       bk-dump -h | --help | --version\n"
		   "\n"
		   "Takes a full backup of every table (one consistent snapshot) and of the\n"
		   "Redis conversation states into $BACKUP_DIR/full_<ms>.json, with a\n"
		   ".sha256 file beside it, and prints its metadata as one JSON line.\n"
		   "\n"
		   "  -o, --output FILE|-   write the backup to FILE, or to stdout with -\n"
		   "      --compress[=zstd|none]\n"
		   "                        compress with zstd into full_<ms>.json.zst (default:\n"
		   "                        $BK_COMPRESS, none when unset; level $BK_COMPRESS_LEVEL,\n"
		   "                        default 3)\n"
		   "      --no-redis        leave Redis out (said in the metadata)\n"
		   "  -w, --wait SECONDS    wait up to SECONDS for the backup lock (default 0)\n"
		   "      --progress        show progress on stderr even when it is not a terminal\n"
		   "  -q, --quiet           no progress line (shown by default on a terminal)\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "no-redis", no_argument, NULL, 'R' },
		{ "compress", optional_argument, NULL, 'Z' },
		{ "progress", no_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct dump_options opt = { .id_prefix = "full" };
	const char *compress = NULL;
	enum progress_mode progress = PROGRESS_AUTO;
	long wait = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:w:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.output = optarg; break;
		case 'R': opt.no_redis = true; break;
		case 'Z': compress = optarg ? optarg : "zstd"; break;
		case 'P': progress = PROGRESS_ON; break;
		case 'q': progress = PROGRESS_OFF; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, &wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'",
				     ESC(optarg));
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-dump " BK_VERSION); return 0;
		default: return usage_error("bk-dump");
		}
	}
	if (optind != argc)
		return usage_error("bk-dump");

	progress_setup("bk-dump", progress);
	int lock, rc = config_load();
	if (!rc)
		rc = out_compress_config(compress, &opt.zlevel);
	if (!rc)
		rc = store_dir(&opt.dir);
	if (!rc)
		rc = store_lock(opt.dir, wait, &lock);
	if (!rc) /* the lock is ours: no live writer owns a temporary file */
		fsafe_sweep_temps(opt.dir, "full_");
	cJSON *meta = NULL;
	if (!rc)
		rc = dump_full(&opt, &meta);
	progress_finish();
	if (!rc && !(opt.output && !strcmp(opt.output, "-"))) {
		char *line = cJSON_PrintUnformatted(meta);
		puts(line);
		free(line);
	}
	cJSON_Delete(meta);
	prof_report();
	return rc;
}
