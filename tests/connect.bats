#!/usr/bin/env bats
# DATABASE_URL as operators write it: Prisma's URLs, a database or user that
# is missing, a URL that is malformed. Each is named for what it is.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 50
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -p "$BACKUP_DIR"
}

# url DB [USER] [QUERY]: the test server's URL for DB as USER.
url() {
	printf 'postgresql://%s@/%s?host=%s&port=%s%s' "${2:-bk}" "$1" "$PGHOST" "$PGPORT" "${3:-}"
}

@test "a missing database is named as such, with the command that creates it (69)" {
	run --separate-stderr env DATABASE_URL="$(url raffle)" timeout 30 bk-dump --no-redis
	[ "$status" -eq 69 ]
	[ "$stderr" = "bk-dump: database raffle does not exist on $PGHOST:$PGPORT; create it (sudo -u postgres createdb -O bk raffle) or fix DATABASE_URL" ]
	run --separate-stderr env DATABASE_URL="$(url raffle)" timeout 30 bk-raffle --ended
	[ "$status" -eq 69 ]
	[[ $stderr == *"database raffle does not exist on $PGHOST:$PGPORT"* ]]
	[ -z "$(ls -A "$BACKUP_DIR" | grep -v '^\.bk\.lock$')" ]
}

@test "a missing user is named as such (69)" {
	run --separate-stderr env DATABASE_URL="$(url bk nobody)" timeout 30 bk-dump --no-redis
	[ "$status" -eq 69 ]
	[ "$stderr" = "bk-dump: user nobody does not exist on $PGHOST:$PGPORT; create it (sudo -u postgres createuser -P nobody) or fix DATABASE_URL" ]
}

@test "a server that does not answer keeps its own message (69)" {
	run --separate-stderr env DATABASE_URL="postgresql://bk@/bk?host=$BK_TMP/nosock&port=1" timeout 30 bk-dump --no-redis
	[ "$status" -eq 69 ]
	[[ $stderr == "bk-dump: cannot connect to the database: "* ]]
}

@test "a malformed DATABASE_URL is a configuration error (64), its password never shown" {
	local u
	for u in 'postgres://bot:pa@ss@localhost/db' 'postgresql://bot:s3cret@localhost:abc/db' \
		'postgres://bot:s3cret@localhost/db?sslmode=bogus' 'mysql://bot:s3cret@localhost/db' \
		'postgres://bot:s3cret@[::1/db' 'postgres://bot:s3cret@localhost/db?nosuch=1'; do
		run --separate-stderr env DATABASE_URL="$u" timeout 30 bk-dump --no-redis
		echo "$u: $status $stderr" >&2
		[ "$status" -eq 64 ]
		[[ $stderr == *"DATABASE_URL is malformed"* ]]
		[[ $stderr != *s3cret* && $stderr != *"pa@ss"* ]]
	done
}

@test "Prisma's URLs: ?schema=public and its pool parameters work in every tool" {
	local u
	u=$(url bk bk '&schema=public&connection_limit=5&pool_timeout=10&pgbouncer=true')
	run --separate-stderr env DATABASE_URL="$u" timeout 60 bk-dump --no-redis
	[ "$status" -eq 0 ]
	local id
	id=$(jq -r .id <<<"$output")
	run --separate-stderr env DATABASE_URL="$u" timeout 60 bk-raffle --ended
	[ "$status" -eq 0 ]
	run --separate-stderr env DATABASE_URL="$u" timeout 60 bk-restore --dry-run "$id"
	[ "$status" -eq 0 ]
	run --separate-stderr env DATABASE_URL="$u" timeout 60 bk-restore --yes "$id"
	[ "$status" -eq 0 ]
}

@test "?schema=NAME is honoured; a schema that does not exist is refused, not shown empty" {
	bk_psql -c 'CREATE SCHEMA other; CREATE TABLE other."Thing" (id int PRIMARY KEY); INSERT INTO other."Thing" VALUES (7)'
	run --separate-stderr env DATABASE_URL="$(url bk bk '&schema=other')" timeout 60 bk-dump --no-redis
	[ "$status" -eq 0 ]
	local path
	path=$(jq -r .path <<<"$output")
	jq -e '.data.things == [{"id": 7}] and (.data | has("tickets") | not)' "$path"
	run --separate-stderr env DATABASE_URL="$(url bk bk '&schema=nosuch')" timeout 60 bk-dump --no-redis
	[ "$status" -eq 69 ]
	[ "$stderr" = "bk-dump: schema nosuch (?schema= of DATABASE_URL) does not exist in database bk; create it (bk-recover does) or fix DATABASE_URL" ]
	bk_psql -c 'DROP SCHEMA other CASCADE'
}

@test "psql takes Prisma's URL with its query cut off, as the README says" {
	local DATABASE_URL
	DATABASE_URL="postgresql://bk@/bk?schema=public" # the socket: PGHOST, PGPORT
	run "$BK_PG_BIN/psql" "$DATABASE_URL" -c 'SELECT 1'
	[ "$status" -ne 0 ]
	[[ $output == *"invalid URI query parameter"* ]]
	run "$BK_PG_BIN/psql" -X -A -t "${DATABASE_URL%%\?*}" -c 'SELECT 1'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
}

# hba_reload: has the server reread pg_hba.conf; waits until user pw's
# login without a password is as wanted ("fails" or "works").
hba_reload() {
	_bk_as_pg "$BK_PG_BIN/pg_ctl" -D "$BK_TMP/pg" reload >/dev/null
	local i
	for ((i = 0; i < 300; i++)); do
		if PGPASSFILE=$BK_TMP/no-pgpass "$BK_PG_BIN/psql" -X -q -d "$(url bk pw)" -c 'SELECT 1' >/dev/null 2>&1; then
			[ "$1" = works ] && return 0
		else
			[ "$1" = fails ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

@test "a refused or missing password is named as such (69), the password never shown" {
	bk_psql -c "DROP ROLE IF EXISTS pw; CREATE ROLE pw LOGIN PASSWORD 'right-one'"
	local hba=$BK_TMP/pg/pg_hba.conf
	cp "$hba" "$BK_TMP/pg_hba.orig"
	{ echo 'local all pw scram-sha-256'; cat "$BK_TMP/pg_hba.orig"; } >"$hba"
	hba_reload fails
	run --separate-stderr env DATABASE_URL="$(url bk pw:wr0ng-s3cret)" PGPASSFILE=$BK_TMP/no-pgpass timeout 30 bk-dump --no-redis
	local st=$status err=$stderr
	run --separate-stderr env DATABASE_URL="$(url bk pw)" PGPASSFILE=$BK_TMP/no-pgpass timeout 30 bk-dump --no-redis
	cp "$BK_TMP/pg_hba.orig" "$hba"
	hba_reload works
	[ "$st" -eq 69 ]
	[ "$err" = "bk-dump: $PGHOST:$PGPORT refuses the password of user pw; fix the password in DATABASE_URL (percent-encoded), or reset it (ALTER ROLE ... PASSWORD)" ]
	[ "$status" -eq 69 ]
	[ "$stderr" = "bk-dump: $PGHOST:$PGPORT asks a password of user pw; put it in DATABASE_URL" ]
}
