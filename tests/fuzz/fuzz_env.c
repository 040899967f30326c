/*
 * The dotenv parser (config_load) on a file holding the input. A .env file
 * is outside input: an operator's file, maybe edited by hand.
 *
 * setenv is replaced here by a checker: config_load must only ever set a
 * well-formed name (letters, digits, '_', not starting with a digit) and
 * never overwrite what the environment already holds. Replacing it also
 * keeps the process environment from growing with every input.
 */
#include "fuzz_util.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"

static long sets;

int setenv(const char *name, const char *value, int overwrite)
{
	CHECK(overwrite == 0);
	CHECK(name[0] && !isdigit((unsigned char)name[0]));
	for (const char *p = name; *p; p++)
		CHECK(isalnum((unsigned char)*p) || *p == '_');
	/* a C string (read to its end, so ASan sees any missing NUL) */
	CHECK(strlen(value) < 8192);
	sets++;
	return 0;
}

static int memfd = -1;
static char env_file[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz_env", 0);
	CHECK(memfd >= 0);
	/* putenv, not setenv: setenv is the checker above */
	static char assignment[96];
	snprintf(env_file, sizeof env_file, "/proc/self/fd/%d", memfd);
	snprintf(assignment, sizeof assignment, "BK_ENV_FILE=%s", env_file);
	CHECK(putenv(assignment) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memfd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	int rc = config_load();
	CHECK(rc == 0 || rc == EX_USAGE);

	/* the other parsers of configuration values */
	char text[64];
	size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	long v = 0;
	if (parse_long(text, -1000, 1000, &v) == 0)
		CHECK(v >= -1000 && v <= 1000);
	if (parse_long(text, 1, 36500, &v) == 0)
		CHECK(v >= 1 && v <= 36500);
	return 0;
}
