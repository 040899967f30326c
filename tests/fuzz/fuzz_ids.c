/*
 * Id and argument validation (lib/ids, parse_long, parse_iso_ms,
 * store_resolve): what an operator or a Telegram admin types decides which
 * file is opened, so it is checked against the rules of bk-backup(5) written
 * out again here, independently.
 */
#include "fuzz_util.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "ids.h"
#include "store.h"
#include "timefmt.h"

static bool word(const char *s, size_t n)
{
	if (n < 1 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* ^(full|raffle|manual)_[A-Za-z0-9_-]{1,128}$ */
static bool model_id(const char *s)
{
	static const char *pre[] = { "full_", "raffle_", "manual_" };
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(pre[i]);
		if (!strncmp(s, pre[i], n))
			return word(s + n, strlen(s + n));
	}
	return false;
}

static char dir[] = "/tmp/fuzz_ids.XXXXXX";
static bool have_dir;

static void remove_dir(void)
{
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0'; /* cut at the first NUL, like argv */

	bool valid = id_valid(s), alias = id_is_alias(s);
	CHECK(valid == model_id(s));
	if (valid)
		CHECK(strlen(s) <= ID_MAX && !strchr(s, '/') && !strstr(s, ".."));
	if (alias)
		CHECK(!strcmp(s, "latest") || valid);
	CHECK(raffle_id_valid(s) == word(s, strlen(s)));

	long v;
	if (parse_long(s, 0, 100, &v) == 0)
		CHECK(v >= 0 && v <= 100);
	/* only plain decimal text passes, never "12abc", " 1" or "0x1" */
	if (parse_long(s, LONG_MIN, LONG_MAX, &v) == 0)
		CHECK(strspn(s, "+-0123456789") == strlen(s));

	int64_t ms;
	if (parse_iso_ms(s, &ms) == 0) {
		char iso[32];
		format_iso_ms(ms, iso);
	}

	/* What the tools do with an argument: never a path outside the backup
	 * directory unless it holds a '/', never anything for a bad id. */
	if (!have_dir) {
		CHECK(mkdtemp(dir) != NULL);
		have_dir = true;
		atexit(remove_dir); /* it stays empty: nothing is ever created in it */
	}
	char *path = NULL;
	int rc = store_resolve(dir, s, &path);
	if (rc == 0) {
		CHECK(path != NULL);
		CHECK(!strcmp(s, "-") || strchr(s, '/') || !strncmp(path, dir, strlen(dir)));
	} else {
		CHECK(rc == EX_USAGE || rc == EX_NOINPUT);
		if (rc == EX_NOINPUT)
			CHECK(valid || alias || strchr(s, '/'));
	}
	free(path);
	free(s);
	return 0;
}
