#!/usr/bin/env bats
# bk-list: what is in the backup directory, newest first by metadata timestamp.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_start_servers
	bk_load_schema
	bk_load_data 200
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -p "$BACKUP_DIR"
}

# fake_backup ID TIMESTAMP [TYPE [RAFFLE]]: a small well-formed backup file.
fake_backup() {
	local f=$BACKUP_DIR/$1.json
	printf '{"metadata":{"id":"%s","timestamp":"%s","type":"%s","version":"1.0"%s},\n"data":{}}\n' \
		"$1" "$2" "${3:-full}" "${4:+,\"raffleId\":\"$4\"}" >"$f"
	(cd "$BACKUP_DIR" && sha256sum "$1.json" >"$1.json.sha256")
}

ids() {
	python3 -c 'import json,sys; print(" ".join(e["id"] for e in json.load(sys.stdin)))'
}

@test "an empty directory lists as []" {
	run --separate-stderr bk-list
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
}

@test "newest first by metadata timestamp, not by file time" {
	fake_backup full_1 2024-12-03T02:00:00.000Z
	fake_backup full_2 2024-12-01T02:00:00.000Z
	fake_backup raffle_r1_3 2024-12-02T02:00:00.000Z raffle r1
	touch -d '2020-01-01' "$BACKUP_DIR/full_1.json"
	touch -d '2030-01-01' "$BACKUP_DIR/full_2.json"
	[ "$(bk-list | ids)" = "full_1 raffle_r1_3 full_2" ]
	[ "$(bk-list --type raffle | ids)" = "raffle_r1_3" ]
	[ "$(bk-list --type full --limit 1 | ids)" = "full_1" ]
	bk-list | python3 -c '
import json, sys
e = json.load(sys.stdin)[1]
assert e["type"] == "raffle" and e["raffleId"] == "r1" and e["checksum"] is True, e
assert e["status"] == "ok" and e["timestamp"] == "2024-12-02T02:00:00.000Z", e
assert e["size"] > 0 and e["path"].endswith("/raffle_r1_3.json"), e'
}

@test "real backups from bk-dump are listed with their size and checksum" {
	bk-dump >/dev/null
	rm "$BACKUP_DIR"/*.sha256
	bk-dump >/dev/null
	bk-list | python3 -c '
import json, sys
l = json.load(sys.stdin)
assert len(l) == 2 and [e["checksum"] for e in l] == [True, False], l
assert all(e["status"] == "ok" and e["type"] == "full" for e in l), l'
}

@test "temporary files and files that are not backups are ignored" {
	fake_backup full_1 2024-12-03T02:00:00.000Z
	echo '{}' >"$BACKUP_DIR/.full_9.json.tmp-abcdef"
	echo notes >"$BACKUP_DIR/notes.txt"
	echo '{}' >"$BACKUP_DIR/bogus_1.json"
	echo '{}' >"$BACKUP_DIR/full_x.json.bak"
	[ "$(bk-list | ids)" = "full_1" ]
}

@test "a corrupt or truncated file is listed as such, not fatal" {
	fake_backup full_1 2024-12-03T02:00:00.000Z
	bk-dump >/dev/null
	id=$(bk-list --type full --limit 1 | ids)
	head -c 3000 "$BACKUP_DIR/$id.json" >"$BACKUP_DIR/full_cut.json"
	echo 'garbage' >"$BACKUP_DIR/full_garbage.json"
	run --separate-stderr bk-list
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c '
import json, sys
l = {e["id"]: e for e in json.load(sys.stdin)}
assert l["full_cut"]["status"] == "corrupt" and "truncated" in l["full_cut"]["error"], l["full_cut"]
assert l["full_garbage"]["status"] == "corrupt", l["full_garbage"]
assert l["full_1"]["status"] == "ok"'
}

@test "--table: an aligned table with a header, also when forced off a terminal" {
	fake_backup full_1 2024-12-03T02:00:00.000Z
	run --separate-stderr bk-list --table
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == ID*TYPE*TIMESTAMP*SIZE* ]]
	[[ ${lines[1]} == full_1*full*2024-12-03T02:00:00.000Z* ]]
}

@test "a table on a terminal, JSON off it" {
	command -v script >/dev/null || skip "script(1) missing"
	fake_backup full_1 2024-12-03T02:00:00.000Z
	run script -qc "$BK_BIN_DIR/bk-list" /dev/null
	[[ $output == ID*TYPE* ]]
	run script -qc "$BK_BIN_DIR/bk-list --json" /dev/null
	[[ $output == \[* ]]
}

@test "bad usage: exit 64" {
	run --separate-stderr bk-list --type weekly
	[ "$status" -eq 64 ]
	run --separate-stderr bk-list --limit x
	[ "$status" -eq 64 ]
}

@test "aliases: latest, full_latest, raffle_latest, raffle_<id>_latest name the newest whole match" {
	raffles=$(bk_psql -c 'SELECT id FROM "Raffle" WHERE id NOT LIKE '"'cawk%'"' ORDER BY id LIMIT 2')
	r1=$(echo "$raffles" | sed -n 1p) r2=$(echo "$raffles" | sed -n 2p)
	id_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])'; }
	full1=$(bk-dump | id_of)
	raffle1=$(bk-raffle "$r1" | id_of)
	full2=$(bk-dump | id_of)
	raffle2=$(bk-raffle "$r2" | id_of)
	verified() { bk-verify "$1" | id_of; }
	[ "$(verified latest)" = "$full2" ]
	[ "$(verified full_latest)" = "$full2" ]
	[ "$(verified raffle_latest)" = "$raffle2" ]
	[ "$(verified "raffle_${r1}_latest")" = "$raffle1" ]
	# a newest file that is cut short is skipped
	head -c 100 "$BACKUP_DIR/$full2.json" >"$BACKUP_DIR/full_9999999999999.json"
	[ "$(verified latest)" = "$full2" ]
	[ "$full1" != "$full2" ]
	run --separate-stderr bk-verify raffle_nosuch_latest
	[ "$status" -eq 66 ]
}

@test "a FIFO, a symlink or a directory named like a backup is skipped with a warning, never read" {
	fake_backup full_1701396000000 2023-12-01T02:00:00.000Z
	mkfifo "$BACKUP_DIR/full_1701500000000.json"
	echo secret >"$BK_TMP/elsewhere"
	ln -s "$BK_TMP/elsewhere" "$BACKUP_DIR/full_1701600000000.json"
	mkdir "$BACKUP_DIR/full_1701700000000.json"
	run --separate-stderr timeout 10 bk-list
	[ "$status" -eq 0 ]
	[ "$(ids <<<"$output")" = full_1701396000000 ]
	[[ $stderr == *"full_1701500000000.json: a FIFO, not a regular file: skipped"* ]]
	[[ $stderr == *"full_1701600000000.json: a symbolic link, not a regular file: skipped"* ]]
	[[ $stderr == *"full_1701700000000.json: a directory, not a regular file: skipped"* ]]
	# nor named by an id
	run --separate-stderr timeout 10 bk-verify full_1701600000000
	[ "$status" -eq 66 ]
	[[ $stderr == *"not a regular file"* ]]
}
