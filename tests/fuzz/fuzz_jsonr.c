/*
 * The backup reader of bk-verify and bk-restore (lib/jsonr, lib/verify,
 * tools/bk-restore/restore_value) and bk-list's metadata reader
 * (lib/store) on any bytes.
 * Backups are outside input: a file in BACKUP_DIR, or stdin of bk-restore.
 *
 * Besides "no crash, no leak", the reader must agree with itself:
 * jsonr_validate, the memory reader and the descriptor reader with a tiny
 * window (a refill between any two bytes) give the same tokens, with or
 * without jsonr_peek first; jsonr_capture writes valid JSON that captures
 * to itself; and a walk with restore's value conversion counts the same
 * rows as a walk without a sink. Input that starts like zstd or gzip goes
 * through the decompressing source (lib/zsrc): from memory and from a
 * descriptor with a tiny window it must give the same tokens, and the
 * stored bytes it feeds are exactly the input.
 */
#include "fuzz_util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sysexits.h>
#include <unistd.h>

#include "bk-restore/restore_int.h"
#include "jsonr.h"
#include "store.h"
#include "verify.h"
#include "zsrc.h"

static int memfd = -1;

/* A descriptor holding exactly the input, read from the start. */
static int input_fd(const uint8_t *data, size_t size)
{
	if (memfd < 0)
		memfd = memfd_create("fuzz_jsonr", 0);
	CHECK(memfd >= 0);
	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	CHECK(lseek(memfd, 0, SEEK_SET) == 0);
	return memfd;
}

static void count_fed(void *ctx, const void *p, size_t n)
{
	(void)p;
	*(uint64_t *)ctx += n;
}

/* FNV-1a over the token kinds and texts: a fingerprint of a token stream. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t tokens(struct jsonr *r, bool peek, int *last)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int t;
	do {
		if (peek) {
			int p = jsonr_peek(r);
			t = jsonr_next(r);
			CHECK(p == t);
		} else {
			t = jsonr_next(r);
		}
		h = mix(h, &t, sizeof t);
		if (t == JSONR_KEY || t == JSONR_STRING || t == JSONR_NUMBER)
			h = mix(h, r->tok.data, r->tok.len);
	} while (t != JSONR_END && t != JSONR_ERROR);
	/* it keeps saying so */
	CHECK(jsonr_next(r) == t);
	*last = t;
	return h;
}

/* A column kind for a member name, so that every conversion gets exercised. */
static enum col_kind kind_of(const char *key)
{
	return (enum col_kind)(mix(0, key, strlen(key)) % (COL_ARRAY + 1));
}

struct sink_state {
	struct buf out, scratch;
	long long fields, redis;
};

static void *t_begin(void *ud, const char *key, bool nested)
{
	(void)key;
	(void)nested;
	return ud;
}

static bool t_is_column(void *ud, void *t, const char *key)
{
	(void)ud;
	(void)t;
	return kind_of(key) == COL_ARRAY || kind_of(key) == COL_JSON;
}

static int t_row(void *ud, void *t)
{
	(void)t;
	((struct sink_state *)ud)->out.len = 0;
	return 0;
}

static int t_field(void *ud, void *t, const char *key, struct jsonr *r, int first)
{
	(void)t;
	struct sink_state *s = ud;
	char err[200];
	s->fields++;
	if (restore_value(kind_of(key), r, first, &s->out, &s->scratch, err, sizeof err) < 0) {
		CHECK(err[0] != '\0');
		return EX_DATAERR;
	}
	buf_addc(&s->out, '\t');
	return 0;
}

static int t_end(void *ud, void *t)
{
	(void)ud;
	(void)t;
	return 0;
}

static int t_redis(void *ud, const char *key, size_t klen, const char *value, size_t vlen, const char *ttl)
{
	struct sink_state *s = ud;
	CHECK(key && (value || ttl));
	CHECK(memchr(key, '\0', klen) == NULL || klen > 0);
	(void)vlen;
	s->redis++;
	return 0;
}

static const struct verify_sink sink_ops = {
	.table_begin = t_begin,
	.is_column = t_is_column,
	.row_begin = t_row,
	.field = t_field,
	.row_end = t_end,
	.table_end = t_end,
	.redis = t_redis,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 1. the three ways of reading agree */
	char err[256];
	int valid = jsonr_validate(data, size, err, sizeof err);
	CHECK(valid == 0 || err[0] != '\0');

	struct jsonr r;
	int last_mem, last_fd;
	jsonr_init_mem(&r, data, size);
	uint64_t h_mem = tokens(&r, false, &last_mem);
	jsonr_free(&r);
	CHECK((valid == 0) == (last_mem == JSONR_END));

	/* the descriptor reader decompresses what looks compressed */
	bool compressed = zsrc_sniff(data, size) != ZSRC_PLAIN;
	jsonr_init_fd(&r, input_fd(data, size));
	r.window_size = 1 + size % 13;
	uint64_t fed = 0;
	r.feed = count_fed;
	r.feed_ctx = &fed;
	uint64_t h_fd = tokens(&r, true, &last_fd);
	jsonr_drain(&r);
	jsonr_free(&r);
	CHECK(fed == size); /* every stored byte is hashed, decodable or not */
	if (!compressed) {
		CHECK(last_fd == last_mem);
		CHECK(h_fd == h_mem);
	}

	/* the decompressing reader over memory agrees with it: both refuse, or
	 * both give the same tokens (how much of a damaged frame comes out
	 * before the error depends on the window: zstd checks its checksum at
	 * the frame's end, after or before flushing, by the room it has) */
	int last_z;
	jsonr_init_zmem(&r, data, size);
	uint64_t h_z = tokens(&r, false, &last_z);
	jsonr_free(&r);
	CHECK(last_z == last_fd);
	if (last_z == JSONR_END || !compressed)
		CHECK(h_z == h_fd);

	/* 2. capture writes JSON that reads back as itself */
	jsonr_init_mem(&r, data, size);
	struct buf cap = { 0 }, cap2 = { 0 };
	int t = jsonr_next(&r);
	if (t > 0 && jsonr_capture(&r, t, &cap, 1 << 20) == 0) {
		CHECK(jsonr_validate(cap.data, cap.len, err, sizeof err) == 0);
		struct jsonr r2;
		jsonr_init_mem(&r2, cap.data, cap.len);
		int t2 = jsonr_next(&r2);
		CHECK(jsonr_capture(&r2, t2, &cap2, 1 << 20) == 0);
		CHECK(cap2.len == cap.len && memcmp(cap.data, cap2.data, cap.len) == 0);
		jsonr_free(&r2);
	}
	jsonr_free(&r);
	buf_free(&cap);
	buf_free(&cap2);

	/* a tiny token limit takes the "too long" paths */
	jsonr_init_mem(&r, data, size);
	r.max_token = 3;
	tokens(&r, false, &last_mem);
	jsonr_free(&r);

	/* 3. the structure checks, without a sink and with restore's conversions */
	struct verify_result plain = { 0 }, sunk = { 0 };
	jsonr_init_mem(&r, data, size);
	int rc_plain = verify_stream(&r, NULL, &plain);
	jsonr_free(&r);
	CHECK(rc_plain == 0 || (rc_plain == EX_DATAERR && plain.error[0]));
	if (rc_plain == 0)
		CHECK(valid == 0);

	struct sink_state st = { 0 };
	struct verify_sink sink = sink_ops;
	sink.ud = &st;
	jsonr_init_fd(&r, input_fd(data, size));
	r.window_size = 1 + size % 7;
	int rc_sunk = verify_stream(&r, &sink, &sunk);
	jsonr_free(&r);
	if (rc_sunk == 0 && !compressed) {
		/* the sink may call an array a column value where the plain walk
		 * saw nested rows: every table the sink saw, the plain walk saw */
		CHECK(rc_plain == 0);
		for (int i = 0; i < sunk.ntables; i++)
			CHECK(verify_rows(&plain, sunk.tables[i].key) == sunk.tables[i].rows);
		CHECK(plain.redis_keys == sunk.redis_keys);
	}
	if (rc_plain == 0) {
		cJSON *summary = verify_summary(&plain, "fuzz", rc_plain);
		CHECK(summary != NULL);
		cJSON_Delete(summary);
	}
	verify_result_free(&plain);
	verify_result_free(&sunk);
	buf_free(&st.out);
	buf_free(&st.scratch);

	/* 4. bk-list's quick look at the head of a file */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", input_fd(data, size));
	struct backup_info info;
	CHECK(backup_info_read(path, &info) == 0);
	CHECK(info.error || (info.id && info.type && info.timestamp));
	backup_info_free(&info);

	/* 5. timestamps as restore rewrites them, from an exact-size copy */
	if (size <= 64) {
		char *copy = malloc(size ? size : 1);
		memcpy(copy, data, size);
		struct buf out = { 0 };
		restore_timestamp_utc(copy, size, &out);
		buf_free(&out);
		free(copy);
	}
	return 0;
}
