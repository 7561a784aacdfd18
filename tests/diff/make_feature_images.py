#!/usr/bin/env python3
"""Writes OCI image layouts whose layers use every tar feature real layers use.

usage: make_feature_images.py OUTDIR

Each layout OUTDIR/NAME has one manifest, tagged "latest" (org.opencontainers.image.ref.name),
with uncompressed layers. Names are bytes throughout (surrogateescape). Deterministic except
for the sparse layers, which GNU tar writes from real sparse files.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

T0 = 1_600_000_000  # a fixed mtime


def b(s):
    """A name given as bytes, for tarfile (which wants str): surrogateescape."""
    return s.decode("utf-8", "surrogateescape") if isinstance(s, bytes) else s


class Layer:
    def __init__(self, fmt=tarfile.PAX_FORMAT):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=fmt, encoding="utf-8",
                                errors="surrogateescape")

    def add(self, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, mtime=T0,
            link="", pax=None, devmajor=0, devminor=0):
        ti = tarfile.TarInfo(b(name))
        ti.type, ti.mode, ti.uid, ti.gid, ti.linkname = kind, mode, uid, gid, b(link)
        ti.devmajor, ti.devminor = devmajor, devminor
        if isinstance(mtime, str):
            ti.mtime = 0
            pax = dict(pax or {}, mtime=mtime)
        else:
            ti.mtime = mtime
        if pax:
            ti.pax_headers = pax
        ti.size = len(data) if kind == tarfile.REGTYPE else 0
        self.tar.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        return self

    def dir(self, name, mode=0o755, **kw):
        return self.add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def file(self, name, data=b"x\n", **kw):
        return self.add(name, data=data, **kw)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def sparse_layer(fmt):
    """A layer GNU tar writes with --sparse in `fmt` (gnu: old GNU sparse; posix: pax 1.0)."""
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(d + "/sparse")
        with open(d + "/sparse/holes", "wb") as f:
            f.truncate(8 << 20)
            for off in (0, 3 << 20, (8 << 20) - 5):
                f.seek(off)
                f.write(b"data!")
        with open(d + "/sparse/allhole", "wb") as f:
            f.truncate(1 << 20)
        for p in (d + "/sparse/holes", d + "/sparse/allhole", d + "/sparse"):
            os.utime(p, (T0, T0))
        return subprocess.run(
            ["tar", "--sparse", "--format=" + fmt, "--numeric-owner", "--owner=0", "--group=0",
             "--sort=name", "-C", d, "-cf", "-", "sparse"],
            check=True, stdout=subprocess.PIPE).stdout


def images():
    nl = "NetLock_Arany_=Class_Gold=_F\u0151tan\u00fas\u00edtv\u00e1ny.pem"
    names = (Layer()
             .dir("etc", mtime=T0 + 1).dir("etc/ssl").dir("etc/ssl/certs")
             .file("usr-share-cert-F\u0151tan\u00fas\u00edtv\u00e1ny.crt")
             .add("etc/ssl/certs/" + nl, tarfile.SYMTYPE, mode=0o777,
                  link="/usr-share-cert-F\u0151tan\u00fas\u00edtv\u00e1ny.crt")
             .file("nfd-cafe\u0301")                      # NFD: never normalised
             .file("nfc-caf\u00e9")
             .file(b"raw-pax-binary-\xff\xfe", pax={"hdrcharset": "BINARY"})
             .dir("p" * 99).file("p" * 99 + "/" + "q" * 150)  # ustar prefix + name
             .dir("l" * 200).dir("l" * 200 + "/" + "m" * 200)
             .file("l" * 200 + "/" + "m" * 200 + "/" + "n" * 250)  # past 255 bytes
             .add("longlink", tarfile.SYMTYPE, mode=0o777, link="t/" * 2000 + "end")  # 4002 bytes
             .dir("d1", mtime=T0 + 5))
    deep = Layer()
    path = ""
    for i in range(20):  # a name past 4000 bytes
        path += ("%02d" % i) + "x" * 198 + "/"
        deep.dir(path.rstrip("/"), mtime=T0 + i)
    deep.file(path + "leaf")
    gnu = (Layer(tarfile.GNU_FORMAT)
           .dir("gnu").file(b"gnu/raw-\xe9-latin1").dir("gnu/" + "g" * 240)
           .file("gnu/" + "g" * 240 + "/" + "h" * 200)     # GNU long name
           .add("gnu/longtarget", tarfile.SYMTYPE, mode=0o777, link="z" * 300)
           .file("gnu/bigid", uid=3_000_000, gid=3_000_001))  # past ustar octal: base-256
    ustar = (Layer(tarfile.USTAR_FORMAT)
             .dir("ustar").file(b"ustar/raw-\xfe").file("ustar/plain", mode=0o600, uid=7, gid=8))
    meta = (Layer()
            .dir("meta", mode=0o755)
            .file("meta/nanos", mtime="1234567890.123456789")
            .file("meta/before1970", mtime=-86400 * 400)
            .file("meta/negfrac", mtime="-34560000.25")
            .file("meta/bigids", uid=5_000_000, gid=6_000_000)
            .file("meta/setuid", mode=0o4755).file("meta/setgid", mode=0o2755)
            .dir("meta/sticky", mode=0o1777)
            .dir("meta/locked", mode=0o500, mtime=T0 - 99)
            .file("meta/locked/inside", mode=0o400)
            .add("meta/fifo", tarfile.FIFOTYPE, mode=0o640, uid=12, gid=13, mtime=T0 - 7)
            .add("meta/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
            .add("meta/blk", tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=0)
            .file("meta/xattr", pax={"SCHILY.xattr.user.color": "blue",
                                     "SCHILY.xattr.user.empty": ""})
            .file("meta/cap", mode=0o755, pax={
                # v2 security.capability: cap_net_bind_service+ep
                "SCHILY.xattr.security.capability":
                    b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                    .decode("utf-8", "surrogateescape")}))
    links = (Layer()
             .dir("links").dir("links/a").dir("links/b")
             .file("links/a/orig", data=b"hard\n")
             .add("links/a/same", tarfile.LNKTYPE, link="links/a/orig")
             .add("links/b/across", tarfile.LNKTYPE, link="links/a/orig")
             .add("links/b/chain", tarfile.LNKTYPE, link="links/b/across")
             .file("links/\u00fcml\u00e4ut", data=b"u\n")
             .add("links/to-\u00fcml\u00e4ut", tarfile.LNKTYPE, link="links/\u00fcml\u00e4ut")
             .add("links/abs", tarfile.SYMTYPE, mode=0o777, link="/links/a/orig")
             .add("links/rel", tarfile.SYMTYPE, mode=0o777, link="../links/a/orig")
             .add("links/dangling", tarfile.SYMTYPE, mode=0o777, link="/nowhere/at/all")
             .add("links/todir", tarfile.SYMTYPE, mode=0o777, link="a"))
    base = (Layer()
            .dir("srv", mode=0o750, uid=1000, gid=1000, mtime=T0 - 1000,
                 pax={"SCHILY.xattr.user.kept": "yes"})
            .file("srv/old")
            .dir("deep").dir("deep/a").dir("deep/a/b").file("deep/a/b/gone").file("deep/a/b/stays")
            .dir("deep/a/opq").file("deep/a/opq/hidden")
            .file("f-becomes-dir").dir("d-becomes-file").file("d-becomes-file/child")
            .dir("hidden-by-whiteout", mode=0o700).file("hidden-by-whiteout/x"))
    top = (Layer()
           .file("srv/new")                                 # srv only implied
           .file("deep/a/opq/new")                          # before the marker: stays
           .file("deep/a/opq/.wh..wh..opq")
           .file("deep/a/b/.wh.gone")
           .file("deep/a/b/added")
           .dir("f-becomes-dir", mode=0o711).file("f-becomes-dir/inside")
           .file("d-becomes-file", data=b"now a file\n")
           .file(".wh.hidden-by-whiteout"))
    again = (Layer()
             .file("deep/a/b/gone", data=b"back\n")          # re-added over a whiteout
             .file("srv/newer"))                             # srv implied two layers up
    return {
        "names": [names.bytes(), deep.bytes()],
        "headers": [gnu.bytes(), ustar.bytes()],
        "meta": [meta.bytes()],
        "links": [links.bytes()],
        "sparse-pax": [sparse_layer("posix")],
        "sparse-gnu": [sparse_layer("gnu")],  # umoci 0.4.7 cannot read GNU 'S' entries
        "layers": [base.bytes(), top.bytes(), again.bytes()],
    }


def write_layout(out, layers, volumes=()):
    os.makedirs(out + "/blobs/sha256", exist_ok=True)

    def blob(data):
        h = hashlib.sha256(data).hexdigest()
        with open(f"{out}/blobs/sha256/{h}", "wb") as f:
            f.write(data)
        return "sha256:" + h, len(data)

    descs = []
    for data in layers:
        d, n = blob(data)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d,
                      "size": n})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Volumes": {v: {} for v in volumes}},
              "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in descs]}}
    cd, cn = blob(json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cd, "size": cn},
                "layers": descs}
    md, mn = blob(json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(out + "/index.json", "w") as f:
        json.dump(index, f)
    with open(out + "/oci-layout", "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def main():
    out = sys.argv[1]
    for name, layers in images().items():
        # Config volumes the layers already have: the rootfs must show the layers' directories.
        write_layout(os.path.join(out, name), layers,
                     ["/srv", "/deep/a/b"] if name == "layers" else [])


if __name__ == "__main__":
    main()
