/* tg-notify: send a message or a file to Telegram chats (tg-notify(1)). */
#include <curl/curl.h>
#include <err.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "config.h"
#include "tg.h"
#include "tgfmt.h"
#include "xalloc.h"

#define CHATS_MAX 64
#define STDIN_MAX (1L << 20)
#define CAPTION_MAX 1024 /* Telegram's limit on a document's caption */

struct notify {
	const char *chats[CHATS_MAX];
	int nchats;
	char *chat_list; /* TELEGRAM_NOTIFY_CHAT_IDS, split in place */
	const char *document;
	const char *caption;
	bool markdown;
	long retries;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tg-notify [-c ID]... [-d FILE] [-C TEXT] [-m] [-r N] [TEXT | -]\n"
		   "  -c, --chat ID        send to this chat (repeatable; default\n"
		   "                       $TELEGRAM_NOTIFY_CHAT_IDS)\n"
		   "  -d, --document FILE  send FILE as a document\n"
		   "  -C, --caption TEXT   the document's caption\n"
		   "  -m, --markdown       TEXT uses *bold*, _italic_, `code`, [link](url)\n"
		   "  -r, --retries N      retries after 429, 5xx and network errors (default 5)\n"
		   "  -h, --help           show this help\n"
		   "      --version        show the version\n"
		   "TEXT, or standard input when it is - or missing, is the message.\n");
}

/* A numeric chat id or a public @channelusername. */
static bool chat_valid(const char *c)
{
	size_t n;
	if (c[0] == '@')
		return (n = strspn(c + 1, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")) >= 4 &&
		       n <= 32 && !c[1 + n];
	n = strspn(c + (c[0] == '-'), "0123456789");
	return n >= 1 && n <= 20 && !c[(c[0] == '-') + n];
}

static int add_chat(struct notify *n, const char *chat)
{
	if (!chat_valid(chat)) {
		warnx("invalid chat id: %s", chat);
		return EX_USAGE;
	}
	if (n->nchats == CHATS_MAX) {
		warnx("too many chats (at most %d)", CHATS_MAX);
		return EX_USAGE;
	}
	n->chats[n->nchats++] = chat;
	return 0;
}

static int default_chats(struct notify *n)
{
	const char *list = config_get("TELEGRAM_NOTIFY_CHAT_IDS", NULL);
	if (!list) {
		warnx("no chat: give --chat or set TELEGRAM_NOTIFY_CHAT_IDS");
		return EX_USAGE;
	}
	n->chat_list = xstrdup(list);
	char *save = NULL;
	for (char *c = strtok_r(n->chat_list, ", \t", &save); c; c = strtok_r(NULL, ", \t", &save)) {
		int rc = add_chat(n, c);
		if (rc)
			return rc;
	}
	return n->nchats ? 0 : (warnx("TELEGRAM_NOTIFY_CHAT_IDS is empty"), EX_USAGE);
}

/* The message: TEXT, or stdin; made valid UTF-8 for Telegram. */
static int read_text(const char *arg, char **text)
{
	char *raw = NULL;
	size_t len = 0;
	if (arg && strcmp(arg, "-") != 0) {
		*text = xnonnull(tgfmt_utf8(arg, strlen(arg)));
		return 0;
	}
	raw = xmalloc(STDIN_MAX + 1);
	len = fread(raw, 1, STDIN_MAX + 1, stdin);
	if (ferror(stdin) || len > STDIN_MAX) {
		warnx(len > STDIN_MAX ? "standard input: more than 1 MB" : "standard input: read error");
		free(raw);
		return len > STDIN_MAX ? EX_DATAERR : EX_IOERR;
	}
	*text = xnonnull(tgfmt_utf8(raw, len));
	free(raw);
	return 0;
}

/* One chunk; MarkdownV2 Telegram cannot parse is sent again as plain text. */
static int send_chunk(struct tg *tg, const char *chat, const char *chunk, bool md)
{
	char *formatted = md ? xnonnull(tgfmt_markdown(chunk)) : NULL;
	int rc = tg_send_text(tg, chat, md ? formatted : chunk, md ? "MarkdownV2" : NULL, NULL);
	if (md && rc == EX_DATAERR && strstr(tg_error(tg), "can't parse entities")) {
		warnx("chat %s: %s; sending as plain text", chat, tg_error(tg));
		rc = tg_send_text(tg, chat, chunk, NULL, NULL);
	}
	free(formatted);
	return rc;
}

/* Splits at 4096 characters, on line boundaries when it can. */
static int send_text(struct tg *tg, const char *chat, const char *text, bool md)
{
	while (*text) {
		size_t n = tgfmt_chunk(text, TG_TEXT_MAX);
		char *chunk = xnonnull(strndup(text, n));
		size_t end = strlen(chunk);
		while (end > 0 && (chunk[end - 1] == '\n' || chunk[end - 1] == '\r'))
			chunk[--end] = '\0';
		int rc = chunk[strspn(chunk, " \t\r\n")] ? send_chunk(tg, chat, chunk, md) : 0;
		free(chunk);
		if (rc)
			return rc;
		text += n;
	}
	return 0;
}

static int send_document(struct tg *tg, const char *chat, const struct notify *n)
{
	const char *base = strrchr(n->document, '/');
	char caption[CAPTION_MAX * 4 + 8] = "";
	char *md = NULL;
	if (n->caption) {
		size_t len = tgfmt_chunk(n->caption, CAPTION_MAX);
		snprintf(caption, sizeof caption, "%.*s", (int)len, n->caption);
		if (n->markdown)
			md = xnonnull(tgfmt_markdown(caption));
	}
	int rc = tg_send_document(tg, chat, n->document, base ? base + 1 : n->document,
				  n->caption ? (md ? md : caption) : NULL, md ? "MarkdownV2" : NULL);
	free(md);
	return rc;
}

static int notify(const struct notify *n, const char *text)
{
	const char *token = config_get("TELEGRAM_BOT_TOKEN", NULL);
	if (!token) {
		warnx("TELEGRAM_BOT_TOKEN is not set");
		return EX_USAGE;
	}
	struct tg *tg = tg_new(config_get("TELEGRAM_API_URL", "https://api.telegram.org"), token);
	unsetenv("TELEGRAM_BOT_TOKEN");
	if (!tg)
		return EX_OSERR;
	tg_set_retries(tg, (int)n->retries, -1);
	int status = 0;
	for (int i = 0; i < n->nchats; i++) {
		int rc = n->document ? send_document(tg, n->chats[i], n)
				     : send_text(tg, n->chats[i], text, n->markdown);
		if (rc) {
			warnx("chat %s: %s", n->chats[i], tg_error(tg));
			status = status ? status : rc;
		}
	}
	tg_free(tg);
	return status;
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "chat", required_argument, NULL, 'c' },    { "document", required_argument, NULL, 'd' },
		{ "caption", required_argument, NULL, 'C' }, { "markdown", no_argument, NULL, 'm' },
		{ "retries", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },	     { NULL, 0, NULL, 0 },
	};
	struct notify n = { .retries = 5 };
	char *text = NULL;
	int c, rc;

	if ((rc = config_load()) != 0)
		return rc;
	while ((c = getopt_long(argc, argv, "c:d:C:mr:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if ((rc = add_chat(&n, optarg)))
				return rc;
			break;
		case 'd': n.document = optarg; break;
		case 'C': n.caption = optarg; break;
		case 'm': n.markdown = true; break;
		case 'r':
			if (parse_long(optarg, 0, 100, &n.retries) == 0)
				break;
			warnx("--retries: expected a number from 0 to 100");
			return EX_USAGE;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tg-notify %s\n", BK_VERSION); return 0;
		default: return usage_error("tg-notify");
		}
	}
	if (argc - optind > 1 || (n.document && optind < argc)) {
		warnx(n.document ? "with --document, give the text as --caption"
				 : "give the message as one argument (quote it)");
		return usage_error("tg-notify");
	}
	if (n.nchats == 0 && (rc = default_chats(&n)) != 0)
		goto out;
	if (!n.document) {
		if ((rc = read_text(argv[optind], &text)) != 0)
			goto out;
		if (!text[strspn(text, " \t\r\n")]) {
			warnx("nothing to send: the message is empty");
			rc = EX_DATAERR;
			goto out;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = notify(&n, text);
	curl_global_cleanup();
out:
	free(text);
	free(n.chat_list);
	return rc;
}
