#!/usr/bin/env bats
# Off-site copies (bk-push, bk-pull, bk-list --remote, bk-clean --remote)
# against a real S3 server on loopback: s3rver behind tests/s3proxy.py,
# which checks every request's SigV4 signature like S3 does. The AWS CLI
# talks to the same endpoint for the interop tests.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	bk_setup_servers_with_data 1000
	bk_start_s3
	cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$BK_TMP/enospc.so" \
		"$BK_REPO/tests/shim/enospc.c" -ldl
	# one backup for most tests, a copy of it kept aside
	bk-dump >"$BK_TMP/dump.json"
	FIRST=$(jq -r .id "$BK_TMP/dump.json")
	mkdir -p "$BK_TMP/orig"
	cp "$BACKUP_DIR/$FIRST.json" "$BACKUP_DIR/$FIRST.json.sha256" "$BK_TMP/orig/"
	export FIRST
}

teardown_file() {
	if [[ -d $BK_TMP/gnupg ]]; then
		GNUPGHOME=$BK_TMP/gnupg gpgconf --kill gpg-agent >/dev/null 2>&1 || true
	fi
	bk_stop_s3
	bk_stop_servers
}

setup() {
	rm -f "$BK_S3_DIR/fail"
	unset BK_S3_PART_SIZE BK_GPG_RECIPIENT
	# a test that failed half-way may have taken it away
	[[ -f $BACKUP_DIR/$FIRST.json ]] || cp "$BK_TMP/orig/$FIRST.json" "$BK_TMP/orig/$FIRST.json.sha256" "$BACKUP_DIR/"
}

# the bucket's object names under the prefix, sorted
remote_names() {
	bk_s3_names
}

open_uploads() {
	bk_s3_open_uploads
}

# s3rver holds a multipart upload that was started
upload_opened() {
	[[ -n $(ls "$BK_S3_DIR/data/bk-test/._S3rver_uploads" 2>/dev/null) ]]
}

# a new full backup in $BACKUP_DIR; prints its id
new_backup() {
	bk-dump | jq -r .id
}

@test "push then pull: the same bytes come back, and every request was signed with its payload hash" {
	run --separate-stderr timeout 60 bk-push "$FIRST"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r '.pushed[0].id' <<<"$output")" = "$FIRST" ]
	[ "$(jq -r '.pushed[0].bytes' <<<"$output")" -eq "$(stat -c %s "$BK_TMP/orig/$FIRST.json")" ]
	remote_names | grep -qx "$FIRST.json"
	remote_names | grep -qx "$FIRST.json.sha256"
	# the checksum object came after the backup object
	obj=$(grep -n "\"PUT\", \"path\": \"/bk-test/backups/$FIRST.json\"" "$BK_S3_DIR/requests.jsonl" | tail -1 | cut -d: -f1)
	sum=$(grep -n "\"PUT\", \"path\": \"/bk-test/backups/$FIRST.json.sha256\"" "$BK_S3_DIR/requests.jsonl" | tail -1 | cut -d: -f1)
	[ "$obj" -lt "$sum" ]
	# the proxy refuses what is unsigned; still, see that it was signed
	! jq -e 'select((.signed | index("x-amz-content-sha256")) == null)' "$BK_S3_DIR/requests.jsonl" >/dev/null

	rm -f "$BACKUP_DIR/$FIRST.json" "$BACKUP_DIR/$FIRST.json.sha256"
	run --separate-stderr timeout 60 bk-pull "$FIRST"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	cmp "$BACKUP_DIR/$FIRST.json" "$BK_TMP/orig/$FIRST.json"
	(cd "$BACKUP_DIR" && sha256sum -c --quiet "$FIRST.json.sha256")
	[ "$(stat -c %a "$BACKUP_DIR/$FIRST.json")" = 600 ]
	bk-verify "$FIRST" >/dev/null
	# nothing secret on any output or in the log
	! grep -qF "$AWS_SECRET_ACCESS_KEY" <<<"$output$stderr"
	! grep -qF "$AWS_SECRET_ACCESS_KEY" "$BK_S3_DIR/requests.jsonl"
}

@test "a second push skips what the bucket holds with the same checksum" {
	timeout 60 bk-push "$FIRST" >/dev/null
	run --separate-stderr timeout 60 bk-push "$FIRST"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.skipped[0]' <<<"$output")" = "$FIRST" ]
	[ "$(jq '.pushed | length' <<<"$output")" -eq 0 ]
}

@test "interop: what bk-push uploads, the AWS CLI downloads and sha256sum -c accepts" {
	timeout 60 bk-push "$FIRST" >/dev/null
	mkdir -p "$BK_TMP/cli-down"
	bk_aws s3 cp --quiet --recursive --exclude '*' --include "$FIRST.json*" "$BK_S3_URL" "$BK_TMP/cli-down/"
	[ -f "$BK_TMP/cli-down/$FIRST.json" ]
	(cd "$BK_TMP/cli-down" && sha256sum -c "$FIRST.json.sha256")
}

@test "interop: what the AWS CLI uploads (a backup and its .sha256), bk-pull takes" {
	mkdir -p "$BK_TMP/elsewhere"
	id=$(BACKUP_DIR=$BK_TMP/elsewhere bk-dump | jq -r .id)
	bk_aws s3 cp --quiet --recursive --exclude '*' --include "$id.json*" "$BK_TMP/elsewhere/" "$BK_S3_URL"
	remote_names | grep -qx "$id.json.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	cmp "$BACKUP_DIR/$id.json" "$BK_TMP/elsewhere/$id.json"
	bk-verify "$id" >/dev/null
	# and the alias names it: the newest whole full backup in the bucket
	rm -f "$BACKUP_DIR/$id.json" "$BACKUP_DIR/$id.json.sha256"
	run --separate-stderr timeout 60 bk-pull latest
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r .id <<<"$output")" = "$id" ]
}

@test "compressed: <id>.json.zst goes up as it is stored, its .sha256 of the stored bytes; pull brings back the same file" {
	id=$(BK_COMPRESS=zstd bk-dump | jq -r .id)
	[ -f "$BACKUP_DIR/$id.json.zst" ]
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r '.pushed[0].id' <<<"$output")" = "$id" ]
	[ "$(jq -r '.pushed[0].bytes' <<<"$output")" -eq "$(stat -c %s "$BACKUP_DIR/$id.json.zst")" ]
	remote_names | grep -qx "$id.json.zst"
	remote_names | grep -qx "$id.json.zst.sha256"
	! remote_names | grep -qx "$id.json"
	mkdir -p "$BK_TMP/zdown"
	bk_aws s3 cp --quiet --recursive --exclude '*' --include "$id.json.zst*" "$BK_S3_URL" "$BK_TMP/zdown/"
	(cd "$BK_TMP/zdown" && sha256sum -c --quiet "$id.json.zst.sha256")
	cmp "$BK_TMP/zdown/$id.json.zst" "$BACKUP_DIR/$id.json.zst"
	run --separate-stderr bk-list --remote --json
	[ "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .compression' <<<"$output")" = zstd ]
	[ "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .status' <<<"$output")" = ok ]
	# a second push skips it
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$(jq -r '.skipped[0]' <<<"$output")" = "$id" ]

	mv "$BACKUP_DIR/$id.json.zst" "$BK_TMP/zdown/orig.json.zst"
	rm -f "$BACKUP_DIR/$id.json.zst.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r .path <<<"$output")" = "$BACKUP_DIR/$id.json.zst" ]
	[ "$(jq -r .compression <<<"$output")" = zstd ]
	cmp "$BACKUP_DIR/$id.json.zst" "$BK_TMP/zdown/orig.json.zst"
	(cd "$BACKUP_DIR" && sha256sum -c --quiet "$id.json.zst.sha256")
	[ ! -e "$BACKUP_DIR/$id.json" ]
	bk-verify "$id" >/dev/null
	# already there under its compressed name: not overwritten
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 73 ]
}

@test "compressed by hand: a user-made <id>.json.gz goes up and comes back as it is; --all pushes every kind" {
	id=$(new_backup)
	gzip "$BACKUP_DIR/$id.json"
	(cd "$BACKUP_DIR" && sha256sum "$id.json.gz" >"$id.json.gz.sha256" && rm -f "$id.json.sha256")
	zid=$(BK_COMPRESS=zstd bk-dump | jq -r .id)
	run --separate-stderr timeout 60 bk-push --all
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[[ $stderr != *"not pushed"* ]]
	remote_names | grep -qx "$id.json.gz.sha256"
	remote_names | grep -qx "$zid.json.zst.sha256"
	cp "$BACKUP_DIR/$id.json.gz" "$BK_TMP/hand.json.gz"
	rm -f "$BACKUP_DIR/$id.json.gz" "$BACKUP_DIR/$id.json.gz.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r .compression <<<"$output")" = gzip ]
	cmp "$BACKUP_DIR/$id.json.gz" "$BK_TMP/hand.json.gz"
	bk-verify "$id" >/dev/null
	# a damaged compressed copy in the bucket: refused, nothing lands
	rm -f "$BACKUP_DIR/$zid.json.zst" "$BACKUP_DIR/$zid.json.zst.sha256"
	printf 'garbage' >"$BK_TMP/garbage"
	bk_s3_put "$BK_TMP/garbage" "backups/$zid.json.zst"
	run --separate-stderr timeout 60 bk-pull "$zid"
	[ "$status" -eq 65 ]
	[ -z "$(find "$BACKUP_DIR" -name "*$zid*")" ]
}

@test "multipart: a backup larger than a part goes up in parts and comes back whole" {
	export BK_S3_PART_SIZE=65536
	id=$(new_backup)
	size=$(stat -c %s "$BACKUP_DIR/$id.json")
	[ "$size" -gt $((3 * 65536)) ]
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	grep -q "\"query\": \"partNumber=3&uploadId=" "$BK_S3_DIR/requests.jsonl"
	[ "$(open_uploads)" = 0 ]
	mkdir -p "$BK_TMP/mp"
	bk_aws s3 cp --quiet --recursive --exclude '*' --include "$id.json*" "$BK_S3_URL" "$BK_TMP/mp/"
	(cd "$BK_TMP/mp" && sha256sum -c --quiet "$id.json.sha256")
}

@test "a wrong secret: exit 77, SignatureDoesNotMatch said, nothing pulled" {
	run --separate-stderr env AWS_SECRET_ACCESS_KEY=not-the-secret timeout 60 bk-push "$FIRST"
	[ "$status" -eq 77 ]
	[[ $stderr == *SignatureDoesNotMatch* ]]
	[[ $stderr != *not-the-secret* ]]
	rm -f "$BACKUP_DIR/$FIRST.json" "$BACKUP_DIR/$FIRST.json.sha256"
	run --separate-stderr env AWS_SECRET_ACCESS_KEY=not-the-secret timeout 60 bk-pull "$FIRST"
	[ "$status" -eq 77 ]
	[ ! -e "$BACKUP_DIR/$FIRST.json" ]
	cp "$BK_TMP/orig/$FIRST.json" "$BK_TMP/orig/$FIRST.json.sha256" "$BACKUP_DIR/"
}

@test "the server down: exit 69 after the retries" {
	bk_stop_s3proxy
	run --separate-stderr timeout 60 bk-push "$FIRST"
	bk_start_s3proxy
	[ "$status" -eq 69 ]
	[[ $stderr == *"after 6 tries"* ]]
}

# bats test_tags=race
@test "500s then success: the push retries and succeeds" {
	id=$(new_backup)
	echo "3 500" >"$BK_S3_DIR/fail"
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ ! -e "$BK_S3_DIR/fail" ]
	[ "$(grep -c '"status": 500' "$BK_S3_DIR/requests.jsonl")" -ge 3 ]
	[ "$(jq -r '.pushed[0].id' <<<"$output")" = "$id" ]
	# and 500s that do not stop: 69
	id=$(new_backup)
	echo "100 503" >"$BK_S3_DIR/fail"
	run --separate-stderr timeout 60 bk-push "$id"
	rm -f "$BK_S3_DIR/fail"
	[ "$status" -eq 69 ]
	! remote_names | grep -qx "$id.json"
}

# bats test_tags=race
@test "SIGKILL during a multipart upload: no remote backup; the next push aborts the open upload and finishes" {
	export BK_S3_PART_SIZE=65536
	id=$(new_backup)
	echo "100 -20 PUT" >"$BK_S3_DIR/fail" # every part stalls
	bk-push "$id" >"$BK_TMP/killed.out" 2>&1 &
	pid=$!
	# the signal comes once the upload is open, however slow the start
	bk_poll 120 upload_opened
	kill -9 "$pid"
	wait "$pid" || true
	rm -f "$BK_S3_DIR/fail"
	! remote_names | grep -q "^$id"
	[ "$(open_uploads)" = 1 ]
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(open_uploads)" = 0 ]
	remote_names | grep -qx "$id.json.sha256"
}

# bats test_tags=race
@test "SIGTERM during a multipart upload: the upload is aborted, nothing stays" {
	export BK_S3_PART_SIZE=65536
	id=$(new_backup)
	echo "100 -20 PUT" >"$BK_S3_DIR/fail"
	bk-push "$id" >"$BK_TMP/term.out" 2>&1 &
	pid=$!
	# the signal comes once the upload is open, however slow the start
	bk_poll 120 upload_opened
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	rm -f "$BK_S3_DIR/fail"
	[ "$st" -ne 0 ]
	grep -q interrupted "$BK_TMP/term.out"
	[ "$(open_uploads)" = 0 ]
	! remote_names | grep -q "^$id"
}

@test "a remote copy whose checksum does not match: pull refuses (65), nothing lands" {
	id=$(new_backup)
	timeout 60 bk-push "$id" >/dev/null
	mv "$BACKUP_DIR/$id.json" "$BK_TMP/$id.json"
	rm -f "$BACKUP_DIR/$id.json.sha256"
	printf '%064d  %s.json\n' 0 "$id" >"$BK_TMP/bad.sha256"
	bk_s3_put "$BK_TMP/bad.sha256" "backups/$id.json.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 65 ]
	[[ $stderr == *"not the expected"* ]]
	[ ! -e "$BACKUP_DIR/$id.json" ]
	[ -z "$(find "$BACKUP_DIR" -name "*$id*")" ]
}

@test "disk full during a pull: 74, nothing lands, no temporary file" {
	id=$(new_backup)
	timeout 60 bk-push "$id" >/dev/null
	rm -f "$BACKUP_DIR/$id.json" "$BACKUP_DIR/$id.json.sha256"
	run --separate-stderr env LD_PRELOAD="$BK_TMP/enospc.so" BK_ENOSPC_AFTER=20000 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		timeout 60 bk-pull "$id"
	[ "$status" -eq 74 ]
	[ -z "$(find "$BACKUP_DIR" -name "*$id*")" ]
}

@test "bad configuration: exit 64 with the variable named, credentials never echoed" {
	run --separate-stderr env BK_S3_URL=http://x/ bk-push "$FIRST"
	[ "$status" -eq 64 ]
	[[ $stderr == *BK_S3_URL* ]]
	run --separate-stderr env AWS_ENDPOINT_URL=http://AKID:topsecret@127.0.0.1:1 bk-push "$FIRST"
	[ "$status" -eq 64 ]
	[[ $stderr != *topsecret* ]]
	run --separate-stderr env -u AWS_SECRET_ACCESS_KEY bk-pull latest
	[ "$status" -eq 64 ]
	run --separate-stderr bk-pull ../etc/passwd
	[ "$status" -eq 64 ]
	run --separate-stderr bk-pull full_does_not_exist
	[ "$status" -eq 66 ]
}

@test "bk-list --remote: the bucket's backups, newest first, incomplete ones said" {
	timeout 60 bk-push "$FIRST" >/dev/null
	run --separate-stderr timeout 60 bk-list --remote --json
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r --arg id "$FIRST" '.[] | select(.id == $id) | "\(.type) \(.checksum) \(.status) \(.size)"' <<<"$output")" = \
		"full true ok $(stat -c %s "$BK_TMP/orig/$FIRST.json")" ]
	# newest first by the id's time
	jq -e '[.[].timestamp] as $t | $t == ($t | sort | reverse)' <<<"$output" >/dev/null
	# the same listing one object a page (ListObjectsV2's continuation)
	all=$(jq -c '[.[].id]' <<<"$output")
	run --separate-stderr env BK_S3_LIST_MAX_KEYS=1 timeout 60 bk-list --remote --json
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.[].id]' <<<"$output")" = "$all" ]
	grep -q '"query": "continuation-token=' "$BK_S3_DIR/requests.jsonl"
	# a backup object without its checksum: a push that did not finish
	bk_s3_put "$BK_TMP/orig/$FIRST.json" "${BK_S3_URL#s3://bk-test/}full_1000000009999.json"
	run --separate-stderr timeout 60 bk-list --remote --json --type full
	[ "$(jq -r '.[] | select(.id == "full_1000000009999") | .status' <<<"$output")" = incomplete ]
	run --separate-stderr timeout 60 bk-list --remote --table
	[ "$status" -eq 0 ]
	[[ $output == *"ID "*"STATUS"* ]]
	# and an alias never names it
	run --separate-stderr timeout 60 bk-pull full_1000000009999
	[ "$status" -eq 66 ] || [ "$status" -eq 69 ] # no checksum object: refused
	[ ! -e "$BACKUP_DIR/full_1000000009999.json" ]
	rm -f "$BK_S3_DIR/data/bk-test/backups/full_1000000009999.json."*
}

@test "bk-clean --remote: the retention of bk-clean, never the newest whole full backup" {
	export BK_S3_URL=s3://bk-test/retention/
	src=$BK_TMP/orig/$FIRST.json
	for id in full_1000000000000 full_1000000001000 raffle_7_1000000000500; do
		bk_s3_put "$src" "retention/$id.json"
		printf '%s  %s.json\n' "$(sha256sum <"$src" | cut -c1-64)" "$id" >"$BK_TMP/sum"
		bk_s3_put "$BK_TMP/sum" "retention/$id.json.sha256"
	done
	# compressed, and compressed then encrypted: every object of theirs goes
	for o in full_999999999000.json.zst full_999999999000.json.zst.sha256 \
		full_999999998000.json.zst.gpg full_999999998000.json.zst.gpg.sha256 full_999999998000.json.zst.sha256; do
		bk_s3_put "$BK_TMP/sum" "retention/$o"
	done
	# newer, but not whole: it does not count as the one to keep
	bk_s3_put "$src" retention/full_1000000002000.json
	run --separate-stderr timeout 60 bk-clean --remote 30 --dry-run
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq '.deleted | length' <<<"$output")" -eq 5 ]
	[ "$(remote_names | wc -l)" -eq 12 ]
	run --separate-stderr timeout 60 bk-clean --remote 30
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r '[.deleted[].id] | sort | join(" ")' <<<"$output")" = \
		"full_1000000000000 full_1000000002000 full_999999998000 full_999999999000 raffle_7_1000000000500" ]
	[ "$(remote_names | tr '\n' ' ')" = "full_1000000001000.json full_1000000001000.json.sha256 " ]
	# a key that may not delete: 77, and the backups stay
	bk_s3_put "$src" retention/full_1000000000001.json
	echo "5 403 DELETE" >"$BK_S3_DIR/fail"
	run --separate-stderr timeout 60 bk-clean --remote 30
	[ "$status" -eq 77 ]
	remote_names | grep -qx full_1000000000001.json
}

# a throwaway key pair, no passphrase, in a keyring of the test's own
make_key() {
	export GNUPGHOME=$BK_TMP/gnupg
	if [[ ! -d $GNUPGHOME ]]; then
		mkdir -p -m 0700 "$GNUPGHOME"
		gpg --batch --quiet --passphrase '' --quick-gen-key bk-offsite@example.invalid \
			default default never 2>/dev/null
	fi
}

@test "gpg: BK_GPG_RECIPIENT pushes <id>.json.gpg with no plaintext; pull decrypts and verifies" {
	command -v gpg >/dev/null 2>&1 || skip "gpg is not installed"
	make_key
	bk_redis set conversation:7:8 '{"step":"offsite-secret"}' >/dev/null
	id=$(new_backup)
	export BK_GPG_RECIPIENT=bk-offsite@example.invalid
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r '.pushed[0].encrypted' <<<"$output")" = true ]
	remote_names | grep -qx "$id.json.gpg"
	remote_names | grep -qx "$id.json.gpg.sha256"
	remote_names | grep -qx "$id.json.sha256"
	! remote_names | grep -qx "$id.json"
	mkdir -p "$BK_TMP/enc"
	# what the server holds, as it holds it
	cp "$BK_S3_DIR/data/bk-test/backups/$id.json.gpg._S3rver_object" "$BK_TMP/enc/$id.json.gpg"
	cp "$BK_S3_DIR/data/bk-test/backups/$id.json.gpg.sha256._S3rver_object" "$BK_TMP/enc/$id.json.gpg.sha256"
	(cd "$BK_TMP/enc" && sha256sum -c --quiet "$id.json.gpg.sha256")
	! grep -aq 'offsite-secret' "$BK_TMP/enc/$id.json.gpg"
	! grep -aq 'walletUsers' "$BK_TMP/enc/$id.json.gpg"
	# a second push: the bucket has it, with the same plain checksum
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$(jq -r '.skipped[0]' <<<"$output")" = "$id" ]

	mv "$BACKUP_DIR/$id.json" "$BK_TMP/enc/plain.json"
	rm -f "$BACKUP_DIR/$id.json.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	[ "$(jq -r .encrypted <<<"$output")" = true ]
	cmp "$BACKUP_DIR/$id.json" "$BK_TMP/enc/plain.json"
	bk-verify "$id" >/dev/null

	# without the secret key: refused, nothing lands
	rm -f "$BACKUP_DIR/$id.json" "$BACKUP_DIR/$id.json.sha256"
	mkdir -p -m 0700 "$BK_TMP/gnupg-empty"
	run --separate-stderr env GNUPGHOME="$BK_TMP/gnupg-empty" timeout 60 bk-pull "$id"
	[ "$status" -eq 65 ]
	[ -z "$(find "$BACKUP_DIR" -name "*$id*")" ]
	# a recipient without a key: 64, nothing in the bucket
	id2=$(new_backup)
	run --separate-stderr env BK_GPG_RECIPIENT=nobody@example.invalid timeout 60 bk-push "$id2"
	[ "$status" -eq 64 ]
	! remote_names | grep -q "^$id2"
	! grep -q "\"PUT\", \"path\": \"/bk-test/backups/$id2" "$BK_S3_DIR/requests.jsonl"
}

@test "gpg and zstd: <id>.json.zst.gpg with the stored checksum beside it; pull decrypts into <id>.json.zst" {
	command -v gpg >/dev/null 2>&1 || skip "gpg is not installed"
	make_key
	id=$(BK_COMPRESS=zstd bk-dump | jq -r .id)
	export BK_GPG_RECIPIENT=bk-offsite@example.invalid
	run --separate-stderr timeout 60 bk-push "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	remote_names | grep -qx "$id.json.zst.gpg"
	remote_names | grep -qx "$id.json.zst.gpg.sha256"
	remote_names | grep -qx "$id.json.zst.sha256"
	! remote_names | grep -qx "$id.json.zst"
	run --separate-stderr bk-list --remote --json
	[ "$(jq -r --arg id "$id" '.[] | select(.id == $id) | "\(.compression) \(.encrypted) \(.status)"' <<<"$output")" = "zstd true ok" ]
	mv "$BACKUP_DIR/$id.json.zst" "$BK_TMP/gz-orig.json.zst"
	rm -f "$BACKUP_DIR/$id.json.zst.sha256"
	run --separate-stderr timeout 60 bk-pull "$id"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	cmp "$BACKUP_DIR/$id.json.zst" "$BK_TMP/gz-orig.json.zst"
	bk-verify "$id" >/dev/null
}

# dump, push, lose the machine's backups and the database, recover
drill() {
	local id url
	id=$(new_backup)
	timeout 60 bk-push "$id" >/dev/null
	bk_pgdump_data >"$BK_TMP/before.txt"
	mkdir -p "$BK_TMP/empty-dir"
	url=$(bk_createdb "$1")
	BACKUP_DIR=$BK_TMP/empty-dir DATABASE_URL=$url \
		run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-recover" --yes "$id"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $output == *"pulling $id from $BK_S3_URL"* ]]
	bk_pgdump_data "$url" >"$BK_TMP/after.txt"
	diff "$BK_TMP/before.txt" "$BK_TMP/after.txt" | head -20
	bk_dropdb "$1"
	rm -rf "$BK_TMP/empty-dir"
}

@test "the drill: dump, push, a machine with no backup and an empty database, bk-recover --yes pulls and restores" {
	drill drill_plain
}

@test "the drill, encrypted: the same round trip through gpg" {
	command -v gpg >/dev/null 2>&1 || skip "gpg is not installed"
	make_key
	export BK_GPG_RECIPIENT=bk-offsite@example.invalid
	drill drill_gpg
	[[ $output == *decrypted* ]]
}

@test "the drill with a raffle backup in the bucket only, taken after the full one: bk-recover pulls and applies it too" {
	local id rid rb url dir=$BK_TMP/empty-raffles
	id=$(new_backup)
	rid=$(bk_psql -c 'SELECT id FROM "Raffle" ORDER BY id LIMIT 1')
	bk_psql -c "UPDATE \"Raffle\" SET \"prizeAmount\" = 'from the raffle backup' WHERE id = '$rid'"
	rb=$(bk-raffle "$rid" | jq -r .id)
	timeout 60 bk-push "$id" "$rb" >/dev/null
	mkdir -p "$dir"
	url=$(bk_createdb drill_raffles)
	# the dry run lists it and pulls nothing
	BACKUP_DIR=$dir DATABASE_URL=$url \
		run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-recover" --dry-run "$id" </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"$rb: in $BK_S3_URL only"* ]]
	[ -z "$(find "$dir" -name "raffle_*")" ]
	BACKUP_DIR=$dir DATABASE_URL=$url \
		run --separate-stderr timeout 180 "$BK_REPO/scripts/bk-recover" --yes "$id"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ $output == *"$rb: pulled from $BK_S3_URL"* ]]
	[[ $output == *"$rb: applied"* ]]
	[ "$(bk_psql -d "$url" -c "SELECT \"prizeAmount\" FROM \"Raffle\" WHERE id = '$rid'")" = "from the raffle backup" ]
	bk_dropdb drill_raffles
	rm -rf "$dir"
}

@test "bk-job: a dump job pushes its backup when BK_S3_URL is set; a failed push fails the job, the backup stays" {
	unset TELEGRAM_BOT_TOKEN TELEGRAM_NOTIFY_CHAT_IDS
	export BK_LOG_DIR=$BK_TMP/logs
	run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-job" hourly -- bk-dump
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	id=$(jq -r .id <<<"$output")
	remote_names | grep -qx "$id.json.sha256"
	grep -q "Backup job hourly push completed: $id to $BK_S3_URL" "$BK_LOG_DIR/backup.log"
	timeout 120 "$BK_REPO/scripts/bk-job" hourly -- bk-dump >/dev/null
	[ "$(grep -c 'off-site copies are not encrypted' "$BK_LOG_DIR/backup.log")" -eq 1 ]

	echo "100 503" >"$BK_S3_DIR/fail"
	run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-job" hourly -- bk-dump
	rm -f "$BK_S3_DIR/fail"
	[ "$status" -eq 69 ]
	id=$(jq -r .id <<<"$output")
	[ -f "$BACKUP_DIR/$id.json" ]
	tail -n 1 "$BK_LOG_DIR/backup.log" | grep -q "failed: push to $BK_S3_URL failed: .*(exit 69); the local backup stays"
	# compressed backups are pushed as they are stored
	run --separate-stderr env BK_COMPRESS=zstd timeout 120 "$BK_REPO/scripts/bk-job" hourly -- bk-dump
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	id=$(jq -r .id <<<"$output")
	remote_names | grep -qx "$id.json.zst.sha256"
	grep -q "Backup job hourly push completed: $id to $BK_S3_URL" "$BK_LOG_DIR/backup.log"
	# a job that is not a backup pushes nothing
	run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-job" listing -- bk-list --json
	[ "$status" -eq 0 ]
	! tail -n 1 "$BK_LOG_DIR/backup.log" | grep -q push
}

@test "bk-check: alerts when the newest whole full backup in the bucket is too old or missing" {
	id=$(new_backup)
	timeout 60 bk-push "$id" >/dev/null
	run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-check" --no-notify
	[ "$status" -eq 0 ] || { echo "$output $stderr"; false; }
	[ "$(jq -r .state <<<"$output")" = ok ]
	[ "$(jq -r .remote.newest <<<"$output")" = "$id" ]
	# the bucket's newest is from 2001
	src=$BK_TMP/orig/$FIRST.json
	bk_s3_put "$src" old/full_1000000001000.json
	printf '%s  full_1000000001000.json\n' "$(sha256sum <"$src" | cut -c1-64)" >"$BK_TMP/sum"
	bk_s3_put "$BK_TMP/sum" old/full_1000000001000.json.sha256
	BK_S3_URL=s3://bk-test/old/ run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-check" --no-notify
	[ "$status" -eq 1 ]
	[ "$(jq -r .state <<<"$output")" = remote-stale ]
	[ "$(jq -r .remote.newest <<<"$output")" = full_1000000001000 ]
	BK_S3_URL=s3://bk-test/nothing-here/ run --separate-stderr timeout 120 "$BK_REPO/scripts/bk-check" --no-notify
	[ "$status" -eq 1 ]
	[ "$(jq -r .state <<<"$output")" = remote-missing ]
}

@test "virtual-hosted addressing (BUCKET.ENDPOINT), and a session token that is signed" {
	export BK_S3_PATH_STYLE=0 AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL/127.0.0.1/s3.localhost}
	export AWS_SESSION_TOKEN=session-token-of-the-test
	run --separate-stderr timeout 60 bk-push "$FIRST"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	run --separate-stderr timeout 60 bk-list --remote --json
	[ "$status" -eq 0 ]
	jq -e --arg id "$FIRST" 'any(.[]; .id == $id)' <<<"$output" >/dev/null
	# the bucket went in the host name, not the path; the token was signed
	tail -n 1 "$BK_S3_DIR/requests.jsonl" | jq -e '.path == "/" and (.signed | index("x-amz-security-token"))' >/dev/null
	! grep -qF session-token-of-the-test <<<"$output$stderr"
}
