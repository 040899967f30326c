#!/usr/bin/env bash
# The off-site half of make bench (called by bench.sh, servers already up):
# bk-push and bk-pull of the bench backup against the local S3 server
# (s3rver behind the signature-checking proxy, as in tests/s3.bats),
# BENCH_RUNS times each; medians, MB/s, peak RSS.
#   BENCH_BACKUP=full.json tests/bench/s3.sh
set -euo pipefail

: "${BENCH_BACKUP:?the bk-dump backup to push and pull}"
RUNS=${BENCH_RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../helpers.bash
. "$here/../helpers.bash"	# bk_start_s3: the other servers are bench.sh's
. "$here/common.sh"

if [[ ! -f $BK_REPO/tests/node_modules/s3rver/bin/s3rver.js ]]; then
	echo "bench: s3rver is not installed (scripts/install-deps.sh): push and pull not measured" >&2
	exit 0
fi
bk_start_s3
trap 'bk_stop_s3' EXIT
id=full_$(date +%s%3N)	# the file's name in BACKUP_DIR; bk-push reads only the file
export BACKUP_DIR=$BK_TMP/bench-s3
mkdir -p "$BACKUP_DIR"
cp "$BENCH_BACKUP" "$BACKUP_DIR/$id.json"
(cd "$BACKUP_DIR" && sha256sum "$id.json" >"$id.json.sha256")
bytes=$(stat -c %s "$BACKUP_DIR/$id.json")
cp "$BACKUP_DIR/$id.json" "$BK_TMP/bench-s3.orig"

rm -f "$BK_TMP/s3_push.times" "$BK_TMP/s3_pull.times"
for run in $(seq 1 "$RUNS"); do
	export BK_S3_URL=s3://bk-test/bench$run/	# a new prefix: nothing to skip
	timed s3_push bk-push "$id"
	rm -f "$BACKUP_DIR/$id.json" "$BACKUP_DIR/$id.json.sha256"
	timed s3_pull bk-pull "$id"
	cmp "$BACKUP_DIR/$id.json" "$BK_TMP/bench-s3.orig"
	echo "bench: s3 run $run: push $(tail -1 "$BK_TMP/s3_push.times" | cut -d' ' -f1) s," \
		"pull $(tail -1 "$BK_TMP/s3_pull.times" | cut -d' ' -f1) s" >&2
done
rm -rf "$BK_S3_DIR/data/bk-test/bench"*

mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }'; }
push=$(median "$BK_TMP/s3_push.times" 1)
pull=$(median "$BK_TMP/s3_pull.times" 1)
echo
echo "== off-site copies: bk-push / bk-pull of the $((bytes >> 20)) MB backup, local s3rver behind the SigV4 proxy, $RUNS runs =="
printf 'bk-push   median %6.2f s   %6s MB/s   peak RSS median %6d KB, max %d KB   (target < 65536 KB)\n' \
	"$push" "$(mbps "$push")" "$(median "$BK_TMP/s3_push.times" 2)" \
	"$(cut -d' ' -f2 "$BK_TMP/s3_push.times" | sort -n | tail -1)"
printf 'bk-pull   median %6.2f s   %6s MB/s   peak RSS median %6d KB, max %d KB   (target < 65536 KB)\n' \
	"$pull" "$(mbps "$pull")" "$(median "$BK_TMP/s3_pull.times" 2)" \
	"$(cut -d' ' -f2 "$BK_TMP/s3_pull.times" | sort -n | tail -1)"
echo "(the test server is node + a Python proxy that hashes every body: it bounds these rates, not bk)"
