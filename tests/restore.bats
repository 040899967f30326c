#!/usr/bin/env bats
# bk-restore against real PostgreSQL and Redis servers (bk-restore(1)).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 1000
	bk_redis SET 'conversation:111:222' '{"step":"await_wallet","q":"a \"b\" \\ c"}' EX 3000 >/dev/null
	bk_redis SET 'conversation:333:444' 'forever' >/dev/null
	bk-dump >"$BK_TMP/full.line"
	FULL=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])' <"$BK_TMP/full.line")
	export FULL
	# the source's rows, UserActivity cut to the window the backup took
	src=$(bk_createdb src)
	"$BK_PG_BIN/pg_dump" -d "$DATABASE_URL" | bk_psql -d "$src" >/dev/null
	python3 - "$FULL" <<-'PY' >"$BK_TMP/activity_ids"
	import json, sys
	for r in json.load(open(sys.argv[1]))["data"]["userActivities"]:
	    print(r["id"])
	PY
	"$BK_PG_BIN/psql" -X -q -d "$src" -c 'CREATE TEMP TABLE k (id text)' \
		-c "\\copy k FROM '$BK_TMP/activity_ids'" \
		-c 'DELETE FROM "UserActivity" WHERE id NOT IN (SELECT id FROM k)' >/dev/null
	bk_pgdump_data "$src" >"$BK_TMP/src.data"
}

teardown_file() {
	bk_stop_servers
}

# fresh NAME: a database holding the schema and nothing else; prints its URL
fresh() {
	bk_dropdb "$1"
	bk_createdb "$1" --schema
}

# restored NAME: a database holding exactly the full backup; prints its URL
restored() {
	local url
	url=$(fresh "$1")
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$FULL" >/dev/null
	printf '%s\n' "$url"
}

q() { "$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
json() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v := v[k] for k in sys.argv[2:]]; print(v)' "$@"; }
nfiles() { find "$BACKUP_DIR" -maxdepth 1 -name '*.json' | wc -l; }

@test "round trip: awkward values restore exactly into an empty schema" {
	DB=$(fresh rt)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 0 ]
	[ "$(json "$output" tables Ticket)" = 1000 ]
	[ "$(json "$output" safetyBackup)" = None ]
	bk_pgdump_data "$DB" >"$BK_TMP/rt.data"
	diff "$BK_TMP/src.data" "$BK_TMP/rt.data"
	# the values that would break on the way
	[ "$(q "SELECT count(*) FROM \"WalletUser\" WHERE \"telegramUserId\" = 9007199254740993")" -ge 1 ]
	[ "$(q "SELECT \"prizeAmount\" FROM \"Raffle\" WHERE id = 'cawkward00000000000000000a'")" = 9007199254740993 ]
}

@test "Redis: keys set with their recorded TTL, no TTL stays none" {
	bk_redis DEL conversation:111:222 conversation:333:444 >/dev/null
	DB=$(fresh rd)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 0 ]
	[ "$(json "$output" redisKeys)" = 2 ]
	[ "$(bk_redis GET conversation:111:222)" = '{"step":"await_wallet","q":"a \"b\" \\ c"}' ]
	ttl=$(bk_redis PTTL conversation:111:222)
	[ "$ttl" -gt 2900000 ] && [ "$ttl" -le 3000000 ]
	[ "$(bk_redis PTTL conversation:333:444)" = -1 ]
}

@test "a safety backup of the current state is taken first and named in the summary" {
	DB=$(restored sb)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	before=$(nfiles)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --skip-redis "$FULL"
	[ "$status" -eq 0 ]
	id=$(json "$output" safetyBackup)
	[[ $id =~ ^full_[0-9]+$ ]]
	[ "$(nfiles)" -eq $((before + 1)) ]
	bk-verify "$id" >/dev/null
	grep -q '"permissions":"changed"' "$BACKUP_DIR/$id.json"
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions = 'changed'")" = 0 ]
}

# change_all: one change in every group
change_all() {
	q "UPDATE \"Raffle\" SET \"prizeAmount\" = 'changed'"
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	q "UPDATE \"DailyAnalytics\" SET \"totalTokenVolume\" = 'changed'"
	q "UPDATE \"AuditLog\" SET action = 'changed'"
	bk_redis SET conversation:333:444 changed >/dev/null
}

changed() {	# changed: which groups still hold their change
	local out=""
	[ "$(q "SELECT count(*) FROM \"Raffle\" WHERE \"prizeAmount\" = 'changed'")" != 0 ] && out+="raffles "
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions = 'changed'")" != 0 ] && out+="users "
	[ "$(q "SELECT count(*) FROM \"DailyAnalytics\" WHERE \"totalTokenVolume\" = 'changed'")" != 0 ] && out+="analytics "
	[ "$(q "SELECT count(*) FROM \"AuditLog\" WHERE action = 'changed'")" != 0 ] && out+="other "
	[ "$(bk_redis GET conversation:333:444)" = changed ] && out+="redis "
	echo "$out"
}

@test "each --skip-* leaves exactly its group untouched and restores the others" {
	DB=$(restored skip)
	for g in raffles users analytics redis; do
		change_all
		[ "$(changed)" = "raffles users analytics other redis " ]
		run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "--skip-$g" "$FULL"
		[ "$status" -eq 0 ]
		[ "$(changed)" = "$g " ] || { echo "--skip-$g left: $(changed)"; false; }
		[ "$(json "$output" skipped)" = "['$g']" ]
	done
	# skipped raffles: none of its tables is in the summary
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-raffles "$FULL"
	[[ $output != *'"Ticket"'* && $output != *'"SellEvent"'* && $output == *'"Admin"'* ]]
}

@test "merge: a backup row replaces the live row with the same unique key under another id" {
	DB=$(restored merge)
	read -r tid rid wallet < <(q "SELECT id, \"raffleId\", \"walletAddress\" FROM \"Ticket\" WHERE id NOT LIKE 'cawk%' ORDER BY id LIMIT 1" | tr '|' ' ')
	# the same (raffleId, walletAddress) under a new id, and a row the backup does not know
	q "DELETE FROM \"Ticket\" WHERE id = '$tid'"
	q "INSERT INTO \"Ticket\" VALUES ('other-id', '$rid', '$wallet', 42, now(), now())"
	q "INSERT INTO \"Ticket\" VALUES ('live-only', '$rid', 'live-only-wallet', 1, now(), now())"
	# a raffle changed in place: the update must not cascade to its tickets
	q "UPDATE \"Raffle\" SET status = 'changed' WHERE id = '$rid'"
	q "UPDATE \"DailyAnalytics\" SET id = 'other-day-id' WHERE id = (SELECT min(id) FROM \"DailyAnalytics\")"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT \"ticketCount\" <> 42 FROM \"Ticket\" WHERE id = '$tid'")" = t ]
	[ "$(q "SELECT count(*) FROM \"Ticket\" WHERE id = 'other-id'")" = 0 ]
	[ "$(q "SELECT count(*) FROM \"Ticket\" WHERE id = 'live-only'")" = 1 ]
	[ "$(q "SELECT count(*) FROM \"Raffle\" WHERE status = 'changed'")" = 0 ]
	[ "$(q "SELECT count(*) FROM \"DailyAnalytics\" WHERE id = 'other-day-id'")" = 0 ]
	[ "$(bk_count Ticket "$DB")" = 1001 ]
	[ "$(bk_count DexDailyStats "$DB")" = "$(bk_count DexDailyStats)" ]
}

@test "--clean: the restored tables end with exactly the backup's rows" {
	DB=$(restored clean)
	q "INSERT INTO \"AuditLog\" (id, action) VALUES ('extra', 'x')"
	q "DELETE FROM \"Raffle\" WHERE id = 'cawkward00000000000000000b'"
	q "INSERT INTO \"Raffle\" (id, ca, dex, \"startTime\", \"endTime\", \"prizeType\", \"prizeAmount\", \"updatedAt\")
	   VALUES ('extra-raffle', 'ca', 'dex', now(), now(), 'SOL', '1', now())"
	q "INSERT INTO \"Ticket\" VALUES ('extra-ticket', 'extra-raffle', 'w', 1, now(), now())"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --clean "$FULL"
	[ "$status" -eq 0 ]
	bk_pgdump_data "$DB" >"$BK_TMP/clean.data"
	diff "$BK_TMP/src.data" "$BK_TMP/clean.data"
}

@test "--clean deletes only rows the backup could hold: older UserActivity stays; --dry-run says what would go" {
	DB=$(restored window)
	# history older than the backup's window, and one row newer than the backup
	q "INSERT INTO \"UserActivity\" (id, \"telegramUserId\", \"activityType\", \"timestamp\")
	   SELECT 'old-' || g, 1, 'x', now() - interval '400 days' - g * interval '1 day' FROM generate_series(1, 3) g"
	q "INSERT INTO \"UserActivity\" (id, \"telegramUserId\", \"activityType\", \"timestamp\") VALUES ('new-1', 1, 'x', now())"
	q "INSERT INTO \"AuditLog\" (id, action) VALUES ('extra', 'x')"
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --dry-run --clean "$FULL"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *"would delete"* ]]
	grep -Eq '^  UserActivity +1 rows$' <<<"$stderr"
	grep -Eq '^  AuditLog +1 rows$' <<<"$stderr"
	[[ $stderr == *"keeps UserActivity rows older than"* ]]
	[ "$(json "$output" deleted UserActivity)" = 1 ]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --clean "$FULL"
	[ "$status" -eq 0 ]
	[ "$(json "$output" deleted UserActivity)" = 1 ]
	[ "$(q "SELECT count(*) FROM \"UserActivity\" WHERE id LIKE 'old-%'")" = 3 ]
	[ "$(q "SELECT count(*) FROM \"UserActivity\" WHERE id = 'new-1'")" = 0 ]
	[ "$(q "SELECT count(*) FROM \"AuditLog\" WHERE id = 'extra'")" = 0 ]
}

@test "--clean is refused when a cascade would delete rows of a table not being restored" {
	DB=$(restored refuse)
	q 'CREATE TABLE "AdminNote" (id text PRIMARY KEY, "adminId" text NOT NULL REFERENCES "Admin"(id) ON DELETE CASCADE)'
	q "INSERT INTO \"Admin\" (id, \"telegramUserId\", \"updatedAt\") VALUES ('extra-admin', 1, now())"
	q "INSERT INTO \"AdminNote\" VALUES ('n1', 'extra-admin')"
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --clean "$FULL"
	[ "$status" -eq 77 ]
	[[ $stderr == *"AdminNote"*"ON DELETE CASCADE"* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	# without the extra admin, nothing would cascade: allowed
	q "DELETE FROM \"Admin\" WHERE id = 'extra-admin'"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --clean "$FULL"
	[ "$status" -eq 0 ]
}

@test "merge: a live row replaced by another unique key keeps its children, restored tables or not" {
	DB=$(restored keepkids)
	day=$(q 'SELECT min(id) FROM "DailyAnalytics"')
	# the live row of that date under another id, with a child the backup does not have
	q "UPDATE \"DailyAnalytics\" SET id = 'other-day-id' WHERE id = '$day'"
	q "INSERT INTO \"DexDailyStats\" (id, \"analyticsId\", dex) VALUES ('live-child', 'other-day-id', 'live-dex')"
	# and a table the backup does not hold, hanging off the same row
	q 'CREATE TABLE "DayNote" (id text PRIMARY KEY, "analyticsId" text NOT NULL
	   REFERENCES "DailyAnalytics"(id) ON DELETE CASCADE ON UPDATE CASCADE)'
	q "INSERT INTO \"DayNote\" VALUES ('note', 'other-day-id')"
	dex=$(bk_count DexDailyStats "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	echo "$stderr"
	[ "$status" -eq 0 ]
	# the backup's row took the live one's place; nothing that hung off it is gone
	[ "$(q "SELECT count(*) FROM \"DailyAnalytics\" WHERE id = 'other-day-id'")" = 0 ]
	[ "$(q "SELECT count(*) FROM \"DailyAnalytics\" WHERE id = '$day'")" = 1 ]
	[ "$(q "SELECT \"analyticsId\" FROM \"DexDailyStats\" WHERE id = 'live-child'")" = "$day" ]
	[ "$(q "SELECT \"analyticsId\" FROM \"DayNote\" WHERE id = 'note'")" = "$day" ]
	[ "$(bk_count DexDailyStats "$DB")" = "$dex" ]
	[ "$(bk_count DailyAnalytics "$DB")" = "$(bk_count DailyAnalytics)" ]
}

@test "merge is refused, naming them, when a replaced row's children cannot follow (not ON UPDATE CASCADE)" {
	DB=$(restored cascade)
	q 'CREATE TABLE "DayNote" (id text PRIMARY KEY, "analyticsId" text NOT NULL
	   REFERENCES "DailyAnalytics"(id) ON DELETE CASCADE)'
	day=$(q 'SELECT min(id) FROM "DailyAnalytics"')
	q "UPDATE \"DailyAnalytics\" SET id = 'other-day-id' WHERE id = '$day'"
	q "INSERT INTO \"DayNote\" VALUES ('note', 'other-day-id')"
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 77 ]
	[[ $stderr == *"DailyAnalytics"*"DayNote"*"ON UPDATE CASCADE"* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	# a backup row holding the id of one live row and the date of another: refused too
	q 'DELETE FROM "DayNote"'
	q "INSERT INTO \"DailyAnalytics\" (id, date, \"updatedAt\") SELECT '$day', date + interval '1000 days', now()
	   FROM \"DailyAnalytics\" WHERE id = 'other-day-id'"
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 77 ]
	[[ $stderr == *"DailyAnalytics"*"disappear"* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	# without rows to lose, the same restore goes through
	q "DELETE FROM \"DailyAnalytics\" WHERE id = '$day'"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT count(*) FROM \"DailyAnalytics\" WHERE id = '$day'")" = 1 ]
}

@test "a row that violates the live schema: 65 naming the table, everything rolled back" {
	DB=$(restored bad)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	python3 - "$FULL" "$BK_TMP/orphan.json" <<-'PY'
	import sys
	t = open(sys.argv[1], encoding="utf-8").read()
	i = t.index('"tickets":[')
	j = t.index('"raffleId":"', i) + len('"raffleId":"')
	t = t[:j] + "no-such-raffle-" + t[j:]
	open(sys.argv[2], "w", encoding="utf-8").write(t)
	PY
	before=$(bk_pgdump_data "$DB")
	files=$(nfiles)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes "$BK_TMP/orphan.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *Ticket* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	# the safety backup was taken (the data was whole): it is the only trace
	[ "$(nfiles)" -eq $((files + 1)) ]
}

@test "damaged backups change nothing: truncated, flipped byte, wrong structure, missing, bad id" {
	DB=$(restored dmg)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	bk_redis SET conversation:333:444 changed >/dev/null
	before=$(bk_pgdump_data "$DB")
	head -c $(($(stat -c %s "$FULL") * 3 / 4)) "$FULL" >"$BK_TMP/cut.json"
	cp "$FULL" "$BK_TMP/flip.json"
	cp "$FULL.sha256" "$BK_TMP/flip.json.sha256"
	off=$(grep -bo '"walletAddress":"' "$FULL" | tail -n 1 | cut -d: -f1)
	printf 'Q' | dd of="$BK_TMP/flip.json" bs=1 seek=$((off + 20)) conv=notrunc 2>/dev/null
	sed 's/"tickets":\[/"tickets":{"x":[/' "$FULL" >"$BK_TMP/struct.json"
	files=$(nfiles)
	for f in cut flip struct; do
		run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes "$BK_TMP/$f.json"
		[ "$status" -eq 65 ] || { echo "$f: $status $stderr"; false; }
		[[ $stderr == *"nothing has been changed"* ]]
	done
	[[ $stderr != *"checksum"* ]]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes full_1234
	[ "$status" -eq 66 ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes 'full_..'
	[ "$status" -eq 64 ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes ../../etc/nonexistent.json
	[ "$status" -eq 66 ]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	[ "$(bk_redis GET conversation:333:444)" = changed ]
	[ "$(nfiles)" -eq "$files" ]	# no safety backup for a backup that is not whole
}

@test "the flipped byte is reported as a checksum mismatch" {
	run --separate-stderr env DATABASE_URL="$DATABASE_URL" bk-restore --yes --dry-run "$BK_TMP/flip.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *"checksum mismatch"* ]]
}

@test "no terminal and no --yes: 77, nothing read, nothing changed" {
	DB=$(restored tty)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	files=$(nfiles)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore "$FULL" </dev/null
	[ "$status" -eq 77 ]
	[[ $stderr == *"--yes"* ]]
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions = 'changed'")" != 0 ]
	[ "$(nfiles)" -eq "$files" ]
}

# bats test_tags=race
@test "on a terminal the operator must type the backup id" {
	command -v script >/dev/null || skip "script(1) is not installed"
	DB=$(restored typed)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	id=$(basename "$FULL" .json)
	cmd="env DATABASE_URL='$DB' bk-restore --no-safety-backup --skip-redis '$FULL'"
	# script(1) gives the tool a terminal and types what it reads on its own
	# stdin; the terminal keeps what is typed before the prompt until read,
	# so the answer may come whenever
	run bash -c "echo wrong-id | script -qec \"$cmd\" /dev/null"
	[[ $output == *"Type the backup id"* ]]
	[[ $output == *"not confirmed"* ]]
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions = 'changed'")" != 0 ]
	run bash -c "echo '$id' | script -qec \"$cmd\" /dev/null"
	[[ $output == *'"backup":"'$id'"'* ]]
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions = 'changed'")" = 0 ]
}

@test "--dry-run verifies and prints rows per table; changes nothing, takes no safety backup" {
	DB=$(restored dry)
	q "UPDATE \"Admin\" SET permissions = 'changed'"
	before=$(bk_pgdump_data "$DB")
	files=$(nfiles)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --dry-run "$FULL" </dev/null
	[ "$status" -eq 0 ]
	[ "$(json "$output" dryRun)" = True ]
	[ "$(json "$output" tables BuyEvent)" = 1000 ]
	[ "$(json "$output" redisKeys)" = 2 ]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	[ "$(nfiles)" -eq "$files" ]
}

@test "stdin: a backup piped in restores (checksum absent)" {
	DB=$(fresh pipe)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis - <"$FULL"
	[ "$status" -eq 0 ]
	[ "$(bk_count Ticket "$DB")" = 1000 ]
}

@test "the original TypeScript service's backups restore (nested relations ignored, 1 hour TTL)" {
	DB=$(fresh ts)
	bk_redis DEL conversation:12345:67890 >/dev/null
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$BK_FIXTURES/ts_full_backup.json"
	[ "$status" -eq 0 ]
	[ "$(json "$output" tables DexDailyStats)" = 3 ]
	[ "$(bk_count DexDailyStats "$DB")" = 3 ]
	[ "$(bk_count Ticket "$DB")" = 5 ]
	ttl=$(bk_redis PTTL conversation:12345:67890)
	[ "$ttl" -gt 3500000 ] && [ "$ttl" -le 3600000 ]
	# bigints written as strings land exact
	q "SELECT \"telegramUserId\" FROM \"WalletUser\"" | grep -q .
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$BK_FIXTURES/ts_raffle_backup.json"
	[ "$status" -eq 0 ]
	[ "$(json "$output" tables Raffle)" = 1 ]
}

@test "a raffle backup restores the raffle, its child rows and its analytics" {
	DB=$(restored raffle)
	rid=cawkward00000000000000000a
	line=$(DATABASE_URL=$DB bk-raffle "$rid")
	path=$(json "$line" path)
	before=$(bk_pgdump_data "$DB")
	q "DELETE FROM \"Raffle\" WHERE id = '$rid'"	# cascades to its tickets, events, winner
	q "DELETE FROM \"RaffleAnalytics\" WHERE \"raffleId\" = '$rid'"
	[ "$(q "SELECT count(*) FROM \"Ticket\" WHERE \"raffleId\" = '$rid'")" = 0 ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$path"
	[ "$status" -eq 0 ]
	[ "$(json "$output" type)" = raffle ]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --clean "$path"
	[ "$status" -eq 64 ]
}

@test "offsets, defaults, exact numbers: tests/fixtures/restore_values.json" {
	DB=$(fresh values)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis \
		"$BK_FIXTURES/restore_values.json"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT \"startTime\" FROM \"Raffle\"")" = "2024-01-01 00:00:00.5" ]
	[ "$(q "SELECT \"endTime\" FROM \"Raffle\"")" = "2023-12-31 21:30:00.123" ]
	# a column missing from the row takes its default
	[ "$(q "SELECT status || ' ' || \"ticketsPerToken\" FROM \"Raffle\"")" = "active 100" ]
	[ "$(q "SELECT \"telegramUserId\" FROM \"WalletUser\"")" = 9223372036854775807 ]
	[ "$(q "SELECT \"averageTicketsPerUser\" FROM \"RaffleAnalytics\"")" = 0.1 ]
	[ "$(q "SELECT array_length(\"targetUserIds\", 1) || ' ' || \"targetUserIds\"[2] FROM \"ScheduledNotification\"")" = '3 a "quoted", \ and {braces}' ]
}

@test "a date that does not exist is refused whatever its offset: 65 naming table.column and value" {
	DB=$(fresh baddate)
	for when in 2024-02-30T10:00:00+01:00 2024-02-30T10:00:00 2024-02-30T10:00:00Z 2023-02-29T23:00:00-0100; do
		python3 - "$BK_FIXTURES/restore_values.json" "$BK_TMP/baddate.json" "$when" <<-'PY'
		import sys
		t = open(sys.argv[1], encoding="utf-8").read()
		open(sys.argv[2], "w", encoding="utf-8").write(t.replace("2024-01-01T02:00:00.5+02:00", sys.argv[3]))
		PY
		run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis \
			"$BK_TMP/baddate.json"
		[ "$status" -eq 65 ]
		[[ $stderr == *'Raffle.startTime'*"$when"* ]]
		[ "$(bk_count Raffle "$DB")" = 0 ]
	done
}

# edit SRC DST PYTHON: DST is SRC's text (t) or JSON (d) changed by the statements
edit() {
	python3 - "$1" "$2" "$3" <<-'PY'
	import json, sys
	src, dst, code = sys.argv[1:]
	t = open(src, encoding="utf-8").read()
	d = json.loads(t)
	env = {"t": t, "d": d, "json": json}
	exec(code, env)
	out = env["t"] if env["t"] is not t else json.dumps(env["d"])
	open(dst, "w", encoding="utf-8").write(out)
	PY
}

# refused FILE [RESTORE OPTIONS]: bk-verify and bk-restore both exit 65 and nothing changes
refused() {
	local file=$1
	shift
	run --separate-stderr bk-verify "$file"
	echo "verify: $output $stderr"
	[ "$status" -eq 65 ]
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$@" "$file"
	echo "restore: $stderr"
	[ "$status" -eq 65 ]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
}

@test "hostile: a member name holding \\u0000 is refused (65), never cut short onto another" {
	DB=$(restored nul)
	q "UPDATE \"Admin\" SET permissions = 'live'"
	edit "$FULL" "$BK_TMP/nul1.json" 't = t.replace("\"permissions\":", "\"permissions\\u0000zzz\":", 1)'
	refused "$BK_TMP/nul1.json"
	[[ $stderr == *'\u0000'* ]]
	edit "$FULL" "$BK_TMP/nul2.json" 't = t.replace("\"admins\":[", "\"admins\\u0000x\":[", 1)'
	refused "$BK_TMP/nul2.json"
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions <> 'live'")" = 0 ]
}

@test "hostile: a raffle backup may hold only its raffle's rows" {
	DB=$(restored hostraffle)
	rid=cawkward00000000000000000a
	path=$(json "$(DATABASE_URL=$DB bk-raffle "$rid")" path)
	other=$(q "SELECT id FROM \"Raffle\" WHERE id <> '$rid' ORDER BY id LIMIT 1")
	# nested admins, a top-level walletUsers: tables that do not hang off Raffle
	edit "$path" "$BK_TMP/r1.json" 'd["data"]["raffle"]["admins"] = [{"id": "evil", "telegramUserId": 1, "updatedAt": "2024-01-01T00:00:00Z"}]'
	refused "$BK_TMP/r1.json"
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE id = 'evil'")" = 0 ]
	edit "$path" "$BK_TMP/r2.json" 'd["data"]["walletUsers"] = [{"walletAddress": "evil", "telegramUserId": 1, "updatedAt": "2024-01-01T00:00:00Z"}]'
	refused "$BK_TMP/r2.json"
	# a ticket of another raffle inside this one: verify cannot know, restore refuses
	edit "$path" "$BK_TMP/r3.json" "d['data']['raffle']['tickets'][0]['raffleId'] = '$other'"
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$BK_TMP/r3.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *"Ticket"*"another raffle"* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
}

@test "hostile: Redis keys outside the backup's pattern, of another type, or TTLs out of range are refused" {
	DB=$(restored hostredis)
	q "UPDATE \"Admin\" SET permissions = 'live'"
	edit "$FULL" "$BK_TMP/k1.json" 'd["redis"]["conversations"]["victim:hash"] = "x"'
	refused "$BK_TMP/k1.json"
	[[ $stderr == *'victim:hash'*pattern* ]]
	edit "$FULL" "$BK_TMP/k2.json" 'd["redis"]["ttl"]["conversation:111:222"] = 99999999999999999999'
	grep -q 99999999999999999999 "$BK_TMP/k2.json"
	refused "$BK_TMP/k2.json"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --dry-run "$BK_TMP/k2.json"
	[ "$status" -eq 65 ]
	# a live key of another type is never overwritten; checked before the commit
	bk_redis DEL conversation:111:222 >/dev/null
	bk_redis HSET conversation:111:222 f v >/dev/null
	before=$(bk_pgdump_data "$DB")
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 65 ]
	[[ $stderr == *'conversation:111:222'*hash* ]]
	[ "$before" = "$(bk_pgdump_data "$DB")" ]
	[ "$(bk_redis TYPE conversation:111:222)" = hash ]
	[ "$(q "SELECT count(*) FROM \"Admin\" WHERE permissions <> 'live'")" = 0 ]
	bk_redis DEL conversation:111:222 >/dev/null
}

@test "the database down: 69 with libpq's reason, nothing else" {
	run --separate-stderr env DATABASE_URL="postgresql://bk@/bk?host=$BK_TMP/nowhere&port=1" \
		bk-restore --yes --no-safety-backup "$FULL"
	[ "$status" -eq 69 ]
	[[ $stderr == *"cannot connect"* ]]
}

@test "the lock: another job holding it gives 75" {
	exec 9>"$BACKUP_DIR/.bk.lock"
	flock 9
	run --separate-stderr bk-restore --yes --no-safety-backup "$FULL"
	exec 9>&-
	[ "$status" -eq 75 ]
}

@test "--help and usage" {
	run bk-restore --help
	[ "$status" -eq 0 ]
	[[ $output == *"--skip-analytics"* && $output == *"--no-safety-backup"* ]]
	run bk-restore
	[ "$status" -eq 64 ]
	run bk-restore --bogus x
	[ "$status" -eq 64 ]
}

@test "empty tables take their rows straight (no staging); tables with rows merge; same rows either way" {
	DB=$(fresh straight)
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$FULL"
	[ "$status" -eq 0 ]
	straight=$(echo "$output" | jq -r '.copiedStraight | join(",")')
	[[ ,$straight, == *,Raffle,* && ,$straight, == *,Ticket,* && ,$straight, == *,Admin,* ]]
	bk_pgdump_data "$DB" >"$BK_TMP/straight.data"
	diff "$BK_TMP/src.data" "$BK_TMP/straight.data"
	# the same backup again: every table holds rows now, all of them merge
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$FULL"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq '.copiedStraight | length')" -eq 0 ]
	bk_pgdump_data "$DB" >"$BK_TMP/straight2.data"
	diff "$BK_TMP/src.data" "$BK_TMP/straight2.data"
	# only Ticket emptied: its parent Raffle holds rows and merges after the load;
	# Ticket goes straight, its foreign key put back (and checked) after the merge
	q 'DELETE FROM "Ticket"'
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$FULL"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.copiedStraight | join(",")')" = Ticket ]
	# with a safety backup (which reads the tables meanwhile) no key is dropped: staged
	q 'DELETE FROM "Ticket"'
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --skip-redis "$FULL"
	[ "$status" -eq 0 ]
	[[ ,$(echo "$output" | jq -r '.copiedStraight | join(",")'), != *,Ticket,* ]]
	bk_pgdump_data "$DB" >"$BK_TMP/straight3.data"
	diff "$BK_TMP/src.data" "$BK_TMP/straight3.data"
	# the staged path alone gives the same rows
	DB=$(fresh staged)
	BK_RESTORE_NO_FAST=1 DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$FULL" >"$BK_TMP/staged.out"
	[ "$(jq '.copiedStraight | length' "$BK_TMP/staged.out")" -eq 0 ]
	bk_pgdump_data "$DB" >"$BK_TMP/staged.data"
	diff "$BK_TMP/src.data" "$BK_TMP/staged.data"
}

# the foreign keys of the database, as pg_dump would recreate them
fkeys() {
	"$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	    FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
}

@test "empty tables that reference tables later in the file go straight too: their foreign keys are put back and checked" {
	DB=$(fresh fkeys)
	fkeys "$DB" >"$BK_TMP/fkeys.before"
	[ -s "$BK_TMP/fkeys.before" ]
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$FULL"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	# buyEvents comes before raffles in the file
	[[ ,$(echo "$output" | jq -r '.copiedStraight | join(",")'), == *,BuyEvent,* ]]
	fkeys "$DB" | diff "$BK_TMP/fkeys.before" -
	bk_pgdump_data "$DB" | diff "$BK_TMP/src.data" -
	# a BuyEvent of a raffle the backup does not hold: refused when the key is put back,
	# nothing changed, the keys still there
	DB=$(fresh fkeys_bad)
	# (the first row after "buyEvents":[; jq would round the bigints)
	awk '!done && seen { n = sub(/"raffleId":"[^"]*"/, "\"raffleId\":\"no-such-raffle\""); done = n }
	     /"buyEvents":\[/ { seen = 1 } { print }' "$FULL" >"$BK_TMP/orphan.json"
	grep -q no-such-raffle "$BK_TMP/orphan.json"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/orphan.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *BuyEvent_raffleId_fkey* ]]
	[ "$(bk_count BuyEvent "$DB")" -eq 0 ]
	[ "$(bk_count Raffle "$DB")" -eq 0 ]
	fkeys "$DB" | diff "$BK_TMP/fkeys.before" -
}

# the schema as pg_dump recreates it (its random \restrict key left out)
schema_of() {
	"$BK_PG_BIN/pg_dump" --schema-only -d "$1" | grep -v '^\\\(un\)\{0,1\}restrict '
}

@test "big empty tables get their indexes and keys built after their rows: the same schema and rows; a duplicate key still fails with 65" {
	big=$(fresh big_src)
	bk_load_data 12000 "$big"
	DATABASE_URL=$big BK_ACTIVITY_DAYS=100000 bk-dump --no-redis -o "$BK_TMP/big.json" >/dev/null
	bk_pgdump_data "$big" >"$BK_TMP/big.data"
	DB=$(fresh big_dst)
	schema_of "$DB" >"$BK_TMP/big.schema"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/big.json"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[[ ,$(echo "$output" | jq -r '.copiedStraight | join(",")'), == *,Ticket,* ]]
	schema_of "$DB" | diff "$BK_TMP/big.schema" -
	bk_pgdump_data "$DB" | diff "$BK_TMP/big.data" -
	# a ticket twice: refused when its primary key is built, nothing changed
	DB=$(fresh big_dup)
	python3 - "$BK_TMP/big.json" "$BK_TMP/dup.json" <<-'PY'
	import sys
	lines = open(sys.argv[1]).read().split("\n")
	i = next(n for n, l in enumerate(lines) if '"tickets":[' in l)
	row = lines[i + 1].rstrip(",")
	lines.insert(i + 1, row + ",")
	open(sys.argv[2], "w").write("\n".join(lines))
	PY
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/dup.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *'could not create unique index "Ticket_pkey"'* ]]
	[ "$(bk_count Ticket "$DB")" -eq 0 ]
	schema_of "$DB" | diff "$BK_TMP/big.schema" -
}

@test "a damaged backup found after rows went straight into empty tables: 65, the tables stay empty" {
	DB=$(fresh straight_bad)
	size=$(stat -c %s "$FULL")
	head -c $((size * 9 / 10)) "$FULL" >"$BK_TMP/cut90.json"
	run --separate-stderr env DATABASE_URL="$DB" bk-restore --yes --no-safety-backup --skip-redis - <"$BK_TMP/cut90.json"
	[ "$status" -eq 65 ]
	[ "$(bk_count Ticket "$DB")" -eq 0 ]
	[ "$(bk_count Raffle "$DB")" -eq 0 ]
}

@test "table inheritance: each table's own rows, once; restored exactly into empty tables, by merge and with --clean" {
	local url want
	bk_dropdb inherit
	url=$(bk_createdb inherit --schema)
	DB=$url
	q 'CREATE TABLE "Base" (id int PRIMARY KEY, v text); CREATE TABLE "Child" (extra int, PRIMARY KEY (id)) INHERITS ("Base")'
	q "INSERT INTO \"Base\" VALUES (1, 'parent'); INSERT INTO \"Child\" VALUES (2, 'child', 7)"
	want=$(bk_pgdump_data inherit)
	DATABASE_URL=$url bk-dump --no-redis -o "$BK_TMP/inherit.json" >/dev/null
	# the parent's rows without its child's (pg_dump's way), counted so
	[ "$(jq -c '[.data.bases, .metadata.rowCounts.bases]' "$BK_TMP/inherit.json")" = '[[{"id":1,"v":"parent"}],1]' ]
	[ "$(jq -c '.data.childs' "$BK_TMP/inherit.json")" = '[{"id":2,"v":"child","extra":7}]' ]
	bk-verify "$BK_TMP/inherit.json" >/dev/null
	q 'TRUNCATE "Base", "Child"'
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/inherit.json" >/dev/null
	[ "$(bk_pgdump_data inherit)" = "$want" ]
	# a merge puts the values back and keeps rows the backup does not hold
	q "UPDATE \"Base\" SET v = 'changed'"
	q "INSERT INTO \"Child\" VALUES (3, 'extra child', 0); INSERT INTO \"Base\" VALUES (4, 'extra parent')"
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/inherit.json" >/dev/null
	[ "$(q 'SELECT string_agg(id || v, $$,$$ ORDER BY id) FROM "Base"')" = "1parent,2child,3extra child,4extra parent" ]
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis --clean "$BK_TMP/inherit.json" >/dev/null
	[ "$(bk_pgdump_data inherit)" = "$want" ]
	bk_dropdb inherit
}

@test "a partitioned table: its rows under its own key, the partitions' included; restored exactly" {
	local url want
	bk_dropdb parts
	url=$(bk_createdb parts --schema)
	DB=$url
	q 'CREATE TABLE "Sale" (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)'
	q "CREATE TABLE \"SaleEu\" PARTITION OF \"Sale\" FOR VALUES IN ('eu'); CREATE TABLE \"SaleUs\" PARTITION OF \"Sale\" FOR VALUES IN ('us')"
	q "INSERT INTO \"Sale\" VALUES (1, 'eu'), (2, 'us'), (3, 'us')"
	want=$(bk_pgdump_data parts)
	DATABASE_URL=$url bk-dump --no-redis -o "$BK_TMP/parts.json" >/dev/null
	[ "$(jq -c '[(.data.sales | length), .metadata.rowCounts.sales, .metadata.tables.saleEus]' "$BK_TMP/parts.json")" = '[3,3,null]' ]
	q 'TRUNCATE "Sale"'
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/parts.json" >/dev/null
	[ "$(bk_pgdump_data parts)" = "$want" ]
	q "UPDATE \"Sale\" SET id = id + 10 WHERE id = 3; INSERT INTO \"Sale\" VALUES (9, 'eu')"
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis --clean "$BK_TMP/parts.json" >/dev/null
	[ "$(bk_pgdump_data parts)" = "$want" ]
	bk_dropdb parts
}

@test "the tables' own triggers are off while rows are restored, and back as they were; another role is refused (77)" {
	local url want
	bk_dropdb trig
	url=$(bk_createdb trig --schema)
	DB=$url
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" <<-'SQL'
		CREATE TABLE "Stamped" (id int PRIMARY KEY, v text);
		INSERT INTO "Stamped" VALUES (1, 'as backed up');
		CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
		  $$BEGIN NEW.v := NEW.v || ' (touched)'; RETURN NEW; END$$;
		CREATE FUNCTION log() RETURNS trigger LANGUAGE plpgsql AS
		  $$BEGIN INSERT INTO "AuditLog" (id, action) VALUES (gen_random_uuid()::text, 'row'); RETURN NULL; END$$;
		CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON "Stamped" FOR EACH ROW EXECUTE FUNCTION touch();
		CREATE TRIGGER logged AFTER INSERT OR UPDATE ON "Stamped" FOR EACH ROW EXECUTE FUNCTION log();
		CREATE TRIGGER dormant BEFORE INSERT ON "Stamped" FOR EACH ROW EXECUTE FUNCTION touch();
		ALTER TABLE "Stamped" DISABLE TRIGGER dormant;
		ALTER TABLE "Stamped" ENABLE ALWAYS TRIGGER logged;
	SQL
	DATABASE_URL=$url bk-dump --no-redis -o "$BK_TMP/trig.json" >/dev/null
	want=$(bk_pgdump_data trig)
	triggers() { q "SELECT string_agg(tgname || '=' || tgenabled::text, ' ' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = '\"Stamped\"'::regclass"; }
	[ "$(triggers)" = "dormant=D logged=A touch=O" ]
	# into the emptied table, then over changed rows: the backup's values, no audit rows
	q 'ALTER TABLE "Stamped" DISABLE TRIGGER USER; TRUNCATE "Stamped"; ALTER TABLE "Stamped" ENABLE TRIGGER touch; ALTER TABLE "Stamped" ENABLE ALWAYS TRIGGER logged'
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/trig.json" >/dev/null
	[ "$(bk_pgdump_data trig)" = "$want" ]
	q "UPDATE \"Stamped\" SET v = 'changed'"
	q 'DELETE FROM "AuditLog" WHERE action = $$row$$'
	want=$(DB=$url q 'SELECT count(*) FROM "AuditLog"')
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/trig.json" >/dev/null
	[ "$(q 'SELECT v FROM "Stamped"')" = "as backed up" ]
	[ "$(q 'SELECT count(*) FROM "AuditLog"')" = "$want" ]
	[ "$(triggers)" = "dormant=D logged=A touch=O" ]
	# a role that does not own the table cannot turn them off: refused
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" \
		-c 'CREATE ROLE trig_writer LOGIN' -c 'GRANT ALL ON ALL TABLES IN SCHEMA public TO trig_writer'
	q "UPDATE \"Stamped\" SET v = 'changed again'"
	run --separate-stderr env DATABASE_URL="postgresql://trig_writer@/trig?host=$PGHOST&port=$PGPORT" \
		bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/trig.json"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *'trigger logged on Stamped would fire for every restored row'* ]]
	[ "$(q 'SELECT v FROM "Stamped"')" = "changed again (touched)" ]
	[ "$(triggers)" = "dormant=D logged=A touch=O" ]
	bk_dropdb trig
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'DROP ROLE trig_writer'
}
