/* tg-relay: the Telegram bot front of bk: admin commands run the bk tools. */
#include <curl/curl.h>
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "config.h"
#include "spawn.h"
#include "tg-relay/tgrelay.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tg-relay [-s FILE]\n"
		   "  -s, --state FILE  where the getUpdates offset is kept\n"
		   "                    (default: $TG_RELAY_STATE, $STATE_DIRECTORY/tg-relay.offset\n"
		   "                    or ./tg-relay.offset)\n"
		   "  -h, --help        show this help\n"
		   "      --version     show the version\n");
}

static void default_state(char *buf, size_t len)
{
	const char *dir = config_get("STATE_DIRECTORY", NULL); /* systemd's */
	const char *file = config_get("TG_RELAY_STATE", NULL);
	if (file)
		snprintf(buf, len, "%s", file);
	else if (dir && !strchr(dir, ':'))
		snprintf(buf, len, "%s/tg-relay.offset", dir);
	else
		snprintf(buf, len, "tg-relay.offset");
}

/* The tunables of the man page's ENVIRONMENT section. */
static int tunables(struct relay_config *c)
{
	long rate = 0;
	int rc = config_get_long("TG_POLL_TIMEOUT", 50, 0, 600, &c->poll_timeout);
	rc = rc ? rc : config_get_long("TG_CONFIRM_TIMEOUT", 60, 1, 3600, &c->confirm_seconds);
	rc = rc ? rc : config_get_long("TG_RATE_LIMIT", 30, 1, 1000, &rate);
	rc = rc ? rc : config_get_long("TG_REFUSAL_PERIOD", 600, 0, 86400, &c->refusal_period);
	rc = rc ? rc : config_get_long("TG_ADMINS_REFRESH", 60, 1, 86400, &c->admins_period);
	rc = rc ? rc : config_get_long("TG_UPLOAD_LIMIT", 50L << 20, 1, 2000L << 20, &c->upload_limit);
	rc = rc ? rc : config_get_long("BK_JOB_TIMEOUT", 3600, 1, 7 * 86400, &c->job_timeout);
	rc = rc ? rc : config_get_long("TG_RETRY_DELAY_MS", 1000, 0, 60000, &c->retry_delay_ms);
	c->rate = (int)rate;
	return rc;
}

/* Keeps the token in our memory only: the tools we run do not inherit it. */
static int take_token(char *buf, size_t len)
{
	const char *token = config_get("TELEGRAM_BOT_TOKEN", NULL);
	if (!token) {
		warnx("TELEGRAM_BOT_TOKEN is not set");
		return EX_USAGE;
	}
	if (strlen(token) >= len) {
		warnx("TELEGRAM_BOT_TOKEN is too long");
		return EX_USAGE;
	}
	strcpy(buf, token);
	unsetenv("TELEGRAM_BOT_TOKEN");
	return 0;
}

static int serve(struct relay_config *cfg)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		warnx("cannot initialise libcurl");
		return EX_SOFTWARE;
	}
	struct relay *relay;
	int rc = relay_open(&relay, cfg);
	if (rc == 0)
		rc = relay_run(relay, &stop);
	relay_close(relay);
	curl_global_cleanup();
	return rc;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char state[PATH_MAX], bin_dir[PATH_MAX], token[512];
	struct relay_config cfg = { 0 };
	int c, rc;

	if ((rc = config_load()) != 0)
		return rc;
	default_state(state, sizeof state);
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': snprintf(state, sizeof state, "%s", optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tg-relay %s\n", BK_VERSION); return 0;
		default: return usage_error("tg-relay");
		}
	}
	if (optind < argc)
		return usage_error("tg-relay");
	cfg.admins = config_get("TELEGRAM_ADMIN_IDS", NULL);
	cfg.admins_from_db = !strcmp(config_get("BK_ADMINS_FROM_DB", "0"), "1");
	if (!cfg.admins && !cfg.admins_from_db) {
		warnx("TELEGRAM_ADMIN_IDS is not set: refusing to start, as the relay "
		      "answers only its admins (or set BK_ADMINS_FROM_DB=1)");
		return EX_USAGE;
	}
	if (cfg.admins_from_db && !config_get("DATABASE_URL", NULL)) {
		warnx("BK_ADMINS_FROM_DB=1 needs DATABASE_URL");
		return EX_USAGE;
	}
	/* a database that does not answer must not stall the Admin table's reader */
	if (cfg.admins_from_db && !getenv("PGCONNECT_TIMEOUT"))
		setenv("PGCONNECT_TIMEOUT", "10", 1);
	if ((rc = take_token(token, sizeof token)) != 0 || (rc = tunables(&cfg)) != 0)
		return rc;
	if (spawn_bin_dir(bin_dir, sizeof bin_dir) < 0) {
		warnx("cannot tell where the bk tools are: set BK_BIN_DIR");
		return EX_OSERR;
	}
	cfg.api_url = config_get("TELEGRAM_API_URL", "https://api.telegram.org");
	cfg.token = token;
	cfg.state_path = state;
	cfg.bin_dir = bin_dir;
	rc = serve(&cfg);
	memset(token, 0, sizeof token);
	return rc;
}
