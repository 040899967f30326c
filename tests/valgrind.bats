#!/usr/bin/env bats
# Every tool under valgrind (issue 7): no invalid access, no use of
# uninitialised memory, no definite or indirect leak, on its main path and
# on its error paths. Slow, so skipped unless BK_VALGRIND=1
# (`make check-valgrind` sets it).

load helpers
bats_require_minimum_version 1.5.0

TOKEN="123456:VALGRIND-secret-token-abcdefghijkl"
ADMIN=111

setup_file() {
	[[ ${BK_VALGRIND:-} == 1 ]] || return 0
	bk_setup_servers_with_data 200
	bk_redis SET 'conversation:1:2' '{"step":1}' EX 3600 >/dev/null
	RAFFLE=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	export RAFFLE
}

teardown_file() {
	[[ ${BK_VALGRIND:-} == 1 ]] || return 0
	bk_stop_servers
}

setup() {
	[[ ${BK_VALGRIND:-} == 1 ]] || skip "valgrind tests: BK_VALGRIND=1 (make check-valgrind)"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	FAKE_PID='' RELAY_PID=''
}

teardown() {
	[[ -z ${RELAY_PID:-} ]] || { kill "$RELAY_PID" 2>/dev/null || true; }
	[[ -z ${FAKE_PID:-} ]] || { kill "$FAKE_PID" 2>/dev/null || true; }
	wait 2>/dev/null || true
}

# vg STATUS TOOL ARGS...: runs the tool under valgrind; it must exit STATUS
# with no valgrind error (valgrind's own failure status is 1, which no bk
# tool uses). The valgrind report, if any, is in $BK_TMP/vg.log.
vg() {
	local want=$1 tool=$2
	shift 2
	rm -f "$BK_TMP/vg.log"
	run --separate-stderr valgrind -q --leak-check=full --error-exitcode=1 \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--track-origins=yes --log-file="$BK_TMP/vg.log" "$BK_BIN_DIR/$tool" "$@"
	if [[ $status -ne $want || -s $BK_TMP/vg.log ]]; then
		echo "$tool $*: status $status (expected $want)"
		echo "stderr: ${stderr:-}"
		cat "$BK_TMP/vg.log"
		return 1
	fi
}

@test "valgrind: bk-dump, main path and errors" {
	vg 0 bk-dump
	vg 0 bk-dump -o - --no-redis
	vg 0 bk-dump --help
	vg 64 bk-dump --bogus
	vg 64 bk-dump extra-argument
	DATABASE_URL="postgresql://bk@/nosuchdb?host=$PGHOST&port=$PGPORT" vg 69 bk-dump
	REDIS_URL=redis://127.0.0.1:1/0 vg 69 bk-dump
	BACKUP_DIR=/proc/nope vg 73 bk-dump
	bk-dump >/dev/null
	exec 9>"$BACKUP_DIR/.bk.lock"
	flock 9
	vg 75 bk-dump
	exec 9>&-
}

@test "valgrind: bk-raffle, main path and errors" {
	vg 0 bk-raffle "$RAFFLE"
	vg 0 bk-raffle --ended
	vg 66 bk-raffle no-such-raffle
	vg 64 bk-raffle 'bad/id'
	vg 64 bk-raffle
	vg 0 bk-raffle --help
	DATABASE_URL="postgresql://bk@/nosuchdb?host=$PGHOST&port=$PGPORT" vg 69 bk-raffle "$RAFFLE"
}

@test "valgrind: bk-export, main path and errors" {
	bk-dump >/dev/null
	id=$(bk-list --json | jq -r '.[0].id')
	vg 0 bk-export --csv "$BK_TMP/csv1" "$id"
	vg 73 bk-export --csv "$BK_TMP/csv1" "$id"
	vg 0 bk-export --csv "$BK_TMP/csv1" --force - <"$BACKUP_DIR/$id.json"
	vg 0 bk-export --csv "$BK_TMP/csv2" "$BK_FIXTURES/ts_raffle_backup.json"
	vg 66 bk-export --csv "$BK_TMP/csv3" full_0
	vg 64 bk-export --csv "$BK_TMP/csv3" 'full_bad id!'
	head -c 5000 "$BACKUP_DIR/$id.json" >"$BK_TMP/cut-export.json"
	vg 65 bk-export --csv "$BK_TMP/csv3" "$BK_TMP/cut-export.json"
	[ -z "$(ls -A "$BK_TMP/csv3")" ]
}

@test "valgrind: bk-list and bk-verify, main path and errors" {
	bk-dump >/dev/null
	id=$(bk-list --json | jq -r '.[0].id')
	vg 0 bk-list --json
	vg 0 bk-list --table --type full --limit 1
	vg 64 bk-list --type nope
	vg 0 bk-verify "$id"
	vg 0 bk-verify latest
	vg 0 bk-verify - <"$BACKUP_DIR/$id.json"
	vg 66 bk-verify full_0
	vg 64 bk-verify 'full_bad id!'
	# damaged: a byte changed (checksum), then cut short (JSON)
	cp "$BACKUP_DIR/$id.json" "$BK_TMP/bad.json"
	printf 'X' | dd of="$BK_TMP/bad.json" bs=1 seek=100 conv=notrunc 2>/dev/null
	cp "$BACKUP_DIR/$id.json.sha256" "$BK_TMP/bad.json.sha256"
	vg 65 bk-verify "$BK_TMP/bad.json"
	head -c 5000 "$BACKUP_DIR/$id.json" >"$BK_TMP/cut.json"
	vg 65 bk-verify "$BK_TMP/cut.json"
	vg 65 bk-verify "$BK_FIXTURES/schema.sql"
	# a directory holding a corrupt file and stray names
	cp "$BK_TMP/cut.json" "$BACKUP_DIR/full_1.json"
	: >"$BACKUP_DIR/not-a-backup.json"
	vg 0 bk-list --json
}

@test "valgrind: bk-drill, main path and errors (the child that restores too)" {
	bk-dump >/dev/null
	vg 0 bk-drill
	vg 0 bk-drill --help
	vg 64 bk-drill --bogus
	vg 66 bk-drill full_0
	bk-raffle "$RAFFLE" >/dev/null
	vg 64 bk-drill raffle_latest
	DATABASE_URL="postgresql://bk@/nosuchdb?host=$PGHOST&port=$PGPORT" vg 69 bk-drill
}

@test "valgrind: bk-restore, main path and errors" {
	bk-dump >/dev/null
	id=$(bk-list --json | jq -r '.[0].id')
	vg 0 bk-restore --dry-run "$id"
	vg 0 bk-restore --yes "$id"
	vg 0 bk-restore --yes --no-safety-backup --clean --skip-redis "$id"
	vg 0 bk-restore --yes --no-safety-backup "$BK_FIXTURES/ts_full_backup.json"
	vg 0 bk-restore --yes --no-safety-backup - <"$BK_FIXTURES/ts_raffle_backup.json"
	vg 77 bk-restore "$id" </dev/null
	vg 66 bk-restore --yes full_0
	vg 66 bk-restore --yes /nonexistent/x.json
	vg 64 bk-restore --yes 'full_a;b'
	vg 64 bk-restore
	head -c 5000 "$BACKUP_DIR/$id.json" >"$BK_TMP/cut.json"
	vg 65 bk-restore --yes --no-safety-backup "$BK_TMP/cut.json"
	DATABASE_URL="postgresql://bk@/nosuchdb?host=$PGHOST&port=$PGPORT" \
		vg 69 bk-restore --yes --no-safety-backup "$id"
}

@test "valgrind: bk-clean, main path and errors" {
	bk-dump >/dev/null
	bk-dump >/dev/null
	: >"$BACKUP_DIR/.full_1.json.tmp-abcdef"
	touch -d '2 hours ago' "$BACKUP_DIR/.full_1.json.tmp-abcdef"
	vg 0 bk-clean --dry-run 1 --keep-last 0
	vg 0 bk-clean 1
	vg 64 bk-clean 0
	vg 64 bk-clean --keep-last x
	vg 0 bk-clean --help
}

# The fake Bot API on loopback, for tg-notify and tg-relay.
start_fake() {
	bk_fake_telegram "$BK_TMP/fake" "$TOKEN" 600
	export TELEGRAM_ADMIN_IDS=$ADMIN
	export TG_POLL_TIMEOUT=1 TG_RETRY_DELAY_MS=50 TG_HTTP_TIMEOUT=30
}

fake() { python3 "$BK_REPO/tests/fake_telegram.py" "$1" "$BK_TMP/fake" "${@:2}"; }

@test "valgrind: tg-notify, main path and errors" {
	start_fake
	vg 0 tg-notify --chat 42 "hello from valgrind"
	printf 'line\n%.0s' $(seq 600) | vg 0 tg-notify --chat 42 -
	bk-dump >/dev/null
	doc=$(compgen -G "$BACKUP_DIR/*.json" | head -n 1)
	vg 0 tg-notify --chat 42 --document "$doc" --caption "a backup"
	vg 0 tg-notify --chat 42 --markdown "*bold* _it_ full_1_2"
	vg 64 tg-notify
	vg 66 tg-notify --chat 42 --document /nonexistent
	fake fail '{"method":"sendMessage","status":400,"description":"Bad Request: chat not found","count":1}'
	vg 65 tg-notify --chat 42 --retries 0 "refused"
	TELEGRAM_API_URL=http://127.0.0.1:1 vg 69 tg-notify --chat 42 --retries 0 "nobody there"
}

@test "valgrind: tg-relay, a session of commands and its refusals" {
	start_fake
	TELEGRAM_ADMIN_IDS='' vg 64 tg-relay -s "$BK_TMP/relay.state"
	TELEGRAM_ADMIN_IDS="111,abc" vg 64 tg-relay -s "$BK_TMP/relay.state"
	TELEGRAM_BOT_TOKEN='' vg 64 tg-relay -s "$BK_TMP/relay.state"
	TELEGRAM_BOT_TOKEN=1:wrong vg 77 tg-relay -s "$BK_TMP/relay.state"
	vg 0 tg-relay --help
	vg 64 tg-relay --bogus
	rm -f "$BK_TMP/vg.log"
	valgrind -q --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --log-file="$BK_TMP/vg.log" \
		"$BK_BIN_DIR/tg-relay" -s "$BK_TMP/relay.state" 2>"$BK_TMP/relay.log" &
	RELAY_PID=$!
	bk_poll 300 grep -q "polling as" "$BK_TMP/relay.log" || true
	grep -q "polling as" "$BK_TMP/relay.log"
	fake push --text /help --from "$ADMIN"
	fake push --text /backup --from 999
	fake push --text "/backup_download ../../etc/passwd" --from "$ADMIN"
	fake push --text /backup_list --from "$ADMIN"
	fake push --text /backup --from "$ADMIN"
	fake push --json '{"update_id": 77, "message": {"text": 5}}'
	fake wait --method sendMessage --contains "Backup Created" --timeout 600
	fake push --text "/backup_restore latest" --from "$ADMIN"
	fake wait --method sendMessage --contains "Confirm" --timeout 600
	kill -TERM "$RELAY_PID"
	status=0
	wait "$RELAY_PID" || status=$?
	RELAY_PID=
	cat "$BK_TMP/vg.log"
	[ "$status" -eq 0 ]
	[ ! -s "$BK_TMP/vg.log" ]
}

@test "valgrind: a hostile directory (FIFO, symlinks, future dates, unknown keys, a big value, -o NAME)" {
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
	vg 0 bk-dump --no-redis
	mkfifo "$BACKUP_DIR/full_200.json"
	ln -s /dev/zero "$BACKUP_DIR/full_300.json"
	printf '{"metadata":{"id":"full_900","timestamp":"2099-01-01T00:00:00.000Z","type":"full","version":"1.0"},"data":{}}\n' \
		>"$BACKUP_DIR/full_900.json"
	vg 0 bk-list --json
	vg 0 bk-verify latest full_900
	vg 66 bk-verify full_200
	vg 65 bk-verify "$BACKUP_DIR/full_300.json"
	vg 0 bk-clean --dry-run
	vg 0 bk-clean
	python3 - "$BACKUP_DIR/full_5.json" <<-'PY'
	import sys
	with open(sys.argv[1], "w") as f:
	    f.write('{"metadata":{"id":"full_5","type":"full","timestamp":"2024-01-01T00:00:00.000Z",'
	            '"version":"1.0"},"data":{')
	    f.write(",".join('"t\\u001b%d":[]' % i for i in range(50)))
	    f.write(',"Admin":[{"id":"a1","telegramUserId":1,"createdAt":"2024-01-01T00:00:00.000Z",'
	            '"updatedAt":"2024-01-01T00:00:00.000Z","permissions":"' + "ab\\tc" * (2 << 20) + '"}]}}\n')
	PY
	vg 0 bk-restore --dry-run full_5
	(cd "$BK_TMP" && vg 0 bk-dump --no-redis -o bare.json)
	rm -f "$BK_TMP/bare.json" "$BK_TMP/bare.json.sha256"
	rm -f "$BACKUP_DIR/.bk.lock"
	ln -s "$BK_TMP/target" "$BACKUP_DIR/.bk.lock"
	vg 73 bk-dump --no-redis
	rm -f "$BACKUP_DIR/.bk.lock"
	[ ! -e "$BK_TMP/target" ]
}
