/*
 * The output of a backup: buffered, hashed with SHA-256 as it goes, and,
 * for a file, written under a temporary name and only renamed into place
 * once it is whole and on disk (bk-backup(5)).
 */
#ifndef BK_OUT_H
#define BK_OUT_H

#include <stdint.h>

#include "buf.h"

struct out {
	int fd;
	int error;	       /* errno of the first failed write, or 0 */
	uint64_t bytes;	       /* bytes handed to out_write so far */
	uint64_t stored;       /* bytes written (compressed, when compressing); whole after out_finish */
	const char *zerror;    /* why compressing failed, or NULL */
	void *sha;	       /* EVP_MD_CTX */
	struct writer *writer; /* the thread that hashes and writes */
	char *dir, *tmp_path, *final_path;
	const char *expect; /* SHA-256 (hex) the file must have to be renamed into place, or NULL */
};

/*
 * zlevel: 0 writes the JSON as it is; 1 to 19 compresses it with zstd at
 * that level, in a thread of its own between the producer and the writer.
 * The SHA-256 is always of the bytes stored.
 */

/*
 * Starts writing <dir>/<id>.json (<id>.json.zst when compressing) through a
 * hidden temporary file (mode 0600).
 * Returns 0, or EX_CANTCREAT after saying why.
 */
int out_open_file(struct out *o, const char *dir, const char *id, int zlevel);

/* The same for any path: the temporary file goes in the path's directory. */
int out_open_path(struct out *o, const char *path, int zlevel);

/* Starts writing to an open descriptor (stdout, or a file named by -o). */
int out_open_fd(struct out *o, int fd, int zlevel);

/* ".json" or ".json.zst". */
const char *out_suffix(int zlevel);

/*
 * The compression to write with: choice ("zstd" or "none"; NULL: $BK_COMPRESS,
 * default none) at $BK_COMPRESS_LEVEL (1-19, default 3) into *zlevel.
 * Returns 0, or EX_USAGE after saying what is wrong.
 */
int out_compress_config(const char *choice, int *zlevel);

/* Buffers n bytes; a write error is remembered and reported by out_finish. */
void out_write(struct out *o, const void *p, size_t n);
void out_buf(struct out *o, struct buf *b); /* writes and empties b */

/*
 * Flushes; when o->expect is set and the digest differs, says so, removes
 * the temporary file and returns EX_DATAERR. Then fsyncs, renames the file into place, fsyncs the directory and
 * writes <id>.json.sha256 the same way. sha256_hex gets 65 bytes.
 * Returns 0, or EX_IOERR after saying what failed (the temporary file is
 * then removed: nothing that looks like a backup is left).
 */
int out_finish(struct out *o, char *sha256_hex);

/* Abandons the output: removes the temporary file. Safe after out_finish. */
void out_discard(struct out *o);

/*
 * Finishes a SHA-256 context (an EVP_MD_CTX, as struct out keeps it) into
 * 64 hex digits and a NUL: the one spelling of a backup's checksum.
 */
void out_digest_hex(void *sha, char *hex);

/* Writes data to path atomically (temp, fsync, rename, dir fsync), mode 0600. */
int write_file_atomic(const char *path, const void *data, size_t n);

#endif
