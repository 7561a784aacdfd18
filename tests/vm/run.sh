#!/usr/bin/env bash
# Boots Debian's kernel (the linux-image-amd64 package's dependency, fetched with apt-get
# download) under qemu with a throw-away initramfs and runs one test script inside it, as root,
# as PID 1's child. The script's output comes back on the second serial port, and its exit
# status is this command's. See tests/vm/README.md.
#
#   tests/vm/run.sh [SCRIPT [ARGS...]]        (default SCRIPT: tests/vm/smoke.sh)
#
# Environment (all optional):
#   GROOTFS_PREFIX  installed prefix to put in the VM at /opt/grootfs (default: REPO/prefix)
#   VM_CACHE        where the kernel .deb and its unpacked tree are kept
#                   (default: ${XDG_CACHE_HOME:-~/.cache}/grootfs-vm)
#   VM_ACCEL        auto (default: kvm when /dev/kvm is usable, else tcg), kvm or tcg
#   VM_TIMEOUT      seconds before a VM is killed (default: 240 with kvm, 600 with tcg)
#   VM_MEM, VM_CPUS memory in MiB (default 1536) and vCPUs (default 2)
#   VM_KERNEL       stock (default): linux-image-amd64's dependency from the machine's apt sources
#                   (Debian 12: linux-image-6.1.0-*-amd64); backports: the same from
#                   bookworm-backports (6.12)
#   VM_KERNEL_PKG   a kernel package to use instead of linux-image-amd64's dependency
#   VM_MODULES      extra kernel modules to load at boot (xfs overlay loop are always loaded)
#   VM_BINS         extra host programs to copy in (with their libraries, found by ldd)
#   VM_CONSOLE=1    print the kernel console (ttyS0) too, not only on failure
#   VM_KEEP=1       keep the work directory (initramfs, logs) and print its path
#   VM_LAYER_IMAGES "N M ...": one OCI layout with an image of each size (N layers, sharing
#                   them; tests/support/make_layers_image.sh) at /src/layers in the VM, so
#                   oci:///src/layers:N; made once and kept in the cache
#   VM_REGISTRY=1   Debian's docker-registry in the VM, its storage holding the Alpine fixture
#                   as alpine:latest (pushed with skopeo on the host once, kept in the cache);
#                   a script serves it with /etc/grootfs-vm-registry.yml on 127.0.0.1:5000
#
# Exit status: the script's own; 124 when the VM timed out; 125 when it ended without
# reporting a status (kernel panic, init failure); 2 for a harness error (before booting).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

die() { echo "vm: $*" >&2; exit 2; }
note() { echo "vm: $*" >&2; }

SCRIPT=${1:-$HERE/smoke.sh}
(($# > 0)) && shift
[[ -f "$SCRIPT" ]] || die "no such script: $SCRIPT"
SCRIPT=$(readlink -f "$SCRIPT")

PREFIX=${GROOTFS_PREFIX:-$REPO/prefix}
[[ -x "$PREFIX/bin/grootfs" && -x "$PREFIX/libexec/grootfs/grootfs-helper" ]] ||
  die "no installed grootfs in $PREFIX (run scripts/build, or set GROOTFS_PREFIX)"

if [[ -n "${VM_CACHE:-}" ]]; then
  CACHE=$VM_CACHE
elif [[ -n "${XDG_CACHE_HOME:-}" || -n "${HOME:-}" ]]; then
  CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/grootfs-vm
else
  CACHE=$REPO/build/vm-cache
fi
mkdir -p "$CACHE/debs" "$CACHE/kernels"

for tool in qemu-system-x86_64 busybox cpio apt-get dpkg-deb ldd flock timeout; do
  command -v "$tool" >/dev/null || die "missing $tool (scripts/deps installs it)"
done

T0=$(date +%s.%N)

# ---------------------------------------------------------------------------------------------
# The kernel: linux-image-amd64's dependency, fetched with apt-get download, unpacked once.
# VM_KERNEL=stock (default): from the machine's own apt sources (Debian 12: linux-image-6.1.0-*).
# VM_KERNEL=backports: from bookworm-backports (6.12), through a private apt configuration kept
# in the cache (the machine's sources and lists are left alone).
# ---------------------------------------------------------------------------------------------
FLAVOUR=${VM_KERNEL:-stock}
APT_OPTS=(-o APT::Sandbox::User=root)
case "$FLAVOUR" in
  stock) ;;
  backports)
    APTDIR=$CACHE/apt-backports
    mkdir -p "$APTDIR/lists/partial"
    # The same Debian mirror the machine's own apt sources use, whichever format they are in
    # (tests/vm/debian-mirror; third-party repositories are skipped), or VM_DEBIAN_MIRROR.
    mirror=${VM_DEBIAN_MIRROR:-}
    if [[ -z "$mirror" ]]; then
      mirror=$("$HERE/debian-mirror") || die "cannot tell the Debian mirror (see above)"
    fi
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main" >"$APTDIR/sources.list"
    APT_OPTS+=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
               -o "Dir::State::Lists=$APTDIR/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
    ;;
  *) die "VM_KERNEL must be stock or backports" ;;
esac

apt_update() {
  if [[ "$FLAVOUR" == stock && $(id -u) -ne 0 ]]; then return 1; fi
  note "apt-get update ($FLAVOUR)"
  apt-get "${APT_OPTS[@]}" update -q >"$CACHE/debs/.err" 2>&1 || { cat "$CACHE/debs/.err" >&2; return 1; }
}

kernel_pkg() {
  if [[ -n "${VM_KERNEL_PKG:-}" ]]; then echo "$VM_KERNEL_PKG"; return; fi
  apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

download() {  # download PKG into $CACHE/debs
  (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download -q "$1" >/dev/null 2>"$CACHE/debs/.err")
}

# Prints the directory of an unpacked kernel (boot/vmlinuz-*, lib/modules/*).
fetch_kernel() {
  local pkg dir deb
  pkg=$(kernel_pkg)
  if [[ -z "$pkg" ]] && apt_update; then pkg=$(kernel_pkg); fi
  if [[ -z "$pkg" ]]; then
    # No apt lists and no way to refresh them: the kernel this flavour used last time.
    dir=$(readlink -f "$CACHE/kernels/last-$FLAVOUR" 2>/dev/null || true)
    [[ -n "$dir" && -f "$dir/.unpacked" ]] || die "cannot tell which kernel linux-image-amd64 wants (apt-get update?)"
    echo "$dir"; return
  fi
  dir=$CACHE/kernels/$pkg
  if [[ ! -f "$dir/.unpacked" ]]; then
    deb=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -z "$deb" ]]; then
      note "downloading $pkg into $CACHE/debs"
      if ! download "$pkg"; then
        # Stale lists name a version the mirror no longer has: refresh them once and retry.
        apt_update && pkg=$(kernel_pkg) && [[ -n "$pkg" ]] && download "$pkg" ||
          { cat "$CACHE/debs/.err" >&2; die "apt-get download $pkg failed"; }
        dir=$CACHE/kernels/$pkg
      fi
      deb=$(ls "$CACHE/debs/${pkg}_"*.deb | sort -V | tail -n1)
    fi
    rm -rf "$dir.tmp"
    dpkg-deb -x "$deb" "$dir.tmp" || die "dpkg-deb -x $deb failed"
    touch "$dir.tmp/.unpacked"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  ln -sfn "$pkg" "$CACHE/kernels/last-$FLAVOUR"
  echo "$dir"
}

exec 9>"$CACHE/.lock"
flock 9
KDIR=$(fetch_kernel)
flock -u 9
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=$KDIR/lib/modules/$KVER
[[ -d "$MODDIR/kernel" ]] || die "no modules in $KDIR"

# ---------------------------------------------------------------------------------------------
# The initramfs: busybox, the programs below with their libraries, the modules, the prefix.
# ---------------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/grootfs-vm.XXXXXX")
QPID=
cleanup() {
  [[ -n "$QPID" ]] && kill "$QPID" 2>/dev/null || true
  if [[ "${VM_KEEP:-0}" == 1 ]]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ROOT=$WORK/root
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,root,etc,mnt,vm,opt,var/lib,bb}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"

# Copies a host file (following symlinks) to the same path in the initramfs.
copy_file() {
  local src=$1 dst=$ROOT${2:-$1}
  [[ -e "$dst" ]] && return 0
  mkdir -p "$(dirname "$dst")"
  cp -L --preserve=mode "$src" "$dst"
}

# Copies the shared libraries an ELF file needs (ldd), with the dynamic loader.
copy_libs() {
  local lib
  while read -r lib; do
    if [[ -n "$lib" ]]; then copy_file "$lib"; fi
  done < <(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# Copies a host program and its libraries to the same path.
copy_bin() {
  local p
  p=$(command -v "$1" 2>/dev/null || true)
  [[ -n "$p" ]] || p=$(PATH=/usr/sbin:/sbin:$PATH command -v "$1" 2>/dev/null || true)
  [[ -n "$p" ]] || { note "warning: $1 is not installed on the host; not in the VM"; return 0; }
  p=$(readlink -f "$p")
  # Keep the name it is called by (mkfs.xfs, not a resolved alias), under /usr.
  local dst=/usr${p#/usr}
  [[ "$dst" == */"$1" ]] || dst=$(dirname "$dst")/$1
  copy_file "$p" "$dst"
  copy_libs "$p"
}

BUSYBOX=$(readlink -f "$(command -v busybox)")
cp "$BUSYBOX" "$ROOT/bb/busybox"
copy_libs "$BUSYBOX"   # nothing for busybox-static; the dynamic busybox works too
for applet in $("$BUSYBOX" --list); do [[ "$applet" == busybox ]] || ln -s busybox "$ROOT/bb/$applet"; done
ln -s /bb/busybox "$ROOT/usr/bin/sh"   # for #!/bin/sh scripts

# Programs a test may want; each is taken from the host with its libraries. util-linux's mount
# (loop devices, -o pquota) and findmnt come first in PATH; busybox covers the rest.
read -ra EXTRA_BINS <<<"${VM_BINS:-}"
HOST_BINS=(bash mount umount losetup findmnt setpriv unshare nsenter dmesg mkfs.xfs xfs_quota
           xfs_io xfs_db apparmor_parser getcap setcap capsh jq "${EXTRA_BINS[@]}")
for b in "${HOST_BINS[@]}"; do copy_bin "$b"; done
[[ -x "$ROOT/usr/sbin/mkfs.xfs" && -x "$ROOT/usr/sbin/xfs_quota" ]] || die "xfsprogs is missing on the host"

# apparmor_parser's configuration (Debian pins policy-features to its own feature file) and
# the policy includes (abi, tunables, abstractions).
for d in /etc/apparmor /etc/apparmor.d/abi /etc/apparmor.d/tunables /etc/apparmor.d/abstractions \
         /usr/share/apparmor-features; do
  if [[ -d "$d" ]]; then mkdir -p "$ROOT$d" && cp -a "$d/." "$ROOT$d/"; fi
done

# Kernel modules: the ones asked for and their dependencies (modinfo's depends=), in load order.
declare -A MODPATH=() SEEN=()
while read -r rel; do
  base=${rel##*/}; base=${base%%.ko*}; MODPATH[${base//-/_}]=$rel
done < <(cd "$MODDIR" && find kernel -name '*.ko*')
ORDER=()
add_module() {
  local name=${1//-/_} rel dep
  [[ -n "${SEEN[$name]:-}" ]] && return 0
  SEEN[$name]=1
  rel=${MODPATH[$name]:-}
  [[ -n "$rel" ]] || { grep -qE "/${name//_/[-_]}\.ko" "$MODDIR/modules.builtin" && return 0; die "no module $1 in $KVER"; }
  # Debian 12's 6.1 modules are plain .ko (CONFIG_MODULE_COMPRESS_NONE); backports' 6.12 ones are
  # .ko.xz. Compressed ones are unpacked here, so that busybox insmod loads every one in the VM
  # (the module signature sits inside the uncompressed file, so it survives).
  local plain=${rel%.xz}; plain=${plain%.zst}; plain=${plain%.gz}
  mkdir -p "$(dirname "$ROOT/lib/modules/$KVER/$plain")"
  case "$rel" in
    *.ko) cp "$MODDIR/$rel" "$ROOT/lib/modules/$KVER/$plain" ;;
    *.ko.xz) xz -dc "$MODDIR/$rel" >"$ROOT/lib/modules/$KVER/$plain" ;;
    *.ko.zst) zstd -qdc "$MODDIR/$rel" >"$ROOT/lib/modules/$KVER/$plain" ;;
    *.ko.gz) gzip -dc "$MODDIR/$rel" >"$ROOT/lib/modules/$KVER/$plain" ;;
    *) die "unknown module format: $rel" ;;
  esac
  for dep in $(tr '\0' '\n' <"$ROOT/lib/modules/$KVER/$plain" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$dep"
  done
  ORDER+=("$plain")
}
# crc32c: libcrc32c asks the crypto API for it at run time rather than by a module dependency.
for m in crc32c_generic loop overlay xfs ${VM_MODULES:-}; do add_module "$m"; done
printf '%s\n' "${ORDER[@]}" >"$ROOT/vm/modules"
cp "$MODDIR"/modules.{order,builtin} "$ROOT/lib/modules/$KVER/" 2>/dev/null || true
"$BUSYBOX" depmod -b "$ROOT" "$KVER" 2>/dev/null || true   # for modprobe in scripts

# The project: the installed prefix, the AppArmor profile, the image fixtures and the VM scripts
# (tests/vm/lib.sh). The helper is installed setuid root, whoever runs this (cpio -R 0:0 below
# makes everything root's; cpio keeps no xattrs, so a script wanting file capabilities runs
# `chmod u-s` and setcap itself).
mkdir -p "$ROOT/opt/grootfs" "$ROOT/src/tests"
cp -a "$PREFIX/." "$ROOT/opt/grootfs/"
chmod 4755 "$ROOT/opt/grootfs/libexec/grootfs/grootfs-helper"
while read -r f; do
  if [[ "$(head -c4 "$f" | tr -d '\0')" == $'\x7fELF' ]]; then copy_libs "$f"; fi
done < <(find "$ROOT/opt/grootfs" -type f)
cp -a "$REPO/apparmor" "$ROOT/src/apparmor"
mkdir -p "$ROOT/src/tests/fixtures"
cp -a "$REPO/tests/fixtures/images" "$ROOT/src/tests/fixtures/images"
cp -a "$HERE" "$ROOT/src/tests/vm"
if [[ -n "${VM_LAYER_IMAGES:-}" ]]; then
  read -ra SIZES <<<"$VM_LAYER_IMAGES"
  key=$( (cat "$REPO/tests/support/make_layers_image.sh"; echo "${SIZES[*]}") | sha256sum | cut -c1-16)
  LAYOUT=$CACHE/layers-$key
  flock 9
  if [[ ! -f "$LAYOUT/index.json" ]]; then
    note "making images of ${SIZES[*]} layers in $LAYOUT (once)"
    rm -rf "$LAYOUT.tmp"
    "$REPO/tests/support/make_layers_image.sh" "$LAYOUT.tmp" "${SIZES[@]}" || die "make_layers_image.sh failed"
    mv "$LAYOUT.tmp" "$LAYOUT"
  fi
  flock -u 9
  cp -a "$LAYOUT" "$ROOT/src/layers"
fi
registry_config() {  # registry_config STORAGE ADDR
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$1" "$2"
}
if [[ "${VM_REGISTRY:-0}" == 1 ]]; then
  for tool in docker-registry skopeo; do command -v "$tool" >/dev/null || die "VM_REGISTRY needs $tool"; done
  key=$(sha256sum "$REPO/tests/fixtures/images/alpine/index.json" | cut -c1-16)
  REG=$CACHE/registry-$key
  flock 9
  if [[ ! -d "$REG" ]]; then
    note "pushing the Alpine fixture into a registry's storage in $REG (once)"
    rm -rf "$REG.tmp" && mkdir -p "$REG.tmp"
    port=$((20000 + RANDOM % 20000))
    registry_config "$REG.tmp" "127.0.0.1:$port" >"$WORK/registry.yml"
    docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    rpid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    skopeo copy --quiet --dest-tls-verify=false "oci:$REPO/tests/fixtures/images/alpine" \
      "docker://127.0.0.1:$port/alpine:latest" || { kill "$rpid"; cat "$WORK/registry.log" >&2; die "skopeo copy failed"; }
    kill "$rpid"; wait "$rpid" 2>/dev/null || true
    mv "$REG.tmp" "$REG"
  fi
  flock -u 9
  copy_bin docker-registry
  mkdir -p "$ROOT/var/lib"
  cp -a "$REG" "$ROOT/var/lib/registry"
  registry_config /var/lib/registry 127.0.0.1:5000 >"$ROOT/etc/grootfs-vm-registry.yml"
fi

# /etc: root and nobody; scripts add their own users.
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
: >"$ROOT/etc/subuid"; : >"$ROOT/etc/subgid"
echo grootfs-vm >"$ROOT/etc/hostname"
ln -s /proc/self/mounts "$ROOT/etc/mtab"

# The test itself: the script, its arguments, a nonce for the status line.
install -m 0755 "$SCRIPT" "$ROOT/vm/script"
: >"$ROOT/vm/args"
for a in "$@"; do printf '%s\0' "$a" >>"$ROOT/vm/args"; done
NONCE=$(head -c12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$NONCE" >"$ROOT/vm/nonce"
basename "$SCRIPT" >"$ROOT/vm/name"
install -m 0755 "$HERE/init" "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/initrd.cpio"

# ---------------------------------------------------------------------------------------------
# Boot. ttyS0: the kernel console (shown on failure); ttyS1: the script's output and status.
# ---------------------------------------------------------------------------------------------
ACCEL=${VM_ACCEL:-auto}
if [[ "$ACCEL" == auto ]]; then
  ACCEL=tcg
  if [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]]; then
    ACCEL=kvm
    # kvm-pvm (a /dev/kvm without VT-x/AMD-V, as on the project's machines) cannot run an
    # unmodified kernel: Debian's takes a minute to reach memory setup, then fails with a KVM
    # emulation failure. TCG boots it in seconds.
    if [[ -d /sys/module/kvm_pvm && ! -d /sys/module/kvm_intel && ! -d /sys/module/kvm_amd ]]; then
      note "/dev/kvm is kvm-pvm, which cannot boot a stock kernel: using TCG (VM_ACCEL=kvm forces it)"
      ACCEL=tcg
    fi
  fi
fi
case "$ACCEL" in
  kvm) ACCEL_ARGS=(-accel kvm -cpu host); DEFAULT_TIMEOUT=240 ;;
  tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu max); DEFAULT_TIMEOUT=600 ;;
  *) die "VM_ACCEL must be auto, kvm or tcg" ;;
esac
TIMEOUT=${VM_TIMEOUT:-$DEFAULT_TIMEOUT}

CMDLINE="console=ttyS0 rdinit=/init panic=-1 oops=panic quiet loglevel=4 apparmor=1 security=apparmor"
CMDLINE+=" tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp"
: >"$WORK/console.log"; : >"$WORK/output.log"
T1=$(date +%s.%N)
note "booting $KVER ($ACCEL, ${VM_CPUS:-2} vCPUs, ${VM_MEM:-1536} MiB): $(basename "$SCRIPT") $* (initramfs $(($(stat -c %s "$WORK/initrd.cpio") / 1048576)) MiB, timeout ${TIMEOUT}s)"
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${ACCEL_ARGS[@]}" \
  -machine pc -smp "${VM_CPUS:-2}" -m "${VM_MEM:-1536}" \
  -nodefaults -no-user-config -display none -no-reboot \
  -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio" -append "$CMDLINE" \
  -serial "file:$WORK/console.log" -serial "file:$WORK/output.log" \
  </dev/null >"$WORK/qemu.log" 2>&1 &
QPID=$!
# Stream the script's output while it runs (without the status line and carriage returns).
tail -n +1 -F --pid="$QPID" "$WORK/output.log" 2>/dev/null | tr -d '\r' | grep -v --line-buffered "^GROOTFS-VM-EXIT $NONCE " || true
set +e
wait "$QPID"; QRC=$?
set -e
QPID=
T2=$(date +%s.%N)

STATUS=$(tr -d '\r' <"$WORK/output.log" | sed -n "s/^GROOTFS-VM-EXIT $NONCE \([0-9]*\)\$/\1/p" | tail -n1)
if [[ "${VM_CONSOLE:-0}" == 1 ]]; then
  echo "----- kernel console (ttyS0) -----"; tr -d '\r' <"$WORK/console.log"
fi
timing=$(awk -v a="$T0" -v b="$T1" -v c="$T2" 'BEGIN { printf "prepare %.1fs, boot-to-result %.1fs", b - a, c - b }')
if [[ -z "$STATUS" ]]; then
  if [[ "$QRC" == 124 || "$QRC" == 137 ]]; then
    note "TIMEOUT after ${TIMEOUT}s ($timing); kernel console:"; RC=124
  else
    note "the VM stopped without a status (qemu exit $QRC, $timing); kernel console:"; RC=125
  fi
  tr -d '\r' <"$WORK/console.log" | tail -n 60 >&2
  sed 's/^/qemu: /' "$WORK/qemu.log" >&2
  exit "$RC"
fi
note "$(basename "$SCRIPT") exited $STATUS ($timing)"
exit "$STATUS"
