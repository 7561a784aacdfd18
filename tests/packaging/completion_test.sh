#!/usr/bin/env bash
# The bash completion (packaging/grootfs.bash-completion) against the parser: it offers exactly
# the commands of `grootfs --help` and, for each command, exactly the flags its --help lists;
# flag values; and the image ids of the store the line names (--store, --store=, --config's
# store: key) or of the default store.
# Usage: completion_test.sh GROOTFS_BINARY COMPLETION_FILE      (ctest completion, label unit)
set -euo pipefail
grootfs=$1
completion=$2
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# complete WORD...: the completions of the last word, sorted, on one line.
complete() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _grootfs
           printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' complete "$completion" "$@"
}
expect() {  # expect "WANTED" WORD...
  local want=$1 got
  shift
  got=$(complete "$@")
  [[ $got == "$want" ]] || fail "grootfs ${*:2} <TAB>: got '$got', want '$want'"
}
sorted() { tr ' ' '\n' | sed '/^$/d' | sort | xargs; }

# Commands and global flags, as --help lists them.
help=$("$grootfs" --help)
commands=$(sed -n '/^commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' <<<"$help" | sorted)
[[ -n $commands ]] || fail "no commands in grootfs --help"
expect "$(echo "$commands help" | sorted)" grootfs ""
globals=$(sed -n '/^global flags/,/^$/s/^  \(--[a-z-]*\).*/\1/p' <<<"$help" | sorted)
expect "$globals" grootfs --
expect "$globals" grootfs --store /s --
# Each command's flags, as its --help lists them.
for command in $commands; do
  flags=$("$grootfs" "$command" --help | sed -n '/^flags:/,/^$/s/^  \(--[a-z-]*\).*/\1/p' | sorted)
  [[ -n $flags ]] || fail "no flags in grootfs $command --help"
  expect "$flags" grootfs "$command" --
  expect "$flags" grootfs --store /s --log-level debug "$command" x --
done
expect "init-store" grootfs ini
expect "--disk-limit-size-bytes" grootfs create --dis
expect "capacity check clean create" grootfs help c

# Flag values.
expect "debug error fatal info" grootfs --log-level ""
expect "debug" grootfs --log-level = d
expect "" grootfs create --disk-limit-size-bytes ""

# Image ids of the store the line names.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grootfs-completion-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/s1/images/"{alpha,alps,beta} "$tmp/s2/images/gamma" "$tmp/s1/layers/notanimage"
touch "$tmp/s1/images/not-a-dir"
expect "alpha alps beta" grootfs --store "$tmp/s1" delete ""
expect "alpha alps" grootfs --store "$tmp/s1" delete al
expect "alpha alps beta" grootfs --store "$tmp/s1" stats ""
expect "alpha alps beta" grootfs --store = "$tmp/s1" delete ""   # --store=S as bash splits it
expect "alpha alps beta" grootfs "--store=$tmp/s1" delete ""
expect "alpha alps beta" grootfs -store "$tmp/s1" --log-level debug delete ""
expect "" grootfs --store "$tmp/s1" delete alpha ""            # one ID only
expect "" grootfs --store "$tmp/s1" create docker:///busybox ""  # a new ID
printf 'log_level: debug\nstore: "%s"  # the store\n' "$tmp/s2" >"$tmp/config.yml"
expect "gamma" grootfs --config "$tmp/config.yml" delete ""
expect "alpha alps beta" grootfs --config "$tmp/config.yml" --store "$tmp/s1" delete ""
expect "" grootfs --store "$tmp/none" delete ""
expect "$tmp/s1 $tmp/s2" grootfs --store "$tmp/s"                # directories
expect "$tmp/config.yml" grootfs --config "$tmp/con"
default=$(bash -c 'source "$1"; COMP_WORDS=(grootfs delete ""); COMP_CWORD=2; _grootfs_store' \
  store "$completion")
[[ $default == /var/lib/grootfs/store ]] || fail "default store: $default"

# Under `set -e` (as some users' shells run) completion must not abort.
bash -ec 'source "$1"; COMP_WORDS=(grootfs --store /x create img ""); COMP_CWORD=5; _grootfs' \
  x "$completion" || fail "completion fails under set -e"

if ((failures)); then exit 1; fi
echo "completion: every command and flag, values and image ids complete"
