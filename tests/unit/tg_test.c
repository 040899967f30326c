/* Unit tests of the Telegram side of the library: formatting, command
 * parsing, the admin guard, replies, the offset file, spawn, scrubbing;
 * and a small fuzz of the functions that read what users type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "spawn.h"
#include "tg-relay/tgcmd.h"
#include "tg-relay/tgguard.h"
#include "tg-relay/tgreply.h"
#include "tg-relay/tgstate.h"
#include "tg.h"
#include "tgfmt.h"

#include "check.h"

/* Compares a malloc'd result with the expected text, then frees it. */
#define CHECK_STR(got, want)                                                                                 \
	do {                                                                                                 \
		char *g_ = (got);                                                                            \
		if (g_ && !strcmp(g_, want))                                                                 \
			passed++;                                                                            \
		else {                                                                                       \
			failed++;                                                                            \
			fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,              \
				g_ ? g_ : "(null)", want);                                                   \
		}                                                                                            \
		free(g_);                                                                                    \
	} while (0)

static char *size_of(double bytes)
{
	char buf[32];
	tgfmt_size(buf, sizeof buf, bytes);
	return strdup(buf);
}

static char *date_of(const char *iso)
{
	char buf[64];
	tgfmt_date(buf, sizeof buf, iso);
	return strdup(buf);
}

static void test_size_and_date(void)
{
	CHECK_STR(size_of(0), "0 Bytes");
	CHECK_STR(size_of(512), "512 Bytes");
	CHECK_STR(size_of(1024), "1 KB");
	CHECK_STR(size_of(1536), "1.5 KB");
	CHECK_STR(size_of(2569012), "2.45 MB");
	CHECK_STR(size_of(50.0 * 1024 * 1024), "50 MB");
	CHECK_STR(size_of(3.0 * 1024 * 1024 * 1024), "3 GB");
	CHECK_STR(size_of(-5), "0 Bytes");
	CHECK_STR(date_of("2024-12-01T02:00:00.000Z"), "Dec 1, 2024, 2:00 AM");
	CHECK_STR(date_of("2024-12-01T14:05:09Z"), "Dec 1, 2024, 2:05 PM");
	CHECK_STR(date_of("2024-12-01T00:30:00Z"), "Dec 1, 2024, 12:30 AM");
	CHECK_STR(date_of("2024-12-01T12:00:00Z"), "Dec 1, 2024, 12:00 PM");
	CHECK_STR(date_of("2024-12-01T01:00:00.123456+02:00"), "Nov 30, 2024, 11:00 PM");
	CHECK_STR(date_of("2023-12-31 23:59:59-0130"), "Jan 1, 2024, 1:29 AM");
	CHECK_STR(date_of("yesterday"), "yesterday");
	CHECK_STR(date_of("2024-13-01T00:00:00Z"), "2024-13-01T00:00:00Z");
	char buf[8];
	CHECK(tgfmt_date(buf, sizeof buf, "2024-12-01T02:00:00Z") == 0);
	CHECK(tgfmt_date(buf, sizeof buf, NULL) == -1 && buf[0] == '\0');
}

static void test_utf8_and_chunks(void)
{
	CHECK_STR(tgfmt_utf8("ok é 🎉", strlen("ok é 🎉")), "ok é 🎉");
	CHECK_STR(tgfmt_utf8("a\xff"
			     "b",
			     3),
		  "a\xEF\xBF\xBD"
		  "b");
	CHECK_STR(tgfmt_utf8("\xC0\xAF", 2), "\xEF\xBF\xBD\xEF\xBF\xBD"); /* overlong */
	CHECK_STR(tgfmt_utf8("\xED\xA0\x80", 3),			  /* a surrogate */
		  "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	CHECK_STR(tgfmt_utf8("a\0b", 3), "a\xEF\xBF\xBD"
					 "b");
	CHECK_STR(tgfmt_utf8("\xE2\x82", 2), "\xEF\xBF\xBD\xEF\xBF\xBD"); /* cut short */
	CHECK(tgfmt_units("é🎉", strlen("é🎉")) == 3);
	CHECK(tgfmt_chunk("", 10) == 0);
	CHECK(tgfmt_chunk("short", 10) == 5);
	CHECK(tgfmt_chunk("line one\nline two\n", 12) == 9); /* whole lines */
	CHECK(tgfmt_chunk("word word word", 12) == 10);	     /* else at a space */
	CHECK(tgfmt_chunk("abcdefghij", 4) == 4);	     /* else anywhere */
	CHECK(tgfmt_chunk("éééé", 3) == 6);		     /* never inside a character */
	CHECK(tgfmt_chunk("🎉🎉", 3) == 4);		     /* 2 UTF-16 units each */
	CHECK(tgfmt_chunk("a\nb", 3) == 3);
}

static void test_markdown(void)
{
	CHECK_STR(tgfmt_md_escape("a_b*c.d!(e)\\"), "a\\_b\\*c\\.d\\!\\(e\\)\\\\");
	CHECK_STR(tgfmt_markdown("*bold* and _it_"), "*bold* and _it_");
	CHECK_STR(tgfmt_markdown("full_1701_2 failed."), "full\\_1701\\_2 failed\\.");
	CHECK_STR(tgfmt_markdown("2 * 3 = 6"), "2 \\* 3 \\= 6");
	CHECK_STR(tgfmt_markdown("*open\nclose*"), "\\*open\nclose\\*");
	CHECK_STR(tgfmt_markdown("`a_b.c` x"), "`a_b.c` x");
	CHECK_STR(tgfmt_markdown("`a\\b`"), "`a\\\\b`");
	CHECK_STR(tgfmt_markdown("```\nx = 1; `y`\n```"), "```\nx = 1; \\`y\\`\n```");
	CHECK_STR(tgfmt_markdown("[the docs](https://x.org/a_(b))"),
		  "[the docs](https://x.org/a_(b)\\)"); /* the URL stops at the first ) */
	CHECK_STR(tgfmt_markdown("[docs](https://x.org/a_b)."), "[docs](https://x.org/a_b)\\.");
	CHECK_STR(tgfmt_markdown("**"), "\\*\\*");
	CHECK_STR(tgfmt_markdown("`"), "\\`");
	CHECK_STR(tgfmt_markdown("#1 > 0 - {x} | y ~ z + w"), "\\#1 \\> 0 \\- \\{x\\} \\| y \\~ z \\+ w");
	CHECK_STR(tgfmt_markdown(""), "");
}

static struct tgcmd parsed;

static int parse(const char *text)
{
	return tgcmd_parse(text, "bk_bot", &parsed);
}

static void test_commands(void)
{
	CHECK(parse("hello") == 0 && parsed.kind == TGCMD_NONE);
	CHECK(parse("/backup") == 0 && parsed.kind == TGCMD_BACKUP && !strcmp(parsed.name, "/backup"));
	CHECK(parse("/backup@bk_bot") == 0 && parsed.kind == TGCMD_BACKUP);
	CHECK(parse("/backup@BK_Bot") == 0 && parsed.kind == TGCMD_BACKUP);
	CHECK(parse("/backup@other_bot") == 0 && parsed.kind == TGCMD_NONE);
	CHECK(tgcmd_parse("/backup@whoever", NULL, &parsed) == 0 && parsed.kind == TGCMD_BACKUP);
	CHECK(parse("/start") == 0 && parsed.kind == TGCMD_HELP);
	CHECK(parse("/backup now") == -1 && strstr(parsed.error, "unexpected argument now"));
	CHECK(parse("/nope") == -1 && parsed.kind == TGCMD_UNKNOWN);
	CHECK(parse("/backup_list") == 0 && parsed.kind == TGCMD_LIST);
	CHECK(parse("/backup_download full_1701396000000") == 0 && parsed.kind == TGCMD_DOWNLOAD &&
	      !strcmp(parsed.arg, "full_1701396000000"));
	CHECK(parse("/backup_download latest") == 0 && !strcmp(parsed.arg, "latest"));
	CHECK(parse("/backup_download ../../etc/passwd") == -1 &&
	      !strcmp(parsed.error, "invalid backup id ../../etc/passwd"));
	CHECK(parse("/backup_download") == -1);
	CHECK(parse("/backup_download full_1 full_2") == -1);
	CHECK(parse("/backup_download full_1") == 0 && !parsed.csv);
	CHECK(parse("/backup_download full_1 csv") == 0 && parsed.csv && !strcmp(parsed.arg, "full_1"));
	CHECK(parse("/backup_download latest CSV") == 0 && parsed.csv);
	CHECK(parse("/backup_download full_1 zip") == -1 && strstr(parsed.error, "only csv"));
	CHECK(parse("/backup_download full_1 csv x") == -1 && strstr(parsed.error, "unexpected argument x"));
	CHECK(parse("/backup_restore full_1 csv") == -1);
	CHECK(parse("/backup_restore raffle_abc_latest --skip-redis --skip-users") == 0 &&
	      parsed.kind == TGCMD_RESTORE && !strcmp(parsed.arg, "raffle_abc_latest") &&
	      parsed.skip == (TGCMD_SKIP_REDIS | TGCMD_SKIP_USERS));
	CHECK(parse("/backup_restore full_1 \xE2\x80\x94skip-analytics") == 0 &&
	      parsed.skip == TGCMD_SKIP_ANALYTICS);
	CHECK(parse("/backup_restore full_1 --skip-all") == -1 &&
	      strstr(parsed.error, "unknown option --skip-all"));
	CHECK(parse("/backup_restore full_1 --yes") == -1);
	CHECK(parse("/backup_restore full_1 --skip-raffles --skip-analytics --skip-users "
		    "--skip-redis") == -1);
	CHECK(parse("/backup_raffle clx_1-2") == 0 && !strcmp(parsed.arg, "clx_1-2"));
	CHECK(parse("/backup_raffle a/b") == -1);
	CHECK(parse("/backup_raffle --ended") == -1); /* never an option of bk-raffle */
	CHECK(parse("/backup_raffle -h") == -1);
	CHECK(parse("/backup_raffle") == -1);
	CHECK(parse("/backup_cleanup") == 0 && parsed.days == 0);
	CHECK(parse("/backup_cleanup 30") == 0 && parsed.days == 30);
	CHECK(parse("/backup_cleanup 0") == -1);
	CHECK(parse("/backup_cleanup -1") == -1);
	CHECK(parse("/backup_cleanup 1e3") == -1);
	CHECK(parse("/backup_cleanup 99999999999999999999") == -1);
	CHECK(parse("/backup_list\nsecond line is ignored") == 0);
	CHECK(parse("/help a b c d e f g h i j") == -1 && strstr(parsed.error, "too many"));
	CHECK(parse("/backup_download \x01\x02\xff") == -1 && !strcmp(parsed.error, "invalid backup id ???"));
	CHECK(!strcmp(tgcmd_skip_option(TGCMD_SKIP_USERS), "--skip-users"));
	CHECK(tgcmd_skip_option(3) == NULL && tgcmd_skip_group(0) == NULL);
}

static void test_guard(void)
{
	struct guard g;
	const char *bad;
	CHECK(guard_init(&g, "", 10, 60, &bad) == -1);
	CHECK(guard_init(&g, " , ", 10, 60, &bad) == -1);
	CHECK(guard_init(&g, "12,x", 10, 60, &bad) == -1 && !strcmp(bad, "x"));
	guard_free(&g);
	CHECK(guard_init(&g, "-5", 10, 60, &bad) == -1);
	guard_free(&g);
	CHECK(guard_init(&g, " 111 , 222,", 2, 60, &bad) == 0 && g.nadmins == 2);
	CHECK(guard_is_admin(&g, 111) && guard_is_admin(&g, 222) && !guard_is_admin(&g, 333));
	CHECK(guard_allow(&g, 111, 0, 1000) && guard_allow(&g, 111, 0, 1001));
	CHECK(!guard_allow(&g, 111, 0, 1002)); /* 3 in a minute, rate 2 */
	CHECK(guard_allow(&g, 222, 0, 1002));  /* per admin */
	CHECK(guard_allow(&g, 111, 0, 1060));  /* the first one aged out */
	CHECK(!guard_allow(&g, 333, 0, 1000));
	CHECK(guard_allow(&g, 111, 1, 1002)); /* per command */
	for (int i = 0; i < 3; i++)	      /* global: 4 x rate = 8 a minute */
		guard_allow(&g, 222, 10 + i, 1003);
	CHECK(!guard_allow(&g, 222, 20, 1003));
	CHECK(guard_allow(&g, 222, 20, 1063));
	long long db[] = { 333 };
	guard_set_db_admins(&g, db, 1);
	CHECK(guard_is_admin(&g, 333) && guard_is_admin(&g, 111));
	guard_set_db_admins(&g, NULL, 0); /* database down */
	CHECK(!guard_is_admin(&g, 333) && guard_is_admin(&g, 111));

	struct guard_pending p;
	const struct guard_pending *a = guard_add(&g, 111, "111", "full_1", TGCMD_SKIP_REDIS, 1000);
	CHECK(a && strlen(a->nonce) == GUARD_NONCE_LEN);
	char nonce[GUARD_NONCE_LEN + 1];
	strcpy(nonce, a->nonce);
	CHECK(guard_take(&g, "0123456789abcdef", 111, 1001, &p) == GUARD_UNKNOWN);
	CHECK(guard_take(&g, nonce, 222, 1001, &p) == GUARD_OTHER_USER);
	CHECK(guard_take(&g, nonce, 111, 1002, &p) == GUARD_OK && !strcmp(p.id, "full_1") &&
	      p.skip == TGCMD_SKIP_REDIS);
	CHECK(guard_take(&g, nonce, 111, 1003, &p) == GUARD_UNKNOWN); /* replayed */
	a = guard_add(&g, 111, "111", "full_2", 0, 1000);
	strcpy(nonce, a->nonce);
	CHECK(guard_take(&g, nonce, 111, 1061, &p) == GUARD_EXPIRED && !strcmp(p.id, "full_2"));
	CHECK(guard_take(&g, nonce, 111, 1061, &p) == GUARD_UNKNOWN);
	/* typed CONFIRM: the newest of that admin's */
	guard_add(&g, 111, "111", "full_4", 0, 1000);
	guard_add(&g, 111, "111", "full_5", 0, 1010);
	CHECK(guard_take_newest(&g, 222, 1011, &p) == GUARD_UNKNOWN);
	CHECK(guard_take_newest(&g, 111, 1011, &p) == GUARD_OK && !strcmp(p.id, "full_5"));
	CHECK(guard_take_newest(&g, 111, 1100, &p) == GUARD_EXPIRED && !strcmp(p.id, "full_4"));
	CHECK(guard_take_newest(&g, 111, 1100, &p) == GUARD_UNKNOWN);
	for (int i = 0; i < GUARD_PENDING_MAX + 5; i++)
		guard_add(&g, 111, "111", "full_3", 0, 2000);
	CHECK(g.npending == GUARD_PENDING_MAX);
	guard_free(&g);
}

static void test_replies(void)
{
	struct backup_info list[3] = {
		{ .id = "raffle_x_3",
		  .type = "raffle",
		  .raffle_id = "x",
		  .timestamp = "2024-12-03T00:00:00Z",
		  .size = 10 },
		{ .id = "full_2",
		  .type = "full",
		  .timestamp = "2024-12-02T00:00:00Z",
		  .size = 2048,
		  .error = "truncated" },
		{ .id = "full_1",
		  .type = "full",
		  .timestamp = "2024-12-01T02:00:00.000Z",
		  .size = 1536,
		  .path = "/b/full_1.json" },
	};
	CHECK_STR(reply_list(list, 3, 2),
		  "📋 Available Backups (times in UTC)\n\n"
		  "🗂️ FULL BACKUPS:\n• `full_2`\n  📅 Dec 2, 2024, 12:00 AM | 💾 2 KB | ⚠️ "
		  "corrupt\n\n"
		  "📄 RAFFLE BACKUPS:\n• `raffle_x_3`\n  📅 Dec 3, 2024, 12:00 AM | 💾 10 Bytes\n\n"
		  "... and 1 more\n\nUse /backup_download <id> to download a backup\n"
		  "Use /backup_restore <id> to restore one");
	CHECK_STR(reply_list(list, 0, 10), "📭 No backups found.");
	cJSON *meta = cJSON_Parse("{\"id\":\"full_1\",\"type\":\"full\","
				  "\"timestamp\":\"2024-12-01T02:00:00.000Z\",\"size\":1536}");
	CHECK_STR(reply_backup_created(meta),
		  "✅ Backup Created "
		  "Successfully\n\n📦 ID: `full_1`\n📅 Timestamp: Dec 1, 2024, 2:00 AM UTC\n"
		  "📊 Type: full\n💾 Size: 1.5 KB\n\nUse /backup_download `full_1` to download");
	cJSON *empty = cJSON_CreateArray();
	CHECK_STR(reply_backups_created(empty), "ℹ️ No ended raffle needed a backup.");
	CHECK_STR(reply_tool_failed("Backup", 75, "bk-dump: locked\n"),
		  "❌ Backup failed\n\n"
		  "⏳ Busy: another backup job holds the lock, try again in a few minutes.\n"
		  "`bk-dump: locked`");
	/* the first line says why; the rest are consequences */
	CHECK_STR(reply_tool_failed("Backup", 3, "one \xff\ntwo\n\n"),
		  "❌ Backup failed\n\nThe tool failed. (exit 3)\n`one \xEF\xBF\xBD`");
	CHECK_STR(reply_tool_failed("Restore", 69,
				    "bk-restore: cannot connect to "
				    "postgresql://bk:s3cret@db/bot: refused\nnothing has been changed\n"),
		  "❌ Restore failed\n\n🔌 The database or Redis is unreachable. (exit 69)\n"
		  "`bk-restore: cannot connect to postgresql://bk:***@db/bot: refused`");
	char scrub[80] = "host=db password=hunter2 user=bk; redis://:pw@r:6379/0";
	reply_scrub(scrub, sizeof scrub);
	CHECK(!strcmp(scrub, "host=db password=*** user=bk; redis://:***@r:6379/0"));
	char tight[] = "redis://:pw@r:6379/0"; /* a mask longer than the password: the end gives way */
	reply_scrub(tight, sizeof tight);
	CHECK(!strcmp(tight, "redis://:***@r:6379/"));
	char *w = reply_restore_warning("full_1", &list[2], TGCMD_SKIP_ANALYTICS | TGCMD_SKIP_REDIS, 60);
	CHECK(w && strstr(w, "Will restore: raffles, users, other tables\n") &&
	      strstr(w, "Skipping: analytics, redis\n") && strstr(w, "within 60 seconds"));
	free(w);
	/* a raffle backup touches only its raffle's rows and analytics */
	w = reply_restore_warning("raffle_x_3", &list[0], TGCMD_SKIP_REDIS, 60);
	CHECK(w && strstr(w, "Will restore: raffles, analytics\n\n") && !strstr(w, "Skipping") &&
	      !strstr(w, "users") && strstr(w, "Raffle: `x`"));
	free(w);
	cJSON *sum = cJSON_Parse("{\"backup\":\"full_1\",\"tables\":{\"Raffle\":3,\"Ticket\":100},"
				 "\"redisKeys\":2,\"safetyBackup\":\"full_9\"}");
	w = reply_restore_done(sum);
	CHECK(w && strstr(w, "Rows restored: 103\n  • Raffle: 3\n  • Ticket: 100\n🔑 Redis keys: 2"));
	free(w);
	cJSON *clean = cJSON_Parse("{\"deleted\":[{\"id\":\"full_0\"}],\"bytesFreed\":1048576,"
				   "\"tempFilesRemoved\":0}");
	w = reply_cleanup(clean);
	CHECK(w && strstr(w, "Deleted: 1 backup\n💾 Freed: 1 MB\n  • `full_0`\n"));
	free(w);
	cJSON_Delete(clean);
	/* /help says what bk-clean keeps: its calendar too, not the age alone */
	CHECK(strstr(reply_help(), "/backup_cleanup [days] - delete the backups no retention "
				   "rule keeps; kept are the newest full backup, the newest of "
				   "each recent hour, day, week and month, and all younger than "
				   "days\n") != NULL);
	CHECK(strstr(reply_help(), "older than days") == NULL);
	cJSON_Delete(sum);
	cJSON_Delete(empty);
	cJSON_Delete(meta);
}

static void test_state_spawn_scrub(void)
{
	char dir[] = "/tmp/tg_test.XXXXXX", path[64], bin[256];
	long long off;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/offset", dir);
	CHECK(tgstate_load(path, &off) == 0 && off == 0); /* missing: start at 0 */
	CHECK(tgstate_save(path, 123456789012LL) == 0);
	CHECK(tgstate_load(path, &off) == 0 && off == 123456789012LL);
	FILE *f = fopen(path, "w");
	fputs("12x\n", f);
	fclose(f);
	CHECK(tgstate_load(path, &off) == -1);
	unlink(path);
	rmdir(dir);

	struct spawn_result r;
	char *argv[] = { "echo", "a b", NULL }, *env[] = { NULL };
	CHECK(spawn_run("/bin/echo", argv, env, 0, &r) == 0 && r.status == 0 && !strcmp(r.out, "a b\n") &&
	      r.err_len == 0);
	spawn_free(&r);
	CHECK(spawn_run("/nonexistent/tool", argv, env, 0, &r) == 0 && r.status == 127 &&
	      strstr(r.err, "cannot execute"));
	spawn_free(&r);
	char *ls[] = { "ls", "/nonexistent-dir", NULL };
	CHECK(spawn_run("/bin/ls", ls, env, 0, &r) == 0 && r.status != 0 && r.err_len > 0);
	spawn_free(&r);
	/* the time limit: SIGTERM once it is up, what was printed before kept */
	char *slow[] = { "sh", "-c", "echo started; exec sleep 60", NULL };
	CHECK(spawn_run("/bin/sh", slow, env, 1, &r) == 0 && r.timed_out && r.status == 128 + 15 &&
	      !strcmp(r.out, "started\n"));
	spawn_free(&r);
	CHECK(spawn_run("/bin/echo", argv, env, 60, &r) == 0 && !r.timed_out && r.status == 0);
	spawn_free(&r);
	/* a child that ignores SIGTERM gets SIGKILL once the grace is over */
	char *stubborn[] = { "sh", "-c", "trap '' TERM; echo started; exec sleep 60", NULL };
	setenv("BK_TEST_KILL_GRACE", "1", 1);
	CHECK(spawn_run("/bin/sh", stubborn, env, 1, &r) == 0 && r.timed_out && r.status == 128 + 9 &&
	      !strcmp(r.out, "started\n"));
	unsetenv("BK_TEST_KILL_GRACE");
	spawn_free(&r);
	setenv("BK_BIN_DIR", "/opt/bk/bin", 1);
	CHECK(spawn_bin_dir(bin, sizeof bin) == 0 && !strcmp(bin, "/opt/bk/bin"));
	unsetenv("BK_BIN_DIR");
	CHECK(spawn_bin_dir(bin, sizeof bin) == 0 && bin[0] == '/');

	char msg[200] = "GET http://h/bot123:ABCDEFGHIJ/sendMessage failed; ABCDEFGHIJ again";
	tg_scrub(msg, "123:ABCDEFGHIJ");
	CHECK(!strcmp(msg, "GET http://h/bot***/sendMessage failed; *** again"));
	tg_scrub(msg, "");
	CHECK(strstr(msg, "***") != NULL);
}

/* Random bytes into everything that reads user text: no crash, no leak. */
static void fuzz(void)
{
	unsigned seed = 12345;
	static const char pieces[][24] = { "/backup_restore ",
					   "/backup_download ",
					   "full_",
					   "--skip-redis",
					   "\xE2\x80\x94",
					   "@bk_bot",
					   " ",
					   "\n",
					   "*",
					   "_",
					   "`",
					   "```",
					   "[",
					   "](",
					   ")",
					   "\\",
					   "\xff",
					   "\xF0\x9F\x8E",
					   "latest",
					   "/backup_cleanup 9" };
	char buf[600];
	for (int i = 0; i < 20000; i++) {
		size_t n = 0, want = (size_t)(rand_r(&seed) % 500);
		while (n < want) {
			if (rand_r(&seed) % 3 == 0) {
				const char *p = pieces[rand_r(&seed) % (sizeof pieces / sizeof *pieces)];
				size_t k = strlen(p);
				if (n + k >= sizeof buf - 1)
					break;
				memcpy(buf + n, p, k);
				n += k;
			} else {
				buf[n++] = (char)(rand_r(&seed) % 255 + 1);
			}
		}
		buf[n] = '\0';
		struct tgcmd c;
		tgcmd_parse(buf, i % 2 ? "bk_bot" : NULL, &c);
		free(tgfmt_markdown(buf));
		free(tgfmt_md_escape(buf));
		char *u = tgfmt_utf8(buf, n);
		size_t len = strlen(u), off = 0;
		while (off < len)
			off += tgfmt_chunk(u + off, 1 + (size_t)(rand_r(&seed) % 64));
		free(u);
		char d[64];
		tgfmt_date(d, sizeof d, buf);
	}
	passed++;
}

int main(void)
{
	test_size_and_date();
	test_utf8_and_chunks();
	test_markdown();
	test_commands();
	test_guard();
	test_replies();
	test_state_spawn_scrub();
	fuzz();
	return check_done("tg_test");
}
