#!/usr/bin/env bats
# Root in the bot's directory: what a tool creates in a BACKUP_DIR owned by
# another user is handed to that user, so that the user's own jobs (cron as
# bk) can still read, replace and lock it; another user who is not root is
# refused. Needs root (the test user is bktest, PostgreSQL's owner here).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	[[ $EUID -eq 0 ]] || return 0
	bk_setup_servers_with_data 50
}

teardown_file() {
	[[ $EUID -eq 0 ]] || return 0
	bk_stop_servers
}

setup() {
	[[ $EUID -eq 0 ]] || skip "handing files to another user needs root"
	export BOT=$BK_TMP/bot
	rm -rf "$BOT"
	mkdir -p "$BOT"
	chown bktest: "$BOT"
	export BACKUP_DIR=$BOT/backups
}

# as_bk CMD...: CMD as the directory's owner, in its directory.
as_bk() {
	(cd "$BOT" && runuser -u bktest -- env PATH="$PATH" BACKUP_DIR="$BACKUP_DIR" \
		BK_ENV_FILE=/dev/null DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" timeout 120 "$@")
}

# owners DIR: "name:owner" of every entry, sorted.
owners() {
	find "$1" -mindepth 1 -printf '%f:%u\n' | sort | tr '\n' ' '
}

@test "root's first command on a new machine: backups/, the backup, its .sha256 and the lock are bk's" {
	run --separate-stderr bash -c 'cd "$BOT" && BACKUP_DIR= timeout 120 bk-dump --no-redis'
	[ "$status" -eq 0 ]
	[ "$stderr" = "bk-dump: $BOT belongs to bktest: the files written there are given to bktest (better: run as bktest, sudo -u bktest ...)" ]
	[ "$(stat -c %U:%a "$BACKUP_DIR")" = bktest:700 ]
	local id
	id=$(jq -r .id <<<"$output")
	[ "$(owners "$BACKUP_DIR")" = ".bk.lock:bktest $id.json.sha256:bktest $id.json:bktest " ]
	[ "$(stat -c %a "$BACKUP_DIR/$id.json")" = 600 ]
	# and the owner's own jobs go on
	run --separate-stderr as_bk bk-dump --no-redis
	[ "$status" -eq 0 ]
	run --separate-stderr as_bk bk-verify "$id"
	[ "$status" -eq 0 ]
	run --separate-stderr as_bk bk-clean
	[ "$status" -eq 0 ]
	[[ $stderr != *"Permission denied"* ]]
	run --separate-stderr as_bk bk-list --json
	[ "$(jq '[.[] | select(.status == "ok")] | length' <<<"$output")" -eq 2 ]
}

@test "root's raffle backups, safety backups and a stale root lock are handed over too" {
	mkdir -m 0700 "$BACKUP_DIR"
	chown bktest: "$BACKUP_DIR"
	: >"$BACKUP_DIR/.bk.lock" # left by an older version run as root
	run --separate-stderr timeout 120 bk-dump --no-redis --compress=zstd
	[ "$status" -eq 0 ]
	local id
	id=$(jq -r .id <<<"$output")
	run --separate-stderr timeout 120 bk-raffle --ended
	[ "$status" -eq 0 ]
	run --separate-stderr timeout 120 bk-restore --yes "$id"
	[ "$status" -eq 0 ]
	[ "$(find "$BACKUP_DIR" -mindepth 1 ! -user bktest | wc -l)" -eq 0 ]
	[ "$(find "$BACKUP_DIR" -mindepth 1 -name 'full_*.json*' | wc -l)" -ge 4 ] # dump, safety, sums
	run --separate-stderr as_bk bk-list --json
	[ "$status" -eq 0 ]
	[ "$(jq '[.[] | select(.status != "ok")] | length' <<<"$output")" -eq 0 ]
}

@test "another user who is not root is refused (77), nothing created" {
	mkdir -m 0755 "$BACKUP_DIR" # root's, as an older version left it
	run --separate-stderr as_bk bk-dump --no-redis
	[ "$status" -eq 77 ]
	[ "$stderr" = "bk-dump: BACKUP_DIR $BACKUP_DIR is owned by root; run as root, or give it to bktest: sudo chown -R bktest: $BACKUP_DIR" ]
	[ -z "$(ls -A "$BACKUP_DIR")" ]
	chown bktest: "$BACKUP_DIR"
	chown root: "$BOT"
	run --separate-stderr as_bk bk-dump --no-redis
	[ "$status" -eq 0 ]
	chown nobody: "$BACKUP_DIR"
	run --separate-stderr as_bk bk-raffle --ended
	[ "$status" -eq 77 ]
	[ "$stderr" = "bk-raffle: BACKUP_DIR $BACKUP_DIR is owned by nobody; run as nobody: sudo -u nobody bk-raffle ..." ]
	# readers only read: no refusal
	run --separate-stderr as_bk bk-list --json
	[ "$status" -eq 0 ]
}

@test "root in its own directory, or writing elsewhere, keeps its files and says nothing" {
	chown root: "$BOT"
	run --separate-stderr timeout 120 bk-dump --no-redis
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(find "$BACKUP_DIR" ! -user root | wc -l)" -eq 0 ]
	run --separate-stderr timeout 120 bk-dump --no-redis -o "$BK_TMP/root-copy.json"
	[ "$status" -eq 0 ]
	[ "$(stat -c %U "$BK_TMP/root-copy.json")" = root ]
}

@test "a backup an older version left owned by root: the owner's listing says how to give it back" {
	mkdir -m 0700 "$BACKUP_DIR"
	run --separate-stderr timeout 120 bk-dump --no-redis
	[ "$status" -eq 0 ]
	local path
	path=$(jq -r .path <<<"$output")
	chown bktest: "$BACKUP_DIR"
	chown root: "$path" # as before this version
	run --separate-stderr as_bk bk-list --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].error' <<<"$output")" = "permission denied: owned by root; give it to bktest (sudo chown bktest: $path)" ]
	chown bktest: "$path"
	run --separate-stderr as_bk bk-list --json
	[ "$(jq -r '.[0].status' <<<"$output")" = ok ]
}

@test "root's bk-job and bk-check by hand in the bot's directory: logs/ and what is in it are bk's; bk's own jobs go on" {
	run --separate-stderr bash -c 'cd "$BOT" && BK_ENV_FILE=/dev/null timeout 120 "$BK_REPO/scripts/bk-job" hourly -- bk-dump --no-redis'
	[ "$status" -eq 0 ]
	[ "$(stat -c %U:%a "$BOT/logs")" = bktest:700 ]
	[ "$(owners "$BOT/logs")" = ".bk-job.hourly.lock:bktest backup.log:bktest " ]
	run --separate-stderr bash -c 'cd "$BOT" && BK_ENV_FILE=/dev/null BK_MAX_AGE_HOURS=1 timeout 120 "$BK_REPO/scripts/bk-check"'
	[ "$(owners "$BOT/logs")" = ".bk-job.hourly.lock:bktest backup.log:bktest " ]
	# cron as the bot's user: the same job, and its lines in the same log
	run --separate-stderr as_bk "$BK_REPO/scripts/bk-job" hourly -- bk-dump --no-redis
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'Backup job hourly completed' "$BOT/logs/backup.log")" -eq 2 ]
	# a link planted in logs/ is not followed: its target keeps its owner
	ln -sf /etc/hostname "$BOT/logs/planted"
	bash -c '. "$BK_REPO/scripts/lib/bk-common.sh"; give_to_dir_owner "$BOT/logs/planted"' 2>/dev/null || true
	[ "$(stat -c %U /etc/hostname)" = root ]
}
