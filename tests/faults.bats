#!/usr/bin/env bats
# Faults (issue 7): the promises of bk-backup(5), bk-restore(1) and bk(7) under SIGKILL,
# servers dying mid-job, a full disk and concurrent jobs. A backup is whole
# or absent, a restore lands whole or not at all, the lock dies with its
# holder. Timings are spread over a run measured by the test itself, so the
# kills land before, during and after the work on any machine.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 100000
	# one big raffle, so that a raffle backup takes a while too
	BIG_RAFFLE=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	bk_psql -c "INSERT INTO \"Ticket\" SELECT 'big' || g, '$BIG_RAFFLE', 'wallet' || g, g % 50 + 1,
			now(), now() FROM generate_series(1, 50000) g" \
		-c "UPDATE \"BuyEvent\" SET \"raffleId\" = '$BIG_RAFFLE' WHERE right(id, 1) < '8'" >/dev/null
	export BIG_RAFFLE
	local i
	for ((i = 0; i < 50; i++)); do
		printf 'SET conversation:%d:%d "{\\"step\\":%d}" EX 3600\n' "$i" "$((i * 7))" "$i"
	done | bk_redis >/dev/null
	# a smaller database for the restore kills: each restore takes ~1 s
	RESTORE_URL=$(bk_createdb rk --schema)
	bk_load_data 8000 "$RESTORE_URL"
	export RESTORE_URL
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BK_TMP/enospc.so" \
		"$BK_REPO/tests/shim/enospc.c" -ldl
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BK_TMP/nodirect.so" \
		"$BK_REPO/tests/shim/nodirect.c" -ldl
}

teardown_file() {
	bk_stop_servers
}

setup() {
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
}

teardown() {
	# a test that failed half-way must not leave the servers down
	[[ -f $BK_TMP/pg/postmaster.pid ]] || bk_pg_start
	bk_redis ping >/dev/null 2>&1 || bk_redis_start
}

now_ms() {
	date +%s%3N
}

# sleep for $1 milliseconds
sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# The backup directory holds only whole backups: every <id>.json passes
# bk-verify, every .sha256 has its backup, bk-list lists exactly the
# <id>.json files and calls none corrupt, no temporary file is listed.
check_dir() {
	local f n_files n_listed
	for f in "$BACKUP_DIR"/*.json.sha256; do
		[[ -e $f ]] || continue
		if [[ ! -f ${f%.sha256} ]]; then
			echo "checksum without its backup: $f" >&2
			return 1
		fi
	done
	n_files=0
	for f in "$BACKUP_DIR"/*.json; do
		[[ -e $f ]] || continue
		n_files=$((n_files + 1))
		if ! bk-verify -q "$f"; then
			echo "not whole: $f" >&2
			return 1
		fi
	done
	n_listed=$(bk-list --json | jq 'length')
	if [[ $n_listed != "$n_files" ]]; then
		echo "bk-list lists $n_listed backups, the directory holds $n_files" >&2
		return 1
	fi
	if [[ $(bk-list --json | jq '[.[] | select(.status != "ok")] | length') != 0 ]]; then
		echo "bk-list calls a backup corrupt:" >&2
		bk-list --json >&2
		return 1
	fi
}

# No temporary file is left in the backup directory.
no_temp_files() {
	if compgen -G "$BACKUP_DIR/.*.tmp-*" >/dev/null; then
		echo "temporary files left:" >&2
		ls -la "$BACKUP_DIR" >&2
		return 1
	fi
}

count_backups() {
	local f n=0
	for f in "$BACKUP_DIR"/*.json; do
		[[ -e $f ]] && n=$((n + 1))
	done
	echo "$n"
}

# How long one run of "$@" takes, in ms (it must succeed).
time_run() {
	local t0 t1
	t0=$(now_ms)
	"$@" >/dev/null || return 1
	t1=$(now_ms)
	echo $((t1 - t0))
}

# kill_spread KILLS TOTAL_MS CMD...: runs CMD KILLS times, killing it with
# SIGKILL after i*TOTAL_MS/(KILLS-1) ms; after each, the directory holds
# only whole backups (at most one more), and completed ones are removed
# (they are ~70 MB each).
kill_spread() {
	local kills=$1 total=$2 i ms pid before after landed=0
	shift 2
	for ((i = 0; i < kills; i++)); do
		ms=$((i * total / (kills - 1)))
		before=$(count_backups)
		"$@" >/dev/null 2>&1 &
		pid=$!
		sleep_ms "$ms"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		after=$(count_backups)
		if ! check_dir; then
			echo "after a SIGKILL at ${ms} ms of $*" >&2
			ls -la "$BACKUP_DIR" >&2
			return 1
		fi
		if ((after > before + 1)); then
			echo "more than one new backup after a kill at $ms ms" >&2
			return 1
		fi
		((after > before)) && landed=$((landed + 1))
		# keep the disk small: whole backups and the killed run's temporary file
		rm -f "$BACKUP_DIR"/*.json "$BACKUP_DIR"/*.json.sha256 "$BACKUP_DIR"/.*.tmp-*
	done
	echo "# $* : $kills kills over $total ms, $landed finished first" >&3
}

# bats test_tags=kill
@test "bk-dump killed with SIGKILL at 24 moments: whole backup or none, then a clean run" {
	total=$(time_run bk-dump)
	rm -f "$BACKUP_DIR"/*.json*
	kill_spread 24 $((total * 11 / 10)) bk-dump
	# the lock went with the killed processes: --wait 0 gets it
	run --separate-stderr bk-dump --wait 0
	[ "$status" -eq 0 ]
	check_dir
	[ "$(count_backups)" -eq 1 ]
}

# bats test_tags=kill
@test "bk-raffle killed with SIGKILL at 24 moments: whole backup or none, then a clean run" {
	total=$(time_run bk-raffle "$BIG_RAFFLE")
	rm -f "$BACKUP_DIR"/*.json*
	kill_spread 24 $((total * 11 / 10)) bk-raffle "$BIG_RAFFLE"
	run --separate-stderr bk-raffle --wait 0 "$BIG_RAFFLE"
	[ "$status" -eq 0 ]
	check_dir
	[ "$(count_backups)" -eq 1 ]
}

# Is a dump's temporary file there?
dump_temp_file() {
	compgen -G "$BACKUP_DIR/.full_*.json.tmp-*" >/dev/null
}

# bats test_tags=race
@test "temporary files left by killed writers are not listed; bk-clean removes the stale ones" {
	# kill while the temporary file is being written; should the dump
	# finish first after all, try again
	for _ in 1 2 3 4 5; do
		rm -f "$BACKUP_DIR"/*.json "$BACKUP_DIR"/*.json.sha256
		bk-dump >/dev/null &
		pid=$!
		bk_poll 120 dump_temp_file || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
		[ "$(count_backups)" -eq 0 ] && break
	done
	[ "$(count_backups)" -eq 0 ]
	tmp=$(compgen -G "$BACKUP_DIR/.full_*.json.tmp-*")
	[ "$(bk-list --json | jq length)" -eq 0 ]
	# a fresh one may belong to a writer outside the lock (-o FILE): kept
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ -f "$tmp" ]
	# one older than an hour is a killed writer's: removed
	touch -d '2 hours ago' "$tmp"
	run --separate-stderr bk-clean
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq .tempFilesRemoved)" -eq 1 ]
	no_temp_files
}

# The restore database (rk): a backup B of it, then changes, so that a
# restore of B has real work to do and a half restore would show.
restore_prepare() {
	export DATABASE_URL=$RESTORE_URL
	# every UserActivity row in the backups, so that --clean puts all back
	export BK_ACTIVITY_DAYS=1000000
	bk-dump --no-redis >/dev/null
	B=$(bk-list --json | jq -r '.[0].id')
	bk_psql -c "DELETE FROM \"Ticket\" WHERE right(id, 1) IN ('0', '1', '2')" \
		-c 'UPDATE "BuyEvent" SET "walletAddress" = '"'changed'"' WHERE right(id, 1) = '"'5'" \
		-c "DELETE FROM \"WalletUser\" WHERE right(\"walletAddress\", 1) = '3'" >/dev/null
	# the state after the changes, as a backup too: --clean puts it back
	bk-dump --no-redis >/dev/null
	CHANGED=$(bk-list --json | jq -r '.[0].id')
	bk_pgdump_data "$RESTORE_URL" >"$BK_TMP/before.txt"
	bk_pgdump_data "$RESTORE_URL" | cmp -s - "$BK_TMP/before.txt" # stable
}

# Puts rk back to the changed state.
restore_reset() {
	bk-restore --yes --no-safety-backup --clean --skip-redis "$CHANGED" >/dev/null
}

# No client backend but ours is connected to rk.
rk_idle() {
	[ "$(bk_psql -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = 'rk' AND backend_type = 'client backend'
		AND pid <> pg_backend_pid()")" -eq 0 ]
}

# bats test_tags=kill
@test "bk-restore killed with SIGKILL at 24 moments: the database as before or wholly restored" {
	restore_prepare
	# the state a whole restore gives, and how long one takes
	total=$(time_run bk-restore --yes --no-safety-backup --skip-redis "$B")
	bk_pgdump_data "$RESTORE_URL" >"$BK_TMP/after.txt"
	if cmp -s "$BK_TMP/before.txt" "$BK_TMP/after.txt"; then
		echo "the restore changes nothing: the test would prove nothing" >&2
		return 1
	fi
	restore_reset
	bk_pgdump_data "$RESTORE_URL" | cmp - "$BK_TMP/before.txt"

	kills=24 landed=0
	for ((i = 0; i < kills; i++)); do
		ms=$((i * total / (kills - 1)))
		# every third run takes its safety backup first: a kill can land in it
		safety=--no-safety-backup
		((i % 3 == 0)) && safety=
		bk-restore --yes $safety --skip-redis "$B" >/dev/null 2>&1 &
		pid=$!
		sleep_ms "$ms"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# a backend whose client was killed may still be finishing a
		# statement; it cannot commit, but let it go before comparing
		bk_poll 120 rk_idle || {
			echo "a killed restore's backend is still running" >&2
			return 1
		}
		bk_pgdump_data "$RESTORE_URL" >"$BK_TMP/now.txt"
		if cmp -s "$BK_TMP/now.txt" "$BK_TMP/after.txt"; then
			landed=$((landed + 1)) # it committed before the kill: whole
			restore_reset
		elif ! cmp -s "$BK_TMP/now.txt" "$BK_TMP/before.txt"; then
			echo "half a restore after a SIGKILL at $ms ms:" >&2
			diff "$BK_TMP/before.txt" "$BK_TMP/now.txt" | head -20 >&2
			return 1
		fi
		# safety backups and their temporary files: whole or absent
		check_dir
		rm -f "$BACKUP_DIR"/.*.tmp-*
	done
	echo "# bk-restore: $kills kills over $total ms, $landed finished first" >&3
	# no stale lock, and the next restore is whole
	run --separate-stderr bk-restore --yes --no-safety-backup --skip-redis --wait 0 "$B"
	[ "$status" -eq 0 ]
	bk_pgdump_data "$RESTORE_URL" | cmp - "$BK_TMP/after.txt"
}

# Holds an ACCESS EXCLUSIVE lock on table $1 of $DATABASE_URL in a session of
# its own until the server goes away: a job that needs the table stops
# there, mid-way, deterministically.
hold_table_lock() {
	{
		printf 'BEGIN;\nLOCK TABLE "%s" IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(600);\n' "$1"
	} | PGAPPNAME=bk-test-locker "$BK_PG_BIN/psql" -X -q -d "$DATABASE_URL" >/dev/null 2>&1 &
	LOCKER=$!
	bk_poll 120 table_locked "$1"
}

table_locked() {
	[ "$(bk_psql -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = '$1' AND l.mode = 'AccessExclusiveLock' AND l.granted")" -eq 1 ]
}

# Ends the session of hold_table_lock: the job it stopped goes on.
release_table_lock() {
	bk_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'bk-test-locker'" >/dev/null
	wait "$LOCKER" || true
}

session_blocked() {
	[ "$(bk_psql -c "SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock'")" -ge 1 ]
}

# Waits until a session waits for a lock.
wait_blocked() {
	bk_poll 120 session_blocked
}

# bats test_tags=race
@test "PostgreSQL stopped (immediate) during a dump: 69 naming the database, no partial backup" {
	bk-dump >/dev/null # an older backup, which must stay untouched
	old=$(ls "$BACKUP_DIR"/*.json)
	sum=$(sha256sum <"$old")
	hold_table_lock Ticket
	bk-dump >"$BK_TMP/out" 2>"$BK_TMP/err" &
	pid=$!
	wait_blocked
	bk_pg_stop immediate
	status=0
	wait "$pid" || status=$?
	wait "$LOCKER" || true
	bk_pg_start
	[ "$status" -eq 69 ]
	cat "$BK_TMP/err"
	grep -Eiq 'database|postgres|server|connection' "$BK_TMP/err"
	[ ! -s "$BK_TMP/out" ]
	[ "$(ls "$BACKUP_DIR"/*.json)" = "$old" ]
	[ "$(sha256sum <"$old")" = "$sum" ]
	no_temp_files
	check_dir
}

# bats test_tags=race
@test "PostgreSQL stopped (immediate) during a restore: 69, the database as before" {
	restore_prepare
	# the restore stops at Winner, after earlier tables went in
	hold_table_lock Winner
	bk-restore --yes --no-safety-backup --skip-redis "$B" >"$BK_TMP/out" 2>"$BK_TMP/err" &
	pid=$!
	wait_blocked
	bk_pg_stop immediate
	status=0
	wait "$pid" || status=$?
	wait "$LOCKER" || true
	bk_pg_start
	cat "$BK_TMP/err"
	[ "$status" -eq 69 ]
	grep -Eiq 'database|postgres|server|connection' "$BK_TMP/err"
	bk_pgdump_data "$RESTORE_URL" | cmp - "$BK_TMP/before.txt"
	# and the next restore is whole
	run --separate-stderr bk-restore --yes --no-safety-backup --skip-redis "$B"
	[ "$status" -eq 0 ]
}

# Has process $1 a TCP connection to our Redis (/proc/net/tcp: the remote
# port in hex, the socket's inode)?
redis_connected() {
	local inodes
	inodes=$(readlink /proc/"$1"/fd/* 2>/dev/null | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
	[[ -n $inodes ]] || return 1
	awk -v port="$(printf ':%04X' "$REDIS_PORT")" -v inodes=" $inodes" \
		'substr($3, length($3) - 4) == port && index(inodes, " " $10 " ") { found = 1 }
		END { exit !found }' /proc/net/tcp
}

# bats test_tags=race
@test "Redis killed during a dump: 69 naming Redis, no partial backup" {
	# Redis holds every client while paused; the dump waits on it, then
	# the server dies under it
	bk_redis CLIENT PAUSE 600000 ALL >/dev/null
	bk-dump >"$BK_TMP/out" 2>"$BK_TMP/err" &
	pid=$!
	bk_poll 120 redis_connected "$pid"
	kill -KILL "$(cat "$BK_TMP/redis/redis.pid")"
	status=0
	wait "$pid" || status=$?
	bk_redis_stop
	bk_redis_start
	cat "$BK_TMP/err"
	[ "$status" -eq 69 ]
	grep -iq redis "$BK_TMP/err"
	[ ! -s "$BK_TMP/out" ]
	[ "$(count_backups)" -eq 0 ]
	no_temp_files
}

@test "disk full (LD_PRELOAD shim: write fails with ENOSPC after N bytes): 74, nothing partial, older backups untouched" {
	# every UserActivity row, so that the next dump has the same size: with
	# the 90-day window, a row crossing its edge meanwhile would move the
	# byte counts below
	export BK_ACTIVITY_DAYS=1000000
	bk-dump >/dev/null
	old=$(ls "$BACKUP_DIR"/*.json)
	sum=$(sha256sum <"$old")
	size=$(stat -c %s "$old")
	# before the first byte, early, in the middle, just short of the end,
	# and in the .sha256 file written after the backup
	for n in 0 1 4096 1048576 $((size / 2)) $((size - 64)) $((size + 20)); do
		run --separate-stderr env LD_PRELOAD="$BK_TMP/enospc.so" BK_ENOSPC_AFTER=$n \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" bk-dump
		echo "ENOSPC after $n bytes: status $status: ${stderr:-}"
		[ "$status" -eq 74 ]
		[[ $stderr == *"No space left on device"* ]]
		[ -z "$output" ]
		[ "$(ls "$BACKUP_DIR"/*.json)" = "$old" ]
		[ "$(ls "$BACKUP_DIR"/*.sha256)" = "$old.sha256" ]
		no_temp_files
		[ "$(sha256sum <"$old")" = "$sum" ]
	done
	(cd "$BACKUP_DIR" && sha256sum -c --quiet "$(basename "$old").sha256")
	# the shim is what failed: without it the same dump works
	run --separate-stderr bk-dump
	[ "$status" -eq 0 ]
}

@test "a file system without direct I/O: the backup goes through the page cache, whole" {
	export BK_ACTIVITY_DAYS=1000000 # no row crosses the 90-day edge between the dumps
	BK_DIRECT_IO=no bk-dump -o "$BK_TMP/cached.json" >/dev/null
	want=$(jq -c '{data, conversations: .redis.conversations}' "$BK_TMP/cached.json" | sha256sum)
	# the flag refused when the file is opened; direct writes refused from
	# the first one, after one stage (1 MiB), in the middle of the file
	for after in open 0 1048576 $((3 << 20)); do
		run --separate-stderr env LD_PRELOAD="$BK_TMP/nodirect.so" BK_NODIRECT_AFTER=$after \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" bk-dump
		echo "direct writes refused after $after: status $status: ${stderr:-}"
		[ "$status" -eq 0 ]
		file=$(jq -r .path <<<"$output")
		(cd "$BACKUP_DIR" && sha256sum -c --quiet "$(basename "$file").sha256")
		bk-verify "$file" >/dev/null
		[ "$(jq -c '{data, conversations: .redis.conversations}' "$file" | sha256sum)" = "$want" ]
		no_temp_files
	done
	# and with direct I/O (where this file system takes it), the same bytes
	bk-dump -o "$BK_TMP/direct.json" >/dev/null
	[ "$(jq -c '{data, conversations: .redis.conversations}' "$BK_TMP/direct.json" | sha256sum)" = "$want" ]
	[ "$(stat -c %s "$BK_TMP/direct.json")" -eq "$(stat -c %s "$BK_TMP/cached.json")" ]
}

@test "disk full during a raffle backup: 74, nothing partial" {
	for n in 0 65536 $((1024 * 1024 * 3)); do
		run --separate-stderr env LD_PRELOAD="$BK_TMP/enospc.so" BK_ENOSPC_AFTER=$n \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			bk-raffle "$BIG_RAFFLE"
		[ "$status" -eq 74 ]
		[ "$(count_backups)" -eq 0 ]
		no_temp_files
	done
}

# bats test_tags=race
@test "two bk-dump at once: one waits or exits 75, both files whole" {
	bk-dump >"$BK_TMP/a" 2>"$BK_TMP/a.err" &
	a=$!
	bk-dump >"$BK_TMP/b" 2>"$BK_TMP/b.err" &
	b=$!
	sa=0 sb=0
	wait "$a" || sa=$?
	wait "$b" || sb=$?
	echo "statuses $sa $sb"
	[[ $sa -eq 0 || $sa -eq 75 ]] && [[ $sb -eq 0 || $sb -eq 75 ]]
	[ $((sa + sb)) -le 75 ]
	[ "$(count_backups)" -eq $(((sa == 0) + (sb == 0))) ]
	((sa != 75)) || grep -q lock "$BK_TMP/a.err"
	((sb != 75)) || grep -q lock "$BK_TMP/b.err"
	check_dir
	# with --wait, both run, one after the other
	bk-dump --wait 600 >/dev/null &
	a=$!
	bk-dump --wait 600 >/dev/null
	wait "$a"
	ls -la "$BACKUP_DIR"
	[ "$(count_backups)" -eq $((2 + (sa == 0) + (sb == 0))) ]
	check_dir
}

# dump_stalled TABLE: starts bk-dump (PID in $pid, stdout in $BK_TMP/out)
# and stops it mid-way, holding the backup lock, at TABLE of
# $DATABASE_URL: the order of the jobs that follow is certain.
dump_stalled() {
	hold_table_lock "$1"
	bk-dump >"$BK_TMP/out" &
	pid=$!
	wait_blocked
}

# bats test_tags=race
@test "bk-dump and bk-clean at once: serialised or 75; the new backup is kept whole" {
	bk-dump >/dev/null
	# the dump holds the lock while the clean comes
	dump_stalled Ticket
	run --separate-stderr bk-clean 1 --keep-last 1
	echo "bk-clean: $status $output $stderr"
	[ "$status" -eq 75 ]
	release_table_lock
	wait "$pid"
	new=$(jq -r .id "$BK_TMP/out")
	[ -f "$BACKUP_DIR/$new.json" ]
	check_dir
	# a clean that waits for the dump keeps the dump's backup (the newest)
	dump_stalled Ticket
	bk-clean 1 --keep-last 1 --wait 600 >"$BK_TMP/clean.out" 2>"$BK_TMP/clean.err" &
	cpid=$!
	bk_wait_lock_open "$cpid"
	release_table_lock
	wait "$pid"
	status=0
	wait "$cpid" || status=$?
	cat "$BK_TMP/clean.err"
	[ "$status" -eq 0 ]
	new=$(jq -r .id "$BK_TMP/out")
	[ -f "$BACKUP_DIR/$new.json" ]
	[ "$(count_backups)" -eq 3 ]
	check_dir
}

# bats test_tags=race
@test "bk-dump and bk-restore at once: the restore waits or exits 75, nothing corrupted" {
	restore_prepare
	# the dump holds the lock while the restore comes
	dump_stalled Ticket
	run --separate-stderr bk-restore --yes --no-safety-backup --skip-redis "$B"
	echo "bk-restore: $status $stderr"
	[ "$status" -eq 75 ]
	release_table_lock
	wait "$pid"
	check_dir
	bk_pgdump_data "$RESTORE_URL" | cmp - "$BK_TMP/before.txt"
	# the other way round: the restore holds the lock, the dump exits 75
	hold_table_lock Winner
	bk-restore --yes --no-safety-backup --skip-redis "$B" >/dev/null &
	rpid=$!
	wait_blocked
	run --separate-stderr bk-dump
	echo "bk-dump: $status $stderr"
	[ "$status" -eq 75 ]
	[[ $stderr == *lock* ]]
	release_table_lock
	wait "$rpid"
	check_dir
	# with --wait the restore runs after the dump
	dump_stalled Ticket
	bk-restore --yes --no-safety-backup --skip-redis --wait 600 "$B" >/dev/null 2>"$BK_TMP/restore.err" &
	rpid=$!
	bk_wait_lock_open "$rpid"
	release_table_lock
	wait "$pid"
	status=0
	wait "$rpid" || status=$?
	cat "$BK_TMP/restore.err"
	[ "$status" -eq 0 ]
	check_dir
}

# bats test_tags=race
@test "20 dumps started within a second, cron-like, some with --wait: only whole backups" {
	export DATABASE_URL=$RESTORE_URL # smaller: 20 runs in a few seconds
	pids=()
	for i in $(seq 20); do
		wait_opt=()
		((i % 2)) && wait_opt=(--wait 600)
		(
			sleep_ms $((RANDOM % 1000))
			exec bk-dump "${wait_opt[@]}" >"$BK_TMP/cron.out.$i" 2>"$BK_TMP/cron.err.$i"
		) &
		pids+=($!)
	done
	ok=0 busy=0
	for i in $(seq 20); do
		s=0
		wait "${pids[$((i - 1))]}" || s=$?
		case $s in
		0) ok=$((ok + 1)) ;;
		75)
			busy=$((busy + 1))
			((i % 2 == 0)) # only those without --wait give up
			;;
		*)
			echo "dump $i: status $s: $(cat "$BK_TMP/cron.err.$i")"
			return 1
			;;
		esac
	done
	echo "# 20 cron-like dumps: $ok made a backup, $busy found the lock taken" >&3
	[ "$ok" -ge 10 ]
	# one file per successful run: none overwrote another
	[ "$(count_backups)" -eq "$ok" ]
	[ "$(cat "$BK_TMP"/cron.out.* | jq -r .id | sort -u | wc -l)" -eq "$ok" ]
	check_dir
}
