#!/usr/bin/env bash
# The restore half of make bench (called by bench.sh, servers already up):
# bk-restore of a bk-dump backup against psql restoring the pg_dump
# --data-only output of the same data, each into a fresh empty schema,
# alternately, BENCH_RUNS times; medians, ratio, bk-restore's peak RSS.
# With BENCH_PGDUMP_FC and BENCH_BACKUP_ZST also pg_restore of the -Fc file
# and bk-restore of the compressed backup.
#   BENCH_BACKUP=full.json BENCH_PGDUMP=data.sql tests/bench/restore.sh
set -euo pipefail

: "${BENCH_BACKUP:?the bk-dump backup to restore}"
: "${BENCH_PGDUMP:?the pg_dump --data-only output of the same data}"
RUNS=${BENCH_RUNS:-3}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../helpers.bash
. "$here/../helpers.bash"	# bk_createdb, bk_dropdb: the servers are bench.sh's

. "$here/common.sh"

rows() {	# rows DB: the row count of every table, one line
	"$BK_PG_BIN/psql" -X -q -A -t -d "$1" -c "SELECT string_agg(format('%s=%s', c.relname,
	    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname),
	    false, true, '')))[1]::text), ' ' ORDER BY c.relname)
	    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT IN ('_prisma_migrations', 'UserActivity')"
}

rm -f "$BK_TMP/psql_restore.times" "$BK_TMP/bk_restore.times" "$BK_TMP/pg_restore.times" \
	"$BK_TMP/bk_restore_zst.times"
for run in $(seq 1 "$RUNS"); do
	bk_dropdb bench_restore_psql
	db=$(bk_createdb bench_restore_psql --schema)
	timed psql_restore "$BK_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 --single-transaction \
		-d "$db" -f "$BENCH_PGDUMP"
	want=$(rows "$db")
	bk_dropdb bench_restore_psql

	bk_dropdb bench_restore_bk
	db=$(bk_createdb bench_restore_bk --schema)
	DATABASE_URL=$db timed bk_restore bk-restore --yes --no-safety-backup "$BENCH_BACKUP"
	have=$(rows "$db")
	bk_dropdb bench_restore_bk
	if [ "$have" != "$want" ]; then
		echo "bench: bk-restore restored other rows than psql:" >&2
		echo "  psql:       $want" >&2
		echo "  bk-restore: $have" >&2
		exit 1
	fi
	echo "bench: restore run $run: psql $(tail -1 "$BK_TMP/psql_restore.times" | cut -d' ' -f1) s," \
		"bk-restore $(tail -1 "$BK_TMP/bk_restore.times" | cut -d' ' -f1) s" >&2
	if [ -n "${BENCH_PGDUMP_FC:-}" ]; then
		bk_dropdb bench_restore_pgr
		db=$(bk_createdb bench_restore_pgr --schema)
		timed pg_restore "$BK_PG_BIN/pg_restore" --data-only --single-transaction -d "$db" "$BENCH_PGDUMP_FC"
		bk_dropdb bench_restore_pgr
	fi
	if [ -n "${BENCH_BACKUP_ZST:-}" ]; then
		bk_dropdb bench_restore_zst
		db=$(bk_createdb bench_restore_zst --schema)
		DATABASE_URL=$db timed bk_restore_zst bk-restore --yes --no-safety-backup "$BENCH_BACKUP_ZST"
		have=$(rows "$db")
		bk_dropdb bench_restore_zst
		[ "$have" = "$want" ] || { echo "bench: the compressed restore differs" >&2; exit 1; }
	fi
done

pg=$(median "$BK_TMP/psql_restore.times" 1)
bk=$(median "$BK_TMP/bk_restore.times" 1)
rss=$(median "$BK_TMP/bk_restore.times" 2)
rss_max=$(cut -d' ' -f2 "$BK_TMP/bk_restore.times" | sort -n | tail -1)
echo
echo "== restore into an empty schema, $RUNS runs each =="
printf 'psql < pg_dump        median %6.2f s\n' "$pg"
printf 'bk-restore            median %6.2f s\n' "$bk"
printf 'ratio bk-restore / psql      %6.2f   (target <= 1.5)\n' "$(echo "$bk / $pg" | bc -l)"
printf 'bk-restore peak RSS   median %6d KB, max %d KB   (target < 65536 KB)\n' "$rss" "$rss_max"
if [ -n "${BENCH_PGDUMP_FC:-}" ]; then
	pgr=$(median "$BK_TMP/pg_restore.times" 1)
	printf 'pg_restore of -Fc     median %6.2f s\n' "$pgr"
	printf 'ratio bk-restore / psql %6.2f (target <= 0.8), / pg_restore %6.2f (target <= 1.0)\n' \
		"$(echo "$bk / $pg" | bc -l)" "$(echo "$bk / $pgr" | bc -l)"
fi
if [ -n "${BENCH_BACKUP_ZST:-}" ]; then
	bkz=$(median "$BK_TMP/bk_restore_zst.times" 1)
	printf 'bk-restore of .zst    median %6.2f s   ratio to plain %5.2f (target <= 1.1)   peak RSS max %d KB\n' \
		"$bkz" "$(echo "$bkz / $bk" | bc -l)" "$(cut -d' ' -f2 "$BK_TMP/bk_restore_zst.times" | sort -n | tail -1)"
fi
