/*
 * What tg-relay does with text from Telegram before anything runs: the
 * command parser (tools/tg-relay/tgcmd), the admin list
 * (tools/tg-relay/tgguard), the confirmation nonces, and the text helpers
 * that put outside text into replies (lib/tgfmt: UTF-8 repair, chunking,
 * MarkdownV2 escaping), plus the reply builders on any JSON a tool might
 * print (tools/tg-relay/tgreply).
 *
 * The first byte picks the bot name tgcmd_parse is given; the rest is the
 * message text. A command that parses must carry only arguments that the
 * tools accept (bk-backup(5), bk(7)): this is what keeps shell metacharacters and
 * paths away from fork/exec.
 */
#include "fuzz_util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ids.h"
#include "tg-relay/tgcmd.h"
#include "tg-relay/tgguard.h"
#include "tg-relay/tgreply.h"
#include "tgfmt.h"

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return false;
	return true;
}

static void check_cmd(const char *text, const char *bot)
{
	struct tgcmd cmd;
	int rc = tgcmd_parse(text, bot, &cmd);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(cmd.error, '\0', sizeof cmd.error) && printable(cmd.error));
	CHECK(memchr(cmd.arg, '\0', sizeof cmd.arg));
	if (rc < 0) {
		CHECK(cmd.error[0]);
		return;
	}
	switch (cmd.kind) {
	case TGCMD_DOWNLOAD:
	case TGCMD_RESTORE:
		CHECK(id_valid(cmd.arg) || id_is_alias(cmd.arg));
		CHECK(cmd.skip != TGCMD_SKIP_ALL && (cmd.skip & ~TGCMD_SKIP_ALL) == 0);
		break;
	case TGCMD_RAFFLE: CHECK(raffle_id_valid(cmd.arg)); break;
	case TGCMD_CLEANUP:
		CHECK(cmd.days >= 0 && cmd.days <= 36500);
		CHECK(cmd.arg[0] == '\0');
		break;
	case TGCMD_UNKNOWN:
		CHECK(0); /* unknown commands are refused */
		break;
	default: CHECK(cmd.arg[0] == '\0' && cmd.skip == 0);
	}
	if (cmd.kind != TGCMD_NONE)
		CHECK(cmd.name[0] == '/' && printable(cmd.name));
	/* an argument the relay passes on never starts an option or a path */
	CHECK(cmd.arg[0] != '-' && !strchr(cmd.arg, '/') && !strchr(cmd.arg, '.'));
}

static void check_text(const char *s, size_t n)
{
	char *fixed = tgfmt_utf8(s, n);
	CHECK(fixed);
	size_t len = strlen(fixed);
	CHECK(utf8_valid(fixed, len));
	if (utf8_valid(s, n))
		CHECK(len == n && !memcmp(fixed, s, n));
	/* chunks: each fits, ends on a character, and together they are the text */
	/* limit >= 2: one character is at most 2 UTF-16 units */
	size_t limits[] = { 2, 7, 64, TG_TEXT_MAX };
	for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
		const char *p = fixed;
		size_t rest = len, guard = 0;
		while (rest) {
			size_t c = tgfmt_chunk(p, limits[i]);
			CHECK(c > 0 && c <= rest);
			CHECK(utf8_valid(p, c));
			CHECK(tgfmt_units(p, c) <= limits[i]);
			p += c;
			rest -= c;
			CHECK(++guard <= len);
		}
	}
	char *md = tgfmt_md_escape(fixed);
	CHECK(md && utf8_valid(md, strlen(md)));
	free(md);
	md = tgfmt_markdown(fixed);
	CHECK(md && utf8_valid(md, strlen(md)));
	free(md);
	char date[128];
	tgfmt_date(date, sizeof date, fixed);
	CHECK(memchr(date, '\0', sizeof date));
	free(fixed);
}

static void check_replies(const char *s, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(s, n);
	if (!j)
		return;
	/* a listing entry made of whatever the input says of itself */
	struct backup_info info = {
		.id = (char *)reply_str(j, "id", "full_1"),
		.type = (char *)reply_str(j, "type", NULL),
		.timestamp = (char *)reply_str(j, "timestamp", NULL),
		.raffle_id = (char *)reply_str(j, "raffleId", NULL),
		.error = (char *)reply_str(j, "error", NULL),
	};
	char *out[] = {
		reply_backup_created(j),  reply_backups_created(j),
		reply_list(&info, 1, 10), reply_restore_warning("full_1", &info, TGCMD_SKIP_REDIS, 60),
		reply_restore_done(j),	  reply_cleanup(j),
	};
	for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
		if (out[i])
			CHECK(strlen(out[i]) < (size_t)1 << 24);
		free(out[i]);
	}
	cJSON_Delete(j);
}

static void check_guard(const char *text)
{
	struct guard g;
	const char *bad = NULL;
	if (guard_init(&g, text, 3, 60, &bad) < 0) {
		CHECK(bad != NULL);
		return;
	}
	CHECK(g.nadmins >= 1 && g.nadmins <= GUARD_ADMINS_MAX);
	for (int i = 0; i < g.nadmins; i++) {
		CHECK(g.admins[i] > 0);
		CHECK(guard_is_admin(&g, g.admins[i]));
	}
	CHECK(!guard_is_admin(&g, 0) && !guard_is_admin(&g, -1));
	long long a = g.admins[0];
	for (int i = 0; i < 5; i++)
		CHECK(guard_allow(&g, a, 0, 1000) == (i < 3));
	const struct guard_pending *p = guard_add(&g, a, "1", "full_1", 0, 1000);
	if (p) {
		char nonce[GUARD_NONCE_LEN + 1];
		memcpy(nonce, p->nonce, sizeof nonce);
		struct guard_pending out;
		CHECK(guard_take(&g, text, a, 1000, &out) != GUARD_OK || !strcmp(text, nonce));
		CHECK(guard_take(&g, nonce, a + 1, 1001, &out) == GUARD_OTHER_USER || !strcmp(text, nonce));
	}
	guard_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	static const char *bots[] = { NULL, "MyBot", "", "mybot" };
	const char *bot = bots[data[0] % 4];
	char *text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	check_cmd(text, bot);
	check_guard(text);
	check_text((const char *)data + 1, size - 1);
	check_replies((const char *)data + 1, size - 1);
	free(text);
	return 0;
}
