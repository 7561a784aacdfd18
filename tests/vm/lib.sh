# shellcheck shell=bash
# Sourced by the scripts that tests/vm/run.sh runs inside the VM (as root, PID 1's child).
# The VM has: busybox (/bb), bash, util-linux's mount/losetup/findmnt/setpriv, xfsprogs,
# apparmor_parser, the installed prefix at $GROOTFS_PREFIX (/opt/grootfs, helper setuid root),
# the image fixtures at $FIXTURES/images, the repository's apparmor/ and tests/vm/ under $VM_SRC.
set -euo pipefail
export COLUMNS=200

GROOTFS=$GROOTFS_PREFIX/bin/grootfs
HELPER=$GROOTFS_PREFIX/libexec/grootfs/grootfs-helper
ALPINE=oci://$FIXTURES/images/alpine

step() { echo; echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# Runs a command, echoing it first; its output goes to ours.
run() { echo "+ $*"; "$@"; }

# The path of `grootfs create`'s JSON answer ({"root":{"path":"..."},...}).
rootfs_of() { sed -n 's/.*"root":{"path":"\([^"]*\)".*/\1/p' <<<"$1"; }

# Kernel messages about AppArmor denials (kauditd prints them when there is no auditd).
apparmor_denials() { dmesg | grep 'apparmor="DENIED"' || true; }

# Adds a user NAME with UID, group nogroup, and subordinate ids SUB:65536.
add_user() {
  local name=$1 uid=$2 sub=$3
  echo "$name:x:$uid:65534::/tmp:/bin/sh" >>/etc/passwd
  echo "$name:$sub:65536" >>/etc/subuid
  echo "$name:$sub:65536" >>/etc/subgid
}

# Runs a command as UID (group nogroup, no supplementary groups).
as_user() {
  local uid=$1; shift
  setpriv --reuid="$uid" --regid=65534 --clear-groups -- "$@"
}

# create -> chroot (echo, then a workload) -> delete in STORE. With a RUNNER (e.g. `as_user 1000`)
# the grootfs commands run through it, and the chroot runs through it in a new user namespace
# that maps the caller to root (as a rootless container would run, as the store's mapped root).
# Usage: lifecycle STORE NAME [RUNNER...]
lifecycle() {
  local store=$1 name=$2; shift 2
  local out rootfs chroot_cmd=(chroot)
  (($# == 0)) || chroot_cmd=("$@" unshare --user --map-root-user chroot)
  out=$(run "$@" "$GROOTFS" --store "$store" create "$ALPINE" "$name") || fail "create $name"
  echo "$out"
  rootfs=$(rootfs_of "$out")
  [[ -n "$rootfs" ]] || fail "no rootfs path in create's answer"
  findmnt -n -o FSTYPE,SOURCE,TARGET "$rootfs" | grep -q '^overlay' || fail "$rootfs is not an overlay mount"
  [[ "$("${chroot_cmd[@]}" "$rootfs" /bin/echo ok)" == ok ]] || fail "chroot $rootfs /bin/echo ok"
  echo ok
  # Reads from the lower layer, then copy-up, whiteouts, an opaque dir, a rename, in the upper.
  run "${chroot_cmd[@]}" "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -euc '
    . /etc/os-release; echo "in $PRETTY_NAME"
    echo hello >/etc/motd; grep -q hello /etc/motd
    rm /etc/hostname; test ! -e /etc/hostname
    rm -r /etc/apk; mkdir /etc/apk; test -z "$(ls /etc/apk)"
    mv /etc/issue /etc/issue.moved; test -f /etc/issue.moved
    mkdir -p /root/new/dir; touch /root/new/dir/file; ls -la /root/new/dir >/dev/null
    echo workload ok' || fail "workload in $rootfs"
  run "$@" "$GROOTFS" --store "$store" list
  run "$@" "$GROOTFS" --store "$store" delete "$name" || fail "delete $name"
  ! findmnt "$rootfs" >/dev/null || fail "$rootfs still mounted after delete"
  [[ ! -e "$store/images/$name" ]] || fail "$store/images/$name still there after delete"
  ok "lifecycle of $name in $store"
}
