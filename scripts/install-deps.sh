#!/usr/bin/env bash
# install-deps.sh: installs, with apt-get, what bk needs to build, test and
# run the demo on Debian or Ubuntu. Does nothing when all is there.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/install-deps.sh [--check]
       scripts/install-deps.sh -h | --help

Installs the Debian packages bk needs (build: gcc, make, libpq-dev,
libhiredis-dev, libcjson-dev, libcurl4-openssl-dev, libssl-dev; servers for
the tests and the demo: postgresql, redis-server; tests and docs: bats,
mandoc, shellcheck, jq, gnupg, python3; for the S3 tests: nodejs, npm,
awscli, and s3rver from npm, pinned by tests/package.json and its lock file,
into tests/node_modules) when some are missing. Needs root for apt-get; as
another user it prints the command to run with sudo.

  --check    only say what is missing (exit 1 if something is)
EOF
}

PACKAGES=(
	build-essential make gcc
	libpq-dev libhiredis-dev libcjson-dev libcurl4-openssl-dev libssl-dev libexpat1-dev
	postgresql redis-server redis-tools
	bats mandoc shellcheck jq gnupg python3 util-linux ca-certificates time procps
	clang libclang-rt-14-dev clang-format valgrind
	nodejs awscli
)
# Debian's npm, unless a nodejs that brings its own npm is installed.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
# On a machine without dpkg: the commands that stand for them.
COMMANDS=(cc make psql initdb pg_ctl redis-server redis-cli bats mandoc shellcheck jq gpg python3 flock timeout node npm aws)

# The test S3 server, from npm: exactly what tests/package-lock.json pins.
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests" && pwd)
npm_deps() {
	if [[ -f $TESTS_DIR/node_modules/s3rver/package.json ]] &&
		[[ $TESTS_DIR/node_modules/.package-lock.json -nt $TESTS_DIR/package-lock.json ]]; then
		return 0
	fi
	if ((check)); then
		echo "install-deps: missing: tests/node_modules (npm ci in tests/)"
		return 1
	fi
	if ! command -v npm >/dev/null 2>&1; then
		echo "install-deps: npm is missing: cannot install tests/node_modules" >&2
		return 1
	fi
	(cd "$TESTS_DIR" && npm ci --no-audit --no-fund --loglevel=error) &&
		echo "install-deps: installed tests/node_modules (npm ci)"
}

check=0
case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
--check) check=1 ;;
'') ;;
*)
	usage >&2
	exit 64
	;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	missing=()
	for c in "${COMMANDS[@]}"; do
		command -v "$c" >/dev/null 2>&1 || [[ $c == initdb || $c == pg_ctl ]] || missing+=("$c")
	done
	if ((${#missing[@]})); then
		echo "install-deps: not Debian; install the packages that provide: ${missing[*]}" >&2
		echo "install-deps: and the development files of libpq, hiredis, cJSON, libcurl, OpenSSL" >&2
		exit 1
	fi
	echo "install-deps: not Debian, but every command bk needs is there"
	npm_deps
	exit
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "install-deps: every package is installed"
	npm_deps
	exit
fi
echo "install-deps: missing: ${missing[*]}"
((check)) && exit 1

if [[ $EUID -ne 0 ]]; then
	echo "install-deps: run as root to install them:" >&2
	echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
npm_deps
