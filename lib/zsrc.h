/*
 * The bytes of a backup as JSON, whatever it is stored as: plain, zstd
 * (<id>.json.zst) or gzip (a user-made .json.gz). The kind is told by the
 * first bytes, never by the name, so stdin works the same. Memory is bounded:
 * one input buffer, and a zstd window of at most 16 MB (what levels 1 to 19
 * use); a frame that needs more is refused.
 */
#ifndef BK_ZSRC_H
#define BK_ZSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum zsrc_kind { ZSRC_UNKNOWN = -1, ZSRC_PLAIN, ZSRC_ZSTD, ZSRC_GZIP };

struct zsrc {
	int fd; /* or -1: reading mem */
	const unsigned char *mem;
	size_t mem_len;
	int kind;	   /* enum zsrc_kind, told by the first bytes */
	unsigned char *in; /* stored bytes read, not yet decoded */
	size_t in_len, in_pos;
	bool in_eof;
	bool frame_open; /* inside a zstd frame or gzip member */
	bool gz_reset;	 /* a gzip member ended: the next starts afresh */
	void *zd, *gz;	 /* ZSTD_DCtx, z_stream */
	uint64_t stored; /* stored bytes read so far */
	/* called with every stored byte, in order (to hash the file as stored) */
	void (*feed)(void *ctx, const void *p, size_t n);
	void *feed_ctx;
	int io_errno;	 /* read(2) failed */
	char error[200]; /* why the stored bytes cannot be decoded */
};

/* Reads fd (not closed by zsrc_free). */
void zsrc_init_fd(struct zsrc *z, int fd);
/* Reads n stored bytes at p (which must stay valid). */
void zsrc_init_mem(struct zsrc *z, const void *p, size_t n);
void zsrc_free(struct zsrc *z);

/*
 * Up to n bytes of JSON into dst: the count, 0 at the end of a whole input,
 * -1 on error (io_errno for a failed read, else error says what is wrong
 * with the data: truncated or corrupt compressed data).
 */
ssize_t zsrc_read(struct zsrc *z, void *dst, size_t n);

/* Reads the rest of the stored bytes without decoding them, still feeding them. */
void zsrc_drain(struct zsrc *z);

/* The kind of n stored bytes starting with p (n may be short). */
int zsrc_sniff(const void *p, size_t n);

/* "json", "zstd", "gzip". */
const char *zsrc_kind_name(int kind);

#endif
