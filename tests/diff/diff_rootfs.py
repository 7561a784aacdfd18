#!/usr/bin/env python3
"""Differential test: the rootfs `grootfs create` mounts against `umoci unpack` and `tar -xpf`.

usage: diff_rootfs.py --grootfs BIN --work DIR [--report FILE] LAYOUT...

Every LAYOUT (an OCI image layout; its only manifest is used) is created with grootfs in a
fresh root store under DIR, unpacked with `umoci unpack` and with GNU tar (the layers applied
in order, OCI whiteouts first), and the three trees are compared entry by entry: name bytes,
type, mode, owner, size, content hash, link target, hardlink group, xattrs, mtime. Accepted
differences, and only these: device nodes (grootfs skips them), the mtime of the root
directory, and (against umoci only) xattrs with empty values, which umoci drops. Prints a
report; exits 1 on any difference.
"""
import argparse
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tarfile

WHITEOUT, OPAQUE = b".wh.", b".wh..wh..opq"


def run(argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        # grootfs says why on stdout (Garden's contract), other tools on stderr.
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}\n"
                           f"{r.stdout.decode(errors='replace')}"
                           f"{r.stderr.decode(errors='replace')}")
    return r.stdout


def tagged_layout(src, dst):
    """A copy of the layout whose only manifest is tagged "latest" (umoci wants a tag)."""
    os.makedirs(dst)
    os.symlink(os.path.abspath(os.path.join(src, "blobs")), os.path.join(dst, "blobs"))
    with open(os.path.join(src, "index.json")) as f:
        index = json.load(f)
    m = index["manifests"][0]
    m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "latest"
    index["manifests"] = [m]
    with open(os.path.join(dst, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(dst, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return m["digest"]


def layer_blobs(layout, manifest_digest):
    def blob(d):
        return os.path.join(layout, "blobs", *d.split(":"))
    with open(blob(manifest_digest)) as f:
        manifest = json.load(f)
    return [blob(l["digest"]) for l in manifest["layers"]]


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def tar_reference(blobs, root):
    """GNU tar applies each layer; whiteouts of a layer hide only what the layers below made.
    A directory the layer only implies keeps its metadata from below, mtime included (as the
    merged view, and umoci, show it): its times are put back after the layer."""
    os.makedirs(root)
    for blob in blobs:
        with tarfile.open(blob, "r:*", encoding="utf-8", errors="surrogateescape") as t:
            members = [(os.path.normpath(os.fsencode(m.name)), m.isdir()) for m in t.getmembers()]
        names = [n for n, _ in members]
        implied = {os.path.dirname(n) for n in names} - {n for n, d in members if d} - {b""}
        for n in list(implied):
            while n:
                n = os.path.dirname(n)
                implied.add(n)
        implied -= {n for n, d in members if d} | {b""}
        saved = {}
        for n in implied:
            p = os.path.join(os.fsencode(root), n)
            if os.path.isdir(p) and not os.path.islink(p):
                saved[p] = os.lstat(p)
        for name, is_dir in members:  # what a different type replaces goes first
            p = os.path.join(os.fsencode(root), name)
            if os.path.lexists(p) and is_dir != (os.path.isdir(p) and not os.path.islink(p)):
                remove(p)
        for name in names:
            parent, base = os.path.split(name.rstrip(b"/"))
            target = os.path.join(os.fsencode(root), parent)
            if base == OPAQUE and os.path.isdir(target):
                for child in os.listdir(target):
                    remove(os.path.join(target, child))
            elif base.startswith(WHITEOUT):
                remove(os.path.join(target, base[len(WHITEOUT):]))
        run(["tar", "-xpPf", blob, "-C", root, "--numeric-owner", "--same-owner", "--xattrs",
             "--xattrs-include=*", "--delay-directory-restore", "--exclude=.wh.*"],
            env=dict(os.environ, LC_ALL="C.UTF-8"))
        for p, st in saved.items():
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def entries(root):
    """name bytes -> a dict of everything compared, for every entry beneath root."""
    out, inodes = {}, {}
    root = os.fsencode(root)
    for dirpath, dirs, files in os.walk(root):
        for name in [b""] if dirpath == root else []:
            pass
        for name in dirs + files + ([b"."] if dirpath == root else []):
            path = os.path.join(dirpath, name) if name != b"." else root
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            e = {"type": stat.S_IFMT(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                 "mtime": st.st_mtime_ns}
            if not stat.S_ISLNK(st.st_mode):
                e["mode"] = oct(stat.S_IMODE(st.st_mode))
            if stat.S_ISREG(st.st_mode):
                e["size"] = st.st_size
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                e["sha256"] = h.hexdigest()
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
                e["inode"] = (st.st_dev, st.st_ino)
            if stat.S_ISLNK(st.st_mode):
                e["link"] = os.readlink(path)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = st.st_rdev
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                names = []
            e["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}
            out[rel] = e
    for e in out.values():
        if "inode" in e:
            e["links"] = sorted(inodes[e.pop("inode")])
    return out


def is_device(e):
    return e is not None and (stat.S_ISCHR(e["type"]) or stat.S_ISBLK(e["type"]))


class UserStore:
    """A user's store: ids 0 -> the user, 1..N -> its /etc/subuid (subgid) range."""

    def __init__(self, name):
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid
        self.uids, self.gids = self._range("/etc/subuid"), self._range("/etc/subgid")

    def _range(self, path):
        with open(path) as f:
            for line in f:
                who, start, count = line.strip().split(":")
                if who in (self.name, str(self.uid)):
                    return int(start), int(count)
        raise RuntimeError(f"{self.name} has no range in {path}")

    def init_args(self):
        return ["--uid-mapping", f"0:{self.uid}:1", "--uid-mapping", "1:%d:%d" % self.uids,
                "--gid-mapping", f"0:{self.gid}:1", "--gid-mapping", "1:%d:%d" % self.gids]

    def as_user(self, argv):
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--"] + argv

    def host(self, ns_id, root, sub):
        """Where an id of the image lands; one outside the mapping stays namespace root's."""
        start, count = sub
        return start + ns_id - 1 if 1 <= ns_id <= count else root

    def map(self, ref):
        for e in ref.values():
            e["uid"], e["gid"] = self.host(e["uid"], self.uid, self.uids), self.host(
                e["gid"], self.gid, self.gids)


def v3_cap_of(value, rootid):
    """A v2 security.capability as the kernel stores it for a user namespace: v3, rootid."""
    if len(value) != 20 or value[3] != 2:
        return value
    return value[:3] + b"\x03" + value[4:] + rootid.to_bytes(4, "little")


def compare(ours, ref, against, user=None):
    """Differences between grootfs's tree and a reference, minus the accepted ones."""
    diffs = []
    for name in sorted(set(ours) | set(ref)):
        a, b = ours.get(name), ref.get(name)
        if b is not None and is_device(b) and a is None:
            continue  # grootfs skips device nodes
        if a is None or b is None:
            diffs.append(f"{name!r}: only in {'grootfs' if b is None else against}")
            continue
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if key == "mtime" and name == b".":
                continue
            if key == "xattrs" and against == "umoci":
                va = {k: v for k, v in (va or {}).items() if v}
            if key == "xattrs" and user and "security.capability" in (vb or {}):
                vb = dict(vb, **{"security.capability": v3_cap_of(vb["security.capability"],
                                                                  user.uid)})
            if va != vb:
                diffs.append(f"{name!r}: {key}: grootfs {va!r}, {against} {vb!r}")
    return diffs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grootfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--report")
    ap.add_argument("--keep", action="store_true", help="leave the trees in WORK")
    ap.add_argument("--tar-only", action="append", default=[], metavar="NAME",
                    help="a layout umoci cannot read (compared with tar only, and said so)")
    ap.add_argument("--user", help="a user's store (its /etc/subuid and subgid ranges): "
                    "created as that user, compared with tar, ids mapped (umoci --rootless "
                    "cannot keep owners)")
    ap.add_argument("layouts", nargs="+")
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    store = os.path.join(work, "store")
    os.makedirs(work, exist_ok=True)
    user = UserStore(args.user) if args.user else None
    as_caller = user.as_user if user else (lambda argv: argv)
    if user:
        os.chmod(work, 0o755)
        run([args.grootfs, "--store", store, "init-store"] + user.init_args())
        args.tar_only = [os.path.basename(os.path.normpath(l)) for l in args.layouts]
    else:
        run([args.grootfs, "--store", store, "init-store"])
    lines, total_entries, total_diffs, failed = [], 0, 0, []
    try:
        for i, layout in enumerate(args.layouts):
            name = os.path.basename(os.path.normpath(layout))
            tagged = os.path.join(work, "layouts", name)
            digest = tagged_layout(layout, tagged)
            image_id = f"diff-{i}"
            try:
                out = json.loads(run(as_caller([args.grootfs, "--store", store, "create",
                                                "oci://" + os.path.abspath(layout), image_id])))
            except RuntimeError as e:  # a difference too: the references make a rootfs
                total_diffs += 1
                failed.append(name)
                lines.append(f"{name}: grootfs create failed: {e}")
                print(lines[-1], flush=True)
                continue
            ours = entries(out["root"]["path"])
            bundle = os.path.join(work, "umoci", name)
            refs = []
            if name in args.tar_only:
                print(f"{name}: compared with tar only", flush=True)
            else:
                run(["umoci", "unpack", "--image", tagged + ":latest", bundle])
                refs.append(("umoci", os.path.join(bundle, "rootfs")))
            tar_root = os.path.join(work, "tar", name)
            tar_reference(layer_blobs(tagged, digest), tar_root)
            refs.append(("tar", tar_root))
            diffs = []
            for against, root in refs:
                ref = entries(root)
                if user:
                    user.map(ref)
                diffs += [f"{name} vs {against}: {d}" for d in compare(ours, ref, against, user)]
            run(as_caller([args.grootfs, "--store", store, "delete", image_id]))
            if not args.keep:
                shutil.rmtree(bundle, ignore_errors=True)
                shutil.rmtree(tar_root)
            total_entries += len(ours)
            total_diffs += len(diffs)
            lines.append(f"{name}: {len(ours)} entries, {len(diffs)} differences")
            lines += ["  " + d for d in diffs[:50]]
            if len(diffs) > 50:
                lines.append(f"  ... {len(diffs) - 50} more")
            if diffs:
                failed.append(name)
            print(lines[-1] if not diffs else "\n".join(lines[-min(len(diffs), 50) - 1:]),
                  flush=True)
    finally:
        subprocess.run(as_caller([args.grootfs, "--store", store, "delete-store"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = (f"images: {len(args.layouts)}, entries compared: {total_entries} "
               f"(each against umoci and tar, or tar only where said), differences: {total_diffs}")
    lines.append(summary)
    print(summary)
    if args.report:
        with open(args.report, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 1 if total_diffs else 0


if __name__ == "__main__":
    sys.exit(main())
