/* Unit tests of the decompressing source (lib/zsrc.c): the kinds told by
 * their bytes, several zstd frames and gzip members, reads of one byte,
 * every stored byte fed, truncation and damage refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "zsrc.h"

#include "check.h"

static void count(void *ctx, const void *p, size_t n)
{
	(void)p;
	*(size_t *)ctx += n;
}

/* Reads everything from a descriptor holding stored, chunk bytes at a time:
 * the bytes into out (up to cap), -1 on error (why in err). */
static long read_all(const void *stored, size_t n, size_t chunk, char *out, size_t cap, size_t *fed,
		     char *err, size_t errlen)
{
	int fd = memfd_create("zsrc_test", 0);
	if (fd < 0 || write(fd, stored, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	struct zsrc z;
	zsrc_init_fd(&z, fd);
	*fed = 0;
	z.feed = count;
	z.feed_ctx = fed;
	size_t got = 0;
	ssize_t k;
	while ((k = zsrc_read(&z, out + got, chunk < cap - got ? chunk : cap - got)) > 0)
		got += (size_t)k;
	if (k < 0) {
		snprintf(err, errlen, "%s", z.error);
		zsrc_drain(&z);
	}
	zsrc_free(&z);
	close(fd);
	return k < 0 ? -1 : (long)got;
}

static size_t zstd_of(const char *s, char *out, size_t cap)
{
	return ZSTD_compress(out, cap, s, strlen(s), 3);
}

static size_t gzip_of(const char *s, char *out, size_t cap)
{
	z_stream zs = { 0 };
	deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (unsigned char *)s;
	zs.avail_in = (uInt)strlen(s);
	zs.next_out = (unsigned char *)out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	size_t n = cap - zs.avail_out;
	deflateEnd(&zs);
	return n;
}

int main(void)
{
	const char *a = "{\"metadata\":{\"id\":\"full_1\"},", *b = "\"data\":{}}";
	char whole[128], stored[1024], out[256], err[256];
	size_t fed;
	snprintf(whole, sizeof whole, "%s%s", a, b);
	size_t wl = strlen(whole);

	/* plain, with reads of one byte */
	long n = read_all(whole, wl, 1, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n == (long)wl && !memcmp(out, whole, wl) && fed == wl, "plain: %ld", n);

	/* two zstd frames back to back read as one stream */
	size_t s1 = zstd_of(a, stored, sizeof stored);
	size_t s2 = zstd_of(b, stored + s1, sizeof stored - s1);
	CHECKF(zsrc_sniff(stored, s1 + s2) == ZSRC_ZSTD, "zstd sniffed");
	for (size_t chunk = 1; chunk <= 64; chunk *= 4) {
		n = read_all(stored, s1 + s2, chunk, out, sizeof out, &fed, err, sizeof err);
		CHECKF(n == (long)wl && !memcmp(out, whole, wl) && fed == s1 + s2,
		       "zstd frames, reads of %zu: %ld %s", chunk, n, n < 0 ? err : "");
	}
	/* cut anywhere inside: refused as truncated, every stored byte still fed */
	for (size_t cut = 4; cut < s1 + s2; cut++) { /* under 4 bytes: no magic, plain */
		if (cut == s1)
			continue; /* a whole first frame is a valid, shorter stream */
		n = read_all(stored, cut, 7, out, sizeof out, &fed, err, sizeof err);
		CHECKF(n < 0 && fed == cut, "zstd cut at %zu: %ld fed %zu", cut, n, fed);
	}
	n = read_all(stored, s1 + 3, 7, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n < 0 && strstr(err, "truncated"), "zstd truncated: %s", err);
	/* garbage after the last frame */
	memcpy(stored + s1 + s2, "junk", 4);
	n = read_all(stored, s1 + s2 + 4, 64, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n < 0 && strstr(err, "zstd"), "zstd trailing junk: %s", err);

	/* gzip: two members, like cat a.gz b.gz */
	s1 = gzip_of(a, stored, sizeof stored);
	s2 = gzip_of(b, stored + s1, sizeof stored - s1);
	CHECKF(zsrc_sniff(stored, s1) == ZSRC_GZIP, "gzip sniffed");
	n = read_all(stored, s1 + s2, 3, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n == (long)wl && !memcmp(out, whole, wl) && fed == s1 + s2, "gzip members: %ld %s", n,
	       n < 0 ? err : "");
	n = read_all(stored, s1 + s2 - 5, 3, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n < 0 && strstr(err, "truncated"), "gzip truncated: %s", err);
	stored[s1 / 2] ^= 0x55;
	n = read_all(stored, s1, 64, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n < 0, "gzip damaged: %ld", n);

	/* empty input and fewer bytes than a magic number are plain */
	n = read_all("", 0, 8, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n == 0, "empty: %ld", n);
	n = read_all("\x28\xb5", 2, 8, out, sizeof out, &fed, err, sizeof err);
	CHECKF(n == 2, "two bytes of a zstd magic are plain: %ld", n);

	return check_done("zsrc");
}
