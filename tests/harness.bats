#!/usr/bin/env bats
# The test harness itself: servers, schema, data generator, fixtures.
# Needs no bk binary (BK_BIN_DIR=/tmp bats tests/harness.bats).

load helpers

setup_file() {
	bk_setup_servers_with_data 2000
}

teardown_file() {
	bk_stop_servers
}

@test "harness: both servers answer, the environment points at them" {
	[ "$(bk_psql -c 'SELECT 1')" = 1 ]
	[ "$(bk_psql -c 'SHOW TimeZone')" = UTC ]
	[ "$(bk_psql -c 'SHOW server_encoding')" = UTF8 ]
	[ "$(bk_redis ping)" = PONG ]
	[ "$(redis-cli -s "$REDIS_SOCKET" ping)" = PONG ]
	[ "$REDIS_URL" = "redis://127.0.0.1:$REDIS_PORT/0" ]
	[ "$DATABASE_URL" = "postgresql://bk@/bk?host=$BK_TMP/pgsock&port=$PGPORT" ]
	[ "$(psql -X -A -t -d "$DATABASE_URL" -c 'SELECT current_database()')" = bk ]
	[ "$PGHOST" = "$BK_TMP/pgsock" ]
	[ "$PGUSER" = bk ]
	[ "$PGDATABASE" = bk ]
	[ "$BACKUP_DIR" = "$BK_TMP/backups" ]
	[ "$BK_ENV_FILE" = /dev/null ]
	[ "$TZ" = UTC ]
	[ "${PATH%%:*}" = "$BK_BIN_DIR" ]
	# PostgreSQL: unix socket only, and never as root.
	[ "$(bk_psql -c 'SHOW listen_addresses')" = "" ]
	[ "$(stat -c %U "$BK_TMP/pg")" != root ]
}

@test "schema: the 14 tables and _prisma_migrations, with Prisma's names" {
	run bk_psql -c "SELECT string_agg(table_name, ' ' ORDER BY table_name COLLATE \"C\")
	                FROM information_schema.tables
	                WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
	[ "$status" -eq 0 ]
	[ "$output" = "Admin AuditLog BuyEvent DailyAnalytics DexDailyStats NotificationPreference Raffle RaffleAnalytics ScheduledNotification SellEvent Ticket UserActivity WalletUser Winner _prisma_migrations" ]
	[ "$(bk_count _prisma_migrations)" = 1 ]
	run bk_psql -c "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'Ticket_raffleId_fkey'"
	[ "$output" = 'FOREIGN KEY ("raffleId") REFERENCES "Raffle"(id) ON UPDATE CASCADE ON DELETE CASCADE' ]
	for idx in Ticket_pkey Ticket_raffleId_walletAddress_key BuyEvent_transactionHash_key \
		Winner_raffleId_key DexDailyStats_analyticsId_dex_key DailyAnalytics_date_key; do
		[ "$(bk_psql -c "SELECT count(*) FROM pg_class WHERE relname = '$idx' AND relkind = 'i'")" = 1 ]
	done
	[ "$(bk_psql -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	                 WHERE attrelid = '\"Ticket\"'::regclass AND attname = 'createdAt'")" = "timestamp(3) without time zone" ]
	[ "$(bk_psql -c "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	                 WHERE attrelid = '\"ScheduledNotification\"'::regclass AND attname = 'targetUserIds'")" = "text[]" ]
}

@test "gen.sql: scale 2000 gives 2000 tickets, 2000 buy events, the rest in proportion" {
	[ "$(bk_count Ticket)" = 2000 ]
	[ "$(bk_count BuyEvent)" = 2000 ]
	[ "$(bk_count Raffle)" = 5 ]      # max(3, N/1000) + 2 awkward
	[ "$(bk_count SellEvent)" = 201 ] # N/10 + 1
	[ "$(bk_count WalletUser)" = 404 ]
	[ "$(bk_count Winner)" = 2 ]
	[ "$(bk_count RaffleAnalytics)" = 4 ]
	[ "$(bk_count DailyAnalytics)" = 10 ]
	[ "$(bk_count DexDailyStats)" = 25 ]
	[ "$(bk_count UserActivity)" = 1004 ]
	# the unique keys hold (the constraints were rebuilt after the load)
	[ "$(bk_psql -c 'SELECT count(DISTINCT ("raffleId", "walletAddress")) FROM "Ticket"')" = 2000 ]
	[ "$(bk_psql -c 'SELECT count(DISTINCT "transactionHash") FROM "BuyEvent"')" = 2000 ]
	# every winner's raffle has ended; running raffles have none
	[ "$(bk_psql -c 'SELECT count(*) FROM "Winner" w JOIN "Raffle" r ON r.id = w."raffleId"
	                 WHERE r."endTime" > now() AT TIME ZONE '"'UTC'"'')" = 0 ]
}

@test "gen.sql: the schema's constraints and indexes are all back after the load" {
	local fresh
	fresh=$(bk_createdb harness_fresh --schema)
	diff <(pg_dump -s "$fresh" | grep -v '^\\\(un\)\?restrict') \
		<(pg_dump -s "$DATABASE_URL" | grep -v '^\\\(un\)\?restrict')
	bk_dropdb harness_fresh
}

@test "gen.sql: awkward values are there and read back exactly" {
	[ "$(bk_psql -c 'SELECT "ticketCount" FROM "Winner" WHERE "raffleId" = '"'cawkward00000000000000000a'")" = 9007199254740993 ]
	[ "$(bk_psql -c "SELECT \"telegramUserId\" FROM \"WalletUser\" WHERE \"telegramUsername\" = 'Zoë 🎉'")" = 9007199254740993 ]
	[ "$(bk_psql -c "SELECT count(*) FROM \"WalletUser\" WHERE \"telegramUsername\" = '日本語'")" = 1 ]
	[ "$(bk_psql -c "SELECT max(\"telegramUserId\") FROM \"NotificationPreference\"")" = 9223372036854775807 ]
	# TEXT[]: empty array, an empty element, awkward elements, 'NULL' vs NULL, NULL array
	[ "$(bk_psql -c "SELECT count(*) FROM \"ScheduledNotification\" WHERE \"targetUserIds\" = '{}'")" -ge 1 ]
	[ "$(bk_psql -c "SELECT count(*) FROM \"ScheduledNotification\" WHERE \"targetUserIds\" = ARRAY['']")" = 1 ]
	[ "$(bk_psql -c "SELECT count(*) FROM \"ScheduledNotification\" WHERE 'c,d' = ANY(\"targetUserIds\") AND '{e}' = ANY(\"targetUserIds\") AND 'f\\g' = ANY(\"targetUserIds\")")" = 1 ]
	[ "$(bk_psql -c "SELECT \"targetUserIds\"[1] = 'NULL' AND \"targetUserIds\"[2] IS NULL FROM \"ScheduledNotification\" WHERE 'NULL' = ANY(\"targetUserIds\")")" = t ]
	[ "$(bk_psql -c 'SELECT count(*) FROM "ScheduledNotification" WHERE "targetUserIds" IS NULL')" = 1 ]
	# text with quotes, backslashes, tabs, CR, LF; '\N' and '\.' as text
	[ "$(bk_psql -c "SELECT count(*) FROM \"Raffle\" WHERE \"prizeType\" LIKE E'%\\r\\n%' AND dex = E'tab\\there' AND ca LIKE '%\"%''%\\\\%'")" = 1 ]
	[ "$(bk_psql -c "SELECT \"mediaUrl\" || ' ' || \"mediaType\" FROM \"Raffle\" WHERE id = 'cawkward00000000000000000a'")" = '\N \.' ]
	[ "$(bk_psql -c "SELECT \"minimumPurchase\" = '' FROM \"Raffle\" WHERE id = 'cawkward00000000000000000a'")" = t ]
	# doubles, timestamps at .000 and .999
	[ "$(bk_psql -c "SELECT \"averageTicketsPerUser\" || ' ' || \"participationRate\" || ' ' || \"durationHours\" FROM \"RaffleAnalytics\" WHERE id = 'cawkward0000000000000000ra'")" = "0.1 1e-07 123456.789" ]
	[ "$(bk_psql -c "SELECT count(*) FROM \"RaffleAnalytics\" WHERE \"averageTicketsPerUser\" < 0")" = 1 ]
	[ "$(bk_psql -c "SELECT to_char(\"startTime\", 'HH24:MI:SS.MS') || ' ' || to_char(\"endTime\", 'HH24:MI:SS.MS') FROM \"Raffle\" WHERE id = 'cawkward00000000000000000a'")" = "00:00:00.000 23:59:59.999" ]
	# every timestamp has at most millisecond precision
	[ "$(bk_psql -c 'SELECT count(*) FROM "Ticket" WHERE date_trunc($$milliseconds$$, "createdAt") <> "createdAt"')" = 0 ]
	# the big text value
	[ "$(bk_psql -c 'SELECT max(length("newValue")) FROM "AuditLog"')" = 330000 ]
}

@test "gen.sql: UserActivity has rows older and younger than 90 days" {
	local old young
	old=$(bk_psql -c "SELECT count(*) FROM \"UserActivity\" WHERE \"timestamp\" < (now() AT TIME ZONE 'UTC') - interval '90 days'")
	young=$(bk_psql -c "SELECT count(*) FROM \"UserActivity\" WHERE \"timestamp\" >= (now() AT TIME ZONE 'UTC') - interval '90 days'")
	[ "$old" -gt 100 ]
	[ "$young" -gt 100 ]
	[ $((old + young)) -eq 1004 ]
	[ "$(bk_psql -c "SELECT min(\"timestamp\") > (now() AT TIME ZONE 'UTC') - interval '201 days' FROM \"UserActivity\"")" = t ]
}

@test "gen.sql: raffles ended with a winner, ended without one, and running" {
	local q="SELECT count(*) FROM \"Raffle\" r WHERE"
	local ended="r.\"endTime\" < now() AT TIME ZONE 'UTC'"
	local won="EXISTS (SELECT 1 FROM \"Winner\" w WHERE w.\"raffleId\" = r.id)"
	[ "$(bk_psql -c "$q $ended AND $won")" -ge 1 ]
	[ "$(bk_psql -c "$q $ended AND NOT $won")" -ge 1 ]
	[ "$(bk_psql -c "$q NOT ($ended) AND r.status = 'active'")" -ge 1 ]
	[ "$(bk_psql -c "$q NOT ($ended) AND $won")" = 0 ]
	# every raffle of the three kinds has tickets and buy events
	[ "$(bk_psql -c "$q NOT EXISTS (SELECT 1 FROM \"Ticket\" t WHERE t.\"raffleId\" = r.id)")" = 0 ]
}

@test "gen.sql: deterministic with -v anchor, scale 1000 by default; bk_pgdump_data compares" {
	local a b
	a=$(bk_createdb harness_a --schema)
	b=$(bk_createdb harness_b --schema)
	psql -X -q -v ON_ERROR_STOP=1 -v anchor='2024-06-01 12:00:00' -d "$a" -f "$BK_FIXTURES/gen.sql"
	# same rows inserted in another order must compare equal: reverse one table
	psql -X -q -v ON_ERROR_STOP=1 -v anchor='2024-06-01 12:00:00' -d "$b" -f "$BK_FIXTURES/gen.sql"
	[ "$(bk_count Ticket harness_a)" = 1000 ]
	DATABASE_URL=$b bk_psql -c 'CREATE TEMP TABLE t AS SELECT * FROM "UserActivity" ORDER BY id DESC;
	                            DELETE FROM "UserActivity"; INSERT INTO "UserActivity" SELECT * FROM t'
	diff <(bk_pgdump_data "$a") <(bk_pgdump_data "$b")
	[ "$(bk_pgdump_data "$a" | grep -c 'cawkward0000000000000000wn')" = 1 ]
	# and a one-character change shows
	DATABASE_URL=$b bk_psql -c "UPDATE \"Ticket\" SET \"ticketCount\" = \"ticketCount\" + 1 WHERE id = 'cawkward0000000000000000t3'"
	run diff <(bk_pgdump_data "$a") <(bk_pgdump_data "$b")
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 4 ]
	bk_dropdb harness_a
	bk_dropdb harness_b
}

@test "harness: bk_pg_stop / bk_pg_start" {
	bk_pg_stop
	run bk_psql -c 'SELECT 1'
	[ "$status" -ne 0 ]
	bk_pg_stop # already down: fine
	bk_pg_start
	[ "$(bk_count Ticket)" = 2000 ]
}

@test "harness: bk_redis_stop / bk_redis_start keep the port" {
	local port=$REDIS_PORT
	bk_redis set conversation:1:2 hello >/dev/null
	bk_redis_stop
	run bk_redis ping
	[ "$output" != PONG ]
	bk_redis_stop # already down: fine
	bk_redis_start
	[ "$REDIS_PORT" = "$port" ]
	[ "$(bk_redis ping)" = PONG ]
	[ "$(bk_redis dbsize)" = 0 ] # no persistence
}

@test "fixtures: the original-format backups load into the schema" {
	local full raffle
	full=$(bk_createdb harness_ts_full --schema)
	raffle=$(bk_createdb harness_ts_raffle --schema)
	bk_load_ts_json "$BK_FIXTURES/ts_full_backup.json" "$full"
	bk_load_ts_json "$BK_FIXTURES/ts_raffle_backup.json" "$raffle"
	[ "$(bk_count Raffle "$full")" = 2 ]
	[ "$(bk_count Ticket "$full")" = 5 ]
	[ "$(bk_count BuyEvent "$full")" = 4 ]
	[ "$(bk_count DexDailyStats "$full")" = 3 ] # top level only, not dexStats too
	[ "$(DATABASE_URL=$full bk_psql -c 'SELECT "telegramUserId" FROM "WalletUser" WHERE "telegramUsername" IS NOT NULL')" = 9007199254740993 ]
	[ "$(DATABASE_URL=$full bk_psql -c 'SELECT "targetUserIds"[1] FROM "ScheduledNotification" WHERE "raffleId" IS NOT NULL')" = 9007199254740993 ]
	[ "$(bk_count Raffle "$raffle")" = 1 ]
	[ "$(bk_count Ticket "$raffle")" = 3 ]
	[ "$(bk_count Winner "$raffle")" = 1 ]
	[ "$(bk_count RaffleAnalytics "$raffle")" = 1 ]
	# the older raffle backup lacks columns: they take their defaults
	[ "$(DATABASE_URL=$raffle bk_psql -c 'SELECT "randomnessType" FROM "Raffle"')" = client-side ]
	[ "$(DATABASE_URL=$raffle bk_psql -c 'SELECT "selectionMethod" FROM "Winner"')" = weighted-random ]
	# both describe the same raffle the same way
	[ "$(DATABASE_URL=$full bk_psql -c 'SELECT t FROM "Ticket" t WHERE "raffleId" = $$clpmz0a1b0000qw8r5t6y7u8i$$ ORDER BY id')" = \
		"$(DATABASE_URL=$raffle bk_psql -c 'SELECT t FROM "Ticket" t ORDER BY id')" ]
	bk_dropdb harness_ts_full
	bk_dropdb harness_ts_raffle
}

@test "harness: bk_stop_servers removes everything, also with a server already down" {
	local out dir pgpid redispid
	out=$(
		bk_start_servers >&2 || exit 1
		echo "$BK_TMP $(head -n 1 "$BK_TMP/pg/postmaster.pid") $(cat "$BK_TMP/redis/redis.pid")"
		bk_redis_stop >&2
		bk_stop_servers
		bk_stop_servers # twice: still fine
	)
	read -r dir pgpid redispid <<<"$out"
	[ -n "$dir" ]
	[ ! -e "$dir" ]
	run bk_alive "$pgpid"
	[ "$status" -ne 0 ]
	run bk_alive "$redispid"
	[ "$status" -ne 0 ]
	# ours are still up
	[ "$(bk_redis ping)" = PONG ]
	[ "$(bk_psql -c 'SELECT 1')" = 1 ]
}
