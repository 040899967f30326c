/*
 * LD_PRELOAD shim for the direct I/O tests (tests/faults.bats): a file
 * system that does not take O_DIRECT, the way some FUSE and network file
 * systems behave. BK_NODIRECT_AFTER=open makes fcntl(F_SETFL) refuse
 * O_DIRECT with EINVAL; BK_NODIRECT_AFTER=N lets N bytes of direct writes
 * through and then fails every write on a descriptor with O_DIRECT set with
 * EINVAL, writing nothing, as Linux does for a direct write the file system
 * cannot do. Without BK_NODIRECT_AFTER the shim does nothing.
 *
 *     cc -shared -fPIC -o nodirect.so tests/shim/nodirect.c -ldl
 *     LD_PRELOAD=./nodirect.so BK_NODIRECT_AFTER=1048576 bk-dump
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long long direct_written; /* atomic */

/* -1: no shim; -2: refuse the flag itself; else the bytes let through */
static long long limit(void)
{
	const char *s = getenv("BK_NODIRECT_AFTER");
	char *end;
	if (!s || !*s)
		return -1;
	if (!strcmp(s, "open"))
		return -2;
	long long n = strtoll(s, &end, 10);
	return *end || n < 0 ? -1 : n;
}

int fcntl(int fd, int cmd, ...)
{
	static int (*real)(int, int, ...);
	if (!real)
		real = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long); /* every command bk uses takes an int or none */
	va_end(ap);
	if (cmd == F_SETFL && (arg & O_DIRECT) && limit() == -2) {
		errno = EINVAL;
		return -1;
	}
	return real(fd, cmd, arg);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	long long l = limit();
	if (l >= 0 && n > 0) {
		int flags = fcntl(fd, F_GETFL);
		if (flags >= 0 && (flags & O_DIRECT) &&
		    __atomic_add_fetch(&direct_written, (long long)n, __ATOMIC_ACQ_REL) > l) {
			errno = EINVAL;
			return -1;
		}
	}
	return real(fd, buf, n);
}
