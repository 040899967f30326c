#!/usr/bin/env bats
# Conventions every binary keeps (bk(7)): --help, --version, bad usage.

load helpers
bats_require_minimum_version 1.5.0

BK_BIN_DIR=${BK_BIN_DIR:-$BK_REPO/bin}

@test "every tool: -h/--help prints usage to stdout and exits 0" {
	for tool in "$BK_BIN_DIR"/*; do
		name=$(basename "$tool")
		run --separate-stderr "$tool" --help
		[ "$status" -eq 0 ] || { echo "$name --help: $status"; false; }
		[[ $output == usage:\ $name* ]] || { echo "$name: $output"; false; }
		[ -z "$stderr" ]
		run --separate-stderr "$tool" -h
		[ "$status" -eq 0 ]
	done
}

@test "every tool: --version" {
	for tool in "$BK_BIN_DIR"/*; do
		name=$(basename "$tool")
		run --separate-stderr "$tool" --version
		[ "$status" -eq 0 ]
		[[ $output =~ ^$name\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "$name: $output"; false; }
	done
}

@test "every tool: an unknown option is exit 64" {
	for tool in "$BK_BIN_DIR"/*; do
		run --separate-stderr "$tool" --no-such-option
		[ "$status" -eq 64 ] || { echo "$(basename "$tool"): $status"; false; }
	done
}

@test "every tool has a man page that mandoc finds clean" {
	command -v mandoc >/dev/null || skip "mandoc missing"
	for tool in "$BK_BIN_DIR"/*; do
		page=$BK_REPO/man/$(basename "$tool").1
		[ -f "$page" ] || { echo "no man page for $(basename "$tool")"; false; }
		mandoc -Tlint -W warning "$page"
	done
}

@test "every tool and script: an unknown option is named in one line, then one line pointing to --help" {
	for tool in "$BK_BIN_DIR"/* "$BK_REPO"/scripts/bk-job "$BK_REPO"/scripts/bk-check "$BK_REPO"/scripts/bk-recover; do
		name=$(basename "$tool")
		run --separate-stderr "$tool" --no-such-option
		[ "$status" -eq 64 ] || { echo "$name: $status"; false; }
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 2 ] || { echo "$name: $stderr"; false; }
		[[ $stderr == *no-such-option* ]] || { echo "$name: $stderr"; false; }
		[[ $(printf '%s\n' "$stderr" | tail -1) == *"$name --help"* ]] || { echo "$name: $stderr"; false; }
	done
}
