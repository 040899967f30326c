#!/usr/bin/env bats
# bk-dump: full backups against real PostgreSQL and Redis servers.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 2000
	bk_redis SET 'conversation:111:222' '{"step":"await_wallet","text":"a \"quoted\" \\ value"}' EX 3600 >/dev/null
	bk_redis SET 'conversation:333:444' 'plain' >/dev/null
	bk_redis SET 'other:key' 'not backed up' >/dev/null
	bk_redis HSET 'conversation:hash' field value >/dev/null
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
}

# The value of a metadata field of the JSON line bk-dump printed.
meta() {
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

@test "a full backup: file 0600 in a 0700 directory, checksum that sha256sum -c accepts" {
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	id=$(meta "$output" id)
	[[ $id =~ ^full_[0-9]{13}$ ]]
	path=$(meta "$output" path)
	[ "$path" = "$(cd "$BACKUP_DIR" && pwd)/$id.json" ]
	[ "$(stat -c %a "$BACKUP_DIR")" = 700 ]
	[ "$(stat -c %a "$path")" = 600 ]
	[ "$(stat -c %a "$path.sha256")" = 600 ]
	[ "$(meta "$output" size)" = "$(stat -c %s "$path")" ]
	(cd "$BACKUP_DIR" && sha256sum -c "$id.json.sha256")
	[ "$(cut -d' ' -f1 "$path.sha256")" = "$(meta "$output" sha256)" ]
	# nothing else: no temporary file left
	[ "$(find "$BACKUP_DIR" -name '.*tmp*' | wc -l)" -eq 0 ]
}

@test "every table but _prisma_migrations, row counts equal to the database's" {
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	path=$(meta "$output" path)
	python3 - "$path" <<-'PY' >"$BK_TMP/counts"
	import json, sys
	d = json.load(open(sys.argv[1]))
	m = d["metadata"]
	assert m["type"] == "full" and m["version"] == "1.1" and m["database"] == "bk", m
	assert set(d["data"]) == set(m["rowCounts"]) == set(m["tables"]), d["data"].keys()
	for key, table in sorted(m["tables"].items()):
	    assert len(d["data"][key]) == m["rowCounts"][key], key
	    print(table, len(d["data"][key]))
	PY
	grep -q '^SellEvent ' "$BK_TMP/counts"
	grep -q '^AuditLog ' "$BK_TMP/counts"
	! grep -q _prisma_migrations "$BK_TMP/counts"
	[ "$(wc -l <"$BK_TMP/counts")" -eq 14 ]
	while read -r table n; do
		if [ "$table" = UserActivity ]; then
			want=$(bk_psql -c "SELECT count(*) FROM \"UserActivity\" WHERE \"timestamp\" >= now() AT TIME ZONE 'UTC' - interval '90 days'")
		else
			want=$(bk_count "$table")
		fi
		[ "$n" = "$want" ] || { echo "$table: $n in backup, $want in db"; false; }
	done <"$BK_TMP/counts"
	# the column names come from the catalog: camelCase, keys of the JSON rows
	grep -q '"walletAddress":' "$path"
}

@test "awkward values: bigint beyond 2^53, unicode, escapes, arrays, floats, milliseconds" {
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	path=$(meta "$output" path)
	# every digit kept, as a JSON number
	grep -q '"ticketCount":9007199254740993' "$path"
	grep -q '"telegramUserId":9007199254740993' "$path"
	python3 - "$path" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))["data"]
	users = {u["telegramUsername"] for u in d["walletUsers"]}
	assert "Zoë 🎉" in users, users
	arrays = [n["targetUserIds"] for n in d["scheduledNotifications"]]
	assert [] in arrays, "empty array"
	assert any("" in a for a in arrays if a), "empty element"
	assert any(None in a for a in arrays if a), "NULL element"
	assert any("NULL" in a for a in arrays if a), "string NULL"
	texts = [json.dumps(r) for t in d.values() for r in t]
	assert any("\\n" in t and "\\\\" in t for t in texts), "newline and backslash"
	ra = d["raffleAnalytics"]
	assert all(isinstance(r["averageTicketsPerUser"], (int, float)) for r in ra)
	for r in d["raffles"]:
	    for k in ("startTime", "endTime", "createdAt", "updatedAt"):
	        v = r[k]
	        assert len(v) == 24 and v[10] == "T" and v.endswith("Z"), v
	PY
	grep -q '\.999Z"' "$path"
	grep -q '\.000Z"' "$path"
}

@test "the database's own text survives: a COPY of the backup's values equals the table" {
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	path=$(meta "$output" path)
	got=$(python3 - "$path" <<-'PY' | LC_ALL=C sort | md5sum
	import json, sys
	for u in json.load(open(sys.argv[1]))["data"]["walletUsers"]:
	    name = u["telegramUsername"]
	    print("%s|%s|%s" % (u["walletAddress"], u["telegramUserId"], "<null>" if name is None else name))
	PY
	)
	want=$(bk_psql -c 'SELECT "walletAddress", "telegramUserId", coalesce("telegramUsername", '"'<null>'"') FROM "WalletUser"' | LC_ALL=C sort | md5sum)
	[ "$got" = "$want" ]
}

@test "userActivities: the last BK_ACTIVITY_DAYS days only" {
	old=$(bk_psql -c "SELECT count(*) FROM \"UserActivity\" WHERE \"timestamp\" < now() AT TIME ZONE 'UTC' - interval '90 days'")
	[ "$old" -gt 0 ]
	BK_ACTIVITY_DAYS=100000 run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rowCounts"]["userActivities"])' "$output")
	[ "$n" -eq "$(bk_count UserActivity)" ]
	BK_ACTIVITY_DAYS=abc run --separate-stderr bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr == *BK_ACTIVITY_DAYS* ]]
}

@test "Redis: conversation states by pattern, with their TTLs; other keys and non-strings left out" {
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
	path=$(meta "$output" path)
	python3 - "$path" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))
	r = d["redis"]
	c = r["conversations"]
	assert set(c) == {"conversation:111:222", "conversation:333:444"}, c
	assert json.loads(c["conversation:111:222"])["text"] == 'a "quoted" \\ value'
	assert 3500000 < r["ttl"]["conversation:111:222"] <= 3600000, r["ttl"]
	assert r["ttl"]["conversation:333:444"] == -1
	m = d["metadata"]["redis"]
	assert m["included"] and m["keys"] == 2 and m["skippedNotStrings"] == 1, m
	PY
	BK_REDIS_PATTERN='other:*' run --separate-stderr bk-dump -o "$BK_TMP/other.json"
	[ "$status" -eq 0 ]
	grep -q '"other:key":"not backed up"' "$BK_TMP/other.json"
}

@test "-o - streams the backup to stdout and leaves no file" {
	bk-dump -o - >"$BK_TMP/stream.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["metadata"]["type"]=="full"' "$BK_TMP/stream.json"
	[ "$(find "$BACKUP_DIR" -name '*.json' | wc -l)" -eq 0 ]
}

@test "-o FILE writes FILE and FILE.sha256 atomically" {
	run --separate-stderr bk-dump -o "$BK_TMP/out/backup.json"
	[ "$status" -eq 73 ]	# no such directory
	mkdir -p "$BK_TMP/out"
	run --separate-stderr bk-dump -o "$BK_TMP/out/backup.json"
	[ "$status" -eq 0 ]
	(cd "$BK_TMP/out" && sha256sum -c backup.json.sha256)
}

@test "--no-redis: no Redis needed, and the metadata says so" {
	REDIS_URL=redis://127.0.0.1:1/0 run --separate-stderr bk-dump --no-redis
	[ "$status" -eq 0 ]
	path=$(meta "$output" path)
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["metadata"]["redis"]["included"] is False and d["redis"]["conversations"]=={}' "$path"
}

@test "database down or wrong URL: exit 69 with libpq's reason, no file" {
	DATABASE_URL="postgresql://bk@/bk?host=$BK_TMP/nowhere" run --separate-stderr bk-dump
	[ "$status" -eq 69 ]
	[[ $stderr == bk-dump:*"cannot connect to the database"*"No such file or directory"* ]]
	DATABASE_URL="postgresql://bk@/no_such_db?host=$PGHOST&port=$PGPORT" run --separate-stderr bk-dump
	[ "$status" -eq 69 ]
	[[ $stderr == *"database no_such_db does not exist on $PGHOST:$PGPORT; create it"* ]]
	DATABASE_URL= BK_ENV_FILE=/dev/null run --separate-stderr bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr == *"DATABASE_URL is not set"* ]]
	[ "$(find "$BACKUP_DIR" -name '*.json*' | wc -l)" -eq 0 ]
}

@test "database stopped: exit 69, no file" {
	bk_pg_stop
	run --separate-stderr bk-dump
	bk_pg_start
	[ "$status" -eq 69 ]
	[ "$(find "$BACKUP_DIR" -name '*.json*' | wc -l)" -eq 0 ]
}

@test "Redis down: exit 69 naming Redis, no file" {
	REDIS_URL=redis://127.0.0.1:1/0 run --separate-stderr bk-dump
	[ "$status" -eq 69 ]
	[[ $stderr == *redis* ]]
	REDIS_URL=ftp://x run --separate-stderr bk-dump
	[ "$status" -eq 64 ]
	[ "$(find "$BACKUP_DIR" -name '*.json*' | wc -l)" -eq 0 ]
}

@test "backup directory that cannot be made: exit 73" {
	touch "$BK_TMP/a-file"
	BACKUP_DIR=$BK_TMP/a-file/backups run --separate-stderr bk-dump
	[ "$status" -eq 73 ]
	[[ $stderr == *"cannot create the backup directory"* ]]
}

@test "disk full (file size limit): exit 74, no partial backup, older backups untouched" {
	bk-dump >/dev/null
	before=$(ls -la "$BACKUP_DIR"/*.json | md5sum)
	# with SIGXFSZ ignored, write() past the limit fails with EFBIG
	run --separate-stderr bash -c 'trap "" XFSZ; ulimit -f 64; exec bk-dump'
	[ "$status" -eq 74 ]
	[[ $stderr == *"cannot write"* ]]
	[ "$(ls -la "$BACKUP_DIR"/*.json | md5sum)" = "$before" ]
	[ "$(find "$BACKUP_DIR" -name '.*tmp*' | wc -l)" -eq 0 ]
}

@test "disk full (a tiny tmpfs): exit 74, nothing left behind" {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	mkdir -p "$BK_TMP/tiny"
	mount -t tmpfs -o size=256k tmpfs "$BK_TMP/tiny" 2>/dev/null || skip "cannot mount a tmpfs here"
	BACKUP_DIR=$BK_TMP/tiny/b run --separate-stderr bk-dump
	ls -la "$BK_TMP/tiny/b"
	leftover=$(find "$BK_TMP/tiny/b" -name '*.json*' | wc -l)
	umount "$BK_TMP/tiny"
	[ "$status" -eq 74 ]
	[[ $stderr == *"No space left on device"* ]]
	[ "$leftover" -eq 0 ]
}

# bats test_tags=race
@test "the backup lock: exit 75 while another job holds it, --wait waits" {
	bk_lock_hold
	run --separate-stderr bk-dump
	[ "$status" -eq 75 ]
	[[ $stderr == *"another bk job holds the lock"* ]]
	# released while the dump waits for it
	bk-dump --wait 600 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	bk_wait_lock_open "$pid"
	bk_lock_release
	status=0
	wait "$pid" || status=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 0 ]
}

writing() {
	[ "$(bk_psql -c "SELECT count(*) FROM \"Ticket\" WHERE id LIKE 'snap-%'")" -gt 0 ]
}

# bats test_tags=race
@test "a dump taken while the bot writes is one consistent snapshot" {
	# each transaction adds a ticket and a buy event together: a backup
	# that read the tables at different moments would hold unequal sets
	raffle=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	cat >"$BK_TMP/writer.sql" <<-SQL
	BEGIN;
	INSERT INTO "Ticket" (id, "raffleId", "walletAddress", "ticketCount", "updatedAt")
	  VALUES ('snap-' || :n, '$raffle', 'snapwallet-' || :n, 1, now());
	INSERT INTO "BuyEvent" (id, "raffleId", "walletAddress", "tokenAmount", "ticketCount",
	  "transactionHash", "timestamp") VALUES ('snap-' || :n, '$raffle', 'w', '1', 1, 'snaptx-' || :n, now());
	COMMIT;
	SQL
	(for n in $(seq 1 400); do bk_psql -v n="$n" -f "$BK_TMP/writer.sql"; done) &
	writer=$!
	# the dumps start once the writes have
	bk_poll 120 writing
	for i in 1 2 3; do
		bk-dump -o "$BK_TMP/snap$i.json" >/dev/null
	done
	# and with every table split in two halves, over two connections
	for i in 4 5; do
		BK_TEST_SPLIT_BLOCKS=2 bk-dump -o "$BK_TMP/snap$i.json" >/dev/null
	done
	# the writes had only to go on while the dumps ran: the rest are not
	# waited for (on a loaded machine they take half a minute more)
	kill "$writer" 2>/dev/null || true
	wait "$writer" || true
	for i in 1 2 3 4 5; do
		python3 - "$BK_TMP/snap$i.json" <<-'PY'
		import json, sys
		d = json.load(open(sys.argv[1]))["data"]
		t = {r["id"] for r in d["tickets"] if r["id"].startswith("snap-")}
		b = {r["id"] for r in d["buyEvents"] if r["id"].startswith("snap-")}
		assert t == b, (len(t), len(b))
		print(len(t))
		PY
	done
}

@test "memory does not grow with the database" {
	command -v /usr/bin/time >/dev/null || skip "/usr/bin/time missing"
	# AddressSanitizer keeps freed memory in quarantine: its RSS says nothing
	[ -z "${BK_SANITIZED:-}" ] || skip "peak RSS is not meaningful under a sanitizer"
	# the reference is a backup that already fills every fixed buffer (the
	# readers' and the writer's chunks, the direct-I/O stage: some 16 MB),
	# both read over two connections: what is left to grow is per row
	local url n
	for n in 20000 60000; do
		bk_dropdb "rss$n"
		url=$(bk_createdb "rss$n" --schema)
		bk_load_data "$n" "$url"
		DATABASE_URL=$url BK_TEST_SPLIT_BLOCKS=2 /usr/bin/time -f %M -o "$BK_TMP/rss$n" \
			bk-dump -o "$BK_TMP/rss$n.json" >/dev/null
		bk_dropdb "rss$n"
	done
	mv "$BK_TMP/rss20000" "$BK_TMP/rss1"
	mv "$BK_TMP/rss60000" "$BK_TMP/rss2"
	small=$(stat -c %s "$BK_TMP/rss20000.json") big=$(stat -c %s "$BK_TMP/rss60000.json")
	echo "sizes $small $big, rss KB $(cat "$BK_TMP/rss1") $(cat "$BK_TMP/rss2")"
	[ "$big" -gt $((small * 5 / 2)) ]
	[ "$(cat "$BK_TMP/rss2")" -lt $(($(cat "$BK_TMP/rss1") + 8192)) ]
	[ "$(cat "$BK_TMP/rss2")" -lt 65536 ]
}

@test "configuration: .env fills in what the environment does not set; Prisma's ?schema= works" {
	mkdir -p "$BK_TMP/work"
	cat >"$BK_TMP/work/.env" <<-EOF
	# the bot's .env
	DATABASE_URL="postgresql://bk@/bk?host=$PGHOST&port=$PGPORT&schema=public"
	BACKUP_DIR='$BK_TMP/envdir'   
	export BK_REDIS_PATTERN=conversation:111:*
	EOF
	cd "$BK_TMP/work"
	env -u DATABASE_URL -u BACKUP_DIR -u BK_ENV_FILE bk-dump >/dev/null
	[ "$(find "$BK_TMP/envdir" -name 'full_*.json' | wc -l)" -eq 1 ]
	grep -q '"conversations":{"conversation:111:222"' "$BK_TMP"/envdir/full_*.json
	! grep -q 'conversation:333' "$BK_TMP"/envdir/full_*.json
	# the environment wins over .env
	env -u DATABASE_URL -u BK_ENV_FILE BACKUP_DIR="$BK_TMP/envdir2" bk-dump >/dev/null
	[ -d "$BK_TMP/envdir2" ]
	echo 'not a line' >>"$BK_TMP/work/.env"
	run --separate-stderr env -u BK_ENV_FILE bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr == *".env:5: not a KEY=value line"* ]]
}

@test "bad usage: exit 64 with the usage" {
	run --separate-stderr bk-dump --bogus
	[ "$status" -eq 64 ]
	[[ $stderr == *"usage: bk-dump"* ]]
	run --separate-stderr bk-dump extra
	[ "$status" -eq 64 ]
	run --separate-stderr bk-dump --wait -1
	[ "$status" -eq 64 ]
}

@test "row-level security that would hide rows from the role: bk-dump refuses (77), bk-restore changes nothing" {
	local url reader before
	bk_dropdb rls
	url=$(bk_createdb rls --schema)
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" <<-'SQL'
		CREATE ROLE rls_reader LOGIN;
		CREATE TABLE "Secret" (id int PRIMARY KEY, v text);
		INSERT INTO "Secret" VALUES (1, 'hidden from rls_reader');
		ALTER TABLE "Secret" ENABLE ROW LEVEL SECURITY;
		CREATE POLICY writes ON "Secret" FOR INSERT TO rls_reader WITH CHECK (true);
		GRANT ALL ON ALL TABLES IN SCHEMA public TO rls_reader;
		GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO rls_reader;
	SQL
	reader="postgresql://rls_reader@/rls?host=$PGHOST&port=$PGPORT"
	# the role would see no row of Secret: no backup at all, rather than one without them
	run --separate-stderr env DATABASE_URL="$reader" bk-dump --no-redis -o "$BK_TMP/rls.json"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *'row-level security'* ]]
	[ ! -e "$BK_TMP/rls.json" ]
	# the owner's backup holds the row; restored by the role, the hidden row
	# must not make the table look empty
	DATABASE_URL=$url bk-dump --no-redis -o "$BK_TMP/rls.json" >/dev/null
	[ "$(jq -c '.data.secrets' "$BK_TMP/rls.json")" = '[{"id":1,"v":"hidden from rls_reader"}]' ]
	before=$(bk_pgdump_data rls)
	run --separate-stderr env DATABASE_URL="$reader" bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/rls.json"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *'row-level security'* ]]
	[ "$(bk_pgdump_data rls)" = "$before" ]
	bk_dropdb rls
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'DROP ROLE rls_reader'
}

# Ordering by locks, never by sleep. advisory_hold KEY: a session holds the
# advisory lock KEY (a statement that waits for it stays open) until
# advisory_release KEY; held_on TABLE: a session holds ACCESS EXCLUSIVE on
# it; waited_on TABLE: a session waits for a lock on it.
advisory_on() { [ "$(bk_psql -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted")" -ge 1 ]; }
advisory_hold() {
	bk_psql -c "SELECT pg_advisory_lock($1), pg_sleep(300)" >/dev/null 2>&1 &
	ADVISORY_HOLDER=$!
	bk_poll 60 advisory_on "$1"
}
advisory_release() {
	bk_psql -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted" >/dev/null
	wait "$ADVISORY_HOLDER" || true
}
held_on() { [ "$(bk_psql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '$1' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -ge 1 ]; }
waited_on() { [ "$(bk_psql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '$1' AND NOT l.granted")" -ge 1 ]; }

# bats test_tags=race
@test "a table rewritten as the backup starts (ALTER TABLE ... USING) is backed up whole, not empty" {
	local rows rewrite dump st=0
	rows=$(bk_count AuditLog)
	[ "$rows" -gt 0 ]
	# the rewrite stays open until the test ends it: it waits for an
	# advisory lock that a third session holds
	advisory_hold 4242
	bk_psql -c "BEGIN" -c "ALTER TABLE \"AuditLog\" ALTER COLUMN action TYPE text USING action || ''" \
		-c "SELECT pg_advisory_xact_lock(4242)" -c "COMMIT" >/dev/null &
	rewrite=$!
	bk_poll 60 held_on AuditLog
	bk-dump --no-redis -o "$BK_TMP/rewrite.json" >"$BK_TMP/rewrite.out" 2>"$BK_TMP/rewrite.err" &
	dump=$!
	bk_poll 60 waited_on AuditLog
	# the rewrite commits while the backup waits for the table
	advisory_release 4242
	wait "$rewrite"
	wait "$dump" || st=$?
	cat "$BK_TMP/rewrite.err"
	[ "$st" -eq 0 ]
	[ "$(jq '.data.auditLogs | length' "$BK_TMP/rewrite.json")" -eq "$rows" ]
	[ "$(jq '.metadata.rowCounts.auditLogs' "$BK_TMP/rewrite.json")" -eq "$rows" ]
}

# bats test_tags=race
@test "a table dropped as the backup starts: it begins again without it, and the backup is whole" {
	local drop dump st=0
	bk_psql -c 'CREATE TABLE "Doomed" (id int PRIMARY KEY); INSERT INTO "Doomed" VALUES (1)' >/dev/null
	advisory_hold 4243
	# the drop holds the table, uncommitted, until the third session lets go
	bk_psql -c "BEGIN" -c 'DROP TABLE "Doomed"' -c "SELECT pg_advisory_xact_lock(4243)" -c "COMMIT" >/dev/null &
	drop=$!
	bk_poll 60 held_on Doomed
	bk-dump --no-redis -o "$BK_TMP/doomed.json" >/dev/null 2>"$BK_TMP/doomed.err" &
	dump=$!
	# the backup listed the table and waits to lock it
	bk_poll 60 waited_on Doomed
	advisory_release 4243
	wait "$drop"
	wait "$dump" || st=$?
	cat "$BK_TMP/doomed.err"
	[ "$st" -eq 0 ]
	[ "$(jq '.metadata.tables | has("dooms")' "$BK_TMP/doomed.json")" = false ]
	[ "$(jq '.data.tickets | length' "$BK_TMP/doomed.json")" -eq "$(bk_count Ticket)" ]
	bk-verify "$BK_TMP/doomed.json" >/dev/null
}

@test "a large table is read in two halves at once on one snapshot: the same rows, the same bytes every time, restorable" {
	export BK_ACTIVITY_DAYS=1000000 # no row crosses the 90-day edge between the dumps
	# every table of two blocks or more is split; small chunks, so that
	# the halves' rows interleave in the file
	BK_PROFILE=1 BK_TEST_SPLIT_BLOCKS=2 BK_TEST_COPY_CHUNK=4096 bk-dump -o "$BK_TMP/split1.json" \
		2>"$BK_TMP/split1.err" >/dev/null
	grep -E 'tables read in two halves: [1-9]' "$BK_TMP/split1.err"
	BK_TEST_SPLIT_BLOCKS=2 BK_TEST_COPY_CHUNK=4096 bk-dump -o "$BK_TMP/split2.json" >/dev/null
	# this small database's tables are read in one piece by default
	BK_PROFILE=1 bk-dump -o "$BK_TMP/whole.json" 2>"$BK_TMP/whole.err" >/dev/null
	grep -E 'tables read in two halves: 0$' "$BK_TMP/whole.err"
	bk-verify "$BK_TMP/split1.json" >/dev/null
	# the same data gives the same bytes, split or not in the same way
	[ "$(jq -c .data "$BK_TMP/split1.json" | sha256sum)" = "$(jq -c .data "$BK_TMP/split2.json" | sha256sum)" ]
	# every row once: the same rows as one connection reads, in another order
	[ "$(jq -c .data "$BK_TMP/split1.json" | sha256sum)" != "$(jq -c .data "$BK_TMP/whole.json" | sha256sum)" ]
	[ "$(jq -S -c '.data | map_values(sort)' "$BK_TMP/split1.json" | sha256sum)" = \
		"$(jq -S -c '.data | map_values(sort)' "$BK_TMP/whole.json" | sha256sum)" ]
	[ "$(jq -c .metadata.rowCounts "$BK_TMP/split1.json")" = "$(jq -c .metadata.rowCounts "$BK_TMP/whole.json")" ]
	# restored into empty tables, it is the database, as pg_dump sees it
	bk_dropdb splitrt
	url=$(bk_createdb splitrt --schema)
	DATABASE_URL=$url bk-restore --yes --no-safety-backup --skip-redis "$BK_TMP/split1.json" >/dev/null
	[ "$(bk_pgdump_data splitrt | sha256sum)" = "$(bk_pgdump_data | sha256sum)" ]
	bk_dropdb splitrt
	# a role allowed one connection: no second one, said; one piece, whole
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" <<-'SQL'
		CREATE ROLE split_one LOGIN CONNECTION LIMIT 1;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO split_one;
		GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO split_one;
	SQL
	run --separate-stderr env BK_TEST_SPLIT_BLOCKS=2 BK_PROFILE=1 \
		DATABASE_URL="postgresql://split_one@/bk?host=$PGHOST&port=$PGPORT" \
		bk-dump --no-redis -o "$BK_TMP/one.json"
	"$BK_PG_BIN/psql" -X -q -d "$DATABASE_URL" -c 'DROP OWNED BY split_one' -c 'DROP ROLE split_one'
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *'reading each table over one connection only'* ]]
	[[ $stderr == *'tables read in two halves: 0'* ]]
	bk-verify "$BK_TMP/one.json" >/dev/null
	[ "$(jq -c .data "$BK_TMP/one.json" | sha256sum)" = "$(jq -c .data "$BK_TMP/whole.json" | sha256sum)" ]
}

# bats test_tags=race
@test "a migration queued behind a running backup: the backup neither waits for it nor makes it wait for ever" {
	local dump migration st=0
	rows=$(bk_count Ticket)
	# pg_dump (the backup's DDL) is held at a gate until the migration is
	# queued: the backup then holds every table, and the migration waits
	mkfifo "$BK_TMP/gate"
	cat >"$BK_TMP/gated_pg_dump" <<-SH
	#!/bin/sh
	: >"$BK_TMP/gate.reached"
	cat "$BK_TMP/gate" >/dev/null
	exec "$BK_PG_BIN/pg_dump" "\$@"
	SH
	chmod +x "$BK_TMP/gated_pg_dump"
	BK_PG_DUMP=$BK_TMP/gated_pg_dump BK_TEST_SPLIT_BLOCKS=2 timeout 120 \
		bk-dump --no-redis -o "$BK_TMP/queued.json" >/dev/null 2>"$BK_TMP/queued.err" &
	dump=$!
	bk_poll 60 test -e "$BK_TMP/gate.reached"
	bk_psql -c 'ALTER TABLE "Ticket" ADD COLUMN queued int' >/dev/null &
	migration=$!
	bk_poll 60 waited_on Ticket
	echo go >"$BK_TMP/gate"
	# pg_dump gives up its lock wait after a second; the second connection
	# does not queue behind the migration: Ticket is read over the first
	wait "$dump" || st=$?
	cat "$BK_TMP/queued.err"
	[ "$st" -eq 0 ]
	wait "$migration"
	bk-verify "$BK_TMP/queued.json" >/dev/null 2>&1 || true
	[ "$(jq '.data.tickets | length' "$BK_TMP/queued.json")" -eq "$rows" ]
	[ "$(jq 'any(.data.tickets[]; has("queued"))' "$BK_TMP/queued.json")" = false ]
	jq -r .metadata.ddlError "$BK_TMP/queued.json" | grep 'a migration (ALTER TABLE, TRUNCATE, DROP) was waiting for this backup'
	bk_psql -c 'ALTER TABLE "Ticket" DROP COLUMN queued' >/dev/null
}
