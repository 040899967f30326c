/*
 * LD_PRELOAD shim for the disk-full tests (tests/faults.bats): write() to a
 * regular file fails with ENOSPC once BK_ENOSPC_AFTER bytes have gone to
 * regular files in this process, as on a full filesystem (the write that
 * crosses the limit is short, the next one fails). Pipes, terminals and
 * sockets (stdout, stderr, PostgreSQL, Redis) are left alone, so only the
 * backup and its checksum file run out of space. Without BK_ENOSPC_AFTER
 * the shim does nothing. fwrite() is counted too, for bk-export writes its
 * CSV through stdio, whose own write() calls are glibc's internal ones and
 * not seen here: a refused fwrite() accepts nothing, as stdio does once its
 * buffer cannot be flushed.
 *
 *     cc -shared -fPIC -o enospc.so tests/shim/enospc.c -ldl
 *     LD_PRELOAD=./enospc.so BK_ENOSPC_AFTER=1048576 bk-dump
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long limit = -2; /* -2: not read yet; -1: no limit */
static long long used;	     /* bytes written to regular files; atomic */

static long long get_limit(void)
{
	long long l = __atomic_load_n(&limit, __ATOMIC_ACQUIRE);
	if (l == -2) {
		const char *s = getenv("BK_ENOSPC_AFTER");
		char *end;
		l = s && *s ? strtoll(s, &end, 10) : -1;
		if (l < -1 || (s && *s && *end))
			l = -1;
		__atomic_store_n(&limit, l, __ATOMIC_RELEASE);
	}
	return l;
}

/* How many of n bytes to fd may be written: n, fewer, or 0 (full). */
static size_t room(int fd, size_t n)
{
	long long l = get_limit();
	struct stat st;
	if (l < 0 || n == 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return n;
	long long before = __atomic_fetch_add(&used, (long long)n, __ATOMIC_ACQ_REL);
	if (before >= l)
		return 0;
	return before + (long long)n > l ? (size_t)(l - before) : n;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	size_t k = room(fd, n);
	if (k == 0 && n > 0) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, buf, k);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	size_t k = room(fd, n);
	if (k == 0 && n > 0) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, buf, k, off);
}

/* writev: all or nothing is enough here (nothing in bk writes a file with it
 * today; this only keeps a future use from slipping past the shim). */
ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	if (!real)
		real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	if (room(fd, n) < n) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, iov, cnt);
}

size_t fwrite(const void *p, size_t size, size_t nmemb, FILE *f)
{
	static size_t (*real)(const void *, size_t, size_t, FILE *);
	if (!real)
		real = (size_t(*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
	size_t n = size * nmemb;
	if (room(fileno(f), n) < n) {
		errno = ENOSPC;
		return 0;
	}
	return real(p, size, nmemb, f);
}
