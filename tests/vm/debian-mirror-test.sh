#!/usr/bin/env bash
# Runs tests/vm/debian-mirror against sample apt configurations (no VM, no network): the
# one-line sources.list of a debootstrap root, the deb822 debian.sources of a Debian 12 image,
# third-party repositories listed first in either format, disabled and security-only entries,
# and nothing at all (a clear message, status 1). ctest: vm_debian_mirror.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/debian-mirror-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0 n=0

# case NAME EXPECTED: writes nothing itself; the apt dir is $WORK/NAME, filled by the caller.
check() {
  local name=$1 want=$2 got status err
  n=$((n + 1))
  got=$("$HERE/debian-mirror" "$WORK/$name" 2>"$WORK/$name.err"); status=$?
  err=$(cat "$WORK/$name.err")
  if [[ "$want" == FAIL ]]; then
    if [[ $status -ne 1 || -n "$got" || "$err" != *"VM_DEBIAN_MIRROR"* ]]; then
      echo "FAIL $name: wanted status 1 and a message naming VM_DEBIAN_MIRROR; got status $status, '$got', '$err'"
      failures=$((failures + 1)); return
    fi
  elif [[ $status -ne 0 || "$got" != "$want" ]]; then
    echo "FAIL $name: wanted '$want'; got status $status, '$got', '$err'"
    failures=$((failures + 1)); return
  fi
  echo "ok   $name"
}
apt() { mkdir -p "$WORK/$1/sources.list.d"; cat >"$WORK/$1/$2"; }

# debootstrap bookworm: one line in sources.list, no sources.list.d files (the issue's case).
apt one-line sources.list <<'EOF'
deb http://deb.debian.org/debian bookworm main
EOF
check one-line http://deb.debian.org/debian

# Debian 12's cloud and container images: deb822, security in the same file, after the mirror.
apt deb822 sources.list.d/debian.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
check deb822 http://deb.debian.org/debian

# Security first, a local mirror (not on debian.org) with a trailing slash after it.
apt security-first sources.list <<'EOF'
# comment
deb http://security.debian.org/debian-security bookworm-security main
deb-src http://mirror.example.net/debian bookworm main
deb [arch=amd64] http://mirror.example.net/debian/ bookworm main contrib # mirror
EOF
check security-first http://mirror.example.net/debian

# Third parties first, in both formats: Docker's (ends in /debian, component stable) in a
# .sources that sorts first, Microsoft's (bookworm main, not /debian); Debian's is last.
apt third-party-first sources.list.d/00-docker.sources <<'EOF'
Types: deb
URIs: https://download.docker.com/linux/debian
Suites: bookworm
Components: stable
Signed-By: /etc/apt/keyrings/docker.asc
EOF
apt third-party-first sources.list.d/10-microsoft.list <<'EOF'
deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft.gpg] https://packages.microsoft.com/debian/12/prod bookworm main
EOF
apt third-party-first sources.list.d/debian.sources <<'EOF'
Types: deb deb-src
URIs: https://ftp.de.debian.org/debian
Suites: bookworm
Components: main
EOF
check third-party-first https://ftp.de.debian.org/debian

# A third party in sources.list itself, Debian's in a .sources file; a disabled stanza with a
# continuation line first; the Debian stanza has two URIs, the first a CD.
apt mixed sources.list <<'EOF'
deb https://download.docker.com/linux/debian bookworm stable
EOF
apt mixed sources.list.d/a.sources <<'EOF'
Types: deb
URIs: http://old.example.org/debian
Suites: bookworm
Components: main
Enabled: no
X-Note: a field that goes on
 over two lines
EOF
apt mixed sources.list.d/b.sources <<'EOF'
Types: deb
URIs: cdrom:[Debian 12]/ http://apt.internal:3142/archive/debian-mirror
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
check mixed http://apt.internal:3142/archive/debian-mirror

# No Debian archive at all, and no apt sources at all: status 1 and what to do.
apt only-third-party sources.list <<'EOF'
deb https://download.docker.com/linux/debian bookworm stable
deb http://security.debian.org/debian-security bookworm-security main
EOF
check only-third-party FAIL
mkdir -p "$WORK/empty"
check empty FAIL

echo "$((n - failures)) of $n passed"
((failures == 0))
