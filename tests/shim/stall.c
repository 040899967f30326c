/*
 * LD_PRELOAD shim for the signal tests (tests/hostile.bats): the first
 * write() to a file whose path contains ".tmp-" (a backup or checksum being
 * written) creates the file named by BK_STALL_MARK and then never returns,
 * so that a test can send a signal while a temporary file certainly exists,
 * without guessing with sleep. Without BK_STALL_MARK the shim does nothing.
 *
 *     cc -shared -fPIC -o stall.so tests/shim/stall.c -ldl
 *     LD_PRELOAD=./stall.so BK_STALL_MARK=/tmp/mark bk-dump
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int is_temp(int fd)
{
	char link[64], path[4096];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strstr(path, ".tmp-") != NULL;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	const char *mark = getenv("BK_STALL_MARK");
	if (mark && *mark && is_temp(fd)) {
		int m = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (m >= 0)
			close(m);
		for (;;)
			pause();
	}
	return real(fd, buf, n);
}
