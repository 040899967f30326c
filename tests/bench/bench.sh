#!/usr/bin/env bash
# make bench: bk-dump against pg_dump --data-only on the same database, in
# the same run, alternately, and bk-dump --compress against pg_dump -Fc; then
# bk-restore against psql and pg_restore (restore.sh), and bk-push / bk-pull
# against a local S3 server (s3.sh).
# Usage: tests/bench/bench.sh [SCALE]   (default 1000000 tickets and buy events)
set -euo pipefail

SCALE=${1:-1000000}
RUNS=${BENCH_RUNS:-3}
# the plain dumps take seconds and vary from run to run: more of them
DUMP_RUNS=${BENCH_DUMP_RUNS:-$((RUNS > 5 ? RUNS : 5))}
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck disable=SC1091 # helpers.bash, written for bats, works here too
. "$here/../helpers.bash"

trap 'bk_stop_servers' EXIT
bk_start_servers
bk_load_schema
echo "bench: generating $SCALE tickets and $SCALE buy events ..." >&2
start=$(date +%s.%N)
bk_load_data "$SCALE"
echo "bench: generated in $(awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\", b - a }") s" >&2
for i in $(seq 1 100); do bk_redis SET "conversation:$i:1" "{\"step\":$i}" EX 86400 >/dev/null; done
bk_psql -c 'VACUUM ANALYZE' >/dev/null

. "$here/common.sh"

bk_psql -c "SELECT 'tables: ' || string_agg(format('%s=%s', relname, n_live_tup), ' ' ORDER BY relname)
            FROM pg_stat_user_tables" >&2
for run in $(seq 1 "$DUMP_RUNS"); do
	timed pg_dump pg_dump --data-only --exclude-table=_prisma_migrations -d "$DATABASE_URL" \
		-f "$BK_TMP/pg_dump.sql"
	timed bk_dump bk-dump -o "$BK_TMP/bk.json"
	# the same through the page cache, as pg_dump writes
	timed bk_dump_cached env BK_DIRECT_IO=no bk-dump -o "$BK_TMP/bk-cached.json"
	# pg_dump leaves its file in the page cache; a bk backup is on the disk
	# before it is renamed into place: the same pg_dump, its file fsync'd
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	timed pg_dump_sync sh -c 'pg_dump --data-only --exclude-table=_prisma_migrations -d "$1" -f "$2" &&
		sync "$2"' sh "$DATABASE_URL" "$BK_TMP/pg_dump_sync.sql"
	rm -f "$BK_TMP/pg_dump_sync.sql"
	echo "bench: dump run $run: pg_dump $(tail -1 "$BK_TMP/pg_dump.times" | cut -d' ' -f1) s," \
		"bk-dump $(tail -1 "$BK_TMP/bk_dump.times" | cut -d' ' -f1) s," \
		"bk-dump BK_DIRECT_IO=no $(tail -1 "$BK_TMP/bk_dump_cached.times" | cut -d' ' -f1) s," \
		"pg_dump + fsync $(tail -1 "$BK_TMP/pg_dump_sync.times" | cut -d' ' -f1) s" >&2
done

# compressed: bk-dump --compress (zstd, its own thread) against pg_dump -Fc
for run in $(seq 1 "$RUNS"); do
	timed pg_dump_fc pg_dump -Fc --data-only --exclude-table=_prisma_migrations -d "$DATABASE_URL" \
		-f "$BK_TMP/pg_dump.fc"
	timed bk_dump_zst bk-dump --compress -o "$BK_TMP/bk.json.zst"
	echo "bench: compressed dump run $run: pg_dump -Fc $(tail -1 "$BK_TMP/pg_dump_fc.times" | cut -d' ' -f1) s," \
		"bk-dump --compress $(tail -1 "$BK_TMP/bk_dump_zst.times" | cut -d' ' -f1) s" >&2
done

pg=$(median "$BK_TMP/pg_dump.times" 1)
bk=$(median "$BK_TMP/bk_dump.times" 1)
rss=$(median "$BK_TMP/bk_dump.times" 2)
rss_max=$(cut -d' ' -f2 "$BK_TMP/bk_dump.times" | sort -n | tail -1)
echo
echo "== full backup, $SCALE tickets + $SCALE buy events, $DUMP_RUNS runs each =="
printf 'pg_dump --data-only   median %6.2f s   output %s\n' "$pg" "$(du -h "$BK_TMP/pg_dump.sql" | cut -f1)"
printf 'bk-dump               median %6.2f s   output %s\n' "$bk" "$(du -h "$BK_TMP/bk.json" | cut -f1)"
bkc=$(median "$BK_TMP/bk_dump_cached.times" 1)
printf 'bk-dump BK_DIRECT_IO=no  median %6.2f s   (through the page cache, as pg_dump writes)\n' "$bkc"
pgs=$(median "$BK_TMP/pg_dump_sync.times" 1)
printf 'pg_dump + fsync       median %6.2f s   (its file on the disk, as a bk backup is)\n' "$pgs"
awk -v a="$bk" -v b="$pg" 'BEGIN { printf "ratio bk-dump / pg_dump           %6.2f   (target <= 1.0)\n", a / b }'
awk -v a="$bk" -v b="$pgs" 'BEGIN { printf "ratio bk-dump / pg_dump + fsync   %6.2f\n", a / b }'
awk -v a="$bkc" -v b="$pg" 'BEGIN { printf "ratio bk-dump BK_DIRECT_IO=no / pg_dump   %6.2f\n", a / b }'
printf 'bk-dump peak RSS      median %6d KB, max %d KB   (target < 65536 KB)\n' "$rss" "$rss_max"
pgfc=$(median "$BK_TMP/pg_dump_fc.times" 1)
bkz=$(median "$BK_TMP/bk_dump_zst.times" 1)
echo
echo "== compressed full backup, $RUNS runs each =="
printf 'pg_dump -Fc --data-only   median %6.2f s   output %s\n' "$pgfc" "$(du -h "$BK_TMP/pg_dump.fc" | cut -f1)"
printf 'bk-dump --compress        median %6.2f s   output %s\n' "$bkz" "$(du -h "$BK_TMP/bk.json.zst" | cut -f1)"
awk -v a="$bkz" -v b="$pgfc" -v sa="$(stat -c %s "$BK_TMP/bk.json.zst")" -v sb="$(stat -c %s "$BK_TMP/pg_dump.fc")" \
	'BEGIN { printf "ratio bk-dump --compress / pg_dump -Fc   time %5.2f (target <= 0.5)   size %5.2f (target <= 1)\n", a / b, sa / sb }'
printf 'bk-dump --compress peak RSS   median %6d KB, max %d KB   (target < 65536 KB)\n' \
	"$(median "$BK_TMP/bk_dump_zst.times" 2)" "$(cut -d' ' -f2 "$BK_TMP/bk_dump_zst.times" | sort -n | tail -1)"

# Where the time goes, so that the ratio can be understood on any machine:
# the disk's own write rate (a copy of pg_dump's output, fsync'd), the
# server's COPY alone (pg_dump to /dev/null, no disk), and one bk-dump with
# BK_PROFILE=1, which reports the time each of its threads spent per phase.
# Its threads overlap, so the phases add up to more than the wall time.
dd_out=$(dd if="$BK_TMP/pg_dump.sql" of="$BK_TMP/disk.test" bs=1M conv=fsync 2>&1 | tail -n 1)
rm -f "$BK_TMP/disk.test"
disk_rate=$(printf '%s\n' "$dd_out" | awk -F', ' '{ print $NF }')
for run in $(seq 1 "$RUNS"); do
	timed pg_dump_null pg_dump --data-only --exclude-table=_prisma_migrations -d "$DATABASE_URL" -f /dev/null
done
BK_PROFILE=1 bk-dump -o "$BK_TMP/bk.json" 2>"$BK_TMP/profile" >/dev/null
bk_bytes=$(stat -c %s "$BK_TMP/bk.json")
pg_bytes=$(stat -c %s "$BK_TMP/pg_dump.sql")
echo
echo "== where the time goes =="
printf 'disk write rate (dd of %s MB, fsync)   %s\n' "$((pg_bytes >> 20))" "$disk_rate"
printf 'server COPY alone (pg_dump to /dev/null)   median %6.2f s\n' "$(median "$BK_TMP/pg_dump_null.times" 1)"
printf 'bytes written: bk-dump %d MB, pg_dump %d MB (%.2fx)\n' "$((bk_bytes >> 20))" "$((pg_bytes >> 20))" \
	"$(awk -v a="$bk_bytes" -v b="$pg_bytes" 'BEGIN { print a / b }')"
sed 's/^bk-dump: profile: /bk-dump threads: /' "$BK_TMP/profile"

# the point of comparison with the original service: 10,000 tickets
small=$(bk_createdb bench_small --schema)
bk_load_data 10000 "$small"
for run in $(seq 1 "$RUNS"); do
	DATABASE_URL=$small timed small bk-dump -o "$BK_TMP/small.json"
done
printf 'bk-dump of 10,000 tickets   median %6.2f s   (target < 1 s)\n' "$(median "$BK_TMP/small.times" 1)"

if [ -x "$here/restore.sh" ]; then
	BENCH_BACKUP=$BK_TMP/bk.json BENCH_BACKUP_ZST=$BK_TMP/bk.json.zst BENCH_PGDUMP=$BK_TMP/pg_dump.sql \
		BENCH_PGDUMP_FC=$BK_TMP/pg_dump.fc BENCH_RUNS=$RUNS "$here/restore.sh"
fi
if [ -x "$here/s3.sh" ]; then
	BENCH_BACKUP=$BK_TMP/bk.json BENCH_RUNS=$RUNS "$here/s3.sh"
fi
