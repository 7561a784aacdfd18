#!/usr/bin/env bash
# Regenerates the seed corpora in corpus/<target>/ (small valid and invalid inputs). The seeds
# are checked in; rerun this only to change them. Needs python3 and GNU tar.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus=$here/corpus

python3 - "$corpus" <<'EOF'
import hashlib, json, os, struct, sys

root = sys.argv[1]

def seeds(target, items):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if not name.endswith(".tar"):
            os.unlink(os.path.join(d, name))
    for name, data in items.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

# ipc_decode_fuzz: payloads as ipc/codec.cpp writes them (little endian).
def s(b): return struct.pack("<I", len(b)) + b
def req(area, name, names=(), flags=0, count=0, lowers=()):
    out = struct.pack("<B", area) + s(name) + struct.pack("<I", len(names))
    for n in names: out += s(n)
    out += struct.pack("<IQI", flags, count, len(lowers))
    for n in lowers: out += s(n)
    return out
seeds("ipc_decode_fuzz", {
    "hello": s(b"/var/lib/grootfs/store"),
    "hello_relative": s(b"store"),
    "hello_nul": s(b"/var/\0lib"),
    "unpack": req(1, b"work-1", (b"home", b"vcap")),
    "unpack_budget": req(1, b"work-1", (), 0, 1 << 30),
    "unpack_lowers": req(1, b"work-1", (b"home",), 0, 1 << 30, (b"layer-b", b"layer-a")),
    "unpack_lower_dotdot": req(1, b"work-1", (), 0, 0, (b"..",)),
    "mount_with_lowers": req(2, b"image-1", (b"layer-a",), 0, 0, (b"layer-b",)),
    "set_quota": req(1, b"work-1", (), 0, 20 << 20),
    "read_quota": req(2, b"image-1"),
    "read_quota_with_count": req(2, b"image-1", (), 0, 5),
    "mount": req(2, b"image-1", (b"layer-a", b"layer-b", b"layer-c"), 1),
    "mount_no_layers": req(2, b"image-1"),
    "unmount": req(2, b"image-1"),
    "unmount_moved": req(1, b"moved-mount-1", (), 1, 4242),
    "remove": req(3, b"abc123"),
    "bad_area": req(4, b"x"),
    "dotdot_name": req(1, b".."),
    "slash_name": req(1, b"a/b"),
    "bad_flags": req(2, b"image", (b"layer",), 6),
    "trailing": req(1, b"x") + b"\0",
    "truncated": req(2, b"image-1", (b"layer-a",))[:-3],
    "huge_count": struct.pack("<B", 2) + s(b"image") + struct.pack("<I", 0xFFFFFFFF),
    "reply": struct.pack("<QI", 4096, 1),
    "empty": b"",
})

# store_marker_fuzz: marker text [NUL subordinate-id file text].
seeds("store_marker_fuzz", {
    "root": "grootfs-store-v1\nowner:0:0\n",
    "tagged": "grootfs-store-v1\nowner:0:0\nmountlimit:1000\ntag:0123456789abcdef0123456789abcdef\n",
    "rootless": "grootfs-store-v1\nowner:1000:1000\nuidmap:0:1000:1\nuidmap:1:100000:65536\n"
                "gidmap:0:1000:1\ngidmap:1:100000:65536\n\0alice:100000:65536\n1000:200000:10\n",
    "outside_subids": "grootfs-store-v1\nowner:1000:1000\nuidmap:0:500000:10\ngidmap:0:500000:10\n"
                      "\0alice:100000:65536\n",
    "wrapping": "grootfs-store-v1\nowner:1:1\nuidmap:0:4294967295:2\ngidmap:0:1:1\n",
    "only_uidmap": "grootfs-store-v1\nowner:1000:1000\nuidmap:0:1000:1\n",
    "bad_version": "grootfs-store-v2\nowner:0:0\n",
    "bad_number": "grootfs-store-v1\nowner:-1:+0\n",
    "no_owner": "grootfs-store-v1\n",
    "extra_fields": "grootfs-store-v1\nowner:0:0:0\n",
    "crlf": "grootfs-store-v1\r\nowner:0:0\r\n",
})

# entry_path_fuzz: tar entry names.
seeds("entry_path_fuzz", {
    "plain": "etc/hosts", "dots": "./a//b/./c/", "root": "./", "dotdot": "a/../../etc/passwd",
    "absolute": "/etc/passwd", "whiteout": "usr/.wh..wh..opq", "nul": "a\0b",
    "long_component": "d/" + "x" * 300, "dotdot_only": "..", "triple_dot": "a/.../b",
})

# image_reference_fuzz: IMAGE arguments of `create`.
hexd = "a" * 64
seeds("image_reference_fuzz", {
    "hub": "docker:///alpine", "hub_tag": "docker:///library/alpine:3.18",
    "hub_digest": "docker:///busybox@sha256:" + hexd,
    "registry_port": "docker://registry.example.com:5000/org/app:v1.2-rc_3",
    "ipv6": "docker://[::1]:5000/a/b__c/d-e.f@sha256:" + hexd,
    "localhost": "docker:///localhost/app", "credentials": "docker://user:pw@host/app",
    "upper": "DOCKER:///Alpine", "bad_digest": "docker:///a@sha512:00",
    "oci": "oci:///var/images/layout:latest", "oci_dotdot": "oci:///a/../b",
    "oci_relative": "oci://relative/path", "oci_empty_ref": "oci:///layout:",
    "tar": "/tmp/rootfs.tar", "http": "http://example.com/x", "empty": "",
})

# oci_layout_fuzz: options byte, index.json NUL manifest NUL config (see oci_layout_fuzz.cpp).
def j(x): return json.dumps(x, separators=(",", ":"))
OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"
DOCKER_M = "application/vnd.docker.distribution.manifest.v2+json"
GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"
empty = "sha256:" + hashlib.sha256(b"").hexdigest()
def index(extra=None, media=OCI_M, platform=None):
    d = {"mediaType": media, "digest": "@MANIFEST@", "size": "@MANIFEST_SIZE@"}
    if extra: d["annotations"] = extra
    if platform: d["platform"] = platform
    return j({"schemaVersion": 2, "manifests": [d]}).replace('"@MANIFEST_SIZE@"', "@MANIFEST_SIZE@")
def manifest(layers, media=OCI_M):
    m = {"schemaVersion": 2, "mediaType": media,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "@CONFIG@", "size": "@CONFIG_SIZE@"}, "layers": layers}
    return j(m).replace('"@CONFIG_SIZE@"', "@CONFIG_SIZE@")
def layer(media=TAR, **kw):
    d = {"mediaType": media, "digest": "@LAYER@", "size": 0}
    d.update(kw)
    return d
def config(n, env=None, volumes=None):
    c = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [empty] * n}}
    if env is not None or volumes is not None:
        c["config"] = {}
        if env is not None: c["config"]["Env"] = env
        if volumes is not None: c["config"]["Volumes"] = {v: {} for v in volumes}
    return j(c)
def oci(opts, idx, man, cfg): return bytes([opts]) + f"{idx}\0{man}\0{cfg}".encode()
remote = layer(GZ, digest="sha256:" + "b" * 64, size=1234, urls=["https://example.com/l"])
seeds("oci_layout_fuzz", {
    "valid": oci(0, index(), manifest([layer()]), config(1, env=["PATH=/bin"], volumes=["/data"])),
    "valid_strict": oci(1, index(), manifest([layer(), layer()]), config(2)),
    "ref_name": oci(16, index({"org.opencontainers.image.ref.name": "latest"}), manifest([layer()]), config(1)),
    "base_directory": oci(0, index(), manifest([layer(annotations={
        "org.cloudfoundry.experimental.image.base-directory": "/home/./vcap/"})]), config(1)),
    "remote_layer": oci(2, index(), manifest([remote]), config(1)),
    "docker": oci(4, index(media=DOCKER_M), manifest([layer()], media=DOCKER_M), config(1)),
    "nested_index": oci(4, index(media=OCI_I), j({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_M, "digest": "@CONFIG@", "size": "@CONFIG_SIZE@",
         "platform": {"os": "linux", "architecture": "amd64"}}]}).replace('"@CONFIG_SIZE@"', "@CONFIG_SIZE@"),
        manifest([layer()])),
    "schema1": oci(0, index(), j({"schemaVersion": 1, "name": "x"}), config(1)),
    "no_layers": oci(0, index(), manifest([]), config(0)),
    "diff_id_mismatch": oci(0, index(), manifest([layer()]), config(3)),
    "bad_volume": oci(0, index(), manifest([layer()]), config(1, volumes=["relative/.."])),
    "bad_json": oci(0, "{", manifest([layer()]), config(1)),
    "missing_manifest": oci(0, j({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_M, "digest": "sha256:" + "c" * 64, "size": 2}]}), "{}", "{}"),
})
EOF

# tar_unpack_fuzz: small tars made with tar (512-byte records keep them small): files, a
# directory, a symlink, a hardlink, whiteouts, a fifo, an xattr, and hostile names.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$corpus/tar_unpack_fuzz
mkdir -p "$out"
rm -f "$out"/*.tar
t=(tar --blocking-factor=1 --sort=name --mtime=@1000000 --owner=0 --group=0 --numeric-owner)
(
  cd "$work"
  mkdir -p tree/etc tree/usr/bin tree/opq tree/hidden
  echo "127.0.0.1 localhost" >tree/etc/hosts
  chmod 0640 tree/etc/hosts
  echo '#!/bin/sh' >tree/usr/bin/tool
  chmod 4755 tree/usr/bin/tool
  ln -s /etc/hosts tree/etc/link
  ln tree/etc/hosts tree/etc/hard
  touch tree/hidden/.wh.gone tree/opq/.wh..wh..opq
  mkfifo tree/fifo
  cd tree
  "${t[@]}" --format=gnu -cf "$out/layer_gnu.tar" .
  "${t[@]}" --format=pax -cf "$out/links.tar" etc
  "${t[@]}" --format=ustar -cf "$out/whiteouts.tar" hidden opq
  python3 -c "import os; os.setxattr('etc/hosts', 'user.test', b'value')" &&
    "${t[@]}" --format=pax --xattrs --xattrs-include='user.*' -cf "$out/xattr.tar" etc/hosts
  "${t[@]}" --format=gnu -cf "$out/fifo_and_setuid.tar" fifo usr
  # Hostile names: "../" and absolute entries (-P keeps them), and a file written through a
  # symlink that an earlier entry planted ("a" -> /tmp, then "a/escaped").
  "${t[@]}" -P --transform='s,^etc/hosts,../escaped,' -cf "$out/dotdot.tar" etc/hosts
  "${t[@]}" -P --transform='s,^etc/hosts,/tmp/absolute,' -cf "$out/absolute.tar" etc/hosts
  mkdir -p ../evil/b && echo x >../evil/b/escaped && ln -s /tmp ../evil/a
  "${t[@]}" -C ../evil --transform='s,^b/,a/,' -cf "$out/through_symlink.tar" a b/escaped
  # Hard links to targets outside the layer, and through a planted symlink (tar itself never
  # writes these).
  python3 - "$out" <<'PY'
import io, sys, tarfile
def link(tar, name, kind, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, target, 1000000
    tar.addfile(info)
with tarfile.open(sys.argv[1] + "/hardlink_outside.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
    link(tar, "etc/passwd", tarfile.LNKTYPE, "../../etc/passwd")
    link(tar, "etc/shadow", tarfile.LNKTYPE, "/etc/shadow")
with tarfile.open(sys.argv[1] + "/hardlink_through_symlink.tar", "w", format=tarfile.GNU_FORMAT) as tar:
    link(tar, "host", tarfile.SYMTYPE, "/etc")
    link(tar, "passwd", tarfile.LNKTYPE, "host/passwd")
# Names as bytes: pax UTF-8 (the ca-certificates symlink), pax BINARY, a negative fractional mtime.
with tarfile.open(sys.argv[1] + "/pax_names.tar", "w", format=tarfile.PAX_FORMAT,
                  encoding="utf-8", errors="surrogateescape") as tar:
    link(tar, "NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.pem",
         tarfile.SYMTYPE, "F\u0151tan\u00fas\u00edtv\u00e1ny.crt")
    info = tarfile.TarInfo("raw-\udcff")
    info.pax_headers = {"hdrcharset": "BINARY", "mtime": "-34560000.25"}
    tar.addfile(info)
PY
)
ls -la "$corpus"/*
