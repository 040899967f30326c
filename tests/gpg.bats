#!/usr/bin/env bats
# Encryption at rest: bk-dump -o - | gpg --symmetric, and back through
# gpg --decrypt | bk-restore -, as the README shows.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	bk_setup_servers_with_data 500
	bk_redis set conversation:7:8 '{"step":"secret"}' >/dev/null
	export GNUPGHOME=$BK_TMP/gnupg
	mkdir -p -m 0700 "$GNUPGHOME"
}

teardown_file() {
	if [[ -n ${GNUPGHOME:-} && -d $GNUPGHOME ]]; then
		gpgconf --kill gpg-agent >/dev/null 2>&1 || true
	fi
	bk_stop_servers
}

setup() {
	command -v gpg >/dev/null 2>&1 || skip "gpg is not installed"
	[[ -x $BK_BIN_DIR/bk-dump ]] || skip "bk-dump is not built yet"
	PASS=$BK_TMP/passphrase
	(umask 077 && printf 'correct horse battery staple\n' >"$PASS")
}

gpg_enc() { gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$PASS" --symmetric --cipher-algo AES256 "$@"; }
gpg_dec() { gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$PASS" --decrypt "$@"; }

@test "gpg: an encrypted backup holds no plaintext and decrypts to a verifiable backup" {
	local enc=$BK_TMP/full.json.gpg
	bk-dump -o - | gpg_enc -o "$enc"
	[ -s "$enc" ]
	# No wallet address, table name or Redis state in clear.
	! grep -aq 'walletUsers' "$enc"
	! grep -aq 'conversation:7:8' "$enc"
	gpg_dec "$enc" | head -c 200 | grep -q '"metadata"'
	if [[ -x $BK_BIN_DIR/bk-verify ]]; then
		gpg_dec "$enc" >"$BK_TMP/plain.json"
		run --separate-stderr bk-verify "$BK_TMP/plain.json"
		echo "$output $stderr"
		[ "$status" -eq 0 ]
	fi
	# The wrong passphrase gets nothing.
	printf 'wrong\n' >"$BK_TMP/wrong"
	run gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$BK_TMP/wrong" --decrypt "$enc"
	[ "$status" -ne 0 ]
}

@test "gpg: bk-dump -o - | gpg --symmetric, then gpg --decrypt | bk-restore - --yes round-trips" {
	[[ -x $BK_BIN_DIR/bk-restore ]] || skip "bk-restore is not built yet"
	local enc=$BK_TMP/round.json.gpg url
	bk-dump -o - | gpg_enc -o "$enc"
	url=$(bk_createdb decrypted --schema)
	bk_redis -n 2 flushdb >/dev/null
	gpg_dec "$enc" |
		DATABASE_URL=$url REDIS_URL="redis://127.0.0.1:$REDIS_PORT/2" \
			bk-restore - --yes --no-safety-backup >"$BK_TMP/restore.json"
	cat "$BK_TMP/restore.json"
	jq -e '.tables.Ticket == 500' "$BK_TMP/restore.json"
	# Same rows as the source, UserActivity aside (the backup keeps 90 days).
	diff <(bk_pgdump_data | awk '/^COPY public."UserActivity"/ { s = 1 } !s; /^\\\.$/ { s = 0 }') \
		<(bk_pgdump_data "$url" | awk '/^COPY public."UserActivity"/ { s = 1 } !s; /^\\\.$/ { s = 0 }')
	[ "$(bk_redis -n 2 get conversation:7:8)" = '{"step":"secret"}' ]
	bk_dropdb decrypted
}
