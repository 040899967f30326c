/*
 * The S3 client: libcurl signs (CURLOPT_AWS_SIGV4) and moves the bytes,
 * expat reads the XML, this file only says which request to make.
 *
 * libcurl 7.88 does not send x-amz-content-sha256, which S3 and R2 require
 * and check: every request carries the SHA-256 of its body in that header,
 * and the body is handed to libcurl in memory (a part at most), so that the
 * hash libcurl signs is that of the bytes sent. Queries are built already in
 * SigV4's canonical form (sorted, every name with '=', values escaped as
 * RFC 3986 says), since 7.88 signs the query as it is written.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <curl/curl.h>
#include <expat.h>
#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "s3.h"
#include "timefmt.h"

#define TRIES 6		    /* one try and five retries */
#define BACKOFF_MS 200	    /* doubled each retry: 0.2 0.4 0.8 1.6 3.2 s */
#define SMALL_MAX (1 << 20) /* error documents and other small answers */

struct s3 {
	CURL *curl;
	char *endpoint, *bucket, *prefix, *region;
	char *sigv4; /* "aws:amz:REGION:s3" */
	char *token; /* AWS_SESSION_TOKEN or NULL */
	bool path_style;
	long part_size;
	char where[1024];
	char curl_err[CURL_ERROR_SIZE];
};

static volatile sig_atomic_t interrupted;
/* Calls that must run to their end even after an interruption: aborting an
 * upload, and creating or completing one (cut short, the service may have
 * acted without bk learning the upload's id, or whether it completed). */
static bool aborting;

void s3_interrupt(void)
{
	interrupted = 1;
}

bool s3_interrupted(void)
{
	return interrupted;
}

/* ---- XML ---------------------------------------------------------------- */

/*
 * A streaming walk over an XML document: fn sees each leaf element's name
 * and text at its end, and each other element's name with text NULL at its
 * end. depth 1 is the root.
 */
struct xml {
	XML_Parser p;
	struct buf text;
	int depth;
	unsigned long parent; /* bit d: the element at depth d has children */
	void (*fn)(void *ud, int depth, const char *name, const char *text);
	void *ud;
	bool bad;
};

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml *x = ud;
	(void)name, (void)attrs;
	if (x->depth < 63)
		x->parent |= 1UL << x->depth;
	x->depth++;
	if (x->depth < 63)
		x->parent &= ~(1UL << x->depth);
	x->text.len = 0;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name)
{
	struct xml *x = ud;
	bool leaf = x->depth < 63 && !(x->parent & (1UL << x->depth));
	x->fn(x->ud, x->depth, name, leaf ? buf_cstr(&x->text) : NULL);
	x->text.len = 0;
	x->depth--;
}

static void XMLCALL xml_chars(void *ud, const XML_Char *s, int len)
{
	struct xml *x = ud;
	if (x->text.len + (size_t)len <= 64 * 1024) /* no value of S3's is longer */
		buf_add(&x->text, s, (size_t)len);
}

static void xml_init(struct xml *x, void (*fn)(void *, int, const char *, const char *), void *ud)
{
	*x = (struct xml){ .fn = fn, .ud = ud, .p = XML_ParserCreate("UTF-8") };
	if (!x->p)
		err(EX_SOFTWARE, "out of memory");
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, xml_start, xml_end);
	XML_SetCharacterDataHandler(x->p, xml_chars);
}

static int xml_feed(struct xml *x, const void *p, size_t n, bool final)
{
	if (!x->bad && XML_Parse(x->p, p, (int)n, final) != XML_STATUS_OK)
		x->bad = true;
	return x->bad ? -1 : 0;
}

static void xml_free(struct xml *x)
{
	XML_ParserFree(x->p);
	buf_free(&x->text);
}

/* <Error><Code>..</Code><Message>..</Message></Error> */
struct s3_error {
	char code[64], message[256];
	bool is_error;
};

static void error_fn(void *ud, int depth, const char *name, const char *text)
{
	struct s3_error *e = ud;
	if (depth == 1 && !strcmp(name, "Error"))
		e->is_error = true;
	else if (depth == 2 && text && !strcmp(name, "Code"))
		snprintf(e->code, sizeof e->code, "%s", text);
	else if (depth == 2 && text && !strcmp(name, "Message"))
		snprintf(e->message, sizeof e->message, "%s", text);
}

static void parse_error(const struct buf *b, struct s3_error *e)
{
	struct xml x;
	*e = (struct s3_error){ 0 };
	xml_init(&x, error_fn, e);
	xml_feed(&x, b->data ? b->data : "", b->len, true);
	xml_free(&x);
}

/* ---- configuration ------------------------------------------------------ */

static int bad_config(const char *fmt, const char *arg)
{
	warnx(fmt, arg);
	return EX_USAGE;
}

/* s3://BUCKET[/PREFIX]: the prefix ends with '/' unless it is empty. */
static int parse_s3_url(struct s3 *s, const char *url)
{
	if (strncmp(url, "s3://", 5))
		return bad_config("BK_S3_URL: expected s3://BUCKET/PREFIX/, not '%s'", url);
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	s->bucket = strndup(b, blen);
	if (blen < 3 || blen > 63 ||
	    strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != blen)
		return bad_config("BK_S3_URL: '%s' is not a bucket name (3 to 63 letters, digits, '.', '-')",
				  s->bucket);
	const char *prefix = slash ? slash + 1 : "";
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)prefix[i] < 0x20 || prefix[i] == '\\' || prefix[i] == 0x7f)
			return bad_config("BK_S3_URL: the prefix of '%s' holds a control character", url);
	if (asprintf(&s->prefix, "%s%s", prefix, plen && prefix[plen - 1] != '/' ? "/" : "") < 0)
		err(EX_SOFTWARE, "out of memory");
	return 0;
}

/* The endpoint: scheme://host[:port], no credentials, no path. */
static int parse_endpoint(struct s3 *s)
{
	const char *e = config_get("AWS_ENDPOINT_URL", NULL);
	if (!e) {
		if (asprintf(&s->endpoint, "https://s3.%s.amazonaws.com", s->region) < 0)
			err(EX_SOFTWARE, "out of memory");
		return 0;
	}
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *path = NULL;
	int rc = 0;
	if (!u || curl_url_set(u, CURLUPART_URL, e, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")))
		rc = bad_config("AWS_ENDPOINT_URL: expected http(s)://HOST[:PORT], not '%s'", e);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		rc = bad_config("%s", "AWS_ENDPOINT_URL: credentials go in AWS_ACCESS_KEY_ID and "
				      "AWS_SECRET_ACCESS_KEY, not in the URL");
	else if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/"))
		rc = bad_config("AWS_ENDPOINT_URL: '%s' has a path; give the service's root URL", e);
	else {
		s->endpoint = strdup(e);
		size_t n = strlen(s->endpoint);
		if (n && s->endpoint[n - 1] == '/')
			s->endpoint[n - 1] = '\0';
	}
	curl_free(scheme);
	curl_free(user);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int s3_open(struct s3 **out)
{
	struct s3 *s = calloc(1, sizeof *s);
	if (!s)
		err(EX_SOFTWARE, "out of memory");
	*out = NULL;
	const char *url = config_get("BK_S3_URL", NULL);
	int rc = url ? parse_s3_url(s, url)
		     : bad_config("%s", "BK_S3_URL is not set (s3://BUCKET/PREFIX/ of the off-site copies)");
	if (!rc && (!config_get("AWS_ACCESS_KEY_ID", NULL) || !config_get("AWS_SECRET_ACCESS_KEY", NULL)))
		rc = bad_config("%s", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set "
				      "(in the environment or .env)");
	long path_style = 0;
	if (!rc)
		rc = config_get_long("BK_S3_PATH_STYLE", 0, 0, 1, &path_style);
	if (!rc)
		rc = config_get_long("BK_S3_PART_SIZE", S3_PART_DEFAULT, 64 * 1024, 1L << 30, &s->part_size);
	if (!rc) {
		s->path_style = path_style;
		s->region = strdup(config_get("AWS_REGION", "us-east-1"));
		if (strspn(s->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s->region))
			rc = bad_config("AWS_REGION: '%s' is not a region name", s->region);
	}
	if (!rc)
		rc = parse_endpoint(s);
	if (rc) {
		s3_close(s);
		return rc;
	}
	if (asprintf(&s->sigv4, "aws:amz:%s:s3", s->region) < 0)
		err(EX_SOFTWARE, "out of memory");
	const char *token = config_get("AWS_SESSION_TOKEN", NULL);
	if (token && asprintf(&s->token, "x-amz-security-token: %s", token) < 0)
		err(EX_SOFTWARE, "out of memory");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	s->curl = curl_easy_init();
	if (!s->curl)
		err(EX_SOFTWARE, "cannot start libcurl");
	*out = s;
	return 0;
}

void s3_close(struct s3 *s)
{
	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->endpoint);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->sigv4);
	free(s->token);
	free(s);
}

const char *s3_where(struct s3 *s, const char *name)
{
	snprintf(s->where, sizeof s->where, "s3://%s/%s%s", s->bucket, s->prefix, name ? name : "");
	return s->where;
}

/* ---- one request, retried ----------------------------------------------- */

struct call {
	const char *method; /* GET PUT POST DELETE HEAD */
	const char *name;   /* under the prefix; NULL: the bucket itself */
	const char *query;  /* canonical already, or NULL */
	const void *body;   /* PUT/POST payload */
	size_t body_len;
	const char *content_type;
	long quiet; /* a status returned as EX_NOINPUT, unsaid (404) */
	CURL *curl;
	bool resumed; /* this try asked for the rest (Range) */
	/* the body of a 2xx answer goes to sink; anything else to small */
	int (*sink)(void *ud, const void *p, size_t n);
	void *sink_ud;
	int sink_rc;
	long long delivered; /* bytes given to sink: a retry resumes there */
	struct buf small;
	long status;
	long long length; /* Content-Length of the answer */
	char etag[128];
};

static void sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned len = 0;
	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct call *c = ud;
	long status = 0;
	n *= size;
	/* the status is known before the first byte of the body */
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200 && c->resumed) {
		warnx("the service sent the whole object again instead of its rest");
		c->sink_rc = EX_UNAVAILABLE;
		return 0;
	}
	if (status / 100 == 2 && c->sink) {
		c->sink_rc = c->sink(c->sink_ud, p, n);
		if (c->sink_rc)
			return 0;
		c->delivered += (long long)n;
		return n;
	}
	if (c->small.len + n <= SMALL_MAX)
		buf_add(&c->small, p, n);
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return interrupted && !aborting;
}

/* The request's URL: path style http://host/bucket/key, else http://bucket.host/key. */
static CURLU *call_url(struct s3 *s, const struct call *c)
{
	CURLU *u = curl_url();
	char *host = NULL, *path;
	if (!u || curl_url_set(u, CURLUPART_URL, s->endpoint, 0) != CURLUE_OK)
		errx(70, "cannot parse the endpoint");
	if (!s->path_style) {
		char *vhost;
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		if (asprintf(&vhost, "%s.%s", s->bucket, host) < 0)
			err(EX_SOFTWARE, "out of memory");
		curl_url_set(u, CURLUPART_HOST, vhost, 0);
		free(vhost);
		curl_free(host);
	}
	if (asprintf(&path, "/%s%s%s%s", s->path_style ? s->bucket : "", s->path_style && c->name ? "/" : "",
		     c->name ? s->prefix : "", c->name ? c->name : "") < 0)
		err(EX_SOFTWARE, "out of memory");
	curl_url_set(u, CURLUPART_PATH, path, CURLU_URLENCODE);
	free(path);
	if (c->query) { /* set whole: CURLUPART_QUERY would lowercase %2F, which SigV4 forbids */
		char *base, *full;
		curl_url_get(u, CURLUPART_URL, &base, 0);
		if (asprintf(&full, "%s?%s", base, c->query) < 0)
			err(EX_SOFTWARE, "out of memory");
		curl_url_set(u, CURLUPART_URL, full, 0);
		curl_free(base);
		free(full);
	}
	return u;
}

static struct curl_slist *call_headers(struct s3 *s, const struct call *c)
{
	char hex[65], line[128];
	struct curl_slist *h = NULL;
	sha256_hex(c->body ? c->body : "", c->body_len, hex);
	snprintf(line, sizeof line, "x-amz-content-sha256: %s", hex);
	h = curl_slist_append(h, line);
	if (c->content_type) {
		snprintf(line, sizeof line, "Content-Type: %s", c->content_type);
		h = curl_slist_append(h, line);
	}
	if (s->token)
		h = curl_slist_append(h, s->token);
	return h;
}

static void call_setup(struct s3 *s, struct call *c, CURLU *u, struct curl_slist *h)
{
	CURL *k = s->curl;
	curl_easy_reset(k);
	c->curl = k;
	curl_easy_setopt(k, CURLOPT_CURLU, u);
	curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_ERRORBUFFER, s->curl_err);
	curl_easy_setopt(k, CURLOPT_USERAGENT, "bk/" BK_VERSION);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a stalled transfer (under 1 byte/s for a minute) is a network error */
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, 60L);
	/* the keys go to libcurl, which signs with them; never into a URL */
	curl_easy_setopt(k, CURLOPT_USERNAME, config_get("AWS_ACCESS_KEY_ID", ""));
	curl_easy_setopt(k, CURLOPT_PASSWORD, config_get("AWS_SECRET_ACCESS_KEY", ""));
	curl_easy_setopt(k, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (!strcmp(c->method, "HEAD"))
		curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
	else if (strcmp(c->method, "GET"))
		curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, c->method);
	if (c->body || !strcmp(c->method, "PUT") || !strcmp(c->method, "POST")) {
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, c->body ? c->body : "");
		curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	}
	c->resumed = c->delivered > 0;
	if (c->resumed) {
		char range[64];
		snprintf(range, sizeof range, "%lld-", c->delivered);
		curl_easy_setopt(k, CURLOPT_RANGE, range);
	}
}

static void call_result(struct s3 *s, struct call *c)
{
	struct curl_header *h;
	curl_off_t len = -1;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &c->status);
	curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	c->length = len;
	c->etag[0] = '\0';
	if (curl_easy_header(s->curl, "ETag", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		snprintf(c->etag, sizeof c->etag, "%s", h->value);
}

static void backoff(int attempt)
{
	long ms = BACKOFF_MS << attempt;
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
	while (!(interrupted && !aborting) && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What an answer that is not 2xx means, said once. */
static int call_failed(struct s3 *s, struct call *c)
{
	struct s3_error e;
	parse_error(&c->small, &e);
	const char *where = s3_where(s, c->name);
	if (c->quiet && c->status == c->quiet)
		return EX_NOINPUT;
	if (c->status == 403) {
		warnx("%s %s: access denied (%s%s%s); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
		      "and the key's permissions",
		      c->method, where, e.code[0] ? e.code : "403", e.message[0] ? ": " : "", e.message);
		return EX_NOPERM;
	}
	if (c->status == 404) {
		warnx("%s %s: not found (%s)", c->method, where, e.code[0] ? e.code : "404");
		return EX_NOINPUT;
	}
	warnx("%s %s: the service answered %ld%s%s%s%s", c->method, where, c->status, e.code[0] ? " " : "",
	      e.code, e.message[0] ? ": " : "", e.message);
	return EX_UNAVAILABLE;
}

static int call(struct s3 *s, struct call *c)
{
	CURLU *u = call_url(s, c);
	struct curl_slist *h = call_headers(s, c);
	int rc = EX_UNAVAILABLE;
	for (int attempt = 0;; attempt++) {
		c->small.len = 0;
		c->sink_rc = 0;
		s->curl_err[0] = '\0';
		call_setup(s, c, u, h);
		CURLcode cc = curl_easy_perform(s->curl);
		call_result(s, c);
		bool last = attempt + 1 >= TRIES;
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			warnx("%s %s: interrupted", c->method, s3_where(s, c->name));
			rc = EX_TEMPFAIL;
			break;
		}
		if (cc == CURLE_WRITE_ERROR && c->sink_rc) {
			rc = c->sink_rc;
			break;
		}
		if (cc != CURLE_OK) {
			if (last) {
				warnx("%s %s: %s (after %d tries)", c->method, s3_where(s, c->name),
				      s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc), TRIES);
				rc = EX_UNAVAILABLE;
				break;
			}
		} else if (c->status / 100 == 2) {
			rc = 0;
			break;
		} else if ((c->status < 500 && c->status != 429) || last) {
			rc = call_failed(s, c);
			break;
		}
		backoff(attempt);
		if (interrupted && !aborting) {
			warnx("%s %s: interrupted", c->method, s3_where(s, c->name));
			rc = EX_TEMPFAIL;
			break;
		}
	}
	curl_slist_free_all(h);
	curl_url_cleanup(u);
	return rc;
}

/* ---- objects ------------------------------------------------------------ */

int s3_head(struct s3 *s, const char *name, long long *size, char etag[128])
{
	struct call c = { .method = "HEAD", .name = name, .quiet = 404 };
	int rc = call(s, &c);
	if (!rc) {
		*size = c.length;
		if (etag)
			snprintf(etag, 128, "%s", c.etag);
	}
	buf_free(&c.small);
	return rc;
}

static int to_buf(void *ud, const void *p, size_t n)
{
	struct buf *b = ((void **)ud)[0];
	size_t max = *(size_t *)((void **)ud)[1];
	if (b->len + n > max) {
		warnx("an object meant to be small is larger than %zu bytes", max);
		return EX_DATAERR;
	}
	buf_add(b, p, n);
	return 0;
}

int s3_get_small(struct s3 *s, const char *name, struct buf *b, size_t max)
{
	void *ud[2] = { b, &max };
	b->len = 0;
	struct call c = { .method = "GET", .name = name, .quiet = 404, .sink = to_buf, .sink_ud = ud };
	int rc = call(s, &c);
	buf_free(&c.small);
	buf_cstr(b);
	return rc;
}

int s3_get(struct s3 *s, const char *name, int (*sink)(void *ud, const void *p, size_t n), void *ud,
	   long long *size)
{
	struct call c = { .method = "GET", .name = name, .sink = sink, .sink_ud = ud };
	int rc = call(s, &c);
	if (size)
		*size = c.delivered;
	buf_free(&c.small);
	return rc;
}

int s3_put_small(struct s3 *s, const char *name, const void *p, size_t n)
{
	struct call c = { .method = "PUT",
			  .name = name,
			  .body = p,
			  .body_len = n,
			  .content_type = "application/octet-stream" };
	int rc = call(s, &c);
	buf_free(&c.small);
	return rc;
}

int s3_delete(struct s3 *s, const char *name)
{
	struct call c = { .method = "DELETE", .name = name };
	int rc = call(s, &c);
	buf_free(&c.small);
	return rc;
}

/* ---- listing ------------------------------------------------------------ */

struct lister {
	struct s3 *s;
	int (*fn)(void *ud, const struct s3_object *o);
	void *ud;
	int rc;
	struct buf key, etag;
	long long size;
	int64_t mtime;
	bool truncated;
	char *next;
	struct xml x;
};

static void list_fn(void *ud, int depth, const char *name, const char *text)
{
	struct lister *l = ud;
	if (depth == 2 && text && !strcmp(name, "IsTruncated"))
		l->truncated = !strcmp(text, "true");
	else if (depth == 2 && text && !strcmp(name, "NextContinuationToken")) {
		free(l->next);
		l->next = strdup(text);
	} else if (depth == 3 && text && !strcmp(name, "Key")) {
		l->key.len = 0;
		buf_adds(&l->key, text);
	} else if (depth == 3 && text && !strcmp(name, "Size"))
		l->size = strtoll(text, NULL, 10);
	else if (depth == 3 && text && !strcmp(name, "LastModified")) {
		if (parse_iso_ms(text, &l->mtime) < 0)
			l->mtime = 0;
	} else if (depth == 3 && text && !strcmp(name, "ETag")) {
		l->etag.len = 0;
		buf_adds(&l->etag, text);
	} else if (depth == 2 && !text && !strcmp(name, "Contents") && !l->rc) {
		const char *key = buf_cstr(&l->key);
		size_t plen = strlen(l->s->prefix);
		/* objects in "subdirectories" of the prefix are not bk's */
		if (!strncmp(key, l->s->prefix, plen) && !strchr(key + plen, '/') && key[plen]) {
			struct s3_object o = { key + plen, l->size, l->mtime, buf_cstr(&l->etag) };
			l->rc = l->fn(l->ud, &o);
		}
		l->key.len = l->etag.len = 0;
		l->size = 0;
		l->mtime = 0;
	}
}

static int list_sink(void *ud, const void *p, size_t n)
{
	struct lister *l = ud;
	if (xml_feed(&l->x, p, n, false) < 0) {
		warnx("%s: the listing is not well-formed XML", s3_where(l->s, NULL));
		return EX_UNAVAILABLE;
	}
	return l->rc;
}

static char *escape(struct s3 *s, const char *v)
{
	char *e = curl_easy_escape(s->curl, v, 0), *copy;
	if (!e)
		err(EX_SOFTWARE, "out of memory");
	copy = strdup(e);
	curl_free(e);
	return copy;
}

int s3_list(struct s3 *s, int (*fn)(void *ud, const struct s3_object *o), void *ud)
{
	struct lister l = { .s = s, .fn = fn, .ud = ud };
	char *prefix = escape(s, s->prefix), max_keys[32] = "";
	long page = 0;
	/* a test knob: small pages, so that the continuation is exercised */
	int rc = config_get_long("BK_S3_LIST_MAX_KEYS", 0, 0, 1000, &page);
	if (page)
		snprintf(max_keys, sizeof max_keys, "&max-keys=%ld", page);
	while (!rc) {
		char *token = l.next ? escape(s, l.next) : NULL, *query;
		if (asprintf(&query, "%s%s%slist-type=2%s&prefix=%s", token ? "continuation-token=" : "",
			     token ? token : "", token ? "&" : "", max_keys, prefix) < 0)
			err(EX_SOFTWARE, "out of memory");
		free(token);
		l.truncated = false;
		free(l.next);
		l.next = NULL;
		xml_init(&l.x, list_fn, &l);
		struct call c = { .method = "GET", .query = query, .sink = list_sink, .sink_ud = &l };
		rc = call(s, &c);
		if (!rc && xml_feed(&l.x, "", 0, true) < 0) {
			warnx("%s: the listing is not well-formed XML", s3_where(s, NULL));
			rc = EX_UNAVAILABLE;
		}
		xml_free(&l.x);
		buf_free(&c.small);
		free(query);
		if (!rc)
			rc = l.rc;
		if (!rc && l.truncated && !l.next) {
			warnx("%s: a truncated listing without a continuation token", s3_where(s, NULL));
			rc = EX_UNAVAILABLE;
		}
		if (!l.truncated)
			break;
	}
	free(prefix);
	free(l.next);
	buf_free(&l.key);
	buf_free(&l.etag);
	return rc;
}

/* ---- multipart ---------------------------------------------------------- */

struct one_value {
	const char *want;
	char value[1024];
	bool error;
};

static void one_fn(void *ud, int depth, const char *name, const char *text)
{
	struct one_value *v = ud;
	if (depth == 1 && !strcmp(name, "Error"))
		v->error = true;
	if (depth == 2 && text && !strcmp(name, v->want))
		snprintf(v->value, sizeof v->value, "%s", text);
}

/* The value of a child of the root element of an answer held in b. */
static int xml_value(const struct buf *b, const char *name, struct one_value *v)
{
	struct xml x;
	*v = (struct one_value){ .want = name };
	xml_init(&x, one_fn, v);
	int rc = xml_feed(&x, b->data ? b->data : "", b->len, true);
	xml_free(&x);
	return rc < 0 || v->error || !v->value[0] ? -1 : 0;
}

/* A call whose 2xx answer is a small XML document, kept in *answer. */
static int call_xml(struct s3 *s, struct call *c, struct buf *answer)
{
	void *ud[2];
	size_t max = SMALL_MAX;
	ud[0] = answer;
	ud[1] = &max;
	answer->len = 0;
	c->sink = to_buf;
	c->sink_ud = ud;
	int rc = call(s, c);
	buf_free(&c->small);
	return rc;
}

struct upload {
	struct s3 *s;
	const char *name;
	char upload_id[1024];
	struct buf done; /* <Part> elements of the CompleteMultipartUpload body */
	int parts;
};

static int mp_abort(struct upload *u)
{
	char *id = escape(u->s, u->upload_id), *query;
	if (asprintf(&query, "uploadId=%s", id) < 0)
		err(EX_SOFTWARE, "out of memory");
	aborting = true; /* runs even after an interruption */
	struct call c = { .method = "DELETE", .name = u->name, .query = query };
	int rc = call(u->s, &c);
	aborting = false;
	buf_free(&c.small);
	free(query);
	free(id);
	if (rc)
		warnx("%s: the multipart upload %s could not be aborted; the next bk-push aborts it",
		      s3_where(u->s, u->name), u->upload_id);
	return rc;
}

static int mp_start(struct upload *u)
{
	struct buf answer = { 0 };
	struct one_value v;
	struct call c = { .method = "POST",
			  .name = u->name,
			  .query = "uploads=",
			  .content_type = "application/octet-stream" };
	aborting = true;
	int rc = call_xml(u->s, &c, &answer);
	aborting = false;
	if (!rc && xml_value(&answer, "UploadId", &v) < 0) {
		warnx("%s: CreateMultipartUpload answered no UploadId", s3_where(u->s, u->name));
		rc = EX_UNAVAILABLE;
	}
	if (!rc)
		snprintf(u->upload_id, sizeof u->upload_id, "%s", v.value);
	buf_free(&answer);
	buf_adds(&u->done, "<CompleteMultipartUpload>");
	return rc;
}

static int mp_part(struct upload *u, const void *p, size_t n)
{
	char *id = escape(u->s, u->upload_id), *query;
	int number = ++u->parts;
	if (asprintf(&query, "partNumber=%d&uploadId=%s", number, id) < 0)
		err(EX_SOFTWARE, "out of memory");
	struct call c = { .method = "PUT",
			  .name = u->name,
			  .query = query,
			  .body = p,
			  .body_len = n,
			  .content_type = "application/octet-stream" };
	int rc = call(u->s, &c);
	if (!rc && !c.etag[0]) {
		warnx("%s: part %d: the answer has no ETag", s3_where(u->s, u->name), number);
		rc = EX_UNAVAILABLE;
	}
	if (!rc) {
		char part[256];
		snprintf(part, sizeof part, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", number,
			 c.etag); /* ETags are quoted hex: nothing to escape */
		buf_adds(&u->done, part);
	}
	buf_free(&c.small);
	free(query);
	free(id);
	return rc;
}

static int mp_complete(struct upload *u, char *etag)
{
	char *id = escape(u->s, u->upload_id), *query;
	if (asprintf(&query, "uploadId=%s", id) < 0)
		err(EX_SOFTWARE, "out of memory");
	buf_adds(&u->done, "</CompleteMultipartUpload>");
	struct buf answer = { 0 };
	struct one_value v;
	struct call c = { .method = "POST",
			  .name = u->name,
			  .query = query,
			  .body = u->done.data,
			  .body_len = u->done.len,
			  .content_type = "application/xml" };
	aborting = true;
	int rc = call_xml(u->s, &c, &answer);
	aborting = false;
	/* S3 may answer 200 and then an <Error> document */
	if (!rc && xml_value(&answer, "ETag", &v) < 0) {
		struct s3_error e;
		parse_error(&answer, &e);
		warnx("%s: CompleteMultipartUpload failed: %s %s", s3_where(u->s, u->name),
		      e.code[0] ? e.code : "no ETag in the answer", e.message);
		rc = EX_UNAVAILABLE;
	}
	if (!rc)
		snprintf(etag, 128, "%.127s", v.value);
	buf_free(&answer);
	free(query);
	free(id);
	return rc;
}

/* Fills p with up to n bytes: fewer only at the end. -1 on a read error. */
static long read_full(long (*read)(void *ud, void *p, size_t n), void *ud, char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		long r = read(ud, p + got, n - got);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

static int read_failed(struct s3 *s, const char *name)
{
	warn("cannot read what goes to %s", s3_where(s, name));
	return EX_IOERR;
}

/* The object the bucket now holds is the one sent: its size and ETag. */
static int check_remote(struct s3 *s, const char *name, long long bytes, const char *etag)
{
	long long size;
	char remote[128];
	int rc = s3_head(s, name, &size, remote);
	if (rc == EX_NOINPUT)
		warnx("%s: not there after the upload", s3_where(s, name));
	else if (!rc && size != bytes) {
		warnx("%s: %lld bytes after the upload, %lld were sent", s3_where(s, name), size, bytes);
		rc = EX_UNAVAILABLE;
	} else if (!rc && etag[0] && remote[0] && strcmp(etag, remote)) {
		warnx("%s: its ETag %s is not that of the upload (%s)", s3_where(s, name), remote, etag);
		rc = EX_UNAVAILABLE;
	}
	return rc;
}

int s3_upload(struct s3 *s, const char *name, long (*read)(void *ud, void *p, size_t n), void *ud,
	      long long *bytes)
{
	char *part = malloc((size_t)s->part_size), etag[128] = "";
	if (!part)
		err(EX_SOFTWARE, "out of memory");
	long n = read_full(read, ud, part, (size_t)s->part_size);
	int rc = 0;
	*bytes = 0;
	if (n < 0)
		rc = read_failed(s, name);
	else if (n < s->part_size) { /* all of it fits in one PUT */
		struct call c = { .method = "PUT",
				  .name = name,
				  .body = part,
				  .body_len = (size_t)n,
				  .content_type = "application/octet-stream" };
		rc = call(s, &c);
		snprintf(etag, sizeof etag, "%s", c.etag);
		buf_free(&c.small);
		*bytes = n;
	} else {
		struct upload u = { .s = s, .name = name };
		rc = mp_start(&u);
		if (!rc && interrupted) {
			warnx("%s: interrupted", s3_where(s, name));
			rc = EX_TEMPFAIL;
		}
		while (!rc && n > 0) {
			rc = mp_part(&u, part, (size_t)n);
			*bytes += n;
			if (!rc && (n = read_full(read, ud, part, (size_t)s->part_size)) < 0)
				rc = read_failed(s, name);
			if (!rc && n > 0 && u.parts >= 10000) {
				warnx("%s: more than 10000 parts; raise BK_S3_PART_SIZE", s3_where(s, name));
				rc = EX_USAGE;
			}
		}
		if (!rc)
			rc = mp_complete(&u, etag);
		if (rc && u.upload_id[0])
			mp_abort(&u);
		buf_free(&u.done);
	}
	free(part);
	if (!rc)
		rc = check_remote(s, name, *bytes, etag);
	return rc;
}

/* ---- uploads left open -------------------------------------------------- */

struct open_uploads {
	struct s3 *s;
	const char *name;
	int64_t before;
	struct buf key, id;
	int64_t initiated;
	long aborted;
	int rc;
	bool truncated;
	char next_key[1024], next_id[1024];
};

static void uploads_fn(void *ud, int depth, const char *name, const char *text)
{
	struct open_uploads *o = ud;
	if (depth == 2 && text && !strcmp(name, "IsTruncated"))
		o->truncated = !strcmp(text, "true");
	else if (depth == 2 && text && !strcmp(name, "NextKeyMarker"))
		snprintf(o->next_key, sizeof o->next_key, "%s", text);
	else if (depth == 2 && text && !strcmp(name, "NextUploadIdMarker"))
		snprintf(o->next_id, sizeof o->next_id, "%s", text);
	else if (depth == 3 && text && !strcmp(name, "Key")) {
		o->key.len = 0;
		buf_adds(&o->key, text);
	} else if (depth == 3 && text && !strcmp(name, "UploadId")) {
		o->id.len = 0;
		buf_adds(&o->id, text);
	} else if (depth == 3 && text && !strcmp(name, "Initiated")) {
		if (parse_iso_ms(text, &o->initiated) < 0)
			o->initiated = 0;
	} else if (depth == 2 && !text && !strcmp(name, "Upload")) {
		const char *key = buf_cstr(&o->key), *rel = key + strlen(o->s->prefix);
		if (!strncmp(key, o->s->prefix, strlen(o->s->prefix)) &&
		    (!o->name || !strcmp(rel, o->name)) && o->initiated <= o->before && !o->rc) {
			struct upload u = { .s = o->s, .name = rel };
			snprintf(u.upload_id, sizeof u.upload_id, "%s", buf_cstr(&o->id));
			o->rc = mp_abort(&u);
			o->aborted += !o->rc;
		}
		o->key.len = o->id.len = 0;
		o->initiated = 0;
	}
}

int s3_abort_stale(struct s3 *s, const char *name, int64_t min_age_ms, long *aborted)
{
	struct open_uploads o = { .s = s, .name = name, .before = now_ms() - min_age_ms };
	char *prefix = escape(s, s->prefix);
	int rc = 0;
	*aborted = 0;
	do {
		char *km = escape(s, o.next_key), *im = escape(s, o.next_id), *query;
		bool more = o.truncated;
		if (asprintf(&query, "%s%s%sprefix=%s%s%s%suploads=", more ? "key-marker=" : "",
			     more ? km : "", more ? "&" : "", prefix, more ? "&upload-id-marker=" : "",
			     more ? im : "", "&") < 0)
			err(EX_SOFTWARE, "out of memory");
		free(km);
		free(im);
		struct buf answer = { 0 };
		struct call c = { .method = "GET", .query = query, .quiet = 501 };
		rc = call_xml(s, &c, &answer);
		free(query);
		/* services without ListMultipartUploads: nothing can be found */
		if (rc == EX_NOINPUT)
			rc = 0, answer.len = 0;
		o.truncated = false;
		if (!rc && answer.len) {
			struct xml x;
			xml_init(&x, uploads_fn, &o);
			xml_feed(&x, answer.data, answer.len, true);
			xml_free(&x);
			rc = o.rc;
		}
		buf_free(&answer);
	} while (!rc && o.truncated && o.next_key[0]);
	free(prefix);
	buf_free(&o.key);
	buf_free(&o.id);
	*aborted = o.aborted;
	return rc;
}
