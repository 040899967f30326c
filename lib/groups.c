#include <stddef.h>

#include "groups.h"

static const char *const names[] = { "raffles", "analytics", "users", "redis" };
static const char *const options[] = { "--skip-raffles", "--skip-analytics", "--skip-users", "--skip-redis" };

const char *group_name(unsigned bit)
{
	for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
		if (bit == 1u << i)
			return names[i];
	return NULL;
}

const char *group_option(unsigned bit)
{
	for (unsigned i = 0; i < sizeof options / sizeof *options; i++)
		if (bit == 1u << i)
			return options[i];
	return NULL;
}
