#!/usr/bin/env bats
# Operations: the crontab, bk-job, bk-check, bk-recover, man pages, lint.

load helpers
bats_require_minimum_version 1.5.0

FAKE_TG=$BK_REPO/tests/fake_telegram.py
TG_TOKEN=123456:TEST-token-abcdefghijklmnop
S=$BK_REPO/scripts

setup_file() {
	bk_setup_servers_with_data 300
	bk_redis set conversation:1001:2002 '{"step":"wallet"}' >/dev/null
	bk_redis set conversation:1003:2004 '{"step":"amount"}' EX 3600 >/dev/null
}

teardown_file() {
	bk_stop_servers
}

setup() {
	WORK=$BK_TMP/work.$BATS_TEST_NUMBER
	mkdir -p "$WORK"
	cd "$WORK"
	export BK_LOG_DIR=$WORK/logs
	unset TELEGRAM_BOT_TOKEN TELEGRAM_NOTIFY_CHAT_IDS TELEGRAM_API_URL BK_NOTIFY_SUCCESS
	TG_DIR=
}

teardown() {
	if [[ -n ${TG_DIR:-} && -f $TG_DIR/port ]]; then
		python3 "$FAKE_TG" stop "$TG_DIR" >/dev/null 2>&1 || true
	fi
	if [[ -n ${TG_PID:-} ]]; then
		kill "$TG_PID" 2>/dev/null || true
	fi
	cd "$BK_TMP"
}

need() {
	local t
	for t in "$@"; do
		[[ -x $BK_BIN_DIR/$t ]] || skip "$t is not built yet"
	done
}

# Starts the fake Bot API and points the Telegram variables at it.
fake_tg() {
	[[ -f $FAKE_TG ]] || skip "tests/fake_telegram.py is missing"
	need tg-notify
	TG_DIR=$BK_TMP/tg.$BATS_TEST_NUMBER
	mkdir -p "$TG_DIR"
	bk_fake_telegram "$TG_DIR" "$TG_TOKEN" 600 >"$TG_DIR/serve.log" 2>&1
	TG_PID=$FAKE_PID
	export TELEGRAM_NOTIFY_CHAT_IDS=4242
}

tg_calls() {
	python3 "$FAKE_TG" calls "$TG_DIR" --method sendMessage
}

ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# ---------------------------------------------------------------- crontab

@test "crontab: user field, the three jobs at their times through bk-job, no CRON_TZ" {
	local tab=$BK_REPO/crontab/bk.crontab
	# Debian's cron ignores CRON_TZ: the crontab does not pretend, and says
	# that its times are the host's
	[ "$(grep -c '^CRON_TZ' "$tab")" -eq 0 ]
	grep -q "host's local time" "$tab"
	# a full backup every hour, the cleanup every day
	grep -Eq '^0 \* \* \* \*[[:space:]]+bk[[:space:]]+/usr/local/bin/bk-job .* -- /usr/local/bin/bk-dump( |$)' "$tab"
	grep -Eq '^[0-9]+ [0-9]+ \* \* \*[[:space:]]+bk[[:space:]]+/usr/local/bin/bk-job .* -- /usr/local/bin/bk-clean( |$)' "$tab"
	grep -Eq '^\*/5 \* \* \* \*[[:space:]]+bk[[:space:]]+/usr/local/bin/bk-job .* -- /usr/local/bin/bk-raffle --ended( |$)' "$tab"
	# Every job line: five time fields, a user, a command by absolute path,
	# no "%" (cron would turn it into a newline).
	local line n=0
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|$) || $line =~ ^[A-Z_]+= ]] && continue
		n=$((n + 1))
		[[ $line =~ ^([^[:space:]]+[[:space:]]+){5}bk[[:space:]]+/usr/local/bin/bk-[a-z]+ ]]
		[[ $line != *%* ]]
	done <"$tab"
	[ "$n" -ge 3 ]
}

@test "crontab: every line's command runs in the test environment with only .env" {
	need bk-dump bk-clean bk-raffle bk-list
	local tab=$BK_REPO/crontab/bk.crontab
	local work=$WORK/var-lib-bk
	mkdir -p "$work"
	# What the operator puts in /var/lib/bk/.env; cron gives no other variable.
	printf 'DATABASE_URL="%s"\nREDIS_URL=%s\n' "$DATABASE_URL" "$REDIS_URL" >"$work/.env"
	local subst=(-e "s|/usr/local/bin/bk-job|$S/bk-job|g"
		-e "s|/usr/local/bin/bk-check|$S/bk-check|g"
		-e "s|/usr/local/bin/bk-recover|$S/bk-recover|g"
		-e "s|/usr/local/bin/|$BK_BIN_DIR/|g"
		-e "s|/usr/local/bin|$BK_BIN_DIR:$S|g"
		-e "s|/var/lib/bk|$work|g")
	local cron_path
	cron_path=$(sed -n 's/^PATH=//p' "$tab" | sed "${subst[@]}")
	[[ $cron_path == "$BK_BIN_DIR:$S:"* ]]
	local line cmd n=0
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|$) || $line =~ ^[A-Z_]+= ]] && continue
		# Drop the five time fields and the user.
		cmd=$(printf '%s\n' "$line" | sed -E 's/^([^[:space:]]+[[:space:]]+){6}//' | sed "${subst[@]}")
		n=$((n + 1))
		run env -i HOME="$work" LOGNAME=bk PATH="$cron_path:$BK_PG_BIN" CRON_TZ=UTC \
			SHELL=/bin/sh /bin/sh -c "$cmd"
		echo "$output"
		[ "$status" -eq 0 ]
	done <"$tab"
	[ "$n" -ge 4 ]
	cat "$work/logs/backup.log"
	grep -Eq "^$ISO Backup job full completed: full_[0-9]+ " "$work/logs/backup.log"
	grep -Eq "^$ISO Backup job cleanup completed: " "$work/logs/backup.log"
	grep -Eq "^$ISO Backup job raffle-ended completed: raffle_" "$work/logs/backup.log"
	ls "$work"/backups/full_*.json "$work"/backups/raffle_*.json
	! grep -q failed "$work/logs/backup.log"
}

@test "make install: the systemd units and the crontab get the PREFIX's paths and /var/lib/bk, as the README says" {
	local d=$WORK/destdir share
	run make -C "$BK_REPO" install DESTDIR="$d" PREFIX=/opt/bk
	[ "$status" -eq 0 ]
	share=$d/opt/bk/share/bk
	grep -qx 'ExecStart=/opt/bk/bin/tg-relay' "$share/tg-relay.service"
	grep -q '^ExecStart=/opt/bk/bin/bk-raffle --watch' "$share/raffle-watch.service"
	! grep -q '/usr/local/bin' "$share/tg-relay.service" "$share/raffle-watch.service" "$share/bk.crontab"
	grep -q '/opt/bk/bin/bk-job -C /var/lib/bk' "$share/bk.crontab"
	local u
	for u in tg-relay raffle-watch; do
		grep -qx 'WorkingDirectory=/var/lib/bk' "$share/$u.service"
		grep -qx 'ReadWritePaths=/var/lib/bk' "$share/$u.service"
		grep -qx 'User=bk' "$share/$u.service"
	done
	# the directory the README's setup makes, and where it installs the unit from
	grep -q 'install -d -m 0700 -o bk -g bk /var/lib/bk' "$BK_REPO/README.md"
	grep -q 'install -m 0644 /usr/local/share/bk/tg-relay.service /etc/systemd/system/' "$BK_REPO/README.md"
	! grep -rq '/srv/raffle-bot' "$BK_REPO/README.md" "$BK_REPO/scripts" "$BK_REPO/man"
}

# ---------------------------------------------------------------- bk-job

@test "bk-job: -h prints usage, bad usage exits 64" {
	run "$S/bk-job" -h
	[ "$status" -eq 0 ]
	[[ $output == usage:* ]]
	run "$S/bk-job" full
	[ "$status" -eq 64 ]
	run "$S/bk-job" 'bad/name' -- true
	[ "$status" -eq 64 ]
	run "$S/bk-job" -t 0 full -- true
	[ "$status" -eq 64 ]
}

@test "bk-job: a full backup logs a completed line, passes the JSON through" {
	need bk-dump
	run --separate-stderr "$S/bk-job" full -- bk-dump
	[ "$status" -eq 0 ]
	local id
	id=$(jq -r .id <<<"$output")
	[[ $id == full_* ]]
	[ -f "$BACKUP_DIR/$id.json" ]
	cat "$BK_LOG_DIR/backup.log"
	[ "$(wc -l <"$BK_LOG_DIR/backup.log")" -eq 1 ]
	grep -Eq "^$ISO Backup job full completed: $id [0-9.]+[KMG]iB [0-9]+\.[0-9]{2}s$" "$BK_LOG_DIR/backup.log"
}

@test "bk-job: a failure logs the reason and exit status, notifies, exits with the job's status" {
	fake_tg
	run --separate-stderr env DATABASE_URL="postgresql://bk@/bk?host=$BK_TMP/nowhere&port=1" \
		"$S/bk-job" full -- bk-dump
	[ "$status" -eq 69 ]
	cat "$BK_LOG_DIR/backup.log"
	grep -Eq "^$ISO Backup job full failed: .+ \(exit 69\)$" "$BK_LOG_DIR/backup.log"
	run tg_calls
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	jq -e '.chat_id == "4242" and (.text | test("Backup job full failed")) and (.text | test("exit 69"))' <<<"${lines[0]}"
	# The token is in no log.
	! grep -rq "TEST-token" "$BK_LOG_DIR"
}

@test "bk-job: the reason is the job's last stderr line" {
	run "$S/bk-job" broken -- sh -c 'echo first >&2; echo "disk full" >&2; exit 74'
	[ "$status" -eq 74 ]
	grep -Eq "^$ISO Backup job broken failed: disk full \(exit 74\)$" "$BK_LOG_DIR/backup.log"
}

@test "bk-job: success is quiet on Telegram unless BK_NOTIFY_SUCCESS=1" {
	fake_tg
	run "$S/bk-job" ok -- echo '{"id":"full_1","size":2048}'
	[ "$status" -eq 0 ]
	run "$S/bk-job" nothing -- true
	[ "$status" -eq 0 ]
	grep -Eq "^$ISO Backup job ok completed: full_1 2\.0KiB " "$BK_LOG_DIR/backup.log"
	grep -Eq "^$ISO Backup job nothing completed: - " "$BK_LOG_DIR/backup.log"
	[ -z "$(tg_calls)" ]
	BK_NOTIFY_SUCCESS=1 run "$S/bk-job" ok -- echo '{"id":"full_2","size":10}'
	[ "$status" -eq 0 ]
	run tg_calls
	[ "${#lines[@]}" -eq 1 ]
	jq -e '.text | test("Backup job ok completed.*full_2")' <<<"${lines[0]}"
}

@test "bk-job: a job over its time limit is killed and logged (124)" {
	run "$S/bk-job" -t 1 slow -- sleep 30
	[ "$status" -eq 124 ]
	grep -Eq "^$ISO Backup job slow failed: timed out after 1s \(exit 124\)$" "$BK_LOG_DIR/backup.log"
}

@test "bk-job: the same job never overlaps itself (75); another job may run" {
	mkdir -p "$BK_LOG_DIR"
	local fd
	exec {fd}>>"$BK_LOG_DIR/.bk-job.full.lock"
	flock -n "$fd"
	run "$S/bk-job" full -- true
	[ "$status" -eq 75 ]
	run "$S/bk-job" other -- true
	[ "$status" -eq 0 ]
	exec {fd}>&-
	run "$S/bk-job" full -- true
	[ "$status" -eq 0 ]
	grep -Eq "^$ISO Backup job full failed: the previous run of full is still running \(exit 75\)$" "$BK_LOG_DIR/backup.log"
}

@test "bk-job: reads .env without executing it; the environment wins" {
	unset BK_ENV_FILE
	cat >.env <<'EOF'
# comment
export A="two words" # trailing comment
B='single $(touch pwned)'
C=plain value # comment
D=$(touch pwned2)
X=from-file
EOF
	X=from-env run --separate-stderr "$S/bk-job" envtest -- sh -c 'printf "%s|%s|%s|%s|%s\n" "$A" "$B" "$C" "$D" "$X"'
	[ "$status" -eq 0 ]
	[ "$output" = 'two words|single $(touch pwned)|plain value|$(touch pwned2)|from-env' ]
	[ ! -e pwned ] && [ ! -e pwned2 ]
}

@test "bk-job: BK_LOG_DIR defaults to ./logs, -C changes directory first" {
	unset BK_LOG_DIR
	mkdir -p sub
	run "$S/bk-job" -C sub where -- true
	[ "$status" -eq 0 ]
	grep -q "Backup job where completed" sub/logs/backup.log
}

# ---------------------------------------------------------------- bk-check

# old_backup HOURS: a real full backup whose metadata says it was taken
# HOURS ago (id and timestamp rewritten, checksum recomputed).
old_backup() {
	local ms ts id
	ms=$(($(date +%s%3N) - $1 * 3600 * 1000))
	ts=$(date -u -d "@$((ms / 1000))" +%Y-%m-%dT%H:%M:%S.%3NZ)
	id=full_$ms
	mkdir -p "$BACKUP_DIR"
	bk-dump -o - |
		sed -E "1s/\"id\":\"full_[0-9]+\"/\"id\":\"$id\"/; 1s/\"timestamp\":\"[^\"]+\"/\"timestamp\":\"$ts\"/" \
			>"$BACKUP_DIR/$id.json"
	(cd "$BACKUP_DIR" && sha256sum "$id.json" >"$id.json.sha256")
	echo "$id"
}

@test "bk-check: a fresh, whole full backup is ok (exit 0) and sends nothing" {
	need bk-dump bk-list
	fake_tg
	export BACKUP_DIR=$WORK/backups
	bk-dump >/dev/null
	run --separate-stderr "$S/bk-check"
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e '.state == "ok" and (.newest | startswith("full_")) and .ageHours < 1 and .maxAgeHours == 2' <<<"$output"
	if [[ -x $BK_BIN_DIR/bk-verify ]]; then
		jq -e '.verified == true' <<<"$output"
	fi
	[ -z "$(tg_calls)" ]
}

@test "bk-check: the newest full backup 27 hours old is stale: exit 1 and an alert" {
	need bk-dump bk-list
	fake_tg
	export BACKUP_DIR=$WORK/backups
	local id
	id=$(old_backup 27)
	run --separate-stderr "$S/bk-check"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 1 ]
	jq -e --arg id "$id" '.state == "stale" and .newest == $id and .ageHours >= 26.9 and .ageHours < 27.2' <<<"$output"
	run tg_calls
	echo "$output"
	[ "${#lines[@]}" -eq 1 ]
	jq -e --arg id "$id" '.chat_id == "4242" and (.text | test("stale")) and (.text | contains($id))' <<<"${lines[0]}"
	# With daily backups the operator sets 26: 25 hours is within that
	# limit, 27 is not; 27 is within --max-age 30 or BK_MAX_AGE_HOURS=30.
	rm -f "$BACKUP_DIR"/*
	old_backup 25 >/dev/null
	BK_MAX_AGE_HOURS=26 run --separate-stderr "$S/bk-check" --no-notify
	[ "$status" -eq 0 ]
	jq -e '.state == "ok" and .maxAgeHours == 26' <<<"$output"
	run --separate-stderr "$S/bk-check" --no-notify --max-age 26
	[ "$status" -eq 0 ]
	local newest
	newest=$(ls "$BACKUP_DIR"/full_*.json)
	old_backup 27 >/dev/null
	rm -f "$newest" "$newest.sha256"
	BK_MAX_AGE_HOURS=26 run --separate-stderr "$S/bk-check" --no-notify
	[ "$status" -eq 1 ]
	jq -e '.state == "stale" and .maxAgeHours == 26' <<<"$output"
	BK_MAX_AGE_HOURS=30 run --separate-stderr "$S/bk-check" --no-notify
	[ "$status" -eq 0 ]
	run --separate-stderr "$S/bk-check" --no-notify --max-age 30
	[ "$status" -eq 0 ]
}

@test "bk-check: the default limit is 2 hours (hourly backups): 1 hour old is ok, 3 hours old is stale" {
	need bk-dump bk-list
	export BACKUP_DIR=$WORK/backups
	local id
	id=$(old_backup 1)
	run --separate-stderr "$S/bk-check" --no-notify
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e --arg id "$id" '.state == "ok" and .newest == $id and .maxAgeHours == 2' <<<"$output"
	rm -f "$BACKUP_DIR"/*
	id=$(old_backup 3)
	run --separate-stderr "$S/bk-check" --no-notify
	echo "$output"
	[ "$status" -eq 1 ]
	jq -e --arg id "$id" '.state == "stale" and .newest == $id and .maxAgeHours == 2' <<<"$output"
	[[ $stderr == "bk-check: stale: the newest full backup $id is 3.0 hours old (limit 2)" ]]
}

@test "bk-check: every check runs; each failure alerts on its own line; the first one's state and status lead" {
	need bk-dump bk-list bk-verify
	fake_tg
	export BACKUP_DIR=$WORK/backups
	local id old
	# a damaged 27-hour-old newest backup, and the last good drill 9 days ago
	id=$(old_backup 27)
	sed -i '1s/"version":"1.1"/"version":"1.0"/' "$BACKUP_DIR/$id.json"
	old=$(date -u -d '9 days ago' +%Y-%m-%dT%H:%M:%S.000Z)
	mkdir -p "$BK_LOG_DIR"
	printf '%s Backup job drill completed: %s drilled 1.93s\n' "$old" "$id" >"$BK_LOG_DIR/backup.log"
	run --separate-stderr "$S/bk-check"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 1 ]
	jq -e --arg id "$id" '.state == "corrupt" and .verified == false and .newest == $id
		and (.reason | contains("fails bk-verify"))
		and ([.alerts[].state] == ["corrupt", "stale", "drill-stale"])
		and .alerts[0].reason == .reason
		and .drill.backup == $id and .drill.ageDays > 8.9' <<<"$output"
	[ "${#stderr_lines[@]}" -eq 3 ]
	[[ ${stderr_lines[0]} == "bk-check: corrupt: the newest full backup $id fails bk-verify"* ]]
	[[ ${stderr_lines[1]} == "bk-check: stale: the newest full backup $id is 27."*" hours old (limit 2)" ]]
	[[ ${stderr_lines[2]} == "bk-check: drill-stale: the last good restore drill ($id, $old) is 9."* ]]
	# one Telegram message, a line per failure
	run tg_calls
	[ "${#lines[@]}" -eq 1 ]
	jq -e '.text | split("\n") | length == 3 and (.[0] | test("corrupt")) and (.[1] | test("stale")) and (.[2] | test("drill-stale"))' <<<"${lines[0]}"
	# without Telegram: a log line per failure
	unset TELEGRAM_BOT_TOKEN TELEGRAM_NOTIFY_CHAT_IDS
	run --separate-stderr "$S/bk-check"
	[ "$status" -eq 1 ]
	[ "$(grep -c ' Backup check ' "$BK_LOG_DIR/backup.log")" -eq 3 ]
	grep -Eq "^$ISO Backup check drill-stale: the last good restore drill" "$BK_LOG_DIR/backup.log"
	# no backup at all (missing) still reports the drill; a bk-list that
	# fails (an I/O error: state error, 69) leads with its status
	rm -f "$BACKUP_DIR"/*
	run --separate-stderr "$S/bk-check" --no-notify
	[ "$status" -eq 1 ]
	jq -e '.state == "missing" and ([.alerts[].state] == ["missing", "drill-stale"])' <<<"$output"
	mkdir -p "$WORK/failing"
	printf '#!/bin/sh\necho "bk-list: backups: Input/output error" >&2\nexit 74\n' >"$WORK/failing/bk-list"
	chmod +x "$WORK/failing/bk-list"
	PATH=$WORK/failing:$PATH run --separate-stderr "$S/bk-check" --no-notify
	echo "$output"
	[ "$status" -eq 69 ]
	jq -e '.state == "error" and (.reason | contains("exit 74"))
		and ([.alerts[].state] == ["error", "drill-stale"])' <<<"$output"
}

@test "bk-check: no full backup at all is missing (exit 1)" {
	need bk-list
	fake_tg
	export BACKUP_DIR=$WORK/empty
	mkdir -p "$BACKUP_DIR"
	run --separate-stderr "$S/bk-check"
	[ "$status" -eq 1 ]
	jq -e '.state == "missing" and .newest == null and .ageHours == null' <<<"$output"
	run tg_calls
	[ "${#lines[@]}" -eq 1 ]
}

@test "bk-check: a damaged newest full backup is corrupt (exit 1)" {
	need bk-dump bk-list bk-verify
	export BACKUP_DIR=$WORK/backups
	local id
	id=$(bk-dump | jq -r .id)
	# Same length, one byte changed: the checksum no longer matches.
	sed -i '1s/"version":"1.1"/"version":"1.0"/' "$BACKUP_DIR/$id.json"
	run --separate-stderr "$S/bk-check"
	echo "$output"
	[ "$status" -eq 1 ]
	jq -e --arg id "$id" '.state == "corrupt" and .newest == $id and .verified == false' <<<"$output"
}

@test "bk-check: without Telegram the verdict goes to stderr and backup.log; a failure always to stderr" {
	need bk-dump bk-list
	export BACKUP_DIR=$WORK/empty
	mkdir -p "$BACKUP_DIR"
	# nothing listens: cron's MAILTO goes nowhere without a mail server
	run --separate-stderr "$S/bk-check"
	[ "$status" -eq 1 ]
	[[ $stderr == "bk-check: missing: no full backup in $BACKUP_DIR"* ]]
	grep -Eq "^$ISO Backup check missing: no full backup" "$BK_LOG_DIR/backup.log"
	export BACKUP_DIR=$WORK/backups
	bk-dump >/dev/null
	run --separate-stderr "$S/bk-check"
	[ "$status" -eq 0 ]
	[[ $stderr == "bk-check: ok: the newest full backup full_"*" hours old (limit 2), whole" ]]
	[ "$(grep -c ' Backup check ok: ' "$BK_LOG_DIR/backup.log")" -eq 1 ]
	# with Telegram told, an ok is quiet and unlogged, a failure still on stderr
	fake_tg
	: >"$BK_LOG_DIR/backup.log"
	run --separate-stderr "$S/bk-check"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ] && [ ! -s "$BK_LOG_DIR/backup.log" ]
	BACKUP_DIR=$WORK/empty run --separate-stderr "$S/bk-check"
	[ "$status" -eq 1 ]
	[[ $stderr == *"missing: no full backup"* ]]
	# --no-notify (a probe that alerts on its own): stderr on failure, no log
	BACKUP_DIR=$WORK/empty run --separate-stderr "$S/bk-check" --no-notify
	[ "$status" -eq 1 ]
	[[ $stderr == *"missing: no full backup"* ]]
	[ ! -s "$BK_LOG_DIR/backup.log" ]
}

@test "scripts: an unknown option is named in one line with where the usage is (64)" {
	local s
	for s in bk-job bk-check bk-recover; do
		run --separate-stderr "$S/$s" --bogus
		[ "$status" -eq 64 ]
		[ "$stderr" = "$s: unrecognized option '--bogus'"$'\n'"Try '$s --help'." ]
		[ -z "$output" ]
	done
	run --separate-stderr "$S/bk-job" -t
	[ "$status" -eq 64 ]
	[[ ${stderr_lines[0]} == "bk-job: option '-t' needs an argument" ]]
}

@test "scripts: a malformed .env line is refused (64), naming the file and line, as the C tools do" {
	unset BK_ENV_FILE
	printf 'A=1\nthis is no assignment\n' >.env
	local s
	for s in bk-job bk-check bk-recover; do
		run --separate-stderr "$S/$s" $([[ $s == bk-job ]] && echo x -- true)
		echo "$s: $stderr"
		[ "$status" -eq 64 ]
		[[ $stderr == "$s: .env:2: not a KEY=value line"* ]]
	done
	[ ! -e logs/backup.log ] || ! grep -q completed logs/backup.log
}

# ---------------------------------------------------------------- bk-recover

@test "bk-recover: on an empty database, creates the schema and restores a full backup with --yes" {
	need bk-dump bk-verify bk-restore
	export BACKUP_DIR=$WORK/backups
	local id url
	id=$(bk-dump | jq -r .id)
	url=$(bk_createdb recovered)
	bk_redis -n 3 flushdb >/dev/null
	DATABASE_URL=$url REDIS_URL="redis://127.0.0.1:$REDIS_PORT/3" \
		run --separate-stderr "$S/bk-recover" --yes
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $output == *"creating them from"* ]]
	[[ $output == *"Recovered from $id"* ]]
	[[ $output != *MISMATCH* ]]
	# Every row, and the Redis states.
	[ "$(bk_count Ticket "$url")" -eq "$(bk_count Ticket)" ]
	[ "$(bk_count Raffle "$url")" -eq "$(bk_count Raffle)" ]
	[ "$(bk_redis -n 3 get conversation:1001:2002)" = '{"step":"wallet"}' ]
	# The database had nothing worth a safety backup: only the one full backup.
	[ "$(ls "$BACKUP_DIR"/full_*.json | wc -l)" -eq 1 ]
	bk_dropdb recovered
}

@test "bk-recover: --dry-run verifies and shows, creates and restores nothing" {
	need bk-dump bk-verify bk-restore
	export BACKUP_DIR=$WORK/backups
	bk-dump >/dev/null
	local url
	url=$(bk_createdb dryrun)
	DATABASE_URL=$url run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"would create them from"* ]]
	[[ $output == *"Dry run of full_"* ]]
	[ "$(bk_psql -d "$url" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" -eq 0 ]
	# Prisma's ?schema= naming a schema that is not there: the dry run does
	# not create it; the real run does, and neither prints a NOTICE
	DATABASE_URL="$url&schema=botschema" run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	[ "$status" -eq 0 ]
	[ -z "$(bk_psql -d "$url" -c "SELECT 1 FROM pg_namespace WHERE nspname = 'botschema'")" ]
	[[ $output$stderr != *NOTICE* ]]
	DATABASE_URL="$url&schema=public" run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	[ "$status" -eq 0 ]
	[[ $output$stderr != *NOTICE* ]]
	DATABASE_URL="$url&schema=public" run --separate-stderr "$S/bk-recover" --yes --skip-redis
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ $output$stderr != *NOTICE* ]]
	bk_dropdb dryrun
}

@test "bk-recover: without a terminal and without --yes it refuses (77), touches nothing" {
	need bk-verify bk-restore
	local url
	url=$(bk_createdb refused)
	DATABASE_URL=$url run --separate-stderr "$S/bk-recover" </dev/null
	[ "$status" -eq 77 ]
	[ "$(bk_psql -d "$url" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" -eq 0 ]
	bk_dropdb refused
}

@test "bk-recover: a database that does not answer exits 69" {
	need bk-verify bk-restore
	DATABASE_URL="postgresql://bk@/bk?host=$BK_TMP/nowhere&port=1" \
		run --separate-stderr "$S/bk-recover" --yes
	[ "$status" -eq 69 ]
	[[ $stderr == *"cannot connect"* ]]
	# a server that answers, without the database: named as such
	DATABASE_URL="postgresql://bk@/raffle_gone?host=$PGHOST&port=$PGPORT" \
		run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	[ "$status" -eq 69 ]
	[[ $stderr == *"bk-recover: database raffle_gone does not exist; create it"* ]]
}

@test "secrets: a malformed DATABASE_URL exits 64 and its password is in no message, log or Telegram text" {
	fake_tg
	local bad="postgresql://bk:Hunter%zz2secret@/bk?host=$PGHOST&port=$PGPORT"
	run --separate-stderr env DATABASE_URL="$bad" bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr == *"DATABASE_URL is malformed"* && $stderr != *zz2secret* ]]
	run --separate-stderr env DATABASE_URL="$bad" bk-restore --yes "$BK_FIXTURES/restore_values.json"
	[ "$status" -eq 64 ]
	[[ $stderr != *zz2secret* ]]
	run --separate-stderr env DATABASE_URL="$bad" "$S/bk-job" full -- bk-dump
	[ "$status" -eq 64 ]
	[[ $stderr != *zz2secret* ]]
	grep -q "failed: .*(exit 64)" "$BK_LOG_DIR/backup.log"
	! grep -rq zz2secret "$BK_LOG_DIR"
	run tg_calls
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == *"exit 64"* && $output != *zz2secret* ]]
	run --separate-stderr env DATABASE_URL="$bad" "$S/bk-recover" --dry-run </dev/null
	[ "$status" -eq 64 ]
	[[ $stderr != *zz2secret* && $output != *zz2secret* ]]
}

@test "secrets: bk-recover gives psql the password in PGPASSWORD, never in its argv" {
	need bk-dump bk-verify bk-restore
	export BACKUP_DIR=$WORK/backups
	bk-dump >/dev/null
	local url shim=$WORK/shim
	url=$(bk_createdb pwdargv)
	mkdir -p "$shim"
	# a psql that writes down what ps would show, and its environment's password
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s/argv"\nprintf "%%s\\n" "$PGPASSWORD" >>"%s/pw"\nexec "%s/psql" "$@"\n' \
		"$WORK" "$WORK" "$BK_PG_BIN" >"$shim/psql"
	chmod +x "$shim/psql"
	DATABASE_URL=${url/bk@/bk:s3cr%40tpw@} PATH="$shim:$PATH" \
		run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ -s "$WORK/argv" ]
	! grep -q s3cr "$WORK/argv"
	[ "$(sort -u "$WORK/pw")" = 's3cr@tpw' ]
	bk_dropdb pwdargv
}

@test "bk-recover: as root where the backups are another user's, it says to run it as that user" {
	[[ $EUID -eq 0 ]] || skip "needs root"
	export BACKUP_DIR=$WORK/owned
	install -d -m 0700 -o bktest "$BACKUP_DIR"
	run --separate-stderr "$S/bk-recover" --dry-run </dev/null
	[[ $stderr == *"bk-recover: running as root where the backups belong to bktest: run it as bktest (sudo -u bktest"* ]]
}

@test "bk-recover: -h prints usage" {
	run "$S/bk-recover" -h
	[ "$status" -eq 0 ]
	[[ $output == usage:* ]]
	run "$S/bk-recover" --bogus
	[ "$status" -eq 64 ]
}

# ---------------------------------------------------------------- lint

@test "man pages: lint-clean under mandoc -Tlint -W warning" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local m n=0
	for m in "$BK_REPO"/man/*.[1-8]; do
		[[ -e $m ]] || continue
		n=$((n + 1))
		run mandoc -Tlint -W warning "$m"
		echo "$output"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
	[ "$n" -gt 0 ]
}

@test "the README, the man pages and the code are the whole contract: none cites a document users do not have" {
	run grep -rnE 'S[P]EC(\.md)?( §|\b)' "$BK_REPO/README.md" "$BK_REPO/man" "$BK_REPO/lib" "$BK_REPO/tools" \
		"$BK_REPO/scripts" "$BK_REPO/crontab" "$BK_REPO/tests" --include='*.[ch157]' --include='*.md' \
		--include='*.bats' --include='*.bash' --include='*.sh' --include='*.service' --include='bk-*' \
		--include='*.crontab'
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "man pages: every binary and script has one, and bk(7) exists" {
	local f name missing=()
	[ -f "$BK_REPO/man/bk.7" ]
	for f in "$BK_REPO"/tools/*.c "$BK_REPO"/scripts/bk-*; do
		name=$(basename "$f" .c)
		[[ -f $BK_REPO/man/$name.1 ]] || missing+=("$name")
	done
	echo "no man page: ${missing[*]}"
	[ "${#missing[@]}" -eq 0 ]
}

@test "shellcheck: every script in scripts/ and tests/*.bash is clean" {
	command -v shellcheck >/dev/null || skip "shellcheck is not installed"
	local scripts=()
	for f in "$BK_REPO"/scripts/*; do	# shell scripts only, not the systemd unit
		head -1 "$f" | grep -q '^#!.*sh' && scripts+=("$f")
	done
	run shellcheck "${scripts[@]}" "$BK_REPO"/tests/*.bash
	echo "$output"
	[ "$status" -eq 0 ]
}
