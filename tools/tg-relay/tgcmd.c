#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "tgcmd.h"

#define MAX_ARGS 8
#define DAYS_MAX 36500

static const struct {
	const char *name;
	enum tgcmd_kind kind;
} commands[] = {
	{ "help", TGCMD_HELP },
	{ "start", TGCMD_HELP },
	{ "adminhelp", TGCMD_HELP }, /* the original bot's name for it */
	{ "backup", TGCMD_BACKUP },
	{ "backup_list", TGCMD_LIST },
	{ "backup_download", TGCMD_DOWNLOAD },
	{ "backup_restore", TGCMD_RESTORE },
	{ "backup_raffle", TGCMD_RAFFLE },
	{ "backup_cleanup", TGCMD_CLEANUP },
};

const char *tgcmd_skip_group(unsigned bit)
{
	return group_name(bit);
}

const char *tgcmd_skip_option(unsigned bit)
{
	return group_option(bit);
}

static int fail(struct tgcmd *cmd, const char *fmt, const char *arg)
{
	char shown[40];
	/* echo at most a short, printable-ASCII prefix of what was typed */
	size_t n = 0;
	for (; arg && arg[n] && n < sizeof shown - 4; n++)
		shown[n] = arg[n] >= 0x20 && arg[n] < 0x7f ? arg[n] : '?';
	if (arg && arg[n])
		memcpy(shown + n, "...", 3), n += 3;
	shown[n] = '\0';
	snprintf(cmd->error, sizeof cmd->error, fmt, shown);
	return -1;
}

/* Splits s into words at ASCII whitespace; returns the count or -1 if too many. */
static int split(char *s, char *argv[], int max)
{
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(s, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return -1;
		argv[n++] = w;
	}
	return n;
}

/* iOS and macOS turn "--" into an em dash; accept what the admin meant. */
static const char *dashes(const char *w, char *buf, size_t len)
{
	if (strncmp(w, "\xE2\x80\x94", 3) != 0)
		return w;
	snprintf(buf, len, "--%s", w + 3);
	return buf;
}

static int parse_restore(struct tgcmd *cmd, int argc, char *argv[])
{
	for (int i = 2; i < argc; i++) { /* after the backup id */
		char buf[64];
		const char *w = dashes(argv[i], buf, sizeof buf);
		unsigned bit = 0;
		for (unsigned b = 1; b <= TGCMD_SKIP_REDIS; b <<= 1)
			if (!strcmp(w, tgcmd_skip_option(b)))
				bit = b;
		if (!bit)
			return fail(cmd,
				    "unknown option %s (allowed: --skip-raffles, "
				    "--skip-analytics, --skip-users, --skip-redis)",
				    argv[i]);
		cmd->skip |= bit;
	}
	if (cmd->skip == TGCMD_SKIP_ALL)
		return fail(cmd, "%snothing left to restore: every group is skipped", "");
	return 0;
}

static int parse_args(struct tgcmd *cmd, int argc, char *argv[])
{
	switch (cmd->kind) {
	case TGCMD_DOWNLOAD:
	case TGCMD_RESTORE:
		if (argc < 2)
			return fail(cmd,
				    "%susage: /backup_restore <backup_id> or "
				    "/backup_download <backup_id> [csv]",
				    "");
		if (!id_valid(argv[1]) && !id_is_alias(argv[1]))
			return fail(cmd, "invalid backup id %s", argv[1]);
		snprintf(cmd->arg, sizeof cmd->arg, "%s", argv[1]);
		if (cmd->kind == TGCMD_RESTORE)
			return parse_restore(cmd, argc, argv);
		cmd->csv = argc >= 3 && !strcasecmp(argv[2], "csv");
		if (argc > 2 && !cmd->csv)
			return fail(cmd, "unexpected argument %s (after the id, only csv)", argv[2]);
		return argc > 3 ? fail(cmd, "unexpected argument %s", argv[3]) : 0;
	case TGCMD_RAFFLE:
		if (argc != 2)
			return fail(cmd, "%susage: /backup_raffle <raffle_id>", "");
		/* a leading '-' would reach bk-raffle's getopt as an option
		 * ("/backup_raffle --ended", "-h"): refused (found by fuzz_tgcmd) */
		if (!raffle_id_valid(argv[1]) || argv[1][0] == '-')
			return fail(cmd, "invalid raffle id %s", argv[1]);
		snprintf(cmd->arg, sizeof cmd->arg, "%s", argv[1]);
		return 0;
	case TGCMD_CLEANUP:
		if (argc > 2)
			return fail(cmd, "%susage: /backup_cleanup [days]", "");
		if (argc == 2 && parse_long(argv[1], 1, DAYS_MAX, &cmd->days) < 0)
			return fail(cmd, "days must be a whole number from 1 to 36500, not %s", argv[1]);
		return 0;
	default: return argc > 1 ? fail(cmd, "unexpected argument %s", argv[1]) : 0;
	}
}

int tgcmd_parse(const char *text, const char *botname, struct tgcmd *cmd)
{
	memset(cmd, 0, sizeof *cmd);
	if (!text || text[0] != '/')
		return 0;
	char line[512];
	size_t len = strcspn(text, "\n"); /* the command is the first line */
	if (len >= sizeof line) {
		cmd->kind = TGCMD_UNKNOWN;
		snprintf(cmd->name, sizeof cmd->name, "/?");
		return fail(cmd, "%scommand too long", "");
	}
	memcpy(line, text, len);
	line[len] = '\0';
	char *argv[MAX_ARGS];
	int argc = split(line, argv, MAX_ARGS);
	char *name = argc > 0 ? argv[0] + 1 : line + 1;
	char *at = strchr(name, '@');
	if (at) {
		*at++ = '\0';
		if (botname && strcasecmp(at, botname) != 0)
			return 0; /* addressed to another bot in the group */
	}
	cmd->kind = TGCMD_UNKNOWN;
	snprintf(cmd->name, sizeof cmd->name, "/?");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(name, commands[i].name)) {
			cmd->kind = commands[i].kind;
			snprintf(cmd->name, sizeof cmd->name, "/%s", commands[i].name);
		}
	if (cmd->kind == TGCMD_UNKNOWN)
		return fail(cmd, "unknown command /%s", name);
	if (argc < 0)
		return fail(cmd, "%stoo many arguments", "");
	return parse_args(cmd, argc, argv);
}
