/*
 * The relay's loop (tg-relay(1)): long-poll getUpdates, remember the offset,
 * check who is asking, and hand commands to one job thread at a time.
 */
#ifndef BK_TGRELAY_H
#define BK_TGRELAY_H

#include <signal.h>
#include <stdbool.h>

struct relay_config {
	const char *api_url;
	const char *token;
	const char *admins;	/* TELEGRAM_ADMIN_IDS, or NULL */
	bool admins_from_db;	/* BK_ADMINS_FROM_DB=1: the Admin table too */
	long admins_period;	/* seconds between two reads of it */
	long refusal_period;	/* one refusal per stranger per this */
	const char *state_path; /* the offset file */
	const char *bin_dir;	/* where bk-dump and the others are */
	long poll_timeout;	/* getUpdates' timeout, seconds */
	long confirm_seconds;	/* how long a restore waits for Confirm */
	long upload_limit;	/* bytes; above it no sendDocument */
	long job_timeout;	/* seconds a tool may run (BK_JOB_TIMEOUT) */
	int rate;		/* one command per admin per minute */
	long retry_delay_ms;	/* first wait after a failed poll */
};

struct relay;

/* Checks the configuration and reads the offset; returns a sysexits code. */
int relay_open(struct relay **relay, const struct relay_config *cfg);

/* Polls and answers until *stop is set, then waits for a running job.
 * Returns 0, or EX_NOPERM when Telegram rejects the token. */
int relay_run(struct relay *relay, volatile sig_atomic_t *stop);

void relay_close(struct relay *relay);

#endif
