# shellcheck shell=bash
# What bench.sh and restore.sh share: timing a command, taking medians.

timed() {	# timed NAME CMD...: appends "seconds maxrss_kb" to $BK_TMP/NAME.times
	local name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$BK_TMP/t" "$@" >/dev/null
	cat "$BK_TMP/t" >>"$BK_TMP/$name.times"
}

median() {	# median of column $2 of file $1
	cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
