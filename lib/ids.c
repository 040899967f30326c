#include <string.h>

#include "ids.h"

static bool word_chars(const char *s, size_t min, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return n >= min && n <= max;
}

bool id_valid(const char *id)
{
	static const char *prefixes[] = { "full_", "raffle_", "manual_" };
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(id, prefixes[i], n) == 0)
			return word_chars(id + n, 1, 128);
	}
	return false;
}

bool raffle_id_valid(const char *raffle_id)
{
	return word_chars(raffle_id, 1, 128);
}

bool id_is_alias(const char *id)
{
	if (!strcmp(id, "latest") || !strcmp(id, "full_latest") || !strcmp(id, "raffle_latest"))
		return true;
	size_t n = strlen(id);
	return n > 14 && !strncmp(id, "raffle_", 7) && !strcmp(id + n - 7, "_latest") && id_valid(id);
}

bool id_of_file_name(const char *name, const char *suffix, char *id)
{
	size_t n = strlen(name), s = strlen(suffix);
	if (n <= s || n - s >= ID_MAX || strcmp(name + n - s, suffix))
		return false;
	memcpy(id, name, n - s);
	id[n - s] = '\0';
	return id_valid(id);
}
