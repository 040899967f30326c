#!/usr/bin/env bats
# bk-clean: retention (bk-clean(1), bk(7)). Backups are crafted files with chosen
# metadata timestamps; one test uses real ones made by bk-dump and bk-raffle.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	bk_start_servers
	bk_load_schema
	bk_load_data 100
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
	unset BACKUP_RETENTION_DAYS
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
	[ "$(deleted_ids)" = "$(printf '%s\n' full_50 full_60 raffle_r1_35)" ]
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
