# shellcheck shell=bash
# shellcheck disable=SC2154 # PROG and here: the sourcing script sets them
# bk-common.sh: what bk-job, bk-check and bk-recover share, sourced by each
# (from scripts/lib/ in the repository, from share/bk once installed). The
# sourcing script sets PROG (its name) and here (its directory) first.

# The version: `make install` fills it in; in the repository, the Makefile's.
VERSION=@VERSION@
if [[ $VERSION == @*@ ]]; then
	VERSION=$(sed -n 's/^VERSION *:= *//p' "$here/../Makefile" 2>/dev/null || true)
	VERSION=${VERSION:-unknown}
fi

warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# An unknown option or a missing argument: one line naming it, then where
# the usage is, and exit 64 (as the C tools do).
usage_error() {
	warn "$*"
	printf "Try '%s --help'.\n" "$PROG" >&2
	exit 64
}
die() {
	local code=$1
	shift
	warn "$*"
	exit "$code"
}

# give_to_dir_owner PATH...: as root, hands each PATH (the logs directory,
# its log and lock files) to the owner of the directory it is in, as the C
# tools do with what they write in a directory of another user's: root's
# run by hand in the bot's directory must not leave files that the bot
# user's own cron jobs can no longer write. Not the target of a symbolic
# link (-h). Does nothing for another user, or where root owns the directory.
give_to_dir_owner() {
	((EUID == 0)) || return 0
	local p
	for p in "$@"; do
		[[ -e $p ]] && chown -h --reference="$(dirname -- "$p")" -- "$p" 2>/dev/null
	done
	return 0
}

# Fills in the environment from a dotenv file, as the bk tools do: KEY=value
# lines, '#' comments, optional "export ", optional quotes; what the
# environment already sets wins. The file is read, never executed.
load_env() {
	local file=${BK_ENV_FILE:-.env} line key value n=0
	if [[ ! -e $file ]]; then
		[[ -z ${BK_ENV_FILE:-} ]] && return 0
		die 64 "$file: no such file (BK_ENV_FILE)"
	fi
	[[ -r $file ]] || die 64 "$file: cannot read"
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		line=${line%$'\r'}
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[[ -z $line || $line == '#'* ]] && continue
		if [[ $line == 'export '* ]]; then
			line=${line#export }
			line=${line#"${line%%[![:space:]]*}"}
		fi
		# refused, as the C tools refuse it: a typo must not pass silently
		[[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]] ||
			die 64 "$file:$n: not a KEY=value line: fix it (KEY=value, # comments, blank lines)"
		key=${BASH_REMATCH[1]}
		value=${BASH_REMATCH[2]}
		case $value in
		\"*\"*)
			value=${value#\"}
			value=${value%\"*}
			value=${value//\\n/$'\n'}
			value=$(printf '%s' "$value" | sed -e 's/\\\(.\)/\1/g')
			;;
		\'*\'*)
			value=${value#\'}
			value=${value%\'*}
			;;
		*)
			value=${value%% #*}
			value=${value%"${value##*[![:space:]]}"}
			;;
		esac
		if [[ -z ${!key+set} ]]; then
			export "$key=$value"
		fi
	done <"$file"
}

now_iso() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# Finds a sibling tool: $PATH, then beside the script, then ../bin (the
# repository's layout).
find_tool() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif [[ -x $here/$1 ]]; then
		printf '%s\n' "$here/$1"
	elif [[ -x $here/../bin/$1 ]]; then
		printf '%s\n' "$here/../bin/$1"
	else
		return 1
	fi
}
need_tool() {
	find_tool "$1" || die 69 "$1 not found (is bk installed, or bin/ built?)"
}

# The last non-blank line of a file (a tool's stderr), for a one-line message.
last_line() { grep -v '^[[:space:]]*$' "$1" | tail -n 1 | tr -d '\r' | cut -c1-300 || true; }

# Sends MESSAGE to the admins with tg-notify when Telegram is configured,
# its stderr into ERRFILE. 0: sent, or Telegram is not configured; 1:
# tg-notify failed (ERRFILE says why); 2: there is no tg-notify.
tg_send() {
	[[ -n ${TELEGRAM_BOT_TOKEN:-} && -n ${TELEGRAM_NOTIFY_CHAT_IDS:-} ]] || return 0
	local tg
	tg=$(find_tool tg-notify) || return 2
	printf '%s\n' "$1" | timeout -k 10 120 "$tg" - >/dev/null 2>"$2" || return 1
}
