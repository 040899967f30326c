#!/usr/bin/env bats
# bk-raffle: one raffle's backup (bk-backup(5), bk-raffle(1)), against real servers.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	bk_setup_servers_with_data 1000
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
}

# sql_lit TEXT: TEXT as an SQL string literal.
sql_lit() {
	printf "'%s'" "${1//\'/\'\'}"
}

# rows_of TABLE RAFFLE_ID: the ids of the table's rows for that raffle, sorted.
db_ids() {
	bk_psql -c "SELECT id FROM \"$1\" WHERE \"raffleId\" = $(sql_lit "$2")" | LC_ALL=C sort
}

# A raffle of the fixture with the given status (not an awkward one).
raffle_with_status() {
	bk_psql -c "SELECT id FROM \"Raffle\" WHERE status = '$1' AND id NOT LIKE 'cawkward%' ORDER BY id LIMIT 1"
}

@test "the backup nests every row of the raffle, as the database holds them" {
	rid=$(raffle_with_status completed)
	[ -n "$rid" ]
	run --separate-stderr bk-raffle "$rid"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	f=$(jq -r .path <<<"$output")
	[ "$f" = "$BACKUP_DIR/$(jq -r .id <<<"$output").json" ]
	[[ $(jq -r .id <<<"$output") =~ ^raffle_${rid}_[0-9]{13}$ ]]
	[ "$(stat -c %a "$f")" = 600 ]
	(cd "$BACKUP_DIR" && sha256sum -c --quiet "$(basename "$f").sha256")
	[ "$(jq -r .sha256 <<<"$output")" = "$(sha256sum "$f" | cut -d' ' -f1)" ]
	[ "$(jq -r .size <<<"$output")" = "$(stat -c %s "$f")" ]

	# the metadata on stdout is the file's
	[ "$(jq -cS 'del(.path, .size, .sha256)' <<<"$output")" = "$(jq -cS .metadata "$f")" ]
	[ "$(jq -r .metadata.type "$f")" = raffle ]
	[ "$(jq -r .metadata.raffleId "$f")" = "$rid" ]
	[ "$(jq -r .metadata.version "$f")" = 1.1 ]
	[ "$(jq -r .data.raffle.id "$f")" = "$rid" ]

	# every table with a foreign key to Raffle, from the catalog
	expected=$(bk_psql -c "SELECT DISTINCT c.relname FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'f'
		AND k.confrelid = '\"Raffle\"'::regclass ORDER BY 1")
	[ "$expected" = "$(printf '%s\n' BuyEvent SellEvent Ticket Winner)" ]
	for t in $expected; do
		key=$(jq -r --arg t "$t" '.metadata.tables | to_entries[] | select(.value == $t) | .key' "$f")
		[ -n "$key" ]
		diff <(db_ids "$t" "$rid") <(jq -r --arg k "$key" '.data.raffle[$k][].id' "$f" | LC_ALL=C sort)
		n=$(bk_psql -c "SELECT count(*) FROM \"$t\" WHERE \"raffleId\" = $(sql_lit "$rid")")
		[ "$(jq --arg k "$key" '.metadata.rowCounts[$k]' "$f")" = "$n" ]
		[ "$(jq --arg k "$key" '.data.raffle[$k] | length' "$f")" = "$n" ]
	done
	[ "$(jq '.data.raffle.tickets | length' "$f")" -gt 10 ]
	[ "$(jq '.data.raffle.winners | length' "$f")" -eq 1 ]

	# values, column by column, for the tickets and the raffle row
	diff <(bk_psql -F ' ' -c "SELECT id, \"walletAddress\", \"ticketCount\",
		to_char(\"createdAt\", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
		FROM \"Ticket\" WHERE \"raffleId\" = $(sql_lit "$rid")" | LC_ALL=C sort) \
		<(jq -r '.data.raffle.tickets[] | "\(.id) \(.walletAddress) \(.ticketCount) \(.createdAt)"' "$f" | LC_ALL=C sort)
	[ "$(jq -r .data.raffle.endTime "$f")" = "$(bk_psql -c "SELECT to_char(\"endTime\",
		'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM \"Raffle\" WHERE id = $(sql_lit "$rid")")" ]
	[ "$(jq -r .data.raffle.started "$f")" = true ]

	# RaffleAnalytics: data.analytics, not nested
	[ "$(jq -r .data.analytics.id "$f")" = "$(bk_psql -c "SELECT id FROM \"RaffleAnalytics\" WHERE \"raffleId\" = $(sql_lit "$rid")")" ]
	[ "$(jq .metadata.rowCounts.analytics "$f")" = 1 ]
	[ "$(jq '.data.raffle | has("raffleAnalytics")' "$f")" = false ]
}

@test "bigints beyond 2^53 keep every digit (compared as text)" {
	rid=cawkward00000000000000000a
	run --separate-stderr bk-raffle "$rid"
	[ "$status" -eq 0 ]
	f=$(jq -r .path <<<"$output")
	jq -e . "$f" >/dev/null
	# the winner row is one line of the file: take its numbers as written
	line=$(grep '^{"id":"cawkward0000000000000000wn"' "$f")
	for col in ticketCount winningTicketNumber totalTickets totalParticipants; do
		db=$(bk_psql -c "SELECT \"$col\"::text FROM \"Winner\" WHERE \"raffleId\" = '$rid'")
		got=$(sed -E "s/.*\"$col\":(-?[0-9]+)[,}].*/\\1/" <<<"$line")
		echo "$col: file $got, database $db"
		[ "$got" = "$db" ]
	done
	[[ $line == *'"ticketCount":9007199254740993,'* ]]
	[[ $line == *'"randomnessEpoch":"18446744073709551617"'* ]]
	# awkward text survives JSON and comes back as the database has it
	[ "$(jq -r .data.raffle.ca "$f")" = "$(bk_psql -c "SELECT ca FROM \"Raffle\" WHERE id = '$rid'")" ]
	[ "$(jq -r .data.raffle.announcementMediaUrl "$f")" = 'Zoë 🎉 日本語 — «ünïcödé» ✓ 𝄞' ]
	[ "$(jq -r .data.raffle.mediaUrl "$f")" = '\N' ]
	[ "$(jq .data.raffle.winners[0].awardTxHash "$f")" = '""' ]
}

@test "a raffle without analytics or children: empty arrays and analytics null" {
	rid=$(raffle_with_status active)
	bk_psql -c "INSERT INTO \"Raffle\" (id, ca, dex, \"startTime\", \"endTime\", \"prizeType\",
		\"prizeAmount\", \"updatedAt\") VALUES ('bare-raffle_1', 'c', 'd', now(), now(), 'SOL', '1', now())"
	run --separate-stderr bk-raffle bare-raffle_1
	[ "$status" -eq 0 ]
	f=$(jq -r .path <<<"$output")
	[ "$(jq -c '.data.analytics' "$f")" = null ]
	[ "$(jq -c '[.data.raffle.tickets, .data.raffle.buyEvents, .data.raffle.winners, .data.raffle.sellEvents]' "$f")" = '[[],[],[],[]]' ]
	[ "$(jq -c '.metadata.rowCounts' "$f")" = '{"raffle":1,"buyEvents":0,"sellEvents":0,"tickets":0,"winners":0,"analytics":0}' ]
	bk_psql -c "DELETE FROM \"Raffle\" WHERE id = 'bare-raffle_1'"
	# a running raffle has tickets but no analytics yet
	run --separate-stderr bk-raffle "$rid"
	[ "$status" -eq 0 ]
	f=$(jq -r .path <<<"$output")
	[ "$(jq -c '.data.analytics' "$f")" = null ]
	[ "$(jq '.data.raffle.tickets | length' "$f")" -gt 0 ]
}

@test "a new table referencing Raffle is nested without any change to bk" {
	bk_psql -c 'CREATE TABLE "RaffleNote" (id TEXT PRIMARY KEY, "raffleId" TEXT NOT NULL
		REFERENCES "Raffle"(id) ON DELETE CASCADE, body TEXT)'
	bk_psql -c "INSERT INTO \"RaffleNote\" VALUES ('n1', 'cawkward00000000000000000b', 'hello'),
		('n2', 'cawkward00000000000000000a', 'other')"
	run --separate-stderr bk-raffle cawkward00000000000000000b
	bk_psql -c 'DROP TABLE "RaffleNote"'
	[ "$status" -eq 0 ]
	f=$(jq -r .path <<<"$output")
	[ "$(jq -c '.data.raffle.raffleNotes' "$f")" = '[{"id":"n1","raffleId":"cawkward00000000000000000b","body":"hello"}]' ]
	[ "$(jq -r '.metadata.tables.raffleNotes' "$f")" = RaffleNote ]
}

@test "an unknown raffle: exit 66 and no file" {
	run --separate-stderr bk-raffle no-such-raffle
	[ "$status" -eq 66 ]
	[ -z "$output" ]
	[[ $stderr == *"no-such-raffle: no such raffle"* ]]
	[ -z "$(find "$BACKUP_DIR" -name '*raffle*')" ]
}

@test "a malformed raffle id: exit 64 before any file or query" {
	# no database and no backup directory: the id is refused before either
	long=$(printf 'a%.0s' {1..115})
	for bad in '../x' 'a;drop' "a'b" '' 'a b' 'x/../../y' "$long"; do
		DATABASE_URL='postgresql://nobody@/nowhere?host=/nonexistent' BACKUP_DIR=$BK_TMP/nodir \
			run --separate-stderr bk-raffle "$bad"
		echo "id '$bad': $status $stderr"
		[ "$status" -eq 64 ]
		[ ! -e "$BK_TMP/nodir" ]
	done
	run bk-raffle
	[ "$status" -eq 64 ]
	run bk-raffle --ended some-id
	[ "$status" -eq 64 ]
	run bk-raffle a b
	[ "$status" -eq 64 ]
}

# insert_raffle ID END_INTERVAL: an ended-or-not raffle, END_INTERVAL from now (e.g. '-1 hour').
insert_raffle() {
	bk_psql -c "INSERT INTO \"Raffle\" (id, ca, dex, \"startTime\", \"endTime\", \"prizeType\",
		\"prizeAmount\", status, \"updatedAt\") VALUES ('$1', 'ca', 'raydium',
		(now() AT TIME ZONE 'UTC') - interval '3 days',
		(now() AT TIME ZONE 'UTC') + interval '$2', 'SOL', '1', 'ended', now())"
}

# crafted_backup RAFFLE_ID ISO_TIMESTAMP: a whole raffle backup file dated then.
crafted_backup() {
	local id="raffle_$1_$3"
	mkdir -p "$BACKUP_DIR"
	printf '{"metadata":{"id":"%s","timestamp":"%s","type":"raffle","raffleId":"%s","version":"1.0"},\n"data":{"raffle":{"id":"%s"},\n"analytics":null}}\n' \
		"$id" "$2" "$1" "$1" >"$BACKUP_DIR/$id.json"
}

@test "--ended backs up every ended raffle, winner or not, once after its end" {
	insert_raffle ended-backed-up '-2 hours'
	insert_raffle ended-backup-before-end '-1 minute'
	insert_raffle ends-later '+1 hour'
	bk-raffle ended-backed-up >/dev/null
	before=$(bk_psql -c "SELECT to_char(\"endTime\" - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
		FROM \"Raffle\" WHERE id = 'ended-backup-before-end'")
	crafted_backup ended-backup-before-end "$before" 1
	# a damaged backup does not count as one
	echo '{"metadata":{"id":"raffle_cawkward00000000000000000b_2","timestamp":"2099-01-01T00:00:00.000Z","type":"raffle","raffleId":"cawkward00000000000000000b"' \
		>"$BACKUP_DIR/raffle_cawkward00000000000000000b_2.json"

	# every raffle that has ended, with a winner ('completed') or not ('ended')
	expected=$(bk_psql -c "SELECT id FROM \"Raffle\" WHERE \"endTime\" < now() AT TIME ZONE 'UTC'
		AND id <> 'ended-backed-up'" | LC_ALL=C sort)
	[[ $expected == *cawkward00000000000000000b* && $expected == *ended-backup-before-end* ]]
	[ "$(bk_psql -c "SELECT count(*) FROM \"Raffle\" r JOIN \"Winner\" w ON w.\"raffleId\" = r.id
		WHERE r.\"endTime\" < now() AT TIME ZONE 'UTC'")" -gt 0 ]

	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$expected") <(printf '%s\n' "$output" | jq -r .raffleId | LC_ALL=C sort)
	for line in "${lines[@]}"; do
		f=$(jq -r .path <<<"$line")
		rid=$(jq -r .raffleId <<<"$line")
		[ "$(jq -r .metadata.raffleId "$f")" = "$rid" ]
		(cd "$BACKUP_DIR" && sha256sum -c --quiet "$(basename "$f").sha256")
		# the metadata says whether the winner was drawn, and how late it was taken
		drawn=$(bk_psql -c "SELECT count(*) > 0 FROM \"Winner\" WHERE \"raffleId\" = $(sql_lit "$rid")")
		[ "$(jq -r .metadata.winnerDrawn "$f")" = "$([ "$drawn" = t ] && echo true || echo false)" ]
		[ "$(jq -r '.metadata.raffleEnded and .metadata.secondsAfterEnd > 0' "$f")" = true ]
	done

	# the second run has nothing to do
	files=$(ls "$BACKUP_DIR" | wc -l)
	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(ls "$BACKUP_DIR" | wc -l)" -eq "$files" ]

	# a raffle that ends later is taken once it has ended
	bk_psql -c "UPDATE \"Raffle\" SET \"endTime\" = (now() AT TIME ZONE 'UTC') - interval '1 second'
		WHERE id = 'ends-later'"
	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 0 ]
	[ "$(jq -r .raffleId <<<"$output")" = ends-later ]
	bk_psql -c "DELETE FROM \"Raffle\" WHERE id IN ('ended-backed-up', 'ended-backup-before-end', 'ends-later')"
}

@test "a raffle whose winner is drawn a minute after its end is still backed up by the next --ended" {
	bk-raffle --ended >/dev/null	# everything else that ended is taken now
	insert_raffle drawn-late '-2 minutes'
	bk_psql -c "INSERT INTO \"Winner\" (id, \"raffleId\", \"walletAddress\", \"ticketCount\", \"selectedAt\")
		VALUES ('w-drawn-late', 'drawn-late', 'wallet', 1, (now() AT TIME ZONE 'UTC') - interval '1 minute')"
	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .raffleId <<<"$output")" = drawn-late ]
	f=$(jq -r .path <<<"$output")
	[ "$(jq -r .metadata.winnerDrawn "$f")" = true ]
	[ "$(jq -r '.data.raffle.winners | length' "$f")" -eq 1 ]
	[ "$(jq -r '.metadata.secondsAfterEnd >= 120' "$f")" = true ]
	# exactly once
	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	bk_psql -c "DELETE FROM \"Raffle\" WHERE id = 'drawn-late'"
}

@test "bk-raffle RAFFLE_ID before the draw: winnerDrawn false, not ended yet" {
	insert_raffle ends-soon '+1 hour'
	run --separate-stderr bk-raffle ends-soon
	[ "$status" -eq 0 ]
	f=$(jq -r .path <<<"$output")
	[ "$(jq -r '.metadata.winnerDrawn, .metadata.raffleEnded' "$f" | tr '\n' ' ')" = "false false " ]
	[ "$(jq -r '.metadata | has("secondsAfterEnd")' "$f")" = false ]
	bk_psql -c "DELETE FROM \"Raffle\" WHERE id = 'ends-soon'"
}

# bats test_tags=race
@test "--watch backs up a raffle soon after its end, holds no lock between rounds, stops on SIGTERM" {
	bk-raffle --ended >/dev/null
	timeout 600 bk-raffle --watch --interval 1 >"$BK_TMP/watch.out" 2>"$BK_TMP/watch.err" &
	pid=$!
	insert_raffle watched '-1 second'
	bk_poll 120 grep -q '"raffleId":"watched"' "$BK_TMP/watch.out"
	# between rounds the lock is free: another job can take it (a watch
	# that kept it would never let go)
	timeout 130 flock -w 120 "$BACKUP_DIR/.bk.lock" true
	# a round that finds the lock taken is tried again, not fatal: held
	# until a round has met it
	bk_lock_hold
	bk_poll 120 grep -q 'this round failed (exit 75)' "$BK_TMP/watch.err"
	bk_lock_release
	kill -0 "$pid"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(grep -c '"raffleId":"watched"' "$BK_TMP/watch.out")" -eq 1 ]
	bk_psql -c "DELETE FROM \"Raffle\" WHERE id = 'watched'"
}

# bats test_tags=race
@test "bk-raffle waits for or gives up on the backup lock" {
	bk_lock_hold
	run --separate-stderr bk-raffle cawkward00000000000000000b
	[ "$status" -eq 75 ]
	[ -z "$(ls "$BACKUP_DIR")" ]
	run --separate-stderr bk-raffle --ended
	[ "$status" -eq 75 ]
	# released while it waits for the lock
	bk-raffle --wait 600 cawkward00000000000000000b >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	bk_wait_lock_open "$pid"
	bk_lock_release
	status=0
	wait "$pid" || status=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 0 ]
	[ -n "$(jq -r .path "$BATS_TEST_TMPDIR/out")" ]
}

@test "database down: exit 69 and no file" {
	DATABASE_URL='postgresql://bk@/bk?host=/nonexistent' run --separate-stderr bk-raffle cawkward00000000000000000b
	[ "$status" -eq 69 ]
	[ -z "$(find "$BACKUP_DIR" -name '*.json*')" ]
}

@test "--help, --version and bad options" {
	run bk-raffle --help
	[ "$status" -eq 0 ]
	[[ $output == usage:\ bk-raffle* && $output == *--ended* && $output == *--wait* && $output == *--watch* ]]
	run bk-raffle --version
	[ "$status" -eq 0 ]
	[[ $output =~ ^bk-raffle\ [0-9] ]]
	run bk-raffle --bogus
	[ "$status" -eq 64 ]
	run bk-raffle --wait x abc
	[ "$status" -eq 64 ]
	run bk-raffle --watch --interval 0
	[ "$status" -eq 64 ]
	run bk-raffle --watch some-id
	[ "$status" -eq 64 ]
}
