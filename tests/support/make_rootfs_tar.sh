#!/usr/bin/env bash
# make_rootfs_tar.sh OUT.tar [LAYOUT]
#
# Writes a plain (uncompressed) tar of a root filesystem to OUT.tar: the single layer of the
# alpine OCI layout in tests/fixtures/images/alpine (or of LAYOUT, which must have exactly one
# gzip layer), decompressed. The result is a rootfs tar in which /bin/sh runs.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 OUT.tar [LAYOUT]" >&2
  exit 2
fi
out=$1
layout=${2:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/images/alpine" && pwd)"}

# The first "sha256:..." digest in a manifest-ish JSON under KEY.
digest_after() { # FILE KEY
  grep -o "\"$2\"[^]]*" "$1" | grep -o 'sha256:[0-9a-f]\{64\}' | head -n1 | cut -d: -f2
}

manifest=$(digest_after "$layout/index.json" manifests)
[[ -n $manifest ]] || { echo "$0: no manifest in $layout/index.json" >&2; exit 1; }
layer=$(digest_after "$layout/blobs/sha256/$manifest" layers)
[[ -n $layer ]] || { echo "$0: no layer in manifest $manifest" >&2; exit 1; }

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
gzip -dc "$layout/blobs/sha256/$layer" >"$tmp"
mv -f "$tmp" "$out"
trap - EXIT
