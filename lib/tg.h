/*
 * A Telegram Bot API client over libcurl and cJSON.
 *
 * The token only ever lives in the request URL inside this module: every
 * message it produces (libcurl's error text names the URL) is scrubbed of it
 * before anyone can print it (bk(7)). Functions return sysexits codes:
 *   0               done
 *   EX_DATAERR      Telegram refused the request (400 and other 4xx: bad chat id, ...)
 *   EX_NOPERM       401/403: token rejected, bot blocked or kicked
 *   EX_UNAVAILABLE  unreachable, 5xx or 429 after every retry
 *   EX_NOINPUT      the document to upload cannot be read
 *   EX_TEMPFAIL     interrupted by the abort flag
 *   EX_SOFTWARE     out of memory
 * and leave a one-line explanation in tg_error().
 */
#ifndef BK_TG_H
#define BK_TG_H

#include <signal.h>
#include <cjson/cJSON.h>

struct tg;

/* api_url: e.g. https://api.telegram.org. NULL when out of memory. */
struct tg *tg_new(const char *api_url, const char *token);
void tg_free(struct tg *tg);

/*
 * Retries after 5xx, 429 and network errors (default 5, 0 = none); the
 * wait doubles from delay_ms (default $TG_RETRY_DELAY_MS or 1000) up to a
 * minute, except that a 429's retry_after is honoured as given.
 */
void tg_set_retries(struct tg *tg, int retries, long delay_ms);

/* While *flag is non-zero, requests and waits stop early (EX_TEMPFAIL). */
void tg_set_abort(struct tg *tg, volatile sig_atomic_t *flag);

/*
 * Calls method with params as its JSON body. On success *result (if not
 * NULL) gets the detached "result" member, which the caller frees.
 * extra_timeout lengthens the request timeout (getUpdates' long poll).
 */
int tg_call(struct tg *tg, const char *method, const cJSON *params, long extra_timeout, cJSON **result);

/* sendMessage of text (plain, or parse_mode if not NULL) to chat. */
int tg_send_text(struct tg *tg, const char *chat, const char *text, const char *parse_mode,
		 const cJSON *reply_markup);

/* sendDocument: multipart upload of path under filename, with a caption. */
int tg_send_document(struct tg *tg, const char *chat, const char *path, const char *filename,
		     const char *caption, const char *parse_mode);

/* The same from an open regular file: the bytes sent are those of fd,
 * whatever path names by then. */
int tg_send_document_fd(struct tg *tg, const char *chat, int fd, const char *filename, const char *caption,
			const char *parse_mode);

/* The last error, token-free. */
const char *tg_error(const struct tg *tg);

/* tg_scrub of this handle's token. */
void tg_scrub_token(const struct tg *tg, char *text);

/* Replaces every occurrence of secret in text, in place, by "<token>"
 * (or as much of it as fits when secret is shorter). */
void tg_scrub(char *text, const char *secret);

#endif
