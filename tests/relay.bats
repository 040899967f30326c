#!/usr/bin/env bats
# tg-relay against the fake Bot API (tests/fake_telegram.py). Most tests run
# stub tools that print the backup tools' JSON contracts, to check the relay's
# own behaviour; the last ones run the real tools on PostgreSQL and Redis.

load helpers

# bats runs each test in a subshell and sets status, output, lines, stderr:
# shellcheck disable=SC2030,SC2031,SC2154

bats_require_minimum_version 1.5.0

TOKEN="123456:TEST-secret-token-QWERTYUIOPasdfghjkl"
SECRET="TEST-secret-token-QWERTYUIOPasdfghjkl"
ADMIN=111
OTHER_ADMIN=222
STRANGER=333

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	BIN=${BK_BIN_DIR:-$REPO/bin}
	FAKE=$REPO/tests/fake_telegram.py
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/tg-relay.XXXXXX")
	mkdir "$T/bin" "$T/backups"
	bk_fake_telegram "$T/fake" "$TOKEN" 600
	unset STUB_HOLD STUB_EXIT STUB_ERR TG_RELAY_STATE STATE_DIRECTORY BK_ADMINS_FROM_DB
	export TELEGRAM_ADMIN_IDS="$ADMIN, $OTHER_ADMIN"
	export BK_ENV_FILE=/dev/null BACKUP_DIR=$T/backups
	export TG_POLL_TIMEOUT=1 TG_RETRY_DELAY_MS=50 TG_HTTP_TIMEOUT=30 TG_RATE_LIMIT=100
	# a confirmation window no loaded machine outlasts between question and
	# press (the default of 60 s is checked where nobody presses)
	export TG_CONFIRM_TIMEOUT=600
	export STUB_LOG=$T/stub.log STUB_DIR=$T
	: >"$STUB_LOG"
	make_stubs
	TOOLS=$T/bin
	RELAY_PID=
}

teardown() {
	if [ -n "$RELAY_PID" ]; then
		kill "$RELAY_PID" 2>/dev/null || true
		wait "$RELAY_PID" 2>/dev/null || true
	fi
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	if [ -n "${BK_TMP:-}" ] && declare -F bk_stop_servers >/dev/null; then
		bk_stop_servers
	fi
	rm -rf "$T"
}

# Stub tools: they log their argv and print what the real ones promise.
make_stubs() {
	cat >"$T/bin/bk-dump" <<'EOF'
#!/bin/sh
echo "bk-dump $*" >>"$STUB_LOG"
env >"$STUB_DIR/env.bk-dump"
# STUB_HOLD: runs until that file exists (the test says when)
i=0
while [ -n "$STUB_HOLD" ] && [ ! -e "$STUB_HOLD" ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i + 1)); done
if [ -n "$STUB_EXIT" ]; then
	[ -z "$STUB_ERR" ] || echo "$STUB_ERR" >&2
	echo "bk-dump: something went wrong ($STUB_EXIT)" >&2
	exit "$STUB_EXIT"
fi
id=full_$(date +%s%3N)
f=$BACKUP_DIR/$id.json
printf '{"metadata":{"id":"%s","timestamp":"2024-12-01T02:00:00.000Z","type":"full"},"data":{}}\n' "$id" >"$f"
printf '{"id":"%s","timestamp":"2024-12-01T02:00:00.000Z","type":"full","version":"1.0","tool":"bk-dump 0.1.0","database":"bot","tables":{"raffles":3},"redis":{"keys":2},"path":"%s","size":2569012,"sha256":"00"}\n' "$id" "$f"
EOF
	cat >"$T/bin/bk-restore" <<'EOF'
#!/bin/sh
echo "bk-restore $*" >>"$STUB_LOG"
i=0
while [ -n "$STUB_HOLD" ] && [ ! -e "$STUB_HOLD" ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i + 1)); done
printf '{"backup":"%s","dryRun":false,"tables":{"Raffle":3,"Ticket":100},"redisKeys":2,"safetyBackup":"full_1701999999999"}\n' "$1"
EOF
	cat >"$T/bin/bk-raffle" <<'EOF'
#!/bin/sh
echo "bk-raffle $*" >>"$STUB_LOG"
if [ "$1" = missing ]; then
	echo "bk-raffle: raffle missing not found" >&2
	exit 66
fi
id=raffle_$1_1733018400000
printf '{"metadata":{"id":"%s","timestamp":"2024-12-01T02:00:00.000Z","type":"raffle","raffleId":"%s"},"data":{}}\n' "$id" "$1" >"$BACKUP_DIR/$id.json"
printf '{"id":"%s","timestamp":"2024-12-01T02:00:00.000Z","type":"raffle","raffleId":"%s","version":"1.0","path":"%s","size":1536}\n' "$id" "$1" "$BACKUP_DIR/$id.json"
EOF
	cat >"$T/bin/bk-clean" <<'EOF'
#!/bin/sh
echo "bk-clean $*" >>"$STUB_LOG"
printf '{"deleted":[{"id":"full_1690000000000","timestamp":"2023-07-22T04:26:40.000Z","size":1000}],"bytesFreed":2048,"tempFilesRemoved":1,"dryRun":false}\n'
EOF
	chmod +x "$T"/bin/*
}

fake() { python3 "$FAKE" "$1" "$T/fake" "${@:2}"; }

# mk_backup ID [BYTES]: a backup file with its metadata (dated by the id's
# milliseconds), padded to BYTES when that is more than the metadata takes.
mk_backup() {
	python3 - "$T/backups/$1.json" "$1" "${2:-0}" <<'PY'
import json, sys, time
path, bid, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
parts = bid.split("_")
ms = int(parts[-1])
meta = {"id": bid, "type": parts[0], "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)}
if parts[0] == "raffle":
    meta["raffleId"] = "_".join(parts[1:-1])
head, tail = '{"metadata":%s,"data":{"pad":"' % json.dumps(meta), '"}}\n'
open(path, "w").write(head + "x" * max(0, size - len(head) - len(tail)) + tail)
PY
}

start_relay() {
	local n
	n=$(grep -c "polling as" "$T/relay.log" 2>/dev/null || true)
	BK_BIN_DIR=$TOOLS "$BIN/tg-relay" -s "$T/state" 2>>"$T/relay.log" &
	RELAY_PID=$!
	for _ in $(seq 2400); do	# up to 2 minutes on a loaded machine
		[ "$(grep -c "polling as" "$T/relay.log")" -gt "${n:-0}" ] && return 0
		kill -0 "$RELAY_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "the relay did not start:" >&2
	cat "$T/relay.log" >&2
	return 1
}

stop_relay() {
	kill -TERM "$RELAY_PID"
	local rc=0
	wait "$RELAY_PID" || rc=$?
	RELAY_PID=
	[ "$rc" -eq 0 ] || { echo "relay exited $rc" >&2; cat "$T/relay.log" >&2; return 1; }
}

# say TEXT [USER]: a message from USER (default the admin) in their chat.
say() { fake push --text "$1" --from "${2:-$ADMIN}"; }

press() { fake push --callback "$1" --from "${2:-$ADMIN}"; }

# Waits for the Nth (default 1st) sent message containing TEXT.
reply() {
	fake wait --method sendMessage --contains "$1" --count "${2:-1}" || {
		echo "---- calls" >&2; fake calls >&2; echo "---- relay.log" >&2
		cat "$T/relay.log" >&2; return 1; }
}

# The text of the last sent message containing TEXT, as the admin sees it
# (MarkdownV2 escapes and code span marks removed).
text_of() {
	fake calls --method sendMessage --contains "$1" | tail -n 1 |
		python3 -c 'import json, sys; c = json.loads(sys.stdin.read()); print(c.get("visible", c["text"]))'
}

# Everything sent before this returns has been handled: /help is answered in
# order, after the commands queued before it.
barrier() {
	local n
	n=$(fake calls --method sendMessage --contains "Backup Bot Commands" | wc -l)
	say /help
	reply "Backup Bot Commands" $((n + 1))
}

ran() { grep -c "^$1" "$STUB_LOG" || true; }

no_token() {
	local f
	for f in "$@"; do
		if grep -qF -e "$TOKEN" -e "$SECRET" "$f"; then
			echo "token found in $f" >&2
			return 1
		fi
	done
}

@test "tg-relay --help and --version" {
	run "$BIN/tg-relay" --help
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "usage: tg-relay [-s FILE]" ]]
	run "$BIN/tg-relay" --version
	[ "$output" = "tg-relay 0.1.0" ]
	run "$BIN/tg-relay" extra
	[ "$status" -eq 64 ]
}

@test "tg-relay refuses to start without admins or token" {
	TELEGRAM_ADMIN_IDS="" run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 64 ]
	[[ $output == *"TELEGRAM_ADMIN_IDS is not set: refusing to start"* ]]
	TELEGRAM_ADMIN_IDS="111,abc" run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 64 ]
	[[ $output == *"TELEGRAM_ADMIN_IDS"* ]]
	TELEGRAM_ADMIN_IDS=" , " run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 64 ]
	TELEGRAM_BOT_TOKEN="" run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 64 ]
	[[ $output == *"TELEGRAM_BOT_TOKEN is not set"* ]]
	TG_POLL_TIMEOUT=soon run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 64 ]
	[ "$(fake calls | wc -l)" -eq 0 ]
}

@test "tg-relay exits 77 when Telegram rejects the token" {
	TELEGRAM_BOT_TOKEN=42:wrong-token-wrong-token run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 77 ]
	[[ $output == *"Unauthorized"* ]]
	[[ $output != *"wrong-token"* ]]
}

@test "non-admin /backup: refusal, nothing runs, no backup file" {
	start_relay
	say /backup "$STRANGER"
	reply "only the bot's administrators"
	[[ $(fake calls --method sendMessage) == *"\"chat_id\": \"$STRANGER\""* ]]
	barrier
	[ "$(ran bk-)" -eq 0 ]
	[ -z "$(ls "$T/backups")" ]
	grep -q "user $STRANGER in chat $STRANGER: /backup: refused: not an admin" "$T/relay.log"
	stop_relay
}

@test "admin /backup: ⏳ then ✅ with id, timestamp, type and size" {
	start_relay
	say /backup
	reply "Creating full backup"
	reply "Backup Created Successfully"
	id=$(basename "$(ls "$T"/backups/full_*.json)" .json)
	run text_of "Backup Created Successfully"
	[ "$output" = "✅ Backup Created Successfully

📦 ID: $id
📅 Timestamp: Dec 1, 2024, 2:00 AM UTC
📊 Type: full
💾 Size: 2.45 MB

Use /backup_download $id to download" ]
	[[ $(fake calls --method sendMessage --contains "Backup Created") == *"📦 ID: \`$id\`"* ]]
	[ "$(ran bk-dump)" -eq 1 ]
	grep -q "user $ADMIN: /backup: ok" "$T/relay.log"
	stop_relay
}

@test "the tools run without the token in their environment" {
	start_relay
	say /backup
	reply "Backup Created Successfully"
	[ -s "$T/env.bk-dump" ]
	run ! grep -q TELEGRAM_BOT_TOKEN "$T/env.bk-dump"
	grep -q "^BACKUP_DIR=$T/backups" "$T/env.bk-dump"
	stop_relay
	no_token "$T/relay.log" "$T/env.bk-dump" "$T/fake/calls.jsonl" "$T/state"
}

@test "/backup_list groups the newest backups and counts the rest" {
	mk_backup full_1701482400000 2569012
	mk_backup full_1701396000000 2048
	mk_backup raffle_abc_1701400000000 1536
	start_relay
	say /backup_list
	reply "Available Backups"
	run text_of "Available Backups"
	[ "$output" = "📋 Available Backups (times in UTC)

🗂️ FULL BACKUPS:
• full_1701482400000
  📅 Dec 2, 2023, 2:00 AM | 💾 2.45 MB
• full_1701396000000
  📅 Dec 1, 2023, 2:00 AM | 💾 2 KB

📄 RAFFLE BACKUPS:
• raffle_abc_1701400000000
  📅 Dec 1, 2023, 3:06 AM | 💾 1.5 KB

Use /backup_download <id> to download a backup
Use /backup_restore <id> to restore one" ]
	for i in $(seq 10 20); do mk_backup "full_17015000000$i"; done
	say /backup_list
	reply "Available Backups" 2
	run text_of "Available Backups"
	[[ $output == *"... and 4 more"* ]]
	[ "$(grep -c "^• " <<<"$output")" -eq 10 ]
	rm "$T"/backups/*
	say /backup_list
	reply "No backups found"
	stop_relay
}

@test "/backup_download ../../etc/passwd: an error reply and nothing else" {
	start_relay
	say "/backup_download ../../etc/passwd"
	reply "invalid backup id ../../etc/passwd"
	barrier
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ "$(ran bk-)" -eq 0 ]
	say "/backup_download full_1;rm"
	reply "invalid backup id full_1;rm"
	say "/backup_download"
	reply "usage: /backup_restore <backup_id> or /backup_download <backup_id>"
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	stop_relay
}

@test "/backup_download sends exactly the file's bytes" {
	mk_backup full_1701396000000 200000
	mk_backup full_1701300000000 1000
	start_relay
	say "/backup_download full_1701396000000"
	fake wait --method sendDocument
	run fake calls --method sendDocument
	sum=$(sha256sum "$T/backups/full_1701396000000.json" | cut -d' ' -f1)
	[[ $output == *"\"filename\": \"full_1701396000000.json\", \"size\": 200000, \"sha256\": \"$sum\""* ]]
	[[ $output == *"\"chat_id\": \"$ADMIN\""* ]]
	cmp "$T/backups/full_1701396000000.json" "$T"/fake/documents/*-full_1701396000000.json
	# an alias names the newest full backup
	say "/backup_download latest"
	fake wait --method sendDocument --count 2
	[ "$(fake calls --method sendDocument --contains full_1701396000000.json | wc -l)" -eq 2 ]
	say "/backup_download full_1"
	reply "Backup full_1 not found"
	stop_relay
}

@test "/backup_download above the upload limit says so instead" {
	mk_backup full_1701396000000 5000
	TG_UPLOAD_LIMIT=4096 start_relay
	say "/backup_download full_1701396000000"
	reply "above Telegram's upload limit"
	[[ $(text_of "upload limit") == *"4.88 KB"*"$T/backups/full_1701396000000.json" ]]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	stop_relay
}

@test "/backup_download over the limit sends the compressed copy beside it when that fits" {
	mk_backup full_1701396000000 5000	# whole: a damaged backup is not sent at all
	zstd -q -c "$T/backups/full_1701396000000.json" >"$T/backups/full_1701396000000.json.zst"
	TG_UPLOAD_LIMIT=4096 start_relay
	say "/backup_download full_1701396000000"
	fake wait --method sendDocument
	run fake calls --method sendDocument
	[[ $output == *"\"filename\": \"full_1701396000000.json.zst\""* ]]
	cmp "$T/backups/full_1701396000000.json.zst" "$T"/fake/documents/*-full_1701396000000.json.zst
	stop_relay
}

# A real backup (the original service's fixture) and the real bk-export,
# which needs no database; the other tools stay stubs.
csv_setup() {
	cp "$REPO/tests/fixtures/ts_full_backup.json" "$T/backups/full_1701396000000.json"
	ln -s "$BIN/bk-export" "$T/bin/bk-export"
	mkdir -m 0700 "$T/tmp"
	export TMPDIR=$T/tmp
}

@test "/backup_download <id> csv sends a tar.gz of bk-export's files, and leaves no temporary file" {
	csv_setup
	start_relay
	say "/backup_download full_1701396000000 csv"
	reply "Exporting full_1701396000000 as CSV"
	fake wait --method sendDocument
	run fake calls --method sendDocument
	[[ $output == *'"filename": "full_1701396000000.csv.tar.gz"'* ]]
	[[ $output == *"\"chat_id\": \"$ADMIN\""* ]]
	mkdir "$T/got"
	tar -xzf "$T"/fake/documents/*-full_1701396000000.csv.tar.gz -C "$T/got"
	BACKUP_DIR=$T/backups "$BIN/bk-export" --csv "$T/want" full_1701396000000 >/dev/null
	diff -r "$T/want" "$T/got/full_1701396000000"
	[ -f "$T/got/full_1701396000000/tickets.csv" ]
	[ -f "$T/got/full_1701396000000/redis.csv" ]
	[ -z "$(ls -A "$T/tmp")" ]
	# an alias is named by the file it resolved to
	say "/backup_download latest csv"
	fake wait --method sendDocument --count 2
	[ "$(fake calls --method sendDocument --contains full_1701396000000.csv.tar.gz | wc -l)" -eq 2 ]
	say "/backup_download full_1 csv"
	reply "Backup full_1 not found"
	[ -z "$(ls -A "$T/tmp")" ]
	stop_relay
}

@test "/backup_download <id> csv above the upload limit: the size and the bk-export command instead" {
	csv_setup
	TG_UPLOAD_LIMIT=1024 start_relay
	say "/backup_download full_1701396000000 csv"
	reply "above Telegram's upload limit"
	run text_of "upload limit"
	[[ $output == *"CSV export of full_1701396000000 is "*" KB (tar.gz)"* ]]
	[[ $output == *"bk-export --csv DIR full_1701396000000"* ]]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ -z "$(ls -A "$T/tmp")" ]
	stop_relay
}

@test "/backup_download <id> csv of a damaged backup: bk-export's error, nothing sent, nothing left" {
	csv_setup
	# whole at its ends (the relay's first look passes), broken inside
	sed '0,/"walletAddress":/s//"walletAddress" x:/' "$REPO/tests/fixtures/ts_full_backup.json" \
		>"$T/backups/full_1701396000000.json"
	head -c 3000 "$REPO/tests/fixtures/ts_full_backup.json" >"$T/backups/full_1701300000000.json"
	start_relay
	say "/backup_download full_1701300000000 csv"
	reply "is damaged (truncated"
	say "/backup_download full_1701396000000 csv"
	reply "exit 65"
	[[ $(text_of "exit 65") == *"CSV export"* ]]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ -z "$(ls -A "$T/tmp")" ]
	say "/backup_download full_1701396000000 zip"
	reply "after the id, only csv"
	stop_relay
}

@test "/backup_restore: nothing until Confirm, then bk-restore --yes and the summary" {
	mk_backup full_1701396000000
	start_relay
	say "/backup_restore full_1701396000000 --skip-redis"
	reply "Restore backup full_1701396000000?"
	run text_of "Restore backup"
	[[ $output == *"♻️ Will restore: raffles, analytics, users, other tables"* ]]
	[[ $output == *"⏭️ Skipping: redis"* ]]
	[[ $output == *"Confirm within 600 seconds (the button, or type CONFIRM)."* ]]
	[[ $(fake calls --method sendMessage --contains "Restore backup") == *'"inline_keyboard": [[{"text": "✅ Confirm", "callback_data": "rc:'*'{"text": "❌ Cancel", "callback_data": "rx:'* ]]
	barrier
	[ "$(ran bk-restore)" -eq 0 ]

	yes=$(fake button 0)
	press "$yes" "$OTHER_ADMIN"	# another admin
	reply "Only the admin who asked"
	press "$yes" "$STRANGER"	# not an admin at all
	fake wait --method answerCallbackQuery --count 2
	barrier
	[ "$(ran bk-restore)" -eq 0 ]
	[[ $(fake calls --method answerCallbackQuery) == *'"text": "Not allowed."'* ]]

	press "$yes"			# the admin who asked
	reply "Restore Completed"
	[ "$(ran bk-restore)" -eq 1 ]
	grep -qx "bk-restore full_1701396000000 --skip-redis --yes" "$STUB_LOG"
	run text_of "Restore Completed"
	[ "$output" = "✅ Restore Completed

📦 Backup: full_1701396000000
📊 Rows restored: 103
  • Raffle: 3
  • Ticket: 100
🔑 Redis keys: 2
🛟 Safety backup: full_1701999999999" ]
	[[ $(fake calls --method editMessageText) == *"⏳ Restoring full_1701396000000..."* ]]

	press "$yes"			# replayed
	reply "expired or was already used"
	barrier
	[ "$(ran bk-restore)" -eq 1 ]
	[ "$(fake calls --method answerCallbackQuery | wc -l)" -eq 4 ]
	stop_relay
}

@test "/backup_restore: Cancel, then Confirm of the cancelled one, run nothing" {
	mk_backup full_1701396000000
	start_relay
	say "/backup_restore full_1701396000000"
	reply "Restore backup full_1701396000000?"
	yes=$(fake button 0) no=$(fake button 1)
	press "$no"
	fake wait --method editMessageText --contains "cancelled: nothing was restored"
	press "$yes"
	reply "expired or was already used"
	barrier
	[ "$(ran bk-restore)" -eq 0 ]
	[ "$(fake calls --method answerCallbackQuery | wc -l)" -eq 2 ]
	stop_relay
}

# bats test_tags=race
@test "/backup_restore: a Confirm after the confirmation window runs nothing" {
	mk_backup full_1701396000000
	TG_CONFIRM_TIMEOUT=1 start_relay
	say "/backup_restore latest"
	reply "Restore backup full_1701396000000?"
	[[ $(text_of "Restore backup") == *"Confirm within 1 seconds"* ]]
	yes=$(fake button 0)
	sleep 2.2
	press "$yes"
	fake wait --method editMessageText --contains "was not confirmed within 1 seconds: nothing was restored"
	barrier
	[ "$(ran bk-restore)" -eq 0 ]
	[ "$(fake calls --method answerCallbackQuery | wc -l)" -eq 1 ]
	stop_relay
}

@test "/backup_restore validates its arguments before anything runs" {
	unset TG_CONFIRM_TIMEOUT
	start_relay
	say "/backup_restore full_1 --skip-everything"
	reply "unknown option --skip-everything"
	say "/backup_restore ../x"
	reply "invalid backup id ../x"
	say "/backup_restore full_404"
	reply "Backup full_404 not found"
	say "/backup_restore full_1 --skip-raffles --skip-analytics --skip-users --skip-redis"
	reply "nothing left to restore"
	barrier
	[ "$(ran bk-restore)" -eq 0 ]
	[ "$(fake calls --method sendMessage --contains inline_keyboard | wc -l)" -eq 0 ]
	# the default confirmation window, stated in the question
	printf '{"metadata":{"id":"full_1701396000000","timestamp":"2023-12-01T02:00:00.000Z","type":"full","version":"1.0"},"data":{}}\n' \
		>"$T/backups/full_1701396000000.json"
	say "/backup_restore full_1701396000000"
	reply "Restore backup full_1701396000000?"
	[[ $(text_of "Restore backup") == *"Confirm within 60 seconds (the button, or type CONFIRM)."* ]]
	stop_relay
}

# bats test_tags=race
@test "a restart does not run a command twice" {
	start_relay
	msg='{"update_id": 500, "message": {"message_id": 1, "date": 1, "from": {"id": 111}, "chat": {"id": 111, "type": "private"}, "text": "/backup"}}'
	fake push --json "$msg"
	reply "Backup Created Successfully"
	[ "$(cat "$T/state")" = 501 ]
	kill -KILL "$RELAY_PID"
	wait "$RELAY_PID" || true
	RELAY_PID=
	# Telegram hands out again what was not confirmed: the same update
	fake push --json "$msg"
	start_relay
	barrier
	[ "$(ran bk-dump)" -eq 1 ]
	[ "$(fake calls --method sendMessage --contains "Backup Created" | wc -l)" -eq 1 ]
	stop_relay
	[ "$(cat "$T/state")" -gt 501 ]
	# a corrupt state file stops the relay rather than start from scratch
	echo garbage >"$T/state"
	run "$BIN/tg-relay" -s "$T/state"
	[ "$status" -eq 65 ]
	[[ $output == *"remove the file to start afresh"* ]]
}

# bats test_tags=race
@test "per-admin rate limit" {
	TG_RATE_LIMIT=2 start_relay
	# the three in one batch: they fall in the same minute however slow the machine
	help='{"message": {"message_id": 1, "date": 1, "from": {"id": 111}, "chat": {"id": 111, "type": "private"}, "text": "/help"}}'
	fake push --json "[$help, $help, $help]"
	reply "Too many commands: at most 2 /help a minute"
	say /help "$OTHER_ADMIN"
	reply "Backup Bot Commands" 3
	[ "$(fake calls --method sendMessage --contains "Backup Bot Commands" | wc -l)" -eq 3 ]
	# the limit is per command: another command still goes through
	say /backup_list
	reply "No backups found"
	stop_relay
}

# bats test_tags=race
@test "a second job while one runs is told to wait; the relay keeps answering" {
	# the backup runs until the busy reply and the help are in
	STUB_HOLD=$T/dump.release start_relay
	say /backup
	reply "Creating full backup"
	say /backup "$OTHER_ADMIN"
	reply "Busy: /backup is still running"
	say /help
	reply "Backup Bot Commands"
	touch "$T/dump.release"
	reply "Backup Created Successfully"
	# the busy reply and the help came while the backup was running
	fake calls --method sendMessage | python3 -c '
import json, sys
seq = {}
for c in map(json.loads, sys.stdin):
    for k in ("Busy", "Bot Commands", "Backup Created"):
        if k in c["text"]:
            seq[k] = c["seq"]
assert seq["Busy"] < seq["Backup Created"] and seq["Bot Commands"] < seq["Backup Created"], seq' || { fake calls >&2; cat "$T/relay.log" >&2; false; }
	[ "$(ran bk-dump)" -eq 1 ]
	# and the tools' own lock (exit 75) says the same
	stop_relay
	STUB_EXIT=75 start_relay
	say /backup
	reply "another backup job holds the lock, try again"
	stop_relay
}

@test "a failing tool: its status and stderr in the reply" {
	STUB_EXIT=69 start_relay
	say /backup
	reply "Backup failed"
	run text_of "Backup failed"
	[ "$output" = "❌ Backup failed

🔌 The database or Redis is unreachable. (exit 69)
bk-dump: something went wrong (69)" ]
	stop_relay
	# the first line says why (later ones are consequences), without secrets
	STUB_EXIT=69 STUB_ERR="bk-dump: cannot connect to postgresql://bk:hunter2@db/bot (token $TOKEN)" start_relay
	say /backup
	reply "Backup failed" 2
	run text_of "cannot connect"
	[[ $output == *"bk-dump: cannot connect to postgresql://bk:***@db/bot"* ]]
	[[ $output != *hunter2* && $output != *something\ went\ wrong* ]]
	no_token "$T/fake/calls.jsonl"
	rm "$T/bin/bk-clean"
	say /backup_cleanup
	reply "Cleanup failed"
	[[ $(text_of "Cleanup failed") == *"not installed"*"(exit 127)"* ]]
	stop_relay
}

@test "a tool that runs past BK_JOB_TIMEOUT is stopped, the reply says so, the relay goes on" {
	# the stub waits for a file that never comes
	STUB_HOLD=$T/never BK_JOB_TIMEOUT=1 start_relay
	say /backup
	reply "Backup failed"
	run text_of "Backup failed"
	[ "$output" = "❌ Backup failed

⏰ Stopped: it ran longer than the relay's time limit. (exit 124)
bk-dump stopped after 1 s (BK_JOB_TIMEOUT)" ]
	# the next job runs
	touch "$T/never"
	say /backup
	reply "Backup Created Successfully"
	stop_relay
}

@test "/backup_raffle and /backup_cleanup" {
	start_relay
	say "/backup_raffle ../../x"
	reply "invalid raffle id ../../x"
	say "/backup_raffle"
	reply "usage: /backup_raffle <raffle_id>"
	say "/backup_raffle clx123abc"
	reply "Creating backup of raffle clx123abc"
	reply "Raffle Backup Created Successfully"
	[[ $(text_of "Raffle Backup Created") == *"📦 ID: raffle_clx123abc_1733018400000"*"🎟️ Raffle: clx123abc"*"💾 Size: 1.5 KB"* ]]
	say "/backup_raffle missing"
	reply "Raffle backup failed"
	[[ $(text_of "Raffle backup failed") == *"Not found. (exit 66)"*"raffle missing not found" ]]
	say "/backup_cleanup 0"
	reply "days must be a whole number"
	say "/backup_cleanup soon"
	reply "days must be a whole number from 1 to 36500, not soon"
	say "/backup_cleanup 7"
	reply "Cleanup Completed"
	[[ $(text_of "Cleanup Completed") == *"Deleted: 1 backup"*"Freed: 2 KB"*"full_1690000000000"* ]]
	say "/backup_cleanup"
	reply "Cleanup Completed" 2
	grep -qx "bk-raffle clx123abc" "$STUB_LOG"
	grep -qx "bk-clean 7" "$STUB_LOG"
	grep -qx "bk-clean " "$STUB_LOG"
	[ "$(ran bk-raffle)" -eq 2 ]
	stop_relay
}

@test "commands for another bot are ignored, ours answered" {
	start_relay
	say "/backup@some_other_bot"
	say "/help@bk_test_bot"
	reply "Backup Bot Commands"
	say "/nonsense"
	reply "unknown command /nonsense"
	say "just chatting"
	barrier
	[ "$(ran bk-dump)" -eq 0 ]
	[ "$(fake calls --method sendMessage | wc -l)" -eq 3 ]
	stop_relay
}

@test "malformed updates do not crash the relay" {
	start_relay
	python3 - "$FAKE" "$T/fake" <<'EOF'
import json, subprocess, sys
admin = {"id": 111}
chat = {"id": 111, "type": "private"}
updates = [
    {},
    {"message": "not an object"},
    {"message": {"text": "/backup"}},
    {"message": {"from": {"id": "111"}, "chat": chat, "text": "/backup"}},
    {"message": {"from": admin, "chat": chat, "text": 42}},
    {"message": {"from": {"id": 1e300}, "chat": chat, "text": "/backup"}},
    {"message": {"from": {"id": 111.5}, "chat": chat, "text": "/backup"}},
    {"message": {"from": admin, "chat": {"id": None}, "text": "/backup"}},
    {"message": {"from": admin, "chat": chat}},
    {"edited_message": {"from": admin, "chat": chat, "text": "/backup"}},
    {"poll": {"id": "1", "question": "?"}},
    {"callback_query": {"from": admin}},
    {"callback_query": {"id": "c1", "from": admin, "data": "rc:nonexistent"}},
    {"callback_query": {"id": "c2", "from": admin, "data": 5, "message": 7}},
    {"callback_query": {"id": "c3", "from": admin, "data": "x" * 100000}},
    {"message": {"from": admin, "chat": chat, "text": "/backup_download \udcff\udcfe"}},
    {"message": {"from": admin, "chat": chat, "text": "/help " + "A" * 1000000}},
    {"message": {"from": admin, "chat": chat, "text": "/" + "\u0000" * 10}},
    {"message": {"from": admin, "chat": chat, "text": "/backup_restore " + "a b " * 50}},
]
subprocess.run([sys.executable, sys.argv[1], "push", sys.argv[2], "--json", "-"],
               input=json.dumps(updates).encode(), check=True)
EOF
	reply "command too long"
	reply "invalid backup id ??"
	barrier
	kill -0 "$RELAY_PID"
	[ "$(ran bk-)" -eq 0 ]
	[ "$(fake calls --method answerCallbackQuery | wc -l)" -eq 3 ]
	stop_relay
}

# bats test_tags=race
@test "Telegram errors while polling: back off and keep going" {
	start_relay
	fake fail '{"method":"getUpdates","status":500,"count":2}'
	fake fail '{"method":"getUpdates","status":429,"retry_after":1,"count":1}'
	fake wait --method getUpdates --contains '"status": 429'
	say /help
	reply "Backup Bot Commands"
	grep -q "Telegram server error (HTTP 500)" "$T/relay.log"
	stop_relay
	no_token "$T/relay.log"
}

@test "group chats: one refusal, nothing runs, no document ever sent there" {
	mk_backup full_1701396000000 1000
	start_relay
	GROUP=-1001234567890
	fake push --text "/backup_download full_1701396000000" --from "$ADMIN" --chat "$GROUP"
	fake push --text /backup_list --from "$ADMIN" --chat "$GROUP"
	fake push --text /backup --from "$STRANGER" --chat "$GROUP"
	fake push --text "/backup_restore latest" --from "$ADMIN" --chat "$GROUP" --chat-type group
	reply "Admin commands must be used in private messages"
	barrier
	# once per chat, whatever was asked and by whom; nothing ran
	[ "$(fake calls --method sendMessage --contains "private messages" | wc -l)" -eq 1 ]
	[[ $(fake calls --method sendMessage --contains "private messages") == *"\"chat_id\": \"$GROUP\""* ]]
	[ "$(fake calls --method sendMessage | grep -c "\"chat_id\": \"$GROUP\"")" -eq 1 ]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ "$(ran bk-)" -eq 0 ]
	grep -q "in chat $GROUP: /backup_download: refused: not a private chat" "$T/relay.log"
	# a private chat whose id is not the sender's is no private chat either
	fake push --text /backup_list --from "$ADMIN" --chat "$OTHER_ADMIN" --chat-type private
	barrier
	[ "$(fake calls --method sendMessage --contains "Available Backups" | wc -l)" -eq 0 ]
	# the same admin in private gets the document, in the private chat only
	say "/backup_download full_1701396000000"
	fake wait --method sendDocument
	[[ $(fake calls --method sendDocument) == *"\"chat_id\": \"$ADMIN\""* ]]
	stop_relay
}

# bats test_tags=race
@test "1,000 stranger messages under 429s: the admin's /backup and Confirm still complete in time" {
	mk_backup full_1701396000000 1000
	start_relay
	# Telegram's flood control: beyond 10 sendMessage a second, 429 (retry after 1 s)
	fake fail '{"method":"sendMessage","per_second":10}'
	python3 - "$FAKE" "$T/fake" <<'PY'
import json, subprocess, sys
updates = [{"message": {"message_id": i, "date": 1, "from": {"id": 5000 + i % 100},
            "chat": {"id": 5000 + i % 100, "type": "private"},
            "text": ["/backup", "/backup_list", "/backup_download latest", "/help"][i % 4]}}
           for i in range(1000)]
for b in range(0, 1000, 100):
    subprocess.run([sys.executable, sys.argv[1], "push", sys.argv[2], "--json", "-"],
                   input=json.dumps(updates[b:b + 100]).encode(), check=True)
PY
	t0=$(date +%s.%N)
	say /backup
	reply "Backup Created Successfully"
	t1=$(date +%s.%N)
	say "/backup_restore latest"
	reply "Restore backup"
	press "$(fake button 0)"
	reply "Restore Completed"
	t2=$(date +%s.%N)
	backup=$(echo "$t1 - $t0" | bc) restore=$(echo "$t2 - $t1" | bc)
	echo "# admin latency under the flood: /backup ${backup}s, /backup_restore+Confirm ${restore}s" >&3
	# well within the 60 s confirmation window each
	[ "$(echo "$backup < 15 && $restore < 15" | bc)" -eq 1 ]
	barrier
	# strangers: at most one refusal each, never retried; nothing ran for them
	strangers=$(fake calls --method sendMessage | python3 -c '
import json, sys
print(sum(1 for c in map(json.loads, sys.stdin) if 5000 <= int(c["chat_id"]) < 5100))')
	echo "# refusal attempts to 100 strangers: $strangers" >&3
	# the relay's own part: from the poll that brought /backup to its reply,
	# and how many 429s the admin's chat met on the way
	fake calls | python3 -c '
import json, sys
calls = [json.loads(l) for l in sys.stdin]
# update 1001: the first after the 1,000 strangers
polled = next(c["time"] for c in calls if c["method"] == "getUpdates" and
              1001 in (c.get("update_ids") or []))
first = next(c["time"] for c in calls if c["method"] == "getUpdates" and c.get("update_ids"))
last = max(c["time"] for c in calls if c["method"] == "getUpdates" and
           any(u <= 1000 for u in c.get("update_ids") or []))
print("# relay: the 1,000 strangers handled in %.2fs" % (last - first))
done = next(c["time"] for c in calls if "Backup Created" in (c.get("visible") or ""))
hits = sum(1 for c in calls if c.get("chat_id") == "111" and c.get("status") == 429)
print("# relay: /backup polled to replied %.2fs; 429s met by the admin: %d" % (done - polled, hits))' >&3
	[ "$strangers" -le 100 ]
	[ "$(ran bk-dump)" -eq 1 ]
	[ "$(ran bk-restore)" -eq 1 ]
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	stop_relay
}

@test "a FIFO named like a backup hangs nothing: listing, restore lookup, download" {
	mk_backup full_1701396000000 1000
	mkfifo "$T/backups/full_1701500000000.json"
	start_relay
	say /backup_list
	reply "Available Backups"
	[[ $(text_of "Available Backups") == *"full_1701396000000"* ]]
	[[ $(text_of "Available Backups") != *"full_1701500000000"* ]]
	say "/backup_restore latest"
	reply "Restore backup full_1701396000000?"
	say "/backup_download full_1701500000000"
	reply "Backup full_1701500000000 not found"
	say "/backup_restore full_1701500000000"
	reply "Backup full_1701500000000 not found" 2
	barrier
	grep -q "full_1701500000000.json: a FIFO, not a regular file: skipped" "$T/relay.log"
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	stop_relay
}

@test "/backup_download never follows a symlink nor sends a damaged backup" {
	echo "root-only secret" >"$T/secret"
	ln -s "$T/secret" "$T/backups/full_1701396000000.json"
	mk_backup full_1701300000000 1000
	head -c 500 "$T/backups/full_1701300000000.json" >"$T/backups/full_1701200000000.json"
	start_relay
	say "/backup_download full_1701396000000"
	reply "Backup full_1701396000000 not found"
	say "/backup_download full_1701200000000"
	reply "Backup full_1701200000000 is damaged"
	say "/backup_restore full_1701200000000"
	reply "Backup full_1701200000000 is damaged" 2
	barrier
	[ "$(fake calls --method sendDocument | wc -l)" -eq 0 ]
	[ "$(ran bk-)" -eq 0 ]
	# latest skips both: the newest whole, regular one
	say "/backup_download latest"
	fake wait --method sendDocument
	[[ $(fake calls --method sendDocument) == *full_1701300000000.json* ]]
	stop_relay
}

# bats test_tags=race
@test "typed CONFIRM (same admin, in time) confirms like the button; CANCEL cancels" {
	mk_backup full_1701396000000
	start_relay
	say "/backup_restore full_1701396000000"
	reply "Restore backup full_1701396000000?"
	say CONFIRM "$OTHER_ADMIN"	# another admin has nothing waiting
	reply "expired or was already used"
	barrier
	[ "$(ran bk-restore)" -eq 0 ]
	say " confirm "
	reply "Restore Completed"
	grep -qx "bk-restore full_1701396000000 --yes" "$STUB_LOG"
	say CONFIRM			# used up
	reply "expired or was already used" 2
	say "/backup_restore full_1701396000000"
	reply "Restore backup full_1701396000000?" 2
	say CANCEL
	reply "cancelled: nothing was restored"
	barrier
	[ "$(ran bk-restore)" -eq 1 ]
	stop_relay
	TG_CONFIRM_TIMEOUT=1 start_relay
	say "/backup_restore full_1701396000000"
	reply "Restore backup full_1701396000000?" 3
	sleep 2.2
	say CONFIRM
	reply "was not confirmed within 1 seconds"
	barrier
	[ "$(ran bk-restore)" -eq 1 ]
	stop_relay
}

@test "/adminhelp answers like /help; ids are tap-to-copy code spans" {
	mk_backup raffle_abc_1701400000000 1536
	start_relay
	say /adminhelp
	reply "Backup Bot Commands"
	# /backup_cleanup keeps by retention rules, not by age alone
	run text_of "Backup Bot Commands"
	[[ $output == *"/backup_cleanup [days] - delete the backups no retention rule keeps; kept are the newest full backup, the newest of each recent hour, day, week and month, and all younger than days"$'\n'* ]]
	[[ $output != *"older than days"* ]]
	say /backup_list
	reply "Available Backups"
	run fake calls --method sendMessage --contains "Available Backups"
	[[ $output == *'"parse_mode": "MarkdownV2"'* && $output == *'`raffle_abc_1701400000000`'* ]]
	# a raffle backup's restore warning lists only what it can change
	say "/backup_restore raffle_latest"
	reply "Restore backup raffle_abc_1701400000000?"
	run text_of "Restore backup"
	[[ $output == *"♻️ Will restore: raffles, analytics"$'\n'* && $output != *users* && $output != *redis* ]]
	stop_relay
}

# ---- the real tools, on PostgreSQL and Redis (skipped until they exist) ----

real_tools() {
	local t
	for t in bk-dump bk-list bk-restore; do
		[ -x "$BIN/$t" ] || skip "$t is not built yet"
	done
	[ -f "$REPO/tests/helpers.bash" ] || skip "no tests/helpers.bash"
	# shellcheck source=/dev/null
	. "$REPO/tests/helpers.bash"
	bk_setup_servers_with_data 20
	export BACKUP_DIR=$T/backups
	TOOLS=$BIN
}

@test "real tools: non-admin /backup creates no backup file" {
	real_tools
	start_relay
	say /backup "$STRANGER"
	reply "only the bot's administrators"
	barrier
	[ -z "$(ls "$T/backups")" ]
	stop_relay
}

@test "real tools: /backup, /backup_list, /backup_download" {
	real_tools
	start_relay
	say /backup
	reply "Backup Created Successfully"
	file=$(ls "$T"/backups/full_*.json)
	id=$(basename "$file" .json)
	run text_of "Backup Created Successfully"
	[[ $output == *"📦 ID: $id"* ]]
	size=$(stat -c %s "$file")
	say /backup_list
	reply "Available Backups"
	[[ $(text_of "Available Backups") == *"• $id"* ]]
	say "/backup_download $id"
	fake wait --method sendDocument
	sum=$(sha256sum "$file" | cut -d' ' -f1)
	[[ $(fake calls --method sendDocument) == *"\"size\": $size, \"sha256\": \"$sum\""* ]]
	stop_relay
}

@test "real tools: /backup_restore changes nothing until Confirm" {
	real_tools
	start_relay
	say /backup
	reply "Backup Created Successfully"
	id=$(basename "$(ls "$T"/backups/full_*.json)" .json)
	before=$(bk_count Ticket)
	bk_psql -c 'DELETE FROM "Winner"; DELETE FROM "Ticket"' >/dev/null
	say "/backup_restore $id"
	reply "Restore backup $id?"
	barrier
	[ "$(bk_count Ticket)" -eq 0 ]
	press "$(fake button 0)" "$OTHER_ADMIN"
	reply "Only the admin who asked"
	barrier
	[ "$(bk_count Ticket)" -eq 0 ]
	press "$(fake button 0)"
	fake wait --method sendMessage --contains "Restore Completed" --timeout 600
	[ "$(bk_count Ticket)" -eq "$before" ]
	stop_relay
}

# bats test_tags=race
@test "real tools: BK_ADMINS_FROM_DB=1 takes the Admin table's users, re-read, and fails closed" {
	real_tools
	bk_psql -c "INSERT INTO \"Admin\" (id, \"telegramUserId\", \"updatedAt\") VALUES ('a-relay', 444, now())" >/dev/null
	unset TELEGRAM_ADMIN_IDS
	export BK_ADMINS_FROM_DB=1 TG_ADMINS_REFRESH=1 TG_REFUSAL_PERIOD=0
	start_relay
	say /help 444
	reply "Backup Bot Commands"
	say /help "$ADMIN"		# in neither list
	reply "only the bot's administrators"
	# removed from the table: refused within a refresh or two
	bk_psql -c "DELETE FROM \"Admin\" WHERE id = 'a-relay'" >/dev/null
	# (asked again until then: a loaded machine may take a while)
	end=$((SECONDS + 120))
	until fake calls --method sendMessage --contains "only the bot's administrators" |
		grep -q '"chat_id": "444"'; do
		((SECONDS < end)) || { echo "444 still an admin after 120 s" >&2; return 1; }
		say /help 444
		sleep 0.2
	done
	stop_relay
	# the database down: only TELEGRAM_ADMIN_IDS count; without them, nobody
	bk_psql -c "INSERT INTO \"Admin\" (id, \"telegramUserId\", \"updatedAt\") VALUES ('a-relay', 444, now())" >/dev/null
	DATABASE_URL='postgresql://nobody@/nowhere?host=/nonexistent' start_relay
	n=$(fake calls --method sendMessage --contains "only the bot's administrators" | wc -l)
	say /help 444
	reply "only the bot's administrators" $((n + 1))
	grep -q "admins from the Admin table: none for now" "$T/relay.log"
	stop_relay
	TELEGRAM_ADMIN_IDS=$ADMIN DATABASE_URL='postgresql://nobody@/nowhere?host=/nonexistent' start_relay
	n=$(fake calls --method sendMessage --contains "Backup Bot Commands" | wc -l)
	say /help "$ADMIN"
	reply "Backup Bot Commands" $((n + 1))
	stop_relay
	bk_psql -c "DELETE FROM \"Admin\" WHERE id = 'a-relay'" >/dev/null
}
