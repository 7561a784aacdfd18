#!/bin/bash
# XFS project quotas work in this kernel, and grootfs's backing store gets them: init-store
# --store-size-bytes, create from the Alpine fixture, chroot, delete, delete-store (as root).
# Usage: smoke.sh [--quota-only]   (--quota-only: the XFS part alone, for kernels older than 6.8)
# shellcheck source=lib.sh
. "$VM_LIB"
QUOTA_ONLY=0
[[ "${1:-}" == --quota-only ]] && QUOTA_ONLY=1

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
require_lowerdir_plus

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

step "delete-store"
run "$GROOTFS" --store "$STORE" delete-store
! findmnt "$STORE" >/dev/null || fail "$STORE still mounted"
[[ ! -e "$STORE" ]] || fail "$STORE still there"
ok "smoke passed"
