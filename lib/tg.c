#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "tg.h"

#define TG_RESPONSE_MAX (64L << 20) /* getUpdates with huge texts still fits */
#define TG_BACKOFF_MAX_MS 60000L
#define TG_RETRY_AFTER_MAX 300L /* a longer ban is not worth waiting for */

struct tg {
	CURL *curl;
	char *api_url;
	char *token;
	int retries;
	long delay_ms;
	long timeout;
	volatile sig_atomic_t *abort;
	char err[512];
	char curl_err[CURL_ERROR_SIZE];
};

/* A tunable from the environment; a bad value is the default. */
static long env_long(const char *name, long fallback, long min, long max)
{
	long n;
	return parse_long(config_get(name, NULL), min, max, &n) == 0 ? n : fallback;
}

struct tg *tg_new(const char *api_url, const char *token)
{
	struct tg *tg = calloc(1, sizeof *tg);
	if (!tg)
		return NULL;
	tg->curl = curl_easy_init();
	tg->api_url = strdup(api_url);
	tg->token = strdup(token);
	if (!tg->curl || !tg->api_url || !tg->token) {
		tg_free(tg);
		return NULL;
	}
	size_t n = strlen(tg->api_url);
	while (n > 0 && tg->api_url[n - 1] == '/')
		tg->api_url[--n] = '\0';
	tg->retries = 5;
	tg->delay_ms = env_long("TG_RETRY_DELAY_MS", 1000, 0, TG_BACKOFF_MAX_MS);
	tg->timeout = env_long("TG_HTTP_TIMEOUT", 30, 1, 3600);
	return tg;
}

void tg_free(struct tg *tg)
{
	if (!tg)
		return;
	if (tg->curl)
		curl_easy_cleanup(tg->curl);
	if (tg->token) {
		/* the token should not outlive its use in freed memory */
		memset(tg->token, 0, strlen(tg->token));
		free(tg->token);
	}
	free(tg->api_url);
	free(tg);
}

void tg_set_retries(struct tg *tg, int retries, long delay_ms)
{
	tg->retries = retries < 0 ? 0 : retries;
	if (delay_ms >= 0)
		tg->delay_ms = delay_ms;
}

void tg_set_abort(struct tg *tg, volatile sig_atomic_t *flag)
{
	tg->abort = flag;
}

const char *tg_error(const struct tg *tg)
{
	return tg->err;
}

static void scrub_one(char *text, const char *secret)
{
	size_t n = strlen(secret);
	if (n == 0)
		return;
	size_t r = n < 3 ? n : 3;
	char *p;
	while ((p = strstr(text, secret)) != NULL) {
		memset(p, '*', r);
		memmove(p + r, p + n, strlen(p + n) + 1);
	}
}

void tg_scrub(char *text, const char *secret)
{
	if (!text || !secret)
		return;
	scrub_one(text, secret);
	/* "<bot id>:<secret>": the part after the colon is the secret one */
	const char *colon = strchr(secret, ':');
	if (colon && strlen(colon + 1) >= 8)
		scrub_one(text, colon + 1);
}

void tg_scrub_token(const struct tg *tg, char *text)
{
	tg_scrub(text, tg->token);
}

static void set_error(struct tg *tg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tg->err, sizeof tg->err, fmt, ap);
	va_end(ap);
	tg_scrub(tg->err, tg->token);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	if (b->len + len > (size_t)TG_RESPONSE_MAX)
		return 0; /* makes curl fail the transfer */
	buf_add(b, data, len);
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct tg *tg = arg;
	(void)dt, (void)dn, (void)ut, (void)un;
	return tg->abort && *tg->abort;
}

/* Sleeps ms, in slices, so that the abort flag is seen; -1 if aborted. */
static int pause_ms(struct tg *tg, long ms)
{
	while (ms > 0) {
		if (tg->abort && *tg->abort)
			return -1;
		long slice = ms < 100 ? ms : 100;
		struct timespec ts = { slice / 1000, (slice % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return tg->abort && *tg->abort ? -1 : 0;
}

enum verdict { DONE, RETRY, FAIL };

/* Sets the options every request shares; the token goes only into the URL. */
static int prepare(struct tg *tg, const char *method, long extra_timeout, struct buf *resp)
{
	char url[2048];
	if (snprintf(url, sizeof url, "%s/bot%s/%s", tg->api_url, tg->token, method) >= (int)sizeof url)
		return -1;
	CURL *c = tg->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	memset(url, 0, sizeof url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, tg->curl_err);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, tg->timeout + extra_timeout);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bk-telegram/" BK_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, tg);
	return 0;
}

/* Reads Telegram's answer: ok, or why not and whether trying again may help. */
static enum verdict judge(struct tg *tg, const char *method, CURLcode cc, struct buf *resp, cJSON **result,
			  long *wait_ms, int *code)
{
	if (cc != CURLE_OK) {
		if (tg->abort && *tg->abort) {
			*code = EX_TEMPFAIL;
			set_error(tg, "%s: interrupted", method);
			return FAIL;
		}
		set_error(tg, "%s: cannot reach Telegram: %s", method,
			  tg->curl_err[0] ? tg->curl_err : curl_easy_strerror(cc));
		*code = EX_UNAVAILABLE;
		return RETRY;
	}
	long st = 0;
	curl_easy_getinfo(tg->curl, CURLINFO_RESPONSE_CODE, &st);
	cJSON *doc = resp->data ? cJSON_ParseWithLength(resp->data, resp->len) : NULL;
	cJSON *ok = cJSON_GetObjectItemCaseSensitive(doc, "ok");
	cJSON *desc = cJSON_GetObjectItemCaseSensitive(doc, "description");
	const char *why = cJSON_IsString(desc) ? desc->valuestring : "no description";
	enum verdict v = FAIL;
	if (st == 200 && cJSON_IsTrue(ok)) {
		if (result)
			*result = cJSON_DetachItemFromObjectCaseSensitive(doc, "result");
		*code = 0;
		v = DONE;
	} else if (st == 429) {
		cJSON *params = cJSON_GetObjectItemCaseSensitive(doc, "parameters");
		cJSON *ra = cJSON_GetObjectItemCaseSensitive(params, "retry_after");
		long secs = cJSON_IsNumber(ra) && ra->valuedouble >= 0 ? (long)ra->valuedouble : -1;
		set_error(tg, "%s: Telegram rate limit (HTTP 429): %s", method, why);
		*code = EX_UNAVAILABLE;
		if (secs <= TG_RETRY_AFTER_MAX) {
			if (secs >= 0)
				*wait_ms = secs * 1000;
			v = RETRY;
		}
	} else if (st >= 500 || st == 0 || !doc) {
		set_error(tg, "%s: Telegram server error (HTTP %ld): %s", method, st, why);
		*code = EX_UNAVAILABLE;
		v = st >= 500 ? RETRY : FAIL;
	} else {
		set_error(tg, "%s: Telegram refused (HTTP %ld): %s", method, st, why);
		*code = st == 401 || st == 403 ? EX_NOPERM : EX_DATAERR;
	}
	cJSON_Delete(doc);
	return v;
}

/* One request per attempt, until done, refused, or out of retries. */
static int perform(struct tg *tg, const char *method, long extra_timeout, const char *json, curl_mime *mime,
		   cJSON **result)
{
	long backoff = tg->delay_ms;
	int code = EX_UNAVAILABLE;
	for (int attempt = 0;; attempt++) {
		struct buf resp = { 0 };
		struct curl_slist *hdr = NULL;
		tg->curl_err[0] = '\0';
		if (prepare(tg, method, extra_timeout, &resp) < 0) {
			set_error(tg, "%s: API URL too long", method);
			return EX_USAGE;
		}
		if (json) {
			hdr = curl_slist_append(NULL, "Content-Type: application/json");
			curl_easy_setopt(tg->curl, CURLOPT_HTTPHEADER, hdr);
			curl_easy_setopt(tg->curl, CURLOPT_POSTFIELDS, json);
		} else if (mime) {
			curl_easy_setopt(tg->curl, CURLOPT_MIMEPOST, mime);
		}
		CURLcode cc = curl_easy_perform(tg->curl);
		long wait_ms = backoff;
		enum verdict v = judge(tg, method, cc, &resp, result, &wait_ms, &code);
		curl_slist_free_all(hdr);
		buf_free(&resp);
		if (v != RETRY)
			return code;
		if (attempt >= tg->retries)
			break;
		if (pause_ms(tg, wait_ms) < 0) {
			set_error(tg, "%s: interrupted", method);
			return EX_TEMPFAIL;
		}
		backoff = backoff * 2 > TG_BACKOFF_MAX_MS ? TG_BACKOFF_MAX_MS : backoff * 2;
	}
	char last[sizeof tg->err];
	memcpy(last, tg->err, sizeof last);
	set_error(tg, "%s (gave up after %d attempts)", last, tg->retries + 1);
	return code;
}

int tg_call(struct tg *tg, const char *method, const cJSON *params, long extra_timeout, cJSON **result)
{
	char *json = params ? cJSON_PrintUnformatted(params) : strdup("{}");
	if (!json) {
		set_error(tg, "%s: out of memory", method);
		return EX_SOFTWARE;
	}
	int rc = perform(tg, method, extra_timeout, json, NULL, result);
	cJSON_free(json);
	return rc;
}

int tg_send_text(struct tg *tg, const char *chat, const char *text, const char *parse_mode,
		 const cJSON *reply_markup)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "chat_id", chat);
	cJSON_AddStringToObject(p, "text", text);
	if (parse_mode)
		cJSON_AddStringToObject(p, "parse_mode", parse_mode);
	if (reply_markup)
		cJSON_AddItemToObject(p, "reply_markup", cJSON_Duplicate(reply_markup, 1));
	int rc = tg_call(tg, "sendMessage", p, 0, NULL);
	cJSON_Delete(p);
	return rc;
}

static int add_part(curl_mime *mime, const char *name, const char *value)
{
	curl_mimepart *part = curl_mime_addpart(mime);
	return part && curl_mime_name(part, name) == CURLE_OK &&
			       curl_mime_data(part, value, CURL_ZERO_TERMINATED) == CURLE_OK
		       ? 0
		       : -1;
}

/* The document's bytes come from an open descriptor: what was checked is sent. */
struct upload {
	int fd;
	off_t pos;
};

static size_t upload_read(char *dst, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	ssize_t got = pread(u->fd, dst, size * n, u->pos);
	if (got < 0)
		return CURL_READFUNC_ABORT;
	u->pos += got;
	return (size_t)got;
}

static int upload_seek(void *arg, curl_off_t offset, int origin)
{
	struct upload *u = arg;
	if (origin != SEEK_SET)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (off_t)offset; /* a retry starts the part again */
	return CURL_SEEKFUNC_OK;
}

int tg_send_document_fd(struct tg *tg, const char *chat, int fd, const char *filename, const char *caption,
			const char *parse_mode)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		set_error(tg, "%s: not a regular file", filename);
		return EX_NOINPUT;
	}
	struct upload u = { fd, 0 };
	curl_mime *mime = curl_mime_init(tg->curl);
	curl_mimepart *doc = mime ? curl_mime_addpart(mime) : NULL;
	int bad = !doc || add_part(mime, "chat_id", chat) < 0 ||
		  (caption && add_part(mime, "caption", caption) < 0) ||
		  (parse_mode && add_part(mime, "parse_mode", parse_mode) < 0) ||
		  curl_mime_name(doc, "document") != CURLE_OK ||
		  curl_mime_data_cb(doc, (curl_off_t)st.st_size, upload_read, upload_seek, NULL, &u) !=
			  CURLE_OK ||
		  curl_mime_filename(doc, filename) != CURLE_OK ||
		  curl_mime_type(doc, "application/octet-stream") != CURLE_OK;
	int rc = EX_SOFTWARE;
	if (bad)
		set_error(tg, "sendDocument: out of memory");
	else /* an upload may take long: allow a minute per 5 MB on top */
		rc = perform(tg, "sendDocument", 60 + (long)(st.st_size / (5L << 20)) * 60, NULL, mime, NULL);
	curl_mime_free(mime);
	return rc;
}

int tg_send_document(struct tg *tg, const char *chat, const char *path, const char *filename,
		     const char *caption, const char *parse_mode)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_error(tg, "%s: %s", path, strerror(errno));
		return EX_NOINPUT;
	}
	int rc = tg_send_document_fd(tg, chat, fd, filename, caption, parse_mode);
	close(fd);
	return rc;
}
