#!/usr/bin/env bash
# make check-stress: bk-dump of the benchmark's database ROUNDS times in a
# row; every run must give a whole backup (exit 0, bk-verify ok, and every
# table's row count equal to the database's). The COPY reader once lost a
# chunk of rows at a table's end in about one run in six at this size.
# Usage: tests/bench/stress.sh [ROUNDS]   (default 20; STRESS_SCALE tickets, default 1000000)
set -euo pipefail

ROUNDS=${1:-20}
SCALE=${STRESS_SCALE:-1000000}
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck disable=SC1091 # helpers.bash, written for bats, works here too
. "$here/../helpers.bash"

trap 'bk_stop_servers' EXIT
bk_start_servers
bk_load_schema
echo "stress: generating $SCALE tickets and $SCALE buy events ..." >&2
bk_load_data "$SCALE"

# The database's own counts, as bk-dump's metadata names the tables.
want=$BK_TMP/want
# UserActivity is left out: bk-dump takes only its last BK_ACTIVITY_DAYS days.
bk_psql -c "SELECT relname FROM pg_stat_user_tables
	WHERE relname NOT IN ('_prisma_migrations', 'UserActivity') ORDER BY 1" |
	while read -r t; do printf '%s %s\n' "$t" "$(bk_count "$t")"; done >"$want"

failed=0
for round in $(seq 1 "$ROUNDS"); do
	out=$BK_TMP/round.json
	if ! bk-dump --no-redis -o "$out" >"$BK_TMP/meta" 2>"$BK_TMP/err"; then
		echo "stress: round $round: bk-dump failed: $(cat "$BK_TMP/err")" >&2
		failed=$((failed + 1))
		continue
	fi
	if ! bk-verify "$out" >/dev/null 2>"$BK_TMP/err"; then
		echo "stress: round $round: bk-verify refused the backup: $(cat "$BK_TMP/err")" >&2
		failed=$((failed + 1))
		continue
	fi
	# bk-verify has checked the rows against the metadata's counts; the
	# metadata is the file's first line.
	got=$(head -n 1 "$out" | sed 's/,$/}/' | jq -r '.metadata.tables as $t |
		.metadata.rowCounts | to_entries[] | select(.key != "userActivities") |
		"\($t[.key]) \(.value)"' | sort)
	if ! diff <(sort "$want") <(printf '%s\n' "$got") >"$BK_TMP/diff"; then
		echo "stress: round $round: row counts differ from the database's:" >&2
		cat "$BK_TMP/diff" >&2
		failed=$((failed + 1))
		continue
	fi
	echo "stress: round $round: whole ($(du -h "$out" | cut -f1))" >&2
done
echo "stress: $((ROUNDS - failed)) of $ROUNDS bk-dump runs gave whole backups"
echo "$((ROUNDS - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
