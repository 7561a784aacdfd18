#!/usr/bin/env bash
# The README's two commands on a pristine Debian 12 (issue #13), as a newcomer would run them:
# makes a minbase debootstrap root in WORKDIR/root, clones this checkout's HEAD into its
# /root/grootfs, and runs there, as the root of its own mount and pid namespaces
# (tests/fresh/run-in-pristine-root.sh): scripts/demo, scripts/demo again, then scripts/test.
# Each command's output goes to WORKDIR/NAME.log; the summary gives each one's status, wall time
# and closing lines. Slow (scripts/test is the whole CI): not part of ctest.
#
#   tests/fresh/fresh-run.sh [WORKDIR]     (default: a new /var/tmp/grootfs-fresh.XXXXXX)
#
# TEST_ASAN=0 / TEST_FUZZ=0 are passed on to scripts/test; FRESH_SKIP_TEST=1 runs the demos only.
# WORKDIR is left for a look (about 4 GB after scripts/test); remove it with rm -rf.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "fresh-run: run me as root" >&2; exit 1; }

work=${1:-$(mktemp -d /var/tmp/grootfs-fresh.XXXXXX)}
mkdir -p "$work"
root=$work/root
echo "fresh-run: $work"
if [[ ! -e $root/bin/bash ]]; then
  start=$SECONDS
  "$HERE/run-in-pristine-root.sh" --make "$root" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  echo "debootstrap: $((SECONDS - start)) s"
fi
rm -rf "$root/root/grootfs"
git clone -q "$REPO" "$root/root/grootfs"
git -C "$root/root/grootfs" checkout -q --detach "$(git -C "$REPO" rev-parse HEAD)"

# run NAME COMMAND...: runs COMMAND in /root/grootfs inside the root; prints status and time.
overall=0
run() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$HERE/run-in-pristine-root.sh" "$root" /bin/bash -c 'cd /root/grootfs && exec "$@"' run "$@" \
    >"$work/$name.log" 2>&1 || rc=$?
  echo "== $name ($*): exit $rc, $((SECONDS - start)) s; its last lines:"
  tail -n "${TAIL_LINES:-8}" "$work/$name.log" | sed 's/^/   /'
  if ((rc != 0 && overall == 0)); then overall=$rc; fi
}
run demo1 scripts/demo
run demo2 scripts/demo
if [[ ${FRESH_SKIP_TEST:-0} != 1 ]]; then
  run test env TEST_ASAN="${TEST_ASAN:-1}" TEST_FUZZ="${TEST_FUZZ:-1}" scripts/test
fi
exit "$overall"
