#!/usr/bin/env bats
# bk-list: what is in the backup directory, newest first by metadata timestamp.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 200
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

@test "a missing BACKUP_DIR: 66, naming the absolute place, nothing created" {
	rmdir "$BACKUP_DIR"
	run --separate-stderr bash -c 'cd "$BK_TMP" && BACKUP_DIR= bk-list'
	[ "$status" -eq 66 ]
	[ "$stderr" = "bk-list: no backups in $BK_TMP/backups (BACKUP_DIR); run from the bot's directory or set BACKUP_DIR" ]
	[ ! -e "$BK_TMP/backups" ]
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
	[[ ${lines[0]} == "ID      KIND    AGE          TIME (UTC)             ROWS  RAFFLE        SIZE  COMPRESSED  SUM  STATUS" ]]
	[[ ${lines[1]} == "full_1  full    "*" d ago"*"2024-12-03 02:00          ?  -      "*" B  no          yes  ok" ]]
}

@test "--table: age, total rows, raffle id, binary size units, compression; the JSON keeps bytes" {
	local now_s
	now_s=$(date -u +%s)
	fake_backup full_1 "$(date -u -d "@$((now_s - 3 * 3600 - 60))" +%Y-%m-%dT%H:%M:%S.000Z)"
	fake_backup raffle_r1_2 "$(date -u -d "@$((now_s - 5 * 86400))" +%Y-%m-%dT%H:%M:%S.000Z)" raffle r1
	# rowCounts in the metadata, and 3 MiB of padding (whitespace is valid JSON)
	python3 - "$BACKUP_DIR/full_1.json" <<'PY'
import json, sys
p = sys.argv[1]
doc = json.load(open(p))
doc["metadata"]["rowCounts"] = {"tickets": 10000, "raffles": 234}
open(p, "w").write(json.dumps(doc)[:-1] + " " * (3 << 20) + "}")
PY
	zstd -q --rm "$BACKUP_DIR/raffle_r1_2.json"
	run --separate-stderr bk-list --table
	[ "$status" -eq 0 ]
	echo "$output" >&2
	[[ ${lines[1]} == full_1*full*"3 h ago"*"10234"*" -  "*"3.0 MiB"*"no "* ]]
	[[ ${lines[2]} == raffle_r1_2*raffle*"5 d ago"*"?"*"r1"*" B"*"zstd"* ]]
	bk-list --json | jq -e '.[0].size > 3145728 and .[0].size < 3200000
		and .[0].rows == 10234 and .[1].rows == null and .[1].compression == "zstd"'
}

@test "a table on a terminal, JSON off it" {
	command -v script >/dev/null || skip "script(1) missing"
	fake_backup full_1 2024-12-03T02:00:00.000Z
	run script -qc "$BK_BIN_DIR/bk-list" /dev/null
	[[ $output == ID*KIND*AGE* ]]
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
