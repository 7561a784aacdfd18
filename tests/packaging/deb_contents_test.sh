#!/usr/bin/env bash
# The Debian package's contents without installing it: cpack from BUILD_DIR into a temp dir, then
# dpkg-deb: the helper is -rwsr-xr-x root/root in the package's data (so dpkg --verify and
# dpkg-statoverride agree once installed), every other file root's, each file where Debian wants
# it (man page gzip'ed), the AppArmor profile a conffile, maintainer scripts that load and unload
# it, and the control fields (Depends from dpkg-shlibdeps).
# Usage: deb_contents_test.sh BUILD_DIR SOURCE_DIR [static|shared]   (ctest deb_contents, unit)
# (shared: a sanitizer build, whose frontend links its libraries dynamically)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$2
frontend_link=${3:-static}
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "skipped: no $tool (scripts/deps)" >&2; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grootfs-deb-contents.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
deb=$tmp/grootfs_${version}_amd64.deb
[[ -f $deb ]] || { ls "$tmp" >&2; echo "FAIL: no grootfs_${version}_amd64.deb" >&2; exit 1; }

# PERMISSIONS OWNER PATH, one a line, for the files (not directories).
contents=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }')
echo "$contents"
has() {  # has MODE PATH
  grep -qx -- "$1 root/root ./$2" <<<"$contents" || fail "not $1 root/root: $2"
}
has -rwsr-xr-x usr/libexec/grootfs/grootfs-helper
has -rwxr-xr-x usr/libexec/grootfs/grootfs-unpack
has -rwxr-xr-x usr/bin/grootfs
has -rw-r--r-- usr/libexec/grootfs/grootfs-tls.so
has -rw-r--r-- usr/share/man/man1/grootfs.1.gz
has -rw-r--r-- usr/share/bash-completion/completions/grootfs
has -rw-r--r-- etc/apparmor.d/grootfs-helper
grep -v ' root/root ' <<<"$contents" && fail "files not owned by root/root"
grep -vE ' \./(usr/(bin|libexec/grootfs|share/(man|bash-completion|doc))|etc/apparmor\.d)/' \
  <<<"$contents" && fail "files outside the expected directories"
# Only the helper is setuid or setgid.
grep -E '^...s|^......s' <<<"$contents" | grep -v grootfs-helper && fail "other setuid files"

# Everything the install rules put in libexec/grootfs is packaged (grootfs-unpack too, once built).
DESTDIR=$tmp/staged cmake --install "$build" --prefix /usr >/dev/null
for f in "$tmp"/staged/usr/libexec/grootfs/*; do
  grep -q " \./usr/libexec/grootfs/${f##*/}$" <<<"$contents" || fail "not packaged: ${f##*/}"
done
[[ -f $tmp/staged/etc/apparmor.d/grootfs-helper ]] || fail "prefix /usr: profile not in /etc"

dpkg-deb -x "$deb" "$tmp/x"
gzip -t "$tmp/x/usr/share/man/man1/grootfs.1.gz" || fail "the man page is not gzip"
cmp -s "$tmp/x/etc/apparmor.d/grootfs-helper" "$src/apparmor/grootfs-helper" ||
  fail "the packaged profile differs from apparmor/grootfs-helper"

control=$(dpkg-deb -f "$deb")
echo "$control"
for field in "Package: grootfs" "Version: $version" "Architecture: amd64" "Section: admin" \
  "Priority: optional"; do
  grep -qx "$field" <<<"$control" || fail "control lacks '$field'"
done
grep -qE '^Maintainer: .+ <.+@.+>$' <<<"$control" || fail "no Maintainer"
grep -qE '^Description: .+' <<<"$control" || fail "no Description"
depends=$(sed -n 's/^Depends: //p' <<<"$control")
# The helper and grootfs-unpack are static; grootfs links what has a static archive (its HTTP
# client and libcrypto too), and needs libc and ISA-L; its TLS plugin links OpenSSL in.
for lib in libc6 libisal2; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
unwanted=(libcurl)
[[ $frontend_link == static ]] && unwanted+=(libssl)
for lib in "${unwanted[@]}"; do
  if grep -q "$lib" <<<"$depends"; then fail "Depends names $lib: $depends"; fi
done
# The TLS plugin needs libc only and exports its entry point only (tlsplugin/README.md).
if [[ $frontend_link == static ]] && command -v readelf >/dev/null; then
  plugin=$tmp/x/usr/libexec/grootfs/grootfs-tls.so
  needed=$(readelf -d "$plugin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  [[ $needed == "libc.so.6 " ]] || fail "grootfs-tls.so needs more than libc: $needed"
  exported=$(readelf --dyn-syms -W "$plugin" | awk '$7 != "UND" && $5 == "GLOBAL" { print $8 }' |
    grep -v '^GROOTFS_TLS_1$' | tr '\n' ' ')
  [[ $exported == "grootfs_tls_plugin_v1@@GROOTFS_TLS_1 " ]] ||
    fail "grootfs-tls.so exports more than its entry point: $exported"
fi
grep -q "^Recommends: .*ca-certificates" <<<"$control" || fail "ca-certificates not recommended"

dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/apparmor.d/grootfs-helper "$tmp/control/conffiles" || fail "profile not a conffile"
for script in postinst prerm postrm; do
  [[ -x $tmp/control/$script ]] || fail "no executable $script"
  sh -n "$tmp/control/$script" || fail "$script does not parse"
done
grep -q 'apparmor_parser -r' "$tmp/control/postinst" || fail "postinst does not load the profile"
grep -q 'aa-enabled' "$tmp/control/postinst" || fail "postinst does not ask aa-enabled"
grep -q 'apparmor_parser -R' "$tmp/control/prerm" || fail "prerm does not unload the profile"

if ((failures)); then exit 1; fi
echo "deb_contents: $(basename "$deb") as Debian wants it"
