"""The command lines of the tools the bench compares, each in its own state dir under the work
dir: grootfs stores, podman roots (overlay driver), skopeo+umoci, tar and igzip, the floor."""

import hashlib
import json
import os
import shutil
import subprocess

from measure import sh


def _rm(path):
    """Removes a tree a tool left, unmounting what is mounted beneath it first."""
    if not os.path.exists(path):
        return
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


class Grootfs:
    def __init__(self, binary, insecure=()):
        self.bin = binary
        self.insecure = [a for h in insecure for a in ("--insecure-registry", h)]

    def g(self, store, *args, config=None):
        return [self.bin, "--store", store] + (["--config", config] if config else []) + list(args)

    def init(self, store):
        self.remove(store)
        sh(self.g(store, "init-store"))

    def remove(self, store):
        if os.path.exists(store):
            subprocess.run(self.g(store, "delete-store"), capture_output=True)
        _rm(store)

    def create(self, store, ref, handle, config=None):
        return self.g(store, "create", *self.insecure, ref, handle, config=config)

    def delete(self, store, handle):
        return self.g(store, "delete", handle)


class Podman:
    def __init__(self, root):
        self.root = root
        # podman refuses a runroot longer than 50 characters
        self.run = "/run/grootfs-bench-" + hashlib.sha256(root.encode()).hexdigest()[:12]

    def p(self, *args):
        r = self.root
        return ["podman", "--root", f"{r}/root", "--runroot", self.run, "--storage-driver",
                "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
                "--tmpdir", f"{r}/tmp"] + list(args)

    def reset(self):
        self.remove()
        os.makedirs(self.root)

    def remove(self):
        _rm(self.root)
        _rm(self.run)

    def pull(self, ref):
        tls = ["--tls-verify=false"] if ref.startswith("docker://") else []
        return self.p("pull", "-q", *tls, ref)

    def create_mount(self, image_id, name):
        """Two processes, measured together: what a create of a rootfs takes with podman."""
        return [self.p("create", "-q", "--network", "none", "--name", name, image_id, "true"),
                self.p("mount", name)]

    def rm(self, name):
        return self.p("rm", "-f", name)


def image_id(layout):
    """Podman's image id: the config's digest."""
    with open(os.path.join(layout, "index.json")) as f:
        mdigest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs/sha256", mdigest[7:])) as f:
        return json.load(f)["config"]["digest"][7:]


def skopeo_copy(src, dest_layout):
    tls = ["--src-tls-verify=false"] if src.startswith("docker://") else []
    return ["skopeo", "copy", "--quiet", *tls, src, f"oci:{dest_layout}:latest"]


def umoci_unpack(layout, bundle):
    return ["umoci", "--log", "error", "unpack", "--image", f"{layout}:latest", bundle]


def tar_floor(blobs, dest, igzip):
    """Every layer unpacked in order into `dest`: `tar -xzf`, or `igzip -dc | tar -x`."""
    cmds = []
    for b in blobs:
        if igzip:
            cmds.append(f"igzip -dc '{b}' | tar -x --numeric-owner -C '{dest}'")
        else:
            cmds.append(f"tar -xzf '{b}' --numeric-owner -C '{dest}'")
    return ["sh", "-ec", " && ".join(cmds)]


def remove_tree(path):
    _rm(path)
