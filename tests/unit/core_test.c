/*
 * Unit tests of the shared library: ids, configuration, JSON writing, COPY
 * to JSON, times, the backup writer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bkfile.h"
#include "buf.h"
#include "config.h"
#include "copyjson.h"
#include "ids.h"
#include "jsonw.h"
#include "out.h"
#include "pg.h"
#include "store.h"
#include "timefmt.h"

#include "check.h"

#include <openssl/evp.h>

static void test_ids(void)
{
	CHECK(id_valid("full_1701396000000"));
	CHECK(id_valid("raffle_cabc-12_1701396000000"));
	CHECK(id_valid("manual_before-migration"));
	CHECK(!id_valid("full_"));
	CHECK(!id_valid("weekly_1"));
	CHECK(!id_valid("full_../../etc/passwd"));
	CHECK(!id_valid("full_a b"));
	CHECK(!id_valid("full_a;rm"));
	CHECK(!id_valid(""));
	char longid[200] = "full_";
	memset(longid + 5, 'a', 129);
	CHECK(!id_valid(longid));
	longid[5 + 128] = '\0';
	CHECK(id_valid(longid));
	CHECK(id_is_alias("latest") && id_is_alias("full_latest") && id_is_alias("raffle_latest"));
	CHECK(id_is_alias("raffle_abc_latest"));
	CHECK(!id_is_alias("full_123"));
	char fid[ID_MAX];
	CHECK(id_of_file_name("full_1.json", ".json", fid) && !strcmp(fid, "full_1"));
	CHECK(id_of_file_name("full_1.json.sha256", ".json.sha256", fid) && !strcmp(fid, "full_1"));
	CHECK(!id_of_file_name("notes.json", ".json", fid));
	CHECK(!id_of_file_name(".json", ".json", fid));
	CHECK(!id_of_file_name("full_1.json.bak", ".json", fid));
	CHECK(raffle_id_valid("cm1abc-_9") && !raffle_id_valid("a/b") && !raffle_id_valid(""));
}

static void test_config(void)
{
	char path[] = "/tmp/bk-unit-env-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\n\nexport BKU_A=1\nBKU_B=\"two words\\n\" \nBKU_C='x#y'\n"
			   "BKU_D=plain # trailing\nBKU_SET=fromfile\n";
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	setenv("BK_ENV_FILE", path, 1);
	setenv("BKU_SET", "fromenv", 1);
	CHECK(config_load() == 0);
	CHECK(!strcmp(config_get("BKU_A", ""), "1"));
	CHECK(!strcmp(config_get("BKU_B", ""), "two words\n"));
	CHECK(!strcmp(config_get("BKU_C", ""), "x#y"));
	CHECK(!strcmp(config_get("BKU_D", ""), "plain"));
	CHECK(!strcmp(config_get("BKU_SET", ""), "fromenv"));
	CHECK(!strcmp(config_get("BKU_NONE", "dflt"), "dflt"));
	FILE *f = fopen(path, "a");
	fputs("not a line\n", f);
	fclose(f);
	CHECK(config_load() == 64);
	unlink(path);
	long v;
	CHECK(parse_long("42", 1, 100, &v) == 0 && v == 42);
	CHECK(parse_long("0", 1, 100, &v) < 0);
	CHECK(parse_long("4x", 1, 100, &v) < 0);
	CHECK(parse_long("", 1, 100, &v) < 0);
	CHECK(parse_long(" 4", 1, 100, &v) < 0);
}

/* The plain byte-at-a-time escaping, to check the word-at-a-time one against. */
static void reference_string(struct buf *b, const unsigned char *s, size_t n)
{
	buf_addc(b, '"');
	for (size_t i = 0; i < n; i++) {
		char tmp[8];
		switch (s[i]) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\r': buf_adds(b, "\\r"); break;
		case '\t': buf_adds(b, "\\t"); break;
		case '\b': buf_adds(b, "\\b"); break;
		case '\f': buf_adds(b, "\\f"); break;
		default:
			if (s[i] < 0x20) {
				snprintf(tmp, sizeof tmp, "\\u%04x", s[i]);
				buf_adds(b, tmp);
			} else {
				buf_addc(b, (char)s[i]);
			}
		}
	}
	buf_addc(b, '"');
}

static void test_jsonw_random(void)
{
	static const unsigned char alphabet[] = "ab\"\\\n\x01\x1f \x7f\x80\xc3\xa9~";
	unsigned seed = 12345;
	int same = 1;
	for (int round = 0; round < 20000; round++) {
		unsigned char s[64];
		size_t n = (seed = seed * 1103515245 + 12345) % 40;
		for (size_t i = 0; i < n; i++)
			s[i] = alphabet[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof alphabet - 1)];
		struct buf fast = { 0 }, slow = { 0 };
		jsonw_string(&fast, (const char *)s, n);
		reference_string(&slow, s, n);
		same &= fast.len == slow.len && !memcmp(fast.data, slow.data, fast.len);
		buf_free(&fast);
		buf_free(&slow);
	}
	CHECK(same);
}

static void test_jsonw(void)
{
	struct buf b = { 0 };
	jsonw_string(&b, "a\"b\\c\n\t\x01 é🎉", strlen("a\"b\\c\n\t\x01 é🎉"));
	CHECK(!strcmp(buf_cstr(&b), "\"a\\\"b\\\\c\\n\\t\\u0001 é🎉\""));
	buf_free(&b);
}

static struct pg_column col(const char *name, enum col_kind kind, enum col_kind elem)
{
	struct pg_column c = { .name = (char *)name, .kind = kind, .elem_kind = elem };
	static char keys[16][64];
	static int n;
	snprintf(keys[n], sizeof keys[n], "\"%s\":", name);
	c.json_key = keys[n++ % 16];
	c.json_key_len = strlen(c.json_key);
	return c;
}

static const char *row_json(struct pg_table *t, const char *row)
{
	static struct buf out;
	struct buf scratch = { 0 };
	out.len = 0;
	int rc = copyjson_row(t, row, strlen(row), &out, &scratch);
	buf_free(&scratch);
	return rc < 0 ? NULL : buf_cstr(&out);
}

static void test_copyjson(void)
{
	struct pg_column cols[] = {
		col("n", COL_NUMBER, COL_STRING), col("f", COL_FLOAT, COL_STRING),
		col("b", COL_BOOL, COL_STRING),	  col("t", COL_TIMESTAMP, COL_STRING),
		col("s", COL_STRING, COL_STRING), col("a", COL_ARRAY, COL_STRING),
	};
	struct pg_table t = { .name = "T", .ncols = 6, .cols = cols };
	const char *j = row_json(&t, "9007199254740993\tNaN\tt\t2024-12-01 02:00:00.5\ta\\tb\\\\c\\nd\t"
				     "{\"\",\"a,b\",NULL,\"NULL\",\"q\\\\\"x\"}");
	CHECK(j && !strcmp(j, "{\"n\":9007199254740993,\"f\":\"NaN\",\"b\":true,"
			      "\"t\":\"2024-12-01T02:00:00.500Z\",\"s\":\"a\\tb\\\\c\\nd\","
			      "\"a\":[\"\",\"a,b\",null,\"NULL\",\"q\\\"x\"]}"));
	j = row_json(&t, "\\N\t1.5e-07\tf\t2024-12-01 02:00:00\t\t{}");
	CHECK(j && !strcmp(j, "{\"n\":null,\"f\":1.5e-07,\"b\":false,"
			      "\"t\":\"2024-12-01T02:00:00.000Z\",\"s\":\"\",\"a\":[]}"));
	j = row_json(&t, "1\t2\tt\tinfinity\tx\t{{1,2},{3,4}}");
	CHECK(j && strstr(j, "\"t\":\"infinity\"") && strstr(j, "\"a\":[[\"1\",\"2\"],[\"3\",\"4\"]]"));
	CHECK(row_json(&t, "1\t2\tt") == NULL); /* too few fields */
	CHECK(row_json(&t, "1\t2\tt\tx\ty\t{}\textra") == NULL);

	struct pg_column tz[] = { col("z", COL_TIMESTAMPTZ, COL_STRING), col("i", COL_ARRAY, COL_NUMBER) };
	struct pg_table t2 = { .name = "U", .ncols = 2, .cols = tz };
	j = row_json(&t2, "2024-01-02 03:04:05.123456+00\t{1,NULL,-3}");
	CHECK(j && !strcmp(j, "{\"z\":\"2024-01-02T03:04:05.123456Z\",\"i\":[1,null,-3]}"));
	j = row_json(&t2, "2024-01-02 03:04:05 BC\t[0:1]={1,2}");
	CHECK(j && !strcmp(j, "{\"z\":\"2024-01-02 03:04:05 BC\",\"i\":\"[0:1]={1,2}\"}"));
}

static void test_times(void)
{
	int64_t ms;
	char s[32];
	CHECK(parse_iso_ms("2024-12-01T02:00:00.000Z", &ms) == 0 && ms == 1733018400000);
	CHECK(parse_iso_ms("2024-12-01T04:00:00.5+02:00", &ms) == 0 && ms == 1733018400500);
	CHECK(parse_iso_ms("2024-12-01 02:00:00", &ms) == 0 && ms == 1733018400000);
	CHECK(parse_iso_ms("yesterday", &ms) < 0);
	CHECK(parse_iso_ms("2024-12-01T00:30:00-0130", &ms) == 0 && ms == 1733018400000);
	CHECK(parse_iso_ms("2024-12-01T02:00:00+00", &ms) == 0 && ms == 1733018400000);
	CHECK(parse_iso_ms("2024-12-01T02:00:00Zjunk", &ms) < 0);
	CHECK(parse_iso_ms("2024-12-01T02:00:00+02:00x", &ms) < 0);
	CHECK(parse_iso_ms("2024-12-01T02:00:00+2", &ms) < 0);
	format_iso_ms(1733018400007, s);
	CHECK(!strcmp(s, "2024-12-01T02:00:00.007Z"));
	/* every offset form names the same instant */
	const char *same[] = {
		"2024-12-01T02:00:00Z",	     "2024-12-01T02:00:00z",	  "2024-12-01 02:00:00",
		"2024-12-01T02:00:00",	     "2024-12-01T04:00:00+02",	  "2024-12-01T04:00:00+0200",
		"2024-12-01T04:00:00+02:00", "2024-11-30T23:30:00-0230",  "2024-11-30T23:30:00-02:30",
		"2024-12-01T02:00:00-00:00", "2024-12-01T02:00:00+00:00",
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++)
		CHECK(parse_iso_ms(same[i], &ms) == 0 && ms == 1733018400000);
	/* dates that do not exist are refused, whatever the offset; so are broken offsets */
	const char *bad[] = {
		"2024-02-30T10:00:00+01:00",  "2024-02-30T10:00:00Z",	   "2024-02-30T10:00:00",
		"2024-02-30 10:00:00-0500",   "2023-02-29T00:00:00+00",	   "2024-04-31T00:00:00Z",
		"2024-13-01T00:00:00Z",	      "2024-00-10T00:00:00Z",	   "2024-01-00T00:00:00Z",
		"2024-01-01T24:00:00Z",	      "2024-01-01T23:60:00Z",	   "2024-01-01T23:59:61Z",
		"2024-01-01T00:00:00+24:00",  "2024-01-01T00:00:00+01:60", "2024-01-01T00:00:00.Z",
		"2024-1-01T00:00:00Z",	      " 2024-01-01T00:00:00Z",	   "2024-01-01T00:00:00+01:0",
		"2024-01-01T00:00:00 +01:00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(parse_iso_ms(bad[i], &ms) < 0);
	CHECK(parse_iso_ms("2024-02-29T00:00:00Z", &ms) == 0);
	CHECK(parse_iso_ms("2000-02-29T00:00:00Z", &ms) == 0);
	CHECK(parse_iso_ms("2016-12-31T23:59:60Z", &ms) == 0 && ms == 1483228800000);
	CHECK(parse_iso_ms("1900-02-29T00:00:00Z", &ms) < 0);
	struct iso_time t;
	CHECK(parse_iso("2024-12-01T02:00:00.123456+01", 29, &t) == 0 && t.zone && t.sec == 1733014800 &&
	      t.frac_len == 7 && !strncmp(t.frac, ".123456", 7));
	CHECK(parse_iso("2024-12-01T02:00:00\0Z", 21, &t) < 0);
}

/* Every connection error goes through config_scrub before it is shown. */
static void test_scrub(void)
{
	setenv("DATABASE_URL", "postgresql://bk:pa%zz@w%40rd@db.example/bk?sslmode=require", 1);
	setenv("REDIS_URL", "redis://:r3dis%21pw@cache:6379/0", 1);
	setenv("TELEGRAM_BOT_TOKEN", "123:TOKENabc", 1);
	char *m = config_scrub("invalid percent-encoded token: \"pa%zz@w%40rd\" in "
			       "postgresql://bk:pa%zz@w%40rd@db.example/bk?sslmode=require; "
			       "AUTH r3dis!pw or r3dis%21pw; pa%zz@w@rd; bot123:TOKENabc");
	CHECK(!strstr(m, "pa%zz") && !strstr(m, "r3dis") && !strstr(m, "TOKENabc") && !strstr(m, "w@rd"));
	CHECK(strstr(m, "invalid percent-encoded token") != NULL);
	free(m);
	setenv("DATABASE_URL", "host=db password='se cret' user=bk", 1);
	m = config_scrub("bad: password='se cret' and se cret");
	CHECK(!strstr(m, "se cret"));
	free(m);
	unsetenv("DATABASE_URL");
	unsetenv("REDIS_URL");
	unsetenv("TELEGRAM_BOT_TOKEN");
	m = config_scrub("nothing to hide");
	CHECK(!strcmp(m, "nothing to hide"));
	free(m);
}

/* The one ISO 8601 parser: every offset form, and dates that do not exist. */
static void test_iso_forms(void)
{
	static const char *const same[] = {
		/* all 2024-12-01T02:00:00Z */
		"2024-12-01T02:00:00Z",	     "2024-12-01T02:00:00z",	  "2024-12-01T02:00:00",
		"2024-12-01T04:30:00+02:30", "2024-12-01T04:30:00+0230",  "2024-12-01T04:00:00+02",
		"2024-11-30T23:30:00-02:30", "2024-11-30T23:30:00-0230",  "2024-12-01T00:00:00-02",
		"2024-12-01T02:00:00+00:00", "2024-12-01T02:00:00-00:00", "2024-12-01 02:00:00Z",
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		int64_t ms = 0;
		CHECK(parse_iso_ms(same[i], &ms) == 0 && ms == 1733018400000);
	}
	static const char *const bad[] = {
		"2023-02-29T00:00:00Z", /* not a leap year */
		"1900-02-29T00:00:00Z", /* a century, not a leap year */
		"2024-02-30T00:00:00Z",	      "2024-04-31T00:00:00Z",
		"2024-06-31T00:00:00Z",	      "2024-09-31T00:00:00Z",
		"2024-11-31T00:00:00Z",	      "2024-13-01T00:00:00Z",
		"2024-00-10T00:00:00Z",	      "2024-12-00T00:00:00Z",
		"2024-12-32T00:00:00Z",	      "2024-12-01T24:00:00Z",
		"2024-12-01T02:60:00Z",	      "2024-12-01T02:00:00+24:00",
		"2024-12-01T02:00:00+02:60",  "2024-12-01T02:00:00+2:00",
		"2024-12-01T02:00:00+023",    "2024-12-01T02:00:00+02:0",
		"2024-12-01T02:00:00 +02:00", "2024-12-01T02:00:00ZZ",
		"2024-12-01T02:00:00UTC",     "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int64_t ms;
		CHECK(parse_iso_ms(bad[i], &ms) < 0);
	}
	int64_t ms;
	CHECK(parse_iso_ms("2024-02-29T12:00:00Z", &ms) == 0 && ms == 1709208000000);
	CHECK(parse_iso_ms("2000-02-29T00:00:00Z", &ms) == 0 && ms == 951782400000);
	CHECK(parse_iso_ms("2024-12-31T23:59:59.999Z", &ms) == 0 && ms == 1735689599999);
	long east;
	CHECK(iso_zone("", &east) == 0 && east == 0);
	CHECK(iso_zone("+05:45", &east) == 0 && east == 20700);
	CHECK(iso_zone("-0330", &east) == 0 && east == -12600);
	CHECK(iso_zone("+23:59", &east) == 0 && iso_zone("+24", &east) < 0);
}

static void test_table_keys(void)
{
	const char *cases[][2] = {
		{ "SellEvent", "sellEvents" },
		{ "AuditLog", "auditLogs" },
		{ "Raffle", "raffles" },
		{ "UserActivity", "userActivities" },
		{ "DexDailyStats", "dexDailyStats" },
		{ "Category", "categories" },
		{ "Box", "boxes" },
		{ "Day", "days" },
		{ "Stats", "stats" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *k = bkfile_table_key(cases[i][0]);
		CHECK(!strcmp(k, cases[i][1]));
		free(k);
	}
}

static char *read_whole(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	char chunk[65536];
	size_t got;
	while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, got);
	if (f)
		fclose(f);
	*n = b.len;
	return b.data;
}

/*
 * Writes n pseudo-random bytes in pieces of random sizes through a backup
 * writer in dir, direct ("yes") or through the page cache ("no"), and checks
 * the file holds exactly those bytes and its .sha256 line their SHA-256.
 * Whole and partial direct blocks, a piece larger than the writer's stage.
 */
static void out_round_trip(const char *dir, const char *direct, size_t n, unsigned seed)
{
	char path[4096], hex[65], want[65];
	snprintf(path, sizeof path, "%s/out-%zu.json", dir, n);
	setenv("BK_DIRECT_IO", direct, 1);
	char *data = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(rand_r(&seed) >> 7);
	struct out o;
	CHECK(out_open_path(&o, path, 0) == 0);
	int flags = fcntl(o.fd, F_GETFL);
	CHECKF(strcmp(direct, "no") || !(flags & O_DIRECT), "BK_DIRECT_IO=no still opened with O_DIRECT");
	for (size_t done = 0; done < n;) {
		size_t piece = (size_t)rand_r(&seed) % (seed % 3 ? 9000 : 3 << 20);
		piece = piece > n - done ? n - done : piece;
		out_write(&o, data + done, piece);
		done += piece;
	}
	CHECK(out_finish(&o, hex) == 0);
	size_t got;
	char *back = read_whole(path, &got);
	CHECKF(got == n && (n == 0 || !memcmp(back, data, n)), "%s, direct=%s, %zu bytes: %zu read back", dir,
	       direct, n, got);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	EVP_DigestUpdate(sha, data, n);
	out_digest_hex(sha, want);
	EVP_MD_CTX_free(sha);
	CHECKF(!strcmp(hex, want), "%s, direct=%s, %zu bytes: SHA-256 %s, not %s", dir, direct, n, hex, want);
	char sum_path[4200], *line;
	snprintf(sum_path, sizeof sum_path, "%s.sha256", path);
	line = read_whole(sum_path, &got);
	CHECK(line && got > 64 && !memcmp(line, want, 64));
	unlink(path);
	unlink(sum_path);
	free(line);
	free(back);
	free(data);
}

static void test_out(void)
{
	const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 12345 };
	char tmp[] = "/tmp/bk-out-XXXXXX", shm[] = "/dev/shm/bk-out-XXXXXX";
	const char *dirs[] = { mkdtemp(tmp), mkdtemp(shm) }; /* tmpfs may refuse O_DIRECT */
	for (size_t d = 0; d < 2; d++)
		for (size_t i = 0; dirs[d] && i < sizeof sizes / sizeof *sizes; i++) {
			out_round_trip(dirs[d], "yes", sizes[i], (unsigned)(i * 7 + d));
			out_round_trip(dirs[d], "no", sizes[i], (unsigned)(i * 7 + d));
		}
	for (size_t d = 0; d < 2; d++)
		if (dirs[d])
			rmdir(dirs[d]);
	unsetenv("BK_DIRECT_IO");
}

int main(void)
{
	test_ids();
	test_config();
	test_jsonw();
	test_jsonw_random();
	test_copyjson();
	test_times();
	test_scrub();
	test_iso_forms();
	test_table_keys();
	test_out();
	return check_done("core");
}
