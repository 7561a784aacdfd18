#!/usr/bin/env bash
# run_fuzzer.sh [--fresh] FUZZER SEEDS WORK SECONDS [libFuzzer options...]
#
# Runs the libFuzzer binary FUZZER for SECONDS on WORK/corpus, which starts as a copy of the
# seed corpus SEEDS (--fresh: only the seeds; otherwise what earlier runs found is kept).
# Crashes, sanitizer reports, leaks, timeouts (10 s per input) and excess memory (2 GiB) end
# the run with a non-zero status and leave the input in WORK/artifacts/. ctest (label fuzz)
# runs it with --fresh; scripts/fuzz without.
set -euo pipefail

fresh=0
if [[ ${1:-} == --fresh ]]; then
  fresh=1
  shift
fi
if (($# < 4)); then
  echo "usage: $0 [--fresh] FUZZER SEEDS WORK SECONDS [libFuzzer options...]" >&2
  exit 2
fi
fuzzer=$(realpath "$1") seeds=$2 work=$(realpath -m "$3") seconds=$4
shift 4

if ((fresh)); then
  rm -rf "$work/corpus"
fi
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$seeds"/* "$work/corpus/"

dict=()
name=$(basename "$fuzzer")
if [[ -f "$(dirname "${BASH_SOURCE[0]}")/$name.dict" ]]; then
  dict=("-dict=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$name.dict")
fi

cd "$work"
echo "$name: ${seconds}s on $work/corpus, artifacts in $work/artifacts/"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "${dict[@]}" "$@" "$work/corpus"
