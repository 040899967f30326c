#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "fsafe.h"
#include "chunkq.h"
#include "config.h"
#include "out.h"
#include "profile.h"

#define FLUSH_AT (1 << 20)

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Writing happens in a thread of their own, a few buffers behind the
 * producer, so that converting rows and writing them overlap and a
 * moment's slowness of either side does not stall the other. The SHA-256
 * of the stored bytes is taken by the stage with time to spare: the
 * compressor when compressing; the writer when it writes directly (below:
 * it then costs little CPU, while converting rows is the producer's whole
 * time); otherwise the producer, as write(2) through the page cache is the
 * slowest stage of all.
 */
#define WRITE_SLOTS 4

/*
 * A backup file is written with O_DIRECT where the file system takes it:
 * through the page cache, writing costs more CPU than converting the rows
 * (on a 2-core machine the backup then waits on its own writes), and a
 * backup larger than the free memory would push the database's own pages
 * out of the cache. Direct writes must start at an aligned address and
 * offset and be a whole number of blocks, so the writer copies its chunks
 * into one aligned stage of DIRECT_STAGE bytes and writes it when full; the
 * last, partial block goes through the page cache once O_DIRECT is turned
 * off again. A file system that refuses (EINVAL) gets buffered writes.
 */
#define DIRECT_ALIGN 4096
#define DIRECT_STAGE (4 * FLUSH_AT)

struct writer {
	pthread_t thread;
	struct chunkq *queue; /* to the writer */
	struct buf *filling;  /* the producer's slot */
	/* Compressing: producer -> in -> the compressor thread -> queue. */
	struct chunkq *in;
	pthread_t zthread;
	ZSTD_CCtx *cctx;
	const char *zerror; /* the compressor's first error, or NULL */
	void *sha;	    /* the out's EVP_MD_CTX */
	bool direct;	    /* the file is open with O_DIRECT */
	char *stage;	    /* direct: DIRECT_STAGE aligned bytes */
	size_t staged;	    /* direct: bytes in stage */
	bool hashes;	    /* the writer hashes (plain, direct) */
};

/* The stored bytes of b into the checksum, in the order they are written. */
static void hash_slot(struct writer *w, const struct buf *b)
{
	double since = prof_now();
	EVP_DigestUpdate(w->sha, b->data, b->len);
	prof_add(PROF_HASH, since);
}

/* Back to the page cache, for the tail or for a file system that refused. */
static void direct_off(struct out *o)
{
	int flags = fcntl(o->fd, F_GETFL);
	if (flags >= 0)
		fcntl(o->fd, F_SETFL, flags & ~O_DIRECT);
	o->writer->direct = false;
}

/*
 * Writes n bytes (direct: aligned, a multiple of DIRECT_ALIGN). EINVAL from
 * a direct write means nothing was written and the file system wants no
 * O_DIRECT (or other alignment): the rest goes through the page cache.
 */
static int write_stored(struct out *o, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINVAL && o->writer->direct) {
			direct_off(o);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Direct: the whole blocks of the stage; at the end (last) the rest too. */
static void write_stage(struct out *o, bool last)
{
	struct writer *w = o->writer;
	size_t whole = w->direct ? w->staged / DIRECT_ALIGN * DIRECT_ALIGN : w->staged;
	if (!o->error)
		o->error = write_stored(o, w->stage, whole);
	memmove(w->stage, w->stage + whole, w->staged - whole);
	w->staged -= whole;
	if (last && w->staged) {
		direct_off(o);
		if (!o->error)
			o->error = write_stored(o, w->stage, w->staged);
		w->staged = 0;
	}
}

static void write_slot(struct out *o, const struct buf *b)
{
	struct writer *w = o->writer;
	bool direct = w->direct;
	double since = prof_now();
	if (!w->stage) {
		if (!o->error)
			o->error = write_stored(o, b->data, b->len);
	} else
		for (size_t done = 0; done < b->len;) {
			size_t take = b->len - done < DIRECT_STAGE - w->staged ? b->len - done
									       : DIRECT_STAGE - w->staged;
			memcpy(w->stage + w->staged, b->data + done, take);
			w->staged += take;
			done += take;
			if (w->staged == DIRECT_STAGE)
				write_stage(o, false);
		}
	prof_add(PROF_WRITE, since);
	if (direct && w->direct)
		prof_add(PROF_DIRECT, since);
}

/*
 * Starts the disk writing what the last WRITEBACK_AT bytes left in the page
 * cache, without waiting for it, so that the fsync at the end has little
 * left to do. A pipe or a terminal refuses, which changes nothing.
 */
#define WRITEBACK_AT (8 << 20)

static void *writer_main(void *arg)
{
	struct out *o = arg;
	const struct buf *chunk;
	uint64_t started = 0; /* written back from 0 to here */
	while ((chunk = chunkq_next(o->writer->queue, NULL))) {
		if (o->writer->hashes)
			hash_slot(o->writer, chunk);
		write_slot(o, chunk);
		o->stored += chunk->len;
		if (o->stored - started >= WRITEBACK_AT && !o->error && !o->writer->direct) {
			sync_file_range(o->fd, (off_t)started, (off_t)(o->stored - started),
					SYNC_FILE_RANGE_WRITE);
			started = o->stored;
		}
	}
	if (o->writer->stage) {
		double since = prof_now();
		write_stage(o, true);
		prof_add(PROF_WRITE, since);
	}
	return NULL;
}

/*
 * Compresses in into the writer's slots (*dst, handed on at FLUSH_AT) with
 * mode: ZSTD_e_continue, or ZSTD_e_end to close the frame.
 */
static void compress_into(struct writer *w, struct buf **dst, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	size_t left;
	do {
		struct buf *b = *dst;
		if (b->cap - b->len < ZSTD_CStreamOutSize())
			buf_grow(b, ZSTD_CStreamOutSize());
		ZSTD_outBuffer out = { b->data, b->cap, b->len };
		left = ZSTD_compressStream2(w->cctx, &out, in, mode);
		b->len = out.pos;
		if (ZSTD_isError(left)) {
			if (!w->zerror)
				w->zerror = ZSTD_getErrorName(left);
			return;
		}
		if (b->len >= FLUSH_AT) {
			hash_slot(w, b);
			chunkq_publish(w->queue, false);
			*dst = chunkq_slot(w->queue);
		}
	} while (mode == ZSTD_e_end ? left != 0 : in->pos < in->size);
}

/*
 * The compressor: a stage of its own between the producer and the hashing
 * writer, so that compressing costs wall time only where a core is free.
 * After an error it still drains its input, so the producer never blocks.
 */
static void *compressor_main(void *arg)
{
	struct writer *w = arg;
	struct buf *dst = chunkq_slot(w->queue);
	const struct buf *chunk;
	while ((chunk = chunkq_next(w->in, NULL))) {
		ZSTD_inBuffer in = { chunk->data, chunk->len, 0 };
		if (!w->zerror)
			compress_into(w, &dst, &in, ZSTD_e_continue);
	}
	ZSTD_inBuffer none = { NULL, 0, 0 };
	if (!w->zerror)
		compress_into(w, &dst, &none, ZSTD_e_end);
	hash_slot(w, dst);
	chunkq_publish(w->queue, true);
	return NULL;
}

static void flush(struct out *o, bool last)
{
	struct writer *w = o->writer;
	struct chunkq *q = w->in ? w->in : w->queue;
	if (!w->in && !w->hashes) /* plain: these are the stored bytes */
		hash_slot(w, w->filling);
	prof_add_seconds(PROF_OUT_WAIT, chunkq_publish(q, last));
	w->filling = last ? NULL : chunkq_slot(q);
}

/* Waits for the writer to finish everything handed to it. */
static void writer_stop(struct out *o)
{
	struct writer *w = o->writer;
	if (!w)
		return;
	flush(o, true);
	if (w->in) {
		pthread_join(w->zthread, NULL);
		chunkq_free(w->in);
		ZSTD_freeCCtx(w->cctx);
	}
	pthread_join(w->thread, NULL);
	chunkq_free(w->queue);
	free(w->stage);
	if (w->zerror && !o->error)
		o->zerror = w->zerror;
	free(w);
	o->writer = NULL;
}

/* A zstd context at level, writing a checksum in the frame. */
static ZSTD_CCtx *new_cctx(int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (!c || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))
		errx(70, "cannot set up zstd compression at level %d", level);
	return c;
}

/*
 * O_DIRECT on fd unless BK_DIRECT_IO=no; false where the file system does
 * not take it (tmpfs on older kernels, some FUSE and network ones).
 */
static bool direct_on(int fd)
{
	const char *choice = config_get("BK_DIRECT_IO", "yes");
	static const char *const off[] = { "no", "0", "off", "false", NULL };
	for (int i = 0; off[i]; i++)
		if (!strcmp(choice, off[i]))
			return false;
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
}

static void start(struct out *o, int fd, int zlevel, bool direct)
{
	o->fd = fd;
	o->error = 0;
	o->zerror = NULL;
	o->expect = NULL; /* set by the caller after opening */
	o->bytes = o->stored = 0;
	o->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(o->sha, EVP_sha256(), NULL);
	struct writer *w = calloc(1, sizeof *w);
	if (!w || !(w->queue = chunkq_new(WRITE_SLOTS)) || (zlevel && !(w->in = chunkq_new(WRITE_SLOTS))))
		err(EX_SOFTWARE, "out of memory");
	w->filling = chunkq_slot(w->in ? w->in : w->queue);
	buf_grow(w->filling, FLUSH_AT);
	w->sha = o->sha;
	w->direct = direct;
	w->hashes = direct && !zlevel;
	if (direct && posix_memalign((void **)&w->stage, DIRECT_ALIGN, DIRECT_STAGE))
		err(EX_SOFTWARE, "out of memory");
	o->writer = w;
	if (pthread_create(&w->thread, NULL, writer_main, o) != 0)
		err(EX_SOFTWARE, "cannot start the writer thread");
	if (zlevel) {
		w->cctx = new_cctx(zlevel);
		if (pthread_create(&w->zthread, NULL, compressor_main, w) != 0)
			err(EX_SOFTWARE, "cannot start the compressor thread");
	}
}

int out_open_fd(struct out *o, int fd, int zlevel)
{
	o->dir = o->tmp_path = o->final_path = NULL;
	start(o, fd, zlevel, false); /* not ours: its flags stay as they are */
	return 0;
}

int out_open_file(struct out *o, const char *dir, const char *id, int zlevel)
{
	char *path;
	if (asprintf(&path, "%s/%s%s", dir, id, out_suffix(zlevel)) < 0)
		err(EX_SOFTWARE, "out of memory");
	int rc = out_open_path(o, path, zlevel);
	free(path);
	return rc;
}

const char *out_suffix(int zlevel)
{
	return zlevel ? ".json.zst" : ".json";
}

int out_compress_config(const char *choice, int *zlevel)
{
	long level;
	if (!choice)
		choice = config_get("BK_COMPRESS", "none");
	if (config_get_long("BK_COMPRESS_LEVEL", 3, 1, 19, &level))
		return EX_USAGE;
	if (!strcmp(choice, "zstd"))
		*zlevel = (int)level;
	else if (!strcmp(choice, "none"))
		*zlevel = 0;
	else {
		warnx("compression '%s' is not known: use zstd or none (BK_COMPRESS, --compress)", choice);
		return EX_USAGE;
	}
	return 0;
}

int out_open_path(struct out *o, const char *path, int zlevel)
{
	char *copy = strdup(path), *slash;
	o->final_path = strdup(path);
	o->dir = strdup((slash = strrchr(copy, '/')) ? (*slash = '\0', *copy ? copy : "/") : ".");
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (asprintf(&o->tmp_path, "%s/.%s.tmp-XXXXXX", o->dir, base) < 0)
		err(EX_SOFTWARE, "out of memory");
	free(copy);
	int fd = mkstemp(o->tmp_path); /* mkstemp makes it 0600 */
	if (fd >= 0)
		fsafe_tmp_track(o->tmp_path);
	if (fd >= 0 && fsafe_give(fd, o->dir) < 0) {
		close(fd);
		unlink(o->tmp_path);
		fsafe_tmp_untrack(o->tmp_path);
		fd = -1;
		errno = EPERM;
	}
	if (fd < 0) {
		warn("cannot create a backup file in %s", ESC(o->dir));
		free(o->dir);
		free(o->final_path);
		o->dir = o->final_path = NULL;
		free(o->tmp_path);
		o->tmp_path = NULL;
		return EX_CANTCREAT;
	}
	start(o, fd, zlevel, direct_on(fd));
	return 0;
}

/* In pieces of at most FLUSH_AT, so that a huge value costs no slot more than that. */
void out_write(struct out *o, const void *p, size_t n)
{
	const char *bytes = p;
	o->bytes += n;
	while (n > 0) {
		struct buf *b = o->writer->filling;
		size_t room = FLUSH_AT - b->len, take = n < room ? n : room;
		buf_add(b, bytes, take);
		bytes += take;
		n -= take;
		if (b->len >= FLUSH_AT)
			flush(o, false);
	}
}

void out_buf(struct out *o, struct buf *b)
{
	out_write(o, b->data, b->len);
	b->len = 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) < 0 ? errno : 0;
	close(fd);
	return rc;
}

int write_file_atomic(const char *path, const void *data, size_t n)
{
	char *tmp, *dcopy = strdup(path);
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0 || !dcopy)
		err(EX_SOFTWARE, "out of memory");
	int fd = mkstemp(tmp), e = 0;
	if (fd < 0)
		e = errno;
	else {
		fsafe_tmp_track(tmp);
		char *dir = strdup(path);
		e = fsafe_give(fd, dirname(dir)) < 0 ? EPERM : 0;
		free(dir);
		if (!e)
			e = write_all(fd, data, n);
		if (!e && fsync(fd) < 0)
			e = errno;
		if (close(fd) < 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
		fsafe_tmp_untrack(tmp); /* renamed or removed: after, so no moment is unguarded */
		if (!e)
			e = fsync_dir(dirname(dcopy));
	}
	free(tmp);
	free(dcopy);
	errno = e;
	return e ? -1 : 0;
}

void out_digest_hex(void *sha, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
}

static int fail(struct out *o, const char *what, int e)
{
	errno = e;
	warn("%s %s", what, ESC(o->final_path ? o->final_path : o->tmp_path ? o->tmp_path : "output"));
	out_discard(o);
	return EX_IOERR;
}

int out_finish(struct out *o, char *hex)
{
	writer_stop(o);
	out_digest_hex(o->sha, hex);
	if (o->error)
		return fail(o, "cannot write", o->error);
	if (o->zerror) {
		warnx("cannot compress %s: %s", o->final_path ? o->final_path : "the output", o->zerror);
		out_discard(o);
		return EX_IOERR;
	}
	if (!o->tmp_path) /* a stream: nothing to rename */
		return out_discard(o), 0;
	if (o->expect && strcmp(o->expect, hex)) {
		warnx("%s: SHA-256 %.12s... is not the expected %.12s...: not kept", o->final_path, hex,
		      o->expect);
		out_discard(o);
		return EX_DATAERR;
	}
	double since = prof_now();
	if (fsync(o->fd) < 0)
		return fail(o, "cannot sync", errno);
	prof_add(PROF_SYNC, since);
	if (close(o->fd) < 0) {
		o->fd = -1;
		return fail(o, "cannot close", errno);
	}
	o->fd = -1;
	if (rename(o->tmp_path, o->final_path) < 0)
		return fail(o, "cannot rename into place", errno);
	/* From here a failure must also take back the renamed file. */
	fsafe_tmp_untrack(o->tmp_path);
	free(o->tmp_path);
	o->tmp_path = o->final_path;
	o->final_path = NULL;
	since = prof_now();
	int e = fsync_dir(o->dir);
	prof_add(PROF_SYNC, since);
	if (e)
		return fail(o, "cannot sync the directory of", e);

	/* sha256sum -c format: the name relative to the directory */
	/* -o NAME: a name without a directory part has no '/' */
	char *line, *sum_path, *slash = strrchr(o->tmp_path, '/');
	const char *base = slash ? slash + 1 : o->tmp_path;
	if (asprintf(&line, "%s  %s\n", hex, base) < 0 || asprintf(&sum_path, "%s.sha256", o->tmp_path) < 0)
		err(EX_SOFTWARE, "out of memory");
	int rc = write_file_atomic(sum_path, line, strlen(line));
	e = errno;
	free(line);
	free(sum_path);
	if (rc < 0) {
		errno = e;
		warn("cannot write the checksum file of %s", ESC(o->tmp_path));
		out_discard(o);
		return EX_IOERR;
	}
	free(o->tmp_path); /* the backup stays: it is whole */
	o->tmp_path = NULL;
	out_discard(o);
	return 0;
}

void out_discard(struct out *o)
{
	writer_stop(o);
	if (o->tmp_path) {
		unlink(o->tmp_path);
		fsafe_tmp_untrack(o->tmp_path);
		free(o->tmp_path);
		o->tmp_path = NULL;
	}
	if (o->fd > 2)
		close(o->fd);
	o->fd = -1;
	if (o->sha)
		EVP_MD_CTX_free(o->sha);
	o->sha = NULL;
	free(o->dir);
	free(o->final_path);
	o->dir = o->final_path = NULL;
}
