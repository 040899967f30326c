#!/usr/bin/env bats
# tg-relay under hostile input (issue 7): 1,000 random updates from the fake
# Bot API (random JSON shapes, huge texts, unicode, commands carrying shell
# metacharacters, path traversal and option injection, from strangers and
# from an admin) → the relay keeps running, runs no tool with an argument
# that is not valid, and sends nothing but refusals and errors. The tools
# are stubs that record their argv. The updates come from a seeded
# generator, so a failure is reproducible (RELAY_HOSTILE_SEED).

load helpers

bats_require_minimum_version 1.5.0

TOKEN="123456:HOSTILE-secret-token-QWERTYUIOPasdf"
ADMIN=111
STRANGER=333

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	BIN=${BK_BIN_DIR:-$REPO/bin}
	FAKE=$REPO/tests/fake_telegram.py
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/tg-hostile.XXXXXX")
	mkdir "$T/bin" "$T/backups" "$T/calls"
	bk_fake_telegram "$T/fake" "$TOKEN" 900
	unset TG_RELAY_STATE STATE_DIRECTORY
	export TELEGRAM_ADMIN_IDS=$ADMIN
	export BK_ENV_FILE=/dev/null BACKUP_DIR=$T/backups
	export TG_POLL_TIMEOUT=1 TG_RETRY_DELAY_MS=50 TG_HTTP_TIMEOUT=30 TG_RATE_LIMIT=1000
	export STUB_CALLS=$T/calls
	local tool
	# every tool the relay could run: each call leaves its argv, NUL-separated
	for tool in bk-dump bk-list bk-raffle bk-restore bk-clean bk-verify tg-notify; do
		cat >"$T/bin/$tool" <<'EOF'
#!/bin/sh
printf '%s\0' "$(basename "$0")" "$@" >"$STUB_CALLS/$$.$(date +%s%N)"
case $0 in
*bk-list) echo '[]' ;;
*) echo '{}' ;;
esac
EOF
		chmod +x "$T/bin/$tool"
	done
	RELAY_PID=
}

teardown() {
	if [ -n "$RELAY_PID" ]; then
		kill "$RELAY_PID" 2>/dev/null || true
		wait "$RELAY_PID" 2>/dev/null || true
	fi
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	rm -rf "$T"
}

fake() { python3 "$FAKE" "$1" "$T/fake" "${@:2}"; }

# bats test_tags=race
@test "1,000 hostile updates: the relay survives, runs nothing unvalidated, sends only refusals and errors" {
	BK_BIN_DIR=$T/bin "$BIN/tg-relay" -s "$T/state" 2>"$T/relay.log" &
	RELAY_PID=$!
	bk_poll 120 grep -q "polling as" "$T/relay.log" || true
	grep -q "polling as" "$T/relay.log" || { cat "$T/relay.log"; return 1; }

	python3 - "$FAKE" "$T/fake" "${RELAY_HOSTILE_SEED:-7}" "$ADMIN" "$STRANGER" <<'PY'
import json, random, re, subprocess, sys

fake, fake_dir, seed, admin, stranger = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)

COMMANDS = ["/backup", "/backup_list", "/backup_download", "/backup_restore",
            "/backup_raffle", "/backup_cleanup", "/help", "/start"]
# arguments that must never reach a tool
EVIL = ["../../etc/passwd", "/etc/shadow", "full_1;rm -rf /", "$(reboot)", "`id`",
        "full_1|sh", "full_1&&touch /tmp/pwned", "raffle_x_latest/../..", "--ended",
        "-h", "--help", "--yes", "--clean", "-rf", "--wait=999", "-o/tmp/x",
        "full_" + "a" * 200, "x" * 300, "r\u00e9sum\u00e9", "full_\u202eexe", "\u2014yes",
        "\u2014clean", "full_1\u0000", "'; DROP TABLE \"Raffle\"; --", "%s%s%n",
        "full_1 --skip-redis --yes", "latest --clean", "0", "-1", "1e3", "99999",
        "36501", "0x10", "${IFS}", "*", "~root", "..", ".", "full_.", "raffle_", "\\",
        "\"quoted\"", "full_1\nfull_2", "\U0001F4A3", "\u0000", "a/b"]

# What of an argument the relay reads: text after a NUL never reaches it
# (cJSON strings end there), and a command is its message's first line.
def seen(arg):
    return arg.split("\0")[0].split("\n")[0]

# "0", "99999", "1e3" are raffle ids as good as any: not evil for
# /backup_raffle; nor is "full_1\nfull_2", read as "full_1".
RAFFLE_OK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$")
def raffle_valid(arg):
    words = seen(arg).split()
    return len(words) == 1 and RAFFLE_OK.match(words[0]) is not None
EVIL_RAFFLE = [e for e in EVIL if not raffle_valid(e)]
# Nor does "/backup \0" carry an argument: the relay reads "/backup ", a
# valid command. An admin's hostile argument is something it reads.
EVIL_ADMIN = [e for e in EVIL if seen(e).strip()]

def rand_text(n):
    pools = [
        lambda: chr(rnd.randint(0x20, 0x7e)),
        lambda: chr(rnd.randint(0xa0, 0x2fff)),
        lambda: chr(rnd.choice([0x1F600, 0x1F4A3, 0x10FFFF, 0xFEFF, 0x200B, 0x202E])),
        lambda: rnd.choice(" \t\n;|&$`'\"\\<>(){}[]*?~!#/"),
    ]
    return "".join(rnd.choice(pools)() for _ in range(n))

def rand_json(depth=0):
    k = rnd.randint(0, 7 if depth < 4 else 4)
    if k == 0: return None
    if k == 1: return rnd.choice([True, False])
    if k == 2: return rnd.choice([0, -1, 2**63, -2**63 - 1, 1e300, 111.5, admin, str(admin)])
    if k == 3: return rand_text(rnd.randint(0, 40))
    if k == 4: return rnd.choice(["/backup", "/help", "rc:" + rand_text(8), ""])
    if k == 5: return [rand_json(depth + 1) for _ in range(rnd.randint(0, 4))]
    return {rnd.choice(["message", "from", "chat", "id", "text", "data", "callback_query",
                        "message_id", "edited_message", rand_text(5)]): rand_json(depth + 1)
            for _ in range(rnd.randint(0, 5))}

def hostile_command():
    """An admin's command that tgcmd must refuse (or a text it ignores)."""
    k = rnd.randint(0, 9)
    if k <= 4:
        cmd = rnd.choice(["/backup_download", "/backup_restore", "/backup_raffle",
                          "/backup_cleanup"])
        return cmd + " " + rnd.choice(EVIL_RAFFLE if cmd == "/backup_raffle" else EVIL_ADMIN)
    if k == 5:
        return rnd.choice(["/backup", "/backup_list", "/help"]) + " " + rnd.choice(EVIL_ADMIN)
    if k == 6:
        return "/" + rnd.choice(["rm -rf /", "../../bin/sh", "backup_dump", "bash -c id",
                                 "backup_restore_all", "BACKUP"]) 
    if k == 7:
        return "/backup_restore " + rnd.choice(["full_1", "latest"]) + " " + \
            " ".join(rnd.choice(EVIL + ["--skip-redis"]) for _ in range(rnd.randint(1, 3))) + " --yes"
    if k == 8:
        # too long: no line break in the first 600 characters, or the
        # command (its first line) could be short and valid by chance
        # ("/backup_cleanup \n..." is a cleanup)
        cmd = rnd.choice(COMMANDS[2:6])
        text = rand_text(rnd.randint(600, 100000))
        return cmd + " " + text[:600].replace("\n", " ") + text[600:]
    # too many words: all of them on the command's line ("/backup_raffle D\n..."
    # would be one valid raffle id)
    return "/backup_raffle " + " ".join(rand_text(3).replace("\n", " ")
                                        for _ in range(rnd.randint(9, 20)))

chat_admin = {"id": admin, "type": "private"}
updates = []
for i in range(1000):
    k = rnd.random()
    if k < 0.20:
        u = rand_json()
        u = u if isinstance(u, dict) else {"message": u}
        # random shapes, not the admin's authority: a well-formed admin
        # command built by chance would be answered as one (seed-dependent)
        for kind in ("message", "callback_query"):
            m = u.get(kind)
            if isinstance(m, dict) and isinstance(m.get("from"), dict) and \
                    type(m["from"].get("id")) is int and m["from"]["id"] == admin:
                m["from"]["id"] = stranger
    elif k < 0.50:
        text = rnd.choice(COMMANDS) + rnd.choice(["", " " + rnd.choice(EVIL), " full_1", " latest"])
        u = {"message": {"message_id": i, "from": {"id": stranger + i}, "chat": {"id": stranger + i},
                         "text": text}}
    elif k < 0.85:
        u = {"message": {"message_id": i, "from": {"id": admin}, "chat": chat_admin,
                         "text": hostile_command()}}
    elif k < 0.90:
        u = {"message": {"message_id": i, "from": {"id": admin}, "chat": chat_admin,
                         "text": rand_text(rnd.choice([1, 50, 5000]))}}
    else:
        u = {"callback_query": {"id": "cq%d" % i,
                                "from": {"id": rnd.choice([admin, stranger])},
                                "data": rnd.choice(["rc:" + rand_text(16), "rx:" + rand_text(16),
                                                    rand_text(70), "", "rc:", "rc:../../x"]),
                                "message": {"message_id": 5, "chat": chat_admin}}}
    u["update_id"] = 1000 + i
    updates.append(u)

# in batches, as Telegram gives at most 100 updates per getUpdates
for b in range(0, len(updates), 100):
    subprocess.run([sys.executable, fake, "push", fake_dir, "--json", "-"],
                   input=json.dumps(updates[b:b + 100]).encode(), check=True)
PY

	# a command queued after all of them is answered: every one was handled
	# (a marker no hostile update can bring: /help could come from one)
	fake push --text "/backup_download hostile-end-marker" --from "$ADMIN"
	fake wait --method sendMessage --contains "hostile-end-marker" --timeout 900 || {
		tail -n 30 "$T/relay.log"
		return 1
	}
	kill -0 "$RELAY_PID"

	# no tool ran with an argument outside what the relay may pass
	python3 - "$T/calls" <<'PY'
import os, re, sys
ID = re.compile(r"^(full|raffle|manual)_[A-Za-z0-9_-]{1,128}$")
RAFFLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$")
def alias(a):
    return a in ("latest", "full_latest", "raffle_latest") or \
        (a.startswith("raffle_") and a.endswith("_latest") and ID.match(a) is not None)
def valid(argv):
    tool, args = argv[0], argv[1:]
    if tool == "bk-list":
        return args == ["--json"]
    if tool == "bk-dump":
        return args == []
    if tool == "bk-raffle":
        return len(args) == 1 and RAFFLE.match(args[0]) is not None
    if tool == "bk-clean":
        return args == [] or (len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= 36500)
    if tool == "bk-restore":
        skips = {"--skip-raffles", "--skip-analytics", "--skip-users", "--skip-redis"}
        return len(args) >= 2 and (ID.match(args[0]) or alias(args[0])) and \
            args[-1] == "--yes" and all(a in skips for a in args[1:-1])
    return False
calls = 0
for name in sorted(os.listdir(sys.argv[1])):
    argv = open(os.path.join(sys.argv[1], name), "rb").read().split(b"\0")[:-1]
    argv = [a.decode("utf-8", "surrogateescape") for a in argv]
    calls += 1
    if not valid(argv):
        sys.exit("a tool ran with an unvalidated argument: %r" % argv)
print("# %d tool runs, every argument valid" % calls, file=sys.stderr)
PY

	# nothing was sent but refusals and errors (and help texts: a hostile
	# "/help ..." may get one)
	fake calls --method sendMessage >"$T/sent.jsonl"
	python3 - "$T/sent.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    text = json.loads(line).get("text", "")
    if "Backup Bot Commands" in text:
        continue
    n += 1
    # ⛔ not allowed, ❌ invalid arguments, ❓ no such backup, ⌛ expired
    # confirmation, 🐢 rate limit; ⏳ busy: a command that comes while an
    # earlier one of its kind still runs (a download that ends in ❓) is
    # refused as busy or answered, as the two happen to finish: both right
    if not text.startswith(("\u26d4", "\u274c", "\u2753", "\u231b", "\U0001F422",
                            "\u23f3 Busy:")):
        sys.exit("not a refusal or an error: %r" % text[:200])
if n < 500:
    sys.exit("only %d refusals and errors were sent" % n)
print("# %d refusals and errors" % n, file=sys.stderr)
PY
	# no document, no restore keyboard went out
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ "$(grep -c "Confirm" "$T/sent.jsonl")" -eq 0 ]
	kill -TERM "$RELAY_PID"
	status=0
	wait "$RELAY_PID" || status=$?
	RELAY_PID=
	[ "$status" -eq 0 ]
}
