#!/usr/bin/env bats
# bk-verify: checksum, JSON, structure, row counts (bk-verify(1)).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 500
	bk_redis SET 'conversation:1:2' '{"step":"x"}' EX 600 >/dev/null
	bk-dump >"$BK_TMP/full.line"
	bk-raffle cawkward00000000000000000a >"$BK_TMP/raffle.line"
}

teardown_file() {
	bk_stop_servers
}

full() { ls "$BACKUP_DIR"/full_*.json | head -n 1; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }

# damaged COPY of the full backup with the python expression applied to its text
damaged() {
	python3 - "$(full)" "$BK_TMP/$1.json" "$2" <<-'PY'
	import sys
	src, dst, expr = sys.argv[1:]
	t = open(src, encoding="utf-8").read()
	open(dst, "w", encoding="utf-8").write(eval(expr))
	PY
	echo "$BK_TMP/$1.json"
}

@test "a full and a raffle backup are whole: one JSON line each, checksum ok" {
	id=$(field "$(cat "$BK_TMP/full.line")" id)
	rid=$(field "$(cat "$BK_TMP/raffle.line")" id)
	run --separate-stderr bk-verify "$id" "$rid"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	python3 - "${lines[0]}" "${lines[1]}" <<-'PY'
	import json, sys
	a, b = (json.loads(x) for x in sys.argv[1:])
	assert a["ok"] and a["type"] == "full" and a["checksum"] == "ok", a
	assert a["rows"]["tickets"] == 500 and a["redisKeys"] == 1, a
	assert b["ok"] and b["type"] == "raffle" and b["rows"]["raffle"] == 1, b
	PY
}

@test "aliases, a path, and stdin (no checksum there)" {
	run --separate-stderr bk-verify latest raffle_latest "$(full)"
	[ "$status" -eq 0 ]
	run --separate-stderr bk-verify - <"$(full)"
	[ "$status" -eq 0 ]
	[ "$(field "$output" checksum)" = absent ]
}

@test "the original TypeScript service's backups verify" {
	run --separate-stderr bk-verify "$BK_FIXTURES/ts_full_backup.json" "$BK_FIXTURES/ts_raffle_backup.json"
	[ "$status" -eq 0 ]
}

@test "a truncated backup: 65, and where it ends" {
	f=$(full)
	head -c $(($(stat -c %s "$f") / 2)) "$f" >"$BK_TMP/cut.json"
	run --separate-stderr bk-verify "$BK_TMP/cut.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *"byte "* ]]
	[ "$(field "$output" ok)" = False ]
}

@test "a flipped byte: checksum mismatch, 65" {
	f=$(full)
	cp "$f" "$BK_TMP/flip.json"
	cp "$f.sha256" "$BK_TMP/flip.json.sha256"
	# inside a wallet address: the JSON stays valid, only the checksum can tell
	off=$(grep -bo '"walletAddress":"' "$f" | sed -n 5p | cut -d: -f1)
	printf 'Q' | dd of="$BK_TMP/flip.json" bs=1 seek=$((off + 20)) conv=notrunc 2>/dev/null
	cmp -s "$f" "$BK_TMP/flip.json" && false
	run --separate-stderr bk-verify "$BK_TMP/flip.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *"checksum mismatch"* ]]
	# without the .sha256 the same file passes: it is valid JSON with the right counts
	rm "$BK_TMP/flip.json.sha256"
	run --separate-stderr bk-verify "$BK_TMP/flip.json"
	[ "$status" -eq 0 ]
}

@test "row counts that do not match the metadata: 65, naming the table" {
	f=$(damaged count 't.replace("\"tickets\":500", "\"tickets\":499", 1)')
	run --separate-stderr bk-verify "$f"
	[ "$status" -eq 65 ]
	[[ $stderr == *"data.tickets holds 500 rows, metadata.rowCounts says 499"* ]]
}

@test "wrong structure: each refused with what and where" {
	check() {	# check EXPR MESSAGE
		f=$(damaged s "$1")
		run --separate-stderr bk-verify "$f"
		[ "$status" -eq 65 ] || { echo "status $status for $1"; return 1; }
		[[ $stderr == *"$2"* ]] || { echo "stderr: $stderr (wanted $2)"; return 1; }
	}
	check 't.replace("\"admins\":[", "\"admins\":{\"x\":", 1).replace("]", "}", 0)' 'data.admins: expected an array of rows'
	check 't.replace("\n{\"id\":\"cadmn", "\n7,{\"id\":\"cadmn", 1)' 'data.admins row 1: expected an object'
	check 't.replace("\"type\":\"full\"", "\"type\":\"weekly\"", 1)' 'metadata.type'
	check 't.replace("\"id\":\"full_", "\"idx\":\"full_", 1)' 'metadata.id'
	check 't.replace("\"data\":{", "\"dat\":{", 1)' 'no data object'
	check 't.replace("{\"metadata\":", "{\"meta\":", 1)' 'no metadata'
	check 't + "x"' 'after the end'
	check 't.replace("\"permissions\":\"", "\"permissions\":\"\\q", 1)' 'invalid escape'
	check 't.replace("\"ticketCount\":", "\"ticketCount\":01", 1)' 'invalid number'
	check '"[]"' 'expected a JSON object'
}

# with_schema NAME PYTHON: the full backup with a schema member (format 1.1)
# before its data, the statements applied to d
with_schema() {
	python3 - "$(full)" "$BK_TMP/$1.json" "$2" <<-'PY'
	import json, sys
	src, dst, code = sys.argv[1:]
	d = json.load(open(src, encoding="utf-8"))
	schema = {"tables": {"WalletUser": {"columns": [
	    {"name": "walletAddress", "type": "text", "nullable": False},
	    {"name": "telegramUserId", "type": "bigint", "nullable": False},
	    {"name": "verified", "type": "boolean", "nullable": False},
	    {"name": "linkedAt", "type": "timestamp(3) without time zone", "nullable": False}]}}}
	d = {"metadata": d["metadata"], "schema": schema, "data": d["data"], "redis": d.get("redis", {})}
	exec(code, {"d": d})
	open(dst, "w", encoding="utf-8").write(json.dumps(d))
	PY
	echo "$BK_TMP/$1.json"
}

@test "verify ok means restorable: values checked against the backup's column types (65 naming table.column)" {
	run --separate-stderr bk-verify "$(with_schema typed 'pass')"
	[ "$status" -eq 0 ]
	for value in '"abc"' '{"x": 1}' "1$(printf '0%.0s' {1..400})" '9223372036854775808' '1.5' 'True' 'None'; do
		f=$(with_schema bad "d['data']['walletUsers'][0]['telegramUserId'] = $value")
		run --separate-stderr bk-verify "$f"
		echo "$value: $stderr"
		[ "$status" -eq 65 ]
		[[ $stderr == *walletUsers.telegramUserId* ]]
		# restore checks the same way against the live schema: refused before anything changes
		[ "$value" = None ] && continue
		f=$(with_schema bad "d['data']['walletUsers'][0]['telegramUserId'] = $value; del d['schema']")
		run --separate-stderr bk-restore --dry-run "$f"
		[ "$status" -eq 65 ]
		[[ $stderr == *WalletUser.telegramUserId* ]]
	done
	f=$(with_schema baddate "d['data']['walletUsers'][0]['linkedAt'] = '2024-02-30T10:00:00+01:00'")
	run --separate-stderr bk-verify "$f"
	[ "$status" -eq 65 ]
	[[ $stderr == *walletUsers.linkedAt*2024-02-30* ]]
}

@test "a member given twice is refused by every reader: bk-list, bk-verify, bk-restore" {
	f=$(damaged twometa 't.replace("{\"metadata\":", "{\"metadata\":{\"id\":\"x\",\"type\":\"raffle\",\"timestamp\":\"2020-01-01T00:00:00Z\"},\"metadata\":", 1)')
	grep -c '"metadata"' "$f"
	mkdir -p "$BK_TMP/twodir"
	cp "$f" "$BK_TMP/twodir/$(basename "$(full)")"
	run --separate-stderr env BACKUP_DIR="$BK_TMP/twodir" bk-list --json
	[[ $output == *'"error":'*'two metadata objects'* ]]
	run --separate-stderr bk-verify "$f"
	[ "$status" -eq 65 ]
	[[ $stderr == *"two metadata"* ]]
	run --separate-stderr bk-restore --dry-run "$f"
	[ "$status" -eq 65 ]
	for expr in 't.replace("\"permissions\":", "\"permissions\":null,\"permissions\":", 1)' \
		't.replace("\"data\":{", "\"data\":{\"admins\":[],", 1)' \
		't.replace("\"metadata\":{", "\"metadata\":{\"type\":\"raffle\",", 1)'; do
		f=$(damaged twice "$expr")
		run --separate-stderr bk-verify "$f"
		echo "$stderr"
		[ "$status" -eq 65 ]
		[[ $stderr == *twice* ]]
	done
}

@test "missing backup 66, malformed id 64 before anything is read" {
	run --separate-stderr bk-verify full_1234
	[ "$status" -eq 66 ]
	run --separate-stderr bk-verify 'full_..'
	[ "$status" -eq 64 ]
	run --separate-stderr bk-verify "$(full)" 'bad id'
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	run --separate-stderr bk-verify ../nonexistent.json
	[ "$status" -eq 66 ]
}

@test "several backups: each gets its line, the first failure decides the status" {
	head -c 100 "$(full)" >"$BK_TMP/short.json"
	run --separate-stderr bk-verify "$BK_TMP/short.json" latest
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(field "${lines[1]}" ok)" = True ]
}

@test "bounded memory: a 100 MB backup with a 16 MB string verifies in little RSS" {
	python3 - "$BK_TMP/big.json" <<-'PY'
	import sys
	n = 600000
	with open(sys.argv[1], "w") as f:
	    f.write('{"metadata":{"id":"full_1","type":"full","timestamp":"2024-01-01T00:00:00.000Z",'
	            '"rowCounts":{"tickets":%d,"admins":1}},"data":{"tickets":[' % n)
	    row = '{"id":"c%%024d","raffleId":"r","walletAddress":"%s","ticketCount":%%d,"big":9007199254740993}' % ("W" * 120)
	    f.write(",\n".join(row % (i, i) for i in range(n)))
	    f.write('],"admins":[{"note":"' + "x" * (16 << 20) + '"}]}}')
	PY
	/usr/bin/time -f '%M' -o "$BK_TMP/rss" bk-verify -q "$BK_TMP/big.json"
	rss=$(cat "$BK_TMP/rss")
	echo "peak RSS $rss KB"
	limit=65536
	[[ $BK_BIN_DIR == *asan* ]] && limit=$((4 * limit))	# shadow memory and quarantine
	[ "$rss" -lt "$limit" ]
}

@test "--help matches the man page's synopsis; --version" {
	run bk-verify --help
	[ "$status" -eq 0 ]
	[[ $output == *"usage: bk-verify"* ]]
	run bk-verify --version
	[[ $output == "bk-verify "* ]]
	run bk-verify
	[ "$status" -eq 64 ]
}
