#!/usr/bin/env bats
# The COPY reader's hand-off at a table's end (lib/copyread.c). A tiny chunk
# (BK_TEST_COPY_CHUNK) and a consumer that lags (BK_TEST_COPY_DELAY_US) make
# every table end while all the reader's slots are pending: the case in which
# rows were once lost. Tables of 0, 1, chunk-1, chunk, chunk+1 and many
# chunks of rows are dumped and every row compared with pg_dump's.

load helpers
bats_require_minimum_version 1.5.0

# Each row's COPY text is 8 + 1 + 55 + 1 = 65 bytes, so a chunk of 650
# bytes is exactly 10 rows.
ROW_PAYLOAD=55
CHUNK_ROWS=10
SIZES="0 1 9 10 11 19 20 21 39 40 41 1000 2345"

setup_file() {
	bk_start_servers
	local n
	for n in $SIZES; do
		bk_psql -c "CREATE TABLE \"Probe$n\" (id char(8) PRIMARY KEY, payload text NOT NULL);
			INSERT INTO \"Probe$n\" SELECT lpad(i::text, 8, '0'), repeat(chr(97 + i % 26), $ROW_PAYLOAD)
			FROM generate_series(1, $n) AS i;" >/dev/null
	done
}

teardown_file() {
	bk_stop_servers
}

# The backup's rows of every Probe table, as "Table<TAB>id<TAB>payload".
backup_rows() {
	python3 - "$1" <<-'PY'
	import json, sys
	data = json.load(open(sys.argv[1]))["data"]
	for key, rows in data.items():
	    for r in rows:
	        print("%s\t%s\t%s" % (key, r["id"], r["payload"]))
	PY
}

# The same from pg_dump, with each table named by its backup key.
pgdump_rows() {
	"$BK_PG_BIN/pg_dump" --data-only -d "$DATABASE_URL" | awk '
		/^COPY / { t = $2; sub(/^public\./, "", t); gsub(/"/, "", t); sub(/^P/, "p", t); t = t "s"; inb = 1; next }
		inb && /^\\\.$/ { inb = 0; next }
		inb { print t "\t" $0 }'
}

dump_with_lag() {
	BK_TEST_COPY_CHUNK=$((65 * CHUNK_ROWS)) BK_TEST_COPY_DELAY_US=${1} \
		bk-dump --no-redis -o "$BK_TMP/probe.json"
}

# bats test_tags=race
@test "every row of tables of 0, 1, chunk±1 and many chunks of rows, with a lagging consumer" {
	run --separate-stderr dump_with_lag 3000
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	diff <(backup_rows "$BK_TMP/probe.json" | LC_ALL=C sort) <(pgdump_rows | LC_ALL=C sort)
	# Every size really was dumped, and the counts agree with the metadata.
	for n in $SIZES; do
		got=$(jq ".data.probe${n}s | length" "$BK_TMP/probe.json")
		[ "$got" -eq "$n" ]
		[ "$(jq ".metadata.rowCounts.probe${n}s" "$BK_TMP/probe.json")" -eq "$n" ]
	done
}

# bats test_tags=race
@test "the same with no lag, chunk of one row: the reader never waits on a slot it must not touch" {
	BK_TEST_COPY_CHUNK=1 run --separate-stderr bk-dump --no-redis -o "$BK_TMP/probe1.json"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	diff <(backup_rows "$BK_TMP/probe1.json" | LC_ALL=C sort) <(pgdump_rows | LC_ALL=C sort)
}
