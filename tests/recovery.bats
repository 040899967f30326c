#!/usr/bin/env bats
# Recovery that never loses data silently: backups that carry their schema
# (format 1.1), restores that put everything back or refuse, bk-recover on a
# bare database, and the drill (bk-backup(5), bk-restore(1)).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 200
}

teardown_file() {
	bk_stop_servers
}

# Every test gets a database of its own and a backup directory of its own.
setup() {
	N=0
	export BACKUP_DIR=$BK_TMP/backups-$BATS_TEST_NUMBER
	mkdir -p "$BACKUP_DIR"
	chmod 0700 "$BACKUP_DIR"
}

# botdb NAME: a database with the bot's schema and rows; prints its URL
botdb() {
	bk_dropdb "$1"
	local url
	url=$(bk_createdb "$1" --schema)
	bk_load_data 200 "$url"
	printf '%s\n' "$url"
}

# emptydb NAME: a database without tables; prints its URL
emptydb() {
	bk_dropdb "$1"
	bk_createdb "$1"
}

sql() { "$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
dump() { DATABASE_URL=$1 bk-dump --no-redis | jq -r .path; }

# the later migration of the drill: a table, a column, a SERIAL table
migrate() {
	sql "$1" 'CREATE TABLE "Referral" (id TEXT PRIMARY KEY, "walletAddress" TEXT NOT NULL,
			"createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)'
	sql "$1" "INSERT INTO \"Referral\" (id, \"walletAddress\") VALUES ('r1', '0xa'), ('r2', '0xb'), ('r3', '0xc')"
	sql "$1" 'ALTER TABLE "Raffle" ADD COLUMN memo TEXT'
	sql "$1" "UPDATE \"Raffle\" SET memo = 'note ' || id"
	sql "$1" 'CREATE TABLE "Payout" (id SERIAL PRIMARY KEY, amount NUMERIC(20, 2) NOT NULL,
			"raffleId" TEXT REFERENCES "Raffle"(id) ON DELETE SET NULL ON UPDATE CASCADE)'
	sql "$1" 'INSERT INTO "Payout" (amount) SELECT g * 1.5 FROM generate_series(1, 5) g'
}

# ------------------------------------------------------------ format 1.1

@test "format 1.1: the backup carries its schema, of the same snapshot, with the DDL" {
	local db f
	db=$(botdb f11)
	migrate "$db"
	sql "$db" 'CREATE TABLE "Pair" (a INT, b INT, c TEXT, PRIMARY KEY (a, b))'
	sql "$db" 'CREATE TABLE "PairNote" (id INT PRIMARY KEY, a INT, b INT,
		FOREIGN KEY (a, b) REFERENCES "Pair"(a, b) ON DELETE CASCADE ON UPDATE RESTRICT)'
	f=$(dump "$db")
	jq -e '.metadata.version == "1.1" and (.metadata | has("ddlError") | not)' "$f"
	# columns: name, type, nullability, default
	jq -e '.schema.tables.Raffle.columns | map(select(.name == "memo"))[0] ==
		{"name":"memo","type":"text","nullable":true,"default":null}' "$f"
	jq -e '.schema.tables.Payout.columns[0] | .name == "id" and .type == "integer" and
		.nullable == false and (.default | startswith("nextval("))' "$f"
	# keys
	jq -e '.schema.tables.Pair.primaryKey == ["a","b"]' "$f"
	jq -e '.schema.tables.DexDailyStats.uniqueKeys == [["analyticsId","dex"]]' "$f"
	# foreign keys with every column and both actions
	jq -e '.schema.tables.PairNote.foreignKeys[0] | .columns == ["a","b"] and .references == "Pair"
		and .referencedColumns == ["a","b"] and .onDelete == "CASCADE" and .onUpdate == "RESTRICT"' "$f"
	jq -e '.schema.tables.Payout.foreignKeys[0] | .onDelete == "SET NULL" and .onUpdate == "CASCADE"' "$f"
	# owned sequences and their values
	jq -e '.schema.tables.Payout.sequences == [{"column":"id","name":"Payout_id_seq","lastValue":"5"}]' "$f"
	# each table's key, Prisma's migrations (every column), the DDL
	jq -e '.schema.tables.Referral.key == "referrals" and .schema.tables.Raffle.key == "raffles"' "$f"
	jq -e '.schema.prismaMigrations | length == 1 and (.[0] | has("checksum") and has("migration_name")
		and has("finished_at") and has("applied_steps_count"))' "$f"
	jq -r .schema.ddl "$f" | grep -q 'CREATE TABLE public."Referral"'
	jq -r .schema.ddl "$f" | grep -q 'memo text'
	# bk-verify: schema summarised, saved on request
	run --separate-stderr bk-verify --save-schema "$BK_TMP/s.json" "$f"
	[ "$status" -eq 0 ]
	jq -e '.schema.ddl == true and .schema.tables > 10 and (has("ddlError") | not)' <<<"$output"
	[ "$(stat -c %a "$BK_TMP/s.json")" = 600 ]
	jq -e '.tables.Payout and (.ddl | type == "string")' "$BK_TMP/s.json"
}

@test "format 1.1: without pg_dump the backup is written, the metadata says why, bk-verify reports it" {
	local db f
	db=$(botdb noddl)
	f=$(DATABASE_URL=$db BK_PG_DUMP=/nonexistent/pg_dump bk-dump --no-redis 2>"$BK_TMP/err" | jq -r .path)
	grep -q 'no DDL' "$BK_TMP/err"
	jq -e '.metadata.ddlError | contains("pg_dump")' "$f"
	jq -e '.schema.ddl == null and .schema.tables.Raffle' "$f"
	run --separate-stderr bk-verify "$f"
	[ "$status" -eq 0 ]
	jq -e '.schema.ddl == false and (.ddlError | contains("pg_dump"))' <<<"$output"
	[[ $stderr == *"no DDL to recreate the schema from"* ]]
	# pg_dump never sees the connection settings in its argv: a fake one records them
	cat >"$BK_TMP/fake_pg_dump" <<-'SH'
	#!/bin/sh
	printf '%s\n' "$@" >"$BK_TMP/fake.argv"
	env | grep '^PG' >"$BK_TMP/fake.env"
	echo 'SELECT 1;'
	SH
	chmod +x "$BK_TMP/fake_pg_dump"
	DATABASE_URL=$db BK_PG_DUMP=$BK_TMP/fake_pg_dump bk-dump --no-redis >/dev/null
	run grep -q -e noddl -e "$PGHOST" "$BK_TMP/fake.argv"
	[ "$status" -eq 1 ]
	grep -q '^PGDATABASE=noddl$' "$BK_TMP/fake.env"
	grep -q -- '--snapshot=' "$BK_TMP/fake.argv"
}

@test "format 1.1: a raffle backup carries the schema of the tables it holds" {
	local db rid f
	db=$(botdb rafsch)
	rid=$(sql "$db" 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	f=$(DATABASE_URL=$db bk-raffle "$rid" | jq -r .path)
	jq -e '.metadata.version == "1.1"' "$f"
	jq -e '.schema.tables | keys == ["BuyEvent","Raffle","RaffleAnalytics","SellEvent","Ticket","Winner"]' "$f"
	jq -e '.schema.tables.Ticket.foreignKeys[0].references == "Raffle"' "$f"
	bk-verify "$f" >/dev/null
}

@test "format 1.1: schema capture is per table: the schema member does not grow with the rows" {
	local small big
	small=$(dump "$(botdb small)")
	jq -e ".schema.tables.Raffle.columns" "$small" >/dev/null
	bk_dropdb big
	big=$(bk_createdb big --schema)
	bk_load_data 1000 "$big"
	big=$(dump "$big")
	[ "$(jq '.data.tickets | length' "$big")" -gt "$(jq '.data.tickets | length' "$small")" ]
	[ "$(jq -c '.schema | del(.name)' "$small" | wc -c)" -eq "$(jq -c '.schema | del(.name)' "$big" | wc -c)" ]
}

# ------------------------------------------------------------ the restore compares first

@test "restore refuses (77) a backup column the database lacks, naming it; nothing changed; --accept-loss accepts it" {
	local src dst f
	src=$(botdb colsrc)
	migrate "$src"
	f=$(dump "$src")
	dst=$(botdb coldst)
	migrate "$dst"
	sql "$dst" 'ALTER TABLE "Raffle" DROP COLUMN memo'
	sql "$dst" "UPDATE \"Admin\" SET permissions = 'live'"
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup "$f"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Raffle.memo (no such column)"* ]]
	[[ $stderr == *"--accept-loss Raffle.memo"* ]]
	[ -z "$output" ]
	[ "$(sql "$dst" "SELECT count(*) FROM \"Admin\" WHERE permissions = 'live'")" -gt 0 ]
	# the dry run says the same
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --dry-run "$f"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Raffle.memo"* ]]
	# accepted on purpose: restored, and the summary repeats the loss
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup --accept-loss Raffle.memo "$f"
	[ "$status" -eq 0 ]
	jq -e '.acceptedLosses == ["Raffle.memo"]' <<<"$output"
	[[ $stderr == *"accepted loss: Raffle.memo"* ]]
	[ "$(sql "$dst" "SELECT count(*) FROM \"Admin\" WHERE permissions = 'live'")" -eq 0 ]
}

@test "restore refuses a table the database lacks, and a type that cannot hold the values, in one message" {
	local src dst f
	src=$(botdb tsrc)
	migrate "$src"
	f=$(dump "$src")
	dst=$(botdb tdst)
	migrate "$dst"
	sql "$dst" 'DROP TABLE "Referral"'
	sql "$dst" 'ALTER TABLE "Payout" ALTER COLUMN amount TYPE integer'
	sql "$dst" 'ALTER TABLE "Ticket" ALTER COLUMN "ticketCount" TYPE bigint' # a widening: fine
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup "$f"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[ "$(grep -c refused <<<"$stderr")" -eq 1 ]
	[[ $stderr == *"Referral (no such table; 3 rows)"* ]]
	[[ $stderr == *"Payout.amount (numeric(20,2) in the backup, integer in the database)"* ]]
	[[ $stderr != *ticketCount* ]]
	[ "$(sql "$dst" 'SELECT count(*) FROM "Payout" WHERE amount <> round(amount)')" -eq 0 ]
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup \
		--accept-loss Referral --accept-loss Payout.amount "$f"
	[ "$status" -eq 0 ]
	jq -e '.acceptedLosses == ["Referral","Payout.amount"] and (.tables | has("Payout"))' <<<"$output"
}

@test "restore refuses a NOT NULL column without a default that the backup has no values for" {
	local db f
	db=$(botdb nn)
	f=$(dump "$db")
	sql "$db" 'ALTER TABLE "Winner" ADD COLUMN "proof" TEXT NOT NULL DEFAULT $$x$$'
	sql "$db" 'ALTER TABLE "Winner" ALTER COLUMN "proof" DROP DEFAULT'
	run --separate-stderr env DATABASE_URL="$db" bk-restore --yes --no-safety-backup "$f"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Winner (column proof is NOT NULL without a default"* ]]
	run --separate-stderr env DATABASE_URL="$db" bk-restore --yes --no-safety-backup --accept-loss Winner.proof "$f"
	[ "$status" -eq 77 ]
	run --separate-stderr env DATABASE_URL="$db" bk-restore --yes --no-safety-backup --accept-loss Winner "$f"
	[ "$status" -eq 0 ]
	jq -e '.acceptedLosses == ["Winner"] and (.tables | has("Winner") | not)' <<<"$output"
}

@test "restore into a database with no tables is refused (77), naming every table" {
	local db f e
	db=$(botdb esrc)
	f=$(dump "$db")
	e=$(emptydb edst)
	run --separate-stderr env DATABASE_URL="$e" bk-restore --yes --no-safety-backup "$f"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Raffle (no such table; "*"Ticket (no such table; 200 rows)"* ]]
	[[ $stderr == *"has no tables"* ]]
	[ -z "$output" ]
}

@test "a format 1.0 backup: a member holding values that is no column is refused; nested relations are not" {
	local db f
	db=$(botdb old)
	f=$(dump "$db")
	# as a 1.0 backup: no schema member, and a row member the database lacks
	python3 - "$f" <<-'PY' >"$BK_TMP/old.json"
	import json, sys
	b = json.load(open(sys.argv[1]))
	del b["schema"]
	b["metadata"]["version"] = "1.0"
	b["data"]["raffles"][0]["legacy"] = "kept?"
	b["data"]["dailyAnalytics"][0]["dexStats"] = [{"x": 1}]
	json.dump(b, sys.stdout)
	PY
	run --separate-stderr env DATABASE_URL="$db" bk-restore --yes --no-safety-backup "$BK_TMP/old.json"
	echo "$stderr"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Raffle.legacy (no such column)"* ]]
	[[ $stderr != *dexStats* ]]
}

# ------------------------------------------------------------ sequences

@test "sequences: SERIAL table restored into a fresh database, the next INSERT succeeds" {
	local src dst f
	src=$(botdb seqsrc)
	migrate "$src"
	sql "$src" 'DELETE FROM "Payout" WHERE id = 5' # the sequence is ahead of max(id)
	f=$(dump "$src")
	dst=$(botdb seqdst)
	migrate "$dst"
	sql "$dst" 'TRUNCATE "Payout", "Referral"'
	sql "$dst" 'ALTER SEQUENCE "Payout_id_seq" RESTART WITH 1'
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup --clean "$f"
	echo "$stderr"
	[ "$status" -eq 0 ]
	# the backup's value (5), not only max(id) (4)
	[ "$(sql "$dst" 'INSERT INTO "Payout" (amount) VALUES (1) RETURNING id')" = 6 ]
	# a 1.0 backup records no sequence: at least max(id)
	python3 - "$f" <<-'PY' >"$BK_TMP/seq10.json"
	import json, sys
	b = json.load(open(sys.argv[1]))
	del b["schema"]
	b["metadata"]["version"] = "1.0"
	json.dump(b, sys.stdout)
	PY
	sql "$dst" 'TRUNCATE "Payout"'
	sql "$dst" 'ALTER SEQUENCE "Payout_id_seq" RESTART WITH 1'
	DATABASE_URL=$dst bk-restore --yes --no-safety-backup "$BK_TMP/seq10.json" >/dev/null
	[ "$(sql "$dst" 'INSERT INTO "Payout" (amount) VALUES (1) RETURNING id')" = 5 ]
}

# ------------------------------------------------------------ keys

@test "table keys are injective: a reserved or taken key becomes the table's name, recorded, and restores" {
	local db f dst
	db=$(botdb keys)
	sql "$db" 'CREATE TABLE "Analytic" (id INT PRIMARY KEY, v TEXT)'
	sql "$db" "INSERT INTO \"Analytic\" VALUES (1, 'a'), (2, 'b')"
	sql "$db" 'CREATE TABLE "WalletUsers" (id INT PRIMARY KEY)'
	sql "$db" 'INSERT INTO "WalletUsers" VALUES (7)'
	f=$(dump "$db")
	jq -e '.metadata.tables.Analytic == "Analytic" and .metadata.tables.WalletUsers == "WalletUsers"
		and .metadata.tables.walletUsers == "WalletUser"' "$f"
	jq -e '(.data.Analytic | length) == 2 and (.data.WalletUsers | length) == 1' "$f"
	bk-verify "$f" >/dev/null
	dst=$(emptydb keysdst)
	"$BK_PG_BIN/pg_dump" --schema-only -d "$db" | "$BK_PG_BIN/psql" -X -q -d "$dst" >/dev/null 2>&1
	run --separate-stderr env DATABASE_URL="$dst" bk-restore --yes --no-safety-backup "$f"
	[ "$status" -eq 0 ]
	[ "$(sql "$dst" 'SELECT count(*) FROM "Analytic"')" = 2 ]
	[ "$(sql "$dst" 'SELECT count(*) FROM "WalletUsers"')" = 1 ]
	[ "$(bk_count WalletUser "$dst")" = "$(bk_count WalletUser "$db")" ]
}

@test "table keys: a collision with no way out is an error naming the tables, and no file" {
	local db
	db=$(botdb clash)
	sql "$db" 'CREATE TABLE "Foo" (id INT)'
	sql "$db" 'CREATE TABLE "foos" (id INT)'
	run --separate-stderr env DATABASE_URL="$db" bk-dump --no-redis
	echo "$stderr"
	[ "$status" -eq 65 ]
	[[ $stderr == *'"Foo"'* && $stderr == *'"foos"'* ]]
	[ -z "$(ls "$BACKUP_DIR")" ]
}

# ------------------------------------------------------------ bk-recover

@test "bk-recover: an empty database is built from the backup's DDL, migrations put back, nothing else installed" {
	local db f e
	db=$(botdb rsrc)
	f=$(dump "$db")
	e=$(emptydb rdst)
	run --separate-stderr env DATABASE_URL="$e" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/5" \
		"$BK_REPO/scripts/bk-recover" --yes --skip-redis "$f"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $output == *"creating them from the backup's own DDL"* ]]
	[[ $output == *"changes after "*" are not in it"* ]]
	[[ $output == *"every table's rows are in the database"* ]]
	[ "$(sql "$e" 'SELECT migration_name FROM _prisma_migrations')" = \
		"$(sql "$db" 'SELECT migration_name FROM _prisma_migrations')" ]
	[ "$(sql "$e" 'SELECT checksum FROM _prisma_migrations')" = "$(sql "$db" 'SELECT checksum FROM _prisma_migrations')" ]
	# the test fixture is not installed as a schema
	run grep -q 'schema.sql' "$BK_REPO/Makefile"
	[ "$status" -eq 1 ]
}

@test "bk-recover: says plainly what is not back, and exits non-zero" {
	local src dst f
	src=$(botdb nbsrc)
	migrate "$src"
	f=$(dump "$src")
	dst=$(botdb nbdst)
	run --separate-stderr env DATABASE_URL="$dst" "$BK_REPO/scripts/bk-recover" --yes --skip-redis \
		--accept-loss Referral,Payout,Raffle.memo "$f"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output != *"every table's rows are in the database"* ]]
	[[ $output == *"NOT back"* ]]
	[[ $output == *"Referral (accepted with --accept-loss)"* ]]
	[[ $output == *"Raffle.memo: no such column in the database"* ]]
	[[ $output == *"Payout.id: no such column in the database"* ]]
	# without accepting, bk-restore refuses and nothing changes
	run --separate-stderr env DATABASE_URL="$dst" "$BK_REPO/scripts/bk-recover" --yes --skip-redis "$f"
	[ "$status" -eq 77 ]
	[[ $stderr == *"Raffle.memo"* ]]
}

@test "bk-recover: raffle backups newer than the full backup are applied in order, the loss said in hours and minutes; --no-later-raffles lists them only" {
	local db f e rid ids
	db=$(botdb rafsrc)
	f=$(dump "$db")
	rid=$(sql "$db" 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	sql "$db" "UPDATE \"Raffle\" SET \"prizeAmount\" = 'first' WHERE id = '$rid'"
	DATABASE_URL=$db bk-raffle "$rid" >/dev/null
	sql "$db" "UPDATE \"Raffle\" SET \"prizeAmount\" = 'second' WHERE id = '$rid'"
	DATABASE_URL=$db bk-raffle "$rid" >/dev/null
	e=$(emptydb rafdst)
	run --separate-stderr env DATABASE_URL="$e" "$BK_REPO/scripts/bk-recover" --yes --skip-redis "$(basename "$f" .json)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ": applied" <<<"$output")" -eq 2 ]
	[ "$(sql "$e" "SELECT \"prizeAmount\" FROM \"Raffle\" WHERE id = '$rid'")" = second ]
	[[ $output =~ The\ full\ backup\ is\ [0-9]+\ h\ [0-9]{2}\ min\ old:\ changes\ made\ after\ .*\ are\ lost,\ but\ for\ the\ 2\ raffle ]]
	# --no-later-raffles: the full backup alone, the later ones listed
	e=$(emptydb rafdst2)
	run --separate-stderr env DATABASE_URL="$e" "$BK_REPO/scripts/bk-recover" --yes --skip-redis \
		--no-later-raffles "$(basename "$f" .json)"
	[ "$status" -eq 0 ]
	[ "$(grep -c "(not applied: --no-later-raffles)" <<<"$output")" -eq 2 ]
	[ "$(sql "$e" "SELECT \"prizeAmount\" FROM \"Raffle\" WHERE id = '$rid'")" != second ]
}

@test "bk-recover: a damaged raffle backup taken after the full one is named as not applied (exit 1); the rest is restored" {
	local db f e rid rf
	db=$(botdb rafbad)
	f=$(dump "$db")
	rid=$(sql "$db" 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	rf=$(DATABASE_URL=$db bk-raffle "$rid" | jq -r .path)
	truncate -s -40 "$rf" # the head (its type, its time) stays; the end is cut
	e=$(emptydb rafbaddst)
	run --separate-stderr env DATABASE_URL="$e" "$BK_REPO/scripts/bk-recover" --yes --skip-redis "$(basename "$f" .json)"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"$(basename "$rf" .json) (corrupt): NOT applied"* ]]
	[[ $output == *"NOT back in the database"* ]]
	[ "$(bk_count Ticket "$e")" -eq "$(bk_count Ticket "$db")" ]
}

# ------------------------------------------------------------ the drill

@test "drill: bot schema + later migration + SERIAL, dump, drop, createdb, bk-recover --yes: identical data" {
	local db f
	db=$(botdb drill)
	migrate "$db"
	export BK_ACTIVITY_DAYS=1000000 # every UserActivity row, so both sides hold the same
	f=$(dump "$db")
	bk_pgdump_data "$db" >"$BK_TMP/drill.before"
	sql "$db" 'SELECT migration_name, checksum FROM _prisma_migrations' >"$BK_TMP/drill.mig"
	bk_dropdb drill
	db=$(bk_createdb drill)
	run --separate-stderr env DATABASE_URL="$db" "$BK_REPO/scripts/bk-recover" --yes --skip-redis
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $output == *"every table's rows are in the database"* ]]
	bk_pgdump_data "$db" >"$BK_TMP/drill.after"
	diff "$BK_TMP/drill.before" "$BK_TMP/drill.after"
	diff "$BK_TMP/drill.mig" <(sql "$db" 'SELECT migration_name, checksum FROM _prisma_migrations')
	[ "$(sql "$db" 'INSERT INTO "Payout" (amount) VALUES (9) RETURNING id')" = 6 ]
	[ "$(sql "$db" "SELECT count(*) FROM \"Raffle\" WHERE memo LIKE 'note %'")" -eq "$(bk_count Raffle "$db")" ]
}
