/*
 * The unit tests' one way to check: CHECK(cond) counts a pass, or names the
 * condition that failed and where; CHECKF(cond, fmt, ...) says why in its
 * own words. check_done() prints "<suite>: N passed, M failed" (the line
 * make unit shows) and is main's exit status.
 */
#ifndef BK_UNIT_CHECK_H
#define BK_UNIT_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (cond) {                                                                                  \
			passed++;                                                                            \
		} else {                                                                                     \
			failed++;                                                                            \
			fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond);                   \
		}                                                                                            \
	} while (0)

#define CHECKF(cond, ...)                                                                                    \
	do {                                                                                                 \
		if (cond) {                                                                                  \
			passed++;                                                                            \
		} else {                                                                                     \
			failed++;                                                                            \
			fprintf(stderr, "%s:%d: failed: ", __FILE__, __LINE__);                              \
			fprintf(stderr, __VA_ARGS__);                                                        \
			fputc('\n', stderr);                                                                 \
		}                                                                                            \
	} while (0)

static inline int check_done(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed != 0;
}

#endif
