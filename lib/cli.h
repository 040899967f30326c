/*
 * The command-line conventions every bk program keeps: --help prints the
 * usage on stdout and exits 0; bad usage prints what is wrong (getopt's
 * message, or the program's own) and then one line pointing to --help on
 * stderr, and exits 64 (EX_USAGE).
 */
#ifndef BK_CLI_H
#define BK_CLI_H

/* "usage: <tool> [OPTION]... (try '<tool> --help')" on stderr; EX_USAGE. */
int usage_error(const char *tool);

#endif
