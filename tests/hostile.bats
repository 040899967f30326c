#!/usr/bin/env bats
# A hostile backup directory, signals, clocks and sizes (issue 12): nothing
# hangs, nothing is left behind. Every case that could hang runs under
# timeout; a hang fails the test with status 124.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 300
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BK_TMP/stall.so" \
		"$BK_REPO/tests/shim/stall.c" -ldl
}

teardown_file() {
	bk_stop_servers
}

setup() {
	chmod -R u+w "$BACKUP_DIR" 2>/dev/null || true
	rm -rf "$BACKUP_DIR"
	mkdir -m 0700 "$BACKUP_DIR"
}

# fake_backup ID TIMESTAMP [TYPE]: a small well-formed backup and its checksum.
fake_backup() {
	printf '{"metadata":{"id":"%s","timestamp":"%s","type":"%s","version":"1.0"},\n"data":{}}\n' \
		"$1" "$2" "${3:-full}" >"$BACKUP_DIR/$1.json"
	(cd "$BACKUP_DIR" && sha256sum "$1.json" >"$1.json.sha256")
}

iso_days_ago() {
	date -u -d "$1 days ago" +%Y-%m-%dT%H:%M:%S.000Z
}

temps() {
	find "$BACKUP_DIR" -name '*.tmp-*' | sort
}

# --- 1. FIFOs named like backups ---------------------------------------------

@test "1. a FIFO named like a backup: bk-list, bk-clean, the aliases skip it with a warning, nothing hangs" {
	fake_backup full_100 "$(iso_days_ago 1)"
	mkfifo "$BACKUP_DIR/full_200.json"
	run --separate-stderr timeout 10 bk-list --json
	[ "$status" -eq 0 ]
	[[ $stderr == *"full_200.json: a FIFO, not a regular file: skipped"* ]]
	[ "$(jq -r '.[].id' <<<"$output")" = full_100 ]
	run --separate-stderr timeout 10 bk-verify latest
	[ "$status" -eq 0 ]
	[ "$(jq -r .id <<<"$output")" = full_100 ]
	run --separate-stderr timeout 10 bk-verify full_200
	[ "$status" -eq 66 ]
	[[ $stderr == *"a FIFO"*"not a regular file"* ]]
	run --separate-stderr timeout 10 bk-clean 1
	[ "$status" -eq 0 ]
	[ -p "$BACKUP_DIR/full_200.json" ]	# not ours to remove
	# the lock was let go: a dump runs
	run --separate-stderr timeout 60 bk-dump --no-redis
	[ "$status" -eq 0 ]
}

# --- 2. symlinks: to /dev/zero, and the lock file ------------------------------

@test "2. a backup symlinked to /dev/zero with a .sha256 is refused, never hashed; by path it is read as a stream" {
	fake_backup full_100 "$(iso_days_ago 1)"
	ln -s /dev/zero "$BACKUP_DIR/full_300.json"
	cp "$BACKUP_DIR/full_100.json.sha256" "$BACKUP_DIR/full_300.json.sha256"
	run --separate-stderr timeout 10 bk-verify full_300
	[ "$status" -eq 66 ]
	[[ $stderr == *"full_300: a symbolic link"*"refused"* ]]
	run --separate-stderr timeout 10 bk-verify "$BACKUP_DIR/full_300.json"
	[ "$status" -eq 65 ]
	[[ $stderr != *checksum* ]]
	run --separate-stderr timeout 10 bk-list --json
	[ "$status" -eq 0 ]
	[[ $stderr == *"full_300.json: a symbolic link, not a regular file: skipped"* ]]
	run --separate-stderr timeout 10 bk-restore --dry-run full_300
	[ "$status" -eq 66 ]
	run --separate-stderr timeout 10 bk-clean
	[ "$status" -eq 0 ]
}

@test "2. a pipe, stdin and a symlink to a regular file named on the command line still verify" {
	fake_backup full_100 "$(iso_days_ago 1)"
	run --separate-stderr timeout 10 bk-verify - <"$BACKUP_DIR/full_100.json"
	[ "$status" -eq 0 ]
	[ "$(jq -r .checksum <<<"$output")" = absent ]
	run --separate-stderr timeout 10 bash -c 'bk-verify <(cat "$BACKUP_DIR/full_100.json")'
	[ "$status" -eq 0 ]
	[ "$(jq -r .checksum <<<"$output")" = absent ]
	ln -s "$BACKUP_DIR/full_100.json" "$BK_TMP/link.json"
	cp "$BACKUP_DIR/full_100.json.sha256" "$BK_TMP/link.json.sha256"
	sed -i 's/full_100.json/link.json/' "$BK_TMP/link.json.sha256"
	run --separate-stderr timeout 10 bk-verify "$BK_TMP/link.json"
	[ "$status" -eq 0 ]
	[ "$(jq -r .checksum <<<"$output")" = ok ]
	rm -f "$BK_TMP/link.json" "$BK_TMP/link.json.sha256"
}

@test "2. a FIFO or symlink as the .sha256 of a backup is refused, not read" {
	fake_backup full_100 "$(iso_days_ago 1)"
	rm "$BACKUP_DIR/full_100.json.sha256"
	mkfifo "$BACKUP_DIR/full_100.json.sha256"
	run --separate-stderr timeout 10 bk-verify full_100
	[ "$status" -eq 65 ]
	[[ $stderr == *"not a regular file"* ]]
	run --separate-stderr timeout 10 bk-list --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].checksum' <<<"$output")" = false ]
}

@test "2. a symlinked .bk.lock: no job follows it, its target is never created" {
	ln -s "$BK_TMP/lock-target" "$BACKUP_DIR/.bk.lock"
	run --separate-stderr timeout 60 bk-dump --no-redis
	[ "$status" -eq 73 ]
	[[ $stderr == *"lock file"*"a symbolic link, not a regular file"* ]]
	[ ! -e "$BK_TMP/lock-target" ]
	run --separate-stderr timeout 10 bk-clean
	[ "$status" -eq 73 ]
	[ ! -e "$BK_TMP/lock-target" ]
	rm "$BACKUP_DIR/.bk.lock"
	mkfifo "$BACKUP_DIR/.bk.lock"
	run --separate-stderr timeout 10 bk-clean
	[ "$status" -eq 73 ]
	[[ $stderr == *"a FIFO"* ]]
}

# --- 3. signals: temporary files go with the writer ---------------------------

# stalled NAME SIGNAL CMD...: runs CMD with the stall shim until its first write
# to a temporary file, sends SIGNAL, and leaves its exit status in $killed.
stalled() {
	local sig=$1 mark=$BK_TMP/stall.mark pid
	shift
	rm -f "$mark"
	# a background job of a script starts with SIGINT ignored: give it back
	env --default-signal=INT,TERM,HUP LD_PRELOAD="$BK_TMP/stall.so" BK_STALL_MARK="$mark" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@" >/dev/null 2>"$BK_TMP/stall.err" 3>&- &
	pid=$!
	timeout 60 bash -c 'until [[ -e $1 ]] || ! kill -0 "$2" 2>/dev/null; do sleep 0.05; done' _ "$mark" "$pid" || true
	if [[ ! -e $mark || -z $(temps) ]]; then	# never reached its temporary file
		kill -KILL "$pid" 2>/dev/null || true
		cat "$BK_TMP/stall.err" >&2
		return 1
	fi
	kill -s "$sig" "$pid"
	killed=0
	if ! timeout 30 tail --pid="$pid" -f /dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		echo "SIG$sig did not end $*" >&2
	fi
	wait "$pid" || killed=$?
}

# bats test_tags=race
@test "3. bk-dump killed by SIGTERM, SIGINT or SIGHUP removes its temporary file and exits 128+n" {
	local sig n
	for sig in TERM INT HUP; do
		stalled "$sig" bk-dump --no-redis
		n=$(kill -l "$sig")
		echo "SIG$sig: exit $killed" >&2
		[ "$killed" -eq $((128 + n)) ]
		[ -z "$(temps)" ]
		[ -z "$(ls "$BACKUP_DIR")" ]
	done
}

# bats test_tags=race
@test "3. bk-raffle and the safety backup of bk-restore remove their temporary files on SIGTERM" {
	local raffle
	raffle=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	stalled TERM bk-raffle "$raffle"
	[ "$killed" -eq 143 ]
	[ -z "$(temps)" ]
	run --separate-stderr timeout 120 bk-dump --no-redis
	[ "$status" -eq 0 ]
	local id
	id=$(jq -r .id <<<"$output")
	stalled TERM bk-restore --yes --skip-redis "$id"
	[ "$killed" -eq 143 ]
	[ -z "$(temps)" ]
	[ "$(ls "$BACKUP_DIR" | grep -c '\.json$')" -eq 1 ]
}

# bats test_tags=race
@test "3. bk-dump and bk-raffle remove stale temporaries of their kind at start, only when the lock is theirs" {
	echo partial >"$BACKUP_DIR/.full_1.json.tmp-AbC123"
	echo partial >"$BACKUP_DIR/full_1.json.sha256.tmp-XyZ789"
	echo partial >"$BACKUP_DIR/.raffle_r_2.json.tmp-AbC123"
	echo notes >"$BACKUP_DIR/.notes.json.tmp-AbC123"
	# while another job holds the lock, the temporaries may be its own
	flock "$BACKUP_DIR/.bk.lock" -c 'bk-dump --no-redis' 2>"$BK_TMP/err" || true
	[ -e "$BACKUP_DIR/.full_1.json.tmp-AbC123" ]
	run --separate-stderr timeout 120 bk-dump --no-redis
	[ "$status" -eq 0 ]
	[[ $stderr == *"removed 2 temporary files left by an interrupted full backup"* ]]
	[ ! -e "$BACKUP_DIR/.full_1.json.tmp-AbC123" ]
	[ ! -e "$BACKUP_DIR/full_1.json.sha256.tmp-XyZ789" ]
	[ -e "$BACKUP_DIR/.raffle_r_2.json.tmp-AbC123" ]	# not its kind
	[ -e "$BACKUP_DIR/.notes.json.tmp-AbC123" ]	# not a backup's
	run --separate-stderr timeout 120 bk-raffle "$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')"
	[ "$status" -eq 0 ]
	[ ! -e "$BACKUP_DIR/.raffle_r_2.json.tmp-AbC123" ]
}

# --- 4. read-only operations --------------------------------------------------

# as_reader CMD...: CMD as a user who cannot write $BACKUP_DIR (root writes anywhere).
as_reader() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u bktest -- env PATH="$PATH" BACKUP_DIR="$BACKUP_DIR" BK_ENV_FILE=/dev/null \
			DATABASE_URL="$DATABASE_URL" timeout 60 "$@"
	else
		timeout 60 "$@"
	fi
}

# bats test_tags=race
@test "4. a read-only BACKUP_DIR: bk-restore --dry-run, bk-verify, bk-list work; no lock is taken" {
	run --separate-stderr timeout 120 bk-dump --no-redis
	[ "$status" -eq 0 ]
	local id
	id=$(jq -r .id <<<"$output")
	rm -f "$BACKUP_DIR/.bk.lock"
	chmod -R a+rX "$BK_TMP" 2>/dev/null || true
	chmod 0555 "$BACKUP_DIR"
	run --separate-stderr as_reader bk-restore --dry-run "$id"
	echo "$stderr" >&2
	[ "$status" -eq 0 ]
	run --separate-stderr as_reader bk-verify "$id"
	[ "$status" -eq 0 ]
	run --separate-stderr as_reader bk-list --json
	[ "$status" -eq 0 ]
	run --separate-stderr as_reader bk-clean --dry-run
	[ "$status" -eq 0 ]
	[ ! -e "$BACKUP_DIR/.bk.lock" ]
	chmod 0700 "$BACKUP_DIR"
	# and while another job holds the lock
	run --separate-stderr flock "$BACKUP_DIR/.bk.lock" timeout 60 bk-restore --dry-run "$id"
	[ "$status" -eq 0 ]
}

@test "4. a missing BACKUP_DIR is not created by readers: they say where they looked, 66" {
	rmdir "$BACKUP_DIR"
	local want="no backups in $BACKUP_DIR (BACKUP_DIR); run from the bot's directory or set BACKUP_DIR"
	run --separate-stderr timeout 10 bk-list --json
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
	[ "$stderr" = "bk-list: $want" ]
	run --separate-stderr timeout 10 bk-verify latest
	[ "$status" -eq 66 ]
	[[ $stderr == *"$want"* ]]
	run --separate-stderr timeout 10 bk-restore --dry-run full_1
	[ "$status" -eq 66 ]
	[[ $stderr == *"$want"* ]]
	run --separate-stderr timeout 10 bk-clean --dry-run
	[ "$status" -eq 66 ]
	[ ! -e "$BACKUP_DIR" ]
	# relative: the message names the absolute place
	run --separate-stderr bash -c 'cd "$BK_TMP" && BACKUP_DIR=./nowhere timeout 10 bk-list'
	[ "$status" -eq 66 ]
	[ "$stderr" = "bk-list: no backups in $BK_TMP/nowhere (BACKUP_DIR); run from the bot's directory or set BACKUP_DIR" ]
	[ ! -e "$BK_TMP/nowhere" ]
	[ ! -e "$BACKUP_DIR" ]
	run --separate-stderr timeout 60 "$BK_REPO/scripts/bk-check" --no-notify
	[ "$status" -eq 1 ]
	[ "$(jq -r .state <<<"$output")" = missing ]
	[ ! -e "$BACKUP_DIR" ]
}

# --- 5. the clock ---------------------------------------------------------------

@test "5. a backup dated in the future: flagged by bk-list, bk-verify, bk-check; skipped by latest and bk-clean's keep rule" {
	fake_backup full_100 "$(iso_days_ago 40)"
	fake_backup full_900 "2099-01-01T00:00:00.000Z"
	run --separate-stderr timeout 10 bk-list --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[] | select(.id == "full_900") | .status' <<<"$output")" = future ]
	[ "$(jq -r '.[] | select(.id == "full_100") | .status' <<<"$output")" = ok ]
	run --separate-stderr timeout 10 bk-verify full_900
	[ "$status" -eq 0 ]
	[[ $stderr == *"in the future of this clock"*"check the clock"* ]]
	[ "$(jq -r .warning <<<"$output")" != null ]
	run --separate-stderr timeout 10 bk-verify latest
	[ "$status" -eq 0 ]
	[ "$(jq -r .id <<<"$output")" = full_100 ]
	[[ $stderr == *"full_900.json: dated 2099"*"skipped by latest"* ]]
	run --separate-stderr timeout 60 "$BK_REPO/scripts/bk-check" --no-notify
	[ "$status" -eq 1 ]
	[ "$(jq -r .state <<<"$output")" = future ]
	[[ $(jq -r .reason <<<"$output") == *clock* ]]
	# the newest full backup that counts is full_100: kept although 40 days old
	run --separate-stderr timeout 10 bk-clean 30
	[ "$status" -eq 0 ]
	[ -e "$BACKUP_DIR/full_100.json" ]
	[ -e "$BACKUP_DIR/full_900.json" ]
	[[ $stderr == *"full_900.json: dated 2099"*"not counted by --keep-last"* ]]
}

@test "5. a few minutes ahead (under 5) is not the future: clocks drift" {
	fake_backup full_100 "$(date -u -d '3 minutes' +%Y-%m-%dT%H:%M:%S.000Z)"
	run --separate-stderr timeout 10 bk-list --json
	[ "$(jq -r '.[0].status' <<<"$output")" = ok ]
	run --separate-stderr timeout 10 bk-verify latest
	[ "$status" -eq 0 ]
	[[ $stderr != *future* ]]
}

# --- 7. control characters ------------------------------------------------------

@test "7. terminal escapes in keys, ids and paths are escaped in every message" {
	local esc=$'\e]0;pwned\a\e[2J'
	printf '{"metadata":{"id":"full_1","timestamp":"2024-01-01T00:00:00.000Z","type":"full","version":"1.0"},"data":{"x%s":[{"a":1}]}}\n' \
		'\u001b]0;pwned\u0007\u001b[2J' >"$BACKUP_DIR/full_1.json"
	# a table with rows that the database lacks is a loss: refused (77), named escaped
	run --separate-stderr timeout 60 bk-restore --dry-run full_1
	[ "$status" -eq 77 ]
	[[ $stderr != *$'\e'* && $stderr != *$'\a'* ]]
	[[ $stderr == *'x\x1b]0;pwned\x07\x1b[2J'* ]]
	printf '{"metadata":{"id":"full_2","timestamp":"2024-01-01T00:00:00.000Z","type":"full","version":"1.0"},"data":{"x%s":1}}\n' \
		'\u001b[2J' >"$BACKUP_DIR/full_2.json"
	run --separate-stderr timeout 10 bk-verify full_2
	[ "$status" -eq 65 ]
	[[ $stderr != *$'\e'* ]]
	run --separate-stderr timeout 10 bk-verify "./x${esc}/full_1.json"
	[ "$status" -eq 66 ]
	[[ $stderr != *$'\e'* && $stderr != *$'\a'* ]]
	mkfifo "$BACKUP_DIR/full_3.json" "$BACKUP_DIR/$esc"
	run --separate-stderr timeout 10 bk-list --json
	[[ $stderr != *$'\e'* ]]
	run --separate-stderr timeout 10 bk-raffle "r${esc}"
	[ "$status" -eq 64 ]
	[[ $stderr != *$'\e'* ]]
	BACKUP_DIR="$BK_TMP/d${esc}" run --separate-stderr timeout 10 bk-verify latest
	[[ $stderr != *$'\e'* ]]
}

@test "7. the database's own messages quoting a backup's values reach the terminal escaped" {
	bk_psql -c 'CREATE TABLE "EscProbe" (id text PRIMARY KEY, v text CHECK (length(v) < 3))' >/dev/null
	printf '{"metadata":{"id":"full_4","timestamp":"2024-01-01T00:00:00.000Z","type":"full","version":"1.0"},"data":{"escProbes":[{"id":"%s","v":"%s"}]}}\n' \
		'\u001b[2J' 'long\u001b]0;pwned\u0007' >"$BACKUP_DIR/full_4.json"
	run --separate-stderr timeout 60 bk-restore --yes --no-safety-backup --skip-redis full_4
	bk_psql -c 'DROP TABLE "EscProbe"' >/dev/null
	echo "$stderr" >&2
	[ "$status" -ne 0 ]
	[[ $stderr == *EscProbe* ]]
	[[ $stderr != *$'\e'* && $stderr != *$'\a'* ]]
}

# --- 6. sizes ---------------------------------------------------------------------

# big_value MB [KIND]: a full backup whose one Admin row holds a string of MB
# megabytes in "permissions" (text); KIND json puts it in an AuditLog JSON
# column instead, as a JSON string.
big_value() {
	python3 - "$BACKUP_DIR/full_1.json" "$1" <<-'PY'
	import sys
	path, mb = sys.argv[1], int(sys.argv[2])
	with open(path, "w") as f:
	    f.write('{"metadata":{"id":"full_1","type":"full","timestamp":"2024-01-01T00:00:00.000Z",'
	            '"version":"1.0","rowCounts":{"Admin":1}},"data":{"Admin":[{"id":"a1",'
	            '"telegramUserId":1,"createdAt":"2024-01-01T00:00:00.000Z",'
	            '"updatedAt":"2024-01-01T00:00:00.000Z","permissions":"')
	    chunk = ("abcdefghi\\t" * 100000)
	    left = mb << 20
	    while left > 0:
	        f.write(chunk[:left])
	        left -= len(chunk)
	    f.write('"}]}}\n')
	PY
}

@test "6. peak memory of bk-restore --dry-run is about twice the largest value, not four times" {
	local mb=${BK_BIG_MB:-100} rss limit
	big_value "$mb"
	/usr/bin/time -f '%M' -o "$BK_TMP/rss" timeout 300 bk-restore --dry-run full_1 >/dev/null 2>"$BK_TMP/err" ||
		{ cat "$BK_TMP/err" >&2; false; }
	rss=$(cat "$BK_TMP/rss")
	echo "value ${mb} MB: peak RSS $((rss / 1024)) MB" >&2
	limit=$(((mb * 2 + mb / 2 + 40) * 1024))	# 2x (the escaped copy is longer) + a constant
	[ -z "${BK_SANITIZED:-}" ] || skip "peak RSS is not meaningful under a sanitizer"
	[ "$rss" -lt "$limit" ]
	/usr/bin/time -f '%M' -o "$BK_TMP/rss" timeout 300 bk-verify -q full_1
	rss=$(cat "$BK_TMP/rss")
	echo "bk-verify: peak RSS $((rss / 1024)) MB" >&2
}

@test "6. 50,000 table keys verify in linear time, with one summary line for the unknown ones" {
	python3 - "$BACKUP_DIR/full_1.json" <<-'PY'
	import sys
	n = 50000
	with open(sys.argv[1], "w") as f:
	    f.write('{"metadata":{"id":"full_1","type":"full","timestamp":"2024-01-01T00:00:00.000Z",'
	            '"version":"1.0"},"data":{')
	    f.write(",".join('"t%d":[]' % i for i in range(n)))
	    f.write('}}\n')
	PY
	local t0 t1
	t0=$(date +%s%3N)
	run --separate-stderr timeout 60 bk-verify -q full_1
	t1=$(date +%s%3N)
	echo "bk-verify: $((t1 - t0)) ms" >&2
	[ "$status" -eq 0 ]
	# a bound that only quadratic time breaks (it took over 60 s), not a slow machine
	[ $((t1 - t0)) -lt 20000 ]
	t0=$(date +%s%3N)
	run --separate-stderr timeout 60 bk-restore --dry-run full_1
	t1=$(date +%s%3N)
	echo "bk-restore --dry-run: $((t1 - t0)) ms, $(wc -l <<<"$stderr") lines on stderr" >&2
	[ "$status" -eq 0 ]
	[ $((t1 - t0)) -lt 20000 ]
	[ "$(grep -c 'is not a table' <<<"$stderr")" -le 6 ]
	[[ $stderr == *"and 49995 more keys"* ]]
}

# --- every option with awkward paths ---------------------------------------------
# Relative paths, names without a directory part, spaces, "-", missing parents:
# each works or is refused with a one-line error, never a crash or a hang.

# ok_or_clear STATUS...: the last run exited with one of STATUS, said something
# on one line when it failed, and did not crash (no signal, no sanitizer report).
ok_or_clear() {
	local want s
	for want in "$@"; do
		[[ $status -eq $want ]] && s=1
	done
	[[ ${s:-} ]] || { echo "exit $status, wanted $*: $stderr" >&2; return 1; }
	[ "$status" -lt 128 ]
	[[ $stderr != *Sanitizer* && $stderr != *"runtime error"* ]]
	if ((status)); then
		[ -n "$stderr$output" ]
	fi
}

@test "paths: BACKUP_DIR relative, with spaces, without a directory part, with a missing parent" {
	local dir
	mkdir -p "$BK_TMP/work"
	cd "$BK_TMP/work"
	for dir in backups "my backups/x y" "./rel dir" "-"; do
		mkdir -p "$(dirname -- "$dir")"
		export BACKUP_DIR=$dir
		run --separate-stderr timeout 120 bk-dump --no-redis
		ok_or_clear 0
		run --separate-stderr timeout 30 bk-list --json
		ok_or_clear 0
		[ "$(jq length <<<"$output")" -eq 1 ]
		run --separate-stderr timeout 30 bk-verify latest
		ok_or_clear 0
		run --separate-stderr timeout 120 bk-restore --dry-run latest
		ok_or_clear 0
		run --separate-stderr timeout 120 bk-raffle --ended
		ok_or_clear 0
		run --separate-stderr timeout 30 bk-clean --dry-run
		ok_or_clear 0
		run --separate-stderr timeout 30 bk-clean
		ok_or_clear 0
		rm -rf -- "$dir"
	done
	export BACKUP_DIR="$BK_TMP/work/no/such/parent"
	run --separate-stderr timeout 60 bk-dump --no-redis
	ok_or_clear 73
	[[ $stderr == *"cannot create the backup directory"* ]]
	run --separate-stderr timeout 30 bk-list
	ok_or_clear 66
	[[ $stderr == *"no backups in $BACKUP_DIR (BACKUP_DIR)"* ]]
	run --separate-stderr timeout 30 bk-verify latest
	ok_or_clear 66
	run --separate-stderr timeout 30 bk-clean
	ok_or_clear 73
	[ ! -e "$BK_TMP/work/no" ]
	export BACKUP_DIR="$BK_TMP/work/file"
	: >"$BACKUP_DIR"
	run --separate-stderr timeout 30 bk-list
	ok_or_clear 66
	[[ $stderr == *"not a directory"* ]]
	run --separate-stderr timeout 30 bk-dump --no-redis
	ok_or_clear 73
}

@test "paths: bk-dump -o FILE relative, bare, with spaces, -, a directory, a missing parent" {
	mkdir -p "$BK_TMP/work/sp ace"
	cd "$BK_TMP/work"
	local out
	for out in bare.json "./rel.json" "sp ace/x y.json" "$BK_TMP/work/abs.json"; do
		run --separate-stderr timeout 120 bk-dump --no-redis -o "$out"
		ok_or_clear 0
		[ -s "$out" ] && [ -s "$out.sha256" ]
		run --separate-stderr timeout 30 bk-verify "./${out#./}"
		[[ $out == /* ]] && run --separate-stderr timeout 30 bk-verify "$out"
		ok_or_clear 0
		[ "$(jq -r .checksum <<<"$output")" = ok ]
	done
	run --separate-stderr bash -c 'timeout 120 bk-dump --no-redis -o - | bk-verify -'
	ok_or_clear 0
	for out in "no/such/dir/x.json" "sp ace" "sp ace/" ""; do
		run --separate-stderr timeout 60 bk-dump --no-redis -o "$out"
		ok_or_clear 64 73 74
		[ -z "$(find . -name '*.tmp-*')" ]
	done
}

@test "paths: bk-verify and bk-restore given files relative, bare, with spaces, -, missing" {
	mkdir -p "$BK_TMP/work/sp ace"
	cd "$BK_TMP/work"
	run --separate-stderr timeout 120 bk-dump --no-redis -o "sp ace/b k.json"
	ok_or_clear 0
	cp "sp ace/b k.json" full_5.json
	run --separate-stderr timeout 30 bk-verify "sp ace/b k.json" "./sp ace/b k.json"
	ok_or_clear 0
	run --separate-stderr timeout 30 bk-verify full_5.json	# no '/': an id, and not a valid one
	ok_or_clear 64
	[[ $stderr == *"not a backup id"*"nor a path"* ]]
	run --separate-stderr timeout 30 bk-verify ./full_5.json
	ok_or_clear 0
	run --separate-stderr timeout 30 bk-verify "./missing/x.json" "./nothing.json"
	ok_or_clear 66
	run --separate-stderr timeout 30 bk-verify - - <full_5.json
	ok_or_clear 64
	run --separate-stderr timeout 30 bk-verify "./sp ace"
	ok_or_clear 66
	run --separate-stderr timeout 120 bk-restore --dry-run "./sp ace/b k.json"
	ok_or_clear 0
	run --separate-stderr timeout 120 bk-restore --dry-run - <full_5.json
	ok_or_clear 0
	run --separate-stderr timeout 120 bk-restore --dry-run ./full_5.json
	ok_or_clear 0
	run --separate-stderr timeout 120 bk-restore --dry-run ./missing/x.json
	ok_or_clear 66
	run --separate-stderr timeout 120 bk-restore --dry-run "./sp ace"
	ok_or_clear 66
	run --separate-stderr timeout 120 bk-restore --dry-run ""
	ok_or_clear 64 66
	run --separate-stderr timeout 120 bk-restore --dry-run full_5 extra
	ok_or_clear 64
}

@test "paths: odd arguments to bk-list, bk-clean, bk-raffle, bk-check" {
	cd "$BK_TMP"
	local a
	for a in "--limit=-1" "--limit=" "--limit=x" "--type=" "--type=-" "-" "--wait"; do
		run --separate-stderr timeout 10 bk-list "$a"
		ok_or_clear 64
	done
	for a in 0 -1 "" " 3" 1e3 99999999999999999999; do
		run --separate-stderr timeout 10 bk-clean --dry-run -- "$a"
		ok_or_clear 64
	done
	run --separate-stderr timeout 10 bk-clean --keep-last=-1
	ok_or_clear 64
	for a in "-" "" "a b" "../x" "x/y"; do
		run --separate-stderr timeout 60 bk-raffle -- "$a"
		ok_or_clear 64 66
		[ -z "$(find "$BACKUP_DIR" -name '*.tmp-*' 2>/dev/null)" ]
	done
	mkdir -p "$BK_TMP/with space"
	run --separate-stderr timeout 60 "$BK_REPO/scripts/bk-check" --no-notify -C "$BK_TMP/with space"
	ok_or_clear 1
	run --separate-stderr timeout 60 "$BK_REPO/scripts/bk-check" --no-notify -C "$BK_TMP/no/such"
	ok_or_clear 66
	run --separate-stderr timeout 60 "$BK_REPO/scripts/bk-check" --no-notify --max-age=-1
	ok_or_clear 64
}
