# shellcheck shell=bash
#
# bats harness for bk: throwaway PostgreSQL and Redis servers per test file.
#
#   load helpers
#   setup_file()    { bk_start_servers; bk_load_schema; bk_load_data 1000; }
#   teardown_file() { bk_stop_servers; }
#
# Everything lives in $BK_TMP (a fresh mktemp directory): PostgreSQL listens
# only on a unix socket there, Redis on a random 127.0.0.1 port (and a unix
# socket there). As root, PostgreSQL runs as the unprivileged user `bktest`
# (created if missing), since it refuses to run as root.

# Absolute path of the repository (this file is <repo>/tests/helpers.bash).
BK_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BK_FIXTURES=$BK_REPO/tests/fixtures
export BK_REPO BK_FIXTURES

# The PostgreSQL server binaries: pg_config's, else the newest installed.
_bk_find_pg_bin() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null)
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	fi
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
		sort -t/ -k5,5n | tail -n 1)
	if [[ -n $d && -x $d/initdb ]]; then
		printf '%s\n' "$d"
		return 0
	fi
	d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
	if [[ -x $d/initdb ]]; then
		printf '%s\n' "$d"
		return 0
	fi
	echo "helpers: cannot find the PostgreSQL server binaries (initdb, pg_ctl)" >&2
	return 1
}

# Runs a command as the PostgreSQL owner: bktest when we are root, else us.
_bk_as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd "$BK_TMP" && runuser -u bktest -- "$@")
	else
		(cd "$BK_TMP" && "$@")
	fi
}

_bk_ensure_pg_user() {
	[[ $EUID -eq 0 ]] || return 0
	id -u bktest >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin bktest >/dev/null 2>&1 ||
		id -u bktest >/dev/null 2>&1 # another test file may have won the race
}

_bk_pg_log() {
	echo "---- PostgreSQL log ($BK_TMP/pg.log) ----" >&2
	cat "$BK_TMP/pg.log" >&2 2>/dev/null || true
	echo "----" >&2
}

_bk_redis_log() {
	echo "---- Redis log ($BK_TMP/redis/redis.log*) ----" >&2
	cat "$BK_TMP/redis/redis.log"* >&2 2>/dev/null || true
	echo "----" >&2
}

# Is process $1 alive? A zombie is not (where PID 1 does not reap the
# daemons, kill -0 alone would say yes).
bk_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}

# Is something listening on 127.0.0.1:$1?
_bk_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# bk_start_servers [DIR]: starts the servers (in DIR, else a new temporary
# directory), creates database bk and exports the environment the tools and
# the other helpers use. Call from setup_file.
bk_start_servers() {
	export TZ=UTC
	BK_PG_BIN=$(_bk_find_pg_bin) || return 1
	export BK_PG_BIN

	local parent=${TMPDIR:-/tmp}
	# bktest must be able to reach the directory: stay in /tmp as root.
	[[ $EUID -eq 0 ]] && parent=/tmp
	if [[ -n ${1:-} ]]; then	# the demo keeps its servers in a place of its own
		BK_TMP=$1
		mkdir -p "$BK_TMP" || return 1
	else
		BK_TMP=$(mktemp -d "$parent/bk-test.XXXXXX") || return 1
	fi
	export BK_TMP
	chmod 0755 "$BK_TMP"

	_bk_ensure_pg_user || {
		echo "helpers: cannot create the user bktest" >&2
		return 1
	}
	mkdir -p "$BK_TMP/pg" "$BK_TMP/pgsock" "$BK_TMP/redis"
	: >"$BK_TMP/pg.log"
	if [[ $EUID -eq 0 ]]; then
		chown bktest "$BK_TMP/pg" "$BK_TMP/pgsock" "$BK_TMP/pg.log"
	fi
	chmod 0700 "$BK_TMP/pg"

	# Only a unix socket, so the port just names the socket file; random all
	# the same, so that a tool falling back to 5432 is caught.
	PGPORT=$((20000 + RANDOM % 40000))
	PGHOST=$BK_TMP/pgsock
	PGUSER=bk
	PGDATABASE=bk
	export PGHOST PGPORT PGUSER PGDATABASE
	unset PGPASSWORD PGSERVICE PGSSLMODE PGOPTIONS PGHOSTADDR
	DATABASE_URL="postgresql://bk@/bk?host=$PGHOST&port=$PGPORT"
	export DATABASE_URL

	if ! _bk_as_pg "$BK_PG_BIN/initdb" -D "$BK_TMP/pg" -U bk -A trust -E UTF8 \
		--no-locale --no-sync >"$BK_TMP/initdb.log" 2>&1; then
		echo "helpers: initdb failed:" >&2
		cat "$BK_TMP/initdb.log" >&2
		return 1
	fi
	cat >>"$BK_TMP/pg/postgresql.conf" <<EOF

# bk test harness
listen_addresses = ''
unix_socket_directories = '$BK_TMP/pgsock'
port = $PGPORT
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_wal_size = 2GB
max_connections = 50
timezone = 'UTC'
log_timezone = 'UTC'
EOF
	bk_pg_start || return 1
	if ! "$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c 'CREATE DATABASE bk' >/dev/null; then
		_bk_pg_log
		return 1
	fi

	REDIS_PORT=
	bk_redis_start || return 1
	export REDIS_PORT
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
	REDIS_SOCKET=$BK_TMP/redis/redis.sock
	export REDIS_URL REDIS_SOCKET

	BACKUP_DIR=$BK_TMP/backups
	BK_ENV_FILE=/dev/null
	export BACKUP_DIR BK_ENV_FILE
	BK_BIN_DIR=${BK_BIN_DIR:-$BK_REPO/bin}
	export BK_BIN_DIR
	PATH=$BK_BIN_DIR:$BK_PG_BIN:$PATH
	export PATH
}

# Stops both servers and removes $BK_TMP. Never fails. Call from teardown_file.
bk_stop_servers() {
	[[ -n ${BK_TMP:-} && -d $BK_TMP ]] || return 0
	if [[ -f $BK_TMP/pg/postmaster.pid ]]; then
		_bk_as_pg "$BK_PG_BIN/pg_ctl" -D "$BK_TMP/pg" -m immediate -w -t 30 \
			stop >/dev/null 2>&1 || true
	fi
	if [[ -f $BK_TMP/pg/postmaster.pid ]]; then
		local pid
		pid=$(head -n 1 "$BK_TMP/pg/postmaster.pid" 2>/dev/null) || true
		[[ $pid =~ ^[0-9]+$ ]] && { kill -9 "$pid" 2>/dev/null || true; }
	fi
	bk_redis_stop >/dev/null 2>&1 || true
	case $BK_TMP in
	*/bk-test.*) rm -rf "$BK_TMP" ;;
	esac
	return 0
}

# PostgreSQL alone, for "database down" tests. bk_pg_stop [MODE] (fast).
bk_pg_stop() {
	_bk_as_pg "$BK_PG_BIN/pg_ctl" -D "$BK_TMP/pg" -m "${1:-fast}" -w -t 60 \
		stop >/dev/null 2>&1 || {
		[[ ! -f $BK_TMP/pg/postmaster.pid ]] && return 0 # already down
		echo "helpers: pg_ctl stop failed" >&2
		_bk_pg_log
		return 1
	}
}

bk_pg_start() {
	if ! _bk_as_pg "$BK_PG_BIN/pg_ctl" -D "$BK_TMP/pg" -l "$BK_TMP/pg.log" \
		-w -t 60 start >/dev/null 2>&1; then
		echo "helpers: pg_ctl start failed" >&2
		_bk_pg_log
		return 1
	fi
	local i
	for ((i = 0; i < 600; i++)); do # up to a minute on a loaded machine
		"$BK_PG_BIN/pg_isready" -q -h "$BK_TMP/pgsock" -p "$PGPORT" && return 0
		sleep 0.1
	done
	echo "helpers: PostgreSQL does not answer" >&2
	_bk_pg_log
	return 1
}

# Redis alone. bk_redis_start keeps $REDIS_PORT once chosen.
bk_redis_start() {
	local try port i
	for ((try = 0; try < 20; try++)); do
		port=${REDIS_PORT:-$((20000 + RANDOM % 40000))}
		if [[ -z ${REDIS_PORT:-} ]] && _bk_port_busy "$port"; then
			continue
		fi
		rm -f "$BK_TMP/redis/redis.pid"
		redis-server --port "$port" --bind 127.0.0.1 \
			--unixsocket "$BK_TMP/redis/redis.sock" --unixsocketperm 700 \
			--save '' --appendonly no --daemonize yes \
			--dir "$BK_TMP/redis" --pidfile "$BK_TMP/redis/redis.pid" \
			--logfile "$BK_TMP/redis/redis.log" >/dev/null 2>&1 || true
		for ((i = 0; i < 600; i++)); do # up to 30 s on a loaded machine
			if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] &&
				[[ -s $BK_TMP/redis/redis.pid ]]; then
				REDIS_PORT=$port
				return 0
			fi
			# The daemon exits at once when the port is taken.
			if grep -q 'Address already in use' "$BK_TMP/redis/redis.log" 2>/dev/null; then
				mv "$BK_TMP/redis/redis.log" "$BK_TMP/redis/redis.log.$port"
				break
			fi
			sleep 0.05
		done
		if [[ -n ${REDIS_PORT:-} ]]; then
			break # a fixed port: no point in trying another one
		fi
	done
	echo "helpers: cannot start redis-server" >&2
	_bk_redis_log
	return 1
}

bk_redis_stop() {
	local pid i
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	pid=$(cat "$BK_TMP/redis/redis.pid" 2>/dev/null) || true
	if [[ $pid =~ ^[0-9]+$ ]]; then
		for ((i = 0; i < 100; i++)); do
			bk_alive "$pid" || break
			sleep 0.05
		done
		if bk_alive "$pid"; then
			kill -9 "$pid" 2>/dev/null || true
			sleep 0.1
		fi
	fi
	rm -f "$BK_TMP/redis/redis.pid"
	return 0
}

# Database argument of the helpers below: a name or a libpq URI/conninfo;
# default $DATABASE_URL (database bk unless a test changed it).
_bk_db() {
	printf '%s\n' "${1:-$DATABASE_URL}"
}

# bk_load_schema [DBNAME]: loads tests/fixtures/schema.sql.
bk_load_schema() {
	PGOPTIONS='-c client_min_messages=warning' \
		"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction \
		-d "$(_bk_db "${1:-}")" -f "$BK_FIXTURES/schema.sql" >/dev/null
}

# bk_load_data [SCALE] [DBNAME]: fills the schema with gen.sql (SCALE tickets
# and as many buy events, the rest in proportion; default 1000).
bk_load_data() {
	local scale=${1:-1000}
	PGOPTIONS='-c client_min_messages=warning' \
		"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v scale="$scale" \
		-d "$(_bk_db "${2:-}")" -f "$BK_FIXTURES/gen.sql" >/dev/null
}

# What most files' setup_file does first: both servers, the schema, and
# sample data (SCALE tickets, as bk_load_data).
bk_setup_servers_with_data() {
	bk_start_servers ""	# "": a new temporary directory
	bk_load_schema
	bk_load_data "$@"
}

# bk_createdb NAME [--schema]: makes another database, prints its URL.
bk_createdb() {
	local name=${1:?usage: bk_createdb NAME [--schema]}
	if [[ ! $name =~ ^[A-Za-z0-9_-]+$ ]]; then
		echo "helpers: bk_createdb: bad database name: $name" >&2
		return 1
	fi
	printf 'CREATE DATABASE :"n";\n' |
		"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v n="$name" -d postgres >/dev/null ||
		return 1
	local url="postgresql://bk@/$name?host=$PGHOST&port=$PGPORT"
	if [[ ${2:-} == --schema ]]; then
		bk_load_schema "$url" || return 1
	fi
	printf '%s\n' "$url"
}

# bk_dropdb NAME: drops it (connections are closed; missing is fine).
bk_dropdb() {
	local name=${1:?usage: bk_dropdb NAME}
	printf 'SET client_min_messages = warning;\nDROP DATABASE IF EXISTS :"n" WITH (FORCE);\n' |
		"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v n="$name" -d postgres >/dev/null
}

# bk_psql [ARGS...]: unaligned, tuples-only psql on $DATABASE_URL,
# e.g. bk_psql -c 'SELECT count(*) FROM "Ticket"'.
bk_psql() {
	"$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

# bk_count TABLE [DBNAME]: number of rows of the table.
bk_count() {
	local t=${1:?usage: bk_count TABLE [DBNAME]}
	printf 'SELECT count(*) FROM %s;\n' "\"${t//\"/\"\"}\"" |
		"$BK_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$(_bk_db "${2:-}")"
}

# bk_redis [ARGS...]: redis-cli on the test server.
bk_redis() {
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# bk_pgdump_data [DBNAME]: every table's rows (pg_dump --data-only, COPY
# text, _prisma_migrations left out), sorted within each table, so two
# databases holding the same rows give the same text whatever the row order.
bk_pgdump_data() {
	local - # restores the shell options on return
	set -o pipefail
	"$BK_PG_BIN/pg_dump" --data-only --no-owner --no-privileges \
		--exclude-table=_prisma_migrations -d "$(_bk_db "${1:-}")" |
		awk '
			inb && /^\\\.$/ { printf "%d\t2\t%s\n", b, $0; inb = 0; next }
			inb             { printf "%d\t1\t%s\n", b, $0; next }
			/^COPY /        { b++; printf "%d\t0\t%s\n", b, $0; inb = 1; next }
		' |
		LC_ALL=C sort -t "$(printf '\t')" -k1,1n -k2,2n -k3 |
		cut -f 3-
}

# bk_load_ts_json FILE [DBNAME]: a reference loader (plain SQL, no bk tool)
# for backups in the original TypeScript service's format (bk-backup(5)):
# inserts each row's keys that are columns of its table, so other keys are
# ignored and missing columns take their defaults. Full backups: the known
# data.* arrays; raffle backups: data.raffle with its nested tickets,
# buyEvents, sellEvents, winners, and data.analytics. Redis is left alone.
bk_load_ts_json() {
	local file=${1:?usage: bk_load_ts_json FILE [DBNAME]} b64
	b64=$(base64 -w 0 <"$file") || return 1
	"$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$(_bk_db "${2:-}")" <<SQL
SET client_min_messages = warning;
BEGIN;
CREATE TEMP TABLE _bk_json ON COMMIT DROP AS
SELECT convert_from(decode('$b64', 'base64'), 'UTF8')::jsonb AS j;
CREATE FUNCTION pg_temp.bk_ins(tbl text, rows jsonb) RETURNS void
LANGUAGE plpgsql AS \$f\$
DECLARE
	r jsonb;
	cols text;
BEGIN
	IF rows IS NULL OR jsonb_typeof(rows) = 'null' THEN
		RETURN;
	END IF;
	IF jsonb_typeof(rows) = 'object' THEN
		rows := jsonb_build_array(rows);
	END IF;
	FOR r IN SELECT * FROM jsonb_array_elements(rows) LOOP
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		FROM pg_attribute a
		WHERE a.attrelid = quote_ident(tbl)::regclass AND a.attnum > 0
		  AND NOT a.attisdropped AND r ? a.attname;
		EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM jsonb_populate_record(NULL::%I, \$1)',
		               tbl, cols, cols, tbl) USING r;
	END LOOP;
END
\$f\$;
DO \$d\$
DECLARE
	doc jsonb := (SELECT j FROM _bk_json);
	d jsonb := doc->'data';
	m text[];
BEGIN
	IF doc->'metadata'->>'type' = 'raffle' THEN
		PERFORM pg_temp.bk_ins('Raffle', d->'raffle');
		PERFORM pg_temp.bk_ins('Ticket', d->'raffle'->'tickets');
		PERFORM pg_temp.bk_ins('BuyEvent', d->'raffle'->'buyEvents');
		PERFORM pg_temp.bk_ins('SellEvent', d->'raffle'->'sellEvents');
		PERFORM pg_temp.bk_ins('Winner', d->'raffle'->'winners');
		PERFORM pg_temp.bk_ins('RaffleAnalytics', d->'analytics');
		RETURN;
	END IF;
	FOREACH m SLICE 1 IN ARRAY ARRAY[
		['raffles', 'Raffle'], ['tickets', 'Ticket'], ['buyEvents', 'BuyEvent'],
		['sellEvents', 'SellEvent'], ['walletUsers', 'WalletUser'], ['admins', 'Admin'],
		['winners', 'Winner'], ['notificationPreferences', 'NotificationPreference'],
		['scheduledNotifications', 'ScheduledNotification'],
		['dailyAnalytics', 'DailyAnalytics'], ['dexDailyStats', 'DexDailyStats'],
		['raffleAnalytics', 'RaffleAnalytics'], ['userActivities', 'UserActivity'],
		['auditLogs', 'AuditLog']]
	LOOP
		PERFORM pg_temp.bk_ins(m[2], d->m[1]);
	END LOOP;
END
\$d\$;
COMMIT;
SQL
}

# bk_fake_telegram DIR TOKEN [IDLE]: starts the fake Bot API
# (tests/fake_telegram.py) serving DIR for TOKEN, stopping by itself after
# IDLE seconds without a call (default 60); sets FAKE_PID, exports
# TELEGRAM_API_URL and TELEGRAM_BOT_TOKEN, and clears proxy variables.
bk_fake_telegram() {
	local dir=${1:?usage: bk_fake_telegram DIR TOKEN [IDLE]} token=${2:?} i
	mkdir -p "$dir"
	rm -f "$dir/port"
	python3 "$BK_REPO/tests/fake_telegram.py" serve "$dir" --token "$token" \
		--idle "${3:-60}" 3>&- &
	# shellcheck disable=SC2034 # the caller stops it
	FAKE_PID=$!
	for ((i = 0; i < 1200; i++)); do # up to a minute on a loaded machine
		[[ -s $dir/port ]] && break
		bk_alive "$FAKE_PID" || break
		sleep 0.05
	done
	if [[ ! -s $dir/port ]]; then
		echo "helpers: the fake Bot API did not start" >&2
		return 1
	fi
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
	TELEGRAM_API_URL="http://127.0.0.1:$(cat "$dir/port")"
	TELEGRAM_BOT_TOKEN=$token
	export TELEGRAM_API_URL TELEGRAM_BOT_TOKEN
}

# ---- ordering processes ----
# A test that starts jobs side by side forces their order with these, or
# accepts whichever wins; it never orders them with sleep. Every wait polls
# for a condition with a cap generous enough for a loaded machine under the
# sanitizers or valgrind.

# bk_poll SECONDS CMD...: runs CMD every 0.05 s until it succeeds (0) or
# SECONDS have passed (1).
bk_poll() {
	local end=$((SECONDS + ${1:?usage: bk_poll SECONDS CMD...}))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.05
	done
}

_bk_lock_taken() {
	! flock -n "$1" true
}

# bk_lock_hold [DIR]: holds DIR/.bk.lock (default $BACKUP_DIR) as a running
# bk job would, until bk_lock_release (or 10 minutes); returns once it is
# held. Sets BK_LOCK_PID.
bk_lock_hold() {
	local dir=${1:-$BACKUP_DIR}
	mkdir -p "$dir"
	BK_LOCK_FILE=$dir/.bk.lock
	BK_LOCK_RELEASE=$(mktemp -u "${TMPDIR:-/tmp}/bk-lock-release.XXXXXX")
	# -o: the lock is flock's own, not the waiting shell's
	# shellcheck disable=SC2016 # $1 is the inner shell's
	flock -o "$BK_LOCK_FILE" sh -c \
		'i=0; while [ ! -e "$1" ] && [ $i -lt 12000 ]; do sleep 0.05; i=$((i + 1)); done' \
		sh "$BK_LOCK_RELEASE" 3>&- &
	BK_LOCK_PID=$!
	bk_poll 60 _bk_lock_taken "$BK_LOCK_FILE" || {
		echo "helpers: could not take $BK_LOCK_FILE" >&2
		return 1
	}
}

# bk_lock_release: lets go of the lock bk_lock_hold took.
bk_lock_release() {
	touch "$BK_LOCK_RELEASE"
	wait "$BK_LOCK_PID" 2>/dev/null || true
	rm -f "$BK_LOCK_RELEASE"
}

_bk_has_open() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f" 2>/dev/null) == "$2" ]] && return 0
	done
	bk_alive "$1" || return 2
	return 1
}

# bk_wait_lock_open PID [DIR]: waits until process PID has DIR/.bk.lock
# (default $BACKUP_DIR) open, i.e. it has reached the lock and, while
# another job holds it, waits for it (--wait) or is giving up. Fails if the
# process ends first or after two minutes.
bk_wait_lock_open() {
	local pid=${1:?usage: bk_wait_lock_open PID [DIR]} path end rc
	path=$(realpath -m "${2:-$BACKUP_DIR}/.bk.lock")
	end=$((SECONDS + 120))
	while ((SECONDS < end)); do
		rc=0
		_bk_has_open "$pid" "$path" || rc=$?
		((rc == 0)) && return 0
		if ((rc == 2)); then
			echo "helpers: process $pid ended before it reached the lock" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "helpers: process $pid did not reach the lock $path" >&2
	return 1
}

# bk_start_s3 [BUCKET]: starts s3rver (tests/node_modules, installed by
# scripts/install-deps.sh) on a random loopback port with BUCKET (default bk-test)
# and tests/s3proxy.py in front of it, which checks every request's SigV4
# signature with a secret made here. Everything lives in $BK_TMP/s3 (data/:
# s3rver's files; requests.jsonl: what reached the proxy; fail: injected
# faults, see s3proxy.py). Exports the configuration the tools read
# (BK_S3_URL=s3://BUCKET/backups/, AWS_*), sets S3RVER_PID and S3PROXY_PID,
# and points the AWS CLI at the same endpoint. Call after bk_start_servers.
bk_start_s3() {
	local bucket=${1:-bk-test} dir=$BK_TMP/s3 port i try
	local s3rver=$BK_REPO/tests/node_modules/s3rver/bin/s3rver.js
	if [[ ! -f $s3rver ]]; then
		echo "helpers: s3rver is not installed (run scripts/install-deps.sh)" >&2
		return 1
	fi
	mkdir -p "$dir/data"
	for ((try = 0; try < 20; try++)); do
		port=$((20000 + RANDOM % 40000))
		_bk_port_busy "$port" && continue
		# s3rver's continuation tokens are DES, which OpenSSL 3 keeps in its legacy provider
		node --openssl-legacy-provider "$s3rver" -d "$dir/data" -a 127.0.0.1 -p "$port" --silent \
			--allow-mismatched-signatures --service-endpoint localhost \
			--configure-bucket "$bucket" \
			>"$dir/s3rver.log" 2>&1 3>&- &
		S3RVER_PID=$!
		for ((i = 0; i < 200; i++)); do
			_bk_port_busy "$port" && break
			bk_alive "$S3RVER_PID" || break
			sleep 0.05
		done
		_bk_port_busy "$port" && bk_alive "$S3RVER_PID" && break
		kill "$S3RVER_PID" 2>/dev/null
		S3RVER_PID=
	done
	if [[ -z ${S3RVER_PID:-} ]]; then
		echo "helpers: s3rver did not start:" >&2
		cat "$dir/s3rver.log" >&2
		return 1
	fi
	S3_UPSTREAM_PORT=$port
	AWS_ACCESS_KEY_ID=S3RVER
	AWS_SECRET_ACCESS_KEY=$(head -c 24 /dev/urandom | base64 | tr '+/' 'xy')
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY S3_UPSTREAM_PORT
	bk_start_s3proxy || return 1
	BK_S3_URL=s3://$bucket/backups/
	BK_S3_DIR=$dir
	BK_S3_PATH_STYLE=1
	AWS_REGION=us-east-1
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
	# the AWS CLI: no configuration of the machine's, no checksum trailers
	AWS_CONFIG_FILE=$dir/aws-config
	AWS_SHARED_CREDENTIALS_FILE=$dir/aws-credentials
	AWS_EC2_METADATA_DISABLED=true
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required
	AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
	AWS_PAGER=
	export BK_S3_URL BK_S3_DIR BK_S3_PATH_STYLE AWS_REGION AWS_CONFIG_FILE \
		AWS_SHARED_CREDENTIALS_FILE AWS_EC2_METADATA_DISABLED \
		AWS_REQUEST_CHECKSUM_CALCULATION AWS_RESPONSE_CHECKSUM_VALIDATION AWS_PAGER
}

# bk_start_s3proxy: (re)starts the signature-checking proxy in front of the
# running s3rver (on the port it had, if any; its pid in $BK_TMP/s3/proxy.pid);
# exports AWS_ENDPOINT_URL.
bk_start_s3proxy() {
	local dir=$BK_TMP/s3 i port=0
	[[ -s $dir/port ]] && port=$(cat "$dir/port")
	rm -f "$dir/port"
	S3PROXY_SECRET=$AWS_SECRET_ACCESS_KEY python3 "$BK_REPO/tests/s3proxy.py" serve "$dir" \
		--upstream "$S3_UPSTREAM_PORT" --data "$dir/data" --port "$port" \
		>>"$dir/proxy.log" 2>&1 3>&- &
	S3PROXY_PID=$!
	echo "$S3PROXY_PID" >"$dir/proxy.pid"
	for ((i = 0; i < 200; i++)); do
		[[ -s $dir/port ]] && break
		bk_alive "$S3PROXY_PID" || break
		sleep 0.05
	done
	if [[ ! -s $dir/port ]]; then
		echo "helpers: the S3 proxy did not start:" >&2
		cat "$dir/proxy.log" >&2
		return 1
	fi
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
	AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$dir/port")
	export AWS_ENDPOINT_URL S3PROXY_PID
}

# bk_stop_s3proxy: stops the proxy alone (the "server down" tests).
bk_stop_s3proxy() {
	local pid i
	pid=$(cat "$BK_TMP/s3/proxy.pid" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		bk_alive "$pid" || break
		sleep 0.05
	done
	wait "$pid" 2>/dev/null || true
	rm -f "$BK_TMP/s3/proxy.pid"
	S3PROXY_PID=
}

# bk_stop_s3: stops the proxy and s3rver. Never fails.
bk_stop_s3() {
	bk_stop_s3proxy
	if [[ -n ${S3RVER_PID:-} ]]; then
		kill "$S3RVER_PID" 2>/dev/null || true
		wait "$S3RVER_PID" 2>/dev/null || true
		S3RVER_PID=
	fi
	return 0
}

# bk_aws ARGS...: the AWS CLI against the test server (Debian's /usr/bin/aws
# when there, else the first on $PATH).
bk_aws() {
	local aws=/usr/bin/aws
	[[ -x $aws ]] || aws=aws
	"$aws" --endpoint-url "$AWS_ENDPOINT_URL" "$@"
}

# bk_s3_put FILE KEY: puts FILE into the test bucket as KEY (a fixture; signed
# by tests/s3proxy.py, much quicker to start than the AWS CLI).
bk_s3_put() {
	local bucket=${BK_S3_URL#s3://}
	bucket=${bucket%%/*}
	python3 "$BK_REPO/tests/s3proxy.py" put "$AWS_ENDPOINT_URL" "$bucket" "$2" "$1"
}

# bk_s3_names [PREFIX]: the object names under PREFIX (default: that of
# $BK_S3_URL) as s3rver holds them, sorted.
bk_s3_names() {
	local rest=${BK_S3_URL#s3://} bucket prefix
	bucket=${rest%%/*}
	prefix=${1-${rest#*/}}
	find "$BK_S3_DIR/data/$bucket/$prefix" -maxdepth 1 -name '*._S3rver_object' -printf '%f\n' 2>/dev/null |
		sed 's/\._S3rver_object$//' | LC_ALL=C sort
}

# bk_s3_open_uploads: how many multipart uploads are open in the test bucket.
bk_s3_open_uploads() {
	local rest=${BK_S3_URL#s3://}
	find "$BK_S3_DIR/data/${rest%%/*}/._S3rver_uploads" -mindepth 2 -maxdepth 2 -name key 2>/dev/null | wc -l
}
