#!/usr/bin/env bats
# tg-notify against the fake Bot API (tests/fake_telegram.py): no database.

load helpers

# bats sets status, output, lines and stderr:
# shellcheck disable=SC2154

bats_require_minimum_version 1.5.0

TOKEN="123456:TEST-secret-token-QWERTYUIOPasdfghjkl"
SECRET="TEST-secret-token-QWERTYUIOPasdfghjkl"

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	BIN=${BK_BIN_DIR:-$REPO/bin}
	FAKE=$REPO/tests/fake_telegram.py
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/tg-notify.XXXXXX")
	bk_fake_telegram "$T/fake" "$TOKEN" 600
	unset TELEGRAM_NOTIFY_CHAT_IDS
	export BK_ENV_FILE=/dev/null
	export TG_RETRY_DELAY_MS=50 TG_HTTP_TIMEOUT=30
}

teardown() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	rm -rf "$T"
}

fake() { python3 "$FAKE" "$1" "$T/fake" "${@:2}"; }

# The texts of the messages the fake accepted, one JSON string per line.
texts() {
	fake calls --method sendMessage | python3 -c '
import json, sys
for line in sys.stdin:
    c = json.loads(line)
    if c.get("status") == 200:
        print(json.dumps(c.get("text")))'
}

ok_count() { fake calls --method "$1" | grep -c '"status": 200' || true; }

# Neither the token nor its secret half in any text given as arguments.
no_token() {
	local f
	for f in "$@"; do
		if grep -qF -e "$TOKEN" -e "$SECRET" "$f"; then
			echo "token found in $f:" >&2
			cat "$f" >&2
			return 1
		fi
	done
}

@test "tg-notify --help and --version" {
	run "$BIN/tg-notify" --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: tg-notify [-c ID]... [-d FILE] [-C TEXT] [-m] [-r N] [TEXT | -]"* ]]
	run "$BIN/tg-notify" --version
	[ "$status" -eq 0 ]
	[ "$output" = "tg-notify 0.1.0" ]
}

@test "tg-notify sends a text to each --chat and to TELEGRAM_NOTIFY_CHAT_IDS" {
	run "$BIN/tg-notify" --chat 5 --chat -100200 "Backup done"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run fake calls --method sendMessage
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} == *'"chat_id": "5", "text": "Backup done"'* ]]
	[[ ${lines[1]} == *'"chat_id": "-100200"'* ]]
	[[ ${lines[0]} != *parse_mode* ]]

	TELEGRAM_NOTIFY_CHAT_IDS="7, 8" run "$BIN/tg-notify" "from env"
	[ "$status" -eq 0 ]
	[ "$(fake calls --method sendMessage --contains 'from env' | wc -l)" -eq 2 ]
}

@test "tg-notify reads the message from stdin" {
	run "$BIN/tg-notify" -c 5 - <<<"line one
line two"
	[ "$status" -eq 0 ]
	[ "$(texts)" = '"line one\nline two"' ]
	echo "no dash" | "$BIN/tg-notify" -c 5
	[ "$(texts | tail -n 1)" = '"no dash"' ]
}

# bats test_tags=race
@test "tg-notify waits retry_after on 429 and delivers once" {
	fake fail '{"method":"sendMessage","status":429,"retry_after":1,"count":1}'
	start=$(date +%s%N)
	run "$BIN/tg-notify" -c 5 "after the rate limit"
	end=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ $(((end - start) / 1000000)) -ge 1000 ]
	[ "$(fake calls --method sendMessage | wc -l)" -eq 2 ]
	[ "$(ok_count sendMessage)" -eq 1 ]
}

@test "tg-notify splits a long text on line boundaries, in order" {
	python3 -c '
for i in range(120):
    print("line %03d " % i + "x" * 90)' >"$T/long.txt"
	run "$BIN/tg-notify" -c 5 - <"$T/long.txt"
	[ "$status" -eq 0 ]
	texts >"$T/got"
	[ "$(wc -l <"$T/got")" -eq 3 ]
	python3 - "$T/got" "$T/long.txt" <<'EOF'
import json, sys
parts = [json.loads(l) for l in open(sys.argv[1])]
want = open(sys.argv[2]).read().rstrip("\n")
assert all(len(p) <= 4096 for p in parts), [len(p) for p in parts]
assert all(len(l) == 99 for p in parts for l in p.split("\n")), "a line was cut"
assert "\n".join(parts) == want, "not the same text, or not in order"
EOF
}

@test "tg-notify cuts a single line longer than 4096 characters" {
	python3 -c 'print("é" * 5000)' >"$T/one.txt"
	run "$BIN/tg-notify" -c 5 - <"$T/one.txt"
	[ "$status" -eq 0 ]
	texts >"$T/got"
	[ "$(wc -l <"$T/got")" -eq 2 ]
	python3 -c '
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
assert [len(x) for x in p] == [4096, 904], [len(x) for x in p]' "$T/got"
}

# bats test_tags=race
@test "tg-notify retries 5xx with backoff, then succeeds" {
	fake fail '{"method":"sendMessage","status":500,"count":2}'
	run "$BIN/tg-notify" -c 5 "eventually"
	[ "$status" -eq 0 ]
	run fake calls --method sendMessage
	[ "${#lines[@]}" -eq 3 ]
	[[ ${lines[0]} == *'"status": 500'* && ${lines[2]} == *'"status": 200'* ]]
	# waits of 50 ms then 100 ms between the attempts
	python3 -c '
import json, sys
t = [json.loads(l)["time"] for l in sys.stdin]
assert t[1] - t[0] >= 0.04 and t[2] - t[1] >= 0.09, t' <<<"$(fake calls --method sendMessage)"
}

@test "tg-notify gives up after --retries and exits 69" {
	fake fail '{"status":502,"count":50}'
	run --separate-stderr "$BIN/tg-notify" -c 5 --retries 2 "never"
	[ "$status" -eq 69 ]
	[ "$(fake calls --method sendMessage | wc -l)" -eq 3 ]
	[[ $stderr == *"tg-notify: chat 5: sendMessage: Telegram server error (HTTP 502)"*"gave up after 3 attempts"* ]]
}

# bats test_tags=race
@test "tg-notify retries a request that hangs" {
	# the hung call outlasts the test, so only the retry can succeed
	fake fail '{"method":"sendMessage","hang":600,"count":1}'
	TG_HTTP_TIMEOUT=3 run "$BIN/tg-notify" -c 5 "after a hang"
	[ "$status" -eq 0 ]
	[ "$(ok_count sendMessage)" -eq 1 ]
}

@test "tg-notify reports Telegram's refusal and does not retry it" {
	fake fail '{"method":"sendMessage","chat_id":"-42","status":400,"description":"Bad Request: chat not found","count":9}'
	run --separate-stderr "$BIN/tg-notify" -c -42 -c 5 "hello"
	[ "$status" -eq 65 ]
	[ "$stderr" = "tg-notify: chat -42: sendMessage: Telegram refused (HTTP 400): Bad Request: chat not found" ]
	[ "$(fake calls --method sendMessage --contains '"chat_id": "-42"' | wc -l)" -eq 1 ]
	# the other chat still got it
	[ "$(ok_count sendMessage)" -eq 1 ]
}

@test "tg-notify exits 77 when the token is rejected" {
	TELEGRAM_BOT_TOKEN=999:not-the-right-token-at-all run --separate-stderr "$BIN/tg-notify" -c 5 hi
	[ "$status" -eq 77 ]
	[[ $stderr == *"Unauthorized"* ]]
	[[ $stderr != *"not-the-right-token"* ]]
}

@test "tg-notify exits 69 when Telegram is unreachable" {
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	TELEGRAM_API_URL="http://127.0.0.1:$port" run --separate-stderr "$BIN/tg-notify" -c 5 -r 1 hi
	[ "$status" -eq 69 ]
	[[ $stderr == *"cannot reach Telegram"* ]]
	echo "$stderr" >"$T/err"
	no_token "$T/err"
}

@test "tg-notify --document uploads the file's bytes with its caption" {
	head -c 300000 /dev/urandom >"$T/full_1701396000000.json"
	run "$BIN/tg-notify" -c 5 --document "$T/full_1701396000000.json" --caption "nightly backup"
	[ "$status" -eq 0 ]
	run fake calls --method sendDocument
	[ "${#lines[@]}" -eq 1 ]
	sum=$(sha256sum "$T/full_1701396000000.json" | cut -d' ' -f1)
	[[ $output == *"\"filename\": \"full_1701396000000.json\", \"size\": 300000, \"sha256\": \"$sum\""* ]]
	[[ $output == *'"caption": "nightly backup"'* ]]
	cmp "$T/full_1701396000000.json" "$T"/fake/documents/*-full_1701396000000.json
}

@test "tg-notify --document of a missing file exits 66 and sends nothing" {
	run "$BIN/tg-notify" -c 5 --document "$T/nope.json"
	[ "$status" -eq 66 ]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
}

@test "tg-notify --markdown escapes what MarkdownV2 reserves" {
	# shellcheck disable=SC2016 # backquotes are markdown here
	run "$BIN/tg-notify" -c 5 --markdown 'Backup *full_1701396000000* done (2.45 MB) - ok! see `bk-list --json` [docs](https://example.org/a_b)'
	[ "$status" -eq 0 ]
	run texts
	# the fake checks the MarkdownV2 syntax and accepted it
	# shellcheck disable=SC2016
	[ "$output" = '"Backup *full\\_1701396000000* done \\(2\\.45 MB\\) \\- ok\\! see `bk-list --json` [docs](https://example.org/a_b)"' ]
	[[ $(fake calls --method sendMessage) == *'"parse_mode": "MarkdownV2"'* ]]
	# an unpaired marker is text, not markup
	run "$BIN/tg-notify" -c 5 -m '2 * 3 = 6 and snake_case #1'
	[ "$status" -eq 0 ]
	[ "$(texts | tail -n 1)" = '"2 \\* 3 \\= 6 and snake\\_case \\#1"' ]
}

@test "tg-notify without --markdown sends the text as it is" {
	run "$BIN/tg-notify" -c 5 'a_b *c* (d).'
	[ "$status" -eq 0 ]
	[ "$(texts)" = '"a_b *c* (d)."' ]
}

@test "tg-notify usage errors exit 64" {
	run "$BIN/tg-notify" hello
	[ "$status" -eq 64 ]
	[[ $output == *"no chat"* ]]
	run "$BIN/tg-notify" -c 'x y' hello
	[ "$status" -eq 64 ]
	run "$BIN/tg-notify" -c 5 --bogus hello
	[ "$status" -eq 64 ]
	run "$BIN/tg-notify" -c 5 one two
	[ "$status" -eq 64 ]
	run "$BIN/tg-notify" -c 5 -d /etc/hostname extra
	[ "$status" -eq 64 ]
	run "$BIN/tg-notify" -c 5 -r lots hi
	[ "$status" -eq 64 ]
	TELEGRAM_BOT_TOKEN="" run "$BIN/tg-notify" -c 5 hi
	[ "$status" -eq 64 ]
	[[ $output == *"TELEGRAM_BOT_TOKEN is not set"* ]]
	run "$BIN/tg-notify" -c 5 "   "
	[ "$status" -eq 65 ]
	[ "$(fake calls | wc -l)" -eq 0 ]
}

@test "tg-notify never shows the token, whatever goes wrong" {
	fake fail '{"status":500,"count":3}'
	"$BIN/tg-notify" -c 5 -r 1 "x" >"$T/out1" 2>"$T/err1" || true
	fake fail '{"status":429,"retry_after":0,"count":1}'
	"$BIN/tg-notify" -c 5 "y" >"$T/out2" 2>"$T/err2"
	TELEGRAM_API_URL="http://127.0.0.1:1/" "$BIN/tg-notify" -c 5 -r 0 z >"$T/out3" 2>"$T/err3" || true
	TELEGRAM_API_URL="ftp://127.0.0.1:1" "$BIN/tg-notify" -c 5 -r 0 z >"$T/out4" 2>"$T/err4" || true
	[ -s "$T/err1" ] && [ -s "$T/err3" ] && [ -s "$T/err4" ]
	no_token "$T"/out* "$T"/err* "$T/fake/calls.jsonl"
	# ftp:// is not allowed: only http and https
	grep -q "cannot reach Telegram" "$T/err4"
}
