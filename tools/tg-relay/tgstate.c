#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "out.h"
#include "tgstate.h"

int tgstate_load(const char *path, long long *offset)
{
	char buf[64];
	*offset = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	buf[n] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v < 0) {
		errno = EINVAL;
		return -1;
	}
	*offset = v;
	return 0;
}

int tgstate_save(const char *path, long long offset)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%lld\n", offset);
	return write_file_atomic(path, buf, (size_t)n);
}
