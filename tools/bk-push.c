/* bk-push: copies backups to the S3 bucket of BK_S3_URL. */
#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "bk-push/push.h"
#include "cli.h"
#include "config.h"
#include "fsafe.h"
#include "ids.h"
#include "profile.h"
#include "s3.h"
#include "store.h"

#define STALE_UPLOAD_MS (24 * 3600 * 1000LL) /* another machine's push is done by then */

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-push [ID|ALIAS ...] [--all] [--wait SECONDS]\n"
		   "       bk-push -h | --help | --version\n"
		   "\n"
		   "Uploads backups of $BACKUP_DIR (default: latest) with their .sha256 to\n"
		   "$BK_S3_URL, skipping those the bucket holds with the same checksum.\n"
		   "Compressed backups go up as they are stored (<id>.json.zst, <id>.json.gz).\n"
		   "With $BK_GPG_RECIPIENT set, uploads them encrypted (<id>.json.gpg).\n"
		   "Prints a JSON summary.\n"
		   "\n"
		   "  -a, --all             every backup of $BACKUP_DIR\n"
		   "  -w, --wait SECONDS    wait up to SECONDS for another bk-push (default 0)\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

/* An id or alias, through the same resolver as every tool: a path in dir. */
static int push_arg(struct push *p, const char *dir, const char *arg)
{
	char *path = NULL, id[ID_MAX];
	if (strchr(arg, '/') || !strcmp(arg, "-")) {
		warnx("%s: give a backup id or alias, not a path", arg);
		return EX_USAGE;
	}
	int rc = store_resolve(dir, arg, &path);
	if (!rc && !store_file_id(strrchr(path, '/') + 1, id)) { /* resolved: one of its names */
		warnx("%s: not a backup's name", ESC(path));
		rc = EX_USAGE;
	}
	if (!rc)
		rc = push_one(p, path, id);
	free(path);
	return rc;
}

static int push_all(struct push *p, const char *dir)
{
	struct backup_info *list;
	size_t n;
	int rc = store_list(dir, NULL, &list, &n), first = 0;
	for (size_t i = 0; !rc && i < n && !s3_interrupted(); i++) {
		char id[ID_MAX];
		if (list[i].error) {
			warnx("%s: %s; not pushed", list[i].path, list[i].error);
			first = first ? first : EX_DATAERR;
		} else if (store_file_id(strrchr(list[i].path, '/') + 1, id)) {
			int r = push_one(p, list[i].path, id);
			first = first ? first : r;
		}
	}
	store_list_free(list, n);
	return rc ? rc : first;
}

static void on_signal(int sig)
{
	(void)sig;
	s3_interrupt();
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* gpg gone: a write error, not death */
}

static void report(struct push *p, double t0, int rc)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "bucket", s3_where(p->s3, NULL));
	cJSON_AddItemToObject(r, "pushed", p->pushed);
	cJSON_AddItemToObject(r, "skipped", p->skipped);
	cJSON_AddNumberToObject(r, "bytes", (double)p->bytes);
	cJSON_AddNumberToObject(r, "seconds", prof_now() - t0);
	cJSON_AddBoolToObject(r, "encrypted", p->recipient != NULL);
	cJSON_AddBoolToObject(r, "ok", rc == 0);
	char *line = cJSON_PrintUnformatted(r);
	puts(line);
	free(line);
	cJSON_Delete(r);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int all = 0, c;
	long wait = 0;
	while ((c = getopt_long(argc, argv, "aw:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'w':
			if (parse_long(optarg, 0, 86400, &wait) < 0)
				errx(EX_USAGE, "--wait: expected seconds from 0 to 86400, not '%s'", optarg);
			break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-push " BK_VERSION); return 0;
		default: return usage_error("bk-push");
		}
	}
	if (all && optind < argc) {
		warnx("--all takes no ids");
		return EX_USAGE;
	}
	double t0 = prof_now();
	struct push p = { 0 };
	const char *dir;
	int lock, rc = config_load();
	if (!rc)
		rc = store_dir(&dir);
	if (!rc)
		rc = s3_open(&p.s3);
	if (!rc) /* pushes never overlap: an open upload of ours is a killed one */
		rc = store_lock_named(dir, ".bk-push.lock", wait, &lock);
	if (rc)
		return rc;
	catch_signals();
	p.recipient = config_get("BK_GPG_RECIPIENT", NULL);
	p.pushed = cJSON_CreateArray();
	p.skipped = cJSON_CreateArray();
	long stale;
	rc = s3_abort_stale(p.s3, NULL, STALE_UPLOAD_MS, &stale);
	if (!rc && all)
		rc = push_all(&p, dir);
	for (int i = optind; !rc && i <= argc && !all; i++) {
		if (i == argc && optind < argc)
			break;
		rc = push_arg(&p, dir, i < argc ? argv[i] : "latest");
	}
	report(&p, t0, rc);
	s3_close(p.s3);
	return rc;
}
