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

#include "out.h"

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
 * Hashing and writing happen in a thread of their own, one buffer behind
 * the producer, so that converting rows and writing them overlap.
 */
struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct buf slot;	/* handed over, waiting to be written */
	bool full, stop;
};

static void write_slot(struct out *o, struct buf *b)
{
	EVP_DigestUpdate(o->sha, b->data, b->len);
	if (!o->error)
		o->error = write_all(o->fd, b->data, b->len);
	b->len = 0;
}

static void *writer_main(void *arg)
{
	struct out *o = arg;
	struct writer *w = o->writer;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->full && !w->stop)
			pthread_cond_wait(&w->changed, &w->lock);
		if (!w->full)
			break;
		pthread_mutex_unlock(&w->lock);
		write_slot(o, &w->slot);
		pthread_mutex_lock(&w->lock);
		w->full = false;
		pthread_cond_broadcast(&w->changed);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void flush(struct out *o)
{
	struct writer *w = o->writer;
	if (o->pending.len == 0)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->full)
		pthread_cond_wait(&w->changed, &w->lock);
	struct buf swap = w->slot;
	w->slot = o->pending;
	o->pending = swap;
	w->full = true;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
}

/* Waits for the writer to finish everything handed to it. */
static void writer_stop(struct out *o)
{
	struct writer *w = o->writer;
	if (!w)
		return;
	flush(o);
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->changed);
	buf_free(&w->slot);
	free(w);
	o->writer = NULL;
}

static void start(struct out *o, int fd)
{
	o->fd = fd;
	o->error = 0;
	o->expect = NULL;	/* set by the caller after opening */
	o->bytes = 0;
	o->pending = (struct buf){ 0 };
	buf_grow(&o->pending, FLUSH_AT + 4096);
	o->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(o->sha, EVP_sha256(), NULL);
	struct writer *w = calloc(1, sizeof *w);
	if (!w)
		err(70, "out of memory");
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	buf_grow(&w->slot, FLUSH_AT + 4096);
	o->writer = w;
	if (pthread_create(&w->thread, NULL, writer_main, o) != 0)
		err(70, "cannot start the writer thread");
}

int out_open_fd(struct out *o, int fd)
{
	o->dir = o->tmp_path = o->final_path = NULL;
	start(o, fd);
	return 0;
}

int out_open_file(struct out *o, const char *dir, const char *id)
{
	char *path;
	if (asprintf(&path, "%s/%s.json", dir, id) < 0)
		err(70, "out of memory");
	int rc = out_open_path(o, path);
	free(path);
	return rc;
}

int out_open_path(struct out *o, const char *path)
{
	char *copy = strdup(path), *slash;
	o->final_path = strdup(path);
	o->dir = strdup((slash = strrchr(copy, '/')) ? (*slash = '\0', *copy ? copy : "/") : ".");
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (asprintf(&o->tmp_path, "%s/.%s.tmp-XXXXXX", o->dir, base) < 0)
		err(70, "out of memory");
	free(copy);
	int fd = mkstemp(o->tmp_path);	/* mkstemp makes it 0600 */
	if (fd < 0) {
		warn("cannot create a backup file in %s", o->dir);
		free(o->dir);
		free(o->final_path);
		o->dir = o->final_path = NULL;
		free(o->tmp_path);
		o->tmp_path = NULL;
		return EX_CANTCREAT;
	}
	start(o, fd);
	return 0;
}

void out_write(struct out *o, const void *p, size_t n)
{
	o->bytes += n;
	buf_add(&o->pending, p, n);
	if (o->pending.len >= FLUSH_AT)
		flush(o);
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
		err(70, "out of memory");
	int fd = mkstemp(tmp), e = 0;
	if (fd < 0)
		e = errno;
	else {
		e = write_all(fd, data, n);
		if (!e && fsync(fd) < 0)
			e = errno;
		if (close(fd) < 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
		else
			e = fsync_dir(dirname(dcopy));
	}
	free(tmp);
	free(dcopy);
	errno = e;
	return e ? -1 : 0;
}

static void finish_hash(struct out *o, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(o->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
}

static int fail(struct out *o, const char *what, int e)
{
	errno = e;
	warn("%s %s", what, o->final_path ? o->final_path : o->tmp_path ? o->tmp_path : "output");
	out_discard(o);
	return EX_IOERR;
}

int out_finish(struct out *o, char *hex)
{
	writer_stop(o);
	finish_hash(o, hex);
	if (o->error)
		return fail(o, "cannot write", o->error);
	if (!o->tmp_path)	/* a stream: nothing to rename */
		return out_discard(o), 0;
	if (o->expect && strcmp(o->expect, hex)) {
		warnx("%s: SHA-256 %.12s... is not the expected %.12s...: not kept", o->final_path, hex,
		      o->expect);
		out_discard(o);
		return EX_DATAERR;
	}
	if (fsync(o->fd) < 0)
		return fail(o, "cannot sync", errno);
	if (close(o->fd) < 0) {
		o->fd = -1;
		return fail(o, "cannot close", errno);
	}
	o->fd = -1;
	if (rename(o->tmp_path, o->final_path) < 0)
		return fail(o, "cannot rename into place", errno);
	/* From here a failure must also take back the renamed file. */
	free(o->tmp_path);
	o->tmp_path = o->final_path;
	o->final_path = NULL;
	int e = fsync_dir(o->dir);
	if (e)
		return fail(o, "cannot sync the directory of", e);

	/* sha256sum -c format: the name relative to the directory */
	char *line, *sum_path, *base = strrchr(o->tmp_path, '/') + 1;
	if (asprintf(&line, "%s  %s\n", hex, base) < 0 ||
	    asprintf(&sum_path, "%s.sha256", o->tmp_path) < 0)
		err(70, "out of memory");
	int rc = write_file_atomic(sum_path, line, strlen(line));
	e = errno;
	free(line);
	free(sum_path);
	if (rc < 0) {
		errno = e;
		warn("cannot write the checksum file of %s", o->tmp_path);
		out_discard(o);
		return EX_IOERR;
	}
	free(o->tmp_path);	/* the backup stays: it is whole */
	o->tmp_path = NULL;
	out_discard(o);
	return 0;
}

void out_discard(struct out *o)
{
	writer_stop(o);
	if (o->tmp_path) {
		unlink(o->tmp_path);
		free(o->tmp_path);
		o->tmp_path = NULL;
	}
	if (o->fd > 2)
		close(o->fd);
	o->fd = -1;
	if (o->sha)
		EVP_MD_CTX_free(o->sha);
	o->sha = NULL;
	buf_free(&o->pending);
	free(o->dir);
	free(o->final_path);
	o->dir = o->final_path = NULL;
}
