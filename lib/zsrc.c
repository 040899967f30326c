#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "zsrc.h"

#define IN_SIZE (128 * 1024)
#define ZSTD_WINDOW_LOG_MAX 24 /* 16 MB: level 19 uses 8 MB at most */

void zsrc_init_fd(struct zsrc *z, int fd)
{
	*z = (struct zsrc){ .fd = fd, .kind = ZSRC_UNKNOWN };
	z->in = malloc(IN_SIZE);
	if (!z->in)
		abort();
}

void zsrc_init_mem(struct zsrc *z, const void *p, size_t n)
{
	*z = (struct zsrc){ .fd = -1, .mem = p, .mem_len = n, .kind = ZSRC_UNKNOWN };
}

void zsrc_free(struct zsrc *z)
{
	ZSTD_freeDCtx(z->zd);
	if (z->gz) {
		inflateEnd(z->gz);
		free(z->gz);
	}
	if (z->fd >= 0)
		free(z->in);
	z->zd = z->gz = NULL;
	z->in = NULL;
}

int zsrc_sniff(const void *p, size_t n)
{
	const unsigned char *b = p;
	if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return ZSRC_ZSTD;
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return ZSRC_GZIP;
	return ZSRC_PLAIN;
}

const char *zsrc_kind_name(int kind)
{
	return kind == ZSRC_ZSTD ? "zstd" : kind == ZSRC_GZIP ? "gzip" : "json";
}

static void got(struct zsrc *z, const unsigned char *p, size_t n)
{
	z->stored += n;
	if (n && z->feed)
		z->feed(z->feed_ctx, p, n);
}

/* Reads stored bytes into the input buffer after what is there: -1, 0 at the end, or more. */
static ssize_t fill(struct zsrc *z)
{
	if (z->in_eof)
		return 0;
	if (z->fd < 0) { /* memory: the whole input is the buffer */
		z->in = (unsigned char *)z->mem;
		z->in_len = z->mem_len;
		z->in_eof = true;
		got(z, z->in, z->in_len);
		return (ssize_t)z->in_len;
	}
	if (z->in_pos == z->in_len)
		z->in_pos = z->in_len = 0;
	ssize_t n;
	do
		n = read(z->fd, z->in + z->in_len, IN_SIZE - z->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		z->io_errno = errno;
		snprintf(z->error, sizeof z->error, "read error: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		z->in_eof = true;
	got(z, z->in + z->in_len, (size_t)n);
	z->in_len += (size_t)n;
	return n;
}

__attribute__((format(printf, 2, 3))) static ssize_t bad(struct zsrc *z, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(z->error, sizeof z->error, fmt, ap);
	va_end(ap);
	return -1;
}

/* The kind from the first 4 bytes (fewer only at the end of the input). */
static int sniff(struct zsrc *z)
{
	while (z->in_len - z->in_pos < 4 && !z->in_eof)
		if (fill(z) < 0)
			return -1;
	z->kind = zsrc_sniff(z->in + z->in_pos, z->in_len - z->in_pos);
	z->frame_open = z->kind != ZSRC_PLAIN;
	if (z->kind == ZSRC_ZSTD) {
		if (!(z->zd = ZSTD_createDCtx()))
			abort();
		ZSTD_DCtx_setParameter(z->zd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	} else if (z->kind == ZSRC_GZIP) {
		z_stream *s = calloc(1, sizeof *s);
		if (!s || inflateInit2(s, 16 + MAX_WBITS) != Z_OK) /* gzip only */
			abort();
		z->gz = s;
	}
	return 0;
}

static ssize_t read_plain(struct zsrc *z, void *dst, size_t n)
{
	if (z->in_pos < z->in_len) { /* what sniffing read ahead */
		size_t k = z->in_len - z->in_pos < n ? z->in_len - z->in_pos : n;
		memcpy(dst, z->in + z->in_pos, k);
		z->in_pos += k;
		return (ssize_t)k;
	}
	if (z->in_eof || z->fd < 0)
		return 0;
	ssize_t k;
	do
		k = read(z->fd, dst, n);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		z->io_errno = errno;
		return bad(z, "read error: %s", strerror(errno));
	}
	if (k == 0)
		z->in_eof = true;
	got(z, dst, (size_t)k);
	return k;
}

/* One step of zstd: bytes out (maybe 0), or -1. */
static ssize_t step_zstd(struct zsrc *z, void *dst, size_t n)
{
	ZSTD_outBuffer out = { dst, n, 0 };
	ZSTD_inBuffer in = { z->in, z->in_len, z->in_pos };
	size_t left = ZSTD_decompressStream(z->zd, &out, &in);
	z->in_pos = in.pos;
	if (ZSTD_isError(left)) {
		if (ZSTD_getErrorCode(left) == ZSTD_error_frameParameter_windowTooLarge)
			bad(z,
			    "zstd data needs a window over %d MB (made with --long or "
			    "--ultra?): recompress at level 19 or below",
			    1 << (ZSTD_WINDOW_LOG_MAX - 20));
		else
			bad(z, "corrupt zstd data at stored byte %llu: %s",
			    (unsigned long long)(z->stored - (z->in_len - z->in_pos)),
			    ZSTD_getErrorName(left));
		return out.pos ? (ssize_t)out.pos : -1; /* the error comes with the next read */
	}
	z->frame_open = left != 0;
	return (ssize_t)out.pos;
}

static ssize_t step_gzip(struct zsrc *z, void *dst, size_t n)
{
	z_stream *s = z->gz;
	if (z->gz_reset) { /* a member follows the last: gzip -dc reads them all */
		inflateReset(s);
		z->gz_reset = false;
		z->frame_open = true;
	}
	s->next_in = z->in + z->in_pos;
	s->avail_in = (uInt)(z->in_len - z->in_pos);
	s->next_out = dst;
	s->avail_out = (uInt)(n > (1u << 30) ? 1u << 30 : n);
	int rc = inflate(s, Z_NO_FLUSH);
	z->in_pos = z->in_len - s->avail_in;
	ssize_t made = (ssize_t)((unsigned char *)s->next_out - (unsigned char *)dst);
	if (rc == Z_STREAM_END) {
		z->frame_open = false;
		z->gz_reset = true;
	} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
		bad(z, "corrupt gzip data: %s", s->msg ? s->msg : "inflate failed");
		return made ? made : -1; /* what came before the damage first, like any reader */
	}
	return made;
}

static ssize_t read_compressed(struct zsrc *z, void *dst, size_t n)
{
	for (;;) {
		if (z->in_pos == z->in_len && fill(z) < 0)
			return -1;
		bool starved = z->in_pos == z->in_len; /* and nothing more to read */
		if (starved && !z->frame_open)
			return 0;
		ssize_t made = z->kind == ZSRC_ZSTD ? step_zstd(z, dst, n) : step_gzip(z, dst, n);
		if (made != 0)
			return made;
		if (starved && z->frame_open)
			return bad(z, "truncated %s data: the file ends inside a compressed frame",
				   zsrc_kind_name(z->kind));
	}
}

ssize_t zsrc_read(struct zsrc *z, void *dst, size_t n)
{
	if (z->error[0])
		return -1;
	if (z->kind == ZSRC_UNKNOWN && sniff(z) < 0)
		return -1;
	if (n == 0)
		return 0;
	return z->kind == ZSRC_PLAIN ? read_plain(z, dst, n) : read_compressed(z, dst, n);
}

void zsrc_drain(struct zsrc *z)
{
	if (z->io_errno)
		return;
	z->in_pos = z->in_len;
	while (!z->in_eof && fill(z) > 0)
		z->in_pos = z->in_len;
}
