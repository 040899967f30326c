/* bk-pull: copies a backup from the S3 bucket of BK_S3_URL into the backup directory. */
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
#include "cli.h"
#include "config.h"
#include "gpg.h"
#include "out.h"
#include "profile.h"
#include "remote.h"
#include "s3.h"
#include "store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bk-pull ID|ALIAS\n"
		   "       bk-pull -h | --help | --version\n"
		   "\n"
		   "Downloads a backup from $BK_S3_URL into $BACKUP_DIR: under a temporary\n"
		   "name, checked against the bucket's .sha256, then renamed into place with\n"
		   "its .sha256. Aliases (latest, full_latest, raffle_latest,\n"
		   "raffle_<raffleId>_latest) name the newest whole backup in the bucket.\n"
		   "A compressed backup comes back as it was stored (<id>.json.zst, <id>.json.gz).\n"
		   "Encrypted copies (<id>.json.gpg) are decrypted with the local gpg keyring.\n"
		   "Prints a JSON summary.\n"
		   "\n"
		   "  -h, --help            this help\n"
		   "      --version         the version\n");
}

/* The checksum an object's .sha256 object gives. */
static int remote_sum(struct s3 *s, const char *object, char *hex)
{
	char name[ID_MAX + 32];
	struct buf b = { 0 };
	snprintf(name, sizeof name, "%s.sha256", object);
	int rc = s3_get_small(s, name, &b, 4096);
	if (rc == EX_NOINPUT)
		warnx("%s: missing: the copy is not whole (its push did not finish)", s3_where(s, name));
	else if (!rc && sha256_line(b.data, hex) < 0) {
		warnx("%s: not a sha256sum line", s3_where(s, name));
		rc = EX_DATAERR;
	}
	buf_free(&b);
	return rc;
}

static int to_out(void *ud, const void *p, size_t n)
{
	struct out *o = ud;
	out_write(o, p, n);
	return 0; /* a write error is reported by out_finish */
}

/* What is downloaded to a file descriptor, hashed on the way. */
struct fd_sink {
	int fd;
	EVP_MD_CTX *sha;
};

static int to_fd(void *ud, const void *p, size_t n)
{
	struct fd_sink *f = ud;
	const char *c = p;
	EVP_DigestUpdate(f->sha, p, n);
	while (n > 0) {
		ssize_t w = write(f->fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			warn("cannot write the downloaded copy");
			return EX_IOERR;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The encrypted copy goes to an unlinked file in dir first: its checksum
 * is checked before gpg sees a byte, so gpg never decrypts damaged data.
 * Returns the open file at its start, or -1 with *rc set.
 */
static int fetch_encrypted(struct s3 *s, const char *dir, const char *object, int *rc)
{
	char cipher[65], got[65], tmp[4096];
	*rc = remote_sum(s, object, cipher);
	if (*rc)
		return -1;
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, object);
	struct fd_sink f = { mkstemp(tmp), EVP_MD_CTX_new() };
	if (f.fd < 0) {
		warn("cannot create a file in %s", dir);
		EVP_MD_CTX_free(f.sha);
		*rc = EX_CANTCREAT;
		return -1;
	}
	unlink(tmp); /* nothing is left behind, whatever happens */
	EVP_DigestInit_ex(f.sha, EVP_sha256(), NULL);
	*rc = s3_get(s, object, to_fd, &f, NULL);
	out_digest_hex(f.sha, got);
	EVP_MD_CTX_free(f.sha);
	if (!*rc && strcmp(got, cipher)) {
		warnx("%s: SHA-256 %.12s... is not that of its .sha256 (%.12s...): damaged; not kept",
		      s3_where(s, object), got, cipher);
		*rc = EX_DATAERR;
	}
	if (!*rc && lseek(f.fd, 0, SEEK_SET) < 0) {
		warn("cannot read back the downloaded copy");
		*rc = EX_IOERR;
	}
	if (*rc) {
		close(f.fd);
		return -1;
	}
	return f.fd;
}

/* gpg's output into the backup file. */
static int decrypt_into(struct out *o, int cipher_fd)
{
	struct gpg g;
	char chunk[1 << 16];
	ssize_t n;
	int rc = gpg_decrypt(&g, cipher_fd);
	close(cipher_fd);
	if (rc)
		return rc;
	while ((n = read(g.out, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warn("cannot read from gpg");
			rc = EX_IOERR;
			break;
		}
		out_write(o, chunk, (size_t)n);
	}
	int grc = gpg_finish(&g);
	return rc ? rc : grc;
}

static int pull(struct s3 *s, const char *dir, const struct remote_backup *b, cJSON *r)
{
	char object[ID_MAX + 32], stored[ID_MAX + 16], plain[65], hex[65], path[4096];
	struct out o;
	struct stat st;
	remote_object(b, object, sizeof object);
	/* the id under any of its names (<id>.json.zst too): one file per id */
	for (int i = 0; store_suffixes[i]; i++) {
		snprintf(path, sizeof path, "%s/%s%s", dir, b->id, store_suffixes[i]);
		if (lstat(path, &st) == 0) {
			warnx("%s: already in %s; remove it first to pull it again", b->id, dir);
			return EX_CANTCREAT;
		}
	}
	/* the name it was stored under where it was pushed from: the same file */
	remote_stored_name(b, stored, sizeof stored);
	snprintf(path, sizeof path, "%s/%s", dir, stored);
	int rc = remote_sum(s, stored, plain), fd = -1;
	if (!rc && b->encrypted)
		fd = fetch_encrypted(s, dir, object, &rc);
	if (!rc)
		rc = out_open_path(&o, path, 0); /* the bytes as pushed, compressed or not */
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	o.expect = plain; /* nothing lands unless it is the backup that was pushed */
	rc = b->encrypted ? decrypt_into(&o, fd) : s3_get(s, object, to_out, &o, NULL);
	if (rc) {
		out_discard(&o);
		return rc;
	}
	long long bytes = (long long)o.bytes;
	rc = out_finish(&o, hex);
	if (rc)
		return rc;
	cJSON_AddStringToObject(r, "id", b->id);
	cJSON_AddStringToObject(r, "path", path);
	cJSON_AddStringToObject(r, "source", s3_where(s, object));
	cJSON_AddNumberToObject(r, "size", (double)bytes);
	cJSON_AddStringToObject(r, "sha256", hex);
	cJSON_AddBoolToObject(r, "encrypted", b->encrypted);
	cJSON_AddStringToObject(r, "compression", remote_compression(b));
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	s3_interrupt();
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return 0;
		case 'V': puts("bk-pull " BK_VERSION); return 0;
		default: return usage_error("bk-pull");
		}
	}
	if (argc - optind != 1)
		return usage_error("bk-pull");
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	double t0 = prof_now();
	struct s3 *s = NULL;
	struct remote_backup b;
	const char *dir;
	int rc = config_load();
	if (!rc && !id_valid(argv[optind]) && !id_is_alias(argv[optind])) {
		warnx("%s: not a backup id (expected full_..., raffle_... or manual_..., letters, "
		      "digits, _ and - only) or alias",
		      argv[optind]);
		rc = EX_USAGE;
	}
	if (!rc)
		rc = store_dir(&dir);
	if (!rc)
		rc = s3_open(&s);
	if (!rc)
		rc = remote_resolve(s, argv[optind], &b);
	cJSON *r = cJSON_CreateObject();
	if (!rc)
		rc = pull(s, dir, &b, r);
	if (!rc) {
		cJSON_AddNumberToObject(r, "seconds", prof_now() - t0);
		char *line = cJSON_PrintUnformatted(r);
		puts(line);
		free(line);
	}
	cJSON_Delete(r);
	s3_close(s);
	return rc;
}
