#!/usr/bin/env bash
# tests/flaky.sh (make check-flaky): runs the bats files whose tests start
# processes side by side FLAKY_ROUNDS times, with the binaries of bin/
# (plain) and of bin-asan/ (ASan + UBSan), while a background build keeps
# the machine busy. A test that passes only when one process happens to win
# a race fails here sooner or later.
#
# Environment:
#   FLAKY_ROUNDS   rounds per mode (default 20)
#   FLAKY_FILES    bats files to run (default: the concurrency-sensitive ones)
#   FLAKY_MODES    "plain asan" (default), or one of them
#   FLAKY_SEED     seed of round 1 (default: random); round R uses SEED+R-1,
#                  passed as RELAY_HOSTILE_SEED
#   FLAKY_LOAD     1 (default): load the machine with a build loop; 0: not
#   FLAKY_LOG_DIR  where each run's bats output goes (default build-flaky)
#   FLAKY_SAN_ENV  environment of the ASan runs (the Makefile passes the one
#                  of check-asan)
# Exit status 0 when every run passed, 1 otherwise; every failure is listed
# with its mode, round, file, test and seed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

rounds=${FLAKY_ROUNDS:-20}
# the files whose tests start processes side by side or wait on time limits
read -r -a files <<<"${FLAKY_FILES:-tests/faults.bats tests/dump.bats tests/clean.bats tests/raffle.bats tests/relay.bats tests/relay_hostile.bats tests/telegram.bats tests/drill.bats}"
read -r -a modes <<<"${FLAKY_MODES:-plain asan}"
seed0=${FLAKY_SEED:-$((RANDOM * 32768 + RANDOM))}
logdir=${FLAKY_LOG_DIR:-build-flaky}
read -r -a san_env <<<"${FLAKY_SAN_ENV:-BK_SANITIZED=1}"

if [[ ! $rounds =~ ^[1-9][0-9]*$ || ! $seed0 =~ ^[0-9]+$ ]]; then
	echo "flaky: FLAKY_ROUNDS must be a whole number from 1, FLAKY_SEED a number" >&2
	exit 64
fi
for m in "${modes[@]}"; do
	case $m in
	plain) bin=$repo/bin ;;
	asan) bin=$repo/bin-asan ;;
	*)
		echo "flaky: FLAKY_MODES: unknown mode $m (plain, asan)" >&2
		exit 64
		;;
	esac
	if [[ ! -x $bin/bk-dump ]]; then
		echo "flaky: $bin/bk-dump is missing: build it first (make check-flaky does)" >&2
		exit 64
	fi
done
for f in "${files[@]}"; do
	[[ -f $f ]] || {
		echo "flaky: no such bats file: $f" >&2
		exit 64
	}
done
mkdir -p "$logdir"

# The load: the project built again and again in a scratch directory, two
# jobs at a time, in a process group of its own so that it stops whole.
load_pid=
scratch=
stop_load() {
	if [[ -n $load_pid ]]; then
		kill -TERM -- "-$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
		load_pid=
	fi
	if [[ -n $scratch ]]; then
		rm -rf "$scratch"
		scratch=
	fi
}
trap stop_load EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
if [[ ${FLAKY_LOAD:-1} == 1 ]]; then
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/bk-flaky-load.XXXXXX")
	# shellcheck disable=SC2016 # $1 and $2 are the loop's own
	setsid bash -c 'while :; do
		rm -rf "$1/build" "$1/bin"
		make -s -C "$2" -j2 BUILD="$1/build" BIN="$1/bin" all >/dev/null 2>&1 || sleep 1
	done' flaky-load "$scratch" "$repo" </dev/null >/dev/null 2>&1 &
	load_pid=$!
	echo "flaky: machine loaded by a build loop (process group $load_pid)"
fi

failures=()
runs=0
passed=0
t_start=$SECONDS
echo "flaky: ${#files[@]} files, $rounds rounds of: ${modes[*]}; seeds $seed0..$((seed0 + rounds - 1))"
for ((r = 1; r <= rounds; r++)); do
	seed=$((seed0 + r - 1))
	for m in "${modes[@]}"; do
		env_extra=()
		bin=$repo/bin
		if [[ $m == asan ]]; then
			bin=$repo/bin-asan
			env_extra=("${san_env[@]}")
		fi
		for f in "${files[@]}"; do
			log=$logdir/$m.round$r.$(basename "$f" .bats).log
			t0=$SECONDS
			rc=0
			env "${env_extra[@]}" BK_BIN_DIR="$bin" RELAY_HOSTILE_SEED="$seed" \
				timeout -k 30 3600 bats --print-output-on-failure "$f" >"$log" 2>&1 || rc=$?
			runs=$((runs + 1))
			if ((rc == 0)); then
				passed=$((passed + 1))
				echo "flaky: round $r $m $f: ok ($((SECONDS - t0)) s, seed $seed)"
				continue
			fi
			echo "flaky: round $r $m $f: FAILED, exit $rc ($((SECONDS - t0)) s, seed $seed, log $log)"
			found=0
			while IFS= read -r line; do
				found=1
				failures+=("round $r, $m, $f, seed $seed: ${line#not ok }")
			done < <(grep -E '^not ok ' "$log" || true)
			((found)) || failures+=("round $r, $m, $f, seed $seed: bats exit $rc (see $log)")
		done
	done
	echo "flaky: round $r done ($((SECONDS - t_start)) s so far)"
done

echo "flaky: $passed of $runs runs passed in $((SECONDS - t_start)) s (${modes[*]}, $rounds rounds, seeds $seed0..$((seed0 + rounds - 1)))"
if ((${#failures[@]})); then
	echo "flaky: FAILURES (rerun one with FLAKY_FILES=FILE FLAKY_SEED=SEED FLAKY_ROUNDS=1):"
	printf '  %s\n' "${failures[@]}"
	exit 1
fi
