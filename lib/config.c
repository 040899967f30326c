#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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
		char *hash = strstr(value, " #"); /* inline comment */
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

long config_test_knob(const char *name, long fallback, long min, long max)
{
	const char *v = config_get(name, NULL);
	long n;
	return v && parse_long(v, min, max, &n) == 0 ? n : fallback;
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

/* Adds the n bytes at s to the list of secrets, and their percent-decoding. */
static void add_secret(struct buf *list, const char *s, size_t n)
{
	if (!n)
		return;
	buf_add(list, s, n);
	buf_addc(list, '\0');
	struct buf dec = { 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2]) && sscanf(s + i + 1, "%2x", &v) == 1) {
			buf_addc(&dec, (char)v);
			i += 2;
		} else {
			buf_addc(&dec, s[i]);
		}
	}
	if (dec.len != n)
		add_secret(list, dec.data, dec.len);
	buf_free(&dec);
}

/* The password of a connection URL (scheme://user:PASSWORD@host...) or of
 * a keyword string (password=PASSWORD), and the whole of either. */
static void url_secrets(struct buf *list, const char *url)
{
	if (!url)
		return;
	const char *auth = strstr(url, "://");
	if (auth) {
		auth += 3;
		const char *at = strrchr(auth, '@'); /* the last: a password may hold an '@' */
		const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			add_secret(list, url, strlen(url));
			add_secret(list, colon + 1, (size_t)(at - colon - 1));
		}
	}
	for (const char *p = url; (p = strstr(p, "password")); p += 8) {
		const char *v = p + 8;
		while (*v == ' ')
			v++;
		if (*v++ != '=')
			continue;
		while (*v == ' ')
			v++;
		size_t n = *v == '\'' ? strcspn(++v, "'") : strcspn(v, " \t");
		add_secret(list, url, strlen(url));
		add_secret(list, v, n);
	}
}

/* b with the n bytes at offset at replaced by "***". */
static void mask_span(struct buf *b, size_t at, size_t n)
{
	struct buf next = { 0 };
	buf_add(&next, b->data, at);
	buf_adds(&next, "***");
	buf_add(&next, b->data + at + n, b->len - at - n);
	buf_free(b);
	*b = next;
}

/*
 * Passwords by their form rather than their value: scheme://user:PW@host
 * and password=PW. A message may quote a URL the configuration never held
 * (one given on a command line, one a child program printed).
 */
static void scrub_forms(struct buf *b)
{
	for (size_t from = 0; from < b->len;) {
		const char *text = buf_cstr(b), *p = strstr(text + from, "://");
		if (!p)
			break;
		const char *user = p + 3, *at = user + strcspn(user, "@/ \t\n");
		const char *colon = memchr(user, ':', (size_t)(at - user));
		from = (size_t)(user - text);
		if (*at == '@' && colon && at > colon + 1)
			mask_span(b, (size_t)(colon + 1 - text), (size_t)(at - colon - 1));
	}
	for (size_t from = 0; from < b->len;) {
		const char *text = buf_cstr(b), *p = strstr(text + from, "password=");
		if (!p)
			break;
		const char *v = p + 9;
		size_t n = strcspn(v, " \t\n'\"");
		from = (size_t)(v - text);
		if (n)
			mask_span(b, from, n);
	}
}

char *config_scrub(const char *msg)
{
	static const char *const vars[] = {
		"PGPASSWORD",	     "REDISCLI_AUTH", "TELEGRAM_BOT_TOKEN", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN",
	};
	struct buf list = { 0 }, out = { 0 };
	url_secrets(&list, config_get("DATABASE_URL", NULL));
	url_secrets(&list, config_get("REDIS_URL", NULL));
	for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
		const char *v = config_get(vars[i], NULL);
		if (v)
			add_secret(&list, v, strlen(v));
	}
	buf_adds(&out, msg);
	/* the list holds whole URLs before their passwords: the longer goes first */
	for (size_t at = 0; at < list.len; at += strlen(list.data + at) + 1) {
		const char *secret = list.data + at;
		size_t n = strlen(secret);
		struct buf next = { 0 };
		const char *p = buf_cstr(&out), *hit;
		while (n && (hit = strstr(p, secret))) {
			buf_add(&next, p, (size_t)(hit - p));
			buf_adds(&next, "***");
			p = hit + n;
		}
		buf_adds(&next, p);
		buf_free(&out);
		out = next;
	}
	buf_free(&list);
	scrub_forms(&out);
	return (char *)buf_cstr(&out);
}
