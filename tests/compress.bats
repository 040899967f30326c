#!/usr/bin/env bats
# Compressed backups (bk-backup(5)): bk-dump and bk-raffle write <id>.json.zst
# with BK_COMPRESS=zstd or --compress; every reader takes plain, zstd and a
# hand-made gzip by their bytes, files and stdin alike; damage is refused.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 3000
	bk_redis SET 'conversation:1:2' '{"step":"x"}' EX 3000 >/dev/null
	export BK_ACTIVITY_DAYS=1000000	# every row in every backup: the oracle is the whole database
	bk_pgdump_data >"$BK_TMP/src.data"
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
}

json() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v := v[k] for k in sys.argv[2:]]; print(v)' "$@"; }

# restore_into NAME ARGS...: bk-restore ARGS into a fresh schema NAME; the
# rows must be exactly the source's (pg_dump oracle).
restore_into() {
	local name=$1 url
	shift
	bk_dropdb "$name"
	url=$(bk_createdb "$name" --schema)
	DATABASE_URL=$url run --separate-stderr bk-restore --yes --no-safety-backup --skip-redis "$@"
	[ "$status" -eq 0 ] || { echo "$stderr" >&2; return 1; }
	bk_pgdump_data "$url" >"$BK_TMP/$name.data"
	diff "$BK_TMP/src.data" "$BK_TMP/$name.data"
}

@test "bk-dump --compress writes <id>.json.zst: 0600, sha256sum -c, zstdcat | jq, smaller" {
	run --separate-stderr bk-dump --compress
	[ "$status" -eq 0 ]
	path=$(json "$output" path)
	id=$(json "$output" id)
	[[ $path == */$id.json.zst ]]
	[ "$(json "$output" size)" -eq "$(stat -c %s "$path")" ]
	[ "$(stat -c %a "$path")" = 600 ]
	[ "$(head -c 4 "$path" | od -An -tx1 | tr -d ' ')" = 28b52ffd ]
	(cd "$BACKUP_DIR" && sha256sum -c --quiet "$id.json.zst.sha256")
	[ "$(zstdcat "$path" | jq -r .metadata.id)" = "$id" ]
	[ "$(zstdcat "$path" | jq '.data.tickets | length')" -eq 3000 ]
	plain=$(bk-dump --compress=none | jq -r .path)
	[[ $plain == *.json ]]
	(($(stat -c %s "$path") * 3 < $(stat -c %s "$plain")))
}

@test "BK_COMPRESS=zstd and BK_COMPRESS_LEVEL choose; bad values are refused with 64" {
	run --separate-stderr env BK_COMPRESS=zstd BK_COMPRESS_LEVEL=19 bk-dump
	[ "$status" -eq 0 ]
	[[ $(json "$output" path) == *.json.zst ]]
	run --separate-stderr env BK_COMPRESS=zstd bk-dump --compress=none
	[ "$status" -eq 0 ]
	[[ $(json "$output" path) == *.json ]]
	run --separate-stderr env BK_COMPRESS=lz4 bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr == *"lz4"*"zstd or none"* ]]
	run --separate-stderr env BK_COMPRESS_LEVEL=20 bk-dump --compress
	[ "$status" -eq 64 ]
	run --separate-stderr bk-dump --compress=gzip
	[ "$status" -eq 64 ]
	[ "$(find "$BACKUP_DIR" -name '*.json*' | wc -l)" -eq 4 ]	# two backups, two checksums
}

@test "bk-dump --compress -o - streams zstd; bk-restore - reads it from stdin" {
	bk-dump --compress -o - >"$BK_TMP/stream.zst"
	[ "$(head -c 4 "$BK_TMP/stream.zst" | od -An -tx1 | tr -d ' ')" = 28b52ffd ]
	restore_into rt_stdin - <"$BK_TMP/stream.zst"
}

@test "round trips: plain, zstd, hand-made gzip (by id and by path), stdin of each" {
	plain=$(bk-dump | jq -r .path)
	zst=$(bk-dump --compress | jq -r .path)
	gzip -c "$plain" >"$BACKUP_DIR/manual_gz.json.gz"
	restore_into rt_plain "$plain"
	restore_into rt_zst "$zst"
	restore_into rt_zst_id "$(basename "$zst" .json.zst)"
	restore_into rt_gz manual_gz
	restore_into rt_gz_path "$BACKUP_DIR/manual_gz.json.gz"
	restore_into rt_gz_stdin - <"$BACKUP_DIR/manual_gz.json.gz"
	restore_into rt_plain_stdin - <"$plain"
	# a zstd copy under a plain name is still read by its bytes
	zstd -q -c "$plain" >"$BK_TMP/misnamed.json"
	restore_into rt_misnamed "$BK_TMP/misnamed.json"
}

@test "bk-list, bk-verify, aliases and bk-clean take compressed backups" {
	old=$(bk-dump --compress | jq -r .id)
	gz=$(bk-dump | jq -r .path)
	gzip "$gz"	# <id>.json.gz, its .json.sha256 now an orphan
	new=$(bk-dump --compress | jq -r .id)
	run --separate-stderr bk-list --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 3 ]
	[ "$(echo "$output" | jq -r '.[0].id')" = "$new" ]
	[ "$(echo "$output" | jq -r '[.[] | .status] | unique | join(",")')" = ok ]
	run --separate-stderr bk-verify "$new" "$old" "$(basename "$gz" .json)" latest
	[ "$status" -eq 0 ]
	run --separate-stderr bk-verify latest
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .checksum)" = ok ]
	# the plain backup's checksum lost its file to gzip: an orphan; the .zst ones keep theirs
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .orphanChecksumsRemoved)" -eq 1 ]
	[ "$(echo "$output" | jq '.deleted | length')" -eq 0 ]
	[ ! -e "$gz.sha256" ]
	[ -f "$BACKUP_DIR/$old.json.zst.sha256" ] && [ -f "$BACKUP_DIR/$new.json.zst.sha256" ]
	# an old compressed backup goes, with its checksum
	zstdcat "$BACKUP_DIR/$new.json.zst" | jq -c '.metadata.timestamp = "2020-01-01T00:00:00.000Z"' |
		zstd -q -o "$BACKUP_DIR/manual_old.json.zst"
	(cd "$BACKUP_DIR" && sha256sum manual_old.json.zst >manual_old.json.zst.sha256)
	# the age rule alone: the calendar would keep it as the newest of its month
	BK_KEEP_HOURLY=0 BK_KEEP_DAILY=0 BK_KEEP_WEEKLY=0 BK_KEEP_MONTHLY=0 run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.deleted[].id] | join(",")')" = manual_old ]
	[ ! -e "$BACKUP_DIR/manual_old.json.zst" ] && [ ! -e "$BACKUP_DIR/manual_old.json.zst.sha256" ]
}

@test "a truncated or corrupted .json.zst is refused with 65 and nothing changes" {
	zst=$(bk-dump --compress | jq -r .path)
	id=$(basename "$zst" .json.zst)
	size=$(stat -c %s "$zst")
	url=$(bk_createdb damaged --schema)
	before=$(bk_pgdump_data "$url")
	# truncated, its checksum fixed to match: only the decompressor can tell
	head -c $((size / 2)) "$zst" >"$BK_TMP/cut.json.zst"
	run --separate-stderr bk-verify "$BK_TMP/cut.json.zst"
	[ "$status" -eq 65 ]
	[[ $stderr == *"truncated"* || $output == *"truncated"* ]]
	DATABASE_URL=$url run --separate-stderr bk-restore --yes --no-safety-backup - <"$BK_TMP/cut.json.zst"
	[ "$status" -eq 65 ]
	[ "$before" = "$(bk_pgdump_data "$url")" ]
	# one byte changed in the middle, no checksum file: zstd's own checksum or decoder
	cp "$zst" "$BK_TMP/bad.json.zst"
	printf '\xff' | dd of="$BK_TMP/bad.json.zst" bs=1 seek=$((size / 2)) conv=notrunc status=none
	run --separate-stderr bk-verify "$BK_TMP/bad.json.zst"
	[ "$status" -eq 65 ]
	DATABASE_URL=$url run --separate-stderr bk-restore --yes --no-safety-backup "$BK_TMP/bad.json.zst"
	[ "$status" -eq 65 ]
	[ "$before" = "$(bk_pgdump_data "$url")" ]
	# in the directory, with its .sha256: the mismatch is named
	cp "$BK_TMP/bad.json.zst" "$zst"
	run --separate-stderr bk-verify "$id"
	[ "$status" -eq 65 ]
	[[ "$stderr$output" == *"checksum mismatch"* ]]
	# a truncated gzip too
	zstdcat "$BK_TMP/bad.json.zst" 2>/dev/null | head -c 1000 | gzip -c | head -c 300 >"$BK_TMP/cut.json.gz" || true
	run --separate-stderr bk-verify "$BK_TMP/cut.json.gz"
	[ "$status" -eq 65 ]
}

@test "bk-raffle --compress and the restore's safety backup follow the setting" {
	raffle=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	run --separate-stderr bk-raffle --compress "$raffle"
	[ "$status" -eq 0 ]
	path=$(json "$output" path)
	[[ $path == */raffle_"$raffle"_*.json.zst ]]
	[ "$(zstdcat "$path" | jq -r .metadata.raffleId)" = "$raffle" ]
	run --separate-stderr bk-verify "raffle_${raffle}_latest"
	[ "$status" -eq 0 ]
	zst=$(bk-dump --compress | jq -r .path)
	url=$(bk_createdb safety --schema)
	DATABASE_URL=$url BK_COMPRESS=zstd run --separate-stderr bk-restore --yes --skip-redis "$zst"
	[ "$status" -eq 0 ]
	safety=$(json "$output" safetyBackup)
	[ -f "$BACKUP_DIR/$safety.json.zst" ]
	bk-verify -q "$safety"
}

# bats test_tags=race
@test "a compressed bk-dump killed with SIGKILL leaves no visible partial .json.zst" {
	local i landed=0
	for ((i = 0; i < 10; i++)); do
		bk-dump --compress >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$i"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		for f in "$BACKUP_DIR"/*.json.zst; do
			[[ -e $f ]] || continue
			bk-verify -q "$f"
			landed=$((landed + 1))
			rm -f "$f" "$f.sha256"
		done
		[ "$(bk-list --json | jq length)" -eq 0 ]
	done
	echo "# $landed of 10 finished before the kill" >&3
	# the killed runs' temporary files, once stale, go with bk-clean
	find "$BACKUP_DIR" -name '.*.json.zst.tmp-*' -exec touch -d '2 hours ago' {} +
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	! compgen -G "$BACKUP_DIR/.*.tmp-*"
}

@test "progress: drawn on a terminal (script -qc), silent in a pipe, --progress forces it, -q silences it" {
	# a pseudo-terminal: stderr is a tty, the line is redrawn with \r, then a summary
	script -qec "bk-dump --compress" /dev/null >"$BK_TMP/pty.out"
	grep -q $'\r''bk-dump: Ticket' "$BK_TMP/pty.out"
	grep -Eq 'bk-dump: [0-9]+ rows, [0-9.]+ MB in [0-9.]+ s' "$BK_TMP/pty.out"
	# the JSON line is still on stdout
	grep -q '"path":' "$BK_TMP/pty.out"
	zst=$(ls "$BACKUP_DIR"/*.json.zst)
	script -qec "bk-verify $zst" /dev/null >"$BK_TMP/pty-verify.out"
	grep -q 'bk-verify: tickets .*/3000 rows' "$BK_TMP/pty-verify.out"
	grep -Eq 'bk-verify: [0-9]+ rows' "$BK_TMP/pty-verify.out"
	url=$(bk_createdb progress --schema)
	DATABASE_URL=$url script -qec "bk-restore --yes --no-safety-backup --skip-redis $zst" /dev/null >"$BK_TMP/pty-restore.out"
	grep -q 'bk-restore: tickets .*/3000 rows' "$BK_TMP/pty-restore.out"
	raffle=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	script -qec "bk-raffle $raffle" /dev/null >"$BK_TMP/pty-raffle.out"
	grep -Eq 'bk-raffle: [0-9]+ rows' "$BK_TMP/pty-raffle.out"
	# -q on a terminal: nothing but the result
	script -qec "bk-dump -q" /dev/null >"$BK_TMP/pty-q.out"
	! grep -q 'rows' "$BK_TMP/pty-q.out"
	script -qec "bk-verify -q $zst" /dev/null >"$BK_TMP/pty-vq.out"
	[ ! -s "$BK_TMP/pty-vq.out" ]
	# a pipe: nothing on stderr
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr bk-verify "$zst"
	[ -z "$stderr" ]
	# --progress in a pipe: the line and the summary
	run --separate-stderr bk-dump --progress
	[ "$status" -eq 0 ]
	[[ $stderr == *"bk-dump: Ticket"* ]]
	[[ $stderr == *"rows, "*" MB in "* ]]
}
