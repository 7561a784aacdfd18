#!/usr/bin/env bash
# grootfs(1) cannot rot: it names every command and flag the parser knows (read from grootfs's
# own --help, which the parser's table writes), every config key frontend/config.cpp reads and
# every environment variable the frontend reads; and man renders it without a warning.
# Usage: man_page_test.sh GROOTFS_BINARY MAN_PAGE SOURCE_DIR       (ctest man_page, label unit)
set -euo pipefail
grootfs=$1
page=$2
src=$3
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
[[ -z $warnings ]] || fail "man --warnings: $warnings"
text=$(LC_ALL=C MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
[[ -n $text ]] || { echo "FAIL: man -l $page printed nothing" >&2; exit 1; }
mentions() { grep -qE -- "(^|[^a-z_-])$1([^a-z_-]|$)" <<<"$text"; }

help=$("$grootfs" --help)
commands=$(sed -n '/^commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' <<<"$help")
for command in $commands; do
  grep -qE "^ +$command( |$)" <<<"$text" || fail "no section for the command $command"
  for flag in $("$grootfs" "$command" --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
    mentions "$flag" || fail "the flag $flag of $command is not in the man page"
  done
done
for flag in $(sed -n '/^global flags/,/^$/s/^  \(--[a-z-]*\).*/\1/p' <<<"$help"); do
  mentions "$flag" || fail "the global flag $flag is not in the man page"
done

# Config keys: every name in the handler tables of LoadConfig.
keys=$(grep -oE '\{"[a-z_]+",' "$src/frontend/config.cpp" | tr -d '{",' | sort -u)
[[ -n $keys ]] || fail "no config keys found in frontend/config.cpp"
for key in $keys; do
  mentions "$key" || fail "the config key $key is not in the man page"
done

# Environment variables: getenv("X") and the proxy variables.
vars=$(grep -rhoE 'getenv\("[A-Za-z_]+"\)|"[A-Za-z_]+_(proxy|PROXY)"' "$src/frontend" |
       grep -oE '[A-Za-z_]+(_proxy|_PROXY|")' | tr -d '"' | sort -u)
for var in $vars; do
  mentions "$var" || fail "the environment variable $var is not in the man page"
done
for section in NAME SYNOPSIS DESCRIPTION COMMANDS CONFIGURATION ENVIRONMENT FILES "EXIT STATUS"; do
  grep -qx "$section" <<<"$text" || fail "no $section section"
done

if ((failures)); then exit 1; fi
echo "man page: $(wc -w <<<"$commands") commands, their flags, $(wc -w <<<"$keys") config keys, $(wc -w <<<"$vars") environment variables"
