"""The bench's images, built once into the cache dir as OCI layouts (gzip layers, tag "latest").

  alpine   the bundled tests/fixtures/images/alpine (1 layer), with a ref name added
  debian   Debian bookworm minbase from debootstrap, packed as 3 layers: usr without usr/share,
           usr/share, and the rest (etc, var, ...); needs Debian's mirror the first time
  gen      generated: about 60,000 files and 400 MB over 5 layers, with whiteouts (files and
           opaque directories) and hardlinks; the same bytes every time (seeded)
  gen-small  the same generator at 1/100 scale (quick mode)
  layers50 50 layers of one small file each, for `clean` of 50 unused layers

Each layout dir also gets lower/N/: layer N unpacked with tar, the floor's overlay lower dirs.
"""

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile

from measure import log, sh

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def write_layout(layout, tars):
    """Makes an OCI layout of the plain tar files `tars` (bottom first), gzipped."""
    tmp = layout + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "blobs/sha256"))
    layers, diff_ids = [], []
    for t in tars:
        diff_ids.append("sha256:" + _sha256_file(t))
        gz = t + ".gz"
        sh(f"gzip -n -6 -c '{t}' > '{gz}'")
        digest = _sha256_file(gz)
        size = os.path.getsize(gz)
        os.rename(gz, os.path.join(tmp, "blobs/sha256", digest))
        layers.append({"mediaType": OCI_LAYER, "digest": "sha256:" + digest, "size": size})
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": ENV},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = _put_blob(tmp, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **cdesc}, "layers": layers}
    mdesc = _put_blob(tmp, json.dumps(manifest).encode())
    _finish_layout(tmp, {"mediaType": OCI_MANIFEST, **mdesc})
    _unpack_lowers(tmp)
    os.rename(tmp, layout)


def _finish_layout(tmp, manifest_desc):
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, f)
    with open(os.path.join(tmp, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def layer_blobs(layout):
    """The paths of the layout's layer blobs, bottom first."""
    with open(os.path.join(layout, "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs/sha256", mdigest[7:])) as f:
        manifest = json.load(f)
    return [os.path.join(layout, "blobs/sha256", l["digest"][7:]) for l in manifest["layers"]]


def lowers(layout):
    """The floor's lowerdir option: top layer first."""
    n = len(layer_blobs(layout))
    return ":".join(os.path.join(layout, "lower", str(i)) for i in reversed(range(n)))


def _unpack_lowers(layout):
    for i, blob in enumerate(layer_blobs(layout)):
        d = os.path.join(layout, "lower", str(i))
        os.makedirs(d)
        sh(["tar", "-xzf", blob, "-C", d, "--numeric-owner"])


def build_alpine(layout):
    tmp = layout + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, "tests/fixtures/images/alpine"), tmp)
    with open(os.path.join(tmp, "index.json")) as f:
        desc = json.load(f)["manifests"][0]
    _finish_layout(tmp, desc)
    _unpack_lowers(tmp)
    os.rename(tmp, layout)


def build_debian(layout, cache, mirror):
    rootfs = os.path.join(cache, "debian-rootfs")
    if not os.path.isdir(rootfs):
        log("debootstrap --variant=minbase bookworm (once) from", mirror)
        shutil.rmtree(rootfs + ".tmp", ignore_errors=True)
        sh(["debootstrap", "--variant=minbase", "bookworm", rootfs + ".tmp", mirror])
        os.rename(rootfs + ".tmp", rootfs)
    work = layout + ".tars"
    os.makedirs(work, exist_ok=True)
    common = ["tar", "-C", rootfs, "--numeric-owner", "--sort=name", "--xattrs",
              "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
              "--exclude=./var/cache/apt/archives/*.deb", "-cf"]
    parts = [
        ["--exclude=./usr/share", "--exclude=./etc", "--exclude=./var", "."],  # usr, links
        ["./usr/share"],
        ["./etc", "./var"],
    ]
    tars = []
    for i, members in enumerate(parts):
        t = os.path.join(work, f"{i}.tar")
        sh(common + [t] + members)
        tars.append(t)
    write_layout(layout, tars)
    shutil.rmtree(work)


class _Gen:
    """Writes generated layers: seeded contents, half random and half repeated text, so they
    compress about as well as real binaries and text (about 2:1)."""

    def __init__(self, seed, scale):
        self.rng, self.scale = random.Random(seed), scale

    def data(self, size):
        half = size // 2
        text = (b"grootfs bench generated file %d\n" % size) * (half // 28 + 1)
        return self.rng.randbytes(size - half) + text[:half]

    def size(self, big):
        if big:
            return self.rng.randint(1 << 20, 4 << 20) // self.scale
        return int(self.rng.lognormvariate(7.5, 0.9)) + 1  # median ~1.8 KB, mean ~2.7 KB


def _info(name, kind=tarfile.REGTYPE, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname = kind, size, link
    ti.mtime, ti.uid, ti.gid = 1700000000, 0, 0
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return ti


def _gen_layer(path, layer, files, bigs, scale):
    """One layer: `files` small and `bigs` large files in dirs of 100; layers above the first
    also delete files and make opaque dirs of the layers below, the top one adds hardlinks."""
    g = _Gen(1000 + layer, scale)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(f"l{layer}", tarfile.DIRTYPE))
        names = []
        for i in range(files + bigs):
            d = f"l{layer}/d{i // 100:04d}"
            if i % 100 == 0:
                tar.addfile(_info(d, tarfile.DIRTYPE))
            name = f"{d}/f{i:06d}"
            size = g.size(i >= files)
            tar.addfile(_info(name, size=size), io.BytesIO(g.data(size)))
            names.append(name)
        if layer > 0:
            below = f"l{layer - 1}"
            for i in range(0, max(1, 500 // scale)):  # whiteouts of single files
                tar.addfile(_info(f"{below}/d{i % 10:04d}/.wh.f{i % 10 * 100 + i // 10:06d}"))
            tar.addfile(_info(f"{below}/d0020", tarfile.DIRTYPE))  # an opaque directory
            tar.addfile(_info(f"{below}/d0020/.wh..wh..opq"))
        if layer == 4:
            tar.addfile(_info("links", tarfile.DIRTYPE))
            for i in range(0, len(names), 4):  # hardlinks to a quarter of the layer's files
                tar.addfile(_info(f"links/h{i:06d}", tarfile.LNKTYPE, link=names[i]))


def build_gen(layout, scale):
    """About 60,000 / scale files and 400 / scale MB over 5 layers."""
    work = layout + ".tars"
    os.makedirs(work, exist_ok=True)
    shape = [(25000, 40), (15000, 25), (10000, 20), (6000, 10), (3000, 5)]  # (small, big) files
    tars = []
    for layer, (files, bigs) in enumerate(shape):
        t = os.path.join(work, f"{layer}.tar")
        _gen_layer(t, layer, files // scale, max(1, bigs // scale), scale)
        tars.append(t)
    write_layout(layout, tars)
    shutil.rmtree(work)


def build_layers50(layout):
    work = layout + ".tars"
    os.makedirs(work, exist_ok=True)
    tars = []
    for i in range(50):
        t = os.path.join(work, f"{i}.tar")
        with tarfile.open(t, "w", format=tarfile.PAX_FORMAT) as tar:
            data = (b"layer %d\n" % i) * 100
            tar.addfile(_info(f"layer{i:02d}", size=len(data)), io.BytesIO(data))
        tars.append(t)
    write_layout(layout, tars)
    shutil.rmtree(work)


def ensure(cache, names, mirror):
    """The layouts of `names`, built into `cache` if missing: {name: path}."""
    os.makedirs(cache, exist_ok=True)
    out = {}
    for name in names:
        layout = os.path.join(cache, name)
        if not os.path.isfile(os.path.join(layout, "index.json")):
            log("building image", name, "into", layout)
            shutil.rmtree(layout, ignore_errors=True)
            if name == "alpine":
                build_alpine(layout)
            elif name == "debian":
                build_debian(layout, cache, mirror)
            elif name == "gen":
                build_gen(layout, 1)
            elif name == "gen-small":
                build_gen(layout, 100)
            elif name == "layers50":
                build_layers50(layout)
        out[name] = layout
    return out


def describe(layout):
    """(layers, compressed bytes, entries) of a layout."""
    blobs = layer_blobs(layout)
    size = sum(os.path.getsize(b) for b in blobs)
    entries = 0
    for b in blobs:
        out = subprocess.run(["tar", "-tzf", b], capture_output=True, check=True).stdout
        entries += out.count(b"\n")
    return len(blobs), size, entries
