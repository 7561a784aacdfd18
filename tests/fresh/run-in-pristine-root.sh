#!/usr/bin/env bash
# Runs a command as root of a pristine Debian root filesystem (one debootstrap made), the way a
# new user's machine would run it: in a private mount namespace and a new pid namespace, with
# pivot_root into the root (a chroot cannot create user namespaces, which the tests need), fresh
# /proc, and the host's /sys, /dev and /dev/pts bound in. Not part of ctest; used to check that
# scripts/demo and scripts/test pass from nothing (issue #13, docs/FRESH-RUN.md).
#
#   tests/fresh/run-in-pristine-root.sh --make ROOT     debootstrap --variant=minbase bookworm
#                                                      into ROOT (a new, empty directory)
#   tests/fresh/run-in-pristine-root.sh ROOT [CMD...]   runs CMD (default: a login bash) in ROOT
#
# The root keeps debootstrap's own one-line /etc/apt/sources.list. MIRROR (default
# http://deb.debian.org/debian) is the mirror debootstrap uses. APT_CONF_FILES (default: none)
# lists host files copied into ROOT/etc/apt/apt.conf.d/ before the run, for a machine whose
# mirror needs apt settings to be reachable (a proxy, a snapshot's Check-Valid-Until).
# Every process started inside is killed when CMD ends (the pid namespace goes with it).
set -euo pipefail

usage() { sed -n '8,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "run-in-pristine-root: run me as root" >&2; exit 1; }
(($# >= 1)) || usage

if [[ $1 == --make ]]; then
  (($# == 2)) || usage
  root=$2
  if [[ -e $root ]] && [[ -n $(ls -A "$root") ]]; then
    echo "run-in-pristine-root: $root is not empty" >&2
    exit 1
  fi
  exec debootstrap --variant=minbase bookworm "$root" "${MIRROR:-http://deb.debian.org/debian}"
fi

root=$(realpath "$1")
shift
[[ -x $root/bin/bash ]] || { echo "run-in-pristine-root: $root has no /bin/bash" >&2; exit 1; }
for conf in ${APT_CONF_FILES:-}; do
  install -m 0644 "$conf" "$root/etc/apt/apt.conf.d/$(basename "$conf")"
done
(($# > 0)) || set -- /bin/bash --login

# The inner script runs in the new namespaces, with the host's tools, until it has pivoted.
# shellcheck disable=SC2016
inner='
set -euo pipefail
root=$1
shift
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/sys"
mount --make-rslave "$root/dev"
mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
cd "$root"
old=$(mktemp -d "$root/.old-root.XXXXXX")
pivot_root . "$old"
cd /
umount -l "/${old##*/}"
rmdir "/${old##*/}"
exec env -i HOME=/root TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
'
exec unshare --mount --propagation private --pid --fork bash -c "$inner" inner "$root" "$@"
