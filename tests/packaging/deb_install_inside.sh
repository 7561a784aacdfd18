#!/bin/bash
# Runs inside the fresh Debian 12 root of deb_install_test.sh, as root, after pivot_root.
# Usage: inside.sh DEB UID SUBUID
set -euo pipefail
deb=$1 uid=$2 sub=$3
export DEBIAN_FRONTEND=noninteractive
step() { echo "deb_install: -- $*" >&2; }
fail() { echo "deb_install: FAIL: $*" >&2; exit 1; }
helper=/usr/libexec/grootfs/grootfs-helper

# This kernel has no AppArmor: stand-ins for aa-enabled and apparmor_parser (in their places, as
# apt runs maintainer scripts with PATH=/usr/sbin:/usr/bin:/sbin:/bin) say it is enabled and
# record what the maintainer scripts ask of them.
aa_tools=(/usr/sbin/apparmor_parser /usr/bin/aa-enabled)
for tool in "${aa_tools[@]}"; do mv "$tool" "$tool.real"; done
printf '#!/bin/sh\necho "apparmor_parser $*" >>/tmp/apparmor.calls\n' >/usr/sbin/apparmor_parser
printf '#!/bin/sh\necho Yes\n' >/usr/bin/aa-enabled
chmod 755 "${aa_tools[@]}"

step "apt install ./$deb"
cd /root
apt-get update -q >/tmp/apt-update.log 2>&1 || { cat /tmp/apt-update.log >&2; fail "apt-get update"; }
apt install -y -q "./$deb" >/tmp/apt-install.log 2>&1 || { cat /tmp/apt-install.log >&2; fail "apt install"; }
grep -E '^Setting up grootfs' /tmp/apt-install.log >&2 || fail "apt did not set up grootfs"
if grep -Ei '^(W|E):|warning' /tmp/apt-install.log | grep -v 'apt does not have a stable CLI'; then
  fail "apt install warned"
fi

step "grootfs --version"
version=$(grootfs --version)
echo "$version" >&2
[[ $version =~ ^grootfs\ version\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$version'"

step "the setuid helper: mode, dpkg --verify, dpkg-statoverride"
[[ $(stat -c '%a %U %G' "$helper") == "4755 root root" ]] ||
  fail "helper is $(stat -c '%a %U %G' "$helper")"
verify=$(dpkg --verify grootfs 2>&1) || fail "dpkg --verify: $verify"
[[ -z $verify ]] || fail "dpkg --verify grootfs reported: $verify"
overrides=$(dpkg-statoverride --list || true)  # exits 1 when it lists nothing
[[ -z $overrides ]] || fail "dpkg-statoverride lists: $overrides"
# Every executable the package has in libexec/grootfs is root's (the helper alone setuid), and
# so is the TLS plugin, a shared object: 0644.
for f in /usr/libexec/grootfs/*; do
  if [[ $f == *.so ]]; then
    [[ $(stat -c '%a %U %G' "$f") == "644 root root" ]] || fail "$f is $(stat -c '%a %U %G' "$f")"
  else
    [[ $(stat -c '%U %G' "$f") == "root root" && -x $f ]] || fail "$f is $(stat -c '%a %U %G' "$f")"
  fi
done
[[ -f /usr/libexec/grootfs/grootfs-tls.so ]] || fail "no /usr/libexec/grootfs/grootfs-tls.so"
[[ -f /etc/apparmor.d/grootfs-helper ]] || fail "no /etc/apparmor.d/grootfs-helper"
grep -qx /etc/apparmor.d/grootfs-helper /var/lib/dpkg/info/grootfs.conffiles ||
  fail "the AppArmor profile is not a conffile"
[[ $(cat /tmp/apparmor.calls) == "apparmor_parser -r -T -W /etc/apparmor.d/grootfs-helper" ]] ||
  fail "postinst asked apparmor_parser: $(cat /tmp/apparmor.calls)"

step "man grootfs"
page=$(MANWIDTH=100 man grootfs 2>/tmp/man.err) || { cat /tmp/man.err >&2; fail "man grootfs"; }
for words in "GLOBAL FLAGS" "init-store" "--disk-limit-size-bytes" "EXIT STATUS" "ENVIRONMENT"; do
  grep -qF -- "$words" <<<"$page" || fail "man grootfs lacks '$words'"
done
MANWIDTH=100 man -l /usr/share/man/man1/grootfs.1.gz >/dev/null || fail "man -l"

step "create as root through the packaged helper"
store=/srv/root-store
grootfs --store "$store" init-store
out=$(grootfs --store "$store" create oci:///srv/alpine c1) || fail "create as root: $out"
[[ $out == *'"path":"'$store'/images/c1/rootfs"'* ]] || fail "create printed $out"
findmnt -n "$store/images/c1/rootfs" >/dev/null || fail "c1 is not mounted"
[[ -x $store/images/c1/rootfs/bin/busybox ]] || fail "c1 has no /bin/busybox"

step "bash completion"
complete_line() {  # complete_line WORD... : COMPREPLY for the last word, one line
  bash -c 'source /usr/share/bash-completion/completions/grootfs
           COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _grootfs; echo "${COMPREPLY[*]}"' \
    complete "$@"
}
[[ $(complete_line grootfs --store "$store" delete "") == c1 ]] || fail "delete <TAB>"
[[ $(complete_line grootfs ini) == init-store ]] || fail "ini<TAB>"
[[ $(complete_line grootfs create --disk) == --disk-limit-size-bytes ]] || fail "--disk<TAB>"
grootfs --store "$store" delete c1
[[ -z $(complete_line grootfs --store "$store" delete "") ]] || fail "deleted c1 still completes"

step "create as an unprivileged user (uid $uid, subordinate ids $sub:65536)"
# (useradd warns that the ids are outside UID_MIN..UID_MAX: they are, on purpose.)
groupadd --gid "$uid" gtest 2>/dev/null
useradd --uid "$uid" --gid "$uid" --no-create-home --shell /bin/bash gtest 2>/dev/null
sed -i '/^gtest:/d' /etc/subuid /etc/subgid  # whatever useradd allocated: ours only
echo "gtest:$sub:65536" >>/etc/subuid
echo "gtest:$sub:65536" >>/etc/subgid
ustore=/srv/user-store
grootfs --store "$ustore" init-store --uid-mapping "0:$uid:1" --uid-mapping "1:$sub:65536" \
  --gid-mapping "0:$uid:1" --gid-mapping "1:$sub:65536"
as_user() { runuser -u gtest -- "$@"; }
out=$(as_user grootfs --store "$ustore" create oci:///srv/alpine u1) || fail "create as user: $out"
findmnt -n "$ustore/images/u1/rootfs" >/dev/null || fail "u1 is not mounted"
[[ $(stat -c %u "$ustore/images/u1/rootfs/bin/busybox") == "$uid" ]] ||
  fail "u1's /bin/busybox belongs to $(stat -c %u "$ustore/images/u1/rootfs/bin/busybox")"
[[ $(as_user grootfs --store "$ustore" list) == "$ustore/images/u1" ]] || fail "list as user"
as_user grootfs --store "$ustore" delete u1
grootfs --store "$ustore" delete-store
grootfs --store "$store" delete-store

step "apt remove --purge grootfs"
apt remove --purge -y -q grootfs >/tmp/apt-remove.log 2>&1 || { cat /tmp/apt-remove.log >&2; fail "apt remove"; }
if dpkg -L grootfs >/dev/null 2>&1; then fail "dpkg -L grootfs still lists files"; fi
[[ $(tail -n 1 /tmp/apparmor.calls) == "apparmor_parser -R /etc/apparmor.d/grootfs-helper" ]] ||
  fail "prerm did not unload the profile: $(cat /tmp/apparmor.calls)"
[[ ! -e /var/lib/dpkg/info/grootfs.list ]] || fail "grootfs.list is left"
[[ ! -e /etc/apparmor.d/grootfs-helper ]] || fail "/etc/apparmor.d/grootfs-helper is left"
left=$(ls -A /usr/libexec/grootfs 2>/dev/null || true)
[[ -z $left ]] || fail "left in /usr/libexec/grootfs: $left"
for f in /usr/bin/grootfs /usr/share/man/man1/grootfs.1.gz \
  /usr/share/bash-completion/completions/grootfs; do
  [[ ! -e $f ]] || fail "$f is left"
done
# With AppArmor off (the stand-ins gone, this kernel's truth), the postinst loads nothing.
for tool in "${aa_tools[@]}"; do mv "$tool.real" "$tool"; done
rm /tmp/apparmor.calls
step "apt install again with AppArmor off, apt remove --purge"
apt install -y -q "./$deb" >/tmp/apt-install.log 2>&1 || { cat /tmp/apt-install.log >&2; fail "apt install"; }
if grep -q "could not load" /tmp/apt-install.log; then fail "postinst tried to load the profile"; fi
[[ $(stat -c %a "$helper") == 4755 ]] || fail "reinstalled helper is $(stat -c %a "$helper")"
apt remove --purge -y -q grootfs >/tmp/apt-remove.log 2>&1 || { cat /tmp/apt-remove.log >&2; fail "apt remove"; }
[[ ! -e /etc/apparmor.d/grootfs-helper && ! -e /usr/bin/grootfs ]] || fail "purge left files"
step "passed"
