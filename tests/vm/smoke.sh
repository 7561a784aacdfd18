#!/bin/bash
# XFS project quotas work in this kernel, and grootfs works on it end to end, as root:
# init-store --store-size-bytes, create from the Alpine fixture, chroot, delete; images of 100 and
# 500 layers, and one of 501 refused with one line before anything is unpacked (run.sh's
# VM_LAYER_IMAGES="100 500 501"); a tar image; stats, check, check --repair of an image whose
# mount went away, clean; Garden's unprivileged store (owner 4294967294, root mapped to it, the
# rest identity) with root running every command; delete-store.
# Usage: smoke.sh [--quota-only] [--layers "N ..."] [--no-extras]
#   --quota-only: the XFS part alone; --layers: the layered images to create (default "100 500");
#   --no-extras: without the tar image, check, clean and Garden's store (ctest leaves them out on
#   the backports kernel: its lowerdir+ mount is the one the integration suite runs on the host)
# shellcheck source=lib.sh
. "$VM_LIB"
QUOTA_ONLY=0 SIZES=(100 500) EXTRAS=1
while (($# > 0)); do
  case "$1" in
    --quota-only) QUOTA_ONLY=1; shift ;;
    --layers) read -ra SIZES <<<"$2"; shift 2 ;;
    --no-extras) EXTRAS=0; shift ;;
    *) fail "usage: smoke.sh [--quota-only] [--layers \"N ...\"] [--no-extras]" ;;
  esac
done

step "XFS on a loop device, mounted with pquota"
mkdir -p /var/tmp /mnt/xfs
run truncate -s 512M /var/tmp/xfs.img
run mkfs.xfs -q /var/tmp/xfs.img
run mount -o loop,pquota /var/tmp/xfs.img /mnt/xfs
state=$(xfs_quota -x -c state /mnt/xfs)
echo "$state"
pstate=$(awk '/^Project quota state/ { p = 1; next } /quota state/ { p = 0 } p' <<<"$state")
grep -q 'Accounting: ON' <<<"$pstate" || fail "project quota accounting is off"
grep -q 'Enforcement: ON' <<<"$pstate" || fail "project quota enforcement is off"
ok "project quotas on"

step "a 1 MiB project quota is enforced"
mkdir /mnt/xfs/limited
run xfs_quota -x -c 'project -s -p /mnt/xfs/limited 42' -c 'limit -p bhard=1m 42' /mnt/xfs >/dev/null
if dd if=/dev/zero of=/mnt/xfs/limited/big bs=1M count=4 2>/dev/null; then fail "wrote 4 MiB under a 1 MiB quota"; fi
run xfs_quota -x -c 'report -p -h' /mnt/xfs
ok "over-quota write refused"
run umount /mnt/xfs
if ((QUOTA_ONLY)); then ok "smoke (quota only) passed on $(uname -r)"; exit 0; fi

step "grootfs init-store with an XFS backing store"
STORE=/var/lib/vmstore/store
mkdir -p /var/lib/vmstore
run "$GROOTFS" --store "$STORE" init-store --store-size-bytes 536870912
run findmnt -o TARGET,SOURCE,FSTYPE,OPTIONS "$STORE"
[[ "$(findmnt -n -o FSTYPE "$STORE")" == xfs ]] || fail "$STORE is not an XFS mount"
findmnt -n -o OPTIONS "$STORE" | grep -qw prjquota || fail "$STORE is not mounted with prjquota"
ok "store is XFS with prjquota"

step "create, chroot, delete"
lifecycle "$STORE" smoke

LAYERS=$VM_SRC/layers
if [[ -d "$LAYERS" ]]; then
  step "images of ${SIZES[*]} layers; one of 501 is refused before anything is unpacked"
  for n in "${SIZES[@]}"; do
    t0=$(date +%s)
    out=$("$GROOTFS" --store "$STORE" create "oci://$LAYERS:$n" "layers-$n") || fail "create with $n layers"
    rootfs=$(rootfs_of "$out")
    [[ "$(cat "$rootfs/data/top")" == "$n" ]] || fail "$rootfs/data/top is not $n (the top layer)"
    [[ -f "$rootfs/layer1/file" && -f "$rootfs/layer$n/file" ]] || fail "$rootfs lacks layer 1 or $n"
    ok "$n layers: created in $(($(date +%s) - t0)) s, /data/top is $n"
    # Which way the helper mounted: lowerdir+=/proc/self/fd/N (6.8 on) or lowerdir=N:N... (before).
    echo "overlay options on $(uname -r): $(findmnt -n -o OPTIONS "$rootfs" | cut -c1-100)..."
    "$GROOTFS" --store "$STORE" delete "layers-$n" || fail "delete layers-$n"
  done
  cached=$(ls "$STORE/layers" | wc -l)
  if err=$("$GROOTFS" --store "$STORE" create "oci://$LAYERS:501" layers-501 2>&1); then
    fail "an image of 501 layers was created"
  fi
  echo "$err"
  [[ $(wc -l <<<"$err") == 1 ]] || fail "the refusal is not one line"
  grep -q '501 layers' <<<"$err" || fail "the refusal does not name the count"
  grep -q 'at most 500' <<<"$err" || fail "the refusal does not name the limit"
  (($(ls "$STORE/layers" | wc -l) == cached)) || fail "the refused image unpacked a layer"
  [[ ! -e "$STORE/images/layers-501" ]] || fail "the refused image left $STORE/images/layers-501"
  ok "501 layers refused before any unpack"
else
  echo "(no $LAYERS: run.sh without VM_LAYER_IMAGES; layered images skipped)"
fi

if ((EXTRAS)); then
  step "a tar image; stats; check, and check --repair of an image whose mount went away; clean"
  out=$(run "$GROOTFS" --store "$STORE" create "$ALPINE" tar-source) || fail "create tar-source"
  run tar -C "$(rootfs_of "$out")" -cf /tmp/alpine.tar .
  run "$GROOTFS" --store "$STORE" delete tar-source || fail "delete tar-source"
  out=$(run "$GROOTFS" --store "$STORE" create /tmp/alpine.tar from-tar) || fail "create from a tar file"
  rootfs=$(rootfs_of "$out")
  [[ "$(chroot "$rootfs" /bin/cat /etc/alpine-release)" == 3.* ]] || fail "chroot into the tar image"
  run "$GROOTFS" --store "$STORE" stats from-tar | grep -q '"total_bytes_used":[1-9]' || fail "stats from-tar"
  run "$GROOTFS" --store "$STORE" check || fail "check of a healthy store"
  run umount "$rootfs"
  if run "$GROOTFS" --store "$STORE" check; then fail "check missed the unmounted image"; fi
  run "$GROOTFS" --store "$STORE" check --repair || fail "check --repair"
  findmnt "$rootfs" >/dev/null || fail "check --repair did not mount $rootfs again"
  [[ "$(chroot "$rootfs" /bin/echo ok)" == ok ]] || fail "chroot after check --repair"
  run "$GROOTFS" --store "$STORE" delete from-tar || fail "delete from-tar"
  run "$GROOTFS" --store "$STORE" clean || fail "clean"
  [[ -z "$(ls "$STORE/layers")" ]] || fail "clean left unused layers: $(ls "$STORE/layers" | head -3)"
  ok "tar image, stats, check --repair, clean"

  if [[ -f /etc/grootfs-vm-registry.yml ]]; then
    step "a registry image: Debian's docker-registry on 127.0.0.1:5000 (run.sh's VM_REGISTRY=1)"
    ip link set lo up
    docker-registry serve /etc/grootfs-vm-registry.yml >/tmp/registry.log 2>&1 &
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break; sleep 0.1; done
    out=$(run "$GROOTFS" --store "$STORE" create --insecure-registry 127.0.0.1:5000 \
      docker://127.0.0.1:5000/alpine:latest from-registry) || { cat /tmp/registry.log; fail "create from the registry"; }
    rootfs=$(rootfs_of "$out")
    [[ "$(chroot "$rootfs" /bin/cat /etc/alpine-release)" == 3.* ]] || fail "chroot into the registry image"
    run "$GROOTFS" --store "$STORE" delete from-registry || fail "delete from-registry"
    kill %1 2>/dev/null || true
    ok "registry image"
  fi

  step "Garden's unprivileged store: owned by 4294967294, root runs every command"
  # On the XFS of the quota steps (tmpfs has user xattrs, which overlay's userxattr needs in the
  # upper dir, only from Linux 6.6).
  run mount -o loop /var/tmp/xfs.img /mnt/xfs
  mkdir -p /mnt/xfs/garden
  GARDEN=/mnt/xfs/garden/store
  MAP=(--uid-mapping 0:4294967294:1 --uid-mapping 1:1:4294967293
       --gid-mapping 0:4294967294:1 --gid-mapping 1:1:4294967293)
  run "$GROOTFS" --store "$GARDEN" init-store "${MAP[@]}"
  [[ "$(stat -c %u "$GARDEN")" == 4294967294 ]] || fail "$GARDEN is not 4294967294's"
  out=$(run "$GROOTFS" --store "$GARDEN" create "$ALPINE" garden) || fail "create in $GARDEN"
  rootfs=$(rootfs_of "$out")
  # The container's root is the store's owner, as Garden runs it: a user namespace mapping
  # 4294967294 to root (files host root made there would be out of the store's maps).
  as_garden() { setpriv --reuid=4294967294 --regid=4294967294 --clear-groups -- unshare --user --map-root-user "$@"; }
  run as_garden chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -euc 'rm /etc/hostname; rm -r /etc/apk; mkdir /etc/apk
    echo hello >/root/new; mv /etc/issue /etc/issue.moved; echo workload ok' || fail "workload in $rootfs"
  run "$GROOTFS" --store "$GARDEN" stats garden | grep -q '"exclusive_bytes_used":[1-9]' || fail "stats garden"
  run "$GROOTFS" --store "$GARDEN" check || fail "check $GARDEN"
  run "$GROOTFS" --store "$GARDEN" delete garden || fail "delete garden"
  [[ ! -e "$GARDEN/images/garden" ]] || fail "$GARDEN/images/garden still there after delete"
  run "$GROOTFS" --store "$GARDEN" clean || fail "clean $GARDEN"
  run "$GROOTFS" --store "$GARDEN" delete-store || fail "delete-store $GARDEN"
  run umount /mnt/xfs
  ok "Garden's store"
fi

step "delete-store"
run "$GROOTFS" --store "$STORE" delete-store
! findmnt "$STORE" >/dev/null || fail "$STORE still mounted"
[[ ! -e "$STORE" ]] || fail "$STORE still there"
ok "smoke passed"
