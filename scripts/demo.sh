#!/usr/bin/env bash
# demo.sh: bk's first hour in one command (what `make demo` runs). Starts a
# throwaway PostgreSQL and Redis under ./.demo/, fills them with sample data,
# backs them up, lists and verifies the backups, restores into a second
# database and compares the row counts. Never touches another server: the
# environment's DATABASE_URL, REDIS_URL, ... are overridden.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=$REPO/.demo
SCALE=${BK_DEMO_SCALE:-2000}

usage() {
	cat <<'EOF'
usage: scripts/demo.sh [start]     install what is missing, build, run the demo
       scripts/demo.sh stop        stop the demo's PostgreSQL and Redis
       scripts/demo.sh clean       stop them and delete ./.demo
       scripts/demo.sh -h | --help

The servers and the backups live in ./.demo/ (PostgreSQL on a unix socket
there, Redis on a random loopback port); ./.demo/demo.env holds their
settings, so that you can go on by hand:

  BK_ENV_FILE=.demo/demo.env bin/bk-list --table

As root, PostgreSQL runs as the unprivileged user bktest (created if
missing). BK_DEMO_SCALE sets the sample size (default 2000 tickets).
EOF
}

# Bold headings on a terminal only: no escape codes in a file or a pipe.
if [[ -t 1 ]]; then
	say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
	say() { printf '\n==> %s\n' "$*"; }
fi
note() { printf '    %s\n' "$*"; }
warn() { printf 'demo: %s\n' "$*" >&2; }
indent() { sed 's/^/    /'; }
SKIPPED=()
DONE=()
did() { DONE+=("$*"); }
skip_step() {
	note "SKIPPED: $*"
	SKIPPED+=("$*")
}
have() { [[ -x $REPO/bin/$1 ]]; }

# The state file: KEY=value lines written by start, read by stop.
read_state() {
	local key value
	[[ -f $DEMO/servers ]] || return 1
	while IFS='=' read -r key value; do
		case $key in
		SRV_DIR | PG_BIN | PG_PORT | REDIS_PORT | PG_USER) printf -v "$key" '%s' "$value" ;;
		esac
	done <"$DEMO/servers"
}

demo_stop() {
	local SRV_DIR='' PG_BIN='' PG_PORT='' REDIS_PORT='' PG_USER=''
	if ! read_state; then
		echo "demo: no demo servers recorded in $DEMO"
		return 0
	fi
	if [[ -f $SRV_DIR/pg/postmaster.pid ]]; then
		if [[ $PG_USER != "$(id -un)" ]]; then
			(cd / && runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$SRV_DIR/pg" -m fast -w stop) >/dev/null 2>&1 || true
		else
			"$PG_BIN/pg_ctl" -D "$SRV_DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
		fi
		echo "demo: PostgreSQL stopped"
	fi
	if [[ -n $REDIS_PORT ]] && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1; then
		echo "demo: Redis stopped"
	fi
	rm -f "$DEMO/servers"
}

demo_clean() {
	# shellcheck disable=SC2034 # read_state sets them all
	local SRV_DIR='' PG_BIN='' PG_PORT='' REDIS_PORT='' PG_USER=''
	read_state || true
	demo_stop
	case $SRV_DIR in
	/tmp/bk-demo.*) rm -rf "$SRV_DIR" ;;
	esac
	rm -rf "$DEMO"
	echo "demo: removed $DEMO"
}

# demo_retention FULL_ID [RAFFLE_ID]: a history of full backups over a year,
# copies of FULL_ID re-dated (id, timestamp, checksum), in $DEMO/retention,
# and what bk-clean's rules would keep of it. Nothing is deleted.
demo_retention() {
	local src hist=$DEMO/retention h ms ts id
	src=$(jq -r .path "$DEMO/dump.json")
	rm -rf "$hist"
	mkdir -p "$hist"
	cp -- "$src" "$src.sha256" "$hist/"
	if [[ -n ${2:-} ]]; then
		cp -- "$BACKUP_DIR/$2.json" "$BACKUP_DIR/$2.json.sha256" "$hist/"
	fi
	# hours ago: this hour's neighbours, the last days, weeks, months, a year
	for h in 1 2 3 4 30 36 54 78 102 240 408 960 1680 2400 9000; do
		ms=$(($(date +%s%3N) - h * 3600 * 1000))
		ts=$(date -u -d "@$((ms / 1000)).$(printf %03d $((ms % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ)
		id=full_$ms
		sed -E "1s/\"id\":\"$1\"/\"id\":\"$id\"/; 1s/\"timestamp\":\"[^\"]+\"/\"timestamp\":\"$ts\"/" \
			"$src" >"$hist/$id.json"
		(cd "$hist" && sha256sum "$id.json" >"$id.json.sha256")
	done
	note "a simulated history in .demo/retention: $1 copied and re-dated back over a year"
	note "\$ BACKUP_DIR=.demo/retention bk-clean --dry-run --keep-hourly 3 --keep-daily 3 --keep-weekly 2 --keep-monthly 3 1"
	note "(the crontab's daily cleanup keeps 24 hours, 7 days, 4 weeks, 6 months, and BACKUP_RETENTION_DAYS;"
	note " fewer here to fit a short history; 1: the age rule keeps the last day)"
	if ! BACKUP_DIR=$hist bk-clean --dry-run --keep-hourly 3 --keep-daily 3 --keep-weekly 2 \
		--keep-monthly 3 1 2>&1 >"$DEMO/clean.json" | indent; then
		warn "bk-clean --dry-run failed (above)"
		return 1
	fi
	jq -r '"\(.backups | map(select(.keep != [])) | length) kept, \(.deleted | length) would go; nothing was removed (a dry run)"' \
		"$DEMO/clean.json" | indent
}

demo_start() {
	cd "$REPO"
	say "1. Packages"
	if ! "$REPO/scripts/install-deps.sh"; then
		warn "some packages are missing (see above): the steps that need them will fail or be skipped"
	fi

	say "2. Build (make all)"
	if command -v make >/dev/null 2>&1 && command -v cc >/dev/null 2>&1; then
		if ! make -s --no-print-directory -C "$REPO" all 2>&1 | indent; then
			warn "the build failed: going on with whatever is in bin/"
		fi
	else
		skip_step "build: make or cc is missing"
	fi
	local built=() t
	for t in bk-dump bk-raffle bk-list bk-verify bk-export bk-restore bk-drill bk-clean tg-notify tg-relay; do
		have "$t" && built+=("$t")
	done
	note "built: ${built[*]:-nothing}"

	say "3. Throwaway PostgreSQL and Redis under $DEMO"
	if [[ -f $DEMO/servers ]]; then
		note "stopping the previous demo's servers"
		demo_clean | indent
	fi
	rm -rf "$DEMO"
	mkdir -p "$DEMO"
	chmod 0755 "$DEMO"

	# tests/helpers.bash starts servers for the tests; the demo reuses it.
	[[ -r $REPO/tests/helpers.bash ]] || {
		warn "tests/helpers.bash is missing: the demo starts its servers with it"
		exit 66
	}
	# shellcheck source=/dev/null
	source "$REPO/tests/helpers.bash"
	export TZ=UTC
	BK_PG_BIN=$(_bk_find_pg_bin) || {
		warn "PostgreSQL's server programs (initdb, pg_ctl) are missing: run scripts/install-deps.sh as root"
		exit 69
	}
	command -v redis-server >/dev/null 2>&1 || {
		warn "redis-server is missing: run scripts/install-deps.sh as root"
		exit 69
	}
	export BK_PG_BIN
	_bk_ensure_pg_user || {
		warn "cannot create the user bktest to run PostgreSQL"
		exit 71
	}
	local pg_user
	pg_user=$(id -un)
	[[ $EUID -eq 0 ]] && pg_user=bktest

	# The servers' directory: ./.demo itself if PostgreSQL's user can reach
	# it and its socket path is short enough, else one in /tmp.
	BK_TMP=$DEMO
	if ((${#DEMO} > 80)) ||
		{ [[ $EUID -eq 0 ]] && ! runuser -u bktest -- test -x "$DEMO/." 2>/dev/null; }; then
		BK_TMP=$(mktemp -d /tmp/bk-demo.XXXXXX)
		chmod 0755 "$BK_TMP"
		note "(PostgreSQL's files are in $BK_TMP: $pg_user cannot reach $DEMO or the path is too long for a socket)"
	fi
	bk_start_servers "$BK_TMP" || exit 69
	: "${PGPORT:?}" "${PGHOST:?}" "${REDIS_PORT:?}"	# set by bk_start_servers
	cat >"$DEMO/servers" <<EOF
SRV_DIR=$BK_TMP
PG_BIN=$BK_PG_BIN
PG_PORT=$PGPORT
REDIS_PORT=$REDIS_PORT
PG_USER=$pg_user
EOF
	note "PostgreSQL $("$BK_PG_BIN/postgres" --version | awk '{print $3}') on $PGHOST (port $PGPORT), running as $pg_user"
	note "Redis $(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/') on 127.0.0.1:$REDIS_PORT"

	# Every tool reads these; the environment wins over any .env, so the
	# demo cannot reach a real database whatever the shell has exported.
	DATABASE_URL="postgresql://bk@/bk?host=$PGHOST&port=$PGPORT"
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
	BACKUP_DIR=$DEMO/backups
	BK_LOG_DIR=$DEMO/logs
	BK_ENV_FILE=$DEMO/demo.env
	export DATABASE_URL REDIS_URL BACKUP_DIR BK_LOG_DIR BK_ENV_FILE
	unset TELEGRAM_BOT_TOKEN TELEGRAM_NOTIFY_CHAT_IDS TELEGRAM_ADMIN_IDS TELEGRAM_API_URL
	cat >"$DEMO/demo.env" <<EOF
# Written by scripts/demo.sh: the demo's servers. Use with
#   BK_ENV_FILE=.demo/demo.env bin/bk-list --table
DATABASE_URL="$DATABASE_URL"
REDIS_URL=$REDIS_URL
BACKUP_DIR=$BACKUP_DIR
BK_LOG_DIR=$BK_LOG_DIR
EOF
	PATH=$REPO/bin:$REPO/scripts:$BK_PG_BIN:$PATH

	say "4. Schema and sample data"
	bk_load_schema
	bk_load_data "$SCALE"
	note "schema: tests/fixtures/schema.sql (the bot's Prisma tables)"
	note "data: tests/fixtures/gen.sql with scale $SCALE:"
	local table
	while read -r table; do
		printf '    %-24s %8s rows\n' "$table" "$(bk_count "$table")"
	done < <(bk_psql -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public'
		AND tablename <> '_prisma_migrations' ORDER BY tablename")
	bk_redis set 'conversation:1001:5001' '{"step":"awaiting_wallet","raffleId":"demo"}' >/dev/null
	bk_redis set 'conversation:1002:5002' '{"step":"awaiting_amount"}' EX 86400 >/dev/null
	bk_redis set 'conversation:1003:5003' '{"step":"confirm","amount":"1500"}' EX 3600 >/dev/null
	bk_redis set 'unrelated:cache' 'not backed up' >/dev/null
	note "Redis: 3 conversation:* keys (2 with a TTL) and 1 other key"
	did "started a throwaway PostgreSQL and Redis under $DEMO and loaded $SCALE tickets of sample data"

	local full_id='' raffle_id='' rid
	say "5. Full backup: bk-dump"
	if have bk-dump; then
		bk-dump >"$DEMO/dump.json"
		full_id=$(jq -r .id "$DEMO/dump.json")
		jq -r '"id \(.id)\nsize \(.size) bytes\nsha256 \(.sha256)\nredis keys \(.redis.keys // "-")\nfile \(.path)"' "$DEMO/dump.json" | indent
		did "bk-dump took the full backup $full_id"
	else
		skip_step "full backup: bin/bk-dump is not built"
	fi

	say "6. Raffle backup: bk-raffle"
	rid=$(bk_psql -c 'SELECT id FROM "Raffle" WHERE "endTime" < now() ORDER BY "endTime" DESC LIMIT 1')
	if have bk-raffle; then
		note "\$ bk-raffle $rid"
		bk-raffle "$rid" >"$DEMO/raffle.json"
		raffle_id=$(jq -r .id "$DEMO/raffle.json")
		jq -r '"id \(.id)\nsize \(.size) bytes\nfile \(.path)"' "$DEMO/raffle.json" | indent
		did "bk-raffle backed up raffle $rid as $raffle_id"
	else
		skip_step "raffle backup: bin/bk-raffle is not built"
	fi

	say "7. List: bk-list --table"
	if have bk-list; then
		bk-list --table | indent
		did "bk-list listed them"
	else
		skip_step "list: bin/bk-list is not built"
	fi

	say "8. Verify: bk-verify"
	if have bk-verify && [[ -n $full_id$raffle_id ]]; then
		local ids=()
		[[ -n $full_id ]] && ids+=("$full_id")
		[[ -n $raffle_id ]] && ids+=("$raffle_id")
		bk-verify "${ids[@]}" | indent
		note "and with no bk tool at all:"
		(cd "$BACKUP_DIR" && sha256sum -c -- *.sha256) | indent
		did "bk-verify and sha256sum -c checked them"
	else
		skip_step "verify: bin/bk-verify is not built (or there is no backup)"
	fi

	say "9. Restore into a second database (bk_restored, Redis db 1): bk-restore"
	local url2 restored=0
	url2=$(bk_createdb bk_restored --schema)
	if have bk-restore && [[ -n $full_id ]]; then
		note "\$ DATABASE_URL=<bk_restored> REDIS_URL=<db 1> bk-restore $full_id --yes --no-safety-backup"
		DATABASE_URL=$url2 REDIS_URL="redis://127.0.0.1:$REDIS_PORT/1" \
			bk-restore "$full_id" --yes --no-safety-backup >"$DEMO/restore.json"
		jq -c . "$DEMO/restore.json" | indent
		restored=1
	else
		skip_step "restore: bin/bk-restore is not built (or there is no full backup)"
	fi

	if ((restored)); then
		say "10. Row counts: source database, backup, restored database"
		local src inbk dst ok=1 mark
		printf '    %-24s %8s %8s %8s\n' TABLE SOURCE BACKUP RESTORED
		while read -r table; do
			src=$(bk_count "$table")
			inbk=$(jq -r --arg t "$table" '
				(.tables // {} | to_entries[] | select(.value == $t) | .key) as $k
				| .rowCounts[$k] // empty' "$DEMO/dump.json")
			dst=$(bk_count "$table" "$url2")
			if [[ $dst == "$inbk" ]]; then mark=ok; else
				mark=DIFFERENT
				ok=0
			fi
			[[ $table == UserActivity && $src != "$inbk" ]] && mark="$mark (the backup keeps the last ${BK_ACTIVITY_DAYS:-90} days)"
			printf '    %-24s %8s %8s %8s  %s\n' "$table" "$src" "${inbk:--}" "$dst" "$mark"
		done < <(bk_psql -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public'
			AND tablename <> '_prisma_migrations' ORDER BY tablename")
		local k0 k1
		k0=$(bk_redis -n 0 --scan --pattern 'conversation:*' | wc -l)
		k1=$(bk_redis -n 1 --scan --pattern 'conversation:*' | wc -l)
		printf '    %-24s %8s %8s %8s  %s\n' "Redis conversation:*" "$k0" "$(jq -r '.redis.keys // "-"' "$DEMO/dump.json")" "$k1" \
			"$([[ $k0 == "$k1" ]] && echo ok || echo DIFFERENT)"
		[[ $k0 == "$k1" ]] || ok=0
		if ((ok)); then
			note "every restored count matches the backup"
			did "bk-restore restored $full_id into the database bk_restored and Redis db 1: every count matches"
		else
			warn "some counts differ (above)"
			did "bk-restore restored $full_id into bk_restored, but some counts differ"
		fi
	fi

	say "11. Restore drill: bk-drill (a scratch database, created, compared, dropped)"
	if have bk-drill && [[ -n $full_id ]]; then
		note "\$ bk-drill $full_id"
		if bk-drill "$full_id" 2>&1 >"$DEMO/drill.json" | indent; then
			jq -c '{backup, differences, seconds, tables: (.tables | length)}' "$DEMO/drill.json" | indent
			did "bk-drill restored $full_id into a scratch database and found every table's rows and checksum equal"
		else
			warn "the drill failed (above)"
			did "bk-drill found differences in $full_id (above)"
		fi
	else
		skip_step "drill: bin/bk-drill is not built (or there is no full backup)"
	fi

	say "12. CSV export: bk-export (the backup file alone, no database)"
	if have bk-export && [[ -n $full_id ]]; then
		note "\$ bk-export --csv $DEMO/csv $full_id"
		rm -rf "$DEMO/csv"
		if bk-export --csv "$DEMO/csv" "$full_id" >"$DEMO/export.json"; then
			jq -r '.files[] | "\(.file): \(.rows) rows"' "$DEMO/export.json" | indent
			note "the first lines of tickets.csv:"
			head -n 3 "$DEMO/csv/tickets.csv" | tr -d '\r' | cut -c 1-100 | indent
			did "bk-export wrote $full_id's tables as CSV files in $DEMO/csv"
		else
			warn "the export failed (above)"
		fi
	else
		skip_step "CSV export: bin/bk-export is not built (or there is no full backup)"
	fi

	say "13. Monitoring: bk-check"
	if have bk-list; then
		bk-check --no-notify | indent || true
		did "bk-check confirmed a fresh, whole full backup"
	else
		skip_step "bk-check: bin/bk-list is not built"
	fi

	say "14. The schedule: crontab/bk.crontab"
	# the jobs as cron runs them: minute hour day month weekday, the command
	grep -E '^[0-9*]' "$REPO/crontab/bk.crontab" |
		awk -F'\t' '{ c = $3; gsub(/\/usr\/local\/bin\//, "", c); sub(/ >\/dev\/null$/, "", c);
			printf "%-14s %s\n", $1, c }' | indent
	if grep -Eq '^[0-9]+ \* \* \* \*[[:space:]].*bk-dump' "$REPO/crontab/bk.crontab"; then
		note "a full backup every hour: a recovery point never more than an hour old"
	fi
	did "showed the cron schedule"

	say "15. Retention: bk-clean --dry-run (which rule keeps each backup)"
	if have bk-clean && [[ -n $full_id ]]; then
		demo_retention "$full_id" "$raffle_id" &&
			did "bk-clean --dry-run said which calendar or age rule keeps each backup of a simulated history, and what would go"
	else
		skip_step "retention: bin/bk-clean is not built (or there is no full backup)"
	fi

	say "Done"
	echo "    What happened:"
	printf '      - %s\n' "${DONE[@]}"
	cat <<EOF

    Backups:  $BACKUP_DIR
    Settings: $DEMO/demo.env

    Go on by hand (the environment wins over the file, so unset any
    DATABASE_URL you have exported):
        BK_ENV_FILE=.demo/demo.env bin/bk-list --table
        BK_ENV_FILE=.demo/demo.env bin/bk-restore latest --dry-run
        psql "$DATABASE_URL"

    Stop the servers:          ./scripts/demo.sh stop
    Stop and delete .demo/:    ./scripts/demo.sh clean
EOF
	if ((${#SKIPPED[@]})); then
		echo
		echo "    Skipped steps:"
		printf '      - %s\n' "${SKIPPED[@]}"
	fi
}

case ${1:-start} in
-h | --help) usage ;;
start) demo_start ;;
stop) demo_stop ;;
clean) demo_clean ;;
*)
	usage >&2
	exit 64
	;;
esac
