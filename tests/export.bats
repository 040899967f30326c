#!/usr/bin/env bats
# bk-export --csv: a backup's tables as CSV files, read from the backup file
# alone. The oracle is PostgreSQL itself: every CSV loaded back with COPY
# FROM ... CSV HEADER into a scratch copy of its table must hold exactly the
# table's rows; python3's csv module reads them too.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 500
	export BK_ACTIVITY_DAYS=1000000 # every row in the backup: the oracle is the whole table
	# hostile values in every type the CSV must carry
	bk_psql >/dev/null <<-'SQL'
		CREATE TABLE "Odd Thing" (
		    id text PRIMARY KEY, t text, n bigint, num numeric, b boolean,
		    arr text[], iarr int[], j jsonb, js json, tz timestamptz, ts timestamp(3));
		INSERT INTO "Odd Thing" VALUES
		 ('quotes', 'say "hi", then ""bye""', 9223372036854775807, 12345678901234567890.123456789, true,
		  ARRAY['a,b', 'c"d', NULL, E'e\nf', ''], ARRAY[1, NULL, -3], '{"k": "v,\"w\"", "n": [1, 2.50]}',
		  '{"keep":  "spacing" }', '2024-02-29 23:59:59.999+05:30', '2024-01-01 00:00:00.001'),
		 ('newlines', E'line1\nline2\r\nline3\rend', -9223372036854775808, -0.000001, false,
		  '{}', '{}', '[]', '[]', '1970-01-01 00:00:00+00', '1999-12-31 23:59:59'),
		 ('empty', '', 0, 0, NULL, ARRAY[''], NULL, '""', '"null"', NULL, NULL),
		 ('null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		 ('unicode', 'Zoë 🎉 日本語 ‮rtl', 9007199254740993, 1e-20, true,
		  ARRAY['ü', '🎉'], ARRAY[2147483647], '{"ü": "🎉"}', '"\u00e9"', now(), now()),
		 ('marker', E'\\.', 1, 1, true, ARRAY[E'\\.'], NULL, '{}', '{}', NULL, NULL),
		 ('spaces', '  padded  ', 2, 2, false, ARRAY[' x '], NULL, '{}', '{}', NULL, NULL),
		 ('comma,key', ',', 3, 3, true, NULL, NULL, '{}', '{}', NULL, NULL);
	SQL
	bk_redis SET 'conversation:1:2' $'line1\r\nsay "hi", ok' >/dev/null
	bk_redis SET 'conversation:3:4' '' >/dev/null
	bk_dump_json=$(bk-dump)
	export BACKUP_ID=${bk_dump_json#*\"id\":\"}
	BACKUP_ID=${BACKUP_ID%%\"*}
}

teardown_file() {
	bk_stop_servers
}

setup() {
	OUT=$BK_TMP/csv-$BATS_TEST_NUMBER
	rm -rf "$OUT"
}

# py_edit IN OUT EXPR: OUT is IN's JSON with EXPR applied to it (d); whole
# numbers kept exact (jq would round bigints through doubles), decimals as
# strings (as the original service wrote big numbers).
py_edit() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]), parse_float=str)
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))' "$@"
}

# csv_file SUMMARY KEY: the file the summary names for a table key.
csv_file() {
	jq -r --arg k "$2" '.files[] | select(.table == $k) | .file' <<<"$1"
}

# matches_db DIR SUMMARY BACKUP: every table of the backup, loaded from its
# CSV by COPY FROM CSV HEADER into a scratch copy of the table (array
# columns as jsonb, since they are exported as JSON), holds exactly the rows
# of the table (EXCEPT ALL both ways; json compared as jsonb, it has no =).
# The server reads the file: psql's \copy would stop at a line "\." even
# inside a quoted field (fixed in psql 18).
matches_db() {
	local dir=$1 summary=$2 backup=$3 key table file n=0
	bk_psql -c 'DROP SCHEMA IF EXISTS x CASCADE' -c 'CREATE SCHEMA x' >/dev/null 2>&1
	mkdir -p -m 0755 "$BK_TMP/oracle"
	while IFS=$'\t' read -r key table; do
		file=$dir/$(csv_file "$summary" "$key")
		[ -f "$file" ] || { echo "no CSV for $key" >&2; return 1; }
		cat >"$BK_TMP/oracle.sql" <<-'SQL'
			DROP TABLE IF EXISTS x.t;
			CREATE TABLE x.t (LIKE public.:"tbl");
			SELECT format('ALTER TABLE x.t ALTER COLUMN %I TYPE jsonb USING to_jsonb(%I)',
			              column_name, column_name)
			  FROM information_schema.columns
			 WHERE table_schema = 'public' AND table_name = :'tbl' AND data_type = 'ARRAY' \gexec
			COPY x.t FROM :'csv' WITH (FORMAT csv, HEADER true);
			SELECT format('SELECT count(*) FROM ((SELECT %1$s FROM public.%2$I EXCEPT ALL SELECT %3$s FROM x.t)
			                UNION ALL (SELECT %3$s FROM x.t EXCEPT ALL SELECT %1$s FROM public.%2$I)) d',
			    string_agg(CASE WHEN data_type = 'ARRAY' THEN format('to_jsonb(%I)', column_name)
			                    WHEN data_type = 'json' THEN format('%I::jsonb', column_name)
			                    ELSE format('%I', column_name) END, ',' ORDER BY ordinal_position),
			    :'tbl',
			    string_agg(CASE WHEN data_type = 'json' THEN format('%I::jsonb', column_name)
			                    ELSE format('%I', column_name) END, ',' ORDER BY ordinal_position))
			  FROM information_schema.columns
			 WHERE table_schema = 'public' AND table_name = :'tbl' \gexec
		SQL
		install -m 0644 "$file" "$BK_TMP/oracle/t.csv"
		diff=$(PGOPTIONS="-c client_min_messages=warning" bk_psql -v tbl="$table" -v csv="$BK_TMP/oracle/t.csv" \
			-f "$BK_TMP/oracle.sql" 2>&1) || true
		[ "$diff" = 0 ] || { echo "$table ($file): $diff" >&2; return 1; }
		n=$((n + 1))
	done < <(jq -r '.metadata.tables | to_entries[] | [.key, .value] | @tsv' "$backup")
	[ "$n" -ge 13 ]
}

@test "every table round-trips through PostgreSQL's COPY FROM CSV, hostile values included" {
	run --separate-stderr bk-export --csv "$OUT" "$BACKUP_ID"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ -z "$stderr" ]
	[ "$(jq -r .id <<<"$output")" = "$BACKUP_ID" ]
	[ "$(stat -c %a "$OUT")" = 700 ]
	for f in "$OUT"/*.csv; do [ "$(stat -c %a "$f")" = 600 ]; done
	[ -z "$(find "$OUT" -name '.*')" ]
	matches_db "$OUT" "$output" "$BACKUP_DIR/$BACKUP_ID.json"
	# rows per table in the summary are the database's
	[ "$(jq '.files[] | select(.table == "tickets") | .rows' <<<"$output")" -eq "$(bk_count Ticket)" ]
}

@test "the CSV is RFC 4180: CRLF rows, null empty, an empty string \"\", bigints and JSON exact" {
	run --separate-stderr bk-export --csv "$OUT" "$BACKUP_ID"
	[ "$status" -eq 0 ]
	f=$OUT/$(csv_file "$output" "$(jq -r '.metadata.tables | to_entries[] | select(.value == "Odd Thing") | .key' \
		"$BACKUP_DIR/$BACKUP_ID.json")")
	[ "$(head -n 1 "$f")" = $'id,t,n,num,b,arr,iarr,j,js,tz,ts\r' ]
	grep -q '^"null",,,,,,,,,,'$'\r''$' "$f"
	grep -q '^"empty","",0,0,,"\[""""\]",,"""""","""null""",,'$'\r''$' "$f"
	grep -q ',9223372036854775807,12345678901234567890.123456789,true,' "$f"
	grep -q ',-9223372036854775808,' "$f"
	# python's csv reader sees the same rows and values
	python3 - "$f" <<-'PY'
		import csv, json, sys
		with open(sys.argv[1], newline="", encoding="utf-8") as fh:
		    rows = {r["id"]: r for r in csv.DictReader(fh)}
		assert len(rows) == 8, rows.keys()
		assert rows["quotes"]["t"] == 'say "hi", then ""bye""'
		assert json.loads(rows["quotes"]["arr"]) == ["a,b", 'c"d', None, "e\nf", ""]
		assert json.loads(rows["quotes"]["iarr"]) == [1, None, -3]
		assert json.loads(rows["quotes"]["j"]) == {"k": 'v,"w"', "n": [1, 2.50]}
		assert rows["newlines"]["t"] == "line1\nline2\r\nline3\rend", repr(rows["newlines"]["t"])
		assert rows["unicode"]["t"] == "Zoë 🎉 日本語 \u202ertl"
		assert rows["unicode"]["n"] == "9007199254740993"
		assert rows["marker"]["t"] == "\\."
		assert rows["spaces"]["t"] == "  padded  "
		assert rows["comma,key"]["t"] == ","
		assert rows["empty"]["t"] == "" and rows["null"]["t"] == ""
	PY
}

@test "redis.csv holds the conversations (key, value), read back by python's csv" {
	run --separate-stderr bk-export --csv "$OUT" "$BACKUP_ID"
	[ "$status" -eq 0 ]
	[ "$(jq '.files[] | select(.redis) | .rows' <<<"$output")" -eq 2 ]
	python3 - "$OUT/redis.csv" <<-'PY'
		import csv, sys
		with open(sys.argv[1], newline="", encoding="utf-8") as fh:
		    rows = list(csv.reader(fh))
		assert rows[0] == ["key", "value"], rows[0]
		got = dict(rows[1:])
		assert got == {"conversation:1:2": 'line1\r\nsay "hi", ok', "conversation:3:4": ""}, got
	PY
}

@test "compressed backups (zstd, gzip) and stdin give the same files" {
	mkdir "$OUT"
	bk-export --csv "$OUT/plain" "$BACKUP_ID" >/dev/null
	zst=$(bk-dump --compress | jq -r .path)
	gzip -c "$BACKUP_DIR/$BACKUP_ID.json" >"$BK_TMP/copy.json.gz"
	run --separate-stderr bk-export --csv "$OUT/zst" "$zst"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	run --separate-stderr bk-export --csv "$OUT/gz" "$BK_TMP/copy.json.gz"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	run --separate-stderr bk-export --csv "$OUT/stdin" - <"$BK_TMP/copy.json.gz"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	diff -r "$OUT/plain" "$OUT/gz"
	diff -r "$OUT/plain" "$OUT/stdin"
	# the zstd backup is a later dump of the same rows
	diff -r "$OUT/plain" "$OUT/zst"
}

@test "a truncated or damaged backup: 65 and no CSV, no temporary file left" {
	head -c 20000 "$BACKUP_DIR/$BACKUP_ID.json" >"$BK_TMP/cut.json"
	run --separate-stderr bk-export --csv "$OUT" "$BK_TMP/cut.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *cut.json* ]]
	[ -z "$(ls -A "$OUT")" ]
	# whole JSON, but a row count the metadata contradicts: found only at the end
	py_edit "$BACKUP_DIR/$BACKUP_ID.json" "$BK_TMP/short.json" 'd["data"]["tickets"].pop()'
	run --separate-stderr bk-export --csv "$OUT" "$BK_TMP/short.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *tickets* ]]
	[ -z "$(ls -A "$OUT")" ]
	# a checksum that does not match
	cp "$BACKUP_DIR/$BACKUP_ID.json" "$BK_TMP/$BACKUP_ID.json"
	printf '%064d  x\n' 0 >"$BK_TMP/$BACKUP_ID.json.sha256"
	run --separate-stderr bk-export --csv "$OUT" "$BK_TMP/$BACKUP_ID.json"
	[ "$status" -eq 65 ]
	[[ $stderr == *checksum* ]]
	[ -z "$(ls -A "$OUT")" ]
	# truncated zstd
	zst=$(bk-dump --compress | jq -r .path)
	head -c 3000 "$zst" >"$BK_TMP/cut.json.zst"
	run --separate-stderr bk-export --csv "$OUT" - <"$BK_TMP/cut.json.zst"
	[ "$status" -eq 65 ]
	[ -z "$(ls -A "$OUT")" ]
}

@test "ids go through the one resolver: malformed 64, missing 66, aliases work; usage errors 64" {
	run --separate-stderr bk-export --csv "$OUT" 'full_bad id!'
	[ "$status" -eq 64 ]
	run --separate-stderr bk-export --csv "$OUT" ./no-such-backup.json
	[ "$status" -eq 66 ]
	run --separate-stderr bk-export --csv "$OUT" full_1
	[ "$status" -eq 66 ]
	[ ! -e "$OUT" ]
	run --separate-stderr bk-export --csv "$OUT" latest
	[ "$status" -eq 0 ]
	run --separate-stderr bk-export "$BACKUP_ID"
	[ "$status" -eq 64 ]
	[[ $stderr == *--csv* ]]
	run --separate-stderr bk-export --csv "$OUT"
	[ "$status" -eq 64 ]
	run --separate-stderr bk-export --csv "$OUT" a b
	[ "$status" -eq 64 ]
}

@test "existing files are refused (73, nothing changed) unless --force" {
	bk-export --csv "$OUT" "$BACKUP_ID" >/dev/null
	echo mine >"$OUT/tickets.csv"
	before=$(ls -l --time-style=full-iso "$OUT")
	run --separate-stderr bk-export --csv "$OUT" "$BACKUP_ID"
	[ "$status" -eq 73 ]
	[[ $stderr == *--force* ]]
	[ "$(cat "$OUT/tickets.csv")" = mine ]
	[ "$(ls -l --time-style=full-iso "$OUT")" = "$before" ]
	run --separate-stderr bk-export --csv "$OUT" --force "$BACKUP_ID"
	[ "$status" -eq 0 ]
	[ "$(head -c 2 "$OUT/tickets.csv")" = id ]
	[ -z "$(find "$OUT" -name '.*')" ]
	# DIR that is a file
	run --separate-stderr bk-export --csv "$OUT/tickets.csv" "$BACKUP_ID"
	[ "$status" -eq 73 ]
}

@test "a raffle backup: raffle.csv, its child tables, analytics.csv" {
	rid=$(bk_psql -c "SELECT id FROM \"Raffle\" WHERE id NOT LIKE 'cawkward%' ORDER BY id LIMIT 1")
	path=$(bk-raffle "$rid" | jq -r .path)
	run --separate-stderr bk-export --csv "$OUT" "$path"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r .type <<<"$output")" = raffle ]
	[ ! -e "$OUT/redis.csv" ]
	[ "$(sed -n 2p "$OUT/raffle.csv" | cut -d, -f1)" = "\"$rid\"" ]
	n=$(bk_psql -c "SELECT count(*) FROM \"Ticket\" WHERE \"raffleId\" = '$rid'")
	[ "$(jq '.files[] | select(.table == "tickets") | .rows' <<<"$output")" -eq "$n" ]
	python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' \
		"$OUT/tickets.csv" | grep -qx "$n"
}

@test "format 1.0 (no schema): columns from the first row; a missing member empty, an extra one left out and named" {
	mkdir "$OUT"
	run --separate-stderr bk-export --csv "$OUT/ts" "$BK_FIXTURES/ts_full_backup.json"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq '[.files[].rows] | add' <<<"$output")" -gt 20 ]
	cat >"$BK_TMP/ragged.json" <<-'JSON'
		{"metadata":{"id":"full_1","timestamp":"2024-01-01T00:00:00.000Z","type":"full","version":"1.0"},
		 "data":{"tickets":[{"id":"a","n":1},{"n":2,"id":"b"},{"id":"c"},{"id":"d","n":4,"extra":"x"}]}}
	JSON
	run --separate-stderr bk-export --csv "$OUT/r" "$BK_TMP/ragged.json"
	[ "$status" -eq 0 ]
	[[ $stderr == *'"extra"'*'left out'* ]]
	[ "$(jq -c '.files[0].leftOut' <<<"$output")" = '["extra"]' ]
	[ "$(tr -d '\r' <"$OUT/r/tickets.csv")" = $'id,n\n"a",1\n"b",2\n"c",\n"d",4' ]
	[ "$(cat "$OUT/r/redis.csv")" = $'key,value\r' ]
}

@test "memory stays bounded: ten times the rows, about the same peak" {
	command -v /usr/bin/time >/dev/null || skip "/usr/bin/time missing"
	mkdir "$OUT"
	py_edit "$BACKUP_DIR/$BACKUP_ID.json" "$BK_TMP/big.json" \
		't = d["data"]["tickets"] * 20; d["data"]["tickets"] = t; d["metadata"]["rowCounts"]["tickets"] = len(t)'
	/usr/bin/time -f %M -o "$BK_TMP/small.rss" bk-export --csv "$OUT/s" "$BACKUP_ID" >/dev/null
	/usr/bin/time -f %M -o "$BK_TMP/big.rss" bk-export --csv "$OUT/b" "$BK_TMP/big.json" >/dev/null
	[ "$(($(wc -l <"$OUT/b/tickets.csv") - 1))" -eq "$((20 * $(bk_count Ticket)))" ]
	echo "peak KiB: $(cat "$BK_TMP/small.rss") vs $(cat "$BK_TMP/big.rss")"
	(($(cat "$BK_TMP/big.rss") < $(cat "$BK_TMP/small.rss") + 2048))
}

@test "SIGTERM while the files are being written: exit 143, no temporary file left" {
	mkdir "$OUT"
	mkfifo "$BK_TMP/fifo"
	f=$BACKUP_DIR/$BACKUP_ID.json
	timeout 60 bk-export --csv "$OUT/x" - <"$BK_TMP/fifo" >/dev/null 2>&1 3>&- &
	pid=$!
	exec {w}>"$BK_TMP/fifo"
	head -c $(($(stat -c %s "$f") - 100)) "$f" >&"$w" # all but the end: it waits for more
	for _ in $(seq 600); do
		[ -n "$(find "$OUT/x" -name '.*.tmp-*' 2>/dev/null)" ] && break
		sleep 0.05
	done
	[ -n "$(find "$OUT/x" -name '.*.tmp-*')" ]
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	exec {w}>&-
	[ "$rc" -eq 143 ]
	[ -z "$(ls -A "$OUT/x")" ]
}

@test "disk full while the CSV files are written: 74, no CSV and no temporary file left" {
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BK_TMP/enospc.so" \
		"$BK_REPO/tests/shim/enospc.c" -ldl
	bk-export --csv "$OUT" "$BACKUP_ID" >/dev/null
	total=$(cat "$OUT"/*.csv | wc -c)
	rm -f "$OUT"/*.csv
	# before the first byte, early, in the middle, just short of the end
	for n in 0 100 $((total / 2)) $((total - 10)); do
		run --separate-stderr env LD_PRELOAD="$BK_TMP/enospc.so" BK_ENOSPC_AFTER=$n \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			bk-export --csv "$OUT" "$BACKUP_ID"
		echo "ENOSPC after $n of $total bytes: status $status: ${stderr:-}"
		[ "$status" -eq 74 ]
		[[ $stderr == *"No space left on device"* ]]
		[ -z "$(ls -A "$OUT")" ]
	done
	# the shim is what failed: without it the same export works
	bk-export --csv "$OUT" "$BACKUP_ID" >/dev/null
	# with --force, the files of the export before stay as they were
	before=$(cd "$OUT" && sha256sum ./*.csv)
	run --separate-stderr env LD_PRELOAD="$BK_TMP/enospc.so" BK_ENOSPC_AFTER=$((total / 2)) \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		bk-export --force --csv "$OUT" "$BACKUP_ID"
	[ "$status" -eq 74 ]
	[ "$(cd "$OUT" && sha256sum ./*.csv)" = "$before" ]
	[ -z "$(find "$OUT" -name '.*' -type f)" ]
}
