#!/usr/bin/env bats
# The disaster recovery runbook, followed as written: the fenced blocks of
# README.md marked <!-- runbook:NAME --> are extracted and run, command for
# command, against the test servers holding the 10,000-ticket database.
#
# What stands in for the machine:
# - /var/lib/bk is a directory under $BK_TMP, owned by the unprivileged user
#   the harness runs PostgreSQL as (bktest, when the tests run as root);
# - `sudo -u bk CMD` runs CMD as that user with the environment emptied as
#   sudo empties it (the tools find their configuration in .env), but for
#   PGHOST/PGPORT, which stand for localhost:5432 (the test server listens
#   on a unix socket only); `sudo -u postgres CMD` runs it as the
#   database's superuser; `sudo CMD` runs CMD as root;
# - /tmp/bk-offsite holds the copies of the backups made "elsewhere".
# Each case prints the wall time its block took (no limit is asserted).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_start_servers
	export BKUSER=bktest BKGROUP
	[[ $EUID -eq 0 ]] || BKUSER=$(id -un)
	BKGROUP=$(id -gn "$BKUSER")
	export W=$BK_TMP/var-lib-bk OFFSITE=$BK_TMP/offsite
	export BOT_URL="postgresql://bot@/raffle?host=$PGHOST&port=$PGPORT"
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "CREATE ROLE bot LOGIN PASSWORD 'secret'" -c 'CREATE DATABASE raffle OWNER bot'
	bk_load_schema "$BOT_URL"
	bk_load_data 10000 "$BOT_URL"
	bk_redis set conversation:1001:2002 '{"step":"wallet"}' >/dev/null
	bk_redis set conversation:1003:2004 '{"step":"amount"}' >/dev/null
	make_home
	# The backups as cron takes them: a full one, then two raffle backups
	# of raffles changed since (the raffle-end job), one of them twice.
	as_bk env -C "$W" bk-dump >/dev/null
	local r1 r2
	r1=$(sql "$BOT_URL" 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	r2=$(sql "$BOT_URL" 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1 OFFSET 1')
	sql "$BOT_URL" "UPDATE \"Raffle\" SET \"prizeAmount\" = 'after the full backup' WHERE id = '$r1'"
	as_bk env -C "$W" bk-raffle "$r1" >/dev/null
	sql "$BOT_URL" "UPDATE \"Ticket\" SET \"ticketCount\" = \"ticketCount\" + 7 WHERE \"raffleId\" = '$r2'"
	as_bk env -C "$W" bk-raffle "$r2" >/dev/null
	sql "$BOT_URL" "UPDATE \"Raffle\" SET \"prizeAmount\" = 'later still' WHERE id = '$r1'"
	as_bk env -C "$W" bk-raffle "$r1" >/dev/null
	# what must come back, and the copies kept elsewhere
	bk_pgdump_data "$BOT_URL" >"$BK_TMP/expected.sql"
	bk_redis --raw mget conversation:1001:2002 conversation:1003:2004 >"$BK_TMP/expected.redis"
	mkdir -p "$OFFSITE"
	install -d -m 1777 "$BK_TMP/tmp" # stands for /tmp
	cp -p "$W"/backups/*.json "$W"/backups/*.sha256 "$OFFSITE"/
}

teardown_file() {
	bk_stop_servers
}

sql() { "$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# bk's home as the setup of case B makes it: 0700, its .env, backups/.
make_home() {
	install -d -m 0700 -o "$BKUSER" -g "$BKGROUP" "$W" "$W/backups"
	cat >"$W/.env" <<EOF
# Prisma's URL, as the bot has it
DATABASE_URL="postgresql://bot:secret@/raffle?schema=public"
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
BK_ACTIVITY_DAYS=100000
EOF
	chown "$BKUSER:$BKGROUP" "$W/.env"
	chmod 0600 "$W/.env"
}

# as_bk CMD...: CMD as the user bk, with sudo's emptied environment.
as_bk() {
	local env=(env -i "PATH=$BK_BIN_DIR:$BK_REPO/scripts:$BK_PG_BIN:/usr/local/bin:/usr/bin:/bin"
		"HOME=$W" TZ=UTC "PGHOST=$PGHOST" "PGPORT=$PGPORT" LC_ALL=C.UTF-8)
	# the sanitizer builds' settings (make check-asan) pass through
	local v
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS BK_SANITIZED; do
		[[ -n ${!v:-} ]] && env+=("$v=${!v}")
	done
	if [[ $EUID -eq 0 ]]; then
		runuser -u "$BKUSER" -- "${env[@]}" "$@"
	else
		"${env[@]}" "$@"
	fi
}
export -f as_bk

# runbook NAME: the README's block marked <!-- runbook:NAME -->, its
# indentation removed, with this machine's paths.
runbook() {
	awk -v want="<!-- runbook:$1 -->" '
		index($0, want) { found = 1; next }
		found && !inb && /^[[:space:]]*```/ { inb = 1; match($0, /^[[:space:]]*/); ind = RLENGTH; next }
		inb && /^[[:space:]]*```/ { exit }
		inb { print substr($0, ind + 1) }
	' "$BK_REPO/README.md" |
		sed -e "s|/var/lib/bk|$W|g" -e "s|/tmp/bk-offsite|$OFFSITE|g" \
			-e "s|/tmp/schema.json|$BK_TMP/tmp/schema.json|g" \
			-e "s|-o bk -g bk|-o $BKUSER -g $BKGROUP|g"
}

# The sudo of the block: -u bk, -u postgres, or root.
PRELUDE='
set -eo pipefail
sudo() {
	local user=root
	if [[ $1 == -u ]]; then user=$2; shift 2; fi
	case $user in
	bk) as_bk "$@" ;;
	postgres)
		if [[ $EUID -eq 0 ]]; then
			runuser -u "$BKUSER" -- env PGUSER=bk PGDATABASE=postgres "$@"
		else
			env PGUSER=bk PGDATABASE=postgres "$@"
		fi ;;
	root) "$@" ;;
	*) echo "runbook: sudo -u $user: no such user here" >&2; return 1 ;;
	esac
}
set -x
'

# run_block NAME [STDIN]: runs the block in a new session (no terminal, as
# a pasted block is not asked anything but what STDIN answers); its output
# in $output, its wall time in $elapsed (seconds).
run_block() {
	local script=$BK_TMP/runbook-$1.sh start end
	{
		printf '%s\n' "$PRELUDE"
		runbook "$1"
	} >"$script"
	[[ $(runbook "$1" | grep -c .) -gt 3 ]] || {
		echo "README.md has no runbook:$1 block" >&2
		return 1
	}
	start=$(date +%s.%N)
	run --separate-stderr setsid --wait bash "$script" < <(printf '%s' "${2:-}")
	end=$(date +%s.%N)
	elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	echo "---- output"
	echo "$output"
	echo "---- stderr"
	echo "$stderr"
}

# Whatever the case, the same checks: everything back, nothing root's.
check_back() {
	[ "$status" -eq 0 ]
	[[ $output == *"every table's rows are in the database"* ]]
	# the loss in hours and minutes; the three later raffle backups applied
	[[ $output =~ The\ full\ backup\ is\ [0-9]+\ h\ [0-9]{2}\ min\ old:\ changes\ made\ after\ 20 ]]
	[ "$(grep -c ': applied$' <<<"$output")" -eq 3 ]
	[[ $output == *'"state":"ok"'* ]]
	[[ $output != *NOTICE* && $stderr != *NOTICE* ]]
	bk_pgdump_data "$BOT_URL" >"$BK_TMP/after.sql"
	diff "$BK_TMP/expected.sql" "$BK_TMP/after.sql"
	diff "$BK_TMP/expected.redis" <(bk_redis --raw mget conversation:1001:2002 conversation:1003:2004)
	# every file bk's jobs will meet is bk's
	[ -z "$(find "$W" ! -user "$BKUSER")" ]
}

@test "runbook A, only the database is lost: the README's block brings it back whole" {
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'DROP DATABASE raffle WITH (FORCE)'
	bk_redis flushdb >/dev/null
	run_block database-lost
	check_back
	echo "# runbook A (database lost, 10,000 tickets): ${elapsed} s" >&3
	# the dry run changed nothing: the schema came with the real run
	[[ $output == *"would create them from the backup's own DDL (dry run: not done)"* ]]
}

@test "runbook A: run again on the recovered database, every command still works (nothing to create)" {
	run_block database-lost
	[ "$status" -eq 0 ]
	[[ $output == *"every table's rows are in the database"* ]]
	bk_pgdump_data "$BOT_URL" | diff "$BK_TMP/expected.sql" -
}

@test "runbook B, the whole machine is lost: backups copied in, role and database made, all back" {
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'DROP DATABASE raffle WITH (FORCE)' -c 'DROP ROLE bot'
	bk_redis flushdb >/dev/null
	rm -rf "$W"
	make_home
	run_block machine-lost $'secret\nsecret\n'
	check_back
	echo "# runbook B (machine lost, 10,000 tickets): ${elapsed} s" >&3
	[[ $output == *"every checksum OK"* ]]
	[[ $output != *FAILED* ]]
}

@test "runbook by hand: the schema from the backup's DDL through psql with Prisma's URL" {
	"$BK_PG_BIN/psql" -X -q -d postgres -c 'DROP DATABASE raffle WITH (FORCE)'
	export DATABASE_URL='postgresql://bot:secret@/raffle?schema=public'
	run_block by-hand-schema
	[ "$status" -eq 0 ]
	[[ $stderr != *"invalid URI query parameter"* ]]
	[ "$(sql "$BOT_URL" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" -ge 13 ]
	# and the troubleshooting line's psql takes the same URL
	run psql "${DATABASE_URL%%\?*}" -c 'select 1'
	[ "$status" -eq 0 ]
	grep -Fq "psql \"\${DATABASE_URL%%\\?*}\" -c 'select 1'" "$BK_REPO/README.md"
}

@test "runbook: every bk command of the runbook runs as bk; every checksum check runs where the .sha256 names its file" {
	local name line bad=()
	for name in database-lost machine-lost by-hand-schema; do
		while IFS= read -r line; do
			[[ $line == '#'* ]] && continue
			# a bk tool named outside sudo -u bk would leave root's files behind
			if [[ $line =~ (^|[|&;[:space:]])(bk-[a-z]+|tg-[a-z]+)([[:space:]]|$) && $line != *'sudo -u bk '* ]]; then
				bad+=("$name: $line")
			fi
		done < <(runbook "$name")
	done
	printf 'not as bk: %s\n' "${bad[@]}"
	[ "${#bad[@]}" -eq 0 ]
	# sha256sum -c is given bare names: run from the directory (cd, env -C)
	run grep -nE 'sha256sum (--quiet )?-c [^|]*/' "$BK_REPO/README.md"
	echo "$output"
	[ "$status" -eq 1 ]
}
