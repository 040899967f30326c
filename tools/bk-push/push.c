/* bk-push: one backup up to the bucket (see push.h). */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
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
#include "profile.h"
#include "remote.h"
#include "s3.h"
#include "store.h"

#include "push.h"

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

/*
 * One backup, under the name it is stored under (<id>.json, <id>.json.zst,
 * <id>.json.gz: the bytes as they are, compressed or not): the backup
 * object, then (encrypted) the stored backup's checksum, then the checksum
 * of the backup object, last, so that a backup with it is whole.
 */
int push_one(struct push *p, const char *path, const char *id)
{
	char hex[65], sent[65], object[ID_MAX + 32], stored[ID_MAX + 16];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	snprintf(stored, sizeof stored, "%s", base);
	struct stat st;
	double t0 = prof_now();
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
	cJSON_AddNumberToObject(e, "seconds", prof_now() - t0);
	cJSON_AddStringToObject(e, "sha256", sent);
	cJSON_AddBoolToObject(e, "encrypted", p->recipient != NULL);
	cJSON_AddItemToArray(p->pushed, e);
	p->bytes += bytes;
	return 0;
}
