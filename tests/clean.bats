#!/usr/bin/env bats
# bk-clean: retention (bk-clean(1), bk(7)). Backups are crafted files with chosen
# metadata timestamps; one test uses real ones made by bk-dump and bk-raffle.
# The tests of the age rule run with the calendar turned off (BK_KEEP_*=0);
# those of the calendar unset BK_KEEP_* or pass --keep-*.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	bk_setup_servers_with_data 100
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
	unset BACKUP_RETENTION_DAYS
	export BK_KEEP_HOURLY=0 BK_KEEP_DAILY=0 BK_KEEP_WEEKLY=0 BK_KEEP_MONTHLY=0
}

# backup ID TYPE DAYS_AGO: a whole backup file whose metadata is dated
# DAYS_AGO days back (its mtime is now: only the metadata counts), with its
# checksum file.
backup() {
	local secs ts raffle=
	secs=$(($(date +%s) - $3 * 86400))
	ts=$(date -u -d "@$secs" +%Y-%m-%dT%H:%M:%S.000Z)
	[[ $2 == raffle ]] && raffle=',"raffleId":"r1"'
	printf '{"metadata":{"id":"%s","timestamp":"%s","type":"%s"%s,"version":"1.0"},\n"data":{"x":[\n{"n":%d}\n]}}\n' \
		"$1" "$ts" "$2" "$raffle" "$3" >"$BACKUP_DIR/$1.json"
	(cd "$BACKUP_DIR" && sha256sum "$1.json" >"$1.json.sha256")
}

# backup_at ID TYPE TIME: the same, dated TIME (UTC, as date -d reads it).
backup_at() {
	local ts raffle=
	ts=$(date -u -d "$3" +%Y-%m-%dT%H:%M:%S.000Z)
	[[ $2 == raffle ]] && raffle=',"raffleId":"r1"'
	printf '{"metadata":{"id":"%s","timestamp":"%s","type":"%s"%s,"version":"1.0"},\n"data":{"x":[\n{"n":1}\n]}}\n' \
		"$1" "$ts" "$2" "$raffle" >"$BACKUP_DIR/$1.json"
	(cd "$BACKUP_DIR" && sha256sum "$1.json" >"$1.json.sha256")
}

# keep_of ID: the rules that keep ID in the report, one line, comma-separated.
keep_of() {
	jq -r --arg id "$1" '.backups[] | select(.id == $id) | .keep | join(", ")' <<<"$output"
}

# remaining: the names in the backup directory, sorted, lock file aside.
remaining() {
	ls -A "$BACKUP_DIR" | grep -v '^\.bk\.lock$' | LC_ALL=C sort
}

deleted_ids() {
	jq -r '.deleted[].id' <<<"$output" | LC_ALL=C sort
}

@test "backups dated 40, 31, 29 and 1 days back: the first two go, with their checksums" {
	backup raffle_r1_40 raffle 40
	backup full_31 full 31
	backup raffle_r1_29 raffle 29
	backup full_1 full 1
	sizes=$(($(stat -c %s "$BACKUP_DIR/raffle_r1_40.json") + $(stat -c %s "$BACKUP_DIR/full_31.json")))
	sums=$(($(stat -c %s "$BACKUP_DIR/raffle_r1_40.json.sha256") + $(stat -c %s "$BACKUP_DIR/full_31.json.sha256")))
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_31 raffle_r1_40)" ]
	[ "$(jq .bytesFreed <<<"$output")" -eq $((sizes + sums)) ]
	[ "$(jq '[.deleted[].size] | add' <<<"$output")" -eq "$sizes" ]
	[ "$(jq -r '.deleted[] | select(.id == "full_31") | .type' <<<"$output")" = full ]
	[[ $(jq -r '.deleted[0].timestamp' <<<"$output") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$ ]]
	[ "$(jq .kept <<<"$output")" -eq 2 ]
	[ "$(jq .dryRun <<<"$output")" = false ]
	[ "$(remaining)" = "$(printf '%s\n' full_1.json full_1.json.sha256 raffle_r1_29.json raffle_r1_29.json.sha256)" ]
	# nothing more to do
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(jq -c .deleted <<<"$output")" = '[]' ]
	[ "$(jq .bytesFreed <<<"$output")" -eq 0 ]
}

@test "DAYS from the argument, else BACKUP_RETENTION_DAYS, else 30" {
	backup full_1 full 1
	backup raffle_r1_40 raffle 40
	backup raffle_r1_20 raffle 20
	backup raffle_r1_10 raffle 10
	BACKUP_RETENTION_DAYS=45 run --separate-stderr bk-clean --dry-run
	[ -z "$(deleted_ids)" ]
	run --separate-stderr bk-clean --dry-run
	[ "$(deleted_ids)" = raffle_r1_40 ]
	BACKUP_RETENTION_DAYS=15 run --separate-stderr bk-clean --dry-run
	[ "$(deleted_ids)" = "$(printf '%s\n' raffle_r1_20 raffle_r1_40)" ]
	# the argument wins over the environment, and the .env file
	echo BACKUP_RETENTION_DAYS=45 >"$BK_TMP/clean.env"
	BK_ENV_FILE=$BK_TMP/clean.env BACKUP_RETENTION_DAYS=45 run --separate-stderr bk-clean 5
	[ "$status" -eq 0 ]
	[ "$(jq .days <<<"$output")" -eq 5 ]
	[ "$(deleted_ids)" = "$(printf '%s\n' raffle_r1_10 raffle_r1_20 raffle_r1_40)" ]
}

@test "when every full backup is older than DAYS the newest full one stays" {
	backup full_60 full 60
	backup full_50 full 50
	backup full_40 full 40
	backup raffle_r1_35 raffle 35
	run --separate-stderr bk-clean 30
	[ "$status" -eq 0 ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_50 full_60)" ]
	# the raffle backup taken after it stays with it: the two restore that moment
	[ "$(keep_of raffle_r1_35)" = "after full_40" ]
	rm "$BACKUP_DIR"/raffle_r1_35.json*
	[ "$(remaining)" = "$(printf '%s\n' full_40.json full_40.json.sha256)" ]
	# --keep-last N keeps N, whatever their age; a raffle backup is no full backup
	backup full_60 full 60
	backup full_50 full 50
	run --separate-stderr bk-clean 30 --keep-last 2
	[ "$(deleted_ids)" = full_60 ]
	# --keep-last 0 still keeps the newest full backup that verifies
	run --separate-stderr bk-clean 30 --keep-last 0
	[ "$(deleted_ids)" = full_50 ]
	[ "$(remaining)" = "$(printf '%s\n' full_40.json full_40.json.sha256)" ]
}

# damage ID: flips a byte in the middle of the backup; its checksum no longer matches
damage() {
	python3 - "$BACKUP_DIR/$1.json" <<-'PY'
	import sys
	b = bytearray(open(sys.argv[1], "rb").read())
	b[len(b) // 2] ^= 1
	open(sys.argv[1], "wb").write(b)
	PY
}

@test "only backups that verify count toward --keep-last: a damaged newer one never costs the good one" {
	backup full_40 full 40
	backup full_35 full 35
	damage full_35
	run --separate-stderr bk-clean 30
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *full_35.json*checksum*"does not count"* ]]
	[ "$(jq -r '.damaged[0].path' <<<"$output")" = "$BACKUP_DIR/full_35.json" ]
	[ "$(deleted_ids)" = full_35 ]
	[ "$(remaining)" = "$(printf '%s\n' full_40.json full_40.json.sha256)" ]
	# a young damaged one stays by age, and still does not count
	backup full_2 full 2
	damage full_2
	run --separate-stderr bk-clean 30
	[ -z "$(deleted_ids)" ]
	[ "$(remaining)" = "$(printf '%s\n' full_2.json full_2.json.sha256 full_40.json full_40.json.sha256)" ]
}

@test "young full backups count towards --keep-last" {
	backup full_40 full 40
	backup full_2 full 2
	run --separate-stderr bk-clean 30
	[ "$(deleted_ids)" = full_40 ]
}

@test "files that are not backups are never touched" {
	backup full_40 full 40
	backup full_39 full 39
	# old metadata, but not a backup's name; a directory; a symlink; other names
	backup full_38 full 38
	mv "$BACKUP_DIR/full_38.json" "$BACKUP_DIR/old-export.json"
	mv "$BACKUP_DIR/full_38.json.sha256" "$BACKUP_DIR/old-export.json.sha256"
	cp "$BACKUP_DIR/old-export.json" "$BACKUP_DIR/full_38.json.bak"
	echo notes >"$BACKUP_DIR/notes.txt"
	echo x >"$BACKUP_DIR/.hidden"
	mkdir "$BACKUP_DIR/full_37.json.d"
	touch -d '3 hours ago' "$BACKUP_DIR/.notes.txt.tmp-abc123" "$BACKUP_DIR/.hidden"
	touch -d '40 days ago' "$BACKUP_DIR"/*
	before=$(remaining)
	run --separate-stderr bk-clean 30
	[ "$status" -eq 0 ]
	[ "$(deleted_ids)" = full_40 ]
	[ "$(remaining)" = "$(grep -v '^full_40\.json' <<<"$before")" ]
	[ -e "$BACKUP_DIR/.bk.lock" ]
}

@test "a backup with unreadable metadata is kept and reported" {
	backup full_1 full 1
	printf '{"metadata":{"id":"full_5","timestamp":"long ago"' >"$BACKUP_DIR/full_5.json"
	echo 'not json at all' >"$BACKUP_DIR/raffle_r1_6.json"
	touch -d '400 days ago' "$BACKUP_DIR/full_5.json" "$BACKUP_DIR/raffle_r1_6.json"
	run --separate-stderr bk-clean 30 --keep-last 0
	[ "$status" -eq 0 ]
	[ "$(jq -c .deleted <<<"$output")" = '[]' ]
	[ "$(jq .kept <<<"$output")" -eq 3 ]
	[ "$(jq -r '.corrupt[].path' <<<"$output" | xargs -n1 basename | LC_ALL=C sort)" = "$(printf '%s\n' full_5.json raffle_r1_6.json)" ]
	[[ $stderr == *full_5.json*kept* ]]
	[ -e "$BACKUP_DIR/full_5.json" ] && [ -e "$BACKUP_DIR/raffle_r1_6.json" ]
}

@test "--dry-run deletes nothing and says what would go" {
	backup full_40 full 40
	backup raffle_r1_31 raffle 31
	backup full_1 full 1
	touch -d '2 hours ago' "$BACKUP_DIR/.full_9.json.tmp-AbC123"
	echo x >"$BACKUP_DIR/full_8.json.sha256"
	before=$(remaining)
	run --separate-stderr bk-clean --dry-run
	[ "$status" -eq 0 ]
	[ "$(jq .dryRun <<<"$output")" = true ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_40 raffle_r1_31)" ]
	[ "$(jq .tempFilesRemoved <<<"$output")" -eq 1 ]
	[ "$(jq .orphanChecksumsRemoved <<<"$output")" -eq 1 ]
	[ "$(jq .bytesFreed <<<"$output")" -gt 0 ]
	[ "$(remaining)" = "$before" ]
	# the real run does what the dry run said
	dry=$(jq -cS 'del(.dryRun)' <<<"$output")
	run --separate-stderr bk-clean
	[ "$(jq -cS 'del(.dryRun)' <<<"$output")" = "$dry" ]
}

@test "temporary files of killed writers: removed after an hour" {
	backup full_1 full 1
	for f in .full_2.json.tmp-abc123 full_2.json.sha256.tmp-XyZ789 .raffle_r1_3.json.tmp-000000; do
		echo partial >"$BACKUP_DIR/$f"
		touch -d '61 minutes ago' "$BACKUP_DIR/$f"
	done
	echo partial >"$BACKUP_DIR/.full_4.json.tmp-fresh1"     # a writer may still be at work
	touch -d '2 hours ago' "$BACKUP_DIR/.notes.tmp-abc123"   # not a backup's temporary file
	touch -d '2 hours ago' "$BACKUP_DIR/.full_5.json.tmp-ab"  # not mkstemp's pattern
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(jq .tempFilesRemoved <<<"$output")" -eq 3 ]
	[ "$(remaining)" = "$(printf '%s\n' .full_4.json.tmp-fresh1 .full_5.json.tmp-ab .notes.tmp-abc123 full_1.json full_1.json.sha256)" ]
}

@test "a checksum file whose backup is gone is removed" {
	backup full_1 full 1
	backup full_2 full 2
	rm "$BACKUP_DIR/full_2.json"
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(jq .orphanChecksumsRemoved <<<"$output")" -eq 1 ]
	[ "$(remaining)" = "$(printf '%s\n' full_1.json full_1.json.sha256)" ]
}

# bats test_tags=race
@test "cleanup while a dump holds the lock: exit 75, nothing deleted" {
	backup full_40 full 40
	backup full_1 full 1
	bk_lock_hold
	run --separate-stderr bk-clean
	[ "$status" -eq 75 ]
	[ -z "$output" ]
	[[ $stderr == *lock* ]]
	[ -e "$BACKUP_DIR/full_40.json" ]
	# a dry run takes no lock: it may look while a backup is written
	run --separate-stderr bk-clean --dry-run
	[ "$status" -eq 0 ]
	[ "$(deleted_ids)" = full_40 ]
	bk_lock_release
}

ms_since_start_at_least() {
	[ $((($(date +%s%N) - start) / 1000000)) -ge "$1" ]
}

# bats test_tags=race
@test "--wait SECONDS waits for the lock" {
	backup full_40 full 40
	backup full_1 full 1
	bk_lock_hold
	start=$(date +%s%N)
	bk-clean --wait 600 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	# released a second after the clean started, once it waits for the lock
	bk_wait_lock_open "$pid"
	bk_poll 60 ms_since_start_at_least 1000
	bk_lock_release
	status=0
	wait "$pid" || status=$?
	elapsed=$((($(date +%s%N) - start) / 1000000))
	output=$(cat "$BATS_TEST_TMPDIR/out")
	cat "$BATS_TEST_TMPDIR/err"
	echo "waited ${elapsed} ms"
	[ "$status" -eq 0 ]
	[ "$(deleted_ids)" = full_40 ]
	[ "$elapsed" -ge 1000 ]
}

@test "real backups from bk-dump and bk-raffle are kept while young, checksums intact" {
	bk-dump --no-redis >/dev/null
	bk-raffle cawkward00000000000000000b >/dev/null
	backup full_40 full 40
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(deleted_ids)" = full_40 ]
	(cd "$BACKUP_DIR" && sha256sum -c --quiet ./*.sha256)
	[ "$(ls "$BACKUP_DIR"/*.json | wc -l)" -eq 2 ]
	run --separate-stderr bk-clean 1 --keep-last 0
	[ "$(jq -c .deleted <<<"$output")" = '[]' ]
}

@test "bad usage: exit 64 before anything is touched" {
	backup full_40 full 40
	backup full_1 full 1
	for args in 0 -1 abc 1.5 '3 4' '--keep-last x' '--keep-last -1' '--wait x' '--bogus'; do
		# shellcheck disable=SC2086
		run --separate-stderr bk-clean $args
		echo "bk-clean $args: $status"
		[ "$status" -eq 64 ]
	done
	run --separate-stderr bk-clean ''
	[ "$status" -eq 64 ]
	BACKUP_RETENTION_DAYS=abc run --separate-stderr bk-clean
	[ "$status" -eq 64 ]
	BACKUP_RETENTION_DAYS=0 run --separate-stderr bk-clean
	[ "$status" -eq 64 ]
	[ -e "$BACKUP_DIR/full_40.json" ]
	run bk-clean --help
	[ "$status" -eq 0 ]
	[[ $output == usage:\ bk-clean* && $output == *--keep-last* && $output == *--dry-run* ]]
	run bk-clean --version
	[[ $output =~ ^bk-clean\ [0-9] ]]
}

# ---------------------------------------------------------------- the calendar

# Full backups around the end of March 2025 (Monday 03-31 and Tuesday 04-01
# are in ISO week 14; Sunday 03-30 closes week 13), raffle backups between.
calendar_backups() {
	unset BK_KEEP_HOURLY BK_KEEP_DAILY BK_KEEP_WEEKLY BK_KEEP_MONTHLY
	backup_at full_a full '2025-04-01T01:30Z'
	backup_at full_b full '2025-04-01T01:10Z'
	backup_at raffle_r1_x raffle '2025-04-01T00:30Z'
	backup_at full_c full '2025-04-01T00:05Z'
	backup_at full_d full '2025-03-31T23:59:59Z'
	backup_at full_e full '2025-03-30T12:00Z'
	backup_at raffle_r1_y raffle '2025-03-29T13:00Z'
	backup_at full_f full '2025-03-29T12:00Z'
	backup_at full_g full '2025-02-28T08:00Z'
	backup_at full_h full '2025-02-27T08:00Z'
}

@test "calendar: the newest full backup of each of the newest N hours, days, ISO weeks, months (UTC)" {
	calendar_backups
	local args=(1 --keep-hourly 2 --keep-daily 2 --keep-weekly 2 --keep-monthly 3)
	before=$(remaining)
	run --separate-stderr bk-clean --dry-run "${args[@]}"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(keep_of full_a)" = "newest full, hourly 2025-04-01T01, daily 2025-04-01, weekly 2025-W14, monthly 2025-04" ]
	[ "$(keep_of full_b)" = "" ]
	[ "$(keep_of full_c)" = "hourly 2025-04-01T00" ]
	[ "$(keep_of raffle_r1_x)" = "after full_c" ]
	[ "$(keep_of full_d)" = "daily 2025-03-31, monthly 2025-03" ]
	[ "$(keep_of full_e)" = "weekly 2025-W13" ]
	[ "$(keep_of raffle_r1_y)" = "" ]
	[ "$(keep_of full_f)" = "" ]
	[ "$(keep_of full_g)" = "monthly 2025-02" ]
	[ "$(keep_of full_h)" = "" ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_b full_f full_h raffle_r1_y)" ]
	[ "$(jq -c '[.keepHourly, .keepDaily, .keepWeekly, .keepMonthly, .days]' <<<"$output")" = '[2,2,2,3,1]' ]
	# the dry run's table on stderr: one line per backup, newest first
	[[ $stderr == *"keep   full_a "*"2025-04-01T01:30:00.000Z"*"newest full, hourly 2025-04-01T01"* ]]
	[[ $stderr == *"delete full_b "*"no rule keeps it"* ]]
	[[ $stderr == *"keep   raffle_r1_x "*"after full_c"* ]]
	[ "$(grep -cE '^(keep|delete) ' <<<"$stderr")" -eq 10 ]
	[ "$(remaining)" = "$before" ]
	# the real run does it, and prints no table
	run --separate-stderr bk-clean "${args[@]}"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_b full_f full_h raffle_r1_y)" ]
	[ "$(remaining)" = "$(printf '%s\n' full_{a,c,d,e,g}.json{,.sha256} raffle_r1_x.json{,.sha256} | LC_ALL=C sort)" ]
	# the next run keeps what is left: each is still the newest of its bucket
	run --separate-stderr bk-clean "${args[@]}"
	[ "$(jq -c .deleted <<<"$output")" = '[]' ]
}

@test "calendar: BK_KEEP_* from the environment or .env, options over them; 0 turns a unit off" {
	calendar_backups
	BK_KEEP_HOURLY=0 BK_KEEP_DAILY=0 BK_KEEP_WEEKLY=0 BK_KEEP_MONTHLY=3 run --separate-stderr bk-clean --dry-run 1
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.keepHourly, .keepDaily, .keepWeekly, .keepMonthly]' <<<"$output")" = '[0,0,0,3]' ]
	[ "$(keep_of full_a)" = "newest full, monthly 2025-04" ]
	[ "$(keep_of full_d)" = "monthly 2025-03" ]
	[ "$(deleted_ids)" = "$(printf '%s\n' full_b full_c full_e full_f full_h raffle_r1_x raffle_r1_y)" ]
	# the .env file fills in what the environment does not set; an option wins over both
	printf 'BK_KEEP_HOURLY=0\nBK_KEEP_DAILY=0\nBK_KEEP_WEEKLY=1\nBK_KEEP_MONTHLY=0\n' >"$BK_TMP/keep.env"
	BK_ENV_FILE=$BK_TMP/keep.env BK_KEEP_MONTHLY=2 run --separate-stderr bk-clean --dry-run 1 --keep-weekly 2
	[ "$(jq -c '[.keepHourly, .keepDaily, .keepWeekly, .keepMonthly]' <<<"$output")" = '[0,0,2,2]' ]
	[ "$(keep_of full_e)" = "weekly 2025-W13" ]
	[ "$(keep_of full_d)" = "monthly 2025-03" ]
	[ "$(keep_of full_g)" = "" ]
}

@test "calendar: without any setting, 24 hours, 7 days, 4 weeks, 6 months, and the age rule as before" {
	unset BK_KEEP_HOURLY BK_KEEP_DAILY BK_KEEP_WEEKLY BK_KEEP_MONTHLY
	# a daily backup for 40 days: what the age rule alone kept before, the last 30 days, stays
	local d
	for d in $(seq 1 40); do
		backup "full_$d" full "$d"
	done
	backup raffle_r1_35 raffle 35
	backup raffle_r1_39 raffle 39
	run --separate-stderr bk-clean --dry-run
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.keepHourly, .keepDaily, .keepWeekly, .keepMonthly, .days]' <<<"$output")" = '[24,7,4,6,30]' ]
	for d in $(seq 1 29); do
		[[ $(keep_of "full_$d") == *age* ]]
	done
	# past 30 days, the calendar keeps the newest of each month (and of each hour,
	# day and week up to its N); the rest goes
	local kept
	kept=$(jq -r '.backups[] | select(.keep | length > 0) | .id' <<<"$output" | wc -l)
	[ "$kept" -ge 30 ]
	[ "$(jq '[.backups[] | select(.keep | length == 0)] | length' <<<"$output")" -eq "$(jq '.deleted | length' <<<"$output")" ]
	# a raffle backup stays while the full backup before it does
	for d in 35 39; do
		if [ -n "$(keep_of "full_$((d + 1))")" ]; then
			[ "$(keep_of "raffle_r1_$d")" = "after full_$((d + 1))" ]
		else
			[ "$(keep_of "raffle_r1_$d")" = "" ]
		fi
	done
	# one monthly bucket for each month these 40 days touch (fewer than 6)
	[ "$(jq '[.backups[].keep[] | select(startswith("monthly "))] | length' <<<"$output")" -eq \
		"$(jq '[.backups[] | .timestamp[:7]] | unique | length' <<<"$output")" ]
	# everything that goes is older than 30 days
	[ "$(jq --arg cut "$(date -u -d '30 days ago' +%FT%T)" '[.deleted[] | select(.timestamp > $cut)] | length' <<<"$output")" -eq 0 ]
}

@test "calendar: a bad N exits 64 with one line, before anything is touched" {
	backup full_40 full 40
	backup full_1 full 1
	before=$(remaining)
	local args
	for args in '--keep-hourly -1' '--keep-daily x' '--keep-weekly 1.5' '--keep-monthly 9999999'; do
		# shellcheck disable=SC2086
		run --separate-stderr bk-clean $args
		echo "bk-clean $args: $status $stderr"
		[ "$status" -eq 64 ]
		[ -z "$output" ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
	done
	run --separate-stderr bk-clean --keep-daily x
	[[ $stderr == *--keep-daily*"'x'"* ]]
	run --separate-stderr bk-clean --keep-monthly
	[ "$status" -eq 64 ]
	for v in -1 abc 2x; do
		BK_KEEP_WEEKLY=$v run --separate-stderr bk-clean
		echo "BK_KEEP_WEEKLY=$v: $status $stderr"
		[ "$status" -eq 64 ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ $stderr == *BK_KEEP_WEEKLY* ]]
	done
	[ "$(remaining)" = "$before" ]
}

# redate FILE TIME: the backup's metadata timestamp (its first "timestamp",
# the metadata comes first) set to TIME (UTC), its checksum file made again;
# the rest of the backup as bk-dump wrote it.
redate() {
	local ts
	ts=$(date -u -d "$2" +%Y-%m-%dT%H:%M:%S.000Z)
	# bytes, not jq: jq would round the bigints
	python3 - "$1" "$ts" <<-'PY'
	import re, sys
	b = open(sys.argv[1], "rb").read()
	b = re.sub(rb'"timestamp": ?"[^"]*"', b'"timestamp":"' + sys.argv[2].encode() + b'"', b, count=1)
	open(sys.argv[1], "wb").write(b)
	PY
	(cd "$(dirname "$1")" && sha256sum "$(basename "$1")" >"$(basename "$1").sha256")
}

@test "calendar on real backups from bk-dump and bk-raffle, re-dated: the right ones stay, and verify" {
	unset BK_KEEP_HOURLY BK_KEEP_DAILY BK_KEEP_WEEKLY BK_KEEP_MONTHLY
	local t ids=() path
	for t in '2025-03-31T22:10Z' '2025-03-31T23:10Z' '2025-04-01T00:10Z'; do
		path=$(bk-dump --no-redis | jq -r .path)
		redate "$path" "$t"
		ids+=("$(basename "$path" .json)")
	done
	path=$(bk-raffle cawkward00000000000000000b | jq -r .path)
	redate "$path" '2025-03-31T22:40Z'
	raffle=$(basename "$path" .json)
	run --separate-stderr bk-verify "${ids[@]}" "$raffle"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	run --separate-stderr bk-clean 1 --keep-hourly 1 --keep-daily 2 --keep-weekly 0 --keep-monthly 0
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(keep_of "${ids[2]}")" = "newest full, hourly 2025-04-01T00, daily 2025-04-01" ]
	[ "$(keep_of "${ids[1]}")" = "daily 2025-03-31" ]
	# the first full backup of the evening goes, and the raffle backup taken after it
	[ "$(deleted_ids)" = "$(printf '%s\n' "${ids[0]}" "$raffle" | LC_ALL=C sort)" ]
	run --separate-stderr bk-verify "${ids[1]}" "${ids[2]}"
	[ "$status" -eq 0 ]
	(cd "$BACKUP_DIR" && sha256sum -c --quiet ./*.sha256)
	[ "$(ls "$BACKUP_DIR"/*.json | wc -l)" -eq 2 ]
}
