#!/usr/bin/env bash
# Cold and warm `grootfs create` from an OCI layout (default: the bundled Alpine image),
# against the floor a user would compare with: plain `tar -xzf` of the same layer into a
# fresh directory. Prints the median of N runs of each, in milliseconds. Run as root after
# scripts/build.   Usage: bench/create.sh [RUNS] [LAYOUT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-15}
LAYOUT=${2:-$PWD/tests/fixtures/images/alpine}
G=${GROOTFS:-$PWD/prefix/bin/grootfs}
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/grootfs-bench-XXXXXX")
trap '"$G" --store "$WORK/store" delete-store >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

cold=() warm=() tarx=()
for i in $(seq "$RUNS"); do
  "$G" --store "$WORK/store" delete-store
  "$G" --store "$WORK/store" init-store
  t0=$(now); "$G" --store "$WORK/store" create "oci://$LAYOUT" cold >/dev/null; t1=$(now)
  cold+=("$(ms "$t0" "$t1")")
  t0=$(now); "$G" --store "$WORK/store" create "oci://$LAYOUT" warm >/dev/null; t1=$(now)
  warm+=("$(ms "$t0" "$t1")")
  "$G" --store "$WORK/store" delete cold; "$G" --store "$WORK/store" delete warm
done
# The floor: every gzip layer of the layout extracted with tar into a fresh directory.
layers=$(python3 -c "
import json,sys
d=sys.argv[1]; idx=json.load(open(d+'/index.json'))
m=json.load(open(d+'/blobs/sha256/'+idx['manifests'][0]['digest'][7:]))
print(' '.join(d+'/blobs/sha256/'+l['digest'][7:] for l in m['layers']))" "$LAYOUT")
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/tar"; mkdir "$WORK/tar"
  t0=$(now); for l in $layers; do tar -xzf "$l" -C "$WORK/tar" 2>/dev/null || tar -xf "$l" -C "$WORK/tar"; done; t1=$(now)
  tarx+=("$(ms "$t0" "$t1")")
done
echo "layout: $LAYOUT ($RUNS runs each, median ms)"
echo "grootfs create, cold (layers unpacked):  $(printf '%s\n' "${cold[@]}" | median)"
echo "grootfs create, warm (layers cached):    $(printf '%s\n' "${warm[@]}" | median)"
echo "tar -xzf of the same layers (floor):     $(printf '%s\n' "${tarx[@]}" | median)"
