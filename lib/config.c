#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsafe.h"
#include "config.h"

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Removes matching quotes; in double quotes \n, \" and \\ are unescaped. */
static int unquote(char *value)
{
	size_t len = strlen(value);
	char q = value[0];
	if (q != '"' && q != '\'') {
		char *hash = strstr(value, " #");	/* inline comment */
		if (hash)
			*hash = '\0';
		char *t = trim(value);
		memmove(value, t, strlen(t) + 1);
		return 0;
	}
	char *close = strrchr(value + 1, q);
	if (len < 2 || close == NULL)
		return -1;
	*close = '\0';
	char *src = value + 1, *dst = value;
	while (*src) {
		if (q == '"' && src[0] == '\\' && src[1]) {
			src++;
			*dst++ = *src == 'n' ? '\n' : *src;
			src++;
		} else {
			*dst++ = *src++;
		}
	}
	*dst = '\0';
	return 0;
}

static int valid_key(const char *key)
{
	if (!*key || isdigit((unsigned char)*key))
		return 0;
	for (; *key; key++)
		if (!isalnum((unsigned char)*key) && *key != '_')
			return 0;
	return 1;
}

int config_load(void)
{
	const char *path = getenv("BK_ENV_FILE");
	int named = path && *path;
	if (!named)
		path = ".env";
	FILE *f = fopen(path, "r");
	if (!f) {
		if (named || errno != ENOENT) {
			warn("%s", ESC(path));
			return EX_USAGE;
		}
		return 0;
	}
	char line[8192];
	int lineno = 0, status = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		char *eq = strchr(s, '=');
		if (eq) {
			*eq = '\0';
			char *key = trim(s), *value = trim(eq + 1);
			if (valid_key(key) && unquote(value) == 0) {
				setenv(key, value, 0);
				continue;
			}
		}
		warnx("%s:%d: not a KEY=value line", ESC(path), lineno);
		status = EX_USAGE;
	}
	fclose(f);
	return status;
}

const char *config_get(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

int parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	if (!text || !*text || isspace((unsigned char)*text))
		return -1;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_get_long(const char *name, long fallback, long min, long max, long *out)
{
	const char *v = config_get(name, NULL);
	if (!v) {
		*out = fallback;
		return 0;
	}
	if (parse_long(v, min, max, out) != 0) {
		warnx("%s=%s: expected an integer from %ld to %ld", name, ESC(v), min, max);
		return EX_USAGE;
	}
	return 0;
}
