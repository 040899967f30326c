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
mandoc, shellcheck, jq, gnupg, python3) when some are missing. Needs root
for apt-get; as another user it prints the command to run with sudo.

  --check    only say what is missing (exit 1 if something is)
EOF
}

PACKAGES=(
	build-essential make gcc
	libpq-dev libhiredis-dev libcjson-dev libcurl4-openssl-dev libssl-dev
	postgresql redis-server redis-tools
	bats mandoc shellcheck jq gnupg python3 util-linux ca-certificates time procps
	clang libclang-rt-14-dev clang-format valgrind
)
# On a machine without dpkg: the commands that stand for them.
COMMANDS=(cc make psql initdb pg_ctl redis-server redis-cli bats mandoc shellcheck jq gpg python3 flock timeout)

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
	exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "install-deps: every package is installed"
	exit 0
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
