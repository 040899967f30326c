/* Configuration from the environment, filled in from a dotenv file (bk(7)). */
#ifndef BK_CONFIG_H
#define BK_CONFIG_H

#include <sysexits.h> /* every tool maps its errors to these (bk(7)) */

/*
 * Reads $BK_ENV_FILE, or ./.env when that is unset, and sets each KEY=value
 * it holds that the environment does not already set. A missing file is not
 * an error; a malformed line is reported with its number. Returns 0 or EX_USAGE (64: the configuration is bad usage).
 */
int config_load(void);

/* The variable's value, or fallback when unset or empty. */
const char *config_get(const char *name, const char *fallback);

/*
 * Parses the variable as an integer in [min, max]; fallback when unset.
 * Returns 0, or EX_USAGE after saying which variable is wrong.
 */
int config_get_long(const char *name, long fallback, long min, long max, long *out);

/*
 * A test knob (BK_TEST_*): the variable's value when it is an integer in
 * [min, max], else fallback, silently: tests set them, operators never need to.
 */
long config_test_knob(const char *name, long fallback, long min, long max);

/* Parses a decimal integer in [min, max]; 0 on success, -1 otherwise. */
int parse_long(const char *text, long min, long max, long *out);

/*
 * msg (malloc'd copy) with every secret of the configuration replaced by
 * "***": the passwords of DATABASE_URL and REDIS_URL, as written and
 * percent-decoded, those URLs whole, PGPASSWORD, TELEGRAM_BOT_TOKEN and
 * the AWS secret; and any password written as scheme://user:PW@host or
 * password=PW, configured or not. Every connection error goes through it
 * before it is printed, logged or sent: libpq quotes a malformed URL whole.
 */
char *config_scrub(const char *msg);

#endif
