#!/bin/bash
# apparmor/grootfs-helper, loaded in enforce mode, confines the helper without breaking it: the
# create/chroot/workload/delete lifecycle as root on an XFS backing store, and as an unprivileged
# user (setuid helper, stores made by root's init-store with her subordinate ids) on an XFS
# backing store and on a plain directory (of an XFS); a store outside @{GROOTFS_STORE} is refused.
# Every AppArmor denial is printed, and one during a lifecycle fails the test. On failure the
# lifecycles run again with the profile in complain mode, and the ALLOWED lines (what enforce
# mode would deny) are printed: the rules the profile lacks.
#
# Usage: apparmor.sh [--rules-from FILE] [RULE...]    (FILE relative to tests/vm, or absolute)
#   Each RULE (e.g. 'capability setpcap,'), and each line of FILE, is added to the loaded copy of
#   the profile: to try a fix before editing apparmor/grootfs-helper.
# shellcheck source=lib.sh
. "$VM_LIB"

ROOT_STORE=/var/lib/grootfs/store           # in the profile's default @{GROOTFS_STORE}
ALICE_STORE=/tmp/users/alice/store          # matched by its /tmp/**/store
ALICE_PLAIN_STORE=/tmp/users/alice/plain/store
OUTSIDE_STORE=/var/lib/elsewhere/store      # matched by nothing
PROFILE=/etc/apparmor.d/grootfs-helper
ALICE=1000 SUB=100000

extra=()
while (($# > 0)); do
  case "$1" in
    --rules-from) f=$2; [[ "$f" == /* ]] || f=$VM_SRC/tests/vm/$f  # relative: to tests/vm
                  while IFS= read -r line; do
                    [[ "$line" =~ ^[[:space:]]*(#|$) ]] || extra+=("$line")
                  done <"$f"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done

step "AppArmor is on"
[[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" == Y ]] || fail "AppArmor is not enabled"
[[ -d /sys/kernel/security/apparmor ]] || fail "securityfs has no apparmor/"
echo "kernel $(uname -r); lsm: $(cat /sys/kernel/security/lsm)"
echo "kernel mount features: $(ls /sys/kernel/security/apparmor/features/mount 2>/dev/null | tr '\n' ' ')"

step "load $PROFILE in enforce mode"
# A copy, so that a test store or a rule can be added without touching the repository's.
cp "$VM_SRC/apparmor/grootfs-helper" "$PROFILE"
grep -n '^@{GROOTFS_STORE}' "$PROFILE"
if ((${#extra[@]})); then
  last=$(grep -n '^}[[:space:]]*$' "$PROFILE" | tail -n1 | cut -d: -f1)  # the closing brace
  for rule in "${extra[@]}"; do echo "  $rule  # added by apparmor.sh"; done >/tmp/extra-rules
  sed -i "$((last - 1))r /tmp/extra-rules" "$PROFILE"
  echo "rules added to the profile for this run:"; cat /tmp/extra-rules
fi
run apparmor_parser -r -W "$PROFILE"
cat /sys/kernel/security/apparmor/profiles
grep -qx 'grootfs-helper (enforce)' /sys/kernel/security/apparmor/profiles || fail "grootfs-helper is not loaded in enforce mode"
ok "grootfs-helper (enforce)"

add_user alice "$ALICE" "$SUB"
mkdir -p /var/lib/grootfs "$(dirname "$ALICE_PLAIN_STORE")"
# The plain directory store lives on an XFS mounted at its parent, not on the initramfs's tmpfs:
# tmpfs has the user xattrs overlay's userxattr needs for opaque directories only from 6.6.
mkdir -p /var/tmp
truncate -s 300M /var/tmp/plain.img && mkfs.xfs -q /var/tmp/plain.img
mount -o loop /var/tmp/plain.img "$(dirname "$ALICE_PLAIN_STORE")"
chmod 755 /tmp/users /tmp/users/alice /tmp/users/alice/plain
ALICE_MAPS=(--uid-mapping "0:$ALICE:1" --uid-mapping "1:$SUB:65536"
            --gid-mapping 0:65534:1 --gid-mapping "1:$SUB:65536")

root_xfs() {
  run "$GROOTFS" --store "$ROOT_STORE" init-store --store-size-bytes 536870912 &&
    (lifecycle "$ROOT_STORE" as-root) && run "$GROOTFS" --store "$ROOT_STORE" delete-store
}
alice_xfs() {
  run "$GROOTFS" --store "$ALICE_STORE" init-store --store-size-bytes 536870912 "${ALICE_MAPS[@]}" &&
    (lifecycle "$ALICE_STORE" as-alice as_user "$ALICE") &&
    run "$GROOTFS" --store "$ALICE_STORE" delete-store
}
alice_plain() {
  run "$GROOTFS" --store "$ALICE_PLAIN_STORE" init-store "${ALICE_MAPS[@]}" &&
    (lifecycle "$ALICE_PLAIN_STORE" as-alice-plain as_user "$ALICE") &&
    run "$GROOTFS" --store "$ALICE_PLAIN_STORE" delete-store
}
cleanup_stores() {
  local s m
  for s in "$ROOT_STORE" "$ALICE_STORE" "$ALICE_PLAIN_STORE" "$OUTSIDE_STORE"; do
    for m in $(findmnt -n -r -o TARGET | grep "^$s/" | sort -r); do umount -l "$m" || true; done
    "$GROOTFS" --store "$s" delete-store >/dev/null 2>&1 || true
  done
}
# Prints the denials (and overlayfs's complaints) since the last call; fails when there was one.
denials() {
  local d; d=$(apparmor_denials)
  dmesg | grep -i overlayfs || true
  dmesg -C
  if [[ -n "$d" ]]; then echo "AppArmor denials:"; echo "$d"; return 1; fi
  echo "AppArmor denials: none"
}

failed=()
dmesg -C
for t in root_xfs alice_xfs alice_plain; do
  case $t in
    root_xfs) step "root: XFS backing store; create, chroot, workload, delete, delete-store" ;;
    alice_xfs) step "alice (uid $ALICE, setuid helper): XFS backing store made for her by root" ;;
    alice_plain) step "alice: a store that is a plain directory (no backing store)" ;;
  esac
  ($t) || failed+=("$t")
  denials || failed+=("$t:denied")
done

step "a store outside @{GROOTFS_STORE} is refused by the profile"
mkdir -p "$(dirname "$OUTSIDE_STORE")"
run "$GROOTFS" --store "$OUTSIDE_STORE" init-store
if out=$("$GROOTFS" --store "$OUTSIDE_STORE" create "$ALPINE" outside 2>&1); then
  echo "$out"; failed+=(outside-store-allowed)
else
  echo "create refused: $out"
  apparmor_denials | grep -q 'profile="grootfs-helper"' || failed+=(outside-store-no-denial)
fi
denials || true
cleanup_stores

if ((${#failed[@]})); then
  step "failed in enforce mode (${failed[*]}): again in complain mode, to list what the profile lacks"
  run apparmor_parser -r -C -W "$PROFILE" 2>&1 | grep -v 'Caching disabled' || true
  grep grootfs-helper /sys/kernel/security/apparmor/profiles
  dmesg -C
  for t in root_xfs alice_xfs alice_plain; do ($t) || echo "$t fails in complain mode too"; done
  echo "AppArmor ALLOWED in complain mode (enforce mode denies these), with their count:"
  dmesg | grep 'apparmor="ALLOWED"' |
    sed 's/.*audit([^)]*): //; s/ pid=[0-9]*//; s/[0-9a-f]\{32,\}/<id>/g; s/#[0-9]\+/#<n>/g' |
    sort | uniq -c || true
  cleanup_stores
  fail "in enforce mode: ${failed[*]}"
fi
if ((${#extra[@]})); then
  echo
  echo "NOTE: passed with ${#extra[@]} rule(s) that apparmor/grootfs-helper does not have yet (above)."
fi
ok "apparmor passed"
