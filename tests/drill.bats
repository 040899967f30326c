#!/usr/bin/env bats
# bk-drill: a backup restored into a scratch database, read back, compared;
# the scratch database gone afterwards whatever happens. bk-job logs good
# drills, bk-check alerts when the last good one is too old.

load helpers
bats_require_minimum_version 1.5.0

S=$BK_REPO/scripts

setup_file() {
	bk_setup_servers_with_data 300
	bk_redis SET 'conversation:1:2' '{"step":"backup"}' >/dev/null
	bk-dump >"$BK_TMP/full.line"
	bk-raffle cawkward00000000000000000a >/dev/null
}

teardown_file() {
	bk_stop_servers
}

setup() {
	WORK=$BK_TMP/work.$BATS_TEST_NUMBER
	mkdir -p "$WORK/tmp"
	cd "$WORK"
	export TMPDIR=$WORK/tmp BK_LOG_DIR=$WORK/logs
}

full_id() { jq -r .id "$BK_TMP/full.line"; }
full_path() { jq -r .path "$BK_TMP/full.line"; }

# The scratch databases left on the server (there must be none).
scratch_dbs() {
	"$BK_PG_BIN/psql" -X -q -A -t -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'bk\_drill\_%'"
}

# tamper NAME PYTHON: a copy of the full backup changed by the python code
# (d: the backup as JSON), counts and checksum made to match, so that it
# verifies; prints its path.
tamper() {
	python3 - "$(full_path)" "$WORK/$1.json" "$2" <<-'PY'
	import hashlib, json, os, sys
	src, dst, code = sys.argv[1:]
	d = json.load(open(src, encoding="utf-8"))
	exec(code)
	d["metadata"]["rowCounts"] = {k: len(v) for k, v in d["data"].items()}
	s = json.dumps(d, ensure_ascii=False).encode()
	open(dst, "wb").write(s)
	open(dst + ".sha256", "w").write(hashlib.sha256(s).hexdigest() + "  " + os.path.basename(dst) + "\n")
	PY
	bk-verify "$WORK/$1.json" >/dev/null
	echo "$WORK/$1.json"
}

@test "a good backup drills ok: every table's rows and checksum equal; scratch database gone; live data and Redis untouched" {
	local before
	before=$(bk_pgdump_data | sha256sum)
	bk_redis SET 'conversation:1:2' '{"step":"live"}' >/dev/null
	run --separate-stderr bk-drill
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e --arg id "$(full_id)" '.backup == $id and .differences == 0 and .cleanedUp == true
		and (.database | startswith("bk_drill_")) and .seconds > 0 and .redis == "not restored"
		and (.tables | length) >= 12 and ([.tables[] | .ok] | all)
		and .tables.Ticket.rows == 300 and .tables.Ticket.restoredRows == 300
		and (.tables.Ticket.checksum | test("^[0-9a-f]{64}$"))' <<<"$output"
	[[ $stderr == *"bk-drill: ok: $(full_id) restores faithfully"* ]]
	[ -z "$(scratch_dbs)" ]
	[ "$(bk_pgdump_data | sha256sum)" = "$before" ]
	[ "$(bk_redis GET 'conversation:1:2')" = '{"step":"live"}' ]
	[ -z "$(ls -A "$TMPDIR")" ]
	# by id and by path: the same checksums
	run --separate-stderr bk-drill "$(full_path)"
	[ "$status" -eq 0 ]
}

@test "a value that does not round-trip (a timestamp finer than its column) is caught: 65 naming the table" {
	local f
	f=$(tamper micro '
t = d["data"]["tickets"][0]
t["createdAt"] = t["createdAt"][:-1] + "456Z"')
	run --separate-stderr bk-drill "$f"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 65 ]
	jq -e '.differences == 1 and .tables.Ticket.ok == false and .tables.Ticket.restoredRows == 300
		and .tables.Raffle.ok == true' <<<"$output"
	[[ $stderr == *"Ticket: the rows came back with different values"* ]]
	[[ $stderr == *"FAILED"* ]]
	[ -z "$(scratch_dbs)" ]
}

@test "a failed drill through bk-job: logged with the verdict and sent to Telegram" {
	local f
	f=$(tamper micro2 '
t = d["data"]["tickets"][0]
t["createdAt"] = t["createdAt"][:-1] + "456Z"')
	bk_fake_telegram "$WORK/tg" "123456:DRILL-test-token" 120 >"$WORK/tg.log" 2>&1
	export TELEGRAM_NOTIFY_CHAT_IDS=4242
	run --separate-stderr "$S/bk-job" drill -- bk-drill "$f"
	kill "$FAKE_PID" 2>/dev/null || true
	cat "$BK_LOG_DIR/backup.log"
	[ "$status" -eq 65 ]
	grep -Eq "Backup job drill failed: bk-drill: FAILED: full_[0-9]+ does not restore faithfully: 1 of [0-9]+ tables differ .*\(exit 65\)$" "$BK_LOG_DIR/backup.log"
	! grep -q ' drilled ' "$BK_LOG_DIR/backup.log"
	python3 "$BK_REPO/tests/fake_telegram.py" calls "$WORK/tg" --method sendMessage | grep -q 'Backup job drill failed'
}

@test "a tampered file that verifies but will not restore (a duplicated row) is caught: 65, nothing left" {
	local f
	f=$(tamper dup 'd["data"]["tickets"].append(d["data"]["tickets"][0])')
	run --separate-stderr bk-drill "$f"
	echo "$stderr"
	[ "$status" -eq 65 ]
	[[ $stderr == *"FAILED"* ]]
	[ -z "$(scratch_dbs)" ]
	[ -z "$(ls -A "$TMPDIR")" ]
}

# bats test_tags=race
@test "SIGTERM during the drill: the scratch database is dropped, exit 143" {
	mkfifo "$WORK/fifo"
	BK_DRILL_TEST_FIFO=$WORK/fifo timeout 120 bk-drill >"$WORK/out" 2>"$WORK/err" &
	local pid=$! line db
	# the drill says, once restored, which database it is in, then waits
	line=$(timeout 60 head -n 1 "$WORK/fifo")
	db=${line#restored }
	[[ $db == bk_drill_* ]]
	[ "$(scratch_dbs)" = "$db" ]
	# timeout's child is bk-drill: signal it, not timeout
	kill -TERM "$(pgrep -P "$pid")"
	local st=0
	wait "$pid" || st=$?
	cat "$WORK/err"
	[ "$st" -eq 143 ]
	grep -q 'stopped by signal 15' "$WORK/err"
	[ -z "$(scratch_dbs)" ]
	[ -z "$(ls -A "$TMPDIR")" ]
}

no_session_on() {
	[ "$("$BK_PG_BIN/psql" -X -q -A -t -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1'")" = 0 ]
}

# bats test_tags=race
@test "SIGKILL of bk-drill leaves its database; the next drill drops it once it is stale, and nothing else" {
	mkfifo "$WORK/fifo"
	BK_DRILL_TEST_FIFO=$WORK/fifo timeout 120 bk-drill >"$WORK/out" 2>"$WORK/err" &
	local pid=$! line db now st=0
	line=$(timeout 60 head -n 1 "$WORK/fifo")
	db=${line#restored }
	[[ $db == bk_drill_* ]]
	kill -KILL "$(pgrep -P "$pid")"
	wait "$pid" || st=$?
	# the restore stops with its parent (it is sent SIGTERM), the database stays
	bk_poll 60 no_session_on "$db"
	[ "$(scratch_dbs)" = "$db" ]
	# made 20 minutes ago by the name's time, as if it had been left then;
	# one made a minute ago may still be a drill starting: it stays
	now=$(date +%s)
	"$BK_PG_BIN/psql" -X -q -d postgres -c "ALTER DATABASE \"$db\" RENAME TO bk_drill_1_$((now - 1200))" \
		-c "CREATE DATABASE bk_drill_2_$((now - 60))" -c "CREATE DATABASE bk_drill_kept"
	run --separate-stderr bk-drill
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *"dropped the scratch database \"bk_drill_1_$((now - 1200))\", left behind by a drill that was killed"* ]]
	[ "$(scratch_dbs | sort | tr '\n' ' ')" = "bk_drill_2_$((now - 60)) bk_drill_kept " ]
	"$BK_PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE bk_drill_2_$((now - 60))" -c "DROP DATABASE bk_drill_kept"
}

@test "a role without CREATEDB: 77 saying how to grant it" {
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'CREATE ROLE nocreate LOGIN' 2>/dev/null || true
	DATABASE_URL="postgresql://nocreate@/bk?host=$PGHOST&port=$PGPORT" run --separate-stderr bk-drill
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *'may not create databases'* ]]
	[[ $stderr == *'ALTER ROLE "nocreate" CREATEDB'* ]]
	[ -z "$(scratch_dbs)" ]
}

@test "the server unreachable: 69; a raffle backup: 64; no such backup: 66" {
	DATABASE_URL="postgresql://bk@/bk?host=$PGHOST&port=1" run --separate-stderr bk-drill
	[ "$status" -eq 69 ]
	[[ $stderr == *'cannot connect'* ]]
	run --separate-stderr bk-drill raffle_latest
	[ "$status" -eq 64 ]
	[[ $stderr == *'a drill restores a full backup'* ]]
	run --separate-stderr bk-drill full_1
	[ "$status" -eq 66 ]
}

@test "BK_DRILL_DATABASE_URL: an empty database is used, kept, and emptied again; a non-empty one is refused (73)" {
	local url
	url=$(bk_createdb drill_kept)
	BK_DRILL_DATABASE_URL=$url run --separate-stderr bk-drill
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.database == "drill_kept" and .differences == 0 and .cleanedUp == true' <<<"$output"
	[ "$("$BK_PG_BIN/psql" -X -A -t -d "$url" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ]
	[ -z "$(scratch_dbs)" ]
	bk_load_schema "$url"
	BK_DRILL_DATABASE_URL=$url run --separate-stderr bk-drill
	[ "$status" -eq 73 ]
	[[ $stderr == *'is not empty'* ]]
	# refused: its tables are still there
	[ "$(bk_count Raffle "$url")" = 0 ]
	bk_dropdb drill_kept
}

@test "--help matches the man page's synopsis; bad usage is one line and 64" {
	run bk-drill --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: bk-drill [ID|FILE]"* ]]
	grep -q 'BK_DRILL_DATABASE_URL' <<<"$output"
	grep -q '^\.Op Ar id Ns | Ns Ar file' "$BK_REPO/man/bk-drill.1"
	run --separate-stderr bk-drill --bogus
	[ "$status" -eq 64 ]
	run --separate-stderr bk-drill a b
	[ "$status" -eq 64 ]
}

@test "bk-job logs a good drill; bk-check alerts when the last good drill is older than BK_DRILL_MAX_AGE_DAYS" {
	run --separate-stderr "$S/bk-job" drill -- bk-drill
	echo "$stderr"
	[ "$status" -eq 0 ]
	grep -Eq "^[0-9T:.-]+Z Backup job drill completed: $(full_id) drilled [0-9.]+s$" "$BK_LOG_DIR/backup.log"
	run --separate-stderr "$S/bk-check" --no-notify --no-verify --max-age 100000
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e --arg id "$(full_id)" '.state == "ok" and .drill.backup == $id and .drill.ageDays < 1 and .drill.maxAgeDays == 8' <<<"$output"
	# the same line nine days ago, and a failed drill since: stale
	local old
	old=$(date -u -d '9 days ago' +%Y-%m-%dT%H:%M:%S.000Z)
	sed -E "s/^[^ ]+ /$old /" "$BK_LOG_DIR/backup.log" >"$WORK/log"
	printf '%s Backup job drill failed: bk-drill: FAILED (exit 65)\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" >>"$WORK/log"
	mv "$WORK/log" "$BK_LOG_DIR/backup.log"
	run --separate-stderr "$S/bk-check" --no-notify --no-verify --max-age 100000
	echo "$output"
	[ "$status" -eq 1 ]
	jq -e '.state == "drill-stale" and .drill.ageDays > 8.9' <<<"$output"
	BK_DRILL_MAX_AGE_DAYS=10 run --separate-stderr "$S/bk-check" --no-notify --no-verify --max-age 100000
	[ "$status" -eq 0 ]
	BK_DRILL_MAX_AGE_DAYS=0 run --separate-stderr "$S/bk-check" --no-notify --no-verify --max-age 100000
	[ "$status" -eq 0 ]
	# no drill recorded at all: no alert
	rm "$BK_LOG_DIR/backup.log"
	run --separate-stderr "$S/bk-check" --no-notify --no-verify --max-age 100000
	[ "$status" -eq 0 ]
	jq -e '.drill.last == null' <<<"$output"
}
