/* bk-push: copies backups to the S3 bucket of BK_S3_URL. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "fsafe.h"
#include "gpg.h"
#include "out.h"
#include "remote.h"
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

/* The file being uploaded (or gpg's output), hashed as it is read. */
struct source {
	int fd;
	EVP_MD_CTX *sha;
	struct gpg *gpg; /* when encrypting */
	int gpg_rc;
};

static long source_read(void *ud, void *p, size_t n)
{
	struct source *src = ud;
	ssize_t r;
	while ((r = read(src->fd, p, n)) < 0 && errno == EINTR)
		;
	if (r > 0)
		EVP_DigestUpdate(src->sha, p, (size_t)r);
	/* gpg's end: it must have succeeded before the last part commits the upload */
	if (r == 0 && src->gpg && src->gpg->pid > 0) {
		src->fd = -1; /* gpg_finish closes it */
		if ((src->gpg_rc = gpg_finish(src->gpg)) != 0) {
			errno = EIO;
			return -1;
		}
	}
	return (long)r;
}

/* SHA-256 of the file at path, read through. */
static int hash_file(const char *path, char *hex)
{
	struct source src = { .fd = open(path, O_RDONLY | O_CLOEXEC), .sha = EVP_MD_CTX_new() };
	char chunk[1 << 16];
	long r = 0;
	if (src.fd < 0) {
		warn("%s", path);
		EVP_MD_CTX_free(src.sha);
		return EX_NOINPUT;
	}
	EVP_DigestInit_ex(src.sha, EVP_sha256(), NULL);
	while ((r = source_read(&src, chunk, sizeof chunk)) > 0)
		;
	if (r < 0)
		warn("cannot read %s", path);
	else
		out_digest_hex(src.sha, hex);
	close(src.fd);
	EVP_MD_CTX_free(src.sha);
	return r < 0 ? EX_IOERR : 0;
}

/* The local backup's checksum: its .sha256 file, which must hold for the file. */
static int local_sum(const char *path, char *hex)
{
	char sum_path[4096], line[256], actual[65];
	snprintf(sum_path, sizeof sum_path, "%s.sha256", path);
	FILE *f = fopen(sum_path, "r");
	bool ok = f && fgets(line, sizeof line, f) && sha256_line(line, hex) == 0;
	if (f)
		fclose(f);
	int rc = hash_file(path, actual);
	if (rc)
		return rc;
	if (!ok) { /* no checksum file (made by hand): what the file holds now */
		memcpy(hex, actual, 65);
		return 0;
	}
	if (strcmp(hex, actual)) {
		warnx("%s: does not match its .sha256 (damaged?); not pushed (see bk-verify)", path);
		return EX_DATAERR;
	}
	return 0;
}

struct push {
	struct s3 *s3;
	const char *recipient; /* BK_GPG_RECIPIENT or NULL */
	cJSON *pushed, *skipped;
	long long bytes;
};

/* Does the bucket already hold this backup (stored as <stored>), whole, with the same checksum? */
static bool already_there(struct push *p, const char *stored, const char *hex, off_t size)
{
	char name[ID_MAX + 32];
	struct buf b = { 0 };
	char remote[65];
	long long rsize;
	snprintf(name, sizeof name, "%s.sha256", stored);
	bool same = s3_get_small(p->s3, name, &b, 4096) == 0 && sha256_line(b.data, remote) == 0 &&
		    !strcmp(remote, hex);
	buf_free(&b);
	if (same && p->recipient) {
		snprintf(name, sizeof name, "%s.gpg.sha256", stored);
		same = s3_head(p->s3, name, &rsize, NULL) == 0;
		snprintf(name, sizeof name, "%s.gpg", stored);
		same = same && s3_head(p->s3, name, &rsize, NULL) == 0;
	} else if (same) {
		same = s3_head(p->s3, stored, &rsize, NULL) == 0 && rsize == (long long)size;
	}
	return same;
}

/* name's checksum object: a sha256sum line naming the object beside it. */
static int put_sum(struct push *p, const char *object, const char *hex)
{
	char name[ID_MAX + 48], line[ID_MAX + 128];
	snprintf(name, sizeof name, "%s.sha256", object);
	int n = snprintf(line, sizeof line, "%s  %s\n", hex, object);
	return s3_put_small(p->s3, name, line, (size_t)n);
}

/* Uploads the file (through gpg when encrypting) as object; *sent_hex: what went up. */
static int upload(struct push *p, const char *path, const char *object, char *sent_hex, long long *bytes)
{
	struct source src = { .fd = open(path, O_RDONLY | O_CLOEXEC), .sha = EVP_MD_CTX_new() };
	struct gpg g = { .pid = -1, .out = -1 };
	int rc = 0;
	if (src.fd < 0) {
		warn("%s", path);
		rc = EX_NOINPUT;
	} else if (p->recipient && (rc = gpg_encrypt(&g, src.fd, p->recipient)) == 0) {
		close(src.fd);
		src.fd = g.out; /* what gpg writes is what goes up */
		src.gpg = &g;
	}
	EVP_DigestInit_ex(src.sha, EVP_sha256(), NULL);
	if (!rc)
		rc = s3_upload(p->s3, object, source_read, &src, bytes);
	if (src.gpg_rc)
		rc = src.gpg_rc; /* gpg said why; nothing was committed */
	if (g.pid > 0) {	 /* the upload stopped before gpg's end */
		src.fd = -1;
		kill(g.pid, SIGTERM);
		gpg_finish(&g);
	}
	out_digest_hex(src.sha, sent_hex);
	if (src.fd >= 0)
		close(src.fd);
	EVP_MD_CTX_free(src.sha);
	return rc;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * One backup, under the name it is stored under (<id>.json, <id>.json.zst,
 * <id>.json.gz: the bytes as they are, compressed or not): the backup
 * object, then (encrypted) the stored backup's checksum, then the checksum
 * of the backup object, last, so that a backup with it is whole.
 */
static int push_one(struct push *p, const char *path, const char *id)
{
	char hex[65], sent[65], object[ID_MAX + 32], stored[ID_MAX + 16];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	snprintf(stored, sizeof stored, "%s", base);
	struct stat st;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = local_sum(path, hex);
	if (rc)
		return rc;
	if (stat(path, &st) == 0 && already_there(p, stored, hex, st.st_size)) {
		cJSON_AddItemToArray(p->skipped, cJSON_CreateString(id));
		return 0;
	}
	snprintf(object, sizeof object, "%s%s", stored, p->recipient ? ".gpg" : "");
	long aborted = 0;
	long long bytes = 0;
	rc = s3_abort_stale(p->s3, object, 0, &aborted); /* a killed push of this one */
	if (!rc)
		rc = upload(p, path, object, sent, &bytes);
	if (!rc && !p->recipient && strcmp(sent, hex)) {
		warnx("%s: changed while it was being pushed; not pushed", path);
		s3_delete(p->s3, object);
		rc = EX_DATAERR;
	}
	if (!rc && p->recipient)
		rc = put_sum(p, stored, hex);
	if (!rc)
		rc = put_sum(p, object, sent);
	if (rc)
		return rc;
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "id", id);
	cJSON_AddStringToObject(e, "object", s3_where(p->s3, object));
	cJSON_AddNumberToObject(e, "bytes", (double)bytes);
	cJSON_AddNumberToObject(e, "seconds", seconds_since(&t0));
	cJSON_AddStringToObject(e, "sha256", sent);
	cJSON_AddBoolToObject(e, "encrypted", p->recipient != NULL);
	cJSON_AddItemToArray(p->pushed, e);
	p->bytes += bytes;
	return 0;
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

static void report(struct push *p, const struct timespec *t0, int rc)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "bucket", s3_where(p->s3, NULL));
	cJSON_AddItemToObject(r, "pushed", p->pushed);
	cJSON_AddItemToObject(r, "skipped", p->skipped);
	cJSON_AddNumberToObject(r, "bytes", (double)p->bytes);
	cJSON_AddNumberToObject(r, "seconds", seconds_since(t0));
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
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (all && optind < argc) {
		warnx("--all takes no ids");
		return EX_USAGE;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
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
	report(&p, &t0, rc);
	s3_close(p.s3);
	return rc;
}
