/*
 * The one out-of-memory policy: allocation that cannot fail. On failure
 * they end the program with err(EX_SOFTWARE, "out of memory"): there is no
 * sensible way on, and every tool writes to temporary names that a crash
 * leaves harmless.
 */
#ifndef BK_XALLOC_H
#define BK_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);

/* p, or the end of the program when a library's allocation returned NULL
 * (cJSON_Print, cJSON_Parse of text already checked, ...). */
void *xnonnull(void *p);

#endif
