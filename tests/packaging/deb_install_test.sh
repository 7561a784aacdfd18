#!/usr/bin/env bash
# The Debian package on a fresh Debian 12: builds grootfs_*.deb from BUILD_DIR (cpack), copies a
# debootstrap'ed bookworm minbase root (made once, cached in ~/.cache/grootfs-deb), and inside
# it, in a private mount namespace entered with pivot_root (/proc, /sys, /dev, /dev/pts bound):
# `apt install ./grootfs_*.deb` (its Depends come from the Debian mirror), `grootfs --version`,
# `dpkg --verify` and `dpkg-statoverride` against the setuid helper, `man grootfs`, the bash
# completion, a create through the packaged helper as root and as an unprivileged user (its own
# store, /etc/subuid), then `apt remove --purge grootfs` and a check that nothing is left.
#
# Usage: deb_install_test.sh BUILD_DIR        (root; ctest deb_install, label deb)
# Environment: GROOTFS_DEB_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/grootfs-deb),
#              DEBIAN_MIRROR (default: the mirror of the machine's apt sources).
# Exit status 77 (skipped) without root or debootstrap.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: deb_install_test.sh BUILD_DIR}" && pwd)

say() { echo "deb_install: $*" >&2; }
[[ $(id -u) == 0 ]] || { say "skipped: needs root"; exit 77; }
for tool in debootstrap cpack dpkg-deb unshare; do
  command -v "$tool" >/dev/null || { say "skipped: no $tool (scripts/deps)"; exit 77; }
done

cache=${GROOTFS_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/grootfs-deb}
mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/grootfs-deb-test.XXXXXX")
cleanup() {
  # The namespace took its mounts with it; a leftover mount would make rm fail, not cross it.
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The package, from the same install rules as `cmake --install`.
start=$SECONDS
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; say "cpack failed"; exit 1; }
deb=$(ls "$work"/pkg/grootfs_*_amd64.deb)
say "built $(basename "$deb") ($(stat -c %s "$deb") bytes) in $((SECONDS - start)) s"

# A fresh bookworm minbase (plus man-db, to read the man page, and apparmor, whose aa-enabled
# the postinst asks), made once.
root_cache=$cache/bookworm-minbase
(
  flock 9
  if [[ ! -f $root_cache/.complete ]]; then
    mirror=${DEBIAN_MIRROR:-$("$repo/tests/vm/debian-mirror" 2>/dev/null || echo http://deb.debian.org/debian)}
    say "debootstrap bookworm minbase from $mirror into $root_cache (once)"
    rm -rf "$root_cache.tmp"
    debootstrap --variant=minbase --include=man-db,apparmor,ca-certificates bookworm \
      "$root_cache.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      { tail -20 "$cache/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
    rm -rf "$root_cache.tmp"/var/lib/apt/lists/* "$root_cache.tmp"/var/cache/apt/*.bin
    touch "$root_cache.tmp/.complete"
    rm -rf "$root_cache" && mv "$root_cache.tmp" "$root_cache"
  fi
) 9>"$cache/.lock"
root=$work/root
start=$SECONDS
cp -a "$root_cache" "$root"
rm -f "$root/.complete"
cp "$deb" "$root/root/"
cp -a "$repo/tests/fixtures/images/alpine" "$root/srv/alpine"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A user of the root's own, with a uid and subordinate ids unlikely to be anyone's on the host.
uid=$((2000000000 + (RANDOM << 10) + (RANDOM & 1023)))
sub=$((uid + 1))
cp "$here/deb_install_inside.sh" "$root/root/inside.sh"
say "root copied in $((SECONDS - start)) s"

# pivot_root into it in a private mount namespace; the namespace's mounts end with it.
start=$SECONDS
status=0
unshare --mount --propagation private --fork -- /bin/bash -euc '
  root=$1; shift
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  cd "$root"
  mkdir -p .old-root
  pivot_root . .old-root
  umount -l /.old-root
  rmdir /.old-root
  exec env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb /bin/bash /root/inside.sh "$@"
' deb-root "$root" "$(basename "$deb")" "$uid" "$sub" || status=$?
say "inside the root: $((SECONDS - start)) s, status $status"
exit "$status"
