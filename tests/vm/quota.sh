#!/bin/bash
# Disk limits on real XFS project quotas (issue 5), in a store made by `init-store
# --store-size-bytes` (XFS on a loop file, mounted with pquota):
#   - a write inside the rootfs stops at the limit: inclusive (limit minus the image's size) and
#     exclusive (--exclude-image-from-quota), with EDQUOT/ENOSPC;
#   - stats: exclusive_bytes_used moves by the bytes written, total = layers + exclusive;
#   - capacity is the store filesystem's size;
#   - the zip-bomb fixture under a 5000-byte limit, and a generated gzip bomb larger than the
#     store's free space without a limit, are refused with one line and leave nothing behind;
#   - a disk limit on a store without quotas (tmpfs; XFS mounted without pquota) is refused;
#   - the same limit, write and stats as an unprivileged user (setuid helper, mapped store);
#   - an existing XFS mounted with pquota elsewhere holds stores in directories (root's, and one
#     made for the unprivileged user): the inclusive limit and stats hold there too, and
#     `clean --threshold-bytes` counts the store's layers plus its images' quota usage (read
#     through the helper): it keeps an unused layer under a threshold just above that, and
#     removes it under one that only the bytes written in the container reach;
#   - and it prints how long `stats` takes on an image with 10,000 files in its upper dir, on
#     the XFS store (quota accounting) and on XFS without pquota (a walk of the tree).
# With --apparmor, all of it runs with apparmor/grootfs-helper loaded in enforce mode (every
# store here is within its @{GROOTFS_STORE}), plus the rules in apparmor-missing.rules (as
# vm_apparmor), and an AppArmor denial fails the test.
# --no-timing leaves out the stats timings with 10,000 files (ctest times them on one kernel).
# Usage: quota.sh [--apparmor] [--no-timing]
# shellcheck source=lib.sh
. "$VM_LIB"
APPARMOR=0 TIMING=1
for arg in "$@"; do
  case "$arg" in
    --apparmor) APPARMOR=1 ;;
    --no-timing) TIMING=0 ;;
    *) echo "usage: quota.sh [--apparmor] [--no-timing]"; exit 2 ;;
  esac
done

STORE=/var/lib/grootfs/store
ALICE_STORE=/tmp/users/alice/store
PLAIN_STORE=/tmp/plain/store
NOQUOTA_STORE=/tmp/noquota/store
XFSQ=/tmp/xfsq                      # an XFS with pquota; its stores are directories in it
XFSQ_STORE=$XFSQ/store              # (/tmp/**/store: within the profile's @{GROOTFS_STORE})
XFSQ_ALICE_STORE=$XFSQ/alice/store
ALICE=1000 SUB=100000
KiB=1024 MiB=1048576
TOL=$((256 * KiB))   # what a full quota leaves unwritten: directories, image.json, a partial block
T_START=$EPOCHREALTIME

# Milliseconds since $1 (an $EPOCHREALTIME).
ms_since() { local now=$EPOCHREALTIME; echo $(((${now/./} - ${1/./}) / 1000)); }
step() { echo; echo "== [$(ms_since "$T_START") ms] $*"; }
# On failure, the project quotas of the stores that have them. On stderr, so that a failure
# inside a $(...) is seen too (its exit then ends the script through set -e).
fail() {
  exec >&2
  echo "FAIL: $*"
  local s
  for s in "$STORE" "$ALICE_STORE" "$XFSQ"; do
    if findmnt -n -o OPTIONS "$s" 2>/dev/null | grep -qw prjquota; then
      echo "project quotas of $s:"; xfs_quota -x -c 'report -p -b -i -n' "$s" || true
    fi
  done
  ((APPARMOR == 0)) || { echo "AppArmor denials:"; apparmor_denials; }
  exit 1
}

# grootfs in STORE, through an optional runner: gr STORE [RUNNER...] -- ARGS...
gr() {
  local store=$1; shift
  local runner=()
  while [[ "$1" != -- ]]; do runner+=("$1"); shift; done
  shift
  "${runner[@]}" "$GROOTFS" --store "$store" "$@"
}

# The bytes of an image's layers, from the store's own records.
layer_bytes() {
  local store=$1 id=$2 total=0 key
  for key in $(jq -r '.layers[]' "$store/images/$id/image.json"); do
    total=$((total + $(jq -r .size "$store/layers/$key/layer.json")))
  done
  echo "$total"
}

# Checks the stats invariant total = layers + exclusive, and that stats did not fall back to a
# walk because the quota could not be read (logged as quota-unreadable); prints exclusive.
# Usage: exclusive_of STORE ID [RUNNER...]
exclusive_of() {
  local store=$1 id=$2; shift 2
  local out total excl layers
  out=$(gr "$store" "$@" -- --log-level info stats "$id" 2>/tmp/stats.log) || fail "stats $id: $(cat /tmp/stats.log)"
  if grep quota-unreadable /tmp/stats.log; then fail "stats $id could not read the image's quota"; fi
  # One jq for both (a jq takes ~0.2 s under TCG).
  read -r total excl < <(jq -r '.disk_usage | "\(.total_bytes_used) \(.exclusive_bytes_used)"' <<<"$out")
  layers=$(layer_bytes "$store" "$id")
  ((total == layers + excl)) || fail "stats $id: total $total != layers $layers + exclusive $excl ($out)"
  echo "$excl"
}

# Writes zeros (from our /dev/zero: the rootfs has no /dev) to FILE inside ROOTFS until the
# quota stops it with EDQUOT or ENOSPC (XFS says ENOSPC for a project's hard limit); prints the
# bytes written. Usage: fill ROOTFS FILE [RUNNER...]
fill() {
  local rootfs=$1 file=$2; shift 2
  local chroot_cmd=(chroot) out
  (($# == 0)) || chroot_cmd=("$@" unshare --user --map-root-user chroot)
  if out=$("${chroot_cmd[@]}" "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "dd of=$file bs=64k 2>&1" </dev/zero); then
    fail "dd into $rootfs$file was never stopped: $out"
  fi
  grep -Eq 'Disk quota exceeded|No space left' <<<"$out" || fail "dd stopped, but not by the quota: $out"
  echo "  $(grep -E 'Disk quota exceeded|No space left' <<<"$out")" >&2
  stat -c %s "$rootfs$file"
}

# Writes exactly N MiB to FILE inside ROOTFS. Usage: write_mib ROOTFS FILE N [RUNNER...]
write_mib() {
  local rootfs=$1 file=$2 n=$3; shift 3
  local chroot_cmd=(chroot)
  (($# == 0)) || chroot_cmd=("$@" unshare --user --map-root-user chroot)
  local out
  out=$("${chroot_cmd[@]}" "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "dd of=$file bs=1048576 count=$n 2>&1" </dev/zero) ||
    fail "writing $n MiB to $rootfs$file: $out"
}

# Asserts LO <= VALUE <= HI. Usage: within WHAT VALUE LO HI
within() {
  (($2 >= $3 && $2 <= $4)) || fail "$1: $2 is not within [$3, $4]"
  ok "$1: $2 within [$3, $4]"
}

# create [flags] IMAGE ID in STORE through an optional runner; prints the rootfs path.
# Usage: create_image STORE [RUNNER...] -- ARGS...
create_image() {
  local out
  out=$(gr "$@") || fail "create ($*): $out"
  rootfs_of "$out"
}

# A failed create: exactly one line on stdout, nothing on stderr (default log level).
# Usage: refused STORE [RUNNER...] -- ARGS...   (prints the line)
refused() {
  local out err
  if out=$(gr "$@" 2>/tmp/refused.err); then fail "create ($*) succeeded: $out"; fi
  err=$(cat /tmp/refused.err)
  [[ -z "$err" ]] || fail "create ($*) wrote to stderr: $err"
  if [[ -z "$out" || $(wc -l <<<"$out") != 1 ]]; then fail "create ($*): not one line: '$out'"; fi
  echo "$out"
}

# Nothing of a failed create ID is left: no image, tmp/ empty, the same layers as LAYERS_BEFORE,
# no mounts beneath the store but those of the images in KEEP (names).
# Usage: leaves_nothing STORE ID LAYERS_BEFORE [KEEP...]
leaves_nothing() {
  local store=$1 id=$2 before=$3; shift 3
  local m mounts
  [[ ! -e "$store/images/$id" ]] || fail "$store/images/$id exists after a failed create"
  [[ -z "$(ls -A "$store/tmp")" ]] || fail "$store/tmp is not empty: $(ls -A "$store/tmp")"
  [[ "$(ls "$store/layers")" == "$before" ]] ||
    fail "layers changed: before [$before], after [$(ls "$store/layers")]"
  mounts=$(findmnt -n -r -o TARGET | grep "^$store/" || true)
  for m in "$@"; do mounts=$(grep -vx "$store/images/$m/rootfs" <<<"$mounts" || true); done
  [[ -z "$mounts" ]] || fail "mounts left beneath $store: $mounts"
  "$GROOTFS" --store "$store" list | grep -q "/$id\$" && fail "list shows $id"
  ok "nothing of $id left in $store"
}

# Writes N small files into DIR (shell builtins: no process per file).
many_files() {
  local dir=$1 n=$2 i
  mkdir -p "$dir"
  for ((i = 0; i < n; i++)); do echo "file $i" >"$dir/f$i"; done
}

# Prints how long `stats ID` takes in STORE, 3 runs each with warm caches and after dropping
# the kernel's caches (dentries, inodes, pages), in milliseconds.
# Usage: time_stats STORE ID [warm]   (warm: without the cold runs)
time_stats() {
  local store=$1 id=$2 t warm=() cold=()
  for _ in 1 2 3; do
    t=$EPOCHREALTIME
    "$GROOTFS" --store "$store" stats "$id" >/tmp/stats.out || fail "stats $id in $store"
    warm+=("$(ms_since "$t")")
  done
  [[ "${3:-}" == warm ]] && { echo "warm ${warm[*]} ms"; return; }
  for _ in 1 2 3; do
    sync; echo 3 >/proc/sys/vm/drop_caches
    t=$EPOCHREALTIME
    "$GROOTFS" --store "$store" stats "$id" >/tmp/stats.out || fail "stats $id in $store"
    cold+=("$(ms_since "$t")")
  done
  echo "warm ${warm[*]} ms, cold ${cold[*]} ms ($(cat /tmp/stats.out))"
}

# The bytes of all the layers in STORE (used or not), from the store's own records.
all_layer_bytes() {
  jq -s 'map(.size) | add' "$1"/layers/*/layer.json
}

# `clean --threshold-bytes T` in STORE at log level info; prints its log lines (lager JSON).
# Usage: clean_log STORE T [RUNNER...]
clean_log() {
  local store=$1 t=$2; shift 2
  gr "$store" "$@" -- --log-level info clean --threshold-bytes "$t" >/dev/null 2>/tmp/clean.log ||
    fail "clean --threshold-bytes $t in $store: $(cat /tmp/clean.log)"
  cat /tmp/clean.log
}

# A store that is a directory on an XFS mounted with pquota elsewhere (not a mount point of its
# own), so clean counts its layers plus every image's quota usage (ReadQuota), not the
# filesystem's used bytes. In STORE, through an optional runner: an inclusive limit stops a write
# at limit - image and stats follow it; busybox-1.25 made and deleted leaves an unused layer;
# clean leaves it under a threshold just above the usage and removes it under one that only the
# image's written bytes reach. Usage: dir_store STORE ID [RUNNER...]
dir_store() {
  local store=$1 id=$2; shift 2
  local limit=$((32 * MiB)) chroot_cmd=(chroot)
  (($# == 0)) || chroot_cmd=("$@" unshare --user --map-root-user chroot)
  local rootfs record backend quota image e0 e1 written before used unused dir key layers usage
  local log bytes high mid
  rootfs=$(create_image "$store" "$@" -- create --disk-limit-size-bytes $limit "$ALPINE" "$id")
  record=$store/images/$id/image.json
  read -r backend quota < <(jq -r '"\(.quota.backend) \(.quota.bytes)"' "$record")
  [[ "$backend" == xfs ]] || fail "$id's quota backend is not xfs: $(jq -c .quota "$record")"
  image=$(layer_bytes "$store" "$id")
  ((quota == limit - image)) || fail "inclusive quota $quota != limit $limit - image $image"
  e0=$(exclusive_of "$store" "$id" "$@")
  written=$(fill "$rootfs" /big "$@")
  within "bytes written under quota $quota (limit $limit - image $image)" "$written" $((quota - TOL)) "$quota"
  e1=$(exclusive_of "$store" "$id" "$@")
  echo "exclusive_bytes_used: $e0 before, $e1 after writing $written bytes"
  within "stats delta after the write" $((e1 - e0)) $((written - TOL)) $((written + TOL))

  before=$(ls "$store/layers")
  create_image "$store" "$@" -- create "oci://$FIXTURES/images/busybox-1.25" "$id-bb" >/dev/null
  run "$@" "$GROOTFS" --store "$store" delete "$id-bb" || fail "delete $id-bb"
  used=$(jq -r '.layers[]' "$record")
  local keys=()
  for dir in "$store"/layers/*/; do
    key=$(basename "$dir")
    grep -qxF "$key" <<<"$used" || keys+=("$key")
  done
  ((${#keys[@]} == 1)) || fail "not one unused layer after deleting $id-bb: [${keys[*]}]"
  unused=${keys[0]}
  grep -qxF "$unused" <<<"$before" && fail "busybox-1.25's layer $unused was in the store before"
  layers=$(all_layer_bytes "$store")
  usage=$((layers + e1))
  echo "layers $layers bytes (unused: $unused); usage = layers + $id's $e1 = $usage;" \
    "the filesystem's used bytes: $(($(stat -f -c '(%b - %f) * %S' "$store")))"

  # Just above the usage: the layer stays. (The XFS's used bytes, what clean counts for a store
  # that is a filesystem of its own, are well above it: they include the filesystem's metadata.)
  high=$((usage + 2 * MiB))
  log=$(clean_log "$store" $high "$@")
  echo "$log"
  bytes=$(jq -r 'select(.message | endswith(".under-threshold")) | .data.store_bytes' <<<"$log")
  [[ -n "$bytes" ]] || fail "clean under threshold $high did not log under-threshold"
  within "clean's store_bytes (layers + image usage $usage)" "$bytes" $((usage - TOL)) $((usage + TOL))
  [[ -d "$store/layers/$unused" ]] || fail "clean under threshold $high (usage $usage) removed $unused"
  ok "clean --threshold-bytes $high leaves the unused layer"

  # Above the layers with the image empty, below them with its written bytes: only the bytes
  # the container wrote (read through the helper's ReadQuota) put the store over.
  mid=$((layers + e0 + written / 2))
  log=$(clean_log "$store" $mid "$@")
  echo "$log"
  grep -q under-threshold <<<"$log" && fail "clean --threshold-bytes $mid: under threshold (usage $usage)"
  [[ ! -e "$store/layers/$unused" ]] || fail "clean --threshold-bytes $mid left the unused layer $unused"
  for key in $used; do
    [[ -d "$store/layers/$key" ]] || fail "clean removed $key, which $id uses"
  done
  # A file of the image's layer, read through overlay (whose private mounts name it from the
  # XFS's root: /store/layers/..., for AppArmor).
  [[ "$("${chroot_cmd[@]}" "$rootfs" /bin/cat /etc/alpine-release)" == 3.* ]] || fail "reading $rootfs/etc/alpine-release after clean"
  ok "clean --threshold-bytes $mid (layers $layers + empty image $e0 + written / 2) removes $unused"
  run "$@" "$GROOTFS" --store "$store" delete "$id" || fail "delete $id"
}

# ---------------------------------------------------------------------------------------------
EXTRA_RULES=0
if ((APPARMOR)); then
  step "apparmor/grootfs-helper in enforce mode"
  PROFILE=/etc/apparmor.d/grootfs-helper
  cp "$VM_SRC/apparmor/grootfs-helper" "$PROFILE"
  # Plus the rules it is known to lack (apparmor-missing.rules, each with its reason), as
  # vm_apparmor adds them; none once the profile has them.
  grep -Ev '^[[:space:]]*(#|$)' "$VM_SRC/tests/vm/apparmor-missing.rules" |
    sed 's/^/  /; s/$/  # from apparmor-missing.rules/' >/tmp/extra-rules || true
  EXTRA_RULES=$(wc -l </tmp/extra-rules)
  if ((EXTRA_RULES)); then
    last=$(grep -n '^}[[:space:]]*$' "$PROFILE" | tail -n1 | cut -d: -f1)  # the closing brace
    sed -i "$((last - 1))r /tmp/extra-rules" "$PROFILE"
    echo "rules added to the profile for this run:"; cat /tmp/extra-rules
  fi
  run apparmor_parser -r -W "$PROFILE"
  grep -qx 'grootfs-helper (enforce)' /sys/kernel/security/apparmor/profiles || fail "grootfs-helper is not enforced"
  dmesg -C
fi

step "init-store --store-size-bytes 512 MiB: XFS with pquota"
mkdir -p "$(dirname "$STORE")"
run "$GROOTFS" --store "$STORE" init-store --store-size-bytes $((512 * MiB))
findmnt -n -o FSTYPE,OPTIONS "$STORE"
[[ "$(findmnt -n -o FSTYPE "$STORE")" == xfs ]] || fail "$STORE is not XFS"
findmnt -n -o OPTIONS "$STORE" | grep -qw prjquota || fail "$STORE is not mounted with prjquota"

step "capacity is the store filesystem's size"
cap=$("$GROOTFS" --store "$STORE" capacity | jq -r .capacity)
fs_size=$(($(stat -f -c '%b * %S' "$STORE")))
df_size=$(($(df -k "$STORE" | awk 'NR == 2 { print $2 }') * KiB))
echo "capacity $cap; stat -f: $fs_size; df: $df_size; backing file: $(stat -c %s "$STORE.backing-store")"
((cap == fs_size)) || fail "capacity $cap != stat -f size $fs_size"
((cap == df_size)) || fail "capacity $cap != df size $df_size"
ok "capacity $cap"

# ---------------------------------------------------------------------------------------------
step "inclusive limit (32 MiB): stats follow a 10 MiB write; writes stop at limit - image"
LIMIT=$((32 * MiB))
rootfs=$(create_image "$STORE" -- create --disk-limit-size-bytes $LIMIT "$ALPINE" incl)
image=$(layer_bytes "$STORE" incl)
quota=$(jq -r .quota.bytes "$STORE/images/incl/image.json")
echo "image $image bytes, quota $quota bytes; $(jq -c '{quota, disk_limit}' "$STORE/images/incl/image.json")"
((quota == LIMIT - image)) || fail "inclusive quota $quota != limit $LIMIT - image $image"
[[ "$(xfs_io -c 'lsproj' "$STORE/images/incl")" == "projid = $(stat -c %i "$STORE/images/incl")" ]] ||
  fail "images/incl's project is not its inode number: $(xfs_io -c lsproj "$STORE/images/incl")"
xfs_io -c lsattr "$STORE/images/incl/diff" | grep -q P || fail "diff/ does not inherit the project"
e0=$(exclusive_of "$STORE" incl)
write_mib "$rootfs" /ten 10
e1=$(exclusive_of "$STORE" incl)
echo "exclusive_bytes_used: $e0 before, $e1 after 10 MiB"
within "stats delta after a 10 MiB write" $((e1 - e0)) $((9 * MiB)) $((11 * MiB))
more=$(fill "$rootfs" /big)
written=$((10 * MiB + more))
within "inclusive: bytes written under quota $quota" "$written" $((quota - TOL)) "$quota"
e2=$(exclusive_of "$STORE" incl)
within "inclusive: exclusive_bytes_used when full" "$e2" $((quota - TOL)) "$quota"
xfs_quota -x -c "quota -p -b -N $(stat -c %i "$STORE/images/incl")" "$STORE"

step "exclusive limit (16 MiB, --exclude-image-from-quota): writes stop at the limit"
LIMIT=$((16 * MiB))
rootfs=$(create_image "$STORE" -- create --disk-limit-size-bytes $LIMIT --exclude-image-from-quota "$ALPINE" excl)
quota=$(jq -r .quota.bytes "$STORE/images/excl/image.json")
((quota == LIMIT)) || fail "exclusive quota $quota != limit $LIMIT"
written=$(fill "$rootfs" /big)
within "exclusive: bytes written under limit $LIMIT" "$written" $((LIMIT - TOL)) "$LIMIT"
e=$(exclusive_of "$STORE" excl)
within "exclusive: exclusive_bytes_used when full" "$e" $((LIMIT - TOL)) "$LIMIT"

step "an image bigger than an inclusive limit is refused"
line=$(refused "$STORE" -- create --disk-limit-size-bytes $((image / 2)) "$ALPINE" toosmall)
echo "refused: $line"
grep -q 'does not fit' <<<"$line" || fail "unexpected reason: $line"
leaves_nothing "$STORE" toosmall "$(ls "$STORE/layers")" incl excl

step "delete both; their mounts go, their projects hold nothing"
projects=("$(stat -c %i "$STORE/images/incl")" "$(stat -c %i "$STORE/images/excl")")
run "$GROOTFS" --store "$STORE" delete incl
run "$GROOTFS" --store "$STORE" delete excl
leaves_nothing "$STORE" incl "$(ls "$STORE/layers")"
for id in "${projects[@]}"; do
  used=$(xfs_quota -x -c "quota -p -b -N $id" "$STORE" | awk '{ print $2 }')
  [[ -z "$used" || "$used" == 0 ]] || fail "project $id still holds $used KiB after delete"
done
ok "projects ${projects[*]} hold nothing"

# ---------------------------------------------------------------------------------------------
step "the zip-bomb fixture under a 5000-byte limit"
layers=$(ls "$STORE/layers")
line=$(refused "$STORE" -- create --disk-limit-size-bytes 5000 "oci://$FIXTURES/images/zip-bomb" bomb)
echo "refused: $line"
grep -q 'disk limit' <<<"$line" || fail "the refusal does not name the disk limit: $line"
leaves_nothing "$STORE" bomb "$layers"

step "a generated gzip bomb bigger than the store's free space, without a limit"
for tool in tar gzip sha256sum; do echo "$tool: $(command -v $tool)"; done
# Most of the store is taken by a container's preallocated file (XFS allocates no zeros, so the
# loop file in the VM's RAM stays sparse); the bomb then needs only be a little larger than what
# is left, which keeps gzip and sha256 short under TCG.
rootfs=$(create_image "$STORE" -- create "$ALPINE" filler)
free=$(($(stat -f -c '%a * %S' "$STORE")))
run xfs_io -f -c "falloc 0 $((free - 16 * MiB))" "$rootfs/filler"
free=$(($(stat -f -c '%a * %S' "$STORE")))
bomb_size=$((free + 8 * MiB))
echo "store free: $free bytes; bomb: a layer of one $bomb_size-byte file of zeros"
B=/tmp/bomb
mkdir -p $B/src $B/layout/blobs/sha256
truncate -s $bomb_size $B/src/zeros
rm -f $B/diff_id.fifo; mkfifo $B/diff_id.fifo
sha256sum <$B/diff_id.fifo >$B/diff_id &
t=$EPOCHREALTIME
tar -cf - -C $B/src zeros | tee $B/diff_id.fifo | gzip -c >$B/layer.gz
wait
echo "bomb built in $(ms_since "$t") ms: $(stat -c %s $B/layer.gz) bytes of gzip"
blob() {  # moves FILE into the layout's blobs, prints "DIGEST SIZE"
  local d; d=$(sha256sum "$1" | cut -d' ' -f1)
  local s; s=$(stat -c %s "$1")
  mv "$1" "$B/layout/blobs/sha256/$d"; echo "$d $s"
}
read -r layer_d layer_s < <(blob $B/layer.gz)
diff_id=$(cut -d' ' -f1 $B/diff_id)
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$diff_id" >$B/config.json
read -r config_d config_s < <(blob $B/config.json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config_d" "$config_s" "$layer_d" "$layer_s" >$B/manifest.json
read -r manifest_d manifest_s < <(blob $B/manifest.json)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' \
  "$manifest_d" "$manifest_s" >$B/layout/index.json
echo '{"imageLayoutVersion":"1.0.0"}' >$B/layout/oci-layout
layers=$(ls "$STORE/layers")
t=$EPOCHREALTIME
line=$(refused "$STORE" -- create "oci://$B/layout" realbomb)
echo "refused in $(ms_since "$t") ms: $line"
# The frontend stops the stream once it passes the budget (the free space when create began);
# should XFS say ENOSPC first (delalloc reserves the extent maps' worst case), the line is the
# helper's write error, which names neither the layer nor the store.
grep -Eq "free space|No space left on device" <<<"$line" || fail "the refusal does not say the store is full: $line"
grep -q "free space" <<<"$line" || echo "NOTE: stopped by ENOSPC before the free-space budget"
leaves_nothing "$STORE" realbomb "$layers" filler
after=$(($(stat -f -c '%a * %S' "$STORE")))
within "free space after the bomb (was $free)" "$after" $((free - MiB)) $((free + MiB))
run "$GROOTFS" --store "$STORE" delete filler
rm -rf $B

step "a disk limit on a store without quotas is refused (tmpfs)"
mkdir -p "$(dirname "$PLAIN_STORE")"
run "$GROOTFS" --store "$PLAIN_STORE" init-store
stat -f -c 'filesystem: %T' "$PLAIN_STORE"
layers=$(ls "$PLAIN_STORE/layers")
line=$(refused "$PLAIN_STORE" -- create --disk-limit-size-bytes $((64 * MiB)) "$ALPINE" limited)
echo "refused: $line"
grep -q quota <<<"$line" || fail "the refusal does not say quota: $line"
leaves_nothing "$PLAIN_STORE" limited "$layers"
run "$GROOTFS" --store "$PLAIN_STORE" delete-store

# ---------------------------------------------------------------------------------------------
step "alice (uid $ALICE, setuid helper): an XFS store made for her by root"
add_user alice "$ALICE" "$SUB"
mkdir -p "$(dirname "$ALICE_STORE")"
chmod 755 /tmp/users /tmp/users/alice
run "$GROOTFS" --store "$ALICE_STORE" init-store --store-size-bytes $((512 * MiB)) \
  --uid-mapping "0:$ALICE:1" --uid-mapping "1:$SUB:65536" \
  --gid-mapping 0:65534:1 --gid-mapping "1:$SUB:65536"
AS_ALICE=(as_user "$ALICE")
LIMIT=$((32 * MiB))
rootfs=$(create_image "$ALICE_STORE" "${AS_ALICE[@]}" -- create --disk-limit-size-bytes $LIMIT "$ALPINE" alice)
image=$(layer_bytes "$ALICE_STORE" alice)
quota=$(jq -r .quota.bytes "$ALICE_STORE/images/alice/image.json")
((quota == LIMIT - image)) || fail "inclusive quota $quota != limit $LIMIT - image $image"
e0=$(exclusive_of "$ALICE_STORE" alice "${AS_ALICE[@]}")
write_mib "$rootfs" /ten 10 "${AS_ALICE[@]}"
e1=$(exclusive_of "$ALICE_STORE" alice "${AS_ALICE[@]}")
echo "exclusive_bytes_used: $e0 before, $e1 after 10 MiB"
within "alice: stats delta after a 10 MiB write" $((e1 - e0)) $((9 * MiB)) $((11 * MiB))
more=$(fill "$rootfs" /big "${AS_ALICE[@]}")
within "alice: bytes written under quota $quota" $((10 * MiB + more)) $((quota - TOL)) "$quota"
layers=$(ls "$ALICE_STORE/layers")
line=$(refused "$ALICE_STORE" "${AS_ALICE[@]}" -- create --disk-limit-size-bytes 5000 "oci://$FIXTURES/images/zip-bomb" bomb)
echo "alice's zip bomb refused: $line"
leaves_nothing "$ALICE_STORE" bomb "$layers" alice
run "${AS_ALICE[@]}" "$GROOTFS" --store "$ALICE_STORE" delete alice
leaves_nothing "$ALICE_STORE" alice "$layers"
run "$GROOTFS" --store "$ALICE_STORE" delete-store

# ---------------------------------------------------------------------------------------------
step "stores in directories of an XFS mounted with pquota: limits, stats, clean's usage"
mkdir -p "$XFSQ" /var/tmp
truncate -s 300M /var/tmp/xfsq.img
mkfs.xfs -q /var/tmp/xfsq.img
mount -o loop,pquota,noatime /var/tmp/xfsq.img "$XFSQ"
run "$GROOTFS" --store "$XFSQ_STORE" init-store
! findmnt -n "$XFSQ_STORE" >/dev/null || fail "$XFSQ_STORE is a mount point"
findmnt -n -o FSTYPE,OPTIONS -T "$XFSQ_STORE" | grep -q '^xfs .*prjquota' || fail "$XFSQ_STORE is not on XFS with prjquota"
dir_store "$XFSQ_STORE" xq
run "$GROOTFS" --store "$XFSQ_STORE" delete-store

step "alice: a store in a directory of the same XFS, made for her by root"
mkdir -p "$(dirname "$XFSQ_ALICE_STORE")"
chmod 755 "$(dirname "$XFSQ_ALICE_STORE")"
run "$GROOTFS" --store "$XFSQ_ALICE_STORE" init-store \
  --uid-mapping "0:$ALICE:1" --uid-mapping "1:$SUB:65536" \
  --gid-mapping 0:65534:1 --gid-mapping "1:$SUB:65536"
dir_store "$XFSQ_ALICE_STORE" xq-alice "${AS_ALICE[@]}"
run "$GROOTFS" --store "$XFSQ_ALICE_STORE" delete-store

# ---------------------------------------------------------------------------------------------
# Last, the time of stats with 10,000 files in an upper dir. The files are written straight into
# the image's diff/ (the upper dir), which is quicker than through the overlay under TCG. These
# images and stores are left for the VM's power-off: removing 10,000 files takes seconds here.
step "a disk limit on XFS mounted without pquota is refused; stats walks the tree there"
mkdir -p "$NOQUOTA_STORE" /var/tmp
truncate -s 300M /var/tmp/noquota.img
mkfs.xfs -q /var/tmp/noquota.img
mount -o loop,noatime /var/tmp/noquota.img "$NOQUOTA_STORE"
run "$GROOTFS" --store "$NOQUOTA_STORE" init-store
line=$(refused "$NOQUOTA_STORE" -- create --disk-limit-size-bytes $((64 * MiB)) "$ALPINE" limited)
echo "refused: $line"
grep -q quota <<<"$line" || fail "the refusal does not say quota: $line"
[[ ! -e "$NOQUOTA_STORE/images/limited" && -z "$(ls -A "$NOQUOTA_STORE/tmp")" ]] || fail "leftovers in $NOQUOTA_STORE"
rootfs=$(create_image "$NOQUOTA_STORE" -- create "$ALPINE" many)
write_mib "$rootfs" /one 1
e=$(exclusive_of "$NOQUOTA_STORE" many)
within "XFS without pquota: stats of a 1 MiB write (a walk)" "$e" "$MiB" $((MiB + 256 * KiB))
if ((TIMING)); then
  echo "STATS-TIME xfs-no-quota-walk 1 file: $(time_stats "$NOQUOTA_STORE" many warm)"
  t=$EPOCHREALTIME; many_files "$NOQUOTA_STORE/images/many/diff/many" 10000
  echo "10,000 files written in $(ms_since "$t") ms"
  walk_stats_time=$(time_stats "$NOQUOTA_STORE" many)
  echo "STATS-TIME xfs-no-quota-walk 10000 files: $walk_stats_time"

  step "stats on an image with 10,000 files in its upper dir: XFS with pquota (quota accounting)"
  rootfs=$(create_image "$STORE" -- create "$ALPINE" many)
  echo "STATS-TIME xfs-pquota empty upper: $(time_stats "$STORE" many warm)"
  t=$EPOCHREALTIME; many_files "$STORE/images/many/diff/many" 10000
  echo "10,000 files written in $(ms_since "$t") ms"
  xfs_stats_time=$(time_stats "$STORE" many)
  echo "STATS-TIME xfs-pquota 10000 files: $xfs_stats_time"
  e=$(exclusive_of "$STORE" many)
  within "exclusive_bytes_used of 10,000 one-block files" "$e" $((10000 * 4 * KiB)) $((10000 * 4 * KiB + 2 * MiB))
fi

if ((APPARMOR)); then
  [[ -z "$(apparmor_denials)" ]] || fail "AppArmor denied something the helper needs"
  ok "AppArmor (enforce): no denials"
  ((EXTRA_RULES == 0)) ||
    echo "NOTE: with $EXTRA_RULES rule(s) from apparmor-missing.rules that apparmor/grootfs-helper does not have yet"
fi
if ((TIMING)); then
  echo
  echo "STATS-TIME summary (3 runs each): xfs-pquota $xfs_stats_time"
  echo "STATS-TIME summary (3 runs each): xfs-no-quota-walk $walk_stats_time"
fi
ok "quota passed in $(ms_since "$T_START") ms"
