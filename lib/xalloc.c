#include <err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "xalloc.h"

void *xnonnull(void *p)
{
	if (!p)
		err(EX_SOFTWARE, "out of memory");
	return p;
}

void *xmalloc(size_t n)
{
	return xnonnull(malloc(n ? n : 1));
}

void *xcalloc(size_t count, size_t size)
{
	return xnonnull(calloc(count ? count : 1, size ? size : 1));
}

void *xrealloc(void *p, size_t n)
{
	return xnonnull(realloc(p, n ? n : 1));
}

char *xstrdup(const char *s)
{
	return xnonnull(strdup(s));
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return xnonnull(n < 0 ? NULL : s);
}
