#!/usr/bin/env bash
# `grootfs stats` on an image whose container wrote FILES small files (default 10,000) into
# its upper dir: on a btrfs store with quotas (usage from the image's qgroup, no walk) against
# a store on the ordinary filesystem (stats walks the upper dir, as `du` would) and against
# `du -sb` of the same upper dir, the tool a user would reach for. Prints the median of RUNS
# runs of each in milliseconds, and the first stats after the writes separately (on btrfs it
# syncs the filesystem so the qgroup numbers are current). Run as root after scripts/build.
# Usage: bench/stats.sh [RUNS] [FILES]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-15}
FILES=${2:-10000}
G=${GROOTFS:-$PWD/prefix/bin/grootfs}
ALPINE=oci://$PWD/tests/fixtures/images/alpine
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/grootfs-stats-XXXXXX")
cleanup() {
  for s in "$WORK/btrfs/store" "$WORK/plain/store"; do "$G" --store "$s" delete-store >/dev/null 2>&1 || true; done
  umount "$WORK/btrfs" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

mkdir -p "$WORK/btrfs" "$WORK/plain"
truncate -s 1G "$WORK/btrfs.img"
mkfs.btrfs -q "$WORK/btrfs.img" >/dev/null
mount -o loop "$WORK/btrfs.img" "$WORK/btrfs"
btrfs quota enable "$WORK/btrfs"

# Makes a store under DIR, creates an image, writes FILES files of 100 bytes in the container.
prepare() {
  local store=$1/store rootfs
  "$G" --store "$store" init-store
  rootfs=$("$G" --store "$store" create "$ALPINE" bench | sed -n 's/.*"root":{"path":"\([^"]*\)".*/\1/p')
  mkdir -p "$rootfs/data"
  chroot "$rootfs" /bin/sh -c "cd /data && i=0; while [ \$i -lt $FILES ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456 > f\$i; i=\$((i+1)); done"
}

# Times `stats` RUNS times after one first call; prints "first median".
time_stats() {
  local store=$1/store t0 t1 first runs=()
  t0=$(now); "$G" --store "$store" stats bench >/dev/null; t1=$(now); first=$(ms "$t0" "$t1")
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$G" --store "$store" stats bench >/dev/null; t1=$(now); runs+=("$(ms "$t0" "$t1")")
  done
  echo "$first $(printf '%s\n' "${runs[@]}" | median)"
}

prepare "$WORK/btrfs"
prepare "$WORK/plain"
read -r bfirst bmed < <(time_stats "$WORK/btrfs")
read -r pfirst pmed < <(time_stats "$WORK/plain")
du=()
for _ in $(seq "$RUNS"); do
  t0=$(now); du -sb "$WORK/plain/store/images/bench/diff" >/dev/null; t1=$(now); du+=("$(ms "$t0" "$t1")")
done
echo "stats with $FILES files in the upper dir ($RUNS runs, median ms; first call after the writes in brackets)"
echo "btrfs store, qgroup usage:      $bmed  [$bfirst]   $("$G" --store "$WORK/btrfs/store" stats bench)"
echo "plain store, walk of upper dir: $pmed  [$pfirst]   $("$G" --store "$WORK/plain/store" stats bench)"
echo "du -sb of the same upper dir:   $(printf '%s\n' "${du[@]}" | median)"
