#include <stdio.h>
#include <sysexits.h>

#include "cli.h"

int usage_error(const char *tool)
{
	fprintf(stderr, "usage: %s [OPTION]... (try '%s --help')\n", tool, tool);
	return EX_USAGE;
}
